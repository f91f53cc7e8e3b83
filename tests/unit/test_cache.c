// SPDX-License-Identifier: Apache-2.0
/*
 * The exact-match response cache: hits and misses, the key's field
 * boundaries (checked against an independent SHA-256 of the documented
 * input), TTL expiry on an injected clock, LRU order, the byte bound under
 * random traffic (bucket array growth included), replacement, refusals,
 * counters, and four threads of random gets and puts whose hits must
 * always carry an intact body.
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

#include <cmocka.h>
#include <openssl/evp.h>

#include "llm/cache.h"

#define CT	"application/json"
#define T0	1000000u	/* an arbitrary start on the injected clock */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: reproducible per seed, private to each thread. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* A key made from a small number, so tests can name keys. */
static void key_of(uint8_t k[LLM_CACHE_KEY_LEN], uint32_t n)
{
	char name[16];

	snprintf(name, sizeof(name), "k%u", n);
	assert_int_equal(llm_cache_key(k, "tenant", "/v1/chat/completions",
				       "m", name, strlen(name)), 0);
}

static int put_str(struct llm_cache *c, const uint8_t *k, const char *body,
		   uint64_t ttl, uint64_t now)
{
	struct llm_cache_resp r = {
		.status = 200, .content_type = CT, .body = body,
		.len = strlen(body), .tokens_in = 11, .tokens_out = 22,
		.tokens_cached = 3,
	};

	return llm_cache_put(c, k, &r, ttl, now);
}

static int put_len(struct llm_cache *c, const uint8_t *k, size_t len,
		   uint64_t now)
{
	struct llm_cache_resp r = { .status = 200, .content_type = CT };
	char *body = malloc(len ? len : 1);
	int err;

	assert_non_null(body);
	memset(body, 'x', len);
	r.body = body;
	r.len = len;
	err = llm_cache_put(c, k, &r, 60000, now);
	free(body);
	return err;
}

static bool has(struct llm_cache *c, const uint8_t *k, uint64_t now)
{
	struct llm_cache_hit h = { 0 };
	int err = llm_cache_get(c, k, now, &h);

	buf_free(&h.body);
	assert_true(err == 0 || err == -ENOENT);
	return err == 0;
}

static struct llm_cache_stats stats(struct llm_cache *c)
{
	struct llm_cache_stats st;

	llm_cache_stats(c, &st);
	return st;
}

static void test_cache_hit_after_put_returns_body_and_usage(void **state)
{
	struct llm_cache *c = llm_cache_new(1 << 20, 1 << 16);
	struct llm_cache_hit h = { 0 };
	uint8_t k[LLM_CACHE_KEY_LEN];
	const char *body = "{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}";

	(void)state;
	assert_non_null(c);
	key_of(k, 1);
	assert_int_equal(put_str(c, k, body, 5000, T0), 0);
	assert_int_equal(llm_cache_get(c, k, T0 + 1200, &h), 0);
	assert_int_equal(h.body.len, strlen(body));
	assert_memory_equal(h.body.p, body, strlen(body));
	assert_string_equal(h.content_type, CT);
	assert_int_equal(h.status, 200);
	assert_int_equal(h.tokens_in, 11);
	assert_int_equal(h.tokens_out, 22);
	assert_int_equal(h.tokens_cached, 3);
	assert_int_equal(h.age_ms, 1200);

	/* A reused hit gets the new body, not the old one with it appended. */
	assert_int_equal(llm_cache_get(c, k, T0 + 1300, &h), 0);
	assert_int_equal(h.body.len, strlen(body));
	buf_free(&h.body);
	llm_cache_free(c);
}

static void test_cache_empty_body_is_a_hit(void **state)
{
	struct llm_cache *c = llm_cache_new(1 << 20, 1 << 16);
	struct llm_cache_hit h = { 0 };
	struct llm_cache_resp r = { .status = 200, .content_type = "" };
	uint8_t k[LLM_CACHE_KEY_LEN];

	(void)state;
	key_of(k, 1);
	assert_int_equal(llm_cache_put(c, k, &r, 1000, T0), 0);
	assert_int_equal(llm_cache_get(c, k, T0, &h), 0);
	assert_int_equal(h.body.len, 0);
	assert_string_equal(h.content_type, "");
	buf_free(&h.body);
	llm_cache_free(c);
}

static void test_cache_miss_on_other_key(void **state)
{
	struct llm_cache *c = llm_cache_new(1 << 20, 1 << 16);
	struct llm_cache_hit h = { 0 };
	uint8_t k1[LLM_CACHE_KEY_LEN], k2[LLM_CACHE_KEY_LEN];

	(void)state;
	key_of(k1, 1);
	key_of(k2, 2);
	assert_int_equal(put_str(c, k1, "one", 5000, T0), 0);
	assert_int_equal(llm_cache_get(c, k2, T0, &h), -ENOENT);
	assert_int_equal(h.body.len, 0);
	/* Keys equal but for their last byte are different keys. */
	memcpy(k2, k1, sizeof(k2));
	k2[LLM_CACHE_KEY_LEN - 1] ^= 1;
	assert_false(has(c, k2, T0));
	assert_true(has(c, k1, T0));
	buf_free(&h.body);
	llm_cache_free(c);
}

/* The documented input, built by hand and hashed in one shot. */
static void expected_key(uint8_t out[32], const char *const f[3],
			 const void *body, size_t blen)
{
	unsigned char in[512];
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		const void *p = i < 3 ? f[i] : body;
		size_t l = i < 3 ? strlen(f[i]) : blen;

		for (int b = 0; b < 8; b++)
			in[n++] = (unsigned char)((uint64_t)l >> (8 * b));
		assert_true(n + l <= sizeof(in));
		memcpy(in + n, p, l);
		n += l;
	}
	assert_int_equal(EVP_Digest(in, n, out, NULL, EVP_sha256(), NULL), 1);
}

static void test_cache_key_separates_field_boundaries_and_tenants(void **state)
{
	static const char *const cases[][4] = {
		{ "ab", "c", "m", "body" },
		{ "a", "bc", "m", "body" },
		{ "a", "b", "cm", "body" },
		{ "a", "b", "c", "mbody" },
		{ "acme", "/v1/chat/completions", "gpt-4o", "{}" },
		{ "other", "/v1/chat/completions", "gpt-4o", "{}" },
		{ "acme", "/v1/completions", "gpt-4o", "{}" },
		{ "acme", "/v1/chat/completions", "gpt-4o-mini", "{}" },
		{ "acme", "/v1/chat/completions", "gpt-4o", "{ }" },
		{ "", "", "", "" },
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);
	uint8_t keys[sizeof(cases) / sizeof(cases[0])][LLM_CACHE_KEY_LEN];
	uint8_t again[LLM_CACHE_KEY_LEN], want[LLM_CACHE_KEY_LEN];

	(void)state;
	for (size_t i = 0; i < n; i++) {
		const char *b = cases[i][3];

		assert_int_equal(llm_cache_key(keys[i], cases[i][0], cases[i][1],
					       cases[i][2], b, strlen(b)), 0);
		expected_key(want, cases[i], b, strlen(b));
		assert_memory_equal(keys[i], want, sizeof(want));
		assert_int_equal(llm_cache_key(again, cases[i][0], cases[i][1],
					       cases[i][2], b, strlen(b)), 0);
		assert_memory_equal(keys[i], again, sizeof(again));
		for (size_t j = 0; j < i; j++)
			assert_memory_not_equal(keys[i], keys[j], LLM_CACHE_KEY_LEN);
	}
	/* NULL strings read as "", a NULL body of length 0 as empty. */
	assert_int_equal(llm_cache_key(again, NULL, NULL, NULL, NULL, 0), 0);
	assert_memory_equal(again, keys[n - 1], LLM_CACHE_KEY_LEN);
	assert_int_equal(llm_cache_key(again, "a", "b", "c", NULL, 3), -EINVAL);
}

static void test_cache_entry_expires_after_ttl(void **state)
{
	struct llm_cache *c = llm_cache_new(1 << 20, 1 << 16);
	uint8_t k[LLM_CACHE_KEY_LEN];
	struct llm_cache_stats st;

	(void)state;
	key_of(k, 1);
	assert_int_equal(put_str(c, k, "answer", 3000, T0), 0);
	assert_true(has(c, k, T0 + 2999));
	assert_false(has(c, k, T0 + 3000));
	st = stats(c);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 1);
	/* Dropped, not only hidden: an earlier clock does not revive it. */
	assert_false(has(c, k, T0));

	/* A huge TTL saturates instead of wrapping into the past. */
	assert_int_equal(put_str(c, k, "answer", UINT64_MAX, T0), 0);
	assert_true(has(c, k, UINT64_MAX - 1));
	llm_cache_free(c);
}

static void test_cache_evicts_least_recently_used(void **state)
{
	const size_t len = 1000;
	size_t one = llm_cache_entry_bytes(strlen(CT), len), empty;
	uint8_t k[4][LLM_CACHE_KEY_LEN];
	struct llm_cache *c;
	struct llm_cache_stats st;

	(void)state;
	/* Find the table's share, then make room for exactly three. */
	c = llm_cache_new(64 * 1024, len);
	empty = stats(c).bytes;
	llm_cache_free(c);
	c = llm_cache_new(empty + 3 * one, len);
	assert_non_null(c);
	assert_int_equal(stats(c).bytes, empty);
	for (uint32_t i = 0; i < 4; i++)
		key_of(k[i], i);
	for (int i = 0; i < 3; i++)
		assert_int_equal(put_len(c, k[i], len, T0 + (uint64_t)i), 0);
	assert_int_equal(stats(c).evictions, 0);
	/* Reading k0 makes k1 the least recently used. */
	assert_true(has(c, k[0], T0 + 10));
	assert_int_equal(put_len(c, k[3], len, T0 + 11), 0);
	st = stats(c);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.bytes, empty + 3 * one);
	assert_false(has(c, k[1], T0 + 12));
	assert_true(has(c, k[0], T0 + 12));
	assert_true(has(c, k[2], T0 + 12));
	assert_true(has(c, k[3], T0 + 12));
	/* Now k0 is least recent (k2, k3 were read after it). */
	assert_int_equal(put_len(c, k[1], len, T0 + 13), 0);
	assert_false(has(c, k[0], T0 + 14));
	assert_true(has(c, k[2], T0 + 14));
	llm_cache_free(c);
}

static void test_cache_entry_count_bound_evicts_least_recent(void **state)
{
	uint8_t k[4][LLM_CACHE_KEY_LEN];
	struct llm_cache *c = llm_cache_new(1u << 20, 4096);

	(void)state;
	assert_non_null(c);
	llm_cache_set_max_entries(c, 2);
	for (uint32_t i = 0; i < 4; i++)
		key_of(k[i], i);
	assert_int_equal(put_len(c, k[0], 10, T0), 0);
	assert_int_equal(put_len(c, k[1], 10, T0 + 1), 0);
	assert_true(has(c, k[0], T0 + 2));	/* k1 is now the least recent */
	assert_int_equal(put_len(c, k[2], 10, T0 + 3), 0);
	assert_int_equal(stats(c).entries, 2);
	assert_int_equal(stats(c).evictions, 1);
	assert_false(has(c, k[1], T0 + 4));
	assert_true(has(c, k[0], T0 + 4));
	assert_true(has(c, k[2], T0 + 4));
	llm_cache_free(c);
}

static void test_cache_byte_bound_holds_under_random_puts(void **state)
{
	enum { NKEYS = 700, ROUNDS = 20000 };
	const size_t max = 96 * 1024, max_entry = 8192;
	size_t empty, table, sum;
	uint64_t seed = 0x5eed0001;
	struct llm_cache *c;
	struct llm_cache_stats st;

	(void)state;
	c = llm_cache_new(max, max_entry);
	assert_non_null(c);
	empty = stats(c).bytes;
	for (int round = 0; round < ROUNDS; round++) {
		uint8_t k[LLM_CACHE_KEY_LEN];
		uint64_t r = rng_next(&seed);
		/* Mostly small bodies so entries outnumber the first buckets
		 * and the table must grow; sometimes near the entry bound. */
		size_t len = r % 8 ? r % 200 : (r >> 8) % (max_entry + 64);
		int err;

		key_of(k, (uint32_t)((r >> 32) % NKEYS));
		err = put_len(c, k, len, T0 + (uint64_t)round);
		if (len > max_entry)
			assert_int_equal(err, -E2BIG);
		else
			assert_int_equal(err, 0);
		st = stats(c);
		assert_true(st.bytes <= max);
	}
	/* Every entry the cache claims is there, and the bytes are the
	 * table (a power-of-two bucket array) plus those entries. */
	st = stats(c);
	sum = 0;
	for (uint32_t i = 0; i < NKEYS; i++) {
		uint8_t k[LLM_CACHE_KEY_LEN];
		struct llm_cache_hit h = { 0 };

		key_of(k, i);
		if (!llm_cache_get(c, k, T0 + ROUNDS, &h))
			sum += llm_cache_entry_bytes(strlen(h.content_type),
						     h.body.len);
		buf_free(&h.body);
	}
	assert_int_equal(stats(c).hits, st.hits + st.entries);
	assert_true(sum <= st.bytes);
	table = st.bytes - sum;
	assert_true(table >= empty);
	assert_int_equal(table % empty, 0);
	assert_int_equal((table / empty) & (table / empty - 1), 0);
	/* With hundreds of small entries the 64 first buckets had to grow. */
	assert_true(st.entries > 64);
	assert_true(table > empty);
	assert_true(st.evictions > 0);
	assert_true(st.too_big > 0);
	llm_cache_free(c);
}

static void test_cache_replace_keeps_bytes_consistent(void **state)
{
	struct llm_cache *c = llm_cache_new(1 << 20, 1 << 16);
	struct llm_cache_hit h = { 0 };
	uint8_t k[LLM_CACHE_KEY_LEN];
	struct llm_cache_stats st;
	size_t empty;

	(void)state;
	empty = stats(c).bytes;
	key_of(k, 1);
	assert_int_equal(put_len(c, k, 100, T0), 0);
	assert_int_equal(stats(c).bytes, empty + llm_cache_entry_bytes(strlen(CT), 100));
	assert_int_equal(put_len(c, k, 3000, T0), 0);
	st = stats(c);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, empty + llm_cache_entry_bytes(strlen(CT), 3000));
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.stores, 2);
	assert_int_equal(put_str(c, k, "short", 1000, T0), 0);
	st = stats(c);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, empty + llm_cache_entry_bytes(strlen(CT), 5));
	assert_int_equal(llm_cache_get(c, k, T0, &h), 0);
	assert_int_equal(h.body.len, 5);
	assert_memory_equal(h.body.p, "short", 5);
	assert_int_equal(llm_cache_del(c, k), 0);
	assert_int_equal(llm_cache_del(c, k), -ENOENT);
	assert_int_equal(stats(c).bytes, empty);
	assert_int_equal(stats(c).entries, 0);
	buf_free(&h.body);
	llm_cache_free(c);
}

static void test_cache_refuses_oversize_entry(void **state)
{
	struct llm_cache *c = llm_cache_new(1 << 20, 4096);
	uint8_t k[LLM_CACHE_KEY_LEN];
	struct llm_cache_hit h = { 0 };
	struct llm_cache_stats st;
	size_t room;

	(void)state;
	key_of(k, 1);
	assert_int_equal(put_len(c, k, 4096, T0), 0);
	assert_int_equal(put_len(c, k, 4097, T0), -E2BIG);
	st = stats(c);
	assert_int_equal(st.too_big, 1);
	assert_int_equal(st.stores, 1);
	/* The refused put left the key's entry alone. */
	assert_int_equal(llm_cache_get(c, k, T0, &h), 0);
	assert_int_equal(h.body.len, 4096);
	buf_free(&h.body);
	llm_cache_free(c);

	/* A per-entry bound above the whole cache: the cache's bound wins. */
	c = llm_cache_new(8192, SIZE_MAX);
	assert_non_null(c);
	room = 8192 - stats(c).bytes - llm_cache_entry_bytes(strlen(CT), 0);
	assert_int_equal(put_len(c, k, 8192, T0), -E2BIG);
	assert_int_equal(put_len(c, k, room + 1, T0), -E2BIG);
	assert_int_equal(put_len(c, k, room, T0), 0);
	st = stats(c);
	assert_int_equal(st.too_big, 2);
	assert_int_equal(st.bytes, 8192);
	llm_cache_free(c);
}

static void test_cache_refuses_non_200_and_bad_input(void **state)
{
	struct llm_cache *c = llm_cache_new(1 << 20, 4096);
	uint8_t k[LLM_CACHE_KEY_LEN];
	struct llm_cache_resp r = { .status = 200, .content_type = CT,
				    .body = "x", .len = 1 };
	char longct[TG_LLM_CACHE_CTYPE_MAX + 2];
	struct llm_cache_hit h = { 0 };

	(void)state;
	key_of(k, 1);
	for (int s = 100; s < 600; s++) {
		r.status = s;
		assert_int_equal(llm_cache_put(c, k, &r, 1000, T0),
				 s == 200 ? 0 : -EINVAL);
		assert_int_equal(llm_cache_del(c, k), s == 200 ? 0 : -ENOENT);
	}
	r.status = 200;
	assert_int_equal(llm_cache_put(c, k, &r, 0, T0), -EINVAL);
	r.content_type = "text/plain\r\nSet-Cookie: a=b";
	assert_int_equal(llm_cache_put(c, k, &r, 1000, T0), -EINVAL);
	r.content_type = NULL;
	assert_int_equal(llm_cache_put(c, k, &r, 1000, T0), -EINVAL);
	memset(longct, 'a', sizeof(longct) - 1);
	longct[sizeof(longct) - 1] = '\0';
	r.content_type = longct;
	assert_int_equal(llm_cache_put(c, k, &r, 1000, T0), -EINVAL);
	longct[TG_LLM_CACHE_CTYPE_MAX] = '\0';
	assert_int_equal(llm_cache_put(c, k, &r, 1000, T0), 0);
	assert_int_equal(llm_cache_get(c, k, T0, &h), 0);
	assert_string_equal(h.content_type, longct);
	r.content_type = CT;
	r.body = NULL;
	assert_int_equal(llm_cache_put(c, k, &r, 1000, T0), -EINVAL);
	assert_int_equal(llm_cache_put(c, NULL, &r, 1000, T0), -EINVAL);
	assert_int_equal(llm_cache_put(NULL, k, &r, 1000, T0), -EINVAL);
	assert_int_equal(llm_cache_get(c, k, T0, NULL), -EINVAL);
	assert_int_equal(llm_cache_get(NULL, k, T0, &h), -EINVAL);
	assert_int_equal(stats(c).stores, 2);
	assert_int_equal(stats(c).too_big, 0);

	errno = 0;
	assert_null(llm_cache_new(0, 100));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(llm_cache_new(256, 100));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(llm_cache_new(1 << 20, 0));
	assert_int_equal(errno, EINVAL);
	llm_cache_free(NULL);
	buf_free(&h.body);
	llm_cache_free(c);
}

static void test_cache_stats_count_each_outcome(void **state)
{
	struct llm_cache *c = llm_cache_new(1 << 20, 100);
	uint8_t k1[LLM_CACHE_KEY_LEN], k2[LLM_CACHE_KEY_LEN];
	struct llm_cache_stats st;

	(void)state;
	key_of(k1, 1);
	key_of(k2, 2);
	assert_false(has(c, k1, T0));
	assert_int_equal(put_str(c, k1, "a", 1000, T0), 0);
	assert_int_equal(put_str(c, k2, "b", 10, T0), 0);
	assert_true(has(c, k1, T0));
	assert_true(has(c, k1, T0 + 1));
	assert_false(has(c, k2, T0 + 10));
	assert_int_equal(put_len(c, k2, 101, T0), -E2BIG);
	st = stats(c);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.stores, 2);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.too_big, 1);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.max_bytes, 1 << 20);
	llm_cache_stats(NULL, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.hits, 0);
	llm_cache_free(c);
}

/* ---- threads ---------------------------------------------------------------- */

enum { MT_THREADS = 4, MT_OPS = 40000, MT_KEYS = 300 };

struct mt_arg {
	struct llm_cache *c;
	uint64_t seed;
	uint64_t gets, hits;
	int bad;		/* hits whose body did not match its key */
};

/* A body that says which key it belongs to, all through. */
static size_t mt_body(char *out, uint32_t key, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (char)('A' + (key + i) % 26);
	return len;
}

static void *mt_run(void *p)
{
	struct mt_arg *a = p;
	struct llm_cache_hit h = { 0 };
	static __thread char body[2048];

	for (int op = 0; op < MT_OPS; op++) {
		uint64_t r = rng_next(&a->seed);
		uint32_t key = (uint32_t)(r % MT_KEYS);
		uint64_t now = T0 + (uint64_t)op;
		uint8_t k[LLM_CACHE_KEY_LEN];
		char want[2048];

		if (llm_cache_key(k, "t", "e", "m", &key, sizeof(key))) {
			a->bad++;
			continue;
		}
		if ((r >> 32) % 3) {
			a->gets++;
			if (llm_cache_get(a->c, k, now, &h))
				continue;
			a->hits++;
			mt_body(want, key, h.body.len);
			if (h.body.len > sizeof(want) ||
			    memcmp(h.body.p, want, h.body.len) ||
			    strcmp(h.content_type, CT) || h.tokens_in != key)
				a->bad++;
		} else {
			struct llm_cache_resp resp = {
				.status = 200, .content_type = CT, .body = body,
				.tokens_in = key,
			};

			resp.len = mt_body(body, key, (r >> 40) % sizeof(body));
			if (llm_cache_put(a->c, k, &resp, 1 + (r >> 52) % 2000, now))
				a->bad++;
		}
	}
	buf_free(&h.body);
	return NULL;
}

static void test_cache_threads_random_get_put_stay_consistent(void **state)
{
	const size_t max = 128 * 1024;
	struct llm_cache *c = llm_cache_new(max, 2048);
	struct mt_arg args[MT_THREADS];
	pthread_t th[MT_THREADS];
	struct llm_cache_stats st;
	uint64_t gets = 0, hits = 0;

	(void)state;
	assert_non_null(c);
	for (int i = 0; i < MT_THREADS; i++) {
		args[i] = (struct mt_arg){
			.c = c, .seed = 0x1234567ull * (uint64_t)(i + 1),
		};
		assert_int_equal(pthread_create(&th[i], NULL, mt_run, &args[i]), 0);
	}
	for (int i = 0; i < MT_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].bad, 0);
		gets += args[i].gets;
		hits += args[i].hits;
	}
	st = stats(c);
	assert_int_equal(st.hits + st.misses, gets);
	assert_int_equal(st.hits, hits);
	assert_true(hits > 0);
	assert_true(st.evictions > 0);
	assert_true(st.bytes <= max);
	llm_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_hit_after_put_returns_body_and_usage),
		cmocka_unit_test(test_cache_empty_body_is_a_hit),
		cmocka_unit_test(test_cache_miss_on_other_key),
		cmocka_unit_test(test_cache_key_separates_field_boundaries_and_tenants),
		cmocka_unit_test(test_cache_entry_expires_after_ttl),
		cmocka_unit_test(test_cache_evicts_least_recently_used),
		cmocka_unit_test(test_cache_entry_count_bound_evicts_least_recent),
		cmocka_unit_test(test_cache_byte_bound_holds_under_random_puts),
		cmocka_unit_test(test_cache_replace_keeps_bytes_consistent),
		cmocka_unit_test(test_cache_refuses_oversize_entry),
		cmocka_unit_test(test_cache_refuses_non_200_and_bad_input),
		cmocka_unit_test(test_cache_stats_count_each_outcome),
		cmocka_unit_test(test_cache_threads_random_get_put_stay_consistent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
