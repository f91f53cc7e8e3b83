// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the server-sent events reader on arbitrary bytes.
 * Reading the stream whole, split in two at a fuzzer-chosen point (each
 * piece in its own exact-size allocation, so an over-read is caught) and
 * one byte at a time must give the same blocks, byte for byte, the same
 * error at the same offset and the same end; the blocks' raw bytes put
 * together must be the stream; and every event, encoded again with
 * sse_encode_event() and read back, must come back the same.
 *
 * Input: byte 0 picks the bounds, bytes 1-2 the split point, the rest is
 * the stream.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/sse.h"

struct sum {
	uint64_t hash;
	size_t n_blocks, n_events;
	int err;
	size_t err_at;
	int end;
	size_t raw_total;
	uint64_t retry;
};

static void mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 0x100000001b3ull;
}

static void mix_span(uint64_t *h, struct http1_span s)
{
	mix(h, &s.len, sizeof(s.len));
	if (s.len)
		mix(h, s.p, s.len);
}

static bool inside(struct http1_span s, const char *base, size_t cap)
{
	return !s.len || (s.p >= base && (size_t)(s.p - base) <= cap &&
			  s.len <= cap - (size_t)(s.p - base));
}

/* Encodes the event again and reads it back: type, id and data survive. */
static void round_trip(const struct sse_event *ev)
{
	static char out[3 * 65536 + 64], raw[3 * 65536 + 64], data[65536];
	struct sse_out o = {
		.data = ev->data,
		.type = (ev->flags & SSE_EV_TYPE) ? ev->type : (struct http1_span){ 0 },
		.id = (ev->flags & SSE_EV_ID) ? ev->id : (struct http1_span){ 0 },
	};
	struct sse_reader r;
	struct sse_event back;
	size_t len, used;

	if (!o.data.p)
		o.data.p = "";
	if (o.type.len && !o.type.p)
		abort();
	if (sse_encode_event(out, sizeof(out), &o, &len))
		abort();
	sse_reader_init(&r, raw, sizeof(raw), data, sizeof(data));
	if (sse_read(&r, out, len, &used, &back) != SSE_EVENT || used != len)
		abort();
	if (back.data.len != ev->data.len ||
	    (ev->data.len && memcmp(back.data.p, ev->data.p, ev->data.len)) ||
	    back.type.len != ev->type.len ||
	    (ev->type.len && memcmp(back.type.p, ev->type.p, ev->type.len)) ||
	    (back.flags & SSE_EV_ID) != (ev->flags & SSE_EV_ID) ||
	    back.id.len != ev->id.len ||
	    (ev->id.len && memcmp(back.id.p, ev->id.p, ev->id.len)))
		abort();
}

static void keep(struct sum *s, const struct sse_reader *r, int kind,
		 const struct sse_event *ev, const char *stream, size_t len,
		 bool check)
{
	if (!inside(ev->raw, r->raw, r->raw_cap) ||
	    !inside(ev->type, ev->raw.p, ev->raw.len) ||
	    !inside(ev->id, ev->raw.p, ev->raw.len) ||
	    !(inside(ev->data, ev->raw.p, ev->raw.len) ||
	      inside(ev->data, r->data, r->data_cap)) ||
	    ev->data.len > r->data_cap || ev->last_id.len > SSE_ID_MAX ||
	    (kind == SSE_EVENT) != (ev->n_data > 0) ||
	    (kind == SSE_BLOCK && ev->data.p) || !ev->raw.len)
		abort();
	if (memchr(ev->type.p, '\r', ev->type.len) ||
	    memchr(ev->type.p, '\n', ev->type.len) ||
	    (ev->data.len && memchr(ev->data.p, '\r', ev->data.len)) ||
	    memchr(ev->id.p, '\0', ev->id.len))
		abort();
	/* The raw bytes are the stream's next bytes. */
	if (s->raw_total + ev->raw.len > len ||
	    memcmp(stream + s->raw_total, ev->raw.p, ev->raw.len))
		abort();
	s->raw_total += ev->raw.len;
	mix(&s->hash, &kind, sizeof(kind));
	mix_span(&s->hash, ev->raw);
	mix_span(&s->hash, ev->type);
	mix_span(&s->hash, ev->data);
	mix_span(&s->hash, ev->id);
	mix_span(&s->hash, ev->last_id);
	mix(&s->hash, &ev->retry, sizeof(ev->retry));
	mix(&s->hash, &ev->n_data, sizeof(ev->n_data));
	mix(&s->hash, &ev->flags, sizeof(ev->flags));
	s->n_blocks++;
	if (kind == SSE_EVENT) {
		s->n_events++;
		if (check)
			round_trip(ev);
	}
}

/* Reads the stream in pieces of the given sizes (the last takes the rest). */
static void run(struct sum *s, const char *in, size_t len, const size_t *cuts,
		size_t n_cuts, size_t raw_cap, size_t data_cap, bool check)
{
	static char raw[65536], data[65536];
	struct sse_reader r;
	struct sse_event ev;
	const char *stream = in;
	size_t slen = len, base = 0;

	/* Raw bytes are compared with the stream after a BOM. */
	if (len >= 3 && !memcmp(in, "\xef\xbb\xbf", 3)) {
		stream += 3;
		slen -= 3;
	}
	memset(s, 0, sizeof(*s));
	s->hash = 0xcbf29ce484222325ull;
	sse_reader_init(&r, raw, raw_cap, data, data_cap);
	for (size_t k = 0; k <= n_cuts && !s->err; k++) {
		size_t end = k < n_cuts ? cuts[k] : len;
		size_t n = end - base, pos = 0;
		char *piece = malloc(n ? n : 1);

		if (!piece)
			abort();
		memcpy(piece, in + base, n);
		for (;;) {
			size_t used = SIZE_MAX;
			int rc = sse_read(&r, piece + pos, n - pos, &used, &ev);

			if (used > n - pos)
				abort();
			pos += used;
			if (rc < 0) {
				s->err = -rc;
				s->err_at = base + pos;
				if (r.err != -rc || !sse_strerror(rc)[0])
					abort();
				break;
			}
			if (rc == SSE_NEED_MORE) {
				if (pos != n)
					abort();
				break;
			}
			keep(s, &r, rc, &ev, stream, slen, check);
		}
		free(piece);
		base = end;
	}
	s->end = sse_reader_end(&r, &ev);
	if (s->end > 0) {
		keep(s, &r, s->end, &ev, stream, slen, check);
		s->end = sse_reader_end(&r, &ev);
	}
	/* Clean end exactly when every byte went into a block. */
	if (!s->err && (s->end == 0) != (s->raw_total == slen))
		abort();
	s->retry = r.retry;
}

static void same(const struct sum *a, const struct sum *b)
{
	if (a->hash != b->hash || a->n_blocks != b->n_blocks ||
	    a->n_events != b->n_events || a->err != b->err ||
	    a->err_at != b->err_at || a->end != b->end ||
	    a->raw_total != b->raw_total || a->retry != b->retry)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[4] = { 16, 64, 1024, 65536 };
	static size_t ones[2048];
	struct sum whole, split, bytes;
	size_t len, cut, raw_cap, data_cap;
	char *in;

	if (size < 3)
		return 0;
	len = size - 3;
	cut = ((size_t)data[1] << 8 | data[2]) % (len + 1);
	raw_cap = caps[data[0] & 3];
	data_cap = (data[0] & 4) ? raw_cap / 2 : raw_cap;

	in = malloc(len ? len : 1);
	if (!in)
		return 0;
	memcpy(in, data + 3, len);

	run(&whole, in, len, NULL, 0, raw_cap, data_cap, true);
	run(&split, in, len, &cut, 1, raw_cap, data_cap, false);
	same(&whole, &split);
	if (len <= 2048) {
		for (size_t i = 0; i < len; i++)
			ones[i] = i + 1;
		run(&bytes, in, len, ones, len ? len - 1 : 0, raw_cap, data_cap,
		    false);
		same(&whole, &bytes);
	}
	free(in);
	return 0;
}
