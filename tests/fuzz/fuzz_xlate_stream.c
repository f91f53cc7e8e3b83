// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: streamed answers translated (user/llm/xlate_stream.c)
 * on arbitrary provider bytes. Each input is fed to one translator whole
 * and to a second one in pieces (each piece in its own exact-size
 * allocation, so an over-read is caught), then both are ended. What must
 * hold:
 *  - results are 0 or the errors xlate.h names, and once a feed failed
 *    every later call says the same;
 *  - the output is whole SSE events: lines "event: <name>" and
 *    "data: <JSON object>" (OpenAI's "data: [DONE]" too), each event
 *    ended by a blank line, an Anthropic event's name the same as its
 *    data's "type";
 *  - output does not grow without bound: at most 64 times the input plus
 *    64 KiB (a provider stream must not be amplified);
 *  - how the bytes were split does not change the output (the "created"
 *    time aside, which may tick between the two runs).
 *
 * Input: byte 0 picks the provider format (bits 0-1), the caller's
 * (bit 2: OpenAI or Anthropic), whether Bedrock's CRCs are made right
 * before feeding (bit 3: random bytes almost never carry valid CRCs, so
 * without it the JSON inside would be out of the fuzzer's reach) and how
 * the second run splits (bits 4-5: fixed pieces of byte 1 + 1 bytes, one
 * byte at a time, or piece sizes from a generator seeded by byte 1);
 * the rest is the provider's stream.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "llm/evstream.h"
#include "llm/xlate.h"

#include "evstream_crc.h"

#define MODEL	"fz-model"
#define ID	"fz1"

enum split {
	SPLIT_FIXED = 0,
	SPLIT_BYTES,
	SPLIT_RANDOM,
	SPLIT_FIXED_WIDE,
	SPLIT_NONE,		/* the first run: all at once */
};

struct run {
	struct buf out;
	int feed, end;
};

static bool ok_result(int rc)
{
	return rc == 0 || rc == -EPROTO || rc == -ENOMEM || rc == -E2BIG;
}

/* Feeds in[0..len) in pieces cut as told, then ends the stream. */
static void feed(struct run *r, enum xl_dialect from, enum xl_dialect to, const char *in,
		 size_t len, enum split how, uint8_t arg)
{
	struct xl_stream *s = xl_stream_new(from, to, MODEL, ID);
	uint32_t x = 0x9e3779b9u ^ arg;
	size_t pos = 0, n;

	if (!s)
		abort();
	r->feed = 0;
	do {
		char *piece;
		int rc;

		switch (how) {
		case SPLIT_NONE: n = len; break;
		case SPLIT_FIXED: n = (size_t)arg + 1; break;
		case SPLIT_FIXED_WIDE: n = ((size_t)arg + 1) * 64; break;
		case SPLIT_BYTES: n = 1; break;
		default:
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			n = x % 300;
			break;
		}
		if (n > len - pos)
			n = len - pos;
		piece = malloc(n ? n : 1);
		if (!piece)
			abort();
		memcpy(piece, in + pos, n);
		rc = xl_stream_feed(s, piece, n, &r->out);
		free(piece);
		if (!ok_result(rc) || (r->feed && rc != r->feed))
			abort();
		if (!r->feed)
			r->feed = rc;
		pos += n;
	} while (pos < len);
	r->end = xl_stream_end(s, &r->out);
	if (!ok_result(r->end) || (r->feed && r->end != r->feed))
		abort();
	/* Ended, it stays ended. */
	if (xl_stream_end(s, &r->out) != r->end)
		abort();
	xl_stream_free(s);
}

/* Every line of out is an SSE field we write, every event ends with a
 * blank line, every data line is a JSON object. */
static void check_events(const struct buf *o, enum xl_dialect to)
{
	const char *p = o->p, *end = o->p + o->len, *nl, *ev = NULL;
	size_t ev_len = 0;
	bool in_event = false;

	if (o->len && (o->len < 2 || memcmp(end - 2, "\n\n", 2)))
		abort();
	for (; p < end; p = nl + 1) {
		size_t n;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			abort();
		n = (size_t)(nl - p);
		if (!n) {
			if (!in_event)
				abort();
			in_event = false;
			ev = NULL;
			continue;
		}
		if (n > 7 && !memcmp(p, "event: ", 7) && to == XL_ANTHROPIC && !in_event) {
			ev = p + 7;
			ev_len = n - 7;
		} else if (n > 6 && !memcmp(p, "data: ", 6)) {
			json_t *j;

			if (to == XL_OPENAI && n == 12 && !memcmp(p + 6, "[DONE]", 6)) {
				in_event = true;
				continue;
			}
			j = json_loadb(p + 6, n - 6, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
			if (!json_is_object(j))
				abort();
			if (to == XL_ANTHROPIC) {
				json_t *t = json_object_get(j, "type");

				if (!ev || json_string_length(t) != ev_len ||
				    memcmp(json_string_value(t), ev, ev_len))
					abort();
			}
			json_decref(j);
		} else {
			abort();
		}
		in_event = true;
	}
	if (in_event)
		abort();
}

/* The same bytes, "created":<digits> skipped on both sides. */
static void same_output(const struct buf *a, const struct buf *b)
{
	static const char created[] = "\"created\":";
	const size_t cl = sizeof(created) - 1;
	size_t i = 0, j = 0;

	while (i < a->len && j < b->len) {
		if (a->p[i] != b->p[j])
			abort();
		if (i + 1 >= cl && !memcmp(a->p + i + 1 - cl, created, cl)) {
			i++;
			j++;
			while (i < a->len && a->p[i] >= '0' && a->p[i] <= '9')
				i++;
			while (j < b->len && b->p[j] >= '0' && b->p[j] <= '9')
				j++;
			continue;
		}
		i++;
		j++;
	}
	if (i != a->len || j != b->len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole = { 0 }, split = { 0 };
	enum xl_dialect from, to;
	enum split how;
	size_t len;
	char *in;

	if (size < 2)
		return 0;
	from = (enum xl_dialect)(data[0] & 3);
	to = (data[0] & 4) ? XL_ANTHROPIC : XL_OPENAI;
	if (from == to) {
		/* Not a translation: refused, not crashed on. */
		errno = 0;
		if (xl_stream_new(from, to, MODEL, ID) || errno != EINVAL)
			abort();
		return 0;
	}
	len = size - 2;
	in = malloc(len ? len : 1);
	if (!in)
		return 0;
	memcpy(in, data + 2, len);
	if (from == XL_BEDROCK && (data[0] & 8))
		fuzz_fix_crcs((uint8_t *)in, len);

	feed(&whole, from, to, in, len, SPLIT_NONE, 0);
	if (whole.out.len > 64 * len + (64u << 10))
		abort();
	check_events(&whole.out, to);
	how = (enum split)((data[0] >> 4) & 3);
	/* A byte at a time is for short streams (it is slow, not weaker). */
	if (how == SPLIT_BYTES && len > 4096)
		how = SPLIT_FIXED;
	feed(&split, from, to, in, len, how, data[1]);
	if (split.feed != whole.feed || split.end != whole.end)
		abort();
	same_output(&whole.out, &split.out);

	buf_free(&whole.out);
	buf_free(&split.out);
	free(in);
	return 0;
}
