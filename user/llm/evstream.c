// SPDX-License-Identifier: Apache-2.0
/*
 * AWS event-stream decoder and encoder. See evstream.h for the contract
 * and docs/bedrock.md for the format (the "Event stream encoding" of the
 * AWS SDKs: aws-c-event-stream, the JS SDK's eventstream-codec).
 *
 * The decoder checks the prelude (both lengths and its CRC) as soon as its
 * 12 bytes are in, before taking a byte of the rest, so a huge or corrupt
 * length is refused without waiting for (or storing) what it announces.
 * A message that is whole in the input is parsed in place; otherwise its
 * bytes are gathered in the caller's buffer and parsed there. The same
 * parse runs on both, so the result does not depend on the splits.
 */
#include <errno.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "llm/evstream.h"

static const char *const errors[EVSTREAM_E_COUNT] = {
	[EVSTREAM_E_NONE] = "no error",
	[EVSTREAM_E_PRELUDE_CRC] = "event-stream prelude CRC mismatch",
	[EVSTREAM_E_MESSAGE_CRC] = "event-stream message CRC mismatch",
	[EVSTREAM_E_LENGTH] = "event-stream message length out of bounds",
	[EVSTREAM_E_TOO_LARGE] = "event-stream message larger than the buffer",
	[EVSTREAM_E_HEADERS_TOO_LARGE] = "event-stream headers section too large",
	[EVSTREAM_E_HEADER] = "malformed event-stream header",
	[EVSTREAM_E_TOO_MANY_HEADERS] = "too many event-stream headers",
	[EVSTREAM_E_DUP_HEADER] = "duplicate event-stream header",
	[EVSTREAM_E_TRUNCATED] = "event stream ended inside a message",
};

const char *evstream_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err >= EVSTREAM_E_COUNT || !errors[err])
		return "unknown error";
	return errors[err];
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(0, p, (uInt)n);
}

void evstream_decoder_init(struct evstream_decoder *d, void *buf, size_t cap)
{
	memset(d, 0, sizeof(*d));
	d->buf = buf;
	d->cap = buf ? cap : 0;
	if (d->cap > TG_EVSTREAM_MSG_MAX)
		d->cap = TG_EVSTREAM_MSG_MAX;
}

/*
 * Checks a prelude. Returns 0 with *total set, or -error. The CRC comes
 * first: lengths from a corrupt prelude mean nothing.
 */
static int check_prelude(const struct evstream_decoder *d, const uint8_t *p,
			 uint32_t *total)
{
	uint32_t t = get32(p), h = get32(p + 4);

	if (crc(p, 8) != get32(p + 8))
		return -EVSTREAM_E_PRELUDE_CRC;
	if (t < EVSTREAM_OVERHEAD || h > t - EVSTREAM_OVERHEAD)
		return -EVSTREAM_E_LENGTH;
	if (t > d->cap)
		return -EVSTREAM_E_TOO_LARGE;
	if (h > TG_EVSTREAM_HEADERS_BYTES_MAX)
		return -EVSTREAM_E_HEADERS_TOO_LARGE;
	*total = t;
	return 0;
}

/* Bytes of a value by type; VAR: a u16 length, then that many bytes. */
#define VAR	0xff
static const uint8_t value_len[EVSTREAM_T_COUNT] = {
	[EVSTREAM_T_TRUE] = 0, [EVSTREAM_T_FALSE] = 0, [EVSTREAM_T_BYTE] = 1,
	[EVSTREAM_T_SHORT] = 2, [EVSTREAM_T_INT] = 4, [EVSTREAM_T_LONG] = 8,
	[EVSTREAM_T_BYTES] = VAR, [EVSTREAM_T_STRING] = VAR,
	[EVSTREAM_T_TIMESTAMP] = 8, [EVSTREAM_T_UUID] = 16,
};

/* Values held as bytes (the rest as an integer). */
static bool is_bytes_type(uint8_t t)
{
	return t == EVSTREAM_T_BYTES || t == EVSTREAM_T_STRING ||
	       t == EVSTREAM_T_UUID;
}

static int64_t be_signed(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	/* Sign-extend from n bytes. */
	if (n < 8 && (p[0] & 0x80))
		v |= ~(uint64_t)0 << (8 * n);
	return (int64_t)v;
}

#define WELL_KNOWN(n, f) { n, sizeof(n) - 1, offsetof(struct evstream_msg, f) }

static const struct {
	const char *name;
	size_t len;
	size_t off;
} well_known[] = {
	WELL_KNOWN(":event-type", event_type),
	WELL_KNOWN(":message-type", message_type),
	WELL_KNOWN(":content-type", content_type),
	WELL_KNOWN(":exception-type", exception_type),
	WELL_KNOWN(":error-code", error_code),
	WELL_KNOWN(":error-message", error_message),
};

static bool span_is(struct http1_span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && !memcmp(s.p, lit, n);
}

/* Parses the headers section p[0..n) into m. */
static int parse_headers(const uint8_t *p, size_t n, struct evstream_msg *m)
{
	size_t i = 0;

	while (i < n) {
		struct evstream_header *h;
		size_t nl = p[i], vl;

		if (!nl || nl + 2 > n - i)	/* name length, name, type */
			return -EVSTREAM_E_HEADER;
		if (m->n_headers == TG_EVSTREAM_HEADERS_MAX)
			return -EVSTREAM_E_TOO_MANY_HEADERS;
		h = &m->headers[m->n_headers];
		memset(h, 0, sizeof(*h));
		h->name = (struct http1_span){ (const char *)p + i + 1, nl };
		h->type = p[i + 1 + nl];
		i += 2 + nl;
		if (h->type >= EVSTREAM_T_COUNT)
			return -EVSTREAM_E_HEADER;
		vl = value_len[h->type];
		if (vl == VAR) {
			if (2 > n - i)
				return -EVSTREAM_E_HEADER;
			vl = (size_t)p[i] << 8 | p[i + 1];
			i += 2;
		}
		if (h->type == EVSTREAM_T_TRUE)
			h->i = 1;
		if (is_bytes_type(h->type))
			h->bytes.p = (const char *)p + i;
		if (vl > n - i)
			return -EVSTREAM_E_HEADER;
		if (h->bytes.p)
			h->bytes.len = vl;
		else if (vl)
			h->i = be_signed(p + i, vl);
		i += vl;

		/* A second header of a name would let two readers of one
		 * message see different event types. */
		for (size_t j = 0; j < m->n_headers; j++)
			if (m->headers[j].name.len == nl &&
			    !memcmp(m->headers[j].name.p, h->name.p, nl))
				return -EVSTREAM_E_DUP_HEADER;
		for (size_t j = 0; nl > 1 && h->name.p[0] == ':' &&
		     j < sizeof(well_known) / sizeof(well_known[0]); j++) {
			if (nl != well_known[j].len ||
			    memcmp(h->name.p, well_known[j].name, nl))
				continue;
			if (h->type != EVSTREAM_T_STRING)
				return -EVSTREAM_E_HEADER;
			*(struct http1_span *)((char *)m + well_known[j].off) =
				h->bytes.len ? h->bytes : (struct http1_span){ "", 0 };
		}
		m->n_headers++;
	}
	return 0;
}

/* Checks the message CRC and parses a whole message p[0..total). */
static int parse_message(const uint8_t *p, uint32_t total,
			 struct evstream_msg *m)
{
	uint32_t hl = get32(p + 4);

	if (crc(p, total - 4) != get32(p + total - 4))
		return -EVSTREAM_E_MESSAGE_CRC;
	m->n_headers = 0;
	m->event_type = m->message_type = m->content_type =
		m->exception_type = m->error_code = m->error_message =
		(struct http1_span){ NULL, 0 };
	m->raw = (struct http1_span){ (const char *)p, total };
	m->payload = (struct http1_span){
		(const char *)p + EVSTREAM_PRELUDE_LEN + hl,
		total - EVSTREAM_OVERHEAD - hl,
	};
	return parse_headers(p + EVSTREAM_PRELUDE_LEN, hl, m);
}

static int fail(struct evstream_decoder *d, int err, size_t used,
		size_t *consumed)
{
	d->err = -err;
	d->offset += used;
	*consumed = used;
	return err;
}

int evstream_feed(struct evstream_decoder *d, const void *buf, size_t len,
		  size_t *consumed, struct evstream_msg *msg)
{
	const uint8_t *in = buf;
	size_t used = 0;
	int err;

	*consumed = 0;
	if (d->err)
		return -d->err;
	if (d->dispatched) {
		d->dispatched = false;
		d->have = 0;
		d->total = 0;
	}
	if (!len)
		return EVSTREAM_NEED_MORE;

	/* The fast path: a message whole in the input, parsed in place. */
	if (!d->have && len >= EVSTREAM_PRELUDE_LEN) {
		uint32_t total;

		err = check_prelude(d, in, &total);
		if (err)
			return fail(d, err, EVSTREAM_PRELUDE_LEN, consumed);
		if (len >= total) {
			err = parse_message(in, total, msg);
			if (err)
				return fail(d, err, total, consumed);
			d->n_messages++;
			d->offset += total;
			*consumed = total;
			return EVSTREAM_MESSAGE;
		}
	}

	/* Gather the prelude aside, then the message in the buffer (which
	 * the prelude check has shown to be large enough). */
	if (d->have < EVSTREAM_PRELUDE_LEN) {
		size_t n = EVSTREAM_PRELUDE_LEN - d->have;

		if (n > len)
			n = len;
		memcpy(d->pre + d->have, in, n);
		d->have += n;
		used += n;
		if (d->have < EVSTREAM_PRELUDE_LEN) {
			d->offset += used;
			*consumed = used;
			return EVSTREAM_NEED_MORE;
		}
		err = check_prelude(d, d->pre, &d->total);
		if (err)
			return fail(d, err, used, consumed);
		memcpy(d->buf, d->pre, EVSTREAM_PRELUDE_LEN);
	}
	{
		size_t n = d->total - d->have;

		if (n > len - used)
			n = len - used;
		memcpy(d->buf + d->have, in + used, n);
		d->have += n;
		used += n;
	}
	if (d->have < d->total) {
		d->offset += used;
		*consumed = used;
		return EVSTREAM_NEED_MORE;
	}
	err = parse_message(d->buf, d->total, msg);
	if (err)
		return fail(d, err, used, consumed);
	d->dispatched = true;
	d->n_messages++;
	d->offset += used;
	*consumed = used;
	return EVSTREAM_MESSAGE;
}

int evstream_end(const struct evstream_decoder *d)
{
	if (d->err)
		return -d->err;
	if (d->have && !d->dispatched)
		return -EVSTREAM_E_TRUNCATED;
	return 0;
}

const struct evstream_header *evstream_header_find(const struct evstream_msg *m,
						   const char *name)
{
	for (size_t i = 0; i < m->n_headers; i++)
		if (span_is(m->headers[i].name, name))
			return &m->headers[i];
	return NULL;
}

/* ---- encoder -------------------------------------------------------------- */

/* The encoded size of one header, or 0 when it cannot be encoded. */
static size_t header_size(const struct evstream_header *h)
{
	size_t vl;

	if (!h->name.len || h->name.len > 255 || !h->name.p ||
	    h->type >= EVSTREAM_T_COUNT)
		return 0;
	vl = value_len[h->type];
	if (vl == VAR) {
		if (h->bytes.len > 0xffff || (h->bytes.len && !h->bytes.p))
			return 0;
		vl = 2 + h->bytes.len;
	} else if (h->type == EVSTREAM_T_UUID &&
		   (h->bytes.len != 16 || !h->bytes.p)) {
		return 0;
	}
	return 2 + h->name.len + vl;
}

static uint8_t *put_header(uint8_t *p, const struct evstream_header *h)
{
	size_t vl = value_len[h->type];

	*p++ = (uint8_t)h->name.len;
	memcpy(p, h->name.p, h->name.len);
	p += h->name.len;
	*p++ = h->type;
	if (vl == VAR) {
		vl = h->bytes.len;
		*p++ = (uint8_t)(vl >> 8);
		*p++ = (uint8_t)vl;
	}
	if (is_bytes_type(h->type)) {
		if (vl)
			memcpy(p, h->bytes.p, vl);
		return p + vl;
	}
	for (size_t i = 0; i < vl; i++)
		p[i] = (uint8_t)((uint64_t)h->i >> (8 * (vl - 1 - i)));
	return p + vl;
}

int evstream_encode(void *out, size_t cap, const struct evstream_header *h,
		    size_t n, const void *payload, size_t payload_len,
		    size_t *len)
{
	uint8_t *o = out, *p;
	size_t hl = 0, total;

	*len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t s = header_size(&h[i]);

		if (!s)
			return -EINVAL;
		hl += s;
		if (hl > TG_EVSTREAM_HEADERS_BYTES_MAX)
			return -E2BIG;
	}
	if (payload_len && !payload)
		return -EINVAL;
	if (payload_len > TG_EVSTREAM_MSG_MAX)
		return -E2BIG;
	total = EVSTREAM_OVERHEAD + hl + payload_len;
	if (total > TG_EVSTREAM_MSG_MAX)
		return -E2BIG;
	*len = total;
	if (!out || total > cap)
		return -ENOSPC;
	put32(o, (uint32_t)total);
	put32(o + 4, (uint32_t)hl);
	put32(o + 8, crc(o, 8));
	p = o + EVSTREAM_PRELUDE_LEN;
	for (size_t i = 0; i < n; i++)
		p = put_header(p, &h[i]);
	if (payload_len)
		memcpy(p, payload, payload_len);
	p += payload_len;
	put32(p, crc(o, total - 4));
	return 0;
}

#define STR_HEADER(n, v) { .name = { (n), sizeof(n) - 1 }, \
	.type = EVSTREAM_T_STRING, .bytes = { (v), strlen(v) } }

int evstream_encode_event(void *out, size_t cap, const char *type,
			  const void *json, size_t json_len, size_t *len)
{
	const struct evstream_header h[3] = {
		STR_HEADER(":event-type", type),
		STR_HEADER(":content-type", "application/json"),
		STR_HEADER(":message-type", "event"),
	};

	return evstream_encode(out, cap, h, 3, json, json_len, len);
}

/* ---- Bedrock usage -------------------------------------------------------- */

static int count(json_t *usage, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(usage, key);

	if (!v)
		return -ENOENT;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/*
 * Off the hot path: once per response, at its end. jansson rejects
 * duplicate keys with JSON_REJECT_DUPLICATES, so a second "usage" cannot
 * make the gateway and the client read different counts.
 */
int evstream_bedrock_usage_json(const char *json, size_t n, uint64_t *in,
				uint64_t *out)
{
	json_t *root, *usage;
	uint64_t a, b;
	int err;

	root = json_loadb(json, n, JSON_REJECT_DUPLICATES, NULL);
	if (!root)
		return -EINVAL;
	if (!json_is_object(root)) {
		err = -EINVAL;
		goto out_decref;
	}
	usage = json_object_get(root, "usage");
	if (!usage) {
		err = -ENOENT;
		goto out_decref;
	}
	if (!json_is_object(usage)) {
		err = -EINVAL;
		goto out_decref;
	}
	err = count(usage, "inputTokens", &a);
	if (!err)
		err = count(usage, "outputTokens", &b);
	if (err == -ENOENT)
		err = -EINVAL;	/* a usage object without its counts */
	if (!err) {
		*in = a;
		*out = b;
	}
out_decref:
	json_decref(root);
	return err;
}

int evstream_bedrock_usage(const struct evstream_msg *m, uint64_t *in,
			   uint64_t *out)
{
	if (!span_is(m->event_type, "metadata") ||
	    (m->message_type.p && !span_is(m->message_type, "event")))
		return -ENOENT;
	return evstream_bedrock_usage_json(m->payload.p, m->payload.len, in, out);
}
