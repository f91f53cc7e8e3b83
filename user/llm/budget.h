/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Limits and budgets of LLM traffic, per tenant and per key: requests and
 * tokens per minute (GCRA), concurrent requests, and token and cost budgets
 * per calendar minute, hour, day and month (UTC), kept across restarts in a
 * state file. Semantics, windows, rounding and durability: docs/budgets.md.
 *
 * Threads: every call but budget_open() and budget_free() may run from
 * several threads at once. Each tenant has its own lock, which also covers
 * its keys; lookups go through a table that readers walk without a lock.
 * budget_reload(), budget_persist() and budget_tick() serialise among
 * themselves and run alongside the request path.
 *
 * Time: `now` is nanoseconds since the Unix epoch (CLOCK_REALTIME, UTC),
 * given by the caller so that tests can move it; budget_now() reads it.
 *
 * The kernel is reached only through the hooks: this module knows nothing of
 * BPF. The daemon wires them to kern_tenant_set_blocked() and
 * kern_penalty_add().
 */
#ifndef TOLLGATE_BUDGET_H
#define TOLLGATE_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/policy.h"

/* "No limit": what budget_remaining() and verdicts report when no token
 * limit applies. */
#define BUDGET_UNLIMITED	UINT64_MAX

/* Which limit refused (or ended) a request. Rate limits first, then the
 * budgets, one per (kind, period). */
enum budget_limit {
	BUDGET_LIMIT_NONE = 0,
	BUDGET_LIMIT_REQUESTS_PER_MINUTE,	/* limits.requests_per_minute */
	BUDGET_LIMIT_TOKENS_RATE,		/* limits.tokens_per_minute */
	BUDGET_LIMIT_CONCURRENT,		/* limits.concurrent */
	BUDGET_LIMIT_TOKENS_PER_MINUTE,		/* budgets: period minute, tokens */
	BUDGET_LIMIT_TOKENS_PER_HOUR,
	BUDGET_LIMIT_TOKENS_PER_DAY,
	BUDGET_LIMIT_TOKENS_PER_MONTH,
	BUDGET_LIMIT_COST_PER_MINUTE,		/* budgets: period minute, cost */
	BUDGET_LIMIT_COST_PER_HOUR,
	BUDGET_LIMIT_COST_PER_DAY,
	BUDGET_LIMIT_COST_PER_MONTH,
	BUDGET_LIMIT__COUNT,
};

/* "requests_per_minute", "tokens_per_minute", "concurrent",
 * "tokens_per_day", "cost_per_month", ...: the policy's own words, for the
 * 429 error body. The token rate limit and a per-minute token budget both
 * read "tokens_per_minute"; the enum tells them apart. */
const char *budget_limit_name(enum budget_limit l);

enum budget_scope {
	BUDGET_SCOPE_TENANT = 0,
	BUDGET_SCOPE_KEY,
};

/* The answer to budget_admit() and budget_stream_check(). */
struct budget_verdict {
	bool ok;			/* admitted / the stream may go on */
	enum budget_limit limit;	/* what refused; NONE when ok */
	enum budget_scope scope;	/* whose limit it was */
	uint32_t retry_after;		/* seconds, ≥ 1 when refused: Retry-After */
	/* Tokens left before the tightest token limit of the tenant and key
	 * (per-minute rate and token budgets), after this request's estimate;
	 * BUDGET_UNLIMITED when none applies. For x-tollgate-tokens-remaining. */
	uint64_t remaining;
	/* Budgets with action `warn` that this request ran past (counted, not
	 * enforced): a bit per enum budget_limit. */
	uint32_t warned;
};

/* A request's hold on the limits between budget_admit() and
 * budget_charge()/budget_release(): embed it in the request. What it points
 * to lives as long as the struct budget, across reloads. */
struct budget_entry;

struct budget_ticket {
	struct budget_entry *tenant;
	struct budget_entry *key;	/* NULL: tenant only */
	uint64_t est;		/* the estimate admitted */
	uint64_t held;		/* tokens reserved (the estimate, or more once a
				 * stream has used more) */
	uint32_t tenant_gen, key_gen;
	bool active;
};

/* Usage as the provider reports it. `in` counts every input token, cached
 * ones included (OpenAI's prompt_tokens; for Anthropic input_tokens +
 * cache_read_input_tokens); `cached_in` is the part of `in` read from the
 * provider's prompt cache (more than `in` is taken as `in`). */
struct budget_usage {
	uint64_t in;
	uint64_t out;
	uint64_t cached_in;
};

/* Called with the tenant's lock held, so calls for one tenant arrive in
 * order and never twice for the same state; they must not call back into
 * this module for that tenant. Any may be NULL. */
struct budget_hooks {
	/* A budget with action block is spent: block the tenant's new
	 * connections until `until_ns` (epoch ns, the end of the window that
	 * refills it). Called once per window, again only if `until` moves. */
	void (*tenant_blocked)(void *ctx, const char *tenant, uint64_t until_ns);
	/* The windows refilled (or the policy raised or removed the budget). */
	void (*tenant_unblocked)(void *ctx, const char *tenant);
	/* A source failed authentication kernel.penalty.auth_failures times
	 * within kernel.penalty.window: drop its packets for `duration_ns`. */
	void (*penalty)(void *ctx, const struct policy_cidr *addr, uint64_t duration_ns);
	void *ctx;
};

struct budget;

/* CLOCK_REALTIME in ns. */
uint64_t budget_now(void);

/*
 * Builds the limits of every tenant and key of `p` (borrowed: nothing of it
 * is kept) and, when `state_path` is not NULL, loads the budget counters
 * saved there: entries of tenants or keys no longer in the policy are
 * ignored, windows that ended while we were down start from zero. A missing
 * file is a first start; a damaged one (bad header, checksum or a truncated
 * tail) is logged and the previous copy (`state_path` + ".prev") is tried,
 * then zero. Tenants whose loaded usage is over a blocking budget get the
 * tenant_blocked hook at once. `hooks` is copied (NULL: none).
 * Returns NULL with errno (ENOMEM; ENOSPC past TG_BUDGET_SCOPES_MAX).
 */
struct budget *budget_open(const struct policy *p, const char *state_path,
			   const struct budget_hooks *hooks, uint64_t now);
/* Frees everything; does not persist (call budget_persist() first). NULL ok. */
void budget_free(struct budget *b);

/* Applies the limits of `p`: tenants and keys that are still there (same
 * tenant name, same key name) keep their counters and in-flight requests;
 * ones that left are dropped (a later return starts from zero). Call it
 * before workers see `p`. Returns 0, or -ENOSPC / -ENOMEM with the limits
 * in force unchanged. */
int budget_reload(struct budget *b, const struct policy *p, uint64_t now);

/*
 * Before the call. `key` may be NULL (a tenant without keys, e.g. an auth:
 * none listener). `est_tokens` is the expected total (input + output) of
 * the call. When admitted, it holds a concurrency slot and reserves
 * `est_tokens` in the tenant's and key's token budgets and token rate; the
 * ticket must then go to budget_charge() or budget_release() exactly once.
 * Returns 0 with `v` filled (admitted or not; a refused request holds
 * nothing), -ENOENT for a tenant or key the policy does not have.
 */
int budget_admit(struct budget *b, const char *tenant, const char *key,
		 uint64_t est_tokens, uint64_t now, struct budget_ticket *t,
		 struct budget_verdict *v);

/* After the call: counts `u` in every budget window and the token rate
 * (replacing the estimate), adds its cost at `price` (NULL: free) to the
 * cost budgets, and gives back the concurrency slot. A budget with action
 * block that this spends calls tenant_blocked. Returns the request's cost
 * in nano currency units (see budget_cost_nano). The ticket is spent. */
uint64_t budget_charge(struct budget *b, struct budget_ticket *t,
		       const struct budget_usage *u,
		       const struct policy_price *price, uint64_t now);

/* A call that failed before any usage: gives back the slot and the
 * reservation, charges nothing. A no-op on a spent ticket. */
void budget_release(struct budget *b, struct budget_ticket *t, uint64_t now);

/*
 * During a stream, with the usage so far (`u`, cumulative). Says whether the
 * stream must end now because it spent a budget with action block of its
 * tenant or key: committed usage + what running requests hold (this one's
 * usage so far when past its estimate) > the token budget, or committed
 * cost + this one's cost so far > the cost budget. Raises the ticket's
 * reservation to its usage so far, so other requests see it. Returns true
 * when the stream must end (`v` says why; may be NULL).
 */
bool budget_stream_check(struct budget *b, struct budget_ticket *t,
			 const struct budget_usage *u,
			 const struct policy_price *price, uint64_t now,
			 struct budget_verdict *v);

/* Tokens left for the tenant (and key, may be NULL) now: the tightest of
 * the token rate and the token budgets, BUDGET_UNLIMITED when none.
 * Returns 0 or -ENOENT. */
int budget_remaining(struct budget *b, const char *tenant, const char *key,
		     uint64_t now, uint64_t *out);

/* One period's counters of a tenant (key NULL) or key, for metrics and
 * tools: usage in the window [start, end). */
struct budget_period_usage {
	uint64_t start_ns, end_ns;
	uint64_t tokens;
	uint64_t cost_nano;
	uint64_t inflight;	/* requests holding a slot */
	uint64_t warned;	/* requests that ran past a `warn` budget */
};
int budget_usage_get(struct budget *b, const char *tenant, const char *key,
		     enum policy_period period, uint64_t now,
		     struct budget_period_usage *out);

/* Timer work (call it every second or so): refills windows of blocked
 * tenants and calls tenant_unblocked (or tenant_blocked with a later
 * `until` when another budget is still spent). A blocked tenant sends no
 * requests, so nothing else would notice. */
void budget_tick(struct budget *b, uint64_t now);

/* A failed authentication from `addr` (family 4 or 6, prefix length
 * ignored). Returns true when this failure put the source in the penalty
 * box (the penalty hook was called); its count then starts again. */
bool budget_auth_failed(struct budget *b, const struct policy_cidr *addr,
			uint64_t now);

/*
 * Saves every budget counter to the state file: a temporary file in the
 * same directory, fsync, the current file kept as ".prev", rename, fsync of
 * the directory. Skips the write when nothing changed since the last one.
 * Call it every TG_BUDGET_PERSIST_MS and at shutdown. Returns 0 (also
 * without a state path), or -errno (the previous file is intact).
 */
int budget_persist(struct budget *b);

/* Cost of `u` at `price`, in nano currency units (1e-9), rounded up:
 * (in - cached) * input + cached * cached_input + out * output, prices per
 * million tokens taken to the nearest nano unit. */
uint64_t budget_cost_nano(const struct budget_usage *u,
			  const struct policy_price *price);

#endif /* TOLLGATE_BUDGET_H */
