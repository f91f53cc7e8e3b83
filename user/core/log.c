// SPDX-License-Identifier: Apache-2.0
#include "core/log.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tollgate/limits.h"

/*
 * A whole line, newline included. Kept at PIPE_BUF so that a line written to
 * a pipe (a supervisor, journald's stdout stream) is also atomic with respect
 * to other processes writing to the same pipe, not only to our threads.
 */
#define LOG_LINE_MAX	PIPE_BUF
/* U+2026 HORIZONTAL ELLIPSIS, the mark of a truncated line. */
#define LOG_ELLIPSIS	"\xe2\x80\xa6"

_Static_assert(LOG_LINE_MAX >= 512, "a log line must hold a useful message");

static _Atomic int log_level_cur = LOG_LEVEL_INFO;
static _Atomic int log_fd = STDERR_FILENO;

/* Empty string: no request id. */
static __thread char log_req_id[TG_REQUEST_ID_MAX + 1];

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_level_cur, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level_cur,
						    memory_order_relaxed);
}

int log_level_parse(const char *name)
{
	size_t i;

	if (!name)
		return -1;
	for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (!strcmp(name, log_level_names[i]))
			return (int)i;
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level >= sizeof(log_level_names) / sizeof(log_level_names[0]))
		return "unknown";
	return log_level_names[level];
}

void log_set_fd(int fd)
{
	atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

void log_set_request_id(const char *id)
{
	size_t len;

	if (!id) {
		log_req_id[0] = '\0';
		return;
	}
	/* strnlen + memcpy: `id` need not be terminated within the bound,
	 * and no byte past it is read. */
	len = strnlen(id, TG_REQUEST_ID_MAX);
	memcpy(log_req_id, id, len);
	log_req_id[len] = '\0';
}

const char *log_get_request_id(void)
{
	return log_req_id[0] ? log_req_id : NULL;
}

/* Appends to a bounded line; remembers when something did not fit. */
struct log_line {
	char *buf;
	size_t len;
	size_t cap;	/* bytes usable for text, the trailer excluded */
	bool truncated;
};

static bool log_is_control(unsigned char c)
{
	return c < 0x20;
}

static void log_put_raw(struct log_line *l, const char *s, size_t n)
{
	if (l->truncated)
		return;
	if (n > l->cap - l->len) {
		n = l->cap - l->len;
		l->truncated = true;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/* Copies `s` with every control byte written as \xNN, so that input that
 * reaches a log line (a header, a path, a policy value) can neither end the
 * line early nor forge a following one. */
static void log_put_escaped(struct log_line *l, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n && !l->truncated; i++) {
		unsigned char c = (unsigned char)s[i];

		if (log_is_control(c)) {
			char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 0xf] };

			if (l->cap - l->len < sizeof(esc)) {
				/* Never half an escape. */
				l->truncated = true;
				break;
			}
			log_put_raw(l, esc, sizeof(esc));
		} else {
			log_put_raw(l, (const char *)&c, 1);
		}
	}
}

static void log_put_timestamp(struct log_line *l)
{
	struct timespec ts;
	struct tm tm;
	char buf[40];
	int n;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm)) {
		log_put_raw(l, "0000-00-00T00:00:00.000Z", 24);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		     tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	if (n > 0)
		log_put_raw(l, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Backs off to the start of a UTF-8 sequence the cut went through, so the
 * ellipsis does not follow half a character. */
static void log_trim_partial_utf8(struct log_line *l)
{
	size_t end = l->len, i = end, cont = 0;
	unsigned char lead;
	size_t want;

	while (i > 0 && cont < 3 && ((unsigned char)l->buf[i - 1] & 0xc0) == 0x80) {
		i--;
		cont++;
	}
	if (i == 0)
		return;
	lead = (unsigned char)l->buf[i - 1];
	if (lead < 0xc0)
		return;		/* ASCII or stray continuation: nothing to fix */
	want = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : 1;
	if (cont < want)
		l->len = i - 1;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	char msg[LOG_LINE_MAX];
	struct log_line l = {
		.buf = line,
		.len = 0,
		/* Room is always left for the ellipsis and the newline. */
		.cap = sizeof(line) - (sizeof(LOG_ELLIPSIS) - 1) - 1,
		.truncated = false,
	};
	int saved_errno = errno;
	const char *id;
	ssize_t w;
	int n, fd;

	if ((int)level > atomic_load_explicit(&log_level_cur, memory_order_relaxed))
		return;

	log_put_timestamp(&l);
	log_put_raw(&l, " ", 1);
	log_put_raw(&l, log_level_name(level), strlen(log_level_name(level)));
	log_put_raw(&l, " ", 1);
	id = log_get_request_id();
	if (id) {
		log_put_raw(&l, "req=", 4);
		log_put_escaped(&l, id, strlen(id));
		log_put_raw(&l, " ", 1);
	}

	/* %m in `fmt` must see the caller's errno, not ours. */
	errno = saved_errno;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0) {
		log_put_raw(&l, "(unformattable log message)", 27);
	} else {
		size_t mlen = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;

		log_put_escaped(&l, msg, mlen);
		if ((size_t)n >= sizeof(msg))
			l.truncated = true;
	}

	if (l.truncated) {
		log_trim_partial_utf8(&l);
		memcpy(line + l.len, LOG_ELLIPSIS, sizeof(LOG_ELLIPSIS) - 1);
		l.len += sizeof(LOG_ELLIPSIS) - 1;
	}
	line[l.len++] = '\n';

	fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
	do {
		w = write(fd, line, l.len);
	} while (w < 0 && errno == EINTR);
	/* A failed log write has nowhere to be reported; it is dropped. */

	errno = saved_errno;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
