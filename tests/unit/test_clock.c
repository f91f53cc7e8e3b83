// SPDX-License-Identifier: Apache-2.0
/* core/clock: one reading per event on threads that say when events
 * start, a fresh reading every time on the others. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"

static void nap(void)
{
	struct timespec ts = { .tv_nsec = 2000000 };	/* 2 ms */

	nanosleep(&ts, NULL);
}

static void *uncached(void *arg)
{
	uint64_t m0, m1, r0, r1;

	(void)arg;
	m0 = clock_mono_ns();
	r0 = clock_real_ns();
	nap();
	m1 = clock_mono_ns();
	r1 = clock_real_ns();
	/* No clock_event() on this thread: every read looks at the clock. */
	return (void *)(uintptr_t)(m1 >= m0 + 1000000 && r1 >= r0 + 1000000 ? 0 : 1);
}

static void test_clock_reads_afresh_without_events(void **state)
{
	pthread_t t;
	void *rc;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, uncached, NULL), 0);
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_null(rc);
}

static void test_clock_one_reading_per_event(void **state)
{
	struct timespec a, b;
	uint64_t m0, r0, real_now;

	(void)state;
	clock_event();
	clock_mono(&a);
	m0 = clock_mono_ns();
	r0 = clock_real_ns();
	nap();
	/* The same event: the same readings, mono and real alike. */
	clock_mono(&b);
	assert_int_equal(a.tv_sec, b.tv_sec);
	assert_int_equal(a.tv_nsec, b.tv_nsec);
	assert_int_equal(clock_mono_ns(), m0);
	assert_int_equal(clock_mono_ms(), m0 / 1000000);
	assert_int_equal(clock_real_ns(), r0);
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		real_now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		assert_true(real_now >= r0 + 1000000);	/* it was stale by the nap */
	}
	/* The next event reads the clocks again. */
	clock_event();
	assert_true(clock_mono_ns() >= m0 + 1000000);
	assert_true(clock_real_ns() >= r0 + 1000000);
}

/* Across events the wall clock is the monotonic one plus an offset that
 * is measured again every CLOCK_REAL_RESYNC_NS, and stays within a
 * fraction of a millisecond of a fresh reading. */
static void test_clock_real_follows_mono_and_resyncs(void **state)
{
	struct timespec ts, pause = { .tv_nsec = (long)(CLOCK_REAL_RESYNC_NS + 20000000) };
	uint64_t m0, r0, m1, r1, fresh;

	(void)state;
	clock_event();
	m0 = clock_mono_ns();
	r0 = clock_real_ns();
	nap();
	clock_event();
	m1 = clock_mono_ns();
	r1 = clock_real_ns();
	/* No resync within 100 ms: the offset is the same. */
	assert_int_equal(r1 - r0, m1 - m0);
	nanosleep(&pause, NULL);
	clock_event();
	r1 = clock_real_ns();
	clock_gettime(CLOCK_REALTIME, &ts);
	fresh = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	assert_true(fresh >= r1);
	assert_true(fresh - r1 < 1000000);	/* measured afresh: < 1 ms apart */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock_reads_afresh_without_events),
		cmocka_unit_test(test_clock_one_reading_per_event),
		cmocka_unit_test(test_clock_real_follows_mono_and_resyncs),
	};

	return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
