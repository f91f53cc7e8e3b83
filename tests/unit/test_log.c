// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "tollgate/limits.h"

#define ELLIPSIS	"\xe2\x80\xa6"
#define CAPTURE_MAX	(64u << 10)

/* Log lines go into a pipe; the test reads back what one or more calls
 * wrote. */
struct capture {
	int rfd;
	int wfd;
	char buf[CAPTURE_MAX + 1];
	size_t len;
};

static int setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));
	int fds[2];

	if (!c)
		return -1;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		free(c);
		return -1;
	}
	c->rfd = fds[0];
	c->wfd = fds[1];
	/* Room for every line a test writes before it reads. */
	fcntl(c->wfd, F_SETPIPE_SZ, CAPTURE_MAX);
	fcntl(c->rfd, F_SETFL, O_NONBLOCK);
	log_set_fd(c->wfd);
	log_set_level(LOG_LEVEL_INFO);
	log_set_request_id(NULL);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct capture *c = *state;

	log_set_fd(STDERR_FILENO);
	log_set_level(LOG_LEVEL_INFO);
	log_set_request_id(NULL);
	close(c->rfd);
	close(c->wfd);
	free(c);
	return 0;
}

/* Reads everything written so far; NUL-terminates. */
static const char *capture_read(struct capture *c)
{
	ssize_t n;

	c->len = 0;
	while (c->len < CAPTURE_MAX) {
		n = read(c->rfd, c->buf + c->len, CAPTURE_MAX - c->len);
		if (n <= 0)
			break;
		c->len += (size_t)n;
	}
	c->buf[c->len] = '\0';
	return c->buf;
}

static size_t count_char(const char *s, size_t len, char ch)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += s[i] == ch;
	return n;
}

static void test_log_line_has_utc_timestamp_and_level(void **state)
{
	struct capture *c = *state;
	regex_t re;

	assert_int_equal(regcomp(&re,
		"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
		"info listener main on 127\\.0\\.0\\.1:8080\n$", REG_EXTENDED), 0);
	log_info("listener %s on %s", "main", "127.0.0.1:8080");
	capture_read(c);
	assert_int_equal(regexec(&re, c->buf, 0, NULL, 0), 0);
	regfree(&re);
}

static void test_log_drops_lines_above_level(void **state)
{
	struct capture *c = *state;

	log_set_level(LOG_LEVEL_WARN);
	assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
	log_info("hidden info");
	log_debug("hidden debug");
	log_warn("shown warn");
	log_error("shown error");
	capture_read(c);
	assert_null(strstr(c->buf, "hidden"));
	assert_non_null(strstr(c->buf, " warn shown warn\n"));
	assert_non_null(strstr(c->buf, " error shown error\n"));
	assert_int_equal(count_char(c->buf, c->len, '\n'), 2);

	log_set_level(LOG_LEVEL_ERROR);
	log_warn("hidden warn");
	log_error("only error");
	capture_read(c);
	assert_null(strstr(c->buf, "hidden"));
	assert_int_equal(count_char(c->buf, c->len, '\n'), 1);

	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("shown debug");
	capture_read(c);
	assert_non_null(strstr(c->buf, " debug shown debug\n"));
}

#define THREAD_LINES	50

struct tagger {
	const char *id;
	pthread_barrier_t *start;
	const char *seen_id;
};

static void *tagger_run(void *arg)
{
	struct tagger *t = arg;
	int i;

	log_set_request_id(t->id);
	/* Both threads hold their ids and log at the same time, so a shared
	 * (not thread-local) id would show up on the other's lines. */
	pthread_barrier_wait(t->start);
	for (i = 0; i < THREAD_LINES; i++)
		log_info("from %s line %d", t->id, i);
	t->seen_id = log_get_request_id();
	return NULL;
}

static void test_log_tags_request_id_per_thread(void **state)
{
	struct capture *c = *state;
	pthread_barrier_t start;
	struct tagger a = { .id = "8f2c-a", .start = &start };
	struct tagger b = { .id = "77d1-b", .start = &start };
	pthread_t ta, tb;
	char *line, *save = NULL;
	size_t n_a = 0, n_b = 0, n_main = 0;

	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	assert_int_equal(pthread_create(&ta, NULL, tagger_run, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, tagger_run, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&start);
	/* The threads' ids did not leak into this one. */
	assert_null(log_get_request_id());
	log_info("from main");

	capture_read(c);
	assert_int_equal(count_char(c->buf, c->len, '\n'), 2 * THREAD_LINES + 1);
	for (line = strtok_r(c->buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "from 8f2c-a line ")) {
			assert_non_null(strstr(line, " info req=8f2c-a from 8f2c-a line "));
			n_a++;
		} else if (strstr(line, "from 77d1-b line ")) {
			assert_non_null(strstr(line, " info req=77d1-b from 77d1-b line "));
			n_b++;
		} else {
			assert_non_null(strstr(line, " info from main"));
			assert_null(strstr(line, "req="));
			n_main++;
		}
	}
	assert_int_equal(n_a, THREAD_LINES);
	assert_int_equal(n_b, THREAD_LINES);
	assert_int_equal(n_main, 1);
	assert_string_equal(a.seen_id, "8f2c-a");
	assert_string_equal(b.seen_id, "77d1-b");
}

static void test_log_request_id_is_copied_and_bounded(void **state)
{
	struct capture *c = *state;
	char id[TG_REQUEST_ID_MAX * 2 + 1];
	const char *got;

	memset(id, 'r', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	log_set_request_id(id);
	/* Changing the caller's buffer does not change the tag. */
	memset(id, 'x', sizeof(id) - 1);
	got = log_get_request_id();
	assert_non_null(got);
	assert_int_equal(strlen(got), TG_REQUEST_ID_MAX);
	assert_int_equal(strspn(got, "r"), TG_REQUEST_ID_MAX);

	log_info("tagged");
	capture_read(c);
	assert_non_null(strstr(c->buf, "req=rrrr"));
	assert_null(strstr(c->buf, "xxxx"));

	log_set_request_id(NULL);
	assert_null(log_get_request_id());
	log_info("untagged");
	capture_read(c);
	assert_null(strstr(c->buf, "req="));
}

static void test_log_escapes_newline_and_control_bytes(void **state)
{
	struct capture *c = *state;

	/* What an attacker would send to forge a second line. */
	log_info("path %s", "/v1/x\n2026-01-01T00:00:00.000Z error forged");
	capture_read(c);
	assert_int_equal(count_char(c->buf, c->len, '\n'), 1);
	assert_int_equal(c->buf[c->len - 1], '\n');
	assert_non_null(strstr(c->buf, "path /v1/x\\x0a2026-01-01T00:00:00.000Z error forged\n"));

	log_info("a\rb\tc%s", "\x1b[31md\x01");
	capture_read(c);
	assert_int_equal(count_char(c->buf, c->len, '\n'), 1);
	assert_non_null(strstr(c->buf, " info a\\x0db\\x09c\\x1b[31md\\x01\n"));

	/* The request id is input too. */
	log_set_request_id("id\nforged");
	log_info("x");
	capture_read(c);
	assert_int_equal(count_char(c->buf, c->len, '\n'), 1);
	assert_non_null(strstr(c->buf, "req=id\\x0aforged x\n"));
}

static void test_log_truncates_long_message_to_one_line(void **state)
{
	struct capture *c = *state;
	size_t big = 3 * PIPE_BUF;
	char *msg = malloc(big + 1);
	const char *tail;

	assert_non_null(msg);
	memset(msg, 'a', big);
	msg[big] = '\0';
	log_info("%s", msg);
	capture_read(c);
	assert_int_equal(count_char(c->buf, c->len, '\n'), 1);
	assert_true(c->len <= PIPE_BUF);
	assert_true(c->len > PIPE_BUF - 16);
	tail = c->buf + c->len - (sizeof(ELLIPSIS) - 1) - 1;
	assert_memory_equal(tail, ELLIPSIS "\n", sizeof(ELLIPSIS));
	assert_int_equal(tail[-1], 'a');

	/* Escapes grow a message fourfold; the cut never splits one. */
	memset(msg, '\n', big);
	log_warn("%s", msg);
	capture_read(c);
	assert_int_equal(count_char(c->buf, c->len, '\n'), 1);
	assert_true(c->len <= PIPE_BUF);
	tail = c->buf + c->len - (sizeof(ELLIPSIS) - 1) - 1;
	assert_memory_equal(tail, ELLIPSIS "\n", sizeof(ELLIPSIS));
	assert_memory_equal(tail - 4, "\\x0a", 4);

	/* Nor a multi-byte character: fill with U+00E9 (2 bytes). */
	for (size_t i = 0; i + 1 < big; i += 2)
		memcpy(msg + i, "\xc3\xa9", 2);
	msg[big - (big % 2)] = '\0';
	log_info("x%s", msg);
	capture_read(c);
	tail = c->buf + c->len - (sizeof(ELLIPSIS) - 1) - 1;
	assert_memory_equal(tail, ELLIPSIS "\n", sizeof(ELLIPSIS));
	assert_memory_equal(tail - 2, "\xc3\xa9", 2);
	free(msg);
}

static void test_log_keeps_callers_errno(void **state)
{
	struct capture *c = *state;

	errno = ENOENT;
	log_error("open: %m");
	assert_int_equal(errno, ENOENT);
	capture_read(c);
	assert_non_null(strstr(c->buf, "open: No such file or directory\n"));
}

static void test_log_level_parse_round_trip(void **state)
{
	enum log_level l;

	(void)state;
	for (l = LOG_LEVEL_ERROR; l <= LOG_LEVEL_DEBUG; l++)
		assert_int_equal(log_level_parse(log_level_name(l)), (int)l);
	assert_string_equal(log_level_name(LOG_LEVEL_ERROR), "error");
	assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
	assert_string_equal(log_level_name(LOG_LEVEL_INFO), "info");
	assert_string_equal(log_level_name(LOG_LEVEL_DEBUG), "debug");
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_int_equal(log_level_parse(""), -1);
	assert_int_equal(log_level_parse("info "), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_line_has_utc_timestamp_and_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_drops_lines_above_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_tags_request_id_per_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_request_id_is_copied_and_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_escapes_newline_and_control_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_truncates_long_message_to_one_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_keeps_callers_errno, setup, teardown),
		cmocka_unit_test(test_log_level_parse_round_trip),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
