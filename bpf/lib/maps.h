/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of abi.h except the two counter maps of common.h, defined once
 * for both program objects: identical definitions in each object are what
 * lets the loader share one set of maps between them through pins (libbpf
 * checks type, key, value and max_entries before reusing a pinned map).
 * Include from exactly one .bpf.c per object, after common.h.
 */
#ifndef TG_BPF_MAPS_H
#define TG_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include <tollgate/abi.h>
#include <tollgate/hint.h>
#include <tollgate/limits.h>

/* TG_MAP_FLOWS. Flow tables default to the minimum; the loader sizes it
 * from the policy before load (bpf_map__set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TG_FLOW_TABLE_DEFAULT);
	__type(key, struct tg_flow_key);
	__type(value, struct tg_flow);
} tg_flows SEC(".maps");

/* TG_MAP_LPM_V4 / TG_MAP_LPM_V6: source prefix → tenant. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TG_LPM_V4_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_lpm_v4_key);
	__type(value, struct tg_lpm_value);
} tg_lpm_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TG_LPM_V6_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_lpm_v6_key);
	__type(value, struct tg_lpm_value);
} tg_lpm_v6 SEC(".maps");

/* TG_MAP_TENANTS, TG_MAP_TENANT_STATS, TG_MAP_SYN_TENANT, TG_MAP_PACE:
 * indexed by tenant id, slot 0 the default tenant. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_KERN_TENANT_SLOTS);
	__type(key, __u32);
	__type(value, struct tg_tenant_config);
} tg_tenants SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_KERN_TENANT_SLOTS);
	__type(key, __u32);
	__type(value, struct tg_tenant_stats);
} tg_tenant_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_KERN_TENANT_SLOTS);
	__type(key, __u32);
	__type(value, struct tg_gcra);
} tg_syn_tenant SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_KERN_TENANT_SLOTS);
	__type(key, __u32);
	__type(value, struct tg_pace);
} tg_pace SEC(".maps");

/* TG_MAP_SYN_PREFIX: GCRA state per (tenant, source prefix), a
 * set-associative table (abi.h, struct tg_prefix_set). Mappable so that
 * its data starts on a page: each set then lies in one cache line. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_SYN_PREFIX_SETS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct tg_prefix_set);
} tg_syn_prefix SEC(".maps");

/* TG_MAP_PENALTY: source → expiry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TG_PENALTY_MAX);
	__type(key, struct tg_src_key);
	__type(value, struct tg_penalty);
} tg_penalty SEC(".maps");

/* TG_MAP_PENALTY_HINT: tollgate/hint.h's bits of every address in
 * tg_penalty. Mappable: user space sets bits with an atomic OR, so two
 * writers never lose each other's. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_PENALTY_HINT_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} tg_penalty_hint SEC(".maps");

/* TG_MAP_TENANT_CACHE: the tenants of recent IPv4 sources (abi.h).
 * Mappable: user space clears it when the generation wraps. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_TENANT_CACHE_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} tg_tenant_cache SEC(".maps");

/* TG_MAP_CONFIG */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_config);
} tg_config SEC(".maps");

/* TG_MAP_FLOOD */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_flood_window);
} tg_flood SEC(".maps");

/* TG_MAP_EVENTS */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TG_RINGBUF_BYTES);
} tg_events SEC(".maps");

/* tg_config[0]; an ARRAY slot always exists, the check is the verifier's. */
static __always_inline struct tg_config *tg_config_get(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&tg_config, &key);
}

/* "Now" for every *_ns: the test clock when a test set one (abi.h,
 * tg_config.clock_override_ns), else CLOCK_MONOTONIC. */
static __always_inline __u64 tg_now(const struct tg_config *cfg)
{
	__u64 t = cfg->clock_override_ns;

	return t ? t : bpf_ktime_get_ns();
}

/* The tenant of a source address: longest prefix in the family's trie, or
 * the configured default tenant. An IPv4 source seen recently is answered
 * from tg_tenant_cache, one inlined array read instead of the trie walk. */
static __always_inline __u32 tg_tenant_of(__u8 family, const __u32 *addr,
					  const struct tg_config *cfg)
{
	struct tg_lpm_value *v;

	if (family == TG_FAMILY_IPV4) {
		struct tg_lpm_v4_key k4 = { .prefixlen = 32, .addr = addr[0] };
		/* Read before the trie: user space bumps it after changing
		 * the trie, so a tenant cached under it is the new trie's. */
		__u16 gen = *(volatile const __u16 *)&cfg->lpm_gen;
		__u32 slot;
		__u64 *c = 0, w;

		if (gen) {
			slot = tg_tenant_cache_slot(addr[0], cfg->prefix_hash_seed);
			c = bpf_map_lookup_elem(&tg_tenant_cache, &slot);
		}
		if (c) {
			w = *(volatile __u64 *)c;
			if ((w >> 32) == addr[0] && (__u16)w == gen)
				return (__u32)(w >> 16) & 0xffff;
		}
		v = bpf_map_lookup_elem(&tg_lpm_v4, &k4);
		/* Only matched sources: a spoofed flood, which mostly
		 * matches nothing, does not write a cache line per packet. */
		if (v && c && v->tenant_id < TG_KERN_TENANT_SLOTS)
			*(volatile __u64 *)c = tg_tenant_cache_word(addr[0], v->tenant_id, gen);
	} else {
		struct tg_lpm_v6_key k6 = { .prefixlen = 128 };

		k6.addr[0] = addr[0];
		k6.addr[1] = addr[1];
		k6.addr[2] = addr[2];
		k6.addr[3] = addr[3];
		v = bpf_map_lookup_elem(&tg_lpm_v6, &k6);
	}
	return v ? v->tenant_id : cfg->default_tenant_id;
}

/* The tenant's configuration; NULL (an id past the array) reads as an
 * all-zero entry at every use. */
static __always_inline struct tg_tenant_config *tg_tenant_config_get(__u32 id)
{
	return bpf_map_lookup_elem(&tg_tenants, &id);
}

static __always_inline struct tg_tenant_stats *tg_tenant_stats_get(__u32 id)
{
	return bpf_map_lookup_elem(&tg_tenant_stats, &id);
}

#endif /* TG_BPF_MAPS_H */
