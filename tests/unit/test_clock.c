// SPDX-License-Identifier: Apache-2.0
/* core/clock: one reading per event inside clock_event() ..
 * clock_event_end(), a fresh reading every time outside. */
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
	uint64_t m0, r0;

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
	assert_true(clock_real_read() >= r0 + 1000000);	/* it was stale by the nap */
	/* The next event reads the clocks again. */
	clock_event();
	assert_true(clock_mono_ns() >= m0 + 1000000);
	assert_true(clock_real_ns() >= r0 + 1000000);
	/* After the event, every read is fresh. */
	clock_event_end();
	m0 = clock_mono_ns();
	nap();
	assert_true(clock_mono_ns() >= m0 + 1000000);
}

/* Within events the wall clock is the monotonic one plus an offset that
 * is measured again every CLOCK_REAL_RESYNC_NS, and stays close to a
 * fresh reading. (Bounds are loose: this VM can pause a thread.) */
static void test_clock_real_follows_mono_and_resyncs(void **state)
{
	struct timespec pause = { .tv_nsec = (long)(CLOCK_REAL_RESYNC_NS + 20000000) };
	uint64_t m0, r0, m1, r1, fresh, d;

	(void)state;
	clock_cache.off_at_ns = 0;	/* measure the offset now */
	clock_event();
	m0 = clock_mono_ns();
	r0 = clock_real_ns();
	nap();
	clock_event();
	m1 = clock_mono_ns();
	r1 = clock_real_ns();
	/* Both advanced alike (exactly, unless a pause forced a resync). */
	d = (r1 - r0) > (m1 - m0) ? (r1 - r0) - (m1 - m0) : (m1 - m0) - (r1 - r0);
	assert_true(d < 20000000);
	assert_true(m1 >= m0 + 1000000);
	nanosleep(&pause, NULL);
	clock_event();
	r1 = clock_real_ns();
	fresh = clock_real_read();
	clock_event_end();
	assert_true(fresh >= r1);
	assert_true(fresh - r1 < 20000000);	/* measured afresh */
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
