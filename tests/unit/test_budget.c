// SPDX-License-Identifier: Apache-2.0
/*
 * Limits and budgets (user/llm/budget.h). Time is injected: every case
 * starts from a fixed UTC instant, so window resets across midnight and
 * month ends are exact. Policies are real YAML through policy_load_buffer().
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "llm/budget.h"
#include "policy/policy.h"

#define S	((uint64_t)1000000000)

#define HASH_A	"sha256:0704976b3e248ee901b45e18949c92289b1ae42a0140ea08a6c11d4886c658ac"
#define HASH_B	"sha256:91f0e4df5241f145824d85a7d2c3588f280c75a9fc40d151e6a2976aa3af75da"

/* UTC y-m-d h:m:s in epoch ns. */
static uint64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {
		.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
		.tm_hour = h, .tm_min = mi, .tm_sec = s,
	};

	return (uint64_t)timegm(&tm) * S;
}

static struct policy *pol(const char *tenants_yaml)
{
	size_t size = strlen(tenants_yaml) + 512;
	char *buf = malloc(size);
	struct policy_diags d;
	struct policy *p;

	assert_non_null(buf);
	snprintf(buf, size,
		 "version: 1\n"
		 "listeners:\n"
		 "  - name: main\n"
		 "    address: 127.0.0.1:8080\n"
		 "kernel:\n"
		 "  penalty:\n"
		 "    auth_failures: 3\n"
		 "    window: 1m\n"
		 "    duration: 10m\n"
		 "tenants:\n%s", tenants_yaml);
	policy_diags_init(&d);
	p = policy_load_buffer("test.yaml", buf, strlen(buf), 0, &d);
	free(buf);
	if (!p || d.n) {
		policy_diags_print(&d, stderr);
		fail_msg("policy did not load");
	}
	policy_diags_fini(&d);
	return p;
}

/* What the hooks saw. */
struct seen {
	int blocked, unblocked, penalties;
	char tenant[80];
	uint64_t until, duration;
	struct policy_cidr addr;
};

static void on_blocked(void *ctx, const char *tenant, uint64_t until)
{
	struct seen *s = ctx;

	s->blocked++;
	snprintf(s->tenant, sizeof(s->tenant), "%s", tenant);
	s->until = until;
}

static void on_unblocked(void *ctx, const char *tenant)
{
	struct seen *s = ctx;

	s->unblocked++;
	snprintf(s->tenant, sizeof(s->tenant), "%s", tenant);
}

static void on_penalty(void *ctx, const struct policy_cidr *addr, uint64_t duration)
{
	struct seen *s = ctx;

	s->penalties++;
	s->addr = *addr;
	s->duration = duration;
}

static struct budget *open_with(struct policy *p, const char *path, struct seen *s,
				uint64_t now)
{
	struct budget_hooks h = {
		.tenant_blocked = on_blocked, .tenant_unblocked = on_unblocked,
		.penalty = on_penalty, .ctx = s,
	};
	struct budget *b = budget_open(p, path, &h, now);

	assert_non_null(b);
	return b;
}

/* A policy, the hooks' record and a budget opened on them without a state
 * file: what most cases start from. */
struct fx {
	struct policy *p;
	struct seen s;
	struct budget *b;
};

static struct budget *fx_open(struct fx *f, const char *tenants_yaml, uint64_t now)
{
	memset(f, 0, sizeof(*f));
	f->p = pol(tenants_yaml);
	f->b = open_with(f->p, NULL, &f->s, now);
	return f->b;
}

static void fx_close(struct fx *f)
{
	budget_free(f->b);
	policy_unref(f->p);
}

/* Admits and charges `tokens` at once. */
static void spend(struct budget *b, const char *tenant, const char *key, uint64_t tokens,
		  uint64_t now)
{
	struct budget_ticket t;
	struct budget_verdict v;
	struct budget_usage u = { .in = tokens };

	assert_int_equal(budget_admit(b, tenant, key, 1, now, &t, &v), 0);
	assert_true(v.ok);
	budget_charge(b, &t, &u, NULL, now);
}

static void expect_denied(struct budget *b, const char *tenant, const char *key,
			  uint64_t est, uint64_t now, enum budget_limit limit,
			  const char *name, uint32_t retry)
{
	struct budget_ticket t;
	struct budget_verdict v;

	assert_int_equal(budget_admit(b, tenant, key, est, now, &t, &v), 0);
	assert_false(v.ok);
	assert_int_equal(v.limit, limit);
	assert_string_equal(budget_limit_name(v.limit), name);
	assert_int_equal(v.retry_after, retry);
	assert_false(t.active);
}

static uint64_t usage_tokens(struct budget *b, const char *tenant, const char *key,
			     enum policy_period p, uint64_t now)
{
	struct budget_period_usage u;

	assert_int_equal(budget_usage_get(b, tenant, key, p, now, &u), 0);
	return u.tokens;
}

/* ---- rate limits ---------------------------------------------------------------- */

static void test_budget_requests_per_minute_denies_with_exact_retry_after(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f, "  - name: acme\n    limits:\n      requests_per_minute: 3\n", now);
	struct budget_ticket t;
	struct budget_verdict v;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(budget_admit(b, "acme", NULL, 0, now, &t, &v), 0);
		assert_true(v.ok);
		budget_release(b, &t, now);
	}
	/* Three at once empty the bucket; one comes back every 20 s. */
	expect_denied(b, "acme", NULL, 0, now, BUDGET_LIMIT_REQUESTS_PER_MINUTE,
		      "requests_per_minute", 20);
	expect_denied(b, "acme", NULL, 0, now + 19 * S, BUDGET_LIMIT_REQUESTS_PER_MINUTE,
		      "requests_per_minute", 1);
	assert_int_equal(budget_admit(b, "acme", NULL, 0, now + 20 * S, &t, &v), 0);
	assert_true(v.ok);
	budget_release(b, &t, now + 20 * S);
	/* Exactly one: the next waits its 20 s again. */
	expect_denied(b, "acme", NULL, 0, now + 20 * S, BUDGET_LIMIT_REQUESTS_PER_MINUTE,
		      "requests_per_minute", 20);
	fx_close(&f);
}

static void test_budget_tokens_per_minute_counts_real_usage(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f, "  - name: acme\n    limits:\n      tokens_per_minute: 1000\n", now);
	struct budget_ticket t1, t2;
	struct budget_verdict v;
	struct budget_usage u = { .in = 50, .out = 50 };
	uint64_t rem;

	(void)state;
	assert_int_equal(budget_admit(b, "acme", NULL, 600, now, &t1, &v), 0);
	assert_true(v.ok);
	assert_int_equal(v.remaining, 400);
	/* 600 more need 200 tokens of refill: 200 × 60 ms = 12 s. */
	expect_denied(b, "acme", NULL, 600, now, BUDGET_LIMIT_TOKENS_RATE,
		      "tokens_per_minute", 12);
	/* The call used 100, not 600: 500 come back. */
	budget_charge(b, &t1, &u, NULL, now);
	assert_int_equal(budget_remaining(b, "acme", NULL, now, &rem), 0);
	assert_int_equal(rem, 900);
	assert_int_equal(budget_admit(b, "acme", NULL, 600, now, &t2, &v), 0);
	assert_true(v.ok);
	/* A call that used more than estimated leaves a debt. */
	u.in = 1000;
	u.out = 0;
	budget_charge(b, &t2, &u, NULL, now);
	assert_int_equal(budget_remaining(b, "acme", NULL, now, &rem), 0);
	assert_int_equal(rem, 0);
	/* Debt 100 past an empty bucket: 1 more token needs 101 × 60 ms. */
	expect_denied(b, "acme", NULL, 1, now, BUDGET_LIMIT_TOKENS_RATE,
		      "tokens_per_minute", 7);
	fx_close(&f);
}

static void test_budget_oversized_estimate_passes_once_from_a_full_bucket(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f, "  - name: acme\n    limits:\n      tokens_per_minute: 100\n", now);
	struct budget_ticket t;
	struct budget_verdict v;
	struct budget_usage u = { .in = 500 };

	(void)state;
	assert_int_equal(budget_admit(b, "acme", NULL, 500, now, &t, &v), 0);
	assert_true(v.ok);
	budget_charge(b, &t, &u, NULL, now);
	/* 500 at 100/min is 300 s of refill; one more token fits after
	 * 300.6 - 60 = 240.6 s. */
	expect_denied(b, "acme", NULL, 1, now, BUDGET_LIMIT_TOKENS_RATE,
		      "tokens_per_minute", 241);
	assert_int_equal(budget_admit(b, "acme", NULL, 1, now + 241 * S, &t, &v), 0);
	assert_true(v.ok);
	budget_release(b, &t, now + 241 * S);
	fx_close(&f);
}

static void test_budget_concurrency_slots_are_taken_and_given_back(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f, "  - name: acme\n    limits:\n      concurrent: 2\n", now);
	struct budget_ticket t1, t2, t3;
	struct budget_verdict v;
	struct budget_usage u = { .in = 1 };
	struct budget_period_usage pu;

	(void)state;
	assert_int_equal(budget_admit(b, "acme", NULL, 1, now, &t1, &v), 0);
	assert_true(v.ok);
	assert_int_equal(budget_admit(b, "acme", NULL, 1, now, &t2, &v), 0);
	assert_true(v.ok);
	expect_denied(b, "acme", NULL, 1, now, BUDGET_LIMIT_CONCURRENT, "concurrent", 1);
	budget_release(b, &t1, now);
	budget_release(b, &t1, now);	/* a spent ticket gives back nothing twice */
	assert_int_equal(budget_usage_get(b, "acme", NULL, POLICY_PERIOD_DAY, now, &pu), 0);
	assert_int_equal(pu.inflight, 1);
	assert_int_equal(budget_admit(b, "acme", NULL, 1, now, &t3, &v), 0);
	assert_true(v.ok);
	expect_denied(b, "acme", NULL, 1, now, BUDGET_LIMIT_CONCURRENT, "concurrent", 1);
	budget_charge(b, &t2, &u, NULL, now);
	budget_charge(b, &t3, &u, NULL, now);
	assert_int_equal(budget_charge(b, &t3, &u, NULL, now), 0);
	assert_int_equal(budget_usage_get(b, "acme", NULL, POLICY_PERIOD_DAY, now, &pu), 0);
	assert_int_equal(pu.inflight, 0);
	assert_int_equal(pu.tokens, 2);
	fx_close(&f);
}

static void test_budget_key_limits_isolate_keys_and_name_the_scope(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f,
		"  - name: acme\n"
		"    keys:\n"
		"      - name: ci\n"
		"        hash: " HASH_A "\n"
		"        limits: {requests_per_minute: 1}\n"
		"      - name: dev\n"
		"        hash: " HASH_B "\n", now);
	struct budget_ticket t;
	struct budget_verdict v;

	(void)state;
	spend(b, "acme", "ci", 1, now);
	assert_int_equal(budget_admit(b, "acme", "ci", 1, now, &t, &v), 0);
	assert_false(v.ok);
	assert_int_equal(v.scope, BUDGET_SCOPE_KEY);
	assert_int_equal(v.limit, BUDGET_LIMIT_REQUESTS_PER_MINUTE);
	assert_int_equal(v.retry_after, 60);
	spend(b, "acme", "dev", 1, now);
	spend(b, "acme", "dev", 1, now);
	/* Usage counts for the key and its tenant. */
	assert_int_equal(usage_tokens(b, "acme", "ci", POLICY_PERIOD_DAY, now), 1);
	assert_int_equal(usage_tokens(b, "acme", "dev", POLICY_PERIOD_DAY, now), 2);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY, now), 3);
	assert_int_equal(budget_admit(b, "acme", "nope", 1, now, &t, &v), -ENOENT);
	assert_int_equal(budget_admit(b, "other", NULL, 1, now, &t, &v), -ENOENT);
	fx_close(&f);
}

/* ---- budgets and calendar windows ----------------------------------------------- */

static void test_budget_day_budget_resets_at_utc_midnight(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 3, 31, 23, 59, 30);
	struct budget *b = fx_open(&f,
		"  - name: acme\n"
		"    budgets:\n"
		"      - {period: day, tokens: 1000}\n", now);
	struct budget_ticket t;
	struct budget_verdict v;

	(void)state;
	spend(b, "acme", NULL, 990, now);
	assert_int_equal(budget_admit(b, "acme", NULL, 10, now, &t, &v), 0);
	assert_true(v.ok);
	assert_int_equal(v.remaining, 0);
	budget_release(b, &t, now);
	/* 990 + 20 > 1000: refused until the day ends, 30 s from now. */
	expect_denied(b, "acme", NULL, 20, now, BUDGET_LIMIT_TOKENS_PER_DAY, "tokens_per_day", 30);
	expect_denied(b, "acme", NULL, 20, utc(2026, 3, 31, 23, 59, 59) + S / 2,
		      BUDGET_LIMIT_TOKENS_PER_DAY, "tokens_per_day", 1);
	now = utc(2026, 4, 1, 0, 0, 0);
	assert_int_equal(budget_admit(b, "acme", NULL, 20, now, &t, &v), 0);
	assert_true(v.ok);
	assert_int_equal(v.remaining, 980);
	budget_release(b, &t, now);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY, now), 0);
	/* The month window also turned over at the month end. */
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_MONTH, now), 0);
	fx_close(&f);
}

static void test_budget_estimates_in_flight_hold_budget(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f,
		"  - name: acme\n"
		"    budgets:\n"
		"      - {period: day, tokens: 1000}\n", now);
	struct budget_ticket t1, t2;
	struct budget_verdict v;
	struct budget_usage u = { .in = 100 };

	(void)state;
	/* From an untouched window one call may start whatever its estimate. */
	assert_int_equal(budget_admit(b, "acme", NULL, 5000, now, &t1, &v), 0);
	assert_true(v.ok);
	assert_int_equal(v.remaining, 0);
	budget_release(b, &t1, now);
	assert_int_equal(budget_admit(b, "acme", NULL, 600, now, &t1, &v), 0);
	assert_true(v.ok);
	/* Nothing is spent yet, but 600 are held by the call in flight. */
	expect_denied(b, "acme", NULL, 600, now, BUDGET_LIMIT_TOKENS_PER_DAY,
		      "tokens_per_day", 12 * 3600);
	assert_int_equal(budget_admit(b, "acme", NULL, 400, now, &t2, &v), 0);
	assert_true(v.ok);
	budget_charge(b, &t1, &u, NULL, now);	/* used 100 of its 600 */
	budget_release(b, &t2, now);
	assert_int_equal(budget_admit(b, "acme", NULL, 900, now, &t2, &v), 0);
	assert_true(v.ok);
	budget_release(b, &t2, now);
	fx_close(&f);
}

static void test_budget_month_budget_survives_days_and_resets_at_month_end(void **state)
{
	struct fx f;
	uint64_t now = utc(2028, 2, 3, 10, 0, 0);
	struct budget *b = fx_open(&f,
		"  - name: acme\n"
		"    budgets:\n"
		"      - {period: month, tokens: 500}\n", now);
	struct budget_period_usage u;

	(void)state;
	spend(b, "acme", NULL, 500, now);
	/* Next day, same month: still spent; Retry-After runs to 1 March (a
	 * leap year: 29 February exists). */
	now = utc(2028, 2, 29, 23, 0, 0);
	expect_denied(b, "acme", NULL, 1, now, BUDGET_LIMIT_TOKENS_PER_MONTH,
		      "tokens_per_month", 3600);
	assert_int_equal(budget_usage_get(b, "acme", NULL, POLICY_PERIOD_MONTH, now, &u), 0);
	assert_int_equal(u.start_ns, utc(2028, 2, 1, 0, 0, 0));
	assert_int_equal(u.end_ns, utc(2028, 3, 1, 0, 0, 0));
	assert_int_equal(u.tokens, 500);
	now = utc(2028, 3, 1, 0, 0, 0);
	spend(b, "acme", NULL, 1, now);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_MONTH, now), 1);
	/* December rolls into the next year. */
	now = utc(2028, 12, 31, 23, 59, 59);
	assert_int_equal(budget_usage_get(b, "acme", NULL, POLICY_PERIOD_MONTH, now, &u), 0);
	assert_int_equal(u.end_ns, utc(2029, 1, 1, 0, 0, 0));
	fx_close(&f);
}

static void test_budget_cost_from_price_table_with_cached_input(void **state)
{
	struct policy_price price = { .input = 2.5, .output = 10, .cached_input = 1.25 };
	struct budget_usage u = { .in = 1000, .out = 200, .cached_in = 400 };

	(void)state;
	/* 600 × 2.5 + 400 × 1.25 + 200 × 10 = 4000 per million = 0.004. */
	assert_int_equal(budget_cost_nano(&u, &price), 4000000);
	price.cached_input = -1;	/* as input */
	assert_int_equal(budget_cost_nano(&u, &price), 4500000);
	/* Cached more than input counts as all input cached. */
	price.cached_input = 0;
	u.cached_in = 5000;
	assert_int_equal(budget_cost_nano(&u, &price), 2000000);
	/* Rounded up to the next nano unit, per request. */
	struct policy_price tiny = { .input = 0.0001, .output = 0, .cached_input = -1 };
	struct budget_usage one = { .in = 1 };
	assert_int_equal(budget_cost_nano(&one, &tiny), 1);
	struct policy_price tenth = { .input = 0.1, .output = 0, .cached_input = -1 };
	struct budget_usage three = { .in = 3 };
	assert_int_equal(budget_cost_nano(&three, &tenth), 300);	/* no 0.30000000000000004 */
	assert_int_equal(budget_cost_nano(&three, NULL), 0);
}

static void test_budget_cost_budget_denies_once_spent(void **state)
{
	struct fx f;
	struct policy_price price = { .input = 2.5, .output = 10, .cached_input = -1 };
	struct budget_usage u = { .in = 1000, .out = 200 };	/* 0.0045 */
	uint64_t now = utc(2026, 5, 10, 12, 30, 0);
	struct budget *b = fx_open(&f,
		"  - name: acme\n"
		"    budgets:\n"
		"      - {period: hour, cost: 0.01}\n", now);
	struct budget_ticket t;
	struct budget_verdict v;
	struct budget_period_usage pu;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(budget_admit(b, "acme", NULL, 1200, now, &t, &v), 0);
		assert_true(v.ok);
		assert_int_equal(budget_charge(b, &t, &u, &price, now), 4500000);
	}
	assert_int_equal(budget_usage_get(b, "acme", NULL, POLICY_PERIOD_HOUR, now, &pu), 0);
	assert_int_equal(pu.cost_nano, 13500000);
	expect_denied(b, "acme", NULL, 1, now, BUDGET_LIMIT_COST_PER_HOUR, "cost_per_hour", 1800);
	assert_int_equal(f.s.blocked, 1);
	fx_close(&f);
}

static void test_budget_warn_budget_counts_and_lets_through(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f,
		"  - name: acme\n"
		"    budgets:\n"
		"      - {period: day, tokens: 10, action: warn}\n", now);
	struct budget_ticket t;
	struct budget_verdict v;
	struct budget_period_usage pu;

	(void)state;
	spend(b, "acme", NULL, 50, now);
	assert_int_equal(budget_admit(b, "acme", NULL, 5, now, &t, &v), 0);
	assert_true(v.ok);
	assert_true(v.warned & (1u << BUDGET_LIMIT_TOKENS_PER_DAY));
	assert_int_equal(v.remaining, BUDGET_UNLIMITED);
	budget_release(b, &t, now);
	assert_int_equal(budget_usage_get(b, "acme", NULL, POLICY_PERIOD_DAY, now, &pu), 0);
	assert_int_equal(pu.warned, 1);
	assert_int_equal(f.s.blocked, 0);
	fx_close(&f);
}

/* ---- streams --------------------------------------------------------------------- */

static void test_budget_stream_ends_when_the_budget_is_spent(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f,
		"  - name: acme\n"
		"    keys:\n"
		"      - name: ci\n"
		"        hash: " HASH_A "\n"
		"        budgets:\n"
		"          - {period: day, tokens: 1000}\n", now);
	struct budget_ticket t1, t2;
	struct budget_verdict v;
	struct budget_usage u = { .in = 100, .out = 400 };

	(void)state;
	assert_int_equal(budget_admit(b, "acme", "ci", 100, now, &t1, &v), 0);
	assert_true(v.ok);
	assert_int_equal(budget_admit(b, "acme", "ci", 100, now, &t2, &v), 0);
	assert_true(v.ok);
	assert_false(budget_stream_check(b, &t1, &u, NULL, now, &v));
	assert_true(v.ok);
	assert_int_equal(v.remaining, 400);	/* 1000 - 500 - t2's 100 */
	/* The second stream's 501 on top of the first's 500 passes the budget. */
	u.out = 401;
	assert_true(budget_stream_check(b, &t2, &u, NULL, now, &v));
	assert_false(v.ok);
	assert_int_equal(v.limit, BUDGET_LIMIT_TOKENS_PER_DAY);
	assert_int_equal(v.scope, BUDGET_SCOPE_KEY);
	assert_int_equal(v.retry_after, 12 * 3600);
	budget_charge(b, &t2, &u, NULL, now);
	u.out = 400;
	budget_charge(b, &t1, &u, NULL, now);
	assert_int_equal(usage_tokens(b, "acme", "ci", POLICY_PERIOD_DAY, now), 1001);
	expect_denied(b, "acme", "ci", 1, now, BUDGET_LIMIT_TOKENS_PER_DAY, "tokens_per_day",
		      12 * 3600);
	/* A key budget refuses the key; it does not block the tenant. */
	assert_int_equal(f.s.blocked, 0);
	fx_close(&f);
}

static void test_budget_stream_ends_on_cost(void **state)
{
	struct fx f;
	struct policy_price price = { .input = 1, .output = 1, .cached_input = -1 };
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f,
		"  - name: acme\n"
		"    budgets:\n"
		"      - {period: day, cost: 0.001}\n", now);
	struct budget_ticket t;
	struct budget_verdict v;
	struct budget_usage u = { .in = 500, .out = 500 };	/* exactly 0.001 */

	(void)state;
	assert_int_equal(budget_admit(b, "acme", NULL, 10, now, &t, &v), 0);
	assert_false(budget_stream_check(b, &t, &u, &price, now, &v));
	u.out = 501;
	assert_true(budget_stream_check(b, &t, &u, &price, now, &v));
	assert_int_equal(v.limit, BUDGET_LIMIT_COST_PER_DAY);
	budget_charge(b, &t, &u, &price, now);
	assert_int_equal(f.s.blocked, 1);
	fx_close(&f);
}

/* ---- the kernel hooks --------------------------------------------------------------- */

static void test_budget_block_hook_once_per_window_and_unblock_at_reset(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 22, 0, 0);
	struct budget *b = fx_open(&f,
		"  - name: acme\n"
		"    budgets:\n"
		"      - {period: day, tokens: 100}\n"
		"      - {period: hour, tokens: 10, action: warn}\n", now);
	struct budget_ticket t, late;
	struct budget_verdict v;
	struct budget_usage u = { .in = 5 };

	(void)state;
	assert_int_equal(budget_admit(b, "acme", NULL, 1, now, &late, &v), 0);
	spend(b, "acme", NULL, 60, now);
	assert_int_equal(f.s.blocked, 0);		/* the warn budget does not block */
	spend(b, "acme", NULL, 40, now);
	assert_int_equal(f.s.blocked, 1);
	assert_string_equal(f.s.tenant, "acme");
	assert_int_equal(f.s.until, utc(2026, 5, 11, 0, 0, 0));
	/* More spending (a request admitted before) and refusals: no new call. */
	budget_charge(b, &late, &u, NULL, now + S);
	assert_int_equal(f.s.blocked, 1);
	expect_denied(b, "acme", NULL, 1, now, BUDGET_LIMIT_TOKENS_PER_DAY, "tokens_per_day", 7200);
	budget_tick(b, utc(2026, 5, 10, 23, 59, 59));
	assert_int_equal(f.s.blocked, 1);
	assert_int_equal(f.s.unblocked, 0);
	budget_tick(b, utc(2026, 5, 11, 0, 0, 0));
	assert_int_equal(f.s.unblocked, 1);
	budget_tick(b, utc(2026, 5, 11, 0, 0, 1));
	assert_int_equal(f.s.unblocked, 1);
	now = utc(2026, 5, 11, 0, 0, 1);
	assert_int_equal(budget_admit(b, "acme", NULL, 5, now, &t, &v), 0);
	assert_true(v.ok);
	budget_charge(b, &t, &u, NULL, now);
	assert_int_equal(f.s.blocked, 1);
	fx_close(&f);
}

static void test_budget_auth_failures_put_a_source_in_the_penalty_box(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f, "  - name: acme\n", now);
	struct policy_cidr a = { .family = 4, .addr = { 192, 0, 2, 7 } };
	struct policy_cidr c = { .family = 4, .addr = { 192, 0, 2, 8 } };
	struct policy_cidr v6 = { .family = 6, .addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } };

	(void)state;
	assert_false(budget_auth_failed(b, &a, now));
	assert_false(budget_auth_failed(b, &a, now + 10 * S));
	assert_false(budget_auth_failed(b, &c, now + 10 * S));
	assert_false(budget_auth_failed(b, &v6, now + 10 * S));
	assert_int_equal(f.s.penalties, 0);
	assert_true(budget_auth_failed(b, &a, now + 20 * S));
	assert_int_equal(f.s.penalties, 1);
	assert_int_equal(f.s.duration, 600 * S);
	assert_int_equal(f.s.addr.family, 4);
	assert_memory_equal(f.s.addr.addr, a.addr, 4);
	/* The count starts again; failures spread past the window never box. */
	for (int i = 0; i < 10; i++)
		assert_false(budget_auth_failed(b, &c, now + 10 * S + (uint64_t)(i + 1) * 31 * S));
	assert_int_equal(f.s.penalties, 1);
	fx_close(&f);
}

/* ---- persistence ---------------------------------------------------------------- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-budget-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *two_tenants =
	"  - name: acme\n"
	"    budgets:\n"
	"      - {period: day, tokens: 100000}\n"
	"    keys:\n"
	"      - name: ci\n"
	"        hash: " HASH_A "\n"
	"  - name: beta\n";

static void test_budget_state_round_trips_across_free_and_open(void **state)
{
	struct policy *p = pol(two_tenants);
	struct policy *fewer = pol("  - name: acme\n");
	struct policy_price price = { .input = 3, .output = 15, .cached_input = -1 };
	struct seen s = { 0 };
	uint64_t now = utc(2026, 5, 31, 23, 0, 0);
	char path[128];
	struct budget *b;
	struct budget_ticket t;
	struct budget_verdict v;
	struct budget_usage u = { .in = 700, .out = 300 };
	struct budget_period_usage pu;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/budget.state", tmpdir);
	b = open_with(p, path, &s, now);
	assert_int_equal(budget_admit(b, "acme", "ci", 1000, now, &t, &v), 0);
	budget_charge(b, &t, &u, &price, now);
	spend(b, "beta", NULL, 42, now);
	assert_int_equal(budget_persist(b), 0);
	budget_free(b);

	b = open_with(p, path, &s, now + 60 * S);
	assert_int_equal(budget_usage_get(b, "acme", "ci", POLICY_PERIOD_DAY, now, &pu), 0);
	assert_int_equal(pu.tokens, 1000);
	assert_int_equal(pu.cost_nano, 6600000);	/* 700 × 3 + 300 × 15 */
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_MONTH, now), 1000);
	assert_int_equal(usage_tokens(b, "beta", NULL, POLICY_PERIOD_HOUR, now), 42);
	/* Nothing changed: no write (a removed file stays removed). */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(budget_persist(b), 0);
	assert_int_equal(stat(path, &st), -1);
	spend(b, "acme", NULL, 1, now + 60 * S);
	assert_int_equal(budget_persist(b), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	budget_free(b);

	/* Down over midnight and the month end: those windows start at zero,
	 * the tenant and key that left are ignored. */
	b = open_with(fewer, path, &s, utc(2026, 6, 1, 0, 30, 0));
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY,
				      utc(2026, 6, 1, 0, 30, 0)), 0);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_MONTH,
				      utc(2026, 6, 1, 0, 30, 0)), 0);
	assert_int_equal(budget_usage_get(b, "beta", NULL, POLICY_PERIOD_DAY, now, &pu), -ENOENT);
	budget_free(b);
	/* Started again within the same day: the day window is kept. */
	b = open_with(fewer, path, &s, utc(2026, 5, 31, 23, 30, 0));
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY,
				      utc(2026, 5, 31, 23, 30, 0)), 1001);
	budget_free(b);
	policy_unref(fewer);
	policy_unref(p);
}

static void flip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+");
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	c = fgetc(f);
	assert_int_not_equal(c, EOF);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	fputc(c == '7' ? '8' : '7', f);
	assert_int_equal(fclose(f), 0);
}

static void test_budget_damaged_state_falls_back_to_the_previous_copy(void **state)
{
	struct policy *p = pol(two_tenants);
	struct seen s = { 0 };
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	char path[128], prev[160];
	struct budget *b;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/damaged.state", tmpdir);
	snprintf(prev, sizeof(prev), "%s.prev", path);
	b = open_with(p, path, &s, now);
	spend(b, "acme", NULL, 100, now);
	assert_int_equal(budget_persist(b), 0);
	spend(b, "acme", NULL, 50, now);
	assert_int_equal(budget_persist(b), 0);
	budget_free(b);

	/* A changed digit: the checksum catches it, the previous copy loads. */
	flip_byte(path, 30);
	b = open_with(p, path, &s, now);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY, now), 100);
	budget_free(b);

	/* Both damaged (the previous one cut short): zero, no crash. */
	assert_int_equal(stat(prev, &st), 0);
	assert_int_equal(truncate(prev, st.st_size - 5), 0);
	b = open_with(p, path, &s, now);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY, now), 0);
	budget_free(b);

	/* Garbage and an empty file, with no previous copy. */
	unlink(prev);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("\x01\x02 not a state file\n\xff\xfe", f);
	fclose(f);
	b = open_with(p, path, &s, now);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY, now), 0);
	budget_free(b);
	assert_int_equal(truncate(path, 0), 0);
	b = open_with(p, path, &s, now);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY, now), 0);
	/* And the next save replaces it with a good one. */
	spend(b, "acme", NULL, 7, now);
	assert_int_equal(budget_persist(b), 0);
	budget_free(b);
	b = open_with(p, path, &s, now);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY, now), 7);
	budget_free(b);
	policy_unref(p);
}

static void test_budget_loaded_spent_budget_blocks_at_start(void **state)
{
	struct policy *p = pol("  - name: acme\n    budgets:\n      - {period: day, tokens: 10}\n");
	struct seen s = { 0 };
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	char path[128];
	struct budget *b;

	(void)state;
	snprintf(path, sizeof(path), "%s/blocked.state", tmpdir);
	b = open_with(p, path, &s, now);
	spend(b, "acme", NULL, 10, now);
	assert_int_equal(s.blocked, 1);
	assert_int_equal(budget_persist(b), 0);
	budget_free(b);
	b = open_with(p, path, &s, now + S);
	assert_int_equal(s.blocked, 2);
	assert_int_equal(s.until, utc(2026, 5, 11, 0, 0, 0));
	budget_tick(b, utc(2026, 5, 11, 0, 0, 0));
	assert_int_equal(s.unblocked, 1);
	budget_free(b);
	policy_unref(p);
}

/* ---- threads ----------------------------------------------------------------------- */

#define THREAD_OPS	100000

/* Both threads start together, so that they really contend. */
static pthread_barrier_t start_line;

struct worker {
	struct budget *b;
	const char *key;
	uint64_t now;
	int denied;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct policy_price price = { .input = 1, .output = 2, .cached_input = 0.5 };
	struct budget_usage u = { .in = 3, .out = 2, .cached_in = 1 };
	struct budget_ticket t;
	struct budget_verdict v;

	pthread_barrier_wait(&start_line);
	for (int i = 0; i < THREAD_OPS; i++) {
		if (budget_admit(w->b, "acme", w->key, 5, w->now, &t, &v) || !v.ok) {
			w->denied++;
			continue;
		}
		budget_charge(w->b, &t, &u, &price, w->now);
	}
	return NULL;
}

static void test_budget_two_threads_give_exact_totals(void **state)
{
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f,
		"  - name: acme\n"
		"    limits: {concurrent: 2}\n"
		"    budgets:\n"
		"      - {period: month, tokens: 10000000, cost: 1000}\n"
		"    keys:\n"
		"      - name: ci\n"
		"        hash: " HASH_A "\n"
		"      - name: dev\n"
		"        hash: " HASH_B "\n", now);
	struct worker w[2] = { { b, "ci", now, 0 }, { b, "dev", now, 0 } };
	pthread_t th[2];
	struct budget_period_usage u;

	(void)state;
	assert_int_equal(pthread_barrier_init(&start_line, NULL, 2), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&start_line);
	assert_int_equal(w[0].denied + w[1].denied, 0);
	assert_int_equal(budget_usage_get(b, "acme", NULL, POLICY_PERIOD_MONTH, now, &u), 0);
	assert_int_equal(u.tokens, 2ull * THREAD_OPS * 5);
	/* 2 × 1 + 1 × 0.5 + 2 × 2 = 6.5 per million: 6.5e-6 = 6500 nano each. */
	assert_int_equal(u.cost_nano, 2ull * THREAD_OPS * 6500);
	assert_int_equal(u.inflight, 0);
	assert_int_equal(budget_usage_get(b, "acme", "ci", POLICY_PERIOD_MINUTE, now, &u), 0);
	assert_int_equal(u.tokens, (uint64_t)THREAD_OPS * 5);
	fx_close(&f);
}

static void *work_t0(void *arg)
{
	struct worker *w = arg;
	struct budget_usage u = { .in = 1 };
	struct budget_ticket t;
	struct budget_verdict v;

	for (int i = 0; i < THREAD_OPS / 2; i++) {
		if (budget_admit(w->b, "t0", NULL, 1, w->now, &t, &v) || !v.ok) {
			w->denied++;
			continue;
		}
		budget_charge(w->b, &t, &u, NULL, w->now);
	}
	return NULL;
}

/* Lookups walk the table without a lock while a reload grows it. */
static void test_budget_reload_while_requests_run(void **state)
{
	static char yaml[16384];
	size_t len = 0;
	struct policy *big;
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f, "  - name: t0\n", now);
	struct worker w = { b, NULL, now, 0 };
	pthread_t th;

	(void)state;
	for (int i = 0; i < 600; i++)
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "  - name: t%d\n", i);
	big = pol(yaml);
	assert_int_equal(pthread_create(&th, NULL, work_t0, &w), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(budget_reload(b, i % 2 ? f.p : big, now), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(w.denied, 0);
	assert_int_equal(usage_tokens(b, "t0", NULL, POLICY_PERIOD_DAY, now), THREAD_OPS / 2);
	policy_unref(big);
	fx_close(&f);
}

/* ---- reload ------------------------------------------------------------------------- */

static void test_budget_reload_keeps_counters_of_what_remains(void **state)
{
	struct fx f;
	struct policy *q = pol(
		"  - name: acme\n"
		"    budgets:\n"
		"      - {period: day, tokens: 500}\n"
		"  - name: gamma\n");
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f, two_tenants, now);
	struct budget_ticket t;
	struct budget_verdict v;
	struct budget_usage u = { .in = 10 };
	struct budget_period_usage pu;

	(void)state;
	spend(b, "acme", NULL, 600, now);
	spend(b, "acme", "ci", 7, now);
	spend(b, "beta", NULL, 9, now);
	/* A request in flight across the reload. */
	assert_int_equal(budget_admit(b, "acme", NULL, 10, now, &t, &v), 0);
	assert_int_equal(budget_reload(b, q, now), 0);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY, now), 607);
	assert_int_equal(usage_tokens(b, "gamma", NULL, POLICY_PERIOD_DAY, now), 0);
	assert_int_equal(budget_usage_get(b, "beta", NULL, POLICY_PERIOD_DAY, now, &pu), -ENOENT);
	assert_int_equal(budget_usage_get(b, "acme", "ci", POLICY_PERIOD_DAY, now, &pu), -ENOENT);
	/* The lowered budget is spent already: blocked at once. */
	assert_int_equal(f.s.blocked, 1);
	budget_charge(b, &t, &u, NULL, now);
	assert_int_equal(budget_usage_get(b, "acme", NULL, POLICY_PERIOD_DAY, now, &pu), 0);
	assert_int_equal(pu.tokens, 617);
	assert_int_equal(pu.inflight, 0);
	/* Back in the policy: counters of what left start from zero; the
	 * raised budget unblocks at once. */
	assert_int_equal(budget_reload(b, f.p, now), 0);
	assert_int_equal(f.s.unblocked, 1);
	assert_int_equal(usage_tokens(b, "beta", NULL, POLICY_PERIOD_DAY, now), 0);
	assert_int_equal(usage_tokens(b, "acme", "ci", POLICY_PERIOD_DAY, now), 0);
	assert_int_equal(usage_tokens(b, "acme", NULL, POLICY_PERIOD_DAY, now), 617);
	policy_unref(q);
	fx_close(&f);
}

static void test_budget_reload_grows_the_table_without_losing_entries(void **state)
{
	char yaml[8192] = "";
	size_t len = 0;
	struct policy *big;
	struct fx f;
	uint64_t now = utc(2026, 5, 10, 12, 0, 0);
	struct budget *b = fx_open(&f, "  - name: t0\n", now);

	(void)state;
	spend(b, "t0", NULL, 5, now);
	for (int i = 0; i < 200; i++)
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "  - name: t%d\n", i);
	big = pol(yaml);
	assert_int_equal(budget_reload(b, big, now), 0);
	assert_int_equal(usage_tokens(b, "t0", NULL, POLICY_PERIOD_DAY, now), 5);
	for (int i = 0; i < 200; i++) {
		char name[16];

		snprintf(name, sizeof(name), "t%d", i);
		spend(b, name, NULL, 1, now);
	}
	assert_int_equal(usage_tokens(b, "t199", NULL, POLICY_PERIOD_DAY, now), 1);
	assert_int_equal(usage_tokens(b, "t0", NULL, POLICY_PERIOD_DAY, now), 6);
	policy_unref(big);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_requests_per_minute_denies_with_exact_retry_after),
		cmocka_unit_test(test_budget_tokens_per_minute_counts_real_usage),
		cmocka_unit_test(test_budget_oversized_estimate_passes_once_from_a_full_bucket),
		cmocka_unit_test(test_budget_concurrency_slots_are_taken_and_given_back),
		cmocka_unit_test(test_budget_key_limits_isolate_keys_and_name_the_scope),
		cmocka_unit_test(test_budget_day_budget_resets_at_utc_midnight),
		cmocka_unit_test(test_budget_estimates_in_flight_hold_budget),
		cmocka_unit_test(test_budget_month_budget_survives_days_and_resets_at_month_end),
		cmocka_unit_test(test_budget_cost_from_price_table_with_cached_input),
		cmocka_unit_test(test_budget_cost_budget_denies_once_spent),
		cmocka_unit_test(test_budget_warn_budget_counts_and_lets_through),
		cmocka_unit_test(test_budget_stream_ends_when_the_budget_is_spent),
		cmocka_unit_test(test_budget_stream_ends_on_cost),
		cmocka_unit_test(test_budget_block_hook_once_per_window_and_unblock_at_reset),
		cmocka_unit_test(test_budget_auth_failures_put_a_source_in_the_penalty_box),
		cmocka_unit_test(test_budget_state_round_trips_across_free_and_open),
		cmocka_unit_test(test_budget_damaged_state_falls_back_to_the_previous_copy),
		cmocka_unit_test(test_budget_loaded_spent_budget_blocks_at_start),
		cmocka_unit_test(test_budget_two_threads_give_exact_totals),
		cmocka_unit_test(test_budget_reload_keeps_counters_of_what_remains),
		cmocka_unit_test(test_budget_reload_grows_the_table_without_losing_entries),
		cmocka_unit_test(test_budget_reload_while_requests_run),
	};

	return cmocka_run_group_tests_name("budget", tests, make_tmpdir, remove_tmpdir);
}
