// SPDX-License-Identifier: Apache-2.0
/*
 * AWS Signature Version 4. See sigv4.h for the contract and docs/bedrock.md
 * for the rules with the places they come from (the AWS IAM user guide,
 * "Create a signed AWS API request", and the Signature Version 4 test
 * suite, whose cases tests/unit/test_sigv4.c replays).
 *
 * The canonical request is never built in memory when signing: its pieces
 * go straight into the digest (a "sink" that can also copy them out, which
 * sigv4_canonical_request() uses). HMAC is done by hand over the one digest
 * context (RFC 2104), so that signing allocates nothing: OpenSSL 3's HMAC()
 * creates a MAC context per call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "llm/sigv4.h"

#define SHA256_BLOCK	64
#define SHA256_LEN	32

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/* ---- small helpers -------------------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool is_token(struct http1_span s)
{
	if (!s.len || !s.p)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!is_tchar((unsigned char)s.p[i]))
			return false;
	return true;
}

/* A header value we can sign and send: no CR, LF or NUL. */
static bool is_field_value(struct http1_span s)
{
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] == '\r' || s.p[i] == '\n' || s.p[i] == '\0')
			return false;
	return true;
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t n = an < bn ? an : bn;

	for (size_t i = 0; i < n; i++) {
		unsigned char ca = lower((unsigned char)a[i]);
		unsigned char cb = lower((unsigned char)b[i]);

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return an < bn ? -1 : an > bn;
}

static bool name_is(struct http1_span n, const char *lit)
{
	return !name_cmp(n.p, n.len, lit, strlen(lit));
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

static void to_hex(char *out, const uint8_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_lower[in[i] >> 4];
		out[2 * i + 1] = hex_lower[in[i] & 15];
	}
}

size_t sigv4_uri_encode(char *out, size_t cap, const char *in, size_t n,
			bool keep_slash)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			if (o < cap)
				out[o] = (char)c;
			o++;
			continue;
		}
		if (o + 3 <= cap) {
			out[o] = '%';
			out[o + 1] = hex_upper[c >> 4];
			out[o + 2] = hex_upper[c & 15];
		}
		o += 3;
	}
	return o;
}

/* ---- digest and HMAC ------------------------------------------------------ */

/* Where canonical-request bytes go: the digest, a buffer, or both. */
struct sink {
	EVP_MD_CTX *md;		/* NULL: not hashed */
	char *buf;		/* NULL: not copied */
	size_t cap;
	size_t len;		/* bytes put (may exceed cap) */
	bool failed;		/* a digest update failed */
};

static void put(struct sink *k, const void *p, size_t n)
{
	if (!n)
		return;
	if (k->md && !EVP_DigestUpdate(k->md, p, n))
		k->failed = true;
	if (k->buf && k->len <= k->cap && n <= k->cap - k->len)
		memcpy(k->buf + k->len, p, n);
	k->len += n;
}

static void put_s(struct sink *k, const char *s)
{
	put(k, s, strlen(s));
}

static void put_c(struct sink *k, char c)
{
	put(k, &c, 1);
}

/* URI-encodes in batches: runs of unreserved bytes go through at once. */
static void put_encoded(struct sink *k, const char *p, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		char esc[3];

		if (is_unreserved(c))
			continue;
		put(k, p + run, i - run);
		esc[0] = '%';
		esc[1] = hex_upper[c >> 4];
		esc[2] = hex_upper[c & 15];
		put(k, esc, 3);
		run = i + 1;
	}
	put(k, p + run, n - run);
}

static void put_lower(struct sink *k, const char *p, size_t n)
{
	char tmp[64];

	while (n) {
		size_t m = n < sizeof(tmp) ? n : sizeof(tmp);

		for (size_t i = 0; i < m; i++)
			tmp[i] = (char)lower((unsigned char)p[i]);
		put(k, tmp, m);
		p += m;
		n -= m;
	}
}

/*
 * A header value as SigV4 canonicalizes it: leading and trailing spaces
 * removed, each run of spaces inside turned into one space.
 */
static void put_trimmed(struct sink *k, const char *p, size_t n)
{
	size_t i = 0, run;

	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	run = i;
	while (i < n) {
		if (p[i] != ' ' && p[i] != '\t') {
			i++;
			continue;
		}
		put(k, p + run, i - run);
		put_c(k, ' ');
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		run = i;
	}
	put(k, p + run, n - run);
}

static int sha256(struct sigv4_signer *s, const void *p, size_t n,
		  uint8_t out[SHA256_LEN])
{
	if (!EVP_DigestInit_ex(s->md, s->sha256, NULL) ||
	    !EVP_DigestUpdate(s->md, p, n) ||
	    !EVP_DigestFinal_ex(s->md, out, NULL))
		return -EIO;
	return 0;
}

/* HMAC-SHA256 (RFC 2104) on the signer's digest context. */
static int hmac(struct sigv4_signer *s, const void *key, size_t key_len,
		const void *msg, size_t n, uint8_t out[SHA256_LEN])
{
	uint8_t k[SHA256_BLOCK] = { 0 }, pad[SHA256_BLOCK], inner[SHA256_LEN];
	int err = 0;

	if (key_len > SHA256_BLOCK) {
		err = sha256(s, key, key_len, k);
		if (err)
			goto out_wipe;
	} else {
		memcpy(k, key, key_len);
	}
	for (size_t i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	if (!EVP_DigestInit_ex(s->md, s->sha256, NULL) ||
	    !EVP_DigestUpdate(s->md, pad, SHA256_BLOCK) ||
	    !EVP_DigestUpdate(s->md, msg, n) ||
	    !EVP_DigestFinal_ex(s->md, inner, NULL)) {
		err = -EIO;
		goto out_wipe;
	}
	for (size_t i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	if (!EVP_DigestInit_ex(s->md, s->sha256, NULL) ||
	    !EVP_DigestUpdate(s->md, pad, SHA256_BLOCK) ||
	    !EVP_DigestUpdate(s->md, inner, SHA256_LEN) ||
	    !EVP_DigestFinal_ex(s->md, out, NULL))
		err = -EIO;
out_wipe:
	/* The padded key is the secret (or a key derived from it). */
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return err;
}

/* ---- signer lifecycle ----------------------------------------------------- */

static int copy_cred(char *dst, size_t cap, size_t *len, struct http1_span v,
		     bool scope)
{
	if (!v.p || !v.len)
		return -EINVAL;
	if (v.len > cap)
		return -E2BIG;
	if (!is_field_value(v) || (scope && memchr(v.p, '/', v.len)))
		return -EINVAL;
	memcpy(dst, v.p, v.len);
	*len = v.len;
	return 0;
}

int sigv4_signer_init(struct sigv4_signer *s, const struct sigv4_creds *c)
{
	int err;

	memset(s, 0, sizeof(*s));
	memcpy(s->secret, "AWS4", 4);
	err = copy_cred(s->key_id, sizeof(s->key_id), &s->key_id_len,
			c->access_key_id, true);
	if (!err)
		err = copy_cred(s->secret + 4, sizeof(s->secret) - 4,
				&s->secret_len, c->secret_access_key, false);
	s->secret_len += 4;
	if (!err && c->session_token.p && c->session_token.len)
		err = copy_cred(s->token, sizeof(s->token), &s->token_len,
				c->session_token, false);
	if (!err)
		err = copy_cred(s->region, sizeof(s->region), &s->region_len,
				c->region, true);
	if (!err)
		err = copy_cred(s->service, sizeof(s->service), &s->service_len,
				c->service, true);
	if (err)
		return err;
	s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	s->md = EVP_MD_CTX_new();
	if (!s->sha256 || !s->md)
		return -ENOMEM;
	return 0;
}

void sigv4_signer_fini(struct sigv4_signer *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
	EVP_MD_free(s->sha256);
	s->sha256 = NULL;
	OPENSSL_cleanse(s->secret, sizeof(s->secret));
	OPENSSL_cleanse(s->token, sizeof(s->token));
	OPENSSL_cleanse(s->k_signing, sizeof(s->k_signing));
	s->secret_len = s->token_len = 0;
	s->has_key = false;
}

/* ---- the canonical request ------------------------------------------------ */

struct hdr {
	const char *name, *value;
	size_t name_len, value_len;
};

struct qparam {
	size_t k_off, k_len, v_off, v_len;	/* in signer->qbuf */
};

struct prep {
	char amz_date[SIGV4_AMZ_DATE_LEN + 1];
	char payload[SIGV4_HEX_LEN];
	struct hdr h[TG_SIGV4_HEADERS_MAX + 5];
	size_t n_h;
	struct http1_span seg[TG_SIGV4_PATH_SEGMENTS_MAX];
	size_t n_seg;
	bool trailing_slash;
	struct qparam q[TG_SIGV4_QUERY_PARAMS_MAX];
	size_t n_q;
};

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Decodes %XX escapes in in[0..n) and URI-encodes the bytes again into
 * qbuf at *o, so that a parameter sent encoded or not gives the same
 * canonical form.
 */
static int query_part(char *qbuf, size_t *o, const char *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -EINVAL;
			hi = hexval((unsigned char)in[i + 1]);
			lo = hexval((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		/* qbuf holds 3 bytes per query byte: this always fits. */
		*o += sigv4_uri_encode(qbuf + *o, 3, (const char *)&c, 1, false);
	}
	return 0;
}

static int prep_query(struct sigv4_signer *s, struct prep *pr,
		      struct http1_span q)
{
	size_t i = 0, o = 0;

	if (q.len > TG_SIGV4_QUERY_MAX)
		return -E2BIG;
	while (i < q.len) {
		const char *amp = memchr(q.p + i, '&', q.len - i);
		size_t end = amp ? (size_t)(amp - q.p) : q.len;
		const char *eq = memchr(q.p + i, '=', end - i);
		size_t kend = eq ? (size_t)(eq - q.p) : end;
		struct qparam *p;
		int err;

		if (end == i) {		/* "a&&b": no parameter */
			i = end + 1;
			continue;
		}
		if (pr->n_q == TG_SIGV4_QUERY_PARAMS_MAX)
			return -E2BIG;
		p = &pr->q[pr->n_q++];
		p->k_off = o;
		err = query_part(s->qbuf, &o, q.p + i, kend - i);
		if (err)
			return err;
		p->k_len = o - p->k_off;
		p->v_off = o;
		if (eq) {
			err = query_part(s->qbuf, &o, eq + 1, end - kend - 1);
			if (err)
				return err;
		}
		p->v_len = o - p->v_off;
		i = end + 1;
	}
	/* Sorted by encoded name, then encoded value (insertion sort: a
	 * handful of parameters, bounded). */
	for (size_t a = 1; a < pr->n_q; a++) {
		struct qparam t = pr->q[a];
		size_t b = a;

		while (b > 0) {
			const struct qparam *u = &pr->q[b - 1];
			int c = bytes_cmp(s->qbuf + u->k_off, u->k_len,
					  s->qbuf + t.k_off, t.k_len);

			if (!c)
				c = bytes_cmp(s->qbuf + u->v_off, u->v_len,
					      s->qbuf + t.v_off, t.v_len);
			if (c <= 0)
				break;
			pr->q[b] = pr->q[b - 1];
			b--;
		}
		pr->q[b] = t;
	}
	return 0;
}

/*
 * The path normalized as the AWS SDKs do for every service but S3: empty
 * and "." segments dropped, ".." removes the one before; a trailing slash
 * kept when any segment remains.
 */
static int prep_path(struct prep *pr, struct http1_span path)
{
	size_t i = 1;

	if (!path.len || !path.p || path.p[0] != '/' || !is_field_value(path) ||
	    memchr(path.p, '?', path.len) || memchr(path.p, '#', path.len))
		return -EINVAL;
	while (i <= path.len) {
		const char *sl = memchr(path.p + i, '/', path.len - i);
		size_t end = sl ? (size_t)(sl - path.p) : path.len;
		struct http1_span seg = { path.p + i, end - i };

		if (!seg.len || (seg.len == 1 && seg.p[0] == '.')) {
			/* dropped */
		} else if (seg.len == 2 && seg.p[0] == '.' && seg.p[1] == '.') {
			if (pr->n_seg)
				pr->n_seg--;
		} else {
			if (pr->n_seg == TG_SIGV4_PATH_SEGMENTS_MAX)
				return -E2BIG;
			pr->seg[pr->n_seg++] = seg;
		}
		i = end + 1;
	}
	pr->trailing_slash = path.len > 1 && path.p[path.len - 1] == '/';
	return 0;
}

static void add_hdr(struct prep *pr, const char *name, const char *value,
		   size_t value_len)
{
	struct hdr *h = &pr->h[pr->n_h];

	h->name = name;
	h->name_len = strlen(name);
	h->value = value;
	h->value_len = value_len;
	pr->n_h++;
}

static int amz_date(char out[SIGV4_AMZ_DATE_LEN + 1], time_t when)
{
	struct tm tm;

	if (when < 0 || !gmtime_r(&when, &tm) || tm.tm_year + 1900 > 9999)
		return -EINVAL;
	if (strftime(out, SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) !=
	    SIGV4_AMZ_DATE_LEN)
		return -EINVAL;
	return 0;
}

static const char *const owned[] = {
	"host", "content-type", "authorization", "x-amz-date",
	"x-amz-content-sha256", "x-amz-security-token",
};

static int prep(struct sigv4_signer *s, const struct sigv4_request *r,
		struct prep *pr)
{
	int err;

	memset(pr, 0, sizeof(*pr));
	if (!s->md || !is_token(r->method) || !r->host.len || !r->host.p ||
	    !is_field_value(r->host) ||
	    (r->content_type.p && !is_field_value(r->content_type)) ||
	    (r->n_headers && !r->headers) || (r->body_len && !r->body))
		return -EINVAL;
	if (r->n_headers > TG_SIGV4_HEADERS_MAX)
		return -E2BIG;
	err = amz_date(pr->amz_date, r->when);
	if (err)
		return err;
	err = prep_path(pr, r->path);
	if (!err && r->query.len)
		err = prep_query(s, pr, r->query);
	if (err)
		return err;

	if (r->body_sha256) {
		for (size_t i = 0; i < SIGV4_HEX_LEN; i++) {
			char c = r->body_sha256[i];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
				return -EINVAL;
		}
		memcpy(pr->payload, r->body_sha256, SIGV4_HEX_LEN);
	} else {
		uint8_t d[SHA256_LEN];

		err = sha256(s, r->body ? r->body : "", r->body_len, d);
		if (err)
			return err;
		to_hex(pr->payload, d, sizeof(d));
	}

	for (size_t i = 0; i < r->n_headers; i++) {
		const struct sigv4_header *h = &r->headers[i];

		if (!is_token(h->name) || !is_field_value(h->value) ||
		    (h->value.len && !h->value.p))
			return -EINVAL;
		for (size_t j = 0; j < sizeof(owned) / sizeof(owned[0]); j++)
			if (name_is(h->name, owned[j]))
				return -EINVAL;
		pr->h[pr->n_h] = (struct hdr){
			.name = h->name.p, .name_len = h->name.len,
			.value = h->value.p ? h->value.p : "",
			.value_len = h->value.len,
		};
		pr->n_h++;
	}
	add_hdr(pr, "host", r->host.p, r->host.len);
	add_hdr(pr, "x-amz-date", pr->amz_date, SIGV4_AMZ_DATE_LEN);
	if (r->content_type.p)
		add_hdr(pr, "content-type", r->content_type.p,
			r->content_type.len);
	if (r->flags & SIGV4_F_CONTENT_SHA256)
		add_hdr(pr, "x-amz-content-sha256", pr->payload, SIGV4_HEX_LEN);
	if (s->token_len && !(r->flags & SIGV4_F_TOKEN_UNSIGNED))
		add_hdr(pr, "x-amz-security-token", s->token, s->token_len);

	/* Sorted by lowercase name; equal names keep their given order so
	 * their values join in it. */
	for (size_t a = 1; a < pr->n_h; a++) {
		struct hdr t = pr->h[a];
		size_t b = a;

		while (b > 0 && name_cmp(pr->h[b - 1].name, pr->h[b - 1].name_len,
					 t.name, t.name_len) > 0) {
			pr->h[b] = pr->h[b - 1];
			b--;
		}
		pr->h[b] = t;
	}
	return 0;
}

static void put_signed_headers(struct sink *k, const struct prep *pr)
{
	for (size_t i = 0; i < pr->n_h; i++) {
		if (i && !name_cmp(pr->h[i - 1].name, pr->h[i - 1].name_len,
				   pr->h[i].name, pr->h[i].name_len))
			continue;
		if (i)
			put_c(k, ';');
		put_lower(k, pr->h[i].name, pr->h[i].name_len);
	}
}

static void put_canonical(struct sigv4_signer *s, struct sink *k,
			  const struct sigv4_request *r, const struct prep *pr)
{
	put(k, r->method.p, r->method.len);
	put_c(k, '\n');

	/* URI: each remaining segment encoded once more. */
	for (size_t i = 0; i < pr->n_seg; i++) {
		put_c(k, '/');
		put_encoded(k, pr->seg[i].p, pr->seg[i].len);
	}
	if (!pr->n_seg || pr->trailing_slash)
		put_c(k, '/');
	put_c(k, '\n');

	for (size_t i = 0; i < pr->n_q; i++) {
		if (i)
			put_c(k, '&');
		put(k, s->qbuf + pr->q[i].k_off, pr->q[i].k_len);
		put_c(k, '=');
		put(k, s->qbuf + pr->q[i].v_off, pr->q[i].v_len);
	}
	put_c(k, '\n');

	for (size_t i = 0; i < pr->n_h; i++) {
		const struct hdr *h = &pr->h[i];

		if (i && !name_cmp(pr->h[i - 1].name, pr->h[i - 1].name_len,
				   h->name, h->name_len)) {
			put_c(k, ',');
		} else {
			if (i)
				put_c(k, '\n');
			put_lower(k, h->name, h->name_len);
			put_c(k, ':');
		}
		put_trimmed(k, h->value, h->value_len);
	}
	put_s(k, "\n\n");
	put_signed_headers(k, pr);
	put_c(k, '\n');
	put(k, pr->payload, SIGV4_HEX_LEN);
}

int sigv4_canonical_request(struct sigv4_signer *s,
			    const struct sigv4_request *r,
			    char *out, size_t cap, size_t *len)
{
	struct prep pr;
	struct sink k = { .buf = out, .cap = out ? cap : 0 };
	int err = prep(s, r, &pr);

	*len = 0;
	if (err)
		return err;
	put_canonical(s, &k, r, &pr);
	*len = k.len;
	return k.len > k.cap ? -ENOSPC : 0;
}

/* ---- signing -------------------------------------------------------------- */

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request"), kept for the day. */
static int signing_key(struct sigv4_signer *s, const char *date)
{
	uint8_t a[SHA256_LEN], b[SHA256_LEN];
	int err;

	if (s->has_key && !memcmp(s->key_date, date, 8))
		return 0;
	s->has_key = false;
	err = hmac(s, s->secret, s->secret_len, date, 8, a);
	if (!err)
		err = hmac(s, a, sizeof(a), s->region, s->region_len, b);
	if (!err)
		err = hmac(s, b, sizeof(b), s->service, s->service_len, a);
	if (!err)
		err = hmac(s, a, sizeof(a), "aws4_request", 12, s->k_signing);
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	if (err)
		return err;
	memcpy(s->key_date, date, 8);
	s->has_key = true;
	return 0;
}

/* Appends to out[0..cap) counting what does not fit. */
struct outbuf {
	char *p;
	size_t cap, len;
};

static void out_put(struct outbuf *o, const void *p, size_t n)
{
	if (o->len <= o->cap && n <= o->cap - o->len)
		memcpy(o->p + o->len, p, n);
	o->len += n;
}

static void out_s(struct outbuf *o, const char *s)
{
	out_put(o, s, strlen(s));
}

int sigv4_sign(struct sigv4_signer *s, const struct sigv4_request *r,
	       char *out, size_t cap, size_t *len)
{
	struct prep pr;
	struct sink k = { 0 };
	uint8_t creq_hash[SHA256_LEN], sig[SHA256_LEN];
	char creq_hex[SIGV4_HEX_LEN], sig_hex[SIGV4_HEX_LEN];
	char sts[256];
	struct outbuf o = { .p = out, .cap = out ? cap : 0 };
	char signed_hdrs[TG_SIGV4_HEADERS_MAX * 64];
	struct sink sh = { .buf = signed_hdrs, .cap = sizeof(signed_hdrs) };
	int n, err;

	*len = 0;
	err = prep(s, r, &pr);
	if (err)
		return err;

	/* The canonical request, hashed as it is produced. */
	if (!EVP_DigestInit_ex(s->md, s->sha256, NULL))
		return -EIO;
	k.md = s->md;
	put_canonical(s, &k, r, &pr);
	if (k.failed || !EVP_DigestFinal_ex(s->md, creq_hash, NULL))
		return -EIO;
	to_hex(creq_hex, creq_hash, sizeof(creq_hash));

	err = signing_key(s, pr.amz_date);
	if (err)
		return err;
	/* Region and service are bounded (limits.h), so this fits. */
	n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%.8s/%.*s/%.*s/aws4_request\n%.*s",
		     pr.amz_date, pr.amz_date, (int)s->region_len, s->region,
		     (int)s->service_len, s->service, SIGV4_HEX_LEN, creq_hex);
	if (n < 0 || (size_t)n >= sizeof(sts))
		return -EIO;
	err = hmac(s, s->k_signing, sizeof(s->k_signing), sts, (size_t)n, sig);
	if (err)
		return err;
	to_hex(sig_hex, sig, sizeof(sig));

	put_signed_headers(&sh, &pr);
	if (sh.len > sh.cap)
		return -E2BIG;

	out_s(&o, "X-Amz-Date: ");
	out_put(&o, pr.amz_date, SIGV4_AMZ_DATE_LEN);
	out_s(&o, "\r\n");
	if (r->flags & SIGV4_F_CONTENT_SHA256) {
		out_s(&o, "X-Amz-Content-Sha256: ");
		out_put(&o, pr.payload, SIGV4_HEX_LEN);
		out_s(&o, "\r\n");
	}
	if (s->token_len) {
		out_s(&o, "X-Amz-Security-Token: ");
		out_put(&o, s->token, s->token_len);
		out_s(&o, "\r\n");
	}
	out_s(&o, "Authorization: AWS4-HMAC-SHA256 Credential=");
	out_put(&o, s->key_id, s->key_id_len);
	out_s(&o, "/");
	out_put(&o, pr.amz_date, 8);
	out_s(&o, "/");
	out_put(&o, s->region, s->region_len);
	out_s(&o, "/");
	out_put(&o, s->service, s->service_len);
	out_s(&o, "/aws4_request, SignedHeaders=");
	out_put(&o, signed_hdrs, sh.len);
	out_s(&o, ", Signature=");
	out_put(&o, sig_hex, SIGV4_HEX_LEN);
	out_s(&o, "\r\n");
	OPENSSL_cleanse(sig, sizeof(sig));
	*len = o.len;
	return o.len > o.cap ? -ENOSPC : 0;
}
