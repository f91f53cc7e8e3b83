// SPDX-License-Identifier: Apache-2.0
/*
 * Prometheus text format 0.0.4 ("Exposition formats", text-based format):
 *   # HELP name text       (text escapes \\ and \n)
 *   # TYPE name counter|gauge
 *   name{label="value",...} value
 * Label values escape \\, \" and \n.
 */
#include "obs/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "kern/kern.h"

#define METRICS_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static void metrics_escape(FILE *out, const char *s, bool quote)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '"':
			fputs(quote ? "\\\"" : "\"", out);
			break;
		default:
			putc(*s, out);
			break;
		}
	}
}

void metrics_family(FILE *out, const char *name, enum metrics_type type,
		    const char *help)
{
	fprintf(out, "# HELP %s ", name);
	metrics_escape(out, help, false);
	fprintf(out, "\n# TYPE %s %s\n", name,
		type == METRICS_COUNTER ? "counter" :
		type == METRICS_HISTOGRAM ? "histogram" : "gauge");
}

static void sample_name(FILE *out, const char *name,
			const struct metrics_label *labels, size_t n_labels)
{
	size_t i;

	fputs(name, out);
	if (n_labels) {
		putc('{', out);
		for (i = 0; i < n_labels; i++) {
			fprintf(out, "%s%s=\"", i ? "," : "", labels[i].name);
			metrics_escape(out, labels[i].value, true);
			putc('"', out);
		}
		putc('}', out);
	}
}

void metrics_sample(FILE *out, const char *name,
		    const struct metrics_label *labels, size_t n_labels,
		    uint64_t value)
{
	sample_name(out, name, labels, n_labels);
	fprintf(out, " %" PRIu64 "\n", value);
}

void metrics_sample_f(FILE *out, const char *name,
		      const struct metrics_label *labels, size_t n_labels, double value)
{
	sample_name(out, name, labels, n_labels);
	fprintf(out, " %.9g\n", value);
}

static const char *metrics_tenant(metrics_tenant_name_fn name, void *ctx,
				  uint32_t id, char *buf, size_t size)
{
	const char *s = NULL;

	if (name)
		s = name(ctx, id, buf, size);
	if (!s) {
		snprintf(buf, size, "%" PRIu32, id);
		s = buf;
	}
	return s;
}

/* One tollgate_tenant_* family: a u64 field of struct tg_tenant_stats per
 * tenant. */
struct metrics_tenant_field {
	const char *name;
	size_t off;
	const char *help;
};

#define MT_FIELD(n, f, h) { n, offsetof(struct tg_tenant_stats, f), h }

static const struct metrics_tenant_field metrics_tenant_fields[] = {
	MT_FIELD("tollgate_tenant_ingress_packets_total", packets_in,
		 "Packets from the tenant's sources seen at XDP ingress."),
	MT_FIELD("tollgate_tenant_ingress_bytes_total", bytes_in,
		 "Frame bytes from the tenant's sources seen at XDP ingress."),
	MT_FIELD("tollgate_tenant_egress_packets_total", packets_out,
		 "Packets to the tenant's flows seen at TC egress."),
	MT_FIELD("tollgate_tenant_egress_bytes_total", bytes_out,
		 "Bytes to the tenant's flows seen at TC egress (GSO packets in full)."),
	MT_FIELD("tollgate_tenant_ingress_tokens_total", tokens_in,
		 "Estimated tokens in the tenant's ingress payload."),
	MT_FIELD("tollgate_tenant_egress_tokens_total", tokens_out,
		 "Estimated tokens in the tenant's egress payload."),
	MT_FIELD("tollgate_tenant_flows_total", flows_new,
		 "Flow records created for the tenant."),
	MT_FIELD("tollgate_tenant_syn_passed_total", syn_passed,
		 "Connection attempts (SYN without ACK) of the tenant let through."),
};

struct metrics_tenant_drop {
	unsigned int reason;
	size_t off;
};

static const struct metrics_tenant_drop metrics_tenant_drops[] = {
	{ TG_REASON_SYN_TENANT_LIMIT, offsetof(struct tg_tenant_stats, syn_tenant_limited) },
	{ TG_REASON_SYN_PREFIX_LIMIT, offsetof(struct tg_tenant_stats, syn_prefix_limited) },
	{ TG_REASON_TENANT_BLOCKED, offsetof(struct tg_tenant_stats, blocked) },
	{ TG_REASON_PENALTY, offsetof(struct tg_tenant_stats, penalty) },
};

static uint64_t metrics_u64_at(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

static void metrics_write_tenants(FILE *out, const struct kern_snapshot *s,
				  metrics_tenant_name_fn name, void *ctx)
{
	struct metrics_label l[2];
	char buf[96];
	size_t f, i, d;

	for (f = 0; f < METRICS_ARRAY_SIZE(metrics_tenant_fields); f++) {
		const struct metrics_tenant_field *mf = &metrics_tenant_fields[f];

		metrics_family(out, mf->name, METRICS_COUNTER, mf->help);
		for (i = 0; i < s->n_tenants; i++) {
			l[0].name = "tenant";
			l[0].value = metrics_tenant(name, ctx, s->tenants[i].id,
						    buf, sizeof(buf));
			metrics_sample(out, mf->name, l, 1,
				       metrics_u64_at(&s->tenants[i].stats, mf->off));
		}
	}

	metrics_family(out, "tollgate_tenant_dropped_packets_total", METRICS_COUNTER,
		       "Packets of the tenant dropped at XDP ingress, by reason.");
	for (i = 0; i < s->n_tenants; i++) {
		l[0].name = "tenant";
		l[0].value = metrics_tenant(name, ctx, s->tenants[i].id, buf,
					    sizeof(buf));
		for (d = 0; d < METRICS_ARRAY_SIZE(metrics_tenant_drops); d++) {
			l[1].name = "reason";
			l[1].value = kern_reason_name(metrics_tenant_drops[d].reason);
			metrics_sample(out, "tollgate_tenant_dropped_packets_total",
				       l, 2, metrics_u64_at(&s->tenants[i].stats,
							    metrics_tenant_drops[d].off));
		}
	}

	metrics_family(out, "tollgate_tenant_blocked", METRICS_GAUGE,
		       "1 when the tenant is blocked in the kernel (new connections drop).");
	for (i = 0; i < s->n_tenants; i++) {
		if (!s->tenants[i].has_config)
			continue;
		l[0].name = "tenant";
		l[0].value = metrics_tenant(name, ctx, s->tenants[i].id, buf,
					    sizeof(buf));
		metrics_sample(out, "tollgate_tenant_blocked", l, 1,
			       !!(s->tenants[i].config.flags & TG_TENANT_F_BLOCKED));
	}
}

int metrics_write_kern(FILE *out, const struct kern_snapshot *s,
		       metrics_tenant_name_fn name, void *ctx)
{
	struct metrics_label l[2];
	unsigned int r, h;

	if (s->has_reasons) {
		metrics_family(out, "tollgate_kern_verdict_packets_total", METRICS_COUNTER,
			       "Packets by the verdict reason they ended in, per hook.");
		for (h = 0; h < TG_HOOK__COUNT; h++)
			for (r = 0; r < TG_REASON__COUNT; r++) {
				l[0] = (struct metrics_label){ "hook", kern_hook_name(h) };
				l[1] = (struct metrics_label){ "reason", kern_reason_name(r) };
				metrics_sample(out, "tollgate_kern_verdict_packets_total",
					       l, 2, s->reasons[r].packets[h]);
			}
		metrics_family(out, "tollgate_kern_verdict_bytes_total", METRICS_COUNTER,
			       "Bytes (frame bytes at XDP, skb->len at TC) by verdict reason, per hook.");
		for (h = 0; h < TG_HOOK__COUNT; h++)
			for (r = 0; r < TG_REASON__COUNT; r++) {
				l[0] = (struct metrics_label){ "hook", kern_hook_name(h) };
				l[1] = (struct metrics_label){ "reason", kern_reason_name(r) };
				metrics_sample(out, "tollgate_kern_verdict_bytes_total",
					       l, 2, s->reasons[r].bytes[h]);
			}
	}
	if (s->has_runs) {
		metrics_family(out, "tollgate_kern_program_runs_total", METRICS_COUNTER,
			       "Runs of each tollgate BPF program.");
		for (h = 0; h < TG_HOOK__COUNT; h++) {
			l[0] = (struct metrics_label){ "hook", kern_hook_name(h) };
			metrics_sample(out, "tollgate_kern_program_runs_total", l, 1,
				       s->runs[h]);
		}
	}
	if (s->has_flows) {
		metrics_family(out, "tollgate_kern_flow_entries", METRICS_GAUGE,
			       "Flow records in the kernel's flow table now.");
		metrics_sample(out, "tollgate_kern_flow_entries", NULL, 0, s->flows);
		metrics_family(out, "tollgate_kern_flow_entries_max", METRICS_GAUGE,
			       "Capacity of the kernel's flow table (LRU beyond it).");
		metrics_sample(out, "tollgate_kern_flow_entries_max", NULL, 0,
			       s->flows_max);
	}
	if (s->has_penalty) {
		metrics_family(out, "tollgate_kern_penalty_sources", METRICS_GAUGE,
			       "Source addresses in the penalty box and not yet expired.");
		metrics_sample(out, "tollgate_kern_penalty_sources", NULL, 0,
			       s->penalty_active);
	}
	metrics_write_tenants(out, s, name, ctx);
	return ferror(out) ? -EIO : 0;
}
