// SPDX-License-Identifier: Apache-2.0
/*
 * The pre-call token estimate (user/llm/estimate.c, docs/estimate.md):
 * bounds against real token counts, script classes, JSON escapes, growth,
 * and no read past the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard_page.h"
#include "llm/internal.h"

/*
 * One user message each, as the content of a chat body. o200k and cl100k
 * are real counts of that chat (content plus the chat template's tokens),
 * measured with gpt-tokenizer 4.0.0 (tests/interop) for models gpt-4o and
 * gpt-4. The content is already JSON-escaped.
 */
static const struct {
	const char *name;
	const char *content;
	unsigned o200k, cl100k;
} fixed[] = {
	{ "en", "Please summarise the attached quarterly report in three short bullet "
		"points for the board.", 23, 23 },
	{ "de", "Bitte fasse den beigefügten Quartalsbericht in drei kurzen Stichpunkten "
		"für den Vorstand zusammen.", 28, 35 },
	{ "ru", "Пожалуйста, кратко изложите прилагаемый квартальный отчёт в трёх "
		"пунктах для совета директоров.", 34, 53 },
	{ "el", "Παρακαλώ συνοψίστε την συνημμένη τριμηνιαία αναφορά σε τρία σύντομα "
		"σημεία για το διοικητικό συμβούλιο.", 45, 102 },
	{ "ar", "يرجى تلخيص التقرير الفصلي المرفق في ثلاث نقاط قصيرة لمجلس الإدارة.", 27, 53 },
	{ "hi", "कृपया संलग्न तिमाही रिपोर्ट को बोर्ड के लिए तीन छोटे बिंदुओं में सारांशित करें।",
		33, 88 },
	{ "th", "กรุณาสรุปรายงานรายไตรมาสที่แนบมาเป็นสามประเด็นสั้นๆ สำหรับคณะกรรมการ", 35, 70 },
	{ "ja", "添付の四半期報告書を取締役会向けに三つの短い箇条書きで要約してください。", 39, 50 },
	{ "zh", "请将附件中的季度报告总结为三个简短的要点，供董事会参考。", 27, 40 },
	{ "ko", "첨부된 분기 보고서를 이사회를 위해 세 개의 짧은 요점으로 요약해 주세요.", 32, 42 },
	{ "code", "static int add(int a, int b)\\n{\\n\\tif (a > INT_MAX - b)\\n\\t\\t"
		  "return -ERANGE;\\n\\treturn a + b;\\n}\\n", 38, 38 },
};

#define BODY_FMT	"{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}"

static uint64_t est(const char *s)
{
	return llm_estimate_tokens(s, strlen(s));
}

static void body(char *out, size_t size, const char *content)
{
	int n = snprintf(out, size, BODY_FMT, content);

	assert_true(n > 0 && (size_t)n < size);
}

/* Python's json.dumps default: every character past ASCII as \uXXXX,
 * a surrogate pair past the BMP. Expects valid UTF-8. */
static void escape_utf8(char *out, size_t size, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	while (*p) {
		uint32_t cp;
		int len;

		if (*p < 0x80) {
			assert_true(o + 1 < size);
			out[o++] = (char)*p++;
			continue;
		}
		len = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
		cp = *p & (0xff >> (len + 1));
		for (int i = 1; i < len; i++)
			cp = cp << 6 | (p[i] & 0x3f);
		p += len;
		assert_true(o + 13 < size);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			o += (size_t)sprintf(out + o, "\\u%04x\\u%04x", 0xd800 + (cp >> 10),
					     0xdc00 + (cp & 0x3ff));
		} else {
			o += (size_t)sprintf(out + o, "\\u%04x", cp);
		}
	}
	out[o] = '\0';
}

static void test_estimate_empty_body_is_zero(void **state)
{
	(void)state;
	assert_int_equal(llm_estimate_tokens("", 0), 0);
	assert_int_equal(llm_estimate_tokens(NULL, 0), 0);
}

/* Leans over: never below 90% of the larger real count, never above 150%
 * (the old estimator gave Cyrillic and Greek more than twice cl100k's). */
static void test_estimate_is_within_bounds_of_measured_counts(void **state)
{
	char b[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		unsigned real = fixed[i].o200k > fixed[i].cl100k ? fixed[i].o200k : fixed[i].cl100k;
		uint64_t e;

		body(b, sizeof(b), fixed[i].content);
		e = est(b);
		if (e * 10 < (uint64_t)real * 9 || e * 2 > (uint64_t)real * 3)
			fail_msg("%s: estimate %llu, real %u", fixed[i].name,
				 (unsigned long long)e, real);
	}
}

static void test_estimate_escaped_body_counts_like_utf8(void **state)
{
	char b[1024], esc[2048], eb[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		body(b, sizeof(b), fixed[i].content);
		escape_utf8(esc, sizeof(esc), fixed[i].content);
		body(eb, sizeof(eb), esc);
		if (strcmp(fixed[i].name, "en") && strcmp(fixed[i].name, "code"))
			assert_string_not_equal(b, eb);
		assert_int_equal(est(b), est(eb));
	}
	/* Past the BMP: a surrogate pair is one character, like its 4 bytes. */
	escape_utf8(esc, sizeof(esc), "ok \xf0\x9f\x98\x80 \xf0\x9f\x98\x80");
	assert_string_equal(esc, "ok \\ud83d\\ude00 \\ud83d\\ude00");
	assert_int_equal(est(esc), est("ok \xf0\x9f\x98\x80 \xf0\x9f\x98\x80"));
	/* Escaped ASCII and escaped whitespace count as what they stand for. */
	assert_int_equal(est("say \\u0068\\u0049\\nnow"), est("say hI\\nnow"));
	assert_int_equal(est("a\\nb"), est("a b"));
}

static void test_estimate_grows_as_text_is_appended(void **state)
{
	char content[4096], b[8192];

	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		uint64_t prev = 0;

		content[0] = '\0';
		for (int k = 1; k <= 8; k++) {
			uint64_t e;

			strcat(content, fixed[i].content);
			strcat(content, " ");
			body(b, sizeof(b), content);
			e = est(b);
			if (e <= prev)
				fail_msg("%s x%d: %llu after %llu", fixed[i].name, k,
					 (unsigned long long)e, (unsigned long long)prev);
			prev = e;
		}
	}
}

/* A Han character is close to a token, Cyrillic about half of one,
 * an ASCII letter a fraction: 100 characters of each, in words of five
 * where the script has words. */
static void test_estimate_scripts_cost_differently(void **state)
{
	char han[512] = "", cyr[512] = "", lat[512] = "";

	(void)state;
	for (int i = 0; i < 100; i++) {
		strcat(han, "\xe6\x97\xa5");		/* U+65E5 */
		strcat(cyr, "\xd0\xb4");		/* U+0434 */
		strcat(lat, "d");
		if (i % 5 == 4) {
			strcat(cyr, " ");
			strcat(lat, " ");
		}
	}
	assert_true(est(han) >= 90);
	assert_true(est(han) > est(cyr));
	assert_true(est(cyr) > est(lat));
	assert_true(est(lat) >= 20);		/* 20 words: a token each at least */
}

/* Truncated and malformed input: counted, never read past n. */
static void test_estimate_reads_nothing_past_its_input(void **state)
{
	static const char *const tails[] = {
		"\\", "\\u", "\\u12", "\\u123", "\\ud83d", "\xe6", "\xe6\x97",
		"\xf0\x9f\x98", "\xff", "\x80", "\xc0\xaf", "abc\\", "x\\uzzzz",
	};
	struct guarded g = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		size_t len = strlen(tails[i]);

		assert_int_equal(guarded_init(&g, tails[i], len), 0);
		assert_true(llm_estimate_tokens(g.data, len) >= 1);
		guarded_fini(&g);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_estimate_empty_body_is_zero),
		cmocka_unit_test(test_estimate_is_within_bounds_of_measured_counts),
		cmocka_unit_test(test_estimate_escaped_body_counts_like_utf8),
		cmocka_unit_test(test_estimate_grows_as_text_is_appended),
		cmocka_unit_test(test_estimate_scripts_cost_differently),
		cmocka_unit_test(test_estimate_reads_nothing_past_its_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
