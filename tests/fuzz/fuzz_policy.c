// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the policy loader on arbitrary bytes. Whatever the
 * input, loading must end in a policy or in diagnostics — no crash, no
 * leak, no unbounded time — and a loaded policy must survive a secrets pass
 * and release cleanly. Includes are refused (the input has no directory).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_diags diags;
	struct policy *p;

	policy_diags_init(&diags);
	p = policy_load_buffer("fuzz.yaml", (const char *)data, size,
			       POLICY_LOAD_NO_INCLUDE, &diags);
	if (p) {
		/* Every diagnostic-free load is a usable policy. */
		if (diags.n)
			abort();
		policy_ref(p);
		policy_unref(p);
		policy_unref(p);
	} else if (diags.n == 0) {
		/* A refused policy always says why. */
		abort();
	}
	policy_diags_fini(&diags);
	return 0;
}
