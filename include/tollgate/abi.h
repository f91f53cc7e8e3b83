/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel↔user contract of tollgate: every map key and value, the event
 * record, the verdict reasons and the map names, compiled unchanged by the
 * BPF programs (clang --target=bpf) and by user space. Nothing else may
 * define a type that crosses the boundary.
 *
 * Rules, because two compilers for two targets must agree byte for byte:
 *  - fixed-width __u8/__u16/__u32/__u64 only, every hole an explicit pad
 *    field, every size pinned by a _Static_assert;
 *  - changing a layout, a map's meaning or the numbering of an enum bumps
 *    TG_ABI_VERSION; reasons are only ever appended;
 *  - addresses and ports are in network byte order, as on the wire;
 *    everything else is host order;
 *  - every *_ns is bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC (or
 *    tg_config.clock_override_ns in tests, see there);
 *  - KEYS: zero the key before filling it (memset, or `= {}` then assign).
 *    Hash and LRU maps hash every byte, pad fields and unused address words
 *    included, so a key with stale padding silently never matches.
 *
 * No functions here; `<linux/types.h>` only. Include it before any
 * bpftool skeleton: skeletons name struct tg_abi_info without defining it.
 */
#ifndef TOLLGATE_ABI_H
#define TOLLGATE_ABI_H

#include <linux/types.h>

/* 2: tg_config, tg_tenant_config and tg_flood_window grew (appended
 *    fields), tg_pace and TG_MAP_PACE added, tg_abi_info.pad became
 *    pace_size.
 * 3: tg_syn_prefix became an ARRAY of struct tg_prefix_set (it was an
 *    LRU_HASH of tg_prefix_key -> tg_gcra), tg_config.pad[0] became
 *    prefix_tat_shift, tg_abi_info.prefix_key_size became prefix_set_size.
 *    TG_MAP_PENALTY_HINT and TG_MAP_TENANT_CACHE added, tg_config.pad[1..2]
 *    became lpm_gen. The loader migrates maps pinned by version 2 (only
 *    the per-prefix SYN limiter's state is dropped: every prefix starts
 *    afresh; the hint is filled from the penalty box). */
#define TG_ABI_VERSION		3

/* Where the loader pins maps and links (bpffs). */
#define TG_PIN_DIR		"/sys/fs/bpf/tollgate"

/*
 * Map names: the programs name their map variables exactly so, and the
 * test suite checks the skeletons against these macros. BPF object names
 * are at most 15 characters.
 *
 *   name             type            key                   value
 *   tg_flows         LRU_HASH        tg_flow_key           tg_flow
 *   tg_lpm_v4        LPM_TRIE        tg_lpm_v4_key         tg_lpm_value
 *   tg_lpm_v6        LPM_TRIE        tg_lpm_v6_key         tg_lpm_value
 *   tg_tenants       ARRAY           __u32 tenant id       tg_tenant_config
 *   tg_tenant_stats  PERCPU_ARRAY    __u32 tenant id       tg_tenant_stats
 *   tg_syn_tenant    ARRAY           __u32 tenant id       tg_gcra
 *   tg_pace          ARRAY           __u32 tenant id       tg_pace
 *   tg_syn_prefix    ARRAY           __u32 set index       tg_prefix_set
 *   tg_penalty       LRU_HASH        tg_src_key            tg_penalty
 *   tg_penalty_hint  ARRAY (mmap)    __u32 word            __u64 bits
 *   tg_config        ARRAY (1)       __u32 0               tg_config
 *   tg_flood         PERCPU_ARRAY(1) __u32 0               tg_flood_window
 *   tg_stats         PERCPU_ARRAY    __u32 enum tg_reason  tg_reason_stats
 *   tg_runs          PERCPU_ARRAY    __u32 enum tg_hook    __u64 runs
 *   tg_events        RINGBUF         -                     tg_event records
 *
 * Sizes come from include/tollgate/limits.h (TG_FLOW_TABLE_*, TG_LPM_*,
 * TG_SYN_PREFIX_SETS, TG_PENALTY_MAX, TG_RINGBUF_BYTES). The arrays
 * indexed by tenant id have TG_KERN_TENANT_SLOTS (TG_KERN_TENANTS_MAX + 1)
 * entries: ids 1..TG_KERN_TENANTS_MAX and slot 0, the default tenant.
 *
 * Both program objects define every map identically (bpf/lib/maps.h), so
 * a loader can share all of them between the two through pins.
 */
#define TG_MAP_FLOWS		"tg_flows"
#define TG_MAP_LPM_V4		"tg_lpm_v4"
#define TG_MAP_LPM_V6		"tg_lpm_v6"
#define TG_MAP_TENANTS		"tg_tenants"
#define TG_MAP_TENANT_STATS	"tg_tenant_stats"
#define TG_MAP_SYN_TENANT	"tg_syn_tenant"
#define TG_MAP_SYN_PREFIX	"tg_syn_prefix"
#define TG_MAP_PENALTY		"tg_penalty"
#define TG_MAP_CONFIG		"tg_config"
#define TG_MAP_FLOOD		"tg_flood"
#define TG_MAP_STATS		"tg_stats"
#define TG_MAP_RUNS		"tg_runs"
#define TG_MAP_EVENTS		"tg_events"
#define TG_MAP_PACE		"tg_pace"
/* ABI 3: the bits tollgate/hint.h gives each address in the penalty box,
 * set by user space (atomically, through mmap) after the entry, and by
 * the loader from the box at every attach. */
#define TG_MAP_PENALTY_HINT	"tg_penalty_hint"
/* ABI 3: IPv4 source -> tenant, as the LPM answered it, direct-mapped
 * (TG_TENANT_CACHE_SLOTS words, slot by tollgate/hint.h). One word each,
 * written and read whole, so never torn:
 *   address (network order) << 32 | tenant id << 16 | tg_config.lpm_gen.
 * Valid only while its generation is the config's; user space bumps the
 * generation after every change of the tries and clears the map when the
 * generation wraps. Only sources a prefix matched are kept. */
#define TG_MAP_TENANT_CACHE	"tg_tenant_cache"
/* Not in the objects: an ARRAY of one struct tg_abi_info that the loader
 * creates and pins next to the maps, so that a later loader or tollctl can
 * check the pinned maps' layout before using them. */
#define TG_MAP_ABI		"tg_abi"

/* Program names (bpf/<file>.bpf.c holds exactly one of them). */
#define TG_PROG_XDP_INGRESS	"tg_xdp_ingress"
#define TG_PROG_TC_EGRESS	"tg_tc_egress"

/* The hook a counter or event comes from; indexes tg_runs and the per-hook
 * arrays of struct tg_reason_stats. */
enum tg_hook {
	TG_HOOK_XDP_INGRESS = 0,
	TG_HOOK_TC_EGRESS,
	TG_HOOK__COUNT,
};

/*
 * Verdict reasons: every packet a program sees ends in exactly one of them,
 * and each one is counted (tg_stats is indexed by it). The list is the single
 * source of the enum below and of user space's name table (kern_reason_name).
 * Append only: the numbers are array indices shared with pinned maps.
 *
 * What XDP ingress does with the packet (TC egress never drops):
 *   PASS              pass
 *   NON_IP            pass: not IPv4/IPv6, or more than TG_VLAN_MAX tags
 *   FRAGMENT          pass: an IPv4 or IPv6 fragment, the first included
 *   MALFORMED         drop: an L2/L3 header that is invalid or cut short
 *   IPV6_EXT_LIMIT    pass: more than TG_IPV6_EXT_MAX extension headers
 *   PENALTY           drop: the source is in tg_penalty
 *   TENANT_BLOCKED    drop: the tenant has TG_TENANT_F_BLOCKED
 *   SYN_TENANT_LIMIT  drop: the tenant's SYN GCRA
 *   SYN_PREFIX_LIMIT  drop: the source prefix's SYN GCRA
 *   FLOOD_GUARD       pass without a flow insert: per-CPU new-flow rate
 */
#define TG_REASONS(X)					\
	X(PASS,			"pass")			\
	X(NON_IP,		"non_ip")		\
	X(FRAGMENT,		"fragment")		\
	X(MALFORMED,		"malformed")		\
	X(IPV6_EXT_LIMIT,	"ipv6_ext_limit")	\
	X(PENALTY,		"penalty_box")		\
	X(TENANT_BLOCKED,	"tenant_blocked")	\
	X(SYN_TENANT_LIMIT,	"syn_tenant_limit")	\
	X(SYN_PREFIX_LIMIT,	"syn_prefix_limit")	\
	X(FLOOD_GUARD,		"flood_guard")

#define TG_REASON_ENUM_(name, str)	TG_REASON_##name,
enum tg_reason {
	TG_REASONS(TG_REASON_ENUM_)
	TG_REASON__COUNT,
};
#undef TG_REASON_ENUM_

_Static_assert(TG_REASON_PASS == 0, "the first reason is 0: zeroed memory is pass");

/* Address families in keys: the numbers policy_cidr uses; 0 in a zeroed key. */
#define TG_FAMILY_IPV4		4
#define TG_FAMILY_IPV6		6

/* Tenant ids index the tenant arrays; 0 is "no prefix matched". Unmatched
 * traffic belongs to tg_config.default_tenant_id, which is 0 unless set. */
#define TG_TENANT_NONE		0u

/*
 * tg_flows key. Always in the client→server orientation of the connection as
 * XDP ingress sees it: saddr/sport is the remote peer, daddr/dport is this
 * node. TC egress builds the key with source and destination swapped so both
 * directions land in one record. IPv4 uses word 0 of each address, words 1-3
 * stay zero. Zero the key before filling.
 */
struct tg_flow_key {
	__u32 saddr[4];		/* network byte order */
	__u32 daddr[4];		/* network byte order */
	__u16 sport;		/* network byte order; 0 unless TCP/UDP */
	__u16 dport;		/* network byte order; 0 unless TCP/UDP */
	__u8 family;		/* TG_FAMILY_* */
	__u8 proto;		/* IPPROTO_* of the L4 header */
	__u8 pad[2];
};
_Static_assert(sizeof(struct tg_flow_key) == 40, "tg_flow_key layout");

/* tg_flows value. "in" is client→server (XDP ingress), "out" is
 * server→client (TC egress). Only XDP ingress inserts records; TC egress
 * only adds to records that exist. Counters are plain per-packet adds, not
 * atomics: each direction of a flow is handled on one CPU at a time (RSS,
 * and TC on the sending CPU), and the two directions write disjoint
 * fields. */
struct tg_flow {
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u64 packets_in;
	__u64 bytes_in;		/* frame bytes */
	__u64 packets_out;
	__u64 bytes_out;	/* skb->len, so a GSO packet counts in full */
	__u64 payload_in;	/* L4 payload bytes (IP lengths, not padding) */
	__u64 payload_out;	/* skb->len minus the headers */
	__u64 tokens_in;	/* estimate: payload ÷ tenant's bytes_per_token */
	__u64 tokens_out;
	__u32 tenant_id;	/* cached from the LPM lookup at insert */
	__u8 tcp_flags_in;	/* OR of the TCP flag bytes seen (byte 13) */
	__u8 tcp_flags_out;
	__u8 pad[2];
};
_Static_assert(sizeof(struct tg_flow) == 88, "tg_flow layout");

/* tg_lpm_v4 / tg_lpm_v6 keys (struct bpf_lpm_trie_key layout). prefixlen
 * counts bits of addr; bits past it must be zero. Zero the key before
 * filling. */
struct tg_lpm_v4_key {
	__u32 prefixlen;	/* 0..32 */
	__u32 addr;		/* network byte order */
};
_Static_assert(sizeof(struct tg_lpm_v4_key) == 8, "tg_lpm_v4_key layout");

struct tg_lpm_v6_key {
	__u32 prefixlen;	/* 0..128 */
	__u32 addr[4];		/* network byte order */
};
_Static_assert(sizeof(struct tg_lpm_v6_key) == 20, "tg_lpm_v6_key layout");

struct tg_lpm_value {
	__u32 tenant_id;	/* 1..TG_KERN_TENANTS_MAX */
};
_Static_assert(sizeof(struct tg_lpm_value) == 4, "tg_lpm_value layout");

/* struct tg_tenant_config.flags */
/* Over budget or disabled: new connections drop at XDP. */
#define TG_TENANT_F_BLOCKED	(1u << 0)
#define TG_TENANT_F__ALL	(TG_TENANT_F_BLOCKED)

/*
 * tg_tenants value. An all-zero entry means no SYN limit, no token estimate,
 * not blocked, no pacing. SYN-without-ACK packets of the tenant pass a GCRA
 * limiter: with rate r per second and burst b, syn_interval_ns = 1e9 / r
 * (the emission interval T) and syn_burst_ns = T * (b - 1) (the tolerance
 * tau). A tenant id past the array's end behaves as an all-zero entry.
 */
struct tg_tenant_config {
	__u64 syn_interval_ns;	/* 0: no SYN limit */
	__u64 syn_burst_ns;
	__u32 bytes_per_token;	/* 0: no token estimate; <= TG_BYTES_PER_TOKEN_MAX */
	__u32 flags;		/* TG_TENANT_F_* */
	/* ABI 2. Egress pacing rate, bytes per second, applied by TC egress
	 * when tg_config has TG_CONFIG_F_EGRESS_PACING; 0: not paced. */
	__u64 egress_bytes_per_sec;
};
_Static_assert(sizeof(struct tg_tenant_config) == 32, "tg_tenant_config layout");

/* GCRA state (tg_syn_tenant): the theoretical arrival time, updated with
 * one compare-and-swap. 0 (never seen) admits. A packet at `now` is
 * admitted when max(tat, now) <= now + tau, and then
 * tat = max(tat, now) + T; so from rest, b packets pass at once and one
 * more every T. */
struct tg_gcra {
	__u64 tat_ns;
};
_Static_assert(sizeof(struct tg_gcra) == 8, "tg_gcra layout");

/*
 * tg_syn_prefix (ABI 3): the per-prefix SYN limiter, a set-associative
 * table instead of a hash map, so that a spoofed flood's first sight of a
 * prefix costs one cache line and one compare-and-swap rather than an LRU
 * insert (see bpf/tg_xdp.bpf.c, tg_syn_prefix_admit).
 *
 * A source prefix (the address masked to tg_config's length, within one
 * tenant) hashes to one set of TG_PREFIX_WAYS slots and to a 16-bit tag.
 * A slot is one 64-bit word, so a GCRA step on it stays one
 * compare-and-swap, exact across CPUs:
 *
 *   bits 63..48  tag (never 0; 0 is an empty slot)
 *   bits 47..0   the prefix's GCRA TAT in units of 2^prefix_tat_shift ns,
 *                modulo 2^48
 *
 * The TAT is read as a signed difference from now (modulo 2^48): a live
 * state is at most tau + T ahead, so a larger difference, or one in the
 * past, is a prefix at rest, and a prefix not seen for a while needs no
 * clean-up. The units are chosen so that tau + T is under 1/256 of the
 * span (2^48 units, at least 208 days): only a slot idle for longer than
 * the span can be misread as live, with that small a chance, and then it
 * is refused at most its burst once. A prefix with no slot
 * takes its set's slot that is at rest, or else the one nearest to rest
 * (forgetting a prefix only ever admits more, as an LRU eviction would).
 * Two prefixes of one set with the same tag share a budget: a 1 in 65535
 * chance per pair, and it only ever refuses more.
 */
#define TG_PREFIX_WAYS		4
#define TG_PREFIX_TAG_SHIFT	48
#define TG_PREFIX_TAT_MASK	((1ull << TG_PREFIX_TAG_SHIFT) - 1)
struct tg_prefix_set {
	__u64 slot[TG_PREFIX_WAYS];
};
_Static_assert(sizeof(struct tg_prefix_set) == 32, "tg_prefix_set layout");

/* tg_penalty key: one source address. IPv4 uses word 0. Zero the key before
 * filling. */
struct tg_src_key {
	__u32 addr[4];		/* network byte order */
	__u8 family;		/* TG_FAMILY_* */
	__u8 pad[3];
};
_Static_assert(sizeof(struct tg_src_key) == 20, "tg_src_key layout");

/* tg_penalty value: until expiry_ns the source's new connections drop (and
 * its established flows too with TG_CONFIG_F_DROP_ESTABLISHED); an expired
 * entry is ignored and left for the LRU (or user space) to evict. */
struct tg_penalty {
	__u64 expiry_ns;
};
_Static_assert(sizeof(struct tg_penalty) == 8, "tg_penalty layout");

/* struct tg_config.flags */
/*
 * Blocked tenants and penalized sources lose their established flows too,
 * not only new ones. "New" is a TCP SYN without ACK, or a packet of another
 * protocol with no flow record; every other TCP packet is established, so a
 * connection older than the program (or than its LRU record) keeps going.
 */
#define TG_CONFIG_F_DROP_ESTABLISHED	(1u << 0)
/* TC egress sets departure times (skb->tstamp, EDT) per tenant from
 * tg_tenant_config.egress_bytes_per_sec. Only the fq qdisc honours them:
 * it must be the root qdisc of the device (or of each mq class), else the
 * timestamps are ignored and nothing is paced. */
#define TG_CONFIG_F_EGRESS_PACING	(1u << 1)
#define TG_CONFIG_F__ALL		(TG_CONFIG_F_DROP_ESTABLISHED | TG_CONFIG_F_EGRESS_PACING)

/* tg_config[0]: node-wide settings pushed by the daemon. All zero: no
 * prefix limit, no flood guard, default tenant 0, events sampled at the
 * defaults of limits.h, the real clock. */
struct tg_config {
	__u64 prefix_syn_interval_ns;	/* GCRA T per source prefix; 0: no limit */
	__u64 prefix_syn_burst_ns;	/* GCRA tau */
	__u32 flood_flows_per_sec;	/* new flow inserts per CPU per second; 0: no guard */
	__u32 flags;			/* TG_CONFIG_F_* */
	__u8 prefix_len_v4;		/* 0..32; 0: TG_SYN_PREFIX_V4_DEFAULT (24) */
	__u8 prefix_len_v6;		/* 0..128; 0: TG_SYN_PREFIX_V6_DEFAULT (56) */
	/* ABI 3: tg_syn_prefix keeps TATs in units of 2^this ns (at most
	 * 32), chosen by user space (kern_prefix_tat_shift) so that tau + T
	 * is a small part of the slot's 48-bit span. */
	__u8 prefix_tat_shift;
	__u8 pad;
	/* ABI 3: the generation of the LPM tries, bumped by user space after
	 * every policy push (never 0 once pushed; 0 turns tg_tenant_cache
	 * off). A cached tenant of another generation is not used. */
	__u16 lpm_gen;
	__u8 pad2[2];
	/* ---- ABI 2 ---- */
	/*
	 * FOR TESTS ONLY: when not 0, the programs take this as "now" instead
	 * of bpf_ktime_get_ns(), so that the test suite can drive the GCRA
	 * limiters, the flood guard window and expiries with injected time
	 * through bpf_prog_test_run. tollctl and the daemon never set it and
	 * always write 0.
	 */
	__u64 clock_override_ns;
	/* Tenant of sources no LPM prefix matches; 0 is TG_TENANT_NONE. */
	__u32 default_tenant_id;
	/* Ring buffer events: one in this many candidates (drops, limiter
	 * trips) per CPU; 0: TG_EVENT_SAMPLE_DEFAULT; 1: every one. */
	__u32 event_sample_every;
	/* At most this many events per CPU per second, whatever the sampling;
	 * 0: TG_EVENTS_PER_SEC_DEFAULT. */
	__u32 events_per_sec;
	/* ABI 3: mixed into the hash that places a source prefix in
	 * tg_syn_prefix, so that nobody outside can aim sources at another
	 * prefix's slot. Random, chosen once by user space and kept across
	 * policy pushes (a new seed would set every prefix at rest). */
	__u32 prefix_hash_seed;
};
_Static_assert(sizeof(struct tg_config) == 56, "tg_config layout");

/* tg_flood[0], per CPU: the current one-second window of flow inserts and
 * of events, and the event sampling sequence. */
struct tg_flood_window {
	__u64 start_ns;
	__u64 inserts;		/* flow inserts in the window */
	/* ---- ABI 2 ---- */
	__u64 events;		/* events written in the window */
	__u64 event_skip;	/* event candidates to skip before the next sample */
};
_Static_assert(sizeof(struct tg_flood_window) == 32, "tg_flood_window layout");

/* tg_pace value (ABI 2): the tenant's next free departure time at egress
 * (EDT pacing), updated with compare-and-swap. */
struct tg_pace {
	__u64 next_ns;
};
_Static_assert(sizeof(struct tg_pace) == 8, "tg_pace layout");

/* tg_tenant_stats value, per CPU; sum over CPUs to read. packets/bytes_in
 * are the tenant's packets that XDP passed; its drops are counted in the
 * last four fields. */
struct tg_tenant_stats {
	__u64 packets_in;
	__u64 bytes_in;
	__u64 packets_out;
	__u64 bytes_out;
	__u64 tokens_in;
	__u64 tokens_out;
	__u64 flows_new;
	__u64 syn_passed;	/* SYN without ACK admitted */
	__u64 syn_tenant_limited;
	__u64 syn_prefix_limited;
	__u64 blocked;		/* drops: TG_REASON_TENANT_BLOCKED */
	__u64 penalty;		/* drops: TG_REASON_PENALTY */
};
_Static_assert(sizeof(struct tg_tenant_stats) == 96, "tg_tenant_stats layout");

/* tg_stats value, per CPU, indexed by enum tg_reason: packets and bytes
 * that ended in that reason, per hook. Sum over CPUs to read. */
struct tg_reason_stats {
	__u64 packets[TG_HOOK__COUNT];
	__u64 bytes[TG_HOOK__COUNT];	/* frame bytes (XDP), skb->len (TC) */
};
_Static_assert(sizeof(struct tg_reason_stats) == 32, "tg_reason_stats layout");

/* struct tg_event.type */
enum tg_event_type {
	TG_EVENT_DROP = 0,	/* a sampled drop; reason says why */
	TG_EVENT_LIMIT,		/* a limiter tripped (SYN GCRA, flood guard) */
};

/* tg_events ring buffer record. */
struct tg_event {
	__u64 ts_ns;
	struct tg_flow_key key;
	__u32 tenant_id;
	__u32 ifindex;
	__u32 pkt_len;
	__u16 reason;		/* enum tg_reason */
	__u8 hook;		/* enum tg_hook */
	__u8 type;		/* enum tg_event_type */
};
_Static_assert(sizeof(struct tg_event) == 64, "tg_event layout");

/*
 * What one side was compiled with. Every program object carries one in
 * .rodata (`tg_abi_info`, filled with TG_ABI_INFO_INIT), so a loader can
 * compare an object, or a program already attached, with its own build
 * before sharing pinned maps with it.
 */
struct tg_abi_info {
	__u32 abi_version;
	__u32 reason_count;
	__u32 hook_count;
	__u32 flow_key_size;
	__u32 flow_size;
	__u32 lpm_v4_key_size;
	__u32 lpm_v6_key_size;
	__u32 lpm_value_size;
	__u32 tenant_config_size;
	__u32 gcra_size;
	__u32 prefix_set_size;	/* ABI 3; was prefix_key_size */
	__u32 src_key_size;
	__u32 penalty_size;
	__u32 config_size;
	__u32 tenant_stats_size;
	__u32 reason_stats_size;
	__u32 event_size;
	__u32 pace_size;	/* ABI 2; was padding */
};
_Static_assert(sizeof(struct tg_abi_info) == 72, "tg_abi_info layout");

#define TG_ABI_INFO_INIT {						\
	.abi_version		= TG_ABI_VERSION,			\
	.reason_count		= TG_REASON__COUNT,			\
	.hook_count		= TG_HOOK__COUNT,			\
	.flow_key_size		= sizeof(struct tg_flow_key),		\
	.flow_size		= sizeof(struct tg_flow),		\
	.lpm_v4_key_size	= sizeof(struct tg_lpm_v4_key),		\
	.lpm_v6_key_size	= sizeof(struct tg_lpm_v6_key),		\
	.lpm_value_size		= sizeof(struct tg_lpm_value),		\
	.tenant_config_size	= sizeof(struct tg_tenant_config),	\
	.gcra_size		= sizeof(struct tg_gcra),		\
	.prefix_set_size	= sizeof(struct tg_prefix_set),		\
	.src_key_size		= sizeof(struct tg_src_key),		\
	.penalty_size		= sizeof(struct tg_penalty),		\
	.config_size		= sizeof(struct tg_config),		\
	.tenant_stats_size	= sizeof(struct tg_tenant_stats),	\
	.reason_stats_size	= sizeof(struct tg_reason_stats),	\
	.event_size		= sizeof(struct tg_event),		\
	.pace_size		= sizeof(struct tg_pace),		\
}

#endif /* TOLLGATE_ABI_H */
