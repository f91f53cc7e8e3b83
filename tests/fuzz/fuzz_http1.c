// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the HTTP/1.1 head parser (as a request and as a
 * response) and the chunked decoder on arbitrary bytes. Whatever the input,
 * parsing it whole, split in two at a fuzzer-chosen point (each piece in
 * its own allocation, so spans must follow the bytes) and fed one byte more
 * at a time must give the same result; spans must stay inside the input.
 *
 * Input: byte 0 picks flags and limits, bytes 1-2 the split point, the rest
 * is the message.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http1.h"

#define NHDR 32

struct res {
	long rc;
	int err;
	struct http1_message m;
	struct http1_header h[NHDR];
	const char *base;
};

static void check_span(const struct res *r, struct http1_span s, size_t len)
{
	if (!s.p)
		return;
	if (s.p < r->base || (size_t)(s.p - r->base) > len ||
	    s.len > len - (size_t)(s.p - r->base))
		abort();
}

static long offset(const struct res *r, struct http1_span s)
{
	return s.p ? (long)(s.p - r->base) : -1;
}

static void same_span(const struct res *a, struct http1_span x,
		      const struct res *b, struct http1_span y)
{
	if (offset(a, x) != offset(b, y) || x.len != y.len)
		abort();
}

static void same(const struct res *a, const struct res *b)
{
	if (a->rc != b->rc || a->err != b->err)
		abort();
	if (a->rc <= 0)
		return;
	same_span(a, a->m.method, b, b->m.method);
	same_span(a, a->m.target, b, b->m.target);
	same_span(a, a->m.reason, b, b->m.reason);
	same_span(a, a->m.host, b, b->m.host);
	same_span(a, a->m.upgrade, b, b->m.upgrade);
	if (a->m.status != b->m.status || a->m.flags != b->m.flags ||
	    a->m.body != b->m.body || a->m.content_length != b->m.content_length ||
	    a->m.version_minor != b->m.version_minor ||
	    a->m.method_id != b->m.method_id ||
	    a->m.target_form != b->m.target_form ||
	    a->m.n_headers != b->m.n_headers || a->m.head_len != b->m.head_len ||
	    a->m.n_conn_tokens != b->m.n_conn_tokens)
		abort();
	for (size_t i = 0; i < a->m.n_headers; i++) {
		same_span(a, a->h[i].name, b, b->h[i].name);
		same_span(a, a->h[i].value, b, b->h[i].value);
		if (a->h[i].id != b->h[i].id || a->h[i].flags != b->h[i].flags)
			abort();
	}
	for (uint32_t i = 0; i < a->m.n_conn_tokens; i++)
		same_span(a, a->m.conn_tokens[i], b, b->m.conn_tokens[i]);
}

static void keep(struct res *r, const struct http1_parser *p, long rc,
		 const char *base, size_t len)
{
	r->rc = rc;
	r->err = rc < 0 ? p->err : 0;
	r->m = p->msg;
	r->base = base;
	if (rc > 0) {
		if ((size_t)rc > len || (size_t)rc != p->msg.head_len ||
		    p->msg.n_headers > NHDR)
			abort();
		check_span(r, r->m.method, len);
		check_span(r, r->m.target, len);
		check_span(r, r->m.reason, len);
		check_span(r, r->m.host, len);
		for (size_t i = 0; i < r->m.n_headers; i++) {
			const struct http1_header *h = &r->h[i];

			check_span(r, h->name, len);
			check_span(r, h->value, len);
			if (!h->name.len || memchr(h->value.p, '\n', h->value.len) ||
			    memchr(h->value.p, '\r', h->value.len))
				abort();
		}
	}
	if (rc < 0 && (http1_error_status(p->err) < 400 ||
		       !http1_strerror(p->err)[0]))
		abort();
}

static void heads(uint32_t flags, size_t head_max, const char *in, size_t len,
		  size_t cut)
{
	static struct res whole, split, bytes;
	struct http1_parser p;
	char *prefix;
	long rc;

	http1_parser_init(&p, flags, whole.h, NHDR, head_max);
	rc = http1_parse(&p, in, len);
	keep(&whole, &p, rc, in, len);

	prefix = malloc(cut ? cut : 1);
	if (!prefix)
		return;
	memcpy(prefix, in, cut);
	http1_parser_init(&p, flags, split.h, NHDR, head_max);
	rc = http1_parse(&p, prefix, cut);
	if (rc != 0) {
		/* Finished or failed within the prefix: the same outcome. */
		if (rc != whole.rc || (rc > 0 && (size_t)rc > cut))
			abort();
		free(prefix);
	} else {
		free(prefix);
		rc = http1_parse(&p, in, len);
		keep(&split, &p, rc, in, len);
		same(&whole, &split);
	}

	if (len <= 2048) {
		http1_parser_init(&p, flags, bytes.h, NHDR, head_max);
		rc = 0;
		for (size_t k = 1; k <= len && rc == 0; k++)
			rc = http1_parse(&p, in, k);
		keep(&bytes, &p, rc, in, len);
		if (len)
			same(&whole, &bytes);
	}
}

struct dec {
	int rc;
	int err;
	size_t consumed;
	uint64_t hash;
	size_t n;
	size_t n_trailers;
};

static void feed(struct http1_chunked *c, const char *buf, size_t len,
		 size_t base, struct dec *d)
{
	size_t pos = 0;

	while (d->rc == HTTP1_CHUNKED_NEED_MORE || d->rc == HTTP1_CHUNKED_DATA) {
		struct http1_span s = { 0 };
		size_t used = 0;
		int rc = http1_chunked_next(c, buf + pos, len - pos, &used, &s);

		if (used > len - pos)
			abort();
		d->rc = rc;
		if (rc == HTTP1_CHUNKED_DATA) {
			if (s.p < buf + pos || s.p + s.len != buf + pos + used)
				abort();
			for (size_t i = 0; i < s.len; i++)
				d->hash = (d->hash ^ (uint8_t)s.p[i]) * 0x100000001b3ull;
			d->n += s.len;
		}
		pos += used;
		if (rc < 0) {
			d->err = c->err;
			return;
		}
		if (rc == HTTP1_CHUNKED_DONE) {
			d->consumed = base + pos;
			d->n_trailers = c->trailers.msg.n_headers;
			return;
		}
		if (rc == HTTP1_CHUNKED_NEED_MORE) {
			if (pos != len)
				abort();
			return;
		}
	}
}

static void decode(const char *in, size_t len, size_t cut, size_t ext_max,
		   size_t tcap, struct dec *d)
{
	static char tbuf[1024];
	static struct http1_header tr[8];
	struct http1_chunked c;

	memset(d, 0, sizeof(*d));
	d->hash = 0xcbf29ce484222325ull;
	http1_chunked_init(&c, ext_max, tcap ? tbuf : NULL, tcap, tr, 8);
	if (cut) {
		char *a = malloc(cut);

		if (!a)
			abort();
		memcpy(a, in, cut);
		feed(&c, a, cut, 0, d);
		free(a);
	}
	if (d->rc == HTTP1_CHUNKED_NEED_MORE || d->rc == HTTP1_CHUNKED_DATA)
		feed(&c, in + cut, len - cut, cut, d);
	if (d->rc == HTTP1_CHUNKED_DONE && c.total != d->n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dec whole, split;
	size_t len, cut, head_max, ext_max, tcap;
	uint32_t extra = 0;
	char *in;

	if (size < 3)
		return 0;
	len = size - 3;
	cut = ((size_t)data[1] << 8 | data[2]) % (len + 1);
	if (data[0] & 1)
		extra |= HTTP1_F_ALLOW_ABSOLUTE;
	if (data[0] & 2)
		extra |= HTTP1_F_HEAD_RESPONSE;
	head_max = (data[0] & 4) ? 64 + (data[0] >> 3) * 8 : 65536;
	ext_max = (data[0] >> 3) & 7 ? 16 : 1024;
	tcap = (data[0] & 0x40) ? 0 : (data[0] & 0x80) ? 24 : 1024;

	/* An exact-size copy: ASan catches any read past the input. */
	in = malloc(len ? len : 1);
	if (!in)
		return 0;
	memcpy(in, data + 3, len);

	heads(HTTP1_F_REQUEST | extra, head_max, in, len, cut);
	heads(extra, head_max, in, len, cut);

	decode(in, len, 0, ext_max, tcap, &whole);
	decode(in, len, cut, ext_max, tcap, &split);
	if (whole.rc != split.rc || whole.err != split.err ||
	    whole.n != split.n || whole.hash != split.hash ||
	    whole.n_trailers != split.n_trailers ||
	    (whole.rc == HTTP1_CHUNKED_DONE && whole.consumed != split.consumed))
		abort();

	free(in);
	return 0;
}
