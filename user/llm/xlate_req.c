// SPDX-License-Identifier: Apache-2.0
/*
 * Requests, whole answers and errors between the LLM wire formats (see
 * xlate.h). Off the hot path: only when caller and provider formats differ.
 *
 * A request is read into one neutral shape and written from it, so the six
 * pairs cost two readers (OpenAI chat completions, Anthropic messages) and
 * four writers. The shape is a jansson object:
 *
 *   system	[part]			text parts, in order
 *   turns	[{role, parts}]		role "user" or "assistant", as the caller
 *					sent them (not merged yet)
 *   tools	[{name, description?, schema?}]
 *   tool_choice {mode: auto|none|required|tool, name?}
 *   parallel	false			the caller forbade parallel calls
 *   max_tokens, temperature, top_p, top_k, seed, presence_penalty,
 *   frequency_penalty, stop [string], json {schema?}, user
 *
 * and a part is one of
 *
 *   {type: text, text}
 *   {type: image, mime, data, at}	base64 bytes
 *   {type: image_url, url, at}		a remote image (we never fetch it)
 *   {type: call, id, name, args}	args a JSON object
 *   {type: result, id, parts, error}	parts: text and image parts
 *
 * `at` keeps where a part came from, for errors a writer finds later.
 * Fields of the caller's format that have no counterpart are dropped, not
 * refused; what would change the meaning if dropped (n > 1, a remote image
 * for a provider that wants bytes, a server tool) is refused with -EINVAL
 * and a message naming the place.
 *
 * An answer is read into struct answer (parts as above, finish reason,
 * usage split into fresh input, cache reads, cache writes and output) and
 * written in the caller's format.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "llm/xlate.h"
#include "tollgate/limits.h"

/* The largest body translated: what the gateway reads of an answer, and
 * requests are held to the same. */
#define XL_IN_MAX	((size_t)TG_LLM_RESP_MAX)
/* What one translation may write: an object turned into an escaped JSON
 * string (tool arguments) at most doubles; the rest is framing. */
#define XL_OUT_MAX	(2 * XL_IN_MAX + (64u << 10))
/* Bedrock's and Anthropic's tool use ids: [A-Za-z0-9_-], 1 to 64. */
#define XL_TOOL_ID_MAX	64
/* Nesting of a JSON schema checked for Gemini's Schema subset. */
#define XL_SCHEMA_DEPTH	32

#define LOAD_FLAGS	(JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY)
#define DUMP_FLAGS	JSON_COMPACT

/* One translation: the first failure and the caller's message. */
struct xw {
	char *err;
	size_t errlen;
	int rc;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct xw *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->rc) {
		w->rc = -EINVAL;
		if (w->err && w->errlen) {
			va_start(ap, fmt);
			vsnprintf(w->err, w->errlen, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static void oom(struct xw *w)
{
	if (!w->rc)
		w->rc = -ENOMEM;
}

/* jansson's _new setters take the value's reference even when they fail
 * (a NULL container after an earlier ENOMEM included), so building goes
 * on and the failure is looked at once, at the end. */
static void set(struct xw *w, json_t *o, const char *k, json_t *v)
{
	if (json_object_set_new(o, k, v))
		oom(w);
}

static void push(struct xw *w, json_t *a, json_t *v)
{
	if (json_array_append_new(a, v))
		oom(w);
}

/* A member; JSON null reads as absent (OpenAI's SDKs send nulls). */
static json_t *get(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_null(v) ? NULL : v;
}

/* Copies each field the neutral request has, under the target's name:
 * map holds pairs (neutral name, target name), ends with NULL. */
static void copy_renamed(struct xw *w, const json_t *ir, json_t *out, const char *const *map)
{
	json_t *v;

	for (; map[0]; map += 2)
		if ((v = get(ir, map[0])))
			set(w, out, map[1], json_copy(v));
}

static const char *gets(const json_t *o, const char *k)
{
	return json_string_value(get(o, k));
}

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

/* Type of a part for messages: its "type" when it is a string. */
static const char *type_of(const json_t *p)
{
	const char *t = gets(p, "type");

	return t ? t : "(none)";
}

static json_t *text_part(const char *s, size_t n)
{
	return json_pack("{s:s, s:s%}", "type", "text", "text", s, n);
}

static void push_text(struct xw *w, json_t *parts, const json_t *str)
{
	push(w, parts, text_part(json_string_value(str), json_string_length(str)));
}

/* Appends v and returns it (borrowed; the array holds it), NULL when that
 * failed. */
static json_t *push_keep(struct xw *w, json_t *a, json_t *v)
{
	if (json_array_append(a, v)) {
		oom(w);
		json_decref(v);
		return NULL;
	}
	json_decref(v);
	return v;
}

static json_t *new_turn(struct xw *w, json_t *ir, const char *role)
{
	json_t *t = push_keep(w, json_object_get(ir, "turns"),
			      json_pack("{s:s, s:[]}", "role", role, "parts"));

	return json_object_get(t, "parts");
}

/* The call with this id, looking back from the end of the turns read so
 * far (ids may repeat across turns, e.g. Gemini's "call_0"). */
static json_t *find_call(const json_t *ir, const char *id)
{
	const json_t *turns = json_object_get(ir, "turns");
	size_t i = json_array_size(turns), j;

	while (i--) {
		json_t *parts = json_object_get(json_array_get(turns, i), "parts");

		j = json_array_size(parts);
		while (j--) {
			json_t *p = json_array_get(parts, j);

			if (is(gets(p, "type"), "call") && is(gets(p, "id"), id))
				return p;
		}
	}
	return NULL;
}

/* The call a result answers: the last call with its id before it. */
static json_t *call_of(const json_t *ir, const json_t *res)
{
	const char *id = gets(res, "id");
	json_t *t, *p, *call = NULL;
	size_t i, j;

	json_array_foreach(json_object_get(ir, "turns"), i, t)
		json_array_foreach(json_object_get(t, "parts"), j, p) {
			if (p == res)
				return call;
			if (is(gets(p, "type"), "call") && is(gets(p, "id"), id))
				call = p;
		}
	return call;
}

/* A JSON object from text (OpenAI's tool arguments); "" reads as {}. */
static json_t *parse_object(const char *s, size_t n)
{
	json_t *v;

	if (!n)
		return json_object();
	v = json_loadb(s, n, LOAD_FLAGS, NULL);
	if (v && !json_is_object(v)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

/* "data:image/png;base64,AAAA" (RFC 2397) into an image part; other
 * encodings of the data are refused (the targets want base64). */
/* A media type as type/subtype of token characters (RFC 9110 §8.3.1, no
 * parameters): what can go into a data: URL or a mimeType field as is. */
static bool mime_ok(const char *m, size_t n)
{
	size_t i, slash = 0;

	for (i = 0; i < n; i++) {
		if (m[i] == '/')
			slash++;
		else if (!isalnum((unsigned char)m[i]) && !strchr(".+-_", m[i]))
			return false;
	}
	return n > 2 && n <= 64 && slash == 1 && m[0] != '/' && m[n - 1] != '/';
}

static int image_from_url(struct xw *w, const char *url, size_t n, const char *at, json_t *parts)
{
	const char *comma, *semi, *mime = url + 5;

	if (n >= 8 && (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8))) {
		push(w, parts, json_pack("{s:s, s:s%, s:s}", "type", "image_url", "url", url, n,
					 "at", at));
		return 0;
	}
	if (n < 5 || strncmp(url, "data:", 5))
		return bad(w, "%s: image url is neither a data: URL nor http(s)", at);
	comma = memchr(url, ',', n);
	if (!comma || comma - url < 12 || strncmp(comma - 7, ";base64", 7))
		return bad(w, "%s: image data: URL is not base64", at);
	semi = memchr(mime, ';', (size_t)(comma - mime));
	if (!semi || semi == mime)
		return bad(w, "%s: image data: URL has no media type", at);
	if (!mime_ok(mime, (size_t)(semi - mime)))
		return bad(w, "%s: image data: URL's media type is malformed", at);
	push(w, parts, json_pack("{s:s, s:s%, s:s%, s:s}", "type", "image", "mime", mime,
				 (size_t)(semi - mime), "data", comma + 1,
				 n - (size_t)(comma + 1 - url), "at", at));
	return 0;
}

static int need_number(struct xw *w, const json_t *b, const char *k, json_t *ir, const char *as)
{
	json_t *v = get(b, k);

	if (!v)
		return 0;
	if (!json_is_number(v))
		return bad(w, "%s: must be a number", k);
	set(w, ir, as, json_copy(v));
	return 0;
}

static int need_count(struct xw *w, const json_t *b, const char *k, json_t *ir, const char *as)
{
	json_t *v = get(b, k);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return bad(w, "%s: must be a positive integer", k);
	set(w, ir, as, json_copy(v));
	return 0;
}

/* stop / stop_sequences: a string or strings, empty ones dropped. */
static int read_stop(struct xw *w, const json_t *b, const char *k, json_t *ir, bool one_ok)
{
	json_t *v = get(b, k), *s, *out;
	size_t i;

	if (!v)
		return 0;
	out = json_array();
	set(w, ir, "stop", out);
	if (one_ok && json_is_string(v)) {
		if (json_string_length(v))
			push(w, out, json_copy(v));
		return 0;
	}
	if (!json_is_array(v))
		return bad(w, "%s: must be %s", k, one_ok ? "a string or an array of strings"
					       : "an array of strings");
	json_array_foreach(v, i, s) {
		if (!json_is_string(s))
			return bad(w, "%s[%zu]: must be a string", k, i);
		if (json_string_length(s))
			push(w, out, json_copy(s));
	}
	return 0;
}

/* ---- OpenAI chat completions, read ------------------------------------ */

/* Text content: a string or text parts (refusal parts too in assistant
 * turns, read as text). */
static int oa_text(struct xw *w, const json_t *c, const char *at, json_t *parts, bool assistant)
{
	json_t *p;
	size_t i;

	if (json_is_string(c)) {
		push_text(w, parts, c);
		return 0;
	}
	if (!json_is_array(c))
		return bad(w, "%s.content: must be a string or an array of parts", at);
	json_array_foreach(c, i, p) {
		const char *t = type_of(p);
		const char *k = is(t, "refusal") && assistant ? "refusal" : "text";

		if (!is(t, "text") && !(assistant && is(t, "refusal")))
			return bad(w, "%s.content[%zu]: part type '%.64s' is not allowed here", at,
				   i, t);
		if (!json_is_string(get(p, k)))
			return bad(w, "%s.content[%zu].%s: must be a string", at, i, k);
		push_text(w, parts, get(p, k));
	}
	return 0;
}

static int oa_user(struct xw *w, const json_t *c, const char *at, json_t *parts)
{
	char pat[96];
	json_t *p, *iu;
	size_t i;

	if (json_is_string(c)) {
		push_text(w, parts, c);
		return 0;
	}
	if (!json_is_array(c))
		return bad(w, "%s.content: must be a string or an array of parts", at);
	json_array_foreach(c, i, p) {
		const char *t = type_of(p), *url;

		snprintf(pat, sizeof(pat), "%s.content[%zu]", at, i);
		if (is(t, "text")) {
			if (!json_is_string(get(p, "text")))
				return bad(w, "%s.text: must be a string", pat);
			push_text(w, parts, get(p, "text"));
		} else if (is(t, "image_url")) {
			iu = get(p, "image_url");
			url = json_is_string(iu) ? json_string_value(iu) : gets(iu, "url");
			if (!url)
				return bad(w, "%s.image_url.url: must be a string", pat);
			if (image_from_url(w, url, strlen(url), pat, parts))
				return w->rc;
		} else if (is(t, "input_audio") || is(t, "file")) {
			return bad(w, "%s: part type '%s' cannot be translated", pat, t);
		} else {
			return bad(w, "%s: unknown part type '%.64s'", pat, t);
		}
	}
	return 0;
}

static int oa_assistant(struct xw *w, const json_t *m, const char *at, json_t *parts)
{
	json_t *c = get(m, "content"), *calls = get(m, "tool_calls"), *tc, *fn, *args;
	size_t i;

	if (c && oa_text(w, c, at, parts, true))
		return w->rc;
	if (!calls)
		return 0;
	if (!json_is_array(calls))
		return bad(w, "%s.tool_calls: must be an array", at);
	json_array_foreach(calls, i, tc) {
		const char *id = gets(tc, "id"), *name, *a;

		fn = get(tc, "function");
		name = gets(fn, "name");
		a = gets(fn, "arguments");
		if (get(tc, "type") && !is(gets(tc, "type"), "function"))
			return bad(w, "%s.tool_calls[%zu]: type '%.64s' cannot be translated", at, i,
				   type_of(tc));
		if (!id || !*id || !name || !a)
			return bad(w, "%s.tool_calls[%zu]: wants id, function.name and "
				   "function.arguments strings", at, i);
		args = parse_object(a, json_string_length(get(fn, "arguments")));
		if (!args)
			return bad(w, "%s.tool_calls[%zu].function.arguments: not a JSON object",
				   at, i);
		push(w, parts, json_pack("{s:s, s:s, s:s, s:o}", "type", "call", "id", id,
					 "name", name, "args", args));
	}
	return 0;
}

static int oa_tool(struct xw *w, json_t *ir, const json_t *m, const char *at)
{
	const char *id = gets(m, "tool_call_id");
	json_t *parts, *res;

	if (!id)
		return bad(w, "%s.tool_call_id: must be a string", at);
	if (!find_call(ir, id))
		return bad(w, "%s: tool_call_id '%.64s' matches no earlier tool call", at, id);
	if (!get(m, "content"))
		return bad(w, "%s.content: missing", at);
	res = push_keep(w, new_turn(w, ir, "user"),
			json_pack("{s:s, s:s, s:[], s:b}", "type", "result", "id", id, "parts",
				  "error", 0));
	parts = json_object_get(res, "parts");
	return parts ? oa_text(w, get(m, "content"), at, parts, false) : w->rc;
}

static int oa_message(struct xw *w, json_t *ir, const json_t *m, size_t i)
{
	const char *role = gets(m, "role");
	char at[48];

	snprintf(at, sizeof(at), "messages[%zu]", i);
	if (!json_is_object(m) || !role)
		return bad(w, "%s: must be an object with a role", at);
	if (is(role, "system") || is(role, "developer")) {
		if (!get(m, "content"))
			return bad(w, "%s.content: missing", at);
		return oa_text(w, get(m, "content"), at, json_object_get(ir, "system"), false);
	}
	if (is(role, "user")) {
		if (!get(m, "content"))
			return bad(w, "%s.content: missing", at);
		return oa_user(w, get(m, "content"), at, new_turn(w, ir, "user"));
	}
	if (is(role, "assistant"))
		return oa_assistant(w, m, at, new_turn(w, ir, "assistant"));
	if (is(role, "tool"))
		return oa_tool(w, ir, m, at);
	return bad(w, "%s: role '%.32s' cannot be translated", at, role);
}

static int oa_tools(struct xw *w, const json_t *b, json_t *ir)
{
	json_t *tools = get(b, "tools"), *t, *fn, *tc = get(b, "tool_choice");
	size_t i;

	if (tools && !json_is_array(tools))
		return bad(w, "tools: must be an array");
	json_array_foreach(tools, i, t) {
		fn = get(t, "function");
		if (!is(gets(t, "type"), "function"))
			return bad(w, "tools[%zu]: type '%.64s' cannot be translated", i, type_of(t));
		if (!gets(fn, "name"))
			return bad(w, "tools[%zu].function.name: must be a string", i);
		if (get(fn, "parameters") && !json_is_object(get(fn, "parameters")))
			return bad(w, "tools[%zu].function.parameters: must be an object", i);
		push(w, json_object_get(ir, "tools"),
		     json_pack("{s:s, s:s*, s:O*}", "name", gets(fn, "name"), "description",
			       gets(fn, "description"), "schema", get(fn, "parameters")));
	}
	if (json_is_string(tc)) {
		const char *s = json_string_value(tc);

		if (!is(s, "auto") && !is(s, "none") && !is(s, "required"))
			return bad(w, "tool_choice: unknown value '%.32s'", s);
		set(w, ir, "tool_choice", json_pack("{s:s}", "mode", s));
	} else if (tc) {
		const char *name = gets(get(tc, "function"), "name");

		if (!is(gets(tc, "type"), "function") || !name)
			return bad(w, "tool_choice: must be auto, none, required or "
				   "{type: function, function: {name}}");
		set(w, ir, "tool_choice", json_pack("{s:s, s:s}", "mode", "tool", "name", name));
	}
	if (json_is_false(get(b, "parallel_tool_calls")))
		set(w, ir, "parallel", json_false());
	return 0;
}

static int oa_params(struct xw *w, const json_t *b, json_t *ir)
{
	json_t *v, *rf;
	const char *t;

	v = get(b, "n");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1))
		return bad(w, "n: must be a positive integer");
	if (v && json_integer_value(v) > 1)
		return bad(w, "n: only one choice (n = 1) can be translated");
	if (need_count(w, b, get(b, "max_completion_tokens") ? "max_completion_tokens"
			   : "max_tokens", ir, "max_tokens") ||
	    need_number(w, b, "temperature", ir, "temperature") ||
	    need_number(w, b, "top_p", ir, "top_p") ||
	    need_number(w, b, "presence_penalty", ir, "presence_penalty") ||
	    need_number(w, b, "frequency_penalty", ir, "frequency_penalty") ||
	    read_stop(w, b, "stop", ir, true))
		return w->rc;
	v = get(b, "seed");
	if (v && !json_is_integer(v))
		return bad(w, "seed: must be an integer");
	if (v)
		set(w, ir, "seed", json_copy(v));
	if (gets(b, "user"))
		set(w, ir, "user", json_copy(get(b, "user")));
	rf = get(b, "response_format");
	if (!rf)
		return 0;
	t = gets(rf, "type");
	if (is(t, "json_object"))
		set(w, ir, "json", json_object());
	else if (is(t, "json_schema"))
		set(w, ir, "json", json_pack("{s:O*}", "schema",
					     get(get(rf, "json_schema"), "schema")));
	else if (!is(t, "text"))
		return bad(w, "response_format: type '%.64s' cannot be translated", type_of(rf));
	return 0;
}

static int oa_read(struct xw *w, const json_t *b, json_t *ir)
{
	json_t *msgs = get(b, "messages"), *m;
	size_t i;

	if (!json_is_array(msgs) || !json_array_size(msgs))
		return bad(w, "messages: must be a non-empty array");
	json_array_foreach(msgs, i, m)
		if (oa_message(w, ir, m, i))
			return w->rc;
	if (oa_tools(w, b, ir) || oa_params(w, b, ir))
		return w->rc;
	return w->rc;
}

/* ---- Anthropic messages, read ------------------------------------------ */

static int an_image(struct xw *w, const json_t *blk, const char *at, json_t *parts)
{
	json_t *src = get(blk, "source");
	const char *t = gets(src, "type"), *mime = gets(src, "media_type");

	if (is(t, "base64")) {
		if (!mime || !gets(src, "data"))
			return bad(w, "%s.source: wants media_type and data strings", at);
		if (!mime_ok(mime, strlen(mime)))
			return bad(w, "%s.source.media_type: not a media type (e.g. image/png)", at);
		push(w, parts, json_pack("{s:s, s:s, s:O, s:s}", "type", "image", "mime", mime,
					 "data", get(src, "data"), "at", at));
		return 0;
	}
	if (is(t, "url") && gets(src, "url")) {
		const char *url = gets(src, "url");

		return image_from_url(w, url, json_string_length(get(src, "url")), at, parts);
	}
	return bad(w, "%s.source: type '%.64s' cannot be translated", at,
		   t ? t : "(none)");
}

/* Blocks of a turn (or of a tool result: `in_result`, text and images). */
static int an_blocks(struct xw *w, json_t *ir, const json_t *c, const char *at, json_t *parts,
		     const char *role, bool in_result)
{
	char bat[96];
	json_t *blk;
	size_t i;

	if (json_is_string(c)) {
		push_text(w, parts, c);
		return 0;
	}
	if (!json_is_array(c))
		return bad(w, "%s.content: must be a string or an array of blocks", at);
	json_array_foreach(c, i, blk) {
		const char *t = type_of(blk);

		snprintf(bat, sizeof(bat), "%s.content[%zu]", at, i);
		if (is(t, "text")) {
			if (!json_is_string(get(blk, "text")))
				return bad(w, "%s.text: must be a string", bat);
			push_text(w, parts, get(blk, "text"));
		} else if (is(t, "image")) {
			if (an_image(w, blk, bat, parts))
				return w->rc;
		} else if (in_result) {
			return bad(w, "%s: block type '%.64s' cannot be translated here", bat, t);
		} else if (is(t, "tool_use") && is(role, "assistant")) {
			const char *id = gets(blk, "id"), *name = gets(blk, "name");
			json_t *input = get(blk, "input");

			if (!id || !*id || !name)
				return bad(w, "%s: tool_use wants id and name strings", bat);
			if (input && !json_is_object(input))
				return bad(w, "%s.input: must be an object", bat);
			push(w, parts, json_pack("{s:s, s:s, s:s, s:o}", "type", "call", "id", id,
						 "name", name, "args",
						 input ? json_deep_copy(input) : json_object()));
		} else if (is(t, "tool_result") && is(role, "user")) {
			const char *id = gets(blk, "tool_use_id");
			json_t *res, *sub;

			if (!id)
				return bad(w, "%s.tool_use_id: must be a string", bat);
			if (!find_call(ir, id))
				return bad(w, "%s: tool_use_id '%.64s' matches no earlier tool_use", bat,
					   id);
			res = push_keep(w, parts, json_pack("{s:s, s:s, s:[], s:b}", "type", "result",
							    "id", id, "parts", "error",
							    json_is_true(get(blk, "is_error"))));
			sub = json_object_get(res, "parts");
			if (!sub)
				return w->rc;
			if (get(blk, "content") &&
			    an_blocks(w, ir, get(blk, "content"), bat, sub, role, true))
				return w->rc;
		} else if (is(t, "thinking") || is(t, "redacted_thinking")) {
			/* Signed for Anthropic alone: no other provider can take them. */
			continue;
		} else if (is(t, "tool_use") || is(t, "tool_result")) {
			return bad(w, "%s: %s is not allowed in a %s turn", bat, t, role);
		} else if (is(t, "document") || is(t, "search_result") ||
			   is(t, "server_tool_use") || is(t, "web_search_tool_result") ||
			   is(t, "container_upload")) {
			return bad(w, "%s: block type '%s' cannot be translated", bat, t);
		} else {
			return bad(w, "%s: unknown block type '%.64s'", bat, t);
		}
	}
	return 0;
}

static int an_tools(struct xw *w, const json_t *b, json_t *ir)
{
	json_t *tools = get(b, "tools"), *t, *tc = get(b, "tool_choice");
	const char *ty;
	size_t i;

	if (tools && !json_is_array(tools))
		return bad(w, "tools: must be an array");
	json_array_foreach(tools, i, t) {
		ty = gets(t, "type");
		if (ty && !is(ty, "custom"))
			return bad(w, "tools[%zu]: server tool '%.64s' cannot be translated", i, ty);
		if (!gets(t, "name"))
			return bad(w, "tools[%zu].name: must be a string", i);
		if (!json_is_object(get(t, "input_schema")))
			return bad(w, "tools[%zu].input_schema: must be an object", i);
		push(w, json_object_get(ir, "tools"),
		     json_pack("{s:s, s:s*, s:O}", "name", gets(t, "name"), "description",
			       gets(t, "description"), "schema", get(t, "input_schema")));
	}
	if (!tc)
		return 0;
	ty = gets(tc, "type");
	if (is(ty, "auto") || is(ty, "none"))
		set(w, ir, "tool_choice", json_pack("{s:s}", "mode", ty));
	else if (is(ty, "any"))
		set(w, ir, "tool_choice", json_pack("{s:s}", "mode", "required"));
	else if (is(ty, "tool") && gets(tc, "name"))
		set(w, ir, "tool_choice", json_pack("{s:s, s:s}", "mode", "tool", "name",
						    gets(tc, "name")));
	else
		return bad(w, "tool_choice: must be {type: auto|any|none} or {type: tool, name}");
	if (json_is_true(get(tc, "disable_parallel_tool_use")))
		set(w, ir, "parallel", json_false());
	return 0;
}

static int an_read(struct xw *w, const json_t *b, json_t *ir)
{
	json_t *msgs = get(b, "messages"), *m, *sys = get(b, "system");
	char at[48];
	size_t i;

	if (sys && an_blocks(w, ir, sys, "system", json_object_get(ir, "system"), "system", true))
		return w->rc;
	/* Images in the system prompt: an_blocks lets them through for
	 * results; Anthropic's system takes text only. */
	json_array_foreach(json_object_get(ir, "system"), i, m)
		if (!is(gets(m, "type"), "text"))
			return bad(w, "system[%zu]: only text blocks can be translated", i);
	if (!json_is_array(msgs) || !json_array_size(msgs))
		return bad(w, "messages: must be a non-empty array");
	json_array_foreach(msgs, i, m) {
		const char *role = gets(m, "role");

		snprintf(at, sizeof(at), "messages[%zu]", i);
		if (!is(role, "user") && !is(role, "assistant"))
			return bad(w, "%s.role: must be user or assistant", at);
		if (!get(m, "content"))
			return bad(w, "%s.content: missing", at);
		if (an_blocks(w, ir, get(m, "content"), at, new_turn(w, ir, role), role, false))
			return w->rc;
	}
	if (an_tools(w, b, ir) || need_count(w, b, "max_tokens", ir, "max_tokens") ||
	    need_number(w, b, "temperature", ir, "temperature") ||
	    need_number(w, b, "top_p", ir, "top_p") || need_count(w, b, "top_k", ir, "top_k") ||
	    read_stop(w, b, "stop_sequences", ir, false))
		return w->rc;
	if (gets(get(b, "metadata"), "user_id"))
		set(w, ir, "user", json_copy(get(get(b, "metadata"), "user_id")));
	return w->rc;
}

/* ---- shared by the writers ---------------------------------------------- */

/*
 * The turns as Anthropic, Gemini and Bedrock take them: empty text
 * dropped (Anthropic and Bedrock refuse empty text blocks), turns left
 * empty dropped, consecutive turns of one role joined (all three want
 * user and assistant to alternate; OpenAI's tool messages become user
 * turns), and tool results first in a user turn (Anthropic wants them
 * before any text). Parts are shared with the source, not copied.
 */
static json_t *alternate(struct xw *w, const json_t *ir)
{
	json_t *out = json_array(), *t, *p, *last = NULL, *lp = NULL;
	size_t i, j, k, n;

	json_array_foreach(json_object_get(ir, "turns"), i, t) {
		const char *role = gets(t, "role");

		json_array_foreach(json_object_get(t, "parts"), j, p) {
			if (is(gets(p, "type"), "text") && !json_string_length(get(p, "text")))
				continue;
			if (!last || !is(gets(last, "role"), role)) {
				last = push_keep(w, out, json_pack("{s:s, s:[]}", "role", role,
								   "parts"));
				lp = json_object_get(last, "parts");
				if (!last)
					return out;
			}
			if (json_array_append(lp, p))
				oom(w);
		}
	}
	/* Results first: a stable pass moving each result before the first
	 * non-result. */
	json_array_foreach(out, i, t) {
		lp = json_object_get(t, "parts");
		n = json_array_size(lp);
		for (j = 0, k = 0; j < n; j++) {
			p = json_array_get(lp, j);
			if (!is(gets(p, "type"), "result"))
				continue;
			if (j != k) {
				json_incref(p);
				if (json_array_remove(lp, j) || json_array_insert_new(lp, k, p))
					oom(w);
			}
			k++;
		}
	}
	if (!json_array_size(out))
		bad(w, "messages: nothing to send but the system prompt");
	return out;
}

static bool starts_with_user(const json_t *turns)
{
	return is(gets(json_array_get(turns, 0), "role"), "user");
}

/* A tool use id as Anthropic and Bedrock take it ([A-Za-z0-9_-]{1,64}):
 * kept when it is one, else its allowed characters and a hash of the
 * whole, so a call and its result still match. */
static json_t *tool_id(const char *id)
{
	char buf[XL_TOOL_ID_MAX + 1];
	size_t n = strlen(id), i, k = 0;
	uint32_t h = 2166136261u;
	bool ok = n && n <= XL_TOOL_ID_MAX;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];

		h = (h ^ c) * 16777619u;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			ok = false;
	}
	if (ok)
		return json_string(id);
	for (i = 0; i < n && k < XL_TOOL_ID_MAX - 9; i++) {
		unsigned char c = (unsigned char)id[i];

		buf[k++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-' ? (char)c : '_';
	}
	snprintf(buf + k, sizeof(buf) - k, "_%08x", h);
	return json_string(buf);
}

/* The text parts of a result joined, for targets that take a string. */
static json_t *result_text(struct xw *w, const json_t *res, const char *target)
{
	json_t *p;
	size_t i, n = 0;
	char *s, *q;

	json_array_foreach(json_object_get(res, "parts"), i, p) {
		if (!is(gets(p, "type"), "text")) {
			bad(w, "%s: an image in a tool result cannot be sent to %s",
			    gets(p, "at") ? gets(p, "at") : "messages", target);
			return NULL;
		}
		n += json_string_length(get(p, "text"));
	}
	s = malloc(n + 1);
	if (!s) {
		oom(w);
		return NULL;
	}
	q = s;
	json_array_foreach(json_object_get(res, "parts"), i, p) {
		memcpy(q, json_string_value(get(p, "text")), json_string_length(get(p, "text")));
		q += json_string_length(get(p, "text"));
	}
	json_t *out = json_stringn_nocheck(s, n);

	free(s);
	if (!out)
		oom(w);
	return out;
}

static json_t *system_texts(struct xw *w, const json_t *ir, bool blocks_if_many)
{
	json_t *sys = json_object_get(ir, "system"), *out, *p;
	size_t i;

	if (!json_array_size(sys))
		return NULL;
	if (json_array_size(sys) == 1 || !blocks_if_many)
		return json_copy(get(json_array_get(sys, 0), "text"));
	out = json_array();
	json_array_foreach(sys, i, p)
		push(w, out, json_pack("{s:s, s:O}", "type", "text", "text", get(p, "text")));
	return out;
}

/* Temperature for Anthropic and Bedrock's models, which take 0..1 where
 * OpenAI takes 0..2. */
static json_t *temperature_01(const json_t *v)
{
	double t = json_number_value(v);

	return json_real(t > 1 ? 1 : t < 0 ? 0 : t);
}

/* ---- OpenAI chat completions, written ----------------------------------- */

static json_t *oa_part(const json_t *p)
{
	const char *t = gets(p, "type");

	if (is(t, "text"))
		return json_pack("{s:s, s:O}", "type", "text", "text", get(p, "text"));
	if (is(t, "image_url"))
		return json_pack("{s:s, s:{s:O}}", "type", "image_url", "image_url", "url",
				 get(p, "url"));
	return json_pack("{s:s, s:{s:o}}", "type", "image_url", "image_url", "url",
			 json_sprintf("data:%s;base64,%s", gets(p, "mime"), gets(p, "data")));
}

static void oa_write_turn(struct xw *w, json_t *msgs, const json_t *t)
{
	bool user = is(gets(t, "role"), "user");
	json_t *parts = json_object_get(t, "parts"), *p, *content = json_array(), *calls = NULL;
	json_t *m;
	size_t i;

	json_array_foreach(parts, i, p) {
		const char *ty = gets(p, "type");

		if (is(ty, "text") && !json_string_length(get(p, "text")))
			continue;
		if (is(ty, "result")) {
			push(w, msgs, json_pack("{s:s, s:s, s:o}", "role", "tool", "tool_call_id",
						gets(p, "id"), "content",
						result_text(w, p, "openai")));
		} else if (is(ty, "call")) {
			char *args = json_dumps(get(p, "args"), DUMP_FLAGS);

			if (!calls)
				calls = json_array();
			push(w, calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", gets(p, "id"),
						 "type", "function", "function", "name",
						 gets(p, "name"), "arguments", args ? args : "{}"));
			if (!args)
				oom(w);
			free(args);
		} else if (!user && !is(ty, "text")) {
			bad(w, "%s: an image in an assistant turn cannot be sent to openai",
			    gets(p, "at") ? gets(p, "at") : "messages");
		} else {
			push(w, content, oa_part(p));
		}
	}
	if (!json_array_size(content) && !calls) {
		json_decref(content);
		return;
	}
	m = json_pack("{s:s}", "role", user ? "user" : "assistant");
	/* One text: a string, as most OpenAI-compatible servers expect. */
	if (json_array_size(content) == 1 && is(gets(json_array_get(content, 0), "type"), "text"))
		set(w, m, "content", json_copy(get(json_array_get(content, 0), "text")));
	else if (json_array_size(content))
		set(w, m, "content", json_incref(content));
	else
		set(w, m, "content", json_null());
	json_decref(content);
	if (calls)
		set(w, m, "tool_calls", calls);
	push(w, msgs, m);
}

static json_t *oa_write(struct xw *w, const json_t *ir, const char *model, bool stream)
{
	json_t *out = json_object(), *msgs = json_array(), *t;
	json_t *tc = get(ir, "tool_choice");
	size_t i;

	set(w, out, "model", json_string(model));
	set(w, out, "messages", msgs);
	/* Several system blocks: text parts of one system message. */
	if (json_array_size(get(ir, "system")))
		push(w, msgs, json_pack("{s:s, s:o}", "role", "system", "content",
					system_texts(w, ir, true)));
	json_array_foreach(get(ir, "turns"), i, t)
		oa_write_turn(w, msgs, t);
	if (json_array_size(get(ir, "tools"))) {
		json_t *tools = json_array();

		json_array_foreach(get(ir, "tools"), i, t)
			push(w, tools, json_pack("{s:s, s:{s:O, s:O*, s:O*}}", "type", "function",
						 "function", "name", get(t, "name"),
						 "description", get(t, "description"),
						 "parameters", get(t, "schema")));
		set(w, out, "tools", tools);
		if (is(gets(tc, "mode"), "tool"))
			set(w, out, "tool_choice", json_pack("{s:s, s:{s:O}}", "type", "function",
							     "function", "name", get(tc, "name")));
		else if (tc)
			set(w, out, "tool_choice", json_copy(get(tc, "mode")));
		if (get(ir, "parallel"))
			set(w, out, "parallel_tool_calls", json_false());
	}
	/* max_completion_tokens: max_tokens is refused by OpenAI's reasoning
	 * models. */
	copy_renamed(w, ir, out, (const char *const[]){ "max_tokens", "max_completion_tokens",
		"temperature", "temperature", "top_p", "top_p", "user", "user", NULL });
	if (json_array_size(get(ir, "stop")) > 4)
		bad(w, "stop_sequences: openai takes at most 4");
	else if (json_array_size(get(ir, "stop")))
		set(w, out, "stop", json_copy(get(ir, "stop")));
	if (stream) {
		set(w, out, "stream", json_true());
		set(w, out, "stream_options", json_pack("{s:b}", "include_usage", 1));
	}
	return out;
}

/* ---- Anthropic messages, written ---------------------------------------- */

static json_t *an_part(struct xw *w, const json_t *p)
{
	const char *t = gets(p, "type");
	json_t *blk, *c, *sp;
	size_t i;

	if (is(t, "text"))
		return json_pack("{s:s, s:O}", "type", "text", "text", get(p, "text"));
	if (is(t, "image"))
		return json_pack("{s:s, s:{s:s, s:O, s:O}}", "type", "image", "source", "type",
				 "base64", "media_type", get(p, "mime"), "data", get(p, "data"));
	if (is(t, "image_url"))
		return json_pack("{s:s, s:{s:s, s:O}}", "type", "image", "source", "type", "url",
				 "url", get(p, "url"));
	if (is(t, "call"))
		return json_pack("{s:s, s:o, s:O, s:O}", "type", "tool_use", "id",
				 tool_id(gets(p, "id")), "name", get(p, "name"), "input",
				 get(p, "args"));
	blk = json_pack("{s:s, s:o}", "type", "tool_result", "tool_use_id", tool_id(gets(p, "id")));
	c = json_array();
	json_array_foreach(get(p, "parts"), i, sp)
		if (!is(gets(sp, "type"), "text") || json_string_length(get(sp, "text")))
			push(w, c, an_part(w, sp));
	if (json_array_size(c))
		set(w, blk, "content", c);
	else
		json_decref(c);
	if (json_is_true(get(p, "error")))
		set(w, blk, "is_error", json_true());
	return blk;
}

static json_t *an_write(struct xw *w, const json_t *ir, const char *model, bool stream)
{
	json_t *out = json_object(), *msgs = json_array(), *turns, *t, *p, *v, *c;
	json_t *tc = get(ir, "tool_choice");
	size_t i, j;

	turns = alternate(w, ir);
	if (!w->rc && !starts_with_user(turns))
		bad(w, "messages: anthropic wants the conversation to start with a user turn");
	set(w, out, "model", json_string(model));
	v = get(ir, "max_tokens");
	set(w, out, "max_tokens", v ? json_copy(v) : json_integer(XL_DEFAULT_MAX_TOKENS));
	if (json_array_size(get(ir, "system")))
		set(w, out, "system", system_texts(w, ir, true));
	set(w, out, "messages", msgs);
	json_array_foreach(turns, i, t) {
		c = json_array();
		json_array_foreach(get(t, "parts"), j, p)
			push(w, c, an_part(w, p));
		push(w, msgs, json_pack("{s:O, s:o}", "role", get(t, "role"), "content", c));
	}
	json_decref(turns);
	if (json_array_size(get(ir, "tools"))) {
		json_t *tools = json_array();

		json_array_foreach(get(ir, "tools"), i, t) {
			json_t *schema = get(t, "schema");

			push(w, tools, json_pack("{s:O, s:O*, s:o}", "name", get(t, "name"),
						 "description", get(t, "description"),
						 "input_schema", schema ? json_incref(schema)
						 : json_pack("{s:s, s:{}}", "type", "object",
							     "properties")));
		}
		set(w, out, "tools", tools);
		if (tc || get(ir, "parallel")) {
			const char *mode = tc ? gets(tc, "mode") : "auto";
			json_t *o = json_pack("{s:s}", "type", is(mode, "required") ? "any" : mode);

			if (is(mode, "tool"))
				set(w, o, "name", json_copy(get(tc, "name")));
			if (get(ir, "parallel") && !is(mode, "none"))
				set(w, o, "disable_parallel_tool_use", json_true());
			set(w, out, "tool_choice", o);
		}
	}
	if ((v = get(ir, "temperature")))
		set(w, out, "temperature", temperature_01(v));
	if ((v = get(ir, "top_p")))
		set(w, out, "top_p", json_copy(v));
	if (json_array_size(get(ir, "stop")))
		set(w, out, "stop_sequences", json_copy(get(ir, "stop")));
	if ((v = get(ir, "user")))
		set(w, out, "metadata", json_pack("{s:O}", "user_id", v));
	if (stream)
		set(w, out, "stream", json_true());
	return out;
}

/* ---- Gemini generateContent, written ------------------------------------ */

/* Keywords of Gemini's Schema (an OpenAPI 3.0 subset). A schema using only
 * these is sent as `parameters` / `responseSchema`, its types in upper case
 * as Gemini writes them; anything else goes as `parametersJsonSchema`. */
static const char *const gem_keys[] = {
	"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
	"properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
	"pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
	"maximum",
};

static json_t *gem_schema(const json_t *s, int depth)
{
	static const char *const types[] = { "string", "number", "integer", "boolean", "array",
					     "object", "null" };
	json_t *out, *v, *c;
	const char *k;
	size_t i;

	if (!json_is_object(s) || depth > XL_SCHEMA_DEPTH)
		return NULL;
	out = json_object();
	json_object_foreach((json_t *)s, k, v) {
		for (i = 0; i < sizeof(gem_keys) / sizeof(gem_keys[0]); i++)
			if (!strcmp(k, gem_keys[i]))
				break;
		if (i == sizeof(gem_keys) / sizeof(gem_keys[0]))
			goto out_incompatible;
		if (!strcmp(k, "type")) {
			char up[8];

			for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
				if (is(json_string_value(v), types[i]))
					break;
			if (i == sizeof(types) / sizeof(types[0]))
				goto out_incompatible;
			for (i = 0; json_string_value(v)[i] && i < sizeof(up) - 1; i++)
				up[i] = (char)(json_string_value(v)[i] - 'a' + 'A');
			up[i] = '\0';
			c = json_string(up);
		} else if (!strcmp(k, "properties")) {
			const char *pk;
			json_t *pv;

			c = json_object();
			json_object_foreach(v, pk, pv) {
				json_t *sub = gem_schema(pv, depth + 1);

				if (!sub || json_object_set_new(c, pk, sub)) {
					json_decref(c);
					goto out_incompatible;
				}
			}
			if (!json_object_size(c)) {
				/* Gemini refuses an OBJECT with no properties. */
				json_decref(c);
				goto out_incompatible;
			}
		} else if (!strcmp(k, "items")) {
			c = gem_schema(v, depth + 1);
		} else if (!strcmp(k, "anyOf")) {
			json_t *sv;

			c = json_is_array(v) ? json_array() : NULL;
			json_array_foreach(v, i, sv)
				if (json_array_append_new(c, gem_schema(sv, depth + 1))) {
					json_decref(c);
					c = NULL;
					break;
				}
		} else if (!strcmp(k, "enum")) {
			json_t *sv;

			json_array_foreach(v, i, sv)
				if (!json_is_string(sv))
					goto out_incompatible;
			c = json_is_array(v) ? json_copy(v) : NULL;
		} else {
			c = json_deep_copy(v);
		}
		if (!c || json_object_set_new(out, k, c))
			goto out_incompatible;
	}
	if (is(gets(out, "type"), "OBJECT") && !get(out, "properties"))
		goto out_incompatible;
	return out;

out_incompatible:
	json_decref(out);
	return NULL;
}

static json_t *gem_part(struct xw *w, const json_t *ir, const json_t *p)
{
	const char *t = gets(p, "type");
	json_t *call, *text, *resp = NULL;

	if (is(t, "text"))
		return json_pack("{s:O}", "text", get(p, "text"));
	if (is(t, "image"))
		return json_pack("{s:{s:O, s:O}}", "inlineData", "mimeType", get(p, "mime"), "data",
				 get(p, "data"));
	if (is(t, "image_url")) {
		bad(w, "%s: a remote image URL cannot be sent to gemini (it takes the bytes; "
		    "we do not fetch)", gets(p, "at"));
		return NULL;
	}
	if (is(t, "call"))
		return json_pack("{s:{s:O, s:O}}", "functionCall", "name", get(p, "name"), "args",
				 get(p, "args"));
	/* A function response names its function: the call's, found by id. */
	call = call_of(ir, p);
	text = result_text(w, p, "gemini");
	if (!call || !text) {
		json_decref(text);
		if (!call)
			bad(w, "messages: tool result '%.64s' matches no tool call", gets(p, "id"));
		return NULL;
	}
	if (!json_is_true(get(p, "error")))
		resp = parse_object(json_string_value(text), json_string_length(text));
	if (!resp || !json_string_length(text)) {
		json_decref(resp);
		resp = json_pack("{s:O}", json_is_true(get(p, "error")) ? "error" : "content", text);
	}
	json_decref(text);
	return json_pack("{s:{s:O, s:o}}", "functionResponse", "name", get(call, "name"),
			 "response", resp);
}

static json_t *gem_write(struct xw *w, const json_t *ir)
{
	json_t *out = json_object(), *contents = json_array(), *turns, *t, *p, *v, *gc;
	json_t *tc = get(ir, "tool_choice");
	size_t i, j;

	turns = alternate(w, ir);
	set(w, out, "contents", contents);
	json_array_foreach(turns, i, t) {
		json_t *parts = json_array();

		json_array_foreach(get(t, "parts"), j, p)
			push(w, parts, gem_part(w, ir, p));
		push(w, contents, json_pack("{s:s, s:o}", "role",
					    is(gets(t, "role"), "user") ? "user" : "model",
					    "parts", parts));
	}
	json_decref(turns);
	if (json_array_size(get(ir, "system"))) {
		json_t *parts = json_array();

		json_array_foreach(get(ir, "system"), i, p)
			if (json_string_length(get(p, "text")))
				push(w, parts, json_pack("{s:O}", "text", get(p, "text")));
		if (json_array_size(parts))
			set(w, out, "systemInstruction", json_pack("{s:o}", "parts", parts));
		else
			json_decref(parts);
	}
	if (json_array_size(get(ir, "tools"))) {
		json_t *decls = json_array();

		json_array_foreach(get(ir, "tools"), i, t) {
			json_t *d = json_pack("{s:O, s:O*}", "name", get(t, "name"), "description",
					      get(t, "description"));
			json_t *schema = get(t, "schema"), *props = get(schema, "properties");

			/* A function without parameters: Gemini refuses an OBJECT
			 * with no properties, so they are left out. */
			if (schema && !(is(gets(schema, "type"), "object") &&
					!json_object_size(props))) {
				json_t *g = gem_schema(schema, 0);

				if (g)
					set(w, d, "parameters", g);
				else
					set(w, d, "parametersJsonSchema", json_deep_copy(schema));
			}
			push(w, decls, d);
		}
		set(w, out, "tools", json_pack("[{s:o}]", "functionDeclarations", decls));
		if (tc) {
			const char *mode = gets(tc, "mode");
			json_t *fcc = json_pack("{s:s}", "mode", is(mode, "auto") ? "AUTO" :
						is(mode, "none") ? "NONE" : "ANY");

			if (is(mode, "tool"))
				set(w, fcc, "allowedFunctionNames", json_pack("[O]", get(tc, "name")));
			set(w, out, "toolConfig", json_pack("{s:o}", "functionCallingConfig", fcc));
		}
	}
	gc = json_object();
	copy_renamed(w, ir, gc, (const char *const[]){ "max_tokens", "maxOutputTokens",
		"temperature", "temperature", "top_p", "topP", "top_k", "topK", "seed", "seed",
		"presence_penalty", "presencePenalty", "frequency_penalty", "frequencyPenalty",
		NULL });
	if (json_array_size(get(ir, "stop")) > 5)
		bad(w, "stop: gemini takes at most 5 stop sequences");
	else if (json_array_size(get(ir, "stop")))
		set(w, gc, "stopSequences", json_copy(get(ir, "stop")));
	if ((v = get(ir, "json"))) {
		json_t *g = get(v, "schema") ? gem_schema(get(v, "schema"), 0) : NULL;

		set(w, gc, "responseMimeType", json_string("application/json"));
		if (g)
			set(w, gc, "responseSchema", g);
	}
	if (json_object_size(gc))
		set(w, out, "generationConfig", gc);
	else
		json_decref(gc);
	return out;
}

/* ---- Bedrock Converse, written ------------------------------------------ */

static json_t *br_image(struct xw *w, const json_t *p)
{
	static const char *const formats[][2] = {
		{ "image/png", "png" }, { "image/jpeg", "jpeg" }, { "image/jpg", "jpeg" },
		{ "image/gif", "gif" }, { "image/webp", "webp" },
	};
	size_t i;

	if (is(gets(p, "type"), "image_url")) {
		bad(w, "%s: a remote image URL cannot be sent to bedrock (it takes the bytes; "
		    "we do not fetch)", gets(p, "at"));
		return NULL;
	}
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (is(gets(p, "mime"), formats[i][0]))
			return json_pack("{s:{s:s, s:{s:O}}}", "image", "format", formats[i][1],
					 "source", "bytes", get(p, "data"));
	bad(w, "%s: image type '%.64s' cannot be sent to bedrock (png, jpeg, gif, webp)",
	    gets(p, "at"), gets(p, "mime"));
	return NULL;
}

static json_t *br_part(struct xw *w, const json_t *p)
{
	const char *t = gets(p, "type");
	json_t *c, *sp, *res;
	size_t i;

	if (is(t, "text"))
		return json_pack("{s:O}", "text", get(p, "text"));
	if (is(t, "call"))
		return json_pack("{s:{s:o, s:O, s:O}}", "toolUse", "toolUseId",
				 tool_id(gets(p, "id")), "name", get(p, "name"), "input",
				 get(p, "args"));
	if (!is(t, "result"))
		return br_image(w, p);
	c = json_array();
	json_array_foreach(get(p, "parts"), i, sp)
		if (!is(gets(sp, "type"), "text") || json_string_length(get(sp, "text")))
			push(w, c, br_part(w, sp));
	res = json_pack("{s:o, s:o}", "toolUseId", tool_id(gets(p, "id")), "content", c);
	if (json_is_true(get(p, "error")))
		set(w, res, "status", json_string("error"));
	return json_pack("{s:o}", "toolResult", res);
}

static json_t *br_write(struct xw *w, const json_t *ir)
{
	json_t *out = json_object(), *msgs = json_array(), *turns, *t, *p, *v, *ic;
	json_t *tc = get(ir, "tool_choice");
	bool tool_history = false;
	size_t i, j;

	turns = alternate(w, ir);
	if (!w->rc && !starts_with_user(turns))
		bad(w, "messages: bedrock wants the conversation to start with a user turn");
	set(w, out, "messages", msgs);
	json_array_foreach(turns, i, t) {
		json_t *c = json_array();

		json_array_foreach(get(t, "parts"), j, p) {
			if (!is(gets(p, "type"), "text") && !is(gets(p, "type"), "image") &&
			    !is(gets(p, "type"), "image_url"))
				tool_history = true;
			push(w, c, br_part(w, p));
		}
		push(w, msgs, json_pack("{s:O, s:o}", "role", get(t, "role"), "content", c));
	}
	json_decref(turns);
	if (json_array_size(get(ir, "system"))) {
		json_t *sys = json_array();

		json_array_foreach(get(ir, "system"), i, p)
			if (json_string_length(get(p, "text")))
				push(w, sys, json_pack("{s:O}", "text", get(p, "text")));
		if (json_array_size(sys))
			set(w, out, "system", sys);
		else
			json_decref(sys);
	}
	ic = json_object();
	v = get(ir, "max_tokens");
	set(w, ic, "maxTokens", v ? json_copy(v) : json_integer(XL_DEFAULT_MAX_TOKENS));
	if ((v = get(ir, "temperature")))
		set(w, ic, "temperature", temperature_01(v));
	if ((v = get(ir, "top_p")))
		set(w, ic, "topP", json_copy(v));
	if (json_array_size(get(ir, "stop")))
		set(w, ic, "stopSequences", json_copy(get(ir, "stop")));
	set(w, out, "inferenceConfig", ic);
	/* Bedrock has no "none": the tools are left out, unless the history
	 * holds tool blocks, which Bedrock refuses without a toolConfig. */
	if (json_array_size(get(ir, "tools")) &&
	    (!is(gets(tc, "mode"), "none") || tool_history)) {
		json_t *tools = json_array(), *cfg;

		json_array_foreach(get(ir, "tools"), i, t) {
			json_t *schema = get(t, "schema");

			push(w, tools, json_pack("{s:{s:O, s:O*, s:{s:o}}}", "toolSpec", "name",
						 get(t, "name"), "description",
						 get(t, "description"), "inputSchema", "json",
						 schema ? json_incref(schema)
						 : json_pack("{s:s, s:{}}", "type", "object",
							     "properties")));
		}
		cfg = json_pack("{s:o}", "tools", tools);
		if (is(gets(tc, "mode"), "auto"))
			set(w, cfg, "toolChoice", json_pack("{s:{}}", "auto"));
		else if (is(gets(tc, "mode"), "required"))
			set(w, cfg, "toolChoice", json_pack("{s:{}}", "any"));
		else if (is(gets(tc, "mode"), "tool"))
			set(w, cfg, "toolChoice", json_pack("{s:{s:O}}", "tool", "name",
							    get(tc, "name")));
		set(w, out, "toolConfig", cfg);
	}
	return out;
}

/* ---- output ---------------------------------------------------------------- */

struct dump_ctx {
	struct buf *out;
	size_t max;
	int err;
};

static int dump_cb(const char *p, size_t n, void *arg)
{
	struct dump_ctx *d = arg;

	d->err = buf_append(d->out, p, n, d->max);
	return d->err ? -1 : 0;
}

/* The document appended to out, compact; out is left as it was on
 * failure. */
static int dump(const json_t *j, struct buf *out)
{
	struct dump_ctx d = { .out = out, .err = 0 };
	size_t len = out->len;

	d.max = out->len > SIZE_MAX - XL_OUT_MAX ? SIZE_MAX : out->len + XL_OUT_MAX;
	if (json_dump_callback(j, dump_cb, &d, DUMP_FLAGS)) {
		out->len = len;
		return d.err == -ENOSPC ? -EINVAL : -ENOMEM;
	}
	return 0;
}

static json_t *load(const char *body, size_t len)
{
	if (!body || len > XL_IN_MAX)
		return NULL;
	return json_loadb(body, len, LOAD_FLAGS, NULL);
}

int xl_request(enum xl_dialect from, enum xl_dialect to, const char *body, size_t len,
	       const char *model, bool stream, struct buf *out, char *err, size_t errlen)
{
	struct xw w = { .err = err, .errlen = errlen };
	json_t *b, *ir = NULL, *res = NULL;
	json_error_t je;

	if (err && errlen)
		err[0] = '\0';
	if ((from != XL_OPENAI && from != XL_ANTHROPIC) || (unsigned)to > XL_BEDROCK || from == to)
		return bad(&w, "no translation from %s to %s", xl_dialect_name(from),
			   xl_dialect_name(to));
	if (!body)
		return bad(&w, "body: missing");
	if (len > XL_IN_MAX)
		return bad(&w, "body: larger than %zu bytes", XL_IN_MAX);
	b = json_loadb(body, len, LOAD_FLAGS, &je);
	if (!b)
		return bad(&w, "body: not valid JSON (%.80s at byte %d)", je.text, je.position);
	if (!json_is_object(b)) {
		bad(&w, "body: must be a JSON object");
		goto out_free_body;
	}
	if (!model)
		model = gets(b, "model");
	if (!model && (to == XL_OPENAI || to == XL_ANTHROPIC)) {
		bad(&w, "model: missing");
		goto out_free_body;
	}
	ir = json_pack("{s:[], s:[], s:[]}", "system", "turns", "tools");
	if (!ir) {
		oom(&w);
		goto out_free_body;
	}
	if (from == XL_OPENAI)
		oa_read(&w, b, ir);
	else
		an_read(&w, b, ir);
	if (w.rc)
		goto out_free_ir;
	switch (to) {
	case XL_OPENAI: res = oa_write(&w, ir, model, stream); break;
	case XL_ANTHROPIC: res = an_write(&w, ir, model, stream); break;
	case XL_GEMINI: res = gem_write(&w, ir); break;
	case XL_BEDROCK: res = br_write(&w, ir); break;
	}
	if (!res)
		oom(&w);
	if (!w.rc && dump(res, out))
		bad(&w, "body: the translation is too large");
	json_decref(res);
out_free_ir:
	json_decref(ir);
out_free_body:
	json_decref(b);
	return w.rc;
}

/* ---- answers ----------------------------------------------------------------- */

struct answer {
	json_t *parts;			/* text and call parts */
	const char *id, *model;
	enum xl_finish fin;
	bool has_usage;
	/* Input tokens not from the cache, read from it, written to it;
	 * output tokens, and the reasoning part of them. */
	json_int_t fresh, read, write, out, reasoning;
};

/* A count in a usage object: absent is 0, anything but a non-negative
 * integer is not the provider's format. */
static int count(const json_t *u, const char *k, json_int_t *v)
{
	json_t *j = get(u, k);

	*v = 0;
	if (!j)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -EPROTO;
	*v = json_integer_value(j);
	return 0;
}

static int add_text(struct answer *a, const json_t *s)
{
	if (!json_string_length(s))
		return 0;
	return json_array_append_new(a->parts, text_part(json_string_value(s),
							 json_string_length(s))) ? -ENOMEM : 0;
}

static int add_call(struct answer *a, const char *id, const char *name, json_t *args)
{
	if (!id || !name || !args) {
		json_decref(args);
		return -EPROTO;
	}
	return json_array_append_new(a->parts, json_pack("{s:s, s:s, s:s, s:o}", "type", "call",
							 "id", id, "name", name, "args",
							 args)) ? -ENOMEM : 0;
}

static int oa_answer(const json_t *b, struct answer *a)
{
	json_t *ch = json_array_get(get(b, "choices"), 0), *m = get(ch, "message"), *c, *p, *u;
	json_int_t prompt, cached;
	size_t i;
	int err;

	if (!json_is_object(m))
		return -EPROTO;
	c = get(m, "content");
	if (json_is_string(c)) {
		if ((err = add_text(a, c)))
			return err;
	} else if (json_is_array(c)) {
		json_array_foreach(c, i, p)
			if (is(gets(p, "type"), "text") && (err = add_text(a, get(p, "text"))))
				return err;
	} else if (c) {
		return -EPROTO;
	}
	if (!json_array_size(a->parts) && gets(m, "refusal") && (err = add_text(a, get(m, "refusal"))))
		return err;
	if (get(m, "tool_calls") && !json_is_array(get(m, "tool_calls")))
		return -EPROTO;
	json_array_foreach(get(m, "tool_calls"), i, p) {
		json_t *fn = get(p, "function"), *args = get(fn, "arguments");

		if (!json_is_string(args))
			return -EPROTO;
		err = add_call(a, gets(p, "id"), gets(fn, "name"),
			       parse_object(json_string_value(args), json_string_length(args)));
		if (err)
			return err;
	}
	a->fin = xl_finish_parse(XL_OPENAI, gets(ch, "finish_reason"));
	a->id = gets(b, "id");
	a->model = gets(b, "model");
	u = get(b, "usage");
	if (!u)
		return 0;
	if (!json_is_object(u))
		return -EPROTO;
	if (count(u, "prompt_tokens", &prompt) || count(u, "completion_tokens", &a->out) ||
	    count(get(u, "prompt_tokens_details"), "cached_tokens", &cached) ||
	    count(get(u, "completion_tokens_details"), "reasoning_tokens", &a->reasoning))
		return -EPROTO;
	a->read = cached > prompt ? prompt : cached;
	a->fresh = prompt - a->read;
	a->has_usage = true;
	return 0;
}

static int an_answer(const json_t *b, struct answer *a)
{
	json_t *blk, *u;
	size_t i;
	int err;

	if (!json_is_array(get(b, "content")))
		return -EPROTO;
	json_array_foreach(get(b, "content"), i, blk) {
		const char *t = gets(blk, "type");

		if (is(t, "text"))
			err = json_is_string(get(blk, "text")) ? add_text(a, get(blk, "text")) : -EPROTO;
		else if (is(t, "tool_use"))
			err = json_is_object(get(blk, "input"))
				? add_call(a, gets(blk, "id"), gets(blk, "name"),
					   json_deep_copy(get(blk, "input"))) : -EPROTO;
		else
			err = 0;	/* thinking, server tools: the caller's format has none */
		if (err)
			return err;
	}
	a->fin = xl_finish_parse(XL_ANTHROPIC, gets(b, "stop_reason"));
	a->id = gets(b, "id");
	a->model = gets(b, "model");
	u = get(b, "usage");
	if (!u)
		return 0;
	if (!json_is_object(u))
		return -EPROTO;
	if (count(u, "input_tokens", &a->fresh) || count(u, "output_tokens", &a->out) ||
	    count(u, "cache_read_input_tokens", &a->read) ||
	    count(u, "cache_creation_input_tokens", &a->write))
		return -EPROTO;
	a->has_usage = true;
	return 0;
}

static int gem_answer(const json_t *b, struct answer *a)
{
	json_t *cands = get(b, "candidates"), *cand = json_array_get(cands, 0), *p, *u;
	json_int_t prompt, tool_prompt, cands_n, thoughts, cached;
	size_t i, ncalls = 0;
	int err;

	if (cands && !json_is_array(cands))
		return -EPROTO;
	if (!cand && !get(b, "promptFeedback") && !get(b, "usageMetadata"))
		return -EPROTO;
	json_array_foreach(get(get(cand, "content"), "parts"), i, p) {
		json_t *fc = get(p, "functionCall");

		if (json_is_true(get(p, "thought"))) {
			continue;	/* a thought summary is not the answer */
		} else if (fc) {
			char id[32];
			json_t *args = get(fc, "args");

			if (args && !json_is_object(args))
				return -EPROTO;
			/* Gemini's calls often have no id: the caller needs one
			 * to answer them. */
			snprintf(id, sizeof(id), "call_%zu", ncalls++);
			err = add_call(a, gets(fc, "id") ? gets(fc, "id") : id, gets(fc, "name"),
				       args ? json_deep_copy(args) : json_object());
		} else if (json_is_string(get(p, "text"))) {
			err = add_text(a, get(p, "text"));
		} else {
			err = 0;
		}
		if (err)
			return err;
	}
	/* No candidate: the prompt itself was blocked. */
	a->fin = cand ? xl_finish_parse(XL_GEMINI, gets(cand, "finishReason")) : XL_FIN_FILTER;
	a->id = gets(b, "responseId");
	a->model = gets(b, "modelVersion");
	u = get(b, "usageMetadata");
	if (!u)
		return 0;
	if (!json_is_object(u))
		return -EPROTO;
	/* promptTokenCount includes the cached content; tool-use prompts and
	 * thoughts are counted beside the prompt and the candidates. */
	if (count(u, "promptTokenCount", &prompt) || count(u, "toolUsePromptTokenCount", &tool_prompt) ||
	    count(u, "candidatesTokenCount", &cands_n) || count(u, "thoughtsTokenCount", &thoughts) ||
	    count(u, "cachedContentTokenCount", &cached))
		return -EPROTO;
	prompt += tool_prompt;
	a->read = cached > prompt ? prompt : cached;
	a->fresh = prompt - a->read;
	a->out = cands_n + thoughts;
	a->reasoning = thoughts;
	a->has_usage = true;
	return 0;
}

static int br_answer(const json_t *b, struct answer *a)
{
	json_t *c = get(get(get(b, "output"), "message"), "content"), *blk, *u;
	size_t i;
	int err;

	if (!json_is_array(c))
		return -EPROTO;
	json_array_foreach(c, i, blk) {
		json_t *tu = get(blk, "toolUse");

		if (tu)
			err = add_call(a, gets(tu, "toolUseId"), gets(tu, "name"),
				       json_is_object(get(tu, "input"))
				       ? json_deep_copy(get(tu, "input")) : NULL);
		else if (json_is_string(get(blk, "text")))
			err = add_text(a, get(blk, "text"));
		else
			err = 0;	/* reasoningContent and the like */
		if (err)
			return err;
	}
	a->fin = xl_finish_parse(XL_BEDROCK, gets(b, "stopReason"));
	u = get(b, "usage");
	if (!u)
		return 0;
	if (!json_is_object(u))
		return -EPROTO;
	/* inputTokens leaves out cache reads and writes (AWS prompt caching). */
	if (count(u, "inputTokens", &a->fresh) || count(u, "outputTokens", &a->out) ||
	    count(u, "cacheReadInputTokens", &a->read) ||
	    count(u, "cacheWriteInputTokens", &a->write))
		return -EPROTO;
	a->has_usage = true;
	return 0;
}

static bool has_calls(const struct answer *a)
{
	json_t *p;
	size_t i;

	json_array_foreach(a->parts, i, p)
		if (is(gets(p, "type"), "call"))
			return true;
	return false;
}

static json_t *oa_answer_write(struct xw *w, const struct answer *a, const char *id)
{
	json_t *msg = json_pack("{s:s}", "role", "assistant"), *calls = json_array(), *p, *out;
	struct buf text = { 0 };
	size_t i;

	json_array_foreach(a->parts, i, p) {
		if (is(gets(p, "type"), "text")) {
			if (buf_append(&text, json_string_value(get(p, "text")),
				       json_string_length(get(p, "text")), XL_OUT_MAX))
				oom(w);
			continue;
		}
		char *args = json_dumps(get(p, "args"), DUMP_FLAGS);

		push(w, calls, json_pack("{s:O, s:s, s:{s:O, s:s}}", "id", get(p, "id"), "type",
					 "function", "function", "name", get(p, "name"),
					 "arguments", args ? args : "{}"));
		if (!args)
			oom(w);
		free(args);
	}
	set(w, msg, "content", text.len || !json_array_size(calls)
	    ? json_stringn_nocheck(text.p ? text.p : "", text.len) : json_null());
	buf_free(&text);
	set(w, msg, "refusal", json_null());
	if (json_array_size(calls))
		set(w, msg, "tool_calls", calls);
	else
		json_decref(calls);
	out = json_object();
	set(w, out, "id", a->id ? json_string(a->id) : json_sprintf("chatcmpl-%s", id ? id : ""));
	set(w, out, "object", json_string("chat.completion"));
	set(w, out, "created", json_integer((json_int_t)time(NULL)));
	set(w, out, "model", json_string(a->model));
	set(w, out, "choices", json_pack("[{s:i, s:o, s:n, s:s}]", "index", 0, "message", msg,
					 "logprobs", "finish_reason",
					 xl_finish_name(XL_OPENAI, a->fin)));
	if (a->has_usage) {
		json_int_t in = a->fresh + a->read + a->write;

		set(w, out, "usage", json_pack("{s:I, s:I, s:I, s:{s:I}, s:{s:I}}",
					       "prompt_tokens", in, "completion_tokens", a->out,
					       "total_tokens", in + a->out,
					       "prompt_tokens_details", "cached_tokens", a->read,
					       "completion_tokens_details", "reasoning_tokens",
					       a->reasoning));
	}
	return out;
}

static json_t *an_answer_write(struct xw *w, const struct answer *a, const char *id)
{
	json_t *content = json_array(), *p, *out = json_object();
	size_t i;

	json_array_foreach(a->parts, i, p) {
		if (is(gets(p, "type"), "text"))
			push(w, content, json_pack("{s:s, s:O}", "type", "text", "text",
						   get(p, "text")));
		else
			push(w, content, json_pack("{s:s, s:O, s:O, s:O}", "type", "tool_use",
						   "id", get(p, "id"), "name", get(p, "name"),
						   "input", get(p, "args")));
	}
	set(w, out, "id", a->id ? json_string(a->id) : json_sprintf("msg_%s", id ? id : ""));
	set(w, out, "type", json_string("message"));
	set(w, out, "role", json_string("assistant"));
	set(w, out, "model", json_string(a->model));
	set(w, out, "content", content);
	set(w, out, "stop_reason", json_string(xl_finish_name(XL_ANTHROPIC, a->fin)));
	set(w, out, "stop_sequence", json_null());
	if (a->has_usage)
		set(w, out, "usage", json_pack("{s:I, s:I, s:I, s:I}", "input_tokens", a->fresh,
					       "cache_creation_input_tokens", a->write,
					       "cache_read_input_tokens", a->read,
					       "output_tokens", a->out));
	return out;
}

int xl_response(enum xl_dialect from, enum xl_dialect to, const char *body, size_t len,
		const char *model, const char *id, struct buf *out)
{
	struct answer a = { .fin = XL_FIN_NONE };
	struct xw w = { 0 };
	json_t *b, *res;
	int err;

	if ((to != XL_OPENAI && to != XL_ANTHROPIC) || (unsigned)from > XL_BEDROCK || from == to)
		return -EINVAL;
	b = load(body, len);
	if (!json_is_object(b)) {
		json_decref(b);
		return -EPROTO;
	}
	a.parts = json_array();
	if (!a.parts) {
		err = -ENOMEM;
		goto out_free_body;
	}
	switch (from) {
	case XL_OPENAI: err = oa_answer(b, &a); break;
	case XL_ANTHROPIC: err = an_answer(b, &a); break;
	case XL_GEMINI: err = gem_answer(b, &a); break;
	case XL_BEDROCK: err = br_answer(b, &a); break;
	default: err = -EINVAL; break;
	}
	if (err)
		goto out_free_parts;
	if (!a.model)
		a.model = model ? model : "";
	/* Gemini says STOP after calling functions: its callers look at the
	 * parts. A cut or filtered answer keeps its reason. */
	if (has_calls(&a) && (a.fin == XL_FIN_STOP || a.fin == XL_FIN_NONE))
		a.fin = XL_FIN_TOOL;
	if (a.fin == XL_FIN_NONE)
		a.fin = XL_FIN_STOP;
	res = to == XL_OPENAI ? oa_answer_write(&w, &a, id) : an_answer_write(&w, &a, id);
	if (!res)
		oom(&w);
	err = w.rc;
	if (!err && dump(res, out))
		err = -ENOMEM;
	json_decref(res);
out_free_parts:
	json_decref(a.parts);
out_free_body:
	json_decref(b);
	return err;
}

/* ---- errors ------------------------------------------------------------------ */

/* The provider's message, in whichever provider's shape the body has:
 * {"error": {"message"}} (OpenAI, Anthropic, Gemini; Gemini streams an
 * array of them), {"message"} or {"Message"} (Bedrock). */
static const char *error_message(const json_t *b)
{
	const char *m;

	if (json_is_array(b))
		b = json_array_get(b, 0);
	m = gets(get(b, "error"), "message");
	if (!m)
		m = gets(b, "message");
	if (!m)
		m = gets(b, "Message");
	if (!m && json_is_string(get(b, "error")))
		m = gets(b, "error");
	return m && *m ? m : NULL;
}

void xl_error(enum xl_dialect from, enum xl_dialect to, int status, const char *body,
	      size_t len, struct buf *out)
{
	static const char fallback_oa[] =
		"{\"error\":{\"message\":\"provider error\",\"type\":\"server_error\","
		"\"param\":null,\"code\":null}}";
	static const char fallback_an[] =
		"{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"provider error\"}}";
	const char *msg, *type, *code = NULL;
	char generic[48];
	json_t *b, *res;

	(void)from;	/* every shape is tried: a proxy in front may answer in its own */
	b = load(body, len);
	msg = error_message(b);
	if (!msg) {
		snprintf(generic, sizeof(generic), "provider returned status %d", status);
		msg = generic;
	}
	if (to == XL_ANTHROPIC) {
		type = status == 400 ? "invalid_request_error" : status == 401 ? "authentication_error"
		     : status == 403 ? "permission_error" : status == 404 ? "not_found_error"
		     : status == 413 ? "request_too_large" : status == 429 ? "rate_limit_error"
		     : status == 529 ? "overloaded_error" : status >= 500 ? "api_error"
		     : status >= 400 ? "invalid_request_error" : "api_error";
		res = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", type,
				"message", msg);
	} else {
		/* OpenAI's own: 401 and 404 are invalid_request_error with a
		 * code, 429 rate_limit_exceeded, 5xx server_error. */
		type = status == 403 ? "permission_error" : status == 429 ? "rate_limit_exceeded"
		     : status >= 500 || status < 400 ? "server_error" : "invalid_request_error";
		code = status == 401 ? "invalid_api_key" : status == 404 ? "model_not_found"
		     : status == 429 ? "rate_limit_exceeded" : NULL;
		res = json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", msg, "type", type,
				"param", "code", code);
	}
	if (!res || dump(res, out)) {
		if (to == XL_ANTHROPIC)
			buf_append(out, fallback_an, sizeof(fallback_an) - 1, SIZE_MAX);
		else
			buf_append(out, fallback_oa, sizeof(fallback_oa) - 1, SIZE_MAX);
	}
	json_decref(res);
	json_decref(b);
}
