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

/*
 * The same decision on one slot of a tg_prefix_set (abi.h), in the set's
 * units: the prefix's tag in bits 63..48, its TAT modulo 2^48 below.
 * How far the slot's TAT is ahead of now, 0 when it is at rest: in the
 * past (the signed difference is negative), or further ahead than any
 * live state can be (lim = tau + T), which is what a TAT left from more
 * than 2^47 units ago looks like.
 */
static __always_inline __u64 tg_gcra_slot_ahead(__u64 w, __u64 now, __u64 lim)
{
	__u64 d = (w - now) & TG_PREFIX_TAT_MASK;

	if (!w || (d & (1ull << (TG_PREFIX_TAG_SHIFT - 1))) || d > lim)
		return 0;
	return d;
}

/*
 * One arrival of the prefix tagged `tag` (bits 63..48, not 0) at `now`
 * against its set, T and tau in the set's units: 1 admitted, 0 refused.
 * The prefix's slot is the first whose tag matches; a prefix without one
 * takes the slot nearest to rest (at rest: nothing is forgotten), the
 * choice being a function of what was read, so two CPUs seeing a prefix
 * for the first time race for the same slot and the loser finds the
 * winner's state when it reads again. Each decision is one
 * compare-and-swap of one slot, as in tg_gcra_admit, and fails closed the
 * same way.
 */
static __always_inline int tg_gcra_set_admit(struct tg_prefix_set *set,
					     __u64 tag, __u64 now, __u64 t,
					     __u64 tau)
{
	__u64 lim = tau + t, w, d, old, ahead, best;
	__u64 *slot;
	int i, j, found;

	for (i = 0; i < TG_GCRA_CAS_TRIES; i++) {
		found = 0;
		best = ~0ull;
		slot = &set->slot[0];
		old = 0;
		ahead = 0;
#pragma unroll
		for (j = 0; j < TG_PREFIX_WAYS; j++) {
			w = *(volatile __u64 *)&set->slot[j];
			d = tg_gcra_slot_ahead(w, now, lim);
			if (!found && (w & ~TG_PREFIX_TAT_MASK) == tag) {
				found = 1;
				slot = &set->slot[j];
				old = w;
				ahead = d;
			} else if (!found && d < best) {
				best = d;
				slot = &set->slot[j];
				old = w;
			}
		}
		if (found && ahead > tau)
			return 0;
		/* A new prefix starts at rest, wherever its slot was. */
		if (!found)
			ahead = 0;
		if (__sync_val_compare_and_swap(slot, old,
				tag | ((now + ahead + t) & TG_PREFIX_TAT_MASK)) == old)
			return 1;
	}
	return 0;
}

#endif /* TG_BPF_GCRA_H */
