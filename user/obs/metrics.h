/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus text exposition format (version 0.0.4), written to a
 * FILE*: the format of `tollctl export` (node_exporter's textfile
 * collector reads the same) and of the daemon's /metrics.
 *
 *   metrics_family(out, "tollgate_x_total", METRICS_COUNTER, "What x counts.");
 *   metrics_sample(out, "tollgate_x_total", labels, n_labels, value);
 *
 * Every family gets HELP and TYPE lines before its samples; a family's
 * samples follow it with nothing else in between. Label values are escaped
 * (backslash, double quote, newline) as the format requires; names are the
 * caller's constants and are not checked.
 *
 * Labels stay low-cardinality by rule: reason, hook, tenant. Nothing here
 * takes a flow or an address.
 */
#ifndef TOLLGATE_METRICS_H
#define TOLLGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kern/maps.h"

/* The Content-Type of the format, for HTTP. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

enum metrics_type {
	METRICS_COUNTER = 0,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

struct metrics_label {
	const char *name;
	const char *value;	/* any bytes; escaped on output */
};

void metrics_family(FILE *out, const char *name, enum metrics_type type,
		    const char *help);
void metrics_sample(FILE *out, const char *name,
		    const struct metrics_label *labels, size_t n_labels,
		    uint64_t value);

/* A sample with a fractional value (seconds, currency). */
void metrics_sample_f(FILE *out, const char *name,
		      const struct metrics_label *labels, size_t n_labels, double value);

/* The name of tenant `id` for the tenant label, written into `buf`. */
typedef const char *(*metrics_tenant_name_fn)(void *ctx, uint32_t id,
					      char *buf, size_t size);

/*
 * Every kernel counter of `s` as tollgate_kern_* and tollgate_tenant_*
 * families. `name` maps tenant ids to label values; NULL writes the id.
 * Families whose map was not pinned are left out. Returns 0, or -EIO when
 * the stream failed.
 */
int metrics_write_kern(FILE *out, const struct kern_snapshot *s,
		       metrics_tenant_name_fn name, void *ctx);

#endif /* TOLLGATE_METRICS_H */
