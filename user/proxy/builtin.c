// SPDX-License-Identifier: Apache-2.0
/*
 * /metrics of the proxy: the counters of every worker summed, in the
 * Prometheus text format (obs/metrics.h). Labels are bounded: listener
 * names come from the policy, causes from a fixed table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "llm/budget.h"
#include "llm/cache.h"
#include "obs/access.h"
#include "obs/genai.h"
#include "obs/metrics.h"
#include "proxy/internal.h"

static uint64_t sum(const struct proxy *px, enum pstat k)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < px->n_workers; i++)
		v += atomic_load_explicit(&px->stats[i].v[k], memory_order_relaxed);
	return v;
}

struct cause {
	enum pstat k;
	const char *name;
};

static const struct cause errors[] = {
	{ PS_BAD_REQUEST,		"bad_request" },
	{ PS_TOO_LARGE_HEAD,		"head_too_large" },
	{ PS_TOO_LARGE_BODY,		"body_too_large" },
	{ PS_CONNS_REFUSED,		"connection_limit" },
	{ PS_TIMEOUT_HEADER,		"timeout_header" },
	{ PS_TIMEOUT_BODY,		"timeout_body" },
	{ PS_TIMEOUT_IDLE,		"timeout_idle" },
	{ PS_TIMEOUT_UP_CONNECT,	"timeout_upstream_connect" },
	{ PS_TIMEOUT_UP_FIRST_BYTE,	"timeout_upstream_first_byte" },
	{ PS_TIMEOUT_UP_IDLE,		"timeout_upstream_idle" },
	{ PS_UP_CONNECT_FAIL,		"upstream_connect" },
	{ PS_UP_BAD_RESPONSE,		"upstream_bad_response" },
	{ PS_UP_RESET,			"upstream_reset" },
	{ PS_TLS_FAILURES,		"tls_handshake" },
	{ PS_CLIENT_ABORTS,		"client_abort" },
};

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	metrics_family(f, name, METRICS_COUNTER, help);
	metrics_sample(f, name, NULL, 0, v);
}

int builtin_metrics(struct worker *w, struct buf *body)
{
	struct proxy *px = w->px;
	static const char *const cls[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	char *buf = NULL;
	size_t len = 0, i;
	int64_t conns = 0, up = 0;
	FILE *f = open_memstream(&buf, &len);
	int err = 0;

	if (!f)
		return -errno;
	for (i = 0; i < px->n_workers; i++) {
		conns += atomic_load_explicit(&px->stats[i].conns, memory_order_relaxed);
		up += atomic_load_explicit(&px->stats[i].up_conns, memory_order_relaxed);
	}
	metrics_family(f, "tollgate_http_connections", METRICS_GAUGE,
		       "Open client connections.");
	metrics_sample(f, "tollgate_http_connections", NULL, 0, (uint64_t)(conns > 0 ? conns : 0));
	counter(f, "tollgate_http_connections_accepted_total", "Client connections accepted.",
		sum(px, PS_CONNS_ACCEPTED));
	counter(f, "tollgate_http_requests_total", "Requests whose head was read.",
		sum(px, PS_REQUESTS));
	metrics_family(f, "tollgate_http_responses_total", METRICS_COUNTER,
		       "Responses by status class.");
	for (i = 0; i < 5; i++) {
		struct metrics_label l = { "code", cls[i] };

		metrics_sample(f, "tollgate_http_responses_total", &l, 1,
			       sum(px, (enum pstat)(PS_RESP_1XX + i)));
	}
	metrics_family(f, "tollgate_http_errors_total", METRICS_COUNTER,
		       "Requests and connections that failed, by cause.");
	for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		struct metrics_label l = { "cause", errors[i].name };

		metrics_sample(f, "tollgate_http_errors_total", &l, 1, sum(px, errors[i].k));
	}
	metrics_family(f, "tollgate_upstream_connections", METRICS_GAUGE,
		       "Open upstream connections, idle and busy.");
	metrics_sample(f, "tollgate_upstream_connections", NULL, 0, (uint64_t)(up > 0 ? up : 0));
	counter(f, "tollgate_upstream_reused_total",
		"Requests sent on a kept-alive upstream connection.", sum(px, PS_UP_REUSED));
	counter(f, "tollgate_upstream_retries_total",
		"Requests sent again after a kept-alive connection was found closed.",
		sum(px, PS_UP_RETRIED));
	counter(f, "tollgate_upstream_ejections_total",
		"Upstream servers ejected by passive health checks.", sum(px, PS_UP_EJECTED));
	counter(f, "tollgate_llm_fallbacks_total",
		"LLM calls sent again (retry or fallback model) after their provider failed.",
		sum(px, PS_LLM_FALLBACKS));
	counter(f, "tollgate_tls_handshakes_total", "TLS handshakes completed.",
		sum(px, PS_TLS_HANDSHAKES));
	metrics_family(f, "tollgate_tls_ktls", METRICS_GAUGE,
		       "1 when kTLS can engage on the listener (kernel and policy allow it); "
		       "0 when TLS runs in user space.");
	for (i = 0; i < w->cfg->n_listeners; i++) {
		const struct pcfg_listener *l = &w->cfg->listeners[i];
		struct metrics_label lb = { "listener", l->pl->name };

		if (l->tls)
			metrics_sample(f, "tollgate_tls_ktls", &lb, 1, l->ktls ? 1 : 0);
	}
	metrics_family(f, "tollgate_tls_ktls_connections_total", METRICS_COUNTER,
		       "TLS connections on which the kernel took over a direction.");
	{
		struct metrics_label d = { "direction", "send" };

		metrics_sample(f, "tollgate_tls_ktls_connections_total", &d, 1,
			       sum(px, PS_KTLS_TX));
		d.value = "receive";
		metrics_sample(f, "tollgate_tls_ktls_connections_total", &d, 1,
			       sum(px, PS_KTLS_RX));
	}
	metrics_family(f, "tollgate_io_quiet_sends", METRICS_GAUGE,
		       "1 when sends are quiet (io_uring posts no completion for a send "
		       "that goes out in full); 0 when every send is ordinary.");
	metrics_sample(f, "tollgate_io_quiet_sends", NULL, 0,
		       px->quiet_send);
	metrics_family(f, "tollgate_io_quiet_sends_total", METRICS_COUNTER,
		       "Quiet sends: sent in full with no completion (full), or reported "
		       "by one (cqe: short, refused or failed; the rest went as an ordinary send).");
	{
		struct metrics_label r = { "result", "full" };

		metrics_sample(f, "tollgate_io_quiet_sends_total", &r, 1, sum(px, PS_IO_QUIET_FULL));
		r.value = "cqe";
		metrics_sample(f, "tollgate_io_quiet_sends_total", &r, 1, sum(px, PS_IO_QUIET_CQE));
	}
	counter(f, "tollgate_access_log_dropped_total",
		"Access log chunks dropped because the writer fell behind.",
		access_log_dropped(px->alog) + sum(px, PS_ACCESS_DROPPED));
	{
		struct genai *tables[TG_WORKERS_MAX];
		unsigned k;

		for (k = 0; k < px->n_workers && k < TG_WORKERS_MAX; k++)
			tables[k] = px->workers[k].gm;
		genai_write(f, tables, k);
	}
	if (llm_ctx_cache(w->cfg->llm)) {
		struct llm_cache_stats cs;

		llm_cache_stats(llm_ctx_cache(w->cfg->llm), &cs);
		counter(f, "tollgate_llm_cache_hits_total",
			"LLM calls answered from the response cache.", cs.hits);
		counter(f, "tollgate_llm_cache_misses_total",
			"Cacheable LLM calls not found in the response cache (expired included).",
			cs.misses);
		counter(f, "tollgate_llm_cache_stores_total", "Answers stored in the response cache.",
			cs.stores);
		counter(f, "tollgate_llm_cache_evictions_total",
			"Entries evicted to keep the response cache within its bounds.", cs.evictions);
		metrics_family(f, "tollgate_llm_cache_bytes", METRICS_GAUGE,
			       "Bytes the response cache holds (bounded by cache.max_bytes).");
		metrics_sample(f, "tollgate_llm_cache_bytes", NULL, 0, cs.bytes);
		metrics_family(f, "tollgate_llm_cache_entries", METRICS_GAUGE,
			       "Answers in the response cache.");
		metrics_sample(f, "tollgate_llm_cache_entries", NULL, 0, cs.entries);
	}
	if (px->budget) {
		const struct policy *p = w->cfg->policy;

		metrics_family(f, "tollgate_budget_tokens_remaining", METRICS_GAUGE,
			       "Tokens a tenant may still use before its tightest token limit.");
		for (i = 0; i < p->n_tenants; i++) {
			struct metrics_label l = { "tenant", p->tenants[i].name };
			uint64_t rem;

			if (!budget_remaining(px->budget, p->tenants[i].name, NULL, budget_now(), &rem) &&
			    rem != BUDGET_UNLIMITED)
				metrics_sample(f, "tollgate_budget_tokens_remaining", &l, 1, rem);
		}
	}
	if (fclose(f))
		err = -errno;
	if (!err && buf)
		err = buf_append(body, buf, len, SIZE_MAX);
	free(buf);
	return err;
}
