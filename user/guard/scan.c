// SPDX-License-Identifier: Apache-2.0
/*
 * The hand-written detectors: digit-led PII (payment cards, US SSNs, phone
 * numbers, IBANs, IPv4), emails (anchored on '@'), IPv6 (anchored on ':')
 * and the secrets whose literal prefix Hyperscan found. The exact rules and
 * the near-misses each one rejects are in docs/guard.md.
 *
 * The main loop looks at 16 bytes at a time for a digit, '@' or ':' and
 * jumps to the first; text with none of them costs a compare and a
 * movemask per 16 bytes. Candidates need a word boundary on the left, so a
 * run of digits is handled once, at its first digit.
 */
#include "guard/scan.h"

#include <arpa/inet.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "tollgate/limits.h"

/* ---- characters ---------------------------------------------------------------------- */

static inline bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_upper(int c)
{
	return c >= 'A' && c <= 'Z';
}

static inline bool is_alpha(int c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static inline bool is_alnum(int c)
{
	return is_digit(c) || is_alpha(c);
}

static inline bool is_word(int c)
{
	return is_alnum(c) || c == '_';
}

static inline bool is_hex(int c)
{
	return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* The byte before i, or -1 at the start (the start is a boundary). */
static inline int before(const struct gscan *s, size_t i)
{
	return i ? s->p[i - 1] : -1;
}

/* ---- checksums ----------------------------------------------------------------------- */

bool gscan_luhn(const char *d, size_t n)
{
	unsigned int sum = 0, i;
	bool dbl = false;

	for (i = (unsigned int)n; i-- > 0; dbl = !dbl) {
		unsigned int v = (unsigned int)(d[i] - '0');

		if (dbl) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

/* ISO 13616 lengths by country (SWIFT IBAN registry). */
static const struct {
	char cc[3];
	uint8_t len;
} iban_lens[] = {
	{ "AD", 24 }, { "AE", 23 }, { "AL", 28 }, { "AT", 20 }, { "AZ", 28 }, { "BA", 20 },
	{ "BE", 16 }, { "BG", 22 }, { "BH", 22 }, { "BR", 29 }, { "CH", 21 }, { "CR", 22 },
	{ "CY", 28 }, { "CZ", 24 }, { "DE", 22 }, { "DK", 18 }, { "DO", 28 }, { "EE", 20 },
	{ "EG", 29 }, { "ES", 24 }, { "FI", 18 }, { "FO", 18 }, { "FR", 27 }, { "GB", 22 },
	{ "GE", 22 }, { "GI", 23 }, { "GL", 18 }, { "GR", 27 }, { "GT", 28 }, { "HR", 21 },
	{ "HU", 28 }, { "IE", 22 }, { "IL", 23 }, { "IQ", 23 }, { "IS", 26 }, { "IT", 27 },
	{ "JO", 30 }, { "KW", 30 }, { "KZ", 20 }, { "LB", 28 }, { "LC", 32 }, { "LI", 21 },
	{ "LT", 20 }, { "LU", 20 }, { "LV", 21 }, { "MC", 27 }, { "MD", 24 }, { "ME", 22 },
	{ "MK", 19 }, { "MR", 27 }, { "MT", 31 }, { "MU", 30 }, { "NL", 18 }, { "NO", 15 },
	{ "PK", 24 }, { "PL", 28 }, { "PS", 29 }, { "PT", 25 }, { "QA", 29 }, { "RO", 24 },
	{ "RS", 22 }, { "SA", 24 }, { "SC", 31 }, { "SE", 24 }, { "SI", 19 }, { "SK", 24 },
	{ "SM", 27 }, { "TL", 23 }, { "TN", 24 }, { "TR", 26 }, { "UA", 29 }, { "VA", 22 },
	{ "VG", 24 }, { "XK", 20 },
};

int gscan_iban_len(const char *cc)
{
	size_t i;

	for (i = 0; i < sizeof(iban_lens) / sizeof(iban_lens[0]); i++)
		if (iban_lens[i].cc[0] == cc[0] && iban_lens[i].cc[1] == cc[1])
			return iban_lens[i].len;
	return 0;
}

/* ISO 7064 MOD 97-10: the first four characters moved to the end, letters
 * as 10..35, the number mod 97 must be 1. */
bool gscan_iban_ok(const char *s, size_t n)
{
	unsigned int mod = 0;
	size_t i, k;

	if (n < 5)
		return false;
	for (k = 0; k < n; k++) {
		int c = s[(k + 4) % n];

		if (is_digit(c)) {
			mod = (mod * 10 + (unsigned int)(c - '0')) % 97;
		} else if (is_upper(c)) {
			i = (size_t)(c - 'A' + 10);
			mod = (mod * 100 + (unsigned int)i) % 97;
		} else {
			return false;
		}
	}
	return mod == 1;
}

/* ---- digit-led candidates ------------------------------------------------------------ */

/* Reads a run of digits at i into d (at most cap-*n more), returns its
 * length; the run stops at the first non-digit. A run longer than what
 * fits returns cap+1 to say "too long". */
static size_t digit_run(struct gscan *s, size_t i, char *d, size_t *n, size_t cap)
{
	size_t k = 0;
	int c;

	while (is_digit(c = gscan_peek(s, i + k))) {
		if (*n >= cap)
			return cap + 1;
		d[(*n)++] = (char)c;
		k++;
	}
	return k;
}

/* True when what follows i ends a token: not a letter or digit, and not a
 * separator followed by a digit (the token would go on). */
static bool ends_token(struct gscan *s, size_t i)
{
	int c = gscan_peek(s, i);

	if (c < 0)
		return true;
	if (is_word(c))
		return false;
	if (c == '.' || c == '-' || c == '/')
		return !is_digit(gscan_peek(s, i + 1));
	return true;
}

/* "v1.2.3.4", "version 1.2.3.4", "ver. 1.2.3.4": a version, not an address. */
static bool after_version_word(const struct gscan *s, size_t i)
{
	static const char *const words[] = { "version", "ver.", "ver", "release", "v", NULL };
	size_t j = i, k, wl;

	/* One ' ' or ':' or both ("version: 1.2.3.4"). */
	while (j > 0 && j + 2 >= i && (s->p[j - 1] == ' ' || s->p[j - 1] == ':'))
		j--;
	for (k = 0; words[k]; k++) {
		wl = strlen(words[k]);
		if (j < wl || strncasecmp((const char *)s->p + j - wl, words[k], wl))
			continue;
		if (j == wl || !is_alpha(s->p[j - wl - 1]))
			return true;
	}
	return false;
}

/* Dotted quad, each octet 0-255 without leading zeros; not part of a
 * longer dotted number. Returns the end or 0. */
static size_t try_ipv4(struct gscan *s, size_t i)
{
	size_t j = i;
	int part, c;

	for (part = 0; part < 4; part++) {
		unsigned int v = 0, nd = 0;

		if (part) {
			if (gscan_peek(s, j) != '.')
				return 0;
			j++;
		}
		while (is_digit(c = gscan_peek(s, j))) {
			if (++nd > 3)
				return 0;
			v = v * 10 + (unsigned int)(c - '0');
			j++;
		}
		if (!nd || v > 255 || (nd > 1 && s->p[j - nd] == '0'))
			return 0;
	}
	c = gscan_peek(s, j);
	if (is_word(c))
		return 0;
	if (c == '.' && is_digit(gscan_peek(s, j + 1)))
		return 0;	/* 1.2.3.4.5: a version or an OID */
	if (after_version_word(s, i))
		return 0;
	return j;
}

/* ddd-dd-dddd or ddd dd dddd (one separator throughout). SSA rules: no
 * area 000, 666 or 9xx, no group 00, no serial 0000. */
static size_t try_ssn(struct gscan *s, size_t i)
{
	static const uint8_t groups[3] = { 3, 2, 4 };
	char d[9];
	size_t j = i, n = 0, g;
	int sep = 0, c;

	for (g = 0; g < 3; g++) {
		if (g) {
			c = gscan_peek(s, j);
			if ((c != '-' && c != ' ') || (sep && c != sep))
				return 0;
			sep = c;
			j++;
		}
		if (digit_run(s, j, d, &n, 9) != groups[g])
			return 0;
		j += groups[g];
	}
	if (!ends_token(s, j))
		return 0;
	if (!memcmp(d, "000", 3) || !memcmp(d, "666", 3) || d[0] == '9' ||
	    !memcmp(d + 3, "00", 2) || !memcmp(d + 5, "0000", 4))
		return 0;
	return j;
}

/* Issuer prefixes of the card networks that use 13-19 digits. */
static bool card_iin_ok(const char *d, size_t n)
{
	unsigned int p2 = (unsigned int)(d[0] - '0') * 10 + (unsigned int)(d[1] - '0');
	unsigned int p4 = p2 * 100 + (unsigned int)(d[2] - '0') * 10 + (unsigned int)(d[3] - '0');
	unsigned int p3 = p4 / 10;

	if (d[0] == '4')
		return n == 13 || n == 16 || n == 19;			/* Visa */
	if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
		return n == 16;						/* Mastercard */
	if (p2 == 34 || p2 == 37)
		return n == 15;						/* Amex */
	if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649))
		return n >= 16;						/* Discover */
	if (p4 >= 3528 && p4 <= 3589)
		return n >= 16;						/* JCB */
	if (p2 == 36 || p2 == 38 || p2 == 39 || (p3 >= 300 && p3 <= 305))
		return n >= 14;						/* Diners */
	if (p2 == 62)
		return n >= 16;						/* UnionPay */
	if (p4 == 5018 || p4 == 5020 || p4 == 5038 || p4 == 6304 || p2 == 67)
		return n >= 12;						/* Maestro */
	return false;
}

/* 13-19 digits, either unbroken or in groups of 3-6 split by one ' ' or
 * '-' (the same throughout); Luhn-valid with a card network's prefix. The
 * longest valid prefix made of whole groups wins, so a card followed by
 * "2027" (an expiry) is still found. */
static size_t try_card(struct gscan *s, size_t i)
{
	char d[20];
	size_t j = i, n = 0, k, ends[20], counts[20], ng = 0;
	int sep = 0, c;

	for (;;) {
		k = digit_run(s, j, d, &n, 19);
		if (k > 19 || (sep && (k < 3 || k > 6)))
			return 0;
		j += k;
		ends[ng] = j;
		counts[ng++] = n;
		c = gscan_peek(s, j);
		if (ng >= 19 || (c != ' ' && c != '-') || (sep && c != sep) ||
		    !is_digit(gscan_peek(s, j + 1)))
			break;
		if (!sep && (k < 3 || k > 6))
			return 0;
		sep = c;
		j++;
	}
	if (is_word(gscan_peek(s, ends[ng - 1])))
		return 0;
	while (ng > 0) {
		ng--;
		n = counts[ng];
		if (n >= 13 && n <= 19 && card_iin_ok(d, n) && gscan_luhn(d, n))
			return ends[ng];
		if (!sep)
			break;
	}
	return 0;
}

/* Digit groups after a '+' country code or a trunk '0': single ' ', '-',
 * '.' between groups, "(0)" or "(20)" allowed. Returns the end; *nd gets
 * the digit count, *ng the group count, *maxg the longest group. */
static size_t phone_groups(struct gscan *s, size_t j, unsigned int *nd, unsigned int *ng,
			   unsigned int *maxg, unsigned int *ming)
{
	size_t last = j;
	int c;

	*nd = *ng = *maxg = 0;
	*ming = 99;
	for (;;) {
		unsigned int k = 0;
		bool paren = false;

		c = gscan_peek(s, j);
		if (c == '(') {
			paren = true;
			j++;
		}
		while (is_digit(gscan_peek(s, j))) {
			k++;
			j++;
		}
		if (!k || k > 12 || (paren && gscan_peek(s, j++) != ')'))
			return *ng ? last : 0;
		*nd += k;
		(*ng)++;
		if (k > *maxg)
			*maxg = k;
		if (k < *ming)
			*ming = k;
		last = j;
		if (*nd > 15)
			return 0;
		c = gscan_peek(s, j);
		if (c == ' ' || c == '-' || c == '.') {
			int c2 = gscan_peek(s, j + 1);

			if (is_digit(c2) || c2 == '(') {
				j++;
				continue;
			}
		} else if (paren || c == '(') {
			if (c == '(' || is_digit(c))
				continue;
		}
		return last;
	}
}

/* NANP: (NXX) NXX-XXXX, NXX-NXX-XXXX, NXX.NXX.XXXX, NXX NXX XXXX, with an
 * optional leading "1-"/"1 ". */
static size_t try_nanp(struct gscan *s, size_t i)
{
	char d[16];
	size_t j = i, n = 0;
	int sep = 0, c;
	bool paren = false;

	if (gscan_peek(s, j) == '1' && (gscan_peek(s, j + 1) == '-' || gscan_peek(s, j + 1) == ' ') &&
	    (is_digit(gscan_peek(s, j + 2)) || gscan_peek(s, j + 2) == '('))
		j += 2;
	if (gscan_peek(s, j) == '(') {
		paren = true;
		j++;
	}
	if (digit_run(s, j, d, &n, 3) != 3)
		return 0;
	j += 3;
	if (paren) {
		if (gscan_peek(s, j++) != ')')
			return 0;
		if (gscan_peek(s, j) == ' ')
			j++;
	} else {
		sep = gscan_peek(s, j);
		if (sep != '-' && sep != '.' && sep != ' ')
			return 0;
		j++;
	}
	if (digit_run(s, j, d, &n, 6) != 3)
		return 0;
	j += 3;
	c = gscan_peek(s, j);
	if (paren ? (c != '-' && c != '.' && c != ' ') : c != sep)
		return 0;
	j++;
	if (digit_run(s, j, d, &n, 10) != 4)
		return 0;
	j += 4;
	if (d[0] < '2' || d[3] < '2' || !ends_token(s, j))
		return 0;
	return j;
}

/* International: '+' and 8-15 digits (E.164), or a trunk '0' and 10-11
 * digits in 3+ groups of 2-5, or "00" and 11-15 digits. */
static size_t try_intl(struct gscan *s, size_t i)
{
	unsigned int nd, ng, maxg, ming;
	size_t j, first;
	int c = s->p[i];

	if (c == '+') {
		if (!is_digit(gscan_peek(s, i + 1)) || gscan_peek(s, i + 1) == '0')
			return 0;
		j = phone_groups(s, i + 1, &nd, &ng, &maxg, &ming);
		if (!j || nd < 8 || nd > 15 || !ends_token(s, j))
			return 0;
		return j;
	}
	if (c != '0')
		return 0;
	j = phone_groups(s, i, &nd, &ng, &maxg, &ming);
	/* Groups of 2-6: "0-306-40615-2" is an ISBN. */
	if (!j || !ends_token(s, j) || maxg > 6 || ming < 2)
		return 0;
	if (gscan_peek(s, i + 1) == '0')
		return nd >= 11 && nd <= 15 && ng >= 3 ? j : 0;
	for (first = 0; is_digit(s->p[i + first]); first++)
		;
	/* Three groups or more ("020 7946 0958"), or the UK mobile form
	 * "07700 900123". */
	if (ng == 2 && first >= 4 && nd == 11)
		return j;
	return nd >= 10 && nd <= 11 && ng >= 3 ? j : 0;
}

/* Two capital letters, two check digits, the rest alphanumeric; compact or
 * in groups of four split by single spaces; the country's length;
 * MOD 97-10. i is the first letter. */
static size_t try_iban(struct gscan *s, size_t i)
{
	char buf[34];
	size_t j = i, n = 0;
	int want = gscan_iban_len((const char *)s->p + i), c;

	if (!want)
		return 0;
	while ((int)n < want) {
		c = gscan_peek(s, j);
		if (is_digit(c) || is_upper(c)) {
			buf[n++] = (char)c;
			j++;
		} else if (c == ' ' && n % 4 == 0 && n && (is_digit(gscan_peek(s, j + 1)) ||
							     is_upper(gscan_peek(s, j + 1)))) {
			j++;
		} else {
			return 0;
		}
	}
	if (is_word(gscan_peek(s, j)))
		return 0;
	return gscan_iban_ok(buf, n) ? j : 0;
}

/*
 * Whether the digit run [i, e), not preceded by a letter or digit, may
 * start a digit-led form. Most numbers in text ("12 ms", "2024", "3.5%",
 * "2024-01-15" after its first group) cannot: every form begins with a run
 * of 1-6 digits followed by '.', '-' or ' ' and another digit (or '('), or
 * is a run of 13+ (a card), or starts with the trunk '0' or after '+' /
 * '('; and a run right after a separator that follows digits is the
 * inside of a longer number.
 */
static inline bool run_may_start(const struct gscan *s, size_t i, size_t e)
{
	int b = i ? s->p[i - 1] : -1, b2 = i >= 2 ? s->p[i - 2] : -1, nx;

	if ((b == '.' || b == '-' || b == '/' || b == ':' || b == ',') && is_digit(b2))
		return false;
	/* The later groups of a spaced number after a group of 2+ digits
	 * ("5132 0237 5675" of an IBAN that failed its checksum is no phone
	 * number). */
	if (b == ' ' && is_digit(b2) && i >= 3 && is_digit(s->p[i - 3]))
		return false;
	if (b == '+' || b == '(' || s->p[i] == '0' || e - i >= 13)
		return true;
	if (e + 1 >= s->len)
		return !s->final;	/* the run may go on */
	nx = s->p[e];
	return e - i <= 6 && (nx == '.' || nx == '-' || nx == ' ') &&
	       (is_digit(s->p[e + 1]) || s->p[e + 1] == '(');
}

/* The first digit of a run at i (its left neighbour checked by the caller).
 * Returns where scanning resumes. */
static size_t digit_candidate(struct gscan *s, size_t i)
{
	int b = before(s, i), b2 = i >= 2 ? s->p[i - 2] : -1, nx;
	size_t start = i, end = 0, k = 1;
	enum guard_type t = GUARD_T_COUNT;

	s->starved = false;
	if (b == '+' || b == '(')
		start = i - 1;
	if ((s->types & (1u << GUARD_T_IBAN)) && i >= 2 && is_upper(b) && is_upper(b2) &&
	    !is_word(i >= 3 ? s->p[i - 3] : -1)) {
		start = i - 2;
		if ((end = try_iban(s, start)))
			t = GUARD_T_IBAN;
		goto out;
	}
	if (is_word(b))
		return i;
	if (start != i && is_word(start ? s->p[start - 1] : -1))
		return i;

	if (b == '+') {
		if ((s->types & (1u << GUARD_T_PHONE)) && (end = try_intl(s, start)))
			t = GUARD_T_PHONE;
		goto out;
	}
	if (b == '(') {
		if ((s->types & (1u << GUARD_T_PHONE)) && (end = try_nanp(s, start)))
			t = GUARD_T_PHONE;
		goto out;
	}
	/* Each form only where its first group fits (k digits, then nx). */
	while (i + k < s->len && is_digit(s->p[i + k]))
		k++;
	nx = gscan_peek(s, i + k);
	if ((s->types & (1u << GUARD_T_IP)) && k <= 3 && nx == '.' && (end = try_ipv4(s, i)))
		t = GUARD_T_IP;
	else if ((s->types & (1u << GUARD_T_SSN)) && k == 3 && nx != '.' && (end = try_ssn(s, i)))
		t = GUARD_T_SSN;
	else if ((s->types & (1u << GUARD_T_CARD)) && (k >= 13 || (k >= 3 && nx != '.')) &&
		 (end = try_card(s, i)))
		t = GUARD_T_CARD;
	else if ((s->types & (1u << GUARD_T_PHONE)) &&
		 (((k == 3 || (k == 1 && s->p[i] == '1')) && (end = try_nanp(s, i))) ||
		  (s->p[i] == '0' && (end = try_intl(s, i)))))
		t = GUARD_T_PHONE;
out:
	if (s->starved) {
		gscan_hold(s, start);
		return i;
	}
	if (t == GUARD_T_COUNT)
		return i;
	gscan_add(s, start, end, t, 0);
	return end;
}

/* ---- email and IPv6 ------------------------------------------------------------------ */

static inline bool is_local(int c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* local@domain.tld (RFC 5321 lengths: local part <= 64, domain <= 253),
 * dot-atom local part, LDH labels, an alphabetic TLD of 2+. */
static size_t email_candidate(struct gscan *s, size_t at)
{
	size_t a = at, j = at + 1, label = 0, lastdot = 0, dots = 0, k;
	int c;

	while (a > 0 && is_local(s->p[a - 1]) && at - a <= 64)
		a--;
	if (at - a > 64)
		return at + 1;
	while (a < at && s->p[a] == '.')
		a++;
	if (a == at || s->p[at - 1] == '.')
		return at + 1;
	/* "https://user@host": URL credentials, not an address. */
	if (a > 0 && s->p[a - 1] == '/')
		return at + 1;

	s->starved = false;
	for (;;) {
		c = gscan_peek(s, j);
		if (is_alnum(c) || c == '-') {
			if (++label > 63)
				goto reject;
		} else if (c == '.' && label && s->p[j - 1] != '-' &&
			   (is_alnum(gscan_peek(s, j + 1)))) {
			label = 0;
			lastdot = j;
			dots++;
		} else {
			break;
		}
		if (j - at > 253)
			goto reject;
		j++;
	}
	if (s->starved) {
		gscan_hold(s, a);
		return at + 1;
	}
	while (j > at + 1 && s->p[j - 1] == '-')
		j--;
	if (!dots || lastdot >= j || j - lastdot - 1 < 2)
		return at + 1;
	for (k = lastdot + 1; k < j; k++)
		if (!is_alpha(s->p[k]))
			return at + 1;
	if (is_word(gscan_peek(s, j)) || s->starved) {
		if (s->starved)
			gscan_hold(s, a);
		return at + 1;
	}
	gscan_add(s, a, j, GUARD_T_EMAIL, 0);
	return j;
reject:
	return at + 1;
}

static inline bool is_v6(int c)
{
	return is_hex(c) || c == ':' || c == '.';
}

/* The run of hex digits, ':' and '.' around a ':', with 2+ colons, that
 * inet_pton() accepts as IPv6 (RFC 4291 §2.2 text forms). */
static size_t ipv6_candidate(struct gscan *s, size_t colon)
{
	char buf[64];
	size_t a = colon, j = colon, n, k, colons = 0, run = 0, longest = 0;
	struct in6_addr addr;

	while (a > 0 && is_v6(s->p[a - 1]) && colon - a < 46)
		a--;
	if (is_word(before(s, a)) || colon - a >= 46)
		return colon + 1;
	s->starved = false;
	while (is_v6(gscan_peek(s, j)) && j - a < 46)
		j++;
	if (s->starved) {
		gscan_hold(s, a);
		return colon + 1;
	}
	if (j - a >= 46 || is_word(gscan_peek(s, j)))
		return j;
	while (j > a && s->p[j - 1] == '.')
		j--;
	n = j - a;
	for (k = 0; k < n; k++) {
		if (s->p[a + k] == ':') {
			colons++;
			run = 0;
		} else if (++run > longest) {
			longest = run;
		}
	}
	/* "a::b" and "ab::cd" read as code or text: a group of 3+ hex digits,
	 * or a leading "::" (::1, ::ffff:10.0.0.1), is required. */
	if (colons < 2 || (longest < 3 && (n < 3 || s->p[a] != ':' || s->p[a + 1] != ':')))
		return j;
	memcpy(buf, s->p + a, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, &addr) != 1)
		return j;
	gscan_add(s, a, j, GUARD_T_IP, 0);
	return j;
}

/* ---- the loop ------------------------------------------------------------------------ */

/* Index of the next digit, '@' or ':' at or after i, or len. */
static size_t next_interesting(const unsigned char *p, size_t i, size_t len)
{
#if defined(__SSE2__)
	const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
	const __m128i at = _mm_set1_epi8('@'), colon = _mm_set1_epi8(':');

	while (i + 16 <= len) {
		__m128i v = _mm_loadu_si128((const __m128i *)(p + i));
		__m128i t = _mm_sub_epi8(v, zero);
		__m128i dig = _mm_cmpeq_epi8(_mm_min_epu8(t, nine), t);
		__m128i m = _mm_or_si128(dig, _mm_or_si128(_mm_cmpeq_epi8(v, at),
							  _mm_cmpeq_epi8(v, colon)));
		unsigned int bits = (unsigned int)_mm_movemask_epi8(m);

		if (bits)
			return i + (size_t)__builtin_ctz(bits);
		i += 16;
	}
#endif
	for (; i < len; i++)
		if (is_digit(p[i]) || p[i] == '@' || p[i] == ':')
			return i;
	return len;
}

void gscan_pii(struct gscan *s)
{
	const uint32_t digit_types = (1u << GUARD_T_CARD) | (1u << GUARD_T_SSN) |
				     (1u << GUARD_T_PHONE) | (1u << GUARD_T_IBAN) |
				     (1u << GUARD_T_IP);
	bool want_digits = s->types & digit_types, want_email = s->types & (1u << GUARD_T_EMAIL);
	bool want_ip = s->types & (1u << GUARD_T_IP), want_iban = s->types & (1u << GUARD_T_IBAN);
	size_t i = 0, next;

	while ((i = next_interesting(s->p, i, s->len)) < s->len) {
		int c = s->p[i];

		if (c == '@') {
			i = want_email ? email_candidate(s, i) : i + 1;
		} else if (c == ':') {
			i = want_ip ? ipv6_candidate(s, i) : i + 1;
		} else {
			int b = i ? s->p[i - 1] : -1;
			size_t e = i + 1;

			while (e < s->len && is_digit(s->p[e]))
				e++;
			/* The common dead ends, decided here without a call: a
			 * digit inside a word ("Q3", "sha256") unless two
			 * capitals before it may start an IBAN, and a run that
			 * can start nothing (see run_may_start()). */
			if (is_word(b) ? !(want_iban && is_upper(b)) : !run_may_start(s, i, e)) {
				i = e;
				continue;
			}
			next = want_digits ? digit_candidate(s, i) : i;
			/* Else past the rest of the run: its digits are not starts. */
			i = next > i ? next : e;
		}
	}
}

/* ---- secrets ------------------------------------------------------------------------- */

enum secret_kind {
	SK_OPENAI = 0,		/* sk-, sk-proj- */
	SK_ANTHROPIC,		/* sk-ant- */
	SK_AWS,			/* AKIA, ASIA */
	SK_GITHUB,		/* ghp_ gho_ ghs_ ghu_ ghr_ */
	SK_GITHUB_PAT,		/* github_pat_ */
	SK_SLACK,		/* xoxa- xoxb- xoxp- xoxr- xoxs- */
	SK_GOOGLE,		/* AIza */
	SK_PEM,			/* -----BEGIN ... PRIVATE KEY----- */
	SK_JWT,			/* eyJ... */
};

enum { CS_B64URL = 0, CS_ALNUM, CS_UPPER_DIGIT, CS_WORD, CS_SLACK };

/* Token lengths after the prefix: the providers' documented or observed
 * formats, with room for longer future keys where they vary. */
#define TOK(lit, kind, set, min, max)	{ lit, kind, set, min, max }
const struct gscan_prefix gscan_prefixes[] = {
	TOK("sk-", SK_OPENAI, CS_B64URL, 20, 250),
	TOK("sk-ant-", SK_ANTHROPIC, CS_B64URL, 20, 250),
	TOK("AKIA", SK_AWS, CS_UPPER_DIGIT, 16, 16),
	TOK("ASIA", SK_AWS, CS_UPPER_DIGIT, 16, 16),
	TOK("ghp_", SK_GITHUB, CS_ALNUM, 36, 251),
	TOK("gho_", SK_GITHUB, CS_ALNUM, 36, 251),
	TOK("ghs_", SK_GITHUB, CS_ALNUM, 36, 251),
	TOK("ghu_", SK_GITHUB, CS_ALNUM, 36, 251),
	TOK("ghr_", SK_GITHUB, CS_ALNUM, 36, 251),
	TOK("github_pat_", SK_GITHUB_PAT, CS_WORD, 22, 245),
	TOK("xoxa-", SK_SLACK, CS_SLACK, 10, 250),
	TOK("xoxb-", SK_SLACK, CS_SLACK, 10, 250),
	TOK("xoxp-", SK_SLACK, CS_SLACK, 10, 250),
	TOK("xoxr-", SK_SLACK, CS_SLACK, 10, 250),
	TOK("xoxs-", SK_SLACK, CS_SLACK, 10, 250),
	TOK("AIza", SK_GOOGLE, CS_B64URL, 35, 35),
	TOK("-----BEGIN ", SK_PEM, 0, 0, 0),
	TOK("eyJ", SK_JWT, 0, 0, 0),
};
const unsigned int gscan_n_prefixes = sizeof(gscan_prefixes) / sizeof(gscan_prefixes[0]);

static bool in_set(int c, int set)
{
	switch (set) {
	case CS_B64URL:
		return is_alnum(c) || c == '_' || c == '-';
	case CS_ALNUM:
		return is_alnum(c);
	case CS_UPPER_DIGIT:
		return is_upper(c) || is_digit(c);
	case CS_WORD:
		return is_word(c);
	default:
		return is_alnum(c) || c == '-';
	}
}

/* A run of `set` from j of min..max bytes, ended by a byte outside the
 * set. Returns the end or 0. */
static size_t token_run(struct gscan *s, size_t j, int set, size_t min, size_t max)
{
	size_t k = 0;

	while (in_set(gscan_peek(s, j + k), set)) {
		if (++k > max)
			return 0;
	}
	return k >= min ? j + k : 0;
}

/* "-----BEGIN [A-Z ]*PRIVATE KEY-----" to its "-----END ... KEY-----", or
 * when that is not within TG_GUARD_MATCH_MAX, to the end of the base64
 * body. */
static size_t pem_block(struct gscan *s, size_t start, size_t j)
{
	static const char tail[] = "PRIVATE KEY-----";
	size_t k = 0, lim = start + TG_GUARD_MATCH_MAX, e;
	int c;

	while ((is_upper(c = gscan_peek(s, j + k)) || c == ' ') && k < 40)
		k++;
	if (k < sizeof(tail) - 6 || memcmp(s->p + j + k - (sizeof(tail) - 6), tail, sizeof(tail) - 6))
		return 0;
	for (e = 0; e < 5; e++)
		if (gscan_peek(s, j + k + e) != '-')
			return 0;
	j += k + 5;
	/* The END line, within the bound. */
	for (e = j; e + 9 <= lim; e++) {
		if (gscan_peek(s, e + 8) < 0)
			break;
		if (s->p[e] == '-' && !memcmp(s->p + e, "-----END ", 9)) {
			k = e + 9;
			while ((is_upper(c = gscan_peek(s, k)) || c == ' ') && k - e < 60)
				k++;
			while (gscan_peek(s, k) == '-' && k - e < 70)
				k++;
			return k;
		}
	}
	/* No END line: the header and the body that follows it. */
	while (j < lim && (is_alnum(c = gscan_peek(s, j)) || c == '+' || c == '/' || c == '=' ||
			   c == '\n' || c == '\r' || c == ' ' || c == ':' || c == ',' || c == '-'))
		j++;
	return j;
}

void gscan_secret(struct gscan *s, unsigned int id, size_t to)
{
	const struct gscan_prefix *px = &gscan_prefixes[id];
	size_t start = to - strlen(px->lit), end = 0, e1, e2;
	int b = before(s, start);

	if (px->kind != SK_PEM && (is_word(b) || b == '-'))
		return;
	s->starved = false;
	switch (px->kind) {
	case SK_AWS:
		/* Exactly 16 upper-case letters and digits, then no more
		 * letters or digits of either case. */
		end = token_run(s, to, CS_ALNUM, 16, 16);
		if (end && !token_run(s, to, CS_UPPER_DIGIT, 16, 16))
			end = 0;
		break;
	case SK_PEM:
		end = pem_block(s, start, to);
		break;
	case SK_JWT:
		/* header.payload.signature, base64url; the header is JSON
		 * ("eyJ" is '{"'), the signature may be empty (alg none). */
		e1 = token_run(s, to, CS_B64URL, 7, 2048);
		if (!e1 || gscan_peek(s, e1) != '.')
			break;
		e2 = token_run(s, e1 + 1, CS_B64URL, 10, 4096);
		if (!e2 || gscan_peek(s, e2) != '.')
			break;
		end = token_run(s, e2 + 1, CS_B64URL, 0, 1024);
		if (!end && !in_set(gscan_peek(s, e2 + 1), CS_B64URL))
			end = e2 + 1;
		break;
	default:
		end = token_run(s, to, px->set, px->min, px->max);
		break;
	}
	if (s->starved) {
		gscan_hold(s, start);
		return;
	}
	if (end)
		gscan_add(s, start, end, GUARD_T_SECRET, 0);
}
