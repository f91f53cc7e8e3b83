// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the hot-path JSON scanner against jansson, on the same
 * bytes. jansson is run as strict as it goes (JSON_REJECT_DUPLICATES, the
 * EOF check on) with JSON_DECODE_ANY (RFC 8259 allows any root) and
 * JSON_ALLOW_NUL (\u0000 is valid JSON, and we accept it).
 *
 * - Accept/reject must agree, except for the documented differences
 *   (docs/json.md): we refuse nesting past TG_JSON_SCAN_DEPTH_MAX and more
 *   than TG_JSON_KEYS_MAX open keys where jansson's bounds are larger;
 *   jansson refuses numbers its int64/double cannot hold and NUL in object
 *   keys, which are valid JSON that we accept; and jansson skips a raw NUL
 *   byte after a number or literal, so input with a raw NUL (never valid)
 *   is only checked to be refused.
 * - When both accept, the trees must be equal: every member and element,
 *   strings after unescaping, integers and doubles by value; and the root's
 *   member index must match a walk of the root.
 * - For an object root, json_rewrite() with a fixed set of edits (set
 *   "model", remove "stream", merge {"include_usage":true} into
 *   "stream_options") plus one from the input (its first member removed,
 *   or set to its last member's value) must give text both parsers accept
 *   and that jansson reads as the input's tree with the same edits made by
 *   jansson; one byte less of room must give -ENOSPC and the same size.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json.h"

static struct json_scratch scratch;
static char *tmp;		/* decoded keys and strings: input size + 1 */
static size_t tmp_cap;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_json: " __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

static size_t decode(const struct json_value *v)
{
	ssize_t n = json_str_decode(v, tmp, tmp_cap);

	CHECK(n >= 0, "json_str_decode: %zd", n);
	return (size_t)n;
}

static void same_tree(const struct json_value *v, json_t *j)
{
	struct json_value k, e;
	struct json_iter it;
	size_t n = 0, len;
	int64_t i;
	double d;
	bool b;

	switch (v->kind) {
	case JSON_K_OBJECT:
		CHECK(json_is_object(j), "object vs jansson type %d", json_typeof(j));
		json_iter_init(&it, v);
		while (json_iter_next(&it, &k, &e)) {
			json_t *m;

			len = decode(&k);
			m = json_object_getn(j, tmp, len);
			CHECK(m, "member %.*s missing in jansson", (int)len, tmp);
			same_tree(&e, m);
			n++;
		}
		CHECK(n == json_object_size(j), "%zu members vs %zu", n,
		      json_object_size(j));
		break;
	case JSON_K_ARRAY:
		CHECK(json_is_array(j), "array vs jansson type %d", json_typeof(j));
		json_iter_init(&it, v);
		while (json_iter_next(&it, NULL, &e)) {
			CHECK(n < json_array_size(j), "more elements than jansson");
			same_tree(&e, json_array_get(j, n));
			n++;
		}
		CHECK(n == json_array_size(j), "%zu elements vs %zu", n,
		      json_array_size(j));
		break;
	case JSON_K_STRING:
		CHECK(json_is_string(j), "string vs jansson type %d", json_typeof(j));
		len = decode(v);
		CHECK(len == json_string_length(j) &&
		      !memcmp(tmp, json_string_value(j), len),
		      "string %.*s differs", (int)v->len, v->p);
		CHECK(json_str_eq(v, json_string_value(j), json_string_length(j)),
		      "json_str_eq disagrees with json_str_decode");
		break;
	case JSON_K_NUMBER:
		if (json_is_integer(j)) {
			CHECK(v->flags & JSON_F_INT, "%.*s: jansson integer",
			      (int)v->len, v->p);
			CHECK(!json_get_int(v, &i) && i == json_integer_value(j),
			      "integer %.*s differs", (int)v->len, v->p);
		} else {
			CHECK(json_is_real(j), "number vs jansson type %d",
			      json_typeof(j));
			CHECK(!(v->flags & JSON_F_INT), "%.*s: jansson real",
			      (int)v->len, v->p);
			if (v->len <= TG_JSON_NUMBER_MAX)
				CHECK(!json_get_double(v, &d) &&
				      d == json_real_value(j),
				      "real %.*s differs", (int)v->len, v->p);
		}
		break;
	case JSON_K_BOOL:
		CHECK(json_is_boolean(j) && !json_get_bool(v, &b) &&
		      b == json_is_true(j), "bool differs");
		break;
	case JSON_K_NULL:
		CHECK(json_is_null(j), "null vs jansson type %d", json_typeof(j));
		break;
	default:
		CHECK(false, "value of kind %d", v->kind);
	}
}

/* The index json_parse() made of the root's members is a walk's prefix. */
static void same_index(const struct json_doc *doc)
{
	struct json_value k, v, f;
	struct json_iter it;
	uint32_t n = 0;

	json_iter_init(&it, &doc->root);
	while (json_iter_next(&it, &k, &v)) {
		if (n < doc->n_top) {
			CHECK(k.p == doc->top[n].key.p && k.len == doc->top[n].key.len &&
			      v.p == doc->top[n].val.p && v.len == doc->top[n].val.len &&
			      v.kind == doc->top[n].val.kind,
			      "index entry %u differs from the walk", n);
			CHECK(k.flags == doc->top[n].key.flags &&
			      v.flags == doc->top[n].val.flags,
			      "index entry %u flags differ", n);
		}
		n++;
		/* Every member can be found by its decoded name (the walk's
		 * member, since keys are unique). */
		CHECK(!json_obj_find(&doc->root, tmp, decode(&k), &f) &&
		      f.p == v.p, "member %u not found by name", n);
	}
	CHECK(n == doc->n_top || (doc->top_partial && doc->n_top == TG_JSON_TOP_MAX),
	      "%u members, %u indexed", n, doc->n_top);
}

/* A decoded key usable as an edit key: printable ASCII without '"' or
 * '\\', and none of the fixed edits' names. */
static bool usable_key(const char *k, size_t len)
{
	size_t i;

	if (memchr(k, 0, len) || !strcmp(k, "model") || !strcmp(k, "stream") ||
	    !strcmp(k, "stream_options"))
		return false;
	for (i = 0; i < len; i++)
		if (k[i] < 0x20 || k[i] > 0x7e || k[i] == '"' || k[i] == '\\')
			return false;
	return true;
}

static void check_rewrite(const struct json_doc *doc, json_t *in)
{
	static const char usage[] = "{\"include_usage\":true}";
	struct json_edit edits[] = {
		{ .key = "model", .op = JSON_EDIT_SET, .value = "fuzz-model",
		  .value_len = 10, .is_string = true },
		{ .key = "stream", .op = JSON_EDIT_REMOVE },
		{ .key = "stream_options", .op = JSON_EDIT_MERGE,
		  .value = usage, .value_len = sizeof(usage) - 1 },
		{ 0 },
	};
	size_t cap = doc->len + 128, len = 0, len2 = 0, n_edits = 3, klen = 0;
	char *out = malloc(cap), *key = NULL;
	const struct json_member *first, *last;
	json_t *want, *got, *so, *lastval = NULL;
	struct json_doc odoc;
	json_error_t jerr;
	int rc;

	CHECK(out, "malloc");
	/* One more edit taken from the input: the first member (decoded
	 * name) removed or set to the last member's value as written. */
	if (doc->n_top) {
		first = &doc->top[0];
		last = &doc->top[doc->n_top - 1];
		klen = decode(&last->key);
		lastval = json_object_getn(in, tmp, klen);
		CHECK(lastval, "last member missing in jansson");
		klen = decode(&first->key);
		if (usable_key(tmp, klen)) {
			key = strdup(tmp);
			CHECK(key, "strdup");
			edits[3] = (struct json_edit){
				.key = key,
				/* Small values only: an edit's value may
				 * hold TG_JSON_EDIT_KEYS_MAX keys. */
				.op = (doc->len & 1) || last->val.len > 256 ?
				      JSON_EDIT_REMOVE : JSON_EDIT_SET,
				.value = last->val.p,
				.value_len = last->val.len,
			};
			n_edits = 4;
		}
	}
	rc = json_rewrite(doc, edits, n_edits, out, cap, &len);
	if (rc == -ENOSPC) {
		free(out);
		cap = len;
		out = malloc(cap ? cap : 1);
		CHECK(out, "malloc");
		rc = json_rewrite(doc, edits, n_edits, out, cap, &len);
	}
	CHECK(rc == 0, "json_rewrite: %d (needs %zu)", rc, len);
	if (len) {
		rc = json_rewrite(doc, edits, n_edits, out, len - 1, &len2);
		CHECK(rc == -ENOSPC && len2 == len, "short buffer: %d, %zu vs %zu",
		      rc, len2, len);
		rc = json_rewrite(doc, edits, n_edits, out, len, &len2);
		CHECK(rc == 0 && len2 == len, "exact buffer: %d", rc);
	}
	rc = json_parse(&odoc, out, len, &scratch);
	CHECK(rc == 0, "rewritten text refused: %s at %zu: %.*s",
	      json_strerror(odoc.err.code), odoc.err.offset, (int)len, out);
	got = json_loadb(out, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	CHECK(got, "jansson refuses the rewritten text: %s", jerr.text);

	want = json_deep_copy(in);
	CHECK(want, "json_deep_copy");
	json_object_set_new(want, "model", json_string("fuzz-model"));
	json_object_del(want, "stream");
	so = json_object_get(want, "stream_options");
	if (json_is_object(so))
		json_object_set_new(so, "include_usage", json_true());
	else
		json_object_set_new(want, "stream_options",
				    json_pack("{s:b}", "include_usage", 1));
	if (n_edits == 4) {
		if (edits[3].op == JSON_EDIT_REMOVE)
			json_object_del(want, key);
		else
			json_object_set_new(want, key, json_deep_copy(lastval));
	}
	CHECK(json_equal(want, got), "rewrite differs from jansson's edit: %.*s",
	      (int)len, out);
	json_decref(want);
	json_decref(got);
	free(key);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct json_doc doc;
	json_error_t jerr;
	json_t *j;
	int rc;

	if (tmp_cap < size + 1) {
		free(tmp);
		tmp_cap = size + 1;
		tmp = malloc(tmp_cap);
		CHECK(tmp, "malloc");
	}
	rc = json_parse(&doc, in, size, &scratch);
	/* No JSON text holds a raw NUL byte (§2 structure, §7 strings), but
	 * jansson's reader loses one that follows a number or a literal:
	 * it accepts "[1\0]" and "1\0" (its stream buffer uses NUL as
	 * "empty"). Such input is ours alone to judge. */
	if (memchr(in, 0, size)) {
		CHECK(rc == -EINVAL, "accepted a raw NUL byte");
		return 0;
	}
	j = json_loadb(in, size,
		       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
		       &jerr);
	if (rc == 0 && !j) {
		enum json_error_code c = json_error_code(&jerr);

		CHECK(c == json_error_numeric_overflow ||
		      c == json_error_null_byte_in_key,
		      "we accept, jansson refuses: %s (line %d col %d)",
		      jerr.text, jerr.line, jerr.column);
		return 0;
	}
	if (rc != 0) {
		CHECK(rc == -EINVAL && doc.err.code > JSON_E_NONE &&
		      doc.err.code < JSON_E_COUNT && doc.err.offset <= size,
		      "bad error %d code %d at %zu", rc, doc.err.code,
		      doc.err.offset);
		CHECK(!j || doc.err.code == JSON_E_DEPTH ||
		      doc.err.code == JSON_E_TOO_MANY_KEYS,
		      "jansson accepts, we refuse: %s at %zu",
		      json_strerror(doc.err.code), doc.err.offset);
		json_decref(j);
		return 0;
	}
	same_tree(&doc.root, j);
	if (doc.root.kind == JSON_K_OBJECT) {
		same_index(&doc);
		check_rewrite(&doc, j);
	}
	json_decref(j);
	return 0;
}
