// SPDX-License-Identifier: Apache-2.0
/*
 * The token estimate made before a call, for limits and budgets (the
 * provider's own usage replaces it afterwards). docs/llm.md, "Estimates".
 */
#include <stddef.h>
#include <stdint.h>

#include "llm/internal.h"

/* Script-aware estimate (docs/llm.md): ASCII text runs about 4 bytes per
 * token; each character outside ASCII (CJK, Cyrillic, ...) is close to a
 * token of its own, so it counts as one. */
uint64_t llm_estimate_tokens(const char *p, size_t n)
{
	uint64_t ascii = 0, other = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x80)
			ascii++;
		else if ((ch & 0xc0) != 0x80)
			other++;	/* a lead byte: one character */
	}
	return (ascii + 3) / 4 + other;
}
