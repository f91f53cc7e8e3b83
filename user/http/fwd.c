// SPDX-License-Identifier: Apache-2.0
/*
 * Forwarding fields: X-Forwarded-For, X-Forwarded-Proto, Via. See fwd.h and
 * docs/http.md ("Forwarding fields").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "http/fwd.h"

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

static int finish(struct out *o, size_t *len)
{
	*len = o->n;
	return o->n > o->cap ? -ENOSPC : 0;
}

static bool name_is(const struct http1_header *h, const char *lit)
{
	return http1_span_eq_nocase(h->name, lit, strlen(lit));
}

bool fwd_is_rewritten(const struct http1_header *h)
{
	return name_is(h, "x-forwarded-for") || name_is(h, "x-forwarded-proto") ||
	       name_is(h, "via");
}

/* tchar, RFC 9110 §5.6.2 */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool pseudonym_ok(const char *ps, size_t *len)
{
	size_t n = ps ? strnlen(ps, FWD_PSEUDONYM_MAX + 1) : 0;

	if (!n || n > FWD_PSEUDONYM_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)ps[i]))
			return false;
	*len = n;
	return true;
}

static inline bool ows(char c)
{
	return c == ' ' || c == '\t';
}

/* received-by = pseudonym / uri-host [ ":" port ]: `by` is ours when it is
 * the pseudonym, alone or with a port. */
static bool by_is(const char *by, size_t n, const char *ps, size_t pl)
{
	struct http1_span s = { by, pl };

	if (n < pl || !http1_span_eq_nocase(s, ps, pl))
		return false;
	if (n == pl)
		return true;
	if (by[pl] != ':')
		return false;
	for (size_t i = pl + 1; i < n; i++)
		if (by[i] < '0' || by[i] > '9')
			return false;
	return true;
}

/*
 * Via = #( received-protocol RWS received-by [ RWS comment ] )
 * (RFC 9110 §7.6.3). Elements are split at commas outside comments
 * (comments nest and may hold quoted-pairs, §5.6.5); an element without
 * a received-by is skipped.
 */
static bool via_names(const char *v, size_t n, const char *ps, size_t pl)
{
	size_t i = 0;

	while (i < n) {
		size_t p0, b0, b1;
		bool ok;
		int depth = 0;

		while (i < n && (ows(v[i]) || v[i] == ','))
			i++;
		if (i == n)
			break;
		p0 = i;
		while (i < n && !ows(v[i]) && v[i] != ',' && v[i] != '(')
			i++;
		ok = i > p0 && i < n && ows(v[i]);
		while (i < n && ows(v[i]))
			i++;
		b0 = i;
		while (i < n && !ows(v[i]) && v[i] != ',' && v[i] != '(')
			i++;
		b1 = i;
		if (ok && b1 > b0 && by_is(v + b0, b1 - b0, ps, pl))
			return true;
		/* The rest of the element: comments, to a comma outside them. */
		while (i < n) {
			char c = v[i];

			if (depth && c == '\\' && i + 1 < n) {
				i += 2;
				continue;
			}
			if (c == '(')
				depth++;
			else if (c == ')' && depth)
				depth--;
			else if (c == ',' && !depth)
				break;
			i++;
		}
	}
	return false;
}

bool fwd_has_via_loop(const struct http1_message *m, const char *pseudonym)
{
	size_t pl;

	if (!pseudonym_ok(pseudonym, &pl))
		return false;
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct http1_header *h = &m->headers[i];

		if (name_is(h, "via") &&
		    via_names(h->value.p, h->value.len, pseudonym, pl))
			return true;
	}
	return false;
}

int fwd_addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
	char tmp[FWD_ADDR_MAX];
	size_t n;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		if (!inet_ntop(AF_INET, &in->sin_addr, tmp, sizeof(tmp)))
			return -errno;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d;
		 * the next hop wants the IPv4 address. */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			if (!inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], tmp,
				       sizeof(tmp)))
				return -errno;
		} else if (!inet_ntop(AF_INET6, &in6->sin6_addr, tmp,
				      sizeof(tmp))) {
			return -errno;
		}
	} else {
		return -EAFNOSUPPORT;
	}
	n = strlen(tmp);
	if (n + 1 > cap)
		return -ENOSPC;
	memcpy(out, tmp, n + 1);
	return (int)n;
}

static bool addr_ok(const char *addr, size_t n)
{
	char tmp[FWD_ADDR_MAX];
	unsigned char bin[sizeof(struct in6_addr)];

	if (!addr || !n || n >= sizeof(tmp))
		return false;
	memcpy(tmp, addr, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET, tmp, bin) == 1 ||
	       inet_pton(AF_INET6, tmp, bin) == 1;
}

/* The values of every field named `lit` in m, in order, joined with ", "
 * (RFC 9110 §5.3: list fields may be combined so), then `last`. */
static void put_list(struct out *o, const struct http1_message *m,
		     const char *lit, const char *last, size_t last_len)
{
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct http1_header *h = &m->headers[i];

		if (!h->value.len || !name_is(h, lit))
			continue;
		put(o, h->value.p, h->value.len);
		put(o, ", ", 2);
	}
	put(o, last, last_len);
}

int fwd_xff(char *out, size_t cap, const struct http1_message *m,
	    const char *addr, size_t addr_len, size_t *len)
{
	struct out o = { out, cap, 0 };

	*len = 0;
	if (!addr_ok(addr, addr_len))
		return -EINVAL;
	put(&o, "X-Forwarded-For: ", 17);
	put_list(&o, m, "x-forwarded-for", addr, addr_len);
	put(&o, "\r\n", 2);
	return finish(&o, len);
}

int fwd_xfp(char *out, size_t cap, bool tls, size_t *len)
{
	struct out o = { out, cap, 0 };

	put(&o, "X-Forwarded-Proto: ", 19);
	if (tls)
		put(&o, "https", 5);
	else
		put(&o, "http", 4);
	put(&o, "\r\n", 2);
	return finish(&o, len);
}

int fwd_via(char *out, size_t cap, const struct http1_message *m,
	    const char *pseudonym, size_t *len)
{
	struct out o = { out, cap, 0 };
	char self[4 + FWD_PSEUDONYM_MAX];
	size_t pl;

	*len = 0;
	if (!pseudonym_ok(pseudonym, &pl))
		return -EINVAL;
	/* received-protocol: "HTTP/" is omitted for HTTP (§7.6.3). */
	memcpy(self, m->version_minor ? "1.1 " : "1.0 ", 4);
	memcpy(self + 4, pseudonym, pl);
	put(&o, "Via: ", 5);
	put_list(&o, m, "via", self, 4 + pl);
	put(&o, "\r\n", 2);
	return finish(&o, len);
}

int fwd_request_fields(char *out, size_t cap, const struct http1_message *m,
		       const char *addr, size_t addr_len, bool tls,
		       const char *pseudonym, size_t *len)
{
	size_t total = 0, n;
	int err, full = 0;

	*len = 0;
	if (fwd_has_via_loop(m, pseudonym))
		return -ELOOP;
	for (int k = 0; k < 3; k++) {
		char *p = total < cap ? out + total : out;
		size_t room = total < cap ? cap - total : 0;

		if (k == 0)
			err = fwd_xff(p, room, m, addr, addr_len, &n);
		else if (k == 1)
			err = fwd_xfp(p, room, tls, &n);
		else
			err = fwd_via(p, room, m, pseudonym, &n);
		if (err == -ENOSPC)
			full = 1;
		else if (err)
			return err;
		total += n;
	}
	*len = total;
	return full ? -ENOSPC : 0;
}
