// SPDX-License-Identifier: Apache-2.0
/* The token estimate's fast paths against the byte-by-byte loop of the same source
 * (estimate_diff.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "llm/internal.h"

#define TG_ESTIMATE_SCALAR
uint64_t est_other_tokens(const char *p, size_t n);
#define llm_estimate_tokens est_other_tokens
#include "llm/estimate.c"
#undef llm_estimate_tokens

#define ED_NAME "estimate_scalar"
#include "estimate_diff.h"
