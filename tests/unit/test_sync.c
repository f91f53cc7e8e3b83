// SPDX-License-Identifier: Apache-2.0
/*
 * user/kern/sync.c without the kernel: the GCRA parameters a policy rate
 * and burst become, and the pin directory's precedence. The maps
 * themselves are exercised against a real kernel by
 * tests/integration/test_attach.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tollgate/abi.h>

#include "kern/loader.h"
#include "kern/maps.h"
#include "kern/sync.h"

static void test_sync_gcra_rate_and_burst(void **state)
{
	uint64_t t, tau;

	(void)state;
	/* 1000/s, burst 100: T = 1 ms, tau = 99 ms. */
	kern_gcra_params(1000, 1000, 100, &t, &tau);
	assert_int_equal(t, 1000000);
	assert_int_equal(tau, 99000000);
	/* 6000/min is 100/s. */
	kern_gcra_params(6000, 60000, 1, &t, &tau);
	assert_int_equal(t, 10000000);
	assert_int_equal(tau, 0);
}

static void test_sync_gcra_zero_count_is_unlimited(void **state)
{
	uint64_t t = 7, tau = 7;

	(void)state;
	kern_gcra_params(0, 1000, 50, &t, &tau);
	assert_int_equal(t, 0);
	assert_int_equal(tau, 0);
}

static void test_sync_gcra_burst_zero_counts_as_one(void **state)
{
	uint64_t t, tau;

	(void)state;
	kern_gcra_params(10, 1000, 0, &t, &tau);
	assert_int_equal(t, 100000000);
	assert_int_equal(tau, 0);
}

static void test_sync_gcra_extremes_saturate(void **state)
{
	uint64_t t, tau;

	(void)state;
	/* Faster than one per ns: T is never 0 (0 means no limit). */
	kern_gcra_params(UINT64_MAX, 1, 2, &t, &tau);
	assert_int_equal(t, 1);
	assert_int_equal(tau, 1);
	/* Slow and bursty: saturates instead of wrapping. */
	kern_gcra_params(1, UINT64_MAX / 1000, UINT32_MAX, &t, &tau);
	assert_true(t > 0);
	assert_int_equal(tau, UINT64_MAX);
}

static void test_sync_pin_dir_precedence(void **state)
{
	(void)state;
	unsetenv(KERN_PIN_DIR_ENV);
	assert_string_equal(kern_loader_pin_dir(NULL), TG_PIN_DIR);
	assert_string_equal(kern_loader_pin_dir(""), TG_PIN_DIR);
	setenv(KERN_PIN_DIR_ENV, "/sys/fs/bpf/from-env", 1);
	assert_string_equal(kern_loader_pin_dir(NULL), "/sys/fs/bpf/from-env");
	assert_string_equal(kern_loader_pin_dir("/sys/fs/bpf/given"), "/sys/fs/bpf/given");
	setenv(KERN_PIN_DIR_ENV, "", 1);
	assert_string_equal(kern_loader_pin_dir(NULL), TG_PIN_DIR);
	unsetenv(KERN_PIN_DIR_ENV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_gcra_rate_and_burst),
		cmocka_unit_test(test_sync_gcra_zero_count_is_unlimited),
		cmocka_unit_test(test_sync_gcra_burst_zero_counts_as_one),
		cmocka_unit_test(test_sync_gcra_extremes_saturate),
		cmocka_unit_test(test_sync_pin_dir_precedence),
	};

	return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
