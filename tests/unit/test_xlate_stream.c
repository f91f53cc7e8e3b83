// SPDX-License-Identifier: Apache-2.0
/*
 * Streamed answers translated (user/llm/xlate_stream.c). Provider streams
 * shaped as tests/sim/provider-sim.mjs sends them (OpenAI chunks,
 * Anthropic events, Gemini alt=sse chunks, Bedrock event-stream messages)
 * go through each of the six provider→caller pairs, whole and byte by
 * byte (each byte right before a guard page); the caller's output is
 * parsed back event by event and checked: the sequence of events, the
 * text, the tool call, the finish reason and the exact usage. Then the
 * unhappy paths: provider errors, streams cut short, cut mid-event,
 * malformed and oversize input, and every byte of valid streams mutated.
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
#include <jansson.h>

#include "core/buf.h"
#include "guard_page.h"
#include "llm/evstream.h"
#include "llm/xlate.h"
#include "tollgate/limits.h"

#define MODEL		"m-test"
#define SID		"s123"
#define FRAMES_MAX	32

/* ---- provider input --------------------------------------------------------- */

/* A provider body and where each of its frames (events) ends. */
struct input {
	struct buf b;
	size_t ends[FRAMES_MAX];
	size_t n;
};

static void frame_end(struct input *in)
{
	assert_true(in->n < FRAMES_MAX);
	in->ends[in->n++] = in->b.len;
}

static void add(struct input *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One SSE frame, from a format. */
static void add(struct input *in, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(tmp));
	assert_int_equal(buf_append(&in->b, tmp, (size_t)n, SIZE_MAX), 0);
	frame_end(in);
}

/* One Bedrock event message. */
static void add_br(struct input *in, const char *type, const char *json)
{
	uint8_t msg[4096];
	size_t len;

	assert_int_equal(evstream_encode_event(msg, sizeof(msg), type, json, strlen(json), &len), 0);
	assert_int_equal(buf_append(&in->b, msg, len, SIZE_MAX), 0);
	frame_end(in);
}

/* A Bedrock exception message, as the service sends one mid-stream. */
static void add_br_exception(struct input *in, const char *type, const char *json)
{
	const struct evstream_header h[] = {
		{ .name = { ":exception-type", 15 }, .type = EVSTREAM_T_STRING,
		  .bytes = { type, strlen(type) } },
		{ .name = { ":content-type", 13 }, .type = EVSTREAM_T_STRING,
		  .bytes = { "application/json", 16 } },
		{ .name = { ":message-type", 13 }, .type = EVSTREAM_T_STRING,
		  .bytes = { "exception", 9 } },
	};
	uint8_t msg[4096];
	size_t len;

	assert_int_equal(evstream_encode(msg, sizeof(msg), h, 3, json, strlen(json), &len), 0);
	assert_int_equal(buf_append(&in->b, msg, len, SIZE_MAX), 0);
	frame_end(in);
}

/* The text, as JSON string contents, in four pieces, and what it decodes
 * to: quotes, a backslash, a newline, a control byte and UTF-8, so that
 * escaping on the way out is checked too. */
static const char *const text_json[] = {
	"Hel", "lo \\\"wor", "ld\\\"\\n", "\\u00e9\\\\ok\\u0001",
};
#define TEXT		"Hello \"world\"\n\xc3\xa9\\ok\x01"
#define N_PIECES	4
static const char *const args_json[] = { "{\\\"city\\\"", ":\\\"Paris\\\"}" };
#define ARGS		"{\"city\":\"Paris\"}"
#define PRE		"Let me check."
#define TOOL		"get_weather"

/* Every provider's answer counts 12 input tokens of which 3 cached, and 4
 * (text) or 7 (tool) output tokens, each in its own way. */
#define IN_ALL		12
#define IN_CACHED	3
#define OUT_TEXT	4
#define OUT_TOOL	7

enum kind { TEXT_STREAM = 0, TOOL_STREAM };

static void oa_chunk(struct input *in, const char *delta, const char *finish)
{
	add(in, "data: {\"id\":\"chatcmpl-p\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	    "\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"delta\":%s,\"logprobs\":null,"
	    "\"finish_reason\":%s}],\"usage\":null}\n\n", delta, finish);
}

static void build_openai(struct input *in, enum kind k)
{
	char d[256];
	int i;

	oa_chunk(in, "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", "null");
	if (k == TEXT_STREAM) {
		for (i = 0; i < N_PIECES; i++) {
			snprintf(d, sizeof(d), "{\"content\":\"%s\"}", text_json[i]);
			oa_chunk(in, d, "null");
		}
	} else {
		oa_chunk(in, "{\"content\":\"" PRE "\"}", "null");
		oa_chunk(in, "{\"tool_calls\":[{\"index\":0,\"id\":\"call_abc\",\"type\":\"function\","
			 "\"function\":{\"name\":\"" TOOL "\",\"arguments\":\"\"}}]}", "null");
		for (i = 0; i < 2; i++) {
			snprintf(d, sizeof(d), "{\"tool_calls\":[{\"index\":0,\"function\":"
				 "{\"arguments\":\"%s\"}}]}", args_json[i]);
			oa_chunk(in, d, "null");
		}
	}
	oa_chunk(in, "{}", k == TEXT_STREAM ? "\"stop\"" : "\"tool_calls\"");
	add(in, "data: {\"id\":\"chatcmpl-p\",\"object\":\"chat.completion.chunk\",\"created\":1,"
	    "\"model\":\"gpt-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":%d,"
	    "\"completion_tokens\":%d,\"total_tokens\":%d,\"prompt_tokens_details\":"
	    "{\"cached_tokens\":%d,\"audio_tokens\":0}}}\n\n", IN_ALL,
	    k == TEXT_STREAM ? OUT_TEXT : OUT_TOOL, IN_ALL + (k == TEXT_STREAM ? OUT_TEXT : OUT_TOOL),
	    IN_CACHED);
	add(in, "data: [DONE]\n\n");
}

#define AN(type, json)	"event: " type "\ndata: {\"type\":\"" type "\"," json "}\n\n"

static void build_anthropic(struct input *in, enum kind k)
{
	int i;

	add(in, AN("message_start", "\"message\":{\"id\":\"msg_p\",\"type\":\"message\","
		   "\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,"
		   "\"stop_sequence\":null,\"usage\":{\"input_tokens\":%d,"
		   "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":%d,"
		   "\"output_tokens\":1}}"), IN_ALL - IN_CACHED, IN_CACHED);
	add(in, AN("content_block_start", "\"index\":0,\"content_block\":{\"type\":\"text\","
		   "\"text\":\"\"}"));
	add(in, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
	if (k == TEXT_STREAM) {
		for (i = 0; i < N_PIECES; i++)
			add(in, AN("content_block_delta", "\"index\":0,\"delta\":{\"type\":"
				   "\"text_delta\",\"text\":\"%s\"}"), text_json[i]);
		add(in, AN("content_block_stop", "\"index\":0"));
		add(in, AN("message_delta", "\"delta\":{\"stop_reason\":\"end_turn\","
			   "\"stop_sequence\":null},\"usage\":{\"input_tokens\":%d,"
			   "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":%d,"
			   "\"output_tokens\":%d}"), IN_ALL - IN_CACHED, IN_CACHED, OUT_TEXT);
	} else {
		add(in, AN("content_block_delta", "\"index\":0,\"delta\":{\"type\":\"text_delta\","
			   "\"text\":\"" PRE "\"}"));
		add(in, AN("content_block_stop", "\"index\":0"));
		add(in, AN("content_block_start", "\"index\":1,\"content_block\":{\"type\":"
			   "\"tool_use\",\"id\":\"toolu_01\",\"name\":\"" TOOL "\",\"input\":{}}"));
		for (i = 0; i < 2; i++)
			add(in, AN("content_block_delta", "\"index\":1,\"delta\":{\"type\":"
				   "\"input_json_delta\",\"partial_json\":\"%s\"}"), args_json[i]);
		add(in, AN("content_block_stop", "\"index\":1"));
		/* Only output_tokens, as the API has long sent it: the input
		 * counts of message_start must be kept. */
		add(in, AN("message_delta", "\"delta\":{\"stop_reason\":\"tool_use\","
			   "\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}"), OUT_TOOL);
	}
	add(in, AN("message_stop", "\"_\":0"));
}

static void gm_chunk(struct input *in, const char *parts, const char *finish, int out)
{
	char u[128] = "";

	if (out >= 0)
		snprintf(u, sizeof(u), "\"candidatesTokenCount\":%d,", out);
	add(in, "data: {\"candidates\":[{\"content\":{\"parts\":[%s],\"role\":\"model\"},%s"
	    "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":%d,"
	    "\"cachedContentTokenCount\":%d,%s\"totalTokenCount\":20},\"modelVersion\":\"gem-x\","
	    "\"responseId\":\"r1\"}\r\n\r\n", parts, finish, IN_ALL, IN_CACHED, u);
}

static void build_gemini(struct input *in, enum kind k)
{
	char p[256];
	int i;

	if (k == TEXT_STREAM) {
		for (i = 0; i < N_PIECES; i++) {
			snprintf(p, sizeof(p), "{\"text\":\"%s\"}", text_json[i]);
			gm_chunk(in, p, i == N_PIECES - 1 ? "\"finishReason\":\"STOP\"," : "",
				 i == N_PIECES - 1 ? OUT_TEXT : i == 0 ? -1 : i + 1);
		}
	} else {
		gm_chunk(in, "{\"text\":\"" PRE "\"}", "", 3);
		gm_chunk(in, "{\"functionCall\":{\"name\":\"" TOOL "\",\"args\":{\"city\":\"Paris\"}}}",
			 "\"finishReason\":\"STOP\",", OUT_TOOL);
	}
}

static void build_bedrock(struct input *in, enum kind k)
{
	char j[256];
	int i;

	add_br(in, "messageStart", "{\"role\":\"assistant\"}");
	if (k == TEXT_STREAM) {
		for (i = 0; i < N_PIECES; i++) {
			snprintf(j, sizeof(j), "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"%s\"}}",
				 text_json[i]);
			add_br(in, "contentBlockDelta", j);
		}
		add_br(in, "contentBlockStop", "{\"contentBlockIndex\":0}");
		add_br(in, "messageStop", "{\"stopReason\":\"end_turn\"}");
	} else {
		add_br(in, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"" PRE
		       "\"}}");
		add_br(in, "contentBlockStop", "{\"contentBlockIndex\":0}");
		add_br(in, "contentBlockStart", "{\"contentBlockIndex\":1,\"start\":{\"toolUse\":"
		       "{\"toolUseId\":\"tooluse_x1\",\"name\":\"" TOOL "\"}}}");
		for (i = 0; i < 2; i++) {
			snprintf(j, sizeof(j), "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":"
				 "{\"input\":\"%s\"}}}", args_json[i]);
			add_br(in, "contentBlockDelta", j);
		}
		add_br(in, "contentBlockStop", "{\"contentBlockIndex\":1}");
		add_br(in, "messageStop", "{\"stopReason\":\"tool_use\"}");
	}
	snprintf(j, sizeof(j), "{\"usage\":{\"inputTokens\":%d,\"outputTokens\":%d,"
		 "\"totalTokens\":%d,\"cacheReadInputTokens\":%d},\"metrics\":{\"latencyMs\":1}}",
		 IN_ALL - IN_CACHED, k == TEXT_STREAM ? OUT_TEXT : OUT_TOOL, IN_ALL, IN_CACHED);
	add_br(in, "metadata", j);
}

static void build(struct input *in, enum xl_dialect from, enum kind k)
{
	memset(in, 0, sizeof(*in));
	switch (from) {
	case XL_OPENAI: build_openai(in, k); break;
	case XL_ANTHROPIC: build_anthropic(in, k); break;
	case XL_GEMINI: build_gemini(in, k); break;
	case XL_BEDROCK: build_bedrock(in, k); break;
	}
}

/* The provider's own mid-stream error, as the simulator sends it. */
static void add_error(struct input *in, enum xl_dialect from)
{
	switch (from) {
	case XL_OPENAI:
		add(in, "data: {\"error\":{\"message\":\"The server had an error.\",\"type\":"
		    "\"server_error\",\"param\":null,\"code\":null}}\n\n");
		break;
	case XL_ANTHROPIC:
		add(in, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
		    "\"overloaded_error\",\"message\":\"Overloaded\"},\"request_id\":\"r\"}\n\n");
		break;
	case XL_GEMINI:
		add(in, "data: {\"error\":{\"code\":500,\"message\":\"An internal error has "
		    "occurred.\",\"status\":\"INTERNAL\"}}\r\n\r\n");
		break;
	case XL_BEDROCK:
		add_br_exception(in, "throttlingException", "{\"message\":\"Too many requests.\"}");
		break;
	}
}

/* ---- running --------------------------------------------------------------- */

struct run {
	struct buf out;
	int feed;	/* the first failing feed's result, or 0 */
	int end;
};

/* Feeds p[0..len) in pieces of `step` bytes (0: whole), each piece in its
 * own memory right before a guard page, then ends the stream. */
static void run_stream(enum xl_dialect from, enum xl_dialect to, const void *p, size_t len,
		       size_t step, struct run *r)
{
	struct xl_stream *s = xl_stream_new(from, to, MODEL, SID);
	size_t off, n;

	assert_non_null(s);
	memset(r, 0, sizeof(*r));
	for (off = 0; off < len && !r->feed; off += n) {
		struct guarded g = { 0 };

		n = step && len - off > step ? step : len - off;
		assert_int_equal(guarded_init(&g, (const char *)p + off, n), 0);
		r->feed = xl_stream_feed(s, g.data, n, &r->out);
		guarded_fini(&g);
	}
	r->end = xl_stream_end(s, &r->out);
	xl_stream_free(s);
}

/* The output with "created" values zeroed: two runs may straddle a
 * second. Returns a heap string. */
static char *normalized(const struct buf *b)
{
	char *s = malloc(b->len + 1), *p, *q;

	assert_non_null(s);
	memcpy(s, b->p ? b->p : "", b->len);
	s[b->len] = 0;
	for (p = s; (p = strstr(p, "\"created\":")); ) {
		p += 10;
		for (q = p; *q >= '0' && *q <= '9'; q++)
			;
		if (q > p) {
			*p = '0';
			memmove(p + 1, q, strlen(q) + 1);
		}
	}
	return s;
}

/* ---- the caller's output, parsed back ----------------------------------------- */

struct summary {
	char seq[512];		/* one token per event, space separated */
	char text[512];
	int n_tools;
	char tool_id[4][64], tool_name[4][64], args[4][256];
	char finish[32];
	long long in, out, cached, start_in;	/* -1: not given */
	char err_type[64], err_code[64], err_msg[256];
};

static void cat(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(dst);

	snprintf(dst + n, cap - n, "%s", src);
}

static void tok(struct summary *sm, const char *t)
{
	if (sm->seq[0])
		cat(sm->seq, sizeof(sm->seq), " ");
	cat(sm->seq, sizeof(sm->seq), t);
}

/* A string member appended to dst (raw bytes, NULs not expected). */
static void cat_str(char *dst, size_t cap, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_true(json_is_string(v));
	cat(dst, cap, json_string_value(v));
}

static long long num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return -1;
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static json_t *load(const char *p, size_t n)
{
	json_error_t e;
	json_t *j = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);

	if (!j)
		fail_msg("output event is not JSON (%s): %.*s", e.text, (int)n, p);
	assert_true(json_is_object(j));
	return j;
}

/* One OpenAI chunk: tokens R (role), T (content), C (a call starts), A
 * (arguments), F (finish), U (usage), E (error), D ([DONE]); the tokens of
 * one chunk are written together ("RT"). */
static void oa_parse(struct summary *sm, const char *p, size_t n)
{
	json_t *j, *ch, *c, *d, *tcs, *tc, *fn, *u, *x;
	char t[16] = "";
	size_t i;

	assert_true(n > 6 && !memcmp(p, "data: ", 6));
	p += 6;
	n -= 6;
	if (n == 6 && !memcmp(p, "[DONE]", 6)) {
		tok(sm, "D");
		return;
	}
	j = load(p, n);
	if ((x = json_object_get(j, "error"))) {
		tok(sm, "E");
		cat_str(sm->err_type, sizeof(sm->err_type), x, "type");
		cat_str(sm->err_msg, sizeof(sm->err_msg), x, "message");
		assert_true(json_is_null(json_object_get(x, "param")));
		if (json_is_string(json_object_get(x, "code")))
			cat_str(sm->err_code, sizeof(sm->err_code), x, "code");
		json_decref(j);
		return;
	}
	assert_string_equal(json_string_value(json_object_get(j, "id")), "chatcmpl-" SID);
	assert_string_equal(json_string_value(json_object_get(j, "object")),
			    "chat.completion.chunk");
	assert_string_equal(json_string_value(json_object_get(j, "model")), MODEL);
	assert_true(json_is_integer(json_object_get(j, "created")));
	ch = json_object_get(j, "choices");
	assert_true(json_is_array(ch));
	if (json_array_size(ch) == 0) {
		u = json_object_get(j, "usage");
		assert_true(json_is_object(u));
		sm->in = num(u, "prompt_tokens");
		sm->out = num(u, "completion_tokens");
		assert_int_equal(num(u, "total_tokens"), sm->in + sm->out);
		x = json_object_get(u, "prompt_tokens_details");
		sm->cached = x ? num(x, "cached_tokens") : -1;
		tok(sm, "U");
		json_decref(j);
		return;
	}
	assert_int_equal(json_array_size(ch), 1);
	c = json_array_get(ch, 0);
	assert_int_equal(num(c, "index"), 0);
	d = json_object_get(c, "delta");
	assert_true(json_is_object(d));
	if (json_object_get(d, "role")) {
		assert_string_equal(json_string_value(json_object_get(d, "role")), "assistant");
		cat(t, sizeof(t), "R");
	}
	x = json_object_get(d, "content");
	if (json_is_string(x) && json_string_length(x)) {
		cat(t, sizeof(t), "T");
		cat(sm->text, sizeof(sm->text), json_string_value(x));
	}
	tcs = json_object_get(d, "tool_calls");
	json_array_foreach(tcs, i, tc) {
		long long idx = num(tc, "index");

		fn = json_object_get(tc, "function");
		assert_true(json_is_object(fn));
		if (json_object_get(tc, "id")) {
			assert_int_equal(idx, sm->n_tools);
			assert_true(sm->n_tools < 4);
			sm->n_tools++;
			cat_str(sm->tool_id[idx], sizeof(sm->tool_id[0]), tc, "id");
			cat_str(sm->tool_name[idx], sizeof(sm->tool_name[0]), fn, "name");
			assert_string_equal(json_string_value(json_object_get(tc, "type")),
					    "function");
			cat(t, sizeof(t), "C");
		} else {
			cat(t, sizeof(t), "A");
		}
		assert_true(idx >= 0 && idx < sm->n_tools);
		cat_str(sm->args[idx], sizeof(sm->args[0]), fn, "arguments");
	}
	x = json_object_get(c, "finish_reason");
	if (json_is_string(x)) {
		cat(t, sizeof(t), "F");
		cat(sm->finish, sizeof(sm->finish), json_string_value(x));
	} else {
		assert_true(json_is_null(x));
	}
	assert_true(t[0]);	/* every chunk says something */
	tok(sm, t);
	json_decref(j);
}

/* One Anthropic event: ms, bs:text, bs:tool, td, jd, be, md, mx, err.
 * Block indices must run 0, 1, ... and deltas go to the open block. */
static void an_parse(struct summary *sm, const char *p, size_t n, int *open, int *next)
{
	const char *nl = memchr(p, '\n', n);
	json_t *j, *x, *u;
	char type[64];
	const char *t;

	assert_non_null(nl);
	assert_true(n > 7 && !memcmp(p, "event: ", 7));
	snprintf(type, sizeof(type), "%.*s", (int)(nl - p - 7), p + 7);
	assert_true((size_t)(nl + 1 - p) + 6 < n && !memcmp(nl + 1, "data: ", 6));
	j = load(nl + 7, n - (size_t)(nl + 7 - p));
	assert_string_equal(json_string_value(json_object_get(j, "type")), type);
	if (!strcmp(type, "message_start")) {
		x = json_object_get(j, "message");
		assert_string_equal(json_string_value(json_object_get(x, "id")), "msg_" SID);
		assert_string_equal(json_string_value(json_object_get(x, "model")), MODEL);
		assert_string_equal(json_string_value(json_object_get(x, "role")), "assistant");
		assert_true(json_is_array(json_object_get(x, "content")));
		sm->start_in = num(json_object_get(x, "usage"), "input_tokens");
		assert_int_equal(num(json_object_get(x, "usage"), "output_tokens"), 0);
		tok(sm, "ms");
	} else if (!strcmp(type, "content_block_start")) {
		assert_int_equal(*open, -1);
		assert_int_equal(num(j, "index"), *next);
		*open = (*next)++;
		x = json_object_get(j, "content_block");
		t = json_string_value(json_object_get(x, "type"));
		if (!strcmp(t, "tool_use")) {
			assert_true(sm->n_tools < 4);
			cat_str(sm->tool_id[sm->n_tools], sizeof(sm->tool_id[0]), x, "id");
			cat_str(sm->tool_name[sm->n_tools], sizeof(sm->tool_name[0]), x, "name");
			assert_true(json_is_object(json_object_get(x, "input")));
			sm->n_tools++;
			tok(sm, "bs:tool");
		} else {
			assert_string_equal(t, "text");
			tok(sm, "bs:text");
		}
	} else if (!strcmp(type, "content_block_delta")) {
		assert_int_equal(num(j, "index"), *open);
		x = json_object_get(j, "delta");
		t = json_string_value(json_object_get(x, "type"));
		if (!strcmp(t, "text_delta")) {
			cat_str(sm->text, sizeof(sm->text), x, "text");
			tok(sm, "td");
		} else {
			assert_string_equal(t, "input_json_delta");
			assert_true(sm->n_tools > 0);
			cat_str(sm->args[sm->n_tools - 1], sizeof(sm->args[0]), x, "partial_json");
			tok(sm, "jd");
		}
	} else if (!strcmp(type, "content_block_stop")) {
		assert_int_equal(num(j, "index"), *open);
		*open = -1;
		tok(sm, "be");
	} else if (!strcmp(type, "message_delta")) {
		x = json_object_get(j, "delta");
		cat_str(sm->finish, sizeof(sm->finish), x, "stop_reason");
		assert_true(json_is_null(json_object_get(x, "stop_sequence")));
		u = json_object_get(j, "usage");
		sm->in = num(u, "input_tokens");
		sm->out = num(u, "output_tokens");
		sm->cached = num(u, "cache_read_input_tokens");
		tok(sm, "md");
	} else if (!strcmp(type, "message_stop")) {
		tok(sm, "mx");
	} else {
		assert_string_equal(type, "error");
		x = json_object_get(j, "error");
		cat_str(sm->err_type, sizeof(sm->err_type), x, "type");
		cat_str(sm->err_msg, sizeof(sm->err_msg), x, "message");
		tok(sm, "err");
	}
	json_decref(j);
}

/* Splits the output into events ("...\n\n") and parses each; a partial
 * event at the end fails. */
static void parse(enum xl_dialect to, const struct buf *b, struct summary *sm)
{
	const char *p = b->p ? b->p : "", *end = p + b->len, *e;
	int open = -1, next = 0;

	memset(sm, 0, sizeof(*sm));
	sm->in = sm->out = sm->cached = sm->start_in = -1;
	while (p < end) {
		e = strstr(p, "\n\n");
		assert_non_null(e);
		assert_true(e < end);
		if (to == XL_OPENAI)
			oa_parse(sm, p, (size_t)(e - p));
		else
			an_parse(sm, p, (size_t)(e - p), &open, &next);
		p = e + 2;
	}
}

/* ---- the six pairs ---------------------------------------------------------- */

static const char *provider_tool_id(enum xl_dialect from)
{
	switch (from) {
	case XL_OPENAI: return "call_abc";
	case XL_ANTHROPIC: return "toolu_01";
	case XL_GEMINI: return "call_0";	/* Gemini gives none: ours */
	case XL_BEDROCK: return "tooluse_x1";
	}
	return "?";
}

/* Runs a stream whole and byte by byte: the same output, no error. */
static void run_both(enum xl_dialect from, enum xl_dialect to, const struct input *in,
		     struct run *whole)
{
	struct run bytes;
	char *a, *b;

	run_stream(from, to, in->b.p, in->b.len, 0, whole);
	assert_int_equal(whole->feed, 0);
	assert_int_equal(whole->end, 0);
	run_stream(from, to, in->b.p, in->b.len, 1, &bytes);
	assert_int_equal(bytes.feed, 0);
	assert_int_equal(bytes.end, 0);
	a = normalized(&whole->out);
	b = normalized(&bytes.out);
	assert_string_equal(a, b);
	free(a);
	free(b);
	buf_free(&bytes.out);
}

static void check_usage(enum xl_dialect to, const struct summary *sm, long long out)
{
	assert_int_equal(sm->out, out);
	assert_int_equal(sm->cached, IN_CACHED);
	/* OpenAI counts all input; Anthropic leaves the cache reads out. */
	assert_int_equal(sm->in, to == XL_OPENAI ? IN_ALL : IN_ALL - IN_CACHED);
	/* message_start knows the input only from Anthropic itself. */
	if (to == XL_ANTHROPIC)
		assert_int_equal(sm->start_in, 0);
}

static void check_pair(enum xl_dialect from, enum xl_dialect to)
{
	bool gemini = from == XL_GEMINI;
	struct summary sm;
	struct input in;
	struct run r;

	/* Text. */
	build(&in, from, TEXT_STREAM);
	run_both(from, to, &in, &r);
	parse(to, &r.out, &sm);
	assert_string_equal(sm.seq, to == XL_OPENAI ? "RT T T T F U D"
			    : "ms bs:text td td td td be md mx");
	assert_string_equal(sm.text, TEXT);
	assert_int_equal(sm.n_tools, 0);
	assert_string_equal(sm.finish, to == XL_OPENAI ? "stop" : "end_turn");
	check_usage(to, &sm, OUT_TEXT);
	buf_free(&r.out);
	buf_free(&in.b);

	/* Text, then a tool call (a Gemini call arrives whole). */
	build(&in, from, TOOL_STREAM);
	run_both(from, to, &in, &r);
	parse(to, &r.out, &sm);
	if (to == XL_OPENAI)
		assert_string_equal(sm.seq, gemini ? "RT C A F U D" : "RT C A A F U D");
	else
		assert_string_equal(sm.seq, gemini ? "ms bs:text td be bs:tool jd be md mx"
				    : "ms bs:text td be bs:tool jd jd be md mx");
	assert_string_equal(sm.text, PRE);
	assert_int_equal(sm.n_tools, 1);
	assert_string_equal(sm.tool_id[0], provider_tool_id(from));
	assert_string_equal(sm.tool_name[0], TOOL);
	assert_string_equal(sm.args[0], ARGS);
	assert_string_equal(sm.finish, to == XL_OPENAI ? "tool_calls" : "tool_use");
	check_usage(to, &sm, OUT_TOOL);
	buf_free(&r.out);
	buf_free(&in.b);
}

static void test_xlate_stream_openai_to_anthropic(void **state)
{
	(void)state;
	check_pair(XL_OPENAI, XL_ANTHROPIC);
}

static void test_xlate_stream_anthropic_to_openai(void **state)
{
	(void)state;
	check_pair(XL_ANTHROPIC, XL_OPENAI);
}

static void test_xlate_stream_gemini_to_openai(void **state)
{
	(void)state;
	check_pair(XL_GEMINI, XL_OPENAI);
}

static void test_xlate_stream_gemini_to_anthropic(void **state)
{
	(void)state;
	check_pair(XL_GEMINI, XL_ANTHROPIC);
}

static void test_xlate_stream_bedrock_to_openai(void **state)
{
	(void)state;
	check_pair(XL_BEDROCK, XL_OPENAI);
}

static void test_xlate_stream_bedrock_to_anthropic(void **state)
{
	(void)state;
	check_pair(XL_BEDROCK, XL_ANTHROPIC);
}

/* ---- unhappy paths ---------------------------------------------------------- */

static const struct pair {
	enum xl_dialect from, to;
} pairs[] = {
	{ XL_OPENAI, XL_ANTHROPIC }, { XL_ANTHROPIC, XL_OPENAI },
	{ XL_GEMINI, XL_OPENAI }, { XL_GEMINI, XL_ANTHROPIC },
	{ XL_BEDROCK, XL_OPENAI }, { XL_BEDROCK, XL_ANTHROPIC },
};
#define N_PAIRS	(sizeof(pairs) / sizeof(pairs[0]))

/* The frames of a text stream up to and including its second text piece. */
static size_t frames_to_second_piece(enum xl_dialect from)
{
	switch (from) {
	case XL_OPENAI: return 3;	/* role, piece, piece */
	case XL_ANTHROPIC: return 5;	/* start, block start, ping, piece, piece */
	case XL_GEMINI: return 2;
	case XL_BEDROCK: return 3;	/* messageStart, piece, piece */
	}
	return 0;
}

static void test_xlate_stream_provider_error_becomes_callers_error(void **state)
{
	/* Indexed by provider: the caller's error type, OpenAI then Anthropic. */
	static const char *const want_type[][2] = {
		[XL_OPENAI] = { NULL, "api_error" },
		[XL_ANTHROPIC] = { "server_error", NULL },
		[XL_GEMINI] = { "server_error", "api_error" },
		[XL_BEDROCK] = { "rate_limit_error", "rate_limit_error" },
	};
	static const char *const want_msg[] = {
		[XL_OPENAI] = "The server had an error.", [XL_ANTHROPIC] = "Overloaded",
		[XL_GEMINI] = "An internal error has occurred.",
		[XL_BEDROCK] = "Too many requests.",
	};
	size_t i, len;

	(void)state;
	for (i = 0; i < N_PAIRS; i++) {
		enum xl_dialect from = pairs[i].from, to = pairs[i].to;
		struct xl_stream *s;
		struct summary sm;
		struct input in, full;
		struct buf out = { 0 };

		build(&full, from, TEXT_STREAM);
		memset(&in, 0, sizeof(in));
		len = full.ends[frames_to_second_piece(from) - 1];
		assert_int_equal(buf_append(&in.b, full.b.p, len, SIZE_MAX), 0);
		add_error(&in, from);

		s = xl_stream_new(from, to, MODEL, SID);
		assert_non_null(s);
		assert_int_equal(xl_stream_feed(s, in.b.p, in.b.len, &out), 0);
		parse(to, &out, &sm);
		assert_string_equal(sm.seq, to == XL_OPENAI ? "RT T E D" : "ms bs:text td td err");
		assert_string_equal(sm.err_type, want_type[from][to == XL_ANTHROPIC]);
		assert_string_equal(sm.err_msg, want_msg[from]);
		if (from == XL_ANTHROPIC)
			assert_string_equal(sm.err_code, "overloaded");

		/* After the error nothing more is relayed or owed. */
		len = out.len;
		assert_int_equal(xl_stream_feed(s, full.b.p + full.ends[frames_to_second_piece(from)
								     - 1],
						full.b.len - full.ends[frames_to_second_piece(from) - 1],
						&out), 0);
		assert_int_equal(xl_stream_end(s, &out), 0);
		assert_int_equal(out.len, len);
		xl_stream_free(s);
		buf_free(&out);
		buf_free(&in.b);
		buf_free(&full.b);
	}
}

static void test_xlate_stream_cut_short_gets_closing_events(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_PAIRS; i++) {
		enum xl_dialect from = pairs[i].from, to = pairs[i].to;
		size_t cut = frames_to_second_piece(from);
		struct input in;
		struct run clean, mid;
		struct summary sm;
		char *a, *b;
		/* Anthropic and Gemini gave their input counts already. */
		bool usage_known = from == XL_ANTHROPIC || from == XL_GEMINI;

		build(&in, from, TEXT_STREAM);

		/* Ended between events, before the provider's terminator. */
		run_stream(from, to, in.b.p, in.ends[cut - 1], 1, &clean);
		assert_int_equal(clean.feed, 0);
		assert_int_equal(clean.end, 0);
		parse(to, &clean.out, &sm);
		if (to == XL_OPENAI)
			assert_string_equal(sm.seq, usage_known ? "RT T F U D" : "RT T F D");
		else
			assert_string_equal(sm.seq, "ms bs:text td td be md mx");
		assert_string_equal(sm.finish, to == XL_OPENAI ? "stop" : "end_turn");
		if (from == XL_GEMINI) {
			assert_int_equal(sm.in, to == XL_OPENAI ? IN_ALL : IN_ALL - IN_CACHED);
			assert_int_equal(sm.out, 2);	/* the last cumulative count */
		}

		/* Ended inside the next event: the same closing, and -EPROTO. */
		run_stream(from, to, in.b.p, in.ends[cut - 1] + 5, 1, &mid);
		assert_int_equal(mid.feed, 0);
		assert_int_equal(mid.end, -EPROTO);
		a = normalized(&clean.out);
		b = normalized(&mid.out);
		assert_string_equal(a, b);
		free(a);
		free(b);
		buf_free(&clean.out);
		buf_free(&mid.out);
		buf_free(&in.b);
	}
}

/* Input that is not the provider's format: -EPROTO, sticky, the caller
 * told with an error event, and nothing crashes. */
static void expect_eproto(enum xl_dialect from, const void *bad, size_t n)
{
	enum xl_dialect to = from == XL_OPENAI ? XL_ANTHROPIC : XL_OPENAI;
	struct xl_stream *s = xl_stream_new(from, to, MODEL, SID);
	struct buf out = { 0 };
	struct summary sm;
	struct input in;
	size_t len;

	assert_non_null(s);
	build(&in, from, TEXT_STREAM);
	assert_int_equal(xl_stream_feed(s, in.b.p, in.ends[0], &out), 0);
	assert_int_equal(xl_stream_feed(s, bad, n, &out), -EPROTO);
	parse(to, &out, &sm);
	assert_non_null(strstr(sm.seq, to == XL_OPENAI ? "E D" : "err"));
	len = out.len;
	assert_int_equal(xl_stream_feed(s, in.b.p + in.ends[0], in.b.len - in.ends[0], &out),
			 -EPROTO);
	assert_int_equal(xl_stream_end(s, &out), -EPROTO);
	assert_int_equal(out.len, len);
	xl_stream_free(s);
	buf_free(&out);
	buf_free(&in.b);
}

#define BAD(from, s)	expect_eproto(from, s, sizeof(s) - 1)

static void test_xlate_stream_malformed_input_is_eproto(void **state)
{
	static const enum xl_dialect sse_from[] = { XL_OPENAI, XL_ANTHROPIC, XL_GEMINI };
	uint8_t msg[512];
	size_t i, len;

	(void)state;
	for (i = 0; i < 3; i++) {
		BAD(sse_from[i], "data: {\"choices\":[\n\n");
		BAD(sse_from[i], "data: [1,2]\n\n");
		BAD(sse_from[i], "data: {\"type\":\"ping\",\"type\":\"ping\"}\n\n");
		BAD(sse_from[i], "data: {\"a\":\"\xff\"}\n\n");
	}
	BAD(XL_OPENAI, "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
	    "[{\"function\":{\"arguments\":\"x\"}}]}}]}\n\n");
	BAD(XL_OPENAI, "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
	    "[{\"index\":3,\"function\":{\"arguments\":\"x\"}}]}}]}\n\n");
	BAD(XL_ANTHROPIC, "data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":"
	    "\"text_delta\",\"text\":\"x\"}}\n\n");
	BAD(XL_ANTHROPIC, "data: {\"type\":\"content_block_delta\",\"index\":7,\"delta\":{\"type\":"
	    "\"input_json_delta\",\"partial_json\":\"x\"}}\n\n");
	BAD(XL_ANTHROPIC, "data: {\"no\":\"type\"}\n\n");
	BAD(XL_GEMINI, "data: {\"candidates\":{}}\n\n");
	BAD(XL_GEMINI, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":"
	    "{\"args\":{}}}]}}]}\n\n");

	/* Bedrock: a payload that is not JSON, a delta without an index, and
	 * a message whose CRC does not match. */
	assert_int_equal(evstream_encode_event(msg, sizeof(msg), "contentBlockDelta", "{nope", 5,
					       &len), 0);
	expect_eproto(XL_BEDROCK, msg, len);
	assert_int_equal(evstream_encode_event(msg, sizeof(msg), "contentBlockDelta",
					       "{\"delta\":{\"text\":\"x\"}}", 22, &len), 0);
	expect_eproto(XL_BEDROCK, msg, len);
	assert_int_equal(evstream_encode_event(msg, sizeof(msg), "contentBlockDelta",
					       "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"x\"}}",
					       44, &len), 0);
	msg[len - 6] ^= 0x01;	/* a payload byte */
	expect_eproto(XL_BEDROCK, msg, len);
	msg[len - 6] ^= 0x01;
	msg[len - 1] ^= 0x80;	/* the message CRC itself */
	expect_eproto(XL_BEDROCK, msg, len);
}

static void test_xlate_stream_oversize_event_is_e2big(void **state)
{
	size_t big = TG_LLM_SSE_EVENT_MAX + 16, i, len;
	struct buf out = { 0 };
	struct xl_stream *s;
	char *p = malloc(big + 64);
	uint8_t *msg = malloc(big + 256);

	(void)state;
	assert_non_null(p);
	assert_non_null(msg);
	memcpy(p, "data: \"", 7);
	memset(p + 7, 'a', big);
	memcpy(p + 7 + big, "\"\n\n", 3);
	for (i = 0; i < 3; i++) {
		enum xl_dialect from = i == 0 ? XL_OPENAI : i == 1 ? XL_ANTHROPIC : XL_GEMINI;

		s = xl_stream_new(from, from == XL_OPENAI ? XL_ANTHROPIC : XL_OPENAI, MODEL, SID);
		assert_non_null(s);
		assert_int_equal(xl_stream_feed(s, p, big + 10, &out), -E2BIG);
		assert_int_equal(xl_stream_end(s, &out), -E2BIG);
		xl_stream_free(s);
		out.len = 0;
	}
	/* A Bedrock message over the bound, in a valid frame. */
	p[0] = '"';
	p[big - 1] = '"';
	assert_int_equal(evstream_encode_event(msg, big + 256, "contentBlockDelta", p, big, &len),
			 0);
	s = xl_stream_new(XL_BEDROCK, XL_ANTHROPIC, MODEL, SID);
	assert_non_null(s);
	assert_int_equal(xl_stream_feed(s, (const char *)msg, len, &out), -E2BIG);
	xl_stream_free(s);
	buf_free(&out);
	free(p);
	free(msg);
}

/* Every third byte of each valid stream changed in turn, or the stream
 * ending there: a result of 0, -EPROTO or -E2BIG, and output that is
 * always whole events that parse. */
static void test_xlate_stream_mutated_input_never_breaks_output(void **state)
{
	size_t i, k, pos;

	(void)state;
	for (i = 0; i < N_PAIRS; i++) {
		for (k = 0; k < 2; k++) {
			struct input in;

			build(&in, pairs[i].from, (enum kind)k);
			for (pos = 0; pos < in.b.len; pos += 3) {
				struct summary sm;
				struct run r;
				char save = in.b.p[pos];

				in.b.p[pos] = (char)(save ^ (pos & 1 ? 0x22 : 0x41));
				run_stream(pairs[i].from, pairs[i].to, in.b.p, in.b.len, 0, &r);
				in.b.p[pos] = save;
				assert_true(r.feed == 0 || r.feed == -EPROTO || r.feed == -E2BIG);
				assert_true(r.end == 0 || r.end == -EPROTO || r.end == -E2BIG);
				parse(pairs[i].to, &r.out, &sm);
				buf_free(&r.out);

				run_stream(pairs[i].from, pairs[i].to, in.b.p, pos, 0, &r);
				assert_int_equal(r.feed, 0);
				assert_true(r.end == 0 || r.end == -EPROTO);
				parse(pairs[i].to, &r.out, &sm);
				/* Cut anywhere, the caller's stream still ends. */
				assert_non_null(strstr(sm.seq, pairs[i].to == XL_OPENAI ? "D" : "mx"));
				buf_free(&r.out);
			}
			buf_free(&in.b);
		}
	}
}

static void test_xlate_stream_finish_reasons_map(void **state)
{
	static const struct {
		enum xl_dialect from;
		const char *stop;
		const char *openai;
	} cases[] = {
		{ XL_ANTHROPIC, "max_tokens", "length" },
		{ XL_ANTHROPIC, "refusal", "content_filter" },
		{ XL_BEDROCK, "max_tokens", "length" },
		{ XL_BEDROCK, "guardrail_intervened", "content_filter" },
		{ XL_GEMINI, "MAX_TOKENS", "length" },
		{ XL_GEMINI, "SAFETY", "content_filter" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct input in = { 0 };
		struct summary sm;
		struct run r;
		char j[128];

		if (cases[i].from == XL_ANTHROPIC) {
			add(&in, AN("message_delta", "\"delta\":{\"stop_reason\":\"%s\"},"
				    "\"usage\":{\"output_tokens\":2}"), cases[i].stop);
			add(&in, AN("message_stop", "\"_\":0"));
		} else if (cases[i].from == XL_BEDROCK) {
			snprintf(j, sizeof(j), "{\"stopReason\":\"%s\"}", cases[i].stop);
			add_br(&in, "messageStop", j);
		} else {
			snprintf(j, sizeof(j), "\"finishReason\":\"%s\",", cases[i].stop);
			gm_chunk(&in, "{\"text\":\"x\"}", j, 2);
		}
		run_stream(cases[i].from, XL_OPENAI, in.b.p, in.b.len, 0, &r);
		assert_int_equal(r.end, 0);
		parse(XL_OPENAI, &r.out, &sm);
		assert_string_equal(sm.finish, cases[i].openai);
		buf_free(&r.out);
		buf_free(&in.b);
	}
}

/* Comments, empty data lines and pings between a provider's events change
 * nothing in what the caller gets. */
static void test_xlate_stream_ignores_keepalives(void **state)
{
	static const enum xl_dialect from[] = { XL_OPENAI, XL_ANTHROPIC, XL_GEMINI };
	size_t i, f;

	(void)state;
	for (i = 0; i < 3; i++) {
		enum xl_dialect to = from[i] == XL_OPENAI ? XL_ANTHROPIC : XL_OPENAI;
		struct input in, noisy = { 0 };
		struct run a, b;
		char *x, *y;

		build(&in, from[i], TOOL_STREAM);
		for (f = 0; f < in.n; f++) {
			size_t start = f ? in.ends[f - 1] : 0;

			add(&noisy, ": keep-alive\n\ndata: \n\n");
			assert_int_equal(buf_append(&noisy.b, in.b.p + start, in.ends[f] - start,
						    SIZE_MAX), 0);
		}
		run_stream(from[i], to, in.b.p, in.b.len, 0, &a);
		run_stream(from[i], to, noisy.b.p, noisy.b.len, 0, &b);
		assert_int_equal(b.feed, 0);
		assert_int_equal(b.end, 0);
		x = normalized(&a.out);
		y = normalized(&b.out);
		assert_string_equal(x, y);
		free(x);
		free(y);
		buf_free(&a.out);
		buf_free(&b.out);
		buf_free(&in.b);
		buf_free(&noisy.b);
	}
}

/* A call without parameters: Anthropic and Bedrock send no argument
 * piece at all; an OpenAI caller parses the arguments, so it gets "{}". */
static void test_xlate_stream_call_without_arguments_gets_empty_object(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		enum xl_dialect from = i ? XL_BEDROCK : XL_ANTHROPIC;
		struct input in = { 0 };
		struct summary sm;
		struct run r;

		if (from == XL_ANTHROPIC) {
			add(&in, AN("content_block_start", "\"index\":0,\"content_block\":{\"type\":"
				    "\"tool_use\",\"id\":\"toolu_9\",\"name\":\"now\",\"input\":{}}"));
			add(&in, AN("content_block_stop", "\"index\":0"));
		} else {
			add_br(&in, "contentBlockStart", "{\"contentBlockIndex\":0,\"start\":"
			       "{\"toolUse\":{\"toolUseId\":\"tu_9\",\"name\":\"now\"}}}");
			add_br(&in, "contentBlockStop", "{\"contentBlockIndex\":0}");
		}
		run_stream(from, XL_OPENAI, in.b.p, in.b.len, 1, &r);
		assert_int_equal(r.feed, 0);
		assert_int_equal(r.end, 0);
		parse(XL_OPENAI, &r.out, &sm);
		assert_string_equal(sm.seq, "RC A F D");
		assert_string_equal(sm.tool_name[0], "now");
		assert_string_equal(sm.args[0], "{}");
		assert_string_equal(sm.finish, "tool_calls");
		buf_free(&r.out);
		buf_free(&in.b);
	}
}

/* A block the provider closes is closed for the caller at once, not when
 * the next one starts: the caller sees its end without waiting. */
static void test_xlate_stream_blocks_close_when_the_provider_closes_them(void **state)
{
	struct xl_stream *s;
	struct buf out = { 0 };
	struct summary sm;
	struct input in;

	(void)state;
	build(&in, XL_BEDROCK, TOOL_STREAM);
	s = xl_stream_new(XL_BEDROCK, XL_ANTHROPIC, MODEL, SID);
	assert_non_null(s);
	/* messageStart, text, its stop: the text block ends there. */
	assert_int_equal(xl_stream_feed(s, in.b.p, in.ends[2], &out), 0);
	parse(XL_ANTHROPIC, &out, &sm);
	assert_string_equal(sm.seq, "ms bs:text td be");
	/* The call, its arguments and its stop. */
	assert_int_equal(xl_stream_feed(s, in.b.p + in.ends[2], in.ends[6] - in.ends[2], &out), 0);
	parse(XL_ANTHROPIC, &out, &sm);
	assert_string_equal(sm.seq, "ms bs:text td be bs:tool jd jd be");
	xl_stream_free(s);
	buf_free(&out);
	buf_free(&in.b);
}

static void test_xlate_stream_new_rejects_pairs_it_does_not_translate(void **state)
{
	(void)state;
	errno = 0;
	assert_null(xl_stream_new(XL_OPENAI, XL_OPENAI, MODEL, SID));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(xl_stream_new(XL_OPENAI, XL_GEMINI, MODEL, SID));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(xl_stream_new(XL_ANTHROPIC, XL_BEDROCK, MODEL, SID));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(xl_stream_new((enum xl_dialect)9, XL_OPENAI, MODEL, SID));
	assert_int_equal(errno, EINVAL);
	xl_stream_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xlate_stream_openai_to_anthropic),
		cmocka_unit_test(test_xlate_stream_anthropic_to_openai),
		cmocka_unit_test(test_xlate_stream_gemini_to_openai),
		cmocka_unit_test(test_xlate_stream_gemini_to_anthropic),
		cmocka_unit_test(test_xlate_stream_bedrock_to_openai),
		cmocka_unit_test(test_xlate_stream_bedrock_to_anthropic),
		cmocka_unit_test(test_xlate_stream_provider_error_becomes_callers_error),
		cmocka_unit_test(test_xlate_stream_cut_short_gets_closing_events),
		cmocka_unit_test(test_xlate_stream_malformed_input_is_eproto),
		cmocka_unit_test(test_xlate_stream_oversize_event_is_e2big),
		cmocka_unit_test(test_xlate_stream_mutated_input_never_breaks_output),
		cmocka_unit_test(test_xlate_stream_finish_reasons_map),
		cmocka_unit_test(test_xlate_stream_ignores_keepalives),
		cmocka_unit_test(test_xlate_stream_call_without_arguments_gets_empty_object),
		cmocka_unit_test(test_xlate_stream_blocks_close_when_the_provider_closes_them),
		cmocka_unit_test(test_xlate_stream_new_rejects_pairs_it_does_not_translate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
