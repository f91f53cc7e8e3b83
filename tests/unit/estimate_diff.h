/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The token estimate's fast paths against another build of the same
 * source: the including test compiles user/llm/estimate.c a second time,
 * with TG_ESTIMATE_SCALAR (byte by byte) or TG_ESTIMATE_SWAR (the 64-byte
 * path with a portable popcount), as est_other_tokens(), and the library's
 * llm_estimate_tokens() (SSE2, 64 then 16 bytes at a time, the CPU's
 * popcount) must agree with it on every body. The sums are linear, so any
 * difference is a bug in a fast path: a block boundary, a run carried
 * across it, a class mask. The includer defines ED_NAME (the group).
 */
#ifndef TESTS_ESTIMATE_DIFF_H
#define TESTS_ESTIMATE_DIFF_H

#include <stdint.h>
#include <string.h>

#define ED_BODIES	20000
#define ED_MAX		700

uint64_t est_other_tokens(const char *p, size_t n);

static uint64_t ed_rng = 0x9e3779b97f4a7c15ull;

static uint32_t ed_next(void)
{
	ed_rng ^= ed_rng << 13;
	ed_rng ^= ed_rng >> 7;
	ed_rng ^= ed_rng << 17;
	return (uint32_t)(ed_rng >> 16);
}

/* Mostly plain ASCII of every class, so the fast paths run, with now and
 * then what stops them: an escape, a UTF-8 sequence (cut short too), a
 * stray byte. */
static size_t ed_body(char *b, size_t max)
{
	static const char *const rare[] = {
		"\\n", "\\\"", "\\u00e9", "\\ud83d\\ude00", "\xc3\xa9", "\xe4\xb8\xad",
		"\xf0\x9f\x98\x80", "\xe4\xb8", "\xff", "\x80", "\\u12",
	};
	static const char common[] = "aAzZ09 \t\n.,;{}\"-_";
	size_t n = ed_next() % max, i = 0;
	unsigned int mode = ed_next() % 4;

	while (i < n) {
		uint32_t r = ed_next();

		if (mode && r % (mode == 1 ? 97 : mode == 2 ? 13 : 4000) == 0) {
			const char *s = rare[(r >> 8) % (sizeof(rare) / sizeof(rare[0]))];
			size_t l = strlen(s);

			if (i + l > n)
				break;
			memcpy(b + i, s, l);
			i += l;
		} else if (r % 3 == 0) {
			b[i++] = common[(r >> 8) % (sizeof(common) - 1)];
		} else {
			/* Runs, so words and digit runs span block boundaries. */
			b[i++] = (char)((r >> 8) % 2 ? 'a' + (r >> 12) % 26 : '0' + (r >> 12) % 10);
		}
	}
	return i;
}

static void ed_compare(void **state)
{
	static char buf[ED_MAX + 64];
	unsigned int k, off;

	(void)state;
	for (k = 0; k < ED_BODIES; k++) {
		size_t n;

		off = ed_next() % 64;
		n = ed_body(buf + off, ED_MAX);
		if (llm_estimate_tokens(buf + off, n) != est_other_tokens(buf + off, n))
			fail_msg("body %u (%zu bytes at offset %u): %llu fast, %llu other", k, n, off,
				 (unsigned long long)llm_estimate_tokens(buf + off, n),
				 (unsigned long long)est_other_tokens(buf + off, n));
	}
}

static void test_estimate_fast_paths_equal_other_build(void **state)
{
	ed_compare(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_estimate_fast_paths_equal_other_build),
	};

	return cmocka_run_group_tests_name(ED_NAME, tests, NULL, NULL);
}

#endif /* TESTS_ESTIMATE_DIFF_H */
