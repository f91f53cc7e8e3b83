// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: requests, whole answers and errors translated between
 * the LLM wire formats (user/llm/xlate_req.c) on arbitrary bodies. Each
 * input goes through every pair xl_request() takes, every pair
 * xl_response() takes and every (provider, caller) pair of xl_error().
 * What must hold, whatever the body:
 *  - a result is 0 or one of the errors xlate.h names, and a refused
 *    request says why in err;
 *  - what is written is one JSON object (read back with jansson, which
 *    checks UTF-8 too), and nothing is written on failure;
 *  - a request for OpenAI or Anthropic carries the model it was given,
 *    one for Gemini or Bedrock none (it goes in their path), and a
 *    streamed one for OpenAI asks for the usage chunk;
 *  - what our writers produce our readers accept: a request translated
 *    into OpenAI or Anthropic translates back, an answer translated for
 *    one caller translates for the other;
 *  - an error body always has a non-empty message.
 *
 * Input: byte 0 picks the stream flag (bit 0), whether a model and an id
 * are given (bit 1) and the status for xl_error (bits 2-5); the rest is
 * the body, in its own exact-size allocation so an over-read is caught.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "llm/xlate.h"

#define MODEL	"fz-model"
#define ID	"fz1"

static const enum xl_dialect callers[] = { XL_OPENAI, XL_ANTHROPIC };
static const enum xl_dialect providers[] = { XL_OPENAI, XL_ANTHROPIC, XL_GEMINI, XL_BEDROCK };

static bool str_is(const json_t *v, const char *want)
{
	const char *s = json_string_value(v);

	return s && !strcmp(s, want);
}

/* The output as one JSON object, or abort. Our writers may carry NUL
 * characters over (escaped) from bodies that had them. */
static json_t *must_object(const struct buf *out)
{
	json_t *j = json_loadb(out->p, out->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);

	if (!json_is_object(j))
		abort();
	return j;
}

static int request(enum xl_dialect from, enum xl_dialect to, const char *body, size_t len,
		   const char *model, bool stream, struct buf *out)
{
	char err[256];
	int rc;

	memset(err, 'x', sizeof(err));
	out->len = 0;
	rc = xl_request(from, to, body, len, model, stream, out, err, sizeof(err));
	if (rc != 0 && rc != -EINVAL && rc != -ENOMEM)
		abort();
	if (rc) {
		/* The caller is told what is wrong, in a string. */
		if (out->len || !memchr(err, '\0', sizeof(err)) || (rc == -EINVAL && !err[0]))
			abort();
		return rc;
	}
	if (!memchr(err, '\0', sizeof(err)))
		abort();
	return rc;
}

static void check_request(enum xl_dialect from, enum xl_dialect to, const char *body,
			  size_t len, const char *model, bool stream, struct buf *out,
			  struct buf *back)
{
	const char *m;
	json_t *j, *o;

	if (request(from, to, body, len, model, stream, out))
		return;
	j = must_object(out);
	m = json_string_value(json_object_get(j, "model"));
	if (to == XL_GEMINI || to == XL_BEDROCK) {
		if (json_object_get(j, "model"))
			abort();
	} else if (!m || (model && strcmp(m, model))) {
		abort();
	}
	if (to == XL_OPENAI && stream) {
		o = json_object_get(json_object_get(j, "stream_options"), "include_usage");
		if (!json_is_true(json_object_get(j, "stream")) || !json_is_true(o))
			abort();
	}
	if (to == XL_ANTHROPIC && !json_is_integer(json_object_get(j, "max_tokens")))
		abort();
	json_decref(j);
	/* Our OpenAI or Anthropic body is one our reader of that format
	 * takes: the gateway may translate it again on a retry to another
	 * provider. */
	if (to == XL_OPENAI || to == XL_ANTHROPIC) {
		char err[256];
		int rc;

		back->len = 0;
		rc = xl_request(to, from, out->p, out->len, NULL, stream, back, err, sizeof(err));
		/* Except for the rules Anthropic has on the shape of a
		 * conversation and OpenAI has not: OpenAI takes one that
		 * starts with the assistant, or a system prompt alone (an
		 * empty first user turn, a user turn of only thinking, are
		 * dropped on the way). */
		if (rc == -EINVAL && !strstr(err, "start with a user turn") &&
		    !strstr(err, "nothing to send but the system prompt"))
			abort();
		if (!rc)
			json_decref(must_object(back));
	}
}

static void check_response(enum xl_dialect from, enum xl_dialect to, const char *body,
			   size_t len, const char *model, const char *id, struct buf *out,
			   struct buf *back)
{
	json_t *j;
	int rc;

	out->len = 0;
	rc = xl_response(from, to, body, len, model, id, out);
	if (rc != 0 && rc != -EPROTO && rc != -ENOMEM)
		abort();
	if (rc) {
		if (out->len)
			abort();
		return;
	}
	j = must_object(out);
	json_decref(j);
	/* An answer we wrote for one caller is one we read as a provider's. */
	back->len = 0;
	rc = xl_response(to, to == XL_OPENAI ? XL_ANTHROPIC : XL_OPENAI, out->p, out->len, model,
			 id, back);
	if (rc == -EPROTO)
		abort();
	if (!rc)
		json_decref(must_object(back));
}

static void check_error(enum xl_dialect from, enum xl_dialect to, int status, const char *body,
			size_t len, struct buf *out)
{
	const char *msg;
	json_t *j;

	out->len = 0;
	xl_error(from, to, status, body, len, out);
	j = must_object(out);
	msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	if (!msg || !msg[0])
		abort();
	if (to == XL_ANTHROPIC && !str_is(json_object_get(j, "type"), "error"))
		abort();
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[16] = { 200, 400, 401, 403, 404, 408, 413, 422,
					  429, 500, 502, 503, 529, 0, -1, 599 };
	struct buf out = { 0 }, back = { 0 };
	const char *model, *id;
	size_t len, i, k;
	bool stream;
	char *body;
	int status;

	if (size < 1)
		return 0;
	stream = data[0] & 1;
	model = (data[0] & 2) ? MODEL : NULL;
	id = (data[0] & 2) ? ID : NULL;
	status = statuses[(data[0] >> 2) & 15];
	len = size - 1;
	body = malloc(len ? len : 1);
	if (!body)
		return 0;
	memcpy(body, data + 1, len);

	for (i = 0; i < 2; i++)
		for (k = 0; k < 4; k++)
			if (callers[i] != providers[k])
				check_request(callers[i], providers[k], body, len, model, stream,
					      &out, &back);
	for (k = 0; k < 4; k++)
		for (i = 0; i < 2; i++) {
			if (callers[i] != providers[k])
				check_response(providers[k], callers[i], body, len, model, id,
					       &out, &back);
			check_error(providers[k], callers[i], status, body, len, &out);
		}
	/* Pairs it does not translate are refused, not crashed on. */
	if (xl_request(XL_GEMINI, XL_OPENAI, body, len, model, stream, &out, NULL, 0) != -EINVAL ||
	    xl_response(XL_OPENAI, XL_GEMINI, body, len, model, id, &out) != -EINVAL)
		abort();

	buf_free(&out);
	buf_free(&back);
	free(body);
	return 0;
}
