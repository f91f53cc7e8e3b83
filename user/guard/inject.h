/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shipped injection pattern set (inject.c), exposed for guard.c, the
 * tests and the documentation.
 */
#ifndef TOLLGATE_GUARD_INJECT_H
#define TOLLGATE_GUARD_INJECT_H

#include <stdint.h>

/* A prompt is an injection when the weights of the distinct patterns it
 * matches add up to this. Policy patterns weigh this much each. */
#define GUARD_INJECTION_THRESHOLD	10

struct guard_builtin {
	const char *name;
	const char *regex;
	uint32_t weight;
};

extern const struct guard_builtin guard_injection_builtin[];
extern const unsigned int guard_injection_n_builtin;

#endif /* TOLLGATE_GUARD_INJECT_H */
