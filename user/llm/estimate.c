// SPDX-License-Identifier: Apache-2.0
/*
 * The token estimate made before a call, for limits and budgets (the
 * provider's own usage replaces it afterwards). docs/estimate.md has the
 * method, the corpus and the measured error.
 *
 * One pass over the request body, no allocation: each character is put in
 * a script class (JSON \uXXXX escapes are decoded first, so a body sent as
 * pure ASCII by json.dumps counts like its UTF-8 twin), the starts of runs
 * of letters (words), digits, punctuation and whitespace are counted, and
 * the estimate is a weighted sum of those counts.
 * The weights were fitted on a corpus of chat bodies against the larger of
 * OpenAI's o200k_base and cl100k_base counts, with under-estimates costing
 * more than over-estimates: a low estimate lets a caller past a limit.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm/internal.h"

enum est_feat {
	EST_F_LETTER = 0,	/* ASCII letters */
	EST_F_DIGIT,
	EST_F_PUNCT,		/* ASCII punctuation and symbols */
	EST_F_SPACE,		/* whitespace, raw or escaped (\n, \t) */
	EST_F_LATIN,		/* Latin letters past ASCII (accents, Vietnamese) */
	EST_F_CYRILLIC,
	EST_F_GREEK,
	EST_F_ARABIC,		/* Hebrew, Arabic, Syriac, Thaana */
	EST_F_INDIC,		/* Devanagari to Sinhala, Thai to Khmer */
	EST_F_CJK,		/* Han, kana, CJK and fullwidth punctuation */
	EST_F_HANGUL,
	EST_F_OTHER,		/* symbols, emoji, every other script */
	EST_F_UPPER,		/* ASCII capitals, also counted as letters:
				 * identifiers and acronyms split finely */
	EST_F_WORD,		/* runs of letters: most words start a token */
	EST_F_DIGIT_RUN,	/* runs of digits */
	EST_F_PUNCT_RUN,	/* runs of punctuation */
	EST_F_SPACE_RUN,	/* runs of whitespace */
	EST_F_NR,
};

/*
 * Tokens per unit of each feature, in 1/1024 of a token, plus a fixed
 * part per request. Fitted by `tests/estimate/measure.mjs --fit` (alpha
 * 64: an under-estimate costs 64 times an over-estimate of the same size)
 * on the fit half of the corpus; docs/estimate.md has the held-out error.
 * A zero weight is a feature the fit found no use for (the chat template's
 * fixed tokens are paid for by the JSON's own punctuation); it is still
 * counted so that a refit can use it.
 */
#define EST_ONE		1024
#define EST_BASE	0

static const uint16_t est_weight[EST_F_NR] = {
	[EST_F_LETTER]    = 109,
	[EST_F_DIGIT]     = 242,
	[EST_F_PUNCT]     = 0,
	[EST_F_SPACE]     = 530,
	[EST_F_LATIN]     = 1924,
	[EST_F_CYRILLIC]  = 507,
	[EST_F_GREEK]     = 957,
	[EST_F_ARABIC]    = 860,
	[EST_F_INDIC]     = 1074,
	[EST_F_CJK]       = 1013,
	[EST_F_HANGUL]    = 965,
	[EST_F_OTHER]     = 2370,
	[EST_F_UPPER]     = 339,
	[EST_F_WORD]      = 235,
	[EST_F_DIGIT_RUN] = 547,
	[EST_F_PUNCT_RUN] = 631,
	[EST_F_SPACE_RUN] = 0,
};

/* The class of a code point past ASCII. Ranges from the Unicode block
 * list (Blocks.txt); the order puts the common scripts first. */
static enum est_feat est_class(uint32_t cp)
{
	if (cp < 0x250)
		return cp >= 0xc0 && cp != 0xd7 && cp != 0xf7 ? EST_F_LATIN : EST_F_OTHER;
	if (cp >= 0x370 && cp < 0x400)
		return EST_F_GREEK;
	if (cp >= 0x400 && cp < 0x530)
		return EST_F_CYRILLIC;
	if (cp >= 0x590 && cp < 0x7c0)
		return EST_F_ARABIC;
	if (cp >= 0x900 && cp < 0xe00)
		return EST_F_INDIC;
	if (cp >= 0xe00 && cp < 0xf00)
		return EST_F_INDIC;	/* Thai, Lao: no spaces between words */
	if (cp >= 0x1000 && cp < 0x1100)
		return EST_F_INDIC;	/* Myanmar */
	if (cp >= 0x1100 && cp < 0x1200)
		return EST_F_HANGUL;	/* Jamo */
	if (cp >= 0x1780 && cp < 0x1800)
		return EST_F_INDIC;	/* Khmer */
	if (cp >= 0x1e00 && cp < 0x1f00)
		return EST_F_LATIN;	/* Latin Extended Additional: Vietnamese */
	if (cp >= 0x1f00 && cp < 0x2000)
		return EST_F_GREEK;
	if (cp >= 0x2e80 && cp < 0x3130)
		return EST_F_CJK;	/* radicals, CJK punctuation, kana, bopomofo */
	if (cp >= 0x3130 && cp < 0x3190)
		return EST_F_HANGUL;	/* compatibility Jamo */
	if (cp >= 0x3190 && cp < 0xa000)
		return EST_F_CJK;	/* Han and its extensions A */
	if (cp >= 0xac00 && cp < 0xd7b0)
		return EST_F_HANGUL;
	if (cp >= 0xf900 && cp < 0xfb00)
		return EST_F_CJK;	/* compatibility ideographs */
	if (cp >= 0xfb1d && cp < 0xfe00)
		return EST_F_ARABIC;	/* presentation forms A */
	if (cp >= 0xfe70 && cp < 0xff00)
		return EST_F_ARABIC;	/* presentation forms B */
	if (cp >= 0xff00 && cp < 0xfff0)
		return EST_F_CJK;	/* fullwidth and halfwidth forms */
	if (cp >= 0x20000 && cp < 0x32000)
		return EST_F_CJK;	/* Han extensions B onwards */
	return EST_F_OTHER;
}

/* The run a class belongs to: tokenizers split text at changes between
 * letters, digits, punctuation and spaces, so each run starts a token.
 * CJK and OTHER characters are tokens of their own and start no run. */
static const uint8_t est_run_of[EST_F_NR] = {
	[EST_F_LETTER] = EST_F_WORD,
	[EST_F_DIGIT] = EST_F_DIGIT_RUN,
	[EST_F_PUNCT] = EST_F_PUNCT_RUN,
	[EST_F_SPACE] = EST_F_SPACE_RUN,
	[EST_F_LATIN] = EST_F_WORD,
	[EST_F_CYRILLIC] = EST_F_WORD,
	[EST_F_GREEK] = EST_F_WORD,
	[EST_F_ARABIC] = EST_F_WORD,
	[EST_F_INDIC] = EST_F_WORD,
	[EST_F_CJK] = EST_F_NR,
	[EST_F_HANGUL] = EST_F_WORD,
	[EST_F_OTHER ... EST_F_NR - 1] = EST_F_NR,
};

/* ASCII classes by table: the body is mostly ASCII (JSON, English, code). */
static const uint8_t est_ascii_of[128] = {
	[0 ... '\t' - 1] = EST_F_PUNCT,
	['\t' ... '\r'] = EST_F_SPACE,
	['\r' + 1 ... ' ' - 1] = EST_F_PUNCT,
	[' '] = EST_F_SPACE,
	['!' ... '/'] = EST_F_PUNCT,
	['0' ... '9'] = EST_F_DIGIT,
	[':' ... '@'] = EST_F_PUNCT,
	['A' ... 'Z'] = EST_F_LETTER,
	['[' ... '`'] = EST_F_PUNCT,
	['a' ... 'z'] = EST_F_LETTER,
	['{' ... 127] = EST_F_PUNCT,
};

/* The weighted sum is linear in the counts, so it is kept as it goes: a
 * scalar the compiler holds in a register, where an array of counters
 * indexed by class made each byte a store and a dependent load. */
struct est_state {
	uint64_t sum;		/* in 1/EST_ONE tokens */
	enum est_feat run;	/* the run the last character was in */
};

static void est_add(struct est_state *st, enum est_feat f)
{
	enum est_feat run = est_run_of[f];

	st->sum += est_weight[f];
	if (run != EST_F_NR && run != st->run)
		st->sum += est_weight[run];
	st->run = run;
}

static void est_add_ascii(struct est_state *st, unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		st->sum += est_weight[EST_F_UPPER];
	est_add(st, est_ascii_of[ch & 0x7f]);
}

static int est_hex(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
		return (ch | 0x20) - 'a' + 10;
	return -1;
}

#if defined(__SSE2__) && !defined(TG_ESTIMATE_SCALAR)
#include <emmintrin.h>
#include <immintrin.h>

static unsigned int est_range16(__m128i x, char lo, char hi)
{
	return (unsigned int)_mm_movemask_epi8(_mm_and_si128(
		_mm_cmpgt_epi8(x, _mm_set1_epi8((char)(lo - 1))),
		_mm_cmplt_epi8(x, _mm_set1_epi8((char)(hi + 1)))));
}

/* The number of set bits of each 16-bit quarter of x, in that quarter
 * (without the popcnt instruction, which x86-64's baseline lacks). */
static uint64_t est_popcount16x4(uint64_t x)
{
	x -= x >> 1 & 0x5555555555555555ull;
	x = (x & 0x3333333333333333ull) + (x >> 2 & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (x + (x >> 8)) & 0x00ff00ff00ff00ffull;
}

/* Run starts in a 16-byte class mask: members whose predecessor (bit
 * below, or the previous chunk's last character for bit 0) is not one. */
static unsigned int est_starts(unsigned int m, bool prev_in)
{
	return m & ~((m << 1) | (prev_in ? 1u : 0u));
}

/*
 * 16 bytes at once when they are plain ASCII with no backslash (most of
 * a body: JSON punctuation and prose): the same sums est_add_ascii() would
 * make byte by byte, from class masks and their run starts. False, and
 * nothing counted, when the chunk needs the byte-by-byte reading.
 */
static bool est_ascii16(struct est_state *st, const char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	unsigned int hi = (unsigned int)_mm_movemask_epi8(x);
	unsigned int bs = (unsigned int)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
	unsigned int let, up, dig, spc, pun;
	enum est_feat last;
	uint64_t a, b, c;

	if (hi | bs)
		return false;
	up = est_range16(x, 'A', 'Z');
	let = up | est_range16(x, 'a', 'z');
	dig = est_range16(x, '0', '9');
	spc = est_range16(x, '\t', '\r') |
	      (unsigned int)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')));
	pun = ~(let | dig | spc) & 0xffffu;
	a = (uint64_t)let | (uint64_t)up << 16 | (uint64_t)dig << 32 | (uint64_t)spc << 48;
	b = (uint64_t)pun | (uint64_t)est_starts(let, st->run == EST_F_WORD) << 16 |
	    (uint64_t)est_starts(dig, st->run == EST_F_DIGIT_RUN) << 32 |
	    (uint64_t)est_starts(spc, st->run == EST_F_SPACE_RUN) << 48;
	c = est_starts(pun, st->run == EST_F_PUNCT_RUN);
	a = est_popcount16x4(a);
	b = est_popcount16x4(b);
	c = est_popcount16x4(c);
	st->sum += est_weight[EST_F_LETTER] * (a & 0xffff) +
		   est_weight[EST_F_UPPER] * (a >> 16 & 0xffff) +
		   est_weight[EST_F_DIGIT] * (a >> 32 & 0xffff) +
		   est_weight[EST_F_SPACE] * (a >> 48) +
		   est_weight[EST_F_PUNCT] * (b & 0xffff) +
		   est_weight[EST_F_WORD] * (b >> 16 & 0xffff) +
		   est_weight[EST_F_DIGIT_RUN] * (b >> 32 & 0xffff) +
		   est_weight[EST_F_SPACE_RUN] * (b >> 48) +
		   est_weight[EST_F_PUNCT_RUN] * c;
	last = let & 0x8000u ? EST_F_WORD : dig & 0x8000u ? EST_F_DIGIT_RUN :
	       spc & 0x8000u ? EST_F_SPACE_RUN : EST_F_PUNCT_RUN;
	st->run = last;
	return true;
}

static inline __attribute__((always_inline)) unsigned int est_pop64(uint64_t x, bool hw)
{
	if (hw)
		return (unsigned int)__builtin_popcountll(x);
	x -= x >> 1 & 0x5555555555555555ull;
	x = (x & 0x3333333333333333ull) + (x >> 2 & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned int)((x * 0x0101010101010101ull) >> 56);
}

/* The sums of one 64-byte block from its class masks (bit k: byte k;
 * `let` includes `up`), and the run it ends in. */
static inline __attribute__((always_inline)) void est_block64(struct est_state *st, uint64_t let,
							      uint64_t up, uint64_t dig,
							      uint64_t spc, bool hw)
{
	uint64_t pun = ~(let | dig | spc), a, b;

	a = let & ~(let << 1 | (st->run == EST_F_WORD));
	b = dig & ~(dig << 1 | (st->run == EST_F_DIGIT_RUN));
	st->sum += est_weight[EST_F_LETTER] * est_pop64(let, hw) +
		   est_weight[EST_F_UPPER] * est_pop64(up, hw) +
		   est_weight[EST_F_DIGIT] * est_pop64(dig, hw) +
		   est_weight[EST_F_SPACE] * est_pop64(spc, hw) +
		   est_weight[EST_F_PUNCT] * est_pop64(pun, hw) +
		   est_weight[EST_F_WORD] * est_pop64(a, hw) +
		   est_weight[EST_F_DIGIT_RUN] * est_pop64(b, hw);
	a = spc & ~(spc << 1 | (st->run == EST_F_SPACE_RUN));
	b = pun & ~(pun << 1 | (st->run == EST_F_PUNCT_RUN));
	st->sum += est_weight[EST_F_SPACE_RUN] * est_pop64(a, hw) +
		   est_weight[EST_F_PUNCT_RUN] * est_pop64(b, hw);
	st->run = let >> 63 ? EST_F_WORD : dig >> 63 ? EST_F_DIGIT_RUN :
		  spc >> 63 ? EST_F_SPACE_RUN : EST_F_PUNCT_RUN;
}

/*
 * est_ascii16() on 64 bytes at a time: the class masks of four chunks
 * side by side in 64-bit words, so that each count is one popcount per
 * 64 bytes (the sums are linear, so they are the same). The bytes
 * consumed: whole plain 64-byte blocks, stopping before the first block
 * that is not (est_ascii16() and the byte loop take it from there).
 */
static inline __attribute__((always_inline)) size_t est_ascii64_body(struct est_state *st,
								      const char *p, size_t n,
								      bool hw)
{
	size_t done = 0;

	while (n - done >= 64) {
		uint64_t let = 0, up = 0, dig = 0, spc = 0, bad = 0;
		unsigned int k;

		for (k = 0; k < 4; k++) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + done + 16 * k));
			unsigned int sh = 16 * k;

			bad |= (uint64_t)((unsigned int)_mm_movemask_epi8(x) |
					  (unsigned int)_mm_movemask_epi8(
						  _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
			up |= (uint64_t)est_range16(x, 'A', 'Z') << sh;
			let |= (uint64_t)est_range16(x, 'a', 'z') << sh;
			dig |= (uint64_t)est_range16(x, '0', '9') << sh;
			spc |= (uint64_t)(est_range16(x, '\t', '\r') |
					  (unsigned int)_mm_movemask_epi8(
						  _mm_cmpeq_epi8(x, _mm_set1_epi8(' ')))) << sh;
		}
		if (bad)
			break;
		est_block64(st, let | up, up, dig, spc, hw);
		done += 64;
	}
	return done;
}

#ifndef TG_ESTIMATE_SWAR
__attribute__((target("popcnt")))
static size_t est_ascii64_popcnt(struct est_state *st, const char *p, size_t n)
{
	return est_ascii64_body(st, p, n, true);
}
#endif

static size_t est_ascii64_plain(struct est_state *st, const char *p, size_t n)
{
	return est_ascii64_body(st, p, n, false);
}

#ifndef TG_ESTIMATE_SWAR
/*
 * The same block with AVX-512BW: one load, and each class is a 64-bit
 * mask from a compare (a range is a subtraction and one unsigned
 * compare), where SSE2 takes four loads and four movemasks a class.
 */
__attribute__((target("avx512f,avx512bw,popcnt")))
static size_t est_ascii64_avx512(struct est_state *st, const char *p, size_t n)
{
	size_t done = 0;

	while (n - done >= 64) {
		__m512i x = _mm512_loadu_si512((const void *)(p + done));
		uint64_t let, up, dig, spc;

		if (_mm512_movepi8_mask(x) | _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('\\')))
			break;
		up = _mm512_cmple_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8('A')),
					    _mm512_set1_epi8('Z' - 'A'));
		let = up | _mm512_cmple_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8('a')),
						  _mm512_set1_epi8('z' - 'a'));
		dig = _mm512_cmple_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8('0')),
					     _mm512_set1_epi8('9' - '0'));
		spc = _mm512_cmple_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8('\t')),
					     _mm512_set1_epi8('\r' - '\t')) |
		      _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(' '));
		est_block64(st, let, up, dig, spc, true);
		done += 64;
	}
	return done;
}
#endif

/* x86-64's baseline has neither AVX-512 nor the popcnt instruction; the
 * CPU is asked (a load of what libgcc found at start-up). */
static size_t est_ascii64(struct est_state *st, const char *p, size_t n)
{
#ifdef TG_ESTIMATE_SWAR
	return est_ascii64_plain(st, p, n);
#else
	if (__builtin_cpu_supports("avx512bw"))
		return est_ascii64_avx512(st, p, n);
	return __builtin_cpu_supports("popcnt") ? est_ascii64_popcnt(st, p, n) :
						  est_ascii64_plain(st, p, n);
#endif
}
#endif

/*
 * Counts the features of p[0..n). Accepts any bytes and never reads past
 * n: each malformed UTF-8 byte or truncated sequence counts as one OTHER
 * character, a malformed JSON escape as the ASCII it is made of.
 */
static void est_count(struct est_state *st, const char *p, size_t n)
{
	uint32_t cp = 0;
	int need = 0;		/* UTF-8 continuation bytes still expected */
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch;

#if defined(__SSE2__) && !defined(TG_ESTIMATE_SCALAR)
		/* Between characters (no UTF-8 sequence open, no escape being
		 * read): whole plain chunks at once. */
		if (!need) {
			i += est_ascii64(st, p + i, n - i);
			while (n - i >= 16 && est_ascii16(st, p + i))
				i += 16;
			if (i == n)
				break;
		}
#endif
		ch = (unsigned char)p[i];

		if (need > 0) {
			if ((ch & 0xc0) == 0x80) {
				cp = cp << 6 | (ch & 0x3f);
				if (--need == 0)
					est_add(st, est_class(cp));
				continue;
			}
			need = 0;	/* truncated: the lead byte alone */
			est_add(st, EST_F_OTHER);
		}
		if (ch == '\\' && i + 1 < n) {
			unsigned char e = (unsigned char)p[i + 1];

			if (e == 'u' && i + 5 < n) {
				int h0 = est_hex((unsigned char)p[i + 2]);
				int h1 = est_hex((unsigned char)p[i + 3]);
				int h2 = est_hex((unsigned char)p[i + 4]);
				int h3 = est_hex((unsigned char)p[i + 5]);

				if ((h0 | h1 | h2 | h3) >= 0) {
					uint32_t u = (uint32_t)(h0 << 12 | h1 << 8 | h2 << 4 | h3);

					i += 5;
					/* A surrogate pair is one character: count the
					 * high half, skip the low one. */
					if (u >= 0xdc00 && u < 0xe000)
						continue;
					if (u >= 0xd800 && u < 0xdc00)
						est_add(st, EST_F_OTHER);
					else if (u < 0x80)
						est_add_ascii(st, (unsigned char)u);
					else
						est_add(st, est_class(u));
					continue;
				}
			} else if (e == 'n' || e == 't' || e == 'r') {
				i++;
				est_add(st, EST_F_SPACE);
				continue;
			} else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f') {
				i++;
				est_add(st, EST_F_PUNCT);
				continue;
			}
		}
		if (ch < 0x80) {
			est_add_ascii(st, ch);
		} else if (ch >= 0xc2 && ch < 0xe0) {
			cp = ch & 0x1f;
			need = 1;
		} else if (ch >= 0xe0 && ch < 0xf0) {
			cp = ch & 0x0f;
			need = 2;
		} else if (ch >= 0xf0 && ch < 0xf5) {
			cp = ch & 0x07;
			need = 3;
		} else {
			/* A stray continuation byte, or one that never leads
			 * (C0, C1, F5-FF): malformed, but still something. */
			est_add(st, EST_F_OTHER);
		}
	}
	if (need > 0)
		est_add(st, EST_F_OTHER);
}

uint64_t llm_estimate_tokens(const char *p, size_t n)
{
	struct est_state st = { .sum = EST_BASE, .run = EST_F_NR };

	est_count(&st, p, n);
	return (st.sum + EST_ONE - 1) / EST_ONE;
}
