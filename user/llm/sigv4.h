/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AWS Signature Version 4 request signing (the "Create a signed AWS API
 * request" procedure of the AWS IAM user guide), as the Bedrock adapter
 * needs it: HMAC-SHA256 over a canonical request, with the signing key
 * derived from the secret, the date, the region and the service.
 *
 * A signer holds one set of credentials and a scope (region, service). It
 * caches the derived signing key for the current date, and hashes the
 * canonical request piece by piece into one reusable digest context, so
 * signing a request allocates nothing. A signer is not thread-safe: one
 * per worker.
 *
 * What sigv4_sign() produces is the header lines to add to the request
 * (X-Amz-Date, optionally X-Amz-Content-Sha256 and X-Amz-Security-Token,
 * and Authorization). The caller sends Host, Content-Type and the other
 * headers it named in the request exactly as they were signed.
 *
 * Canonical URI (see docs/bedrock.md): the request-target path exactly as
 * sent (percent-encoded as on the wire, no query), normalized the way the
 * AWS SDKs do for every service but S3 (empty, "." and ".." segments
 * removed), then each segment URI-encoded once more. So a Bedrock model
 * id "anthropic.claude-v2:1" sent as ".../anthropic.claude-v2%3A1/..."
 * appears in the canonical URI as "anthropic.claude-v2%253A1", which is
 * what AWS (and the simulator) compute. sigv4_uri_encode() builds the wire
 * form of a path segment.
 */
#ifndef TOLLGATE_SIGV4_H
#define TOLLGATE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http/http1.h"
#include "tollgate/limits.h"

/* Lengths of the hex SHA-256 and of an x-amz-date value. */
#define SIGV4_HEX_LEN		64
#define SIGV4_AMZ_DATE_LEN	16	/* YYYYMMDDTHHMMSSZ */

struct sigv4_creds {
	struct http1_span access_key_id;
	struct http1_span secret_access_key;
	struct http1_span session_token;	/* p NULL or len 0: none */
	struct http1_span region;		/* e.g. us-east-1 */
	struct http1_span service;		/* "bedrock" for the runtime */
};

/* A header to sign besides the ones the signer adds itself. */
struct sigv4_header {
	struct http1_span name;		/* any case; a token */
	struct http1_span value;	/* no CR, LF or NUL */
};

/* sigv4_request.flags */
/* Add and sign X-Amz-Content-Sha256 (S3 needs it; Bedrock accepts it). */
#define SIGV4_F_CONTENT_SHA256	0x01u
/* Leave X-Amz-Security-Token out of the signed headers (it is still
 * added when the credentials have one). AWS's own SDKs sign it; this is
 * for the services that want it unsigned. */
#define SIGV4_F_TOKEN_UNSIGNED	0x02u

struct sigv4_request {
	struct http1_span method;	/* "POST" */
	struct http1_span path;		/* as sent, without '?' and the query */
	struct http1_span query;	/* after '?', empty for none */
	struct http1_span host;		/* the Host header value */
	struct http1_span content_type;	/* p NULL: not sent, not signed */
	/* Other headers sent and signed (borrowed). A name given more than
	 * once is one canonical header, its values joined with ',' in the
	 * order given (SigV4 rule for repeated fields). None of them may be
	 * host, content-type, authorization or x-amz-date /
	 * -content-sha256 / -security-token: the signer owns those. */
	const struct sigv4_header *headers;
	size_t n_headers;
	const void *body;		/* hashed as is; NULL with body_len 0 */
	size_t body_len;
	/* A precomputed lowercase hex SHA-256 of the body (SIGV4_HEX_LEN
	 * chars), used instead of hashing body; NULL to hash body. */
	const char *body_sha256;
	time_t when;			/* the signing time (UTC seconds) */
	uint32_t flags;			/* SIGV4_F_* */
};

struct sigv4_signer {
	/* private */
	char key_id[TG_SIGV4_KEY_ID_MAX];
	size_t key_id_len;
	char secret[4 + TG_SIGV4_SECRET_MAX];	/* "AWS4" + secret */
	size_t secret_len;
	char token[TG_SIGV4_TOKEN_MAX];
	size_t token_len;
	char region[TG_SIGV4_SCOPE_PART_MAX];
	size_t region_len;
	char service[TG_SIGV4_SCOPE_PART_MAX];
	size_t service_len;
	char key_date[8];			/* date of k_signing, YYYYMMDD */
	uint8_t k_signing[32];
	bool has_key;
	void *md;				/* EVP_MD_CTX */
	void *sha256;				/* EVP_MD, fetched once */
	char qbuf[3 * TG_SIGV4_QUERY_MAX];	/* encoded query parameters */
};

/*
 * Copies the credentials (the caller may free its strings after). Returns
 * 0, -EINVAL for an empty key id, secret, region or service or one holding
 * bytes that cannot appear in a header or scope (CR, LF, NUL, '/' in the
 * scope parts), -E2BIG for one longer than its limits.h bound, -ENOMEM.
 * On failure *s is left finalizable.
 */
int sigv4_signer_init(struct sigv4_signer *s, const struct sigv4_creds *c);

/* Wipes the secret and the derived key. NULL-safe, idempotent. */
void sigv4_signer_fini(struct sigv4_signer *s);

/*
 * Signs r and writes the header lines to add ("Name: value\r\n" each) to
 * out[0..cap). Returns 0 with *len the bytes written; -ENOSPC with *len
 * the bytes needed; -EINVAL for a request that cannot be signed (a bad
 * method, path not starting with '/', bad header name or value, a header
 * the signer owns, a malformed %-escape in the query, when before 1970 or
 * after 9999); -E2BIG when the path, query or headers exceed their bounds;
 * -EIO when OpenSSL fails.
 */
int sigv4_sign(struct sigv4_signer *s, const struct sigv4_request *r,
	       char *out, size_t cap, size_t *len);

/*
 * Writes the canonical request sigv4_sign() would hash (for tests and
 * debugging; never log it with secrets in headers). Same returns as
 * sigv4_sign().
 */
int sigv4_canonical_request(struct sigv4_signer *s,
			    const struct sigv4_request *r,
			    char *out, size_t cap, size_t *len);

/*
 * URI-encodes in[0..n) as SigV4 does (RFC 3986: every byte but
 * A-Z a-z 0-9 - . _ ~ becomes %XX, uppercase hex; '/' kept when
 * keep_slash). Use it to put a model id into a Bedrock path. Returns the
 * encoded length (which may exceed cap: nothing past cap is written, and
 * no NUL is added).
 */
size_t sigv4_uri_encode(char *out, size_t cap, const char *in, size_t n,
			bool keep_slash);

#endif /* TOLLGATE_SIGV4_H */
