// SPDX-License-Identifier: Apache-2.0
/*
 * The built-in `echo` provider: answers "echo: <the last user text>" in
 * the caller's format, streaming included, with deterministic usage — so
 * tollgate does something useful (and testable) with no provider at all.
 *
 * Usage rule (docs/llm.md): input tokens = the pre-call estimate of the
 * request body; output tokens = the words of the answer (one streamed
 * delta each).
 */
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "llm/internal.h"

#define ECHO_TEXT_MAX	4096

/* Appends the text of a message's content (a string, or the text parts of
 * an array) to out[*n..cap). */
static void content_text(const struct json_value *v, char *out, size_t cap, size_t *n)
{
	struct json_iter it;
	struct json_value part, type, text;
	ssize_t k;

	if (v->kind == JSON_K_STRING) {
		k = json_str_decode(v, out + *n, cap - *n);
		if (k > 0)
			*n += (size_t)k;
		return;
	}
	if (v->kind != JSON_K_ARRAY)
		return;
	json_iter_init(&it, v);
	while (json_iter_next(&it, NULL, &part)) {
		if (part.kind != JSON_K_OBJECT ||
		    json_obj_find(&part, "type", 4, &type) || !json_str_eq(&type, "text", 4) ||
		    json_obj_find(&part, "text", 4, &text))
			continue;
		k = json_str_decode(&text, out + *n, cap - *n);
		if (k > 0)
			*n += (size_t)k;
	}
}

/* The text to echo: the last user message, or the prompt. */
static size_t prompt_text(const struct llm_call *c, const struct json_doc *doc,
			  char *out, size_t cap)
{
	struct json_value msgs, m, role, content, prompt;
	struct json_iter it;
	size_t n = 0;

	out[0] = '\0';
	if (c->ep == LLM_EP_COMPLETIONS) {
		if (json_find(doc, "prompt", &prompt) == 0)
			content_text(&prompt, out, cap, &n);
		return n;
	}
	if (json_find(doc, "messages", &msgs) || msgs.kind != JSON_K_ARRAY)
		return 0;
	json_iter_init(&it, &msgs);
	while (json_iter_next(&it, NULL, &m)) {
		if (m.kind != JSON_K_OBJECT || json_obj_find(&m, "role", 4, &role) ||
		    !json_str_eq(&role, "user", 4) || json_obj_find(&m, "content", 7, &content))
			continue;
		n = 0;
		content_text(&content, out, cap, &n);
	}
	return n;
}

static uint64_t count_words(const char *s, size_t n)
{
	uint64_t w = 0;
	bool in = false;
	size_t i;

	for (i = 0; i < n; i++) {
		bool sp = s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';

		if (!sp && !in)
			w++;
		in = !sp;
	}
	return w;
}

/* The i-th word with the spaces that follow it. */
static bool next_piece(const char *s, size_t n, size_t *off, size_t *len)
{
	size_t i = *off;

	while (i < n && s[i] == ' ')
		i++;
	if (i >= n)
		return false;
	*len = 0;
	while (i + *len < n && s[i + *len] != ' ')
		(*len)++;
	while (i + *len < n && s[i + *len] == ' ')
		(*len)++;
	*off = i;
	return true;
}

static void sse_data(struct buf *b, const char *event)
{
	if (event)
		buf_printf(b, SIZE_MAX, "event: %s\n", event);
	buf_printf(b, SIZE_MAX, "data: ");
}

static void echo_openai_stream(struct llm_call *c, const char *text, size_t n,
			       bool want_usage, struct buf *b)
{
	long now = (long)time(NULL);
	size_t off = 0, len;
	const bool chat = c->ep == LLM_EP_CHAT;
	const char *obj = chat ? "chat.completion.chunk" : "text_completion";

	if (chat) {
		sse_data(b, NULL);
		buf_printf(b, SIZE_MAX, "{\"id\":\"chatcmpl-%s\",\"object\":\"%s\",\"created\":%ld,"
			   "\"model\":", c->rid, obj, now);
		llm_json_str(b, c->model, strlen(c->model));
		buf_printf(b, SIZE_MAX, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
			   "\"content\":\"\"},\"finish_reason\":null}]}\n\n");
	}
	while (next_piece(text, n, &off, &len)) {
		sse_data(b, NULL);
		buf_printf(b, SIZE_MAX, "{\"id\":\"%s-%s\",\"object\":\"%s\",\"created\":%ld,\"model\":",
			   chat ? "chatcmpl" : "cmpl", c->rid, obj, now);
		llm_json_str(b, c->model, strlen(c->model));
		buf_printf(b, SIZE_MAX, chat ? ",\"choices\":[{\"index\":0,\"delta\":{\"content\":" :
			   ",\"choices\":[{\"index\":0,\"text\":");
		llm_json_str(b, text + off, len);
		buf_printf(b, SIZE_MAX, chat ? "},\"finish_reason\":null}]}\n\n" :
			   ",\"finish_reason\":null}]}\n\n");
		off += len;
	}
	sse_data(b, NULL);
	buf_printf(b, SIZE_MAX, "{\"id\":\"%s-%s\",\"object\":\"%s\",\"created\":%ld,\"model\":",
		   chat ? "chatcmpl" : "cmpl", c->rid, obj, now);
	llm_json_str(b, c->model, strlen(c->model));
	buf_printf(b, SIZE_MAX, chat ? ",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" :
		   ",\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"stop\"}]}\n\n");
	if (want_usage) {
		sse_data(b, NULL);
		buf_printf(b, SIZE_MAX, "{\"id\":\"%s-%s\",\"object\":\"%s\",\"created\":%ld,\"model\":",
			   chat ? "chatcmpl" : "cmpl", c->rid, obj, now);
		llm_json_str(b, c->model, strlen(c->model));
		buf_printf(b, SIZE_MAX, ",\"choices\":[],\"usage\":{\"prompt_tokens\":%" PRIu64
			   ",\"completion_tokens\":%" PRIu64 ",\"total_tokens\":%" PRIu64 "}}\n\n",
			   c->usage.in, c->usage.out, c->usage.in + c->usage.out);
	}
	buf_printf(b, SIZE_MAX, "data: [DONE]\n\n");
}

static void echo_anthropic_stream(struct llm_call *c, const char *text, size_t n, struct buf *b)
{
	size_t off = 0, len;

	sse_data(b, "message_start");
	buf_printf(b, SIZE_MAX, "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_%s\","
		   "\"type\":\"message\",\"role\":\"assistant\",\"model\":", c->rid);
	llm_json_str(b, c->model, strlen(c->model));
	buf_printf(b, SIZE_MAX, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
		   "\"usage\":{\"input_tokens\":%" PRIu64 ",\"output_tokens\":0}}}\n\n", c->usage.in);
	sse_data(b, "content_block_start");
	buf_printf(b, SIZE_MAX, "{\"type\":\"content_block_start\",\"index\":0,"
		   "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
	while (next_piece(text, n, &off, &len)) {
		sse_data(b, "content_block_delta");
		buf_printf(b, SIZE_MAX, "{\"type\":\"content_block_delta\",\"index\":0,"
			   "\"delta\":{\"type\":\"text_delta\",\"text\":");
		llm_json_str(b, text + off, len);
		buf_printf(b, SIZE_MAX, "}}\n\n");
		off += len;
	}
	sse_data(b, "content_block_stop");
	buf_printf(b, SIZE_MAX, "{\"type\":\"content_block_stop\",\"index\":0}\n\n");
	sse_data(b, "message_delta");
	buf_printf(b, SIZE_MAX, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
		   "\"stop_sequence\":null},\"usage\":{\"output_tokens\":%" PRIu64 "}}\n\n",
		   c->usage.out);
	sse_data(b, "message_stop");
	buf_printf(b, SIZE_MAX, "{\"type\":\"message_stop\"}\n\n");
}

static void echo_embeddings(struct llm_call *c, const struct json_doc *doc, struct buf *b)
{
	struct json_value input, item;
	struct json_iter it;
	unsigned idx = 0;

	buf_printf(b, SIZE_MAX, "{\"object\":\"list\",\"data\":[");
	if (json_find(doc, "input", &input) == 0) {
		struct json_value one = input;
		bool arr = input.kind == JSON_K_ARRAY;

		if (arr)
			json_iter_init(&it, &input);
		while (arr ? json_iter_next(&it, NULL, &item) : idx == 0) {
			unsigned char h[SHA256_DIGEST_LENGTH];
			int i;

			if (!arr)
				item = one;
			SHA256((const unsigned char *)item.p, item.len, h);
			buf_printf(b, SIZE_MAX, "%s{\"object\":\"embedding\",\"index\":%u,\"embedding\":[",
				   idx ? "," : "", idx);
			/* Eight components in [-1, 1) from the input's hash. */
			for (i = 0; i < 8; i++)
				buf_printf(b, SIZE_MAX, "%s%.6f", i ? "," : "",
					   ((int)h[i] - 128) / 128.0);
			buf_printf(b, SIZE_MAX, "]}");
			idx++;
		}
	}
	buf_printf(b, SIZE_MAX, "],\"model\":");
	llm_json_str(b, c->model, strlen(c->model));
	buf_printf(b, SIZE_MAX, ",\"usage\":{\"prompt_tokens\":%" PRIu64 ",\"total_tokens\":%" PRIu64
		   "}}\n", c->usage.in, c->usage.in);
}

void llm_echo(struct llm_call *c, const struct json_doc *doc, struct llm_out *out)
{
	static const char prefix[] = "echo: ";
	char text[ECHO_TEXT_MAX + sizeof(prefix)];
	struct json_value so, iu;
	struct buf *b = &out->body;
	bool want_usage = false;
	size_t n;

	memcpy(text, prefix, sizeof(prefix) - 1);
	n = sizeof(prefix) - 1 + prompt_text(c, doc, text + sizeof(prefix) - 1, ECHO_TEXT_MAX);
	c->usage.in = c->est_in;
	c->usage.out = c->ep == LLM_EP_EMBEDDINGS ? 0 : count_words(text, n);
	c->usage.seen = true;
	c->status = 200;
	out->act = LLM_ACT_LOCAL;
	out->status = 200;
	out->ctype = c->stream ? "text/event-stream" : "application/json";
	if (c->ep == LLM_EP_EMBEDDINGS) {
		out->ctype = "application/json";
		echo_embeddings(c, doc, b);
		return;
	}
	if (c->stream) {
		if (json_find(doc, "stream_options", &so) == 0 && so.kind == JSON_K_OBJECT &&
		    json_obj_find(&so, "include_usage", 13, &iu) == 0)
			json_get_bool(&iu, &want_usage);
		if (c->ep == LLM_EP_MESSAGES)
			echo_anthropic_stream(c, text, n, b);
		else
			echo_openai_stream(c, text, n, want_usage, b);
		return;
	}
	if (c->ep == LLM_EP_MESSAGES) {
		buf_printf(b, SIZE_MAX, "{\"id\":\"msg_%s\",\"type\":\"message\",\"role\":\"assistant\","
			   "\"model\":", c->rid);
		llm_json_str(b, c->model, strlen(c->model));
		buf_printf(b, SIZE_MAX, ",\"content\":[{\"type\":\"text\",\"text\":");
		llm_json_str(b, text, n);
		buf_printf(b, SIZE_MAX, "}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
			   "\"usage\":{\"input_tokens\":%" PRIu64 ",\"output_tokens\":%" PRIu64 "}}\n",
			   c->usage.in, c->usage.out);
		return;
	}
	buf_printf(b, SIZE_MAX, "{\"id\":\"%s-%s\",\"object\":\"%s\",\"created\":%ld,\"model\":",
		   c->ep == LLM_EP_CHAT ? "chatcmpl" : "cmpl", c->rid,
		   c->ep == LLM_EP_CHAT ? "chat.completion" : "text_completion", (long)time(NULL));
	llm_json_str(b, c->model, strlen(c->model));
	if (c->ep == LLM_EP_CHAT) {
		buf_printf(b, SIZE_MAX, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
			   "\"content\":");
		llm_json_str(b, text, n);
		buf_printf(b, SIZE_MAX, "},\"finish_reason\":\"stop\"}]");
	} else {
		buf_printf(b, SIZE_MAX, ",\"choices\":[{\"index\":0,\"text\":");
		llm_json_str(b, text, n);
		buf_printf(b, SIZE_MAX, ",\"finish_reason\":\"stop\"}]");
	}
	buf_printf(b, SIZE_MAX, ",\"usage\":{\"prompt_tokens\":%" PRIu64 ",\"completion_tokens\":%"
		   PRIu64 ",\"total_tokens\":%" PRIu64 "}}\n", c->usage.in, c->usage.out,
		   c->usage.in + c->usage.out);
}
