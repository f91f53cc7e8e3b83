// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tg_xdp_ingress: the first look at every received frame.
 *
 * A frame is parsed (L2 to L4; non-IP and fragments pass, malformed headers
 * drop), given a tenant (the one cached in its flow record, else the
 * longest source prefix in tg_lpm_v4/v6, else tg_config's default), and
 * judged: a new connection (TCP SYN without ACK, or another protocol's
 * packet without a flow record) of a blocked tenant or a penalized source
 * drops; so does an established one when tg_config says so. A SYN then
 * passes the per-prefix and the per-tenant GCRA limiters, in that order, so
 * that one noisy prefix spends its own budget and not its tenant's (a
 * tenant already over its limit refuses first: refusing spends nothing). What
 * passes is accounted in its flow record, inserted unless the per-CPU flood
 * guard says this CPU has inserted enough this second.
 *
 * Every frame ends in exactly one tg_stats reason. Drops and limiter trips
 * are candidates for a ring buffer event, sampled and capped per CPU.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <tollgate/abi.h>
#include <tollgate/hint.h>
#include <tollgate/limits.h>

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/gcra.h"

static __always_inline struct tg_flood_window *tg_flood_get(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&tg_flood, &key);
}

/* Starts a new one-second window when the current one is over (or when a
 * test clock went backwards). */
static __always_inline void tg_window_roll(struct tg_flood_window *w, __u64 now)
{
	if (now < w->start_ns || now - w->start_ns >= TG_FLOOD_WINDOW_NS) {
		w->start_ns = now;
		w->inserts = 0;
		w->events = 0;
	}
}

/*
 * A drop or a limiter trip: one in event_sample_every of them per CPU
 * becomes an event, at most events_per_sec per CPU per second, so that a
 * flood costs the ring buffer (and its reader) a bounded amount. `now` 0:
 * not read yet (the cheap drops skip the clock), read here if needed.
 */
static __always_inline void tg_emit(struct xdp_md *ctx,
				    const struct tg_config *cfg, __u64 now,
				    enum tg_event_type type,
				    enum tg_reason reason,
				    const struct tg_flow_key *key,
				    __u32 tenant, __u32 len)
{
	struct tg_flood_window *w = tg_flood_get();
	struct tg_event *e;
	__u64 every, cap, skip;

	if (!w)
		return;
	every = cfg->event_sample_every ? cfg->event_sample_every :
					  TG_EVENT_SAMPLE_DEFAULT;
	cap = cfg->events_per_sec ? cfg->events_per_sec :
				    TG_EVENTS_PER_SEC_DEFAULT;
	/* Every `every`-th candidate, by a countdown (a division here cost
	 * more than the rest of a drop). A count at or above `every` is
	 * stale (an older program counted up here, or the rate changed):
	 * it starts over. */
	skip = w->event_skip;
	if (skip && skip < every) {
		w->event_skip = skip - 1;
		return;
	}
	w->event_skip = every - 1;
	if (!now)
		now = tg_now(cfg);
	tg_window_roll(w, now);
	if (w->events >= cap)
		return;
	e = bpf_ringbuf_reserve(&tg_events, sizeof(*e), 0);
	if (!e)
		return;
	w->events++;
	e->ts_ns = now;
	__builtin_memcpy(&e->key, key, sizeof(e->key));
	e->tenant_id = tenant;
	e->ifindex = ctx->ingress_ifindex;
	e->pkt_len = len;
	e->reason = reason;
	e->hook = TG_HOOK_XDP_INGRESS;
	e->type = type;
	bpf_ringbuf_submit(e, 0);
}

/* The source is in the penalty box and its time is not up. The hint
 * (tollgate/hint.h) answers for nearly every source that is not, without
 * the hash lookup. */
static __always_inline int tg_is_penalized(const struct tg_pkt *pkt, __u64 now)
{
	struct tg_src_key k;
	struct tg_penalty *p;
	__u64 bits, *w;
	__u32 word;

	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memcpy(k.addr, pkt->saddr, sizeof(k.addr));
	k.family = pkt->family;
	tg_penalty_hint_of(&k, &word, &bits);
	w = bpf_map_lookup_elem(&tg_penalty_hint, &word);
	if (w && (*(volatile __u64 *)w & bits) != bits)
		return 0;
	p = bpf_map_lookup_elem(&tg_penalty, &k);
	return p && p->expiry_ns > now;
}

/* The network-order mask of address word `word` (0..3) for a prefix of
 * plen bits. */
static __always_inline __u32 tg_word_mask(__u32 plen, __u32 word)
{
	__u32 bits;

	if (plen <= word * 32)
		return 0;
	bits = plen - word * 32;
	if (bits >= 32)
		return 0xffffffffu;
	return bpf_htonl(~0u << (32 - bits));
}

/* One round of a multiply-xorshift hash over a 64-bit word. */
static __always_inline __u64 tg_hash_step(__u64 h, __u64 w)
{
	h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 32);
}

/* The per-prefix SYN limiter (tg_config's rate, per tenant and source
 * prefix), on tg_syn_prefix's set-associative table (abi.h): 1 admitted.
 * The set and the tag come from a seeded hash of (tenant, family, prefix
 * length, masked address). */
static __always_inline int tg_syn_prefix_admit(const struct tg_pkt *pkt,
					       __u32 tenant,
					       const struct tg_config *cfg,
					       __u64 now)
{
	__u32 a[4], plen, shift, idx;
	struct tg_prefix_set *set;
	__u64 h, tag, t, tau;
	int i;

	if (pkt->family == TG_FAMILY_IPV4) {
		plen = cfg->prefix_len_v4 ? cfg->prefix_len_v4 :
					    TG_SYN_PREFIX_V4_DEFAULT;
		if (plen > 32)
			plen = 32;
	} else {
		plen = cfg->prefix_len_v6 ? cfg->prefix_len_v6 :
					    TG_SYN_PREFIX_V6_DEFAULT;
		if (plen > 128)
			plen = 128;
	}
#pragma unroll
	for (i = 0; i < 4; i++)
		a[i] = pkt->saddr[i] & tg_word_mask(plen, i);

	h = tg_hash_step((__u64)cfg->prefix_hash_seed << 32 | 0x746770u,
			 (__u64)tenant << 16 | (__u64)pkt->family << 8 | plen);
	h = tg_hash_step(h, (__u64)a[0] << 32 | a[1]);
	if (pkt->family != TG_FAMILY_IPV4)
		h = tg_hash_step(h, (__u64)a[2] << 32 | a[3]);
	/* murmur3's finalizer: every input bit reaches the tag and the index. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;

	idx = (__u32)h & (TG_SYN_PREFIX_SETS - 1);
	tag = h & ~TG_PREFIX_TAT_MASK;
	if (!tag)
		tag = 1ull << TG_PREFIX_TAG_SHIFT;
	set = bpf_map_lookup_elem(&tg_syn_prefix, &idx);
	if (!set)
		return 1;	/* cannot happen: idx < max_entries */

	shift = cfg->prefix_tat_shift;
	if (shift > 32)
		shift = 32;
	t = (cfg->prefix_syn_interval_ns + ((1ull << shift) >> 1)) >> shift;
	if (!t)
		t = 1;
	tau = cfg->prefix_syn_burst_ns >> shift;
	return tg_gcra_set_admit(set, tag, now >> shift, t, tau);
}

/* The flood guard: 1 when this CPU may insert one more flow record in the
 * current window (and counts it), 0 when it has inserted enough. */
static __always_inline int tg_flood_allows(const struct tg_config *cfg,
					   __u64 now)
{
	struct tg_flood_window *w;

	if (!cfg->flood_flows_per_sec)
		return 1;
	w = tg_flood_get();
	if (!w)
		return 1;
	tg_window_roll(w, now);
	if (w->inserts >= cfg->flood_flows_per_sec)
		return 0;
	w->inserts++;
	return 1;
}

/* One ingress packet into a flow record; the token estimate follows the
 * payload total, and its growth goes to the tenant. */
static __always_inline void tg_flow_add_in(struct tg_flow *f, __u32 len,
					   __u32 payload, __u8 flags,
					   __u32 bpt, __u64 now,
					   struct tg_tenant_stats *ts)
{
	__u64 tok;

	f->last_seen_ns = now;
	f->packets_in += 1;
	f->bytes_in += len;
	f->payload_in += payload;
	f->tcp_flags_in |= flags;
	if (bpt && payload) {	/* no payload, no new tokens: no division */
		tok = f->payload_in / bpt;
		if (tok > f->tokens_in) {
			if (ts)
				ts->tokens_in += tok - f->tokens_in;
			f->tokens_in = tok;
		}
	}
}

/*
 * The parse, as a subprogram of its own: what the rest of the program needs
 * from it are scalars in *pkt, so the verifier meets the many ways through
 * the headers (tags, options, extension headers) as a handful of states at
 * the return instead of carrying each packet-pointer offset through the
 * whole datapath.
 */
static __noinline enum tg_reason tg_xdp_parse(struct xdp_md *ctx,
					      struct tg_pkt *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct tg_cursor c = { .start = data, .pos = data, .end = data_end };

	return tg_parse_packet(&c, pkt, TG_PARSE_INGRESS);
}

SEC("xdp")
int tg_xdp_ingress(struct xdp_md *ctx)
{
	struct tg_pkt pkt = {};
	struct tg_flow_key key;
	struct tg_flow *flow = NULL, nf;
	struct tg_tenant_config *tc;
	struct tg_tenant_stats *ts;
	struct tg_config *cfg;
	enum tg_event_type ev = TG_EVENT_DROP;
	enum tg_reason reason;
	__u32 len, tenant = 0, payload, end, bpt;
	__u64 now = 0;
	int is_syn, err;

	tg_count_run(TG_HOOK_XDP_INGRESS);
	/* The whole frame: the program is not multi-buffer aware (no
	 * xdp.frags), so the frame is all in one buffer and this is its
	 * length, without bpf_xdp_get_buff_len()'s helper call. A frags-aware
	 * build (jumbo MTUs) must take the helper's answer instead. */
	len = (__u32)(ctx->data_end - ctx->data);
	reason = tg_xdp_parse(ctx, &pkt);
	cfg = tg_config_get();
	if (!cfg)
		goto out_no_config;

	if (reason != TG_REASON_PASS) {
		tg_count_verdict(TG_HOOK_XDP_INGRESS, reason, len);
		/* A frame whose headers do not parse cannot be accounted to
		 * anyone; the stack would drop it too, later and at greater
		 * cost. */
		if (reason != TG_REASON_MALFORMED)
			return XDP_PASS;
		tg_flow_key_fill(&key, &pkt, 0);
		tg_emit(ctx, cfg, 0, TG_EVENT_DROP, reason, &key, 0, len);
		return XDP_DROP;
	}

	tg_flow_key_fill(&key, &pkt, 0);
	is_syn = pkt.proto == IPPROTO_TCP &&
		 (pkt.tcp_flags & (TG_TCP_SYN | TG_TCP_ACK)) == TG_TCP_SYN;
	/* A SYN rarely has a record (a retransmission may), and the SYN path
	 * is the one floods take: it goes to the LPM directly and meets its
	 * record, if any, at the insert. */
	if (!is_syn)
		flow = bpf_map_lookup_elem(&tg_flows, &key);
	tenant = flow ? flow->tenant_id :
			tg_tenant_of(pkt.family, pkt.saddr, cfg);
	tc = tg_tenant_config_get(tenant);
	ts = tg_tenant_stats_get(tenant);

	/* New connections of blocked tenants and penalized sources drop;
	 * established ones only when the node says so (abi.h). */
	if (is_syn || (pkt.proto != IPPROTO_TCP && !flow) ||
	    (cfg->flags & TG_CONFIG_F_DROP_ESTABLISHED)) {
		/* Before the clock is read: the cheapest drop there is. */
		if (tc && (tc->flags & TG_TENANT_F_BLOCKED)) {
			reason = TG_REASON_TENANT_BLOCKED;
			if (ts)
				ts->blocked += 1;
			goto out_drop;
		}
		now = tg_now(cfg);
		if (tg_is_penalized(&pkt, now)) {
			reason = TG_REASON_PENALTY;
			if (ts)
				ts->penalty += 1;
			goto out_drop;
		}
	}

	if (!now)
		now = tg_now(cfg);
	if (is_syn) {
		struct tg_gcra *tg = NULL;

		if (tc && tc->syn_interval_ns)
			tg = bpf_map_lookup_elem(&tg_syn_tenant, &tenant);
		/* A tenant already over its limit refuses the SYN whatever
		 * its prefix would say, and a refusal changes no state: so
		 * it refuses first, and a spoofed flood that has exhausted
		 * its tenant neither looks up nor inserts a prefix record
		 * per packet. Only a prefix limiter that admits spends its
		 * budget, as before; the tenant's state evolves exactly as
		 * in prefix-then-tenant order. */
		if (tg && tg_gcra_refuses(&tg->tat_ns, now, tc->syn_burst_ns))
			goto out_syn_tenant_limit;
		if (cfg->prefix_syn_interval_ns &&
		    !tg_syn_prefix_admit(&pkt, tenant, cfg, now)) {
			reason = TG_REASON_SYN_PREFIX_LIMIT;
			if (ts)
				ts->syn_prefix_limited += 1;
			ev = TG_EVENT_LIMIT;
			goto out_drop;
		}
		if (tg && !tg_gcra_admit(&tg->tat_ns, now, tc->syn_interval_ns,
					 tc->syn_burst_ns))
			goto out_syn_tenant_limit;
		if (ts)
			ts->syn_passed += 1;
	}

	/* Payload by the IP length, so Ethernet padding is not payload. */
	end = pkt.l3_len ? pkt.l3_off + pkt.l3_len : len;
	payload = end > pkt.payload_off ? end - pkt.payload_off : 0;
	bpt = tc ? tc->bytes_per_token : 0;

	if (flow) {
		tg_flow_add_in(flow, len, payload, pkt.tcp_flags, bpt, now, ts);
	} else if (!tg_flood_allows(cfg, now)) {
		reason = TG_REASON_FLOOD_GUARD;
		tg_emit(ctx, cfg, now, TG_EVENT_LIMIT, reason, &key, tenant,
			len);
	} else {
		__builtin_memset(&nf, 0, sizeof(nf));
		nf.first_seen_ns = now;
		nf.tenant_id = tenant;
		tg_flow_add_in(&nf, len, payload, pkt.tcp_flags, bpt, now, ts);
		err = bpf_map_update_elem(&tg_flows, &key, &nf, BPF_NOEXIST);
		if (!err) {
			if (ts)
				ts->flows_new += 1;
		} else {
			/* A SYN retransmission, or another CPU inserted
			 * first: the packet goes to the record that is
			 * there, and the tokens the stack copy gave the
			 * tenant are taken back. */
			flow = bpf_map_lookup_elem(&tg_flows, &key);
			if (flow) {
				if (ts && nf.tokens_in)
					ts->tokens_in -= nf.tokens_in;
				tg_flow_add_in(flow, len, payload,
					       pkt.tcp_flags, bpt, now, ts);
			}
		}
	}
	if (ts) {
		ts->packets_in += 1;
		ts->bytes_in += len;
	}
	tg_count_verdict(TG_HOOK_XDP_INGRESS, reason, len);
	return XDP_PASS;

out_syn_tenant_limit:
	reason = TG_REASON_SYN_TENANT_LIMIT;
	if (ts)
		ts->syn_tenant_limited += 1;
	ev = TG_EVENT_LIMIT;
out_drop:
	tg_count_verdict(TG_HOOK_XDP_INGRESS, reason, len);
	tg_emit(ctx, cfg, now, ev, reason, &key, tenant, len);
	return XDP_DROP;

out_no_config:
	/* tg_config is an ARRAY of one: its slot always exists. */
	tg_count_verdict(TG_HOOK_XDP_INGRESS, reason, len);
	return reason == TG_REASON_MALFORMED ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
