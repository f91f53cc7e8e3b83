// SPDX-License-Identifier: Apache-2.0
/*
 * JWT verification (user/llm/jwt.h). The group setup makes an RSA 2048, an
 * EC P-256 and an HMAC key with OpenSSL and writes a JWKS from their public
 * parts; tokens are signed here (sign_token()) and verified from a buffer
 * that ends at a guard page. Also RFC 7515 Appendix A.1's HS256 example,
 * key and token as printed in the RFC.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "guard_page.h"
#include "llm/jwt.h"

#define NOW		1700000000ll
#define ISS		"https://idp.example"
#define AUD		"tollgate"
#define JWKS_BUF	16384

enum sign_how {
	SIGN_HMAC = 0,		/* with the secret given */
	SIGN_RSA,
	SIGN_EC,		/* raw R || S, as RFC 7518 §3.4 wants */
	SIGN_EC_DER,		/* OpenSSL's DER form: wrong for a JWS */
	SIGN_NONE,		/* empty signature */
};

static struct {
	EVP_PKEY *rsa, *ec;
	unsigned char hmac[32];
	char *jwks;		/* rs1, es1, hs1 */
	struct jwt_keys *keys;
	char n[400], e[16], x[48], y[48], k[48];	/* base64url */
} g;

static const struct jwt_opts dflt_opts = {
	.issuer = ISS, .audience = AUD, .leeway_s = 30, .tenant_claim = "tenant",
};

/* ---- helpers -------------------------------------------------------------- */

static void b64url_into(char *out, size_t cap, const unsigned char *p, size_t n)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		assert_true(o + 4 < cap);
		out[o++] = a[p[i] >> 2];
		out[o++] = a[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = a[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		out[o++] = a[p[i + 2] & 63];
	}
	assert_true(o + 4 < cap);
	if (n - i == 1) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = a[(p[i + 1] & 15) << 2];
	}
	out[o] = '\0';
}

static char *b64url_str(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n * 4 / 3 + 8);

	assert_non_null(out);
	b64url_into(out, n * 4 / 3 + 8, (const unsigned char *)s, n);
	return out;
}

static void bn_param_b64(EVP_PKEY *pk, const char *name, int pad, char *out, size_t cap)
{
	unsigned char bin[1024];
	BIGNUM *bn = NULL;
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(pk, name, &bn), 1);
	n = pad ? BN_bn2binpad(bn, bin, pad) : BN_bn2bin(bn, bin);
	assert_true(n > 0);
	b64url_into(out, cap, bin, (size_t)n);
	BN_free(bn);
}

/* Signs BASE64URL(hdr) "." BASE64URL(payload) as told; returns the token
 * (malloc'd). */
static char *sign_token(const char *hdr, const char *payload, enum sign_how how,
			const unsigned char *secret, size_t secret_len)
{
	char *h = b64url_str(hdr), *p = b64url_str(payload), *tok;
	unsigned char sig[1024];
	size_t siglen = sizeof(sig), inlen, cap;
	unsigned int hlen = 0;
	EVP_MD_CTX *ctx;

	inlen = strlen(h) + 1 + strlen(p);
	cap = inlen + 2 + sizeof(sig) * 4 / 3 + 8;
	tok = malloc(cap);
	assert_non_null(tok);
	snprintf(tok, cap, "%s.%s", h, p);
	free(h);
	free(p);

	switch (how) {
	case SIGN_HMAC:
		assert_non_null(HMAC(EVP_sha256(), secret, (int)secret_len,
				     (const unsigned char *)tok, inlen, sig, &hlen));
		siglen = hlen;
		break;
	case SIGN_RSA:
	case SIGN_EC:
	case SIGN_EC_DER:
		ctx = EVP_MD_CTX_new();
		assert_non_null(ctx);
		assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
						    how == SIGN_RSA ? g.rsa : g.ec), 1);
		assert_int_equal(EVP_DigestSign(ctx, sig, &siglen,
						(const unsigned char *)tok, inlen), 1);
		EVP_MD_CTX_free(ctx);
		if (how == SIGN_EC) {
			const unsigned char *q = sig;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
			unsigned char raw[64];
			const BIGNUM *r, *s;

			assert_non_null(es);
			ECDSA_SIG_get0(es, &r, &s);
			assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
			assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
			memcpy(sig, raw, sizeof(raw));
			siglen = sizeof(raw);
			ECDSA_SIG_free(es);
		}
		break;
	case SIGN_NONE:
		siglen = 0;
		break;
	}
	tok[inlen] = '.';
	b64url_into(tok + inlen + 1, cap - inlen - 1, sig, siglen);
	return tok;
}

static char *hs(const char *hdr, const char *payload)
{
	return sign_token(hdr, payload, SIGN_HMAC, g.hmac, sizeof(g.hmac));
}

/* Verifies tok from a copy that ends right before a guard page. */
static int verify_keys(const struct jwt_keys *k, const char *tok, const struct jwt_opts *o,
		       int64_t now, struct jwt_claims *c, const char **why)
{
	struct guarded gp = { 0 };
	size_t len = strlen(tok);
	int r;

	assert_int_equal(guarded_init(&gp, tok, len), 0);
	r = jwt_verify(k, gp.data, len, o, now, c, why);
	guarded_fini(&gp);
	return r;
}

static int verify(const char *tok, const struct jwt_opts *o, int64_t now,
		  struct jwt_claims *c, const char **why)
{
	return verify_keys(g.keys, tok, o, now, c, why);
}

/* Signs the payload with each key in turn (by kid) and expects want. */
static void expect_all_algs(const char *payload, const struct jwt_opts *o, int64_t now,
			    int want, const char *why_has)
{
	static const struct { const char *hdr; enum sign_how how; } a[] = {
		{ "{\"alg\":\"HS256\",\"kid\":\"hs1\",\"typ\":\"JWT\"}", SIGN_HMAC },
		{ "{\"alg\":\"RS256\",\"kid\":\"rs1\"}", SIGN_RSA },
		{ "{\"alg\":\"ES256\",\"kid\":\"es1\"}", SIGN_EC },
	};

	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		char *tok = sign_token(a[i].hdr, payload, a[i].how, g.hmac, sizeof(g.hmac));
		const char *why = NULL;
		int r = verify(tok, o, now, NULL, &why);

		if (r != want)
			fail_msg("%s: %s: got %d (%s), want %d", a[i].hdr, payload, r, why, want);
		if (why_has && !strstr(why, why_has))
			fail_msg("%s: why \"%s\" lacks \"%s\"", a[i].hdr, why, why_has);
		free(tok);
	}
}

static char *payload_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *payload_fmt(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static char *good_payload(void)
{
	return payload_fmt("{\"sub\":\"alice\",\"tenant\":\"acme\",\"iss\":\"" ISS
			   "\",\"aud\":\"" AUD "\",\"exp\":%lld,\"iat\":%lld}",
			   NOW + 300, NOW - 10);
}

static int group_setup(void **state)
{
	(void)state;
	g.rsa = EVP_RSA_gen(2048);
	g.ec = EVP_EC_gen("P-256");
	if (!g.rsa || !g.ec || RAND_bytes(g.hmac, sizeof(g.hmac)) != 1)
		return -1;
	bn_param_b64(g.rsa, OSSL_PKEY_PARAM_RSA_N, 0, g.n, sizeof(g.n));
	bn_param_b64(g.rsa, OSSL_PKEY_PARAM_RSA_E, 0, g.e, sizeof(g.e));
	bn_param_b64(g.ec, OSSL_PKEY_PARAM_EC_PUB_X, 32, g.x, sizeof(g.x));
	bn_param_b64(g.ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32, g.y, sizeof(g.y));
	b64url_into(g.k, sizeof(g.k), g.hmac, sizeof(g.hmac));
	g.jwks = payload_fmt(
		"{\"keys\":["
		"{\"kty\":\"RSA\",\"kid\":\"rs1\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\"},"
		"{\"kty\":\"EC\",\"kid\":\"es1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
		"{\"kty\":\"oct\",\"kid\":\"hs1\",\"alg\":\"HS256\",\"k\":\"%s\"}]}",
		g.n, g.e, g.x, g.y, g.k);
	g.keys = jwt_keys_parse(g.jwks, strlen(g.jwks), NULL, 0);
	return g.keys ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	jwt_keys_free(g.keys);
	free(g.jwks);
	EVP_PKEY_free(g.rsa);
	EVP_PKEY_free(g.ec);
	return 0;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_jwt_verifies_each_alg(void **state)
{
	char *pl = good_payload();
	static const struct { const char *hdr, *kid; enum sign_how how; } a[] = {
		{ "{\"alg\":\"HS256\",\"kid\":\"hs1\"}", "hs1", SIGN_HMAC },
		{ "{\"alg\":\"RS256\",\"kid\":\"rs1\"}", "rs1", SIGN_RSA },
		{ "{\"alg\":\"ES256\",\"kid\":\"es1\"}", "es1", SIGN_EC },
		/* Without kid: every key of the alg is tried. */
		{ "{\"alg\":\"HS256\"}", "hs1", SIGN_HMAC },
		{ "{\"alg\":\"RS256\"}", "rs1", SIGN_RSA },
		{ "{\"alg\":\"ES256\"}", "es1", SIGN_EC },
	};

	(void)state;
	assert_int_equal(jwt_keys_count(g.keys), 3);
	assert_int_equal(jwt_keys_skipped_count(g.keys), 0);
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		char *tok = sign_token(a[i].hdr, pl, a[i].how, g.hmac, sizeof(g.hmac));
		struct jwt_claims c;
		const char *why = NULL;

		assert_true(jwt_is_jwt(tok, strlen(tok)));
		assert_int_equal(verify(tok, &dflt_opts, NOW, &c, &why), 0);
		assert_string_equal(why, "ok");
		assert_string_equal(c.sub, "alice");
		assert_string_equal(c.tenant, "acme");
		assert_string_equal(c.kid, a[i].kid);
		assert_int_equal(c.exp, NOW + 300);
		free(tok);
	}
	free(pl);
}

static void test_jwt_rejects_tampered_payload_and_signature(void **state)
{
	char *pl = good_payload();
	char *evil = payload_fmt("{\"sub\":\"alice\",\"tenant\":\"root\",\"iss\":\"" ISS
				 "\",\"aud\":\"" AUD "\",\"exp\":%lld}", NOW + 300);
	char *evil64 = b64url_str(evil);
	static const struct { const char *hdr; enum sign_how how; } a[] = {
		{ "{\"alg\":\"HS256\",\"kid\":\"hs1\"}", SIGN_HMAC },
		{ "{\"alg\":\"RS256\",\"kid\":\"rs1\"}", SIGN_RSA },
		{ "{\"alg\":\"ES256\",\"kid\":\"es1\"}", SIGN_EC },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		char *tok = sign_token(a[i].hdr, pl, a[i].how, g.hmac, sizeof(g.hmac));
		char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
		char *swapped = payload_fmt("%.*s.%s%s", (int)(d1 - tok), tok, evil64, d2);
		struct jwt_claims c;
		const char *why = NULL;

		/* The payload of another token under this signature. */
		assert_int_equal(verify(swapped, &dflt_opts, NOW, &c, &why), -EKEYREJECTED);
		assert_string_equal(why, "bad signature");
		assert_string_equal(c.tenant, "");
		/* One signature character changed (the first: its bits are all
		 * used, so the encoding stays canonical). */
		d2[1] = d2[1] == 'A' ? 'B' : 'A';
		assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
		assert_string_equal(why, "bad signature");
		/* A signature cut to one character (no base64 length), and
		 * to none. */
		d2[2] = '\0';
		assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EINVAL);
		d2[1] = '\0';
		assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
		free(swapped);
		free(tok);
	}
	free(evil64);
	free(evil);
	free(pl);
}

static void test_jwt_rejects_unknown_kid(void **state)
{
	char *pl = good_payload();
	char *tok = hs("{\"alg\":\"HS256\",\"kid\":\"hs2\"}", pl);
	const char *why = NULL;

	(void)state;
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	assert_string_equal(why, "unknown kid");
	free(tok);
	/* A kid is matched exactly, not as a prefix. */
	tok = hs("{\"alg\":\"HS256\",\"kid\":\"hs\"}", pl);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	assert_string_equal(why, "unknown kid");
	free(tok);
	free(pl);
}

static void test_jwt_rejects_alg_none_and_others(void **state)
{
	char *pl = good_payload();
	static const char *const hdrs[] = {
		"{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
		"{\"alg\":\"none\",\"kid\":\"hs1\"}", "{\"alg\":\"HS512\"}",
		"{\"alg\":\"PS256\",\"kid\":\"rs1\"}", "{\"alg\":\"ES256K\"}", "{\"alg\":\"hs256\"}",
		"{\"alg\":\"\"}",
	};
	const char *why = NULL;
	char *tok;

	(void)state;
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		tok = sign_token(hdrs[i], pl, SIGN_NONE, NULL, 0);
		/* Shaped like a JWT, so it reaches the verifier and is refused
		 * by name rather than as an unknown API key. */
		assert_true(jwt_is_jwt(tok, strlen(tok)));
		assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
		assert_non_null(strstr(why, "alg not allowed"));
		free(tok);
		/* Signed with the HMAC secret makes no difference. */
		tok = hs(hdrs[i], pl);
		assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
		free(tok);
	}
	/* An HS256 header with an empty signature. */
	tok = sign_token("{\"alg\":\"HS256\"}", pl, SIGN_NONE, NULL, 0);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	free(tok);
	/* alg missing or not a string. */
	tok = hs("{\"typ\":\"JWT\"}", pl);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EINVAL);
	free(tok);
	tok = hs("{\"alg\":[\"HS256\"]}", pl);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EINVAL);
	free(tok);
	free(pl);
}

static void test_jwt_rejects_alg_confusion(void **state)
{
	char *pl = good_payload();
	unsigned char *der = NULL;
	char *pem = NULL, *tok, *rsa_only;
	struct jwt_keys *k;
	const char *why = NULL;
	BIO *bio;
	long pem_len;
	int der_len;

	(void)state;
	der_len = i2d_PUBKEY(g.rsa, &der);
	assert_true(der_len > 0);
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, g.rsa), 1);
	pem_len = BIO_get_mem_data(bio, &pem);
	assert_true(pem_len > 0);

	/* The attack: HS256 "signed" with the RSA public key as the secret,
	 * naming the RSA key. */
	tok = sign_token("{\"alg\":\"HS256\",\"kid\":\"rs1\"}", pl, SIGN_HMAC,
			 (const unsigned char *)pem, (size_t)pem_len);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	assert_string_equal(why, "alg not allowed for the key");
	free(tok);
	tok = sign_token("{\"alg\":\"HS256\",\"kid\":\"rs1\"}", pl, SIGN_HMAC, der, (size_t)der_len);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	assert_string_equal(why, "alg not allowed for the key");
	free(tok);
	/* Without a kid, only HMAC keys are tried: none here... */
	rsa_only = payload_fmt("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}]}", g.n, g.e);
	k = jwt_keys_parse(rsa_only, strlen(rsa_only), NULL, 0);
	assert_non_null(k);
	tok = sign_token("{\"alg\":\"HS256\"}", pl, SIGN_HMAC,
			 (const unsigned char *)pem, (size_t)pem_len);
	assert_int_equal(verify_keys(k, tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	assert_string_equal(why, "no key for the alg");
	/* ...and with the full set, the HMAC key does not match. */
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	assert_string_equal(why, "bad signature");
	free(tok);
	/* The other crossings: an RSA signature under ES256 and the reverse. */
	tok = sign_token("{\"alg\":\"ES256\",\"kid\":\"rs1\"}", pl, SIGN_RSA, NULL, 0);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	assert_string_equal(why, "alg not allowed for the key");
	free(tok);
	tok = sign_token("{\"alg\":\"RS256\",\"kid\":\"es1\"}", pl, SIGN_EC, NULL, 0);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	assert_string_equal(why, "alg not allowed for the key");
	free(tok);
	tok = sign_token("{\"alg\":\"RS256\",\"kid\":\"hs1\"}", pl, SIGN_HMAC, g.hmac, sizeof(g.hmac));
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	free(tok);
	jwt_keys_free(k);
	free(rsa_only);
	BIO_free(bio);
	OPENSSL_free(der);
	free(pl);
}

static void test_jwt_ignores_keys_in_the_header(void **state)
{
	char *pl = good_payload();
	unsigned char other[32];
	char other64[48], *hdr, *tok;
	const char *why = NULL;

	(void)state;
	/* RFC 7515 §4.1.3 "jwk": a token bringing its own key and signed
	 * with it must not verify. */
	memset(other, 0x5a, sizeof(other));
	b64url_into(other64, sizeof(other64), other, sizeof(other));
	hdr = payload_fmt("{\"alg\":\"HS256\",\"jwk\":{\"kty\":\"oct\",\"k\":\"%s\"},"
			  "\"jku\":\"https://evil.example/jwks\"}", other64);
	tok = sign_token(hdr, pl, SIGN_HMAC, other, sizeof(other));
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	assert_string_equal(why, "bad signature");
	free(tok);
	free(hdr);
	free(pl);
}

static void test_jwt_expiry_nbf_iat_and_leeway(void **state)
{
	struct jwt_opts o = dflt_opts;
	char *pl;

	(void)state;
	/* exp: valid strictly before it (RFC 7519 §4.1.4), plus leeway. */
	pl = payload_fmt("{\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld}", NOW);
	o.leeway_s = 0;
	expect_all_algs(pl, &o, NOW, -EKEYEXPIRED, "expired");
	expect_all_algs(pl, &o, NOW - 1, 0, NULL);
	o.leeway_s = 30;
	expect_all_algs(pl, &o, NOW + 29, 0, NULL);
	expect_all_algs(pl, &o, NOW + 30, -EKEYEXPIRED, "expired");
	free(pl);
	/* A fractional exp counts from its whole second. */
	pl = payload_fmt("{\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld.9}", NOW);
	o.leeway_s = 0;
	expect_all_algs(pl, &o, NOW, -EKEYEXPIRED, "expired");
	expect_all_algs(pl, &o, NOW - 1, 0, NULL);
	free(pl);

	/* nbf. */
	pl = payload_fmt("{\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
			 "\",\"exp\":%lld,\"nbf\":%lld}", NOW + 600, NOW + 60);
	o.leeway_s = 30;
	expect_all_algs(pl, &o, NOW, -EKEYEXPIRED, "nbf");
	expect_all_algs(pl, &o, NOW + 29, -EKEYEXPIRED, "nbf");
	expect_all_algs(pl, &o, NOW + 30, 0, NULL);
	free(pl);

	/* iat in the future beyond the leeway. */
	pl = payload_fmt("{\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
			 "\",\"exp\":%lld,\"iat\":%lld}", NOW + 600, NOW + 100);
	expect_all_algs(pl, &o, NOW, -EKEYEXPIRED, "iat");
	expect_all_algs(pl, &o, NOW + 70, 0, NULL);
	free(pl);

	/* exp is required, and must be a number. */
	pl = payload_fmt("{\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}");
	expect_all_algs(pl, &o, NOW, -EACCES, "exp claim missing");
	free(pl);
	pl = payload_fmt("{\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":\"%lld\"}",
			 NOW + 600);
	expect_all_algs(pl, &o, NOW, -EINVAL, "exp");
	free(pl);
	pl = payload_fmt("{\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
			 "\",\"exp\":%lld,\"nbf\":true}", NOW + 600);
	expect_all_algs(pl, &o, NOW, -EINVAL, "nbf");
	free(pl);
	/* Far beyond any date: refused, not wrapped around. */
	pl = payload_fmt("{\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
			 "\",\"exp\":9223372036854775807}");
	expect_all_algs(pl, &o, NOW, -EINVAL, "exp");
	free(pl);
	pl = payload_fmt("{\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1e300}");
	expect_all_algs(pl, &o, NOW, -EINVAL, "exp");
	free(pl);
}

static void test_jwt_checks_issuer_and_audience(void **state)
{
	struct jwt_opts o = dflt_opts;
	char *pl;

	(void)state;
#define PL(iss_aud) payload_fmt("{\"tenant\":\"acme\"," iss_aud "\"exp\":%lld}", NOW + 300)
	pl = PL("\"iss\":\"https://evil.example\",\"aud\":\"" AUD "\",");
	expect_all_algs(pl, &o, NOW, -EACCES, "issuer");
	free(pl);
	pl = PL("\"iss\":\"https://idp.example/\",\"aud\":\"" AUD "\",");
	expect_all_algs(pl, &o, NOW, -EACCES, "issuer");
	free(pl);
	pl = PL("\"aud\":\"" AUD "\",");
	expect_all_algs(pl, &o, NOW, -EACCES, "issuer");
	free(pl);
	pl = PL("\"iss\":42,\"aud\":\"" AUD "\",");
	expect_all_algs(pl, &o, NOW, -EINVAL, "iss");
	free(pl);

	pl = PL("\"iss\":\"" ISS "\",\"aud\":\"other\",");
	expect_all_algs(pl, &o, NOW, -EACCES, "audience");
	free(pl);
	pl = PL("\"iss\":\"" ISS "\",");
	expect_all_algs(pl, &o, NOW, -EACCES, "audience");
	free(pl);
	pl = PL("\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"],");
	expect_all_algs(pl, &o, NOW, 0, NULL);
	free(pl);
	pl = PL("\"iss\":\"" ISS "\",\"aud\":[\"other\",\"tollgate2\"],");
	expect_all_algs(pl, &o, NOW, -EACCES, "audience");
	free(pl);
	pl = PL("\"iss\":\"" ISS "\",\"aud\":[],");
	expect_all_algs(pl, &o, NOW, -EACCES, "audience");
	free(pl);
	pl = PL("\"iss\":\"" ISS "\",\"aud\":[\"" AUD "\",7],");
	expect_all_algs(pl, &o, NOW, -EINVAL, "aud");
	free(pl);
	pl = PL("\"iss\":\"" ISS "\",\"aud\":{\"x\":\"" AUD "\"},");
	expect_all_algs(pl, &o, NOW, -EINVAL, "aud");
	free(pl);

	/* Not configured: not checked. */
	o.issuer = NULL;
	o.audience = NULL;
	pl = PL("\"iss\":\"https://other.example\",\"aud\":[\"x\"],");
	expect_all_algs(pl, &o, NOW, 0, NULL);
	free(pl);
	pl = PL("");
	expect_all_algs(pl, &o, NOW, 0, NULL);
	free(pl);
#undef PL
}

static void test_jwt_requires_tenant_claim(void **state)
{
	struct jwt_opts o = dflt_opts;
	char long_tenant[TG_NAME_MAX + 2];
	struct jwt_claims c;
	const char *why = NULL;
	char *pl, *tok;

	(void)state;
	o.issuer = NULL;
	o.audience = NULL;
#define PL(t) payload_fmt("{\"sub\":\"bob\"," t "\"exp\":%lld}", NOW + 300)
	pl = PL("");
	expect_all_algs(pl, &o, NOW, -EACCES, "tenant");
	free(pl);
	pl = PL("\"tenant\":7,");
	expect_all_algs(pl, &o, NOW, -EACCES, "tenant");
	free(pl);
	pl = PL("\"tenant\":\"\",");
	expect_all_algs(pl, &o, NOW, -EACCES, "tenant");
	free(pl);
	pl = PL("\"Tenant\":\"acme\",");
	expect_all_algs(pl, &o, NOW, -EACCES, "tenant");
	free(pl);
	memset(long_tenant, 'a', sizeof(long_tenant) - 1);
	long_tenant[sizeof(long_tenant) - 1] = '\0';
	pl = payload_fmt("{\"tenant\":\"%s\",\"exp\":%lld}", long_tenant, NOW + 300);
	expect_all_algs(pl, &o, NOW, -EINVAL, "tenant");
	free(pl);
	long_tenant[TG_NAME_MAX] = '\0';
	pl = payload_fmt("{\"tenant\":\"%s\",\"exp\":%lld}", long_tenant, NOW + 300);
	expect_all_algs(pl, &o, NOW, 0, NULL);
	free(pl);
	pl = PL("\"tenant\":\"ac\\nme\",");
	expect_all_algs(pl, &o, NOW, -EINVAL, "tenant");
	free(pl);

	/* Another claim name, and none at all. */
	o.tenant_claim = "org";
	pl = PL("\"org\":\"initech\",");
	tok = hs("{\"alg\":\"HS256\"}", pl);
	assert_int_equal(verify(tok, &o, NOW, &c, &why), 0);
	assert_string_equal(c.tenant, "initech");
	assert_string_equal(c.sub, "bob");
	o.tenant_claim = NULL;
	assert_int_equal(verify(tok, &o, NOW, &c, &why), 0);
	assert_string_equal(c.tenant, "");
	free(tok);
	free(pl);
	/* sub must be a string when present. */
	pl = payload_fmt("{\"sub\":5,\"exp\":%lld}", NOW + 300);
	expect_all_algs(pl, &o, NOW, -EINVAL, "sub");
	free(pl);
#undef PL
}

static void test_jwt_rejects_malformed_tokens(void **state)
{
	char *pl = good_payload(), *tok, *bad, *big;
	const char *why = NULL;
	const char *h = "{\"alg\":\"HS256\",\"kid\":\"hs1\"}";
	char *h64 = b64url_str(h);
	static const char *const shapes[] = {
		"", ".", "..", "...", "abc", "abc.def", "abc.def.ghi.jkl", ".def.ghi",
		"abc..ghi", "a.b.c.d.e",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		assert_int_equal(verify(shapes[i], &dflt_opts, NOW, NULL, &why), -EINVAL);
		assert_false(jwt_is_jwt(shapes[i], strlen(shapes[i])));
	}
	tok = hs(h, pl);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), 0);

	/* Padding, standard base64's '+' and '/', whitespace, a NUL. */
	bad = payload_fmt("%s=.%s", h64, strchr(tok, '.') + 1);
	assert_int_equal(verify(bad, &dflt_opts, NOW, NULL, &why), -EINVAL);
	assert_string_equal(why, "header not base64url");
	free(bad);
	bad = payload_fmt("%s==", tok);
	assert_int_equal(verify(bad, &dflt_opts, NOW, NULL, &why), -EINVAL);
	assert_string_equal(why, "signature not base64url");
	free(bad);
	for (const char *c = "+/ =\t\n~"; *c; c++) {
		bad = strdup(tok);
		assert_non_null(bad);
		bad[strlen(h64) + 3] = *c;
		assert_int_equal(verify(bad, &dflt_opts, NOW, NULL, &why), -EINVAL);
		assert_string_equal(why, "payload not base64url");
		assert_false(jwt_is_jwt(bad, strlen(bad)));
		free(bad);
	}
	{
		struct guarded gp = { 0 };
		size_t len = strlen(tok);

		assert_int_equal(guarded_init(&gp, tok, len), 0);
		gp.data[5] = '\0';
		assert_int_equal(jwt_verify(g.keys, gp.data, len, &dflt_opts, NOW, NULL, &why), -EINVAL);
		assert_false(jwt_is_jwt(gp.data, len));
		guarded_fini(&gp);
	}
	/* A length of 1 mod 4 cannot be base64 (43 + 2); non-zero unused bits
	 * make a second spelling of the same bytes (the last character of a
	 * 43-char HS256 signature carries 2 unused bits). */
	bad = payload_fmt("%sAB", tok);
	assert_int_equal(verify(bad, &dflt_opts, NOW, NULL, &why), -EINVAL);
	free(bad);
	bad = strdup(tok);
	assert_non_null(bad);
	{
		char *last = bad + strlen(bad) - 1;
		const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		int v = (int)(strchr(a, *last) - a);

		assert_int_equal(strlen(strrchr(bad, '.') + 1), 43);
		*last = a[v | 1];
		assert_int_equal(verify(bad, &dflt_opts, NOW, NULL, &why), -EINVAL);
		assert_string_equal(why, "signature not base64url");
	}
	free(bad);
	free(tok);

	/* Headers that are not a JSON object, or have duplicate members. */
	{
		static const char *const hdrs[] = {
			"not json", "[\"alg\",\"HS256\"]", "\"HS256\"", "{\"alg\":\"HS256\"",
			"{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
			"{\"alg\":\"none\",\"alg\":\"HS256\"}",
			"{\"alg\":\"HS256\",\"kid\":\"hs1\",\"kid\":\"rs1\"}",
		};

		for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
			tok = hs(hdrs[i], pl);
			assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EINVAL);
			assert_non_null(strstr(why, "header not a JSON object"));
			free(tok);
		}
	}
	/* crit: an extension we do not understand (RFC 7515 §4.1.11). */
	tok = hs("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", pl);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EINVAL);
	assert_string_equal(why, "crit header not supported");
	free(tok);
	/* kid of the wrong type or too long. */
	tok = hs("{\"alg\":\"HS256\",\"kid\":1}", pl);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EINVAL);
	free(tok);

	/* A correctly signed payload that is not a JSON object, or has a
	 * member twice: the second exp would extend the token for readers
	 * that take the last one. */
	{
		char *dup = payload_fmt("{\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
					"\",\"exp\":%lld,\"exp\":%lld}", NOW - 100, NOW + 100000);
		static const char *const pls[] = { "not json", "[1,2]", "{\"exp\":1" };

		expect_all_algs(dup, &dflt_opts, NOW, -EINVAL, "payload not a JSON object");
		free(dup);
		dup = payload_fmt("{\"tenant\":\"acme\",\"tenant\":\"root\",\"iss\":\"" ISS
				  "\",\"aud\":\"" AUD "\",\"exp\":%lld}", NOW + 300);
		expect_all_algs(dup, &dflt_opts, NOW, -EINVAL, "payload not a JSON object");
		free(dup);
		for (size_t i = 0; i < 3; i++)
			expect_all_algs(pls[i], &dflt_opts, NOW, -EINVAL, "payload not a JSON object");
	}

	/* Longer than TG_JWT_TOKEN_MAX, though well signed. */
	big = malloc(TG_JWT_TOKEN_MAX);
	assert_non_null(big);
	memset(big, 'x', TG_JWT_TOKEN_MAX - 1);
	big[TG_JWT_TOKEN_MAX - 1] = '\0';
	bad = payload_fmt("{\"pad\":\"%s\",\"tenant\":\"acme\",\"iss\":\"" ISS "\",\"aud\":\"" AUD
			  "\",\"exp\":%lld}", big, NOW + 300);
	tok = hs(h, bad);
	assert_true(strlen(tok) > TG_JWT_TOKEN_MAX);
	assert_false(jwt_is_jwt(tok, strlen(tok)));
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EINVAL);
	assert_string_equal(why, "token too long");
	free(tok);
	free(bad);
	free(big);

	/* No keys, token or options. */
	assert_int_equal(jwt_verify(NULL, "a.b.c", 5, &dflt_opts, NOW, NULL, NULL), -EINVAL);
	assert_int_equal(jwt_verify(g.keys, NULL, 5, &dflt_opts, NOW, NULL, NULL), -EINVAL);
	assert_int_equal(jwt_verify(g.keys, "a.b.c", 5, NULL, NOW, NULL, NULL), -EINVAL);
	free(h64);
	free(pl);
}

static void test_jwt_es256_der_signature_refused(void **state)
{
	char *pl = good_payload(), *tok;
	const char *why = NULL;

	(void)state;
	/* What OpenSSL signs is DER; a JWS must carry R || S. */
	tok = sign_token("{\"alg\":\"ES256\",\"kid\":\"es1\"}", pl, SIGN_EC_DER, NULL, 0);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	assert_string_equal(why, "bad signature");
	free(tok);
	tok = sign_token("{\"alg\":\"ES256\"}", pl, SIGN_EC_DER, NULL, 0);
	assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
	free(tok);
	/* R || S of zeros: the right length, never a valid signature. */
	{
		unsigned char zero[64] = { 0 };
		char z64[96], *h64 = b64url_str("{\"alg\":\"ES256\",\"kid\":\"es1\"}");
		char *p64 = b64url_str(pl);

		b64url_into(z64, sizeof(z64), zero, sizeof(zero));
		tok = payload_fmt("%s.%s.%s", h64, p64, z64);
		assert_int_equal(verify(tok, &dflt_opts, NOW, NULL, &why), -EKEYREJECTED);
		free(tok);
		free(h64);
		free(p64);
	}
	free(pl);
}

/* RFC 7515 Appendix A.1: key (A.1.1's JWK) and token as in the RFC. */
static void test_jwt_rfc7515_a1_hs256_example(void **state)
{
	static const char jwks[] =
		"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T"
		"-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}]}";
	static const char tok[] =
		"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
		"cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
		".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	struct jwt_opts o = { .issuer = "joe" };
	struct jwt_keys *k;
	struct jwt_claims c;
	const char *why = NULL;
	char err[JWT_ERR_MAX], *bad;

	(void)state;
	k = jwt_keys_parse(jwks, sizeof(jwks) - 1, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(jwt_keys_count(k), 1);
	assert_true(jwt_is_jwt(tok, sizeof(tok) - 1));
	assert_int_equal(verify_keys(k, tok, &o, 1300819379, &c, &why), 0);
	assert_int_equal(c.exp, 1300819380);
	assert_string_equal(c.sub, "");
	assert_string_equal(c.kid, "");
	/* Expired from its exp on. */
	assert_int_equal(verify_keys(k, tok, &o, 1300819380, &c, &why), -EKEYEXPIRED);
	o.issuer = "jim";
	assert_int_equal(verify_keys(k, tok, &o, 1300819379, &c, &why), -EACCES);
	o.issuer = "joe";
	/* Our keys do not verify it, nor does its key with a changed token. */
	assert_int_equal(verify(tok, &o, 1300819379, &c, &why), -EKEYREJECTED);
	bad = strdup(tok);
	assert_non_null(bad);
	bad[sizeof(tok) - 3] = 'A';
	assert_int_equal(verify_keys(k, bad, &o, 1300819379, &c, &why), -EKEYREJECTED);
	free(bad);
	jwt_keys_free(k);
}

static void test_jwt_is_jwt_shapes(void **state)
{
	char *pl = good_payload(), *tok = hs("{\"alg\":\"HS256\"}", pl);

	(void)state;
	assert_true(jwt_is_jwt(tok, strlen(tok)));
	assert_true(jwt_is_jwt("eyJ.eyJ.", 8));
	assert_true(jwt_is_jwt("a-_.b.c", 7));
	assert_false(jwt_is_jwt("sk-proj-abcdef0123456789", 24));
	assert_false(jwt_is_jwt("tg_live_abc.def", 15));
	assert_false(jwt_is_jwt("a.b.c.d", 7));
	assert_false(jwt_is_jwt(".b.c", 4));
	assert_false(jwt_is_jwt("a..c", 4));
	assert_false(jwt_is_jwt("a.b.c=", 6));
	assert_false(jwt_is_jwt("a.b.c ", 6));
	assert_false(jwt_is_jwt("", 0));
	assert_false(jwt_is_jwt(NULL, 5));
	/* Only len bytes are looked at. */
	assert_true(jwt_is_jwt("a.b.c.d", 5));
	free(tok);
	free(pl);
}

static void test_jwt_keys_errors(void **state)
{
	char err[JWT_ERR_MAX], *s;
	struct jwt_keys *k;
	static const struct { const char *json, *msg; } bad[] = {
		{ "", "not JSON" },
		{ "{\"keys\":[", "not JSON" },
		{ "{\"keys\":[],\"keys\":[]}", "duplicate" },
		{ "[]", "\"keys\" array" },
		{ "{\"keys\":{}}", "\"keys\" array" },
		{ "{\"key\":[]}", "\"keys\" array" },
		{ "{\"keys\":[]}", "empty" },
		{ "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "sig" },
		{ "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}]}", "kty" },
		{ "{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS512\",\"k\":\"AAAA\"}]}", "alg" },
		{ "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}", "P-256" },
		{ "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}", "P-256" },
		{ "{\"keys\":[{\"kty\":\"EC\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}", "crv" },
		{ "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}", "HMAC secret size" },
		{ "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA==\"}]}", "base64url" },
		{ "{\"keys\":[{\"n\":\"AQAB\"}]}", "kty" },
		{ "{\"keys\":[42]}", "not an object" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		k = jwt_keys_parse(bad[i].json, strlen(bad[i].json), err, sizeof(err));
		assert_null(k);
		assert_int_equal(errno, EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].json, err, bad[i].msg);
	}
	/* A real P-384 key is refused for its curve. */
	{
		EVP_PKEY *p384 = EVP_EC_gen("P-384");
		char x[80], y[80];

		assert_non_null(p384);
		bn_param_b64(p384, OSSL_PKEY_PARAM_EC_PUB_X, 48, x, sizeof(x));
		bn_param_b64(p384, OSSL_PKEY_PARAM_EC_PUB_Y, 48, y, sizeof(y));
		s = payload_fmt("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"p384\","
				"\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
		k = jwt_keys_parse(s, strlen(s), err, sizeof(err));
		assert_null(k);
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(err, "P-256"));
		assert_non_null(strstr(err, "p384"));
		free(s);
		/* The same coordinates claimed to be P-256 are not 32 bytes. */
		s = payload_fmt("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"p384\","
				"\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
		assert_null(jwt_keys_parse(s, strlen(s), err, sizeof(err)));
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(err, "not 32 bytes"));
		free(s);
		EVP_PKEY_free(p384);
	}
	/* A JSON error never quotes the input: here the secret. */
	s = payload_fmt("{\"keys\":[{\"kty\":\"oct\",\"k\":\"%s\" \"%s\"}]}", g.k, g.k);
	assert_null(jwt_keys_parse(s, strlen(s), err, sizeof(err)));
	assert_non_null(strstr(err, "not JSON"));
	assert_null(strstr(err, g.k));
	free(s);
	/* Too large, NULL; a NULL err is fine. */
	assert_null(jwt_keys_parse("{}", TG_JWKS_FILE_MAX + 1, err, sizeof(err)));
	assert_int_equal(errno, EFBIG);
	assert_null(jwt_keys_parse(NULL, 0, NULL, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(jwt_keys_parse("{", 1, NULL, 0));
	jwt_keys_free(NULL);
	assert_int_equal(jwt_keys_count(NULL), 0);
}

static void test_jwt_keys_skip_unusable_entries(void **state)
{
	EVP_PKEY *small = EVP_RSA_gen(1024);
	char n1024[200], e1024[16], ybad[48], *s;
	unsigned char y[32], short_k[16];
	char short64[32], err[JWT_ERR_MAX];
	struct jwt_keys *k;
	size_t i;
	/* Entries 6 (rs1) and 11 (es1) are kept. */
	static const char *const want[] = {
		"keys[0] (kid \"enc\"): use",
		"keys[1] (kid \"ps\"): alg",
		"keys[2]: kty",
		"keys[3] (kid \"p384\"): EC curve",
		"keys[4] (kid \"short\"): HMAC secret size",
		"keys[5] (kid \"offcurve\"): EC point",
		"keys[7] (kid \"rsa1024\"): RSA modulus size",
		"keys[8] (kid \"ops\"): key_ops",
		"keys[9] (kid \"es-short\"): EC x or y not 32 bytes",
		"keys[10] (kid \"rs1\"): kid used by an earlier key",
	};

	(void)state;
	assert_non_null(small);
	bn_param_b64(small, OSSL_PKEY_PARAM_RSA_N, 0, n1024, sizeof(n1024));
	bn_param_b64(small, OSSL_PKEY_PARAM_RSA_E, 0, e1024, sizeof(e1024));
	/* The EC key's point with y off by one: not on the curve. */
	{
		BIGNUM *bn = NULL;

		assert_int_equal(EVP_PKEY_get_bn_param(g.ec, OSSL_PKEY_PARAM_EC_PUB_Y, &bn), 1);
		assert_int_equal(BN_bn2binpad(bn, y, 32), 32);
		BN_free(bn);
		y[31] ^= 1;
		b64url_into(ybad, sizeof(ybad), y, sizeof(y));
	}
	memset(short_k, 7, sizeof(short_k));
	b64url_into(short64, sizeof(short64), short_k, sizeof(short_k));
	s = payload_fmt(
		"{\"keys\":["
		"{\"kty\":\"RSA\",\"kid\":\"enc\",\"use\":\"enc\",\"n\":\"%s\",\"e\":\"%s\"},"
		"{\"kty\":\"RSA\",\"kid\":\"ps\",\"alg\":\"PS256\",\"n\":\"%s\",\"e\":\"%s\"},"
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"},"
		"{\"kty\":\"EC\",\"kid\":\"p384\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"},"
		"{\"kty\":\"oct\",\"kid\":\"short\",\"k\":\"%s\"},"
		"{\"kty\":\"EC\",\"kid\":\"offcurve\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
		"{\"kty\":\"RSA\",\"kid\":\"rs1\",\"n\":\"%s\",\"e\":\"%s\"},"
		"{\"kty\":\"RSA\",\"kid\":\"rsa1024\",\"n\":\"%s\",\"e\":\"%s\"},"
		"{\"kty\":\"RSA\",\"kid\":\"ops\",\"key_ops\":[\"encrypt\"],\"n\":\"%s\",\"e\":\"%s\"},"
		"{\"kty\":\"EC\",\"kid\":\"es-short\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"%s\"},"
		"{\"kty\":\"RSA\",\"kid\":\"rs1\",\"use\":\"sig\",\"key_ops\":[\"verify\"],\"n\":\"%s\",\"e\":\"%s\"},"
		"{\"kty\":\"EC\",\"kid\":\"es1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"ignored\"}"
		"]}",
		g.n, g.e, g.n, g.e, g.x, g.x, g.y, short64, g.x, ybad, g.n, g.e, n1024, e1024,
		g.n, g.e, g.y, g.n, g.e, g.x, g.y);
	k = jwt_keys_parse(s, strlen(s), err, sizeof(err));
	assert_non_null(k);
	assert_string_equal(err, "");
	assert_int_equal(jwt_keys_count(k), 2);
	assert_int_equal(jwt_keys_skipped_count(k), sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *r = jwt_keys_skipped(k, (uint32_t)i);

		assert_non_null(r);
		if (strncmp(r, want[i], strlen(want[i])))
			fail_msg("skip %zu: \"%s\", want \"%s...\"", i, r, want[i]);
	}
	assert_null(jwt_keys_skipped(k, (uint32_t)i));
	/* Those kept verify. */
	{
		char *pl = good_payload();
		char *tok = sign_token("{\"alg\":\"ES256\",\"kid\":\"es1\"}", pl, SIGN_EC, NULL, 0);

		assert_int_equal(verify_keys(k, tok, &dflt_opts, NOW, NULL, NULL), 0);
		free(tok);
		tok = sign_token("{\"alg\":\"RS256\",\"kid\":\"rs1\"}", pl, SIGN_RSA, NULL, 0);
		assert_int_equal(verify_keys(k, tok, &dflt_opts, NOW, NULL, NULL), 0);
		free(tok);
		free(pl);
	}
	jwt_keys_free(k);
	free(s);
	EVP_PKEY_free(small);
}

static void test_jwt_keys_load_reads_a_file(void **state)
{
	char path[] = "/tmp/test_jwt_XXXXXX", err[JWT_ERR_MAX];
	struct jwt_keys *k;
	char *big;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, g.jwks, strlen(g.jwks)), (ssize_t)strlen(g.jwks));
	k = jwt_keys_load(path, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(jwt_keys_count(k), 3);
	jwt_keys_free(k);
	/* Past TG_JWKS_FILE_MAX (whitespace is still JSON). */
	big = malloc(TG_JWKS_FILE_MAX);
	assert_non_null(big);
	memset(big, ' ', TG_JWKS_FILE_MAX);
	assert_int_equal(write(fd, big, TG_JWKS_FILE_MAX), TG_JWKS_FILE_MAX);
	free(big);
	close(fd);
	assert_null(jwt_keys_load(path, err, sizeof(err)));
	assert_int_equal(errno, EFBIG);
	assert_int_equal(unlink(path), 0);
	assert_null(jwt_keys_load(path, err, sizeof(err)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, path));
}

/* Worker threads share one jwt_keys. */
struct thread_arg {
	char *toks[4];	/* hs, rs, es: good; last: bad */
	int fails;
};

static void *verify_loop(void *p)
{
	struct thread_arg *a = p;

	for (int n = 0; n < 200; n++) {
		for (int i = 0; i < 3; i++)
			if (jwt_verify(g.keys, a->toks[i], strlen(a->toks[i]), &dflt_opts, NOW, NULL, NULL))
				a->fails++;
		if (jwt_verify(g.keys, a->toks[3], strlen(a->toks[3]), &dflt_opts, NOW, NULL, NULL) !=
		    -EKEYREJECTED)
			a->fails++;
	}
	return NULL;
}

static void test_jwt_verify_is_thread_safe(void **state)
{
	struct thread_arg a = { 0 }, b[4];
	pthread_t t[4];
	char *pl = good_payload();

	(void)state;
	a.toks[0] = hs("{\"alg\":\"HS256\"}", pl);
	a.toks[1] = sign_token("{\"alg\":\"RS256\"}", pl, SIGN_RSA, NULL, 0);
	a.toks[2] = sign_token("{\"alg\":\"ES256\"}", pl, SIGN_EC, NULL, 0);
	a.toks[3] = strdup(a.toks[1]);
	assert_non_null(a.toks[3]);
	{
		char *sig = strrchr(a.toks[3], '.') + 1;

		*sig = *sig == 'A' ? 'B' : 'A';
	}
	for (int i = 0; i < 4; i++) {
		b[i] = a;
		assert_int_equal(pthread_create(&t[i], NULL, verify_loop, &b[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(b[i].fails, 0);
	}
	for (int i = 0; i < 4; i++)
		free(a.toks[i]);
	free(pl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jwt_verifies_each_alg),
		cmocka_unit_test(test_jwt_rejects_tampered_payload_and_signature),
		cmocka_unit_test(test_jwt_rejects_unknown_kid),
		cmocka_unit_test(test_jwt_rejects_alg_none_and_others),
		cmocka_unit_test(test_jwt_rejects_alg_confusion),
		cmocka_unit_test(test_jwt_ignores_keys_in_the_header),
		cmocka_unit_test(test_jwt_expiry_nbf_iat_and_leeway),
		cmocka_unit_test(test_jwt_checks_issuer_and_audience),
		cmocka_unit_test(test_jwt_requires_tenant_claim),
		cmocka_unit_test(test_jwt_rejects_malformed_tokens),
		cmocka_unit_test(test_jwt_es256_der_signature_refused),
		cmocka_unit_test(test_jwt_rfc7515_a1_hs256_example),
		cmocka_unit_test(test_jwt_is_jwt_shapes),
		cmocka_unit_test(test_jwt_keys_errors),
		cmocka_unit_test(test_jwt_keys_skip_unusable_entries),
		cmocka_unit_test(test_jwt_keys_load_reads_a_file),
		cmocka_unit_test(test_jwt_verify_is_thread_safe),
	};

	return cmocka_run_group_tests_name("jwt", tests, group_setup, group_teardown);
}
