/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prompt guard: finds personal data, secrets, policy deny patterns and
 * prompt-injection attempts in text, and redacts what it found. See
 * docs/guard.md for every detector's exact rule and its near-misses.
 *
 * The work is split by how a match is anchored, because one regex engine
 * running ~30 start-of-match patterns is 5-10x too slow:
 *   - digit-led PII (cards, SSN, phone, IBAN, IPv4) and the '@' / ':' of
 *     email and IPv6 are found by a hand-written scanner that skips 16
 *     bytes at a time to the next interesting byte and validates checksums
 *     (Luhn, mod-97) as it goes (scan.c);
 *   - secrets start with a literal prefix (sk-, AKIA, ghp_, eyJ...):
 *     Hyperscan finds the prefixes without start-of-match tracking and the
 *     token is then measured by hand (guard.c);
 *   - policy deny patterns and injection patterns are regexes, compiled
 *     into their own Hyperscan databases with leftmost start of match.
 *
 * A finding is a byte span [start, end) of the scanned text. Findings are
 * merged into sorted, non-overlapping spans; overlapping findings become
 * one span typed by the stronger type (enum order, secret strongest).
 * Spans never start or end inside a UTF-8 sequence.
 *
 * Threads: a guard is immutable once built and may be shared; each thread
 * scanning keeps its own Hyperscan scratch (thread-local, grown on first
 * use), released by guard_thread_fini().
 */
#ifndef TOLLGATE_GUARD_H
#define TOLLGATE_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tollgate/limits.h"

struct policy_guard;

/* Strongest first: when two findings overlap the merged span takes the
 * type that comes first here. */
enum guard_type {
	GUARD_T_SECRET = 0,
	GUARD_T_CARD,
	GUARD_T_IBAN,
	GUARD_T_SSN,
	GUARD_T_PHONE,
	GUARD_T_EMAIL,
	GUARD_T_IP,
	GUARD_T_DENY,		/* a policy deny pattern; .pattern says which */
	GUARD_T_INJECTION,	/* an injection pattern; .pattern says which */
	GUARD_T_COUNT,
};

enum guard_verdict {
	GUARD_PASS = 0,		/* nothing found that the policy acts on */
	GUARD_LOG,		/* found, audit only */
	GUARD_REDACT,		/* send the redacted text */
	GUARD_BLOCK,		/* refuse */
};

struct guard_finding {
	uint32_t start, end;	/* byte offsets, end exclusive */
	uint16_t type;		/* enum guard_type */
	uint16_t pattern;	/* deny/injection pattern index, else 0 */
};

/*
 * What a scan found. Initialise with guard_result_init(); the finding
 * vector grows as needed (bounded by the text: findings never overlap)
 * and is reused by the next scan into the same result.
 */
struct guard_result {
	struct guard_finding *v;
	uint32_t n, cap;
	uint32_t types;			/* 1 << enum guard_type found */
	uint32_t injection_score;	/* sum of distinct matched weights */
	bool injection;			/* score >= threshold */
	enum guard_verdict verdict;
};

/* "email", "phone", ..., "deny", "injection". */
const char *guard_type_name(enum guard_type t);
const char *guard_verdict_name(enum guard_verdict v);

/*
 * Compiles `pg` (borrowed; not referenced after return). Returns NULL with
 * errno set: EINVAL when a deny or injection regex does not compile, with
 * "file:line:col: guard NAME: pattern NAME: reason" written to `err` (size
 * `errlen`, may be 0), ENOMEM otherwise.
 */
struct guard *guard_new(const struct policy_guard *pg, char *err, size_t errlen);
void guard_free(struct guard *g);
/* Releases the calling thread's scratch space. */
void guard_thread_fini(void);

/* The name of a finding's type for reports and placeholders: the type's
 * name, or for deny patterns the pattern's own name. */
const char *guard_finding_name(const struct guard *g, const struct guard_finding *f);
/* The threshold the injection score is compared with. */
uint32_t guard_injection_threshold(const struct guard *g);
/* Whether responses are to be scanned too (pii.responses, and PII on). */
bool guard_scans_responses(const struct guard *g);

void guard_result_init(struct guard_result *r);
void guard_result_fini(struct guard_result *r);

/*
 * Scans text[0, len) with everything the guard enables (PII types, deny
 * patterns, injection) and fills `r`. Returns 0, or -ENOMEM, -EOVERFLOW
 * (len above UINT32_MAX) or -EIO (Hyperscan failed).
 */
int guard_scan(const struct guard *g, const char *text, size_t len, struct guard_result *r);
/* The same without the injection patterns: what is applied to responses. */
int guard_scan_pii(const struct guard *g, const char *text, size_t len,
		   struct guard_result *r);

/* Output sink for redacted text. Returns 0 or a negative errno, which the
 * caller passes back. */
typedef int (*guard_emit_fn)(void *arg, const char *p, size_t n);

/* A growable buffer that collects emitted text, kept NUL-terminated:
 * pass guard_buf_emit and a zeroed struct guard_buf; free(.p) after. */
struct guard_buf {
	char *p;
	size_t len, cap;
};
int guard_buf_emit(void *buf, const char *p, size_t n);

/*
 * Writes text[0, len) with every finding of `r` replaced by
 * "[REDACTED:<name>]" (the name is [a-z0-9_-], so the placeholder needs no
 * escaping anywhere). Injection findings are redacted too.
 */
int guard_redact(const struct guard *g, const char *text, size_t len,
		 const struct guard_result *r, guard_emit_fn emit, void *arg);
/* The same into a NUL-terminated malloc'd string (*out, *out_len).
 * Returns 0 or -ENOMEM. */
int guard_redact_alloc(const struct guard *g, const char *text, size_t len,
		       const struct guard_result *r, char **out, size_t *out_len);

/*
 * JSON string values: `raw` is the body of a JSON string as it appears in
 * the document (between the quotes, escapes not decoded). The body is
 * decoded, scanned (guard_scan), and written back with each finding's
 * span replaced by its placeholder; text outside the spans keeps its
 * original escapes and a span always covers whole escapes, so the result
 * is a valid JSON string body. `r` receives the findings in decoded-text
 * offsets. Returns 0, -EINVAL (raw is not a valid string body), -ENOMEM.
 */
int guard_redact_json_string(const struct guard *g, const char *raw, size_t len,
			     struct guard_result *r, guard_emit_fn emit, void *arg);

/*
 * Streamed responses. Text is fed in pieces as it arrives; what is safe is
 * released to `emit` already redacted, and a tail is held back: at least
 * GUARD_STREAM_HOLD bytes, and from the start of any match that could
 * still grow with the next piece (up to TG_GUARD_MATCH_MAX bytes), so a
 * secret split over two pieces at any byte is redacted before release.
 * The concatenated output equals guard_redact() of the whole text.
 * Deny patterns are matched too (redacted, as nothing can be blocked
 * halfway through a response); injection patterns are not.
 */
struct guard_stream;

/* Borrows g, which must outlive the stream. NULL with errno ENOMEM. */
struct guard_stream *guard_stream_new(const struct guard *g, guard_emit_fn emit, void *arg);
void guard_stream_free(struct guard_stream *s);
/* Returns 0 or a negative errno (an emit error, -ENOMEM, -EIO). */
int guard_stream_feed(struct guard_stream *s, const char *p, size_t n);
/* Releases the held tail; the stream is then empty and may be reused. */
int guard_stream_finish(struct guard_stream *s);
/* Types released so far since guard_stream_new() (1 << enum guard_type),
 * and bytes held back now. */
uint32_t guard_stream_types(const struct guard_stream *s);
size_t guard_stream_held(const struct guard_stream *s);

#endif /* TOLLGATE_GUARD_H */
