// SPDX-License-Identifier: Apache-2.0
#include "core/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static const char *const json_errors[JSON_E_COUNT] = {
	[JSON_E_NONE] = "no error",
	[JSON_E_TRUNCATED] = "unexpected end of input",
	[JSON_E_TOKEN] = "invalid value",
	[JSON_E_NUMBER] = "invalid number",
	[JSON_E_LEADING_ZERO] = "number with a leading zero",
	[JSON_E_CONTROL] = "control character in string",
	[JSON_E_ESCAPE] = "invalid escape",
	[JSON_E_SURROGATE] = "unpaired surrogate escape",
	[JSON_E_UTF8] = "invalid UTF-8",
	[JSON_E_EXPECTED_KEY] = "expected a string key",
	[JSON_E_EXPECTED_COLON] = "expected ':'",
	[JSON_E_EXPECTED_COMMA] = "expected ',' or a closing bracket",
	[JSON_E_TRAILING_COMMA] = "trailing comma",
	[JSON_E_TRAILING] = "data after the value",
	[JSON_E_DUPLICATE_KEY] = "duplicate key",
	[JSON_E_DEPTH] = "nesting too deep",
	[JSON_E_TOO_MANY_KEYS] = "too many keys in open objects",
	[JSON_E_TOO_LARGE] = "input too large",
};

const char *json_strerror(enum json_err code)
{
	if ((unsigned int)code >= JSON_E_COUNT)
		return "unknown error";
	return json_errors[code];
}

/* Byte classes inside a string (RFC 8259 §7): the plain ones are skipped
 * by a table lookup each, which is what keeps a 1 KB body under 2 µs. */
enum { SC_PLAIN = 0, SC_QUOTE, SC_BSLASH, SC_CTRL, SC_HIGH };

static const uint8_t str_class[256] = {
	[0x00 ... 0x1f] = SC_CTRL,
	['"'] = SC_QUOTE,
	['\\'] = SC_BSLASH,
	[0x80 ... 0xff] = SC_HIGH,
};

/* Duplicate keys of objects up to this size are found by comparing every
 * pair; larger objects sort their keys first (O(k log k) comparisons). */
#define JSON_PAIRWISE_MAX	16

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Length of the well-formed UTF-8 character at s (RFC 3629 §4, Unicode 15
 * table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF), or
 * 0 when it is ill-formed or cut off by `end`.
 */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if ((size_t)(end - s) < need || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return need;
}

static size_t utf8_put(uint32_t cp, unsigned char *o)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Four hex digits; -1 when one is not. */
static int32_t hex4(const unsigned char *p)
{
	int32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (c | 0x20) - 'a' + 10;
		else
			return -1;
	}
	return v;
}

static bool is_high_surrogate(int32_t cp)
{
	return cp >= 0xd800 && cp <= 0xdbff;
}

static bool is_low_surrogate(int32_t cp)
{
	return cp >= 0xdc00 && cp <= 0xdfff;
}

/*
 * The decoded bytes of a string's inner text, one at a time, for comparing
 * without a buffer. `esc` false means the text is taken literally (a
 * caller's key); true means it is a validated JSON string's inner text.
 */
struct json_dec {
	const unsigned char *p, *end;
	bool esc;
	unsigned char u[4];
	unsigned int n, k;
};

static void dec_init(struct json_dec *d, const void *p, size_t len, bool esc)
{
	d->p = p;
	d->end = d->p + len;
	d->esc = esc;
	d->n = d->k = 0;
}

/* The next byte, or -1 at the end. */
static int dec_next(struct json_dec *d)
{
	int32_t cp, lo;
	unsigned char c;

	if (d->k < d->n)
		return d->u[d->k++];
	if (d->p >= d->end)
		return -1;
	c = *d->p++;
	if (!d->esc || c != '\\')
		return c;
	if (d->p >= d->end)
		return -1;
	c = *d->p++;
	switch (c) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'u': break;
	default: return c;	/* '"', '\\', '/' */
	}
	if (d->end - d->p < 4 || (cp = hex4(d->p)) < 0)
		return -1;
	d->p += 4;
	if (is_high_surrogate(cp)) {
		if (d->end - d->p < 6 || (lo = hex4(d->p + 2)) < 0)
			return -1;
		d->p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	d->n = (unsigned int)utf8_put((uint32_t)cp, d->u);
	d->k = 1;
	return d->u[0];
}

/* Two strings' inner texts compared by their decoded bytes, like memcmp. */
static int raw_cmp(const char *a, size_t alen, bool aesc,
		   const char *b, size_t blen, bool besc)
{
	struct json_dec x, y;
	int cx, cy, r;

	if (!aesc && !besc) {
		r = memcmp(a, b, alen < blen ? alen : blen);
		if (r || alen == blen)
			return r;
		return alen < blen ? -1 : 1;
	}
	dec_init(&x, a, alen, aesc);
	dec_init(&y, b, blen, besc);
	do {
		cx = dec_next(&x);
		cy = dec_next(&y);
		if (cx != cy)
			return cx < cy ? -1 : 1;
	} while (cx >= 0);
	return 0;
}

static bool raw_eq(const char *a, size_t alen, bool aesc,
		   const char *b, size_t blen, bool besc)
{
	if (!aesc && !besc)
		return alen == blen && !memcmp(a, b, alen);
	return !raw_cmp(a, alen, aesc, b, blen, besc);
}

/* ---- the scanner ----------------------------------------------------------- */

struct scan {
	const unsigned char *b;
	size_t len;
	size_t i;		/* the next byte to read */
	size_t err_at;
};

static enum json_err scan_fail(struct scan *sc, size_t at, enum json_err e)
{
	sc->err_at = at;
	return e;
}

/* Inlined: it runs between every two tokens, and compact JSON (what
 * SDKs send) usually has no space there, so the call was the cost. */
static inline __attribute__((always_inline)) void skip_ws(struct scan *sc)
{
	while (sc->i < sc->len && is_ws(sc->b[sc->i]))
		sc->i++;
}

/*
 * Whether 8 bytes are all plain string bytes (none below 0x20, '"', '\\'
 * or from 0x80 up), tested at once (the "has zero byte" and "has byte less
 * than n" tricks of Anderson's Bit Twiddling Hacks): most of a request body
 * is prompt text, and this is what keeps scanning it cheap.
 */
static bool is_plain8(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101ull;
	const uint64_t high = 0x8080808080808080ull;
	uint64_t x, q, e;

	memcpy(&x, p, sizeof(x));
	q = x ^ (ones * '"');
	e = x ^ (ones * '\\');
	return !(((x - ones * 0x20) & ~x & high) |	/* < 0x20 */
		 ((q - ones) & ~q & high) |		/* '"' */
		 ((e - ones) & ~e & high) |		/* '\\' */
		 (x & high));				/* >= 0x80 */
}

#ifdef __SSE2__
/*
 * The same test over 16 bytes: a mask with bit k set when p[k] is not a
 * plain string byte. A signed compare against 0x20 catches the control
 * bytes and, being negative, every byte from 0x80 up. Long prompts are
 * most of what a request scan reads, so twice the stride counts.
 */
static unsigned int plain16_stop(const unsigned char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i bad = _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
				   _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
						_mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));

	return (unsigned int)_mm_movemask_epi8(bad);
}
#endif

/*
 * A string at sc->i (its opening quote), to just past its closing quote.
 * With `kr`, the inner text's position and raw and decoded lengths are
 * recorded, for duplicate detection.
 */
static enum json_err scan_string(struct scan *sc, struct json_keyrec *kr,
				 uint32_t *flags)
{
	const unsigned char *b = sc->b;
	size_t len = sc->len, i = sc->i + 1, start = i, run, n;
	uint32_t dec = 0;
	unsigned char u[4];
	int32_t cp, lo;

	for (;;) {
		run = i;
#ifdef __SSE2__
		while (len - i >= 16) {
			unsigned int stop = plain16_stop(b + i);

			if (stop) {
				/* b[i] is where the run stops: straight to it,
				 * not through the 8-byte and byte loops (two
				 * dependent loads more at every string's end). */
				i += (size_t)__builtin_ctz(stop);
				goto stopped;
			}
			i += 16;
		}
#endif
		while (len - i >= 8 && is_plain8(b + i))
			i += 8;
		while (i < len && str_class[b[i]] == SC_PLAIN)
			i++;
#ifdef __SSE2__
stopped:
#endif
		dec += (uint32_t)(i - run);
		if (i >= len)
			return scan_fail(sc, len, JSON_E_TRUNCATED);
		switch (str_class[b[i]]) {
		case SC_QUOTE:
			if (kr) {
				kr->off = (uint32_t)start;
				kr->raw_len = (uint32_t)(i - start);
				kr->dec_len = dec;
			}
			sc->i = i + 1;
			return JSON_E_NONE;
		case SC_CTRL:
			return scan_fail(sc, i, JSON_E_CONTROL);
		case SC_HIGH:
			n = utf8_len(b + i, b + len);
			if (!n)
				return scan_fail(sc, i, JSON_E_UTF8);
			/* The character's bytes are its decoded bytes. */
			dec += (uint32_t)n;
			i += n;
			continue;
		default:	/* SC_BSLASH: RFC 8259 §7 escapes */
			if (len - i < 2)
				return scan_fail(sc, len, JSON_E_TRUNCATED);
			*flags |= JSON_F_ESCAPED;
			switch (b[i + 1]) {
			case '"': case '\\': case '/': case 'b':
			case 'f': case 'n': case 'r': case 't':
				n = 1;
				i += 2;
				break;
			case 'u':
				for (n = 2; n < 6 && i + n < len; n++)
					if (!is_hex(b[i + n]))
						return scan_fail(sc, i, JSON_E_ESCAPE);
				if (len - i < 6)
					return scan_fail(sc, len, JSON_E_TRUNCATED);
				cp = hex4(b + i + 2);
				if (is_low_surrogate(cp))
					return scan_fail(sc, i, JSON_E_SURROGATE);
				if (is_high_surrogate(cp)) {
					/* §7: a character outside the BMP is
					 * a high-low pair of escapes. */
					if (len - i < 12 || b[i + 6] != '\\' ||
					    b[i + 7] != 'u' ||
					    (lo = hex4(b + i + 8)) < 0 ||
					    !is_low_surrogate(lo))
						return scan_fail(sc, i,
								 JSON_E_SURROGATE);
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					     (lo - 0xdc00);
					i += 6;
				}
				i += 6;
				n = utf8_put((uint32_t)cp, u);
				break;
			default:
				return scan_fail(sc, i, JSON_E_ESCAPE);
			}
			dec += (uint32_t)n;
			continue;
		}
	}
}

/*
 * A string at sc->i whose closing quote is among its first 16 bytes, with
 * only plain bytes before it (most keys and short values), scanned
 * without calling scan_string(): the call and its register saves were
 * most of such a string's cost. false: not such a string, nothing done.
 */
#ifdef __SSE2__
static inline __attribute__((always_inline)) bool scan_short_string(struct scan *sc,
								    struct json_keyrec *kr)
{
	size_t i = sc->i + 1;
	unsigned int stop, k;

	if (sc->len - i < 16)
		return false;
	stop = plain16_stop(sc->b + i);
	if (!stop)
		return false;
	k = (unsigned int)__builtin_ctz(stop);
	if (sc->b[i + k] != '"')
		return false;
	if (kr) {
		kr->off = (uint32_t)i;
		kr->raw_len = k;
		kr->dec_len = k;
	}
	sc->i = i + k + 1;
	return true;
}
#else
static inline bool scan_short_string(struct scan *sc, struct json_keyrec *kr)
{
	(void)sc;
	(void)kr;
	return false;
}
#endif

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static enum json_err scan_number(struct scan *sc, uint32_t *flags)
{
	const unsigned char *b = sc->b;
	size_t len = sc->len, i = sc->i;

	*flags = JSON_F_INT;
	if (b[i] == '-')
		i++;
	if (i >= len)
		return scan_fail(sc, len, JSON_E_TRUNCATED);
	if (b[i] == '0') {
		i++;
		if (i < len && is_digit(b[i]))
			return scan_fail(sc, i - 1, JSON_E_LEADING_ZERO);
	} else if (is_digit(b[i])) {
		while (i < len && is_digit(b[i]))
			i++;
	} else {
		return scan_fail(sc, i, JSON_E_NUMBER);
	}
	if (i < len && b[i] == '.') {
		*flags = 0;
		i++;
		if (i >= len || !is_digit(b[i]))
			return scan_fail(sc, i, JSON_E_NUMBER);
		while (i < len && is_digit(b[i]))
			i++;
	}
	if (i < len && (b[i] | 0x20) == 'e') {
		*flags = 0;
		i++;
		if (i < len && (b[i] == '+' || b[i] == '-'))
			i++;
		if (i >= len || !is_digit(b[i]))
			return scan_fail(sc, i, JSON_E_NUMBER);
		while (i < len && is_digit(b[i]))
			i++;
	}
	sc->i = i;
	return JSON_E_NONE;
}

/* Hashing keys would let crafted collisions make a large object cost
 * O(k^2) comparisons; ordering them by content cannot be attacked. */
static int keyrec_cmp(const unsigned char *b, const struct json_keyrec *x,
		      const struct json_keyrec *y)
{
	if (x->dec_len != y->dec_len)
		return x->dec_len < y->dec_len ? -1 : 1;
	return raw_cmp((const char *)b + x->off, x->raw_len,
		       x->raw_len != x->dec_len,
		       (const char *)b + y->off, y->raw_len,
		       y->raw_len != y->dec_len);
}

static void keyrec_sift(const unsigned char *b, struct json_keyrec *k,
			size_t root, size_t n)
{
	struct json_keyrec t;
	size_t c;

	while ((c = 2 * root + 1) < n) {
		if (c + 1 < n && keyrec_cmp(b, &k[c], &k[c + 1]) < 0)
			c++;
		if (keyrec_cmp(b, &k[root], &k[c]) >= 0)
			return;
		t = k[root];
		k[root] = k[c];
		k[c] = t;
		root = c;
	}
}

/* Heapsort: in place and without allocation (glibc's qsort may malloc). */
static void keyrec_sort(const unsigned char *b, struct json_keyrec *k, size_t n)
{
	struct json_keyrec t;
	size_t i;

	for (i = n / 2; i-- > 0;)
		keyrec_sift(b, k, i, n);
	for (i = n; i-- > 1;) {
		t = k[0];
		k[0] = k[i];
		k[i] = t;
		keyrec_sift(b, k, 0, i);
	}
}

/*
 * An object's keys k[0..n), reordered. SIZE_MAX when all differ, else the
 * offset of the opening quote of a repeated key: the first repeat in the
 * text for small objects; for large ones (sorted by content, so equal keys
 * are neighbours) the later key of the first equal pair in sorted order.
 */
static size_t find_dup(const unsigned char *b, struct json_keyrec *k, size_t n)
{
	size_t best = SIZE_MAX, i, j, later;

	if (n <= JSON_PAIRWISE_MAX) {
		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
				if (!keyrec_cmp(b, &k[i], &k[j]) &&
				    k[j].off < best)
					best = k[j].off;
	} else {
		keyrec_sort(b, k, n);
		for (i = 1; i < n && best == SIZE_MAX; i++)
			if (!keyrec_cmp(b, &k[i - 1], &k[i])) {
				later = k[i].off > k[i - 1].off ?
					k[i].off : k[i - 1].off;
				best = later;
			}
	}
	return best == SIZE_MAX ? best : best - 1;
}

/*
 * One JSON text, iteratively (the depth is bounded by `depth_max` frames,
 * never by the C stack). With `doc`, the root object's members are
 * indexed. On success *root spans the value without surrounding space.
 */
static enum json_err scan_text(struct scan *sc, struct json_frame *fr,
			       uint32_t depth_max, struct json_keyrec *keys,
			       uint32_t keys_max, struct json_doc *doc,
			       struct json_value *root)
{
	const unsigned char *b = sc->b;
	size_t len = sc->len, at;
	uint32_t depth = 0, nkeys = 0, flags;
	struct json_value last = { 0 };
	struct json_frame *f;
	bool top_pending = false;
	enum json_err e;
	unsigned char c;

	skip_ws(sc);
value:
	if (sc->i >= len)
		return scan_fail(sc, len, JSON_E_TRUNCATED);
	c = b[sc->i];
	last.p = (const char *)b + sc->i;
	last.flags = 0;
	switch (c) {
	case '{':
	case '[':
		if (depth == depth_max)
			return scan_fail(sc, sc->i, JSON_E_DEPTH);
		f = &fr[depth++];
		f->start = (uint32_t)sc->i;
		f->key_base = nkeys;
		f->is_object = c == '{';
		sc->i++;
		skip_ws(sc);
		if (sc->i < len && b[sc->i] == (f->is_object ? '}' : ']'))
			goto close;
		if (f->is_object)
			goto key;
		goto value;
	case '"':
		/* Through a local: with its address taken, `last` would live
		 * in memory, and copying it out after field-by-field writes is
		 * a store-forwarding stall (a fifth of a small answer's scan). */
		flags = 0;
		if (!scan_short_string(sc, NULL)) {
			e = scan_string(sc, NULL, &flags);
			if (e)
				return e;
		}
		last.kind = JSON_K_STRING;
		last.flags = flags;
		break;
	case 't':
	case 'f':
	case 'n': {
		static const char *const lit[] = { "true", "false", "null" };
		const char *w = lit[c == 't' ? 0 : c == 'f' ? 1 : 2];
		size_t n = strlen(w);

		if (len - sc->i < n || memcmp(b + sc->i, w, n))
			return scan_fail(sc, sc->i, JSON_E_TOKEN);
		last.kind = c == 'n' ? JSON_K_NULL : JSON_K_BOOL;
		sc->i += n;
		break;
	}
	default:
		if (c != '-' && !is_digit(c))
			return scan_fail(sc, sc->i, JSON_E_TOKEN);
		e = scan_number(sc, &flags);
		if (e)
			return e;
		last.kind = JSON_K_NUMBER;
		last.flags = flags;
		break;
	}
	last.len = (size_t)((const char *)b + sc->i - last.p);
	goto after;

key:
	if (sc->i >= len)
		return scan_fail(sc, len, JSON_E_TRUNCATED);
	if (b[sc->i] != '"')
		return scan_fail(sc, sc->i, JSON_E_EXPECTED_KEY);
	if (nkeys == keys_max)
		return scan_fail(sc, sc->i, JSON_E_TOO_MANY_KEYS);
	flags = 0;
	at = sc->i;
	if (!scan_short_string(sc, &keys[nkeys])) {
		e = scan_string(sc, &keys[nkeys], &flags);
		if (e)
			return e;
	}
	nkeys++;
	if (doc && depth == 1) {
		if (doc->n_top < TG_JSON_TOP_MAX) {
			doc->top[doc->n_top].key = (struct json_value){
				.p = (const char *)b + at,
				.len = sc->i - at,
				.kind = JSON_K_STRING,
				.flags = flags,
			};
			top_pending = true;
		} else {
			doc->top_partial = true;
		}
	}
	skip_ws(sc);
	if (sc->i >= len)
		return scan_fail(sc, len, JSON_E_TRUNCATED);
	if (b[sc->i] != ':')
		return scan_fail(sc, sc->i, JSON_E_EXPECTED_COLON);
	sc->i++;
	skip_ws(sc);
	goto value;

close:
	/* sc->i is at the closing bracket of fr[depth - 1]. */
	f = &fr[depth - 1];
	if (f->is_object) {
		at = find_dup(b, keys + f->key_base, nkeys - f->key_base);
		if (at != SIZE_MAX)
			return scan_fail(sc, at, JSON_E_DUPLICATE_KEY);
		nkeys = f->key_base;
	}
	last = (struct json_value){
		.p = (const char *)b + f->start,
		.len = sc->i + 1 - f->start,
		.kind = f->is_object ? JSON_K_OBJECT : JSON_K_ARRAY,
	};
	depth--;
	sc->i++;

after:
	/* `last` is the value just completed. */
	if (!depth) {
		*root = last;
		skip_ws(sc);
		if (sc->i != len)
			return scan_fail(sc, sc->i, JSON_E_TRAILING);
		return JSON_E_NONE;
	}
	if (top_pending && depth == 1) {
		doc->top[doc->n_top++].val = last;
		top_pending = false;
	}
	skip_ws(sc);
	if (sc->i >= len)
		return scan_fail(sc, len, JSON_E_TRUNCATED);
	c = b[sc->i];
	f = &fr[depth - 1];
	if (c == ',') {
		sc->i++;
		skip_ws(sc);
		if (sc->i < len && (b[sc->i] == '}' || b[sc->i] == ']'))
			return scan_fail(sc, sc->i, JSON_E_TRAILING_COMMA);
		if (f->is_object)
			goto key;
		goto value;
	}
	if (c == (f->is_object ? '}' : ']'))
		goto close;
	return scan_fail(sc, sc->i, JSON_E_EXPECTED_COMMA);
}

int json_parse(struct json_doc *doc, const char *buf, size_t len,
	       struct json_scratch *s)
{
	struct scan sc = { .b = (const unsigned char *)buf, .len = len };
	enum json_err e;

	doc->buf = buf;
	doc->len = len;
	doc->root = (struct json_value){ 0 };
	doc->err = (struct json_error){ 0 };
	doc->n_top = 0;
	doc->top_partial = false;
	/* Offsets are kept in 32 bits; bodies are far smaller. */
	if (len > UINT32_MAX) {
		e = scan_fail(&sc, 0, JSON_E_TOO_LARGE);
	} else {
		e = scan_text(&sc, s->frames, TG_JSON_SCAN_DEPTH_MAX, s->keys,
			      TG_JSON_KEYS_MAX, doc, &doc->root);
	}
	if (e) {
		doc->root = (struct json_value){ 0 };
		doc->n_top = 0;
		doc->top_partial = false;
		doc->err.code = e;
		doc->err.offset = sc.err_at;
		return -EINVAL;
	}
	if (doc->root.kind != JSON_K_OBJECT)
		doc->n_top = 0;
	return 0;
}

/* ---- walking validated text -------------------------------------------------- */

static const char *skip_ws_p(const char *p, const char *end)
{
	while (p < end && is_ws((unsigned char)*p))
		p++;
	return p;
}

/* From an opening quote to just past the closing one. memchr does the
 * scanning: in valid JSON a quote ends the string unless an odd run of
 * backslashes is right before it. */
static const char *skip_string(const char *p, const char *end, uint32_t *flags)
{
	const char *start = p + 1, *q = start, *quote, *r;

	while ((quote = memchr(q, '"', (size_t)(end - q)))) {
		for (r = quote; r > start && r[-1] == '\\'; r--)
			;
		if (!((quote - r) & 1)) {
			if (memchr(start, '\\', (size_t)(quote - start)))
				*flags |= JSON_F_ESCAPED;
			return quote + 1;
		}
		q = quote + 1;
	}
	return end;
}

/* Bytes that matter when skipping over a container. */
static const uint8_t skip_class[256] = {
	['"'] = 1, ['{'] = 1, ['['] = 1, ['}'] = 1, [']'] = 1,
};

/* The value starting at p (validated text, so its first byte says what it
 * is); never reads at or past end. */
static const char *skip_value(const char *p, const char *end,
			      struct json_value *v)
{
	const char *q = p;
	unsigned int depth = 0;

	v->p = p;
	v->flags = 0;
	switch (*p) {
	case '"':
		v->kind = JSON_K_STRING;
		q = skip_string(p, end, &v->flags);
		break;
	case '{':
	case '[':
		v->kind = *p == '{' ? JSON_K_OBJECT : JSON_K_ARRAY;
		while (q < end) {
			uint32_t ignored = 0;

			if (!skip_class[(unsigned char)*q]) {
				q++;
				continue;
			}
			if (*q == '"') {
				q = skip_string(q, end, &ignored);
				continue;
			}
			if (*q == '{' || *q == '[') {
				depth++;
			} else if (*q == '}' || *q == ']') {
				if (--depth == 0) {
					q++;
					break;
				}
			}
			q++;
		}
		break;
	case 't':
	case 'n':
	case 'f':
		v->kind = *p == 'n' ? JSON_K_NULL : JSON_K_BOOL;
		q = p + (*p == 'f' ? 5 : 4);
		if (q > end)
			q = end;
		break;
	default:
		v->kind = JSON_K_NUMBER;
		v->flags = JSON_F_INT;
		for (; q < end; q++) {
			if (*q == '.' || *q == 'e' || *q == 'E')
				v->flags = 0;
			else if (!is_digit((unsigned char)*q) && *q != '-' &&
				 *q != '+')
				break;
		}
		break;
	}
	v->len = (size_t)(q - p);
	return q;
}

void json_iter_init(struct json_iter *it, const struct json_value *v)
{
	it->p = it->end = NULL;
	it->is_object = false;
	if ((v->kind == JSON_K_OBJECT || v->kind == JSON_K_ARRAY) &&
	    v->len >= 2) {
		it->p = v->p + 1;
		it->end = v->p + v->len - 1;
		it->is_object = v->kind == JSON_K_OBJECT;
	}
}

bool json_iter_next(struct json_iter *it, struct json_value *key,
		    struct json_value *val)
{
	struct json_value k = { 0 };
	const char *p = skip_ws_p(it->p, it->end);

	if (p >= it->end)
		return false;
	if (it->is_object) {
		p = skip_value(p, it->end, &k);
		p = skip_ws_p(p, it->end);
		if (p < it->end)
			p++;	/* ':' */
		p = skip_ws_p(p, it->end);
		if (p >= it->end)
			return false;
	}
	p = skip_value(p, it->end, val);
	p = skip_ws_p(p, it->end);
	if (p < it->end && *p == ',')
		p++;
	it->p = p;
	if (key)
		*key = k;
	return true;
}

/* ---- queries ------------------------------------------------------------------ */

static bool str_inner(const struct json_value *v, const char **p, size_t *len)
{
	if (v->kind != JSON_K_STRING || v->len < 2)
		return false;
	*p = v->p + 1;
	*len = v->len - 2;
	return true;
}

bool json_str_eq(const struct json_value *v, const char *s, size_t len)
{
	const char *p;
	size_t n;

	if (!str_inner(v, &p, &n))
		return false;
	return raw_eq(p, n, v->flags & JSON_F_ESCAPED, s, len, false);
}

ssize_t json_str_decode(const struct json_value *v, char *out, size_t cap)
{
	struct json_dec d;
	const char *p;
	size_t n, o = 0;
	int c;

	if (!str_inner(v, &p, &n))
		return -EINVAL;
	if (!(v->flags & JSON_F_ESCAPED)) {
		if (n >= cap)
			return -ENOSPC;
		memcpy(out, p, n);
		out[n] = '\0';
		return (ssize_t)n;
	}
	dec_init(&d, p, n, true);
	while ((c = dec_next(&d)) >= 0) {
		if (o + 1 >= cap)
			return -ENOSPC;
		out[o++] = (char)c;
	}
	if (o >= cap)
		return -ENOSPC;
	out[o] = '\0';
	return (ssize_t)o;
}

int json_obj_find(const struct json_value *obj, const char *key,
		  size_t key_len, struct json_value *val)
{
	struct json_value k, v;
	struct json_iter it;

	if (obj->kind != JSON_K_OBJECT)
		return -EINVAL;
	json_iter_init(&it, obj);
	while (json_iter_next(&it, &k, &v)) {
		if (json_str_eq(&k, key, key_len)) {
			*val = v;
			return 0;
		}
	}
	return -ENOENT;
}

int json_find(const struct json_doc *doc, const char *key,
	      struct json_value *val)
{
	size_t n = strlen(key);
	uint32_t i;

	if (doc->root.kind != JSON_K_OBJECT)
		return -EINVAL;
	for (i = 0; i < doc->n_top; i++) {
		if (json_str_eq(&doc->top[i].key, key, n)) {
			*val = doc->top[i].val;
			return 0;
		}
	}
	if (!doc->top_partial)
		return -ENOENT;
	return json_obj_find(&doc->root, key, n, val);
}

int json_get_int(const struct json_value *v, int64_t *out)
{
	const char *p = v->p, *end = v->p + v->len;
	bool neg = false;
	uint64_t m = 0, lim;

	if (v->kind != JSON_K_NUMBER || !(v->flags & JSON_F_INT) || !v->len)
		return -EINVAL;
	if (*p == '-') {
		neg = true;
		p++;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (p == end)
		return -EINVAL;
	for (; p < end; p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (d > 9)
			return -EINVAL;
		/* No division a digit: usage counts are read on every call. */
		if (__builtin_mul_overflow(m, 10, &m) || __builtin_add_overflow(m, d, &m) ||
		    m > lim)
			return -ERANGE;
	}
	/* -(2^63) is the one magnitude that has no positive int64_t. */
	*out = neg ? (int64_t)(0 - m) : (int64_t)m;
	return 0;
}

int json_get_double(const struct json_value *v, double *out)
{
	char tmp[TG_JSON_NUMBER_MAX + 1];
	char *end;
	double d;

	if (v->kind != JSON_K_NUMBER || !v->len)
		return -EINVAL;
	if (v->len > TG_JSON_NUMBER_MAX)
		return -ERANGE;
	/* strtod needs a terminator the request buffer does not have. */
	memcpy(tmp, v->p, v->len);
	tmp[v->len] = '\0';
	errno = 0;
	d = strtod(tmp, &end);
	if (end != tmp + v->len)
		return -EINVAL;
	/* Underflow to zero or a subnormal is a fine answer; overflow is not. */
	if (errno == ERANGE && isinf(d))
		return -ERANGE;
	*out = d;
	return 0;
}

int json_get_bool(const struct json_value *v, bool *out)
{
	if (v->kind != JSON_K_BOOL || !v->len)
		return -EINVAL;
	*out = v->p[0] == 't';
	return 0;
}

/* ---- the rewriter ------------------------------------------------------------- */

struct wbuf {
	char *p;
	size_t cap, len;
	bool full;		/* something did not fit: only counting now */
};

static void put(struct wbuf *w, const void *s, size_t n)
{
	if (!w->full) {
		if (n <= w->cap - w->len)
			memcpy(w->p + w->len, s, n);
		else
			w->full = true;
	}
	w->len += n;
}

/* An edit ready to apply: its key as a string's inner text. */
struct redit {
	const char *kp;
	size_t klen;
	bool kesc;		/* kp holds JSON escapes */
	bool kquoted;		/* kp[-1] and kp[klen] are its quotes */
	enum json_edit_op op;
	struct json_value val;	/* JSON text, or with plain a string's content */
	bool plain;
	bool done;
};

static void put_value(struct wbuf *w, const struct redit *e)
{
	if (e->plain)
		put(w, "\"", 1);
	put(w, e->val.p, e->val.len);
	if (e->plain)
		put(w, "\"", 1);
}

static struct redit *match_edit(struct redit *ed, size_t n,
				const struct json_value *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (raw_eq(key->p + 1, key->len - 2,
			   key->flags & JSON_F_ESCAPED,
			   ed[i].kp, ed[i].klen, ed[i].kesc))
			return &ed[i];
	return NULL;
}

/* A MERGE value's members as SET edits. -EINVAL past TG_JSON_EDITS_MAX. */
static int merge_edits(const struct json_value *obj, struct redit *sub,
		       size_t *n)
{
	struct json_value k, v;
	struct json_iter it;

	*n = 0;
	json_iter_init(&it, obj);
	while (json_iter_next(&it, &k, &v)) {
		if (*n == TG_JSON_EDITS_MAX)
			return -EINVAL;
		sub[(*n)++] = (struct redit){
			.kp = k.p + 1,
			.klen = k.len - 2,
			.kesc = k.flags & JSON_F_ESCAPED,
			.kquoted = true,
			.op = JSON_EDIT_SET,
			.val = v,
		};
	}
	return 0;
}

/*
 * The object `obj` with the edits applied. Each member is copied as the
 * text from just after the '{' or ',' before it up to the ',' or '}' after
 * it, so the space around it is kept; a member whose value is replaced
 * keeps the text around the value.
 */
static void rewrite_object(struct wbuf *w, const struct json_value *obj,
			   const struct json_member *top, uint32_t n_top,
			   struct redit *ed, size_t n)
{
	const char *seg = obj->p + 1, *close = obj->p + obj->len - 1, *q;
	struct redit sub[TG_JSON_EDITS_MAX], *e;
	struct json_value k, v;
	struct json_iter it;
	bool first = true;
	size_t n_sub, i;
	uint32_t t = 0;

	put(w, "{", 1);
	json_iter_init(&it, obj);
	/* The root's members come from json_parse()'s index when it has
	 * them all, so large values are not walked over again. */
	while (top ? t < n_top : json_iter_next(&it, &k, &v)) {
		if (top) {
			k = top[t].key;
			v = top[t++].val;
		}
		q = skip_ws_p(v.p + v.len, close);
		e = match_edit(ed, n, &k);
		if (e)
			e->done = true;
		if (e && e->op == JSON_EDIT_REMOVE) {
			seg = q + 1;
			continue;
		}
		if (!first)
			put(w, ",", 1);
		first = false;
		if (!e) {
			put(w, seg, (size_t)(q - seg));
			seg = q + 1;
			continue;
		}
		put(w, seg, (size_t)(v.p - seg));
		/* Sizes were checked by json_rewrite(). */
		if (e->op == JSON_EDIT_MERGE && v.kind == JSON_K_OBJECT &&
		    !merge_edits(&e->val, sub, &n_sub))
			rewrite_object(w, &v, NULL, 0, sub, n_sub);
		else
			put_value(w, e);
		put(w, v.p + v.len, (size_t)(q - (v.p + v.len)));
		seg = q + 1;
	}
	for (i = 0; i < n; i++) {
		e = &ed[i];
		if (e->done || e->op == JSON_EDIT_REMOVE)
			continue;
		if (!first)
			put(w, ",", 1);
		first = false;
		if (e->kquoted) {
			put(w, e->kp - 1, e->klen + 2);
		} else {
			put(w, "\"", 1);
			put(w, e->kp, e->klen);
			put(w, "\"", 1);
		}
		put(w, ":", 1);
		put_value(w, e);
	}
	put(w, "}", 1);
}

/* A string that can go between quotes as it is: valid UTF-8, no '"',
 * '\\' or control characters. */
static bool is_plain_string(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t n;

	while (p < end) {
		switch (str_class[*p]) {
		case SC_PLAIN:
			p++;
			break;
		case SC_HIGH:
			n = utf8_len(p, end);
			if (!n)
				return false;
			p += n;
			break;
		default:
			return false;
		}
	}
	return true;
}

static int prepare_edit(const struct json_edit *in, struct redit *e)
{
	/* Edit values are small JSON written by the program. */
	struct json_frame frames[TG_JSON_SCAN_DEPTH_MAX];
	struct json_keyrec keys[TG_JSON_EDIT_KEYS_MAX];
	struct scan sc;
	const char *k;
	size_t n;

	if (!in->key)
		return -EINVAL;
	for (k = in->key; *k; k++)
		if (*k < 0x20 || *k > 0x7e || *k == '"' || *k == '\\')
			return -EINVAL;
	*e = (struct redit){
		.kp = in->key,
		.klen = (size_t)(k - in->key),
		.op = in->op,
	};
	if (in->op == JSON_EDIT_REMOVE)
		return 0;
	if (in->op != JSON_EDIT_SET && in->op != JSON_EDIT_MERGE)
		return -EINVAL;
	if (!in->value && in->value_len)
		return -EINVAL;
	if (in->is_string) {
		if (in->op != JSON_EDIT_SET ||
		    !is_plain_string(in->value, in->value_len))
			return -EINVAL;
		e->val = (struct json_value){
			.p = in->value,
			.len = in->value_len,
			.kind = JSON_K_STRING,
		};
		e->plain = true;
		return 0;
	}
	if (in->value_len > UINT32_MAX)
		return -EINVAL;
	sc = (struct scan){ .b = (const unsigned char *)in->value,
			    .len = in->value_len };
	if (scan_text(&sc, frames, TG_JSON_SCAN_DEPTH_MAX, keys,
		      TG_JSON_EDIT_KEYS_MAX, NULL, &e->val))
		return -EINVAL;
	if (in->op == JSON_EDIT_MERGE) {
		struct redit sub[TG_JSON_EDITS_MAX];

		if (e->val.kind != JSON_K_OBJECT ||
		    merge_edits(&e->val, sub, &n))
			return -EINVAL;
	}
	return 0;
}

int json_rewrite(const struct json_doc *doc, const struct json_edit *edits,
		 size_t n_edits, char *out, size_t cap, size_t *out_len)
{
	struct redit ed[TG_JSON_EDITS_MAX];
	struct wbuf w = { .p = out, .cap = cap };
	size_t i, j;
	int err;

	if (doc->root.kind != JSON_K_OBJECT || n_edits > TG_JSON_EDITS_MAX)
		return -EINVAL;
	for (i = 0; i < n_edits; i++) {
		err = prepare_edit(&edits[i], &ed[i]);
		if (err)
			return err;
		for (j = 0; j < i; j++)
			if (!strcmp(edits[i].key, edits[j].key))
				return -EINVAL;
	}
	rewrite_object(&w, &doc->root, doc->top_partial ? NULL : doc->top,
		       doc->n_top, ed, n_edits);
	*out_len = w.len;
	return w.full ? -ENOSPC : 0;
}
