/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Translation between the LLM wire formats: a caller speaking OpenAI chat
 * completions or Anthropic messages, a provider speaking OpenAI chat,
 * Anthropic messages, Gemini generateContent or Bedrock Converse. Requests
 * one way; answers, errors and streams the other, tool calls included.
 *
 * Translated answers keep what accounting needs: an OpenAI stream always
 * ends with a usage chunk (empty "choices", "usage"); an Anthropic stream
 * carries input tokens in message_start and cumulative usage in
 * message_delta. llm_resp.c then reads them as from a provider that spoke
 * the caller's format (and drops the usage chunk when the caller did not
 * ask for it). Translation happens off the common path (only when caller
 * and provider formats differ) and uses jansson, on bodies our own scanner
 * has already accepted (duplicate keys and bad UTF-8 refused). See
 * docs/llm.md, "Translation".
 */
#ifndef TOLLGATE_LLM_XLATE_H
#define TOLLGATE_LLM_XLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum xl_dialect {
	XL_OPENAI = 0,		/* /v1/chat/completions */
	XL_ANTHROPIC,		/* /v1/messages */
	XL_GEMINI,		/* models/M:generateContent, :streamGenerateContent?alt=sse */
	XL_BEDROCK,		/* /model/M/converse, /converse-stream (AWS event stream) */
};

const char *xl_dialect_name(enum xl_dialect d);

/* Why a generation stopped, across formats. */
enum xl_finish {
	XL_FIN_NONE = 0,	/* not said (yet) */
	XL_FIN_STOP,		/* natural end or a stop sequence */
	XL_FIN_LENGTH,		/* the token limit */
	XL_FIN_TOOL,		/* it called tools */
	XL_FIN_FILTER,		/* a safety or content filter */
};

/* The reason as dialect d writes it ("stop"/"end_turn"/"STOP"/...), and
 * back; unknown strings read as XL_FIN_STOP, NULL as XL_FIN_NONE. */
const char *xl_finish_name(enum xl_dialect d, enum xl_finish f);
enum xl_finish xl_finish_parse(enum xl_dialect d, const char *s);

/* The default max_tokens written for Anthropic and Bedrock when an OpenAI
 * caller gave none (Anthropic requires one). */
#define XL_DEFAULT_MAX_TOKENS	4096

/*
 * A request body from `from` (XL_OPENAI or XL_ANTHROPIC) for provider
 * dialect `to` (any, != from), appended to out. `model` is the provider's
 * model name: written into the body for OpenAI and Anthropic, left out for
 * Gemini and Bedrock (it goes in their path). `stream` says whether the
 * caller streams: OpenAI gets "stream":true with
 * "stream_options":{"include_usage":true}, Anthropic "stream":true,
 * Gemini and Bedrock nothing (the path says it). Returns 0; -EINVAL with
 * a message for the caller in err (what is wrong or cannot be
 * translated, e.g. an unknown content part type, a tool message with no
 * matching call); -ENOMEM.
 */
int xl_request(enum xl_dialect from, enum xl_dialect to, const char *body, size_t len,
	       const char *model, bool stream, struct buf *out, char *err, size_t errlen);

/*
 * A provider's successful (2xx) non-streamed answer in `from` as the
 * caller's `to` (XL_OPENAI or XL_ANTHROPIC), appended to out. `model` is
 * written when the provider's body has none (Gemini, Bedrock); `id` names
 * the answer when it has none ("chatcmpl-<id>", "msg_<id>"). Usage is
 * carried over (Gemini usageMetadata, Bedrock usage, cached input
 * included). Returns 0, -EPROTO when the body is not the provider's
 * format, -ENOMEM.
 */
int xl_response(enum xl_dialect from, enum xl_dialect to, const char *body, size_t len,
		const char *model, const char *id, struct buf *out);

/*
 * A provider's error answer (any status, any body, possibly not JSON) as
 * an error body in the caller's format (OpenAI {"error":{...}} or
 * Anthropic {"type":"error","error":{...}}), keeping the provider's
 * message when it has one, appended to out.
 */
void xl_error(enum xl_dialect from, enum xl_dialect to, int status, const char *body,
	      size_t len, struct buf *out);

/*
 * A streamed answer. Takes the provider's body bytes as they come (SSE
 * text for OpenAI, Anthropic and Gemini; the AWS event stream for
 * Bedrock) and writes the caller's SSE events: OpenAI chunks
 * ("data: {...}\n\n", a usage chunk, "data: [DONE]\n\n") or Anthropic
 * events (message_start, content_block_start/delta/stop for text and
 * tool_use, message_delta with stop_reason and usage, message_stop).
 * An error inside the provider's stream (an Anthropic "error" event, a
 * Bedrock exception message) becomes the caller's error event.
 */
struct xl_stream;

/* NULL with errno set (ENOMEM; EINVAL for a pair it does not translate). */
struct xl_stream *xl_stream_new(enum xl_dialect from, enum xl_dialect to, const char *model,
				const char *id);
/* Bytes in, the caller's events appended to out (only whole events).
 * -EPROTO when the provider's stream is malformed (the caller's stream
 * should then end), -ENOMEM, -E2BIG for an event over
 * TG_LLM_SSE_EVENT_MAX. */
int xl_stream_feed(struct xl_stream *s, const char *p, size_t n, struct buf *out);
/* The provider's body ended: what is still owed (closing events when the
 * provider ended without them). -EPROTO when it ended mid-event. */
int xl_stream_end(struct xl_stream *s, struct buf *out);
void xl_stream_free(struct xl_stream *s);

#endif /* TOLLGATE_LLM_XLATE_H */
