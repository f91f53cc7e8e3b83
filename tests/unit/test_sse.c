// SPDX-License-Identifier: Apache-2.0
/*
 * The server-sent events reader and encoder. Every stream is read whole,
 * then split in two at every byte boundary (each piece in its own buffer
 * ending right before a guard page, so an over-read crashes) and byte by
 * byte; all must give the same blocks, byte for byte, and the same end.
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

#include "guard_page.h"
#include "http/sse.h"

#define RAW_CAP		4096
#define DATA_CAP	4096
#define MAX_BLOCKS	64

/* A block as returned, copied out of the reader's buffers. */
struct blk {
	int kind;
	char raw[RAW_CAP + 1];
	size_t raw_len;
	char type[256], id[SSE_ID_MAX + 1], last_id[SSE_ID_MAX + 1];
	size_t type_len, id_len, last_id_len;
	char data[DATA_CAP + 1];
	size_t data_len;
	bool data_null;
	uint64_t retry;
	uint32_t n_data, flags;
};

struct run {
	struct blk b[MAX_BLOCKS];
	size_t n;
	int err;		/* the first error from sse_read, or 0 */
	size_t err_at;		/* its stream offset */
	int end;		/* sse_reader_end()'s result (after a held block) */
	uint64_t retry;
	bool has_retry;
};

static void copy(char *dst, size_t cap, size_t *len, struct http1_span s)
{
	assert_true(s.len <= cap);
	if (s.len)
		memcpy(dst, s.p, s.len);
	dst[s.len] = '\0';
	*len = s.len;
}

static void keep(struct run *r, int kind, const struct sse_event *ev)
{
	struct blk *b;

	assert_true(r->n < MAX_BLOCKS);
	b = &r->b[r->n++];
	b->kind = kind;
	copy(b->raw, RAW_CAP, &b->raw_len, ev->raw);
	copy(b->type, sizeof(b->type) - 1, &b->type_len, ev->type);
	copy(b->id, SSE_ID_MAX, &b->id_len, ev->id);
	copy(b->last_id, SSE_ID_MAX, &b->last_id_len, ev->last_id);
	b->data_null = !ev->data.p;
	copy(b->data, DATA_CAP, &b->data_len, ev->data);
	b->retry = ev->retry;
	b->n_data = ev->n_data;
	b->flags = ev->flags;
	assert_int_equal(kind == SSE_EVENT, ev->n_data > 0);
}

/*
 * Feeds the pieces in order, each copied to its own guarded buffer, into a
 * reader with the given bounds, then ends the stream.
 */
static void feed(struct run *r, size_t raw_cap, size_t data_cap,
		 const char *const *pieces, const size_t *lens, size_t n)
{
	static char raw[RAW_CAP], data[DATA_CAP];
	struct sse_reader rd;
	struct sse_event ev;
	size_t base = 0;

	memset(r, 0, sizeof(*r));
	sse_reader_init(&rd, raw, raw_cap, data, data_cap);
	for (size_t k = 0; k < n && !r->err; k++) {
		struct guarded g = { 0 };
		size_t pos = 0;

		assert_int_equal(guarded_init(&g, pieces[k], lens[k]), 0);
		for (;;) {
			size_t used = SIZE_MAX;
			int rc = sse_read(&rd, g.data + pos, lens[k] - pos, &used,
					  &ev);

			assert_true(used <= lens[k] - pos);
			pos += used;
			if (rc < 0) {
				r->err = -rc;
				r->err_at = base + pos;
				assert_int_equal(rd.err, -rc);
				/* Errors stick. */
				assert_int_equal(sse_read(&rd, "x", 1, &used, &ev), rc);
				assert_int_equal(used, 0);
				break;
			}
			if (rc == SSE_NEED_MORE) {
				assert_int_equal(pos, lens[k]);
				break;
			}
			keep(r, rc, &ev);
		}
		guarded_fini(&g);
		base += lens[k];
	}
	r->end = sse_reader_end(&rd, &ev);
	if (r->end > 0) {
		keep(r, r->end, &ev);
		r->end = sse_reader_end(&rd, &ev);
	}
	r->retry = rd.retry;
	r->has_retry = rd.has_retry;
}

static void same(const struct run *a, const struct run *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->err, b->err);
	if (a->err)
		assert_int_equal(a->err_at, b->err_at);
	assert_int_equal(a->end, b->end);
	assert_int_equal(a->retry, b->retry);
	assert_int_equal(a->has_retry, b->has_retry);
	for (size_t i = 0; i < a->n; i++) {
		const struct blk *x = &a->b[i], *y = &b->b[i];

		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->raw_len, y->raw_len);
		assert_memory_equal(x->raw, y->raw, x->raw_len + 1);
		assert_int_equal(x->type_len, y->type_len);
		assert_memory_equal(x->type, y->type, x->type_len + 1);
		assert_int_equal(x->id_len, y->id_len);
		assert_memory_equal(x->id, y->id, x->id_len + 1);
		assert_int_equal(x->last_id_len, y->last_id_len);
		assert_memory_equal(x->last_id, y->last_id, x->last_id_len + 1);
		assert_int_equal(x->data_null, y->data_null);
		assert_int_equal(x->data_len, y->data_len);
		assert_memory_equal(x->data, y->data, x->data_len + 1);
		assert_int_equal(x->retry, y->retry);
		assert_int_equal(x->n_data, y->n_data);
		assert_int_equal(x->flags, y->flags);
	}
}

/*
 * Reads in[0..len) whole into *out, then checks every two-piece split and
 * the byte-by-byte feed against it. Also checks that the blocks' raw bytes
 * put together are the stream (minus a BOM and an unterminated tail).
 */
static void check_bounded(const char *in, size_t len, size_t raw_cap,
			  size_t data_cap, struct run *out)
{
	struct run *r = malloc(sizeof(*r));
	const char *p[2];
	size_t l[2];

	assert_non_null(r);
	p[0] = in;
	l[0] = len;
	feed(out, raw_cap, data_cap, p, l, 1);
	for (size_t k = 0; k <= len; k++) {
		p[0] = in;
		l[0] = k;
		p[1] = in + k;
		l[1] = len - k;
		feed(r, raw_cap, data_cap, p, l, 2);
		same(out, r);
	}
	{
		const char **bp = malloc((len ? len : 1) * sizeof(*bp));
		size_t *bl = malloc((len ? len : 1) * sizeof(*bl));

		assert_non_null(bp);
		assert_non_null(bl);
		for (size_t k = 0; k < len; k++) {
			bp[k] = in + k;
			bl[k] = 1;
		}
		feed(r, raw_cap, data_cap, bp, bl, len);
		same(out, r);
		free(bp);
		free(bl);
	}
	free(r);

	if (!out->err) {
		size_t skip = len >= 3 && !memcmp(in, "\xef\xbb\xbf", 3) ? 3 : 0;
		size_t at = skip;

		for (size_t i = 0; i < out->n; i++) {
			assert_true(at + out->b[i].raw_len <= len);
			assert_memory_equal(in + at, out->b[i].raw, out->b[i].raw_len);
			at += out->b[i].raw_len;
		}
		assert_int_equal(at == len, out->end == 0);
	}
}

static struct run *check(const char *in, size_t len)
{
	static struct run out;

	check_bounded(in, len, RAW_CAP, DATA_CAP, &out);
	return &out;
}

#define CHECK(lit) check(lit, sizeof(lit) - 1)

static void assert_span(const char *got, size_t got_len, const char *want)
{
	assert_int_equal(got_len, strlen(want));
	assert_memory_equal(got, want, got_len);
}

static void assert_event(const struct blk *b, const char *type,
			 const char *data)
{
	assert_int_equal(b->kind, SSE_EVENT);
	assert_span(b->type, b->type_len, type);
	assert_span(b->data, b->data_len, data);
}

/* ---- parsing rules ---------------------------------------------------------- */

static void test_sse_dispatches_an_event_on_a_blank_line(void **state)
{
	struct run *r = CHECK("data: hello\n\n");

	(void)state;
	assert_int_equal(r->n, 1);
	assert_event(&r->b[0], "", "hello");
	assert_int_equal(r->b[0].n_data, 1);
	assert_span(r->b[0].raw, r->b[0].raw_len, "data: hello\n\n");
	assert_int_equal(r->end, 0);
}

static void test_sse_accepts_crlf_lf_and_cr_line_endings(void **state)
{
	static const char *const in[] = {
		"data: a\r\ndata: b\r\n\r\n",
		"data: a\ndata: b\n\n",
		"data: a\rdata: b\r\r",
		"data: a\rdata: b\r\n\n",
		"data: a\r\ndata: b\n\r",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct run *r = check(in[i], strlen(in[i]));

		assert_int_equal(r->n, 1);
		assert_event(&r->b[0], "", "a\nb");
		assert_int_equal(r->b[0].raw_len, strlen(in[i]));
		assert_int_equal(r->end, 0);
	}
}

static void test_sse_joins_a_crlf_split_across_pieces(void **state)
{
	/* CR ends a piece, its LF starts the next: one terminator, not a
	 * CR line end plus an empty line that would dispatch early. */
	const char *p[3] = { "data: a\r", "\ndata: b\r\n\r", "\ndata: c\n\n" };
	size_t l[3] = { 8, 11, 10 };
	static struct run r;

	(void)state;
	feed(&r, RAW_CAP, DATA_CAP, p, l, 3);
	assert_int_equal(r.n, 2);
	assert_event(&r.b[0], "", "a\nb");
	assert_span(r.b[0].raw, r.b[0].raw_len, "data: a\r\ndata: b\r\n\r\n");
	assert_event(&r.b[1], "", "c");
	assert_int_equal(r.end, 0);
}

static void test_sse_holds_a_final_cr_until_the_next_byte(void **state)
{
	static char raw[64], data[64];
	struct sse_reader rd;
	struct sse_event ev;
	size_t used;

	(void)state;
	sse_reader_init(&rd, raw, sizeof(raw), data, sizeof(data));
	assert_int_equal(sse_read(&rd, "data: x\r\r", 9, &used, &ev), SSE_NEED_MORE);
	assert_int_equal(used, 9);
	/* A byte other than LF: the block is complete without consuming it. */
	assert_int_equal(sse_read(&rd, "d", 1, &used, &ev), SSE_EVENT);
	assert_int_equal(used, 0);
	assert_int_equal(ev.raw.len, 9);
	assert_int_equal(sse_read(&rd, "data: y\r\r", 9, &used, &ev), SSE_NEED_MORE);
	/* The end of the stream completes it too. */
	assert_int_equal(sse_reader_end(&rd, &ev), SSE_EVENT);
	assert_int_equal(ev.data.len, 1);
	assert_memory_equal(ev.data.p, "y", 1);
	assert_int_equal(sse_reader_end(&rd, &ev), SSE_NEED_MORE);
}

static void test_sse_strips_exactly_one_leading_space(void **state)
{
	struct run *r = CHECK("data:x\n\ndata: x\n\ndata:  x\n\ndata:\tx\n\n");

	(void)state;
	assert_int_equal(r->n, 4);
	assert_event(&r->b[0], "", "x");
	assert_event(&r->b[1], "", "x");
	assert_event(&r->b[2], "", " x");
	assert_event(&r->b[3], "", "\tx");
}

static void test_sse_keeps_colons_after_the_first(void **state)
{
	struct run *r = CHECK("data: {\"a\":\"b:c\"}\n\n");

	(void)state;
	assert_int_equal(r->n, 1);
	assert_event(&r->b[0], "", "{\"a\":\"b:c\"}");
}

static void test_sse_ignores_comment_lines(void **state)
{
	struct run *r = CHECK(": keepalive\n\n:\ndata: a\n: inner\ndata: b\n\n");

	(void)state;
	assert_int_equal(r->n, 2);
	assert_int_equal(r->b[0].kind, SSE_BLOCK);
	assert_true(r->b[0].data_null);
	assert_int_equal(r->b[0].flags, SSE_EV_COMMENT);
	assert_span(r->b[0].raw, r->b[0].raw_len, ": keepalive\n\n");
	assert_event(&r->b[1], "", "a\nb");
	assert_true(r->b[1].flags & SSE_EV_COMMENT);
}

static void test_sse_joins_data_lines_with_lf(void **state)
{
	struct run *r = CHECK("data: a\ndata:\ndata\ndata: b\n\n");

	(void)state;
	assert_int_equal(r->n, 1);
	assert_event(&r->b[0], "", "a\n\n\nb");
	assert_int_equal(r->b[0].n_data, 4);
}

static void test_sse_dispatches_empty_data(void **state)
{
	/* A data field with no value appends "\n": the buffer is not empty,
	 * so the event is dispatched, with "" once the final LF goes. */
	struct run *r = CHECK("data\n\ndata:\ndata:\n\n");

	(void)state;
	assert_int_equal(r->n, 2);
	assert_event(&r->b[0], "", "");
	assert_false(r->b[0].data_null);
	assert_event(&r->b[1], "", "\n");
}

static void test_sse_does_not_dispatch_without_data(void **state)
{
	struct run *r = CHECK("event: x\n\nid: 7\n\ndata: y\n\n");

	(void)state;
	assert_int_equal(r->n, 3);
	assert_int_equal(r->b[0].kind, SSE_BLOCK);
	assert_int_equal(r->b[0].flags, SSE_EV_TYPE);
	assert_int_equal(r->b[1].kind, SSE_BLOCK);
	assert_span(r->b[1].last_id, r->b[1].last_id_len, "7");
	/* The type was reset with the undispatched block; the id was not. */
	assert_event(&r->b[2], "", "y");
	assert_span(r->b[2].last_id, r->b[2].last_id_len, "7");
	assert_int_equal(r->b[2].id_len, 0);
	assert_false(r->b[2].flags & SSE_EV_ID);
}

static void test_sse_takes_the_last_event_type(void **state)
{
	struct run *r = CHECK("event: a\nevent: b\ndata: x\n\nevent:\ndata: y\n\n"
			      "data: z\n\n");

	(void)state;
	assert_int_equal(r->n, 3);
	assert_event(&r->b[0], "b", "x");
	assert_event(&r->b[1], "", "y");	/* empty: "message" */
	assert_true(r->b[1].flags & SSE_EV_TYPE);
	assert_event(&r->b[2], "", "z");
	assert_false(r->b[2].flags & SSE_EV_TYPE);
}

static void test_sse_keeps_the_last_event_id_across_events(void **state)
{
	struct run *r = CHECK("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n");

	(void)state;
	assert_int_equal(r->n, 3);
	assert_span(r->b[0].id, r->b[0].id_len, "1");
	assert_span(r->b[0].last_id, r->b[0].last_id_len, "1");
	assert_span(r->b[1].last_id, r->b[1].last_id_len, "1");
	/* An empty id resets the last event id. */
	assert_true(r->b[2].flags & SSE_EV_ID);
	assert_span(r->b[2].last_id, r->b[2].last_id_len, "");
}

static void test_sse_ignores_an_id_containing_nul(void **state)
{
	static const char in[] = "id: 1\ndata: a\n\nid: 2\0002\ndata: b\n\n";
	struct run *r = check(in, sizeof(in) - 1);

	(void)state;
	assert_int_equal(r->n, 2);
	assert_false(r->b[1].flags & SSE_EV_ID);
	assert_span(r->b[1].last_id, r->b[1].last_id_len, "1");
}

static void test_sse_accepts_retry_of_digits_only(void **state)
{
	struct run *r = CHECK("retry: 1500\n\nretry: 15x\n\nretry: -1\n\nretry:\n\n"
			      "retry:  10\n\nretry: 1e3\n\ndata: a\nretry: 42\n\n");

	(void)state;
	assert_int_equal(r->n, 7);
	assert_int_equal(r->b[0].kind, SSE_BLOCK);
	assert_int_equal(r->b[0].flags, SSE_EV_RETRY);
	assert_int_equal(r->b[0].retry, 1500);
	for (size_t i = 1; i < 6; i++)
		assert_int_equal(r->b[i].flags, 0);
	assert_event(&r->b[6], "", "a");
	assert_int_equal(r->b[6].retry, 42);
	assert_true(r->has_retry);
	assert_int_equal(r->retry, 42);
}

static void test_sse_saturates_a_huge_retry(void **state)
{
	struct run *r = CHECK("retry: 99999999999999999999999999\n\n");

	(void)state;
	assert_int_equal(r->retry, UINT64_MAX);
}

static void test_sse_matches_field_names_case_sensitively(void **state)
{
	struct run *r = CHECK("Data: x\nEVENT: y\nfoo: bar\ndata : z\n\n");

	(void)state;
	assert_int_equal(r->n, 1);
	assert_int_equal(r->b[0].kind, SSE_BLOCK);
	assert_int_equal(r->b[0].flags, 0);
}

static void test_sse_skips_a_bom_at_the_stream_start(void **state)
{
	struct run *r = CHECK("\xef\xbb\xbf" "data: x\n\n");

	(void)state;
	assert_int_equal(r->n, 1);
	assert_event(&r->b[0], "", "x");
	assert_span(r->b[0].raw, r->b[0].raw_len, "data: x\n\n");
}

static void test_sse_skips_only_one_bom(void **state)
{
	struct run *r = CHECK("\xef\xbb\xbf\xef\xbb\xbf" "data: x\n\ndata: y\n\n");

	(void)state;
	/* The second BOM is part of the field name: unknown field. */
	assert_int_equal(r->n, 2);
	assert_int_equal(r->b[0].kind, SSE_BLOCK);
	assert_event(&r->b[1], "", "y");
}

static void test_sse_keeps_a_partial_bom_as_content(void **state)
{
	struct run *r = CHECK("\xef\xbb" "data: x\n\n\xef\xbb\xbf" "data: y\n\n");

	(void)state;
	assert_int_equal(r->n, 2);
	assert_int_equal(r->b[0].kind, SSE_BLOCK);
	assert_span(r->b[0].raw, r->b[0].raw_len, "\xef\xbb" "data: x\n\n");
	/* Not at the stream start: a BOM is ordinary bytes. */
	assert_int_equal(r->b[1].kind, SSE_BLOCK);
}

static void test_sse_skips_a_bom_in_an_empty_stream(void **state)
{
	struct run *r = CHECK("\xef\xbb\xbf");

	(void)state;
	assert_int_equal(r->n, 0);
	assert_int_equal(r->end, 0);
	r = CHECK("\xef\xbb");
	assert_int_equal(r->end, -SSE_E_TRUNCATED);
}

static void test_sse_returns_lone_blank_lines_as_blocks(void **state)
{
	struct run *r = CHECK("\n\r\n\rdata: x\n\n");

	(void)state;
	assert_int_equal(r->n, 4);
	assert_span(r->b[0].raw, r->b[0].raw_len, "\n");
	assert_span(r->b[1].raw, r->b[1].raw_len, "\r\n");
	assert_span(r->b[2].raw, r->b[2].raw_len, "\r");
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(r->b[i].kind, SSE_BLOCK);
	assert_event(&r->b[3], "", "x");
}

static void test_sse_discards_an_unterminated_event_at_the_end(void **state)
{
	struct run *r = CHECK("data: a\n\ndata: b\n");

	(void)state;
	assert_int_equal(r->n, 1);
	assert_event(&r->b[0], "", "a");
	assert_int_equal(r->end, -SSE_E_TRUNCATED);
	r = CHECK("data: a\n\ndata: b");
	assert_int_equal(r->end, -SSE_E_TRUNCATED);
	r = CHECK("");
	assert_int_equal(r->end, 0);
}

static void test_sse_passes_nul_and_utf8_bytes_in_data(void **state)
{
	static const char in[] = "data: \xc3\xa9t\xc3\xa9 \0 \xf0\x9f\x98\x80\n\n";
	struct run *r = check(in, sizeof(in) - 1);

	(void)state;
	assert_int_equal(r->n, 1);
	assert_int_equal(r->b[0].data_len, sizeof(in) - 1 - 8);
	assert_memory_equal(r->b[0].data, in + 6, r->b[0].data_len);
}

/* ---- real-world streams ----------------------------------------------------- */

static const char openai[] =
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732400000,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
	"\"content\":\"\"},\"finish_reason\":null}]}\n\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732400000,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},"
	"\"finish_reason\":null}]}\n\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732400000,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},"
	"\"finish_reason\":null}]}\n\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732400000,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732400000,"
	"\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
	"\"completion_tokens\":2,\"total_tokens\":11}}\n\n"
	"data: [DONE]\n\n";

static const char anthropic[] =
	"event: message_start\n"
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
	"\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,"
	"\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
	"event: ping\n"
	"data: {\"type\": \"ping\"}\n\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"!\"}}\n\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
	"event: message_delta\n"
	"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
	"\"usage\":{\"output_tokens\":15}}\n\n"
	"event: message_stop\n"
	"data: {\"type\":\"message_stop\"}\n\n";

static const char gemini[] =
	"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hello\"}],\"role\": \"model\"},"
	"\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 4,\"totalTokenCount\": 4},"
	"\"modelVersion\": \"gemini-2.0-flash\"}\r\n\r\n"
	"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" there\"}],\"role\": \"model\"},"
	"\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 4,"
	"\"candidatesTokenCount\": 2,\"totalTokenCount\": 6},\"modelVersion\": \"gemini-2.0-flash\"}\r\n\r\n";

static void test_sse_reads_an_openai_chat_completion_stream(void **state)
{
	struct run *r = CHECK(openai);

	(void)state;
	assert_int_equal(r->n, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(r->b[i].kind, SSE_EVENT);
		assert_int_equal(r->b[i].type_len, 0);
	}
	assert_non_null(strstr(r->b[1].data, "\"content\":\"Hel\""));
	assert_non_null(strstr(r->b[4].data, "\"total_tokens\":11"));
	assert_event(&r->b[5], "", "[DONE]");
	assert_int_equal(r->end, 0);
}

static void test_sse_reads_an_anthropic_messages_stream(void **state)
{
	static const char *const types[] = {
		"message_start", "content_block_start", "ping",
		"content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop",
	};
	struct run *r = CHECK(anthropic);

	(void)state;
	assert_int_equal(r->n, 8);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(r->b[i].kind, SSE_EVENT);
		assert_span(r->b[i].type, r->b[i].type_len, types[i]);
		assert_true(r->b[i].data[0] == '{');
	}
	assert_event(&r->b[2], "ping", "{\"type\": \"ping\"}");
	assert_non_null(strstr(r->b[6].data, "\"output_tokens\":15"));
}

static void test_sse_reads_a_gemini_alt_sse_stream(void **state)
{
	struct run *r = CHECK(gemini);

	(void)state;
	assert_int_equal(r->n, 2);
	assert_int_equal(r->b[0].kind, SSE_EVENT);
	assert_non_null(strstr(r->b[1].data, "\"candidatesTokenCount\": 2"));
	assert_int_equal(r->b[1].data[r->b[1].data_len - 1], '}');
	assert_int_equal(r->end, 0);
}

/* ---- bounds ------------------------------------------------------------------ */

static void test_sse_accepts_an_event_of_exactly_the_limit(void **state)
{
	static const char in[] = "event: e\ndata: 0123456789\n\n";
	static struct run r;

	(void)state;
	check_bounded(in, sizeof(in) - 1, sizeof(in) - 1, DATA_CAP, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.b[0].raw_len, sizeof(in) - 1);
}

static void test_sse_rejects_an_event_one_byte_over_the_limit(void **state)
{
	static const char in[] = "event: e\ndata: 0123456789\n\n";
	static struct run r;

	(void)state;
	check_bounded(in, sizeof(in) - 1, sizeof(in) - 2, DATA_CAP, &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.err, SSE_E_EVENT_TOO_LARGE);
	assert_int_equal(r.err_at, sizeof(in) - 2);
	/* The same with CRLF: the last LF is the byte over. */
	check_bounded("data: x\r\n\r\n", 11, 10, DATA_CAP, &r);
	assert_int_equal(r.err, SSE_E_EVENT_TOO_LARGE);
	check_bounded("data: x\r\n\r\n", 11, 11, DATA_CAP, &r);
	assert_int_equal(r.n, 1);
}

static void test_sse_bounds_each_event_not_the_stream(void **state)
{
	static struct run r;

	(void)state;
	static const char in[] =
		"data: 1\n\ndata: 2\n\ndata: 3\n\n: keep\n\ndata: 4\n\n";

	/* Many blocks, each within 16 bytes, through a 16-byte buffer. */
	check_bounded(in, sizeof(in) - 1, 16, 16, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 5);
}

static void test_sse_rejects_an_endless_line_at_the_limit(void **state)
{
	char in[200];
	static struct run r;

	(void)state;
	memset(in, 'a', sizeof(in));
	memcpy(in, "data: ", 6);
	check_bounded(in, sizeof(in), 64, 64, &r);
	assert_int_equal(r.err, SSE_E_EVENT_TOO_LARGE);
	assert_int_equal(r.err_at, 64);
}

static void test_sse_accepts_data_of_exactly_the_data_limit(void **state)
{
	static struct run r;

	(void)state;
	/* joined "ab\ncd" is 5 bytes */
	check_bounded("data: ab\ndata: cd\n\n", 19, 64, 5, &r);
	assert_int_equal(r.err, 0);
	assert_event(&r.b[0], "", "ab\ncd");
	check_bounded("data: abcde\n\n", 13, 64, 5, &r);
	assert_int_equal(r.err, 0);
}

static void test_sse_rejects_data_one_byte_over_the_data_limit(void **state)
{
	static struct run r;

	(void)state;
	check_bounded("data: ab\ndata: cd\n\n", 19, 64, 4, &r);
	assert_int_equal(r.err, SSE_E_DATA_TOO_LARGE);
	assert_int_equal(r.err_at, 17);
	/* Also with one data line, though it would not need copying. */
	check_bounded("data: abcdef\n\n", 14, 64, 5, &r);
	assert_int_equal(r.err, SSE_E_DATA_TOO_LARGE);
}

static void test_sse_bounds_the_event_id(void **state)
{
	char in[SSE_ID_MAX + 32];
	size_t n;
	static struct run r;

	(void)state;
	memcpy(in, "id: ", 4);
	memset(in + 4, '7', SSE_ID_MAX);
	memcpy(in + 4 + SSE_ID_MAX, "\ndata: x\n\n", 10);
	n = 4 + SSE_ID_MAX + 10;
	feed(&r, RAW_CAP, DATA_CAP, (const char *[]){ in }, &n, 1);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.b[0].last_id_len, SSE_ID_MAX);

	memcpy(in, "id: 8", 5);
	memset(in + 5, '7', SSE_ID_MAX);
	memcpy(in + 4 + SSE_ID_MAX + 1, "\ndata: x\n\n", 10);
	n = 4 + SSE_ID_MAX + 1 + 10;
	feed(&r, RAW_CAP, DATA_CAP, (const char *[]){ in }, &n, 1);
	assert_int_equal(r.err, SSE_E_ID_TOO_LONG);
}

static void test_sse_names_its_errors(void **state)
{
	(void)state;
	for (int e = 1; e < SSE_E_COUNT; e++)
		assert_string_not_equal(sse_strerror(-e), "unknown error");
	assert_string_equal(sse_strerror(SSE_E_COUNT), "unknown error");
}

/* ---- encoder ---------------------------------------------------------------- */

static struct run *read_back(const char *buf, size_t len)
{
	return check(buf, len);
}

static void test_sse_encodes_an_event(void **state)
{
	char out[128];
	size_t len;
	struct sse_out e = {
		.type = { "content_block_delta", 19 },
		.id = { "42", 2 },
		.data = { "{\"a\":1}", 7 },
		.retry = 3000, .has_retry = true,
	};

	(void)state;
	assert_int_equal(sse_encode_event(out, sizeof(out), &e, &len), 0);
	assert_span(out, len, "event: content_block_delta\nid: 42\nretry: 3000\n"
		    "data: {\"a\":1}\n\n");
}

static void test_sse_encoder_splits_data_into_lines(void **state)
{
	static const struct { const char *in, *wire, *back; } cases[] = {
		{ "a\nb", "data: a\ndata: b\n\n", "a\nb" },
		{ "a\r\nb\rc", "data: a\ndata: b\ndata: c\n\n", "a\nb\nc" },
		{ "", "data:\n\n", "" },
		{ "\n", "data:\ndata:\n\n", "\n" },
		{ " lead", "data:  lead\n\n", " lead" },
		{ "a\r", "data: a\ndata:\n\n", "a\n" },
	};
	char out[128];
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sse_out e = { .data = { cases[i].in, strlen(cases[i].in) } };
		struct run *r;

		assert_int_equal(sse_encode_event(out, sizeof(out), &e, &len), 0);
		assert_span(out, len, cases[i].wire);
		r = read_back(out, len);
		assert_int_equal(r->n, 1);
		assert_event(&r->b[0], "", cases[i].back);
	}
}

static void test_sse_encoder_round_trips_through_the_reader(void **state)
{
	static const char *const data[] = {
		"{\"choices\":[]}", "line one\nline two\n\nline four", ": not a comment",
		"data: nested", "\xef\xbb\xbf" "bom inside", "x",
	};
	static const char *const types[] = {
		NULL, "message_start", "", " spaced", "ping", "t:with:colons",
	};
	static const char *const ids[] = { NULL, "1", "", "a b", " z", "id:9" };
	char out[4096];
	size_t at = 0, len;
	struct run *r;

	(void)state;
	for (size_t i = 0; i < 6; i++) {
		struct sse_out e = {
			.data = { data[i], strlen(data[i]) },
			.type = { types[i], types[i] ? strlen(types[i]) : 0 },
			.id = { ids[i], ids[i] ? strlen(ids[i]) : 0 },
			.retry = i * 1000, .has_retry = i & 1,
		};

		assert_int_equal(sse_encode_event(out + at, sizeof(out) - at, &e,
						  &len), 0);
		at += len;
		assert_int_equal(sse_encode_comment(out + at, sizeof(out) - at,
						    "keep", 4, &len), 0);
		at += len;
	}
	r = read_back(out, at);
	assert_int_equal(r->n, 12);
	for (size_t i = 0; i < 6; i++) {
		const struct blk *b = &r->b[2 * i];

		assert_event(b, types[i] ? types[i] : "", data[i]);
		assert_int_equal(!!(b->flags & SSE_EV_TYPE), types[i] != NULL);
		assert_int_equal(!!(b->flags & SSE_EV_ID), ids[i] != NULL);
		if (ids[i])
			assert_span(b->id, b->id_len, ids[i]);
		if (i & 1)
			assert_int_equal(b->retry, i * 1000);
		assert_int_equal(r->b[2 * i + 1].kind, SSE_BLOCK);
		assert_int_equal(r->b[2 * i + 1].flags, SSE_EV_COMMENT);
	}
}

static void test_sse_encoder_reports_the_size_needed(void **state)
{
	char out[64];
	size_t len, need;
	struct sse_out e = { .type = { "delta", 5 }, .data = { "a\nb", 3 } };

	(void)state;
	assert_int_equal(sse_encode_event(out, sizeof(out), &e, &need), 0);
	assert_int_equal(need, strlen("event: delta\ndata: a\ndata: b\n\n"));
	for (size_t cap = 0; cap < need; cap++) {
		memset(out, '#', sizeof(out));
		assert_int_equal(sse_encode_event(out, cap, &e, &len), -ENOSPC);
		assert_int_equal(len, need);
		/* Never a byte past cap. */
		for (size_t i = cap; i < sizeof(out); i++)
			assert_int_equal(out[i], '#');
	}
	assert_int_equal(sse_encode_event(out, need, &e, &len), 0);
	assert_int_equal(sse_encode_comment(out, 3, "ping", 4, &len), -ENOSPC);
	assert_int_equal(len, 8);
}

static void test_sse_encoder_refuses_unencodable_fields(void **state)
{
	char out[64];
	size_t len;
	struct sse_out bad_type = { .type = { "a\nb", 3 }, .data = { "x", 1 } };
	struct sse_out bad_id = { .id = { "a\rb", 3 }, .data = { "x", 1 } };
	struct sse_out nul_id = { .id = { "a\0b", 3 }, .data = { "x", 1 } };

	(void)state;
	assert_int_equal(sse_encode_event(out, sizeof(out), &bad_type, &len), -EINVAL);
	assert_int_equal(sse_encode_event(out, sizeof(out), &bad_id, &len), -EINVAL);
	assert_int_equal(sse_encode_event(out, sizeof(out), &nul_id, &len), -EINVAL);
}

static void test_sse_encodes_comments_and_keepalives(void **state)
{
	char out[64];
	size_t len;

	(void)state;
	assert_int_equal(sse_encode_comment(out, sizeof(out), NULL, 0, &len), 0);
	assert_span(out, len, ":\n\n");
	assert_int_equal(sse_encode_comment(out, sizeof(out), "a\r\nb", 4, &len), 0);
	assert_span(out, len, ": a\n: b\n\n");
	assert_int_equal(sse_encode_event(out, sizeof(out),
					  &(struct sse_out){ .id = { "9", 1 } },
					  &len), 0);
	assert_span(out, len, "id: 9\n\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sse_dispatches_an_event_on_a_blank_line),
		cmocka_unit_test(test_sse_accepts_crlf_lf_and_cr_line_endings),
		cmocka_unit_test(test_sse_joins_a_crlf_split_across_pieces),
		cmocka_unit_test(test_sse_holds_a_final_cr_until_the_next_byte),
		cmocka_unit_test(test_sse_strips_exactly_one_leading_space),
		cmocka_unit_test(test_sse_keeps_colons_after_the_first),
		cmocka_unit_test(test_sse_ignores_comment_lines),
		cmocka_unit_test(test_sse_joins_data_lines_with_lf),
		cmocka_unit_test(test_sse_dispatches_empty_data),
		cmocka_unit_test(test_sse_does_not_dispatch_without_data),
		cmocka_unit_test(test_sse_takes_the_last_event_type),
		cmocka_unit_test(test_sse_keeps_the_last_event_id_across_events),
		cmocka_unit_test(test_sse_ignores_an_id_containing_nul),
		cmocka_unit_test(test_sse_accepts_retry_of_digits_only),
		cmocka_unit_test(test_sse_saturates_a_huge_retry),
		cmocka_unit_test(test_sse_matches_field_names_case_sensitively),
		cmocka_unit_test(test_sse_skips_a_bom_at_the_stream_start),
		cmocka_unit_test(test_sse_skips_only_one_bom),
		cmocka_unit_test(test_sse_keeps_a_partial_bom_as_content),
		cmocka_unit_test(test_sse_skips_a_bom_in_an_empty_stream),
		cmocka_unit_test(test_sse_returns_lone_blank_lines_as_blocks),
		cmocka_unit_test(test_sse_discards_an_unterminated_event_at_the_end),
		cmocka_unit_test(test_sse_passes_nul_and_utf8_bytes_in_data),
		cmocka_unit_test(test_sse_reads_an_openai_chat_completion_stream),
		cmocka_unit_test(test_sse_reads_an_anthropic_messages_stream),
		cmocka_unit_test(test_sse_reads_a_gemini_alt_sse_stream),
		cmocka_unit_test(test_sse_accepts_an_event_of_exactly_the_limit),
		cmocka_unit_test(test_sse_rejects_an_event_one_byte_over_the_limit),
		cmocka_unit_test(test_sse_bounds_each_event_not_the_stream),
		cmocka_unit_test(test_sse_rejects_an_endless_line_at_the_limit),
		cmocka_unit_test(test_sse_accepts_data_of_exactly_the_data_limit),
		cmocka_unit_test(test_sse_rejects_data_one_byte_over_the_data_limit),
		cmocka_unit_test(test_sse_bounds_the_event_id),
		cmocka_unit_test(test_sse_names_its_errors),
		cmocka_unit_test(test_sse_encodes_an_event),
		cmocka_unit_test(test_sse_encoder_splits_data_into_lines),
		cmocka_unit_test(test_sse_encoder_round_trips_through_the_reader),
		cmocka_unit_test(test_sse_encoder_reports_the_size_needed),
		cmocka_unit_test(test_sse_encoder_refuses_unencodable_fields),
		cmocka_unit_test(test_sse_encodes_comments_and_keepalives),
	};

	return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
