// SPDX-License-Identifier: Apache-2.0
/*
 * The provider's answer on its way back: usage read from it (the whole
 * body, or each streamed event as it passes), the usage chunk we asked for
 * removed again when the caller had not, everything else forwarded as it
 * came, event by event.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "guard/guard.h"
#include "llm/internal.h"

/* The usage members read_usage() knows, by name. */
enum usage_key {
	UK_PROMPT = 0,		/* prompt_tokens */
	UK_INPUT,		/* input_tokens */
	UK_COMPLETION,		/* completion_tokens */
	UK_OUTPUT,		/* output_tokens */
	UK_CACHE_READ,		/* cache_read_input_tokens */
	UK_CACHE_WRITE,		/* cache_creation_input_tokens */
	UK_PROMPT_DETAILS,	/* prompt_tokens_details */
	UK_INPUT_DETAILS,	/* input_tokens_details */
	UK_COUNT,
};

#define USAGE_NAME(s) { s, sizeof(s) - 1 }
static const struct {
	const char *s;
	size_t n;
} usage_names[UK_COUNT] = {
	USAGE_NAME("prompt_tokens"), USAGE_NAME("input_tokens"),
	USAGE_NAME("completion_tokens"), USAGE_NAME("output_tokens"),
	USAGE_NAME("cache_read_input_tokens"), USAGE_NAME("cache_creation_input_tokens"),
	USAGE_NAME("prompt_tokens_details"), USAGE_NAME("input_tokens_details"),
};
#undef USAGE_NAME

/* Which of usage_names a member's key is (compared unescaped, as
 * json_obj_find does); UK_COUNT: none. */
static enum usage_key usage_key_of(const struct json_value *key)
{
	char dec[32];
	const char *k;
	ssize_t n;
	int i;

	if (key->flags & JSON_F_ESCAPED) {
		n = json_str_decode(key, dec, sizeof(dec));
		if (n < 0)
			return UK_COUNT;	/* longer than any name */
		k = dec;
	} else {
		k = key->p + 1;
		n = (ssize_t)key->len - 2;
	}
	for (i = 0; i < UK_COUNT; i++)
		if (usage_names[i].n == (size_t)n && !memcmp(usage_names[i].s, k, (size_t)n))
			return (enum usage_key)i;
	return UK_COUNT;
}

static bool get_u64(const struct json_value *v, uint64_t *out)
{
	int64_t n;

	if (json_get_int(v, &n) || n < 0)
		return false;
	*out = (uint64_t)n;
	return true;
}

static void take_cached(const struct json_value *details, uint64_t *out)
{
	struct json_value v;

	if (details->kind == JSON_K_OBJECT &&
	    json_obj_find(details, "cached_tokens", 13, &v) == 0)
		get_u64(&v, out);
}

/* A usage object in any provider's naming: OpenAI chat/completions
 * (prompt/completion_tokens, prompt_tokens_details.cached_tokens), OpenAI
 * responses (input/output_tokens, input_tokens_details.cached_tokens),
 * Anthropic (input/output_tokens, cache_read_input_tokens; output_tokens
 * of message_delta is cumulative, so fields are set, not added). One walk
 * over the members (they are unique: json_parse refuses duplicates), then
 * the fields applied in a fixed order, so that which name wins does not
 * depend on the order the provider wrote them in. */
static void read_usage(struct llm_call *c, const struct json_value *u)
{
	struct json_value mv[UK_COUNT], key, val;
	bool has[UK_COUNT] = { false };
	uint64_t fresh = UINT64_MAX, cr = UINT64_MAX, cw = 0;
	struct json_iter it;
	enum usage_key k;

	if (u->kind != JSON_K_OBJECT)
		return;
	json_iter_init(&it, u);
	while (json_iter_next(&it, &key, &val)) {
		k = usage_key_of(&key);
		if (k != UK_COUNT && !has[k]) {
			mv[k] = val;
			has[k] = true;
		}
	}
	if (has[UK_PROMPT])
		get_u64(&mv[UK_PROMPT], &c->usage.in);
	if (has[UK_INPUT])
		get_u64(&mv[UK_INPUT], &fresh);
	if (has[UK_COMPLETION])
		get_u64(&mv[UK_COMPLETION], &c->usage.out);
	if (has[UK_OUTPUT])
		get_u64(&mv[UK_OUTPUT], &c->usage.out);
	if (has[UK_CACHE_READ])
		get_u64(&mv[UK_CACHE_READ], &cr);
	if (has[UK_CACHE_WRITE])
		get_u64(&mv[UK_CACHE_WRITE], &cw);
	if (cr != UINT64_MAX)
		c->usage.cached = cr;
	/* Anthropic's input_tokens leaves out the cache reads and writes;
	 * ours (and OpenAI's) count every input token. */
	if (fresh != UINT64_MAX)
		c->usage.in = fresh + (cr != UINT64_MAX ? cr : 0) + cw;
	if (has[UK_PROMPT_DETAILS])
		take_cached(&mv[UK_PROMPT_DETAILS], &c->usage.cached);
	if (has[UK_INPUT_DETAILS])
		take_cached(&mv[UK_INPUT_DETAILS], &c->usage.cached);
	c->usage.seen = true;
}

/* usage at the top, or inside "message" (Anthropic message_start) or
 * "response" (OpenAI responses events). */
static void find_usage(struct llm_call *c, const struct json_doc *doc)
{
	struct json_value v, u;

	if (json_find(doc, "usage", &v) == 0) {
		read_usage(c, &v);
		return;
	}
	if ((json_find(doc, "message", &v) == 0 || json_find(doc, "response", &v) == 0) &&
	    v.kind == JSON_K_OBJECT && json_obj_find(&v, "usage", 5, &u) == 0)
		read_usage(c, &u);
}

static int released_emit(void *arg, const char *p, size_t n)
{
	struct llm_call *c = arg;

	return buf_append(&c->released, p, n, SIZE_MAX);
}

/* An event like the template (the last text event) carrying `released`
 * as its text. */
static int emit_text_event(struct llm_call *c, struct buf *out, bool empty_too)
{
	const char *t = c->tmpl.p;
	int err;

	if ((!c->released.len && !empty_too) || !c->tmpl.len)
		return 0;
	if (c->tmpl_type[0])
		buf_printf(out, SIZE_MAX, "event: %s\n", c->tmpl_type);
	err = buf_printf(out, SIZE_MAX, "data: %.*s", (int)c->tmpl_off, t);
	if (!err) {
		llm_json_str(out, c->released.p, c->released.len);
		err = buf_printf(out, SIZE_MAX, "%.*s\n\n",
				 (int)(c->tmpl.len - c->tmpl_off - c->tmpl_slen),
				 t + c->tmpl_off + c->tmpl_slen);
	}
	c->released.len = 0;
	return err;
}

/* Streamed redaction: the event's text goes through the guard's stream,
 * and the event carries what the stream lets go (possibly nothing yet: a
 * possible secret is held back until the next piece decides it). */
static int guard_event(struct llm_call *c, const struct sse_event *ev,
		       const struct json_value *s, struct buf *out)
{
	char *text = malloc(s->len + 1);
	ssize_t n;
	int err;

	if (!text)
		return -ENOMEM;
	n = json_str_decode(s, text, s->len + 1);
	err = n < 0 ? (int)n : guard_stream_feed(c->gstream, text, (size_t)n);
	free(text);
	if (err)
		return err;
	/* This event becomes the template for text released later. */
	c->tmpl.len = 0;
	err = buf_append(&c->tmpl, ev->data.p, ev->data.len, SIZE_MAX);
	if (err)
		return err;
	c->tmpl_off = (size_t)(s->p - ev->data.p);
	c->tmpl_slen = s->len;
	snprintf(c->tmpl_type, sizeof(c->tmpl_type), "%.*s", (int)ev->type.len,
		 ev->type.p ? ev->type.p : "");
	/* Sent even when all of it is held back for now (then with empty
	 * text): the event may carry more than text (a role, an index). */
	return emit_text_event(c, out, true);
}

/* Whatever the stream still holds goes out before a non-text event. */
static int guard_flush(struct llm_call *c, struct buf *out)
{
	int err;

	if (!c->gstream)
		return 0;
	err = guard_stream_finish(c->gstream);
	if (!err)
		err = emit_text_event(c, out, false);
	return err;
}

enum llm_resp_mode llm_resp_head(struct llm_call *c, const struct http1_message *m,
				 struct buf *hdrs)
{
	size_t i, at;

	c->status = m->status;
	c->mode = LLM_RESP_BUFFER;
	for (i = 0; i < m->n_headers; i++) {
		const struct http1_header *h = &m->headers[i];

		/* Only what the caller's SDK needs; a provider's account and
		 * organisation headers stay behind. */
		if (http1_span_eq_nocase(h->name, "content-type", 12)) {
			if (h->value.len >= 17 && !strncasecmp(h->value.p, "text/event-stream", 17))
				c->sse = true;
			if (c->xlate)
				continue;	/* ours, below */
		} else if (!http1_span_eq_nocase(h->name, "retry-after", 11)) {
			continue;
		}
		/* Appended, not printf'd: every answer passes here. A field
		 * is added whole or not at all. */
		at = hdrs->len;
		if (buf_append(hdrs, h->name.p, h->name.len, SIZE_MAX) ||
		    buf_append(hdrs, ": ", 2, SIZE_MAX) ||
		    buf_append(hdrs, h->value.p, h->value.len, SIZE_MAX) ||
		    buf_append(hdrs, "\r\n", 2, SIZE_MAX))
			hdrs->len = at;
	}
	if (c->xlate) {
		/* The answer comes out in the caller's format: a stream of its
		 * events (whatever framing the provider used), or JSON. */
		c->sse = c->stream && m->status >= 200 && m->status < 300;
		if (c->sse) {
			xl_stream_free(c->xs);
			c->xs = xl_stream_new(c->xl_to, llm_caller_dialect(c->ep), c->upstream_model,
					      c->rid);
			if (!c->xs)
				c->sse = false;
		}
		buf_printf(hdrs, SIZE_MAX, "Content-Type: %s\r\n",
			   c->sse ? "text/event-stream" : "application/json");
	}
	if (m->status >= 200 && m->status < 300) {
		const struct guard *g = llm_call_guard(c);

		if (g && guard_scans_responses(g))
			c->rguard = g;
	}
	if (c->sse && m->status >= 200 && m->status < 300) {
		c->sse_raw = malloc(TG_LLM_SSE_EVENT_MAX);
		c->sse_data = malloc(TG_LLM_SSE_EVENT_MAX);
		if (c->sse_raw && c->sse_data) {
			sse_reader_init(&c->sse_r, c->sse_raw, TG_LLM_SSE_EVENT_MAX,
					c->sse_data, TG_LLM_SSE_EVENT_MAX);
			c->mode = LLM_RESP_STREAM;
		}
		if (c->mode == LLM_RESP_STREAM && c->rguard) {
			c->gstream = guard_stream_new(c->rguard, released_emit, c);
			if (!c->gstream)
				c->rguard = NULL;	/* logged below; the answer passes */
		}
	}
	return c->mode;
}

/* Mid-stream enforcement: what was delivered so far (one token per text
 * delta, the provider's usage when it is known) against the budget. */
static bool stream_over_budget(struct llm_call *c)
{
	struct budget_usage so_far = {
		.in = c->usage.seen ? c->usage.in : c->est_in,
		.out = c->usage.out > c->pieces ? c->usage.out : c->pieces,
	};
	struct budget_verdict v;

	if (!c->pmodel || !budget_stream_check(c->budget, &c->ticket, &so_far, &c->pmodel->price,
					       budget_now(), &v))
		return false;
	c->limit_hit = budget_limit_name(v.limit);
	return true;
}

/* Ends the stream cleanly: whatever the guard still holds, then a final
 * event in the caller's format saying why, then the stream's end. */
static int cut_stream(struct llm_call *c, struct buf *out)
{
	char msg[160];

	if (c->gstream && guard_stream_finish(c->gstream) == 0)
		emit_text_event(c, out, false);
	c->cut = true;
	snprintf(msg, sizeof(msg), "the %s budget ran out during this response; it ends here",
		 c->limit_hit ? c->limit_hit : "token");
	if (c->ep == LLM_EP_MESSAGES) {
		buf_printf(out, SIZE_MAX, "event: error\ndata: {\"type\":\"error\",\"error\":"
			   "{\"type\":\"rate_limit_error\",\"message\":\"%s\"}}\n\n", msg);
	} else {
		buf_printf(out, SIZE_MAX, "data: {\"error\":{\"message\":\"%s\",\"type\":"
			   "\"budget_exceeded\",\"param\":null,\"code\":\"budget_exceeded\"}}\n\n"
			   "data: [DONE]\n\n", msg);
	}
	return LLM_RESP_END;
}

/* One streamed block: usage taken, our injected usage chunk dropped. */
static int stream_event(struct llm_call *c, const struct sse_event *ev, struct buf *out)
{
	struct json_value ch;
	struct json_iter it;
	bool drop = false;

	c->doc.root.kind = JSON_K_NONE;
	c->doc.buf = NULL;
	if (ev->n_data && !(ev->data.len == 6 && !memcmp(ev->data.p, "[DONE]", 6)) &&
	    json_parse(&c->doc, ev->data.p, ev->data.len, c->scratch) == 0 &&
	    c->doc.root.kind == JSON_K_OBJECT) {
		struct json_value u;

		c->events++;
		find_usage(c, &c->doc);
		/* The usage chunk OpenAI sends for include_usage has empty
		 * choices; a caller that did not ask for it never sees it. */
		if (c->usage_injected && json_find(&c->doc, "usage", &u) == 0 &&
		    u.kind == JSON_K_OBJECT && json_find(&c->doc, "choices", &ch) == 0 &&
		    ch.kind == JSON_K_ARRAY) {
			json_iter_init(&it, &ch);
			drop = !json_iter_next(&it, NULL, &u);
		}
	}
	if (drop)
		return 0;
	if (c->doc.root.kind == JSON_K_OBJECT && c->doc.buf == ev->data.p) {
		struct json_value t;

		if (llm_event_text(&c->doc, &t) && t.len > 2) {
			c->pieces++;
			if (c->ticket.active && !(c->pieces % TG_LLM_STREAM_CHECK_EVERY) &&
			    stream_over_budget(c))
				return cut_stream(c, out);
		}
	}
	if (c->gstream) {
		struct json_value s;
		int err;

		if (ev->n_data && c->doc.root.kind == JSON_K_OBJECT && c->doc.buf == ev->data.p &&
		    llm_event_text(&c->doc, &s))
			return guard_event(c, ev, &s, out);
		err = guard_flush(c, out);
		if (err)
			return err;
	}
	return buf_append(out, ev->raw.p, ev->raw.len, SIZE_MAX);
}

static int stream_bytes(struct llm_call *c, const char *p, size_t n, struct buf *out);

/* A translated stream: the provider's bytes become the caller's events,
 * which then go through the same reading as a stream in the caller's
 * format. */
static int xlate_bytes(struct llm_call *c, const char *p, size_t n, bool end, struct buf *out)
{
	int err;

	c->xout.len = 0;
	err = end ? xl_stream_end(c->xs, &c->xout) : xl_stream_feed(c->xs, p, n, &c->xout);
	if (err == -ENOMEM)
		return err;
	if (err)	/* its error event for the caller is in xout: send it */
		log_warn("provider %s: stream: %s %s stream", c->provider ? c->provider->name : "?",
			 err == -E2BIG ? "oversized event in the" : "malformed",
			 xl_dialect_name(c->xl_to));
	if (c->xout.len) {
		int e2 = stream_bytes(c, c->xout.p, c->xout.len, out);

		if (e2)
			return e2;
	}
	return err;
}

int llm_resp_body(struct llm_call *c, const char *p, size_t n, struct buf *out)
{
	if (c->mode == LLM_RESP_BUFFER)
		return buf_append(&c->rbuf, p, n, TG_LLM_RESP_MAX);
	if (c->xs)
		return xlate_bytes(c, p, n, false, out);
	return stream_bytes(c, p, n, out);
}

static int stream_bytes(struct llm_call *c, const char *p, size_t n, struct buf *out)
{
	struct sse_event ev;
	size_t used;
	int r, err;

	while (n) {
		r = sse_read(&c->sse_r, p, n, &used, &ev);
		if (r < 0) {
			log_warn("provider %s: stream: %s", c->provider ? c->provider->name : "?",
				 sse_strerror(-r));
			return -EPROTO;
		}
		p += used;
		n -= used;
		if (r == SSE_NEED_MORE)
			break;
		err = stream_event(c, &ev, out);
		if (err)
			return err;	/* LLM_RESP_END included */
	}
	return 0;
}

int llm_resp_done(struct llm_call *c, struct buf *out)
{
	struct sse_event ev;
	int r;

	if (c->mode == LLM_RESP_STREAM) {
		if (c->xs) {
			r = xlate_bytes(c, NULL, 0, true, out);
			if (r)
				return r;
		}
		r = sse_reader_end(&c->sse_r, &ev);
		if (r == SSE_EVENT || r == SSE_BLOCK)
			r = stream_event(c, &ev, out);
		else
			r = 0;
		return r ? r : guard_flush(c, out);
	}
	if (c->xlate) {
		/* The answer in the caller's format replaces the provider's. */
		struct buf t = { 0 };
		int err;

		if (c->status >= 200 && c->status < 300) {
			err = xl_response(c->xl_to, llm_caller_dialect(c->ep), c->rbuf.p ? c->rbuf.p : "",
					  c->rbuf.len, c->upstream_model, c->rid, &t);
			if (err) {
				log_warn("provider %s: answer is not %s JSON", c->provider->name,
					 xl_dialect_name(c->xl_to));
				buf_free(&t);
				c->status = 502;
				llm_error_body(c->ep, 502, "api_error",
					       "the provider's answer could not be read", &t);
			}
		} else {
			xl_error(c->xl_to, llm_caller_dialect(c->ep), c->status,
				 c->rbuf.p ? c->rbuf.p : "", c->rbuf.len, &t);
		}
		buf_free(&c->rbuf);
		c->rbuf = t;
	}
	if (c->status >= 200 && c->status < 300 &&
	    json_parse(&c->doc, c->rbuf.p ? c->rbuf.p : "", c->rbuf.len, c->scratch) == 0 &&
	    c->doc.root.kind == JSON_K_OBJECT) {
		size_t at = out->len;
		int err;

		find_usage(c, &c->doc);
		err = c->rguard ? llm_guard_answer(c, c->rguard, &c->doc, out) :
				  buf_append(out, c->rbuf.p, c->rbuf.len, SIZE_MAX);
		if (!err)
			llm_cache_offer(c, out->p + at, out->len - at);	/* as the caller gets it */
		return err;
	}
	return buf_append(out, c->rbuf.p, c->rbuf.len, SIZE_MAX);
}

void llm_resp_failed(struct llm_call *c, int status)
{
	c->status = status;
}
