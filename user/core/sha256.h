/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 on the request path: the API key of every request (llm.c,
 * policy/load.c), the audit chain, one hash per line (obs/audit.c), and
 * the response cache's key (llm/cache.c).
 *
 * These are OpenSSL's SHA256_* functions, not EVP. OpenSSL 3.0 (Debian
 * 12's) allocates, and on final cleanses and frees, the provider's context
 * on every EVP_DigestInit_ex, even on a reused EVP_MD_CTX with the digest
 * fetched once. On the bench machine (SHA-NI) that is 68 ns instead of
 * 46 for a key and 253 instead of 218 for a 416-byte audit line. The
 * low-level functions run the same block code with the state on the
 * caller's stack. OpenSSL 3 marks them deprecated but keeps them (the
 * warning is silenced here, whatever the include order); where a build
 * has them removed (OPENSSL_NO_DEPRECATED_3_0), EVP serves behind the
 * same interface.
 */
#ifndef TOLLGATE_CORE_SHA256_H
#define TOLLGATE_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/opensslconf.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#define TG_SHA256_LEN	32

#ifndef OPENSSL_NO_DEPRECATED_3_0

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

struct tg_sha256 {
	SHA256_CTX c;
};

static inline int tg_sha256_init(struct tg_sha256 *s)
{
	return SHA256_Init(&s->c) == 1 ? 0 : -1;
}

static inline int tg_sha256_update(struct tg_sha256 *s, const void *p, size_t n)
{
	return SHA256_Update(&s->c, p, n) == 1 ? 0 : -1;
}

/* SHA256_Final wipes the block buffer, the only place the hashed bytes
 * were kept (the chaining state left is the digest). */
static inline int tg_sha256_final(struct tg_sha256 *s, uint8_t out[TG_SHA256_LEN])
{
	return SHA256_Final(out, &s->c) == 1 ? 0 : -1;
}

#pragma GCC diagnostic pop

#else

struct tg_sha256 {
	EVP_MD_CTX *c;
};

static inline int tg_sha256_init(struct tg_sha256 *s)
{
	s->c = EVP_MD_CTX_new();
	if (s->c && EVP_DigestInit_ex(s->c, EVP_sha256(), NULL))
		return 0;
	EVP_MD_CTX_free(s->c);
	s->c = NULL;
	return -1;
}

static inline int tg_sha256_update(struct tg_sha256 *s, const void *p, size_t n)
{
	return s->c && EVP_DigestUpdate(s->c, p, n) ? 0 : -1;
}

static inline int tg_sha256_final(struct tg_sha256 *s, uint8_t out[TG_SHA256_LEN])
{
	int ok = s->c && EVP_DigestFinal_ex(s->c, out, NULL);

	EVP_MD_CTX_free(s->c);
	s->c = NULL;
	return ok ? 0 : -1;
}

#endif

/* One buffer's digest; 0, or -1 (only where EVP serves: no memory). */
static inline int tg_sha256(const void *p, size_t n, uint8_t out[TG_SHA256_LEN])
{
	struct tg_sha256 s;

	if (tg_sha256_init(&s))
		return -1;
	if (tg_sha256_update(&s, p, n)) {
		tg_sha256_final(&s, out);
		return -1;
	}
	return tg_sha256_final(&s, out);
}

#endif
