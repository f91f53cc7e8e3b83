/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An exact-match response cache for the LLM gateway: a tenant that opts in
 * gets a stored 200 answer back for a byte-identical request (same tenant,
 * endpoint, model and body) until its TTL runs out.
 *
 * One cache per policy generation, shared by every worker thread: all calls
 * but llm_cache_new() and llm_cache_free() may run from several threads at
 * once. One mutex guards a chained hash table and an LRU list; a lookup is
 * O(1) on average and copies the body out under the lock, so nothing handed
 * out ever points into the cache (another thread may evict the entry).
 *
 * Memory: what the cache accounts (its bucket array, and per entry its
 * header, content type and body) never passes max_bytes; the allocator's
 * own rounding per allocation is on top. Stored entries are evicted least
 * recently used first to make room; expired entries are dropped when a
 * lookup meets them, or when eviction reaches them.
 *
 * Time: `now_ms` is any monotonic millisecond clock the caller reads (the
 * same for every call on one cache), given so that tests can move it.
 */
#ifndef TOLLGATE_LLM_CACHE_H
#define TOLLGATE_LLM_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "tollgate/limits.h"

#define LLM_CACHE_KEY_LEN	32

struct llm_cache;

/* A response to store. Only status 200 is stored. Borrowed for the call. */
struct llm_cache_resp {
	int status;
	const char *content_type;	/* ≤ TG_LLM_CACHE_CTYPE_MAX bytes, no CTLs */
	const void *body;		/* may be NULL when len is 0 */
	size_t len;
	uint64_t tokens_in, tokens_out, tokens_cached;
};

/* A hit. `body` is the caller's: zero it once, reuse it across lookups (a
 * hit replaces its contents), and buf_free() it at the end. */
struct llm_cache_hit {
	struct buf body;
	char content_type[TG_LLM_CACHE_CTYPE_MAX + 1];
	int status;
	uint64_t tokens_in, tokens_out, tokens_cached;
	uint64_t age_ms;		/* since it was stored: for Age */
};

/* For /metrics. `bytes` is what is accounted (bucket array included) and
 * never passes `max_bytes`. */
struct llm_cache_stats {
	uint64_t hits, misses;		/* expired entries count as misses */
	uint64_t stores;		/* successful puts, replacements included */
	uint64_t evictions;		/* LRU entries dropped to make room */
	uint64_t expired;		/* entries dropped because their TTL ran out */
	uint64_t too_big;		/* puts refused with -E2BIG */
	uint64_t bytes, entries, max_bytes;
};

/* The key of a request: SHA-256 over the four fields, each preceded by its
 * length (8 bytes, little-endian), so that no two different field tuples
 * share an input: ("ab", "c") and ("a", "bc") give different keys. NULL
 * strings read as "", `body` may be NULL when len is 0. 0, or -ENOMEM when
 * OpenSSL cannot allocate (the caller then skips the cache). */
int llm_cache_key(uint8_t out[LLM_CACHE_KEY_LEN], const char *tenant,
		  const char *endpoint, const char *model, const void *body,
		  size_t len);

/* A cache bounded to max_bytes in all, one body at most max_entry_bytes
 * (clamped to what max_bytes leaves room for). NULL with errno EINVAL when
 * max_bytes cannot hold the smallest table and one entry or
 * max_entry_bytes is 0, ENOMEM. */
struct llm_cache *llm_cache_new(size_t max_bytes, size_t max_entry_bytes);
/* Keeps at most n entries as well (least recently used go first); 0: no
 * bound but the bytes. Set before use. */
void llm_cache_set_max_entries(struct llm_cache *c, uint64_t n);
/* Frees every entry. No call may be running on it. NULL is a no-op. */
void llm_cache_free(struct llm_cache *c);

/* 0 and `out` filled on a hit (the entry becomes the most recently used),
 * -ENOENT on a miss (nothing stored, or expired: the expired entry is
 * dropped), -ENOMEM when the body cannot be copied (counted as a miss;
 * `out->body` is left empty), -EINVAL for NULL arguments. */
int llm_cache_get(struct llm_cache *c, const uint8_t key[LLM_CACHE_KEY_LEN],
		  uint64_t now_ms, struct llm_cache_hit *out);

/* Stores a copy of `r` under `key` for ttl_ms from now_ms, replacing what
 * the key held, evicting least recently used entries until it fits.
 * 0; -EINVAL for a status other than 200, a TTL of 0, a content type that
 * is NULL, too long or holds control bytes; -E2BIG (counted) for a body
 * over max_entry_bytes or an entry that max_bytes cannot hold (an entry
 * the key held stays); -ENOMEM. */
int llm_cache_put(struct llm_cache *c, const uint8_t key[LLM_CACHE_KEY_LEN],
		  const struct llm_cache_resp *r, uint64_t ttl_ms,
		  uint64_t now_ms);

/* Drops the entry of `key`: 0, or -ENOENT when there was none. */
int llm_cache_del(struct llm_cache *c, const uint8_t key[LLM_CACHE_KEY_LEN]);

/* Bytes one entry is accounted for: the header, the content type and the
 * body. */
size_t llm_cache_entry_bytes(size_t ctype_len, size_t body_len);

/* A consistent snapshot; all zero for a NULL cache. */
void llm_cache_stats(struct llm_cache *c, struct llm_cache_stats *out);

#endif /* TOLLGATE_LLM_CACHE_H */
