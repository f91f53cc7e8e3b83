// SPDX-License-Identifier: Apache-2.0
/*
 * Semantic router: hashed n-gram TF-IDF features and a multinomial logistic
 * model trained at load (see route.h for the decision rules).
 */
#include "route/route.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* Inlined: a word hash is a few nanoseconds, a call into the library
 * would be most of it. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "policy/policy.h"

/*
 * Training. Plain SGD on the softmax cross-entropy, examples weighted so
 * every route counts as much as any other whatever its number of examples
 * (a route of three user examples next to a built-in domain of sixty).
 * The learning rate decays linearly to a tenth over the epochs. Values
 * tried on CLINC150 and the built-in domains: accuracy was flat from 12 to
 * 20 epochs and from a rate of 0.8 to 2.0, and half a point lower at 6
 * epochs; L2 weight decay and averaged SGD both lost accuracy.
 */
#define ROUTE_EPOCHS		12
/* Small policies (a few hundred examples) get more epochs, up to this
 * many, so that every one sees at least ROUTE_MIN_STEPS updates: fewer
 * leave the scores too flat for a threshold to mean much. */
#define ROUTE_EPOCHS_MAX	100
#define ROUTE_MIN_STEPS		40000
#define ROUTE_LR		0.8f
#define ROUTE_LR_END		0.08f
/* Examples of a small route weigh at most this much more than average. */
#define ROUTE_CLASS_WEIGHT_MAX	8.0f
/* Fixed seed of the example order: determinism, not secrecy. */
#define ROUTE_SHUFFLE_SEED	0x7a11ca7e5eedull
/* Hash dimensions: 2^18 while the weights fit TG_ROUTE_WEIGHTS_MAX, half
 * as many each time they would not, but never under 2^15. */
#define ROUTE_DIM_BITS_MAX	18
#define ROUTE_DIM_BITS_MIN	15
/* Character n-grams from ROUTE_CHAR_MIN to ROUTE_CHAR_MAX bytes. */
#define ROUTE_CHAR_MIN		3
#define ROUTE_CHAR_MAX		5

/* Hash namespaces: each kind of feature is seeded apart so a word and a
 * character n-gram with the same bytes are different features. */
#define SEED_CHAR	0x9e3779b97f4a7c15ull
#define SEED_WORD	0xc2b2ae3d27d4eb4full
#define SEED_BIGRAM	0x165667b19e3779f9ull
#define SEED_KEYWORD	0x27d4eb2f165667c5ull

/* Four floats: rows are padded to a multiple of this so the per-feature
 * loops over routes run whole vectors (SSE on any x86-64) with no tail. */
typedef float route_v4 __attribute__((vector_size(16)));
#define ROUTE_VW	4

struct route_keyword {
	uint64_t hash;		/* of its word sequence; 0: empty slot */
	uint32_t route;
};

struct route_model {
	const struct policy_router *policy;
	uint32_t n_routes;
	/* Floats per row: a weight per route, the feature's IDF at
	 * [n_routes], zeros up to a multiple of ROUTE_VW; rows are 16-byte
	 * aligned and a feature costs one cache line or two. */
	uint32_t stride;
	uint32_t dim_bits;
	float *rows;			/* [dim][stride] */
	float *bias;			/* [n_routes] */
	float *threshold;		/* [n_routes], resolved */
	bool *in_classifier;		/* [n_routes]: has something to learn from */
	struct route_keyword *kw;	/* open addressing, kw_mask + 1 slots */
	uint32_t kw_mask;
	uint32_t n_kw;
	uint32_t n_classes;		/* routes in the classifier */
	uint64_t digest;
};

/* The distinct features of one training example and their counts
 * (classifying needs none: see struct route_sink). */
struct ftab {
	uint32_t *key;		/* feature + 1; 0: empty */
	uint16_t *cnt;		/* by slot */
	uint16_t *used;		/* slots in first-seen order */
	uint32_t mask;
	uint32_t n, limit;
};

static inline uint64_t mix64(uint64_t h)
{
	/* splitmix64's finaliser: every input bit reaches every output bit. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

static inline void ftab_add(struct ftab *t, uint32_t f)
{
	/* Fibonacci hashing: one multiply, the high half mixed enough for
	 * keys that are already hash values. */
	uint32_t key = f + 1, i = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & t->mask;

	for (;;) {
		if (t->key[i] == key) {
			if (t->cnt[i] < UINT16_MAX)
				t->cnt[i]++;
			return;
		}
		if (!t->key[i])
			break;
		i = (i + 1) & t->mask;
	}
	/* Full enough: later new features are dropped, counts still grow. */
	if (t->n >= t->limit)
		return;
	t->key[i] = key;
	t->cnt[i] = 1;
	t->used[t->n++] = (uint16_t)i;
}

static inline bool is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static inline bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Lowercases (ASCII), collapses whitespace runs to one space and frames the
 * text in spaces, so n-grams see word starts and ends. A text longer than
 * the buffer keeps its head (three quarters) and its tail: long prompts
 * tend to state their task at one end. Returns the bytes written.
 */
static size_t route_normalise(const char *text, size_t len, char *out, size_t cap)
{
	size_t head = len, tail_at = len, o = 0, i;
	bool space = true;

	if (len + 2 > cap) {
		head = (cap - 3) / 4 * 3;
		tail_at = len - (cap - 3 - head);
	}
	out[o++] = ' ';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (i == head) {
			if (!space)
				out[o++] = ' ';
			space = true;
			i = tail_at;
			c = (unsigned char)text[i];
		}
		if (is_space(c)) {
			if (!space)
				out[o++] = ' ';
			space = true;
			continue;
		}
		out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		space = false;
	}
	if (!space)
		out[o++] = ' ';
	return o;
}

static inline uint64_t word_hash(const char *w, size_t n)
{
	return XXH3_64bits_withSeed(w, n, SEED_WORD);
}

/* The hash a keyword phrase of `n` words (word hashes) is stored under. */
static inline uint64_t kw_seq_hash(const uint64_t *wh, unsigned int n)
{
	uint64_t h = SEED_KEYWORD;

	for (unsigned int i = 0; i < n; i++)
		h = mix64(h ^ wh[i]);
	return h | 1;	/* 0 marks an empty slot */
}

/* Routes that keyword `h` belongs to are marked in hit[]. */
static void kw_lookup(const struct route_model *m, uint64_t h, bool *hit)
{
	uint32_t i = (uint32_t)h & m->kw_mask;

	while (m->kw[i].hash) {
		if (m->kw[i].hash == h)
			hit[m->kw[i].route] = true;
		i = (i + 1) & m->kw_mask;
	}
}

/*
 * Where route_features() puts each feature occurrence: counted into a
 * table when training (t set), else added at once into the logits.
 *
 * Classifying this way needs no table: a term's weight is its count times
 * its IDF (linear TF), and the vector is scaled by the square root of the
 * sum over occurrences of IDF squared, which both sides compute the same
 * way. For text where no feature repeats that is exactly the L2 norm; for
 * long, repetitive text it is smaller, so such prompts score a little more
 * sharply. Grouping occurrences first (a hash table or a sort) cost more
 * than all the rest of classify, mostly in mispredicted branches.
 */
#define ROUTE_LANES	3

struct route_sink {
	struct ftab *t;
	const float *rows;
	uint32_t stride, nv, idf_at;
	/* Features are summed into ROUTE_LANES accumulators, picked by the
	 * caller, so that consecutive additions do not wait on each other. */
	route_v4 *acc[ROUTE_LANES];
	float norm2[ROUTE_LANES];
};

static inline void sink_add(struct route_sink *s, uint32_t f, unsigned int lane)
{
	const route_v4 *row;
	route_v4 vv;
	float v;

	if (s->t) {
		ftab_add(s->t, f);
		return;
	}
	row = (const route_v4 *)(s->rows + (size_t)f * s->stride);
	v = ((const float *)row)[s->idf_at];
	vv = (route_v4){ v, v, v, v };
	s->norm2[lane] += v * v;
	for (uint32_t k = 0; k < s->nv; k++)
		s->acc[lane][k] += vv * row[k];
}

/*
 * Puts the features of normalised text nb[0..n) into sk. When hit is not
 * NULL, also marks the routes whose keywords occur in it.
 */
static void route_features(const struct route_model *m, const char *nb, size_t n,
			   struct route_sink *t, bool *hit)
{
	const unsigned int shift = 64 - m->dim_bits;
	const unsigned char *b = (const unsigned char *)nb;
	uint64_t ring[TG_ROUTE_KEYWORD_WORDS], prev = 0;
	unsigned int n_words = 0;
	size_t i, w0 = 0;
	bool in_word = false;

	for (i = 0; i + ROUTE_CHAR_MIN <= n; i++) {
		uint64_t h = SEED_CHAR;
		size_t j, end = i + ROUTE_CHAR_MAX < n ? i + ROUTE_CHAR_MAX : n;

		/* FNV-1a over the n-gram, each length emitted as it is
		 * reached; a multiply brings the low bits FNV leaves weak
		 * into the top ones the feature index is taken from. */
		for (j = i; j < end; j++) {
			h = (h ^ b[j]) * 0x100000001b3ull;
			if (j - i + 1 >= ROUTE_CHAR_MIN)
				sink_add(t, (uint32_t)((h * 0x9e3779b97f4a7c15ull) >> shift),
					 (unsigned int)(j - i) % ROUTE_LANES);
		}
	}

	for (i = 0; i <= n; i++) {
		bool wb = i < n && is_word_byte(b[i]);
		uint64_t wh;

		if (wb && !in_word)
			w0 = i;
		in_word = wb;
		if (wb || !i || !is_word_byte(b[i - 1]))
			continue;
		/* a word ends at i */
		wh = word_hash(nb + w0, i - w0);
		sink_add(t, (uint32_t)(mix64(wh) >> shift), 0);
		if (n_words)
			sink_add(t, (uint32_t)(mix64(prev * 31 + wh + SEED_BIGRAM) >> shift), 1);
		prev = wh;
		ring[n_words % TG_ROUTE_KEYWORD_WORDS] = wh;
		n_words++;
		if (hit && m->n_kw) {
			uint64_t seq[TG_ROUTE_KEYWORD_WORDS];
			unsigned int k, len;

			for (len = 1; len <= TG_ROUTE_KEYWORD_WORDS && len <= n_words; len++) {
				for (k = 0; k < len; k++)
					seq[k] = ring[(n_words - len + k) % TG_ROUTE_KEYWORD_WORDS];
				kw_lookup(m, kw_seq_hash(seq, len), hit);
			}
		}
	}
}

static size_t ftab_slots(size_t text_len)
{
	/* About 3.5 features per byte; twice that many slots keeps probes short. */
	size_t want = text_len * 8, slots = 256;

	while (slots < want && slots < TG_ROUTE_FEATURES_MAX)
		slots <<= 1;
	return slots;
}

static void ftab_init(struct ftab *t, uint32_t *key, uint16_t *cnt, uint16_t *used,
		      size_t slots)
{
	t->key = key;
	t->cnt = cnt;
	t->used = used;
	t->mask = (uint32_t)slots - 1;
	t->n = 0;
	t->limit = (uint32_t)(slots / 8 * 7);
	memset(key, 0, slots * sizeof(*key));
}

static float route_threshold(const struct policy_router *r, uint32_t i)
{
	double t = r->routes[i].threshold;

	return (float)(t < 0 ? r->threshold : t);
}

static bool route_has_examples(const struct policy_semantic_route *sr)
{
	return sr->n_examples || sr->n_keywords || sr->domain != POLICY_DOMAIN_NONE;
}

/* ---- classify ---------------------------------------------------------- */

static void route_set_default(const struct route_model *m, struct route_result *res)
{
	res->route = -1;
	res->name = "default";
	res->model = m->policy->default_model;
	res->low_confidence = true;
}

void route_classify(const struct route_model *m, const char *text, size_t len,
		    struct route_result *res)
{
	char nb[TG_ROUTE_TEXT_MAX];
	bool hit[TG_SEMANTIC_ROUTES_MAX];
	route_v4 acc[ROUTE_LANES][TG_SEMANTIC_ROUTES_MAX / ROUTE_VW + 1];
	const uint32_t R = m->n_routes, S = m->stride, NV = S / ROUTE_VW;
	const uint64_t tokens = len / ROUTE_BYTES_PER_TOKEN;
	float *z = res->scores, zmax = -INFINITY, sum = 0, norm2, inv;
	struct route_sink sk = {
		.rows = m->rows, .stride = S, .nv = NV, .idf_at = R,
		.acc = { acc[0], acc[1], acc[2] },
	};
	uint32_t r;
	size_t n;
	int best = -1;

	memset(res, 0, offsetof(struct route_result, scores));
	res->n_scores = R;
	res->best = -1;
	memset(z, 0, R * sizeof(*z));

	for (r = 0; r < R; r++) {
		const struct policy_semantic_route *sr = &m->policy->routes[r];

		if (!m->in_classifier[r] && sr->min_tokens && tokens >= sr->min_tokens) {
			res->route = res->best = (int)r;
			res->name = sr->name;
			res->model = sr->model;
			res->confidence = 1.0f;
			res->by_rule = true;
			z[r] = 1.0f;
			return;
		}
	}
	if (!m->n_classes) {
		route_set_default(m, res);
		return;
	}

	n = route_normalise(text, len, nb, sizeof(nb));
	memset(hit, 0, R * sizeof(*hit));
	for (unsigned int l = 0; l < ROUTE_LANES; l++)
		memset(acc[l], 0, NV * sizeof(*acc[l]));
	route_features(m, nb, n, &sk, m->n_kw ? hit : NULL);
	for (uint32_t k = 0; k < NV; k++)
		acc[0][k] += acc[1][k] + acc[2][k];
	memcpy(z, acc[0], R * sizeof(*z));
	norm2 = sk.norm2[0] + sk.norm2[1] + sk.norm2[2];
	inv = norm2 > 0 ? 1.0f / sqrtf(norm2) : 0;

	for (r = 0; r < R; r++) {
		const struct policy_semantic_route *sr = &m->policy->routes[r];

		if (!m->in_classifier[r] || (sr->min_tokens && tokens < sr->min_tokens)) {
			z[r] = -INFINITY;
			continue;
		}
		z[r] = z[r] * inv + m->bias[r] + (hit[r] ? ROUTE_KEYWORD_BOOST : 0);
		if (z[r] > zmax) {
			zmax = z[r];
			best = (int)r;
		}
	}
	if (best < 0) {		/* every learnt route gated by min_tokens */
		memset(z, 0, R * sizeof(*z));
		route_set_default(m, res);
		return;
	}
	for (r = 0; r < R; r++) {
		z[r] = z[r] == -INFINITY ? 0 : expf(z[r] - zmax);
		sum += z[r];
	}
	for (r = 0; r < R; r++)
		z[r] /= sum;

	res->best = best;
	res->confidence = z[best];
	if (z[best] >= m->threshold[best]) {
		res->route = best;
		res->name = m->policy->routes[best].name;
		res->model = m->policy->routes[best].model;
	} else {
		route_set_default(m, res);
	}
}

/* ---- training ---------------------------------------------------------- */

struct route_example {
	uint32_t route;
	uint32_t nnz;
	uint32_t *idx;
	float *val;
};

struct route_train {
	struct route_example *ex;
	uint32_t n_ex, cap_ex;
	uint32_t *df;		/* [dim]: examples holding each feature */
	struct ftab t;
	uint32_t *tkey;
	uint16_t *tcnt, *tused;
	char *nb;
};

static void route_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void route_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Featurises one example into tr (counts for now; TF-IDF once df is known). */
static int route_train_add(struct route_train *tr, const struct route_model *m,
			   uint32_t route, const char *text)
{
	struct route_example *e;
	size_t n;
	struct route_sink sk = { .t = &tr->t };
	uint32_t i;

	if (tr->n_ex == tr->cap_ex) {
		uint32_t cap = tr->cap_ex ? tr->cap_ex * 2 : 256;
		struct route_example *ex = realloc(tr->ex, cap * sizeof(*ex));

		if (!ex)
			return -ENOMEM;
		tr->ex = ex;
		tr->cap_ex = cap;
	}
	n = route_normalise(text, strlen(text), tr->nb, TG_ROUTE_TEXT_MAX);
	ftab_init(&tr->t, tr->tkey, tr->tcnt, tr->tused, ftab_slots(n));
	route_features(m, tr->nb, n, &sk, NULL);

	e = &tr->ex[tr->n_ex];
	e->route = route;
	e->nnz = tr->t.n;
	e->idx = malloc(tr->t.n * sizeof(*e->idx) + 1);
	e->val = malloc(tr->t.n * sizeof(*e->val) + 1);
	if (!e->idx || !e->val) {
		free(e->idx);
		free(e->val);
		return -ENOMEM;
	}
	tr->n_ex++;
	for (i = 0; i < tr->t.n; i++) {
		uint32_t slot = tr->t.used[i];

		e->idx[i] = tr->t.key[slot] - 1;
		e->val[i] = (float)tr->t.cnt[slot];
		tr->df[e->idx[i]]++;
	}
	return 0;
}

static void route_train_fini(struct route_train *tr)
{
	for (uint32_t i = 0; i < tr->n_ex; i++) {
		free(tr->ex[i].idx);
		free(tr->ex[i].val);
	}
	free(tr->ex);
	free(tr->df);
	free(tr->tkey);
	free(tr->tcnt);
	free(tr->tused);
	free(tr->nb);
}

static int route_train_add_all(struct route_train *tr, const struct route_model *m,
			       uint32_t route, const char *const *v, uint32_t n)
{
	int err = 0;

	for (uint32_t i = 0; i < n && !err; i++)
		err = route_train_add(tr, m, route, v[i]);
	return err;
}

/* Every route's examples: its domain's, its own, then (short examples too,
 * so a route of keywords alone still has a column the classifier learnt)
 * its domain's keywords and its own. */
static int route_collect(struct route_train *tr, const struct route_model *m)
{
	const struct policy_router *pr = m->policy;
	int err = 0;

	for (uint32_t r = 0; r < pr->n_routes && !err; r++) {
		const struct policy_semantic_route *sr = &pr->routes[r];
		const char *const *dex, *const *dkw;
		uint32_t n_dex, n_dkw;

		dex = route_domain_examples((int)sr->domain, &n_dex);
		dkw = route_domain_keywords((int)sr->domain, &n_dkw);
		err = route_train_add_all(tr, m, r, dex, n_dex);
		if (!err)
			err = route_train_add_all(tr, m, r, sr->examples, sr->n_examples);
		if (!err)
			err = route_train_add_all(tr, m, r, dkw, n_dkw);
		if (!err)
			err = route_train_add_all(tr, m, r, sr->keywords, sr->n_keywords);
	}
	return err;
}

static uint64_t splitmix64(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix64(*s);
}

static int route_sgd(struct route_model *m, struct route_train *tr)
{
	const uint32_t R = m->n_routes, S = m->stride, NV = S / ROUTE_VW, N = tr->n_ex;
	uint32_t per_route[TG_SEMANTIC_ROUTES_MAX] = { 0 };
	float cw[TG_SEMANTIC_ROUTES_MAX];
	route_v4 zv[TG_SEMANTIC_ROUTES_MAX / ROUTE_VW + 1];
	float *z = (float *)zv;
	uint32_t *order = malloc(N * sizeof(*order) + 1);
	uint64_t seed = ROUTE_SHUFFLE_SEED;
	uint32_t epochs = N ? ROUTE_MIN_STEPS / N : 0, i, r, ep;
	uint64_t step = 0, steps;

	if (epochs < ROUTE_EPOCHS)
		epochs = ROUTE_EPOCHS;
	if (epochs > ROUTE_EPOCHS_MAX)
		epochs = ROUTE_EPOCHS_MAX;
	steps = (uint64_t)epochs * N;

	if (!order)
		return -ENOMEM;
	for (i = 0; i < N; i++) {
		per_route[tr->ex[i].route]++;
		order[i] = i;
	}
	for (r = 0; r < R; r++) {
		float w = per_route[r] ? (float)N / ((float)m->n_classes * (float)per_route[r]) : 0;

		cw[r] = w > ROUTE_CLASS_WEIGHT_MAX ? ROUTE_CLASS_WEIGHT_MAX : w;
	}

	for (ep = 0; ep < epochs; ep++) {
		/* Fisher-Yates from the fixed seed: a different order each
		 * epoch, the same on every load. */
		for (i = N; i > 1; i--) {
			uint32_t j = (uint32_t)(splitmix64(&seed) % i), tmp = order[i - 1];

			order[i - 1] = order[j];
			order[j] = tmp;
		}
		for (i = 0; i < N; i++, step++) {
			const struct route_example *e = &tr->ex[order[i]];
			float lr = ROUTE_LR + (ROUTE_LR_END - ROUTE_LR) * (float)step / (float)steps;
			float zmax = -INFINITY, sum = 0, g;
			uint32_t k;

			memset(zv, 0, NV * sizeof(*zv));
			for (k = 0; k < e->nnz; k++) {
				const route_v4 *row = (const route_v4 *)(m->rows + (size_t)e->idx[k] * S);
				route_v4 vv = { e->val[k], e->val[k], e->val[k], e->val[k] };

				for (uint32_t q = 0; q < NV; q++)
					zv[q] += vv * row[q];
			}
			for (r = 0; r < R; r++)
				z[r] += m->bias[r];
			for (r = 0; r < R; r++) {
				if (!m->in_classifier[r])
					z[r] = -INFINITY;
				if (z[r] > zmax)
					zmax = z[r];
			}
			for (r = 0; r < R; r++) {
				z[r] = m->in_classifier[r] ? expf(z[r] - zmax) : 0;
				sum += z[r];
			}
			/* z becomes the step: lr * weight * (p - y); zero past
			 * the routes, so the IDF slot and padding stay put. */
			g = lr * cw[e->route];
			for (r = 0; r < R; r++)
				z[r] = g * (z[r] / sum - (r == e->route ? 1.0f : 0.0f));
			for (r = R; r < S; r++)
				z[r] = 0;
			for (r = 0; r < R; r++)
				m->bias[r] -= z[r];
			for (k = 0; k < e->nnz; k++) {
				route_v4 *row = (route_v4 *)(m->rows + (size_t)e->idx[k] * S);
				route_v4 vv = { e->val[k], e->val[k], e->val[k], e->val[k] };

				for (uint32_t q = 0; q < NV; q++)
					row[q] -= vv * zv[q];
			}
		}
	}
	free(order);
	return 0;
}

/* Inserts every keyword (the route's and its domain's) into the table. */
static int route_keywords_build(struct route_model *m)
{
	const struct policy_router *pr = m->policy;
	uint32_t total = 0, slots = 16, r, i, n;
	char nb[256];

	for (r = 0; r < pr->n_routes; r++) {
		route_domain_keywords((int)pr->routes[r].domain, &n);
		total += n + pr->routes[r].n_keywords;
	}
	if (!total)
		return 0;
	while (slots < total * 2)
		slots <<= 1;
	m->kw = calloc(slots, sizeof(*m->kw));
	if (!m->kw)
		return -ENOMEM;
	m->kw_mask = slots - 1;

	for (r = 0; r < pr->n_routes; r++) {
		const char *const *dk = route_domain_keywords((int)pr->routes[r].domain, &n);

		for (i = 0; i < n + pr->routes[r].n_keywords; i++) {
			const char *k = i < n ? dk[i] : pr->routes[r].keywords[i - n];
			uint64_t seq[TG_ROUTE_KEYWORD_WORDS];
			unsigned int words = 0;
			size_t len = route_normalise(k, strlen(k), nb, sizeof(nb)), j, w0 = 0;
			uint64_t h;
			uint32_t s;

			/* Split the same way route_features() does. */
			for (j = 1; j < len; j++) {
				bool wb = is_word_byte((unsigned char)nb[j]);

				if (wb && !is_word_byte((unsigned char)nb[j - 1]))
					w0 = j;
				if (!wb && is_word_byte((unsigned char)nb[j - 1])) {
					if (words == TG_ROUTE_KEYWORD_WORDS) {
						words++;
						break;
					}
					seq[words++] = word_hash(nb + w0, j - w0);
				}
			}
			/* Longer phrases, or none made of words, never match;
			 * they still train the classifier. */
			if (!words || words > TG_ROUTE_KEYWORD_WORDS)
				continue;
			h = kw_seq_hash(seq, words);
			for (s = (uint32_t)h & m->kw_mask; m->kw[s].hash; s = (s + 1) & m->kw_mask)
				if (m->kw[s].hash == h && m->kw[s].route == r)
					break;
			if (m->kw[s].hash)
				continue;	/* listed twice */
			m->kw[s].hash = h;
			m->kw[s].route = r;
			m->n_kw++;
		}
	}
	return 0;
}

struct route_model *route_model_new(const struct policy_router *pr, char *err,
				    size_t errlen)
{
	struct route_train tr = { 0 };
	struct route_model *m;
	size_t dim, f;
	uint32_t r, i;
	int ret;

	if (!pr || !pr->default_model) {
		route_set_err(err, errlen, "router has no default_model");
		errno = EINVAL;
		return NULL;
	}
	if (pr->n_routes > TG_SEMANTIC_ROUTES_MAX) {
		route_set_err(err, errlen, "router has %u routes, at most %u are supported",
			      pr->n_routes, TG_SEMANTIC_ROUTES_MAX);
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		goto out_nomem;
	m->policy = pr;
	m->n_routes = pr->n_routes;
	m->stride = (pr->n_routes + 1 + ROUTE_VW - 1) / ROUTE_VW * ROUTE_VW;
	/* As many dimensions as the weight budget allows: fewer collisions. */
	m->dim_bits = ROUTE_DIM_BITS_MAX;
	while (m->dim_bits > ROUTE_DIM_BITS_MIN &&
	       ((size_t)1 << m->dim_bits) * m->stride > TG_ROUTE_WEIGHTS_MAX)
		m->dim_bits--;
	dim = (size_t)1 << m->dim_bits;

	m->rows = aligned_alloc(64, dim * m->stride * sizeof(*m->rows));
	m->bias = calloc(m->n_routes + 1, sizeof(*m->bias));
	m->threshold = calloc(m->n_routes + 1, sizeof(*m->threshold));
	m->in_classifier = calloc(m->n_routes + 1, sizeof(*m->in_classifier));
	if (!m->rows || !m->bias || !m->threshold || !m->in_classifier)
		goto out_free_model;
	memset(m->rows, 0, dim * m->stride * sizeof(*m->rows));
	for (r = 0; r < m->n_routes; r++) {
		m->threshold[r] = route_threshold(pr, r);
		m->in_classifier[r] = route_has_examples(&pr->routes[r]);
		m->n_classes += m->in_classifier[r];
	}
	if (route_keywords_build(m))
		goto out_free_model;

	tr.df = calloc(dim, sizeof(*tr.df));
	tr.tkey = malloc(TG_ROUTE_FEATURES_MAX * sizeof(*tr.tkey));
	tr.tcnt = malloc(TG_ROUTE_FEATURES_MAX * sizeof(*tr.tcnt));
	tr.tused = malloc(TG_ROUTE_FEATURES_MAX * sizeof(*tr.tused));
	tr.nb = malloc(TG_ROUTE_TEXT_MAX);
	if (!tr.df || !tr.tkey || !tr.tcnt || !tr.tused || !tr.nb)
		goto out_free_train;
	ret = route_collect(&tr, m);
	if (ret)
		goto out_free_train;

	/* Smoothed IDF (as if one more example held every feature), so a
	 * feature no example has weighs most and none weighs zero. */
	for (f = 0; f < dim; f++)
		m->rows[f * m->stride + m->n_routes] = logf((1.0f + (float)tr.n_ex) / (1.0f + (float)tr.df[f])) + 1.0f;
	for (i = 0; i < tr.n_ex; i++) {
		struct route_example *e = &tr.ex[i];
		float norm2 = 0, inv;
		uint32_t k;

		/* The occurrence norm route_classify() uses (see struct
		 * route_sink). */
		for (k = 0; k < e->nnz; k++) {
			float idf = m->rows[(size_t)e->idx[k] * m->stride + m->n_routes];

			norm2 += e->val[k] * idf * idf;
			e->val[k] *= idf;
		}
		inv = norm2 > 0 ? 1.0f / sqrtf(norm2) : 0;
		for (k = 0; k < e->nnz; k++)
			e->val[k] *= inv;
	}

	if (route_sgd(m, &tr))
		goto out_free_train;
	route_train_fini(&tr);

	m->digest = XXH64(m->bias, m->n_routes * sizeof(*m->bias),
			  XXH64(m->rows, dim * m->stride * sizeof(*m->rows), 0));
	return m;

out_free_train:
	route_train_fini(&tr);
out_free_model:
	route_model_free(m);
out_nomem:
	route_set_err(err, errlen, "router: out of memory training %u routes", pr->n_routes);
	errno = ENOMEM;
	return NULL;
}

void route_model_free(struct route_model *m)
{
	if (!m)
		return;
	free(m->rows);
	free(m->bias);
	free(m->threshold);
	free(m->in_classifier);
	free(m->kw);
	free(m);
}

uint32_t route_model_n_routes(const struct route_model *m)
{
	return m->n_routes;
}

const char *route_model_route_name(const struct route_model *m, uint32_t i)
{
	return i < m->n_routes ? m->policy->routes[i].name : NULL;
}

uint32_t route_model_dim(const struct route_model *m)
{
	return 1u << m->dim_bits;
}

uint64_t route_model_digest(const struct route_model *m)
{
	return m->digest;
}

const struct policy_embeddings *route_model_embeddings(const struct route_model *m)
{
	return m->policy->embeddings;
}
