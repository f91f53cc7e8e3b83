/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: one line per call, written with a single write(2) so lines from
 * several threads never interleave. Lines carry the request id of the
 * calling thread when one is set.
 *
 *   2026-11-24T03:12:52.123Z info req=8f2c… listener main on 127.0.0.1:8080
 *
 * Never log prompt bodies, authorization headers or secret values.
 */
#ifndef TOLLGATE_LOG_H
#define TOLLGATE_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Lines above `level` are dropped. Default: LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" → level; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

/* Where lines go (default 2, standard error). Borrows the fd. */
void log_set_fd(int fd);

/* Tags this thread's lines with `id` (copied, at most TG_REQUEST_ID_MAX
 * bytes); NULL clears it. */
void log_set_request_id(const char *id);
const char *log_get_request_id(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif /* TOLLGATE_LOG_H */
