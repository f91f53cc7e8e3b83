// SPDX-License-Identifier: Apache-2.0
/*
 * JWT bearer token verification. See jwt.h for the contract.
 *
 * Order of work in jwt_verify(), so that an unauthenticated sender costs
 * little and nothing of an unverified payload is believed: the shape and
 * length first, then all three segments decoded as strict base64url, the
 * header parsed for alg and kid, the signature checked, and only then the
 * payload parsed and its claims read.
 *
 * Both JSON documents are parsed with jansson's JSON_REJECT_DUPLICATES: a
 * member given twice ("exp" once for the verifier and once for another
 * reader) is an ambiguity RFC 7515 §5.2 lets us refuse, and we do.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "llm/jwt.h"

/* RFC 7518 §3.1 names; the only algs tollgate verifies. */
enum jwt_alg {
	JWT_ALG_UNKNOWN = 0,
	JWT_ALG_HS256,
	JWT_ALG_RS256,
	JWT_ALG_ES256,
};

#define HS256_LEN	32
/* RFC 7518 §3.4: R and S, each the 32-byte size of the P-256 order. */
#define ES256_COORD	32
#define ES256_SIG_LEN	(2 * ES256_COORD)
/* Larger than any number NumericDate needs, small enough that adding a
 * leeway never overflows and a double holds it exactly. */
#define JWT_DATE_LIMIT	(1ll << 53)
/* Bytes of a kid quoted in a skip reason. */
#define JWT_KID_QUOTE	64

struct jwt_key {
	enum jwt_alg alg;
	bool has_kid;
	char kid[TG_JWT_KID_MAX + 1];
	EVP_PKEY *pkey;			/* RS256, ES256 */
	unsigned char *secret;		/* HS256 */
	size_t secret_len;
};

struct jwt_keys {
	struct jwt_key keys[TG_JWT_KEYS_MAX];
	uint32_t n;
	EVP_MAC *hmac;			/* fetched once, shared by verifiers */
	char (*skipped)[JWT_ERR_MAX];
	uint32_t n_skipped;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static enum jwt_alg alg_of(const char *s, size_t len)
{
	if (len != 5)
		return JWT_ALG_UNKNOWN;
	if (!memcmp(s, "HS256", 5))
		return JWT_ALG_HS256;
	if (!memcmp(s, "RS256", 5))
		return JWT_ALG_RS256;
	if (!memcmp(s, "ES256", 5))
		return JWT_ALG_ES256;
	return JWT_ALG_UNKNOWN;
}

static bool has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* ---- base64url ------------------------------------------------------------ */

static int b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Strict base64url (RFC 7515 §2 and Appendix C: RFC 4648 §5 with the '='
 * padding omitted): only the 64 characters, no padding, no whitespace, a
 * length that is not 1 mod 4, and the unused low bits of the last character
 * zero, so that every byte string has exactly one accepted encoding.
 * Returns the bytes written to out (cap bytes), -EINVAL or -ENOSPC.
 */
static ssize_t b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	size_t rem = len % 4, o = 0;
	uint32_t acc = 0;
	unsigned int bits = 0;

	if (rem == 1)
		return -EINVAL;
	if (len / 4 * 3 + (rem ? rem - 1 : 0) > cap)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_val((unsigned char)in[i]);

		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc)
		return -EINVAL;
	return (ssize_t)o;
}

bool jwt_is_jwt(const char *tok, size_t len)
{
	size_t dots = 0, seg = 0;

	if (!tok || !len || len > TG_JWT_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (tok[i] == '.') {
			if (!seg || ++dots > 2)
				return false;
			seg = 0;
		} else if (b64url_val((unsigned char)tok[i]) < 0) {
			return false;
		} else {
			seg++;
		}
	}
	return dots == 2;
}

/* ---- keys ----------------------------------------------------------------- */

/* A member that must be a string when present: 1 and *s, *len set when it
 * is, 0 when absent, -EINVAL when it has another type. */
static int member_str(const json_t *o, const char *name, const char **s, size_t *len)
{
	const json_t *v = json_object_get(o, name);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 1;
}

/* Decodes a base64url key member into a fresh buffer of *n bytes (wiped
 * and freed by the caller). -EINVAL when absent or not base64url. */
static int member_b64(const json_t *o, const char *name, unsigned char **out, size_t *n)
{
	const char *s;
	size_t len;
	ssize_t r;

	if (member_str(o, name, &s, &len) != 1 || !len)
		return -EINVAL;
	*out = malloc(len / 4 * 3 + 3);
	if (!*out)
		return -ENOMEM;
	r = b64url_decode(s, len, *out, len / 4 * 3 + 3);
	if (r < 0) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	*n = (size_t)r;
	return 0;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (!params)
		return NULL;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (!ctx)
		goto out_free_params;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
out_free_params:
	OSSL_PARAM_free(params);
	return pkey;
}

/* RFC 7518 §6.3.1: n and e, unsigned big-endian. */
static int rsa_key(const json_t *jwk, struct jwt_key *key, const char **reason)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nlen = 0, elen = 0;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	int bits, err;

	err = member_b64(jwk, "n", &n, &nlen);
	if (err == -EINVAL)
		*reason = "RSA n missing or not base64url";
	if (err)
		return err;
	err = member_b64(jwk, "e", &e, &elen);
	if (err == -EINVAL)
		*reason = "RSA e missing or not base64url";
	if (err)
		goto out_free_n;
	err = -ENOMEM;
	bn_n = BN_bin2bn(n, (int)nlen, NULL);
	bn_e = BN_bin2bn(e, (int)elen, NULL);
	if (!bn_n || !bn_e)
		goto out_free_bn;
	err = -EINVAL;
	bits = BN_num_bits(bn_n);
	if (bits < TG_JWT_RSA_BITS_MIN || bits > TG_JWT_RSA_BITS_MAX) {
		*reason = "RSA modulus size out of bounds (2048..8192 bits)";
		goto out_free_bn;
	}
	/* Public exponents are small odd numbers; 3 is the least usable. */
	if (!BN_is_odd(bn_e) || BN_num_bits(bn_e) < 2 || BN_num_bits(bn_e) > 64) {
		*reason = "RSA exponent not usable";
		goto out_free_bn;
	}
	err = -ENOMEM;
	bld = OSSL_PARAM_BLD_new();
	if (!bld)
		goto out_free_bn;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
		goto out_free_bld;
	key->pkey = pkey_fromdata("RSA", bld);
	if (!key->pkey) {
		*reason = "RSA key refused by OpenSSL";
		err = -EINVAL;
		goto out_free_bld;
	}
	key->alg = JWT_ALG_RS256;
	err = 0;
out_free_bld:
	OSSL_PARAM_BLD_free(bld);
out_free_bn:
	BN_free(bn_e);
	BN_free(bn_n);
	free(e);
out_free_n:
	free(n);
	return err;
}

/* RFC 7518 §6.2.1: crv "P-256", x and y of exactly 32 bytes each. The point
 * is checked to be on the curve (and of the group's order), so that an
 * invalid-curve point never reaches a verifier. */
static int ec_key(const json_t *jwk, struct jwt_key *key, const char **reason)
{
	unsigned char *x = NULL, *y = NULL, pub[1 + 2 * ES256_COORD];
	size_t xlen = 0, ylen = 0, clen = 0;
	const char *crv;
	OSSL_PARAM_BLD *bld;
	EVP_PKEY_CTX *chk;
	int err;

	if (member_str(jwk, "crv", &crv, &clen) != 1) {
		*reason = "EC key without crv";
		return -EINVAL;
	}
	if (clen != 5 || memcmp(crv, "P-256", 5)) {
		*reason = "EC curve is not P-256";
		return -EINVAL;
	}
	err = member_b64(jwk, "x", &x, &xlen);
	if (!err)
		err = member_b64(jwk, "y", &y, &ylen);
	if (err == -EINVAL)
		*reason = "EC x or y missing or not base64url";
	if (err)
		goto out_free_xy;
	err = -EINVAL;
	if (xlen != ES256_COORD || ylen != ES256_COORD) {
		*reason = "EC x or y not 32 bytes";
		goto out_free_xy;
	}
	/* SEC 1 §2.3.3 uncompressed point: 0x04 || x || y. */
	pub[0] = 0x04;
	memcpy(pub + 1, x, ES256_COORD);
	memcpy(pub + 1 + ES256_COORD, y, ES256_COORD);
	err = -ENOMEM;
	bld = OSSL_PARAM_BLD_new();
	if (!bld)
		goto out_free_xy;
	if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)))
		goto out_free_bld;
	err = -EINVAL;
	key->pkey = pkey_fromdata("EC", bld);
	if (!key->pkey) {
		*reason = "EC point refused (not on P-256?)";
		goto out_free_bld;
	}
	chk = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
	if (!chk || EVP_PKEY_public_check(chk) != 1) {
		EVP_PKEY_CTX_free(chk);
		EVP_PKEY_free(key->pkey);
		key->pkey = NULL;
		*reason = "EC point not on P-256";
		goto out_free_bld;
	}
	EVP_PKEY_CTX_free(chk);
	key->alg = JWT_ALG_ES256;
	err = 0;
out_free_bld:
	OSSL_PARAM_BLD_free(bld);
out_free_xy:
	free(y);
	free(x);
	return err;
}

/* RFC 7518 §6.4.1: k, the secret; §3.2: at least as long as the hash. */
static int oct_key(const json_t *jwk, struct jwt_key *key, const char **reason)
{
	unsigned char *k = NULL;
	size_t klen = 0;
	int err;

	err = member_b64(jwk, "k", &k, &klen);
	if (err == -EINVAL)
		*reason = "oct k missing or not base64url";
	if (err)
		return err;
	if (klen < TG_JWT_HMAC_KEY_MIN || klen > TG_JWT_HMAC_KEY_MAX) {
		OPENSSL_clear_free(k, klen);
		*reason = "HMAC secret size out of bounds (32..512 bytes)";
		return -EINVAL;
	}
	key->secret = k;
	key->secret_len = klen;
	key->alg = JWT_ALG_HS256;
	return 0;
}

static void key_fini(struct jwt_key *key)
{
	EVP_PKEY_free(key->pkey);
	key->pkey = NULL;
	OPENSSL_clear_free(key->secret, key->secret_len);
	key->secret = NULL;
	key->secret_len = 0;
}

static const struct jwt_key *find_kid(const struct jwt_keys *ks, const char *kid, size_t len)
{
	for (uint32_t i = 0; i < ks->n; i++) {
		const struct jwt_key *key = &ks->keys[i];

		if (key->has_kid && strlen(key->kid) == len && !memcmp(key->kid, kid, len))
			return key;
	}
	return NULL;
}

/* Whether an optional member equals want, as a string or (key_ops) an
 * array holding it. Absent: true. */
static bool member_allows(const json_t *jwk, const char *name, const char *want)
{
	const json_t *v = json_object_get(jwk, name), *el;
	size_t i;

	if (!v)
		return true;
	if (json_is_string(v))
		return !strcmp(json_string_value(v), want);
	if (!json_is_array(v))
		return false;
	json_array_foreach(v, i, el)
		if (json_is_string(el) && !strcmp(json_string_value(el), want))
			return true;
	return false;
}

/* Builds ks->keys[ks->n] from one JWKS entry. Returns 0, -ENOMEM, or
 * -EINVAL with *reason (static) saying why the entry is skipped. */
static int key_from_jwk(struct jwt_keys *ks, const json_t *jwk, const char **reason)
{
	struct jwt_key *key;
	const char *kty, *kid, *alg;
	size_t kty_len, kid_len, alg_len;
	enum jwt_alg want;
	int r;

	if (!json_is_object(jwk)) {
		*reason = "not an object";
		return -EINVAL;
	}
	if (member_str(jwk, "kty", &kty, &kty_len) != 1) {
		*reason = "kty missing or not a string";
		return -EINVAL;
	}
	if (kty_len == 3 && !memcmp(kty, "RSA", 3)) {
		want = JWT_ALG_RS256;
	} else if (kty_len == 2 && !memcmp(kty, "EC", 2)) {
		want = JWT_ALG_ES256;
	} else if (kty_len == 3 && !memcmp(kty, "oct", 3)) {
		want = JWT_ALG_HS256;
	} else {
		*reason = "kty not RSA, EC or oct";
		return -EINVAL;
	}
	/* RFC 7517 §4.2, §4.3: keys meant for encryption are not ours. */
	if (!member_allows(jwk, "use", "sig")) {
		*reason = "use is not \"sig\"";
		return -EINVAL;
	}
	if (!member_allows(jwk, "key_ops", "verify")) {
		*reason = "key_ops does not include \"verify\"";
		return -EINVAL;
	}
	r = member_str(jwk, "alg", &alg, &alg_len);
	if (r < 0 || (r == 1 && alg_of(alg, alg_len) != want)) {
		*reason = "alg is not RS256/ES256/HS256 for its kty";
		return -EINVAL;
	}
	r = member_str(jwk, "kid", &kid, &kid_len);
	if (r < 0 || (r == 1 && (kid_len > TG_JWT_KID_MAX || has_ctl(kid, kid_len)))) {
		*reason = "kid not a string, too long, or with control characters";
		return -EINVAL;
	}
	if (r == 1 && find_kid(ks, kid, kid_len)) {
		*reason = "kid used by an earlier key";
		return -EINVAL;
	}
	if (ks->n == TG_JWT_KEYS_MAX) {
		*reason = "more usable keys than TG_JWT_KEYS_MAX";
		return -EINVAL;
	}
	key = &ks->keys[ks->n];
	memset(key, 0, sizeof(*key));
	if (r == 1) {
		key->has_kid = true;
		memcpy(key->kid, kid, kid_len);
	}
	switch (want) {
	case JWT_ALG_RS256:
		r = rsa_key(jwk, key, reason);
		break;
	case JWT_ALG_ES256:
		r = ec_key(jwk, key, reason);
		break;
	default:
		r = oct_key(jwk, key, reason);
		break;
	}
	if (r)
		key_fini(key);
	return r;
}

/* Notes why entry i was skipped, with its kid (made printable) if any. */
static void note_skip(struct jwt_keys *ks, size_t i, const json_t *jwk, const char *reason)
{
	char kid[JWT_KID_QUOTE + 1] = "";
	const char *s;
	size_t len, j;

	if (json_is_object(jwk) && member_str(jwk, "kid", &s, &len) == 1) {
		for (j = 0; j < len && j < JWT_KID_QUOTE; j++)
			kid[j] = (s[j] >= 0x20 && s[j] < 0x7f && s[j] != '"') ? s[j] : '?';
		kid[j] = '\0';
		snprintf(ks->skipped[ks->n_skipped], JWT_ERR_MAX, "keys[%zu] (kid \"%s%s\"): %s",
			 i, kid, len > JWT_KID_QUOTE ? "..." : "", reason);
	} else {
		snprintf(ks->skipped[ks->n_skipped], JWT_ERR_MAX, "keys[%zu]: %s", i, reason);
	}
	ks->n_skipped++;
}

struct jwt_keys *jwt_keys_parse(const char *json, size_t len, char *err, size_t errlen)
{
	struct jwt_keys *ks;
	json_error_t je;
	json_t *root, *arr, *jwk;
	const char *reason;
	size_t i;
	int e, r;

	if (!json) {
		set_err(err, errlen, "no JWKS");
		errno = EINVAL;
		return NULL;
	}
	if (len > TG_JWKS_FILE_MAX) {
		set_err(err, errlen, "JWKS larger than %u bytes", TG_JWKS_FILE_MAX);
		errno = EFBIG;
		return NULL;
	}
	ks = calloc(1, sizeof(*ks));
	if (!ks) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	/* jansson's error text may quote the input near the error, which can
	 * be a secret: only the position is reported. */
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		set_err(err, errlen, "JWKS is not JSON or has a duplicate member (line %d, column %d)",
			je.line, je.column);
		e = EINVAL;
		goto out_free_keys;
	}
	arr = json_object_get(root, "keys");
	if (!json_is_object(root) || !json_is_array(arr)) {
		set_err(err, errlen, "JWKS is not an object with a \"keys\" array");
		e = EINVAL;
		goto out_put_root;
	}
	if (json_array_size(arr) > TG_JWKS_ENTRIES_MAX) {
		set_err(err, errlen, "JWKS has more than %u keys", TG_JWKS_ENTRIES_MAX);
		e = EINVAL;
		goto out_put_root;
	}
	e = ENOMEM;
	set_err(err, errlen, "out of memory");
	ks->skipped = calloc(json_array_size(arr) + 1, sizeof(*ks->skipped));
	if (!ks->skipped)
		goto out_put_root;
	ks->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!ks->hmac)
		goto out_put_root;
	json_array_foreach(arr, i, jwk) {
		reason = "unusable";
		r = key_from_jwk(ks, jwk, &reason);
		if (r == -ENOMEM)
			goto out_put_root;
		if (r)
			note_skip(ks, i, jwk, reason);
		else
			ks->n++;
	}
	if (!ks->n) {
		if (ks->n_skipped)
			set_err(err, errlen, "no usable key in the JWKS; %s", ks->skipped[0]);
		else
			set_err(err, errlen, "no usable key in the JWKS: \"keys\" is empty");
		e = EINVAL;
		goto out_put_root;
	}
	json_decref(root);
	ERR_clear_error();
	if (err && errlen)
		err[0] = '\0';
	return ks;

out_put_root:
	json_decref(root);
out_free_keys:
	ERR_clear_error();
	jwt_keys_free(ks);
	errno = e;
	return NULL;
}

struct jwt_keys *jwt_keys_load(const char *path, char *err, size_t errlen)
{
	struct jwt_keys *ks = NULL;
	char *buf;
	size_t got = 0;
	ssize_t r;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		set_err(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	buf = malloc(TG_JWKS_FILE_MAX + 1);
	if (!buf) {
		e = ENOMEM;
		set_err(err, errlen, "out of memory");
		goto out_close_fd;
	}
	/* Read to EOF (not st_size) so that a file that grows while read is
	 * still bounded. */
	while (got <= TG_JWKS_FILE_MAX) {
		r = read(fd, buf + got, TG_JWKS_FILE_MAX + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			set_err(err, errlen, "%s: %s", path, strerror(e));
			goto out_free_buf;
		}
		if (!r)
			break;
		got += (size_t)r;
	}
	if (got > TG_JWKS_FILE_MAX) {
		e = EFBIG;
		set_err(err, errlen, "%s: larger than %u bytes", path, TG_JWKS_FILE_MAX);
		goto out_free_buf;
	}
	ks = jwt_keys_parse(buf, got, err, errlen);
	e = errno;
out_free_buf:
	/* The file may hold HMAC secrets. */
	OPENSSL_cleanse(buf, got);
	free(buf);
out_close_fd:
	close(fd);
	if (!ks)
		errno = e;
	return ks;
}

uint32_t jwt_keys_count(const struct jwt_keys *k)
{
	return k ? k->n : 0;
}

uint32_t jwt_keys_skipped_count(const struct jwt_keys *k)
{
	return k ? k->n_skipped : 0;
}

const char *jwt_keys_skipped(const struct jwt_keys *k, uint32_t i)
{
	if (!k || i >= k->n_skipped)
		return NULL;
	return k->skipped[i];
}

void jwt_keys_free(struct jwt_keys *k)
{
	if (!k)
		return;
	/* A half-built key past n was finished by key_from_jwk() already. */
	for (uint32_t i = 0; i < k->n; i++)
		key_fini(&k->keys[i]);
	EVP_MAC_free(k->hmac);
	free(k->skipped);
	free(k);
}

/* ---- verification -------------------------------------------------------- */

/* One DER INTEGER (X.690 §8.3) of a big-endian unsigned value: leading
 * zeros dropped, a zero prepended when the top bit is set. */
static size_t der_uint(unsigned char *o, const unsigned char *v, size_t n)
{
	size_t i = 0, w = 0;
	bool pad;

	while (i < n - 1 && !v[i])
		i++;
	pad = v[i] & 0x80;
	o[w++] = 0x02;
	o[w++] = (unsigned char)(n - i + pad);
	if (pad)
		o[w++] = 0;
	memcpy(o + w, v + i, n - i);
	return w + n - i;
}

/* RFC 7518 §3.4: a JWS carries R || S; OpenSSL wants the DER
 * ECDSA-Sig-Value (RFC 3279 §2.2.3), a SEQUENCE of the two INTEGERs. Its
 * length stays below 128, so the short length form fits. */
static size_t es256_der(const unsigned char *rs, unsigned char *der)
{
	size_t w = 2;

	w += der_uint(der + w, rs, ES256_COORD);
	w += der_uint(der + w, rs + ES256_COORD, ES256_COORD);
	der[0] = 0x30;
	der[1] = (unsigned char)(w - 2);
	return w;
}

/* 0 when sig is key's signature of msg, -EKEYREJECTED when not, -ENOMEM. */
static int verify_pkey(const struct jwt_key *key, const char *msg, size_t mlen,
		       const unsigned char *sig, size_t slen)
{
	unsigned char der[2 + 2 * (3 + ES256_COORD)];
	EVP_MD_CTX *ctx;
	int ok;

	if (key->alg == JWT_ALG_ES256) {
		/* A DER signature (what OpenSSL itself produces) is not a
		 * JWS signature and is refused by its length. */
		if (slen != ES256_SIG_LEN)
			return -EKEYREJECTED;
		slen = es256_der(sig, der);
		sig = der;
	} else if (slen != (size_t)EVP_PKEY_get_size(key->pkey)) {
		return -EKEYREJECTED;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, key->pkey, NULL) == 1 &&
	     EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)msg, mlen) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -EKEYREJECTED;
}

static int verify_hmac(const struct jwt_keys *ks, const struct jwt_key *key,
		       const char *msg, size_t mlen, const unsigned char *sig, size_t slen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx;
	size_t maclen = 0;
	int ok;

	if (slen != HS256_LEN)
		return -EKEYREJECTED;
	ctx = EVP_MAC_CTX_new(ks->hmac);
	if (!ctx)
		return -ENOMEM;
	ok = EVP_MAC_init(ctx, key->secret, key->secret_len, params) == 1 &&
	     EVP_MAC_update(ctx, (const unsigned char *)msg, mlen) == 1 &&
	     EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) == 1 &&
	     maclen == HS256_LEN && CRYPTO_memcmp(mac, sig, HS256_LEN) == 0;
	EVP_MAC_CTX_free(ctx);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -EKEYREJECTED;
}

static int verify_with(const struct jwt_keys *ks, const struct jwt_key *key,
		       const char *msg, size_t mlen, const unsigned char *sig, size_t slen)
{
	if (key->alg == JWT_ALG_HS256)
		return verify_hmac(ks, key, msg, mlen, sig, slen);
	return verify_pkey(key, msg, mlen, sig, slen);
}

/* RFC 7519 §2 NumericDate: seconds since the epoch, possibly fractional;
 * a fraction is rounded towards the stricter side (down for exp, up for
 * nbf and iat). Returns 0, or -EINVAL for a non-number or one beyond
 * +-2^53. */
static int numeric_date(const json_t *v, bool round_up, int64_t *out)
{
	double d;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i > JWT_DATE_LIMIT || i < -JWT_DATE_LIMIT)
			return -EINVAL;
		*out = (int64_t)i;
		return 0;
	}
	if (!json_is_real(v))
		return -EINVAL;
	d = json_real_value(v);
	if (!(d >= -(double)JWT_DATE_LIMIT && d <= (double)JWT_DATE_LIMIT))
		return -EINVAL;
	*out = (int64_t)(round_up ? ceil(d) : floor(d));
	return 0;
}

static bool str_is(const json_t *v, const char *want)
{
	size_t n = strlen(want);

	return json_string_length(v) == n && !memcmp(json_string_value(v), want, n);
}

/* RFC 7519 §4.1.3: aud is one StringOrURI or an array of them. 0 when it
 * names want, -EACCES when not (or absent), -EINVAL when malformed. */
static int check_aud(const json_t *aud, const char *want)
{
	const json_t *el;
	bool hit = false;
	size_t i;

	if (!aud)
		return want ? -EACCES : 0;
	if (json_is_string(aud))
		return !want || str_is(aud, want) ? 0 : -EACCES;
	if (!json_is_array(aud))
		return -EINVAL;
	json_array_foreach(aud, i, el) {
		if (!json_is_string(el))
			return -EINVAL;
		if (want && str_is(el, want))
			hit = true;
	}
	return !want || hit ? 0 : -EACCES;
}

/* Reads the claims of a verified payload into out. */
static int check_claims(const json_t *pl, const struct jwt_opts *o, int64_t now,
			struct jwt_claims *out, const char **why)
{
	const json_t *v;
	int64_t exp, t;
	const char *s;
	size_t len;
	int r;

	/* RFC 7519 §4.1.4; required here: a bearer token that never expires
	 * cannot be revoked by waiting. */
	v = json_object_get(pl, "exp");
	if (!v) {
		*why = "exp claim missing";
		return -EACCES;
	}
	if (numeric_date(v, false, &exp)) {
		*why = "exp claim not a NumericDate";
		return -EINVAL;
	}
	if (exp + (int64_t)o->leeway_s <= now) {
		*why = "token expired";
		return -EKEYEXPIRED;
	}
	/* RFC 7519 §4.1.5. */
	v = json_object_get(pl, "nbf");
	if (v) {
		if (numeric_date(v, true, &t)) {
			*why = "nbf claim not a NumericDate";
			return -EINVAL;
		}
		if (t - (int64_t)o->leeway_s > now) {
			*why = "token not yet valid (nbf)";
			return -EKEYEXPIRED;
		}
	}
	/* RFC 7519 §4.1.6 says nothing of future iat; one beyond the leeway
	 * means a wrong clock at the issuer or a forged token. */
	v = json_object_get(pl, "iat");
	if (v) {
		if (numeric_date(v, true, &t)) {
			*why = "iat claim not a NumericDate";
			return -EINVAL;
		}
		if (t - (int64_t)o->leeway_s > now) {
			*why = "token issued in the future (iat)";
			return -EKEYEXPIRED;
		}
	}
	/* RFC 7519 §4.1.1. */
	v = json_object_get(pl, "iss");
	if (v && !json_is_string(v)) {
		*why = "iss claim not a string";
		return -EINVAL;
	}
	if (o->issuer && (!v || !str_is(v, o->issuer))) {
		*why = "issuer mismatch";
		return -EACCES;
	}
	r = check_aud(json_object_get(pl, "aud"), o->audience);
	if (r) {
		*why = r == -EINVAL ? "aud claim not a string or array of strings" :
				      "audience mismatch";
		return r;
	}
	/* RFC 7519 §4.1.2. */
	r = member_str(pl, "sub", &s, &len);
	if (r < 0 || (r == 1 && (len > TG_JWT_CLAIM_MAX || has_ctl(s, len)))) {
		*why = "sub claim not a string, too long, or with control characters";
		return -EINVAL;
	}
	if (r == 1 && out)
		memcpy(out->sub, s, len);
	if (o->tenant_claim) {
		r = member_str(pl, o->tenant_claim, &s, &len);
		if (r != 1 || !len) {
			*why = "tenant claim missing or not a string";
			return -EACCES;
		}
		if (len > TG_NAME_MAX || has_ctl(s, len)) {
			*why = "tenant claim too long or with control characters";
			return -EINVAL;
		}
		if (out)
			memcpy(out->tenant, s, len);
	}
	if (out)
		out->exp = exp;
	return 0;
}

/* Finds the key of the header's kid, or tries every key of its alg.
 * Returns 0 with *used set, or -EKEYREJECTED / -ENOMEM with *why. */
static int verify_sig(const struct jwt_keys *ks, enum jwt_alg alg, const char *kid, size_t kid_len,
		      bool has_kid, const char *msg, size_t mlen, const unsigned char *sig,
		      size_t slen, const struct jwt_key **used, const char **why)
{
	const struct jwt_key *key;
	uint32_t tried = 0;
	int r;

	if (has_kid) {
		key = find_kid(ks, kid, kid_len);
		if (!key) {
			*why = "unknown kid";
			return -EKEYREJECTED;
		}
		/* The key decides the alg, never the token (alg confusion). */
		if (key->alg != alg) {
			*why = "alg not allowed for the key";
			return -EKEYREJECTED;
		}
		r = verify_with(ks, key, msg, mlen, sig, slen);
		if (r)
			*why = r == -ENOMEM ? "out of memory" : "bad signature";
		else
			*used = key;
		return r;
	}
	for (uint32_t i = 0; i < ks->n; i++) {
		key = &ks->keys[i];
		if (key->alg != alg)
			continue;
		tried++;
		r = verify_with(ks, key, msg, mlen, sig, slen);
		if (!r) {
			*used = key;
			return 0;
		}
		if (r == -ENOMEM) {
			*why = "out of memory";
			return r;
		}
	}
	*why = tried ? "bad signature" : "no key for the alg";
	return -EKEYREJECTED;
}

int jwt_verify(const struct jwt_keys *k, const char *tok, size_t len,
	       const struct jwt_opts *o, int64_t now, struct jwt_claims *out,
	       const char **why)
{
	/* Decoded header, payload and signature together are at most 3/4 of
	 * the token. */
	unsigned char buf[TG_JWT_TOKEN_MAX / 4 * 3 + 3];
	unsigned char *h, *p, *s;
	char kid[TG_JWT_KID_MAX + 1] = "";
	const struct jwt_key *used = NULL;
	const char *d1, *d2, *why_s = "ok", *str;
	size_t hlen, plen, slen, kid_len = 0, n;
	ssize_t hn, pn, sn;
	json_t *hdr, *pl;
	json_error_t je;
	enum jwt_alg alg;
	bool has_kid;
	int err, r;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!why)
		why = &why_s;
	*why = "ok";
	if (!k || !tok || !o) {
		*why = "no keys, token or options";
		return -EINVAL;
	}
	if (len > TG_JWT_TOKEN_MAX) {
		*why = "token too long";
		return -EINVAL;
	}
	/* RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.'
	 * BASE64URL(signature); five segments would be a JWE, not accepted. */
	d1 = memchr(tok, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok))) {
		*why = "not three dot-separated segments";
		return -EINVAL;
	}
	hlen = (size_t)(d1 - tok);
	plen = (size_t)(d2 - d1 - 1);
	slen = len - (size_t)(d2 + 1 - tok);
	if (!hlen || !plen) {
		*why = "empty header or payload";
		return -EINVAL;
	}
	h = buf;
	hn = b64url_decode(tok, hlen, h, sizeof(buf));
	if (hn < 0) {
		*why = "header not base64url";
		return -EINVAL;
	}
	p = h + hn;
	pn = b64url_decode(d1 + 1, plen, p, sizeof(buf) - (size_t)hn);
	if (pn < 0) {
		*why = "payload not base64url";
		return -EINVAL;
	}
	s = p + pn;
	sn = b64url_decode(d2 + 1, slen, s, sizeof(buf) - (size_t)(hn + pn));
	if (sn < 0) {
		*why = "signature not base64url";
		return -EINVAL;
	}

	/* RFC 7515 §4. */
	hdr = json_loadb((const char *)h, (size_t)hn, JSON_REJECT_DUPLICATES, &je);
	if (!hdr || !json_is_object(hdr)) {
		*why = "header not a JSON object, or with a duplicate member";
		err = -EINVAL;
		goto out_put_hdr;
	}
	r = member_str(hdr, "alg", &str, &n);
	if (r != 1) {
		*why = "header alg missing or not a string";
		err = -EINVAL;
		goto out_put_hdr;
	}
	/* RFC 8725 §3.1, §2.1: "none" and anything else unexpected out. */
	alg = alg_of(str, n);
	if (alg == JWT_ALG_UNKNOWN) {
		*why = "alg not allowed (only RS256, ES256, HS256)";
		err = -EKEYREJECTED;
		goto out_put_hdr;
	}
	/* RFC 7515 §4.1.11: we understand no extension, so any crit is one
	 * we must refuse. */
	if (json_object_get(hdr, "crit")) {
		*why = "crit header not supported";
		err = -EINVAL;
		goto out_put_hdr;
	}
	r = member_str(hdr, "kid", &str, &kid_len);
	if (r < 0 || (r == 1 && (kid_len > TG_JWT_KID_MAX || has_ctl(str, kid_len)))) {
		*why = "kid not a string, too long, or with control characters";
		err = -EINVAL;
		goto out_put_hdr;
	}
	has_kid = r == 1;
	if (has_kid)
		memcpy(kid, str, kid_len);
	json_decref(hdr);

	/* RFC 7515 §5.2 step 8: the signing input is the encoded header and
	 * payload exactly as received. */
	err = verify_sig(k, alg, kid, kid_len, has_kid, tok, (size_t)(d2 - tok), s, (size_t)sn,
			 &used, why);
	if (err)
		return err;

	/* RFC 7519 §7.2 steps 9-10: the payload is the claims set, a JSON
	 * object. */
	pl = json_loadb((const char *)p, (size_t)pn, JSON_REJECT_DUPLICATES, &je);
	if (!pl || !json_is_object(pl)) {
		*why = "payload not a JSON object, or with a duplicate member";
		json_decref(pl);
		return -EINVAL;
	}
	err = check_claims(pl, o, now, out, why);
	json_decref(pl);
	if (err) {
		if (out)
			memset(out, 0, sizeof(*out));
		return err;
	}
	if (out && used->has_kid)
		memcpy(out->kid, used->kid, sizeof(out->kid));
	return 0;

out_put_hdr:
	json_decref(hdr);
	return err;
}
