// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: JWT verification and JWKS loading (user/llm/jwt.c) on
 * arbitrary bytes. An input whose first non-blank byte is '{' or '[' is a
 * JWKS for jwt_keys_parse(); anything else is a token, verified with fixed
 * options against a fixed JWKS (an RSA 2048, an EC P-256 and an HMAC key,
 * kids rs1, es1, hs1).
 *
 * The keys and the tokens below were made once with Node's crypto (RS256,
 * ES256 in the raw R || S form, HS256) and are the seeds in tests/data/jwt/;
 * the HMAC secret is public here, which is fine: it only keys this target.
 * At start every known token must verify to its expected result, so the
 * checks below cannot pass vacuously (keys that failed to load, a verifier
 * that refuses everything).
 *
 * What must hold for a token:
 *  - the result is 0 or an error jwt.h names, with a reason; on failure
 *    the claims are zeroed;
 *  - a credential without a JWT's shape (jwt_is_jwt) is malformed;
 *  - a signature verifies only for a token we signed, byte for byte: a
 *    result only reached after the signature check (0, expired, access
 *    refused, a claim of the wrong type) for any other input is a forgery.
 * For a JWKS:
 *  - it loads, or fails with errno and a message; loaded, it has 1 to
 *    TG_JWT_KEYS_MAX keys and a reason for every entry skipped;
 *  - each known token verifies against it as against the real keys, or
 *    is refused for want of a key, never anything else (the claims are in
 *    the signed payload, the key only decides whether they are believed).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm/jwt.h"
#include "tollgate/limits.h"

#define NOW	1700000000ll

struct known {
	const char *name;
	int rc;			/* with the fixed keys and options */
	const char *tok;
};

static const char jwks_json[] =
	"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rs1\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":"
	"\"vHtJLJqjTYIYr_tAJJM0yKw1PPIfTc1SQAe9725CaN4NHDBYZo3_B5SjNnx1Wo6"
	"TnaOaH6ctygdy3Xg4DzuZPbwVQsI0wAzP85AyrZw7JcNFQmq5a0_qDf49mInf0Cd"
	"-d0MTGQ9OvqYmzXvsiNnw3nLDh2hmZchdETKFFtJCD_yjXFbrMmdv1Wl0AD2SEag"
	"RdEU0Wg7sX3g3_B2otlySID3zCIMbMpTcU6zxlJ_x9lLj1FDhQkxQxsfDZZvtV4p"
	"Fk04An7WK0lem3k0JWjlYdUTxx12Wn_RdNkQzLEmdZg2L4lzH2ATvDjFZBNNlGps"
	"CozUFmEzkZVQ5uc3ZHC6I2Q\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid\":\"es1\",\"us"
	"e\":\"sig\",\"crv\":\"P-256\",\"x\":\"k0j2T1McAVcdL1VEUJTbpsXfLiVj-KLW4rXI"
	"yaMHrwY\",\"y\":\"ub4-HBCEup-YYnbLk-mPQSebeNpNc3gzsjIX2JKecko\"},{\"kt"
	"y\":\"oct\",\"kid\":\"hs1\",\"alg\":\"HS256\",\"key_ops\":[\"verify\"],\"k\":\"E4K"
	"0EePCLI9G5EVS0WGx4gQ71PAPpXyZ_ZKENsez82w\"}]}";

static const struct known known[] = {
	{ "rs-valid", 0,
	  "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzMSJ9.eyJpc3MiOiJ"
	  "odHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjoidG9sbGdhdGUiLCJzdWIiOiJ1c2V"
	  "yLTEiLCJ0ZW5hbnQiOiJhY21lIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE3MDA"
	  "wMDAwMDB9.koOVVnBHTH2Om5k46zzMAkiatEaoQLF5uHrqg9wqZ0sqOoDQzyzTrZ"
	  "IU8vg9-Acdz0C_YdySBm9dE7jw-i_m6jNdY4QZMWYk36N4WxQm7nK3E8BXYR08WF"
	  "cZv0LTfaNjW0xNedLoc2TR7rHVEKuByPt5nT13if8_aadukDGAtKnwhI1s_QkaY4"
	  "xN4-2wGg__cXHmwG2z8zBv9uxA-AQja9eDEsx3LIf9h2oTgnn_YdfWgwEsWq8bcp"
	  "5xVrnfdBveRjIjLZr5zBkTI39cOx6fRafHkUVcmTmWsuiS1-CdgoZUWnq7zgsYzp"
	  "KbrykKVL_OAfC1dYzcFhRTfwNYx18rig" },
	{ "rs-nokid", 0,
	  "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lkcC5"
	  "leGFtcGxlIiwiYXVkIjoidG9sbGdhdGUiLCJzdWIiOiJ1c2VyLTIiLCJ0ZW5hbnQ"
	  "iOiJhY21lIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9.knlErD"
	  "iNXUuu2ELzL2zNs70GmHB8LMo7mdK8cqZG7k9givLyKfBYct4SLVDREaJnllMPcg"
	  "LpfraHMBtPZG2X4m8-kVcfM7Pr2x6mBFrDvoD2QW6rzXYw5YLweq3z3fCx_0vd3i"
	  "kxFMhgWPWXGGrQpwIz99UImtE_YPBRRz-Gvl05UUmxpCJTg1LVTbl_LOhS8RjwHQ"
	  "K4Y0Oga2XEVUxqL9YJ3RzyhUy7q8YyYtdo19PKv8ZWUifS2Um9Wk3rnGDSa40g7d"
	  "JYTGFOAXA_JaCgWdviGnA5EiX8WCo-QpCdJb0ibKAARPy5Xex6OLYUuvPqhFQ6Oa"
	  "Q1hAssqxfkRHcQ5g" },
	{ "es-valid", 0,
	  "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVzMSJ9.eyJpc3MiOiJodHRwczovL2lkcC5"
	  "leGFtcGxlIiwiYXVkIjpbIm90aGVyIiwidG9sbGdhdGUiXSwic3ViIjoidXNlci0"
	  "xIiwidGVuYW50IjoiYmV0YSIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMDA"
	  "wMDAwLCJuYmYiOjE2OTk5OTkwMDB9.ZOqhy_M72Mnc05CV8FGcDba7-WsbtGSoXk"
	  "w-OxkN43mdeFODLVw_5POuldVXS9xO_W8GAoCqqcUVy3jHxS-POg" },
	{ "hs-valid", 0,
	  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImhzMSJ9.eyJpc3MiOiJ"
	  "odHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjoidG9sbGdhdGUiLCJzdWIiOiIiLCJ"
	  "0ZW5hbnQiOiJhY21lIiwiZXhwIjoxOTAwMDAwMDAwLjUsImlhdCI6MTcwMDAwMDA"
	  "wMH0.vPkGq3qvvsdNuYMD3tCJzj5MziI3Wb3Hcv9roeUdwns" },
	{ "es-expired", -EKEYEXPIRED,
	  "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVzMSJ9.eyJpc3MiOiJodHRwczovL2lkcC5"
	  "leGFtcGxlIiwiYXVkIjoidG9sbGdhdGUiLCJzdWIiOiJ1c2VyLTEiLCJ0ZW5hbnQ"
	  "iOiJhY21lIiwiZXhwIjoxNjAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9.IyE4bv"
	  "JlwAyolAWYTC4WxSF5fP8VPVmijLjV7nkX9yQsLYyaK-7mlrQf6zZd0s9JcnTHkA"
	  "ip-6hznepEzoWAGA" },
	{ "rs-nbf-future", -EKEYEXPIRED,
	  "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzMSJ9.eyJpc3MiOiJodHRwczovL2lkcC5"
	  "leGFtcGxlIiwiYXVkIjoidG9sbGdhdGUiLCJzdWIiOiJ1c2VyLTEiLCJ0ZW5hbnQ"
	  "iOiJhY21lIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI"
	  "6MTgwMDAwMDAwMH0.OPl1BfcbBO4nW_QCY4jtzg1MTuU7yX_PDYQyQ19eDthZSfi"
	  "wC7rby8VkHihNUOoSgPr2fhsXfpBir1Ztf1ND9_o7Fi15zfgt5aZYLSZHLYrPKZE"
	  "XBZ0fqH4GlpfNNXS_BcpCLljA0yy57SNEqq0XHUU6tpZ7FWZK67pz5tZdP3tPJUK"
	  "rdGQH2r0BY2dSFQgWaFrUthIRAiq2XVbabq3Hw7ont5HWLNf1nKQtOABvVK9Kv2P"
	  "Z2TPb03NrDgsXqjKiRO8yRmQhrwnWBsSKrTC5ffzgLV8LHVHvAsKiwhevAtOmZN3"
	  "u8XX6drqLFtQ0xVDnCwqiwNyAyhlUMsEahcJ6xw" },
	{ "hs-wrong-aud", -EACCES,
	  "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzMSJ9.eyJpc3MiOiJodHRwczovL2lkcC5"
	  "leGFtcGxlIiwiYXVkIjoic29tZW9uZS1lbHNlIiwic3ViIjoidXNlci0xIiwidGV"
	  "uYW50IjoiYWNtZSIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMDAwMDAwfQ."
	  "WAC_XmczAZQPjj85rII8WqTMuGpRHeu5GYTqjg3Cv60" },
	{ "rs-no-tenant", -EACCES,
	  "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzMSJ9.eyJpc3MiOiJodHRwczovL2lkcC5"
	  "leGFtcGxlIiwiYXVkIjoidG9sbGdhdGUiLCJzdWIiOiJ4IiwiZXhwIjoyMDAwMDA"
	  "wMDAwfQ.F2aXJwFDZMuAfmNGxT1_y2CRO5rugbybqkeMn-0bm0q2kEQ_zkeHRYQq"
	  "TxVI6tOpZB0PHK3KGNohVos2bbRYzqrtmIgxeZld7Qr5iw1Ttr4H_Sr7zpkgILpC"
	  "xeJb6mhByrdXIk69zWrBBVhHnSgvrYGFoRS0cEcEeATnAusAn2O_5IOQKa9zKoIQ"
	  "hR6I0YqP_0RqcUyfJN_7UdqksaaHgUi5chBjKEP6Yumme48uZ_xu5wTN4Py075MB"
	  "xExi_9-Gx1Maj78JnB6inD_HS7j5LhK1vFNr6gQcnYW0O_lwqB1y5racIcnTQ6oR"
	  "VhHTmqwWvkmMWJR1D9Aq5IyGlKDBgw" },
	{ "es-sub-number", -EINVAL,
	  "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXV"
	  "kIjoidG9sbGdhdGUiLCJzdWIiOjQyLCJ0ZW5hbnQiOiJhY21lIiwiZXhwIjoyMDA"
	  "wMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9.M4JRYCgtzm1OKv5AYdx4C0QqAXeniE"
	  "bDODIP7aC59lgaGTiBQJkMZ1Yaufj2pgsHbdo0geMa_qY-sI9qe9O_yg" },
	{ "hs-no-exp", -EACCES,
	  "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXV"
	  "kIjoidG9sbGdhdGUiLCJ0ZW5hbnQiOiJhY21lIn0.4Qeyv_BP83MakpXCax2d3du"
	  "7xCs9dr4MNPdWBELs3Wo" },
	{ "alg-none", -EKEYREJECTED,
	  "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXVk"
	  "IjoidG9sbGdhdGUiLCJzdWIiOiJ1c2VyLTEiLCJ0ZW5hbnQiOiJhY21lIiwiZXhw"
	  "IjoyMDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9." },
	{ "alg-confusion", -EKEYREJECTED,
	  "eyJhbGciOiJIUzI1NiIsImtpZCI6InJzMSJ9.eyJpc3MiOiJodHRwczovL2lkcC5"
	  "leGFtcGxlIiwiYXVkIjoidG9sbGdhdGUiLCJzdWIiOiJ1c2VyLTEiLCJ0ZW5hbnQ"
	  "iOiJhY21lIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9.gOdA09"
	  "KyrBNkuLCKCuaiFqXRTBMG9KaVJ6gEYLpXBaj8OojI-CGPKy3fETEfOrFp5XkwMW"
	  "PuiYXpyFYSLuUxbVgX2czfaoBU9NkKdsgiKM160bmF4bi0uWaVSJ4o7EAZvQxoWH"
	  "WqmwPccYsNQHLdjsf7cJj_hjZDDKy7tT6JPQpaZAs9UZtXBv37PzCK5tTbOBKszm"
	  "cG0-AoMRdEUb0UUf8QgSwsszh42cVUMEiE1tVM11ZBhNkB8RpJ41UpwS1_Xv0UcQ"
	  "SSsw_129QLTgwbaCGqf83N6rLzGnsw2naxZGRDLoDHOuMAQX13hk8-IbTnkfFtd8"
	  "2GA7R1kU_2l6oUQA" },
	{ "es-der-sig", -EKEYREJECTED,
	  "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVzMSJ9.eyJpc3MiOiJodHRwczovL2lkcC5"
	  "leGFtcGxlIiwiYXVkIjoidG9sbGdhdGUiLCJzdWIiOiJ1c2VyLTEiLCJ0ZW5hbnQ"
	  "iOiJhY21lIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9.MEYCIQ"
	  "CwjRrEdelbizpW9Di4Fi8w0qpYfD8H18ENDqLQpkIXQgIhANKylkB5uFyXhXEOrS"
	  "QW4Ln_4CK1rJYq4VfoVPkocY3m" },
	{ "hs-crit", -EINVAL,
	  "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzMSIsImNyaXQiOlsiZXhwIl19.eyJpc3M"
	  "iOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjoidG9sbGdhdGUiLCJzdWIiOiJ"
	  "1c2VyLTEiLCJ0ZW5hbnQiOiJhY21lIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE"
	  "3MDAwMDAwMDB9.L2rbYkuy3Daluto9tT5YtW3W-5oC591UskUMuj3RN_Y" },
};

#define N_KNOWN	(sizeof(known) / sizeof(known[0]))

static const struct jwt_opts opts = {
	.issuer = "https://idp.example", .audience = "tollgate", .leeway_s = 30,
	.tenant_claim = "tenant",
};

static struct jwt_keys *keys;
static struct jwt_claims known_claims[N_KNOWN];

static bool is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static bool ok_result(int rc)
{
	return rc == 0 || rc == -EINVAL || rc == -EKEYREJECTED || rc == -EKEYEXPIRED ||
	       rc == -EACCES || rc == -ENOMEM;
}

/* Whether the result says the signature verified: only claims are looked
 * at after it (jwt_verify() checks the signature first). */
static bool past_signature(int rc, const char *why)
{
	return rc == 0 || rc == -EKEYEXPIRED || rc == -EACCES ||
	       (rc == -EINVAL && (strstr(why, "claim") || !strncmp(why, "payload not a JSON", 18)));
}

static bool claims_ok(const struct jwt_claims *c)
{
	return memchr(c->sub, '\0', sizeof(c->sub)) && memchr(c->tenant, '\0', sizeof(c->tenant)) &&
	       memchr(c->kid, '\0', sizeof(c->kid)) && c->tenant[0];
}

static int verify(const struct jwt_keys *k, const char *tok, size_t len, struct jwt_claims *c,
		  const char **why)
{
	int rc;

	memset(c, 0xa5, sizeof(*c));
	*why = NULL;
	rc = jwt_verify(k, tok, len, &opts, NOW, c, why);
	if (!ok_result(rc) || !*why || !(*why)[0] || (rc && !is_zero(c, sizeof(*c))) ||
	    (!rc && !claims_ok(c)))
		abort();
	return rc;
}

static void setup(void)
{
	char err[JWT_ERR_MAX];
	struct jwt_claims c;
	const char *why;

	keys = jwt_keys_parse(jwks_json, sizeof(jwks_json) - 1, err, sizeof(err));
	if (!keys || jwt_keys_count(keys) != 3 || jwt_keys_skipped_count(keys))
		abort();
	for (size_t i = 0; i < N_KNOWN; i++) {
		if (verify(keys, known[i].tok, strlen(known[i].tok), &c, &why) != known[i].rc)
			abort();
		known_claims[i] = c;
	}
}

static const struct known *find_known(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < N_KNOWN; i++)
		if (strlen(known[i].tok) == size && !memcmp(known[i].tok, data, size))
			return &known[i];
	return NULL;
}

static void token(const uint8_t *data, size_t size)
{
	const char *tok = (const char *)data, *why;
	const struct known *kn = find_known(data, size);
	struct jwt_claims c;
	int rc = verify(keys, tok, size, &c, &why);

	if (!jwt_is_jwt(tok, size) && rc != -EINVAL)
		abort();
	if (kn ? rc != kn->rc : past_signature(rc, why))
		abort();
	/* Without claims wanted, the same answer. */
	if (jwt_verify(keys, tok, size, &opts, NOW, NULL, NULL) != rc)
		abort();
}

static void jwks(const uint8_t *data, size_t size)
{
	char err[JWT_ERR_MAX];
	struct jwt_keys *k;
	struct jwt_claims c;
	const char *why;
	uint32_t n, i;

	memset(err, 'x', sizeof(err));
	errno = 0;
	k = jwt_keys_parse((const char *)data, size, err, sizeof(err));
	if (!memchr(err, '\0', sizeof(err)))
		abort();
	if (!k) {
		if ((errno != EINVAL && errno != ENOMEM && errno != EFBIG) || !err[0])
			abort();
		return;
	}
	n = jwt_keys_count(k);
	if (!n || n > TG_JWT_KEYS_MAX)
		abort();
	for (i = 0; i < jwt_keys_skipped_count(k); i++) {
		const char *r = jwt_keys_skipped(k, i);

		if (!r || !r[0])
			abort();
	}
	if (jwt_keys_skipped(k, i))
		abort();
	for (i = 0; i < N_KNOWN; i++) {
		int rc = verify(k, known[i].tok, strlen(known[i].tok), &c, &why);

		if (rc != known[i].rc && rc != -EKEYREJECTED && rc != -ENOMEM)
			abort();
		if (!rc && (strcmp(c.sub, known_claims[i].sub) ||
			    strcmp(c.tenant, known_claims[i].tenant) || c.exp != known_claims[i].exp))
			abort();
	}
	jwt_keys_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0;

	if (!keys)
		setup();
	while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
		i++;
	if (i < size && (data[i] == '{' || data[i] == '['))
		jwks(data, size);
	else
		token(data, size);
	return 0;
}
