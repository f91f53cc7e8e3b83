// SPDX-License-Identifier: Apache-2.0
/*
 * The hot-path JSON scanner, queries and rewriter. Every input is parsed
 * from a buffer that ends right before a guard page, so reading one byte
 * past it crashes. Each rule has inputs it refuses (with the error code and
 * offset) and near misses it accepts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "guard_page.h"

static struct json_scratch scratch;

/* A parsed input that stays mapped until the test releases it. */
struct parsed {
	struct guarded g;
	struct json_doc doc;
	int rc;
};

static void parse_len(struct parsed *p, const char *s, size_t len)
{
	assert_int_equal(guarded_init(&p->g, s, len), 0);
	p->rc = json_parse(&p->doc, p->g.data, len, &scratch);
}

static void parse(struct parsed *p, const char *s)
{
	parse_len(p, s, strlen(s));
}

static void release(struct parsed *p)
{
	guarded_fini(&p->g);
}

struct bad {
	const char *in;
	enum json_err code;
	size_t offset;
};

static void expect_bad(const struct bad *t, size_t n)
{
	struct parsed p;
	size_t i;

	for (i = 0; i < n; i++) {
		parse(&p, t[i].in);
		if (p.rc != -EINVAL || p.doc.err.code != t[i].code ||
		    p.doc.err.offset != t[i].offset)
			fail_msg("input #%zu %s: rc %d code %d (%s) at %zu, want code %d at %zu",
				 i, t[i].in, p.rc, p.doc.err.code,
				 json_strerror(p.doc.err.code),
				 p.doc.err.offset, t[i].code, t[i].offset);
		assert_int_equal(p.doc.root.kind, JSON_K_NONE);
		release(&p);
	}
}

static void expect_good(const char *const *t, size_t n)
{
	struct parsed p;
	size_t i;

	for (i = 0; i < n; i++) {
		parse(&p, t[i]);
		if (p.rc)
			fail_msg("input #%zu %s: refused: %s at %zu", i, t[i],
				 json_strerror(p.doc.err.code),
				 p.doc.err.offset);
		release(&p);
	}
}

#define BAD(...) do { \
	static const struct bad t_[] = { __VA_ARGS__ }; \
	expect_bad(t_, sizeof(t_) / sizeof(t_[0])); \
} while (0)

#define GOOD(...) do { \
	static const char *const t_[] = { __VA_ARGS__ }; \
	expect_good(t_, sizeof(t_) / sizeof(t_[0])); \
} while (0)

static void test_json_accepts_every_kind_of_value(void **state)
{
	struct parsed p;

	(void)state;
	GOOD("{}", "[]", "0", "-0", "1.5e+10", "-2E-3", "\"\"", "true",
	     "false", " \t\r\nnull \t\r\n", "[[[]]]", "{\"a\":{\"b\":[1,{}]}}",
	     "[1, 2 ,3 ]", "{ \"a\" : 1 , \"b\" : 2 }");
	parse(&p, "  [1,\"x\"]  ");
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.doc.root.kind, JSON_K_ARRAY);
	assert_int_equal(p.doc.root.p - p.g.data, 2);
	assert_int_equal(p.doc.root.len, 7);
	assert_int_equal(p.doc.n_top, 0);
	release(&p);
}

static void test_json_rejects_invalid_utf8(void **state)
{
	(void)state;
	BAD({ "\"\xc0\xaf\"", JSON_E_UTF8, 1 },		/* overlong '/' */
	    { "\"\xe0\x80\xaf\"", JSON_E_UTF8, 1 },	/* overlong, 3 bytes */
	    { "\"\xf0\x80\x80\xaf\"", JSON_E_UTF8, 1 },	/* overlong, 4 bytes */
	    { "\"ab\xed\xa0\x80\"", JSON_E_UTF8, 3 },	/* U+D800 in UTF-8 */
	    { "\"\xed\xbf\xbf\"", JSON_E_UTF8, 1 },	/* U+DFFF in UTF-8 */
	    { "\"\xf4\x90\x80\x80\"", JSON_E_UTF8, 1 },	/* U+110000 */
	    { "\"\xf5\x80\x80\x80\"", JSON_E_UTF8, 1 },
	    { "\"\x80\"", JSON_E_UTF8, 1 },		/* lone continuation */
	    { "\"\xe2\x82\"", JSON_E_UTF8, 1 },		/* cut short */
	    { "\"\xe2\x82", JSON_E_UTF8, 1 },		/* cut by the end */
	    { "\"\xff\"", JSON_E_UTF8, 1 },
	    { "\xef\xbb\xbf{}", JSON_E_TOKEN, 0 },	/* byte order mark */
	    { "{\"k\xc3\":1}", JSON_E_UTF8, 3 });	/* in a key */
	GOOD("\"\xc2\x80\"", "\"\xe2\x82\xac\"", "\"\xed\x9f\xbf\"",
	     "\"\xee\x80\x80\"", "\"\xf0\x90\x80\x80\"", "\"\xf4\x8f\xbf\xbf\"",
	     "{\"\xc3\xa9t\xc3\xa9\":\"\xe4\xb8\xad\"}");
}

static void test_json_rejects_unpaired_surrogate_escapes(void **state)
{
	(void)state;
	BAD({ "\"\\ud800\"", JSON_E_SURROGATE, 1 },
	    { "\"\\uDBFF\"", JSON_E_SURROGATE, 1 },
	    { "\"\\udc00\"", JSON_E_SURROGATE, 1 },	/* low alone */
	    { "\"x\\ud800\\u0041\"", JSON_E_SURROGATE, 2 },
	    { "\"\\ud800\\ud800\"", JSON_E_SURROGATE, 1 },
	    { "\"\\ud800x\"", JSON_E_SURROGATE, 1 },
	    { "\"\\ud800\\n\"", JSON_E_SURROGATE, 1 },
	    { "\"\\ude00\\ud83d\"", JSON_E_SURROGATE, 1 });	/* reversed */
	GOOD("\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"", "\"\\ud7ff\\ue000\"",
	     "\"\\udbff\\udfff\"");
}

static void test_json_rejects_bad_escapes_and_control_characters(void **state)
{
	(void)state;
	BAD({ "\"a\tb\"", JSON_E_CONTROL, 2 },
	    { "\"\x01\"", JSON_E_CONTROL, 1 },
	    { "\"a\nb\"", JSON_E_CONTROL, 2 },
	    { "\"\x1f\"", JSON_E_CONTROL, 1 },
	    { "\"\\x41\"", JSON_E_ESCAPE, 1 },
	    { "\"\\'\"", JSON_E_ESCAPE, 1 },
	    { "\"\\u12g4\"", JSON_E_ESCAPE, 1 },
	    { "\"\\u12\"", JSON_E_ESCAPE, 1 },
	    { "\"\\u12", JSON_E_TRUNCATED, 5 },
	    { "\"abc", JSON_E_TRUNCATED, 4 },
	    { "\"\\", JSON_E_TRUNCATED, 2 });
	GOOD("\"a\\tb\"", "\"\\u0001\\u001f\"", "\"\x7f\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
	     "\"\\u0000\"", "\"\\uABCD\"");
}

static void test_json_rejects_bad_numbers(void **state)
{
	(void)state;
	BAD({ "01", JSON_E_LEADING_ZERO, 0 },
	    { "-01", JSON_E_LEADING_ZERO, 1 },
	    { "00", JSON_E_LEADING_ZERO, 0 },
	    { "[1,007]", JSON_E_LEADING_ZERO, 3 },
	    { "+1", JSON_E_TOKEN, 0 },
	    { ".5", JSON_E_TOKEN, 0 },
	    { "1.", JSON_E_NUMBER, 2 },
	    { "1.e3", JSON_E_NUMBER, 2 },
	    { "1e", JSON_E_NUMBER, 2 },
	    { "1e+", JSON_E_NUMBER, 3 },
	    { "-", JSON_E_TRUNCATED, 1 },
	    { "-a", JSON_E_NUMBER, 1 },
	    { "0x10", JSON_E_TRAILING, 1 },
	    { "NaN", JSON_E_TOKEN, 0 },
	    { "[NaN]", JSON_E_TOKEN, 1 },
	    { "Infinity", JSON_E_TOKEN, 0 },
	    { "-Infinity", JSON_E_NUMBER, 1 },
	    { "{\"t\":nan}", JSON_E_TOKEN, 5 });
	GOOD("0", "-0", "0.5", "10", "100e-2", "1E+2", "-0.0e0",
	     "123456789012345678901234567890");
}

static void test_json_rejects_trailing_commas_and_garbage(void **state)
{
	(void)state;
	BAD({ "[1,]", JSON_E_TRAILING_COMMA, 3 },
	    { "{\"a\":1,}", JSON_E_TRAILING_COMMA, 7 },
	    { "{\"a\":1 , }", JSON_E_TRAILING_COMMA, 9 },
	    { "[,1]", JSON_E_TOKEN, 1 },
	    { "{,}", JSON_E_EXPECTED_KEY, 1 },
	    { "[1 2]", JSON_E_EXPECTED_COMMA, 3 },
	    { "{\"a\" 1}", JSON_E_EXPECTED_COLON, 5 },
	    { "{a:1}", JSON_E_EXPECTED_KEY, 1 },
	    { "{\"a\":1]", JSON_E_EXPECTED_COMMA, 6 },
	    { "{} x", JSON_E_TRAILING, 3 },
	    { "{}}", JSON_E_TRAILING, 2 },
	    { "1 2", JSON_E_TRAILING, 2 },
	    { "tru", JSON_E_TOKEN, 0 },
	    { "truex", JSON_E_TRAILING, 4 },
	    { "'a'", JSON_E_TOKEN, 0 },
	    { "", JSON_E_TRUNCATED, 0 },
	    { "  ", JSON_E_TRUNCATED, 2 },
	    { "[", JSON_E_TRUNCATED, 1 },
	    { "{\"a\":", JSON_E_TRUNCATED, 5 },
	    { "{\"a\"", JSON_E_TRUNCATED, 4 },
	    { "[1", JSON_E_TRUNCATED, 2 });
	GOOD("[1]", "{\"a\":1}", "{} \n", "[ ]", "{ }");
}

static void test_json_rejects_duplicate_keys_at_any_depth(void **state)
{
	(void)state;
	BAD({ "{\"a\":1,\"a\":2}", JSON_E_DUPLICATE_KEY, 7 },
	    { "{\"model\":\"a\",\"stream\":true,\"model\":\"b\"}",
	      JSON_E_DUPLICATE_KEY, 27 },
	    { "{\"x\":{\"a\":1,\"a\":2}}", JSON_E_DUPLICATE_KEY, 12 },
	    { "[{\"a\":[{\"b\":1,\"c\":2,\"b\":3}]}]", JSON_E_DUPLICATE_KEY, 20 },
	    { "{\"\":1,\"\":2}", JSON_E_DUPLICATE_KEY, 6 });
	GOOD("[{\"a\":1},{\"a\":1}]", "{\"a\":{\"a\":1}}", "{\"a\":1,\"A\":1}",
	     "{\"a\":1,\"a\\u0000\":1}", "{\"a\":1,\"ab\":1}");
}

/* The name is compared after unescaping: an escaped second "model" is the
 * same member and must not slip past a policy that read the first. */
static void test_json_rejects_duplicate_key_spelled_with_escapes(void **state)
{
	(void)state;
	BAD({ "{\"model\":\"a\",\"\\u006dodel\":\"b\"}", JSON_E_DUPLICATE_KEY, 13 },
	    { "{\"\\u006Dodel\":\"a\",\"model\":\"b\"}", JSON_E_DUPLICATE_KEY, 18 },
	    { "{\"a/b\":1,\"a\\/b\":2}", JSON_E_DUPLICATE_KEY, 9 },
	    { "{\"\xc3\xa9\":1,\"\\u00e9\":2}", JSON_E_DUPLICATE_KEY, 8 },
	    { "{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}",
	      JSON_E_DUPLICATE_KEY, 10 });
	GOOD("{\"model\":\"a\",\"\\u006dodels\":\"b\"}",
	     "{\"\xc3\xa9\":1,\"\\u00e8\":2}");
}

/* Objects above the pairwise size are sorted by key hash; a repeat at
 * either end of a large object is still found. */
static void test_json_finds_duplicates_in_large_objects(void **state)
{
	char *buf = malloc(64 * 1024);
	struct parsed p;
	size_t n;
	int i;

	(void)state;
	assert_non_null(buf);
	for (int dup = 0; dup < 3; dup++) {
		n = (size_t)sprintf(buf, "{");
		for (i = 0; i < 300; i++)
			n += (size_t)sprintf(buf + n, "%s\"key%d\":%d",
					     i ? "," : "", i, i);
		if (dup == 1)	/* the first key again, escaped */
			n += (size_t)sprintf(buf + n, ",\"\\u006bey0\":0");
		if (dup == 2)
			n += (size_t)sprintf(buf + n, ",\"key299\":0");
		n += (size_t)sprintf(buf + n, "}");
		parse_len(&p, buf, n);
		if (dup) {
			assert_int_equal(p.rc, -EINVAL);
			assert_int_equal(p.doc.err.code, JSON_E_DUPLICATE_KEY);
			assert_int_equal(buf[p.doc.err.offset], '"');
			assert_int_equal(p.doc.err.offset, dup == 1 ? n - 14 : n - 11);
		} else {
			assert_int_equal(p.rc, 0);
			assert_int_equal(p.doc.n_top, TG_JSON_TOP_MAX);
			assert_true(p.doc.top_partial);
		}
		release(&p);
	}
	free(buf);
}

static void test_json_bounds_nesting_depth(void **state)
{
	char buf[2 * TG_JSON_SCAN_DEPTH_MAX + 8];
	char obj[6 * TG_JSON_SCAN_DEPTH_MAX + 16];
	struct parsed p;
	int d;

	(void)state;
	for (d = TG_JSON_SCAN_DEPTH_MAX; d <= TG_JSON_SCAN_DEPTH_MAX + 1; d++) {
		memset(buf, '[', (size_t)d);
		memset(buf + d, ']', (size_t)d);
		parse_len(&p, buf, 2 * (size_t)d);
		if (d == TG_JSON_SCAN_DEPTH_MAX) {
			assert_int_equal(p.rc, 0);
		} else {
			assert_int_equal(p.rc, -EINVAL);
			assert_int_equal(p.doc.err.code, JSON_E_DEPTH);
			assert_int_equal(p.doc.err.offset, TG_JSON_SCAN_DEPTH_MAX);
		}
		release(&p);
	}
	/* Objects count too. */
	for (size_t o = TG_JSON_SCAN_DEPTH_MAX; o <= TG_JSON_SCAN_DEPTH_MAX + 1; o++) {
		size_t n = 0;

		for (size_t i = 0; i < o; i++, n += 5)
			memcpy(obj + n, "{\"a\":", 5);
		obj[n++] = '1';
		memset(obj + n, '}', o);
		n += o;
		parse_len(&p, obj, n);
		if (o == TG_JSON_SCAN_DEPTH_MAX) {
			assert_int_equal(p.rc, 0);
		} else {
			assert_int_equal(p.doc.err.code, JSON_E_DEPTH);
			assert_int_equal(p.doc.err.offset, 5 * TG_JSON_SCAN_DEPTH_MAX);
		}
		release(&p);
	}
}

static void test_json_bounds_open_keys(void **state)
{
	size_t cap = 16 * TG_JSON_KEYS_MAX + 64, n;
	char *buf = malloc(cap);
	struct parsed p;
	int i, extra;

	(void)state;
	assert_non_null(buf);
	for (extra = 0; extra <= 1; extra++) {
		n = (size_t)sprintf(buf, "{");
		for (i = 0; i < TG_JSON_KEYS_MAX + extra; i++)
			n += (size_t)sprintf(buf + n, "%s\"%x\":0", i ? "," : "", i);
		n += (size_t)sprintf(buf + n, "}");
		parse_len(&p, buf, n);
		if (!extra) {
			assert_int_equal(p.rc, 0);
		} else {
			assert_int_equal(p.rc, -EINVAL);
			assert_int_equal(p.doc.err.code, JSON_E_TOO_MANY_KEYS);
		}
		release(&p);
	}
	free(buf);
}

static const char chat[] =
	"{\"model\":\"gpt-4o\", \"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
	"{\"role\":\"user\",\"content\":\"caf\\u00e9 \\ud83d\\ude00\"}],"
	"\"stream\":true,\"max_tokens\":-42,\"temperature\":0.25,\"user\":null}";

static void test_json_finds_top_level_members(void **state)
{
	struct json_value v;
	struct parsed p;
	bool b;
	int64_t n;
	double d;

	(void)state;
	parse(&p, chat);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.doc.n_top, 6);
	assert_false(p.doc.top_partial);
	assert_int_equal(json_find(&p.doc, "model", &v), 0);
	assert_int_equal(v.kind, JSON_K_STRING);
	assert_int_equal(v.len, 8);
	assert_memory_equal(v.p, "\"gpt-4o\"", 8);
	assert_true(json_str_eq(&v, "gpt-4o", 6));
	assert_false(json_str_eq(&v, "gpt-4", 5));
	assert_int_equal(json_find(&p.doc, "stream", &v), 0);
	assert_int_equal(json_get_bool(&v, &b), 0);
	assert_true(b);
	assert_int_equal(json_find(&p.doc, "max_tokens", &v), 0);
	assert_int_equal(v.flags & JSON_F_INT, JSON_F_INT);
	assert_int_equal(json_get_int(&v, &n), 0);
	assert_int_equal(n, -42);
	assert_int_equal(json_find(&p.doc, "temperature", &v), 0);
	assert_int_equal(json_get_int(&v, &n), -EINVAL);
	assert_int_equal(json_get_double(&v, &d), 0);
	assert_true(d == 0.25);
	assert_int_equal(json_find(&p.doc, "user", &v), 0);
	assert_int_equal(v.kind, JSON_K_NULL);
	assert_int_equal(json_get_bool(&v, &b), -EINVAL);
	assert_int_equal(json_find(&p.doc, "messages", &v), 0);
	assert_int_equal(v.kind, JSON_K_ARRAY);
	assert_int_equal(v.p[0], '[');
	assert_int_equal(v.p[v.len - 1], ']');
	assert_int_equal(json_find(&p.doc, "tools", &v), -ENOENT);
	assert_int_equal(json_find(&p.doc, "mode", &v), -ENOENT);
	release(&p);

	/* A key spelled with escapes is found by its unescaped name. */
	parse(&p, "{\"\\u006dodel\":\"x\"}");
	assert_int_equal(json_find(&p.doc, "model", &v), 0);
	assert_true(json_str_eq(&v, "x", 1));
	release(&p);

	parse(&p, "[1]");
	assert_int_equal(p.rc, 0);
	assert_int_equal(json_find(&p.doc, "model", &v), -EINVAL);
	release(&p);
}

/* Past TG_JSON_TOP_MAX members the index stops; json_find() walks on. */
static void test_json_finds_members_past_the_index(void **state)
{
	char buf[4096];
	struct json_value v;
	struct parsed p;
	size_t n;
	int64_t x;
	int i;

	(void)state;
	n = (size_t)sprintf(buf, "{");
	for (i = 0; i < TG_JSON_TOP_MAX + 10; i++)
		n += (size_t)sprintf(buf + n, "%s\"m%d\":%d", i ? "," : "", i, i);
	n += (size_t)sprintf(buf + n, "}");
	parse_len(&p, buf, n);
	assert_int_equal(p.rc, 0);
	assert_true(p.doc.top_partial);
	assert_int_equal(json_find(&p.doc, "m3", &v), 0);
	assert_int_equal(json_get_int(&v, &x), 0);
	assert_int_equal(x, 3);
	sprintf(buf, "m%d", TG_JSON_TOP_MAX + 9);
	assert_int_equal(json_find(&p.doc, buf, &v), 0);
	assert_int_equal(json_get_int(&v, &x), 0);
	assert_int_equal(x, TG_JSON_TOP_MAX + 9);
	assert_int_equal(json_find(&p.doc, "m999", &v), -ENOENT);
	release(&p);
}

static void test_json_iterates_arrays_and_objects(void **state)
{
	struct json_value msgs, k, v, role, content;
	struct json_iter it, inner;
	struct parsed p;
	char out[64];
	int i = 0;

	(void)state;
	parse(&p, chat);
	assert_int_equal(json_find(&p.doc, "messages", &msgs), 0);
	json_iter_init(&it, &msgs);
	while (json_iter_next(&it, &k, &v)) {
		assert_int_equal(k.kind, JSON_K_NONE);
		assert_int_equal(v.kind, JSON_K_OBJECT);
		assert_int_equal(json_obj_find(&v, "role", 4, &role), 0);
		assert_int_equal(json_obj_find(&v, "content", 7, &content), 0);
		assert_int_equal(json_obj_find(&v, "name", 4, &content), -ENOENT);
		json_str_decode(&content, out, sizeof(out));
		if (i == 0) {
			assert_true(json_str_eq(&role, "system", 6));
			assert_string_equal(out, "Be brief.");
		} else {
			assert_true(json_str_eq(&role, "user", 4));
			assert_string_equal(out, "caf\xc3\xa9 \xf0\x9f\x98\x80");
		}
		/* The members of each message, in order. */
		json_iter_init(&inner, &v);
		assert_true(json_iter_next(&inner, &k, &role));
		assert_true(json_str_eq(&k, "role", 4));
		assert_true(json_iter_next(&inner, &k, &content));
		assert_true(json_str_eq(&k, "content", 7));
		assert_false(json_iter_next(&inner, &k, &content));
		i++;
	}
	assert_int_equal(i, 2);
	/* Empty containers and scalars walk nothing. */
	json_iter_init(&it, &p.doc.top[2].val);	/* "stream": true */
	assert_false(json_iter_next(&it, NULL, &v));
	release(&p);

	parse(&p, "[ [ ] , { } ,\"a,]\" , -1.5e3 ]");
	assert_int_equal(p.rc, 0);
	json_iter_init(&it, &p.doc.root);
	assert_true(json_iter_next(&it, NULL, &v));
	assert_int_equal(v.kind, JSON_K_ARRAY);
	json_iter_init(&inner, &v);
	assert_false(json_iter_next(&inner, NULL, &k));
	assert_true(json_iter_next(&it, NULL, &v));
	assert_int_equal(v.kind, JSON_K_OBJECT);
	assert_int_equal(v.len, 3);
	assert_true(json_iter_next(&it, NULL, &v));
	assert_true(json_str_eq(&v, "a,]", 3));
	assert_true(json_iter_next(&it, NULL, &v));
	assert_int_equal(v.kind, JSON_K_NUMBER);
	assert_int_equal(v.len, 6);
	assert_int_equal(v.flags, 0);
	assert_false(json_iter_next(&it, NULL, &v));
	release(&p);
}

static void test_json_decodes_strings(void **state)
{
	static const char in[] =
		"[\"plain\",\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\","
		"\"\\u0041\\u00e9\\u4e2d\\ud83d\\ude00\",\"x\\u0000y\",1]";
	struct json_value v;
	struct json_iter it;
	struct parsed p;
	char out[32];

	(void)state;
	parse(&p, in);
	assert_int_equal(p.rc, 0);
	json_iter_init(&it, &p.doc.root);

	assert_true(json_iter_next(&it, NULL, &v));
	assert_int_equal(v.flags & JSON_F_ESCAPED, 0);
	assert_int_equal(json_str_decode(&v, out, sizeof(out)), 5);
	assert_string_equal(out, "plain");
	assert_int_equal(json_str_decode(&v, out, 6), 5);
	assert_int_equal(json_str_decode(&v, out, 5), -ENOSPC);

	assert_true(json_iter_next(&it, NULL, &v));
	assert_int_equal(v.flags & JSON_F_ESCAPED, JSON_F_ESCAPED);
	assert_int_equal(json_str_decode(&v, out, sizeof(out)), 12);
	assert_string_equal(out, "a\"b\\c/d\b\f\n\r\t");
	assert_int_equal(json_str_decode(&v, out, 13), 12);
	assert_int_equal(json_str_decode(&v, out, 12), -ENOSPC);
	assert_true(json_str_eq(&v, "a\"b\\c/d\b\f\n\r\t", 12));
	assert_false(json_str_eq(&v, "a\"b\\c/d\b\f\n\r", 11));

	assert_true(json_iter_next(&it, NULL, &v));
	assert_int_equal(json_str_decode(&v, out, sizeof(out)), 10);
	assert_string_equal(out, "A\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");

	assert_true(json_iter_next(&it, NULL, &v));
	assert_int_equal(json_str_decode(&v, out, sizeof(out)), 3);
	assert_memory_equal(out, "x\0y", 4);
	assert_true(json_str_eq(&v, "x\0y", 3));
	assert_false(json_str_eq(&v, "x", 1));

	assert_true(json_iter_next(&it, NULL, &v));
	assert_int_equal(json_str_decode(&v, out, sizeof(out)), -EINVAL);
	assert_false(json_str_eq(&v, "1", 1));
	release(&p);
}

static void test_json_converts_numbers(void **state)
{
	static const struct {
		const char *in;
		int rc;
		int64_t v;
	} ints[] = {
		{ "0", 0, 0 },
		{ "-0", 0, 0 },
		{ "9223372036854775807", 0, INT64_MAX },
		{ "-9223372036854775808", 0, INT64_MIN },
		{ "9223372036854775808", -ERANGE, 0 },
		{ "-9223372036854775809", -ERANGE, 0 },
		{ "99999999999999999999", -ERANGE, 0 },
		{ "1.0", -EINVAL, 0 },
		{ "1e2", -EINVAL, 0 },
		{ "\"1\"", -EINVAL, 0 },
	};
	struct parsed p;
	int64_t v;
	double d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		parse(&p, ints[i].in);
		assert_int_equal(p.rc, 0);
		v = 12345;
		assert_int_equal(json_get_int(&p.doc.root, &v), ints[i].rc);
		if (!ints[i].rc)
			assert_true(v == ints[i].v);
		release(&p);
	}
	parse(&p, "1.5e3");
	assert_int_equal(json_get_double(&p.doc.root, &d), 0);
	assert_true(d == 1500.0);
	release(&p);
	parse(&p, "-1e400");
	assert_int_equal(json_get_double(&p.doc.root, &d), -ERANGE);
	release(&p);
	parse(&p, "1e-400");	/* underflow is a value: zero */
	assert_int_equal(json_get_double(&p.doc.root, &d), 0);
	assert_true(d == 0.0);
	release(&p);
	parse(&p, "true");
	assert_int_equal(json_get_double(&p.doc.root, &d), -EINVAL);
	release(&p);
	/* Longer than the conversion buffer: refused, not truncated. */
	{
		char big[TG_JSON_NUMBER_MAX + 2];

		memset(big, '1', sizeof(big));
		big[1] = '.';
		parse_len(&p, big, TG_JSON_NUMBER_MAX);
		assert_int_equal(json_get_double(&p.doc.root, &d), 0);
		release(&p);
		parse_len(&p, big, TG_JSON_NUMBER_MAX + 1);
		assert_int_equal(json_get_double(&p.doc.root, &d), -ERANGE);
		release(&p);
	}
}

static int rewrite(const char *in, const struct json_edit *e, size_t n,
		   char *out, size_t cap, size_t *len)
{
	struct parsed p;
	int rc;

	parse(&p, in);
	assert_int_equal(p.rc, 0);
	rc = json_rewrite(&p.doc, e, n, out, cap, len);
	release(&p);
	return rc;
}

/* The output of a rewrite is valid JSON and equals `want`. */
static void expect_rewrite(const char *in, const struct json_edit *e,
			   size_t n, const char *want)
{
	char out[1024];
	struct parsed p;
	size_t len = 0;

	assert_int_equal(rewrite(in, e, n, out, sizeof(out), &len), 0);
	out[len] = '\0';
	assert_string_equal(out, want);
	parse_len(&p, out, len);
	assert_int_equal(p.rc, 0);
	release(&p);
}

#define EDIT_STR(k, s) { .key = (k), .op = JSON_EDIT_SET, .value = (s), \
			 .value_len = strlen(s), .is_string = true }
#define EDIT_JSON(k, o, s) { .key = (k), .op = (o), .value = (s), \
			     .value_len = strlen(s) }
#define EDIT_DEL(k) { .key = (k), .op = JSON_EDIT_REMOVE }

static void test_json_rewrite_replaces_and_keeps_the_rest(void **state)
{
	const struct json_edit model[] = { EDIT_STR("model", "gpt-4o-mini") };
	const struct json_edit num[] = {
		EDIT_JSON("max_tokens", JSON_EDIT_SET, " 100 "),
	};

	(void)state;
	expect_rewrite("{\"model\":\"gpt-4o\",\"stream\":true}", model, 1,
		       "{\"model\":\"gpt-4o-mini\",\"stream\":true}");
	/* Space around members and values is kept, byte for byte. */
	expect_rewrite("{ \"a\" : [1, 2] ,\n \"model\" :  \"x\"  ,\"b\":{}\n}",
		       model, 1,
		       "{ \"a\" : [1, 2] ,\n \"model\" :  \"gpt-4o-mini\"  ,\"b\":{}\n}");
	/* Found by its unescaped name, and the key is kept as written. */
	expect_rewrite("{\"\\u006dodel\":\"x\"}", model, 1,
		       "{\"\\u006dodel\":\"gpt-4o-mini\"}");
	/* Only top-level members are edited. */
	expect_rewrite("{\"a\":{\"model\":1}}", model, 1,
		       "{\"a\":{\"model\":1},\"model\":\"gpt-4o-mini\"}");
	expect_rewrite("{\"max_tokens\":{\"deep\":[1]}}", num, 1,
		       "{\"max_tokens\":100}");
	expect_rewrite("{}", model, 1, "{\"model\":\"gpt-4o-mini\"}");
	/* No edits: a copy. */
	expect_rewrite(chat, NULL, 0, chat);
}

static void test_json_rewrite_removes_members(void **state)
{
	const struct json_edit del[] = { EDIT_DEL("user") };
	const struct json_edit two[] = { EDIT_DEL("a"), EDIT_DEL("c") };

	(void)state;
	expect_rewrite("{\"user\":1,\"b\":2}", del, 1, "{\"b\":2}");
	expect_rewrite("{\"a\":1,\"user\":\"x\",\"b\":2}", del, 1,
		       "{\"a\":1,\"b\":2}");
	expect_rewrite("{\"a\":1, \"user\":null}", del, 1, "{\"a\":1}");
	expect_rewrite("{\"user\":[]}", del, 1, "{}");
	expect_rewrite("{\"b\":2}", del, 1, "{\"b\":2}");
	expect_rewrite("{\"a\":1,\"b\":2,\"c\":3}", two, 2, "{\"b\":2}");
}

static void test_json_rewrite_adds_or_merges_stream_options(void **state)
{
	const struct json_edit usage[] = {
		EDIT_JSON("stream_options", JSON_EDIT_MERGE,
			  "{\"include_usage\":true}"),
	};
	const struct json_edit several[] = {
		EDIT_STR("model", "m2"),
		EDIT_JSON("stream_options", JSON_EDIT_MERGE,
			  "{\"include_usage\":true,\"x\":[1]}"),
		EDIT_DEL("n"),
	};

	(void)state;
	expect_rewrite("{\"stream\":true}", usage, 1,
		       "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
	expect_rewrite("{\"stream_options\":{\"include_usage\":false},\"stream\":true}",
		       usage, 1,
		       "{\"stream_options\":{\"include_usage\":true},\"stream\":true}");
	expect_rewrite("{\"stream_options\":{ \"other\":1 }}", usage, 1,
		       "{\"stream_options\":{ \"other\":1 ,\"include_usage\":true}}");
	expect_rewrite("{\"stream_options\":{}}", usage, 1,
		       "{\"stream_options\":{\"include_usage\":true}}");
	/* Not an object: replaced by the value. */
	expect_rewrite("{\"stream_options\":null}", usage, 1,
		       "{\"stream_options\":{\"include_usage\":true}}");
	expect_rewrite("{\"n\":2,\"model\":\"m\",\"stream_options\":"
		       "{\"include_\\u0075sage\":false,\"keep\":1}}",
		       several, 3,
		       "{\"model\":\"m2\",\"stream_options\":"
		       "{\"include_\\u0075sage\":true,\"keep\":1,\"x\":[1]}}");
}

static void test_json_rewrite_reports_the_size_needed(void **state)
{
	const struct json_edit usage[] = {
		EDIT_JSON("stream_options", JSON_EDIT_MERGE,
			  "{\"include_usage\":true}"),
	};
	static const char in[] = "{\"model\":\"m\"}";
	static const char want[] =
		"{\"model\":\"m\",\"stream_options\":{\"include_usage\":true}}";
	struct guarded g = { 0 };
	size_t len = 0, cap;
	char buf[128];

	(void)state;
	for (cap = 0; cap < sizeof(want) - 1; cap++) {
		assert_int_equal(rewrite(in, usage, 1, buf, cap, &len), -ENOSPC);
		assert_int_equal(len, sizeof(want) - 1);
	}
	/* Exactly the size needed, ending at a guard page. */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(guarded_init(&g, buf, sizeof(want) - 1), 0);
	assert_int_equal(rewrite(in, usage, 1, g.data, sizeof(want) - 1, &len), 0);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(g.data, want, len);
	guarded_fini(&g);
}

static void test_json_rewrite_refuses_bad_edits(void **state)
{
	const struct json_edit bad[][2] = {
		{ EDIT_STR("mo\"del", "x") },
		{ EDIT_STR("mo\\del", "x") },
		{ EDIT_STR("mo\ndel", "x") },
		{ EDIT_STR("model", "a\"b") },
		{ EDIT_STR("model", "a\\b") },
		{ EDIT_STR("model", "a\tb") },
		{ EDIT_STR("model", "\xc0\xaf") },
		{ EDIT_JSON("model", JSON_EDIT_SET, "{\"a\":1,\"a\":2}") },
		{ EDIT_JSON("model", JSON_EDIT_SET, "[1,]") },
		{ EDIT_JSON("model", JSON_EDIT_SET, "") },
		{ EDIT_JSON("stream_options", JSON_EDIT_MERGE, "[1]") },
		{ EDIT_STR("model", "x"), EDIT_DEL("model") },
		{ { .key = NULL, .op = JSON_EDIT_REMOVE } },
	};
	const size_t n_of[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1 };
	struct json_edit many[TG_JSON_EDITS_MAX + 1];
	char out[256], names[TG_JSON_EDITS_MAX + 1][8];
	struct parsed p;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rewrite("{\"model\":\"m\"}", bad[i], n_of[i], out,
			    sizeof(out), &len) != -EINVAL)
			fail_msg("edit #%zu accepted", i);
	for (i = 0; i <= TG_JSON_EDITS_MAX; i++) {
		sprintf(names[i], "k%zu", i);
		many[i] = (struct json_edit)EDIT_DEL(names[i]);
	}
	assert_int_equal(rewrite("{}", many, TG_JSON_EDITS_MAX, out,
				 sizeof(out), &len), 0);
	assert_int_equal(rewrite("{}", many, TG_JSON_EDITS_MAX + 1, out,
				 sizeof(out), &len), -EINVAL);
	/* Only an object root can be rewritten. */
	parse(&p, "[1]");
	assert_int_equal(json_rewrite(&p.doc, NULL, 0, out, sizeof(out), &len),
			 -EINVAL);
	release(&p);
	/* Strings that need no escaping, UTF-8 included, go in as they are. */
	{
		const struct json_edit ok[] = { EDIT_STR("model", "caf\xc3\xa9/1:2") };

		expect_rewrite("{}", ok, 1, "{\"model\":\"caf\xc3\xa9/1:2\"}");
	}
}

/* A root with more members than the index holds is walked instead. */
static void test_json_rewrite_walks_past_the_index(void **state)
{
	const struct json_edit e[] = {
		EDIT_JSON("m5", JSON_EDIT_SET, "\"five\""),
		EDIT_DEL("m69"),
		EDIT_STR("model", "x"),
	};
	char in[2048], want[2048], out[2048];
	struct parsed p;
	size_t n = 0, w = 0, len;
	int i;

	(void)state;
	assert_true(TG_JSON_TOP_MAX < 70);
	n += (size_t)sprintf(in + n, "{");
	w += (size_t)sprintf(want + w, "{");
	for (i = 0; i < 70; i++) {
		n += (size_t)sprintf(in + n, "%s\"m%d\":%d", i ? "," : "", i, i);
		if (i == 5)
			w += (size_t)sprintf(want + w, ",\"m5\":\"five\"");
		else if (i != 69)
			w += (size_t)sprintf(want + w, "%s\"m%d\":%d", i ? "," : "",
					     i, i);
	}
	n += (size_t)sprintf(in + n, "}");
	w += (size_t)sprintf(want + w, ",\"model\":\"x\"}");
	parse_len(&p, in, n);
	assert_int_equal(p.rc, 0);
	assert_true(p.doc.top_partial);
	assert_int_equal(json_rewrite(&p.doc, e, 3, out, sizeof(out), &len), 0);
	assert_int_equal(len, w);
	assert_memory_equal(out, want, w);
	release(&p);
}

static void test_json_strerror_names_every_code(void **state)
{
	int c;

	(void)state;
	for (c = 0; c < JSON_E_COUNT; c++)
		assert_non_null(json_strerror((enum json_err)c));
	assert_string_equal(json_strerror(JSON_E_DUPLICATE_KEY), "duplicate key");
	assert_string_equal(json_strerror(JSON_E_COUNT), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_accepts_every_kind_of_value),
		cmocka_unit_test(test_json_rejects_invalid_utf8),
		cmocka_unit_test(test_json_rejects_unpaired_surrogate_escapes),
		cmocka_unit_test(test_json_rejects_bad_escapes_and_control_characters),
		cmocka_unit_test(test_json_rejects_bad_numbers),
		cmocka_unit_test(test_json_rejects_trailing_commas_and_garbage),
		cmocka_unit_test(test_json_rejects_duplicate_keys_at_any_depth),
		cmocka_unit_test(test_json_rejects_duplicate_key_spelled_with_escapes),
		cmocka_unit_test(test_json_finds_duplicates_in_large_objects),
		cmocka_unit_test(test_json_bounds_nesting_depth),
		cmocka_unit_test(test_json_bounds_open_keys),
		cmocka_unit_test(test_json_finds_top_level_members),
		cmocka_unit_test(test_json_finds_members_past_the_index),
		cmocka_unit_test(test_json_iterates_arrays_and_objects),
		cmocka_unit_test(test_json_decodes_strings),
		cmocka_unit_test(test_json_converts_numbers),
		cmocka_unit_test(test_json_rewrite_replaces_and_keeps_the_rest),
		cmocka_unit_test(test_json_rewrite_removes_members),
		cmocka_unit_test(test_json_rewrite_adds_or_merges_stream_options),
		cmocka_unit_test(test_json_rewrite_reports_the_size_needed),
		cmocka_unit_test(test_json_rewrite_refuses_bad_edits),
		cmocka_unit_test(test_json_rewrite_walks_past_the_index),
		cmocka_unit_test(test_json_strerror_names_every_code),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
