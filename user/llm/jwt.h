/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWT bearer tokens (RFC 7519) signed as a JWS in the compact serialization
 * (RFC 7515) with HS256, RS256 or ES256 (RFC 7518 §3), verified against keys
 * from a JWKS (RFC 7517 §5). The gateway takes them as an alternative to API
 * keys, in the same Authorization header.
 *
 * Keys: a struct jwt_keys is built once (at policy load) and is immutable
 * afterwards, so any number of worker threads may verify against it at once
 * without locks; each jwt_verify() call uses contexts of its own. Public keys
 * become EVP_PKEYs at load (an EC point off the P-256 curve is refused there),
 * HMAC secrets are copied and wiped on free.
 *
 * Each key has exactly one alg, from its kty: RSA -> RS256, EC P-256 -> ES256,
 * oct -> HS256. A token is verified only with a key of the alg its header
 * names, which defeats the alg-confusion attack (an HS256 token "signed" with
 * an RSA public key as the secret). "none" and every other alg are refused.
 *
 * Nothing here logs. Error texts and skip reasons never contain token or key
 * bytes; a kid may appear in them (kids are public).
 */
#ifndef TOLLGATE_JWT_H
#define TOLLGATE_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tollgate/limits.h"

/* Room for load error texts and skip reasons. */
#define JWT_ERR_MAX	256

struct jwt_keys;

/*
 * Reads a JWKS file ({"keys":[...]}, at most TG_JWKS_FILE_MAX bytes) and
 * builds its keys. Entries that cannot be used are skipped, each with a
 * reason (jwt_keys_skipped()): "use" other than "sig", "key_ops" without
 * "verify", an "alg" other than the one of its kty, a kty other than RSA,
 * EC or oct, an EC curve other than P-256, bad or out-of-bounds key
 * material, a kid seen before, more than TG_JWT_KEYS_MAX usable keys.
 * A file that is not JSON, has duplicate member names, or yields no usable
 * key is an error.
 *
 * Returns the keys (free with jwt_keys_free()), or NULL with errno set
 * (EINVAL, ENOMEM, EFBIG, or what open/read said) and a message in err
 * (errlen bytes, may be 0).
 */
struct jwt_keys *jwt_keys_load(const char *path, char *err, size_t errlen);
/* The same from json[0..len) (borrowed; need not be NUL-terminated). */
struct jwt_keys *jwt_keys_parse(const char *json, size_t len, char *err, size_t errlen);
/* Usable keys. */
uint32_t jwt_keys_count(const struct jwt_keys *k);
/* Entries skipped at load, and why the i-th was (NULL past the end), e.g.
 * "keys[2] (kid \"enc-1\"): use is not \"sig\"", for the caller to
 * log. */
uint32_t jwt_keys_skipped_count(const struct jwt_keys *k);
const char *jwt_keys_skipped(const struct jwt_keys *k, uint32_t i);
/* NULL is a no-op. */
void jwt_keys_free(struct jwt_keys *k);

struct jwt_opts {
	/* Required values of "iss" and "aud" (aud: the string, or one element
	 * of the array); NULL: not checked. Compared exactly (RFC 7519 §4.1). */
	const char *issuer;
	const char *audience;
	/* Clock skew allowed on exp, nbf and iat. */
	uint32_t leeway_s;
	/* The claim naming the tenant, e.g. "tenant": it must be a string of
	 * 1..TG_NAME_MAX bytes. NULL: not read. */
	const char *tenant_claim;
};

struct jwt_claims {
	char sub[TG_JWT_CLAIM_MAX + 1];	/* "" when absent */
	char tenant[TG_NAME_MAX + 1];	/* "" when tenant_claim is NULL */
	char kid[TG_JWT_KID_MAX + 1];	/* of the key that verified; "" none */
	int64_t exp;			/* seconds since the epoch */
};

/*
 * Whether a bearer credential has a JWT's shape: three base64url segments
 * split by two dots, the first two not empty (the third is empty for alg
 * "none", which jwt_verify() then refuses by name), at most TG_JWT_TOKEN_MAX
 * bytes. API keys have no dots, so the two share the Authorization header.
 */
bool jwt_is_jwt(const char *tok, size_t len);

/*
 * Verifies tok[0..len) (borrowed; need not be NUL-terminated) at time now
 * (seconds since the epoch). The signature is checked before any claim is
 * looked at. The header's kid, when present, selects the key; without one
 * every key of the header's alg is tried.
 *
 * Returns 0 with *out filled (out may be NULL), or
 *   -EINVAL       malformed: shape, length, base64url (RFC 7515 §2: no
 *                 padding, canonical), JSON (an object, no duplicate
 *                 members), crit present, a claim of the wrong type or
 *                 too long;
 *   -EKEYREJECTED alg none or not supported, no key for the kid or alg, the
 *                 key's alg is not the header's, bad signature;
 *   -EKEYEXPIRED  expired (exp), not yet valid (nbf), issued in the future
 *                 (iat), each with leeway_s;
 *   -EACCES       exp missing, iss or aud mismatch, tenant claim missing.
 * *why (why may be NULL) is a static string saying which, for logs; it
 * never quotes the token. On failure *out is zeroed.
 */
int jwt_verify(const struct jwt_keys *k, const char *tok, size_t len,
	       const struct jwt_opts *o, int64_t now, struct jwt_claims *out,
	       const char **why);

#endif /* TOLLGATE_JWT_H */
