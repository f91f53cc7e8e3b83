// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the AWS event-stream decoder on arbitrary bytes.
 * Reading the stream whole, split in two at a fuzzer-chosen point (each
 * piece in its own exact-size allocation, so an over-read is caught) and
 * one byte at a time must give the same messages, the same error at the
 * same offset and the same end; every message's spans must lie inside it;
 * the messages put together must be the stream's first bytes; and every
 * message, encoded again from its decoded headers and payload, must come
 * back byte for byte (the encoding is canonical).
 *
 * Input: byte 0 picks the buffer size (bits 0-1) and whether the CRCs are
 * made right before decoding (bit 2: random bytes almost never carry valid
 * CRCs, so without it the header parser would be out of the fuzzer's
 * reach), bytes 1-2 the split point, the rest is the stream.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#include "llm/evstream.h"

#include "evstream_crc.h"

struct sum {
	uint64_t hash;
	size_t n_msgs;
	int err;
	size_t err_at;
	int end;
	size_t raw_total;
};

static void mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 0x100000001b3ull;
}

static bool inside(struct http1_span s, struct http1_span raw)
{
	return !s.len || (s.p >= raw.p && (size_t)(s.p - raw.p) <= raw.len &&
			  s.len <= raw.len - (size_t)(s.p - raw.p));
}

static void re_encode(const struct evstream_msg *m)
{
	static uint8_t out[65536 + 64];
	size_t len;

	if (evstream_encode(out, sizeof(out), m->headers, m->n_headers,
			    m->payload.p, m->payload.len, &len) ||
	    len != m->raw.len || memcmp(out, m->raw.p, len))
		abort();
}

static void keep(struct sum *s, const struct evstream_msg *m, size_t cap,
		 const uint8_t *stream, size_t len, bool check)
{
	uint64_t in, out;

	if (m->raw.len < EVSTREAM_OVERHEAD || m->raw.len > cap ||
	    !inside(m->payload, m->raw) || m->n_headers > TG_EVSTREAM_HEADERS_MAX)
		abort();
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct evstream_header *h = &m->headers[i];

		if (!h->name.len || !inside(h->name, m->raw) ||
		    !inside(h->bytes, m->raw) || h->type >= EVSTREAM_T_COUNT ||
		    (h->type == EVSTREAM_T_UUID && h->bytes.len != 16))
			abort();
		mix(&s->hash, h->name.p, h->name.len);
		mix(&s->hash, &h->type, 1);
		mix(&s->hash, &h->i, sizeof(h->i));
		mix(&s->hash, &h->bytes.len, sizeof(h->bytes.len));
		if (h->bytes.len)
			mix(&s->hash, h->bytes.p, h->bytes.len);
	}
	if (m->event_type.p && !inside(m->event_type, m->raw))
		abort();
	if (s->raw_total + m->raw.len > len ||
	    memcmp(stream + s->raw_total, m->raw.p, m->raw.len))
		abort();
	s->raw_total += m->raw.len;
	mix(&s->hash, m->raw.p, m->raw.len);
	mix(&s->hash, &m->payload.len, sizeof(m->payload.len));
	s->n_msgs++;
	if (check) {
		re_encode(m);
		/* Reads the usage off the hot path; any answer is fine as
		 * long as it does not crash or leak. */
		(void)evstream_bedrock_usage(m, &in, &out);
	}
}

static void run(struct sum *s, const uint8_t *in, size_t len,
		const size_t *cuts, size_t n_cuts, size_t cap, bool check)
{
	static uint8_t buf[65536];
	struct evstream_decoder d;
	struct evstream_msg m;
	size_t base = 0;

	memset(s, 0, sizeof(*s));
	s->hash = 0xcbf29ce484222325ull;
	evstream_decoder_init(&d, buf, cap);
	for (size_t k = 0; k <= n_cuts && !s->err; k++) {
		size_t end = k < n_cuts ? cuts[k] : len;
		size_t n = end - base, pos = 0;
		uint8_t *piece = malloc(n ? n : 1);

		if (!piece)
			abort();
		memcpy(piece, in + base, n);
		for (;;) {
			size_t used = SIZE_MAX;
			int rc = evstream_feed(&d, piece + pos, n - pos, &used, &m);

			if (used > n - pos)
				abort();
			pos += used;
			if (rc < 0) {
				s->err = -rc;
				s->err_at = base + pos;
				if (d.err != -rc || d.offset != s->err_at ||
				    !evstream_strerror(rc)[0])
					abort();
				break;
			}
			if (rc == EVSTREAM_NEED_MORE) {
				if (pos != n)
					abort();
				break;
			}
			keep(s, &m, cap, in, len, check);
		}
		free(piece);
		base = end;
	}
	s->end = evstream_end(&d);
	if (!s->err && (s->end == 0) != (s->raw_total == len))
		abort();
}

static void same(const struct sum *a, const struct sum *b)
{
	if (a->hash != b->hash || a->n_msgs != b->n_msgs || a->err != b->err ||
	    a->err_at != b->err_at || a->end != b->end ||
	    a->raw_total != b->raw_total)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[4] = { 16, 64, 1024, 65536 };
	static size_t ones[2048];
	struct sum whole, split, bytes;
	size_t len, cut, cap;
	uint8_t *in;

	if (size < 3)
		return 0;
	len = size - 3;
	cut = ((size_t)data[1] << 8 | data[2]) % (len + 1);
	cap = caps[data[0] & 3];

	in = malloc(len ? len : 1);
	if (!in)
		return 0;
	memcpy(in, data + 3, len);
	if (data[0] & 4)
		fuzz_fix_crcs(in, len);

	run(&whole, in, len, NULL, 0, cap, true);
	run(&split, in, len, &cut, 1, cap, false);
	same(&whole, &split);
	if (len <= 2048) {
		for (size_t i = 0; i < len; i++)
			ones[i] = i + 1;
		run(&bytes, in, len, ones, len ? len - 1 : 0, cap, false);
		same(&whole, &bytes);
	}
	free(in);
	return 0;
}
