/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The clocks, read once per event. A worker's handling of one event (a
 * request parsed, an answer's head, a body's end) stamps several times:
 * when the request started, when it was sent, its first byte, its end, the
 * budget's window, the audit line. Between clock_event() and
 * clock_event_end() (the worker loop brackets each event's handling with
 * them), every clock_mono()/clock_real_ns() returns the same reading: one
 * clock_gettime per event instead of one per stamp. The readings are then
 * late by at most the time the event's handling has taken so far
 * (microseconds). Outside such a bracket, and on threads that never open
 * one, every call reads the clock.
 *
 * Within a bracket CLOCK_REALTIME is the monotonic reading plus an offset
 * measured again once the monotonic clock has moved CLOCK_REAL_RESYNC_NS
 * past the last measure: both clocks advance alike (NTP slews both), so
 * one clock_gettime serves both clocks; a step of the wall clock
 * (settimeofday, NTP's step) shows within that much.
 */
#ifndef TOLLGATE_CLOCK_H
#define TOLLGATE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CLOCK_REAL_RESYNC_NS	100000000ull	/* 100 ms */

struct clock_cache {
	bool on;		/* inside clock_event() .. clock_event_end() */
	bool mono_ok, real_ok;	/* read since clock_event() */
	struct timespec mono;
	uint64_t real_ns;
	uint64_t off_ns;	/* CLOCK_REALTIME - CLOCK_MONOTONIC (mod 2^64) */
	uint64_t off_at_ns;	/* the monotonic reading it was measured at; 0: never */
};

extern __thread struct clock_cache clock_cache;

/* An event's handling starts: the first reading is kept for the rest. */
static inline void clock_event(void)
{
	clock_cache.on = true;
	clock_cache.mono_ok = clock_cache.real_ok = false;
}

/* It is over: every reading looks at the clock again. */
static inline void clock_event_end(void)
{
	clock_cache.on = false;
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

static inline uint64_t clock_ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_mono(&ts);
	return clock_ts_ns(&ts);
}

static inline uint64_t clock_mono_ms(void)
{
	struct timespec ts;

	clock_mono(&ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* CLOCK_REALTIME read now, in ns since the epoch. */
static inline uint64_t clock_real_read(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return clock_ts_ns(&ts);
}

/* CLOCK_REALTIME in ns since the epoch. */
static inline uint64_t clock_real_ns(void)
{
	uint64_t mono;

	if (!clock_cache.on)
		return clock_real_read();
	if (clock_cache.real_ok)
		return clock_cache.real_ns;
	mono = clock_mono_ns();
	if (!clock_cache.off_at_ns || mono - clock_cache.off_at_ns >= CLOCK_REAL_RESYNC_NS) {
		clock_cache.off_ns = clock_real_read() - mono;
		clock_cache.off_at_ns = mono ? mono : 1;
	}
	clock_cache.real_ns = mono + clock_cache.off_ns;
	clock_cache.real_ok = true;
	return clock_cache.real_ns;
}

#endif /* TOLLGATE_CLOCK_H */
