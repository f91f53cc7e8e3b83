// SPDX-License-Identifier: Apache-2.0
/*
 * Parsers for the scalar types of the policy language. Each takes the text
 * of one YAML scalar and returns NULL on success or a message saying what is
 * wrong and what is expected; they never print and never allocate except in
 * the arena they are given.
 */
#include "policy/scalar.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate/limits.h"

bool policy_is_name(const char *s, size_t len)
{
	if (len == 0 || len > TG_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '_' && c != '.' && c != '-' && c != ':' && c != '/')
			return false;
	}
	return true;
}

/* Control bytes other than tab and newline have no place in a policy
 * string: they would end up in headers, logs and metrics. */
const char *policy_check_text(const char *s, size_t len, bool multiline)
{
	if (len > TG_POLICY_STRING_MAX)
		return "string is too long (at most 4096 bytes)";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n' && !multiline)
			return "string holds a line break; this value must be one line (it may end up in a header or a URL)";
		if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
			return "string contains a control character; only printable text and tabs are allowed";
	}
	return NULL;
}

/* Digits only, no sign, no leading '+', fits in 64 bits. */
static bool parse_digits(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

const char *policy_parse_uint(const char *s, size_t len, uint64_t *out)
{
	if (!parse_digits(s, len, out))
		return "expected a whole number (digits only, e.g. 100)";
	return NULL;
}

const char *policy_parse_f64(const char *s, size_t len, double *out)
{
	char buf[64], *end;
	double v;

	if (len == 0 || len >= sizeof(buf))
		return "expected a number (e.g. 0.5 or 12)";
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* strtod accepts hex, inf, nan and leading spaces: none are numbers
	 * a person writes in a policy. */
	for (size_t i = 0; i < len; i++) {
		if (!strchr("0123456789.eE+-", buf[i]))
			return "expected a number (e.g. 0.5 or 12)";
	}
	errno = 0;
	v = strtod(buf, &end);
	if (end != buf + len || errno || !isfinite(v))
		return "expected a number (e.g. 0.5 or 12)";
	*out = v;
	return NULL;
}

/* A whole number followed by a unit from `units` (name, multiplier). */
struct unit {
	const char *name;
	uint64_t mul;
};

static bool parse_with_unit(const char *s, size_t len, const struct unit *units,
			    bool bare_ok, uint64_t *out)
{
	size_t i = 0;
	uint64_t v;

	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (!parse_digits(s, i, &v))
		return false;
	if (i == len) {
		if (!bare_ok)
			return false;
		*out = v;
		return true;
	}
	for (const struct unit *u = units; u->name; u++) {
		if (strlen(u->name) == len - i && !memcmp(s + i, u->name, len - i)) {
			if (u->mul && v > UINT64_MAX / u->mul)
				return false;
			*out = v * u->mul;
			return true;
		}
	}
	return false;
}

static const struct unit duration_units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	{ "d", 86400000 }, { NULL, 0 },
};

const char *policy_parse_duration(const char *s, size_t len, uint64_t *ms)
{
	if (!parse_with_unit(s, len, duration_units, false, ms))
		return "expected a duration: a whole number followed by ms, s, m, h or d (e.g. 30s)";
	return NULL;
}

static const struct unit size_units[] = {
	{ "B", 1 }, { "KiB", 1ull << 10 }, { "MiB", 1ull << 20 },
	{ "GiB", 1ull << 30 }, { "TiB", 1ull << 40 }, { "KB", 1000 },
	{ "MB", 1000000 }, { "GB", 1000000000 }, { NULL, 0 },
};

const char *policy_parse_size(const char *s, size_t len, uint64_t *bytes)
{
	if (!parse_with_unit(s, len, size_units, true, bytes))
		return "expected a size: a whole number of bytes, optionally followed by B, KiB, MiB, GiB, KB, MB or GB (e.g. 16KiB)";
	return NULL;
}

static const struct unit rate_units[] = {
	{ "/s", 1000 }, { "/sec", 1000 }, { "/min", 60000 }, { "/m", 60000 },
	{ "/h", 3600000 }, { "/hour", 3600000 }, { "/d", 86400000 },
	{ "/day", 86400000 }, { NULL, 0 },
};

const char *policy_parse_rate(const char *s, size_t len, struct policy_rate *r)
{
	size_t i = 0;
	uint64_t n;

	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (!parse_digits(s, i, &n))
		goto bad;
	for (const struct unit *u = rate_units; u->name; u++) {
		if (strlen(u->name) == len - i && !memcmp(s + i, u->name, len - i)) {
			r->count = n;
			r->period_ms = u->mul;
			return NULL;
		}
	}
bad:
	return "expected a rate: a whole number, '/', and s, min, h or day (e.g. 100/s or 6000/min)";
}

static bool parse_ip(const char *s, size_t len, uint8_t *family, uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = 4;
		return true;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = 6;
		return true;
	}
	return false;
}

const char *policy_parse_cidr(const char *s, size_t len, struct policy_cidr *c,
			      char *hint, size_t hint_len)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	uint64_t plen;
	unsigned max;

	memset(c, 0, sizeof(*c));
	if (!parse_ip(s, alen, &c->family, c->addr))
		return "expected an address prefix such as 10.0.0.0/8 or 2001:db8::/32";
	max = c->family == 4 ? 32 : 128;
	if (!slash) {
		plen = max;
	} else if (!parse_digits(slash + 1, len - alen - 1, &plen) || plen > max) {
		return c->family == 4 ? "prefix length must be 0 to 32 for IPv4"
				      : "prefix length must be 0 to 128 for IPv6";
	}
	c->len = (uint8_t)plen;
	/* Host bits set is almost always a typo for a different network. */
	for (unsigned bit = c->len; bit < max; bit++) {
		if (c->addr[bit / 8] & (0x80 >> (bit % 8))) {
			uint8_t net[16];
			char txt[INET6_ADDRSTRLEN];

			memcpy(net, c->addr, 16);
			for (unsigned b = c->len; b < max; b++)
				net[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
			inet_ntop(c->family == 4 ? AF_INET : AF_INET6, net, txt, sizeof(txt));
			snprintf(hint, hint_len,
				 "address has bits set beyond the /%u prefix; did you mean %s/%u?",
				 c->len, txt, c->len);
			return hint;
		}
	}
	return NULL;
}

static bool parse_port(const char *s, size_t len, bool zero_ok, uint16_t *port)
{
	uint64_t v;

	if (!parse_digits(s, len, &v) || v > 65535 || (!zero_ok && v == 0))
		return false;
	*port = (uint16_t)v;
	return true;
}

const char *policy_parse_sockaddr(const char *s, size_t len, struct policy_sockaddr *a)
{
	const char *colon;
	size_t alen;

	memset(a, 0, sizeof(*a));
	if (len && s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (!rb || rb + 1 >= s + len || rb[1] != ':')
			goto bad;
		if (!parse_ip(s + 1, (size_t)(rb - s - 1), &a->family, a->addr) || a->family != 6)
			goto bad;
		colon = rb + 1;
	} else {
		colon = memrchr(s, ':', len);
		if (!colon)
			goto bad;
		alen = (size_t)(colon - s);
		if (!parse_ip(s, alen, &a->family, a->addr) || a->family != 4)
			goto bad;
	}
	if (!parse_port(colon + 1, (size_t)(s + len - colon - 1), true, &a->port))
		return "port must be a number from 0 to 65535";
	return NULL;
bad:
	return "expected ADDRESS:PORT with a numeric address, e.g. 127.0.0.1:8080 or [::1]:8080";
}

bool policy_is_hostname(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 || s[len - 1] == '.';
}

/* host part: a name, an IPv4 address or a bracketed IPv6 address. Returns
 * the position after the host, or NULL. */
static const char *parse_host(const char *s, const char *end, const char **host,
			      size_t *hlen)
{
	if (s < end && *s == '[') {
		const char *rb = memchr(s, ']', (size_t)(end - s));
		uint8_t fam, addr[16];

		if (!rb || !parse_ip(s + 1, (size_t)(rb - s - 1), &fam, addr) || fam != 6)
			return NULL;
		*host = s + 1;
		*hlen = (size_t)(rb - s - 1);
		return rb + 1;
	}
	const char *p = s;

	while (p < end && *p != ':' && *p != '/' && *p != '?' && *p != '#')
		p++;
	if (!policy_is_hostname(s, (size_t)(p - s)))
		return NULL;
	*host = s;
	*hlen = (size_t)(p - s);
	return p;
}

const char *policy_parse_hostport(const char *s, size_t len, struct arena *ar,
				  struct policy_hostport *hp)
{
	const char *end = s + len, *host, *p;
	size_t hlen;

	memset(hp, 0, sizeof(*hp));
	p = parse_host(s, end, &host, &hlen);
	if (p && p < end && *p == ':' && memchr(p + 1, ':', (size_t)(end - p - 1)))
		return "an IPv6 address needs brackets: [2001:db8::5]:443";
	if (!p || p >= end || *p != ':')
		return "expected HOST:PORT, e.g. backend.internal:8080, 10.0.0.5:80 or [2001:db8::5]:443";
	if (!parse_port(p + 1, (size_t)(end - p - 1), false, &hp->port))
		return "port must be a number from 1 to 65535";
	hp->host = arena_strndup(ar, host, hlen);
	hp->text = arena_strndup(ar, s, len);
	if (!hp->host || !hp->text)
		return "out of memory";
	return NULL;
}

const char *policy_parse_url(const char *s, size_t len, const char *schemes,
			     struct arena *ar, struct policy_url *u, char *hint,
			     size_t hint_len)
{
	const char *end = s + len, *sep, *p, *host;
	size_t slen, hlen;
	uint16_t port = 0;

	memset(u, 0, sizeof(*u));
	sep = len >= 3 ? memmem(s, len, "://", 3) : NULL;
	if (!sep)
		goto bad;
	slen = (size_t)(sep - s);
	/* The scheme must be one of the space-separated `schemes`. */
	{
		const char *w = schemes;
		bool ok = false;

		while (*w) {
			size_t wl = strcspn(w, " ");

			if (wl == slen && !strncmp(w, s, slen))
				ok = true;
			w += wl;
			while (*w == ' ')
				w++;
		}
		if (!ok) {
			snprintf(hint, hint_len, "URL scheme must be one of: %s", schemes);
			return hint;
		}
	}
	p = sep + 3;
	{
		const char *auth_end = p;

		while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
			auth_end++;
		if (memchr(p, '@', (size_t)(auth_end - p)))
			return "credentials in a URL are not allowed; give them as a secret reference in their own key";
	}
	p = parse_host(p, end, &host, &hlen);
	if (!p)
		goto bad;
	if (p < end && *p == ':') {
		const char *q = p + 1;

		while (q < end && *q != '/')
			q++;
		if (!parse_port(p + 1, (size_t)(q - p - 1), false, &port))
			return "URL port must be a number from 1 to 65535";
		p = q;
	}
	if (p < end && *p != '/')
		goto bad;
	for (const char *q = p; q < end; q++) {
		if (*q == '#')
			return "a URL fragment ('#...') has no meaning here";
		if ((unsigned char)*q <= 0x20 || *q == 0x7f)
			return "a URL may not contain spaces or control characters";
	}
	u->scheme = arena_strndup(ar, s, slen);
	u->tls = (slen == 5 && !memcmp(s, "https", 5)) ||
		 (slen == 6 && !memcmp(s, "rediss", 6));
	u->host = arena_strndup(ar, host, hlen);
	if (!port) {
		if (slen == 5 && !memcmp(s, "https", 5))
			port = 443;
		else if (slen == 4 && !memcmp(s, "http", 4))
			port = 80;
		else
			port = 6379;	/* redis, rediss */
	}
	u->port = port;
	u->path = p < end ? arena_strndup(ar, p, (size_t)(end - p)) : "/";
	u->text = arena_strndup(ar, s, len);
	if (!u->scheme || !u->host || !u->path || !u->text)
		return "out of memory";
	return NULL;
bad:
	snprintf(hint, hint_len,
		 "expected a URL: SCHEME://HOST[:PORT][/PATH] with SCHEME one of: %s",
		 schemes);
	return hint;
}

const char *policy_parse_secret_ref(const char *s, size_t len,
				    enum policy_secret_kind *kind,
				    const char **ref, size_t *ref_len)
{
	static const char msg[] =
		"expected a secret reference: ${env:NAME} or ${file:/absolute/path}; literal secrets are not allowed in a policy";

	if (len < 4 || memcmp(s, "${", 2) || s[len - 1] != '}')
		return msg;
	if (len > 6 && !memcmp(s + 2, "env:", 4)) {
		const char *n = s + 6;
		size_t nl = len - 7;

		if (nl == 0 || nl > 255 || !(isalpha((unsigned char)n[0]) || n[0] == '_'))
			return "environment variable name must start with a letter or '_' and hold only letters, digits and '_'";
		for (size_t i = 0; i < nl; i++) {
			if (!isalnum((unsigned char)n[i]) && n[i] != '_')
				return "environment variable name must start with a letter or '_' and hold only letters, digits and '_'";
		}
		*kind = POLICY_SECRET_ENV;
		*ref = n;
		*ref_len = nl;
		return NULL;
	}
	if (len > 7 && !memcmp(s + 2, "file:", 5)) {
		const char *n = s + 7;
		size_t nl = len - 8;

		if (nl == 0 || n[0] != '/')
			return "secret file path must be absolute (start with '/')";
		*kind = POLICY_SECRET_FILE;
		*ref = n;
		*ref_len = nl;
		return NULL;
	}
	return msg;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

const char *policy_parse_keyhash(const char *s, size_t len, uint8_t out[32])
{
	if (len != 7 + 64 || memcmp(s, "sha256:", 7))
		return "expected a key hash: sha256: followed by 64 hex digits (make one with 'tollctl key new' or 'tollctl key hash')";
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval(s[7 + 2 * i]), lo = hexval(s[8 + 2 * i]);

		if (hi < 0 || lo < 0)
			return "expected a key hash: sha256: followed by 64 hex digits (make one with 'tollctl key new' or 'tollctl key hash')";
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return NULL;
}

int policy_parse_key_hash(const char *text, uint8_t out[32])
{
	return policy_parse_keyhash(text, strlen(text), out) ? -EINVAL : 0;
}

void policy_format_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms && ms % 86400000 == 0)
		snprintf(buf, len, "%llud", (unsigned long long)(ms / 86400000));
	else if (ms && ms % 3600000 == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms && ms % 60000 == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
}

void policy_format_size(uint64_t b, char *buf, size_t len)
{
	if (b && b % (1ull << 30) == 0)
		snprintf(buf, len, "%lluGiB", (unsigned long long)(b >> 30));
	else if (b && b % (1ull << 20) == 0)
		snprintf(buf, len, "%lluMiB", (unsigned long long)(b >> 20));
	else if (b && b % (1ull << 10) == 0)
		snprintf(buf, len, "%lluKiB", (unsigned long long)(b >> 10));
	else
		snprintf(buf, len, "%llu", (unsigned long long)b);
}

unsigned policy_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[TG_NAME_MAX + 2];

	if (la > TG_NAME_MAX || lb > TG_NAME_MAX)
		return 1000;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned cost = tolower((unsigned char)a[i - 1]) !=
					tolower((unsigned char)b[j - 1]);
			unsigned best = diag + cost;

			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}
