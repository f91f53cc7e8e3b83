/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 message heads (RFC 9112) and the chunked transfer coding: a
 * strict, zero-copy, resumable parser for requests and responses, a
 * resumable chunked decoder, a chunked encoder and the hop-by-hop rule.
 *
 * Nothing here allocates. Results are spans (pointer + length) into the
 * caller's buffer; the caller provides the array that receives the header
 * fields, and its size is the field-count limit.
 *
 * Feeding the head parser: pass the buffer holding EVERYTHING received so
 * far for this message (from its first byte), each time more arrives. The
 * parser remembers how far it has looked, so every byte is examined once
 * and the total work is linear in the head size however the bytes were
 * split. The bytes already passed must not change; they may move (a caller
 * that copies the head into a larger buffer passes the new address, and the
 * spans already produced are moved with it). See docs/http.md.
 *
 * Feeding the chunked decoder: pass only bytes it has not consumed yet, in
 * whatever pieces they arrive (provided-buffer-ring completions); data comes
 * back as spans into those pieces.
 */
#ifndef TOLLGATE_HTTP1_H
#define TOLLGATE_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Tokens of the Connection fields of one message that are recorded; more
 * distinct options than this is an error (HTTP1_E_CONNECTION_TOO_MANY). */
#define HTTP1_CONN_TOKENS_MAX	16
/* The longest chunk-size line http1_chunk_head() writes: 16 hex digits, CRLF. */
#define HTTP1_CHUNK_HEAD_MAX	18
/* Largest Content-Length or chunk size accepted: 2^63 - 1. */
#define HTTP1_LENGTH_MAX	((uint64_t)INT64_MAX)

struct http1_span {
	const char *p;
	size_t len;
};

/* Fields the parser recognises (by case-insensitive name). */
enum http1_field_id {
	HTTP1_H_OTHER = 0,
	HTTP1_H_CONNECTION,
	HTTP1_H_CONTENT_LENGTH,
	HTTP1_H_TRANSFER_ENCODING,
	HTTP1_H_HOST,
	HTTP1_H_EXPECT,
	HTTP1_H_UPGRADE,
	HTTP1_H_KEEP_ALIVE,
	HTTP1_H_PROXY_CONNECTION,
	HTTP1_H_TE,
	HTTP1_H_TRAILER,
};

/* http1_header.flags */
#define HTTP1_HF_HOP_BY_HOP	0x1u	/* remove when forwarding (RFC 9110 §7.6.1) */

struct http1_header {
	struct http1_span name;		/* a token, never empty */
	struct http1_span value;	/* leading and trailing OWS removed */
	uint16_t id;			/* enum http1_field_id */
	uint16_t flags;			/* HTTP1_HF_*; set once the head is complete */
};

enum http1_method {
	HTTP1_METHOD_OTHER = 0,
	HTTP1_METHOD_GET,
	HTTP1_METHOD_HEAD,
	HTTP1_METHOD_POST,
	HTTP1_METHOD_PUT,
	HTTP1_METHOD_DELETE,
	HTTP1_METHOD_CONNECT,
	HTTP1_METHOD_OPTIONS,
	HTTP1_METHOD_TRACE,
	HTTP1_METHOD_PATCH,
};

/* RFC 9112 §3.2 */
enum http1_target_form {
	HTTP1_TARGET_ORIGIN = 0,	/* "/path?query" */
	HTTP1_TARGET_ABSOLUTE,		/* "http://host/path" (HTTP1_F_ALLOW_ABSOLUTE) */
	HTTP1_TARGET_ASTERISK,		/* "*" (OPTIONS only) */
};

/* How the body is delimited (RFC 9112 §6.3). */
enum http1_body {
	HTTP1_BODY_NONE = 0,
	HTTP1_BODY_LENGTH,		/* content_length bytes (may be 0) */
	HTTP1_BODY_CHUNKED,		/* feed it to http1_chunked_next() */
	HTTP1_BODY_UNTIL_CLOSE,		/* responses only: until the peer closes */
};

/* http1_message.flags */
#define HTTP1_M_KEEP_ALIVE	0x001u	/* the connection may carry another message */
#define HTTP1_M_CONN_CLOSE	0x002u	/* Connection: close */
#define HTTP1_M_CONN_KEEPALIVE	0x004u	/* Connection: keep-alive */
#define HTTP1_M_CONN_UPGRADE	0x008u	/* Connection: upgrade */
#define HTTP1_M_EXPECT_CONTINUE	0x010u	/* Expect: 100-continue (HTTP/1.1 request) */
#define HTTP1_M_EXPECT_OTHER	0x020u	/* another expectation: answer 417 */
#define HTTP1_M_UPGRADE		0x040u	/* an Upgrade field (value in .upgrade) */
#define HTTP1_M_HOST		0x080u	/* a Host field (value in .host) */
#define HTTP1_M_CONTENT_LENGTH	0x100u	/* a Content-Length field */
#define HTTP1_M_CHUNKED		0x200u	/* Transfer-Encoding: chunked */

struct http1_message {
	/* Requests */
	struct http1_span method;
	struct http1_span target;
	uint8_t method_id;		/* enum http1_method */
	uint8_t target_form;		/* enum http1_target_form */
	/* Responses */
	uint16_t status;		/* 100..599 */
	struct http1_span reason;	/* may be empty */

	uint8_t version_minor;		/* HTTP/1.<minor>: 0 or 1 */
	uint8_t body;			/* enum http1_body */
	uint32_t flags;			/* HTTP1_M_* */
	uint64_t content_length;	/* with HTTP1_BODY_LENGTH */
	struct http1_span host;		/* with HTTP1_M_HOST */
	struct http1_span upgrade;	/* with HTTP1_M_UPGRADE */

	struct http1_header *headers;	/* the caller's array */
	size_t n_headers;

	/* Options named in Connection, except close and keep-alive (which name
	 * no field): fields to remove when forwarding. */
	struct http1_span conn_tokens[HTTP1_CONN_TOKENS_MAX];
	uint32_t n_conn_tokens;

	size_t head_len;		/* bytes of the head, final CRLF included */
};

/* http1_parser_init() flags */
#define HTTP1_F_REQUEST		0x01u	/* parse a request (else a response) */
#define HTTP1_F_ALLOW_ABSOLUTE	0x02u	/* accept absolute-form targets */
#define HTTP1_F_HEAD_RESPONSE	0x04u	/* the response answers a HEAD request */
#define HTTP1_F_FIELDS_ONLY	0x08u	/* no start line, no field semantics (trailers) */

/* Errors (http1_parse() and http1_chunked_next() return them negated). */
enum http1_error {
	HTTP1_E_NONE = 0,
	/* line framing, RFC 9112 §2.2 */
	HTTP1_E_BARE_CR,
	HTTP1_E_BARE_LF,
	HTTP1_E_WS_AFTER_START_LINE,
	/* request line, RFC 9112 §3 */
	HTTP1_E_METHOD_CHAR,
	HTTP1_E_REQUEST_LINE,
	HTTP1_E_MULTIPLE_SPACES,
	HTTP1_E_TARGET_CHAR,
	HTTP1_E_TARGET_FORM,
	HTTP1_E_CONNECT,
	HTTP1_E_VERSION,
	HTTP1_E_VERSION_UNSUPPORTED,
	/* status line, RFC 9112 §4 */
	HTTP1_E_STATUS_LINE,
	HTTP1_E_STATUS_CODE,
	HTTP1_E_REASON_CHAR,
	/* field lines, RFC 9112 §5 */
	HTTP1_E_OBS_FOLD,
	HTTP1_E_WS_BEFORE_COLON,
	HTTP1_E_EMPTY_NAME,
	HTTP1_E_NAME_CHAR,
	HTTP1_E_NO_COLON,
	HTTP1_E_VALUE_CHAR,
	/* field semantics */
	HTTP1_E_CL_AND_TE,
	HTTP1_E_CL_DUPLICATE,
	HTTP1_E_CL_INVALID,
	HTTP1_E_CL_OVERFLOW,
	HTTP1_E_TE_CODING,
	HTTP1_E_TE_REPEATED,
	HTTP1_E_TE_HTTP10,
	HTTP1_E_HOST_MISSING,
	HTTP1_E_HOST_DUPLICATE,
	HTTP1_E_HOST_INVALID,
	HTTP1_E_CONNECTION_INVALID,
	HTTP1_E_CONNECTION_TOO_MANY,
	/* limits */
	HTTP1_E_HEAD_TOO_LARGE,
	HTTP1_E_TOO_MANY_FIELDS,
	/* chunked, RFC 9112 §7.1 */
	HTTP1_E_CHUNK_SIZE,
	HTTP1_E_CHUNK_SIZE_OVERFLOW,
	HTTP1_E_CHUNK_EXT,
	HTTP1_E_CHUNK_EXT_TOO_LONG,
	HTTP1_E_CHUNK_DATA_CRLF,
	HTTP1_E_TRAILER_TOO_LARGE,
	HTTP1_E_TRAILER_TOO_MANY,
	HTTP1_E_COUNT,
};

/* A fixed sentence for logs and error bodies ("unknown error" if out of range). */
const char *http1_strerror(int err);
/* The status to answer a request that failed with `err`: 400, 431, 501 or
 * 505. (For a response from an upstream, answer 502 instead.) */
int http1_error_status(int err);

struct http1_parser {
	/* Configuration, from http1_parser_init(); flags may be changed
	 * between messages (HTTP1_F_HEAD_RESPONSE). */
	uint32_t flags;
	struct http1_header *headers;	/* borrowed */
	size_t headers_max;		/* more fields: HTTP1_E_TOO_MANY_FIELDS */
	size_t head_max;		/* more head bytes: HTTP1_E_HEAD_TOO_LARGE */

	struct http1_message msg;	/* valid once http1_parse() returned > 0 */
	int err;			/* enum http1_error of the last failure */
	size_t err_off;			/* offset in the head where it was found */

	/* private */
	const char *base;		/* buffer of the previous call */
	size_t line;			/* start of the line being scanned */
	size_t scan;			/* bytes before this hold no LF of that line */
	uint8_t state;
	uint8_t n_cl, n_te, n_host;
};

/* `headers` (borrowed, headers_max entries) receives the fields; head_max
 * bounds the head bytes (start line and final CRLF included). With headers
 * NULL, fields are checked but neither stored nor counted against a limit
 * (trailers that are only validated). */
void http1_parser_init(struct http1_parser *p, uint32_t flags,
		       struct http1_header *headers, size_t headers_max,
		       size_t head_max);
/* Ready for the next message on the connection; keeps the configuration. */
void http1_parser_reset(struct http1_parser *p);

/*
 * Parses the head at buf[0..len): everything received so far for this
 * message. Returns the head's length (> 0) once complete — the body or the
 * next pipelined message starts there — 0 when more bytes are needed, or
 * -enum http1_error (p->err, p->err_off set; every later call returns the
 * same). Never reads buf[len] or beyond.
 */
long http1_parse(struct http1_parser *p, const char *buf, size_t len);

/* Whether `name` must be removed when forwarding the message `m`: the
 * hop-by-hop fields of RFC 9110 §7.6.1 (Connection, Keep-Alive,
 * Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade) and every
 * field named in Connection. http1_parse() already sets HTTP1_HF_HOP_BY_HOP
 * on such headers; this answers for any name. */
bool http1_is_hop_by_hop(const struct http1_message *m, const char *name,
			 size_t len);

/* Case-insensitive comparison of two spans of ASCII. */
bool http1_span_eq_nocase(struct http1_span a, const char *s, size_t len);

/* ---- chunked transfer coding (RFC 9112 §7.1) ------------------------------ */

enum http1_chunked_result {
	HTTP1_CHUNKED_NEED_MORE = 0,	/* all of the input consumed */
	HTTP1_CHUNKED_DATA,		/* *data holds body bytes */
	HTTP1_CHUNKED_DONE,		/* last chunk and trailers consumed */
};

struct http1_chunked {
	/* Configuration, from http1_chunked_init(). */
	size_t ext_max;			/* bytes of extensions on one size line */
	char *tbuf;			/* borrowed: trailer section bytes */
	size_t tcap;			/* its size: the trailer section bound */

	/* Results */
	uint64_t total;			/* body bytes decoded so far */
	struct http1_parser trailers;	/* fields in tbuf, once DONE */
	int err;

	/* private */
	uint64_t size;			/* of the chunk whose size line is read */
	uint64_t remaining;		/* data bytes left in the current chunk */
	size_t ext_len;
	size_t tlen;
	uint8_t state;
	uint8_t digits;
};

/*
 * `ext_max` bounds chunk extensions (accepted and ignored). Trailer fields
 * are copied into tbuf (tcap bytes; NULL/0 refuses any trailer field) and
 * parsed there with the header field rules into `trailers` (borrowed,
 * trailers_max entries; NULL/0 validates and discards them). A complete
 * trailer section longer than tcap bytes is HTTP1_E_TRAILER_TOO_LARGE.
 */
void http1_chunked_init(struct http1_chunked *c, size_t ext_max, char *tbuf,
			size_t tcap, struct http1_header *trailers,
			size_t trailers_max);

/*
 * Decodes from buf[0..len) (bytes not consumed before). Sets *consumed to
 * the bytes used and returns HTTP1_CHUNKED_DATA with *data the body bytes
 * (within buf, ending at buf + *consumed), HTTP1_CHUNKED_NEED_MORE having
 * consumed everything, HTTP1_CHUNKED_DONE at the end of the message (bytes
 * after *consumed belong to the next message), or -enum http1_error (c->err
 * set, *consumed where in buf it was found, 0 if in an earlier piece; every
 * later call fails the same). *data is only written for DATA. Once DONE,
 * further calls consume nothing and return DONE.
 */
int http1_chunked_next(struct http1_chunked *c, const char *buf, size_t len,
		       size_t *consumed, struct http1_span *data);

/* Writes "<hex size>\r\n" (no NUL) for a chunk of n > 0 bytes; the chunk's
 * data is followed by "\r\n". Returns the length, 0 if cap is too small. */
size_t http1_chunk_head(char *out, size_t cap, uint64_t n);
/* Writes the last chunk and trailer section "0\r\n" *(name: value\r\n)
 * "\r\n". Returns the length, 0 if cap is too small. */
size_t http1_chunk_last(char *out, size_t cap,
			const struct http1_header *trailers, size_t n);

/*
 * A Retry-After value (RFC 9110 §10.2.3), NUL-terminated: delay-seconds or
 * an HTTP-date in the preferred IMF-fixdate form ("Sun, 06 Nov 1994
 * 08:49:37 GMT"), as milliseconds from `now`. 0 when malformed or in the
 * past; capped at one day.
 */
uint64_t http1_retry_after_ms(const char *v, time_t now);

#endif /* TOLLGATE_HTTP1_H */
