// SPDX-License-Identifier: Apache-2.0
/*
 * The string scanner's wide strides (16 bytes with SSE2, then 8): a byte
 * that ends a plain run — a control byte, a quote, a backslash, a byte
 * from 0x80 up — at every position of strings of every length up to past
 * several strides, each text ending right before a guard page. The error
 * offsets, the value spans and the decoded key lengths (duplicate keys)
 * must be what a byte-by-byte reading gives.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "guard_page.h"

#define STRIDE_MAX	80	/* string lengths tried: 0..STRIDE_MAX */

static struct json_scratch scratch;

static int parse_guarded(const char *s, size_t len, struct json_doc *doc, struct guarded *g)
{
	assert_int_equal(guarded_init(g, s, len), 0);
	return json_parse(doc, g->data, len, &scratch);
}

/* "aaaa...": n plain bytes in quotes, with `ins` (ins_len bytes) put in
 * at position at (0..n). Returns the text's length. */
static size_t make_string(char *out, size_t n, size_t at, const char *ins, size_t ins_len)
{
	size_t o = 0, i;

	out[o++] = '"';
	for (i = 0; i < n; i++) {
		if (i == at) {
			memcpy(out + o, ins, ins_len);
			o += ins_len;
		}
		out[o++] = (char)('a' + i % 26);
	}
	if (at == n) {
		memcpy(out + o, ins, ins_len);
		o += ins_len;
	}
	out[o++] = '"';
	return o;
}

static void test_json_stride_accepts_plain_strings_of_every_length(void **state)
{
	char text[STRIDE_MAX + 8];
	struct json_doc doc;
	struct guarded g;
	size_t n, len;

	(void)state;
	for (n = 0; n <= STRIDE_MAX; n++) {
		len = make_string(text, n, n + 1, "", 0);
		assert_int_equal(parse_guarded(text, len, &doc, &g), 0);
		assert_int_equal(doc.root.kind, JSON_K_STRING);
		assert_int_equal(doc.root.len, len);
		assert_int_equal(doc.root.flags & JSON_F_ESCAPED, 0);
		guarded_fini(&g);
	}
}

static void test_json_stride_reports_a_cut_string_at_its_end(void **state)
{
	char text[STRIDE_MAX + 8];
	struct json_doc doc;
	struct guarded g;
	size_t n, len;

	(void)state;
	for (n = 0; n <= STRIDE_MAX; n++) {
		len = make_string(text, n, n + 1, "", 0) - 1;	/* no closing quote */
		assert_int_equal(parse_guarded(text, len, &doc, &g), -EINVAL);
		assert_int_equal(doc.err.code, JSON_E_TRUNCATED);
		assert_int_equal(doc.err.offset, len);
		guarded_fini(&g);
	}
}

static void test_json_stride_finds_a_control_byte_anywhere(void **state)
{
	static const char ctl[] = { 0x01, 0x1f, '\t' };
	char text[STRIDE_MAX + 8];
	struct json_doc doc;
	struct guarded g;
	size_t n, at, k, len;

	(void)state;
	for (k = 0; k < sizeof(ctl); k++)
		for (n = 0; n <= STRIDE_MAX; n++)
			for (at = 0; at <= n; at++) {
				len = make_string(text, n, at, &ctl[k], 1);
				assert_int_equal(parse_guarded(text, len, &doc, &g), -EINVAL);
				assert_int_equal(doc.err.code, JSON_E_CONTROL);
				assert_int_equal(doc.err.offset, 1 + at);
				guarded_fini(&g);
			}
}

static void test_json_stride_finds_bad_utf8_anywhere(void **state)
{
	char text[STRIDE_MAX + 8];
	struct json_doc doc;
	struct guarded g;
	size_t n, at, len;

	(void)state;
	for (n = 0; n <= STRIDE_MAX; n++)
		for (at = 0; at <= n; at++) {
			len = make_string(text, n, at, "\xff", 1);
			assert_int_equal(parse_guarded(text, len, &doc, &g), -EINVAL);
			assert_int_equal(doc.err.code, JSON_E_UTF8);
			assert_int_equal(doc.err.offset, 1 + at);
			guarded_fini(&g);
		}
}

static void test_json_stride_reads_utf8_and_escapes_anywhere(void **state)
{
	static const struct {
		const char *ins;
		size_t dec;	/* bytes once decoded */
		bool escaped;
	} t[] = {
		{ "\xc3\xa9", 2, false },	/* é */
		{ "\xe2\x82\xac", 3, false },	/* € */
		{ "\\n", 1, true },
		{ "\\\"", 1, true },
		{ "\\u00e9", 2, true },
	};
	char text[STRIDE_MAX + 16], dec[STRIDE_MAX + 8];
	struct json_doc doc;
	struct guarded g;
	size_t n, at, k, len;

	(void)state;
	for (k = 0; k < sizeof(t) / sizeof(t[0]); k++)
		for (n = 0; n <= STRIDE_MAX; n++)
			for (at = 0; at <= n; at++) {
				len = make_string(text, n, at, t[k].ins, strlen(t[k].ins));
				assert_int_equal(parse_guarded(text, len, &doc, &g), 0);
				assert_int_equal(doc.root.kind, JSON_K_STRING);
				assert_int_equal(doc.root.len, len);
				assert_int_equal(!!(doc.root.flags & JSON_F_ESCAPED), t[k].escaped);
				assert_int_equal(json_str_decode(&doc.root, dec, sizeof(dec)),
						 (ssize_t)(n + t[k].dec));
				guarded_fini(&g);
			}
}

/* A quote inside ends the string there: what follows is then refused as
 * data after the value, at the byte after that quote. */
static void test_json_stride_stops_at_an_inner_quote(void **state)
{
	char text[STRIDE_MAX + 8];
	struct json_doc doc;
	struct guarded g;
	size_t n, at, len;

	(void)state;
	for (n = 1; n <= STRIDE_MAX; n++)
		for (at = 0; at < n; at++) {
			len = make_string(text, n, at, "\"", 1);
			assert_int_equal(parse_guarded(text, len, &doc, &g), -EINVAL);
			assert_int_equal(doc.err.code, JSON_E_TRAILING);
			assert_int_equal(doc.err.offset, 2 + at);
			guarded_fini(&g);
		}
}

/* Keys are compared once unescaped: a long key and its twin with one
 * byte written as \u00XX are duplicates wherever that byte is. */
static void test_json_stride_sees_duplicate_long_keys(void **state)
{
	char key[STRIDE_MAX + 8], twin[STRIDE_MAX + 16], text[3 * STRIDE_MAX + 64];
	char esc[8];
	struct json_doc doc;
	struct guarded g;
	size_t n, at, len;

	(void)state;
	for (n = 1; n <= STRIDE_MAX; n += 3)
		for (at = 0; at < n; at++) {
			make_string(key, n, n + 1, "", 0);
			key[n + 2] = '\0';
			/* the twin: byte `at` escaped */
			memcpy(twin, key, 1 + at);
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)key[1 + at]);
			memcpy(twin + 1 + at, esc, 6);
			memcpy(twin + 7 + at, key + 2 + at, n - at + 1);
			twin[n + 7] = '\0';
			len = (size_t)snprintf(text, sizeof(text), "{%s:1,%s:2}", key, twin);
			assert_int_equal(parse_guarded(text, len, &doc, &g), -EINVAL);
			assert_int_equal(doc.err.code, JSON_E_DUPLICATE_KEY);
			assert_int_equal(doc.err.offset, strlen(key) + 4);
			guarded_fini(&g);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_stride_accepts_plain_strings_of_every_length),
		cmocka_unit_test(test_json_stride_reports_a_cut_string_at_its_end),
		cmocka_unit_test(test_json_stride_finds_a_control_byte_anywhere),
		cmocka_unit_test(test_json_stride_finds_bad_utf8_anywhere),
		cmocka_unit_test(test_json_stride_reads_utf8_and_escapes_anywhere),
		cmocka_unit_test(test_json_stride_stops_at_an_inner_quote),
		cmocka_unit_test(test_json_stride_sees_duplicate_long_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
