// SPDX-License-Identifier: Apache-2.0
/* core/buf: the growable buffer's bounds, and its decimal appender. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/asan.h"
#include "core/buf.h"
#include "tollgate/limits.h"

#if TG_ASAN
#define POOLED 0	/* ASan builds keep no blocks: a use after free must show */
#else
#define POOLED 1
#endif

static void test_buf_append_u64_writes_decimal(void **state)
{
	struct buf b = { 0 };

	(void)state;
	assert_int_equal(buf_append_u64(&b, 0, SIZE_MAX), 0);
	assert_int_equal(buf_append(&b, ",", 1, SIZE_MAX), 0);
	assert_int_equal(buf_append_u64(&b, 10, SIZE_MAX), 0);
	assert_int_equal(buf_append(&b, ",", 1, SIZE_MAX), 0);
	assert_int_equal(buf_append_u64(&b, UINT64_MAX, SIZE_MAX), 0);
	assert_int_equal(b.len, strlen("0,10,18446744073709551615"));
	assert_memory_equal(b.p, "0,10,18446744073709551615", b.len);
	buf_free(&b);
}

static void test_buf_append_u64_respects_max(void **state)
{
	struct buf b = { 0 };

	(void)state;
	assert_int_equal(buf_append(&b, "ab", 2, 8), 0);
	assert_int_equal(buf_append_u64(&b, 123456, 8), 0);
	assert_int_equal(buf_append_u64(&b, 7, 8), -ENOSPC);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.p, "ab123456", 8);
	buf_free(&b);
}

static void test_buf_reserve_grows_without_writing(void **state)
{
	struct buf b = { 0 };

	(void)state;
	assert_int_equal(buf_reserve(&b, 5000, SIZE_MAX), 0);
	assert_int_equal(b.len, 0);
	assert_true(b.cap >= 5000);
	assert_int_equal(buf_reserve(&b, 9, 8), -ENOSPC);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* Growing through every block size (the cache's and past it) keeps the
 * bytes, and a buffer freed and taken again starts empty. */
static void test_buf_grows_through_classes_keeping_bytes(void **state)
{
	struct buf b = { 0 };
	size_t i, n = (256u << 10) + 77;

	(void)state;
	for (int round = 0; round < 3; round++) {
		for (i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)(i * 131 + (i >> 9) + (size_t)round);

			assert_int_equal(buf_append(&b, &ch, 1, SIZE_MAX), 0);
		}
		assert_int_equal(b.len, n);
		for (i = 0; i < n; i++)
			assert_int_equal((unsigned char)b.p[i],
					 (unsigned char)(i * 131 + (i >> 9) + (size_t)round));
		buf_free(&b);
		assert_null(b.p);
		assert_int_equal(b.len, 0);
		assert_int_equal(b.cap, 0);
	}
	/* A bound that is not a block size: the buffer stops at it. */
	assert_int_equal(buf_reserve(&b, 1500, 3000), 0);
	assert_int_equal(buf_reserve(&b, 2500, 3000), 0);
	assert_true(b.cap >= 2500 && b.cap <= 3000);
	buf_free(&b);
}

/* A freed block of a cached size is handed out again by the same thread;
 * the cache is bounded by count and by bytes. */
/* cmocka's assertions may only fail on the test's own thread: the thread
 * below returns the line of its first failed check instead. */
#define CHECK(c) do { if (!(c)) return (void *)(uintptr_t)__LINE__; } while (0)

static void *cache_bounds(void *arg)
{
	void *blk[TG_BUF_POOL_BLOCKS + 8];
	size_t base = buf_block_cached();	/* a fresh thread: 0 */
	void *a, *b;

	(void)arg;
	CHECK(base == 0);
	a = buf_block_get(4000);	/* a 4 KiB block */
	CHECK((a) != NULL);
	memset(a, 0x5a, 4000);
	buf_block_put(a, 4000);
	CHECK((buf_block_cached()) == (base + (POOLED ? 4096 : 0)));
	b = buf_block_get(4096);
	if (POOLED)
		CHECK((a) == (b));
	CHECK((buf_block_cached()) == (base));
	buf_block_put(b, 4096);

	/* Count: at most TG_BUF_POOL_BLOCKS of a size. */
	for (size_t i = 0; i < TG_BUF_POOL_BLOCKS + 8; i++)
		CHECK((blk[i] = buf_block_get(1024)) != NULL);
	for (size_t i = 0; i < TG_BUF_POOL_BLOCKS + 8; i++)
		buf_block_put(blk[i], 1024);
	CHECK(buf_block_cached() <= base + 4096 + TG_BUF_POOL_BLOCKS * 1024u);
	if (POOLED)
		CHECK((buf_block_cached()) == (base + 4096 + TG_BUF_POOL_BLOCKS * 1024u));

	/* Bytes: 64 KiB blocks stop at TG_BUF_POOL_BYTES. */
	for (size_t i = 0; i < TG_BUF_POOL_BLOCKS; i++)
		CHECK((blk[i] = buf_block_get(64u << 10)) != NULL);
	for (size_t i = 0; i < TG_BUF_POOL_BLOCKS; i++)
		buf_block_put(blk[i], 64u << 10);
	CHECK(buf_block_cached() <= TG_BUF_POOL_BYTES);

	/* Past the largest size: never cached. */
	a = buf_block_get(1u << 20);
	CHECK((a) != NULL);
	b = (void *)(uintptr_t)buf_block_cached();
	buf_block_put(a, 1u << 20);
	CHECK((buf_block_cached()) == ((size_t)(uintptr_t)b));
	buf_block_put(NULL, 1024);	/* no-op */
	return NULL;
}

static void test_buf_block_cache_reuses_and_is_bounded(void **state)
{
	pthread_t t;

	(void)state;
	void *line;

	/* In a thread of its own, whose cache starts empty. */
	assert_int_equal(pthread_create(&t, NULL, cache_bounds, NULL), 0);
	assert_int_equal(pthread_join(t, &line), 0);
	if (line)
		fail_msg("cache_bounds: check at line %d failed", (int)(uintptr_t)line);
}

static void *fill_cache(void *arg)
{
	struct buf bufs[16] = { 0 };

	(void)arg;
	for (int i = 0; i < 16; i++)
		if (buf_reserve(&bufs[i], 8000, SIZE_MAX))
			return (void *)1;
	for (int i = 0; i < 16; i++)
		buf_free(&bufs[i]);
	return (void *)(uintptr_t)(buf_block_cached() == (POOLED ? 16u * 8192 : 0) ? 0 : 2);
}

/* A thread's cached blocks are freed when it exits. */
static void test_buf_block_cache_freed_at_thread_exit(void **state)
{
	size_t before, after;
	pthread_t t;
	void *rc;

	(void)state;
	/* Once first: the thread machinery's own allocations settle. */
	assert_int_equal(pthread_create(&t, NULL, fill_cache, NULL), 0);
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_null(rc);
	before = mallinfo2().uordblks;
	assert_int_equal(pthread_create(&t, NULL, fill_cache, NULL), 0);
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_null(rc);
	after = mallinfo2().uordblks;
	/* 128 KiB were cached by the thread; none may outlive it. */
	assert_true(after < before + 16 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append_u64_writes_decimal),
		cmocka_unit_test(test_buf_append_u64_respects_max),
		cmocka_unit_test(test_buf_reserve_grows_without_writing),
		cmocka_unit_test(test_buf_grows_through_classes_keeping_bytes),
		cmocka_unit_test(test_buf_block_cache_reuses_and_is_bounded),
		cmocka_unit_test(test_buf_block_cache_freed_at_thread_exit),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
