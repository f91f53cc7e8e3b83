/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The clocks, read once per event. A worker's handling of one event (a
 * request parsed, an answer's head, a body's end) stamps several times:
 * when the request started, when it was sent, its first byte, its end, the
 * budget's window, the audit line. A thread that calls clock_event() before
 * each event gets, until the next call, the same reading for every
 * clock_mono()/clock_real_ns(): one clock_gettime per clock per event
 * instead of one per stamp. The readings are then late by at most the
 * time the event's handling has taken so far (microseconds). A thread that
 * never calls clock_event() reads the clock every time.
 */
#ifndef TOLLGATE_CLOCK_H
#define TOLLGATE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct clock_cache {
	bool on;		/* clock_event() was called on this thread */
	bool mono_ok, real_ok;	/* read since the last clock_event() */
	struct timespec mono;
	uint64_t real_ns;
};

extern __thread struct clock_cache clock_cache;

/* A new event: the next readings look at the clocks again. */
static inline void clock_event(void)
{
	clock_cache.on = true;
	clock_cache.mono_ok = clock_cache.real_ok = false;
}

/* CLOCK_MONOTONIC. */
static inline void clock_mono(struct timespec *ts)
{
	if (!clock_cache.on) {
		clock_gettime(CLOCK_MONOTONIC, ts);
		return;
	}
	if (!clock_cache.mono_ok) {
		clock_gettime(CLOCK_MONOTONIC, &clock_cache.mono);
		clock_cache.mono_ok = true;
	}
	*ts = clock_cache.mono;
}

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_mono(&ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_mono_ms(void)
{
	struct timespec ts;

	clock_mono(&ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* CLOCK_REALTIME in ns since the epoch. */
static inline uint64_t clock_real_ns(void)
{
	struct timespec ts;

	if (clock_cache.on && clock_cache.real_ok)
		return clock_cache.real_ns;
	clock_gettime(CLOCK_REALTIME, &ts);
	clock_cache.real_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	clock_cache.real_ok = clock_cache.on;
	return clock_cache.real_ns;
}

#endif /* TOLLGATE_CLOCK_H */
