// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP/1.1 heads and chunked coding. See http1.h for the contract and
 * docs/http.md for what is accepted and refused, with the RFC sections.
 *
 * How the head parser stays linear: it looks for each line's LF with one
 * memchr from where the previous call stopped (p->scan), and a line is
 * parsed only once it is complete. So a byte is searched once and parsed
 * once whatever the split; a line parsed is never looked at again. Because
 * lines are handled strictly in order and the size limit is applied to the
 * LF search, the outcome does not depend on how the bytes were split.
 *
 * Every complete line's content is followed by the CR of its CRLF (checked
 * before the content is parsed), and CR is invalid in every element, so the
 * character loops below stop on that CR without a separate bounds check.
 */
#include <stdint.h>
#include <string.h>

#include "http/http1.h"

enum {
	ST_START = 0,
	ST_FIELDS,
	ST_DONE,
	ST_ERROR,
};

/* ---- character classes ---------------------------------------------------- */

/* tchar, RFC 9110 §5.6.2 */
static const uint8_t tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/* Request-target bytes: RFC 3986 unreserved, gen-delims but '#' (no
 * fragment in a request-target, RFC 9112 §3.2), sub-delims and '%'. */
static const uint8_t target_ok[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1,
	[':'] = 1, ['/'] = 1, ['?'] = 1, ['['] = 1, [']'] = 1, ['@'] = 1,
	['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
	['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1, ['%'] = 1,
};

/* Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2) */
static const uint8_t host_ok[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['%'] = 1,
	['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
	['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1,
	[':'] = 1, ['['] = 1, [']'] = 1,
};

/* field-vchar / SP / HTAB, obs-text included (RFC 9110 §5.5); also the
 * reason-phrase set (RFC 9112 §4). */
static const uint8_t vchar_ws[256] = {
	['\t'] = 1, [' ' ... '~'] = 1, [0x80 ... 0xff] = 1,
};

/* A hex digit's value plus one; 0 for any other byte. */
static const uint8_t hexval1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
	['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static inline uint8_t lower(uint8_t c)
{
	return (uint8_t)(c - 'A') < 26 ? (uint8_t)(c | 0x20) : c;
}

/* `s` is a token (tchar only) and `lit` lowercase letters and '-': folding
 * with |0x20 is exact then (the only other byte mapping to '-' is CR). */
static inline bool token_is(const char *s, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((uint8_t)s[i] | 0x20) != (uint8_t)lit[i])
			return false;
	return true;
}

static bool eq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((uint8_t)a[i]) != lower((uint8_t)b[i]))
			return false;
	return true;
}

bool http1_span_eq_nocase(struct http1_span a, const char *s, size_t len)
{
	return a.len == len && eq_nocase(a.p, s, len);
}

/* ---- errors ------------------------------------------------------------------ */

static const char *const error_text[HTTP1_E_COUNT] = {
	[HTTP1_E_NONE] = "no error",
	[HTTP1_E_BARE_CR] = "CR not followed by LF",
	[HTTP1_E_BARE_LF] = "line ends in LF without CR",
	[HTTP1_E_WS_AFTER_START_LINE] = "whitespace between start line and first field",
	[HTTP1_E_METHOD_CHAR] = "invalid character in method",
	[HTTP1_E_REQUEST_LINE] = "malformed request line",
	[HTTP1_E_MULTIPLE_SPACES] = "more than one space between request-line elements",
	[HTTP1_E_TARGET_CHAR] = "invalid character in request target",
	[HTTP1_E_TARGET_FORM] = "request target form not accepted",
	[HTTP1_E_CONNECT] = "CONNECT not implemented",
	[HTTP1_E_VERSION] = "malformed HTTP version",
	[HTTP1_E_VERSION_UNSUPPORTED] = "HTTP version not supported",
	[HTTP1_E_STATUS_LINE] = "malformed status line",
	[HTTP1_E_STATUS_CODE] = "invalid status code",
	[HTTP1_E_REASON_CHAR] = "invalid character in reason phrase",
	[HTTP1_E_OBS_FOLD] = "obsolete line folding",
	[HTTP1_E_WS_BEFORE_COLON] = "whitespace between field name and colon",
	[HTTP1_E_EMPTY_NAME] = "empty field name",
	[HTTP1_E_NAME_CHAR] = "invalid character in field name",
	[HTTP1_E_NO_COLON] = "field line without colon",
	[HTTP1_E_VALUE_CHAR] = "control character in field value",
	[HTTP1_E_CL_AND_TE] = "both Content-Length and Transfer-Encoding",
	[HTTP1_E_CL_DUPLICATE] = "more than one Content-Length",
	[HTTP1_E_CL_INVALID] = "invalid Content-Length",
	[HTTP1_E_CL_OVERFLOW] = "Content-Length too large",
	[HTTP1_E_TE_CODING] = "Transfer-Encoding other than chunked",
	[HTTP1_E_TE_REPEATED] = "more than one Transfer-Encoding",
	[HTTP1_E_TE_HTTP10] = "Transfer-Encoding in an HTTP/1.0 message",
	[HTTP1_E_HOST_MISSING] = "HTTP/1.1 request without Host",
	[HTTP1_E_HOST_DUPLICATE] = "more than one Host",
	[HTTP1_E_HOST_INVALID] = "invalid Host",
	[HTTP1_E_CONNECTION_INVALID] = "invalid Connection option",
	[HTTP1_E_CONNECTION_TOO_MANY] = "too many Connection options",
	[HTTP1_E_HEAD_TOO_LARGE] = "header section too large",
	[HTTP1_E_TOO_MANY_FIELDS] = "too many header fields",
	[HTTP1_E_CHUNK_SIZE] = "invalid chunk size",
	[HTTP1_E_CHUNK_SIZE_OVERFLOW] = "chunk size too large",
	[HTTP1_E_CHUNK_EXT] = "invalid chunk extension",
	[HTTP1_E_CHUNK_EXT_TOO_LONG] = "chunk extension too long",
	[HTTP1_E_CHUNK_DATA_CRLF] = "chunk data not followed by CRLF",
	[HTTP1_E_TRAILER_TOO_LARGE] = "trailer section too large",
	[HTTP1_E_TRAILER_TOO_MANY] = "too many trailer fields",
};

const char *http1_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err >= HTTP1_E_COUNT || !error_text[err])
		return "unknown error";
	return error_text[err];
}

int http1_error_status(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case HTTP1_E_HEAD_TOO_LARGE:
	case HTTP1_E_TOO_MANY_FIELDS:
		return 431;
	case HTTP1_E_CONNECT:
		return 501;
	case HTTP1_E_VERSION_UNSUPPORTED:
		return 505;
	default:
		return 400;
	}
}

/* ---- head parser ------------------------------------------------------------ */

void http1_parser_init(struct http1_parser *p, uint32_t flags,
		       struct http1_header *headers, size_t headers_max,
		       size_t head_max)
{
	memset(p, 0, sizeof(*p));
	p->flags = flags;
	p->headers = headers;
	p->headers_max = headers ? headers_max : 0;
	p->head_max = head_max;
	http1_parser_reset(p);
}

void http1_parser_reset(struct http1_parser *p)
{
	memset(&p->msg, 0, sizeof(p->msg));
	p->msg.headers = p->headers;
	p->err = HTTP1_E_NONE;
	p->err_off = 0;
	p->base = NULL;
	p->line = 0;
	p->scan = 0;
	p->state = (p->flags & HTTP1_F_FIELDS_ONLY) ? ST_FIELDS : ST_START;
	p->n_cl = p->n_te = p->n_host = 0;
}

static long fail(struct http1_parser *p, int err, size_t off)
{
	p->state = ST_ERROR;
	p->err = err;
	p->err_off = off;
	return -err;
}

static inline void span_move(struct http1_span *s, uintptr_t from, uintptr_t to)
{
	if (s->p)
		s->p = (const char *)(to + ((uintptr_t)s->p - from));
}

/* The caller moved the bytes: move the spans already produced with them. */
static void rebase(struct http1_parser *p, const char *buf)
{
	uintptr_t from = (uintptr_t)p->base, to = (uintptr_t)buf;
	struct http1_message *m = &p->msg;

	span_move(&m->method, from, to);
	span_move(&m->target, from, to);
	span_move(&m->reason, from, to);
	span_move(&m->host, from, to);
	span_move(&m->upgrade, from, to);
	for (size_t i = 0; i < m->n_headers && p->headers; i++) {
		span_move(&m->headers[i].name, from, to);
		span_move(&m->headers[i].value, from, to);
	}
	for (uint32_t i = 0; i < m->n_conn_tokens; i++)
		span_move(&m->conn_tokens[i], from, to);
}

/* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3). Returns the minor
 * version, or -error. */
static int parse_version(const char *v, size_t n)
{
	if (n != 8 || memcmp(v, "HTTP/", 5) || v[6] != '.' ||
	    (uint8_t)(v[5] - '0') > 9 || (uint8_t)(v[7] - '0') > 9)
		return -HTTP1_E_VERSION;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return -HTTP1_E_VERSION_UNSUPPORTED;
	return v[7] - '0';
}

static uint8_t method_id(const char *m, size_t n)
{
	/* Methods are case-sensitive (RFC 9110 §9.1). */
	switch (n) {
	case 3:
		if (!memcmp(m, "GET", 3))
			return HTTP1_METHOD_GET;
		if (!memcmp(m, "PUT", 3))
			return HTTP1_METHOD_PUT;
		break;
	case 4:
		if (!memcmp(m, "POST", 4))
			return HTTP1_METHOD_POST;
		if (!memcmp(m, "HEAD", 4))
			return HTTP1_METHOD_HEAD;
		break;
	case 5:
		if (!memcmp(m, "PATCH", 5))
			return HTTP1_METHOD_PATCH;
		if (!memcmp(m, "TRACE", 5))
			return HTTP1_METHOD_TRACE;
		break;
	case 6:
		if (!memcmp(m, "DELETE", 6))
			return HTTP1_METHOD_DELETE;
		break;
	case 7:
		if (!memcmp(m, "OPTIONS", 7))
			return HTTP1_METHOD_OPTIONS;
		if (!memcmp(m, "CONNECT", 7))
			return HTTP1_METHOD_CONNECT;
		break;
	}
	return HTTP1_METHOD_OTHER;
}

/* absolute-URI starts with scheme ":" (RFC 3986 §3.1); we ask for "//"
 * too, as only http and https targets make sense here. */
static bool is_absolute_form(const char *t, size_t n)
{
	size_t i = 0;

	if (!n || (uint8_t)(lower((uint8_t)t[0]) - 'a') > 25)
		return false;
	while (i < n && (((uint8_t)(lower((uint8_t)t[i]) - 'a') <= 25) ||
			 ((uint8_t)(t[i] - '0') <= 9) || t[i] == '+' ||
			 t[i] == '-' || t[i] == '.'))
		i++;
	return i + 3 <= n && t[i] == ':' && t[i + 1] == '/' && t[i + 2] == '/';
}

/* The CR ending a start line is at buf[e]; any other CR in it is bare. */
static long start_line_cr(struct http1_parser *p, const char *buf, size_t s,
			  size_t e)
{
	const char *cr = memchr(buf + s, '\r', e - s);

	if (cr)
		return fail(p, HTTP1_E_BARE_CR, (size_t)(cr - buf));
	return 0;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3) */
static long request_line(struct http1_parser *p, const char *buf, size_t s,
			 size_t e)
{
	struct http1_message *m = &p->msg;
	size_t i = s, t;
	int v;

	if (start_line_cr(p, buf, s, e))
		return -p->err;
	while (tchar[(uint8_t)buf[i]])
		i++;
	if (i == e)
		return fail(p, HTTP1_E_REQUEST_LINE, i);
	if (buf[i] != ' ')
		return fail(p, HTTP1_E_METHOD_CHAR, i);
	if (i == s)
		return fail(p, HTTP1_E_REQUEST_LINE, i);
	m->method.p = buf + s;
	m->method.len = i - s;
	m->method_id = method_id(buf + s, i - s);
	t = ++i;
	if (buf[i] == ' ')
		return fail(p, HTTP1_E_MULTIPLE_SPACES, i);
	while (target_ok[(uint8_t)buf[i]])
		i++;
	if (i == e)
		return fail(p, HTTP1_E_REQUEST_LINE, i);
	if (buf[i] != ' ')
		return fail(p, HTTP1_E_TARGET_CHAR, i);
	if (i == t)
		return fail(p, HTTP1_E_REQUEST_LINE, i);
	m->target.p = buf + t;
	m->target.len = i - t;
	i++;
	if (i < e && buf[i] == ' ')
		return fail(p, HTTP1_E_MULTIPLE_SPACES, i);
	v = parse_version(buf + i, e - i);
	if (v < 0)
		return fail(p, -v, i);
	m->version_minor = (uint8_t)v;

	/* RFC 9112 §3.2: origin-form; asterisk-form for OPTIONS only;
	 * authority-form is CONNECT's, which a gateway does not tunnel;
	 * absolute-form is for proxies, taken only when asked for. */
	if (m->method_id == HTTP1_METHOD_CONNECT)
		return fail(p, HTTP1_E_CONNECT, s);
	if (buf[t] == '/') {
		m->target_form = HTTP1_TARGET_ORIGIN;
	} else if (m->target.len == 1 && buf[t] == '*' &&
		   m->method_id == HTTP1_METHOD_OPTIONS) {
		m->target_form = HTTP1_TARGET_ASTERISK;
	} else if ((p->flags & HTTP1_F_ALLOW_ABSOLUTE) &&
		   is_absolute_form(m->target.p, m->target.len)) {
		m->target_form = HTTP1_TARGET_ABSOLUTE;
	} else {
		return fail(p, HTTP1_E_TARGET_FORM, t);
	}
	return 0;
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ]
 * (RFC 9112 §4). A missing SP after the code is accepted: the reason is
 * ignored by recipients and some servers omit it. */
static long status_line(struct http1_parser *p, const char *buf, size_t s,
			size_t e)
{
	struct http1_message *m = &p->msg;
	const char *sp;
	size_t i;
	int v;

	if (start_line_cr(p, buf, s, e))
		return -p->err;
	sp = memchr(buf + s, ' ', e - s);
	if (!sp)
		return fail(p, HTTP1_E_STATUS_LINE, e);
	v = parse_version(buf + s, (size_t)(sp - (buf + s)));
	if (v < 0)
		return fail(p, -v, s);
	m->version_minor = (uint8_t)v;
	i = (size_t)(sp - buf) + 1;
	if (e - i < 3 || (uint8_t)(buf[i] - '0') > 9 ||
	    (uint8_t)(buf[i + 1] - '0') > 9 || (uint8_t)(buf[i + 2] - '0') > 9)
		return fail(p, HTTP1_E_STATUS_CODE, i);
	m->status = (uint16_t)((buf[i] - '0') * 100 + (buf[i + 1] - '0') * 10 +
			       (buf[i + 2] - '0'));
	/* RFC 9110 §15: values outside 100..599 are invalid. */
	if (m->status < 100 || m->status > 599)
		return fail(p, HTTP1_E_STATUS_CODE, i);
	i += 3;
	m->reason.p = buf + i;
	if (i == e)
		return 0;
	if (buf[i] != ' ')
		return fail(p, HTTP1_E_STATUS_CODE, i);
	i++;
	m->reason.p = buf + i;
	while (vchar_ws[(uint8_t)buf[i]])
		i++;
	if (i != e)
		return fail(p, HTTP1_E_REASON_CHAR, i);
	m->reason.len = e - (size_t)(m->reason.p - buf);
	return 0;
}

static uint16_t field_id(const char *n, size_t len)
{
	switch (len) {
	case 2:
		if (token_is(n, "te", 2))
			return HTTP1_H_TE;
		break;
	case 4:
		if (token_is(n, "host", 4))
			return HTTP1_H_HOST;
		break;
	case 6:
		if (token_is(n, "expect", 6))
			return HTTP1_H_EXPECT;
		break;
	case 7:
		if (token_is(n, "upgrade", 7))
			return HTTP1_H_UPGRADE;
		if (token_is(n, "trailer", 7))
			return HTTP1_H_TRAILER;
		break;
	case 10:
		if (token_is(n, "connection", 10))
			return HTTP1_H_CONNECTION;
		if (token_is(n, "keep-alive", 10))
			return HTTP1_H_KEEP_ALIVE;
		break;
	case 14:
		if (token_is(n, "content-length", 14))
			return HTTP1_H_CONTENT_LENGTH;
		break;
	case 16:
		if (token_is(n, "proxy-connection", 16))
			return HTTP1_H_PROXY_CONNECTION;
		break;
	case 17:
		if (token_is(n, "transfer-encoding", 17))
			return HTTP1_H_TRANSFER_ENCODING;
		break;
	}
	return HTTP1_H_OTHER;
}

static inline bool id_is_hop(uint16_t id)
{
	switch (id) {
	case HTTP1_H_CONNECTION:
	case HTTP1_H_KEEP_ALIVE:
	case HTTP1_H_PROXY_CONNECTION:
	case HTTP1_H_TE:
	case HTTP1_H_TRAILER:
	case HTTP1_H_TRANSFER_ENCODING:
	case HTTP1_H_UPGRADE:
		return true;
	default:
		return false;
	}
}

#define ONES	0x0101010101010101ull
#define HIGHS	0x8080808080808080ull

/* Returns the offset of the first byte in [i, e) that is not field-vchar,
 * SP or HTAB (e if none). Eight bytes at a time: a word with no byte below
 * 0x20 and none equal to 0x7f is all valid (obs-text included). */
static inline size_t value_scan(const char *buf, size_t i, size_t e)
{
	while (e - i >= 8) {
		uint64_t x, y;

		memcpy(&x, buf + i, 8);
		y = x ^ (0x7f * ONES);
		if (!((((x - 0x20 * ONES) & ~x) | ((y - ONES) & ~y)) & HIGHS)) {
			i += 8;
			continue;
		}
		for (size_t k = 0; k < 8; k++, i++)
			if (!vchar_ws[(uint8_t)buf[i]])
				return i;
	}
	while (i < e && vchar_ws[(uint8_t)buf[i]])
		i++;
	return i;
}

/* Connection = #connection-option (RFC 9110 §7.6.1), options are tokens,
 * empty list elements allowed (§5.6.1). */
static long connection_field(struct http1_parser *p, const char *buf,
			     size_t s, size_t e)
{
	struct http1_message *m = &p->msg;
	size_t i = s;

	while (i < e) {
		size_t t, n;
		bool seen = false;

		while (i < e && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == ','))
			i++;
		if (i == e)
			break;
		t = i;
		while (i < e && tchar[(uint8_t)buf[i]])
			i++;
		n = i - t;
		if (!n)
			return fail(p, HTTP1_E_CONNECTION_INVALID, i);
		while (i < e && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		if (i < e && buf[i] != ',')
			return fail(p, HTTP1_E_CONNECTION_INVALID, i);
		if (n == 5 && token_is(buf + t, "close", 5)) {
			m->flags |= HTTP1_M_CONN_CLOSE;
			continue;
		}
		if (n == 10 && token_is(buf + t, "keep-alive", 10)) {
			m->flags |= HTTP1_M_CONN_KEEPALIVE;
			continue;
		}
		if (n == 7 && token_is(buf + t, "upgrade", 7))
			m->flags |= HTTP1_M_CONN_UPGRADE;
		for (uint32_t k = 0; k < m->n_conn_tokens && !seen; k++)
			seen = m->conn_tokens[k].len == n &&
			       eq_nocase(m->conn_tokens[k].p, buf + t, n);
		if (seen)
			continue;
		if (m->n_conn_tokens == HTTP1_CONN_TOKENS_MAX)
			return fail(p, HTTP1_E_CONNECTION_TOO_MANY, t);
		m->conn_tokens[m->n_conn_tokens].p = buf + t;
		m->conn_tokens[m->n_conn_tokens].len = n;
		m->n_conn_tokens++;
	}
	return 0;
}

/* Content-Length = 1*DIGIT (RFC 9110 §8.6); a list, even of equal values,
 * is refused: we do not repair framing we forward (RFC 9112 §6.3 ¶5). */
static long content_length(struct http1_parser *p, const char *v, size_t n,
			   size_t off)
{
	uint64_t x = 0;

	if (p->n_cl++)
		return fail(p, HTTP1_E_CL_DUPLICATE, off);
	if (!n)
		return fail(p, HTTP1_E_CL_INVALID, off);
	for (size_t i = 0; i < n; i++) {
		uint8_t d = (uint8_t)(v[i] - '0');

		if (d > 9)
			return fail(p, HTTP1_E_CL_INVALID, off + i);
		if (x > (HTTP1_LENGTH_MAX - d) / 10)
			return fail(p, HTTP1_E_CL_OVERFLOW, off + i);
		x = x * 10 + d;
	}
	p->msg.content_length = x;
	p->msg.flags |= HTTP1_M_CONTENT_LENGTH;
	return 0;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5) */
static long field_line(struct http1_parser *p, const char *buf, size_t s,
		       size_t e)
{
	struct http1_message *m = &p->msg;
	const char *v;
	size_t i = s, ne, vs, ve, vn;
	uint8_t c = (uint8_t)buf[s];
	uint16_t id;

	/* RFC 9112 §5.2: obs-fold is refused; §2.2: so is whitespace
	 * between the start line and the first field. */
	if (c == ' ' || c == '\t')
		return fail(p, (m->n_headers || (p->flags & HTTP1_F_FIELDS_ONLY)) ?
			HTTP1_E_OBS_FOLD : HTTP1_E_WS_AFTER_START_LINE, s);
	while (tchar[(uint8_t)buf[i]])
		i++;
	c = (uint8_t)buf[i];
	if (c != ':') {
		if (i == e)
			return fail(p, HTTP1_E_NO_COLON, i);
		/* RFC 9112 §5.1: no whitespace between name and colon. */
		if (c == ' ' || c == '\t')
			return fail(p, HTTP1_E_WS_BEFORE_COLON, i);
		return fail(p, c == '\r' ? HTTP1_E_BARE_CR : HTTP1_E_NAME_CHAR, i);
	}
	if (i == s)
		return fail(p, HTTP1_E_EMPTY_NAME, i);
	ne = i++;
	while (buf[i] == ' ' || buf[i] == '\t')
		i++;
	vs = i;
	i = value_scan(buf, i, e);
	if (i != e)
		return fail(p, buf[i] == '\r' ? HTTP1_E_BARE_CR : HTTP1_E_VALUE_CHAR, i);
	ve = e;
	while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
		ve--;
	v = buf + vs;
	vn = ve - vs;
	id = (p->flags & HTTP1_F_FIELDS_ONLY) ? HTTP1_H_OTHER :
						field_id(buf + s, ne - s);

	if (p->headers) {
		struct http1_header *h;

		if (m->n_headers == p->headers_max)
			return fail(p, HTTP1_E_TOO_MANY_FIELDS, s);
		h = &p->headers[m->n_headers];
		h->name.p = buf + s;
		h->name.len = ne - s;
		h->value.p = v;
		h->value.len = vn;
		h->id = id;
		h->flags = 0;
	}
	m->n_headers++;

	switch (id) {
	case HTTP1_H_CONTENT_LENGTH:
		return content_length(p, v, vn, vs);
	case HTTP1_H_TRANSFER_ENCODING:
		/* RFC 9112 §6.1: TE in HTTP/1.0 means faulty framing. Only
		 * "chunked", once: a gateway that does not decode other
		 * codings could not find the body's end (§6.3 ¶4). */
		if (m->version_minor == 0)
			return fail(p, HTTP1_E_TE_HTTP10, s);
		if (p->n_te++)
			return fail(p, HTTP1_E_TE_REPEATED, s);
		if (!(vn == 7 && eq_nocase(v, "chunked", 7)))
			return fail(p, HTTP1_E_TE_CODING, vs);
		m->flags |= HTTP1_M_CHUNKED;
		return 0;
	case HTTP1_H_HOST:
		/* RFC 9112 §3.2: exactly one Host in a request. */
		if (!(p->flags & HTTP1_F_REQUEST))
			return 0;
		if (p->n_host++)
			return fail(p, HTTP1_E_HOST_DUPLICATE, s);
		for (size_t k = 0; k < vn; k++)
			if (!host_ok[(uint8_t)v[k]])
				return fail(p, HTTP1_E_HOST_INVALID, vs + k);
		m->host.p = v;
		m->host.len = vn;
		m->flags |= HTTP1_M_HOST;
		return 0;
	case HTTP1_H_CONNECTION:
		return connection_field(p, buf, vs, ve);
	case HTTP1_H_EXPECT:
		/* RFC 9110 §10.1.1: 100-continue is ignored in HTTP/1.0. */
		if (!(p->flags & HTTP1_F_REQUEST))
			return 0;
		if (vn == 12 && eq_nocase(v, "100-continue", 12)) {
			if (m->version_minor)
				m->flags |= HTTP1_M_EXPECT_CONTINUE;
		} else {
			m->flags |= HTTP1_M_EXPECT_OTHER;
		}
		return 0;
	case HTTP1_H_UPGRADE:
		if (!(m->flags & HTTP1_M_UPGRADE)) {
			m->upgrade.p = v;
			m->upgrade.len = vn;
			m->flags |= HTTP1_M_UPGRADE;
		}
		return 0;
	default:
		return 0;
	}
}

static bool named_in_connection(const struct http1_message *m,
				const char *name, size_t len)
{
	for (uint32_t k = 0; k < m->n_conn_tokens; k++)
		if (m->conn_tokens[k].len == len &&
		    eq_nocase(m->conn_tokens[k].p, name, len))
			return true;
	return false;
}

bool http1_is_hop_by_hop(const struct http1_message *m, const char *name,
			 size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!tchar[(uint8_t)name[i]])
			return false;
	return id_is_hop(field_id(name, len)) ||
	       named_in_connection(m, name, len);
}

/* The head is complete: framing and connection semantics. */
static long finish(struct http1_parser *p, size_t end)
{
	struct http1_message *m = &p->msg;
	bool request = p->flags & HTTP1_F_REQUEST;

	m->head_len = end;
	if (p->flags & HTTP1_F_FIELDS_ONLY) {
		p->state = ST_DONE;
		return (long)end;
	}
	/* RFC 9112 §6.3 ¶3: CL with TE is a smuggling attempt; refused
	 * rather than TE taking precedence, as we forward to others. */
	if (p->n_cl && p->n_te)
		return fail(p, HTTP1_E_CL_AND_TE, end);
	if (request && m->version_minor == 1 && !p->n_host)
		return fail(p, HTTP1_E_HOST_MISSING, end);

	/* RFC 9112 §9.3: persistent by default in 1.1, by keep-alive in 1.0. */
	if (m->flags & HTTP1_M_CONN_CLOSE)
		;
	else if (m->version_minor == 1 || (m->flags & HTTP1_M_CONN_KEEPALIVE))
		m->flags |= HTTP1_M_KEEP_ALIVE;

	/* RFC 9112 §6.3 */
	if (!request && ((p->flags & HTTP1_F_HEAD_RESPONSE) || m->status < 200 ||
			 m->status == 204 || m->status == 304))
		m->body = HTTP1_BODY_NONE;
	else if (p->n_te)
		m->body = HTTP1_BODY_CHUNKED;
	else if (p->n_cl)
		m->body = HTTP1_BODY_LENGTH;
	else if (request)
		m->body = HTTP1_BODY_NONE;
	else {
		m->body = HTTP1_BODY_UNTIL_CLOSE;
		m->flags &= ~HTTP1_M_KEEP_ALIVE;
	}

	for (size_t i = 0; i < m->n_headers && p->headers; i++) {
		struct http1_header *h = &p->headers[i];

		if (id_is_hop(h->id) ||
		    (m->n_conn_tokens && named_in_connection(m, h->name.p, h->name.len)))
			h->flags |= HTTP1_HF_HOP_BY_HOP;
	}
	p->state = ST_DONE;
	return (long)end;
}

long http1_parse(struct http1_parser *p, const char *buf, size_t len)
{
	size_t lim;

	if (p->state == ST_ERROR)
		return -p->err;
	if (p->state == ST_DONE)
		return (long)p->msg.head_len;
	if (p->base && p->base != buf)
		rebase(p, buf);
	p->base = buf;
	/* Only the first head_max bytes can hold the head. */
	lim = len < p->head_max ? len : p->head_max;
	while (p->scan < lim) {
		const char *lf = memchr(buf + p->scan, '\n', lim - p->scan);
		size_t s = p->line, e, ce;
		long r;

		if (!lf) {
			p->scan = lim;
			break;
		}
		e = (size_t)(lf - buf);
		/* RFC 9112 §2.2: lines end in CRLF; a bare LF is refused. */
		if (e == s || buf[e - 1] != '\r')
			return fail(p, HTTP1_E_BARE_LF, e);
		ce = e - 1;
		p->line = p->scan = e + 1;
		if (p->state == ST_START) {
			if (p->flags & HTTP1_F_REQUEST) {
				/* §2.2: empty lines before a request are ignored. */
				if (ce == s)
					continue;
				r = request_line(p, buf, s, ce);
			} else {
				r = status_line(p, buf, s, ce);
			}
			if (r < 0)
				return r;
			p->state = ST_FIELDS;
			continue;
		}
		if (ce == s)
			return finish(p, e + 1);
		r = field_line(p, buf, s, ce);
		if (r < 0)
			return r;
	}
	if (len > p->head_max)
		return fail(p, HTTP1_E_HEAD_TOO_LARGE, p->head_max);
	return 0;
}

/* ---- chunked decoder (RFC 9112 §7.1) ---------------------------------------- */

enum {
	CS_SIZE0 = 0,	/* first hex digit of a chunk size */
	CS_SIZE,	/* more digits, or what follows them */
	CS_EXT_BWS,	/* whitespace after the size, before ';' */
	CS_EXT,		/* chunk-ext, up to CR */
	CS_SIZE_LF,
	CS_DATA,
	CS_DATA_CR,
	CS_DATA_LF,
	CS_TRAILER_BEGIN,
	CS_TRAILER_LF,	/* empty trailer section: the LF of its CRLF */
	CS_TRAILER,	/* fields, copied to tbuf */
	CS_DONE,
	CS_ERROR,
};

void http1_chunked_init(struct http1_chunked *c, size_t ext_max, char *tbuf,
			size_t tcap, struct http1_header *trailers,
			size_t trailers_max)
{
	memset(c, 0, sizeof(*c));
	c->ext_max = ext_max;
	c->tbuf = tbuf;
	c->tcap = tbuf ? tcap : 0;
	http1_parser_init(&c->trailers, HTTP1_F_FIELDS_ONLY, trailers,
			  trailers_max, c->tcap);
	c->state = CS_SIZE0;
}

static int chunked_fail(struct http1_chunked *c, int err, size_t i,
			size_t *consumed)
{
	c->state = CS_ERROR;
	c->err = err;
	*consumed = i;
	return -err;
}

int http1_chunked_next(struct http1_chunked *c, const char *buf, size_t len,
		       size_t *consumed, struct http1_span *data)
{
	size_t i = 0;

	if (c->state == CS_ERROR) {
		*consumed = 0;
		return -c->err;
	}
	while (i < len || c->state == CS_DONE) {
		uint8_t b;

		switch (c->state) {
		case CS_DONE:
			*consumed = i;
			return HTTP1_CHUNKED_DONE;
		case CS_DATA: {
			size_t n = len - i;

			if (n > c->remaining)
				n = (size_t)c->remaining;
			data->p = buf + i;
			data->len = n;
			c->remaining -= n;
			c->total += n;
			i += n;
			if (!c->remaining)
				c->state = CS_DATA_CR;
			*consumed = i;
			return HTTP1_CHUNKED_DATA;
		}
		case CS_SIZE0:
		case CS_SIZE:
			b = (uint8_t)buf[i];
			if (hexval1[b]) {
				/* 16 digits fill 64 bits; the top one must stay clear. */
				if (c->digits == 16)
					return chunked_fail(c, HTTP1_E_CHUNK_SIZE_OVERFLOW, i, consumed);
				c->size = c->size << 4 | (uint64_t)(hexval1[b] - 1);
				c->digits++;
				if (c->size > HTTP1_LENGTH_MAX)
					return chunked_fail(c, HTTP1_E_CHUNK_SIZE_OVERFLOW, i, consumed);
				c->state = CS_SIZE;
				i++;
				break;
			}
			if (c->state == CS_SIZE0)
				return chunked_fail(c, b == '\n' ? HTTP1_E_BARE_LF :
						    HTTP1_E_CHUNK_SIZE, i, consumed);
			i++;
			if (b == '\r')
				c->state = CS_SIZE_LF;
			else if (b == ';')
				c->state = CS_EXT;
			else if (b == ' ' || b == '\t')
				c->state = CS_EXT_BWS;
			else
				return chunked_fail(c, b == '\n' ? HTTP1_E_BARE_LF :
						    HTTP1_E_CHUNK_SIZE, i - 1, consumed);
			if (c->state != CS_SIZE_LF && ++c->ext_len > c->ext_max)
				return chunked_fail(c, HTTP1_E_CHUNK_EXT_TOO_LONG, i - 1, consumed);
			break;
		case CS_EXT_BWS:
			/* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) */
			b = (uint8_t)buf[i];
			if (b == ';')
				c->state = CS_EXT;
			else if (b == '\n')
				return chunked_fail(c, HTTP1_E_BARE_LF, i, consumed);
			else if (b != ' ' && b != '\t')
				return chunked_fail(c, HTTP1_E_CHUNK_EXT, i, consumed);
			if (++c->ext_len > c->ext_max)
				return chunked_fail(c, HTTP1_E_CHUNK_EXT_TOO_LONG, i, consumed);
			i++;
			break;
		case CS_EXT:
			/* Extensions are ignored; only their bytes are checked. */
			while (i < len) {
				b = (uint8_t)buf[i];
				if (b == '\r') {
					c->state = CS_SIZE_LF;
					i++;
					break;
				}
				if (!vchar_ws[b])
					return chunked_fail(c, b == '\n' ? HTTP1_E_BARE_LF :
							    HTTP1_E_CHUNK_EXT, i, consumed);
				if (++c->ext_len > c->ext_max)
					return chunked_fail(c, HTTP1_E_CHUNK_EXT_TOO_LONG, i, consumed);
				i++;
			}
			break;
		case CS_SIZE_LF:
			if (buf[i] != '\n')
				return chunked_fail(c, HTTP1_E_BARE_CR, i, consumed);
			i++;
			c->remaining = c->size;
			c->state = c->size ? CS_DATA : CS_TRAILER_BEGIN;
			c->size = 0;
			c->digits = 0;
			c->ext_len = 0;
			break;
		case CS_DATA_CR:
			if (buf[i] != '\r')
				return chunked_fail(c, HTTP1_E_CHUNK_DATA_CRLF, i, consumed);
			i++;
			c->state = CS_DATA_LF;
			break;
		case CS_DATA_LF:
			if (buf[i] != '\n')
				return chunked_fail(c, HTTP1_E_CHUNK_DATA_CRLF, i, consumed);
			i++;
			c->state = CS_SIZE0;
			break;
		case CS_TRAILER_BEGIN:
			b = (uint8_t)buf[i];
			if (b == '\r') {
				c->state = CS_TRAILER_LF;
				i++;
			} else if (b == '\n') {
				return chunked_fail(c, HTTP1_E_BARE_LF, i, consumed);
			} else if (!c->tcap) {
				return chunked_fail(c, HTTP1_E_TRAILER_TOO_LARGE, i, consumed);
			} else {
				c->state = CS_TRAILER;
			}
			break;
		case CS_TRAILER_LF:
			if (buf[i] != '\n')
				return chunked_fail(c, HTTP1_E_BARE_CR, i, consumed);
			i++;
			c->state = CS_DONE;
			break;
		case CS_TRAILER: {
			/* Trailer fields follow the header rules (RFC 9112
			 * §7.1.2); copied so that the field parser sees one
			 * contiguous, bounded section. */
			size_t n = len - i, old = c->tlen;
			long r;

			if (n > c->tcap - c->tlen)
				n = c->tcap - c->tlen;
			memcpy(c->tbuf + c->tlen, buf + i, n);
			c->tlen += n;
			r = http1_parse(&c->trailers, c->tbuf, c->tlen);
			if (r > 0) {
				i += (size_t)r - old;
				c->state = CS_DONE;
				break;
			}
			if (r < 0) {
				int err = c->trailers.err;

				if (err == HTTP1_E_TOO_MANY_FIELDS)
					err = HTTP1_E_TRAILER_TOO_MANY;
				return chunked_fail(c, err, c->trailers.err_off >= old ?
						    i + (c->trailers.err_off - old) : 0,
						    consumed);
			}
			i += n;
			if (c->tlen == c->tcap && i < len)
				return chunked_fail(c, HTTP1_E_TRAILER_TOO_LARGE, i, consumed);
			break;
		}
		default:
			return chunked_fail(c, HTTP1_E_CHUNK_SIZE, i, consumed);
		}
	}
	*consumed = len;
	return HTTP1_CHUNKED_NEED_MORE;
}

/* ---- chunked encoder --------------------------------------------------------- */

static const char hexdig[16] = "0123456789abcdef";

size_t http1_chunk_head(char *out, size_t cap, uint64_t n)
{
	char tmp[16];
	size_t k = 0;

	if (!n)
		return 0;
	while (n) {
		tmp[k++] = hexdig[n & 0xf];
		n >>= 4;
	}
	if (cap < k + 2)
		return 0;
	for (size_t i = 0; i < k; i++)
		out[i] = tmp[k - 1 - i];
	out[k] = '\r';
	out[k + 1] = '\n';
	return k + 2;
}

size_t http1_chunk_last(char *out, size_t cap,
			const struct http1_header *trailers, size_t n)
{
	size_t len = 3;

	if (cap < 5)
		return 0;
	memcpy(out, "0\r\n", 3);
	for (size_t i = 0; i < n; i++) {
		const struct http1_header *h = &trailers[i];
		size_t need = h->name.len + 2 + h->value.len + 2;

		if (cap - len < need + 2)
			return 0;
		memcpy(out + len, h->name.p, h->name.len);
		len += h->name.len;
		memcpy(out + len, ": ", 2);
		len += 2;
		if (h->value.len)
			memcpy(out + len, h->value.p, h->value.len);
		len += h->value.len;
		memcpy(out + len, "\r\n", 2);
		len += 2;
	}
	memcpy(out + len, "\r\n", 2);
	return len + 2;
}

uint64_t http1_retry_after_ms(const char *v, time_t now)
{
	const uint64_t day_ms = 86400ull * 1000;
	struct tm tm = { 0 };
	const char *end;
	uint64_t n = 0;
	time_t when;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		for (; *v >= '0' && *v <= '9'; v++) {
			n = n * 10 + (uint64_t)(*v - '0');
			if (n > day_ms / 1000)
				return day_ms;
		}
		while (*v == ' ' || *v == '\t')
			v++;
		return *v ? 0 : n * 1000;
	}
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return 0;
	when = timegm(&tm);
	if (when == (time_t)-1 || when <= now)
		return 0;
	return (uint64_t)(when - now) > day_ms / 1000 ? day_ms : (uint64_t)(when - now) * 1000;
}
