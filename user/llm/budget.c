// SPDX-License-Identifier: Apache-2.0
/*
 * Limits and budgets. See budget.h for the contract and docs/budgets.md for
 * the semantics.
 *
 * Every tenant and key is an entry that lives as long as the struct budget:
 * a reload marks entries of names that left as not live instead of freeing
 * them, so a ticket (a request in flight) never points at freed memory and
 * readers find entries through an open-addressing table that only ever
 * gains slots. A table that fills is replaced by a larger copy; the old one
 * is kept (readers may still walk it) and freed with the budget.
 *
 * An entry's counters and limits are guarded by its tenant's mutex: one lock
 * covers a tenant and all its keys, so admission checks and takes the key's
 * and the tenant's limits at once, and a refused request holds nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "llm/budget.h"
#include "tollgate/limits.h"

typedef unsigned __int128 u128;

#define NS_PER_S	((uint64_t)1000000000)
#define MINUTE_NS	(60 * NS_PER_S)
#define N_PERIODS	4
#define STATE_MAGIC	"tollgate-budget-state 1\n"

/* One budget of a scope, with the cost already in nano units. */
struct budget_cfg {
	enum policy_period period;
	uint64_t tokens;	/* 0: none */
	uint64_t cost_nano;	/* 0: none */
	enum policy_budget_action action;
};

/* Usage in the current calendar window [start, end) of one period. */
struct budget_window {
	uint64_t start, end;	/* ns; end 0: never used */
	uint64_t tokens;
	uint64_t cost_nano;
};

struct budget_entry {
	char tenant_name[TG_NAME_MAX + 1];
	char key_name[TG_NAME_MAX + 1];	/* "" for a tenant */
	uint64_t hash;
	bool is_key;
	struct budget_entry *tenant;	/* itself for a tenant */
	struct budget_entry *first_key;	/* tenant: its keys, ever (admin lock) */
	struct budget_entry *next_key;
	pthread_mutex_t lock;		/* tenants only; keys use the tenant's */
	uint64_t seen;			/* reload epoch that last named it (admin) */

	/* Everything below: under tenant->lock. */
	bool live;
	uint32_t gen;			/* bumped when (re)created */
	uint32_t rpm;
	uint64_t tpm;
	uint32_t concurrent;
	uint32_t n_budgets;
	struct budget_cfg budgets[TG_BUDGETS_PER_SCOPE_MAX];
	/* GCRA theoretical arrival times, in ns × the limit so that the
	 * emission interval (one minute / limit) is a whole number. */
	u128 req_tat, tok_tat;
	uint64_t inflight;
	uint64_t held;			/* tokens reserved by requests in flight */
	uint64_t warned;
	struct budget_window win[N_PERIODS];
	/* Tenants only. */
	uint64_t blocked_until;		/* 0: not blocked */
	bool dirty;			/* changed since the last persist */
};

struct budget_table {
	uint64_t mask;
	struct budget_table *older;	/* replaced tables, freed with the budget */
	_Atomic(struct budget_entry *) slot[];
};

struct auth_slot {
	struct policy_cidr addr;	/* len unused; family 0: free */
	uint64_t start;
	uint32_t count;
};

#define AUTH_PER_STRIPE	(TG_BUDGET_AUTH_SOURCES / TG_BUDGET_AUTH_STRIPES)

struct auth_stripe {
	pthread_mutex_t lock;
	struct auth_slot slot[AUTH_PER_STRIPE];
};

struct budget {
	_Atomic(struct budget_table *) table;
	pthread_mutex_t admin;		/* reload, persist, tick, free */
	struct budget_entry **entries;	/* every entry, for the admin paths */
	uint32_t n_entries, cap_entries;
	uint64_t epoch;
	struct budget_hooks hooks;
	char *state_path;
	bool persist_needed;		/* a failed or never-done write */

	_Atomic uint32_t pen_failures;
	_Atomic uint64_t pen_window_ns, pen_duration_ns;
	struct auth_stripe *auth;
};

_Static_assert((TG_BUDGET_AUTH_SOURCES & (TG_BUDGET_AUTH_SOURCES - 1)) == 0,
	      "TG_BUDGET_AUTH_SOURCES must be a power of two");
_Static_assert(TG_BUDGET_AUTH_SOURCES % TG_BUDGET_AUTH_STRIPES == 0,
	      "stripes must divide the sources");

static const char *const limit_names[BUDGET_LIMIT__COUNT] = {
	[BUDGET_LIMIT_NONE] = "none",
	[BUDGET_LIMIT_REQUESTS_PER_MINUTE] = "requests_per_minute",
	[BUDGET_LIMIT_TOKENS_RATE] = "tokens_per_minute",
	[BUDGET_LIMIT_CONCURRENT] = "concurrent",
	[BUDGET_LIMIT_TOKENS_PER_MINUTE] = "tokens_per_minute",
	[BUDGET_LIMIT_TOKENS_PER_HOUR] = "tokens_per_hour",
	[BUDGET_LIMIT_TOKENS_PER_DAY] = "tokens_per_day",
	[BUDGET_LIMIT_TOKENS_PER_MONTH] = "tokens_per_month",
	[BUDGET_LIMIT_COST_PER_MINUTE] = "cost_per_minute",
	[BUDGET_LIMIT_COST_PER_HOUR] = "cost_per_hour",
	[BUDGET_LIMIT_COST_PER_DAY] = "cost_per_day",
	[BUDGET_LIMIT_COST_PER_MONTH] = "cost_per_month",
};

static const char *const period_names[N_PERIODS] = {
	"minute", "hour", "day", "month",
};

const char *budget_limit_name(enum budget_limit l)
{
	if ((unsigned)l >= BUDGET_LIMIT__COUNT)
		return "unknown";
	return limit_names[l];
}

uint64_t budget_now(void)
{
	return clock_real_ns();	/* the event's reading, on a worker */
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_INIT	0xcbf29ce484222325ull

static uint64_t scope_hash(const char *tenant, const char *key)
{
	uint64_t h = fnv1a(FNV_INIT, tenant, strlen(tenant) + 1);

	return fnv1a(h, key ? key : "", key ? strlen(key) : 0);
}

/* ---- calendar windows (UTC) ---------------------------------------------- */

static uint64_t period_start(enum policy_period p, uint64_t now)
{
	time_t s = (time_t)(now / NS_PER_S);
	struct tm tm;

	switch (p) {
	case POLICY_PERIOD_MINUTE:
		return (uint64_t)(s - s % 60) * NS_PER_S;
	case POLICY_PERIOD_HOUR:
		return (uint64_t)(s - s % 3600) * NS_PER_S;
	case POLICY_PERIOD_DAY:
		return (uint64_t)(s - s % 86400) * NS_PER_S;
	case POLICY_PERIOD_MONTH:
	default:
		gmtime_r(&s, &tm);
		tm.tm_mday = 1;
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		return (uint64_t)timegm(&tm) * NS_PER_S;
	}
}

/* The end of the window that starts at `start` (the next one's start). */
static uint64_t period_end(enum policy_period p, uint64_t start)
{
	time_t s = (time_t)(start / NS_PER_S);
	struct tm tm;

	switch (p) {
	case POLICY_PERIOD_MINUTE:
		return start + 60 * NS_PER_S;
	case POLICY_PERIOD_HOUR:
		return start + 3600 * NS_PER_S;
	case POLICY_PERIOD_DAY:
		return start + 86400 * NS_PER_S;
	case POLICY_PERIOD_MONTH:
	default:
		gmtime_r(&s, &tm);
		tm.tm_mon += 1;		/* timegm() carries into the year */
		return (uint64_t)timegm(&tm) * NS_PER_S;
	}
}

/* A window that has ended starts again from zero. A clock that went back
 * keeps the current window rather than reopen an old one. */
static void win_roll(struct budget_window *w, enum policy_period p, uint64_t now)
{
	if (w->end && now < w->end)
		return;
	w->start = period_start(p, now);
	w->end = period_end(p, w->start);
	w->tokens = 0;
	w->cost_nano = 0;
}

static void entry_roll(struct budget_entry *e, uint64_t now)
{
	for (int p = 0; p < N_PERIODS; p++)
		win_roll(&e->win[p], (enum policy_period)p, now);
}

/* ---- GCRA ------------------------------------------------------------------ */

/*
 * A bucket of `limit` tokens that refills `limit` per minute, kept as a
 * theoretical arrival time (TAT) in units of ns × limit. Takes `n` when the
 * bucket holds min(n, limit) now: a request larger than the whole bucket
 * passes only from a full bucket, and leaves a debt that later requests
 * wait out, so the sustained rate stays exact. Returns 0 with the new TAT
 * in *out, or the wait in ns until it would fit.
 */
static uint64_t gcra_try(u128 tat, uint64_t limit, uint64_t n, uint64_t now, u128 *out)
{
	u128 now_s = (u128)now * limit;
	u128 tau = (u128)MINUTE_NS * limit;
	u128 base = tat > now_s ? tat : now_s;
	u128 need = base - now_s + (u128)(n < limit ? n : limit) * MINUTE_NS;
	u128 wait;

	if (need <= tau) {
		*out = base + (u128)n * MINUTE_NS;
		return 0;
	}
	wait = (need - tau + limit - 1) / limit;
	return wait > UINT64_MAX ? UINT64_MAX : (uint64_t)wait;
}

/* Whole tokens the bucket holds now; 0 while in debt. */
static uint64_t gcra_avail(u128 tat, uint64_t limit, uint64_t now)
{
	u128 now_s = (u128)now * limit;
	u128 tau = (u128)MINUTE_NS * limit;
	u128 debt = tat > now_s ? tat - now_s : 0;

	return debt >= tau ? 0 : (uint64_t)((tau - debt) / MINUTE_NS);
}

/* Corrects the bucket by usage - estimate: more usage goes into debt, less
 * gives tokens back (never past a full bucket). */
static void gcra_adjust(u128 *tat, uint64_t limit, uint64_t est, uint64_t used, uint64_t now)
{
	u128 now_s = (u128)now * limit;

	if (!limit)
		return;
	if (used > est) {
		u128 base = *tat > now_s ? *tat : now_s;

		*tat = base + (u128)(used - est) * MINUTE_NS;
	} else if (used < est) {
		u128 back = (u128)(est - used) * MINUTE_NS;

		*tat = *tat > now_s + back ? *tat - back : now_s;
	}
}

/* The same point in time in the units of a new limit. */
static u128 gcra_rescale(u128 tat, uint64_t old_limit, uint64_t new_limit)
{
	if (!old_limit || !new_limit)
		return 0;
	return tat / old_limit * new_limit;
}

/* ---- cost ------------------------------------------------------------------ */

/* A price per million tokens in nano units per million tokens. */
static uint64_t price_nano(double p)
{
	if (!(p > 0))
		return 0;
	if (p > 1e9)
		p = 1e9;
	return (uint64_t)llround(p * 1e9);
}

uint64_t budget_cost_nano(const struct budget_usage *u,
			  const struct policy_price *price)
{
	uint64_t cached, pin, pc;
	u128 sum;

	if (!u || !price)
		return 0;
	cached = u->cached_in < u->in ? u->cached_in : u->in;
	pin = price_nano(price->input);
	pc = price->cached_input < 0 ? pin : price_nano(price->cached_input);
	sum = (u128)(u->in - cached) * pin + (u128)cached * pc +
	      (u128)u->out * price_nano(price->output);
	sum = (sum + 999999) / 1000000;
	return sum > UINT64_MAX ? UINT64_MAX : (uint64_t)sum;
}

/* ---- the table --------------------------------------------------------------- */

static struct budget_table *table_new(uint64_t slots)
{
	struct budget_table *t;

	t = calloc(1, sizeof(*t) + slots * sizeof(t->slot[0]));
	if (!t)
		return NULL;
	t->mask = slots - 1;
	for (uint64_t i = 0; i < slots; i++)
		atomic_init(&t->slot[i], NULL);
	return t;
}

static void table_put(struct budget_table *t, struct budget_entry *e)
{
	uint64_t i = e->hash & t->mask;

	while (atomic_load_explicit(&t->slot[i], memory_order_relaxed))
		i = (i + 1) & t->mask;
	atomic_store_explicit(&t->slot[i], e, memory_order_release);
}

static struct budget_entry *table_find(struct budget *b, const char *tenant,
				       const char *key)
{
	struct budget_table *t = atomic_load_explicit(&b->table, memory_order_acquire);
	uint64_t h = scope_hash(tenant, key);
	struct budget_entry *e;

	if (!t)
		return NULL;
	for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
		e = atomic_load_explicit(&t->slot[i], memory_order_acquire);
		if (!e)
			return NULL;
		if (e->hash == h && !strcmp(e->tenant_name, tenant) &&
		    !strcmp(e->key_name, key ? key : ""))
			return e;
	}
}

/* Makes room for `more` entries: the table stays at most half full. */
static int table_reserve(struct budget *b, uint32_t more)
{
	struct budget_table *t = atomic_load_explicit(&b->table, memory_order_relaxed);
	uint64_t need = (uint64_t)b->n_entries + more;
	uint64_t slots = t ? t->mask + 1 : 64;
	struct budget_table *nt;
	struct budget_entry **ne;

	if (need > TG_BUDGET_SCOPES_MAX)
		return -ENOSPC;
	if (need > b->cap_entries) {
		uint32_t cap = b->cap_entries ? b->cap_entries : 64;

		while (cap < need)
			cap *= 2;
		ne = realloc(b->entries, cap * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		b->entries = ne;
		b->cap_entries = cap;
	}
	if (t && need * 2 <= slots)
		return 0;
	while (need * 2 > slots)
		slots *= 2;
	nt = table_new(slots);
	if (!nt)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->n_entries; i++)
		table_put(nt, b->entries[i]);
	nt->older = t;
	atomic_store_explicit(&b->table, nt, memory_order_release);
	return 0;
}

static struct budget_entry *entry_new(struct budget *b, const char *tenant,
				      const char *key, struct budget_entry *owner)
{
	struct budget_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	snprintf(e->tenant_name, sizeof(e->tenant_name), "%s", tenant);
	snprintf(e->key_name, sizeof(e->key_name), "%s", key ? key : "");
	e->hash = scope_hash(tenant, key);
	e->is_key = key != NULL;
	if (e->is_key) {
		e->tenant = owner;
		e->next_key = owner->first_key;
		owner->first_key = e;
	} else {
		e->tenant = e;
		pthread_mutex_init(&e->lock, NULL);
	}
	b->entries[b->n_entries++] = e;
	table_put(atomic_load_explicit(&b->table, memory_order_relaxed), e);
	return e;
}

/* Calls `fn` on every tenant entry with its lock held; the caller holds the
 * admin lock (the entry list only changes under it). */
static void tenants_each(struct budget *b,
			 void (*fn)(struct budget *b, struct budget_entry *t, void *arg),
			 void *arg)
{
	for (uint32_t i = 0; i < b->n_entries; i++) {
		struct budget_entry *e = b->entries[i];

		if (e->is_key)
			continue;
		pthread_mutex_lock(&e->lock);
		fn(b, e, arg);
		pthread_mutex_unlock(&e->lock);
	}
}

/* ---- hooks and the blocked state ------------------------------------------- */

static bool cfg_spent(const struct budget_cfg *c, const struct budget_window *w)
{
	return (c->tokens && w->tokens >= c->tokens) ||
	       (c->cost_nano && w->cost_nano >= c->cost_nano);
}

/*
 * Under the tenant's lock: rolls its windows and blocks or unblocks it in
 * the kernel (through the hooks) to match its blocking budgets. Key budgets
 * refuse the key only: the kernel knows tenants, not keys.
 */
static void tenant_reeval(struct budget *b, struct budget_entry *e, uint64_t now)
{
	uint64_t until = 0;

	entry_roll(e, now);
	if (e->live) {
		for (uint32_t i = 0; i < e->n_budgets; i++) {
			const struct budget_cfg *c = &e->budgets[i];
			const struct budget_window *w = &e->win[c->period];

			if (c->action == POLICY_BUDGET_BLOCK && cfg_spent(c, w) &&
			    w->end > until)
				until = w->end;
		}
	}
	if (until && until != e->blocked_until) {
		e->blocked_until = until;
		log_info("budget: tenant %s spent a blocking budget; blocked until %" PRIu64 "s",
			 e->tenant_name, until / NS_PER_S);
		if (b->hooks.tenant_blocked)
			b->hooks.tenant_blocked(b->hooks.ctx, e->tenant_name, until);
	} else if (!until && e->blocked_until) {
		e->blocked_until = 0;
		log_info("budget: tenant %s unblocked", e->tenant_name);
		if (b->hooks.tenant_unblocked)
			b->hooks.tenant_unblocked(b->hooks.ctx, e->tenant_name);
	}
}

/* ---- reload -------------------------------------------------------------------- */

static void entry_reset(struct budget_entry *e)
{
	e->gen++;
	e->req_tat = e->tok_tat = 0;
	e->inflight = e->held = e->warned = 0;
	memset(e->win, 0, sizeof(e->win));
	e->dirty = true;
}

static void entry_configure(struct budget_entry *e, const struct policy_rate_limits *l,
			    const struct policy_budget *bs, uint32_t n, uint64_t epoch)
{
	if (!e->live) {
		entry_reset(e);
		e->live = true;
		e->rpm = 0;
		e->tpm = 0;
	}
	e->req_tat = gcra_rescale(e->req_tat, e->rpm, l->requests_per_minute);
	e->tok_tat = gcra_rescale(e->tok_tat, e->tpm, l->tokens_per_minute);
	e->rpm = l->requests_per_minute;
	e->tpm = l->tokens_per_minute;
	e->concurrent = l->concurrent;
	if (n > TG_BUDGETS_PER_SCOPE_MAX)
		n = TG_BUDGETS_PER_SCOPE_MAX;
	e->n_budgets = n;
	for (uint32_t i = 0; i < n; i++) {
		e->budgets[i].period = bs[i].period < N_PERIODS ? bs[i].period : POLICY_PERIOD_MONTH;
		e->budgets[i].tokens = bs[i].tokens;
		e->budgets[i].cost_nano = price_nano(bs[i].cost);
		e->budgets[i].action = bs[i].action;
	}
	e->seen = epoch;
}

static uint32_t count_new(struct budget *b, const struct policy *p)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < p->n_tenants; i++) {
		const struct policy_tenant *t = &p->tenants[i];

		if (!table_find(b, t->name, NULL))
			n++;
		for (uint32_t k = 0; k < t->n_keys; k++)
			if (!table_find(b, t->name, t->keys[k].name))
				n++;
	}
	return n;
}

struct reload_pass {
	uint64_t epoch;
	uint64_t now;
};

/* Whatever the policy no longer names is dropped, and the tenant is
 * re-evaluated: a budget raised or removed unblocks at once. */
static void drop_unseen(struct budget *b, struct budget_entry *t, void *arg)
{
	const struct reload_pass *r = arg;

	for (struct budget_entry *k = t->first_key; k; k = k->next_key)
		if (k->seen != r->epoch)
			k->live = false;
	if (t->seen != r->epoch)
		t->live = false;
	tenant_reeval(b, t, r->now);
}

/* Creates the entries `p` names that do not exist yet, not live (so no
 * request sees them) until configured: an allocation failure leaves the
 * limits in force as they were. */
static int create_missing(struct budget *b, const struct policy *p)
{
	int err = table_reserve(b, count_new(b, p));

	for (uint32_t i = 0; !err && i < p->n_tenants; i++) {
		const struct policy_tenant *pt = &p->tenants[i];
		struct budget_entry *t = table_find(b, pt->name, NULL);

		if (!t && !(t = entry_new(b, pt->name, NULL, NULL)))
			return -ENOMEM;
		for (uint32_t k = 0; k < pt->n_keys; k++)
			if (!table_find(b, pt->name, pt->keys[k].name) &&
			    !entry_new(b, pt->name, pt->keys[k].name, t))
				return -ENOMEM;
	}
	return err;
}

static int reload_locked(struct budget *b, const struct policy *p, uint64_t now)
{
	uint64_t epoch = ++b->epoch;
	int err;

	err = create_missing(b, p);
	if (err)
		return err;
	for (uint32_t i = 0; i < p->n_tenants; i++) {
		const struct policy_tenant *pt = &p->tenants[i];
		struct budget_entry *t = table_find(b, pt->name, NULL);

		pthread_mutex_lock(&t->lock);
		entry_configure(t, &pt->limits, pt->budgets, pt->n_budgets, epoch);
		for (uint32_t k = 0; k < pt->n_keys; k++) {
			const struct policy_key *pk = &pt->keys[k];

			entry_configure(table_find(b, pt->name, pk->name), &pk->limits,
					pk->budgets, pk->n_budgets, epoch);
		}
		pthread_mutex_unlock(&t->lock);
	}
	tenants_each(b, drop_unseen, &(struct reload_pass){ epoch, now });
	atomic_store(&b->pen_failures, p->kernel.penalty.auth_failures);
	atomic_store(&b->pen_window_ns, p->kernel.penalty.window_ms * 1000000ull);
	atomic_store(&b->pen_duration_ns, p->kernel.penalty.duration_ms * 1000000ull);
	return 0;
}

int budget_reload(struct budget *b, const struct policy *p, uint64_t now)
{
	int err;

	pthread_mutex_lock(&b->admin);
	err = reload_locked(b, p, now);
	pthread_mutex_unlock(&b->admin);
	if (err)
		log_warn("budget: reload refused: %s", strerror(-err));
	return err;
}

/* ---- state file ------------------------------------------------------------------ */

static int parse_period(const char *s)
{
	for (int p = 0; p < N_PERIODS; p++)
		if (!strcmp(s, period_names[p]))
			return p;
	return -1;
}

/*
 * Reads the state file in two passes: the first checks the header, the
 * length of every line, the line count and the checksum in the "end" line;
 * only a file that passes is applied by the second. Returns 0, -ENOENT, or
 * -EBADMSG with the reason in `why`.
 */
static int state_load(struct budget *b, const char *path, uint64_t now,
		      char *why, size_t why_size)
{
	char line[TG_BUDGET_STATE_LINE_MAX + 2];
	uint64_t h = FNV_INIT, want_h = 0, lines = 0, want_lines = 0;
	uint32_t applied = 0, skipped = 0, expired = 0;
	bool ended = false;
	FILE *f;
	int err;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) || strcmp(line, STATE_MAGIC)) {
		snprintf(why, why_size, "not a budget state file (bad header)");
		goto out_bad;
	}
	h = fnv1a(h, line, strlen(line));
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		if (ended) {
			snprintf(why, why_size, "data after the end line");
			goto out_bad;
		}
		if (!len || line[len - 1] != '\n') {
			snprintf(why, why_size, "line %" PRIu64 " too long or cut short",
				 lines + 2);
			goto out_bad;
		}
		if (!strncmp(line, "end ", 4)) {
			if (sscanf(line, "end %" SCNu64 " %" SCNx64, &want_lines, &want_h) != 2) {
				snprintf(why, why_size, "bad end line");
				goto out_bad;
			}
			ended = true;
			continue;
		}
		h = fnv1a(h, line, len);
		lines++;
	}
	if (ferror(f)) {
		err = -errno;
		fclose(f);
		return err ? err : -EIO;
	}
	if (!ended) {
		snprintf(why, why_size, "truncated (no end line after %" PRIu64 " lines)", lines);
		goto out_bad;
	}
	if (want_lines != lines || want_h != h) {
		snprintf(why, why_size, "checksum or line count mismatch (corrupted)");
		goto out_bad;
	}

	rewind(f);
	if (!fgets(line, sizeof(line), f))
		goto out_bad;
	while (fgets(line, sizeof(line), f)) {
		char tenant[TG_NAME_MAX + 1], key[TG_NAME_MAX + 1], period[16];
		uint64_t start_s, tokens, cost, start, end;
		struct budget_entry *e;
		struct budget_window *w;
		int p;

		if (!strncmp(line, "end ", 4))
			break;
		if (sscanf(line, "w %64s %64s %15s %" SCNu64 " %" SCNu64 " %" SCNu64,
			   tenant, key, period, &start_s, &tokens, &cost) != 6 ||
		    (p = parse_period(period)) < 0 || start_s > UINT64_MAX / NS_PER_S) {
			skipped++;
			continue;
		}
		e = table_find(b, tenant, strcmp(key, "-") ? key : NULL);
		if (!e) {
			skipped++;
			continue;
		}
		start = period_start((enum policy_period)p, start_s * NS_PER_S);
		end = period_end((enum policy_period)p, start);
		/* A window that ended while we were down starts at zero. */
		if (now >= end) {
			expired++;
			continue;
		}
		pthread_mutex_lock(&e->tenant->lock);
		if (e->live) {
			w = &e->win[p];
			w->start = start;
			w->end = end;
			w->tokens = tokens;
			w->cost_nano = cost;
			applied++;
		} else {
			skipped++;
		}
		pthread_mutex_unlock(&e->tenant->lock);
	}
	fclose(f);
	log_info("budget: loaded %u counters from %s (%u of windows that ended, %u of tenants or keys no longer in the policy: skipped)",
		 applied, path, expired, skipped);
	return 0;

out_bad:
	fclose(f);
	return -EBADMSG;
}

static void state_load_any(struct budget *b, uint64_t now)
{
	char why[128] = "", prev[PATH_MAX];
	int err;

	err = state_load(b, b->state_path, now, why, sizeof(why));
	if (!err)
		return;
	if (err == -EBADMSG)
		log_error("budget: state file %s is damaged: %s; trying the previous copy",
			  b->state_path, why);
	else if (err != -ENOENT)
		log_error("budget: cannot read state file %s: %s; trying the previous copy",
			  b->state_path, strerror(-err));
	snprintf(prev, sizeof(prev), "%s.prev", b->state_path);
	err = state_load(b, prev, now, why, sizeof(why));
	if (!err) {
		log_warn("budget: counters restored from %s (up to one persist interval older)", prev);
		b->persist_needed = true;
		return;
	}
	if (err == -ENOENT)
		return;		/* a first start */
	log_error("budget: previous state file %s unusable too (%s); budgets start from zero",
		  prev, err == -EBADMSG ? why : strerror(-err));
	b->persist_needed = true;
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3)))
static void sbuf_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			s->failed = true;
			return;
		}
		if ((size_t)n < s->cap - s->len) {
			s->len += (size_t)n;
			return;
		}
		size_t cap = s->cap ? s->cap * 2 : 4096;
		char *np;

		while (cap - s->len <= (size_t)n)
			cap *= 2;
		np = realloc(s->p, cap);
		if (!np) {
			s->failed = true;
			return;
		}
		s->p = np;
		s->cap = cap;
	}
}

static void state_lines(struct sbuf *s, const struct budget_entry *e, uint64_t *n)
{
	for (int p = 0; p < N_PERIODS; p++) {
		const struct budget_window *w = &e->win[p];

		if (!w->end || (!w->tokens && !w->cost_nano))
			continue;
		sbuf_printf(s, "w %s %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
			    e->tenant_name, e->is_key ? e->key_name : "-", period_names[p],
			    w->start / NS_PER_S, w->tokens, w->cost_nano);
		(*n)++;
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, err = 0;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

/* Writes `s` as the new state file; the old one stays as ".prev". */
static int state_write(const char *path, const struct sbuf *s)
{
	char tmp[PATH_MAX], prev[PATH_MAX];
	int fd, err;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(prev, sizeof(prev), "%s.prev", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, s->p, s->len);
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (err)
		goto out_unlink_tmp;
	/* The current file becomes the previous one by a hard link, so that
	 * `path` names a complete file at every moment. */
	if (unlink(prev) && errno != ENOENT) {
		err = -errno;
		goto out_unlink_tmp;
	}
	if (link(path, prev) && errno != ENOENT) {
		err = -errno;
		goto out_unlink_tmp;
	}
	if (rename(tmp, path)) {
		err = -errno;
		goto out_unlink_tmp;
	}
	return fsync_dir_of(path);

out_unlink_tmp:
	unlink(tmp);
	return err;
}

static void any_dirty(struct budget *b, struct budget_entry *t, void *arg)
{
	(void)b;
	*(bool *)arg |= t->dirty;
}

struct state_out {
	struct sbuf s;
	uint64_t lines;
};

static void tenant_lines(struct budget *b, struct budget_entry *t, void *arg)
{
	struct state_out *w = arg;

	(void)b;
	if (t->live) {
		state_lines(&w->s, t, &w->lines);
		for (struct budget_entry *k = t->first_key; k; k = k->next_key)
			if (k->live)
				state_lines(&w->s, k, &w->lines);
	}
	t->dirty = false;
}

int budget_persist(struct budget *b)
{
	struct state_out w = { 0 };
	uint64_t h;
	bool dirty = false;
	int err = 0;

	if (!b || !b->state_path)
		return 0;
	pthread_mutex_lock(&b->admin);
	dirty = b->persist_needed;
	tenants_each(b, any_dirty, &dirty);
	if (!dirty)
		goto out_unlock;
	sbuf_printf(&w.s, STATE_MAGIC);
	tenants_each(b, tenant_lines, &w);
	if (w.s.failed) {
		err = -ENOMEM;
	} else {
		h = fnv1a(FNV_INIT, w.s.p, w.s.len);
		sbuf_printf(&w.s, "end %" PRIu64 " %016" PRIx64 "\n", w.lines, h);
		err = w.s.failed ? -ENOMEM : state_write(b->state_path, &w.s);
	}
	/* Counters taken now are not on disk: the next call writes again. */
	b->persist_needed = err != 0;
	if (err)
		log_error("budget: cannot save state to %s: %s", b->state_path, strerror(-err));
out_unlock:
	pthread_mutex_unlock(&b->admin);
	free(w.s.p);
	return err;
}

/* ---- lifecycle ------------------------------------------------------------------- */

/* What was loaded is what the file holds: nothing to write until something
 * changes (or the load fell back). A spent blocking budget blocks again. */
static void loaded(struct budget *b, struct budget_entry *t, void *arg)
{
	tenant_reeval(b, t, *(const uint64_t *)arg);
	t->dirty = false;
}

struct budget *budget_open(const struct policy *p, const char *state_path,
			   const struct budget_hooks *hooks, uint64_t now)
{
	struct budget *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return NULL;
	pthread_mutex_init(&b->admin, NULL);
	if (hooks)
		b->hooks = *hooks;
	b->auth = calloc(TG_BUDGET_AUTH_STRIPES, sizeof(*b->auth));
	if (!b->auth)
		goto out_free_budget;
	for (int i = 0; i < TG_BUDGET_AUTH_STRIPES; i++)
		pthread_mutex_init(&b->auth[i].lock, NULL);
	if (state_path) {
		b->state_path = strdup(state_path);
		if (!b->state_path)
			goto out_free_budget;
	}
	pthread_mutex_lock(&b->admin);
	err = reload_locked(b, p, now);
	if (!err && b->state_path) {
		state_load_any(b, now);
		tenants_each(b, loaded, &now);
	}
	pthread_mutex_unlock(&b->admin);
	if (err) {
		errno = -err;
		goto out_free_budget;
	}
	return b;

out_free_budget:
	err = errno;
	budget_free(b);
	errno = err;
	return NULL;
}

void budget_free(struct budget *b)
{
	struct budget_table *t;

	if (!b)
		return;
	for (uint32_t i = 0; i < b->n_entries; i++) {
		if (!b->entries[i]->is_key)
			pthread_mutex_destroy(&b->entries[i]->lock);
		free(b->entries[i]);
	}
	free(b->entries);
	t = atomic_load(&b->table);
	while (t) {
		struct budget_table *older = t->older;

		free(t);
		t = older;
	}
	if (b->auth) {
		for (int i = 0; i < TG_BUDGET_AUTH_STRIPES; i++)
			pthread_mutex_destroy(&b->auth[i].lock);
		free(b->auth);
	}
	free(b->state_path);
	pthread_mutex_destroy(&b->admin);
	free(b);
}

/* ---- the request path ------------------------------------------------------------ */

/* The most binding refusal: the one to wait longest for. */
struct refusal {
	enum budget_limit limit;
	enum budget_scope scope;
	uint64_t wait_ns;
};

static void refuse(struct refusal *r, enum budget_limit l, enum budget_scope s,
		   uint64_t wait_ns)
{
	if (r->limit == BUDGET_LIMIT_NONE || wait_ns > r->wait_ns) {
		r->limit = l;
		r->scope = s;
		r->wait_ns = wait_ns;
	}
}

static uint32_t retry_seconds(uint64_t wait_ns)
{
	uint64_t s = wait_ns / NS_PER_S + (wait_ns % NS_PER_S != 0);

	if (s < 1)
		s = 1;
	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

static enum budget_limit budget_limit_of(const struct budget_cfg *c, bool cost)
{
	return (cost ? BUDGET_LIMIT_COST_PER_MINUTE : BUDGET_LIMIT_TOKENS_PER_MINUTE) + c->period;
}

/* Tokens the scope may still use, by its token rate and blocking token
 * budgets, at most `rem`. */
static uint64_t scope_remaining(const struct budget_entry *e, uint64_t rem, uint64_t now)
{
	if (e->tpm && gcra_avail(e->tok_tat, e->tpm, now) < rem)
		rem = gcra_avail(e->tok_tat, e->tpm, now);
	for (uint32_t i = 0; i < e->n_budgets; i++) {
		const struct budget_cfg *c = &e->budgets[i];
		uint64_t used;

		if (!c->tokens || c->action != POLICY_BUDGET_BLOCK)
			continue;
		used = sat_add(e->win[c->period].tokens, e->held);
		used = c->tokens > used ? c->tokens - used : 0;
		if (used < rem)
			rem = used;
	}
	return rem;
}

/* Under the lock: the tighter of the tenant's and the key's (NULL: none). */
static uint64_t remaining_of(const struct budget_entry *te, const struct budget_entry *ke,
			     uint64_t now)
{
	uint64_t rem = scope_remaining(te, BUDGET_UNLIMITED, now);

	return ke ? scope_remaining(ke, rem, now) : rem;
}

/*
 * Checks one scope for a request of `est` tokens; notes refusals in `r`,
 * `warn` budgets run past in *warned, and the new GCRA times in *req and *tok.
 */
static void scope_check(struct budget_entry *e, enum budget_scope scope, uint64_t est,
			uint64_t now, struct refusal *r, uint32_t *warned,
			u128 *req, u128 *tok)
{
	uint64_t wait;

	entry_roll(e, now);
	if (e->concurrent && e->inflight >= e->concurrent)
		refuse(r, BUDGET_LIMIT_CONCURRENT, scope,
		       TG_BUDGET_CONCURRENT_RETRY_S * NS_PER_S);
	*req = e->req_tat;
	if (e->rpm && (wait = gcra_try(e->req_tat, e->rpm, 1, now, req)))
		refuse(r, BUDGET_LIMIT_REQUESTS_PER_MINUTE, scope, wait);
	*tok = e->tok_tat;
	if (e->tpm && (wait = gcra_try(e->tok_tat, e->tpm, est, now, tok)))
		refuse(r, BUDGET_LIMIT_TOKENS_RATE, scope, wait);
	for (uint32_t i = 0; i < e->n_budgets; i++) {
		const struct budget_cfg *c = &e->budgets[i];
		const struct budget_window *w = &e->win[c->period];
		bool block = c->action == POLICY_BUDGET_BLOCK;

		if (c->tokens) {
			uint64_t used = sat_add(w->tokens, e->held);

			/* From an untouched window one request may start
			 * whatever its estimate: the stream check ends it at
			 * the budget. */
			if (used && sat_add(used, est) > c->tokens) {
				if (block)
					refuse(r, budget_limit_of(c, false), scope, w->end - now);
				else
					*warned |= 1u << budget_limit_of(c, false);
			}
		}
		if (c->cost_nano && w->cost_nano >= c->cost_nano) {
			if (block)
				refuse(r, budget_limit_of(c, true), scope, w->end - now);
			else
				*warned |= 1u << budget_limit_of(c, true);
		}
	}
}

/* Under the lock: an admitted request takes a slot and holds its estimate. */
static void scope_take(struct budget_entry *e, u128 req, u128 tok, uint64_t est,
		       uint32_t warned)
{
	e->req_tat = req;
	e->tok_tat = tok;
	e->inflight++;
	e->held = sat_add(e->held, est);
	if (warned)
		e->warned++;
}

int budget_admit(struct budget *b, const char *tenant, const char *key,
		 uint64_t est_tokens, uint64_t now, struct budget_ticket *t,
		 struct budget_verdict *v)
{
	struct budget_entry *te, *ke = NULL;
	struct refusal r = { .limit = BUDGET_LIMIT_NONE };
	u128 treq, ttok, kreq = 0, ktok = 0;
	uint32_t warned = 0;
	uint64_t rem;

	memset(v, 0, sizeof(*v));
	memset(t, 0, sizeof(*t));
	if (!tenant)
		return -ENOENT;
	/* A key's entry leads to its tenant's: one lookup. */
	if (key) {
		ke = table_find(b, tenant, key);
		te = ke ? ke->tenant : NULL;
	} else {
		te = table_find(b, tenant, NULL);
	}
	if (!te)
		return -ENOENT;
	pthread_mutex_lock(&te->lock);
	if (!te->live || (ke && !ke->live)) {
		pthread_mutex_unlock(&te->lock);
		return -ENOENT;
	}
	if (te->blocked_until && now >= te->blocked_until)
		tenant_reeval(b, te, now);
	if (ke)
		scope_check(ke, BUDGET_SCOPE_KEY, est_tokens, now, &r, &warned, &kreq, &ktok);
	scope_check(te, BUDGET_SCOPE_TENANT, est_tokens, now, &r, &warned, &treq, &ttok);
	if (r.limit != BUDGET_LIMIT_NONE) {
		v->limit = r.limit;
		v->scope = r.scope;
		v->retry_after = retry_seconds(r.wait_ns);
		v->remaining = remaining_of(te, ke, now);
		pthread_mutex_unlock(&te->lock);
		return 0;
	}
	scope_take(te, treq, ttok, est_tokens, warned);
	if (ke)
		scope_take(ke, kreq, ktok, est_tokens, warned);
	rem = remaining_of(te, ke, now);
	pthread_mutex_unlock(&te->lock);

	t->tenant = te;
	t->key = ke;
	t->held = est_tokens;
	t->est = est_tokens;
	t->tenant_gen = te->gen;
	t->key_gen = ke ? ke->gen : 0;
	t->active = true;
	v->ok = true;
	v->remaining = rem;
	v->warned = warned;
	return 0;
}

/* Under the lock: gives back what the ticket holds in `e` (when `e` is
 * still the incarnation it was taken from) and corrects its token rate by
 * the real usage `used`. */
static void scope_settle(struct budget_entry *e, uint32_t gen, const struct budget_ticket *t,
			 uint64_t used, uint64_t now)
{
	if (e->gen != gen)
		return;
	e->held = e->held > t->held ? e->held - t->held : 0;
	if (e->inflight)
		e->inflight--;
	gcra_adjust(&e->tok_tat, e->tpm, t->est, used, now);
}

static void scope_add(struct budget_entry *e, uint64_t tokens, uint64_t cost, uint64_t now)
{
	entry_roll(e, now);
	for (int p = 0; p < N_PERIODS; p++) {
		e->win[p].tokens = sat_add(e->win[p].tokens, tokens);
		e->win[p].cost_nano = sat_add(e->win[p].cost_nano, cost);
	}
}

uint64_t budget_charge(struct budget *b, struct budget_ticket *t,
		       const struct budget_usage *u,
		       const struct policy_price *price, uint64_t now)
{
	struct budget_entry *te = t->tenant;
	uint64_t tokens, cost;

	if (!t->active)
		return 0;
	tokens = sat_add(u->in, u->out);
	cost = budget_cost_nano(u, price);
	pthread_mutex_lock(&te->lock);
	scope_settle(te, t->tenant_gen, t, tokens, now);
	scope_add(te, tokens, cost, now);
	if (t->key) {
		scope_settle(t->key, t->key_gen, t, tokens, now);
		scope_add(t->key, tokens, cost, now);
	}
	te->dirty = true;
	tenant_reeval(b, te, now);
	pthread_mutex_unlock(&te->lock);
	t->active = false;
	return cost;
}

void budget_release(struct budget *b, struct budget_ticket *t, uint64_t now)
{
	struct budget_entry *te = t->tenant;

	(void)b;
	if (!t->active)
		return;
	pthread_mutex_lock(&te->lock);
	scope_settle(te, t->tenant_gen, t, 0, now);
	if (t->key)
		scope_settle(t->key, t->key_gen, t, 0, now);
	pthread_mutex_unlock(&te->lock);
	t->active = false;
}

/* Under the lock: does the scope's blocking budget end a stream that has
 * used `cost` so far (its tokens are in e->held already)? */
static void scope_stream(struct budget_entry *e, enum budget_scope scope, uint64_t cost,
			 uint64_t now, struct refusal *r)
{
	entry_roll(e, now);
	for (uint32_t i = 0; i < e->n_budgets; i++) {
		const struct budget_cfg *c = &e->budgets[i];
		const struct budget_window *w = &e->win[c->period];

		if (c->action != POLICY_BUDGET_BLOCK)
			continue;
		if (c->tokens && sat_add(w->tokens, e->held) > c->tokens)
			refuse(r, budget_limit_of(c, false), scope, w->end - now);
		if (c->cost_nano && sat_add(w->cost_nano, cost) > c->cost_nano)
			refuse(r, budget_limit_of(c, true), scope, w->end - now);
	}
}

bool budget_stream_check(struct budget *b, struct budget_ticket *t,
			 const struct budget_usage *u,
			 const struct policy_price *price, uint64_t now,
			 struct budget_verdict *v)
{
	struct budget_entry *te = t->tenant;
	struct refusal r = { .limit = BUDGET_LIMIT_NONE };
	uint64_t so_far, cost, rem;

	(void)b;
	if (v)
		memset(v, 0, sizeof(*v));
	if (!t->active) {
		if (v)
			v->ok = true;
		return false;
	}
	so_far = sat_add(u->in, u->out);
	cost = budget_cost_nano(u, price);
	pthread_mutex_lock(&te->lock);
	if (so_far > t->held) {
		uint64_t more = so_far - t->held;

		if (te->gen == t->tenant_gen)
			te->held = sat_add(te->held, more);
		if (t->key && t->key->gen == t->key_gen)
			t->key->held = sat_add(t->key->held, more);
		t->held = so_far;
	}
	if (t->key)
		scope_stream(t->key, BUDGET_SCOPE_KEY, cost, now, &r);
	scope_stream(te, BUDGET_SCOPE_TENANT, cost, now, &r);
	rem = remaining_of(te, t->key, now);
	pthread_mutex_unlock(&te->lock);
	if (v) {
		v->ok = r.limit == BUDGET_LIMIT_NONE;
		v->limit = r.limit;
		v->scope = r.scope;
		v->retry_after = v->ok ? 0 : retry_seconds(r.wait_ns);
		v->remaining = rem;
	}
	return r.limit != BUDGET_LIMIT_NONE;
}

int budget_remaining(struct budget *b, const char *tenant, const char *key,
		     uint64_t now, uint64_t *out)
{
	struct budget_entry *te, *ke = NULL;
	uint64_t rem;

	te = tenant ? table_find(b, tenant, NULL) : NULL;
	if (!te || (key && !(ke = table_find(b, tenant, key))))
		return -ENOENT;
	pthread_mutex_lock(&te->lock);
	if (!te->live || (ke && !ke->live)) {
		pthread_mutex_unlock(&te->lock);
		return -ENOENT;
	}
	entry_roll(te, now);
	if (ke)
		entry_roll(ke, now);
	rem = remaining_of(te, ke, now);
	pthread_mutex_unlock(&te->lock);
	*out = rem;
	return 0;
}

int budget_usage_get(struct budget *b, const char *tenant, const char *key,
		     enum policy_period period, uint64_t now,
		     struct budget_period_usage *out)
{
	struct budget_entry *e;

	if ((unsigned)period >= N_PERIODS || !tenant)
		return -EINVAL;
	e = table_find(b, tenant, key);
	if (!e)
		return -ENOENT;
	pthread_mutex_lock(&e->tenant->lock);
	if (!e->live) {
		pthread_mutex_unlock(&e->tenant->lock);
		return -ENOENT;
	}
	win_roll(&e->win[period], period, now);
	out->start_ns = e->win[period].start;
	out->end_ns = e->win[period].end;
	out->tokens = e->win[period].tokens;
	out->cost_nano = e->win[period].cost_nano;
	out->inflight = e->inflight;
	out->warned = e->warned;
	pthread_mutex_unlock(&e->tenant->lock);
	return 0;
}

static void tick_one(struct budget *b, struct budget_entry *t, void *arg)
{
	uint64_t now = *(const uint64_t *)arg;

	if (t->blocked_until && now >= t->blocked_until)
		tenant_reeval(b, t, now);
}

void budget_tick(struct budget *b, uint64_t now)
{
	pthread_mutex_lock(&b->admin);
	tenants_each(b, tick_one, &now);
	pthread_mutex_unlock(&b->admin);
}

/* ---- failed authentications ------------------------------------------------------ */

static bool addr_eq(const struct policy_cidr *a, const struct policy_cidr *b)
{
	return a->family == b->family &&
	       !memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16);
}

bool budget_auth_failed(struct budget *b, const struct policy_cidr *addr,
			uint64_t now)
{
	uint32_t limit = atomic_load_explicit(&b->pen_failures, memory_order_relaxed);
	uint64_t window = atomic_load_explicit(&b->pen_window_ns, memory_order_relaxed);
	struct policy_cidr a = { 0 };
	struct auth_stripe *st;
	struct auth_slot *s = NULL, *victim = NULL;
	uint64_t h;
	uint32_t pos;
	bool boxed = false;

	if (!limit || (addr->family != 4 && addr->family != 6))
		return false;
	a.family = addr->family;
	memcpy(a.addr, addr->addr, addr->family == 4 ? 4 : 16);
	h = fnv1a(FNV_INIT, &a, sizeof(a));
	st = &b->auth[h % TG_BUDGET_AUTH_STRIPES];
	pos = (uint32_t)(h / TG_BUDGET_AUTH_STRIPES) % AUTH_PER_STRIPE;

	pthread_mutex_lock(&st->lock);
	for (uint32_t i = 0; i < TG_BUDGET_AUTH_PROBE; i++) {
		struct auth_slot *c = &st->slot[(pos + i) % AUTH_PER_STRIPE];

		if (c->addr.family && addr_eq(&c->addr, &a)) {
			s = c;
			break;
		}
		/* Free, expired, or else the oldest window: the one to give up. */
		if (!victim || !c->addr.family ||
		    (victim->addr.family && c->start < victim->start))
			victim = c;
	}
	if (!s) {
		s = victim;
		s->addr = a;
		s->count = 0;
		s->start = now;
	}
	/* A fixed window from the first failure in it. */
	if (now - s->start >= window || now < s->start) {
		s->start = now;
		s->count = 0;
	}
	if (++s->count >= limit) {
		boxed = true;
		s->count = 0;
		s->start = now;
		if (b->hooks.penalty)
			b->hooks.penalty(b->hooks.ctx, &a,
					 atomic_load_explicit(&b->pen_duration_ns,
							      memory_order_relaxed));
	}
	pthread_mutex_unlock(&st->lock);
	return boxed;
}
