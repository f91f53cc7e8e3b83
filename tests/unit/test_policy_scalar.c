// SPDX-License-Identifier: Apache-2.0
/*
 * The scalar parsers of the policy language (user/policy/scalar.h).
 *
 * Every input is copied to end exactly at an inaccessible page and handed
 * over as (pointer, length) with no terminating NUL, so a parser that reads
 * one byte past its input faults at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "guard_page.h"
#include "policy/policy.h"
#include "policy/scalar.h"
#include "tollgate/limits.h"

/* Strings the parsers return (host, path, text) live here until the group ends. */
static struct arena ar;

static int group_setup(void **state)
{
	(void)state;
	arena_init(&ar, 0, 0);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	arena_fini(&ar);
	return 0;
}

/* Places `len` bytes of `text` right before the guard page. */
static const char *guard(struct guarded *g, const char *text, size_t len)
{
	assert_int_equal(guarded_init(g, text, len), 0);
	return g->data;
}

/* ---- wrappers: each parser on a guarded copy of a C string ----------------- */

static const char *dur(const char *text, uint64_t *ms)
{
	struct guarded g;
	size_t len = strlen(text);
	const char *err = policy_parse_duration(guard(&g, text, len), len, ms);

	guarded_fini(&g);
	return err;
}

static const char *size(const char *text, uint64_t *bytes)
{
	struct guarded g;
	size_t len = strlen(text);
	const char *err = policy_parse_size(guard(&g, text, len), len, bytes);

	guarded_fini(&g);
	return err;
}

static const char *rate(const char *text, struct policy_rate *r)
{
	struct guarded g;
	size_t len = strlen(text);
	const char *err = policy_parse_rate(guard(&g, text, len), len, r);

	guarded_fini(&g);
	return err;
}

static const char *uint_(const char *text, uint64_t *v)
{
	struct guarded g;
	size_t len = strlen(text);
	const char *err = policy_parse_uint(guard(&g, text, len), len, v);

	guarded_fini(&g);
	return err;
}

static const char *f64(const char *text, double *v)
{
	struct guarded g;
	size_t len = strlen(text);
	const char *err = policy_parse_f64(guard(&g, text, len), len, v);

	guarded_fini(&g);
	return err;
}

static char hint[256];

static const char *cidr(const char *text, struct policy_cidr *c)
{
	struct guarded g;
	size_t len = strlen(text);
	const char *err;

	hint[0] = '\0';
	err = policy_parse_cidr(guard(&g, text, len), len, c, hint, sizeof(hint));
	guarded_fini(&g);
	return err;
}

static const char *sockaddr_(const char *text, struct policy_sockaddr *a)
{
	struct guarded g;
	size_t len = strlen(text);
	const char *err = policy_parse_sockaddr(guard(&g, text, len), len, a);

	guarded_fini(&g);
	return err;
}

static const char *hostport(const char *text, struct policy_hostport *hp)
{
	struct guarded g;
	size_t len = strlen(text);
	const char *err = policy_parse_hostport(guard(&g, text, len), len, &ar, hp);

	guarded_fini(&g);
	return err;
}

static const char *url(const char *text, const char *schemes, struct policy_url *u)
{
	struct guarded g;
	size_t len = strlen(text);
	const char *err;

	hint[0] = '\0';
	err = policy_parse_url(guard(&g, text, len), len, schemes, &ar, u, hint,
			       sizeof(hint));
	guarded_fini(&g);
	return err;
}

/* `ref` gets a NUL-terminated copy of the reference, which the parser
 * returns as a pointer into the (soon unmapped) input. */
static const char *secret(const char *text, enum policy_secret_kind *kind,
			  char *ref, size_t ref_size)
{
	struct guarded g;
	size_t len = strlen(text), rl = 0;
	const char *r = NULL, *err;
	const char *in = guard(&g, text, len);

	*kind = POLICY_SECRET_NONE;
	ref[0] = '\0';
	err = policy_parse_secret_ref(in, len, kind, &r, &rl);
	if (!err) {
		assert_non_null(r);
		assert_true(r >= in && r + rl <= in + len);
		assert_true(rl < ref_size);
		memcpy(ref, r, rl);
		ref[rl] = '\0';
	}
	guarded_fini(&g);
	return err;
}

static const char *keyhash(const char *text, uint8_t out[32])
{
	struct guarded g;
	size_t len = strlen(text);
	const char *err = policy_parse_keyhash(guard(&g, text, len), len, out);

	guarded_fini(&g);
	return err;
}

static bool is_name(const char *text)
{
	struct guarded g;
	size_t len = strlen(text);
	bool ok = policy_is_name(guard(&g, text, len), len);

	guarded_fini(&g);
	return ok;
}

static bool is_hostname(const char *text)
{
	struct guarded g;
	size_t len = strlen(text);
	bool ok = policy_is_hostname(guard(&g, text, len), len);

	guarded_fini(&g);
	return ok;
}

static const char *check_text_lines(const char *text, size_t len, bool multiline)
{
	struct guarded g;
	const char *err = policy_check_text(guard(&g, text, len), len, multiline);

	guarded_fini(&g);
	return err;
}

static const char *check_text(const char *text, size_t len)
{
	struct guarded g;
	const char *err = policy_check_text(guard(&g, text, len), len, true);

	guarded_fini(&g);
	return err;
}

/* Two C strings, each with its NUL as the last byte before a guard page. */
static unsigned edit_distance(const char *a, const char *b)
{
	struct guarded ga, gb;
	unsigned d = policy_edit_distance(guard(&ga, a, strlen(a) + 1),
					  guard(&gb, b, strlen(b) + 1));

	guarded_fini(&ga);
	guarded_fini(&gb);
	return d;
}

/* ---- durations ---------------------------------------------------------------- */

static void test_policy_duration_accepts_each_unit(void **state)
{
	uint64_t ms = 1;

	(void)state;
	assert_null(dur("500ms", &ms));
	assert_int_equal(ms, 500);
	assert_null(dur("30s", &ms));
	assert_int_equal(ms, 30000);
	assert_null(dur("5m", &ms));
	assert_int_equal(ms, 300000);
	assert_null(dur("1h", &ms));
	assert_int_equal(ms, 3600000);
	assert_null(dur("7d", &ms));
	assert_int_equal(ms, 7ull * 86400000);
	assert_null(dur("0s", &ms));
	assert_int_equal(ms, 0);
}

static void test_policy_duration_rejects_overflow(void **state)
{
	uint64_t ms = 42;

	(void)state;
	assert_non_null(dur("99999999999999999999s", &ms));
	/* 213503982335 days is just past 2^64 ms; one day fewer fits. */
	assert_non_null(dur("213503982335d", &ms));
	assert_null(dur("213503982334d", &ms));
	assert_int_equal(ms, 213503982334ull * 86400000ull);
	assert_non_null(dur("18446744073709551615s", &ms));
	assert_null(dur("18446744073709551615ms", &ms));
	assert_int_equal(ms, UINT64_MAX);
}

static void test_policy_duration_rejects_bare_number(void **state)
{
	uint64_t ms = 42;

	(void)state;
	assert_non_null(dur("30", &ms));
	assert_non_null(dur("0", &ms));
	assert_non_null(dur("30000", &ms));
}

static void test_policy_duration_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"", "s", "ms", "30 s", " 30s", "30s ", "30S", "30sec", "1.5s",
		"-1s", "+1s", "30ss", "1w", "30Ms", "0x10s", "s30",
	};
	uint64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!dur(bad[i], &ms))
			fail_msg("duration '%s' was accepted", bad[i]);
	}
}

/* ---- sizes ----------------------------------------------------------------------- */

static void test_policy_size_accepts_units_and_bare_bytes(void **state)
{
	static const struct {
		const char *in;
		uint64_t want;
	} ok[] = {
		{ "0", 0 }, { "512", 512 }, { "10B", 10 }, { "16KiB", 16384 },
		{ "8MiB", 8ull << 20 }, { "1GiB", 1ull << 30 }, { "2TiB", 2ull << 40 },
		{ "1KB", 1000 }, { "3MB", 3000000 }, { "1GB", 1000000000 },
		{ "18446744073709551615", UINT64_MAX },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t b = 1234567;

		if (size(ok[i].in, &b))
			fail_msg("size '%s' was rejected", ok[i].in);
		assert_int_equal(b, ok[i].want);
	}
}

static void test_policy_size_rejects_overflow(void **state)
{
	uint64_t b;

	(void)state;
	assert_non_null(size("18446744073709551616", &b));
	assert_non_null(size("99999999999999999999KiB", &b));
	/* 2^34 GiB is 2^64 bytes; one GiB less fits. */
	assert_non_null(size("17179869184GiB", &b));
	assert_null(size("17179869183GiB", &b));
	assert_int_equal(b, 17179869183ull << 30);
}

static void test_policy_size_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"", "KiB", "16kib", "16 KiB", "1.5MiB", "-1", "16K", "16KiBs",
		"16EiB", "0x10", " 1",
	};
	uint64_t b;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!size(bad[i], &b))
			fail_msg("size '%s' was accepted", bad[i]);
	}
}

/* ---- rates --------------------------------------------------------------------------- */

static void test_policy_rate_accepts_each_period(void **state)
{
	static const struct {
		const char *in;
		uint64_t count, period;
	} ok[] = {
		{ "100/s", 100, 1000 }, { "100/sec", 100, 1000 },
		{ "6000/min", 6000, 60000 }, { "6000/m", 6000, 60000 },
		{ "10/h", 10, 3600000 }, { "10/hour", 10, 3600000 },
		{ "5/d", 5, 86400000 }, { "5/day", 5, 86400000 }, { "0/s", 0, 1000 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct policy_rate r = { 7, 7 };

		if (rate(ok[i].in, &r))
			fail_msg("rate '%s' was rejected", ok[i].in);
		assert_int_equal(r.count, ok[i].count);
		assert_int_equal(r.period_ms, ok[i].period);
	}
}

static void test_policy_rate_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"", "100", "/s", "100/", "100/week", "100 /s", "100/ s", "100/S",
		"1.5/s", "-1/s", "99999999999999999999/s", "100/s/s", "100s",
	};
	struct policy_rate r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!rate(bad[i], &r))
			fail_msg("rate '%s' was accepted", bad[i]);
	}
}

/* ---- numbers ----------------------------------------------------------------------------- */

static void test_policy_uint_accepts_digits_only(void **state)
{
	uint64_t v = 1;

	(void)state;
	assert_null(uint_("0", &v));
	assert_int_equal(v, 0);
	assert_null(uint_("18446744073709551615", &v));
	assert_int_equal(v, UINT64_MAX);
	assert_non_null(uint_("18446744073709551616", &v));
	assert_non_null(uint_("", &v));
	assert_non_null(uint_("+1", &v));
	assert_non_null(uint_("-1", &v));
	assert_non_null(uint_("1a", &v));
	assert_non_null(uint_(" 1", &v));
}

static void test_policy_f64_rejects_hex_inf_nan(void **state)
{
	double d = 0;

	(void)state;
	assert_null(f64("0.5", &d));
	assert_true(d == 0.5);
	assert_null(f64("12", &d));
	assert_true(d == 12.0);
	assert_null(f64("-1", &d));
	assert_true(d == -1.0);
	assert_null(f64("1e3", &d));
	assert_true(d == 1000.0);
	assert_non_null(f64("inf", &d));
	assert_non_null(f64("nan", &d));
	assert_non_null(f64("0x10", &d));
	assert_non_null(f64(" 1", &d));
	assert_non_null(f64("", &d));
	assert_non_null(f64("1e999", &d));
	assert_non_null(f64("1.5.5", &d));
}

/* ---- CIDRs ---------------------------------------------------------------------------------- */

static void test_policy_cidr_accepts_v4_and_v6(void **state)
{
	static const uint8_t v4[16] = { 10, 1, 0, 0 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	struct policy_cidr c;

	(void)state;
	assert_null(cidr("10.1.0.0/16", &c));
	assert_int_equal(c.family, 4);
	assert_int_equal(c.len, 16);
	assert_memory_equal(c.addr, v4, 16);

	assert_null(cidr("2001:db8::/32", &c));
	assert_int_equal(c.family, 6);
	assert_int_equal(c.len, 32);
	assert_memory_equal(c.addr, v6, 16);

	assert_null(cidr("0.0.0.0/0", &c));
	assert_int_equal(c.len, 0);
	assert_null(cidr("::/0", &c));
	assert_int_equal(c.family, 6);
	assert_int_equal(c.len, 0);
}

static void test_policy_cidr_bare_address_is_host_prefix(void **state)
{
	static const uint8_t v4[16] = { 192, 0, 2, 7 };
	static const uint8_t v6[16] = { [15] = 1 };
	struct policy_cidr c;

	(void)state;
	assert_null(cidr("192.0.2.7", &c));
	assert_int_equal(c.family, 4);
	assert_int_equal(c.len, 32);
	assert_memory_equal(c.addr, v4, 16);
	assert_null(cidr("::1", &c));
	assert_int_equal(c.family, 6);
	assert_int_equal(c.len, 128);
	assert_memory_equal(c.addr, v6, 16);
}

static void test_policy_cidr_rejects_host_bits_with_suggestion(void **state)
{
	struct policy_cidr c;
	const char *err;

	(void)state;
	err = cidr("10.1.2.3/8", &c);
	assert_non_null(err);
	assert_non_null(strstr(err, "did you mean 10.0.0.0/8?"));

	err = cidr("192.168.1.130/25", &c);
	assert_non_null(err);
	assert_non_null(strstr(err, "192.168.1.128/25"));

	err = cidr("2001:db8::1/32", &c);
	assert_non_null(err);
	assert_non_null(strstr(err, "did you mean 2001:db8::/32?"));

	err = cidr("::1/127", &c);
	assert_non_null(err);
	assert_non_null(strstr(err, "::/127"));
}

static void test_policy_cidr_rejects_prefix_length_out_of_bounds(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8a",
		"10.0.0.0/99999999999999999999", "::/129", "::/", "::/1000",
		"10.0.0.0/8/8", "10.0.0.0 /8",
	};
	struct policy_cidr c;

	(void)state;
	assert_non_null(strstr(cidr("10.0.0.0/33", &c), "0 to 32"));
	assert_non_null(strstr(cidr("::/129", &c), "0 to 128"));
	assert_null(cidr("10.0.0.1/32", &c));
	assert_int_equal(c.len, 32);
	assert_null(cidr("::1/128", &c));
	assert_int_equal(c.len, 128);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!cidr(bad[i], &c))
			fail_msg("CIDR '%s' was accepted", bad[i]);
	}
}

static void test_policy_cidr_rejects_non_addresses(void **state)
{
	static const char *const bad[] = {
		"", "/8", "300.0.0.0/8", "10.0.0/8", "example.com/8", "10.0.0.0.0/8",
		"[::1]/128", "gggg::/16", "1.2.3.4 ",
	};
	struct policy_cidr c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!cidr(bad[i], &c))
			fail_msg("CIDR '%s' was accepted", bad[i]);
	}
}

/* ---- listen addresses ---------------------------------------------------------------------- */

static void test_policy_sockaddr_accepts_v4_and_bracketed_v6(void **state)
{
	static const uint8_t lo4[16] = { 127, 0, 0, 1 };
	static const uint8_t lo6[16] = { [15] = 1 };
	struct policy_sockaddr a;

	(void)state;
	assert_null(sockaddr_("127.0.0.1:8080", &a));
	assert_int_equal(a.family, 4);
	assert_int_equal(a.port, 8080);
	assert_memory_equal(a.addr, lo4, 16);

	assert_null(sockaddr_("[::1]:8443", &a));
	assert_int_equal(a.family, 6);
	assert_int_equal(a.port, 8443);
	assert_memory_equal(a.addr, lo6, 16);

	assert_null(sockaddr_("0.0.0.0:65535", &a));
	assert_int_equal(a.port, 65535);
}

static void test_policy_sockaddr_accepts_port_zero(void **state)
{
	struct policy_sockaddr a;

	(void)state;
	assert_null(sockaddr_("127.0.0.1:0", &a));
	assert_int_equal(a.port, 0);
	assert_null(sockaddr_("[::]:0", &a));
	assert_int_equal(a.family, 6);
	assert_int_equal(a.port, 0);
}

static void test_policy_sockaddr_rejects_port_65536(void **state)
{
	struct policy_sockaddr a;

	(void)state;
	assert_non_null(sockaddr_("127.0.0.1:65536", &a));
	assert_non_null(sockaddr_("[::1]:65536", &a));
	assert_non_null(sockaddr_("127.0.0.1:99999999999999999999", &a));
	assert_non_null(sockaddr_("127.0.0.1:", &a));
	assert_non_null(sockaddr_("127.0.0.1:-1", &a));
	assert_non_null(sockaddr_("127.0.0.1:80a", &a));
}

static void test_policy_sockaddr_rejects_hostnames(void **state)
{
	static const char *const bad[] = {
		"localhost:8080", "example.com:80", "[localhost]:80", "::1:8080",
		"[127.0.0.1]:80", "127.0.0.1", "[::1]", "[::1]8080", "[::1:8080",
		":8080", "", "[]:80", "0:80",
	};
	struct policy_sockaddr a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!sockaddr_(bad[i], &a))
			fail_msg("listen address '%s' was accepted", bad[i]);
	}
}

/* ---- host:port -------------------------------------------------------------------------------- */

static void test_policy_hostport_accepts_names_and_addresses(void **state)
{
	struct policy_hostport hp;

	(void)state;
	assert_null(hostport("backend.internal:8080", &hp));
	assert_string_equal(hp.host, "backend.internal");
	assert_int_equal(hp.port, 8080);
	assert_string_equal(hp.text, "backend.internal:8080");

	assert_null(hostport("10.0.0.5:80", &hp));
	assert_string_equal(hp.host, "10.0.0.5");
	assert_int_equal(hp.port, 80);

	assert_null(hostport("[2001:db8::5]:443", &hp));
	assert_string_equal(hp.host, "2001:db8::5");
	assert_int_equal(hp.port, 443);
	assert_string_equal(hp.text, "[2001:db8::5]:443");

	assert_null(hostport("a:65535", &hp));
	assert_int_equal(hp.port, 65535);
}

static void test_policy_hostport_rejects_port_zero(void **state)
{
	struct policy_hostport hp;

	(void)state;
	assert_non_null(hostport("backend:0", &hp));
	assert_non_null(hostport("10.0.0.5:0", &hp));
	assert_non_null(hostport("[::1]:0", &hp));
	assert_non_null(hostport("backend:65536", &hp));
	assert_non_null(hostport("backend:", &hp));
}

static void test_policy_hostport_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"", "backend", ":80", "-backend:80", "back end:80", "a..b:80",
		"[::1]", "[::1]80", "[10.0.0.1]:80", "2001:db8::5:443", "host:80/x",
		"user@host:80", "[::1:80",
	};
	struct policy_hostport hp;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!hostport(bad[i], &hp))
			fail_msg("host:port '%s' was accepted", bad[i]);
	}
}

static void test_policy_hostname_checks_labels(void **state)
{
	char label64[80];

	(void)state;
	assert_true(is_hostname("example.com"));
	assert_true(is_hostname("a"));
	assert_true(is_hostname("a-b.c_d"));
	assert_true(is_hostname("example.com."));
	assert_false(is_hostname(""));
	assert_false(is_hostname("."));
	assert_false(is_hostname(".example.com"));
	assert_false(is_hostname("a..b"));
	assert_false(is_hostname("-a.com"));
	assert_false(is_hostname("a-.com"));
	assert_false(is_hostname("a b"));
	memset(label64, 'a', 64);
	label64[64] = '\0';
	assert_false(is_hostname(label64));
	label64[63] = '\0';
	assert_true(is_hostname(label64));
}

/* ---- URLs ---------------------------------------------------------------------------------------- */

static void test_policy_url_default_ports_and_path(void **state)
{
	struct policy_url u;

	(void)state;
	assert_null(url("http://example.com", "https http", &u));
	assert_string_equal(u.scheme, "http");
	assert_false(u.tls);
	assert_string_equal(u.host, "example.com");
	assert_int_equal(u.port, 80);
	assert_string_equal(u.path, "/");
	assert_string_equal(u.text, "http://example.com");

	assert_null(url("https://api.openai.com", "https http", &u));
	assert_true(u.tls);
	assert_int_equal(u.port, 443);
	assert_string_equal(u.path, "/");

	assert_null(url("redis://cache.internal", "redis rediss", &u));
	assert_false(u.tls);
	assert_int_equal(u.port, 6379);

	assert_null(url("rediss://cache.internal", "redis rediss", &u));
	assert_true(u.tls);
	assert_int_equal(u.port, 6379);
}

static void test_policy_url_explicit_port_path_and_v6(void **state)
{
	struct policy_url u;

	(void)state;
	assert_null(url("http://127.0.0.1:11434/v1", "https http", &u));
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 11434);
	assert_string_equal(u.path, "/v1");

	assert_null(url("https://[2001:db8::1]:8443/a/b?x=1", "https http", &u));
	assert_string_equal(u.host, "2001:db8::1");
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.path, "/a/b?x=1");

	assert_null(url("https://h/", "https http", &u));
	assert_string_equal(u.path, "/");
}

static void test_policy_url_rejects_other_schemes(void **state)
{
	struct policy_url u;
	const char *err;

	(void)state;
	err = url("ftp://example.com", "https http", &u);
	assert_non_null(err);
	assert_non_null(strstr(err, "https http"));
	assert_non_null(url("redis://r", "https http", &u));
	assert_non_null(url("http://r", "redis rediss", &u));
	assert_non_null(url("HTTP://example.com", "https http", &u));
	assert_non_null(url("httpx://example.com", "https http", &u));
	assert_non_null(url("htt://example.com", "https http", &u));
	assert_non_null(url("example.com", "https http", &u));
	assert_non_null(url("://example.com", "https http", &u));
	assert_non_null(url("", "https http", &u));
}

static void test_policy_url_rejects_credentials(void **state)
{
	struct policy_url u;
	const char *err;

	(void)state;
	err = url("https://user:pw@example.com/", "https http", &u);
	assert_non_null(err);
	assert_non_null(strstr(err, "credentials"));
	/* The message must not repeat the password. */
	assert_null(strstr(err, "pw"));
	err = url("redis://:hunter2@redis:6379", "redis rediss", &u);
	assert_non_null(err);
	assert_null(strstr(err, "hunter2"));
	assert_non_null(url("http://user@example.com", "https http", &u));
}

static void test_policy_url_rejects_fragment(void **state)
{
	struct policy_url u;
	const char *err;

	(void)state;
	err = url("https://example.com/docs#part", "https http", &u);
	assert_non_null(err);
	assert_non_null(strstr(err, "fragment"));
	assert_non_null(url("https://example.com#part", "https http", &u));
}

static void test_policy_url_rejects_spaces_and_controls(void **state)
{
	struct policy_url u;

	(void)state;
	assert_non_null(url("https://example.com/a b", "https http", &u));
	assert_non_null(url("https://example.com/a\tb", "https http", &u));
	assert_non_null(url("https://example.com/a\x7f", "https http", &u));
	assert_non_null(url("https://exa mple.com/", "https http", &u));
	assert_non_null(url("https://example.com/ ", "https http", &u));
}

static void test_policy_url_rejects_bad_host_or_port(void **state)
{
	static const char *const bad[] = {
		"https://", "https:///x", "https://:443/", "https://h:0/",
		"https://h:65536/", "https://h:/", "https://h:44a/", "https://[::1/",
		"https://[10.0.0.1]/", "https://-h/", "https://h..x/",
	};
	struct policy_url u;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!url(bad[i], "https http", &u))
			fail_msg("URL '%s' was accepted", bad[i]);
	}
}

/* ---- secret references -------------------------------------------------------------------------- */

static void test_policy_secret_ref_env(void **state)
{
	enum policy_secret_kind k;
	char ref[300];

	(void)state;
	assert_null(secret("${env:OPENAI_API_KEY}", &k, ref, sizeof(ref)));
	assert_int_equal(k, POLICY_SECRET_ENV);
	assert_string_equal(ref, "OPENAI_API_KEY");
	assert_null(secret("${env:_x1}", &k, ref, sizeof(ref)));
	assert_string_equal(ref, "_x1");
	assert_null(secret("${env:A}", &k, ref, sizeof(ref)));
	assert_string_equal(ref, "A");
}

static void test_policy_secret_ref_rejects_bad_env_names(void **state)
{
	static const char *const bad[] = {
		"${env:}", "${env:1ABC}", "${env:A-B}", "${env:A B}", "${env:A.B}",
		"${env:A}}", "${env:$A}", "${env:A}x", "${env:A", "${env:{A}}",
	};
	enum policy_secret_kind k;
	char ref[300], name[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!secret(bad[i], &k, ref, sizeof(ref)))
			fail_msg("secret reference '%s' was accepted", bad[i]);
	}
	/* 255 characters is the longest name. */
	memcpy(name, "${env:", 6);
	memset(name + 6, 'A', 255);
	strcpy(name + 6 + 255, "}");
	assert_null(secret(name, &k, ref, sizeof(ref)));
	assert_int_equal(strlen(ref), 255);
	memset(name + 6, 'A', 256);
	strcpy(name + 6 + 256, "}");
	assert_non_null(secret(name, &k, ref, sizeof(ref)));
}

static void test_policy_secret_ref_file_absolute(void **state)
{
	enum policy_secret_kind k;
	char ref[300];

	(void)state;
	assert_null(secret("${file:/run/secrets/openai}", &k, ref, sizeof(ref)));
	assert_int_equal(k, POLICY_SECRET_FILE);
	assert_string_equal(ref, "/run/secrets/openai");
	assert_null(secret("${file:/}", &k, ref, sizeof(ref)));
	assert_string_equal(ref, "/");
}

static void test_policy_secret_ref_rejects_relative_file(void **state)
{
	enum policy_secret_kind k;
	char ref[300];
	const char *err;

	(void)state;
	err = secret("${file:secrets/openai}", &k, ref, sizeof(ref));
	assert_non_null(err);
	assert_non_null(strstr(err, "absolute"));
	assert_non_null(secret("${file:./k}", &k, ref, sizeof(ref)));
	assert_non_null(secret("${file:}", &k, ref, sizeof(ref)));
	assert_non_null(secret("${file:~/k}", &k, ref, sizeof(ref)));
}

static void test_policy_secret_ref_rejects_literal(void **state)
{
	static const char *const bad[] = {
		"sk-live-SECRET123", "", "$", "${}", "${x}", "${ENV:A}", "${FILE:/a}",
		"$env:A}", "{env:A}", "${vault:a/b}", "${env:A} ", " ${env:A}",
		"env:A", "${file:/a",
	};
	enum policy_secret_kind k;
	char ref[300];
	const char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = secret(bad[i], &k, ref, sizeof(ref));

		if (!err)
			fail_msg("secret '%s' was accepted", bad[i]);
	}
	/* The message never quotes what was written: it may be a key. */
	err = secret("sk-live-SECRET123", &k, ref, sizeof(ref));
	assert_non_null(strstr(err, "literal secrets are not allowed"));
	assert_null(strstr(err, "SECRET123"));
}

/* ---- key hashes ---------------------------------------------------------------------------------- */

#define ABC_HASH "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static const uint8_t abc_sha256[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde,
	0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};

static void test_policy_keyhash_parses_hex(void **state)
{
	uint8_t out[32] = { 0 };

	(void)state;
	assert_null(keyhash(ABC_HASH, out));
	assert_memory_equal(out, abc_sha256, 32);
	memset(out, 0, sizeof(out));
	assert_null(keyhash("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", out));
	assert_memory_equal(out, abc_sha256, 32);
	memset(out, 0, sizeof(out));
	assert_int_equal(policy_parse_key_hash(ABC_HASH, out), 0);
	assert_memory_equal(out, abc_sha256, 32);
	assert_int_equal(policy_parse_key_hash("sha256:", out), -EINVAL);
}

static void test_policy_keyhash_rejects_wrong_length_or_digits(void **state)
{
	static const char *const bad[] = {
		"", "sha256:",
		/* 63 digits */
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		/* 65 digits */
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
		/* a 'g' */
		"sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adba7816b",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015 d",
	};
	uint8_t out[32];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!keyhash(bad[i], out))
			fail_msg("key hash '%s' was accepted", bad[i]);
	}
}

/* ---- names and text ------------------------------------------------------------------------------ */

static void test_policy_name_rules(void **state)
{
	char n[80];

	(void)state;
	assert_true(is_name("openai"));
	assert_true(is_name("gpt-4o"));
	assert_true(is_name("a.b:c/d_e-f"));
	assert_true(is_name("9lives"));
	assert_false(is_name(""));
	assert_false(is_name("-a"));
	assert_false(is_name("_a"));
	assert_false(is_name(".a"));
	assert_false(is_name("a b"));
	assert_false(is_name("a\n"));
	assert_false(is_name("a*"));
	assert_false(is_name("caf\xc3\xa9"));
	memset(n, 'a', TG_NAME_MAX);
	n[TG_NAME_MAX] = '\0';
	assert_true(is_name(n));
	n[TG_NAME_MAX] = 'a';
	n[TG_NAME_MAX + 1] = '\0';
	assert_false(is_name(n));
}

static void test_policy_check_text_rejects_controls_and_long(void **state)
{
	static char big[TG_POLICY_STRING_MAX + 1];

	(void)state;
	assert_null(check_text("a\tb\nc", 5));
	assert_null(check_text("", 0));
	assert_non_null(check_text("a\x01", 2));
	assert_non_null(check_text("a\rb", 3));
	assert_non_null(check_text("\x7f", 1));
	assert_non_null(check_text("a\0b", 3));
	memset(big, 'x', sizeof(big));
	assert_null(check_text(big, TG_POLICY_STRING_MAX));
	assert_non_null(check_text(big, TG_POLICY_STRING_MAX + 1));
}

static void test_policy_check_text_single_line_rejects_line_breaks(void **state)
{
	(void)state;
	assert_null(check_text_lines("2024-10-21\t", 11, false));
	assert_non_null(check_text_lines("2024-10-21\nX-Evil: 1", 21, false));
	assert_null(check_text_lines("line one\nline two", 17, true));
}

/* ---- edit distance and formatting ---------------------------------------------------------------- */

static void test_policy_edit_distance(void **state)
{
	char long_name[TG_NAME_MAX + 2];

	(void)state;
	assert_int_equal(edit_distance("", ""), 0);
	assert_int_equal(edit_distance("abc", "abc"), 0);
	assert_int_equal(edit_distance("", "abc"), 3);
	assert_int_equal(edit_distance("abc", ""), 3);
	assert_int_equal(edit_distance("kitten", "sitting"), 3);
	assert_int_equal(edit_distance("tenant", "tenants"), 1);
	assert_int_equal(edit_distance("listners", "listeners"), 1);
	assert_int_equal(edit_distance("OpenAI", "openai"), 0);
	assert_int_equal(edit_distance("flaw", "lawn"), 2);
	memset(long_name, 'a', TG_NAME_MAX + 1);
	long_name[TG_NAME_MAX + 1] = '\0';
	assert_true(edit_distance(long_name, "a") >= 1000);
	long_name[TG_NAME_MAX] = '\0';
	assert_int_equal(edit_distance(long_name, "a"), TG_NAME_MAX - 1);
}

static void test_policy_format_duration_and_size(void **state)
{
	char b[32];

	(void)state;
	policy_format_duration(0, b, sizeof(b));
	assert_string_equal(b, "0s");
	policy_format_duration(1500, b, sizeof(b));
	assert_string_equal(b, "1500ms");
	policy_format_duration(30000, b, sizeof(b));
	assert_string_equal(b, "30s");
	policy_format_duration(120000, b, sizeof(b));
	assert_string_equal(b, "2m");
	policy_format_duration(3600000, b, sizeof(b));
	assert_string_equal(b, "1h");
	policy_format_duration(2 * 86400000ull, b, sizeof(b));
	assert_string_equal(b, "2d");
	policy_format_size(0, b, sizeof(b));
	assert_string_equal(b, "0");
	policy_format_size(1000, b, sizeof(b));
	assert_string_equal(b, "1000");
	policy_format_size(16384, b, sizeof(b));
	assert_string_equal(b, "16KiB");
	policy_format_size(8u << 20, b, sizeof(b));
	assert_string_equal(b, "8MiB");
	policy_format_size(3ull << 30, b, sizeof(b));
	assert_string_equal(b, "3GiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_duration_accepts_each_unit),
		cmocka_unit_test(test_policy_duration_rejects_overflow),
		cmocka_unit_test(test_policy_duration_rejects_bare_number),
		cmocka_unit_test(test_policy_duration_rejects_malformed),
		cmocka_unit_test(test_policy_size_accepts_units_and_bare_bytes),
		cmocka_unit_test(test_policy_size_rejects_overflow),
		cmocka_unit_test(test_policy_size_rejects_malformed),
		cmocka_unit_test(test_policy_rate_accepts_each_period),
		cmocka_unit_test(test_policy_rate_rejects_malformed),
		cmocka_unit_test(test_policy_uint_accepts_digits_only),
		cmocka_unit_test(test_policy_f64_rejects_hex_inf_nan),
		cmocka_unit_test(test_policy_cidr_accepts_v4_and_v6),
		cmocka_unit_test(test_policy_cidr_bare_address_is_host_prefix),
		cmocka_unit_test(test_policy_cidr_rejects_host_bits_with_suggestion),
		cmocka_unit_test(test_policy_cidr_rejects_prefix_length_out_of_bounds),
		cmocka_unit_test(test_policy_cidr_rejects_non_addresses),
		cmocka_unit_test(test_policy_sockaddr_accepts_v4_and_bracketed_v6),
		cmocka_unit_test(test_policy_sockaddr_accepts_port_zero),
		cmocka_unit_test(test_policy_sockaddr_rejects_port_65536),
		cmocka_unit_test(test_policy_sockaddr_rejects_hostnames),
		cmocka_unit_test(test_policy_hostport_accepts_names_and_addresses),
		cmocka_unit_test(test_policy_hostport_rejects_port_zero),
		cmocka_unit_test(test_policy_hostport_rejects_malformed),
		cmocka_unit_test(test_policy_hostname_checks_labels),
		cmocka_unit_test(test_policy_url_default_ports_and_path),
		cmocka_unit_test(test_policy_url_explicit_port_path_and_v6),
		cmocka_unit_test(test_policy_url_rejects_other_schemes),
		cmocka_unit_test(test_policy_url_rejects_credentials),
		cmocka_unit_test(test_policy_url_rejects_fragment),
		cmocka_unit_test(test_policy_url_rejects_spaces_and_controls),
		cmocka_unit_test(test_policy_url_rejects_bad_host_or_port),
		cmocka_unit_test(test_policy_secret_ref_env),
		cmocka_unit_test(test_policy_secret_ref_rejects_bad_env_names),
		cmocka_unit_test(test_policy_secret_ref_file_absolute),
		cmocka_unit_test(test_policy_secret_ref_rejects_relative_file),
		cmocka_unit_test(test_policy_secret_ref_rejects_literal),
		cmocka_unit_test(test_policy_keyhash_parses_hex),
		cmocka_unit_test(test_policy_keyhash_rejects_wrong_length_or_digits),
		cmocka_unit_test(test_policy_name_rules),
		cmocka_unit_test(test_policy_check_text_rejects_controls_and_long),
		cmocka_unit_test(test_policy_check_text_single_line_rejects_line_breaks),
		cmocka_unit_test(test_policy_edit_distance),
		cmocka_unit_test(test_policy_format_duration_and_size),
	};

	return cmocka_run_group_tests_name("policy_scalar", tests, group_setup,
					   group_teardown);
}
