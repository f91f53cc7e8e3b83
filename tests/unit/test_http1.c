// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP/1.1 head parser and chunked codec. Every input is parsed whole,
 * then again split at every byte boundary (each piece in its own buffer,
 * so spans must follow the bytes when they move) and byte by byte; all
 * three must give the same result. Every buffer ends right before a guard
 * page, so reading one byte past the input crashes the test.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "guard_page.h"
#include "http/http1.h"

#define NHDR		64
#define HEAD_MAX	8192

struct result {
	long rc;
	int err;
	struct http1_message msg;
	struct http1_header hdr[NHDR];
	const char *base;
};

/* Offsets of a span from the buffer it points into; -1 for NULL. */
static long off(const struct result *r, struct http1_span s)
{
	return s.p ? (long)(s.p - r->base) : -1;
}

static void span_same(const struct result *a, struct http1_span x,
		      const struct result *b, struct http1_span y)
{
	assert_int_equal(off(a, x), off(b, y));
	assert_int_equal(x.len, y.len);
}

static void result_same(const struct result *a, const struct result *b)
{
	const struct http1_message *x = &a->msg, *y = &b->msg;

	assert_int_equal(a->rc, b->rc);
	assert_int_equal(a->err, b->err);
	if (a->rc <= 0)
		return;
	span_same(a, x->method, b, y->method);
	span_same(a, x->target, b, y->target);
	span_same(a, x->reason, b, y->reason);
	span_same(a, x->host, b, y->host);
	span_same(a, x->upgrade, b, y->upgrade);
	assert_int_equal(x->method_id, y->method_id);
	assert_int_equal(x->target_form, y->target_form);
	assert_int_equal(x->status, y->status);
	assert_int_equal(x->version_minor, y->version_minor);
	assert_int_equal(x->body, y->body);
	assert_int_equal(x->flags, y->flags);
	assert_int_equal(x->content_length, y->content_length);
	assert_int_equal(x->head_len, y->head_len);
	assert_int_equal(x->n_headers, y->n_headers);
	for (size_t i = 0; i < x->n_headers; i++) {
		span_same(a, x->headers[i].name, b, y->headers[i].name);
		span_same(a, x->headers[i].value, b, y->headers[i].value);
		assert_int_equal(x->headers[i].id, y->headers[i].id);
		assert_int_equal(x->headers[i].flags, y->headers[i].flags);
	}
	assert_int_equal(x->n_conn_tokens, y->n_conn_tokens);
	for (uint32_t i = 0; i < x->n_conn_tokens; i++)
		span_same(a, x->conn_tokens[i], b, y->conn_tokens[i]);
}

static void store(struct result *r, struct http1_parser *p, long rc,
		  const char *base)
{
	r->rc = rc;
	r->err = rc < 0 ? p->err : 0;
	r->msg = p->msg;
	r->msg.headers = r->hdr;
	r->base = base;
	/* p->headers is r->hdr already. */
}

/*
 * Parses in[0..len) whole into *out (whose buffer stays mapped until
 * parse_fini), and checks every two-piece split and the byte-by-byte feed
 * against it.
 */
static struct guarded whole_buf;

static void parse_check(uint32_t flags, size_t nhdr, size_t head_max,
			const char *in, size_t len, struct result *out)
{
	struct http1_parser p;
	struct result *r = calloc(1, sizeof(*r));
	bool early;
	long rc;

	assert_non_null(r);
	assert_int_equal(guarded_init(&whole_buf, in, len), 0);
	http1_parser_init(&p, flags, out->hdr, nhdr, head_max);
	rc = http1_parse(&p, whole_buf.data, len);
	store(out, &p, rc, whole_buf.data);
	/* Asking again gives the same answer. */
	assert_int_equal(http1_parse(&p, whole_buf.data, len), rc);

	for (size_t k = 0; k <= len; k++) {
		struct guarded first = { 0 };

		memset(r, 0, sizeof(*r));
		http1_parser_init(&p, flags, r->hdr, nhdr, head_max);
		assert_int_equal(guarded_init(&first, in, k), 0);
		rc = http1_parse(&p, first.data, k);
		early = rc != 0;
		if (rc == 0)
			rc = http1_parse(&p, whole_buf.data, len);
		else
			assert_int_equal(rc, out->rc);
		guarded_fini(&first);
		store(r, &p, rc, whole_buf.data);
		if (early && rc > 0) {
			/* Done within the prefix: spans point into it, which
			 * is gone; compare the scalars only. */
			assert_int_equal(r->msg.head_len, out->msg.head_len);
			continue;
		}
		result_same(out, r);
	}

	memset(r, 0, sizeof(*r));
	http1_parser_init(&p, flags, r->hdr, nhdr, head_max);
	rc = 0;
	for (size_t k = 1; k <= len && rc == 0; k++)
		rc = http1_parse(&p, whole_buf.data, k);
	store(r, &p, rc, whole_buf.data);
	if (len)
		result_same(out, r);
	free(r);
}

static void parse_fini(void)
{
	guarded_fini(&whole_buf);
}

static struct result *parse_req(const char *in, struct result *r)
{
	parse_check(HTTP1_F_REQUEST, NHDR, HEAD_MAX, in, strlen(in), r);
	return r;
}

static struct result *parse_resp(uint32_t flags, const char *in, struct result *r)
{
	parse_check(flags, NHDR, HEAD_MAX, in, strlen(in), r);
	return r;
}

static void assert_span(struct http1_span s, const char *want)
{
	assert_non_null(s.p);
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

static void expect_error(uint32_t flags, const char *in, size_t len, int err,
			 int status)
{
	struct result *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	parse_check(flags, NHDR, HEAD_MAX, in, len, r);
	if (r->rc != -err)
		fail_msg("expected error %d (%s), got %ld (%s)", err,
			 http1_strerror(err), r->rc, http1_strerror((int)-r->rc));
	assert_int_equal(r->err, err);
	assert_int_equal(http1_error_status(err), status);
	assert_string_not_equal(http1_strerror(err), "unknown error");
	parse_fini();
	free(r);
}

#define REJECT(...) REJECT_(__VA_ARGS__)
#define REJECT_(name, flags, in, err, status)				\
	static void test_http1_rejects_##name(void **state)		\
	{								\
		(void)state;						\
		expect_error(flags, in, sizeof(in) - 1, err, status);	\
	}
#define REQ(x) HTTP1_F_REQUEST, x
#define RESP(x) 0, x

/* ---- rejections: framing (RFC 9112 §6) ---------------------------------- */

REJECT(te_and_cl, REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	"Transfer-Encoding: chunked\r\n\r\n"), HTTP1_E_CL_AND_TE, 400)
REJECT(cl_and_te_in_response, RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	"Content-Length: 5\r\n\r\n"), HTTP1_E_CL_AND_TE, 400)
REJECT(te_gzip_chunked, REQ("POST / HTTP/1.1\r\nHost: a\r\n"
	"Transfer-Encoding: gzip, chunked\r\n\r\n"), HTTP1_E_TE_CODING, 400)
REJECT(te_chunked_not_last, REQ("POST / HTTP/1.1\r\nHost: a\r\n"
	"Transfer-Encoding: chunked, gzip\r\n\r\n"), HTTP1_E_TE_CODING, 400)
REJECT(te_chunked_twice_in_one_field, REQ("POST / HTTP/1.1\r\nHost: a\r\n"
	"Transfer-Encoding: chunked, chunked\r\n\r\n"), HTTP1_E_TE_CODING, 400)
REJECT(te_identity, REQ("POST / HTTP/1.1\r\nHost: a\r\n"
	"Transfer-Encoding: identity\r\n\r\n"), HTTP1_E_TE_CODING, 400)
REJECT(te_chunked_with_junk, REQ("POST / HTTP/1.1\r\nHost: a\r\n"
	"Transfer-Encoding: chunkedx\r\n\r\n"), HTTP1_E_TE_CODING, 400)
REJECT(te_in_two_fields, REQ("POST / HTTP/1.1\r\nHost: a\r\n"
	"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
	HTTP1_E_TE_REPEATED, 400)
REJECT(te_in_http10, REQ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	HTTP1_E_TE_HTTP10, 400)
REJECT(duplicate_equal_cl, REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	"Content-Length: 5\r\n\r\n"), HTTP1_E_CL_DUPLICATE, 400)
REJECT(duplicate_different_cl, REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	"content-length: 6\r\n\r\n"), HTTP1_E_CL_DUPLICATE, 400)
REJECT(cl_list, REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
	HTTP1_E_CL_INVALID, 400)
REJECT(cl_plus_sign, REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"),
	HTTP1_E_CL_INVALID, 400)
REJECT(cl_minus_sign, REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n"),
	HTTP1_E_CL_INVALID, 400)
REJECT(cl_space_inside, REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n"),
	HTTP1_E_CL_INVALID, 400)
REJECT(cl_non_digit, REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"),
	HTTP1_E_CL_INVALID, 400)
REJECT(cl_empty, REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"),
	HTTP1_E_CL_INVALID, 400)
REJECT(cl_over_2_63, REQ("POST / HTTP/1.1\r\nHost: a\r\n"
	"Content-Length: 9223372036854775808\r\n\r\n"), HTTP1_E_CL_OVERFLOW, 400)
REJECT(cl_over_2_64, REQ("POST / HTTP/1.1\r\nHost: a\r\n"
	"Content-Length: 99999999999999999999999\r\n\r\n"), HTTP1_E_CL_OVERFLOW, 400)

/* ---- rejections: lines and fields (RFC 9112 §2.2, §5) ------------------- */

REJECT(obs_fold, REQ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"),
	HTTP1_E_OBS_FOLD, 400)
REJECT(obs_fold_with_tab, REQ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n"),
	HTTP1_E_OBS_FOLD, 400)
REJECT(whitespace_after_start_line, REQ("GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
	HTTP1_E_WS_AFTER_START_LINE, 400)
REJECT(bare_cr_in_value, REQ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n"),
	HTTP1_E_BARE_CR, 400)
REJECT(bare_cr_in_name, REQ("GET / HTTP/1.1\r\nHost: a\r\nX\r-A: b\r\n\r\n"),
	HTTP1_E_BARE_CR, 400)
REJECT(bare_cr_in_request_line, REQ("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_BARE_CR, 400)
REJECT(bare_cr_at_end_of_request_line, REQ("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"),
	HTTP1_E_BARE_CR, 400)
REJECT(bare_lf_after_request_line, REQ("GET / HTTP/1.1\nHost: a\r\n\r\n"),
	HTTP1_E_BARE_LF, 400)
REJECT(bare_lf_after_field, REQ("GET / HTTP/1.1\r\nHost: a\n\r\n"),
	HTTP1_E_BARE_LF, 400)
REJECT(bare_lf_as_last_line, REQ("GET / HTTP/1.1\r\nHost: a\r\n\n"),
	HTTP1_E_BARE_LF, 400)
REJECT(space_before_colon, REQ("GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
	HTTP1_E_WS_BEFORE_COLON, 400)
REJECT(tab_before_colon, REQ("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"),
	HTTP1_E_WS_BEFORE_COLON, 400)
REJECT(name_with_space, REQ("GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n"),
	HTTP1_E_WS_BEFORE_COLON, 400)
REJECT(empty_field_name, REQ("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"),
	HTTP1_E_EMPTY_NAME, 400)
REJECT(invalid_name_char, REQ("GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n"),
	HTTP1_E_NAME_CHAR, 400)
REJECT(non_ascii_name, REQ("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n"),
	HTTP1_E_NAME_CHAR, 400)
REJECT(field_without_colon, REQ("GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n"),
	HTTP1_E_NO_COLON, 400)
REJECT(nul_in_value, REQ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n"),
	HTTP1_E_VALUE_CHAR, 400)
REJECT(control_in_value, REQ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01\r\n\r\n"),
	HTTP1_E_VALUE_CHAR, 400)
REJECT(del_in_long_value, REQ("GET / HTTP/1.1\r\nHost: a\r\n"
	"X-A: 0123456789abcdef0123456789\x7f" "abcdef\r\n\r\n"), HTTP1_E_VALUE_CHAR, 400)
REJECT(escape_in_value, REQ("GET / HTTP/1.1\r\nHost: a\r\nX-A: \x1b[31m\r\n\r\n"),
	HTTP1_E_VALUE_CHAR, 400)

/* ---- rejections: request line (RFC 9112 §3) ------------------------------ */

REJECT(invalid_method_char, REQ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_METHOD_CHAR, 400)
REJECT(tab_after_method, REQ("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_METHOD_CHAR, 400)
REJECT(leading_space, REQ(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_REQUEST_LINE, 400)
REJECT(method_only, REQ("GET\r\nHost: a\r\n\r\n"), HTTP1_E_REQUEST_LINE, 400)
REJECT(missing_version, REQ("GET /\r\nHost: a\r\n\r\n"), HTTP1_E_REQUEST_LINE, 400)
REJECT(missing_space_before_version, REQ("GET /HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_REQUEST_LINE, 400)
REJECT(two_spaces_after_method, REQ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_MULTIPLE_SPACES, 400)
REJECT(two_spaces_after_target, REQ("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_MULTIPLE_SPACES, 400)
REJECT(trailing_space_after_version, REQ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"),
	HTTP1_E_VERSION, 400)
REJECT(quote_in_target, REQ("GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_TARGET_CHAR, 400)
REJECT(angle_bracket_in_target, REQ("GET /<script> HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_TARGET_CHAR, 400)
REJECT(fragment_in_target, REQ("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_TARGET_CHAR, 400)
REJECT(non_ascii_target, REQ("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_TARGET_CHAR, 400)
REJECT(nul_in_target, REQ("GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_TARGET_CHAR, 400)
REJECT(relative_target, REQ("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_TARGET_FORM, 400)
REJECT(absolute_form_without_flag, REQ("GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_TARGET_FORM, 400)
REJECT(asterisk_for_get, REQ("GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_TARGET_FORM, 400)
REJECT(connect, REQ("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
	HTTP1_E_CONNECT, 501)
REJECT(lowercase_version, REQ("GET / http/1.1\r\nHost: a\r\n\r\n"),
	HTTP1_E_VERSION, 400)
REJECT(short_version, REQ("GET / HTTP/1\r\nHost: a\r\n\r\n"), HTTP1_E_VERSION, 400)
REJECT(two_digit_minor, REQ("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), HTTP1_E_VERSION, 400)
REJECT(http2_version, REQ("GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
	HTTP1_E_VERSION_UNSUPPORTED, 505)
REJECT(http2_preface, REQ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
	HTTP1_E_VERSION_UNSUPPORTED, 505)
REJECT(http09_version, REQ("GET / HTTP/0.9\r\nHost: a\r\n\r\n"),
	HTTP1_E_VERSION_UNSUPPORTED, 505)
REJECT(http12_version, REQ("GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
	HTTP1_E_VERSION_UNSUPPORTED, 505)

/* ---- rejections: Host and Connection (RFC 9112 §3.2, RFC 9110 §7.6.1) ----- */

REJECT(http11_without_host, REQ("GET / HTTP/1.1\r\nX-A: b\r\n\r\n"),
	HTTP1_E_HOST_MISSING, 400)
REJECT(two_hosts, REQ("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"),
	HTTP1_E_HOST_DUPLICATE, 400)
REJECT(host_with_slash, REQ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
	HTTP1_E_HOST_INVALID, 400)
REJECT(host_with_space, REQ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
	HTTP1_E_HOST_INVALID, 400)
REJECT(connection_non_token, REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close; x\r\n\r\n"),
	HTTP1_E_CONNECTION_INVALID, 400)
REJECT(connection_two_tokens_without_comma, REQ("GET / HTTP/1.1\r\nHost: a\r\n"
	"Connection: a b\r\n\r\n"), HTTP1_E_CONNECTION_INVALID, 400)
REJECT(connection_too_many_options, REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: "
	"a1,a2,a3,a4,a5,a6,a7,a8,a9,a10,a11,a12,a13,a14,a15,a16,a17\r\n\r\n"),
	HTTP1_E_CONNECTION_TOO_MANY, 400)

/* ---- rejections: status line (RFC 9112 §4) --------------------------------- */

REJECT(status_line_without_code, RESP("HTTP/1.1\r\n\r\n"), HTTP1_E_STATUS_LINE, 400)
REJECT(status_code_below_100, RESP("HTTP/1.1 099 X\r\n\r\n"), HTTP1_E_STATUS_CODE, 400)
REJECT(status_code_above_599, RESP("HTTP/1.1 600 X\r\n\r\n"), HTTP1_E_STATUS_CODE, 400)
REJECT(status_code_not_digits, RESP("HTTP/1.1 2x0 X\r\n\r\n"), HTTP1_E_STATUS_CODE, 400)
REJECT(status_code_four_digits, RESP("HTTP/1.1 2000 X\r\n\r\n"), HTTP1_E_STATUS_CODE, 400)
REJECT(control_in_reason, RESP("HTTP/1.1 200 O\x01K\r\n\r\n"), HTTP1_E_REASON_CHAR, 400)
REJECT(http2_response, RESP("HTTP/2.0 200 OK\r\n\r\n"), HTTP1_E_VERSION_UNSUPPORTED, 505)
REJECT(empty_line_before_response, RESP("\r\nHTTP/1.1 200 OK\r\n\r\n"),
	HTTP1_E_STATUS_LINE, 400)

/* ---- accepting ------------------------------------------------------------------ */

static void test_http1_parses_a_get(void **state)
{
	static const char in[] = "GET /v1/models?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
		"User-Agent:  curl/8.5 \t\r\nAccept: */*\r\n\r\n";
	struct result r = { 0 };

	(void)state;
	parse_req(in, &r);
	assert_int_equal(r.rc, sizeof(in) - 1);
	assert_span(r.msg.method, "GET");
	assert_int_equal(r.msg.method_id, HTTP1_METHOD_GET);
	assert_span(r.msg.target, "/v1/models?x=1");
	assert_int_equal(r.msg.target_form, HTTP1_TARGET_ORIGIN);
	assert_int_equal(r.msg.version_minor, 1);
	assert_int_equal(r.msg.n_headers, 3);
	assert_span(r.hdr[0].name, "Host");
	assert_int_equal(r.hdr[0].id, HTTP1_H_HOST);
	assert_span(r.hdr[1].value, "curl/8.5");
	assert_span(r.hdr[2].value, "*/*");
	assert_span(r.msg.host, "example.com:8080");
	assert_int_equal(r.msg.body, HTTP1_BODY_NONE);
	assert_true(r.msg.flags & HTTP1_M_KEEP_ALIVE);
	assert_true(r.msg.flags & HTTP1_M_HOST);
	assert_int_equal(r.msg.head_len, sizeof(in) - 1);
	parse_fini();
}

static void test_http1_parses_a_post_with_content_length(void **state)
{
	static const char in[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n"
		"Content-Length: 1300\r\nContent-Type: application/json\r\n\r\n{\"model\"";
	struct result r = { 0 };

	(void)state;
	parse_req(in, &r);
	assert_int_equal(r.rc, sizeof(in) - 1 - 8);
	assert_int_equal(r.msg.method_id, HTTP1_METHOD_POST);
	assert_int_equal(r.msg.body, HTTP1_BODY_LENGTH);
	assert_int_equal(r.msg.content_length, 1300);
	assert_true(r.msg.flags & HTTP1_M_CONTENT_LENGTH);
	assert_int_equal(r.hdr[1].id, HTTP1_H_CONTENT_LENGTH);
	parse_fini();
}

static void test_http1_accepts_the_largest_content_length(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.content_length, INT64_MAX);
	parse_fini();
	parse_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000000042\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.content_length, 42);
	parse_fini();
}

static void test_http1_parses_a_chunked_request(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChunKed\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.body, HTTP1_BODY_CHUNKED);
	assert_true(r.msg.flags & HTTP1_M_CHUNKED);
	assert_true(r.hdr[1].flags & HTTP1_HF_HOP_BY_HOP);
	parse_fini();
}

static void test_http1_trims_ows_and_keeps_inner_whitespace(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t a \t b \t \r\nX-Empty:\r\n"
		  "X-Spaces:    \r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_span(r.hdr[0].value, "a");
	assert_span(r.hdr[1].value, "a \t b");
	assert_int_equal(r.hdr[2].value.len, 0);
	assert_int_equal(r.hdr[3].value.len, 0);
	parse_fini();
}

static void test_http1_accepts_obs_text_and_tabs_in_values(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\tand\xff ~!\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_span(r.hdr[1].value, "caf\xc3\xa9\tand\xff ~!");
	parse_fini();
}

static void test_http1_accepts_every_tchar_in_names_and_methods(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("M-!#$%&'*+.^_`|~09az AZ HTTP/1.1\r\nHost: a\r\n"
		  "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", &r);
	assert_int_equal(r.err, HTTP1_E_TARGET_FORM);
	parse_fini();
	parse_req("M-!#$%&'*+.^_`|~09az /a-._~:/?[]@!$&'()*+,;=%20 HTTP/1.1\r\nHost: a\r\n"
		  "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.method_id, HTTP1_METHOD_OTHER);
	assert_span(r.msg.method, "M-!#$%&'*+.^_`|~09az");
	assert_span(r.hdr[1].name, "!#$%&'*+-.^_`|~09azAZ");
	parse_fini();
}

static void test_http1_recognises_methods(void **state)
{
	static const struct { const char *in; int id; } cases[] = {
		{ "GET", HTTP1_METHOD_GET }, { "HEAD", HTTP1_METHOD_HEAD },
		{ "POST", HTTP1_METHOD_POST }, { "PUT", HTTP1_METHOD_PUT },
		{ "DELETE", HTTP1_METHOD_DELETE }, { "OPTIONS", HTTP1_METHOD_OPTIONS },
		{ "TRACE", HTTP1_METHOD_TRACE }, { "PATCH", HTTP1_METHOD_PATCH },
		{ "get", HTTP1_METHOD_OTHER }, { "PROPFIND", HTTP1_METHOD_OTHER },
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r = { 0 };

		snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].in);
		parse_req(buf, &r);
		assert_true(r.rc > 0);
		assert_int_equal(r.msg.method_id, cases[i].id);
		parse_fini();
	}
}

static void test_http1_http10_closes_by_default(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("GET / HTTP/1.0\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.version_minor, 0);
	assert_false(r.msg.flags & HTTP1_M_KEEP_ALIVE);
	assert_false(r.msg.flags & HTTP1_M_HOST);
	parse_fini();
}

static void test_http1_http10_keeps_alive_with_the_token(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_true(r.msg.flags & HTTP1_M_KEEP_ALIVE);
	assert_true(r.msg.flags & HTTP1_M_CONN_KEEPALIVE);
	assert_true(r.hdr[0].flags & HTTP1_HF_HOP_BY_HOP);
	assert_true(r.hdr[1].flags & HTTP1_HF_HOP_BY_HOP);
	parse_fini();
}

static void test_http1_connection_close_ends_keep_alive(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_true(r.msg.flags & HTTP1_M_CONN_CLOSE);
	assert_false(r.msg.flags & HTTP1_M_KEEP_ALIVE);
	assert_int_equal(r.msg.n_conn_tokens, 0);
	parse_fini();
}

static void test_http1_marks_connection_named_fields_hop_by_hop(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("GET / HTTP/1.1\r\nHost: a\r\nConnection: x-secret , ,X-Other\r\n"
		  "Connection: x-SECRET\r\nX-Secret: 1\r\nx-other: 2\r\nX-Kept: 3\r\n"
		  "TE: trailers\r\nTrailer: x\r\nProxy-Connection: keep-alive\r\n"
		  "Upgrade: websocket\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.n_conn_tokens, 2);
	assert_span(r.msg.conn_tokens[0], "x-secret");
	assert_span(r.msg.conn_tokens[1], "X-Other");
	assert_int_equal(r.hdr[0].flags, 0);			/* Host */
	assert_true(r.hdr[1].flags & HTTP1_HF_HOP_BY_HOP);	/* Connection */
	assert_true(r.hdr[2].flags & HTTP1_HF_HOP_BY_HOP);
	assert_true(r.hdr[3].flags & HTTP1_HF_HOP_BY_HOP);	/* X-Secret */
	assert_true(r.hdr[4].flags & HTTP1_HF_HOP_BY_HOP);	/* x-other */
	assert_int_equal(r.hdr[5].flags, 0);			/* X-Kept */
	for (size_t i = 6; i < 10; i++)
		assert_true(r.hdr[i].flags & HTTP1_HF_HOP_BY_HOP);
	assert_true(http1_is_hop_by_hop(&r.msg, "x-other", 7));
	assert_false(http1_is_hop_by_hop(&r.msg, "x-kept", 6));
	parse_fini();
}

static void test_http1_hop_by_hop_helper_names_the_standard_fields(void **state)
{
	static const char *const hop[] = {
		"Connection", "keep-alive", "PROXY-CONNECTION", "te", "Trailer",
		"transfer-encoding", "Upgrade",
	};
	static const char *const end_to_end[] = {
		"Host", "Content-Length", "Trailers", "Te ", "Authorization", "",
	};
	struct http1_message m;

	(void)state;
	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		assert_true(http1_is_hop_by_hop(&m, hop[i], strlen(hop[i])));
	for (size_t i = 0; i < sizeof(end_to_end) / sizeof(end_to_end[0]); i++)
		assert_false(http1_is_hop_by_hop(&m, end_to_end[i], strlen(end_to_end[i])));
}

static void test_http1_reports_expect_100_continue(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 9\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_true(r.msg.flags & HTTP1_M_EXPECT_CONTINUE);
	assert_false(r.msg.flags & HTTP1_M_EXPECT_OTHER);
	parse_fini();
	/* RFC 9110 §10.1.1: ignored in HTTP/1.0 */
	parse_req("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_false(r.msg.flags & (HTTP1_M_EXPECT_CONTINUE | HTTP1_M_EXPECT_OTHER));
	parse_fini();
	parse_req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_true(r.msg.flags & HTTP1_M_EXPECT_OTHER);
	parse_fini();
}

static void test_http1_reports_upgrade(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_true(r.msg.flags & HTTP1_M_UPGRADE);
	assert_true(r.msg.flags & HTTP1_M_CONN_UPGRADE);
	assert_span(r.msg.upgrade, "websocket");
	parse_fini();
}

static void test_http1_skips_empty_lines_before_a_request(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_span(r.msg.method, "GET");
	assert_int_equal(r.msg.head_len, 4 + 27);
	parse_fini();
}

static void test_http1_accepts_asterisk_form_for_options(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.target_form, HTTP1_TARGET_ASTERISK);
	parse_fini();
}

static void test_http1_accepts_absolute_form_when_allowed(void **state)
{
	static const char in[] = "GET http://[::1]:80/a?b HTTP/1.1\r\nHost: [::1]:80\r\n\r\n";
	struct result r = { 0 };

	(void)state;
	parse_check(HTTP1_F_REQUEST | HTTP1_F_ALLOW_ABSOLUTE, NHDR, HEAD_MAX, in,
		    sizeof(in) - 1, &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.target_form, HTTP1_TARGET_ABSOLUTE);
	assert_span(r.msg.target, "http://[::1]:80/a?b");
	parse_fini();
	parse_check(HTTP1_F_REQUEST | HTTP1_F_ALLOW_ABSOLUTE, NHDR, HEAD_MAX,
		    "GET a:b HTTP/1.1\r\nHost: a\r\n\r\n", 29, &r);
	assert_int_equal(r.err, HTTP1_E_TARGET_FORM);
	parse_fini();
}

static void test_http1_accepts_an_empty_host(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("GET / HTTP/1.1\r\nHost:\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_true(r.msg.flags & HTTP1_M_HOST);
	assert_int_equal(r.msg.host.len, 0);
	parse_fini();
}

static void test_http1_needs_more_until_the_empty_line(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_req("GET / HTTP/1.1\r\nHost: a\r\n\r", &r);
	assert_int_equal(r.rc, 0);
	parse_fini();
	parse_req("", &r);
	assert_int_equal(r.rc, 0);
	parse_fini();
}

static void test_http1_parses_pipelined_requests(void **state)
{
	static const char in[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
		"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
		"GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	struct http1_header hdr[8];
	struct http1_parser p;
	struct guarded g = { 0 };
	size_t pos = 0;
	long rc;

	(void)state;
	assert_int_equal(guarded_init(&g, in, sizeof(in) - 1), 0);
	http1_parser_init(&p, HTTP1_F_REQUEST, hdr, 8, HEAD_MAX);
	rc = http1_parse(&p, g.data, sizeof(in) - 1);
	assert_int_equal(rc, 28);
	assert_span(p.msg.target, "/1");
	pos += (size_t)rc;

	http1_parser_reset(&p);
	rc = http1_parse(&p, g.data + pos, sizeof(in) - 1 - pos);
	assert_true(rc > 0);
	assert_span(p.msg.target, "/2");
	assert_int_equal(p.msg.content_length, 3);
	pos += (size_t)rc + p.msg.content_length;

	http1_parser_reset(&p);
	rc = http1_parse(&p, g.data + pos, sizeof(in) - 1 - pos);
	assert_int_equal(rc, sizeof(in) - 1 - pos);
	assert_span(p.msg.target, "/3");
	assert_false(p.msg.flags & HTTP1_M_KEEP_ALIVE);
	guarded_fini(&g);
}

static void test_http1_keeps_returning_the_first_error(void **state)
{
	struct http1_header hdr[4];
	struct http1_parser p;
	static const char in[] = "GET / HTTP/1.1\r\nHost : a\r\n\r\n";

	(void)state;
	http1_parser_init(&p, HTTP1_F_REQUEST, hdr, 4, HEAD_MAX);
	assert_int_equal(http1_parse(&p, in, sizeof(in) - 1), -HTTP1_E_WS_BEFORE_COLON);
	assert_int_equal(p.err_off, 20);
	assert_int_equal(http1_parse(&p, in, sizeof(in) - 1), -HTTP1_E_WS_BEFORE_COLON);
	assert_string_equal(http1_strerror(-HTTP1_E_WS_BEFORE_COLON),
			    "whitespace between field name and colon");
	assert_string_equal(http1_strerror(9999), "unknown error");
}

static void test_http1_byte_by_byte_feed_stays_linear(void **state)
{
	/* 1 MB in one field line, fed one byte more per call: linear work
	 * is a few milliseconds; rescanning the line at each call would be
	 * 5e11 byte visits, many seconds even for a vectorised memchr. */
	enum { N = 1 << 20 };
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ";
	struct http1_header hdr[4];
	struct http1_parser p;
	struct timespec t0, t1;
	char *s = malloc(N);
	long rc = 0;

	(void)state;
	assert_non_null(s);
	memset(s, 'v', N);
	memcpy(s, pre, sizeof(pre) - 1);
	memcpy(s + N - 4, "\r\n\r\n", 4);
	http1_parser_init(&p, HTTP1_F_REQUEST, hdr, 4, N);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t k = 1; k <= N && rc == 0; k++)
		rc = http1_parse(&p, s, k);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(rc, N);
	assert_int_equal(hdr[1].value.len, N - 4 - (sizeof(pre) - 1));
	assert_true((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) <
		    1000000000L);
	free(s);
}

static void test_http1_compares_spans_ignoring_case(void **state)
{
	struct http1_span a = { "Keep-Alive", 10 };

	(void)state;
	assert_true(http1_span_eq_nocase(a, "keep-alive", 10));
	assert_true(http1_span_eq_nocase(a, "KEEP-ALIVE", 10));
	assert_false(http1_span_eq_nocase(a, "keep-alivf", 10));
	assert_false(http1_span_eq_nocase(a, "keep-aliv", 9));
}

/* ---- responses ------------------------------------------------------------------- */

static void test_http1_parses_a_response_with_length(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_resp(0, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.status, 200);
	assert_span(r.msg.reason, "OK");
	assert_int_equal(r.msg.body, HTTP1_BODY_LENGTH);
	assert_int_equal(r.msg.content_length, 12);
	assert_true(r.msg.flags & HTTP1_M_KEEP_ALIVE);
	parse_fini();
}

static void test_http1_parses_a_chunked_response(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_resp(0, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.body, HTTP1_BODY_CHUNKED);
	parse_fini();
}

static void test_http1_reads_an_unframed_response_until_close(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_resp(0, "HTTP/1.1 200 Fine  thanks \r\nServer: x\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.body, HTTP1_BODY_UNTIL_CLOSE);
	assert_false(r.msg.flags & HTTP1_M_KEEP_ALIVE);
	assert_span(r.msg.reason, "Fine  thanks ");
	parse_fini();
}

static void test_http1_gives_no_body_to_1xx_204_304_and_head(void **state)
{
	static const char *const in[] = {
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	struct result r = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		parse_resp(0, in[i], &r);
		assert_true(r.rc > 0);
		assert_int_equal(r.msg.body, HTTP1_BODY_NONE);
		assert_true(r.msg.flags & HTTP1_M_KEEP_ALIVE);
		parse_fini();
	}
	parse_resp(HTTP1_F_HEAD_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.body, HTTP1_BODY_NONE);
	assert_int_equal(r.msg.content_length, 500);
	parse_fini();
}

static void test_http1_accepts_a_status_line_without_reason(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_resp(0, "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.status, 404);
	assert_int_equal(r.msg.reason.len, 0);
	parse_fini();
	parse_resp(0, "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.reason.len, 0);
	parse_fini();
}

static void test_http1_http10_response_keep_alive(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_resp(0, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_false(r.msg.flags & HTTP1_M_KEEP_ALIVE);
	parse_fini();
	parse_resp(0, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", &r);
	assert_true(r.rc > 0);
	assert_true(r.msg.flags & HTTP1_M_KEEP_ALIVE);
	parse_fini();
}

static void test_http1_ignores_host_in_responses(void **state)
{
	struct result r = { 0 };

	(void)state;
	parse_resp(0, "HTTP/1.1 200 OK\r\nHost: a b\r\nHost: c\r\nContent-Length: 0\r\n\r\n", &r);
	assert_true(r.rc > 0);
	parse_fini();
}

/* ---- limits ------------------------------------------------------------------------- */

/* A request head of exactly n bytes. */
static char *head_of(size_t n)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	char *s = malloc(n + 1);
	size_t fill = n - (sizeof(pre) - 1) - 4;

	assert_non_null(s);
	memcpy(s, pre, sizeof(pre) - 1);
	memset(s + sizeof(pre) - 1, 'p', fill);
	memcpy(s + n - 4, "\r\n\r\n", 5);
	return s;
}

static void test_http1_accepts_a_head_of_exactly_the_limit(void **state)
{
	struct result r = { 0 };
	char *s = head_of(300);

	(void)state;
	parse_check(HTTP1_F_REQUEST, NHDR, 300, s, 300, &r);
	assert_int_equal(r.rc, 300);
	parse_fini();
	free(s);
}

static void test_http1_rejects_a_head_one_byte_over_the_limit(void **state)
{
	struct result r = { 0 };
	char *s = head_of(301);

	(void)state;
	parse_check(HTTP1_F_REQUEST, NHDR, 300, s, 301, &r);
	assert_int_equal(r.rc, -HTTP1_E_HEAD_TOO_LARGE);
	assert_int_equal(http1_error_status(r.err), 431);
	parse_fini();
	free(s);
}

static void test_http1_rejects_an_endless_line_at_the_limit(void **state)
{
	struct result r = { 0 };
	char *s = malloc(400);

	(void)state;
	assert_non_null(s);
	memset(s, 'a', 400);
	parse_check(HTTP1_F_REQUEST, NHDR, 300, s, 300, &r);
	assert_int_equal(r.rc, 0);
	parse_fini();
	parse_check(HTTP1_F_REQUEST, NHDR, 300, s, 301, &r);
	assert_int_equal(r.rc, -HTTP1_E_HEAD_TOO_LARGE);
	parse_fini();
	free(s);
}

static void test_http1_accepts_exactly_the_field_count_limit(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
	struct result r = { 0 };

	(void)state;
	parse_check(HTTP1_F_REQUEST, 3, HEAD_MAX, in, sizeof(in) - 1, &r);
	assert_true(r.rc > 0);
	assert_int_equal(r.msg.n_headers, 3);
	parse_fini();
}

static void test_http1_rejects_one_field_over_the_count_limit(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	struct result r = { 0 };

	(void)state;
	parse_check(HTTP1_F_REQUEST, 3, HEAD_MAX, in, sizeof(in) - 1, &r);
	assert_int_equal(r.rc, -HTTP1_E_TOO_MANY_FIELDS);
	assert_int_equal(http1_error_status(r.err), 431);
	parse_fini();
}

/* ---- chunked ------------------------------------------------------------------------------ */

struct dec {
	int rc;
	int err;
	size_t consumed;	/* bytes of the input used up to DONE or error */
	char data[4096];
	size_t n;
	size_t n_trailers;
	char trailers[256];	/* "name=value;" */
};

static void dec_feed(struct http1_chunked *c, const char *buf, size_t len,
		     size_t base, struct dec *d)
{
	size_t pos = 0;

	while (d->rc == HTTP1_CHUNKED_NEED_MORE || d->rc == HTTP1_CHUNKED_DATA) {
		struct http1_span s = { 0 };
		size_t used = 0;
		int rc = http1_chunked_next(c, buf + pos, len - pos, &used, &s);

		assert_true(used <= len - pos);
		d->rc = rc;
		if (rc == HTTP1_CHUNKED_DATA) {
			assert_true(s.p >= buf + pos && s.p + s.len == buf + pos + used);
			assert_true(d->n + s.len <= sizeof(d->data));
			memcpy(d->data + d->n, s.p, s.len);
			d->n += s.len;
		}
		pos += used;
		if (rc < 0) {
			d->err = c->err;
			d->consumed = base + pos;
			return;
		}
		if (rc == HTTP1_CHUNKED_DONE) {
			d->consumed = base + pos;
			d->n_trailers = c->trailers.msg.n_headers;
			for (size_t i = 0; i < d->n_trailers && c->trailers.headers; i++) {
				const struct http1_header *h = &c->trailers.headers[i];
				size_t k = strlen(d->trailers);

				snprintf(d->trailers + k, sizeof(d->trailers) - k, "%.*s=%.*s;",
					 (int)h->name.len, h->name.p, (int)h->value.len, h->value.p);
			}
			return;
		}
		if (rc == HTTP1_CHUNKED_NEED_MORE) {
			assert_int_equal(pos, len);
			return;
		}
	}
}

struct dec_cfg {
	size_t ext_max;
	size_t tcap;		/* 0: no trailer buffer */
	size_t ntr;		/* 0: trailers discarded */
};

static void dec_run(const struct dec_cfg *cfg, const char *in, size_t len,
		    const size_t *cuts, size_t ncuts, struct dec *d)
{
	struct http1_chunked c;
	struct http1_header tr[8];
	char tbuf[512];
	size_t prev = 0;

	memset(d, 0, sizeof(*d));
	d->rc = HTTP1_CHUNKED_NEED_MORE;
	http1_chunked_init(&c, cfg->ext_max, cfg->tcap ? tbuf : NULL, cfg->tcap,
			   cfg->ntr ? tr : NULL, cfg->ntr);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		struct guarded g = { 0 };

		if (d->rc != HTTP1_CHUNKED_NEED_MORE && d->rc != HTTP1_CHUNKED_DATA)
			break;
		assert_int_equal(guarded_init(&g, in + prev, end - prev), 0);
		dec_feed(&c, g.data, end - prev, prev, d);
		guarded_fini(&g);
		prev = end;
	}
}

/* Decodes whole, split at every boundary, and byte by byte: all the same. */
static void dec_check(const struct dec_cfg *cfg, const char *in, size_t len,
		      struct dec *out)
{
	struct dec *d = malloc(sizeof(*d));
	size_t *cuts = malloc((len + 1) * sizeof(*cuts));

	assert_non_null(d);
	assert_non_null(cuts);
	dec_run(cfg, in, len, NULL, 0, out);
	for (size_t k = 0; k <= len; k++) {
		dec_run(cfg, in, len, &k, 1, d);
		assert_int_equal(d->rc, out->rc);
		assert_int_equal(d->err, out->err);
		/* Where an error was found is not comparable across splits
		 * (it may lie in an earlier piece); where the body ends is. */
		if (d->rc == HTTP1_CHUNKED_DONE)
			assert_int_equal(d->consumed, out->consumed);
		assert_int_equal(d->n, out->n);
		assert_memory_equal(d->data, out->data, d->n);
		assert_string_equal(d->trailers, out->trailers);
	}
	for (size_t k = 0; k < len; k++)
		cuts[k] = k + 1;
	dec_run(cfg, in, len, cuts, len ? len - 1 : 0, d);
	assert_int_equal(d->rc, out->rc);
	assert_int_equal(d->err, out->err);
	assert_int_equal(d->n, out->n);
	assert_memory_equal(d->data, out->data, d->n);
	assert_string_equal(d->trailers, out->trailers);
	free(cuts);
	free(d);
}

static const struct dec_cfg dcfg = { .ext_max = 64, .tcap = 128, .ntr = 8 };

#define DEC(in, d) dec_check(&dcfg, in, sizeof(in) - 1, d)

static void test_http1_chunked_decodes_chunks(void **state)
{
	struct dec d;

	(void)state;
	DEC("5\r\nhello\r\n1;a=b\r\n \r\nA\r\n0123456789\r\n0\r\n\r\nGET", &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	assert_int_equal(d.n, 16);
	assert_memory_equal(d.data, "hello 0123456789", 16);
	assert_int_equal(d.consumed, 40);	/* the next message is not eaten */
	assert_int_equal(d.n_trailers, 0);
}

static void test_http1_chunked_needs_more_until_the_last_chunk(void **state)
{
	struct dec d;

	(void)state;
	DEC("5\r\nhello\r\n0\r\n\r", &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_NEED_MORE);
	assert_int_equal(d.n, 5);
}

static void test_http1_chunked_accepts_extensions_and_ignores_them(void **state)
{
	struct dec d;

	(void)state;
	DEC("3 ; name=\"quoted \\\" value\"; x\t;y = z\r\nabc\r\n0;last\r\n\r\n", &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	assert_memory_equal(d.data, "abc", 3);
}

static void test_http1_chunked_reports_trailers(void **state)
{
	struct dec d;

	(void)state;
	DEC("1\r\na\r\n0\r\nX-Usage: 42 \r\nServer-Timing: db;dur=53\r\n\r\n", &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	assert_int_equal(d.n_trailers, 2);
	assert_string_equal(d.trailers, "X-Usage=42;Server-Timing=db;dur=53;");
}

static void test_http1_chunked_discards_trailers_without_an_array(void **state)
{
	static const struct dec_cfg cfg = { .ext_max = 64, .tcap = 64, .ntr = 0 };
	static const char in[] = "0\r\nA: 1\r\nB: 2\r\n\r\n";
	struct dec d;

	(void)state;
	dec_check(&cfg, in, sizeof(in) - 1, &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	assert_string_equal(d.trailers, "");
	assert_int_equal(d.consumed, sizeof(in) - 1);
}

static void test_http1_chunked_refuses_trailers_without_a_buffer(void **state)
{
	static const struct dec_cfg cfg = { .ext_max = 64 };
	static const char ok[] = "0\r\n\r\n";
	static const char in[] = "0\r\nA: 1\r\n\r\n";
	struct dec d;

	(void)state;
	dec_check(&cfg, ok, sizeof(ok) - 1, &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	dec_check(&cfg, in, sizeof(in) - 1, &d);
	assert_int_equal(d.rc, -HTTP1_E_TRAILER_TOO_LARGE);
}

static void test_http1_chunked_bounds_the_trailer_section(void **state)
{
	/* The trailer section "A: 123\r\n\r\n" is 10 bytes. */
	static const struct dec_cfg fits = { .ext_max = 8, .tcap = 10, .ntr = 4 };
	static const struct dec_cfg over = { .ext_max = 8, .tcap = 9, .ntr = 4 };
	static const char in[] = "0\r\nA: 123\r\n\r\n";
	struct dec d;

	(void)state;
	dec_check(&fits, in, sizeof(in) - 1, &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	dec_check(&over, in, sizeof(in) - 1, &d);
	assert_int_equal(d.rc, -HTTP1_E_TRAILER_TOO_LARGE);
}

static void test_http1_chunked_bounds_the_trailer_count(void **state)
{
	static const struct dec_cfg cfg = { .ext_max = 8, .tcap = 128, .ntr = 2 };
	static const char ok[] = "0\r\nA: 1\r\nB: 2\r\n\r\n";
	static const char in[] = "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	struct dec d;

	(void)state;
	dec_check(&cfg, ok, sizeof(ok) - 1, &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	dec_check(&cfg, in, sizeof(in) - 1, &d);
	assert_int_equal(d.rc, -HTTP1_E_TRAILER_TOO_MANY);
}

static void test_http1_chunked_applies_field_rules_to_trailers(void **state)
{
	static const struct { const char *in; int err; } cases[] = {
		{ "0\r\nA: 1\r\n b\r\n\r\n", HTTP1_E_OBS_FOLD },
		{ "0\r\nA : 1\r\n\r\n", HTTP1_E_WS_BEFORE_COLON },
		{ "0\r\nA: 1\n\r\n", HTTP1_E_BARE_LF },
		{ "0\r\nA: \x01\r\n\r\n", HTTP1_E_VALUE_CHAR },
		{ "0\r\n: 1\r\n\r\n", HTTP1_E_EMPTY_NAME },
		{ "0\r\n A: 1\r\n\r\n", HTTP1_E_OBS_FOLD },
		{ "0\r\n\r\r\n", HTTP1_E_BARE_CR },
		{ "0\r\n\n", HTTP1_E_BARE_LF },
	};
	struct dec d;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dec_check(&dcfg, cases[i].in, strlen(cases[i].in), &d);
		assert_int_equal(d.rc, -cases[i].err);
	}
}

#define CHUNK_REJECT(name, in, e)					\
	static void test_http1_chunked_rejects_##name(void **state)	\
	{								\
		struct dec d;						\
		(void)state;						\
		DEC(in, &d);						\
		assert_int_equal(d.rc, -(e));				\
		assert_int_equal(d.err, e);				\
		assert_int_equal(http1_error_status(e), 400);		\
	}

CHUNK_REJECT(non_hex_size, "g\r\n", HTTP1_E_CHUNK_SIZE)
CHUNK_REJECT(empty_size, "\r\n", HTTP1_E_CHUNK_SIZE)
CHUNK_REJECT(signed_size, "+5\r\nhello\r\n0\r\n\r\n", HTTP1_E_CHUNK_SIZE)
CHUNK_REJECT(hex_prefix, "0x5\r\nhello\r\n0\r\n\r\n", HTTP1_E_CHUNK_SIZE)
CHUNK_REJECT(seventeen_digits, "00000000000000001\r\n", HTTP1_E_CHUNK_SIZE_OVERFLOW)
CHUNK_REJECT(size_of_2_63, "8000000000000000\r\n", HTTP1_E_CHUNK_SIZE_OVERFLOW)
CHUNK_REJECT(size_of_2_64_minus_1, "ffffffffffffffff\r\n", HTTP1_E_CHUNK_SIZE_OVERFLOW)
CHUNK_REJECT(missing_crlf_after_data, "5\r\nhelloX\r\n0\r\n\r\n", HTTP1_E_CHUNK_DATA_CRLF)
CHUNK_REJECT(lf_only_after_data, "5\r\nhello\n0\r\n\r\n", HTTP1_E_CHUNK_DATA_CRLF)
CHUNK_REJECT(cr_without_lf_after_data, "5\r\nhello\rX0\r\n\r\n", HTTP1_E_CHUNK_DATA_CRLF)
CHUNK_REJECT(bare_lf_after_size, "5\nhello\r\n0\r\n\r\n", HTTP1_E_BARE_LF)
CHUNK_REJECT(bare_cr_after_size, "5\rhello\r\n0\r\n\r\n", HTTP1_E_BARE_CR)
CHUNK_REJECT(whitespace_without_extension, "5 \r\nhello\r\n0\r\n\r\n", HTTP1_E_CHUNK_EXT)
CHUNK_REJECT(control_in_extension, "5;a=\x01\r\nhello\r\n0\r\n\r\n", HTTP1_E_CHUNK_EXT)
CHUNK_REJECT(bare_lf_in_extension, "5;a\nhello\r\n0\r\n\r\n", HTTP1_E_BARE_LF)

static void test_http1_chunked_accepts_sizes_up_to_2_63_minus_1(void **state)
{
	struct dec d;

	(void)state;
	DEC("7fffffffffffffff\r\nabc", &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_NEED_MORE);
	assert_int_equal(d.n, 3);
	DEC("0000000000000003\r\nabc\r\n0\r\n\r\n", &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	DEC("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	assert_int_equal(d.n, 20);
}

static void test_http1_chunked_bounds_extensions_exactly(void **state)
{
	static const struct dec_cfg cfg = { .ext_max = 6 };
	static const char ok[] = "1;a=bcd\r\nx\r\n0\r\n\r\n";	/* ";a=bcd": 6 */
	static const char over[] = "1;a=bcde\r\nx\r\n0\r\n\r\n";
	struct dec d;

	(void)state;
	dec_check(&cfg, ok, sizeof(ok) - 1, &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	dec_check(&cfg, over, sizeof(over) - 1, &d);
	assert_int_equal(d.rc, -HTTP1_E_CHUNK_EXT_TOO_LONG);
}

static void test_http1_chunked_counts_the_body(void **state)
{
	static const char in[] = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	struct http1_chunked c;
	struct http1_span s;
	size_t used, pos = 0;
	int rc;

	(void)state;
	http1_chunked_init(&c, 16, NULL, 0, NULL, 0);
	do {
		rc = http1_chunked_next(&c, in + pos, sizeof(in) - 1 - pos, &used, &s);
		pos += used;
	} while (rc == HTTP1_CHUNKED_DATA);
	assert_int_equal(rc, HTTP1_CHUNKED_DONE);
	assert_int_equal(c.total, 5);
	/* After the end, nothing more is consumed. */
	assert_int_equal(http1_chunked_next(&c, in, 3, &used, &s), HTTP1_CHUNKED_DONE);
	assert_int_equal(used, 0);
}

static void test_http1_chunk_encoder_writes_heads(void **state)
{
	char out[HTTP1_CHUNK_HEAD_MAX];

	(void)state;
	assert_int_equal(http1_chunk_head(out, sizeof(out), 1), 3);
	assert_memory_equal(out, "1\r\n", 3);
	assert_int_equal(http1_chunk_head(out, sizeof(out), 0x1a2b), 6);
	assert_memory_equal(out, "1a2b\r\n", 6);
	assert_int_equal(http1_chunk_head(out, sizeof(out), UINT64_MAX), 18);
	assert_memory_equal(out, "ffffffffffffffff\r\n", 18);
	assert_int_equal(http1_chunk_head(out, 5, 0x1a2b), 0);
	assert_int_equal(http1_chunk_head(out, sizeof(out), 0), 0);
}

static void test_http1_chunk_encoder_round_trips_through_the_decoder(void **state)
{
	struct http1_header tr[1] = {
		{ .name = { "X-Usage", 7 }, .value = { "42", 2 } },
	};
	char buf[128];
	size_t n = 0;
	struct dec d;

	(void)state;
	n += http1_chunk_head(buf + n, sizeof(buf) - n, 11);
	memcpy(buf + n, "hello world\r\n", 13);
	n += 13;
	assert_int_equal(http1_chunk_last(buf + n, 10, tr, 1), 0);
	n += http1_chunk_last(buf + n, sizeof(buf) - n, tr, 1);
	assert_int_equal(n, 3 + 13 + 3 + 13 + 2);
	dec_check(&dcfg, buf, n, &d);
	assert_int_equal(d.rc, HTTP1_CHUNKED_DONE);
	assert_int_equal(d.consumed, n);
	assert_memory_equal(d.data, "hello world", 11);
	assert_string_equal(d.trailers, "X-Usage=42;");
	assert_int_equal(http1_chunk_last(buf, sizeof(buf), NULL, 0), 5);
	assert_memory_equal(buf, "0\r\n\r\n", 5);
}

#define T(f) cmocka_unit_test(f)
#define R(f) cmocka_unit_test(test_http1_rejects_##f)
#define C(f) cmocka_unit_test(test_http1_chunked_rejects_##f)

static void test_http1_retry_after_seconds_and_dates(void **state)
{
	const time_t now = 784111777;	/* Sun, 06 Nov 1994 08:49:37 GMT */

	(void)state;
	assert_int_equal(http1_retry_after_ms("120", now), 120000);
	assert_int_equal(http1_retry_after_ms(" 0 ", now), 0);
	assert_int_equal(http1_retry_after_ms("Sun, 06 Nov 1994 08:49:39 GMT", now), 2000);
	assert_int_equal(http1_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now), 0);	/* now */
	assert_int_equal(http1_retry_after_ms("Sat, 05 Nov 1994 08:49:37 GMT", now), 0);	/* past */
	assert_int_equal(http1_retry_after_ms("99999999999999999999", now), 86400000);
	assert_int_equal(http1_retry_after_ms("Sun, 06 Nov 1995 08:49:37 GMT", now), 86400000);
	/* Malformed: no unit suffixes, no other date forms, no trailing bytes. */
	assert_int_equal(http1_retry_after_ms("5s", now), 0);
	assert_int_equal(http1_retry_after_ms("-5", now), 0);
	assert_int_equal(http1_retry_after_ms("Sunday, 06-Nov-94 08:49:39 GMT", now), 0);
	assert_int_equal(http1_retry_after_ms("Sun, 06 Nov 1994 08:49:39 GMT x", now), 0);
	assert_int_equal(http1_retry_after_ms("", now), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_http1_retry_after_seconds_and_dates),
		R(te_and_cl), R(cl_and_te_in_response), R(te_gzip_chunked),
		R(te_chunked_not_last), R(te_chunked_twice_in_one_field),
		R(te_identity), R(te_chunked_with_junk), R(te_in_two_fields),
		R(te_in_http10), R(duplicate_equal_cl), R(duplicate_different_cl),
		R(cl_list), R(cl_plus_sign), R(cl_minus_sign), R(cl_space_inside),
		R(cl_non_digit), R(cl_empty), R(cl_over_2_63), R(cl_over_2_64),
		R(obs_fold), R(obs_fold_with_tab), R(whitespace_after_start_line),
		R(bare_cr_in_value), R(bare_cr_in_name), R(bare_cr_in_request_line),
		R(bare_cr_at_end_of_request_line), R(bare_lf_after_request_line),
		R(bare_lf_after_field), R(bare_lf_as_last_line),
		R(space_before_colon), R(tab_before_colon), R(name_with_space),
		R(empty_field_name), R(invalid_name_char), R(non_ascii_name),
		R(field_without_colon), R(nul_in_value), R(control_in_value),
		R(del_in_long_value), R(escape_in_value),
		R(invalid_method_char), R(tab_after_method), R(leading_space),
		R(method_only), R(missing_version), R(missing_space_before_version),
		R(two_spaces_after_method), R(two_spaces_after_target),
		R(trailing_space_after_version), R(quote_in_target),
		R(angle_bracket_in_target), R(fragment_in_target),
		R(non_ascii_target), R(nul_in_target), R(relative_target),
		R(absolute_form_without_flag), R(asterisk_for_get), R(connect),
		R(lowercase_version), R(short_version), R(two_digit_minor),
		R(http2_version), R(http2_preface), R(http09_version), R(http12_version),
		R(http11_without_host), R(two_hosts), R(host_with_slash),
		R(host_with_space), R(connection_non_token),
		R(connection_two_tokens_without_comma),
		R(connection_too_many_options),
		R(status_line_without_code), R(status_code_below_100),
		R(status_code_above_599), R(status_code_not_digits),
		R(status_code_four_digits), R(control_in_reason),
		R(http2_response), R(empty_line_before_response),
		T(test_http1_parses_a_get),
		T(test_http1_parses_a_post_with_content_length),
		T(test_http1_accepts_the_largest_content_length),
		T(test_http1_parses_a_chunked_request),
		T(test_http1_trims_ows_and_keeps_inner_whitespace),
		T(test_http1_accepts_obs_text_and_tabs_in_values),
		T(test_http1_accepts_every_tchar_in_names_and_methods),
		T(test_http1_recognises_methods),
		T(test_http1_http10_closes_by_default),
		T(test_http1_http10_keeps_alive_with_the_token),
		T(test_http1_connection_close_ends_keep_alive),
		T(test_http1_marks_connection_named_fields_hop_by_hop),
		T(test_http1_hop_by_hop_helper_names_the_standard_fields),
		T(test_http1_reports_expect_100_continue),
		T(test_http1_reports_upgrade),
		T(test_http1_skips_empty_lines_before_a_request),
		T(test_http1_accepts_asterisk_form_for_options),
		T(test_http1_accepts_absolute_form_when_allowed),
		T(test_http1_accepts_an_empty_host),
		T(test_http1_needs_more_until_the_empty_line),
		T(test_http1_parses_pipelined_requests),
		T(test_http1_keeps_returning_the_first_error),
		T(test_http1_byte_by_byte_feed_stays_linear),
		T(test_http1_compares_spans_ignoring_case),
		T(test_http1_parses_a_response_with_length),
		T(test_http1_parses_a_chunked_response),
		T(test_http1_reads_an_unframed_response_until_close),
		T(test_http1_gives_no_body_to_1xx_204_304_and_head),
		T(test_http1_accepts_a_status_line_without_reason),
		T(test_http1_http10_response_keep_alive),
		T(test_http1_ignores_host_in_responses),
		T(test_http1_accepts_a_head_of_exactly_the_limit),
		T(test_http1_rejects_a_head_one_byte_over_the_limit),
		T(test_http1_rejects_an_endless_line_at_the_limit),
		T(test_http1_accepts_exactly_the_field_count_limit),
		T(test_http1_rejects_one_field_over_the_count_limit),
		T(test_http1_chunked_decodes_chunks),
		T(test_http1_chunked_needs_more_until_the_last_chunk),
		T(test_http1_chunked_accepts_extensions_and_ignores_them),
		T(test_http1_chunked_reports_trailers),
		T(test_http1_chunked_discards_trailers_without_an_array),
		T(test_http1_chunked_refuses_trailers_without_a_buffer),
		T(test_http1_chunked_bounds_the_trailer_section),
		T(test_http1_chunked_bounds_the_trailer_count),
		T(test_http1_chunked_applies_field_rules_to_trailers),
		C(non_hex_size), C(empty_size), C(signed_size), C(hex_prefix),
		C(seventeen_digits), C(size_of_2_63), C(size_of_2_64_minus_1),
		C(missing_crlf_after_data), C(lf_only_after_data),
		C(cr_without_lf_after_data), C(bare_lf_after_size),
		C(bare_cr_after_size), C(whitespace_without_extension),
		C(control_in_extension), C(bare_lf_in_extension),
		T(test_http1_chunked_accepts_sizes_up_to_2_63_minus_1),
		T(test_http1_chunked_bounds_extensions_exactly),
		T(test_http1_chunked_counts_the_body),
		T(test_http1_chunk_encoder_writes_heads),
		T(test_http1_chunk_encoder_round_trips_through_the_decoder),
	};

	return cmocka_run_group_tests_name("http1", tests, NULL, NULL);
}
