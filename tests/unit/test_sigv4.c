// SPDX-License-Identifier: Apache-2.0
/*
 * AWS Signature Version 4: the cases of AWS's Signature Version 4 test
 * suite (credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1,
 * service "service"), the S3 GetObject example of the S3 API reference
 * (X-Amz-Content-Sha256), the Bedrock path rule, an independent check of
 * the signature with OpenSSL's own HMAC, and the error paths.
 *
 * With arguments the binary is a signing driver for
 * tests/integration/test_sigv4_sim.sh instead:
 *   test_sigv4 sign KEY_ID SECRET REGION SERVICE METHOD HOST PATH QUERY
 *              CONTENT_TYPE [WHEN] < body
 * prints the header lines sigv4_sign() produced, one per line, no CR
 * (QUERY and CONTENT_TYPE may be "", WHEN defaults to now; the session
 * token is taken from $AWS_SESSION_TOKEN when set, and
 * SIGV4_CONTENT_SHA256=1 adds X-Amz-Content-Sha256).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "llm/sigv4.h"

#define SPAN(s)		((struct http1_span){ (s), sizeof(s) - 1 })
#define SUITE_WHEN	1440938160	/* 20150830T123600Z */
#define EMPTY_SHA	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SUITE_CRED	"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
#define STS_TOKEN	"AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

struct vec {
	const char *name;
	const char *method, *path, *query, *content_type, *body;
	const char *hdrs[5][2];		/* name, value; NULL-terminated */
	const char *token;
	uint32_t flags;
	const char *authz;		/* expected Authorization value */
	const char *creq;		/* expected canonical request, or NULL */
};

/* From the AWS Signature Version 4 test suite (aws-sig-v4-test-suite). */
static const struct vec suite[] = {
	{ "get-vanilla", "GET", "/", "", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	  "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA },
	{ "get-header-key-duplicate", "GET", "/", "", NULL, "",
	  { { "My-Header1", "value2" }, { "My-Header1", "value2" }, { "My-Header1", "value1" }, { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
	  "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" EMPTY_SHA },
	{ "get-header-value-order", "GET", "/", "", NULL, "",
	  { { "My-Header1", "value4" }, { "My-Header1", "value1" }, { "My-Header1", "value3" }, { "My-Header1", "value2" }, { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01", NULL },
	{ "get-header-value-trim", "GET", "/", "", NULL, "",
	  { { "My-Header1", " value1" }, { "My-Header2", " \"a   b   c\"" }, { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
	  "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" EMPTY_SHA },
	{ "get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f", NULL },
	{ "get-vanilla-empty-query-key", "GET", "/", "Param1=value1", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb", NULL },
	{ "get-vanilla-query-order-key", "GET", "/", "Param1=value2&Param1=Value1", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
	  "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA },
	{ "get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", NULL },
	{ "get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694", NULL },
	{ "get-vanilla-query-unreserved", "GET", "/",
	  "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
	  NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197", NULL },
	{ "get-vanilla-utf8-query", "GET", "/", "\xe1\x88\xb4=bar", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
	  "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA },
	/* The same parameter sent percent-encoded signs the same. */
	{ "get-vanilla-utf8-query (sent encoded)", "GET", "/", "%e1%88%B4=bar", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04", NULL },
	{ "get-relative", "GET", "/example/..", "", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", NULL },
	{ "get-relative-relative", "GET", "/example1/example2/../..", "", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", NULL },
	{ "get-slash", "GET", "//", "", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", NULL },
	{ "get-slash-dot-slash", "GET", "/./", "", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", NULL },
	{ "get-slash-pointless-dot", "GET", "/./example", "", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5", NULL },
	{ "get-slashes", "GET", "//example//", "", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
	  "GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA },
	{ "get-space", "GET", "/example space/", "", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741", NULL },
	{ "post-header-key-sort", "POST", "/", "", NULL, "", { { "My-Header1", "value1" }, { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c", NULL },
	{ "post-header-value-case", "POST", "/", "", NULL, "", { { "My-Header1", "VALUE1" }, { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d", NULL },
	{ "post-vanilla", "POST", "/", "", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b", NULL },
	{ "post-vanilla-query", "POST", "/", "Param1=value1", NULL, "", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11", NULL },
	/* The suite's .creq files for these two list content-length, but its
	 * .sts and .authz files (the signature) were made without it and with
	 * "charset=utf8": the string-to-sign hashes confirm which. */
	{ "post-x-www-form-urlencoded", "POST", "/", "", "application/x-www-form-urlencoded",
	  "Param1=value1", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a", NULL },
	{ "post-x-www-form-urlencoded-parameters", "POST", "/", "", "application/x-www-form-urlencoded; charset=utf8",
	  "Param1=value1", { { NULL } }, NULL, 0,
	  SUITE_CRED "SignedHeaders=content-type;host;x-amz-date, Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
	  "POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf8\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e" },
	/* Content-Length as a signed header of the caller's. */
	{ "post-signed-content-length", "POST", "/", "", "application/x-www-form-urlencoded; charset=utf-8",
	  "Param1=value1", { { "Content-Length", "13" }, { NULL } }, NULL, 0, NULL,
	  "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-length;content-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e" },
	{ "post-sts-header-before", "POST", "/", "", NULL, "", { { NULL } }, STS_TOKEN, 0,
	  SUITE_CRED "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead", NULL },
	{ "post-sts-header-after", "POST", "/", "", NULL, "", { { NULL } }, STS_TOKEN, SIGV4_F_TOKEN_UNSIGNED,
	  SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b", NULL },
};

static void signer_for(struct sigv4_signer *s, const char *key_id,
		       const char *secret, const char *token,
		       const char *region, const char *service)
{
	struct sigv4_creds c = {
		.access_key_id = { key_id, strlen(key_id) },
		.secret_access_key = { secret, strlen(secret) },
		.session_token = { token, token ? strlen(token) : 0 },
		.region = { region, strlen(region) },
		.service = { service, strlen(service) },
	};

	assert_int_equal(sigv4_signer_init(s, &c), 0);
}

/* A signer with the test suite's credentials and scope. */
static void suite_signer(struct sigv4_signer *s, const char *token)
{
	signer_for(s, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		   token, "us-east-1", "service");
}

static void request_for(const struct vec *v, struct sigv4_request *r,
			struct sigv4_header *h)
{
	size_t n = 0;

	while (v->hdrs[n][0]) {
		h[n].name = (struct http1_span){ v->hdrs[n][0], strlen(v->hdrs[n][0]) };
		h[n].value = (struct http1_span){ v->hdrs[n][1], strlen(v->hdrs[n][1]) };
		n++;
	}
	*r = (struct sigv4_request){
		.method = { v->method, strlen(v->method) },
		.path = { v->path, strlen(v->path) },
		.query = { v->query, strlen(v->query) },
		.host = SPAN("example.amazonaws.com"),
		.content_type = { v->content_type,
				  v->content_type ? strlen(v->content_type) : 0 },
		.headers = h,
		.n_headers = n,
		.body = v->body,
		.body_len = strlen(v->body),
		.when = SUITE_WHEN,
		.flags = v->flags,
	};
}

/* Signs ra with a and rb with b: the outputs must be the same. */
static void assert_same_signing(struct sigv4_signer *a, const struct sigv4_request *ra,
				struct sigv4_signer *b, const struct sigv4_request *rb)
{
	char x[4096], y[4096];
	size_t lx, ly;

	assert_int_equal(sigv4_sign(a, ra, x, sizeof(x), &lx), 0);
	assert_int_equal(sigv4_sign(b, rb, y, sizeof(y), &ly), 0);
	assert_int_equal(lx, ly);
	assert_memory_equal(x, y, lx);
}

/* The value of header `name` in sigv4_sign() output, NUL-terminated. */
static bool find_line(const char *out, size_t len, const char *name,
		      char *val, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = out, *end = out + len;

	while (p < end) {
		const char *eol = memchr(p, '\r', (size_t)(end - p));

		assert_non_null(eol);
		assert_true(eol + 1 < end && eol[1] == '\n');
		if ((size_t)(eol - p) > nl + 2 && !memcmp(p, name, nl) &&
		    p[nl] == ':' && p[nl + 1] == ' ') {
			size_t vl = (size_t)(eol - p) - nl - 2;

			assert_true(vl < cap);
			memcpy(val, p + nl + 2, vl);
			val[vl] = '\0';
			return true;
		}
		p = eol + 2;
	}
	return false;
}

static void test_sigv4_matches_aws_test_suite(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(suite) / sizeof(suite[0]); i++) {
		const struct vec *v = &suite[i];
		struct sigv4_signer s;
		struct sigv4_request r;
		struct sigv4_header h[5];
		char out[4096], val[2048];
		size_t len;
		int rc;

		suite_signer(&s, v->token);
		request_for(v, &r, h);
		if (v->creq) {
			rc = sigv4_canonical_request(&s, &r, out, sizeof(out), &len);
			assert_int_equal(rc, 0);
			out[len] = '\0';
			if (strcmp(out, v->creq))
				fail_msg("%s: canonical request\n%s\nwant\n%s", v->name, out, v->creq);
		}
		rc = sigv4_sign(&s, &r, out, sizeof(out), &len);
		assert_int_equal(rc, 0);
		assert_true(find_line(out, len, "Authorization", val, sizeof(val)));
		if (v->authz && strcmp(val, v->authz))
			fail_msg("%s:\n got %s\nwant %s", v->name, val, v->authz);
		assert_true(find_line(out, len, "X-Amz-Date", val, sizeof(val)));
		assert_string_equal(val, "20150830T123600Z");
		assert_int_equal(find_line(out, len, "X-Amz-Security-Token", val, sizeof(val)),
				 v->token != NULL);
		if (v->token)
			assert_string_equal(val, v->token);
		assert_false(find_line(out, len, "X-Amz-Content-Sha256", val, sizeof(val)));
		sigv4_signer_fini(&s);
	}
}

/*
 * The S3 API reference's GetObject example ("Authenticating Requests:
 * Using the Authorization Header", example "GET Object"): signs
 * x-amz-content-sha256 and range.
 */
static void test_sigv4_matches_s3_get_object_example(void **state)
{
	struct sigv4_signer s;
	struct sigv4_header h[1] = { { SPAN("Range"), SPAN("bytes=0-9") } };
	struct sigv4_request r = {
		.method = SPAN("GET"), .path = SPAN("/test.txt"),
		.host = SPAN("examplebucket.s3.amazonaws.com"),
		.headers = h, .n_headers = 1, .when = 1369353600,
		.flags = SIGV4_F_CONTENT_SHA256,
	};
	char out[1024], val[512];
	size_t len;

	(void)state;
	signer_for(&s, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		   NULL, "us-east-1", "s3");
	assert_int_equal(sigv4_canonical_request(&s, &r, out, sizeof(out), &len), 0);
	out[len] = '\0';
	assert_string_equal(out, "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
			    "range:bytes=0-9\nx-amz-content-sha256:" EMPTY_SHA "\n"
			    "x-amz-date:20130524T000000Z\n\n"
			    "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA);
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), 0);
	assert_true(find_line(out, len, "Authorization", val, sizeof(val)));
	assert_string_equal(val, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
			    "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
			    "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	assert_true(find_line(out, len, "X-Amz-Content-Sha256", val, sizeof(val)));
	assert_string_equal(val, EMPTY_SHA);
	sigv4_signer_fini(&s);
}

/*
 * A Bedrock model id with ':' is sent as %3A and signed as %253A: the
 * path is encoded once more for every service but S3 (what the AWS SDK's
 * signer does with its already-serialized path).
 */
static void test_sigv4_bedrock_path_encodes_model_id_twice(void **state)
{
	static const char model[] = "anthropic.claude-3-5-sonnet-20240620-v1:0";
	struct sigv4_signer s;
	char path[256], out[2048];
	size_t n, len;
	struct sigv4_request r = {
		.method = SPAN("POST"),
		.host = SPAN("bedrock-runtime.us-east-1.amazonaws.com"),
		.content_type = SPAN("application/json"),
		.body = "{}", .body_len = 2, .when = SUITE_WHEN,
	};

	(void)state;
	memcpy(path, "/model/", 7);
	n = 7 + sigv4_uri_encode(path + 7, sizeof(path) - 7, model, strlen(model), false);
	memcpy(path + n, "/converse", 9);
	n += 9;
	path[n] = '\0';
	assert_string_equal(path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
	r.path = (struct http1_span){ path, n };

	signer_for(&s, "AKIDEXAMPLE", "secret", NULL, "us-east-1", "bedrock");
	assert_int_equal(sigv4_canonical_request(&s, &r, out, sizeof(out), &len), 0);
	out[len] = '\0';
	assert_non_null(strstr(out, "\n/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse\n"));
	assert_non_null(strstr(out, "\ncontent-type:application/json\nhost:"));
	assert_non_null(strstr(out, "\ncontent-type;host;x-amz-date\n"
			       "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"));
	sigv4_signer_fini(&s);
}

/*
 * The signature recomputed outside the signer, from its canonical request
 * with OpenSSL's HMAC() — including a secret long enough that "AWS4" +
 * secret exceeds the HMAC block and is hashed first (RFC 2104 §2).
 */
static void test_sigv4_signature_equals_openssl_hmac(void **state)
{
	static const char *const secrets[] = {
		"short",
		"0123456789012345678901234567890123456789012345678901234567890123456789",
	};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct sigv4_signer s;
		struct sigv4_header h[2] = {
			{ SPAN("X-Custom"), SPAN("  a \t b  ") },
			{ SPAN("accept"), SPAN("application/json") },
		};
		struct sigv4_request r = {
			.method = SPAN("POST"), .path = SPAN("/model/x%3Ay/converse-stream"),
			.query = SPAN("b=2&a=1&a=%20"),
			.host = SPAN("localhost:1234"),
			.content_type = SPAN("application/json"),
			.headers = h, .n_headers = 2,
			.body = "{\"messages\":[]}", .body_len = 15,
			.when = 1700000000, .flags = SIGV4_F_CONTENT_SHA256,
		};
		char creq[2048], sts[512], key[128], out[2048], val[1024], want[65];
		unsigned char d[32], k[32], creq_hash[32];
		unsigned int dl = 32;
		size_t clen, len;

		signer_for(&s, "AKIDEXAMPLE", secrets[i], "tok", "eu-west-3", "bedrock");
		assert_int_equal(sigv4_canonical_request(&s, &r, creq, sizeof(creq), &clen), 0);
		assert_int_equal(EVP_Digest(creq, clen, creq_hash, NULL, EVP_sha256(), NULL), 1);
		snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n20231114T221320Z\n20231114/eu-west-3/bedrock/aws4_request\n");
		for (size_t j = 0; j < 32; j++)
			sprintf(sts + strlen(sts), "%02x", creq_hash[j]);
		snprintf(key, sizeof(key), "AWS4%s", secrets[i]);
		HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)"20231114", 8, k, &dl);
		HMAC(EVP_sha256(), k, 32, (const unsigned char *)"eu-west-3", 9, d, &dl);
		HMAC(EVP_sha256(), d, 32, (const unsigned char *)"bedrock", 7, k, &dl);
		HMAC(EVP_sha256(), k, 32, (const unsigned char *)"aws4_request", 12, d, &dl);
		HMAC(EVP_sha256(), d, 32, (const unsigned char *)sts, strlen(sts), k, &dl);
		for (size_t j = 0; j < 32; j++)
			sprintf(want + 2 * j, "%02x", k[j]);

		assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), 0);
		assert_true(find_line(out, len, "Authorization", val, sizeof(val)));
		assert_non_null(strstr(val, "SignedHeaders=accept;content-type;host;x-amz-content-sha256;"
				       "x-amz-date;x-amz-security-token;x-custom, Signature="));
		assert_string_equal(strstr(val, "Signature=") + 10, want);
		creq[clen] = '\0';
		assert_non_null(strstr(creq, "\na=%20&a=1&b=2\n"));
		assert_non_null(strstr(creq, "\nx-custom:a b\n"));
		/* The cached signing key gives the same answer again. */
		assert_same_signing(&s, &r, &s, &r);
		sigv4_signer_fini(&s);
		sigv4_signer_fini(&s);
	}
}

/* A new day derives a new key: the cache must not keep yesterday's. */
static void test_sigv4_signing_key_follows_the_date(void **state)
{
	const struct vec *v = &suite[0];
	struct sigv4_signer s, fresh;
	struct sigv4_request r;
	struct sigv4_header h[5];
	char a[1024];
	size_t la;

	(void)state;
	suite_signer(&s, NULL);
	suite_signer(&fresh, NULL);
	request_for(v, &r, h);
	assert_int_equal(sigv4_sign(&s, &r, a, sizeof(a), &la), 0);
	r.when += 86400;
	assert_same_signing(&s, &r, &fresh, &r);
	sigv4_signer_fini(&s);
	sigv4_signer_fini(&fresh);
}

static void test_sigv4_reports_space_needed(void **state)
{
	const struct vec *v = &suite[0];
	struct sigv4_signer s;
	struct sigv4_request r;
	struct sigv4_header h[5];
	char out[1024], small[16];
	size_t need, len;

	(void)state;
	suite_signer(&s, NULL);
	request_for(v, &r, h);
	assert_int_equal(sigv4_sign(&s, &r, small, sizeof(small), &need), -ENOSPC);
	assert_true(need > sizeof(small));
	assert_int_equal(sigv4_sign(&s, &r, out, need - 1, &len), -ENOSPC);
	assert_int_equal(len, need);
	assert_int_equal(sigv4_sign(&s, &r, out, need, &len), 0);
	assert_int_equal(len, need);
	assert_int_equal(sigv4_canonical_request(&s, &r, small, sizeof(small), &len), -ENOSPC);
	assert_true(len > sizeof(small));
	sigv4_signer_fini(&s);
}

static void test_sigv4_rejects_unsignable_requests(void **state)
{
	const struct vec *v = &suite[0];
	struct sigv4_signer s;
	struct sigv4_request r;
	struct sigv4_header h[TG_SIGV4_HEADERS_MAX + 1];
	char out[1024];
	size_t len;

	(void)state;
	signer_for(&s, "AKIDEXAMPLE", "k", NULL, "us-east-1", "bedrock");
	request_for(v, &r, h);

	/* Headers the signer owns. */
	static const char *const owned[] = { "Host", "authorization", "X-Amz-Date",
		"x-amz-security-token", "X-AMZ-CONTENT-SHA256", "content-type" };
	for (size_t i = 0; i < 6; i++) {
		h[0] = (struct sigv4_header){ { owned[i], strlen(owned[i]) }, SPAN("x") };
		r.n_headers = 1;
		assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -EINVAL);
	}
	/* Header injection. */
	h[0] = (struct sigv4_header){ SPAN("x-a"), SPAN("v\r\nx-b: w") };
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -EINVAL);
	h[0] = (struct sigv4_header){ SPAN("x a"), SPAN("v") };
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -EINVAL);
	r.n_headers = 0;
	r.host = SPAN("a\nb");
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -EINVAL);
	r.host = SPAN("example.amazonaws.com");
	/* Too many headers. */
	for (size_t i = 0; i <= TG_SIGV4_HEADERS_MAX; i++)
		h[i] = (struct sigv4_header){ SPAN("x-a"), SPAN("v") };
	r.n_headers = TG_SIGV4_HEADERS_MAX + 1;
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -E2BIG);
	r.n_headers = TG_SIGV4_HEADERS_MAX;
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), 0);
	r.n_headers = 0;
	/* Malformed escapes in the query, a path that is not absolute or
	 * carries its query, bad method, bad time. */
	static const char *const bad_q[] = { "a=%", "a=%4", "a=%G1", "%zz" };
	for (size_t i = 0; i < 4; i++) {
		r.query = (struct http1_span){ bad_q[i], strlen(bad_q[i]) };
		assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -EINVAL);
	}
	r.query = SPAN("a=%41");
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), 0);
	r.query = SPAN("");
	r.path = SPAN("model/x");
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -EINVAL);
	r.path = SPAN("/a?b=c");
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -EINVAL);
	r.path = SPAN("/");
	r.method = SPAN("PO ST");
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -EINVAL);
	r.method = SPAN("POST");
	r.when = -1;
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -EINVAL);
	r.when = SUITE_WHEN;
	r.body_sha256 = "not-hex";
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), -EINVAL);
	r.body_sha256 = NULL;
	assert_int_equal(sigv4_sign(&s, &r, out, sizeof(out), &len), 0);
	sigv4_signer_fini(&s);
}

static void test_sigv4_precomputed_body_hash_signs_the_same(void **state)
{
	struct sigv4_signer s;
	struct sigv4_request r = {
		.method = SPAN("POST"), .path = SPAN("/"),
		.host = SPAN("example.amazonaws.com"),
		.body = "Param1=value1", .body_len = 13, .when = SUITE_WHEN,
	};
	struct sigv4_request pre = r;

	(void)state;
	signer_for(&s, "AKIDEXAMPLE", "k", NULL, "us-east-1", "bedrock");
	pre.body = NULL;
	pre.body_len = 0;
	pre.body_sha256 = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
	assert_same_signing(&s, &r, &s, &pre);
	sigv4_signer_fini(&s);
}

static void test_sigv4_rejects_bad_credentials(void **state)
{
	static char big[TG_SIGV4_SECRET_MAX + 2];
	struct sigv4_signer s;
	struct sigv4_creds c = {
		.access_key_id = SPAN("AKID"), .secret_access_key = SPAN("s"),
		.region = SPAN("us-east-1"), .service = SPAN("bedrock"),
	};

	(void)state;
	assert_int_equal(sigv4_signer_init(&s, &c), 0);
	sigv4_signer_fini(&s);
	c.region = SPAN("us/east");
	assert_int_equal(sigv4_signer_init(&s, &c), -EINVAL);
	sigv4_signer_fini(&s);
	c.region = SPAN("us-east-1");
	c.access_key_id = SPAN("");
	assert_int_equal(sigv4_signer_init(&s, &c), -EINVAL);
	sigv4_signer_fini(&s);
	c.access_key_id = SPAN("AKID");
	c.session_token = SPAN("a\nb");
	assert_int_equal(sigv4_signer_init(&s, &c), -EINVAL);
	sigv4_signer_fini(&s);
	c.session_token = (struct http1_span){ 0 };
	memset(big, 'a', sizeof(big) - 1);
	c.secret_access_key = (struct http1_span){ big, sizeof(big) - 1 };
	assert_int_equal(sigv4_signer_init(&s, &c), -E2BIG);
	sigv4_signer_fini(&s);
	sigv4_signer_fini(NULL);
}

static void test_sigv4_uri_encode_is_rfc3986(void **state)
{
	char out[64];
	size_t n;

	(void)state;
	n = sigv4_uri_encode(out, sizeof(out), "a:b/c d~-._!*'()+", 17, false);
	assert_int_equal(n, 35);
	assert_memory_equal(out, "a%3Ab%2Fc%20d~-._%21%2A%27%28%29%2B", 35);
	n = sigv4_uri_encode(out, sizeof(out), "a/\xe1", 3, true);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "a/%E1", 5);
	/* Counts past cap without writing there. */
	memset(out, 'z', sizeof(out));
	assert_int_equal(sigv4_uri_encode(out, 2, ":::", 3, false), 9);
	assert_int_equal(out[0], 'z');
}

/* ---- the driver for the integration test ---------------------------------- */

static int sign_main(int argc, char **argv)
{
	static char body[1 << 20];
	struct sigv4_signer s;
	struct sigv4_creds c;
	struct sigv4_request r;
	const char *tok = getenv("AWS_SESSION_TOKEN");
	char out[8192];
	size_t n = 0, len;
	int rc;

	if (argc < 11 || argc > 12) {
		fprintf(stderr, "usage: %s sign KEY_ID SECRET REGION SERVICE METHOD HOST PATH QUERY CONTENT_TYPE [WHEN] < body\n",
			argv[0]);
		return 2;
	}
	while (n < sizeof(body)) {
		size_t m = fread(body + n, 1, sizeof(body) - n, stdin);

		if (!m)
			break;
		n += m;
	}
	c = (struct sigv4_creds){
		.access_key_id = { argv[2], strlen(argv[2]) },
		.secret_access_key = { argv[3], strlen(argv[3]) },
		.session_token = { tok, tok ? strlen(tok) : 0 },
		.region = { argv[4], strlen(argv[4]) },
		.service = { argv[5], strlen(argv[5]) },
	};
	r = (struct sigv4_request){
		.method = { argv[6], strlen(argv[6]) },
		.host = { argv[7], strlen(argv[7]) },
		.path = { argv[8], strlen(argv[8]) },
		.query = { argv[9], strlen(argv[9]) },
		.content_type = { argv[10][0] ? argv[10] : NULL, strlen(argv[10]) },
		.body = body, .body_len = n,
		.when = argc == 12 ? (time_t)strtoll(argv[11], NULL, 10) : time(NULL),
	};
	if (getenv("SIGV4_CONTENT_SHA256") &&
	    !strcmp(getenv("SIGV4_CONTENT_SHA256"), "1"))
		r.flags |= SIGV4_F_CONTENT_SHA256;
	rc = sigv4_signer_init(&s, &c);
	if (!rc)
		rc = sigv4_sign(&s, &r, out, sizeof(out), &len);
	sigv4_signer_fini(&s);
	if (rc) {
		fprintf(stderr, "sigv4: %s\n", strerror(-rc));
		return 1;
	}
	for (size_t i = 0; i < len; i++)
		if (out[i] != '\r')
			putchar(out[i]);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigv4_matches_aws_test_suite),
		cmocka_unit_test(test_sigv4_matches_s3_get_object_example),
		cmocka_unit_test(test_sigv4_bedrock_path_encodes_model_id_twice),
		cmocka_unit_test(test_sigv4_signature_equals_openssl_hmac),
		cmocka_unit_test(test_sigv4_signing_key_follows_the_date),
		cmocka_unit_test(test_sigv4_reports_space_needed),
		cmocka_unit_test(test_sigv4_rejects_unsignable_requests),
		cmocka_unit_test(test_sigv4_precomputed_body_hash_signs_the_same),
		cmocka_unit_test(test_sigv4_rejects_bad_credentials),
		cmocka_unit_test(test_sigv4_uri_encode_is_rfc3986),
	};

	if (argc > 1 && !strcmp(argv[1], "sign"))
		return sign_main(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
