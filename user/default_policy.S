/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded default policy: the file named by TG_DEFAULT_POLICY (a path
 * relative to the repository root, where the build runs), so that tollgated
 * started without -c runs policies/default.yaml without needing the file.
 *
 *   extern const char tg_default_policy[], tg_default_policy_end[];
 *
 * [tg_default_policy, tg_default_policy_end) is the file; a NUL follows it
 * so the text can also be read as a C string.
 */
#ifndef TG_DEFAULT_POLICY
#error "TG_DEFAULT_POLICY must name the policy file to embed"
#endif

	.section .rodata
	.balign 16
	.globl	tg_default_policy
	.type	tg_default_policy, @object
tg_default_policy:
	.incbin	TG_DEFAULT_POLICY
	.globl	tg_default_policy_end
	.type	tg_default_policy_end, @object
tg_default_policy_end:
	.byte	0
	.size	tg_default_policy, tg_default_policy_end - tg_default_policy
	.size	tg_default_policy_end, 1

/* No executable stack. */
	.section .note.GNU-stack,"",@progbits
