/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to user/policy/: parsers for the scalar types of the policy
 * language. Each returns NULL on success, or a message that says what is
 * wrong and what is expected (static text, or `hint` when it was filled).
 */
#ifndef TOLLGATE_POLICY_SCALAR_H
#define TOLLGATE_POLICY_SCALAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "policy/policy.h"

bool policy_is_name(const char *s, size_t len);
bool policy_is_hostname(const char *s, size_t len);
/* Printable text (and tabs; line breaks when `multiline`), bounded. */
const char *policy_check_text(const char *s, size_t len, bool multiline);
const char *policy_parse_uint(const char *s, size_t len, uint64_t *out);
const char *policy_parse_f64(const char *s, size_t len, double *out);
const char *policy_parse_duration(const char *s, size_t len, uint64_t *ms);
const char *policy_parse_size(const char *s, size_t len, uint64_t *bytes);
const char *policy_parse_rate(const char *s, size_t len, struct policy_rate *r);
const char *policy_parse_cidr(const char *s, size_t len, struct policy_cidr *c,
			      char *hint, size_t hint_len);
const char *policy_parse_sockaddr(const char *s, size_t len, struct policy_sockaddr *a);
const char *policy_parse_hostport(const char *s, size_t len, struct arena *ar,
				  struct policy_hostport *hp);
const char *policy_parse_url(const char *s, size_t len, const char *schemes,
			     struct arena *ar, struct policy_url *u, char *hint,
			     size_t hint_len);
const char *policy_parse_secret_ref(const char *s, size_t len,
				    enum policy_secret_kind *kind,
				    const char **ref, size_t *ref_len);
const char *policy_parse_keyhash(const char *s, size_t len, uint8_t out[32]);

void policy_format_duration(uint64_t ms, char *buf, size_t len);
void policy_format_size(uint64_t bytes, char *buf, size_t len);
/* Case-insensitive Levenshtein distance, for "did you mean" hints. */
unsigned policy_edit_distance(const char *a, const char *b);

#endif /* TOLLGATE_POLICY_SCALAR_H */
