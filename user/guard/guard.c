// SPDX-License-Identifier: Apache-2.0
/*
 * The guard: builds the Hyperscan databases from a policy guard profile,
 * runs the detectors, merges their findings, decides the verdict, and
 * redacts (one-shot, inside JSON strings, and over streams).
 */
#include "guard/guard.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "guard/inject.h"
#include "guard/scan.h"
#include "policy/policy.h"

#define GUARD_PII_MASK	((1u << GUARD_T_SECRET) | (1u << GUARD_T_CARD) | (1u << GUARD_T_IBAN) | \
			 (1u << GUARD_T_SSN) | (1u << GUARD_T_PHONE) | (1u << GUARD_T_EMAIL) | \
			 (1u << GUARD_T_IP))
#define GUARD_INJ_MAX	(TG_GUARD_PATTERNS_MAX + 64)

struct guard {
	uint64_t id;			/* which scratch sizes fit it */
	uint32_t pii_types;		/* 1 << GUARD_T_* */
	enum guard_verdict pii_verdict, inj_verdict;
	bool responses;
	hs_database_t *db_secret;	/* secret prefixes, no start of match */
	hs_database_t *db_deny;		/* policy deny patterns */
	hs_database_t *db_inj;		/* builtin + policy injection patterns */
	hs_database_t *db_inj_hit;	/* the same without start of match */
	char **deny_names;
	uint32_t n_deny;
	char **inj_names;
	uint32_t *inj_weight;
	uint32_t n_inj;
	uint32_t threshold;
};

static atomic_uint_fast64_t guard_next_id = 1;
/* One scratch per thread, grown to fit every guard it has scanned with. */
static __thread hs_scratch_t *guard_tls_scratch;
static __thread uint64_t guard_tls_id;

static const char *const type_names[GUARD_T_COUNT] = {
	[GUARD_T_SECRET] = "secret", [GUARD_T_CARD] = "card", [GUARD_T_IBAN] = "iban",
	[GUARD_T_SSN] = "ssn", [GUARD_T_PHONE] = "phone", [GUARD_T_EMAIL] = "email",
	[GUARD_T_IP] = "ip", [GUARD_T_DENY] = "deny", [GUARD_T_INJECTION] = "injection",
};

const char *guard_type_name(enum guard_type t)
{
	return (unsigned int)t < GUARD_T_COUNT ? type_names[t] : "unknown";
}

const char *guard_verdict_name(enum guard_verdict v)
{
	static const char *const names[] = { "pass", "log", "redact", "block" };

	return (unsigned int)v < 4 ? names[v] : "unknown";
}

const char *guard_finding_name(const struct guard *g, const struct guard_finding *f)
{
	if (f->type == GUARD_T_DENY && f->pattern < g->n_deny)
		return g->deny_names[f->pattern];
	return guard_type_name(f->type);
}

uint32_t guard_injection_threshold(const struct guard *g)
{
	return g->threshold;
}

bool guard_scans_responses(const struct guard *g)
{
	return g->responses && (g->pii_types || g->db_deny);
}

/* ---- building ------------------------------------------------------------------------ */

static enum guard_verdict verdict_of(enum policy_guard_action a)
{
	switch (a) {
	case POLICY_GUARD_BLOCK:
		return GUARD_BLOCK;
	case POLICY_GUARD_REDACT:
		return GUARD_REDACT;
	default:
		return GUARD_LOG;
	}
}

static uint32_t pii_types_of(uint32_t policy_types)
{
	static const uint8_t map[] = {
		[POLICY_PII_EMAIL] = GUARD_T_EMAIL, [POLICY_PII_PHONE] = GUARD_T_PHONE,
		[POLICY_PII_CARD] = GUARD_T_CARD, [POLICY_PII_SSN] = GUARD_T_SSN,
		[POLICY_PII_IBAN] = GUARD_T_IBAN, [POLICY_PII_IP] = GUARD_T_IP,
		[POLICY_PII_SECRET] = GUARD_T_SECRET,
	};
	uint32_t out = 0, i;

	for (i = 0; i < sizeof(map); i++)
		if (policy_types & (1u << i))
			out |= 1u << map[i];
	return out;
}

static void set_err(char *err, size_t errlen, const struct policy_loc *loc, const char *guard,
		    const char *pat, const char *msg)
{
	if (!errlen)
		return;
	if (loc && loc->file)
		snprintf(err, errlen, "%s:%u:%u: guard %s: pattern %s: %s", loc->file, loc->line,
			 loc->col, guard ? guard : "?", pat ? pat : "?", msg);
	else
		snprintf(err, errlen, "guard %s: pattern %s: %s", guard ? guard : "?",
			 pat ? pat : "?", msg);
}

/* Compiles n expressions; on a compile error returns -EINVAL with the
 * failing index in *bad (-1 when Hyperscan names none) and its message. */
static int compile(const char *const *exprs, const unsigned int *flags, unsigned int n,
		   hs_database_t **db, int *bad, char *msg, size_t msglen)
{
	hs_compile_error_t *cerr = NULL;
	unsigned int *ids;
	unsigned int i;
	hs_error_t rc;

	ids = calloc(n, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		ids[i] = i;
	rc = hs_compile_multi(exprs, flags, ids, n, HS_MODE_BLOCK, NULL, db, &cerr);
	free(ids);
	if (rc == HS_SUCCESS)
		return 0;
	*bad = cerr ? cerr->expression : -1;
	snprintf(msg, msglen, "%s", cerr && cerr->message ? cerr->message : "does not compile");
	hs_free_compile_error(cerr);
	return rc == HS_NOMEM ? -ENOMEM : -EINVAL;
}

/* A literal as a Hyperscan expression: everything but letters and digits
 * escaped as \xHH. */
static char *escape_literal(const char *lit)
{
	size_t n = strlen(lit), i, o = 0;
	char *out = malloc(n * 4 + 1);

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)lit[i];

		if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
			out[o++] = (char)c;
		else
			o += (size_t)sprintf(out + o, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

static int build_secret_db(struct guard *g)
{
	char *exprs[64];
	unsigned int flags[64], i;
	char msg[256];
	int bad, err = 0;

	for (i = 0; i < gscan_n_prefixes; i++) {
		exprs[i] = escape_literal(gscan_prefixes[i].lit);
		flags[i] = 0;
		if (!exprs[i]) {
			err = -ENOMEM;
			goto out_free_exprs;
		}
	}
	err = compile((const char *const *)exprs, flags, gscan_n_prefixes, &g->db_secret, &bad,
		      msg, sizeof(msg));
out_free_exprs:
	while (i-- > 0)
		free(exprs[i]);
	return err;
}

static int build_deny_db(struct guard *g, const struct policy_guard *pg, char *err, size_t errlen)
{
	const char **exprs;
	unsigned int *flags, i;
	char msg[256];
	int bad = -1, ret = -ENOMEM;

	g->deny_names = calloc(pg->n_deny, sizeof(*g->deny_names));
	exprs = calloc(pg->n_deny, sizeof(*exprs));
	flags = calloc(pg->n_deny, sizeof(*flags));
	if (!g->deny_names || !exprs || !flags)
		goto out_free;
	for (i = 0; i < pg->n_deny; i++) {
		exprs[i] = pg->deny[i].regex ? pg->deny[i].regex : "";
		flags[i] = HS_FLAG_SOM_LEFTMOST;
		g->deny_names[i] = strdup(pg->deny[i].name ? pg->deny[i].name : "deny");
		if (!g->deny_names[i])
			goto out_free;
		g->n_deny = i + 1;
	}
	ret = compile(exprs, flags, pg->n_deny, &g->db_deny, &bad, msg, sizeof(msg));
	if (ret == -EINVAL) {
		const struct policy_pattern *p = bad >= 0 ? &pg->deny[bad] : NULL;

		set_err(err, errlen, p ? &p->loc : &pg->loc, pg->name, p ? p->name : "deny", msg);
	}
out_free:
	free(flags);
	free(exprs);
	return ret;
}

static int build_inj_db(struct guard *g, const struct policy_guard *pg, char *err, size_t errlen)
{
	const struct policy_injection *pi = &pg->injection;
	unsigned int nb = pi->builtin ? guard_injection_n_builtin : 0;
	unsigned int n = nb + pi->n_patterns, i;
	const char **exprs;
	unsigned int *flags;
	char msg[256];
	int bad = -1, ret = -ENOMEM;

	if (n > GUARD_INJ_MAX)
		return -E2BIG;
	g->inj_names = calloc(n, sizeof(*g->inj_names));
	g->inj_weight = calloc(n, sizeof(*g->inj_weight));
	exprs = calloc(n, sizeof(*exprs));
	flags = calloc(n, sizeof(*flags));
	if (!g->inj_names || !g->inj_weight || !exprs || !flags)
		goto out_free;
	for (i = 0; i < n; i++) {
		const char *name;

		if (i < nb) {
			exprs[i] = guard_injection_builtin[i].regex;
			flags[i] = HS_FLAG_SOM_LEFTMOST | HS_FLAG_CASELESS;
			g->inj_weight[i] = guard_injection_builtin[i].weight;
			name = guard_injection_builtin[i].name;
		} else {
			const struct policy_pattern *p = &pi->patterns[i - nb];

			exprs[i] = p->regex ? p->regex : "";
			flags[i] = HS_FLAG_SOM_LEFTMOST;
			g->inj_weight[i] = g->threshold;
			name = p->name ? p->name : "injection";
		}
		g->inj_names[i] = strdup(name);
		if (!g->inj_names[i])
			goto out_free;
		g->n_inj = i + 1;
	}
	ret = compile(exprs, flags, n, &g->db_inj, &bad, msg, sizeof(msg));
	if (!ret) {
		/* Which patterns match is all the score needs, and without start
		 * of match Hyperscan runs several times faster: prompts are
		 * scanned with this one, and with db_inj only at the threshold,
		 * for the spans. */
		for (i = 0; i < n; i++)
			flags[i] = (flags[i] & ~HS_FLAG_SOM_LEFTMOST) | HS_FLAG_SINGLEMATCH;
		ret = compile(exprs, flags, n, &g->db_inj_hit, &bad, msg, sizeof(msg));
	}
	if (ret == -EINVAL) {
		const struct policy_pattern *p = bad >= (int)nb ? &pi->patterns[bad - (int)nb] : NULL;

		if (p)
			set_err(err, errlen, &p->loc, pg->name, p->name, msg);
		else
			set_err(err, errlen, &pg->loc, pg->name,
				bad >= 0 ? guard_injection_builtin[bad].name : "injection", msg);
	}
out_free:
	free(flags);
	free(exprs);
	return ret;
}

struct guard *guard_new(const struct policy_guard *pg, char *err, size_t errlen)
{
	struct guard *g;
	int ret;

	if (errlen)
		err[0] = '\0';
	g = calloc(1, sizeof(*g));
	if (!g) {
		errno = ENOMEM;
		return NULL;
	}
	g->id = atomic_fetch_add(&guard_next_id, 1);
	g->threshold = GUARD_INJECTION_THRESHOLD;
	if (pg->pii.enabled)
		g->pii_types = pii_types_of(pg->pii.types);
	g->pii_verdict = verdict_of(pg->pii.action);
	g->inj_verdict = verdict_of(pg->injection.action);
	g->responses = pg->pii.responses;

	ret = 0;
	if (g->pii_types & (1u << GUARD_T_SECRET))
		ret = build_secret_db(g);
	if (!ret && pg->n_deny)
		ret = build_deny_db(g, pg, err, errlen);
	if (!ret && pg->injection.enabled && (pg->injection.builtin || pg->injection.n_patterns))
		ret = build_inj_db(g, pg, err, errlen);
	if (ret) {
		if (ret != -EINVAL && errlen && !err[0])
			snprintf(err, errlen, "guard %s: %s", pg->name ? pg->name : "?", strerror(-ret));
		guard_free(g);
		errno = -ret;
		return NULL;
	}
	return g;
}

void guard_free(struct guard *g)
{
	uint32_t i;

	if (!g)
		return;
	hs_free_database(g->db_secret);
	hs_free_database(g->db_deny);
	hs_free_database(g->db_inj);
	hs_free_database(g->db_inj_hit);
	for (i = 0; i < g->n_deny; i++)
		free(g->deny_names[i]);
	free(g->deny_names);
	for (i = 0; i < g->n_inj; i++)
		free(g->inj_names[i]);
	free(g->inj_names);
	free(g->inj_weight);
	free(g);
}

void guard_thread_fini(void)
{
	hs_free_scratch(guard_tls_scratch);
	guard_tls_scratch = NULL;
	guard_tls_id = 0;
}

static int scratch_for(const struct guard *g)
{
	hs_database_t *dbs[4] = { g->db_secret, g->db_deny, g->db_inj, g->db_inj_hit };
	unsigned int i;

	if (guard_tls_id == g->id)
		return 0;
	for (i = 0; i < 4; i++)
		if (dbs[i] && hs_alloc_scratch(dbs[i], &guard_tls_scratch) != HS_SUCCESS)
			return -ENOMEM;
	guard_tls_id = g->id;
	return 0;
}

/* ---- results ------------------------------------------------------------------------- */

void guard_result_init(struct guard_result *r)
{
	memset(r, 0, sizeof(*r));
}

void guard_result_fini(struct guard_result *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

void gscan_add(struct gscan *s, size_t start, size_t end, enum guard_type t, uint16_t pattern)
{
	struct guard_result *r = s->r;

	if (end <= start)
		return;
	if (r->n == r->cap) {
		uint32_t cap = r->cap ? r->cap * 2 : 16;
		struct guard_finding *v = realloc(r->v, cap * sizeof(*v));

		if (!v) {
			s->err = -ENOMEM;
			return;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = (struct guard_finding){ .start = (uint32_t)start, .end = (uint32_t)end,
					       .type = (uint16_t)t, .pattern = pattern };
}

static int cmp_finding(const void *a, const void *b)
{
	const struct guard_finding *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end > y->end ? -1 : 1;
	return (int)x->type - (int)y->type;
}

/* Sorts and merges overlapping findings; spans snap outwards to UTF-8
 * character boundaries (a regex may match inside a character). */
static void merge(struct guard_result *r, const unsigned char *p, size_t len)
{
	uint32_t i, o = 0;

	for (i = 0; i < r->n; i++) {
		struct guard_finding *f = &r->v[i];

		while (f->start > 0 && (p[f->start] & 0xc0) == 0x80)
			f->start--;
		while (f->end < len && (p[f->end] & 0xc0) == 0x80)
			f->end++;
	}
	if (r->n > 1)
		qsort(r->v, r->n, sizeof(r->v[0]), cmp_finding);
	for (i = 0; i < r->n; i++) {
		struct guard_finding *f = &r->v[i];

		if (o && f->start < r->v[o - 1].end) {
			struct guard_finding *m = &r->v[o - 1];

			if (f->end > m->end)
				m->end = f->end;
			if (f->type < m->type) {
				m->type = f->type;
				m->pattern = f->pattern;
			}
			continue;
		}
		r->v[o++] = *f;
	}
	r->n = o;
}

/* ---- scanning ------------------------------------------------------------------------ */

struct inj_ctx {
	struct gscan *s;
	uint64_t seen[(GUARD_INJ_MAX + 63) / 64];
};

static int on_secret(unsigned int id, unsigned long long from, unsigned long long to,
		     unsigned int flags, void *ctx)
{
	(void)from;
	(void)flags;
	gscan_secret(ctx, id, (size_t)to);
	return 0;
}

static int on_deny(unsigned int id, unsigned long long from, unsigned long long to,
		   unsigned int flags, void *ctx)
{
	(void)flags;
	gscan_add(ctx, (size_t)from, (size_t)to, GUARD_T_DENY, (uint16_t)id);
	return 0;
}

static int on_inj_hit(unsigned int id, unsigned long long from, unsigned long long to,
		      unsigned int flags, void *ctx)
{
	struct inj_ctx *ic = ctx;

	(void)from;
	(void)to;
	(void)flags;
	ic->seen[id / 64] |= 1ull << (id % 64);
	return 0;
}

static int on_inj(unsigned int id, unsigned long long from, unsigned long long to,
		  unsigned int flags, void *ctx)
{
	struct inj_ctx *ic = ctx;

	(void)flags;
	gscan_add(ic->s, (size_t)from, (size_t)to, GUARD_T_INJECTION, (uint16_t)id);
	return 0;
}

/*
 * The whole scan. `final` false is a stream's buffer: *hold receives the
 * earliest start of a candidate that needs more text. Injection patterns
 * run when `inj`.
 */
static int scan(const struct guard *g, const char *text, size_t len, bool final, bool inj,
		struct guard_result *r, size_t *hold)
{
	struct gscan s = {
		.p = (const unsigned char *)(text ? text : ""), .len = len, .final = final,
		.hold = len, .types = g->pii_types, .r = r,
	};
	struct inj_ctx ic = { .s = &s };
	uint32_t i, score = 0;
	int err;

	r->n = 0;
	r->types = 0;
	r->injection_score = 0;
	r->injection = false;
	r->verdict = GUARD_PASS;
	if (len > UINT32_MAX)
		return -EOVERFLOW;
	err = scratch_for(g);
	if (err)
		return err;

	if (g->pii_types & ~(1u << GUARD_T_SECRET))
		gscan_pii(&s);
	if (g->db_secret && hs_scan(g->db_secret, (const char *)s.p, (unsigned int)len, 0,
				    guard_tls_scratch, on_secret, &s) != HS_SUCCESS)
		return -EIO;
	if (g->db_deny && hs_scan(g->db_deny, (const char *)s.p, (unsigned int)len, 0,
				  guard_tls_scratch, on_deny, &s) != HS_SUCCESS)
		return -EIO;
	if (inj && g->db_inj) {
		if (hs_scan(g->db_inj_hit, (const char *)s.p, (unsigned int)len, 0,
			    guard_tls_scratch, on_inj_hit, &ic) != HS_SUCCESS)
			return -EIO;
		for (i = 0; i < g->n_inj; i++)
			if (ic.seen[i / 64] & (1ull << (i % 64)))
				score += g->inj_weight[i];
		r->injection_score = score;
		r->injection = score >= g->threshold;
		/* Below the threshold a phrase is not acted on: no spans. */
		if (r->injection && hs_scan(g->db_inj, (const char *)s.p, (unsigned int)len, 0,
					    guard_tls_scratch, on_inj, &ic) != HS_SUCCESS)
			return -EIO;
	}
	if (s.err)
		return s.err;
	merge(r, s.p, len);

	for (i = 0; i < r->n; i++)
		r->types |= 1u << r->v[i].type;
	if (r->injection)
		r->types |= 1u << GUARD_T_INJECTION;
	if ((r->types & GUARD_PII_MASK) && g->pii_verdict > r->verdict)
		r->verdict = g->pii_verdict;
	if (r->injection && g->inj_verdict > r->verdict)
		r->verdict = g->inj_verdict;
	if (r->types & (1u << GUARD_T_DENY))
		r->verdict = GUARD_BLOCK;
	if (hold)
		*hold = s.hold;
	return 0;
}

int guard_scan(const struct guard *g, const char *text, size_t len, struct guard_result *r)
{
	return scan(g, text, len, true, true, r, NULL);
}

int guard_scan_pii(const struct guard *g, const char *text, size_t len, struct guard_result *r)
{
	return scan(g, text, len, true, false, r, NULL);
}

/* ---- redaction ----------------------------------------------------------------------- */

static int emit_placeholder(const struct guard *g, const struct guard_finding *f,
			    guard_emit_fn emit, void *arg)
{
	char ph[TG_NAME_MAX + 16];
	int n = snprintf(ph, sizeof(ph), "[REDACTED:%s]", guard_finding_name(g, f));

	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(ph))
		n = (int)sizeof(ph) - 1;
	return emit(arg, ph, (size_t)n);
}

/* text[from, to) with the findings of r that lie inside it replaced. */
static int redact_range(const struct guard *g, const char *text, size_t from, size_t to,
			const struct guard_result *r, guard_emit_fn emit, void *arg)
{
	size_t pos = from;
	uint32_t i;
	int err;

	for (i = 0; i < r->n; i++) {
		const struct guard_finding *f = &r->v[i];

		if (f->start < from || f->end > to)
			continue;
		if (f->start > pos && (err = emit(arg, text + pos, f->start - pos)))
			return err;
		if ((err = emit_placeholder(g, f, emit, arg)))
			return err;
		pos = f->end;
	}
	if (to > pos)
		return emit(arg, text + pos, to - pos);
	return 0;
}

int guard_redact(const struct guard *g, const char *text, size_t len,
		 const struct guard_result *r, guard_emit_fn emit, void *arg)
{
	return redact_range(g, text, 0, len, r, emit, arg);
}

int guard_buf_emit(void *arg, const char *p, size_t n)
{
	struct guard_buf *b = arg;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *q;

		while (cap < b->len + n + 1)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int guard_redact_alloc(const struct guard *g, const char *text, size_t len,
		       const struct guard_result *r, char **out, size_t *out_len)
{
	struct guard_buf b = { 0 };
	int err;

	err = guard_buf_emit(&b, "", 0);
	if (!err)
		err = guard_redact(g, text, len, r, guard_buf_emit, &b);
	if (err) {
		free(b.p);
		return err;
	}
	*out = b.p;
	*out_len = b.len;
	return 0;
}

/* ---- JSON strings -------------------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int read_u4(const char *p, size_t left)
{
	int v = 0, k, h;

	if (left < 4)
		return -1;
	for (k = 0; k < 4; k++) {
		if ((h = hexval((unsigned char)p[k])) < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t put_utf8(char *o, unsigned int cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* RFC 8259 §7: decodes a string body into dec, with map[k] the raw offset
 * of the escape (or byte) decoded byte k came from; map[n] = len. */
static int json_decode(const char *raw, size_t len, char *dec, uint32_t *map, size_t *n_out)
{
	size_t i = 0, n = 0, k, w;
	char tmp[4];

	while (i < len) {
		unsigned char c = (unsigned char)raw[i];
		size_t at = i;
		unsigned int cp;
		int u, lo;

		if (c < 0x20 || c == '"')
			return -EINVAL;
		if (c != '\\') {
			map[n] = (uint32_t)i;
			dec[n++] = (char)c;
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -EINVAL;
		switch (raw[i + 1]) {
		case '"': tmp[0] = '"'; w = 1; break;
		case '\\': tmp[0] = '\\'; w = 1; break;
		case '/': tmp[0] = '/'; w = 1; break;
		case 'b': tmp[0] = '\b'; w = 1; break;
		case 'f': tmp[0] = '\f'; w = 1; break;
		case 'n': tmp[0] = '\n'; w = 1; break;
		case 'r': tmp[0] = '\r'; w = 1; break;
		case 't': tmp[0] = '\t'; w = 1; break;
		case 'u':
			if ((u = read_u4(raw + i + 2, len - i - 2)) < 0)
				return -EINVAL;
			cp = (unsigned int)u;
			i += 6;
			if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < len && raw[i] == '\\' &&
			    raw[i + 1] == 'u' && (lo = read_u4(raw + i + 2, len - i - 2)) >= 0xdc00 &&
			    lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned int)lo - 0xdc00);
				i += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd;	/* a lone surrogate */
			}
			w = put_utf8(tmp, cp);
			for (k = 0; k < w; k++) {
				map[n] = (uint32_t)at;
				dec[n++] = tmp[k];
			}
			continue;
		default:
			return -EINVAL;
		}
		map[n] = (uint32_t)at;
		dec[n++] = tmp[0];
		i += 2;
	}
	map[n] = (uint32_t)len;
	*n_out = n;
	return 0;
}

int guard_redact_json_string(const struct guard *g, const char *raw, size_t len,
			     struct guard_result *r, guard_emit_fn emit, void *arg)
{
	size_t n = 0, pos = 0;
	uint32_t *map, i;
	char *dec;
	int err;

	if (len >= UINT32_MAX)
		return -EOVERFLOW;
	/* A decoded string is never longer than its escaped form. */
	dec = malloc(len + 1);
	map = malloc((len + 1) * sizeof(*map));
	err = -ENOMEM;
	if (!dec || !map)
		goto out_free;
	err = json_decode(raw, len, dec, map, &n);
	if (err)
		goto out_free;
	err = guard_scan(g, dec, n, r);
	if (err)
		goto out_free;
	for (i = 0; i < r->n; i++) {
		size_t a = map[r->v[i].start], b = map[r->v[i].end];

		if (a > pos && (err = emit(arg, raw + pos, a - pos)))
			goto out_free;
		if ((err = emit_placeholder(g, &r->v[i], emit, arg)))
			goto out_free;
		pos = b;
	}
	err = len > pos ? emit(arg, raw + pos, len - pos) : 0;
out_free:
	free(map);
	free(dec);
	return err;
}

/* ---- streams ------------------------------------------------------------------------- */

/* Pending bytes collected before a scan: scanning every small chunk would
 * rescan the held tail each time. */
#define STREAM_BATCH	(2 * TG_GUARD_STREAM_HOLD)
/* Released bytes kept in front as the detectors' look-behind. */
#define STREAM_CTX	TG_GUARD_STREAM_HOLD

struct guard_stream {
	const struct guard *g;
	guard_emit_fn emit;
	void *arg;
	struct guard_buf b;
	size_t ctx;		/* b.p[0, ctx) was released */
	uint32_t types;
	struct guard_result res;
};

struct guard_stream *guard_stream_new(const struct guard *g, guard_emit_fn emit, void *arg)
{
	struct guard_stream *s = calloc(1, sizeof(*s));

	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->g = g;
	s->emit = emit;
	s->arg = arg;
	guard_result_init(&s->res);
	return s;
}

void guard_stream_free(struct guard_stream *s)
{
	if (!s)
		return;
	guard_result_fini(&s->res);
	free(s->b.p);
	free(s);
}

uint32_t guard_stream_types(const struct guard_stream *s)
{
	return s->types;
}

size_t guard_stream_held(const struct guard_stream *s)
{
	return s->b.len - s->ctx;
}

/* Scans the buffer and releases what no undecided candidate or unfinished
 * finding reaches back into. */
static int stream_release(struct guard_stream *s, bool final)
{
	size_t hold = s->b.len, rel, keep;
	uint32_t i;
	int err;

	err = scan(s->g, s->b.p, s->b.len, final, false, &s->res, &hold);
	if (err)
		return err;
	if (final) {
		rel = s->b.len;
	} else {
		rel = s->b.len - TG_GUARD_STREAM_HOLD;
		/* A hold inside the look-behind was decided at its release. */
		if (hold < rel && hold >= s->ctx)
			rel = hold;
		/* The bound: a candidate is never longer than the longest match. */
		if (s->b.len - rel > TG_GUARD_MATCH_MAX + STREAM_BATCH)
			rel = s->b.len - TG_GUARD_MATCH_MAX - STREAM_BATCH;
		for (i = 0; i < s->res.n; i++) {
			const struct guard_finding *f = &s->res.v[i];

			if (f->start < rel && f->end > rel && f->start >= s->ctx)
				rel = f->start;
		}
		if (rel < s->ctx)
			rel = s->ctx;
	}
	for (i = 0; i < s->res.n; i++)
		if (s->res.v[i].start >= s->ctx && s->res.v[i].end <= rel)
			s->types |= 1u << s->res.v[i].type;
	err = redact_range(s->g, s->b.p, s->ctx, rel, &s->res, s->emit, s->arg);
	if (err)
		return err;
	keep = rel < STREAM_CTX ? rel : STREAM_CTX;
	if (rel > keep)
		memmove(s->b.p, s->b.p + rel - keep, s->b.len - (rel - keep));
	s->b.len -= rel - keep;
	s->ctx = keep;
	return 0;
}

int guard_stream_feed(struct guard_stream *s, const char *p, size_t n)
{
	int err = guard_buf_emit(&s->b, p, n);

	if (err)
		return err;
	if (s->b.len - s->ctx < STREAM_BATCH + TG_GUARD_STREAM_HOLD)
		return 0;
	return stream_release(s, false);
}

int guard_stream_finish(struct guard_stream *s)
{
	int err = stream_release(s, true);

	s->b.len = 0;
	s->ctx = 0;
	return err;
}
