// SPDX-License-Identifier: Apache-2.0
#include "kern/kern.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

#include "core/log.h"

#define KERN_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define KERN_LIBBPF_PREFIX	"libbpf: "

#define KERN_REASON_NAME_(name, str)	[TG_REASON_##name] = str,
static const char *const kern_reason_names[] = {
	TG_REASONS(KERN_REASON_NAME_)
};
#undef KERN_REASON_NAME_

_Static_assert(KERN_ARRAY_SIZE(kern_reason_names) == TG_REASON__COUNT,
	       "one name per verdict reason");

const char *kern_reason_name(unsigned int reason)
{
	if (reason >= KERN_ARRAY_SIZE(kern_reason_names) ||
	    !kern_reason_names[reason])
		return "unknown";
	return kern_reason_names[reason];
}

static enum log_level kern_log_level(enum libbpf_print_level level)
{
	switch (level) {
	case LIBBPF_WARN:
		return LOG_LEVEL_WARN;
	case LIBBPF_INFO:
		return LOG_LEVEL_INFO;
	case LIBBPF_DEBUG:
		break;
	}
	return LOG_LEVEL_DEBUG;
}

/*
 * One log line per line of `text` (modified in place): log_msg appends its
 * own newline and escapes any control byte, so libbpf's newlines have to go
 * before it sees them, and tabs (the source lines of a verifier log) become
 * spaces. libbpf prefixes its first line with "libbpf: "; continuation lines
 * get it too, so every line can be found by it. Empty lines are dropped.
 */
static void kern_log_lines(enum log_level level, char *text)
{
	char *line = text;
	char *nl, *p;

	while (*line) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		for (p = line; *p; p++) {
			if (*p == '\t')
				*p = ' ';
		}
		if (!strncmp(line, KERN_LIBBPF_PREFIX, strlen(KERN_LIBBPF_PREFIX)))
			line += strlen(KERN_LIBBPF_PREFIX);
		if (*line)
			log_msg(level, KERN_LIBBPF_PREFIX "%s", line);
		if (!nl)
			break;
		line = nl + 1;
	}
}

/*
 * libbpf's print callback. Formats into a stack buffer, or for a long
 * message (a verifier log) into a heap buffer of at most TG_LIBBPF_MSG_MAX
 * bytes; past that, or when the allocation fails, the message is cut and
 * says so. Messages the log would drop are not formatted at all.
 */
__attribute__((format(printf, 2, 0)))
static int kern_libbpf_print(enum libbpf_print_level libbpf_level,
			     const char *fmt, va_list ap)
{
	enum log_level level = kern_log_level(libbpf_level);
	char stack[1024];
	char *buf = stack;
	size_t size = sizeof(stack);
	va_list ap_again;
	int n;

	if (level > log_get_level())
		return 0;

	va_copy(ap_again, ap);
	n = vsnprintf(stack, sizeof(stack), fmt, ap);
	if (n >= 0 && (size_t)n >= sizeof(stack)) {
		size = (size_t)n + 1;
		if (size > TG_LIBBPF_MSG_MAX)
			size = TG_LIBBPF_MSG_MAX;
		buf = malloc(size);
		if (buf) {
			vsnprintf(buf, size, fmt, ap_again);
		} else {
			buf = stack;
			size = sizeof(stack);
		}
	}
	va_end(ap_again);
	if (n < 0)
		return n;

	kern_log_lines(level, buf);
	if ((size_t)n >= size)
		log_msg(level, KERN_LIBBPF_PREFIX "(message cut to %zu of %d bytes)",
			size - 1, n);
	if (buf != stack)
		free(buf);
	return n;
}

void kern_log_init(void)
{
	libbpf_set_print(kern_libbpf_print);
}
