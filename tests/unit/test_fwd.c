// SPDX-License-Identifier: Apache-2.0
/*
 * Forwarding fields: X-Forwarded-For, X-Forwarded-Proto, Via and Via loop
 * detection, on heads parsed by http1_parse() from buffers that end right
 * before a guard page.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard_page.h"
#include "http/fwd.h"
#include "http/http1.h"

static struct guarded g;
static struct http1_header hdr[32];
static struct http1_parser p;

/* Parses a request head; the buffer stays mapped until the next call. */
static const struct http1_message *req(const char *head)
{
	size_t len = strlen(head);

	if (g.map)
		guarded_fini(&g);
	assert_int_equal(guarded_init(&g, head, len), 0);
	http1_parser_init(&p, HTTP1_F_REQUEST, hdr, 32, 8192);
	assert_int_equal(http1_parse(&p, g.data, len), (long)len);
	return &p.msg;
}

static int teardown(void **state)
{
	(void)state;
	if (g.map)
		guarded_fini(&g);
	return 0;
}

static void assert_out(const char *out, size_t len, const char *want)
{
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
}

static void test_fwd_creates_x_forwarded_for(void **state)
{
	const struct http1_message *m = req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	char out[128];
	size_t len;

	(void)state;
	assert_int_equal(fwd_xff(out, sizeof(out), m, "192.0.2.7", 9, &len), 0);
	assert_out(out, len, "X-Forwarded-For: 192.0.2.7\r\n");
}

static void test_fwd_appends_to_every_x_forwarded_for_in_order(void **state)
{
	const struct http1_message *m = req(
		"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1, 10.0.0.1\r\n"
		"Accept: */*\r\nx-forwarded-for: 10.0.0.2\r\nX-Forwarded-For:\r\n\r\n");
	char out[128];
	size_t len;

	(void)state;
	assert_int_equal(fwd_xff(out, sizeof(out), m, "192.0.2.7", 9, &len), 0);
	assert_out(out, len, "X-Forwarded-For: 203.0.113.1, 10.0.0.1, 10.0.0.2, "
		   "192.0.2.7\r\n");
}

static void test_fwd_writes_ipv6_clients_without_brackets(void **state)
{
	const struct http1_message *m = req(
		"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 2001:db8::1\r\n\r\n");
	char out[128];
	size_t len;

	(void)state;
	assert_int_equal(fwd_xff(out, sizeof(out), m, "2001:db8::2", 11, &len), 0);
	assert_out(out, len, "X-Forwarded-For: 2001:db8::1, 2001:db8::2\r\n");
	assert_int_equal(fwd_xff(out, sizeof(out), m, "::ffff:192.0.2.1", 16, &len), 0);
}

static void test_fwd_refuses_a_client_address_that_is_not_an_ip(void **state)
{
	const struct http1_message *m = req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	static const char *const bad[] = {
		"", "example.com", "[2001:db8::1]", "192.0.2.1:80", "192.0.2.1\r\nX: y",
		"1.2.3.4 ", "2001:db8::1%eth0",
		"0000000000000000000000000000000000000000000000000000000000000000001",
	};
	char out[256];
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(fwd_xff(out, sizeof(out), m, bad[i], strlen(bad[i]),
					 &len), -EINVAL);
	assert_int_equal(fwd_xff(out, sizeof(out), m, NULL, 0, &len), -EINVAL);
}

static void test_fwd_formats_socket_addresses(void **state)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr un = { .sa_family = AF_UNIX };
	char out[FWD_ADDR_MAX];

	(void)state;
	inet_pton(AF_INET, "198.51.100.9", &in.sin_addr);
	assert_int_equal(fwd_addr_text((struct sockaddr *)&in, out, sizeof(out)), 12);
	assert_string_equal(out, "198.51.100.9");
	inet_pton(AF_INET6, "2001:db8::42", &in6.sin6_addr);
	assert_int_equal(fwd_addr_text((struct sockaddr *)&in6, out, sizeof(out)), 12);
	assert_string_equal(out, "2001:db8::42");
	/* A dual-stack socket's view of an IPv4 client. */
	inet_pton(AF_INET6, "::ffff:192.0.2.5", &in6.sin6_addr);
	assert_int_equal(fwd_addr_text((struct sockaddr *)&in6, out, sizeof(out)), 9);
	assert_string_equal(out, "192.0.2.5");
	assert_int_equal(fwd_addr_text((struct sockaddr *)&in6, out, 9), -ENOSPC);
	assert_int_equal(fwd_addr_text(&un, out, sizeof(out)), -EAFNOSUPPORT);
}

static void test_fwd_sets_x_forwarded_proto(void **state)
{
	char out[64];
	size_t len;

	(void)state;
	assert_int_equal(fwd_xfp(out, sizeof(out), true, &len), 0);
	assert_out(out, len, "X-Forwarded-Proto: https\r\n");
	assert_int_equal(fwd_xfp(out, sizeof(out), false, &len), 0);
	assert_out(out, len, "X-Forwarded-Proto: http\r\n");
}

static void test_fwd_creates_via(void **state)
{
	char out[128];
	size_t len;

	(void)state;
	assert_int_equal(fwd_via(out, sizeof(out), req("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
				 FWD_PSEUDONYM, &len), 0);
	assert_out(out, len, "Via: 1.1 tollgate\r\n");
	/* received-protocol is the version the message arrived with. */
	assert_int_equal(fwd_via(out, sizeof(out), req("GET / HTTP/1.0\r\n\r\n"),
				 FWD_PSEUDONYM, &len), 0);
	assert_out(out, len, "Via: 1.0 tollgate\r\n");
}

static void test_fwd_appends_to_the_via_list(void **state)
{
	const struct http1_message *m = req(
		"GET / HTTP/1.1\r\nHost: a\r\nVia: 1.0 fred, 1.1 p.example.net (Apache/2.4)\r\n"
		"VIA: HTTP/2 edge:8443\r\n\r\n");
	char out[128];
	size_t len;

	(void)state;
	assert_int_equal(fwd_via(out, sizeof(out), m, "tollgate-eu1", &len), 0);
	assert_out(out, len, "Via: 1.0 fred, 1.1 p.example.net (Apache/2.4), "
		   "HTTP/2 edge:8443, 1.1 tollgate-eu1\r\n");
}

static void test_fwd_detects_a_via_loop(void **state)
{
	static const char *const loops[] = {
		"Via: 1.1 tollgate\r\n",
		"Via: 1.0 fred, 1.1 TollGate\r\n",
		"Via: 1.1 a (x, y), 1.1 tollgate (tollgate/0.1)\r\n",
		"Via: HTTP/1.1 tollgate:8080\r\n",
		"Via: 1.1 x\r\nVia: 2 tollgate\r\n",
		"Via:  ,, 1.1\ttollgate ,\r\n",
	};
	static const char *const fine[] = {
		"",
		"Via: 1.1 tollgate-eu1\r\n",
		"Via: 1.1 mytollgate\r\n",
		"Via: 1.1 edge (via tollgate, 1.1 tollgate)\r\n",
		"Via: 1.1 edge (x, 1.1 tollgate, y)\r\n",
		"Via: 1.1 edge (a (b, 1.1 tollgate) c, 1.1 tollgate)\r\n",
		"Via: 1.1 tollgate_2\r\n",
		"Via: 1.1 a (\\) 1.1 tollgate)\r\n",
		"Via: tollgate\r\n",
		"Via: 1.1 tollgate:http\r\n",
		"X-Via: 1.1 tollgate\r\n",
	};
	char head[256];

	(void)state;
	for (size_t i = 0; i < sizeof(loops) / sizeof(loops[0]); i++) {
		snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", loops[i]);
		if (!fwd_has_via_loop(req(head), FWD_PSEUDONYM))
			fail_msg("no loop seen in %s", loops[i]);
	}
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", fine[i]);
		if (fwd_has_via_loop(req(head), FWD_PSEUDONYM))
			fail_msg("a loop seen in %s", fine[i]);
	}
}

static void test_fwd_answers_a_loop_without_writing(void **state)
{
	const struct http1_message *m = req(
		"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nVia: 1.1 tollgate\r\n\r\n");
	char out[256];
	size_t len = 99;

	(void)state;
	assert_int_equal(fwd_request_fields(out, sizeof(out), m, "192.0.2.7", 9,
					    true, FWD_PSEUDONYM, &len), -ELOOP);
	assert_int_equal(len, 0);
	assert_int_equal(FWD_LOOP_STATUS, 508);
	/* Another node's pseudonym: no loop, the chain grows. */
	assert_int_equal(fwd_request_fields(out, sizeof(out), m, "192.0.2.7", 9,
					    true, "tollgate-eu1", &len), 0);
	assert_out(out, len, "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
		   "Via: 1.1 tollgate, 1.1 tollgate-eu1\r\n");
}

static void test_fwd_reports_the_size_needed(void **state)
{
	const struct http1_message *m = req(
		"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nVia: 1.1 a\r\n\r\n");
	char out[256];
	size_t need, len;

	(void)state;
	assert_int_equal(fwd_request_fields(out, sizeof(out), m, "2001:db8::1", 11,
					    false, FWD_PSEUDONYM, &need), 0);
	for (size_t cap = 0; cap < need; cap++) {
		memset(out, '#', sizeof(out));
		assert_int_equal(fwd_request_fields(out, cap, m, "2001:db8::1", 11,
						    false, FWD_PSEUDONYM, &len),
				 -ENOSPC);
		assert_int_equal(len, need);
		for (size_t i = cap; i < sizeof(out); i++)
			assert_int_equal(out[i], '#');
	}
	assert_int_equal(fwd_xff(out, 10, m, "10.0.0.2", 8, &len), -ENOSPC);
	assert_int_equal(len, strlen("X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n"));
	assert_int_equal(fwd_via(out, 5, m, FWD_PSEUDONYM, &len), -ENOSPC);
	assert_int_equal(len, strlen("Via: 1.1 a, 1.1 tollgate\r\n"));
	assert_int_equal(fwd_xfp(out, 0, true, &len), -ENOSPC);
	assert_int_equal(len, strlen("X-Forwarded-Proto: https\r\n"));
}

static void test_fwd_refuses_a_bad_pseudonym(void **state)
{
	const struct http1_message *m = req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	char out[256], longer[FWD_PSEUDONYM_MAX + 2];
	size_t len;

	(void)state;
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(fwd_via(out, sizeof(out), m, "", &len), -EINVAL);
	assert_int_equal(fwd_via(out, sizeof(out), m, "a b", &len), -EINVAL);
	assert_int_equal(fwd_via(out, sizeof(out), m, "a\r\nX: y", &len), -EINVAL);
	assert_int_equal(fwd_via(out, sizeof(out), m, longer, &len), -EINVAL);
	longer[FWD_PSEUDONYM_MAX] = '\0';
	assert_int_equal(fwd_via(out, sizeof(out), m, longer, &len), 0);
	assert_int_equal(fwd_request_fields(out, sizeof(out), m, "10.0.0.1", 8,
					    false, "a b", &len), -EINVAL);
}

static void test_fwd_names_the_fields_it_rewrites(void **state)
{
	const struct http1_message *m = req(
		"GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 1.2.3.4\r\nX-FORWARDED-PROTO: http\r\n"
		"via: 1.1 b\r\nX-Forwarded-Host: c\r\nForwarded: for=1.2.3.4\r\n\r\n");

	(void)state;
	assert_int_equal(m->n_headers, 6);
	assert_false(fwd_is_rewritten(&m->headers[0]));
	assert_true(fwd_is_rewritten(&m->headers[1]));
	assert_true(fwd_is_rewritten(&m->headers[2]));
	assert_true(fwd_is_rewritten(&m->headers[3]));
	assert_false(fwd_is_rewritten(&m->headers[4]));
	assert_false(fwd_is_rewritten(&m->headers[5]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fwd_creates_x_forwarded_for),
		cmocka_unit_test(test_fwd_appends_to_every_x_forwarded_for_in_order),
		cmocka_unit_test(test_fwd_writes_ipv6_clients_without_brackets),
		cmocka_unit_test(test_fwd_refuses_a_client_address_that_is_not_an_ip),
		cmocka_unit_test(test_fwd_formats_socket_addresses),
		cmocka_unit_test(test_fwd_sets_x_forwarded_proto),
		cmocka_unit_test(test_fwd_creates_via),
		cmocka_unit_test(test_fwd_appends_to_the_via_list),
		cmocka_unit_test(test_fwd_detects_a_via_loop),
		cmocka_unit_test(test_fwd_answers_a_loop_without_writing),
		cmocka_unit_test(test_fwd_reports_the_size_needed),
		cmocka_unit_test(test_fwd_refuses_a_bad_pseudonym),
		cmocka_unit_test(test_fwd_names_the_fields_it_rewrites),
	};

	return cmocka_run_group_tests_name("fwd", tests, NULL, teardown);
}
