// SPDX-License-Identifier: Apache-2.0
/*
 * The JSON writer: exact bytes out for each kind of value, and every output
 * read back by jansson, which rejects invalid JSON and invalid UTF-8.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/jsonw.h"
#include "guard_page.h"

struct out {
	char *buf;
	size_t len;
	FILE *f;
	struct jsonw *w;
};

static int out_setup(void **state)
{
	struct out *o = calloc(1, sizeof(*o));

	if (!o)
		return -1;
	o->f = open_memstream(&o->buf, &o->len);
	if (!o->f)
		goto out_free_out;
	o->w = jsonw_new(o->f);
	if (!o->w)
		goto out_close_f;
	*state = o;
	return 0;

out_close_f:
	fclose(o->f);
	free(o->buf);
out_free_out:
	free(o);
	return -1;
}

static int out_teardown(void **state)
{
	struct out *o = *state;

	jsonw_free(o->w);
	if (o->f)
		fclose(o->f);
	free(o->buf);
	free(o);
	return 0;
}

/* Everything written so far, NUL-terminated (open_memstream keeps it so). */
static const char *out_text(struct out *o)
{
	assert_int_equal(fflush(o->f), 0);
	return o->buf;
}

static void assert_output(struct out *o, const char *want)
{
	assert_int_equal(jsonw_error(o->w), 0);
	assert_string_equal(out_text(o), want);
}

static json_t *parse(const char *text, size_t flags)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY | flags, &err);

	if (!j)
		fail_msg("jansson: %s at %d:%d in <%s>", err.text, err.line,
			 err.column, text);
	return j;
}

/* Writes `len` bytes as a string, checks the exact output, and checks that
 * jansson reads it back as `decoded` (decoded_len bytes). */
static void check_string(const char *in, size_t len, const char *want,
			 const char *decoded, size_t decoded_len)
{
	void *state;
	struct out *o;
	json_t *j;

	assert_int_equal(out_setup(&state), 0);
	o = state;
	jsonw_string_len(o->w, in, len);
	assert_output(o, want);
	j = parse(out_text(o), JSON_ALLOW_NUL);
	assert_true(json_is_string(j));
	assert_int_equal(json_string_length(j), decoded_len);
	assert_memory_equal(json_string_value(j), decoded, decoded_len);
	json_decref(j);
	out_teardown(&state);
}

#define CHECK_STRING(in, want, decoded) \
	check_string(in, sizeof(in) - 1, want, decoded, sizeof(decoded) - 1)

static void test_jsonw_writes_compact_object(void **state)
{
	struct out *o = *state;
	json_t *j;

	jsonw_start_object(o->w);
	jsonw_int_field(o->w, "a", 1);
	jsonw_name(o->w, "b");
	jsonw_start_array(o->w);
	jsonw_bool(o->w, true);
	jsonw_null(o->w);
	jsonw_end_array(o->w);
	jsonw_name(o->w, "c");
	jsonw_start_object(o->w);
	jsonw_end_object(o->w);
	jsonw_name(o->w, "d");
	jsonw_start_array(o->w);
	jsonw_end_array(o->w);
	jsonw_string_field(o->w, "e", "x");
	jsonw_end_object(o->w);
	assert_output(o, "{\"a\":1,\"b\":[true,null],\"c\":{},\"d\":[],\"e\":\"x\"}\n");

	j = parse(out_text(o), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
	assert_int_equal(json_array_size(json_object_get(j, "b")), 2);
	assert_string_equal(json_string_value(json_object_get(j, "e")), "x");
	json_decref(j);
}

static void test_jsonw_pretty_prints_with_two_space_indent(void **state)
{
	struct out *o = *state;
	json_t *j;

	jsonw_pretty(o->w, true);
	jsonw_start_object(o->w);
	jsonw_int_field(o->w, "a", 1);
	jsonw_name(o->w, "b");
	jsonw_start_array(o->w);
	jsonw_bool(o->w, false);
	jsonw_start_object(o->w);
	jsonw_null_field(o->w, "n");
	jsonw_end_object(o->w);
	jsonw_end_array(o->w);
	jsonw_name(o->w, "c");
	jsonw_start_object(o->w);
	jsonw_end_object(o->w);
	jsonw_name(o->w, "d");
	jsonw_start_array(o->w);
	jsonw_end_array(o->w);
	jsonw_end_object(o->w);
	assert_output(o,
		"{\n"
		"  \"a\": 1,\n"
		"  \"b\": [\n"
		"    false,\n"
		"    {\n"
		"      \"n\": null\n"
		"    }\n"
		"  ],\n"
		"  \"c\": {},\n"
		"  \"d\": []\n"
		"}\n");

	j = parse(out_text(o), 0);
	assert_true(json_is_null(json_object_get(json_array_get(
		json_object_get(j, "b"), 1), "n")));
	json_decref(j);
}

static void test_jsonw_ends_each_top_level_value_with_newline(void **state)
{
	struct out *o = *state;

	jsonw_int(o->w, 1);
	jsonw_start_object(o->w);
	jsonw_end_object(o->w);
	jsonw_string(o->w, "s");
	assert_output(o, "1\n{}\n\"s\"\n");
}

static void test_jsonw_escapes_quote_and_backslash(void **state)
{
	(void)state;
	CHECK_STRING("a\"b\\c/d", "\"a\\\"b\\\\c/d\"\n", "a\"b\\c/d");
}

static void test_jsonw_escapes_control_bytes(void **state)
{
	char in[33];
	int i;

	(void)state;
	for (i = 0; i < 0x20; i++)
		in[i] = (char)i;
	in[0x20] = 0x7f;
	check_string(in, sizeof(in),
		"\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
		"\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
		"\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
		"\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"
		"\\u007f\"\n",
		in, sizeof(in));
}

static void test_jsonw_escapes_names(void **state)
{
	struct out *o = *state;

	jsonw_start_object(o->w);
	jsonw_string_field(o->w, "a\"\n\x01", "v");
	jsonw_end_object(o->w);
	assert_output(o, "{\"a\\\"\\n\\u0001\":\"v\"}\n");
	json_decref(parse(out_text(o), 0));
}

static void test_jsonw_passes_valid_utf8_through(void **state)
{
	(void)state;
	/* U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000,
	 * U+10FFFF, and a few everyday ones. */
	CHECK_STRING("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
		     "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
		     "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
		     "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"\n",
		     "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
		     "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
	CHECK_STRING("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\n",
		     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

#define FFFD "\xef\xbf\xbd"

/* One U+FFFD per maximal subpart of each ill-formed sequence (Unicode
 * §3.9), so a truncated character costs one replacement, not one per
 * byte, and the byte that broke it is read again. */
static void test_jsonw_replaces_invalid_utf8(void **state)
{
	(void)state;
	CHECK_STRING("\x80", "\"\\ufffd\"\n", FFFD);
	CHECK_STRING("a\xbf" "b", "\"a\\ufffdb\"\n", "a" FFFD "b");
	/* Overlong forms. */
	CHECK_STRING("\xc0\x80", "\"\\ufffd\\ufffd\"\n", FFFD FFFD);
	CHECK_STRING("\xc1\xbf", "\"\\ufffd\\ufffd\"\n", FFFD FFFD);
	CHECK_STRING("\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\"\n",
		     FFFD FFFD FFFD);
	CHECK_STRING("\xf0\x8f\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"\n",
		     FFFD FFFD FFFD FFFD);
	/* A surrogate, and beyond U+10FFFF. */
	CHECK_STRING("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"\n",
		     FFFD FFFD FFFD);
	CHECK_STRING("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"\n",
		     FFFD FFFD FFFD FFFD);
	CHECK_STRING("\xf5\xff\xfe", "\"\\ufffd\\ufffd\\ufffd\"\n",
		     FFFD FFFD FFFD);
	/* Truncated: one replacement, then the interrupting byte as itself. */
	CHECK_STRING("\xe2\x82", "\"\\ufffd\"\n", FFFD);
	CHECK_STRING("\xe2\x82x", "\"\\ufffdx\"\n", FFFD "x");
	CHECK_STRING("\xf0\x9f\x98\n", "\"\\ufffd\\n\"\n", FFFD "\n");
	CHECK_STRING("\xc3\xc3\xa9", "\"\\ufffd\xc3\xa9\"\n", FFFD "\xc3\xa9");
}

/* A sequence cut off at the very end of the input must not be completed
 * from whatever lies past it. */
static void test_jsonw_reads_no_byte_past_the_string(void **state)
{
	static const char *const cut[] = { "\xc3", "\xe2\x82", "\xf0\x9f\x98",
					    "ok\xf4\x8f\xbf" };
	struct out *o = *state;
	struct guarded g = { 0 };
	size_t i;

	jsonw_start_array(o->w);
	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		assert_int_equal(guarded_init(&g, cut[i], strlen(cut[i])), 0);
		jsonw_string_len(o->w, g.data, strlen(cut[i]));
		guarded_fini(&g);
	}
	jsonw_end_array(o->w);
	assert_output(o, "[\"\\ufffd\",\"\\ufffd\",\"\\ufffd\",\"ok\\ufffd\"]\n");
	json_decref(parse(out_text(o), 0));
}

static void test_jsonw_writes_null_for_a_null_string(void **state)
{
	struct out *o = *state;

	jsonw_start_object(o->w);
	jsonw_string_field(o->w, "s", NULL);
	jsonw_end_object(o->w);
	assert_output(o, "{\"s\":null}\n");
}

static void test_jsonw_formats_strings(void **state)
{
	struct out *o = *state;

	jsonw_stringf(o->w, "%s:%d", "a\nb", 42);
	assert_output(o, "\"a\\nb:42\"\n");
}

static void test_jsonw_writes_integer_extremes(void **state)
{
	struct out *o = *state;
	json_t *j;

	jsonw_start_array(o->w);
	jsonw_int(o->w, INT64_MIN);
	jsonw_int(o->w, INT64_MAX);
	jsonw_int(o->w, 0);
	jsonw_int(o->w, -1);
	jsonw_end_array(o->w);
	/* jansson's integers are signed, so the unsigned maximum is checked
	 * as text only. */
	jsonw_uint(o->w, UINT64_MAX);
	assert_output(o, "[-9223372036854775808,9223372036854775807,0,-1]\n"
			 "18446744073709551615\n");

	j = parse("[-9223372036854775808,9223372036854775807,0,-1]", 0);
	assert_true(json_integer_value(json_array_get(j, 0)) == INT64_MIN);
	assert_true(json_integer_value(json_array_get(j, 1)) == INT64_MAX);
	json_decref(j);
}

static void test_jsonw_writes_doubles_in_shortest_round_trip_form(void **state)
{
	static const struct {
		double v;
		const char *text;
	} cases[] = {
		{ 0.1, "0.1" },
		{ 1.0, "1.0" },
		{ -0.0, "-0.0" },
		{ 2.5, "2.5" },
		{ 123456789.125, "123456789.125" },
		{ 0.1 + 0.2, "0.30000000000000004" },
		{ 1e16, "1e+16" },
		{ 1e300, "1e+300" },
		{ 5e-324, "5e-324" },
		{ DBL_MAX, "1.7976931348623157e+308" },
	};
	struct out *o = *state;
	char want[512] = "[";
	json_t *j;
	size_t i;

	jsonw_start_array(o->w);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		jsonw_double(o->w, cases[i].v);
		if (i)
			strcat(want, ",");
		strcat(want, cases[i].text);
	}
	jsonw_end_array(o->w);
	strcat(want, "]\n");
	assert_output(o, want);

	j = parse(out_text(o), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *e = json_array_get(j, i);

		assert_true(json_is_real(e));
		assert_true(json_real_value(e) == cases[i].v);
	}
	assert_true(signbit(json_real_value(json_array_get(j, 2))));
	json_decref(j);
}

static void test_jsonw_writes_nan_and_infinity_as_null(void **state)
{
	struct out *o = *state;

	jsonw_start_object(o->w);
	jsonw_double_field(o->w, "nan", NAN);
	jsonw_double_field(o->w, "inf", INFINITY);
	jsonw_double_field(o->w, "ninf", -INFINITY);
	jsonw_end_object(o->w);
	assert_output(o, "{\"nan\":null,\"inf\":null,\"ninf\":null}\n");
	json_decref(parse(out_text(o), 0));
}

static void test_jsonw_writes_bools_and_null(void **state)
{
	struct out *o = *state;

	jsonw_start_object(o->w);
	jsonw_bool_field(o->w, "t", true);
	jsonw_bool_field(o->w, "f", false);
	jsonw_null_field(o->w, "n");
	jsonw_uint_field(o->w, "u", 7);
	jsonw_end_object(o->w);
	assert_output(o, "{\"t\":true,\"f\":false,\"n\":null,\"u\":7}\n");
	json_decref(parse(out_text(o), 0));
}

static void test_jsonw_reports_depth_and_container(void **state)
{
	struct out *o = *state;

	assert_int_equal(jsonw_depth(o->w), 0);
	assert_false(jsonw_is_in_object(o->w));
	jsonw_start_array(o->w);
	assert_int_equal(jsonw_depth(o->w), 1);
	assert_false(jsonw_is_in_object(o->w));
	jsonw_start_object(o->w);
	assert_int_equal(jsonw_depth(o->w), 2);
	assert_true(jsonw_is_in_object(o->w));
	jsonw_end_object(o->w);
	jsonw_end_array(o->w);
	assert_int_equal(jsonw_depth(o->w), 0);
}

static void test_jsonw_rejects_a_value_without_a_name(void **state)
{
	struct out *o = *state;

	jsonw_start_object(o->w);
	jsonw_int(o->w, 1);
	assert_int_equal(jsonw_error(o->w), -EINVAL);
	/* Nothing more is written once the writer has failed. */
	jsonw_end_object(o->w);
	assert_string_equal(out_text(o), "{");
}

static void test_jsonw_rejects_a_name_outside_an_object(void **state)
{
	struct out *o = *state;

	jsonw_start_array(o->w);
	jsonw_name(o->w, "a");
	assert_int_equal(jsonw_error(o->w), -EINVAL);
	assert_string_equal(out_text(o), "[");
}

static void test_jsonw_rejects_two_names_in_a_row(void **state)
{
	struct out *o = *state;

	jsonw_start_object(o->w);
	jsonw_name(o->w, "a");
	jsonw_name(o->w, "b");
	assert_int_equal(jsonw_error(o->w), -EINVAL);
}

static void test_jsonw_rejects_a_name_without_a_value(void **state)
{
	struct out *o = *state;

	jsonw_start_object(o->w);
	jsonw_name(o->w, "a");
	jsonw_end_object(o->w);
	assert_int_equal(jsonw_error(o->w), -EINVAL);
}

static void test_jsonw_rejects_mismatched_ends(void **state)
{
	struct out *o = *state;

	jsonw_start_object(o->w);
	jsonw_end_array(o->w);
	assert_int_equal(jsonw_error(o->w), -EINVAL);
}

static void test_jsonw_rejects_an_end_with_nothing_open(void **state)
{
	struct out *o = *state;

	jsonw_end_object(o->w);
	assert_int_equal(jsonw_error(o->w), -EINVAL);
	assert_string_equal(out_text(o), "");
}

static void test_jsonw_rejects_nesting_past_the_limit(void **state)
{
	struct out *o = *state;
	int i;

	for (i = 0; i < JSONW_DEPTH_MAX; i++)
		jsonw_start_array(o->w);
	assert_int_equal(jsonw_error(o->w), 0);
	assert_int_equal(jsonw_depth(o->w), JSONW_DEPTH_MAX);
	jsonw_start_array(o->w);
	assert_int_equal(jsonw_error(o->w), -EINVAL);
}

static void test_jsonw_reports_write_errors(void **state)
{
	struct jsonw *w;
	FILE *f;

	(void)state;
	f = fopen("/dev/full", "w");
	if (!f)
		skip();
	w = jsonw_new(f);
	assert_non_null(w);
	jsonw_string(w, "no space");
	assert_int_equal(jsonw_flush(w), -ENOSPC);
	assert_int_equal(jsonw_error(w), -EIO);
	jsonw_free(w);
	fclose(f);
}

static void test_jsonw_free_accepts_null(void **state)
{
	(void)state;
	jsonw_free(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, out_setup, out_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_jsonw_writes_compact_object),
		T(test_jsonw_pretty_prints_with_two_space_indent),
		T(test_jsonw_ends_each_top_level_value_with_newline),
		T(test_jsonw_escapes_quote_and_backslash),
		T(test_jsonw_escapes_control_bytes),
		T(test_jsonw_escapes_names),
		T(test_jsonw_passes_valid_utf8_through),
		T(test_jsonw_replaces_invalid_utf8),
		T(test_jsonw_reads_no_byte_past_the_string),
		T(test_jsonw_writes_null_for_a_null_string),
		T(test_jsonw_formats_strings),
		T(test_jsonw_writes_integer_extremes),
		T(test_jsonw_writes_doubles_in_shortest_round_trip_form),
		T(test_jsonw_writes_nan_and_infinity_as_null),
		T(test_jsonw_writes_bools_and_null),
		T(test_jsonw_reports_depth_and_container),
		T(test_jsonw_rejects_a_value_without_a_name),
		T(test_jsonw_rejects_a_name_outside_an_object),
		T(test_jsonw_rejects_two_names_in_a_row),
		T(test_jsonw_rejects_a_name_without_a_value),
		T(test_jsonw_rejects_mismatched_ends),
		T(test_jsonw_rejects_an_end_with_nothing_open),
		T(test_jsonw_rejects_nesting_past_the_limit),
		T(test_jsonw_reports_write_errors),
		T(test_jsonw_free_accepts_null),
	};

	return cmocka_run_group_tests_name("jsonw", tests, NULL, NULL);
}
