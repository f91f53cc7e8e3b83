// SPDX-License-Identifier: Apache-2.0
/*
 * Server-sent events reader and encoder. See sse.h for the contract and
 * docs/http.md ("Server-sent events") for the rules, with the sections of
 * the WHATWG HTML standard they come from.
 *
 * The reader copies each byte of the current block into the raw buffer as
 * it consumes it and parses a line once its terminator is seen; every
 * result is an offset into that buffer, so nothing depends on where the
 * input was split. Lines are found with memchr (LF, then CR before it).
 */
#include <errno.h>
#include <string.h>

#include "http/sse.h"

enum {
	ST_BOM = 0,		/* at the stream start: a UTF-8 BOM is skipped */
	ST_LINES,
	ST_HOLD,		/* a blank line ended in CR at the input's end */
	ST_DISPATCHED,		/* a block was returned; reset on the next call */
	ST_ERROR,
};

static const uint8_t bom_bytes[3] = { 0xef, 0xbb, 0xbf };

static const char *const errors[SSE_E_COUNT] = {
	[SSE_E_NONE] = "no error",
	[SSE_E_EVENT_TOO_LARGE] = "event larger than the event buffer",
	[SSE_E_DATA_TOO_LARGE] = "event data larger than the data buffer",
	[SSE_E_ID_TOO_LONG] = "event id longer than the id limit",
	[SSE_E_TRUNCATED] = "stream ended inside an event",
};

const char *sse_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err >= SSE_E_COUNT || !errors[err])
		return "unknown error";
	return errors[err];
}

static void block_reset(struct sse_reader *r)
{
	r->len = 0;
	r->line = 0;
	r->data_len = 0;
	r->d1_off = r->d1_len = 0;
	r->type_off = r->type_len = 0;
	r->id_off = r->id_len = 0;
	r->n_data = 0;
	r->flags = 0;
	r->state = ST_LINES;
}

void sse_reader_init(struct sse_reader *r, char *raw, size_t raw_cap,
		     char *data, size_t data_cap)
{
	memset(r, 0, sizeof(*r));
	r->raw = raw;
	r->raw_cap = raw ? raw_cap : 0;
	r->data = data;
	r->data_cap = data ? data_cap : 0;
	block_reset(r);
	r->state = ST_BOM;
}

static int fail(struct sse_reader *r, int err, size_t i, size_t *consumed)
{
	r->state = ST_ERROR;
	r->err = err;
	*consumed = i;
	return -err;
}

/* Appends n bytes to the block; false when they do not fit. */
static bool append(struct sse_reader *r, const void *p, size_t n)
{
	if (n > r->raw_cap - r->len)
		return false;
	if (n)
		memcpy(r->raw + r->len, p, n);
	r->len += n;
	return true;
}

static int dispatch(struct sse_reader *r, struct sse_event *ev)
{
	ev->raw = (struct http1_span){ r->raw, r->len };
	ev->type = (struct http1_span){ r->raw + r->type_off, r->type_len };
	ev->id = (struct http1_span){ r->raw + r->id_off, r->id_len };
	if (!r->n_data)
		ev->data = (struct http1_span){ NULL, 0 };
	else if (r->n_data == 1)
		ev->data = (struct http1_span){ r->raw + r->d1_off, r->d1_len };
	else
		ev->data = (struct http1_span){ r->data, r->data_len };
	ev->last_id = (struct http1_span){ r->last_id, r->last_id_len };
	ev->retry = r->retry;
	ev->n_data = r->n_data;
	ev->flags = r->flags;
	r->state = ST_DISPATCHED;
	if (!r->n_data)
		return SSE_BLOCK;
	r->n_events++;
	return SSE_EVENT;
}

/*
 * One complete, non-empty line at raw[s..e) (terminator excluded),
 * "Interpreting an event stream": a line starting with ':' is a comment;
 * otherwise the field name runs to the first ':' (or the whole line, with
 * an empty value), and one space after the colon is removed from the value.
 * Names are matched case-sensitively; unknown fields are ignored.
 */
static int field(struct sse_reader *r, size_t s, size_t e)
{
	const char *l = r->raw + s, *colon, *val;
	size_t n = e - s, name, v, vl, vo;

	if (l[0] == ':') {
		r->flags |= SSE_EV_COMMENT;
		return 0;
	}
	colon = memchr(l, ':', n);
	name = colon ? (size_t)(colon - l) : n;
	v = colon ? name + 1 : n;
	if (v < n && l[v] == ' ')
		v++;
	val = l + v;
	vl = n - v;
	vo = s + v;

	if (name == 4 && !memcmp(l, "data", 4)) {
		/* Append the value and an LF to the data buffer; the final LF
		 * is removed at dispatch, so we count it only between lines. */
		size_t joined = r->n_data ? r->data_len + 1 + vl : vl;

		if (joined > r->data_cap)
			return SSE_E_DATA_TOO_LARGE;
		if (!r->n_data) {
			r->d1_off = vo;
			r->d1_len = vl;
		} else {
			if (r->n_data == 1)
				memcpy(r->data, r->raw + r->d1_off, r->d1_len);
			r->data[r->data_len] = '\n';
			if (vl)
				memcpy(r->data + r->data_len + 1, val, vl);
		}
		r->data_len = joined;
		r->n_data++;
	} else if (name == 5 && !memcmp(l, "event", 5)) {
		r->type_off = vo;
		r->type_len = vl;
		r->flags |= SSE_EV_TYPE;
	} else if (name == 2 && !memcmp(l, "id", 2)) {
		/* "If the field value does not contain U+0000 NULL, then set
		 * the last event ID buffer to the field value." */
		if (memchr(val, '\0', vl))
			return 0;
		if (vl > SSE_ID_MAX)
			return SSE_E_ID_TOO_LONG;
		if (vl)
			memcpy(r->last_id, val, vl);
		r->last_id_len = vl;
		r->id_off = vo;
		r->id_len = vl;
		r->flags |= SSE_EV_ID;
	} else if (name == 5 && !memcmp(l, "retry", 5)) {
		/* "If the field value consists of only ASCII digits" (and is
		 * not empty); saturates rather than wrapping. */
		uint64_t ms = 0;

		if (!vl)
			return 0;
		for (size_t i = 0; i < vl; i++) {
			unsigned d = (unsigned)(uint8_t)val[i] - '0';

			if (d > 9)
				return 0;
			ms = ms > (UINT64_MAX - d) / 10 ? UINT64_MAX : ms * 10 + d;
		}
		r->retry = ms;
		r->has_retry = true;
		r->flags |= SSE_EV_RETRY;
	}
	return 0;
}

int sse_read(struct sse_reader *r, const char *buf, size_t len,
	     size_t *consumed, struct sse_event *ev)
{
	size_t i = 0;

	if (r->state == ST_ERROR) {
		*consumed = 0;
		return -r->err;
	}
	if (r->state == ST_DISPATCHED)
		block_reset(r);

	if (r->state == ST_BOM) {
		/* The stream is decoded as UTF-8 with one leading BOM skipped
		 * ("Parsing an event stream"), possibly split across pieces. */
		while (i < len && r->bom < 3 && (uint8_t)buf[i] == bom_bytes[r->bom]) {
			r->bom++;
			i++;
		}
		if (r->bom < 3 && i == len) {
			*consumed = len;
			return SSE_NEED_MORE;
		}
		r->state = ST_LINES;
		/* Not a BOM after all: the bytes matched were content. */
		if (r->bom < 3 && !append(r, bom_bytes, r->bom))
			return fail(r, SSE_E_EVENT_TOO_LARGE, i, consumed);
	}

	if (r->state == ST_HOLD) {
		if (i == len) {
			*consumed = i;
			return SSE_NEED_MORE;
		}
		r->after_cr = false;
		if (buf[i] == '\n') {
			if (!append(r, "\n", 1))
				return fail(r, SSE_E_EVENT_TOO_LARGE, i, consumed);
			i++;
		}
		*consumed = i;
		return dispatch(r, ev);
	}

	while (i < len) {
		const char *lf, *cr;
		size_t e, s;
		char t;
		int err;

		/* A CR followed by LF is one line terminator (CRLF). */
		if (r->after_cr) {
			r->after_cr = false;
			if (buf[i] == '\n') {
				if (!append(r, "\n", 1))
					return fail(r, SSE_E_EVENT_TOO_LARGE, i,
						    consumed);
				i++;
				r->line = r->len;
				continue;
			}
		}
		lf = memchr(buf + i, '\n', len - i);
		e = lf ? (size_t)(lf - buf) : len;
		cr = memchr(buf + i, '\r', e - i);
		if (cr)
			e = (size_t)(cr - buf);
		if (!append(r, buf + i, e - i))
			return fail(r, SSE_E_EVENT_TOO_LARGE,
				    i + (r->raw_cap - r->len), consumed);
		i = e;
		if (e == len)
			break;
		t = buf[e];
		if (!append(r, &t, 1))
			return fail(r, SSE_E_EVENT_TOO_LARGE, e, consumed);
		i = e + 1;
		s = r->line;
		r->line = r->len;
		if (t == '\r')
			r->after_cr = true;
		if (r->len - 1 == s) {
			/* A blank line: dispatch ("If the line is empty"). */
			if (t == '\r') {
				if (i == len) {
					r->state = ST_HOLD;
					*consumed = len;
					return SSE_NEED_MORE;
				}
				r->after_cr = false;
				if (buf[i] == '\n') {
					if (!append(r, "\n", 1))
						return fail(r, SSE_E_EVENT_TOO_LARGE,
							    i, consumed);
					i++;
				}
			}
			*consumed = i;
			return dispatch(r, ev);
		}
		err = field(r, s, r->len - 1);
		if (err)
			return fail(r, err, e, consumed);
	}
	*consumed = len;
	return SSE_NEED_MORE;
}

int sse_reader_end(struct sse_reader *r, struct sse_event *ev)
{
	switch (r->state) {
	case ST_ERROR:
		return -r->err;
	case ST_HOLD:
		r->after_cr = false;
		return dispatch(r, ev);
	case ST_DISPATCHED:
		block_reset(r);
		return SSE_NEED_MORE;
	case ST_BOM:
		if (!r->bom)
			return SSE_NEED_MORE;
		break;
	default:
		if (!r->len)
			return SSE_NEED_MORE;
		break;
	}
	r->state = ST_ERROR;
	r->err = SSE_E_TRUNCATED;
	return -SSE_E_TRUNCATED;
}

/* ---- encoder -------------------------------------------------------------- */

struct out {
	char *p;
	size_t cap;
	size_t n;		/* bytes needed so far (written while they fit) */
};

static void put(struct out *o, const void *s, size_t n)
{
	if (n && o->n + n <= o->cap)
		memcpy(o->p + o->n, s, n);
	o->n += n;
}

/* name ":" [" " value] LF: the space keeps a value that starts with a
 * space intact, since the reader removes exactly one. */
static void put_field(struct out *o, const char *name, size_t nl,
		      const char *v, size_t vl)
{
	put(o, name, nl);
	put(o, ":", 1);
	if (vl) {
		put(o, " ", 1);
		put(o, v, vl);
	}
	put(o, "\n", 1);
}

/* One `name` line per line of text, split where the reader would split. */
static void put_lines(struct out *o, const char *name, size_t nl,
		      const char *t, size_t n)
{
	size_t i = 0;

	for (;;) {
		size_t e = i;

		while (e < n && t[e] != '\r' && t[e] != '\n')
			e++;
		put_field(o, name, nl, t + i, e - i);
		if (e == n)
			return;
		if (t[e] == '\r' && e + 1 < n && t[e + 1] == '\n')
			e++;
		i = e + 1;
	}
}

static int finish(struct out *o, size_t *len)
{
	*len = o->n;
	return o->n > o->cap ? -ENOSPC : 0;
}

static bool has_line_break(struct http1_span s)
{
	return s.len && (memchr(s.p, '\r', s.len) || memchr(s.p, '\n', s.len));
}

int sse_encode_event(char *out, size_t cap, const struct sse_out *e,
		     size_t *len)
{
	struct out o = { out, cap, 0 };

	*len = 0;
	if ((e->type.p && has_line_break(e->type)) ||
	    (e->id.p && (has_line_break(e->id) ||
			 (e->id.len && memchr(e->id.p, '\0', e->id.len)))))
		return -EINVAL;
	if (e->type.p)
		put_field(&o, "event", 5, e->type.p, e->type.len);
	if (e->id.p)
		put_field(&o, "id", 2, e->id.p, e->id.len);
	if (e->has_retry) {
		char d[20];
		size_t k = sizeof(d);
		uint64_t v = e->retry;

		do {
			d[--k] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		put_field(&o, "retry", 5, d + k, sizeof(d) - k);
	}
	if (e->data.p)
		put_lines(&o, "data", 4, e->data.p, e->data.len);
	put(&o, "\n", 1);
	return finish(&o, len);
}

int sse_encode_comment(char *out, size_t cap, const char *text, size_t n,
		       size_t *len)
{
	struct out o = { out, cap, 0 };

	put_lines(&o, "", 0, text, n);
	put(&o, "\n", 1);
	return finish(&o, len);
}
