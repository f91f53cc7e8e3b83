// SPDX-License-Identifier: Apache-2.0
/*
 * The guard's scan throughput on a generated, mixed 10 MB corpus, against
 * PCRE2-JIT running the same detections in the same run, and the per-chunk
 * cost of stream scanning. `make bench-guard`; figures in
 * docs/benchmarks.md ("Guard").
 *
 * The corpus mixes prose, numbers that are not PII (prices, dates, times,
 * versions, order ids), code and JSON snippets, and PII of every type about
 * once per kilobyte, from a fixed seed.
 *
 * PCRE2-JIT runs one compiled pattern per detection (cards and IBANs
 * checked with Luhn / mod-97 on each match, as the guard does), each over
 * the whole corpus; its time is the sum. One alternation of all patterns is
 * timed too and the faster of the two is the reference. Each figure is the
 * best of ROUNDS runs, single thread, in thread CPU time.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hs/hs.h>
#include <pcre2.h>

#include "guard/guard.h"
#include "guard/scan.h"
#include "policy/policy.h"

#define CORPUS_BYTES	(10u << 20)
#define ROUNDS		5

/* Thread CPU time, not wall time: on a shared machine the time this
 * thread is not running is not the scanner's cost ("per core"). */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t rng_state = 0x9e3779b9u;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state % n;
}

/* ---- the corpus ---------------------------------------------------------------------- */

static const char *const words[] = {
	"the", "model", "request", "please", "summarize", "following", "report", "and", "of",
	"customer", "account", "latency", "budget", "token", "policy", "we", "should", "with",
	"data", "team", "quarter", "results", "show", "growth", "in", "for", "this", "server",
	"deploy", "release", "meeting", "notes", "a", "to", "is", "on", "that", "review",
	"translate", "into", "French", "write", "function", "returns", "list", "error", "log",
};

static const char *const snippets[] = {
	"Revenue grew 12.5% to $4,310,220 in Q3 2024. ",
	"The meeting is on 2024-03-15 at 14:30 in room 4B. ",
	"Upgrade nginx from 1.24.0 to version 1.25.3.1 next week. ",
	"Order #884213 shipped on 03/11/2024, tracking 1Z999AA10123456784. ",
	"```python\nfor i in range(10):\n    print(i * 3.14)\n```\n",
	"{\"id\": 42, \"ts\": \"2024-05-17T10:22:31Z\", \"ok\": true, \"items\": [1, 2, 3]}\n",
	"std::vector<int> v(100); auto it = v.begin(); // C++17\n",
	"Latency p50 12 ms, p99 180 ms over 1,000,000 requests. ",
	"ISBN 978-3-16-148410-0, page 221, 3rd edition (2019). ",
	"Temperature 21.5 C, humidity 40%, wind 12 km/h at 06:45. ",
};

static const char *const pii[] = {
	"Contact jane.doe@example.com for details. ",
	"Call me at (415) 555-2671 tomorrow. ",
	"My card is 4111 1111 1111 1111, exp 12/27. ",
	"SSN 123-45-6789 on the form. ",
	"Wire it to DE89 3704 0044 0532 0130 00 please. ",
	"The host 192.168.10.42 is unreachable. ",
	"IPv6 peer 2001:db8:85a3::8a2e:370:7334 dropped. ",
	"export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789AB ",
	"aws key AKIAIOSFODNN7EXAMPLE leaked. ",
	"token ghp_abcdefghijklmnopqrstuvwxyz0123456789 in CI. ",
	"UK office +44 20 7946 0958. ",
	"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0 ",
};

/* `numeric` is the percentage of pieces that are the number-laden
 * snippets above, the rest being words; PII comes every ~1 KB. */
static char *make_corpus(size_t want, uint32_t numeric)
{
	char *buf = malloc(want + 256);
	size_t len = 0, since_pii = 0;

	if (!buf)
		return NULL;
	while (len < want) {
		const char *piece;
		uint32_t r = rnd(100);

		if (since_pii > 700 + rnd(600)) {
			piece = pii[rnd(sizeof(pii) / sizeof(pii[0]))];
			since_pii = 0;
		} else if (r < numeric) {
			piece = snippets[rnd(sizeof(snippets) / sizeof(snippets[0]))];
		} else if (r < numeric + 2) {
			piece = ".\n\n";
		} else {
			piece = words[rnd(sizeof(words) / sizeof(words[0]))];
		}
		size_t n = strlen(piece);

		if (len + n + 1 > want + 255)
			break;
		memcpy(buf + len, piece, n);
		len += n;
		since_pii += n;
		if (r >= numeric + 2)
			buf[len++] = ' ';
	}
	buf[len] = '\0';
	return buf;
}

/* ---- PCRE2-JIT reference ------------------------------------------------------------- */

enum check { CHK_NONE = 0, CHK_LUHN, CHK_IBAN };

static const struct {
	const char *name;
	const char *re;
	enum check chk;
} ref[] = {
	{ "email", "[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}", CHK_NONE },
	{ "phone", "(?:\\+[1-9]\\d{0,2}(?:[ .-]?(?:\\(\\d{1,4}\\)|\\d{1,12})){1,6}"
		   "|\\(?\\b[2-9]\\d{2}\\)?[ .-]?[2-9]\\d{2}[ .-]\\d{4}\\b"
		   "|\\b0\\d{1,4}(?:[ -]\\d{2,6}){1,4}\\b)", CHK_NONE },
	{ "card", "\\b\\d{4}(?:[ -]?\\d{3,6}){2,4}\\b", CHK_LUHN },
	{ "ssn", "\\b(?!000|666|9)\\d{3}([- ])(?!00)\\d{2}\\1(?!0000)\\d{4}\\b", CHK_NONE },
	{ "iban", "\\b[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\\b", CHK_IBAN },
	{ "ipv4", "\\b(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\b", CHK_NONE },
	{ "ipv6", "(?:[0-9A-Fa-f]{1,4}:){2,7}:?[0-9A-Fa-f]{0,4}|::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}", CHK_NONE },
	{ "openai", "\\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}", CHK_NONE },
	{ "aws", "\\b(?:AKIA|ASIA)[A-Z0-9]{16}\\b", CHK_NONE },
	{ "github", "\\b(?:gh[posur]_[A-Za-z0-9]{36,}|github_pat_\\w{22,})", CHK_NONE },
	{ "slack", "\\bxox[abprs]-[A-Za-z0-9-]{10,}", CHK_NONE },
	{ "google", "\\bAIza[A-Za-z0-9_-]{35}", CHK_NONE },
	{ "pem", "-----BEGIN [A-Z ]*PRIVATE KEY-----", CHK_NONE },
	{ "jwt", "\\beyJ[A-Za-z0-9_-]{7,}\\.[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]*", CHK_NONE },
};
#define N_REF (sizeof(ref) / sizeof(ref[0]))

static pcre2_code *ref_compile(const char *re)
{
	PCRE2_SIZE off;
	int err;
	pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);

	if (!c) {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(err, msg, sizeof(msg));
		fprintf(stderr, "bench_guard: pcre2 '%s' at %zu: %s\n", re, (size_t)off, msg);
		exit(1);
	}
	if (pcre2_jit_compile(c, PCRE2_JIT_COMPLETE)) {
		fprintf(stderr, "bench_guard: no PCRE2 JIT on this machine\n");
		exit(1);
	}
	return c;
}

static size_t ref_check(const char *s, size_t n, enum check chk)
{
	char d[64];
	size_t k = 0, i;

	if (chk == CHK_NONE)
		return 1;
	for (i = 0; i < n && k < sizeof(d); i++)
		if (s[i] != ' ' && s[i] != '-')
			d[k++] = s[i];
	if (chk == CHK_LUHN)
		return k >= 13 && k <= 19 && gscan_luhn(d, k);
	return gscan_iban_ok(d, k);
}

/* Runs one compiled pattern over the text; returns the matches accepted. */
static size_t ref_run(pcre2_code *c, pcre2_match_data *md, pcre2_match_context *mc,
		      const char *text, size_t len, enum check chk)
{
	PCRE2_SIZE off = 0, *ov;
	size_t hits = 0;

	while (off < len) {
		int rc = pcre2_jit_match(c, (PCRE2_SPTR)text, len, off, 0, md, mc);

		if (rc < 0)
			break;
		ov = pcre2_get_ovector_pointer(md);
		hits += ref_check(text + ov[0], ov[1] - ov[0], chk);
		off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
	}
	return hits;
}

/* ---- guard --------------------------------------------------------------------------- */

static struct guard *make_guard(bool injection)
{
	struct policy_guard pg = { 0 };
	char err[256];
	struct guard *g;

	pg.name = "bench";
	pg.pii.enabled = true;
	pg.pii.types = 0x7f;
	pg.pii.action = POLICY_GUARD_REDACT;
	pg.injection.enabled = injection;
	pg.injection.builtin = true;
	g = guard_new(&pg, err, sizeof(err));
	if (!g) {
		fprintf(stderr, "bench_guard: %s\n", err);
		exit(1);
	}
	return g;
}

static int count_emit(void *arg, const char *p, size_t n)
{
	(void)p;
	*(size_t *)arg += n;
	return 0;
}

static double mbps(size_t bytes, uint64_t ns)
{
	return (double)bytes / ((double)ns / 1e9) / 1e6;
}

/* Best-of-ROUNDS time of guard_scan over text in `piece`-byte slices. */
static uint64_t time_guard(const struct guard *g, const char *text, size_t len, size_t piece,
			   bool inj, size_t *findings)
{
	struct guard_result r;
	uint64_t best = UINT64_MAX;
	int round;

	guard_result_init(&r);
	for (round = 0; round < ROUNDS; round++) {
		uint64_t t0 = now_ns(), dt;
		size_t off, n = 0;

		for (off = 0; off < len; off += piece) {
			size_t k = len - off < piece ? len - off : piece;

			if ((inj ? guard_scan(g, text + off, k, &r) : guard_scan_pii(g, text + off, k, &r)))
				exit(1);
			n += r.n;
		}
		dt = now_ns() - t0;
		if (dt < best)
			best = dt;
		*findings = n;
	}
	guard_result_fini(&r);
	return best;
}

/* Digit runs per KB: what the hand-written scanner stops at most. */
static double digit_runs_per_kb(const char *t, size_t len)
{
	size_t i, runs = 0;

	for (i = 0; i < len; i++)
		if (t[i] >= '0' && t[i] <= '9' && (i == 0 || t[i - 1] < '0' || t[i - 1] > '9'))
			runs++;
	return (double)runs * 1024.0 / (double)len;
}

struct ref_set {
	pcre2_code *codes[N_REF], *alt;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	pcre2_jit_stack *js;
};

static void ref_init(struct ref_set *rs)
{
	static char altre[8192];
	size_t i;

	rs->md = pcre2_match_data_create(4, NULL);
	rs->mc = pcre2_match_context_create(NULL);
	rs->js = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
	pcre2_jit_stack_assign(rs->mc, NULL, rs->js);
	altre[0] = '\0';
	for (i = 0; i < N_REF; i++) {
		rs->codes[i] = ref_compile(ref[i].re);
		if (i)
			strcat(altre, "|");
		strcat(altre, "(?:");
		/* The alternation cannot use the SSN back reference's group
		 * number; spell the separator out. */
		strcat(altre, strcmp(ref[i].name, "ssn") ? ref[i].re :
		       "\\b(?!000|666|9)\\d{3}[- ](?!00)\\d{2}[- ](?!0000)\\d{4}\\b");
		strcat(altre, ")");
	}
	rs->alt = ref_compile(altre);
}

static void ref_fini(struct ref_set *rs)
{
	size_t i;

	for (i = 0; i < N_REF; i++)
		pcre2_code_free(rs->codes[i]);
	pcre2_code_free(rs->alt);
	pcre2_jit_stack_free(rs->js);
	pcre2_match_context_free(rs->mc);
	pcre2_match_data_free(rs->md);
}

/* Guard rows and the PCRE2-JIT reference on one corpus. */
static void run_corpus(const char *label, uint32_t numeric, const struct guard *g,
		       const struct guard *gi, struct ref_set *rs, bool streams)
{
	static const size_t chunk_sizes[] = { 16, 64, 256 };
	uint64_t t_guard, t, t_ref = UINT64_MAX, t_alt = UINT64_MAX;
	size_t len, findings = 0, hits = 0, i, c;
	char *text;
	int round;

	text = make_corpus(CORPUS_BYTES, numeric);
	if (!text)
		exit(1);
	len = strlen(text);
	printf("%s corpus: %zu bytes, %.1f digit runs/KB\n", label, len,
	       digit_runs_per_kb(text, len));

	t_guard = time_guard(g, text, len, len, false, &findings);
	printf("  %-42s %7.0f MB/s  (%zu findings)\n", "guard, PII + secrets, whole corpus",
	       mbps(len, t_guard), findings);
	t = time_guard(g, text, len, 4096, false, &findings);
	printf("  %-42s %7.0f MB/s\n", "guard, PII + secrets, 4 KB prompts", mbps(len, t));
	t = time_guard(gi, text, len, len, true, &findings);
	printf("  %-42s %7.0f MB/s\n", "guard, + injection patterns", mbps(len, t));

	for (round = 0; round < ROUNDS; round++) {
		size_t h = 0;

		t = now_ns();
		for (i = 0; i < N_REF; i++)
			h += ref_run(rs->codes[i], rs->md, rs->mc, text, len, ref[i].chk);
		t = now_ns() - t;
		if (t < t_ref)
			t_ref = t;
		hits = h;
	}
	printf("  %-42s %7.0f MB/s  (%zu matches)\n", "PCRE2-JIT, one pass per pattern (14)",
	       mbps(len, t_ref), hits);
	for (round = 0; round < ROUNDS; round++) {
		t = now_ns();
		hits = ref_run(rs->alt, rs->md, rs->mc, text, len, CHK_NONE);
		t = now_ns() - t;
		if (t < t_alt)
			t_alt = t;
	}
	printf("  %-42s %7.0f MB/s  (%zu matches)\n", "PCRE2-JIT, one alternation",
	       mbps(len, t_alt), hits);
	if (t_alt < t_ref)
		t_ref = t_alt;
	printf("  %-42s %7.1fx\n", "guard / best PCRE2-JIT", (double)t_ref / (double)t_guard);

	/* Streams: the corpus in fixed chunks, as an SSE response arrives. */
	for (c = 0; streams && c < sizeof(chunk_sizes) / sizeof(chunk_sizes[0]); c++) {
		uint64_t best = UINT64_MAX;
		size_t chunks = 0, out = 0;

		for (round = 0; round < ROUNDS; round++) {
			struct guard_stream *s = guard_stream_new(g, count_emit, &out);
			size_t off;

			chunks = 0;
			t = now_ns();
			for (off = 0; off < len; off += chunk_sizes[c], chunks++)
				if (guard_stream_feed(s, text + off, len - off < chunk_sizes[c] ?
							 len - off : chunk_sizes[c]))
					exit(1);
			if (guard_stream_finish(s))
				exit(1);
			t = now_ns() - t;
			guard_stream_free(s);
			if (t < best)
				best = t;
		}
		printf("  stream, %3zu-byte chunks %19s %7.1f ns/chunk  (%.0f MB/s)\n",
		       chunk_sizes[c], "", (double)best / (double)chunks, mbps(len, best));
	}
	free(text);
}

int main(void)
{
	struct guard *g = make_guard(false), *gi = make_guard(true);
	struct ref_set rs;

	ref_init(&rs);
	printf("bench_guard: %d rounds, best round reported, 1 thread, CPU time\n\n", ROUNDS);
	run_corpus("mixed", 6, g, gi, &rs, true);
	printf("\n");
	run_corpus("number-heavy", 25, g, gi, &rs, false);
	ref_fini(&rs);
	guard_free(gi);
	guard_free(g);
	guard_thread_fini();
	return 0;
}
