/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hot-path JSON reader and rewriter: a strict RFC 8259 scanner over a
 * request body that does not copy it, allocate or build a tree. One pass
 * validates the whole text and indexes the root object's members; lookups
 * then return spans into the caller's buffer, and json_rewrite() produces a
 * new body in one pass with chosen top-level members replaced, removed or
 * added and every other byte copied as it was. See docs/json.md.
 *
 *   struct json_scratch *s = ...;	// per worker, reused, ~50 KB
 *   struct json_doc doc;
 *   struct json_value model;
 *
 *   if (json_parse(&doc, body, len, s) < 0)
 *           reply 400 with json_strerror(doc.err.code), doc.err.offset;
 *   if (json_find(&doc, "model", &model) == 0 && model.kind == JSON_K_STRING)
 *           json_str_decode(&model, name, sizeof(name));
 *
 * Refused (RFC 8259 and, where it leaves a choice, the strict side of it;
 * each error has a code and the byte offset where it was found):
 * - invalid UTF-8 anywhere (RFC 8259 §8.1; RFC 3629: overlong forms,
 *   UTF-8-encoded surrogates, code points above U+10FFFF, stray or
 *   truncated continuation bytes), a byte order mark included;
 * - \u escapes that do not form a character: a high surrogate not followed
 *   by an escaped low one, a low one alone (§8.2 allows them; they cannot
 *   be decoded to UTF-8, so the same text would mean different things to
 *   different readers);
 * - control characters U+0000..U+001F unescaped in strings (§7);
 * - leading zeros, "NaN", "Infinity", "+1", ".5", "1." (§6);
 * - trailing commas, and anything but whitespace after the value (§2);
 * - an object with two members of the same name, at any depth, names
 *   compared after unescaping: "model" and "\u006dodel" are the same name
 *   (§4 leaves this to the reader; a second "model" must not slip past a
 *   policy that read the first);
 * - nesting deeper than TG_JSON_SCAN_DEPTH_MAX, more than TG_JSON_KEYS_MAX
 *   keys in objects open at once, input of 4 GiB or more.
 * \u0000 is accepted (it is valid JSON); json_str_decode() returns the NUL.
 *
 * Everything but json_parse() works on text json_parse() accepted (or on
 * values taken from it) and never reads outside the value it is given.
 */
#ifndef TOLLGATE_JSON_H
#define TOLLGATE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tollgate/limits.h"

/* Named "kind" because jansson, linked in the same programs, owns
 * json_type and JSON_OBJECT. */
enum json_kind {
	JSON_K_NONE = 0,
	JSON_K_OBJECT,
	JSON_K_ARRAY,
	JSON_K_STRING,
	JSON_K_NUMBER,
	JSON_K_BOOL,
	JSON_K_NULL,
};

/* json_value.flags */
#define JSON_F_ESCAPED	0x01u	/* a string with backslash escapes */
#define JSON_F_INT	0x02u	/* a number without fraction or exponent */

/* A value in the caller's buffer: its text exactly as written, strings with
 * their quotes, containers from bracket to bracket. Forwarding p/len
 * forwards the value untouched. */
struct json_value {
	const char *p;
	size_t len;
	enum json_kind kind;
	uint32_t flags;		/* JSON_F_* */
};

struct json_member {
	struct json_value key;	/* a string */
	struct json_value val;
};

enum json_err {
	JSON_E_NONE = 0,
	JSON_E_TRUNCATED,	/* the text ends inside a value */
	JSON_E_TOKEN,		/* not the start of any value */
	JSON_E_NUMBER,		/* a malformed number */
	JSON_E_LEADING_ZERO,	/* 01, -00 */
	JSON_E_CONTROL,		/* U+0000..U+001F unescaped in a string */
	JSON_E_ESCAPE,		/* unknown escape or bad \u hex digits */
	JSON_E_SURROGATE,	/* unpaired surrogate \u escape */
	JSON_E_UTF8,		/* invalid UTF-8 */
	JSON_E_EXPECTED_KEY,	/* an object member must start with a string */
	JSON_E_EXPECTED_COLON,
	JSON_E_EXPECTED_COMMA,	/* ',' or the closing bracket expected */
	JSON_E_TRAILING_COMMA,	/* ',' right before '}' or ']' */
	JSON_E_TRAILING,	/* something after the value */
	JSON_E_DUPLICATE_KEY,	/* offset: the later of the two keys */
	JSON_E_DEPTH,		/* nesting deeper than TG_JSON_SCAN_DEPTH_MAX */
	JSON_E_TOO_MANY_KEYS,	/* past TG_JSON_KEYS_MAX open keys */
	JSON_E_TOO_LARGE,	/* input of 4 GiB or more */
	JSON_E_COUNT,
};

struct json_error {
	enum json_err code;
	size_t offset;		/* byte offset into the input */
};

/* A fixed message per code; never NULL. */
const char *json_strerror(enum json_err code);

/* The scanner's working memory: open containers and the keys of open
 * objects. Holds nothing between calls, so one per thread serves every
 * request. Its contents are private. */
struct json_keyrec {
	uint32_t off;		/* first byte after the opening quote */
	uint32_t raw_len;	/* bytes up to the closing quote */
	uint32_t dec_len;	/* bytes once unescaped (== raw_len: no escapes) */
};

struct json_frame {
	uint32_t start;		/* offset of the bracket */
	uint32_t key_base;	/* first of this object's keys in keys[] */
	bool is_object;
};

struct json_scratch {
	struct json_frame frames[TG_JSON_SCAN_DEPTH_MAX];
	struct json_keyrec keys[TG_JSON_KEYS_MAX];
};

struct json_doc {
	const char *buf;	/* borrowed: the text given to json_parse() */
	size_t len;
	struct json_value root;
	struct json_error err;	/* set when json_parse() fails */
	/* The root object's first members, in order. */
	uint32_t n_top;
	bool top_partial;	/* the root has more than TG_JSON_TOP_MAX */
	struct json_member top[TG_JSON_TOP_MAX];
};

/*
 * Validates `buf` (len bytes; no NUL needed, none read past len) as one
 * JSON text and fills `doc`, which borrows `buf`. Returns 0, or -EINVAL
 * with doc->err set (doc->root is then JSON_K_NONE). Any value may be the
 * root (RFC 8259 §2); handlers check for an object.
 */
int json_parse(struct json_doc *doc, const char *buf, size_t len,
	       struct json_scratch *s);

/* A top-level member of the root object by name (unescaped comparison).
 * 0 and *val; -ENOENT when absent; -EINVAL when the root is not an object. */
int json_find(const struct json_doc *doc, const char *key,
	      struct json_value *val);
/* The same in any object value: `key` is key_len bytes, NULs allowed. */
int json_obj_find(const struct json_value *obj, const char *key,
		  size_t key_len, struct json_value *val);

/* Walks an object's members or an array's elements in order. */
struct json_iter {
	const char *p, *end;
	bool is_object;
};

/* `v` must be an object or an array, else the walk is empty. */
void json_iter_init(struct json_iter *it, const struct json_value *v);
/* The next member (key and value) or element (value; key, if given, is
 * set to JSON_K_NONE). False at the end. `key` may be NULL. */
bool json_iter_next(struct json_iter *it, struct json_value *key,
		    struct json_value *val);

/* Unescapes a string value into `out` as UTF-8 and NUL-terminates it.
 * Returns the length (without the NUL; the text may contain NULs from
 * \u0000), -ENOSPC when cap is less than length + 1, -EINVAL when `v` is
 * not a string. */
ssize_t json_str_decode(const struct json_value *v, char *out, size_t cap);
/* True when the string value unescapes to exactly s[0..len). */
bool json_str_eq(const struct json_value *v, const char *s, size_t len);

/* An integer number (no fraction or exponent) that fits: 0, -EINVAL (not
 * an integer number), -ERANGE. */
int json_get_int(const struct json_value *v, int64_t *out);
/* Any number, converted by strtod (the C locale is assumed): 0, -EINVAL,
 * -ERANGE (overflow, or longer than TG_JSON_NUMBER_MAX bytes). */
int json_get_double(const struct json_value *v, double *out);
/* 0, or -EINVAL when `v` is not true or false. */
int json_get_bool(const struct json_value *v, bool *out);

enum json_edit_op {
	/* Replace the member's value; add the member when absent. */
	JSON_EDIT_SET = 0,
	/* Drop the member when present. */
	JSON_EDIT_REMOVE,
	/* `value` is an object: when the member holds an object, each of
	 * value's members is SET inside it (one level); otherwise as SET. */
	JSON_EDIT_MERGE,
};

struct json_edit {
	/* NUL-terminated and written as is, so printable ASCII without '"'
	 * or '\\' (the names of request members are). Matched against the
	 * body's keys after unescaping. */
	const char *key;
	enum json_edit_op op;
	/* JSON text (validated by json_rewrite(); at most
	 * TG_JSON_EDIT_KEYS_MAX keys in open objects), or with is_string the
	 * content of a string written between quotes as is: it must need no
	 * escaping (no '"', '\\' or control characters, valid UTF-8); write
	 * other strings with jsonw (user/core/jsonw.h) and pass the text. */
	const char *value;
	size_t value_len;
	bool is_string;
};

/*
 * Writes doc's root object to `out` with the edits applied, everything else
 * byte for byte (a removed member takes its comma with it; added members
 * go last, in edit order). At most TG_JSON_EDITS_MAX edits, distinct keys.
 * Returns 0 and *out_len; -ENOSPC with *out_len set to the size needed;
 * -EINVAL when the root is not an object or an edit is malformed.
 */
int json_rewrite(const struct json_doc *doc, const struct json_edit *edits,
		 size_t n_edits, char *out, size_t cap, size_t *out_len);

#endif /* TOLLGATE_JSON_H */
