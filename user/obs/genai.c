// SPDX-License-Identifier: Apache-2.0
/*
 * LLM call metrics. See genai.h.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"
#include "obs/genai.h"
#include "obs/metrics.h"
#include "tollgate/limits.h"

/* Bucket bounds the OpenTelemetry GenAI conventions advise. */
static const double dur_b[] = { 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12,
				10.24, 20.48, 40.96, 81.92 };
static const double ttft_b[] = { 0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
				 0.75, 1.0, 2.5, 5.0, 7.5, 10.0 };
static const double tok_b[] = { 1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144,
				1048576, 4194304, 16777216, 67108864 };
#define NB(a) (sizeof(a) / sizeof((a)[0]))

struct hist {
	_Atomic uint64_t b[17];		/* one per bound, then +Inf */
	_Atomic uint64_t sum;		/* microseconds or tokens */
	_Atomic uint64_t count;
};

/* A policy name and its NUL: labels are never cut. */
#define NAME_LEN	(TG_NAME_MAX + 1)
enum { CODE_2XX = 0, CODE_4XX, CODE_5XX, CODE_OTHER, CODE_N };

struct series {
	_Atomic bool used;		/* set once the names are written */
	uint64_t hash;
	char op[24], tenant[NAME_LEN], model[NAME_LEN], provider[NAME_LEN];
	_Atomic uint64_t requests[CODE_N];
	struct hist dur, ttft, tok_in, tok_out;
};

#define ROUTES_MAX	(TG_SEMANTIC_ROUTES_MAX + 1)

/* Counters by a name from a bounded set (limit names, route names). */
struct ntab {
	char name[ROUTES_MAX][NAME_LEN];
	_Atomic bool used[ROUTES_MAX];
	_Atomic uint64_t v[ROUTES_MAX];
};

struct genai {
	struct series s[TG_GENAI_SERIES_MAX + 1];	/* the last one: "other" */
	_Atomic uint64_t guard_found[GUARD_T_COUNT];
	_Atomic uint64_t verdict[4];			/* pass, log, redact, block */
	struct ntab refusals;
	struct ntab routes;
	struct series *last;	/* the owning worker's last series */
};

/* A table has one writer (genai.h), so a load and a store do: readers
 * (/metrics) still never see a torn value, and the dozen counters a call
 * touches cost no locked read-modify-write each. */
static void inc(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static uint64_t get(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

struct genai *genai_new(void)
{
	return calloc(1, sizeof(struct genai));
}

void genai_free(struct genai *g)
{
	free(g);
}

/* Over what a series keeps of the name: its first cap - 1 bytes. */
static uint64_t fnv(uint64_t h, const char *s, size_t cap)
{
	for (; s && *s && --cap; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull;
}

static void copy(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "");
}

/* A stored name (cut to cap - 1 bytes) is the call's when the call's name
 * starts with it and is no longer. Policy names fit (NAME_LEN), but should
 * a longer one come, it matches its cut form and keeps one series: compared
 * whole, it never matched and took a new slot on every call until the
 * table was full. */
static bool name_is(const char *stored, const char *name, size_t cap)
{
	return !strncmp(stored, name ? name : "", cap - 1);
}

static bool same(const struct series *s, const struct genai_call *c)
{
	return name_is(s->op, c->operation, sizeof(s->op)) &&
	       name_is(s->tenant, c->tenant, NAME_LEN) &&
	       name_is(s->model, c->model, NAME_LEN) &&
	       name_is(s->provider, c->provider, NAME_LEN);
}

static struct series *series_of(struct genai *g, const struct genai_call *c)
{
	uint64_t h;
	uint32_t i, k;

	/* Calls come in runs of one series: checking the last one's names
	 * is cheaper than hashing the four. */
	if (g->last && same(g->last, c))
		return g->last;
	h = fnv(fnv(fnv(fnv(0xcbf29ce484222325ull, c->operation, sizeof(g->s[0].op)),
			    c->tenant, NAME_LEN), c->model, NAME_LEN), c->provider, NAME_LEN);
	for (i = 0; i < TG_GENAI_SERIES_MAX; i++) {
		struct series *s = &g->s[(h + i) % TG_GENAI_SERIES_MAX];

		if (!atomic_load_explicit(&s->used, memory_order_acquire)) {
			s->hash = h;
			copy(s->op, sizeof(s->op), c->operation);
			copy(s->tenant, sizeof(s->tenant), c->tenant);
			copy(s->model, sizeof(s->model), c->model);
			copy(s->provider, sizeof(s->provider), c->provider);
			atomic_store_explicit(&s->used, true, memory_order_release);
			return g->last = s;
		}
		if (s->hash == h && same(s, c))
			return g->last = s;
	}
	k = TG_GENAI_SERIES_MAX;	/* full: the "other" series */
	if (!atomic_load_explicit(&g->s[k].used, memory_order_acquire)) {
		copy(g->s[k].op, sizeof(g->s[k].op), "other");
		copy(g->s[k].tenant, NAME_LEN, "other");
		copy(g->s[k].model, NAME_LEN, "other");
		copy(g->s[k].provider, NAME_LEN, "other");
		atomic_store_explicit(&g->s[k].used, true, memory_order_release);
	}
	return &g->s[k];
}

static void observe(struct hist *h, const double *b, size_t nb, double v, uint64_t raw)
{
	size_t i;

	for (i = 0; i < nb && v > b[i]; i++)
		;
	inc(&h->b[i], 1);
	inc(&h->sum, raw);
	inc(&h->count, 1);
}

/* Counts one for `name` in a bounded name table (full: not counted). */
static void ntab_inc(struct ntab *t, const char *name)
{
	size_t i;

	for (i = 0; i < ROUTES_MAX; i++) {
		if (!atomic_load_explicit(&t->used[i], memory_order_acquire)) {
			copy(t->name[i], NAME_LEN, name);
			atomic_store_explicit(&t->used[i], true, memory_order_release);
		} else if (!name_is(t->name[i], name, NAME_LEN)) {
			continue;
		}
		inc(&t->v[i], 1);
		return;
	}
}

void genai_record(struct genai *g, const struct genai_call *c)
{
	struct series *s = series_of(g, c);
	int k, t;

	inc(&s->requests[c->status >= 200 && c->status < 300 ? CODE_2XX :
			 c->status >= 400 && c->status < 500 ? CODE_4XX :
			 c->status >= 500 ? CODE_5XX : CODE_OTHER], 1);
	observe(&s->dur, dur_b, NB(dur_b), (double)c->duration_us / 1e6, c->duration_us);
	if (c->ttft_us)
		observe(&s->ttft, ttft_b, NB(ttft_b), (double)c->ttft_us / 1e6, c->ttft_us);
	if (c->usage) {
		observe(&s->tok_in, tok_b, NB(tok_b), (double)c->tokens_in, c->tokens_in);
		observe(&s->tok_out, tok_b, NB(tok_b), (double)c->tokens_out, c->tokens_out);
	}
	for (t = 0; t < GUARD_T_COUNT; t++)
		if (c->guard_types & (1u << t))
			inc(&g->guard_found[t], 1);
	if (c->guard_verdict)
		for (k = 0; k < 4; k++)
			if (!strcmp(c->guard_verdict, guard_verdict_name((enum guard_verdict)k)))
				inc(&g->verdict[k], 1);
	if (c->refusal)
		ntab_inc(&g->refusals, c->refusal);
	if (c->route)
		ntab_inc(&g->routes, c->route);
}

/* ---- exposition ------------------------------------------------------------------------ */

static const char *const codes[CODE_N] = { "2xx", "4xx", "5xx", "other" };

static void hist_write(FILE *out, const char *name, const struct hist *h, const double *b,
		       size_t nb, double scale, struct metrics_label *l, size_t nl)
{
	char metric[96], le[32];
	uint64_t cum = 0;
	size_t i;

	snprintf(metric, sizeof(metric), "%s_bucket", name);
	for (i = 0; i <= nb; i++) {
		cum += get(&h->b[i]);
		if (i < nb)
			snprintf(le, sizeof(le), "%g", b[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		l[nl] = (struct metrics_label){ "le", le };
		metrics_sample(out, metric, l, nl + 1, cum);
	}
	snprintf(metric, sizeof(metric), "%s_sum", name);
	metrics_sample_f(out, metric, l, nl, (double)get(&h->sum) * scale);
	snprintf(metric, sizeof(metric), "%s_count", name);
	metrics_sample(out, metric, l, nl, get(&h->count));
}

/* One family from the name tables at `off` in every worker's genai,
 * summed by name. */
static void ntab_write(FILE *out, struct genai *const *t, unsigned n, size_t off,
		       const char *metric, const char *label)
{
	unsigned w, x;
	size_t k, j;

	for (w = 0; w < n; w++) {
		const struct ntab *a = (const struct ntab *)((const char *)t[w] + off);

		for (k = 0; k < ROUTES_MAX; k++) {
			struct metrics_label l = { label, a->name[k] };
			bool seen = false;
			uint64_t v = 0;

			if (!atomic_load_explicit(&a->used[k], memory_order_acquire))
				continue;
			for (x = 0; x < n; x++) {
				const struct ntab *bt = (const struct ntab *)((const char *)t[x] + off);

				for (j = 0; j < ROUTES_MAX; j++) {
					if (!atomic_load_explicit(&bt->used[j], memory_order_acquire) ||
					    strcmp(bt->name[j], a->name[k]))
						continue;
					/* Written once: by the first table holding the name. */
					seen |= x < w || (x == w && j < k);
					v += get(&bt->v[j]);
				}
			}
			if (!seen)
				metrics_sample(out, metric, &l, 1, v);
		}
	}
}

static void add_hist(struct hist *d, const struct hist *s)
{
	size_t i;

	for (i = 0; i < 17; i++)
		inc(&d->b[i], get(&s->b[i]));
	inc(&d->sum, get(&s->sum));
	inc(&d->count, get(&s->count));
}

void genai_write(FILE *out, struct genai *const *t, unsigned n)
{
	struct series *m = calloc(TG_GENAI_SERIES_MAX + 1, sizeof(*m) * (n ? n : 1));
	size_t nm = 0, i, k;
	unsigned w;
	int r;

	if (!m)
		return;
	/* Merge every worker's series by name into m[]. */
	for (w = 0; w < n; w++)
		for (i = 0; i <= TG_GENAI_SERIES_MAX; i++) {
			const struct series *s = &t[w]->s[i];
			struct genai_call key;

			if (!atomic_load_explicit(&s->used, memory_order_acquire))
				continue;
			key = (struct genai_call){ .operation = s->op, .tenant = s->tenant,
						   .model = s->model, .provider = s->provider };
			for (k = 0; k < nm && !same(&m[k], &key); k++)
				;
			if (k == nm) {
				memcpy(m[k].op, s->op, sizeof(s->op));
				memcpy(m[k].tenant, s->tenant, NAME_LEN);
				memcpy(m[k].model, s->model, NAME_LEN);
				memcpy(m[k].provider, s->provider, NAME_LEN);
				nm++;
			}
			for (r = 0; r < CODE_N; r++)
				inc(&m[k].requests[r], get(&s->requests[r]));
			add_hist(&m[k].dur, &s->dur);
			add_hist(&m[k].ttft, &s->ttft);
			add_hist(&m[k].tok_in, &s->tok_in);
			add_hist(&m[k].tok_out, &s->tok_out);
		}
	{
		metrics_family(out, "tollgate_llm_requests_total", METRICS_COUNTER,
			       "LLM calls by operation, tenant, model, provider and status class.");
		for (i = 0; i < nm; i++)
			for (r = 0; r < CODE_N; r++) {
				struct metrics_label l[5] = {
					{ "gen_ai_operation_name", m[i].op }, { "tenant", m[i].tenant },
					{ "gen_ai_request_model", m[i].model },
					{ "gen_ai_system", m[i].provider }, { "code", codes[r] },
				};

				if (get(&m[i].requests[r]))
					metrics_sample(out, "tollgate_llm_requests_total", l, 5,
						       get(&m[i].requests[r]));
			}
		metrics_family(out, "gen_ai_client_operation_duration_seconds", METRICS_HISTOGRAM,
			       "Duration of LLM calls through the gateway.");
		for (i = 0; i < nm; i++) {
			struct metrics_label l[5] = {
				{ "gen_ai_operation_name", m[i].op }, { "tenant", m[i].tenant },
				{ "gen_ai_request_model", m[i].model },
				{ "gen_ai_system", m[i].provider },
			};

			hist_write(out, "gen_ai_client_operation_duration_seconds", &m[i].dur,
				   dur_b, NB(dur_b), 1e-6, l, 4);
		}
		metrics_family(out, "gen_ai_server_time_to_first_token_seconds", METRICS_HISTOGRAM,
			       "Time from the request to the first byte of the answer.");
		for (i = 0; i < nm; i++) {
			struct metrics_label l[5] = {
				{ "gen_ai_operation_name", m[i].op }, { "tenant", m[i].tenant },
				{ "gen_ai_request_model", m[i].model },
				{ "gen_ai_system", m[i].provider },
			};

			if (get(&m[i].ttft.count))
				hist_write(out, "gen_ai_server_time_to_first_token_seconds",
					   &m[i].ttft, ttft_b, NB(ttft_b), 1e-6, l, 4);
		}
		metrics_family(out, "gen_ai_client_token_usage", METRICS_HISTOGRAM,
			       "Tokens per call, as the provider reported them.");
		for (i = 0; i < nm; i++) {
			static const char *const types[2] = { "input", "output" };
			const size_t offs[2] = { offsetof(struct series, tok_in),
						 offsetof(struct series, tok_out) };
			int ty;

			for (ty = 0; ty < 2; ty++) {
				struct metrics_label l[6] = {
					{ "gen_ai_operation_name", m[i].op },
					{ "tenant", m[i].tenant },
					{ "gen_ai_request_model", m[i].model },
					{ "gen_ai_system", m[i].provider },
					{ "gen_ai_token_type", types[ty] },
				};

				const struct hist *h = (const struct hist *)
					((const char *)&m[i] + offs[ty]);

				if (get(&h->count))
					hist_write(out, "gen_ai_client_token_usage", h, tok_b, NB(tok_b),
						   1, l, 5);
			}
		}
	}
	free(m);

	metrics_family(out, "tollgate_guard_findings_total", METRICS_COUNTER,
		       "LLM calls whose prompt had a finding of the type.");
	for (k = 0; k < GUARD_T_COUNT; k++) {
		uint64_t v = 0;
		struct metrics_label l = { "type", guard_type_name((enum guard_type)k) };

		for (w = 0; w < n; w++)
			v += get(&t[w]->guard_found[k]);
		metrics_sample(out, "tollgate_guard_findings_total", &l, 1, v);
	}
	metrics_family(out, "tollgate_guard_verdicts_total", METRICS_COUNTER,
		       "Guard verdicts on prompts.");
	for (k = 0; k < 4; k++) {
		uint64_t v = 0;
		struct metrics_label l = { "verdict", guard_verdict_name((enum guard_verdict)k) };

		for (w = 0; w < n; w++)
			v += get(&t[w]->verdict[k]);
		metrics_sample(out, "tollgate_guard_verdicts_total", &l, 1, v);
	}
	metrics_family(out, "tollgate_llm_refusals_total", METRICS_COUNTER,
		       "LLM calls refused before the provider, by cause (a limit's name, auth, guard).");
	ntab_write(out, t, n, offsetof(struct genai, refusals), "tollgate_llm_refusals_total", "cause");
	metrics_family(out, "tollgate_route_decisions_total", METRICS_COUNTER,
		       "Calls the semantic router sent to each route (\"default\": low confidence).");
	ntab_write(out, t, n, offsetof(struct genai, routes), "tollgate_route_decisions_total", "route");
}
