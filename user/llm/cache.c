// SPDX-License-Identifier: Apache-2.0
/*
 * The exact-match response cache. See cache.h for the contract.
 *
 * An entry is one allocation: its header, then its content type, then the
 * body. It sits on one bucket chain and on the LRU list (most recently used
 * at the head). Everything is guarded by the cache's one mutex; the costly
 * parts of a put (the allocation and the copy of the body) happen before
 * the lock is taken, and a get copies the body out under it, because once
 * the lock is released another thread may evict the entry (the caller's
 * buffer is grown before, outside the lock).
 *
 * Keys are SHA-256 digests, but the bucket index does not trust them to be
 * random (a caller may pass any 32 bytes, and a client may search for
 * requests whose digests share low bits): it mixes two words of the key
 * with a per-cache random seed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/sha256.h"
#include "llm/cache.h"

struct cache_entry {
	struct cache_entry *hnext;		/* bucket chain */
	struct cache_entry *prev, *next;	/* LRU list, head = most recent */
	uint8_t key[LLM_CACHE_KEY_LEN];
	uint64_t stored_ms, expires_ms;
	uint64_t tokens_in, tokens_out, tokens_cached;
	size_t len;				/* body bytes */
	uint8_t ctype_len;
	char data[];				/* content type, then body */
};

_Static_assert(TG_LLM_CACHE_CTYPE_MAX <= UINT8_MAX,
	       "a content type length must fit ctype_len");

struct llm_cache {
	pthread_mutex_t lock;
	struct cache_entry **buckets;
	size_t nbuckets;			/* a power of two */
	struct cache_entry *head, *tail;
	uint64_t seed[2];
	size_t max_bytes, max_entry;
	uint64_t max_entries;			/* 0: bounded by bytes only */
	size_t bytes;				/* table + entries */
	struct llm_cache_stats st;
};

void llm_cache_set_max_entries(struct llm_cache *c, uint64_t n)
{
	pthread_mutex_lock(&c->lock);
	c->max_entries = n;
	pthread_mutex_unlock(&c->lock);
}

size_t llm_cache_entry_bytes(size_t ctype_len, size_t body_len)
{
	return sizeof(struct cache_entry) + ctype_len + body_len;
}

static size_t entry_charge(const struct cache_entry *e)
{
	return llm_cache_entry_bytes(e->ctype_len, e->len);
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static size_t bucket_of(const struct llm_cache *c, const uint8_t *key)
{
	unsigned __int128 m;

	/* A 64x64->128 multiply folded: every output bit depends on every bit
	 * of both seeded words, so equal low bits of keys do not collide. */
	m = (unsigned __int128)(load64(key) ^ c->seed[0]) *
	    (load64(key + 8) ^ c->seed[1]);
	return (size_t)((uint64_t)m ^ (uint64_t)(m >> 64)) & (c->nbuckets - 1);
}

/* The link that points at the entry of `key`, or at the NULL ending its
 * chain. */
static struct cache_entry **find_link(struct llm_cache *c, const uint8_t *key)
{
	struct cache_entry **pp = &c->buckets[bucket_of(c, key)];

	while (*pp && memcmp((*pp)->key, key, LLM_CACHE_KEY_LEN))
		pp = &(*pp)->hnext;
	return pp;
}

static void lru_unlink(struct llm_cache *c, struct cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_head(struct llm_cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	else
		c->tail = e;
	c->head = e;
}

/* Unlinks and frees the entry `*pp` points at. */
static void drop_at(struct llm_cache *c, struct cache_entry **pp)
{
	struct cache_entry *e = *pp;

	*pp = e->hnext;
	lru_unlink(c, e);
	c->bytes -= entry_charge(e);
	c->st.entries--;
	free(e);
}

static bool is_expired(const struct cache_entry *e, uint64_t now_ms)
{
	return now_ms >= e->expires_ms;
}

/* Drops least recently used entries until `need` more bytes fit. The caller
 * has checked that they fit in an empty cache. */
static void evict_for(struct llm_cache *c, size_t need, uint64_t now_ms)
{
	while (c->tail && (c->bytes + need > c->max_bytes ||
			   (c->max_entries && c->st.entries >= c->max_entries))) {
		if (is_expired(c->tail, now_ms))
			c->st.expired++;
		else
			c->st.evictions++;
		drop_at(c, find_link(c, c->tail->key));
	}
}

/* Doubles the bucket array when entries would outnumber buckets and the
 * bigger array, with the new entry of `charge` bytes, fits next to the
 * table alone. It evicts to make room for both: a few bytes per bucket buy
 * short chains for every entry left. Allocation failure keeps the old
 * array: chains grow longer, nothing breaks. */
static void maybe_grow(struct llm_cache *c, size_t charge, uint64_t now_ms)
{
	size_t old_tbl = c->nbuckets * sizeof(*c->buckets);
	size_t n = c->nbuckets * 2, tbl = n * sizeof(*c->buckets);
	struct cache_entry **nb, **old = c->buckets;
	struct cache_entry *e;

	if (c->st.entries + 1 <= c->nbuckets)
		return;
	if (n < c->nbuckets || tbl / sizeof(*c->buckets) != n ||
	    tbl > c->max_bytes || charge > c->max_bytes - tbl)
		return;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	evict_for(c, tbl - old_tbl + charge, now_ms);
	c->buckets = nb;
	c->nbuckets = n;
	/* Rehash along the LRU list: it holds every entry once. */
	for (e = c->head; e; e = e->next) {
		size_t i = bucket_of(c, e->key);

		e->hnext = nb[i];
		nb[i] = e;
	}
	free(old);
	c->bytes += tbl - old_tbl;
}

static size_t pow2_at_least(size_t v)
{
	size_t n = 1;

	while (n < v)
		n <<= 1;
	return n;
}

static void seed_init(struct llm_cache *c)
{
	struct timespec ts;

	if (getrandom(c->seed, sizeof(c->seed), GRND_NONBLOCK) ==
	    (ssize_t)sizeof(c->seed))
		return;
	/* No entropy yet (early boot): chains are then only as even as the
	 * digests make them, which is still fine for honest traffic. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	c->seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
		     (uint64_t)(uintptr_t)c;
	c->seed[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ull ^
		     (uint64_t)(uintptr_t)&ts;
}

struct llm_cache *llm_cache_new(size_t max_bytes, size_t max_entry_bytes)
{
	struct llm_cache *c;
	size_t n, tbl, room;
	int err;

	n = pow2_at_least(max_bytes / TG_LLM_CACHE_BYTES_PER_BUCKET);
	if (n < TG_LLM_CACHE_BUCKETS_MIN)
		n = TG_LLM_CACHE_BUCKETS_MIN;
	if (n > TG_LLM_CACHE_BUCKETS_START_MAX)
		n = TG_LLM_CACHE_BUCKETS_START_MAX;
	tbl = n * sizeof(struct cache_entry *);
	if (!max_entry_bytes || max_bytes < tbl ||
	    max_bytes - tbl <= llm_cache_entry_bytes(0, 0)) {
		errno = EINVAL;
		return NULL;
	}
	room = max_bytes - tbl - llm_cache_entry_bytes(0, 0);

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	err = pthread_mutex_init(&c->lock, NULL);
	if (err)
		goto out_free_cache;
	c->buckets = calloc(n, sizeof(*c->buckets));
	if (!c->buckets) {
		err = ENOMEM;
		goto out_destroy_lock;
	}
	c->nbuckets = n;
	c->max_bytes = max_bytes;
	c->max_entry = max_entry_bytes < room ? max_entry_bytes : room;
	c->bytes = tbl;
	c->st.max_bytes = max_bytes;
	seed_init(c);
	return c;

out_destroy_lock:
	pthread_mutex_destroy(&c->lock);
out_free_cache:
	free(c);
	errno = err;
	return NULL;
}

void llm_cache_free(struct llm_cache *c)
{
	struct cache_entry *e, *next;

	if (!c)
		return;
	for (e = c->head; e; e = next) {
		next = e->next;
		free(e);
	}
	free(c->buckets);
	c->buckets = NULL;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Grows the caller's buffer to n bytes outside the cache's lock, and
 * touches the new memory, so that the copy under the lock neither
 * allocates nor takes page faults (a large body's buffer is fresh mmap'd
 * memory). */
static int hit_reserve(struct buf *b, size_t n)
{
	char *p;

	if (b->cap >= n)
		return 0;
	p = realloc(b->p, n);
	if (!p)
		return -ENOMEM;
	memset(p, 0, n);
	b->p = p;
	b->cap = n;
	return 0;
}

int llm_cache_get(struct llm_cache *c, const uint8_t key[LLM_CACHE_KEY_LEN],
		  uint64_t now_ms, struct llm_cache_hit *out)
{
	struct cache_entry **pp, *e;
	int err;

	if (!c || !key || !out)
		return -EINVAL;
	out->body.len = 0;
	for (int tries = 0;; tries++) {
		size_t need;

		pthread_mutex_lock(&c->lock);
		pp = find_link(c, key);
		e = *pp;
		if (!e) {
			err = -ENOENT;
			goto out_miss;
		}
		if (is_expired(e, now_ms)) {
			drop_at(c, pp);
			c->st.expired++;
			err = -ENOENT;
			goto out_miss;
		}
		/* The entry may be replaced by a bigger one while the lock is
		 * dropped: after a second try, grow under the lock. */
		if (e->len <= out->body.cap || tries == 2)
			break;
		need = e->len;
		pthread_mutex_unlock(&c->lock);
		err = hit_reserve(&out->body, need);
		if (err) {
			pthread_mutex_lock(&c->lock);
			goto out_miss;
		}
	}
	if (e->len > out->body.cap) {
		if (buf_append(&out->body, e->data + e->ctype_len, e->len,
			       e->len)) {
			err = -ENOMEM;
			goto out_miss;
		}
	} else if (e->len) {
		memcpy(out->body.p, e->data + e->ctype_len, e->len);
		out->body.len = e->len;
	}
	memcpy(out->content_type, e->data, e->ctype_len);
	out->content_type[e->ctype_len] = '\0';
	out->status = 200;
	out->tokens_in = e->tokens_in;
	out->tokens_out = e->tokens_out;
	out->tokens_cached = e->tokens_cached;
	out->age_ms = now_ms > e->stored_ms ? now_ms - e->stored_ms : 0;
	if (c->head != e) {
		lru_unlink(c, e);
		lru_push_head(c, e);
	}
	c->st.hits++;
	pthread_mutex_unlock(&c->lock);
	return 0;

out_miss:
	c->st.misses++;
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* A content type goes back out in a header: refuse what could not be one. */
static bool is_valid_ctype(const char *s, size_t *len)
{
	size_t n;

	if (!s)
		return false;
	n = strnlen(s, TG_LLM_CACHE_CTYPE_MAX + 1);
	if (n > TG_LLM_CACHE_CTYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			return false;
	}
	*len = n;
	return true;
}

int llm_cache_put(struct llm_cache *c, const uint8_t key[LLM_CACHE_KEY_LEN],
		  const struct llm_cache_resp *r, uint64_t ttl_ms,
		  uint64_t now_ms)
{
	struct cache_entry **pp, *e;
	size_t ctlen, charge;

	if (!c || !key || !r || r->status != 200 || !ttl_ms ||
	    (r->len && !r->body) || !is_valid_ctype(r->content_type, &ctlen))
		return -EINVAL;
	if (r->len > c->max_entry)
		goto out_too_big;
	charge = llm_cache_entry_bytes(ctlen, r->len);

	e = malloc(charge);
	if (!e)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, LLM_CACHE_KEY_LEN);
	e->stored_ms = now_ms;
	e->expires_ms = now_ms > UINT64_MAX - ttl_ms ? UINT64_MAX
						      : now_ms + ttl_ms;
	e->tokens_in = r->tokens_in;
	e->tokens_out = r->tokens_out;
	e->tokens_cached = r->tokens_cached;
	e->len = r->len;
	e->ctype_len = (uint8_t)ctlen;
	memcpy(e->data, r->content_type, ctlen);
	if (r->len)
		memcpy(e->data + ctlen, r->body, r->len);

	pthread_mutex_lock(&c->lock);
	/* The table may have grown since max_entry was set. */
	if (charge > c->max_bytes - c->nbuckets * sizeof(*c->buckets)) {
		pthread_mutex_unlock(&c->lock);
		free(e);
		goto out_too_big;
	}
	pp = find_link(c, key);
	if (*pp)
		drop_at(c, pp);
	maybe_grow(c, charge, now_ms);
	evict_for(c, charge, now_ms);
	pp = &c->buckets[bucket_of(c, key)];
	e->hnext = *pp;
	*pp = e;
	lru_push_head(c, e);
	c->bytes += charge;
	c->st.entries++;
	c->st.stores++;
	pthread_mutex_unlock(&c->lock);
	return 0;

out_too_big:
	pthread_mutex_lock(&c->lock);
	c->st.too_big++;
	pthread_mutex_unlock(&c->lock);
	return -E2BIG;
}

int llm_cache_del(struct llm_cache *c, const uint8_t key[LLM_CACHE_KEY_LEN])
{
	struct cache_entry **pp;
	int err = -ENOENT;

	if (!c || !key)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	pp = find_link(c, key);
	if (*pp) {
		drop_at(c, pp);
		err = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

void llm_cache_stats(struct llm_cache *c, struct llm_cache_stats *out)
{
	if (!c) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	out->bytes = c->bytes;
	pthread_mutex_unlock(&c->lock);
}

/* ---- key ------------------------------------------------------------------ */

static int key_field(struct tg_sha256 *md, const void *p, size_t n)
{
	uint8_t len[8];
	uint64_t v = n;

	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(v >> (8 * i));
	if (tg_sha256_update(md, len, sizeof(len)))
		return -ENOMEM;
	if (n && tg_sha256_update(md, p, n))
		return -ENOMEM;
	return 0;
}

/* SHA-256 over length-prefixed fields (core/sha256.h: no EVP context
 * set up per request). */
int llm_cache_key(uint8_t out[LLM_CACHE_KEY_LEN], const char *tenant,
		  const char *endpoint, const char *model, const void *body,
		  size_t len)
{
	const char *s[3] = { tenant ? tenant : "", endpoint ? endpoint : "",
			     model ? model : "" };
	struct tg_sha256 md;
	int err = 0;

	if (!out || (len && !body))
		return -EINVAL;
	if (tg_sha256_init(&md))
		return -ENOMEM;
	for (int i = 0; i < 3 && !err; i++)
		err = key_field(&md, s[i], strlen(s[i]));
	if (!err)
		err = key_field(&md, body, len);
	/* Final either way: it frees what EVP (where it serves) holds. */
	if (tg_sha256_final(&md, out) && !err)
		err = -ENOMEM;
	return err;
}
