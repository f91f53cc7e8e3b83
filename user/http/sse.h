/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server-sent events (WHATWG HTML, "Server-sent events", §9.2.6 "Interpreting
 * an event stream" and §9.2.5 "Parsing an event stream"): a resumable reader
 * that yields one block (event) at a time, and an encoder.
 *
 * Nothing here allocates. The caller gives the reader two buffers: `raw`,
 * which holds the bytes of the block being read exactly as received (its
 * size bounds a block on the wire), and `data`, where the data lines of a
 * multi-line event are joined (its size bounds an event's data). Only the
 * current block is held, never the stream. A block larger than a bound is
 * an error, never truncated.
 *
 * Feeding: pass only bytes not consumed before, in whatever pieces they
 * arrive (like http1_chunked_next()). Results are spans into the reader's
 * buffers, valid until the next call. See docs/http.md.
 */
#ifndef TOLLGATE_SSE_H
#define TOLLGATE_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http1.h"

/* The longest event id the reader remembers as the last event id (an id
 * field longer than this is SSE_E_ID_TOO_LONG). */
#define SSE_ID_MAX	256

enum sse_result {
	SSE_NEED_MORE = 0,	/* all of the input consumed, no block complete */
	SSE_EVENT,		/* a block that dispatches an event (has data) */
	SSE_BLOCK,		/* a block that dispatches nothing: comments,
				 * id/retry only, data-less fields, blank line */
};

/* Errors (returned negated). */
enum sse_error {
	SSE_E_NONE = 0,
	SSE_E_EVENT_TOO_LARGE,	/* a block's raw bytes exceed the raw buffer */
	SSE_E_DATA_TOO_LARGE,	/* joined data exceeds the data buffer */
	SSE_E_ID_TOO_LONG,	/* an id field longer than SSE_ID_MAX */
	SSE_E_TRUNCATED,	/* sse_reader_end(): the stream ended mid-block */
	SSE_E_COUNT,
};

const char *sse_strerror(int err);

/* sse_event.flags */
#define SSE_EV_TYPE	0x01u	/* an event field was seen (.type) */
#define SSE_EV_ID	0x02u	/* an id field was seen and taken (.id) */
#define SSE_EV_RETRY	0x04u	/* a valid retry field was seen (.retry) */
#define SSE_EV_COMMENT	0x08u	/* the block has comment lines */

struct sse_event {
	/* The block as received: its lines and the blank line that ended it,
	 * line terminators as they were (a leading BOM is not included). The
	 * concatenation of every block's raw is the stream minus the BOM and
	 * minus an unterminated tail. */
	struct http1_span raw;
	/* The last event field's value; empty means "message". */
	struct http1_span type;
	/* The data lines' values joined with LF (no final LF); in raw when
	 * the block has one data line, else in the data buffer. */
	struct http1_span data;
	/* This block's last id field taken (with SSE_EV_ID; an id value
	 * containing NUL is ignored, as the spec says). */
	struct http1_span id;
	/* The last event id buffer after this block (the event's lastEventId):
	 * persists across blocks until an id field changes it. Points into the
	 * reader. */
	struct http1_span last_id;
	uint64_t retry;		/* with SSE_EV_RETRY: milliseconds */
	uint32_t n_data;	/* data lines; > 0 exactly for SSE_EVENT */
	uint32_t flags;		/* SSE_EV_* */
};

struct sse_reader {
	/* Configuration, from sse_reader_init(). */
	char *raw;		/* borrowed */
	size_t raw_cap;
	char *data;		/* borrowed */
	size_t data_cap;

	/* Results */
	uint64_t retry;		/* reconnection time from the last valid retry */
	bool has_retry;
	uint64_t n_events;	/* SSE_EVENT results so far */
	int err;		/* enum sse_error of the failure */

	/* private */
	char last_id[SSE_ID_MAX];
	size_t last_id_len;
	size_t len;		/* raw bytes held */
	size_t line;		/* offset in raw of the line being read */
	size_t data_len;	/* joined data length, no final LF */
	size_t d1_off, d1_len;	/* the first data line's value in raw */
	size_t type_off, type_len;
	size_t id_off, id_len;
	uint32_t n_data;
	uint32_t flags;
	uint8_t state;
	uint8_t bom;		/* BOM bytes matched at the stream start */
	bool after_cr;		/* the last byte was a line-ending CR */
};

/*
 * `raw` (borrowed, raw_cap bytes) receives each block's bytes: a block of
 * exactly raw_cap bytes is accepted, one more is SSE_E_EVENT_TOO_LARGE.
 * `data` (borrowed, data_cap bytes) receives the joined data of events
 * with more than one data line; joined data longer than data_cap is
 * SSE_E_DATA_TOO_LARGE whether or not it had to be copied. data_cap ≤
 * raw_cap always suffices for anything raw_cap admits.
 */
void sse_reader_init(struct sse_reader *r, char *raw, size_t raw_cap,
		     char *data, size_t data_cap);

/*
 * Reads from buf[0..len) (bytes not consumed before). Sets *consumed to the
 * bytes used and returns SSE_EVENT or SSE_BLOCK with *ev filled (call again
 * with the rest), SSE_NEED_MORE having consumed everything, or
 * -enum sse_error (r->err set, *consumed where in buf it was found; every
 * later call fails the same). *ev is only written for EVENT and BLOCK, and
 * its spans are valid until the next call on r.
 *
 * A blank line ending in CR at the very end of buf is held until the next
 * byte shows whether an LF follows (it belongs to the block's raw bytes),
 * so raw is exact and the same however the stream was split; a stream
 * that ends there is completed by sse_reader_end().
 */
int sse_read(struct sse_reader *r, const char *buf, size_t len,
	     size_t *consumed, struct sse_event *ev);

/*
 * The stream ended. Returns SSE_EVENT or SSE_BLOCK for a block held on its
 * final CR (see above), SSE_NEED_MORE (0) when nothing was pending, or
 * -SSE_E_TRUNCATED when an unterminated block was discarded (the spec
 * discards it; a relay should not forward it). Errors stay as they were.
 */
int sse_reader_end(struct sse_reader *r, struct sse_event *ev);

/* ---- encoder -------------------------------------------------------------- */

struct sse_out {
	struct http1_span type;	/* p NULL: no event line */
	struct http1_span id;	/* p NULL: no id line */
	/* p NULL: no data lines (the block dispatches nothing). Otherwise one
	 * data line per line of data: CRLF, CR and LF all split, as the reader
	 * would split them, so the reader gives the data back with LF. */
	struct http1_span data;
	uint64_t retry;
	bool has_retry;
};

/*
 * Encodes a block (LF line endings, ending in a blank line) into
 * out[0..cap). Returns 0 with *len the bytes written; -ENOSPC with *len the
 * bytes needed (out unchanged or partly written); -EINVAL when type or id
 * holds CR or LF, or id holds NUL (they cannot be encoded).
 */
int sse_encode_event(char *out, size_t cap, const struct sse_out *e,
		     size_t *len);

/*
 * Encodes a comment block (a keepalive): ":" then " text" for each line of
 * text (CRLF, CR, LF split), then a blank line; with n 0 just ":\n\n".
 * Returns as sse_encode_event() (never -EINVAL).
 */
int sse_encode_comment(char *out, size_t cap, const char *text, size_t n,
		       size_t *len);

#endif /* TOLLGATE_SSE_H */
