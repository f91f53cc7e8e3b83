// SPDX-License-Identifier: Apache-2.0
/*
 * user/kern without the kernel: the verdict reason names, and libbpf's
 * messages arriving in the log as proper log lines.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/libbpf.h>

#include <tollgate/abi.h>

#include "core/log.h"
#include "kern/kern.h"

/* ---- reason names --------------------------------------------------------- */

static void test_kern_reason_names_are_unique_label_safe(void **state)
{
	unsigned int i, j;
	const char *p;

	(void)state;
	for (i = 0; i < TG_REASON__COUNT; i++) {
		const char *name = kern_reason_name(i);

		assert_non_null(name);
		assert_true(name[0] != '\0');
		assert_string_not_equal(name, "unknown");
		/* Names become metric label values and JSON keys. */
		for (p = name; *p; p++)
			assert_true((*p >= 'a' && *p <= 'z') ||
				    (*p >= '0' && *p <= '9') || *p == '_');
		for (j = 0; j < i; j++)
			assert_string_not_equal(name, kern_reason_name(j));
	}
}

/* The names are an interface (metrics, tollctl): spot-check the spelling. */
static void test_kern_reason_names_match_abi_list(void **state)
{
	(void)state;
	assert_string_equal(kern_reason_name(TG_REASON_PASS), "pass");
	assert_string_equal(kern_reason_name(TG_REASON_NON_IP), "non_ip");
	assert_string_equal(kern_reason_name(TG_REASON_MALFORMED), "malformed");
	assert_string_equal(kern_reason_name(TG_REASON_PENALTY), "penalty_box");
	assert_string_equal(kern_reason_name(TG_REASON_FLOOD_GUARD),
			    "flood_guard");
}

static void test_kern_reason_out_of_range_is_unknown(void **state)
{
	(void)state;
	assert_string_equal(kern_reason_name(TG_REASON__COUNT), "unknown");
	assert_string_equal(kern_reason_name(TG_REASON__COUNT + 1), "unknown");
	assert_string_equal(kern_reason_name(UINT_MAX), "unknown");
}

/* ---- libbpf → log ---------------------------------------------------------- */

static int log_fd = -1;
static char captured[1 << 16];

static int group_setup(void **state)
{
	(void)state;
	log_fd = memfd_create("test_kern_log", MFD_CLOEXEC);
	if (log_fd < 0)
		return -1;
	log_set_fd(log_fd);
	kern_log_init();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	log_set_fd(STDERR_FILENO);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	return 0;
}

/* Each test starts with an empty log at the default level. */
static int log_reset(void **state)
{
	(void)state;
	log_set_level(LOG_LEVEL_INFO);
	if (ftruncate(log_fd, 0) < 0 || lseek(log_fd, 0, SEEK_SET) < 0)
		return -1;
	return 0;
}

/* The log so far, NUL-terminated in `captured`. */
static const char *log_text(void)
{
	ssize_t n;
	size_t len = 0;

	assert_int_equal(lseek(log_fd, 0, SEEK_SET), 0);
	while (len < sizeof(captured) - 1) {
		n = read(log_fd, captured + len, sizeof(captured) - 1 - len);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	captured[len] = '\0';
	assert_int_equal(lseek(log_fd, 0, SEEK_END), (off_t)len);
	return captured;
}

static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Every line of the log starts with a timestamp and carries "libbpf: ". */
static void assert_lines_are_libbpf(const char *text)
{
	const char *line = text, *nl;

	while ((nl = strchr(line, '\n'))) {
		assert_true(nl > line);	/* no empty line */
		assert_true(line[0] >= '0' && line[0] <= '9');
		assert_non_null(memmem(line, (size_t)(nl - line), "libbpf: ",
				       strlen("libbpf: ")));
		line = nl + 1;
	}
	assert_string_equal(line, "");	/* ends with a newline */
}

/* The callback kern_log_init installed, to drive it with chosen messages. */
static libbpf_print_fn_t installed_print(void)
{
	libbpf_print_fn_t fn = libbpf_set_print(NULL);

	libbpf_set_print(fn);
	assert_non_null(fn);
	return fn;
}

__attribute__((format(printf, 3, 4)))
static void libbpf_says(libbpf_print_fn_t fn, enum libbpf_print_level level,
			const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fn(level, fmt, ap);
	va_end(ap);
}

static void test_kern_libbpf_warning_reaches_log(void **state)
{
	struct bpf_object *obj;
	const char *text;

	(void)state;
	obj = bpf_object__open_file("/nonexistent/tollgate/test_kern.bpf.o",
				    NULL);
	assert_null(obj);

	text = log_text();
	assert_non_null(strstr(text, "libbpf: "));
	assert_non_null(strstr(text, " warn "));
	assert_non_null(strstr(text, "/nonexistent/tollgate/test_kern.bpf.o"));
	/* libbpf ends its messages with '\n'; the log adds its own and would
	 * escape a second one as \x0a. */
	assert_null(strstr(text, "\\x0a"));
	assert_lines_are_libbpf(text);
}

/* A verifier log is one multi-line message: one log line per line. */
static void test_kern_libbpf_multiline_message_is_split(void **state)
{
	libbpf_print_fn_t fn = installed_print();
	const char *text;

	(void)state;
	libbpf_says(fn, LIBBPF_WARN,
		    "libbpf: prog '%s': -- BEGIN PROG LOAD LOG --\n"
		    "0: (b7) r0 = 0\n"
		    "; \treturn XDP_PASS;\n"
		    "\n"
		    "-- END PROG LOAD LOG --\n", "tg_xdp_ingress");

	text = log_text();
	assert_int_equal(count_lines(text), 4);
	assert_lines_are_libbpf(text);
	assert_non_null(strstr(text, "libbpf: prog 'tg_xdp_ingress': -- BEGIN"));
	assert_non_null(strstr(text, "libbpf: 0: (b7) r0 = 0\n"));
	assert_non_null(strstr(text, "libbpf: ;  return XDP_PASS;\n"));
	assert_non_null(strstr(text, "libbpf: -- END PROG LOAD LOG --\n"));
	assert_null(strstr(text, "\\x0a"));
	assert_null(strstr(text, "\\x09"));
	assert_null(strstr(text, "libbpf: libbpf:"));
}

/* Longer than any stack buffer: the end, where a verifier log says what
 * failed, still arrives. */
static void test_kern_libbpf_long_message_keeps_its_end(void **state)
{
	libbpf_print_fn_t fn = installed_print();
	static char body[20000];
	const char *text;
	size_t i;

	(void)state;
	for (i = 0; i + 1 < sizeof(body); i++)
		body[i] = (i % 64 == 63) ? '\n' : 'a' + (char)(i % 26);
	body[sizeof(body) - 1] = '\0';

	libbpf_says(fn, LIBBPF_WARN, "libbpf: start\n%s\nR1 invalid mem access\n",
		    body);

	text = log_text();
	assert_non_null(strstr(text, "libbpf: start\n"));
	assert_non_null(strstr(text, "libbpf: R1 invalid mem access\n"));
	assert_null(strstr(text, "message cut"));
	assert_lines_are_libbpf(text);
}

/* libbpf's levels map onto the log's, and the log's level filters them. */
static void test_kern_libbpf_levels_follow_log_level(void **state)
{
	libbpf_print_fn_t fn = installed_print();
	const char *text;

	(void)state;
	libbpf_says(fn, LIBBPF_INFO, "libbpf: %s\n", "info-marker");
	libbpf_says(fn, LIBBPF_DEBUG, "libbpf: %s\n", "debug-marker-dropped");
	text = log_text();
	assert_non_null(strstr(text, " info libbpf: info-marker\n"));
	assert_null(strstr(text, "debug-marker"));

	log_set_level(LOG_LEVEL_DEBUG);
	libbpf_says(fn, LIBBPF_DEBUG, "libbpf: %s\n", "debug-marker-kept");
	text = log_text();
	assert_non_null(strstr(text, " debug libbpf: debug-marker-kept\n"));

	log_set_level(LOG_LEVEL_ERROR);
	libbpf_says(fn, LIBBPF_WARN, "libbpf: %s\n", "warn-marker-dropped");
	text = log_text();
	assert_null(strstr(text, "warn-marker"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kern_reason_names_are_unique_label_safe),
		cmocka_unit_test(test_kern_reason_names_match_abi_list),
		cmocka_unit_test(test_kern_reason_out_of_range_is_unknown),
		cmocka_unit_test_setup(test_kern_libbpf_warning_reaches_log,
				       log_reset),
		cmocka_unit_test_setup(test_kern_libbpf_multiline_message_is_split,
				       log_reset),
		cmocka_unit_test_setup(test_kern_libbpf_long_message_keeps_its_end,
				       log_reset),
		cmocka_unit_test_setup(test_kern_libbpf_levels_follow_log_level,
				       log_reset),
	};

	return cmocka_run_group_tests_name("kern", tests, group_setup,
					   group_teardown);
}
