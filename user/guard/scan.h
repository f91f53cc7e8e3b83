/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guard internals shared by guard.c (Hyperscan, merging, redaction,
 * streams) and scan.c (the hand-written detectors).
 *
 * Every detector decides from a bounded window around its candidate. When
 * the text is not final (a stream's buffer) and a detector needs a byte
 * past the end, it does not decide: it records the candidate's start as a
 * hold point, and the stream keeps everything from there unreleased.
 */
#ifndef TOLLGATE_GUARD_SCAN_H
#define TOLLGATE_GUARD_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guard/guard.h"

struct gscan {
	const unsigned char *p;
	size_t len;
	bool final;		/* the text ends at len */
	bool starved;		/* a peek went past len (only when !final) */
	size_t hold;		/* earliest undecided candidate; len if none */
	uint32_t types;		/* 1 << GUARD_T_* to detect */
	struct guard_result *r;
	int err;
};

/* The byte at i, or -1 past the end (noting the starvation). */
static inline int gscan_peek(struct gscan *s, size_t i)
{
	if (i < s->len)
		return s->p[i];
	if (!s->final)
		s->starved = true;
	return -1;
}

/* Records a finding; an allocation failure is kept in s->err. */
void gscan_add(struct gscan *s, size_t start, size_t end, enum guard_type t,
	       uint16_t pattern);
/* Marks an undecided candidate starting at `start`. */
static inline void gscan_hold(struct gscan *s, size_t start)
{
	if (start < s->hold)
		s->hold = start;
}

/* Digit-led PII, emails and IPv6 (scan.c). */
void gscan_pii(struct gscan *s);

/* The secret kinds the Hyperscan prefix database reports (id = index). */
struct gscan_prefix {
	const char *lit;
	uint8_t kind;
	uint8_t set;		/* the token's characters after the prefix */
	uint8_t min, max;	/* and their count */
};
extern const struct gscan_prefix gscan_prefixes[];
extern const unsigned int gscan_n_prefixes;
/* Measures the secret whose prefix gscan_prefixes[id] ends at `to`. */
void gscan_secret(struct gscan *s, unsigned int id, size_t to);

/* Checksums, exported for the tests and the benchmark's reference. */
bool gscan_luhn(const char *digits, size_t n);
bool gscan_iban_ok(const char *iban, size_t n);	/* compact form, no spaces */
int gscan_iban_len(const char *cc);			/* 0: unknown country */

#endif /* TOLLGATE_GUARD_SCAN_H */
