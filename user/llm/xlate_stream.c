// SPDX-License-Identifier: Apache-2.0
/*
 * Streamed answers translated: a provider's stream (OpenAI chunks,
 * Anthropic events, Gemini streamGenerateContent?alt=sse, Bedrock
 * ConverseStream in the AWS event-stream framing) in, the caller's SSE
 * (OpenAI chunks or Anthropic events) out. See xlate.h.
 *
 * Two halves meet in a small neutral event (struct xs_event): a decoder
 * per provider format turns each provider event into zero or more neutral
 * events (text for block k, tool call k starts, arguments for k, block k
 * ends, finish reason, usage, error, the provider is done), and an encoder
 * per caller format keeps what it needs to write them: whether the first
 * event went out, which block is open, the tool-call numbering, the finish
 * reason held until usage is known.
 *
 * Nothing accumulates over the stream: one provider event is held at a
 * time (bounded by TG_LLM_SSE_EVENT_MAX), tool arguments are written as
 * they come. The provider's JSON is read with jansson (events are small);
 * what we write is compact JSON with every control byte escaped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "core/buf.h"
#include "http/sse.h"
#include "llm/evstream.h"
#include "llm/xlate.h"
#include "tollgate/limits.h"

/* Tool calls open at once towards an OpenAI caller (providers stream
 * them one after the other; this only bounds a misbehaving one). */
#define XS_OPEN_TOOLS_MAX	16
/* The block key of OpenAI's (single) text: its tool calls use their
 * non-negative index. */
#define XS_TEXT_KEY		(-1L)
/* The caller's model and id are names of ours; longer is a bug. */
#define XS_NAME_MAX		256

enum xs_kind {
	XS_START = 0,		/* the provider's message began (usage may be known) */
	XS_TEXT,		/* text for block key */
	XS_TOOL_START,		/* tool call key: id, name */
	XS_TOOL_ARGS,		/* a piece of tool call key's JSON arguments */
	XS_BLOCK_STOP,		/* block key ended */
	XS_FINISH,		/* why it stopped */
	XS_USAGE,		/* counts (each as known) */
	XS_ERROR,		/* an error inside the stream */
	XS_DONE,		/* the provider's stream ended normally */
};

/* Error classes, written as each caller format names them. */
enum xs_err {
	XS_ERR_SERVER = 0,
	XS_ERR_OVERLOADED,
	XS_ERR_RATE,
	XS_ERR_INVALID,
	XS_ERR_AUTH,
	XS_ERR_PERMISSION,
	XS_ERR_NOT_FOUND,
	XS_ERR_TOO_LARGE,
};

/* Input counts all input (cache reads and writes included), as OpenAI's
 * prompt_tokens does; cached is the part read from a cache. */
struct xs_usage {
	uint64_t in, cached, out;
	bool has_in, has_cached, has_out;
};

struct xs_event {
	enum xs_kind kind;
	long key;
	const char *s;		/* TEXT, TOOL_ARGS: the piece; ERROR: message */
	size_t n;
	const char *id, *name;	/* TOOL_START */
	size_t id_len, name_len;
	enum xl_finish fin;	/* FINISH */
	struct xs_usage u;	/* START, USAGE */
	enum xs_err err;	/* ERROR */
};

struct xs_tool {
	long key;
	unsigned int idx;
	bool has_args;
};

struct xl_stream {
	enum xl_dialect from, to;
	char *model, *id;
	long long created;
	int err;		/* sticky -errno of a failed feed */
	int werr;		/* the first failed append to out */
	bool closed;		/* the caller's stream has ended */

	/* Input */
	struct sse_reader sse;
	char *sse_raw, *sse_data;
	struct evstream_decoder ev;
	uint8_t *ev_buf;
	long oa_tool;		/* OpenAI in: the tool call streaming (-1 none) */
	uint64_t an_in, an_cread, an_cwrite;	/* Anthropic in: its fields */
	bool an_has_in, an_has_cread;
	long gm_key;		/* Gemini in: the current block */
	bool gm_text;		/* ... which is text */
	unsigned int gm_calls;	/* function calls so far */

	/* Output */
	bool started;		/* message_start / the role chunk written */
	bool fin_sent;		/* OpenAI: the finish chunk written */
	bool tools_seen;
	enum xl_finish fin;
	struct xs_usage usage;
	unsigned int n_tools;	/* OpenAI: tool calls numbered so far */
	struct xs_tool open_tools[XS_OPEN_TOOLS_MAX];
	unsigned int n_open;
	bool blk_open;		/* Anthropic: a content block is open */
	bool blk_tool;		/* ... and it is tool_use */
	long blk_key;
	unsigned int n_blocks;	/* Anthropic: blocks started so far */
};

/* ---- writing ------------------------------------------------------------- */

/* Appends go through put(): the first failure is kept in s->werr and
 * later appends are skipped, so a writer need not check each one. */
static void put(struct xl_stream *s, struct buf *o, const void *p, size_t n)
{
	if (!s->werr && n)
		s->werr = buf_append(o, p, n, SIZE_MAX);
}

static void put_s(struct xl_stream *s, struct buf *o, const char *str)
{
	put(s, o, str, strlen(str));
}

static void put_u64(struct xl_stream *s, struct buf *o, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRIu64, v);

	put(s, o, num, (size_t)n);
}

/* A JSON string's contents (RFC 8259 §7): '"', '\\' and every byte below
 * 0x20 escaped, the rest copied (what jansson handed us is valid UTF-8).
 * Nothing grows more than the provider's own escaping did, so an event
 * out is about as large as the event in. */
static void put_jbody(struct xl_stream *s, struct buf *o, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		char esc[6] = { '\\', 0 };
		size_t el = 2;

		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			if (c >= 0x20)
				continue;
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			el = 6;
		}
		put(s, o, p + run, i - run);
		put(s, o, esc, el);
		run = i + 1;
	}
	put(s, o, p + run, n - run);
}

static void put_jstr(struct xl_stream *s, struct buf *o, const char *p, size_t n)
{
	put(s, o, "\"", 1);
	put_jbody(s, o, p, n);
	put(s, o, "\"", 1);
}

/* ---- error classes --------------------------------------------------------- */

static const struct {
	const char *name;
	enum xs_err err;
} err_names[] = {
	/* Anthropic error types */
	{ "api_error", XS_ERR_SERVER },
	{ "overloaded_error", XS_ERR_OVERLOADED },
	{ "rate_limit_error", XS_ERR_RATE },
	{ "invalid_request_error", XS_ERR_INVALID },
	{ "authentication_error", XS_ERR_AUTH },
	{ "permission_error", XS_ERR_PERMISSION },
	{ "not_found_error", XS_ERR_NOT_FOUND },
	{ "request_too_large", XS_ERR_TOO_LARGE },
	/* OpenAI types and codes */
	{ "server_error", XS_ERR_SERVER },
	{ "rate_limit_exceeded", XS_ERR_RATE },
	{ "insufficient_quota", XS_ERR_RATE },
	{ "requests", XS_ERR_RATE },
	{ "tokens", XS_ERR_RATE },
	{ "invalid_api_key", XS_ERR_AUTH },
	{ "model_not_found", XS_ERR_NOT_FOUND },
	/* Gemini (google.rpc.Code names) */
	{ "INTERNAL", XS_ERR_SERVER },
	{ "UNAVAILABLE", XS_ERR_OVERLOADED },
	{ "RESOURCE_EXHAUSTED", XS_ERR_RATE },
	{ "INVALID_ARGUMENT", XS_ERR_INVALID },
	{ "FAILED_PRECONDITION", XS_ERR_INVALID },
	{ "UNAUTHENTICATED", XS_ERR_AUTH },
	{ "PERMISSION_DENIED", XS_ERR_PERMISSION },
	{ "NOT_FOUND", XS_ERR_NOT_FOUND },
	/* Bedrock exception types (compared without case) */
	{ "internalServerException", XS_ERR_SERVER },
	{ "modelStreamErrorException", XS_ERR_SERVER },
	{ "modelTimeoutException", XS_ERR_SERVER },
	{ "serviceUnavailableException", XS_ERR_OVERLOADED },
	{ "modelNotReadyException", XS_ERR_OVERLOADED },
	{ "throttlingException", XS_ERR_RATE },
	{ "serviceQuotaExceededException", XS_ERR_RATE },
	{ "validationException", XS_ERR_INVALID },
	{ "accessDeniedException", XS_ERR_PERMISSION },
	{ "resourceNotFoundException", XS_ERR_NOT_FOUND },
};

static enum xs_err err_class(const char *p, size_t n)
{
	size_t i;

	for (i = 0; p && i < sizeof(err_names) / sizeof(err_names[0]); i++)
		if (strlen(err_names[i].name) == n && !strncasecmp(p, err_names[i].name, n))
			return err_names[i].err;
	return XS_ERR_SERVER;
}

/* Indexed by enum xs_err: Anthropic's type, OpenAI's type and code. */
static const char *const err_out[][3] = {
	[XS_ERR_SERVER]		= { "api_error", "server_error", NULL },
	[XS_ERR_OVERLOADED]	= { "overloaded_error", "server_error", "overloaded" },
	[XS_ERR_RATE]		= { "rate_limit_error", "rate_limit_error", "rate_limit_exceeded" },
	[XS_ERR_INVALID]	= { "invalid_request_error", "invalid_request_error", NULL },
	[XS_ERR_AUTH]		= { "authentication_error", "invalid_request_error", "invalid_api_key" },
	[XS_ERR_PERMISSION]	= { "permission_error", "permission_error", NULL },
	[XS_ERR_NOT_FOUND]	= { "not_found_error", "invalid_request_error", "not_found" },
	[XS_ERR_TOO_LARGE]	= { "request_too_large", "invalid_request_error", NULL },
};

/* ---- to OpenAI ------------------------------------------------------------- */

static void oa_chunk_head(struct xl_stream *s, struct buf *o)
{
	put_s(s, o, "data: {\"id\":\"chatcmpl-");
	put_jbody(s, o, s->id, strlen(s->id));
	put_s(s, o, "\",\"object\":\"chat.completion.chunk\",\"created\":");
	put_u64(s, o, (uint64_t)s->created);
	put_s(s, o, ",\"model\":");
	put_jstr(s, o, s->model, strlen(s->model));
}

/* A chunk's start up to the delta's first member. The first chunk says
 * who speaks, as OpenAI's does. */
static void oa_delta_open(struct xl_stream *s, struct buf *o)
{
	oa_chunk_head(s, o);
	put_s(s, o, ",\"choices\":[{\"index\":0,\"delta\":{");
	if (!s->started)
		put_s(s, o, "\"role\":\"assistant\",");
	s->started = true;
}

static void oa_delta_close(struct xl_stream *s, struct buf *o, const char *finish)
{
	put_s(s, o, "},\"logprobs\":null,\"finish_reason\":");
	if (finish)
		put_jstr(s, o, finish, strlen(finish));
	else
		put_s(s, o, "null");
	put_s(s, o, "}]}\n\n");
}

static enum xl_finish fin_or_default(const struct xl_stream *s)
{
	if (s->fin != XL_FIN_NONE)
		return s->fin;
	return s->tools_seen ? XL_FIN_TOOL : XL_FIN_STOP;
}

static void oa_args(struct xl_stream *s, struct buf *o, const struct xs_tool *t, const char *p,
		    size_t n)
{
	oa_delta_open(s, o);
	put_s(s, o, "\"tool_calls\":[{\"index\":");
	put_u64(s, o, t->idx);
	put_s(s, o, ",\"function\":{\"arguments\":");
	put_jstr(s, o, p, n);
	put_s(s, o, "}}]");
	oa_delta_close(s, o, NULL);
}

/* A call ends. One that had no arguments (Anthropic and Bedrock send none
 * for a tool without parameters) gets "{}": OpenAI's callers parse the
 * arguments as JSON, and an empty string is not. */
static void oa_tool_end(struct xl_stream *s, struct buf *o, unsigned int i)
{
	if (!s->open_tools[i].has_args)
		oa_args(s, o, &s->open_tools[i], "{}", 2);
	s->open_tools[i] = s->open_tools[--s->n_open];
}

static void oa_finish(struct xl_stream *s, struct buf *o)
{
	while (s->n_open)
		oa_tool_end(s, o, s->n_open - 1);
	/* An answer with nothing in it still says who speaks first, with
	 * empty content, as OpenAI's does. */
	if (!s->started) {
		oa_delta_open(s, o);
		put_s(s, o, "\"content\":\"\"");
		oa_delta_close(s, o, NULL);
	}
	oa_delta_open(s, o);
	oa_delta_close(s, o, xl_finish_name(XL_OPENAI, fin_or_default(s)));
	s->fin_sent = true;
}

static void oa_done(struct xl_stream *s, struct buf *o)
{
	const struct xs_usage *u = &s->usage;

	if (!s->fin_sent)
		oa_finish(s, o);
	/* Only counts the provider gave: a stream cut before its usage gets
	 * no usage chunk rather than a made-up zero the gateway would bill. */
	if (u->has_in || u->has_out) {
		oa_chunk_head(s, o);
		put_s(s, o, ",\"choices\":[],\"usage\":{\"prompt_tokens\":");
		put_u64(s, o, u->in);
		put_s(s, o, ",\"completion_tokens\":");
		put_u64(s, o, u->out);
		put_s(s, o, ",\"total_tokens\":");
		put_u64(s, o, u->in + u->out);
		if (u->has_cached) {
			put_s(s, o, ",\"prompt_tokens_details\":{\"cached_tokens\":");
			put_u64(s, o, u->cached);
			put_s(s, o, "}");
		}
		put_s(s, o, "}}\n\n");
	}
	put_s(s, o, "data: [DONE]\n\n");
}

static struct xs_tool *oa_tool_find(struct xl_stream *s, long key)
{
	unsigned int i;

	for (i = 0; i < s->n_open; i++)
		if (s->open_tools[i].key == key)
			return &s->open_tools[i];
	return NULL;
}

static void oa_error(struct xl_stream *s, struct buf *o, enum xs_err e, const char *msg,
		     size_t n)
{
	const char *code = err_out[e][2];

	put_s(s, o, "data: {\"error\":{\"message\":");
	put_jstr(s, o, msg, n);
	put_s(s, o, ",\"type\":");
	put_jstr(s, o, err_out[e][1], strlen(err_out[e][1]));
	put_s(s, o, ",\"param\":null,\"code\":");
	if (code)
		put_jstr(s, o, code, strlen(code));
	else
		put_s(s, o, "null");
	put_s(s, o, "}}\n\ndata: [DONE]\n\n");
}

static void usage_merge(struct xs_usage *to, const struct xs_usage *u)
{
	if (u->has_in) {
		to->in = u->in;
		to->has_in = true;
	}
	if (u->has_cached) {
		to->cached = u->cached;
		to->has_cached = true;
	}
	if (u->has_out) {
		to->out = u->out;
		to->has_out = true;
	}
}

static int oa_emit(struct xl_stream *s, const struct xs_event *e, struct buf *o)
{
	struct xs_tool *t;
	bool first;

	switch (e->kind) {
	case XS_START:
	case XS_USAGE:
		usage_merge(&s->usage, &e->u);
		break;
	case XS_TEXT:
		if (!e->n)
			break;
		oa_delta_open(s, o);
		put_s(s, o, "\"content\":");
		put_jstr(s, o, e->s, e->n);
		oa_delta_close(s, o, NULL);
		break;
	case XS_TOOL_START:
		if (oa_tool_find(s, e->key))
			return -EPROTO;		/* the same call started twice */
		if (s->n_open == XS_OPEN_TOOLS_MAX)
			return -EPROTO;
		t = &s->open_tools[s->n_open++];
		t->key = e->key;
		t->idx = s->n_tools++;
		t->has_args = false;
		s->tools_seen = true;
		/* The first chunk of an answer that starts with a call has
		 * no content, as OpenAI's. */
		first = !s->started;
		oa_delta_open(s, o);
		if (first)
			put_s(s, o, "\"content\":null,");
		put_s(s, o, "\"tool_calls\":[{\"index\":");
		put_u64(s, o, t->idx);
		put_s(s, o, ",\"id\":");
		put_jstr(s, o, e->id, e->id_len);
		put_s(s, o, ",\"type\":\"function\",\"function\":{\"name\":");
		put_jstr(s, o, e->name, e->name_len);
		put_s(s, o, ",\"arguments\":\"\"}}]");
		oa_delta_close(s, o, NULL);
		break;
	case XS_TOOL_ARGS:
		t = oa_tool_find(s, e->key);
		if (!t)
			return -EPROTO;		/* arguments of no call */
		if (!e->n)
			break;
		t->has_args = true;
		oa_args(s, o, t, e->s, e->n);
		break;
	case XS_BLOCK_STOP:
		t = oa_tool_find(s, e->key);
		if (t)
			oa_tool_end(s, o, (unsigned int)(t - s->open_tools));
		break;
	case XS_FINISH:
		s->fin = e->fin;
		if (!s->fin_sent)
			oa_finish(s, o);
		break;
	case XS_ERROR:
		oa_error(s, o, e->err, e->s, e->n);
		s->closed = true;
		break;
	case XS_DONE:
		oa_done(s, o);
		s->closed = true;
		break;
	}
	return 0;
}

/* ---- to Anthropic ---------------------------------------------------------- */

static void an_event(struct xl_stream *s, struct buf *o, const char *type)
{
	put_s(s, o, "event: ");
	put_s(s, o, type);
	put_s(s, o, "\ndata: {\"type\":\"");
	put_s(s, o, type);
	put_s(s, o, "\"");
}

/* Anthropic counts input_tokens without the cache reads. */
static uint64_t an_input(const struct xs_usage *u)
{
	return u->in > u->cached ? u->in - u->cached : 0;
}

static void an_start(struct xl_stream *s, struct buf *o)
{
	if (s->started)
		return;
	s->started = true;
	an_event(s, o, "message_start");
	put_s(s, o, ",\"message\":{\"id\":\"msg_");
	put_jbody(s, o, s->id, strlen(s->id));
	put_s(s, o, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
	put_jstr(s, o, s->model, strlen(s->model));
	put_s(s, o, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
		  "\"usage\":{\"input_tokens\":");
	put_u64(s, o, s->usage.has_in ? an_input(&s->usage) : 0);
	if (s->usage.has_cached) {
		put_s(s, o, ",\"cache_read_input_tokens\":");
		put_u64(s, o, s->usage.cached);
	}
	put_s(s, o, ",\"output_tokens\":0}}}\n\n");
}

static void an_block_stop(struct xl_stream *s, struct buf *o)
{
	if (!s->blk_open)
		return;
	an_event(s, o, "content_block_stop");
	put_s(s, o, ",\"index\":");
	put_u64(s, o, s->n_blocks - 1);
	put_s(s, o, "}\n\n");
	s->blk_open = false;
}

static void an_block_start(struct xl_stream *s, struct buf *o, long key, bool tool)
{
	an_block_stop(s, o);
	an_event(s, o, "content_block_start");
	put_s(s, o, ",\"index\":");
	put_u64(s, o, s->n_blocks++);
	s->blk_open = true;
	s->blk_tool = tool;
	s->blk_key = key;
}

static void an_delta(struct xl_stream *s, struct buf *o, const char *type, const char *field,
		     const char *p, size_t n)
{
	an_event(s, o, "content_block_delta");
	put_s(s, o, ",\"index\":");
	put_u64(s, o, s->n_blocks - 1);
	put_s(s, o, ",\"delta\":{\"type\":\"");
	put_s(s, o, type);
	put_s(s, o, "\",\"");
	put_s(s, o, field);
	put_s(s, o, "\":");
	put_jstr(s, o, p, n);
	put_s(s, o, "}}\n\n");
}

/* message_delta carries the final counts: the gateway bills from it. */
static void an_done(struct xl_stream *s, struct buf *o)
{
	const char *stop = xl_finish_name(XL_ANTHROPIC, fin_or_default(s));

	an_start(s, o);
	an_block_stop(s, o);
	an_event(s, o, "message_delta");
	put_s(s, o, ",\"delta\":{\"stop_reason\":");
	put_jstr(s, o, stop, strlen(stop));
	put_s(s, o, ",\"stop_sequence\":null},\"usage\":{\"input_tokens\":");
	put_u64(s, o, an_input(&s->usage));
	put_s(s, o, ",\"output_tokens\":");
	put_u64(s, o, s->usage.out);
	if (s->usage.has_cached) {
		put_s(s, o, ",\"cache_read_input_tokens\":");
		put_u64(s, o, s->usage.cached);
	}
	put_s(s, o, "}}\n\n");
	an_event(s, o, "message_stop");
	put_s(s, o, "}\n\n");
}

static void an_error(struct xl_stream *s, struct buf *o, enum xs_err e, const char *msg,
		     size_t n)
{
	an_event(s, o, "error");
	put_s(s, o, ",\"error\":{\"type\":");
	put_jstr(s, o, err_out[e][0], strlen(err_out[e][0]));
	put_s(s, o, ",\"message\":");
	put_jstr(s, o, msg, n);
	put_s(s, o, "}}\n\n");
}

static int an_emit(struct xl_stream *s, const struct xs_event *e, struct buf *o)
{
	switch (e->kind) {
	case XS_START:
		usage_merge(&s->usage, &e->u);
		an_start(s, o);
		break;
	case XS_USAGE:
		usage_merge(&s->usage, &e->u);
		break;
	case XS_TEXT:
		if (!e->n)
			break;
		an_start(s, o);
		if (!s->blk_open || s->blk_tool || s->blk_key != e->key) {
			an_block_start(s, o, e->key, false);
			put_s(s, o, ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
		}
		an_delta(s, o, "text_delta", "text", e->s, e->n);
		break;
	case XS_TOOL_START:
		an_start(s, o);
		an_block_start(s, o, e->key, true);
		put_s(s, o, ",\"content_block\":{\"type\":\"tool_use\",\"id\":");
		put_jstr(s, o, e->id, e->id_len);
		put_s(s, o, ",\"name\":");
		put_jstr(s, o, e->name, e->name_len);
		put_s(s, o, ",\"input\":{}}}\n\n");
		s->tools_seen = true;
		break;
	case XS_TOOL_ARGS:
		/* Blocks are written one after another: arguments can only
		 * go to the call that is open. */
		if (!s->blk_open || !s->blk_tool || s->blk_key != e->key)
			return -EPROTO;
		if (e->n)
			an_delta(s, o, "input_json_delta", "partial_json", e->s, e->n);
		break;
	case XS_BLOCK_STOP:
		if (s->blk_open && s->blk_key == e->key)
			an_block_stop(s, o);
		break;
	case XS_FINISH:
		s->fin = e->fin;
		break;
	case XS_ERROR:
		an_error(s, o, e->err, e->s, e->n);
		s->closed = true;
		break;
	case XS_DONE:
		an_done(s, o);
		s->closed = true;
		break;
	}
	return 0;
}

static int emit(struct xl_stream *s, const struct xs_event *e, struct buf *o)
{
	if (s->closed)
		return 0;
	return s->to == XL_OPENAI ? oa_emit(s, e, o) : an_emit(s, e, o);
}

static int emit_kind(struct xl_stream *s, enum xs_kind k, struct buf *o)
{
	struct xs_event e = { .kind = k };

	return emit(s, &e, o);
}

/* ---- reading the provider's JSON ------------------------------------------ */

static const char *jstr(json_t *o, const char *key, size_t *len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	return json_string_value(v);
}

/* A non-negative integer member into *v (and *has); absent or otherwise
 * left as it was. */
static void juint(json_t *o, const char *key, uint64_t *v, bool *has)
{
	json_t *x = json_object_get(o, key);

	if (json_is_integer(x) && json_integer_value(x) >= 0) {
		*v = (uint64_t)json_integer_value(x);
		if (has)
			*has = true;
	}
}

/* A content block index: a non-negative integer, or -1. */
static long jindex(json_t *o, const char *key)
{
	json_t *x = json_object_get(o, key);

	if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 1000000)
		return -1;
	return (long)json_integer_value(x);
}

static int emit_error(struct xl_stream *s, json_t *err, const char *type_key, struct buf *o)
{
	static const char dflt[] = "The provider reported an error.";
	struct xs_event e = { .kind = XS_ERROR, .s = dflt, .n = sizeof(dflt) - 1 };
	const char *p;
	size_t n;

	if (json_is_object(err)) {
		p = jstr(err, "message", &n);
		if (p && n) {
			e.s = p;
			e.n = n;
		}
		p = jstr(err, type_key, &n);
		e.err = err_class(p, p ? n : 0);
		/* OpenAI's code is the finer one when it has one. */
		p = jstr(err, "code", &n);
		if (p && e.err == XS_ERR_SERVER)
			e.err = err_class(p, n);
	}
	return emit(s, &e, o);
}

/* ---- from OpenAI ----------------------------------------------------------- */

static int oa_in_usage(struct xl_stream *s, json_t *u, struct buf *o)
{
	struct xs_event e = { .kind = XS_USAGE };
	json_t *d;

	if (!json_is_object(u))
		return 0;
	juint(u, "prompt_tokens", &e.u.in, &e.u.has_in);
	juint(u, "completion_tokens", &e.u.out, &e.u.has_out);
	d = json_object_get(u, "prompt_tokens_details");
	if (json_is_object(d))
		juint(d, "cached_tokens", &e.u.cached, &e.u.has_cached);
	return emit(s, &e, o);
}

static int oa_in_tool(struct xl_stream *s, json_t *tc, struct buf *o)
{
	struct xs_event e = { .kind = XS_TOOL_START };
	json_t *fn = json_object_get(tc, "function");
	long idx = jindex(tc, "index");
	int err;

	if (idx < 0 || (fn && !json_is_object(fn)))
		return -EPROTO;
	e.key = idx;
	e.id = jstr(tc, "id", &e.id_len);
	/* A call begins with its id; some servers repeat it on every
	 * piece, which starts nothing new. */
	if (idx != s->oa_tool) {
		if (!e.id || !fn || !(e.name = jstr(fn, "name", &e.name_len)))
			return -EPROTO;
		s->oa_tool = idx;
		err = emit(s, &e, o);
		if (err)
			return err;
	}
	e = (struct xs_event){ .kind = XS_TOOL_ARGS, .key = idx };
	if (fn && (e.s = jstr(fn, "arguments", &e.n)) && e.n)
		return emit(s, &e, o);
	return 0;
}

static int oa_in_event(struct xl_stream *s, json_t *j, struct buf *o)
{
	json_t *choices = json_object_get(j, "choices"), *c, *delta, *tcs, *x;
	struct xs_event e = { .kind = XS_TEXT, .key = XS_TEXT_KEY };
	const char *fin;
	size_t i, k, n;
	int err;

	x = json_object_get(j, "error");
	if (x && !json_is_null(x))
		return emit_error(s, x, "type", o);
	if (choices && !json_is_array(choices))
		return -EPROTO;
	/* Only the first choice: n > 1 is not translated. */
	json_array_foreach(choices, i, c) {
		if (!json_is_object(c))
			return -EPROTO;
		if (json_integer_value(json_object_get(c, "index")) != 0)
			continue;
		delta = json_object_get(c, "delta");
		if (json_is_object(delta)) {
			e.s = jstr(delta, "content", &e.n);
			if (e.s && (err = emit(s, &e, o)))
				return err;
			tcs = json_object_get(delta, "tool_calls");
			if (tcs && !json_is_array(tcs) && !json_is_null(tcs))
				return -EPROTO;
			for (k = 0; k < json_array_size(tcs); k++) {
				json_t *tc = json_array_get(tcs, k);

				if (!json_is_object(tc))
					return -EPROTO;
				err = oa_in_tool(s, tc, o);
				if (err)
					return err;
			}
		}
		fin = jstr(c, "finish_reason", &n);
		if (fin) {
			struct xs_event f = { .kind = XS_FINISH,
					      .fin = xl_finish_parse(XL_OPENAI, fin) };

			err = emit(s, &f, o);
			if (err)
				return err;
		}
	}
	return oa_in_usage(s, json_object_get(j, "usage"), o);
}

/* ---- from Anthropic -------------------------------------------------------- */

/* Its fields kept apart, as message_start and message_delta each may
 * carry some of them; OpenAI's prompt count is their sum. */
static int an_in_usage(struct xl_stream *s, json_t *u, enum xs_kind kind, struct buf *o)
{
	struct xs_event e = { .kind = kind };

	if (json_is_object(u)) {
		juint(u, "input_tokens", &s->an_in, &s->an_has_in);
		juint(u, "cache_read_input_tokens", &s->an_cread, &s->an_has_cread);
		juint(u, "cache_creation_input_tokens", &s->an_cwrite, NULL);
		juint(u, "output_tokens", &e.u.out, &e.u.has_out);
	}
	if (s->an_has_in) {
		e.u.in = s->an_in + s->an_cread + s->an_cwrite;
		e.u.has_in = true;
	}
	if (s->an_has_cread) {
		e.u.cached = s->an_cread;
		e.u.has_cached = true;
	}
	return emit(s, &e, o);
}

static int an_in_event(struct xl_stream *s, json_t *j, struct buf *o)
{
	struct xs_event e = { 0 };
	const char *type, *t;
	json_t *x;
	size_t n, tn;
	int err;

	type = jstr(j, "type", &n);
	if (!type)
		return -EPROTO;
	if (!strcmp(type, "message_start")) {
		x = json_object_get(j, "message");
		return an_in_usage(s, json_is_object(x) ? json_object_get(x, "usage") : NULL,
				   XS_START, o);
	}
	if (!strcmp(type, "content_block_start")) {
		x = json_object_get(j, "content_block");
		e.key = jindex(j, "index");
		if (e.key < 0 || !json_is_object(x) || !(t = jstr(x, "type", &tn)))
			return -EPROTO;
		if (!strcmp(t, "text")) {
			e.kind = XS_TEXT;
			e.s = jstr(x, "text", &e.n);
			return e.s ? emit(s, &e, o) : 0;
		}
		if (!strcmp(t, "tool_use")) {
			e.kind = XS_TOOL_START;
			e.id = jstr(x, "id", &e.id_len);
			e.name = jstr(x, "name", &e.name_len);
			if (!e.id || !e.name)
				return -EPROTO;
			return emit(s, &e, o);
		}
		return 0;	/* thinking and the like: not translated */
	}
	if (!strcmp(type, "content_block_delta")) {
		x = json_object_get(j, "delta");
		e.key = jindex(j, "index");
		if (e.key < 0 || !json_is_object(x) || !(t = jstr(x, "type", &tn)))
			return -EPROTO;
		if (!strcmp(t, "text_delta")) {
			e.kind = XS_TEXT;
			e.s = jstr(x, "text", &e.n);
		} else if (!strcmp(t, "input_json_delta")) {
			e.kind = XS_TOOL_ARGS;
			e.s = jstr(x, "partial_json", &e.n);
		} else {
			return 0;
		}
		return e.s ? emit(s, &e, o) : -EPROTO;
	}
	if (!strcmp(type, "content_block_stop")) {
		e.kind = XS_BLOCK_STOP;
		e.key = jindex(j, "index");
		return e.key < 0 ? -EPROTO : emit(s, &e, o);
	}
	if (!strcmp(type, "message_delta")) {
		x = json_object_get(j, "delta");
		if (json_is_object(x) && (t = jstr(x, "stop_reason", &tn))) {
			e.kind = XS_FINISH;
			e.fin = xl_finish_parse(XL_ANTHROPIC, t);
			err = emit(s, &e, o);
			if (err)
				return err;
		}
		return an_in_usage(s, json_object_get(j, "usage"), XS_USAGE, o);
	}
	if (!strcmp(type, "message_stop"))
		return emit_kind(s, XS_DONE, o);
	if (!strcmp(type, "error"))
		return emit_error(s, json_object_get(j, "error"), "type", o);
	return 0;	/* ping, and events added later */
}

/* ---- from Gemini ----------------------------------------------------------- */

static int gm_in_call(struct xl_stream *s, json_t *fc, struct buf *o)
{
	struct xs_event e = { .kind = XS_TOOL_START };
	json_t *args = json_object_get(fc, "args");
	char idbuf[32];
	char *a = NULL;
	int err;

	e.name = jstr(fc, "name", &e.name_len);
	if (!e.name || (args && !json_is_object(args)))
		return -EPROTO;
	e.id = jstr(fc, "id", &e.id_len);
	if (!e.id || !e.id_len) {
		e.id_len = (size_t)snprintf(idbuf, sizeof(idbuf), "call_%u", s->gm_calls);
		e.id = idbuf;
	}
	e.key = ++s->gm_key;
	s->gm_text = false;
	s->gm_calls++;
	err = emit(s, &e, o);
	if (err)
		return err;
	/* A Gemini call arrives whole: its arguments go out as one piece. */
	if (args) {
		a = json_dumps(args, JSON_COMPACT);
		if (!a)
			return -ENOMEM;
	}
	e = (struct xs_event){ .kind = XS_TOOL_ARGS, .key = s->gm_key, .s = a ? a : "{}",
			       .n = a ? strlen(a) : 2 };
	err = emit(s, &e, o);
	free(a);
	if (err)
		return err;
	e = (struct xs_event){ .kind = XS_BLOCK_STOP, .key = s->gm_key };
	return emit(s, &e, o);
}

static int gm_in_event(struct xl_stream *s, json_t *j, struct buf *o)
{
	json_t *cands = json_object_get(j, "candidates"), *c, *content, *parts, *part, *u, *pf, *x;
	struct xs_event e = { .kind = XS_USAGE };
	const char *fin;
	size_t i, n;
	int err;

	x = json_object_get(j, "error");
	if (x && !json_is_null(x))
		return emit_error(s, x, "status", o);
	if (cands && !json_is_array(cands))
		return -EPROTO;
	c = json_array_get(cands, 0);
	if (c && !json_is_object(c))
		return -EPROTO;
	content = json_object_get(c, "content");
	parts = json_object_get(content, "parts");
	if (parts && !json_is_array(parts))
		return -EPROTO;
	json_array_foreach(parts, i, part) {
		struct xs_event t = { .kind = XS_TEXT };

		if (!json_is_object(part))
			return -EPROTO;
		if (json_is_true(json_object_get(part, "thought")))
			continue;	/* thought summaries are not the answer */
		if (json_object_get(part, "functionCall")) {
			if (!json_is_object(json_object_get(part, "functionCall")))
				return -EPROTO;
			err = gm_in_call(s, json_object_get(part, "functionCall"), o);
		} else if ((t.s = jstr(part, "text", &t.n))) {
			if (!s->gm_text) {
				s->gm_key++;
				s->gm_text = true;
			}
			t.key = s->gm_key;
			err = emit(s, &t, o);
		} else {
			err = 0;
		}
		if (err)
			return err;
	}
	/* Counts are cumulative: each chunk's replace the last. */
	u = json_object_get(j, "usageMetadata");
	if (json_is_object(u)) {
		uint64_t thoughts = 0;

		juint(u, "promptTokenCount", &e.u.in, &e.u.has_in);
		juint(u, "cachedContentTokenCount", &e.u.cached, &e.u.has_cached);
		juint(u, "candidatesTokenCount", &e.u.out, &e.u.has_out);
		/* Thinking is billed as output. */
		juint(u, "thoughtsTokenCount", &thoughts, &e.u.has_out);
		e.u.out += thoughts;
		err = emit(s, &e, o);
		if (err)
			return err;
	}
	e = (struct xs_event){ .kind = XS_FINISH };
	fin = c ? jstr(c, "finishReason", &n) : NULL;
	pf = json_object_get(j, "promptFeedback");
	if (fin) {
		e.fin = xl_finish_parse(XL_GEMINI, fin);
		/* Gemini says STOP after a function call too. */
		if (e.fin == XL_FIN_STOP && s->gm_calls)
			e.fin = XL_FIN_TOOL;
	} else if (!c && json_is_object(pf) && json_object_get(pf, "blockReason")) {
		e.fin = XL_FIN_FILTER;	/* the prompt was blocked: no candidates */
	} else {
		return 0;
	}
	return emit(s, &e, o);
}

/* ---- from Bedrock ---------------------------------------------------------- */

static bool span_is(struct http1_span sp, const char *str)
{
	return sp.p && sp.len == strlen(str) && !memcmp(sp.p, str, sp.len);
}

static int br_in_exception(struct xl_stream *s, const struct evstream_msg *m, struct buf *o)
{
	static const char dflt[] = "The provider reported an error.";
	struct xs_event e = { .kind = XS_ERROR, .s = dflt, .n = sizeof(dflt) - 1 };
	struct http1_span type = m->exception_type.p ? m->exception_type : m->error_code;
	json_t *j = NULL;
	const char *p;
	size_t n;
	int err;

	e.err = err_class(type.p, type.len);
	if (m->error_message.p && m->error_message.len) {
		e.s = m->error_message.p;
		e.n = m->error_message.len;
	} else {
		j = json_loadb(m->payload.p, m->payload.len, JSON_REJECT_DUPLICATES, NULL);
		p = json_is_object(j) ? jstr(j, "message", &n) : NULL;
		if (!p)
			p = json_is_object(j) ? jstr(j, "Message", &n) : NULL;
		if (p && n) {
			e.s = p;
			e.n = n;
		}
	}
	err = emit(s, &e, o);
	json_decref(j);
	return err;
}

static int br_in_event(struct xl_stream *s, const struct http1_span type, json_t *j,
		       struct buf *o)
{
	struct xs_event e = { 0 };
	json_t *x, *y;
	int err;

	if (span_is(type, "messageStart"))
		return emit_kind(s, XS_START, o);
	if (span_is(type, "contentBlockStart")) {
		e.key = jindex(j, "contentBlockIndex");
		x = json_object_get(j, "start");
		if (e.key < 0 || !json_is_object(x))
			return -EPROTO;
		y = json_object_get(x, "toolUse");
		if (!y)
			return 0;
		e.kind = XS_TOOL_START;
		e.id = json_is_object(y) ? jstr(y, "toolUseId", &e.id_len) : NULL;
		e.name = json_is_object(y) ? jstr(y, "name", &e.name_len) : NULL;
		return e.id && e.name ? emit(s, &e, o) : -EPROTO;
	}
	if (span_is(type, "contentBlockDelta")) {
		e.key = jindex(j, "contentBlockIndex");
		x = json_object_get(j, "delta");
		if (e.key < 0 || !json_is_object(x))
			return -EPROTO;
		/* A text block has no start event: its first delta opens it. */
		if ((e.s = jstr(x, "text", &e.n))) {
			e.kind = XS_TEXT;
			return emit(s, &e, o);
		}
		y = json_object_get(x, "toolUse");
		if (y) {
			e.kind = XS_TOOL_ARGS;
			e.s = json_is_object(y) ? jstr(y, "input", &e.n) : NULL;
			return e.s ? emit(s, &e, o) : -EPROTO;
		}
		return 0;	/* reasoning and the like */
	}
	if (span_is(type, "contentBlockStop")) {
		e.kind = XS_BLOCK_STOP;
		e.key = jindex(j, "contentBlockIndex");
		return e.key < 0 ? -EPROTO : emit(s, &e, o);
	}
	if (span_is(type, "messageStop")) {
		const char *r;
		size_t n;

		if (!(r = jstr(j, "stopReason", &n)))
			return -EPROTO;
		e.kind = XS_FINISH;
		e.fin = xl_finish_parse(XL_BEDROCK, r);
		return emit(s, &e, o);
	}
	if (span_is(type, "metadata")) {
		/* The last event of a ConverseStream. */
		x = json_object_get(j, "usage");
		if (json_is_object(x)) {
			uint64_t cread = 0, cwrite = 0;

			e.kind = XS_USAGE;
			juint(x, "inputTokens", &e.u.in, &e.u.has_in);
			juint(x, "outputTokens", &e.u.out, &e.u.has_out);
			juint(x, "cacheReadInputTokens", &cread, &e.u.has_cached);
			juint(x, "cacheWriteInputTokens", &cwrite, NULL);
			e.u.cached = cread;
			e.u.in += cread + cwrite;
			err = emit(s, &e, o);
			if (err)
				return err;
		}
		return emit_kind(s, XS_DONE, o);
	}
	return 0;
}

static int br_in_msg(struct xl_stream *s, const struct evstream_msg *m, struct buf *o)
{
	json_t *j;
	int err;

	if (span_is(m->message_type, "exception") || span_is(m->message_type, "error"))
		return br_in_exception(s, m, o);
	if (m->message_type.p && !span_is(m->message_type, "event"))
		return 0;
	j = json_loadb(m->payload.p, m->payload.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
		       NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return -EPROTO;
	}
	err = br_in_event(s, m->event_type, j, o);
	json_decref(j);
	return err;
}

/* ---- feeding --------------------------------------------------------------- */

static int sse_in_event(struct xl_stream *s, const struct sse_event *ev, struct buf *o)
{
	json_t *j;
	int err;

	/* An empty data line (a keepalive some servers send) says nothing. */
	if (s->closed || !ev->data.len)
		return 0;
	if (s->from == XL_OPENAI && ev->data.len == 6 && !memcmp(ev->data.p, "[DONE]", 6))
		return emit_kind(s, XS_DONE, o);
	j = json_loadb(ev->data.p, ev->data.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return -EPROTO;
	}
	switch (s->from) {
	case XL_OPENAI: err = oa_in_event(s, j, o); break;
	case XL_ANTHROPIC: err = an_in_event(s, j, o); break;
	case XL_GEMINI: err = gm_in_event(s, j, o); break;
	default: err = -EINVAL; break;
	}
	json_decref(j);
	return err;
}

/* The stream cannot go on: the caller is told (unless memory ran out),
 * and every later call returns the same. */
static int fail(struct xl_stream *s, struct buf *o, int err)
{
	static const char bad[] = "The provider's stream could not be read.";
	static const char big[] = "The provider's stream carried an event too large to relay.";

	if (!s->closed && err != -ENOMEM) {
		struct xs_event e = { .kind = XS_ERROR, .err = XS_ERR_SERVER,
				      .s = err == -E2BIG ? big : bad };

		e.n = strlen(e.s);
		emit(s, &e, o);
	}
	s->closed = true;
	s->err = err;
	return err;
}

static int sse_err(int r)
{
	return r == -SSE_E_EVENT_TOO_LARGE || r == -SSE_E_DATA_TOO_LARGE ? -E2BIG : -EPROTO;
}

static int ev_err(int r)
{
	return r == -EVSTREAM_E_TOO_LARGE || r == -EVSTREAM_E_HEADERS_TOO_LARGE ? -E2BIG : -EPROTO;
}

int xl_stream_feed(struct xl_stream *s, const char *p, size_t n, struct buf *out)
{
	struct evstream_msg m;
	struct sse_event ev;
	size_t used;
	int r, err;

	if (s->err)
		return s->err;
	/* After the provider's end or an error nothing more is relayed. */
	while (n && !s->closed) {
		if (s->from == XL_BEDROCK) {
			r = evstream_feed(&s->ev, p, n, &used, &m);
			if (r < 0)
				return fail(s, out, ev_err(r));
		} else {
			r = sse_read(&s->sse, p, n, &used, &ev);
			if (r < 0)
				return fail(s, out, sse_err(r));
		}
		p += used;
		n -= used;
		if (r == 0)
			break;
		if (s->from == XL_BEDROCK)
			err = br_in_msg(s, &m, out);
		else
			err = r == SSE_EVENT ? sse_in_event(s, &ev, out) : 0;
		if (!err)
			err = s->werr;
		if (err)
			return fail(s, out, err);
	}
	return s->werr ? fail(s, out, s->werr) : 0;
}

int xl_stream_end(struct xl_stream *s, struct buf *out)
{
	struct sse_event ev;
	int trunc = 0, r, err;

	if (s->err)
		return s->err;
	if (s->closed)
		return 0;
	if (s->from == XL_BEDROCK) {
		if (evstream_end(&s->ev))
			trunc = -EPROTO;
	} else {
		/* A last block may be held on its final CR. */
		r = sse_reader_end(&s->sse, &ev);
		if (r == SSE_EVENT) {
			err = sse_in_event(s, &ev, out);
			if (err)
				return fail(s, out, err);
		} else if (r < 0) {
			trunc = -EPROTO;
		}
	}
	/* Whatever the provider left open is closed, so the caller's SDK
	 * ends cleanly; Gemini has no terminator and always ends here. */
	err = emit_kind(s, XS_DONE, out);
	if (!err)
		err = s->werr;
	if (err)
		return fail(s, out, err);
	s->closed = true;
	if (trunc)
		s->err = trunc;
	return trunc;
}

struct xl_stream *xl_stream_new(enum xl_dialect from, enum xl_dialect to, const char *model,
				const char *id)
{
	struct xl_stream *s;

	if ((to != XL_OPENAI && to != XL_ANTHROPIC) || from == to || (unsigned)from > XL_BEDROCK ||
	    (model && strlen(model) > XS_NAME_MAX) || (id && strlen(id) > XS_NAME_MAX)) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out_nomem;
	s->from = from;
	s->to = to;
	s->oa_tool = -1;
	s->gm_key = -1;
	s->created = (long long)time(NULL);
	s->model = strdup(model ? model : "");
	s->id = strdup(id ? id : "0");
	if (!s->model || !s->id)
		goto out_free_stream;
	if (from == XL_BEDROCK) {
		s->ev_buf = malloc(TG_LLM_SSE_EVENT_MAX);
		if (!s->ev_buf)
			goto out_free_stream;
		evstream_decoder_init(&s->ev, s->ev_buf, TG_LLM_SSE_EVENT_MAX);
	} else {
		s->sse_raw = malloc(TG_LLM_SSE_EVENT_MAX);
		s->sse_data = malloc(TG_LLM_SSE_EVENT_MAX);
		if (!s->sse_raw || !s->sse_data)
			goto out_free_stream;
		sse_reader_init(&s->sse, s->sse_raw, TG_LLM_SSE_EVENT_MAX, s->sse_data,
				TG_LLM_SSE_EVENT_MAX);
	}
	return s;

out_free_stream:
	xl_stream_free(s);
out_nomem:
	errno = ENOMEM;
	return NULL;
}

void xl_stream_free(struct xl_stream *s)
{
	if (!s)
		return;
	free(s->model);
	free(s->id);
	free(s->sse_raw);
	free(s->sse_data);
	free(s->ev_buf);
	free(s);
}
