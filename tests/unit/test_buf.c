// SPDX-License-Identifier: Apache-2.0
/* core/buf: the growable buffer's bounds, and its decimal appender. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append_u64_writes_decimal),
		cmocka_unit_test(test_buf_append_u64_respects_max),
		cmocka_unit_test(test_buf_reserve_grows_without_writing),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
