// SPDX-License-Identifier: Apache-2.0
/*
 * The AWS event-stream decoder and encoder. A stream of messages is read
 * whole, split in two at every byte (each piece in its own buffer right
 * before a guard page, so an over-read crashes) and byte by byte; all must
 * give the same messages. Every single-bit flip of a message is caught;
 * lengths out of bounds are refused on the prelude alone.
 *
 * With arguments the binary decodes a captured stream instead (for
 * tests/integration/test_sigv4_sim.sh):
 *   test_evstream decode [-v] FILE
 * prints one line per message, "<message-type> <event-type or
 * exception-type> <payload>", then "usage IN OUT" for a metadata event
 * (with -v first every header, "  NAME TYPE VALUE"); exits 1 on a
 * decoding error or a truncated stream. And
 *   test_evstream usage FILE
 * prints "usage IN OUT" from a Converse JSON answer.
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
#include <zlib.h>

#include "guard_page.h"
#include "llm/evstream.h"

#define SPAN(s)		((struct http1_span){ (s), sizeof(s) - 1 })
#define BUF_CAP		4096
#define MAX_MSGS	16

static const uint8_t uuid[16] = {
	0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
	0x0f, 0xed, 0xcb, 0xa9, 0x87, 0x65, 0x43, 0x21,
};

/* One header of every type, extreme values included. */
static const struct evstream_header all_types[] = {
	{ .name = SPAN("t"), .type = EVSTREAM_T_TRUE, .i = 1 },
	{ .name = SPAN("f"), .type = EVSTREAM_T_FALSE, .i = 0 },
	{ .name = SPAN("byte"), .type = EVSTREAM_T_BYTE, .i = -128 },
	{ .name = SPAN("short"), .type = EVSTREAM_T_SHORT, .i = -2 },
	{ .name = SPAN("int"), .type = EVSTREAM_T_INT, .i = 0x7fffffff },
	{ .name = SPAN("long"), .type = EVSTREAM_T_LONG, .i = INT64_MIN },
	{ .name = SPAN("bytes"), .type = EVSTREAM_T_BYTES, .bytes = { "\0\1\2\xff", 4 } },
	{ .name = SPAN(":event-type"), .type = EVSTREAM_T_STRING, .bytes = SPAN("contentBlockDelta") },
	{ .name = SPAN("ts"), .type = EVSTREAM_T_TIMESTAMP, .i = 1700000000123 },
	{ .name = SPAN("uuid"), .type = EVSTREAM_T_UUID, .bytes = { (const char *)uuid, 16 } },
	{ .name = SPAN("empty"), .type = EVSTREAM_T_STRING, .bytes = { "", 0 } },
};

/* A message as returned, copied out. */
struct got {
	uint8_t raw[BUF_CAP];
	size_t raw_len;
	size_t payload_off, payload_len;
	size_t n_headers;
	char event_type[64];
};

struct run {
	struct got m[MAX_MSGS];
	size_t n;
	int err;
	size_t err_at;
	int end;
};

static size_t encode_stream(uint8_t *out, size_t cap)
{
	static const char *const ev[][2] = {
		{ "messageStart", "{\"role\":\"assistant\"}" },
		{ "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"echo:\"}}" },
		{ "contentBlockStop", "{\"contentBlockIndex\":0}" },
		{ "metadata", "{\"usage\":{\"inputTokens\":7,\"outputTokens\":4,\"totalTokens\":11},\"metrics\":{\"latencyMs\":1}}" },
	};
	size_t n = 0, len;

	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(evstream_encode_event(out + n, cap - n, ev[i][0], ev[i][1],
						       strlen(ev[i][1]), &len), 0);
		n += len;
	}
	assert_int_equal(evstream_encode(out + n, cap - n, all_types,
					 sizeof(all_types) / sizeof(all_types[0]),
					 "payload", 7, &len), 0);
	n += len;
	/* An empty message: no headers, no payload. */
	assert_int_equal(evstream_encode(out + n, cap - n, NULL, 0, NULL, 0, &len), 0);
	assert_int_equal(len, 16);
	return n + len;
}

static void keep(struct run *r, const struct evstream_msg *m)
{
	struct got *g;

	assert_true(r->n < MAX_MSGS);
	g = &r->m[r->n++];
	assert_true(m->raw.len <= BUF_CAP);
	memcpy(g->raw, m->raw.p, m->raw.len);
	g->raw_len = m->raw.len;
	assert_true(m->payload.p >= m->raw.p &&
		    m->payload.p + m->payload.len + 4 == m->raw.p + m->raw.len);
	g->payload_off = (size_t)(m->payload.p - m->raw.p);
	g->payload_len = m->payload.len;
	g->n_headers = m->n_headers;
	snprintf(g->event_type, sizeof(g->event_type), "%.*s",
		 (int)m->event_type.len, m->event_type.p ? m->event_type.p : "");
}

/* Feeds the pieces in order, each in its own guarded buffer. */
static void feed(struct run *r, size_t cap, const uint8_t *const *pieces,
		 const size_t *lens, size_t n)
{
	static uint8_t buf[BUF_CAP];
	struct evstream_decoder d;
	struct evstream_msg m;
	size_t base = 0;

	memset(r, 0, sizeof(*r));
	evstream_decoder_init(&d, buf, cap);
	for (size_t k = 0; k < n && !r->err; k++) {
		struct guarded g = { 0 };
		size_t pos = 0;

		assert_int_equal(guarded_init(&g, pieces[k], lens[k]), 0);
		for (;;) {
			size_t used = SIZE_MAX;
			int rc = evstream_feed(&d, g.data + pos, lens[k] - pos, &used, &m);

			assert_true(used <= lens[k] - pos);
			pos += used;
			if (rc < 0) {
				r->err = -rc;
				r->err_at = base + pos;
				assert_int_equal(d.err, -rc);
				assert_int_equal(d.offset, r->err_at);
				assert_int_equal(evstream_feed(&d, "x", 1, &used, &m), rc);
				assert_int_equal(used, 0);
				break;
			}
			if (rc == EVSTREAM_NEED_MORE) {
				assert_int_equal(pos, lens[k]);
				break;
			}
			assert_int_equal(rc, EVSTREAM_MESSAGE);
			keep(r, &m);
		}
		guarded_fini(&g);
		base += lens[k];
	}
	r->end = evstream_end(&d);
}

static void feed_whole(struct run *r, size_t cap, const uint8_t *s, size_t n)
{
	feed(r, cap, &s, &n, 1);
}

static void same(const struct run *a, const struct run *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->err, b->err);
	assert_int_equal(a->err_at, b->err_at);
	assert_int_equal(a->end, b->end);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->m[i].raw_len, b->m[i].raw_len);
		assert_memory_equal(a->m[i].raw, b->m[i].raw, a->m[i].raw_len);
		assert_int_equal(a->m[i].payload_off, b->m[i].payload_off);
		assert_int_equal(a->m[i].payload_len, b->m[i].payload_len);
		assert_int_equal(a->m[i].n_headers, b->m[i].n_headers);
		assert_string_equal(a->m[i].event_type, b->m[i].event_type);
	}
}

static void test_evstream_round_trips_every_header_type(void **state)
{
	static uint8_t buf[BUF_CAP];
	uint8_t out[512];
	struct evstream_decoder d;
	struct evstream_msg m;
	size_t len, used;
	const size_t n = sizeof(all_types) / sizeof(all_types[0]);

	(void)state;
	assert_int_equal(evstream_encode(out, sizeof(out), all_types, n, "hi", 2, &len), 0);
	evstream_decoder_init(&d, buf, sizeof(buf));
	assert_int_equal(evstream_feed(&d, NULL, 0, &used, &m), EVSTREAM_NEED_MORE);
	assert_int_equal(used, 0);
	assert_int_equal(evstream_feed(&d, out, len, &used, &m), EVSTREAM_MESSAGE);
	assert_int_equal(used, len);
	/* Whole in the input: parsed in place. */
	assert_ptr_equal(m.raw.p, (const char *)out);
	assert_int_equal(m.n_headers, n);
	for (size_t i = 0; i < n; i++) {
		const struct evstream_header *h = evstream_header_find(&m, all_types[i].name.p);

		assert_non_null(h);
		assert_int_equal(h->type, all_types[i].type);
		assert_int_equal(h->i, all_types[i].i);
		assert_int_equal(h->bytes.len, all_types[i].bytes.len);
		if (h->bytes.len)
			assert_memory_equal(h->bytes.p, all_types[i].bytes.p, h->bytes.len);
	}
	assert_null(evstream_header_find(&m, "missing"));
	assert_int_equal(m.event_type.len, 17);
	assert_memory_equal(m.event_type.p, "contentBlockDelta", 17);
	assert_null(m.message_type.p);
	assert_int_equal(m.payload.len, 2);
	assert_memory_equal(m.payload.p, "hi", 2);
	assert_int_equal(d.n_messages, 1);
	assert_int_equal(evstream_end(&d), 0);

	/* Bytes as the format defines them: the byte header is 0x80, the
	 * short 0xfffe, the timestamp big-endian. */
	assert_non_null(memmem(out, len, "\4byte\2\x80", 7));
	assert_non_null(memmem(out, len, "\5short\3\xff\xfe", 9));
	assert_non_null(memmem(out, len, "\2ts\x08\x00\x00\x01\x8b\xcf\xe5\x68\x7b", 12));
}

/* The empty message of the event-stream codec test vectors. */
static void test_evstream_matches_known_empty_message(void **state)
{
	static const uint8_t want[16] = {
		0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
		0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff,
	};
	uint8_t out[16], buf[16];
	struct evstream_decoder d;
	struct evstream_msg m;
	size_t len, used;

	(void)state;
	assert_int_equal(evstream_encode(out, sizeof(out), NULL, 0, NULL, 0, &len), 0);
	assert_int_equal(len, 16);
	assert_memory_equal(out, want, 16);
	evstream_decoder_init(&d, buf, sizeof(buf));
	assert_int_equal(evstream_feed(&d, want, 16, &used, &m), EVSTREAM_MESSAGE);
	assert_int_equal(m.n_headers, 0);
	assert_int_equal(m.payload.len, 0);
}

static void test_evstream_same_messages_at_every_split(void **state)
{
	uint8_t s[BUF_CAP];
	size_t n = encode_stream(s, sizeof(s));
	struct run whole, split, bytes;
	static size_t ones[BUF_CAP];
	static const uint8_t *ptrs[BUF_CAP];

	(void)state;
	feed_whole(&whole, BUF_CAP, s, n);
	assert_int_equal(whole.err, 0);
	assert_int_equal(whole.end, 0);
	assert_int_equal(whole.n, 6);
	assert_string_equal(whole.m[0].event_type, "messageStart");
	assert_string_equal(whole.m[3].event_type, "metadata");
	assert_string_equal(whole.m[4].event_type, "contentBlockDelta");
	assert_int_equal(whole.m[4].n_headers, sizeof(all_types) / sizeof(all_types[0]));

	for (size_t cut = 0; cut <= n; cut++) {
		const uint8_t *p[2] = { s, s + cut };
		size_t l[2] = { cut, n - cut };

		feed(&split, BUF_CAP, p, l, 2);
		same(&whole, &split);
	}
	for (size_t i = 0; i < n; i++) {
		ptrs[i] = s + i;
		ones[i] = 1;
	}
	feed(&bytes, BUF_CAP, ptrs, ones, n);
	same(&whole, &bytes);

	/* Cut short anywhere inside a message: truncated, never a message
	 * more. */
	for (size_t cut = 1; cut < whole.m[0].raw_len; cut++) {
		feed_whole(&split, BUF_CAP, s, cut);
		assert_int_equal(split.n, 0);
		assert_int_equal(split.end, -EVSTREAM_E_TRUNCATED);
	}
}

/* Every single-bit flip of a message is an error, of the expected kind. */
static void test_evstream_detects_every_bit_flip(void **state)
{
	uint8_t s[BUF_CAP], t[BUF_CAP];
	size_t len;
	struct run r;
	const size_t n = sizeof(all_types) / sizeof(all_types[0]);

	(void)state;
	assert_int_equal(evstream_encode(s, sizeof(s), all_types, n, "payload", 7, &len), 0);
	for (size_t i = 0; i < len; i++) {
		for (int b = 0; b < 8; b++) {
			memcpy(t, s, len);
			t[i] ^= (uint8_t)(1u << b);
			feed_whole(&r, BUF_CAP, t, len);
			assert_int_equal(r.n, 0);
			if (i < 12) {
				assert_int_equal(r.err, EVSTREAM_E_PRELUDE_CRC);
				assert_int_equal(r.err_at, 12);
			} else {
				assert_int_equal(r.err, EVSTREAM_E_MESSAGE_CRC);
				assert_int_equal(r.err_at, len);
			}
		}
	}
}

/* A prelude with a valid CRC and the given lengths. */
static void prelude(uint8_t p[12], uint32_t total, uint32_t hl)
{
	uint32_t c;

	p[0] = (uint8_t)(total >> 24); p[1] = (uint8_t)(total >> 16);
	p[2] = (uint8_t)(total >> 8); p[3] = (uint8_t)total;
	p[4] = (uint8_t)(hl >> 24); p[5] = (uint8_t)(hl >> 16);
	p[6] = (uint8_t)(hl >> 8); p[7] = (uint8_t)hl;
	c = (uint32_t)crc32(0, p, 8);
	p[8] = (uint8_t)(c >> 24); p[9] = (uint8_t)(c >> 16);
	p[10] = (uint8_t)(c >> 8); p[11] = (uint8_t)c;
}

/*
 * Lengths out of bounds are refused once the 12 prelude bytes are in —
 * nothing of what they announce is waited for, nothing allocated (the
 * decoder has no allocator; the buffer here is 4 KB).
 */
static void test_evstream_rejects_bad_lengths_on_the_prelude(void **state)
{
	static const struct {
		uint32_t total, hl;
		int err;
	} cases[] = {
		{ 0xffffffffu, 0, EVSTREAM_E_TOO_LARGE },
		{ TG_EVSTREAM_MSG_MAX + 1, 0, EVSTREAM_E_TOO_LARGE },
		{ BUF_CAP + 1, 0, EVSTREAM_E_TOO_LARGE },
		{ 0, 0, EVSTREAM_E_LENGTH },
		{ 15, 0, EVSTREAM_E_LENGTH },
		{ 16, 1, EVSTREAM_E_LENGTH },
		{ 100, 85, EVSTREAM_E_LENGTH },
		{ 0xffffffffu, 0xfffffff0u, EVSTREAM_E_LENGTH },
	};
	uint8_t p[12];
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		prelude(p, cases[i].total, cases[i].hl);
		feed_whole(&r, BUF_CAP, p, 12);
		assert_int_equal(r.err, cases[i].err);
		assert_int_equal(r.err_at, 12);
		assert_int_equal(r.end, -cases[i].err);
	}
	/* Exactly the buffer's size is accepted. */
	prelude(p, BUF_CAP, 0);
	feed_whole(&r, BUF_CAP, p, 12);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.end, -EVSTREAM_E_TRUNCATED);
	/* A buffer too small for any message. */
	prelude(p, 16, 0);
	feed_whole(&r, 15, p, 12);
	assert_int_equal(r.err, EVSTREAM_E_TOO_LARGE);
}

static void test_evstream_rejects_huge_headers_section(void **state)
{
	static uint8_t big[TG_EVSTREAM_HEADERS_BYTES_MAX * 2];
	struct evstream_decoder d;
	struct evstream_msg m;
	uint8_t p[12];
	size_t used;

	(void)state;
	evstream_decoder_init(&d, big, sizeof(big));
	prelude(p, TG_EVSTREAM_HEADERS_BYTES_MAX + 17, TG_EVSTREAM_HEADERS_BYTES_MAX + 1);
	assert_int_equal(evstream_feed(&d, p, 12, &used, &m), -EVSTREAM_E_HEADERS_TOO_LARGE);
	assert_int_equal(used, 12);
}

/* Builds a message around a raw headers section, CRCs right. */
static size_t with_headers(uint8_t *out, const void *hdr, size_t hl)
{
	size_t total = 16 + hl;
	uint32_t c;

	prelude(out, (uint32_t)total, (uint32_t)hl);
	memcpy(out + 12, hdr, hl);
	c = (uint32_t)crc32(0, out, total - 4);
	out[total - 4] = (uint8_t)(c >> 24); out[total - 3] = (uint8_t)(c >> 16);
	out[total - 2] = (uint8_t)(c >> 8); out[total - 1] = (uint8_t)c;
	return total;
}

static void test_evstream_rejects_malformed_headers(void **state)
{
	static const struct {
		const char *hdr;
		size_t len;
		int err;
	} cases[] = {
		{ "\0\7", 2, EVSTREAM_E_HEADER },			/* empty name */
		{ "\5ab", 3, EVSTREAM_E_HEADER },			/* name overruns */
		{ "\1a", 2, EVSTREAM_E_HEADER },			/* no type byte */
		{ "\1a\12", 3, EVSTREAM_E_HEADER },			/* type 10 */
		{ "\1a\xff", 3, EVSTREAM_E_HEADER },			/* type 255 */
		{ "\1a\4\0\0\0", 6, EVSTREAM_E_HEADER },		/* int short by 1 */
		{ "\1a\5\0\0\0\0\0\0\0", 10, EVSTREAM_E_HEADER },	/* long short */
		{ "\1a\7\0", 4, EVSTREAM_E_HEADER },			/* string length cut */
		{ "\1a\7\0\3ab", 7, EVSTREAM_E_HEADER },		/* string overruns */
		{ "\1a\6\xff\xff", 5, EVSTREAM_E_HEADER },		/* bytes overruns */
		{ "\1a\11\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 18, EVSTREAM_E_HEADER }, /* uuid 15 */
		{ "\1a\0\1a\1", 6, EVSTREAM_E_DUP_HEADER },
		{ "\13:event-type\0", 13, EVSTREAM_E_HEADER },	/* not a string */
		{ "\1a\0\1b\1", 6, 0 },				/* fine */
	};
	uint8_t msg[256];
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = with_headers(msg, cases[i].hdr, cases[i].len);

		feed_whole(&r, BUF_CAP, msg, n);
		if (r.err != cases[i].err)
			fail_msg("case %zu: err %d, want %d", i, r.err, cases[i].err);
		if (cases[i].err)
			assert_int_equal(r.err_at, n);
		else
			assert_int_equal(r.n, 1);
	}
}

static void test_evstream_bounds_header_count(void **state)
{
	struct evstream_header h[TG_EVSTREAM_HEADERS_MAX + 1];
	char names[TG_EVSTREAM_HEADERS_MAX + 1][8];
	uint8_t msg[1024];
	size_t len;
	struct run r;

	(void)state;
	for (size_t i = 0; i <= TG_EVSTREAM_HEADERS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "h%zu", i);
		h[i] = (struct evstream_header){ .name = { names[i], strlen(names[i]) },
						 .type = EVSTREAM_T_TRUE };
	}
	assert_int_equal(evstream_encode(msg, sizeof(msg), h, TG_EVSTREAM_HEADERS_MAX,
					 NULL, 0, &len), 0);
	feed_whole(&r, BUF_CAP, msg, len);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.m[0].n_headers, TG_EVSTREAM_HEADERS_MAX);
	assert_int_equal(evstream_encode(msg, sizeof(msg), h, TG_EVSTREAM_HEADERS_MAX + 1,
					 NULL, 0, &len), 0);
	feed_whole(&r, BUF_CAP, msg, len);
	assert_int_equal(r.err, EVSTREAM_E_TOO_MANY_HEADERS);
}

static void test_evstream_encoder_rejects_what_it_cannot_encode(void **state)
{
	static char big[70000];
	uint8_t out[64];
	size_t len;
	struct evstream_header h;

	(void)state;
	h = (struct evstream_header){ .name = { "", 0 }, .type = EVSTREAM_T_TRUE };
	assert_int_equal(evstream_encode(out, sizeof(out), &h, 1, NULL, 0, &len), -EINVAL);
	h = (struct evstream_header){ .name = SPAN("a"), .type = EVSTREAM_T_COUNT };
	assert_int_equal(evstream_encode(out, sizeof(out), &h, 1, NULL, 0, &len), -EINVAL);
	h = (struct evstream_header){ .name = SPAN("a"), .type = EVSTREAM_T_UUID,
				      .bytes = { "short", 5 } };
	assert_int_equal(evstream_encode(out, sizeof(out), &h, 1, NULL, 0, &len), -EINVAL);
	h = (struct evstream_header){ .name = SPAN("a"), .type = EVSTREAM_T_STRING,
				      .bytes = { big, 65536 } };
	assert_int_equal(evstream_encode(out, sizeof(out), &h, 1, NULL, 0, &len), -EINVAL);
	h.bytes.len = 65535;
	assert_int_equal(evstream_encode(out, sizeof(out), &h, 1, NULL, 0, &len), -ENOSPC);
	assert_int_equal(len, 16 + 1 + 1 + 1 + 2 + 65535);
	h = (struct evstream_header){ .name = SPAN("a"), .type = EVSTREAM_T_TRUE };
	assert_int_equal(evstream_encode(out, 16, &h, 1, NULL, 0, &len), -ENOSPC);
	assert_int_equal(len, 19);
	assert_int_equal(evstream_encode(out, 19, &h, 1, NULL, 0, &len), 0);
	assert_int_equal(evstream_encode(out, sizeof(out), NULL, 0, big,
					 TG_EVSTREAM_MSG_MAX, &len), -E2BIG);
	assert_string_equal(evstream_strerror(-EVSTREAM_E_MESSAGE_CRC),
			    "event-stream message CRC mismatch");
	assert_string_equal(evstream_strerror(999), "unknown error");
}

static int usage_of(const char *type, const char *json, uint64_t *in, uint64_t *out)
{
	static uint8_t buf[BUF_CAP];
	uint8_t msg[1024];
	struct evstream_decoder d;
	struct evstream_msg m;
	size_t len, used;

	assert_int_equal(evstream_encode_event(msg, sizeof(msg), type, json, strlen(json), &len), 0);
	evstream_decoder_init(&d, buf, sizeof(buf));
	assert_int_equal(evstream_feed(&d, msg, len, &used, &m), EVSTREAM_MESSAGE);
	return evstream_bedrock_usage(&m, in, out);
}

static void test_evstream_bedrock_usage_from_metadata(void **state)
{
	uint64_t in = 99, out = 99;

	(void)state;
	assert_int_equal(usage_of("metadata", "{\"usage\":{\"inputTokens\":7,\"outputTokens\":4,"
				  "\"totalTokens\":11},\"metrics\":{\"latencyMs\":1}}", &in, &out), 0);
	assert_int_equal(in, 7);
	assert_int_equal(out, 4);
	in = out = 99;
	assert_int_equal(usage_of("messageStop", "{\"stopReason\":\"end_turn\"}", &in, &out), -ENOENT);
	assert_int_equal(usage_of("metadata", "{\"metrics\":{}}", &in, &out), -ENOENT);
	assert_int_equal(usage_of("metadata", "{\"usage\":{\"inputTokens\":7}}", &in, &out), -EINVAL);
	assert_int_equal(usage_of("metadata", "{\"usage\":{\"inputTokens\":-1,\"outputTokens\":4}}",
				  &in, &out), -EINVAL);
	assert_int_equal(usage_of("metadata", "{\"usage\":{\"inputTokens\":1.5,\"outputTokens\":4}}",
				  &in, &out), -EINVAL);
	assert_int_equal(usage_of("metadata", "{\"usage\":{\"inputTokens\":1,\"outputTokens\":4}",
				  &in, &out), -EINVAL);
	/* A second usage must not be read one way here and another there. */
	assert_int_equal(usage_of("metadata", "{\"usage\":{\"inputTokens\":1,\"outputTokens\":4},"
				  "\"usage\":{\"inputTokens\":0,\"outputTokens\":0}}", &in, &out), -EINVAL);
	assert_int_equal(usage_of("metadata", "[]", &in, &out), -EINVAL);
	assert_int_equal(in, 99);
	assert_int_equal(out, 99);
}

/* A Converse (non-streaming) answer, as the simulator sends it. */
static void test_evstream_bedrock_usage_from_converse_body(void **state)
{
	static const char body[] =
		"{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":"
		"[{\"text\":\"echo: hello there world\"}]}},\"stopReason\":\"end_turn\","
		"\"usage\":{\"inputTokens\":7,\"outputTokens\":4,\"totalTokens\":11},"
		"\"metrics\":{\"latencyMs\":1}}";
	uint64_t in = 0, out = 0;

	(void)state;
	assert_int_equal(evstream_bedrock_usage_json(body, sizeof(body) - 1, &in, &out), 0);
	assert_int_equal(in, 7);
	assert_int_equal(out, 4);
	assert_int_equal(evstream_bedrock_usage_json("{}", 2, &in, &out), -ENOENT);
	assert_int_equal(evstream_bedrock_usage_json("{\"usage\":1}", 11, &in, &out), -EINVAL);
	assert_int_equal(evstream_bedrock_usage_json("", 0, &in, &out), -EINVAL);
}

/* ---- the decoding driver for the integration test ------------------------- */

static void print_header(const struct evstream_header *h)
{
	printf("  %.*s %u ", (int)h->name.len, h->name.p, h->type);
	switch (h->type) {
	case EVSTREAM_T_BYTES:
	case EVSTREAM_T_UUID:
		for (size_t i = 0; i < h->bytes.len; i++)
			printf("%02x", (uint8_t)h->bytes.p[i]);
		break;
	case EVSTREAM_T_STRING:
		printf("%.*s", (int)h->bytes.len, h->bytes.p);
		break;
	default:
		printf("%lld", (long long)h->i);
	}
	putchar('\n');
}

static int decode_main(const char *path, bool verbose)
{
	static uint8_t data[1 << 20], buf[TG_BEDROCK_EVENT_MAX];
	struct evstream_decoder d;
	struct evstream_msg m;
	FILE *f = fopen(path, "rb");
	size_t n, pos = 0;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(data, 1, sizeof(data), f);
	fclose(f);
	evstream_decoder_init(&d, buf, sizeof(buf));
	/* Fed in 7-byte pieces: the captured frames are split everywhere. */
	while (pos < n) {
		size_t piece = n - pos < 7 ? n - pos : 7, used;
		int rc = evstream_feed(&d, data + pos, piece, &used, &m);
		struct http1_span name;
		uint64_t in, out;

		pos += used;
		if (rc < 0) {
			fprintf(stderr, "evstream: %s at %llu\n", evstream_strerror(rc),
				(unsigned long long)d.offset);
			return 1;
		}
		if (rc == EVSTREAM_NEED_MORE)
			continue;
		for (size_t i = 0; verbose && i < m.n_headers; i++)
			print_header(&m.headers[i]);
		name = m.event_type.p ? m.event_type : m.exception_type;
		printf("%.*s %.*s %.*s\n",
		       (int)(m.message_type.p ? m.message_type.len : 1),
		       m.message_type.p ? m.message_type.p : "-",
		       (int)(name.p ? name.len : 1), name.p ? name.p : "-",
		       (int)m.payload.len, m.payload.p);
		if (!evstream_bedrock_usage(&m, &in, &out))
			printf("usage %llu %llu\n", (unsigned long long)in,
			       (unsigned long long)out);
	}
	if (evstream_end(&d)) {
		fprintf(stderr, "evstream: %s\n", evstream_strerror(evstream_end(&d)));
		return 1;
	}
	return 0;
}

static int usage_main(const char *path)
{
	static char data[1 << 20];
	FILE *f = fopen(path, "rb");
	uint64_t in, out;
	size_t n;
	int rc;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(data, 1, sizeof(data), f);
	fclose(f);
	rc = evstream_bedrock_usage_json(data, n, &in, &out);
	if (rc) {
		fprintf(stderr, "usage: %s\n", strerror(-rc));
		return 1;
	}
	printf("usage %llu %llu\n", (unsigned long long)in, (unsigned long long)out);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evstream_round_trips_every_header_type),
		cmocka_unit_test(test_evstream_matches_known_empty_message),
		cmocka_unit_test(test_evstream_same_messages_at_every_split),
		cmocka_unit_test(test_evstream_detects_every_bit_flip),
		cmocka_unit_test(test_evstream_rejects_bad_lengths_on_the_prelude),
		cmocka_unit_test(test_evstream_rejects_huge_headers_section),
		cmocka_unit_test(test_evstream_rejects_malformed_headers),
		cmocka_unit_test(test_evstream_bounds_header_count),
		cmocka_unit_test(test_evstream_encoder_rejects_what_it_cannot_encode),
		cmocka_unit_test(test_evstream_bedrock_usage_from_metadata),
		cmocka_unit_test(test_evstream_bedrock_usage_from_converse_body),
	};

	if (argc == 3 && !strcmp(argv[1], "usage"))
		return usage_main(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "decode"))
		return decode_main(argv[2], false);
	if (argc == 4 && !strcmp(argv[1], "decode") && !strcmp(argv[2], "-v"))
		return decode_main(argv[3], true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
