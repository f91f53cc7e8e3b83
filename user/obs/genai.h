/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LLM call metrics in the OpenTelemetry GenAI names, Prometheus form:
 * gen_ai_client_token_usage, gen_ai_client_operation_duration_seconds,
 * gen_ai_server_time_to_first_token_seconds (histograms), plus tollgate_*
 * counters of requests, refusals, guard findings and route decisions.
 *
 * One table per worker, written by that worker only; /metrics sums every
 * worker's table. Series are keyed by (operation, tenant, model, provider)
 * names; at most TG_GENAI_SERIES_MAX per worker, calls past that are
 * counted in one series with every label "other" — bounded cardinality.
 */
#ifndef TOLLGATE_GENAI_H
#define TOLLGATE_GENAI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct genai;

struct genai_call {
	const char *operation;		/* "chat", "embeddings", ... */
	const char *tenant;		/* NULL: none */
	const char *model;		/* NULL: not resolved */
	const char *provider;		/* NULL: none */
	int status;
	bool usage;			/* the tokens below are known */
	uint64_t tokens_in, tokens_out;
	uint64_t duration_us;
	uint64_t ttft_us;		/* 0: no first token */
	const char *refusal;		/* a limit name, "auth", "guard"; NULL: none */
	uint32_t guard_types;		/* 1 << enum guard_type found */
	const char *guard_verdict;	/* NULL: no guard ran */
	const char *route;		/* NULL: not routed */
};

struct genai *genai_new(void);
void genai_free(struct genai *g);
/* From the owning worker only. */
void genai_record(struct genai *g, const struct genai_call *c);
/* Writes the families summed over n tables (any thread). */
void genai_write(FILE *out, struct genai *const *tables, unsigned n);

#endif /* TOLLGATE_GENAI_H */
