/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AWS event-stream framing (application/vnd.amazon.eventstream), in
 * which Bedrock's ConverseStream answers: a resumable decoder that yields
 * one message at a time whatever the input's splits, and an encoder.
 *
 * A message (all integers big-endian; see docs/bedrock.md):
 *
 *   total length u32 | headers length u32 | prelude CRC32 u32
 *   headers (headers length bytes) | payload | message CRC32 u32
 *
 * The prelude CRC covers the first 8 bytes, the message CRC everything
 * before it (prelude CRC included); CRC-32 is zlib's (IEEE 802.3). A
 * header is: name length u8 (≥ 1), name, value type u8, value:
 *   0 true, 1 false (no value), 2 byte (i8), 3 short (i16), 4 int (i32),
 *   5 long (i64), 6 bytes (u16 length + bytes), 7 string (u16 length +
 *   UTF-8), 8 timestamp (i64 ms since the epoch), 9 uuid (16 bytes).
 *
 * The decoder is strict: a bad CRC, a length out of bounds (below 16,
 * headers longer than the message, a message longer than the caller's
 * buffer or TG_EVSTREAM_MSG_MAX), a header that overruns its section, an
 * unknown type, a duplicate header name, more than TG_EVSTREAM_HEADERS_MAX
 * headers: each is an error, and errors stick. The lengths are checked
 * before any byte of the body is taken, and nothing is allocated.
 *
 * Nothing here allocates. A message that arrives whole in one input is
 * parsed where it is (its spans point into the caller's input); one split
 * across inputs is gathered in the caller's buffer first (its size bounds
 * a message). Either way the spans are valid until the next call, and
 * only while the caller's input is unchanged.
 */
#ifndef TOLLGATE_EVSTREAM_H
#define TOLLGATE_EVSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http1.h"
#include "tollgate/limits.h"

/* Prelude (12) + message CRC (4): the smallest message. */
#define EVSTREAM_PRELUDE_LEN	12
#define EVSTREAM_OVERHEAD	16

enum evstream_result {
	EVSTREAM_NEED_MORE = 0,	/* all of the input consumed, no message yet */
	EVSTREAM_MESSAGE,	/* *msg filled; call again with the rest */
};

/* Errors (returned negated; "ERROR" of the protocol). */
enum evstream_error {
	EVSTREAM_E_NONE = 0,
	EVSTREAM_E_PRELUDE_CRC,		/* prelude CRC mismatch */
	EVSTREAM_E_MESSAGE_CRC,		/* message CRC mismatch */
	EVSTREAM_E_LENGTH,		/* total < 16, or headers > total - 16 */
	EVSTREAM_E_TOO_LARGE,		/* total > the decoder's bound */
	EVSTREAM_E_HEADERS_TOO_LARGE,	/* headers > TG_EVSTREAM_HEADERS_BYTES_MAX */
	EVSTREAM_E_HEADER,		/* a header overruns, empty name, bad type,
					 * a well-known ':' header not a string */
	EVSTREAM_E_TOO_MANY_HEADERS,	/* > TG_EVSTREAM_HEADERS_MAX */
	EVSTREAM_E_DUP_HEADER,		/* the same name twice */
	EVSTREAM_E_TRUNCATED,		/* evstream_end(): stream ended mid-message */
	EVSTREAM_E_COUNT,
};

const char *evstream_strerror(int err);

enum evstream_type {
	EVSTREAM_T_TRUE = 0,
	EVSTREAM_T_FALSE,
	EVSTREAM_T_BYTE,
	EVSTREAM_T_SHORT,
	EVSTREAM_T_INT,
	EVSTREAM_T_LONG,
	EVSTREAM_T_BYTES,
	EVSTREAM_T_STRING,
	EVSTREAM_T_TIMESTAMP,
	EVSTREAM_T_UUID,
	EVSTREAM_T_COUNT,
};

struct evstream_header {
	struct http1_span name;
	uint8_t type;		/* enum evstream_type */
	/* TRUE/FALSE: 1/0; BYTE, SHORT, INT, LONG: the value, sign-extended;
	 * TIMESTAMP: milliseconds since the epoch. */
	int64_t i;
	/* BYTES, STRING: the bytes; UUID: its 16 bytes. */
	struct http1_span bytes;
};

struct evstream_msg {
	struct http1_span raw;		/* the whole message, prelude to CRC */
	struct http1_span payload;
	struct evstream_header headers[TG_EVSTREAM_HEADERS_MAX];
	size_t n_headers;
	/* The well-known string headers; p NULL when absent. */
	struct http1_span event_type;		/* :event-type */
	struct http1_span message_type;		/* :message-type */
	struct http1_span content_type;		/* :content-type */
	struct http1_span exception_type;	/* :exception-type */
	struct http1_span error_code;		/* :error-code */
	struct http1_span error_message;	/* :error-message */
};

struct evstream_decoder {
	/* Configuration, from evstream_decoder_init(). */
	uint8_t *buf;		/* borrowed */
	size_t cap;		/* the largest message accepted */

	/* Results */
	uint64_t n_messages;
	uint64_t offset;	/* stream bytes consumed so far */
	int err;		/* enum evstream_error of the failure */

	/* private */
	uint8_t pre[EVSTREAM_PRELUDE_LEN];	/* the prelude being gathered */
	size_t have;		/* bytes of the current message held */
	uint32_t total;		/* its total length, once the prelude is in */
	bool dispatched;	/* buf holds the last message returned */
};

/*
 * `buf` (borrowed, cap bytes) gathers messages split across inputs; the
 * largest message accepted is min(cap, TG_EVSTREAM_MSG_MAX), whole or
 * split (a cap below 16 accepts nothing). TG_BEDROCK_EVENT_MAX suits a
 * Bedrock stream.
 */
void evstream_decoder_init(struct evstream_decoder *d, void *buf, size_t cap);

/*
 * Reads from buf[0..len) (bytes not consumed before). Returns
 * EVSTREAM_MESSAGE with *consumed the bytes used and *msg filled,
 * EVSTREAM_NEED_MORE having consumed all of it, or -enum evstream_error
 * (d->err set; *consumed is where in buf the bad message was found
 * wrong: after its prelude for prelude errors, after its end for the
 * rest). Every later call fails the same, consuming nothing.
 */
int evstream_feed(struct evstream_decoder *d, const void *buf, size_t len,
		  size_t *consumed, struct evstream_msg *msg);

/* The stream ended: 0 when it ended between messages, else
 * -EVSTREAM_E_TRUNCATED (or the error that stopped the decoder). */
int evstream_end(const struct evstream_decoder *d);

/* The header named `name` (exact bytes), or NULL. */
const struct evstream_header *evstream_header_find(const struct evstream_msg *m,
						   const char *name);

/*
 * Encodes a message with headers h[0..n) and the payload into
 * out[0..cap). Returns 0 with *len the bytes written; -ENOSPC with *len
 * the bytes needed; -EINVAL for a header that cannot be encoded (name
 * empty or over 255 bytes, unknown type, bytes/string over 65535, uuid
 * not 16 bytes); -E2BIG when the headers exceed
 * TG_EVSTREAM_HEADERS_BYTES_MAX or the message TG_EVSTREAM_MSG_MAX.
 */
int evstream_encode(void *out, size_t cap, const struct evstream_header *h,
		    size_t n, const void *payload, size_t payload_len,
		    size_t *len);

/*
 * A Bedrock stream event as the service sends it: string headers
 * :event-type `type`, :content-type application/json, :message-type
 * event, and the JSON payload. Returns as evstream_encode().
 */
int evstream_encode_event(void *out, size_t cap, const char *type,
			  const void *json, size_t json_len, size_t *len);

/*
 * The usage of a Bedrock ConverseStream `metadata` event: its payload's
 * "usage" object, {"inputTokens": N, "outputTokens": N, ...}. Returns 0
 * with both set; -ENOENT when m is not a metadata event or it has no
 * usage; -EINVAL when its JSON is malformed or the counts are not
 * non-negative integers.
 */
int evstream_bedrock_usage(const struct evstream_msg *m, uint64_t *in,
			   uint64_t *out);

/*
 * The same from a JSON object with a top-level "usage": a metadata event's
 * payload, or a (non-streaming) Converse response body. Returns 0, -ENOENT
 * when there is no "usage", -EINVAL as above.
 */
int evstream_bedrock_usage_json(const char *json, size_t n, uint64_t *in,
				uint64_t *out);

#endif /* TOLLGATE_EVSTREAM_H */
