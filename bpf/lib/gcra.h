/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * GCRA (the generic cell rate algorithm, ITU-T I.371 "virtual scheduling")
 * on a shared theoretical arrival time, exact across CPUs: each admission
 * is one compare-and-swap of the TAT from the value it was decided on, so
 * two CPUs can never both admit on the same state. A lost race re-reads and
 * decides again, at most TG_GCRA_CAS_TRIES times.
 */
#ifndef TG_BPF_GCRA_H
#define TG_BPF_GCRA_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

/*
 * One arrival at `now` against state *tat with emission interval T and
 * tolerance tau (abi.h, struct tg_gcra): 1 admitted (TAT advanced), 0
 * refused. Refused also when every compare-and-swap lost, which needs
 * TG_GCRA_CAS_TRIES other admissions during this one: the limiter is then
 * saturated anyway, and failing closed keeps it exact.
 */
static __always_inline int tg_gcra_admit(__u64 *tat, __u64 now, __u64 t,
					 __u64 tau)
{
	__u64 old, base;
	int i;

	for (i = 0; i < TG_GCRA_CAS_TRIES; i++) {
		old = *(volatile __u64 *)tat;
		base = old > now ? old : now;
		if (base - now > tau)
			return 0;
		if (__sync_val_compare_and_swap(tat, old, base + t) == old)
			return 1;
	}
	return 0;
}

/*
 * Whether an arrival at `now` would be refused, without changing the state:
 * a refusal never writes, so this is the same decision tg_gcra_admit makes
 * when it refuses, only without the compare-and-swap.
 */
static __always_inline int tg_gcra_refuses(const __u64 *tat, __u64 now,
					   __u64 tau)
{
	__u64 old = *(volatile const __u64 *)tat;

	return old > now && old - now > tau;
}

#endif /* TG_BPF_GCRA_H */
