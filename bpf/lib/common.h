/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What every tollgate program object carries: its ABI record and the two
 * per-CPU counter maps, defined identically in each object so that the loader
 * can share them through pins. Include from exactly one .bpf.c per object.
 */
#ifndef TG_BPF_COMMON_H
#define TG_BPF_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include <tollgate/abi.h>

/* The layout this object was compiled with (see struct tg_abi_info). */
const volatile struct tg_abi_info tg_abi_info = TG_ABI_INFO_INIT;

/* TG_MAP_STATS: packets and bytes per verdict reason and hook. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_REASON__COUNT);
	__type(key, __u32);
	__type(value, struct tg_reason_stats);
} tg_stats SEC(".maps");

/* TG_MAP_RUNS: program runs per hook; every run also ends in exactly one
 * tg_stats reason, so the two agree. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_HOOK__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} tg_runs SEC(".maps");

/* Per-CPU slots need no atomics: a program runs to completion on its CPU,
 * and each hook writes only its own fields. */
static __always_inline void tg_count_run(enum tg_hook hook)
{
	__u32 key = hook;
	__u64 *runs;

	runs = bpf_map_lookup_elem(&tg_runs, &key);
	if (runs)
		*runs += 1;
}

static __always_inline void tg_count_verdict(enum tg_hook hook,
					     enum tg_reason reason, __u64 bytes)
{
	struct tg_reason_stats *st;
	__u32 key = reason;

	if (hook >= TG_HOOK__COUNT)
		return;
	st = bpf_map_lookup_elem(&tg_stats, &key);
	if (!st)
		return;
	st->packets[hook] += 1;
	st->bytes[hook] += bytes;
}

#endif /* TG_BPF_COMMON_H */
