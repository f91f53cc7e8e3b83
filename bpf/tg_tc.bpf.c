// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tg_tc_egress: the last look at every transmitted packet, for response
 * packets and bytes per flow and tenant, and optional per-tenant pacing.
 *
 * A response is matched to its flow by the reversed 5-tuple (XDP ingress
 * keys flows client→server); its tenant is the flow's, else the longest
 * prefix of the destination (the client), else tg_config's default. A GSO
 * skb counts as gso_segs packets and skb->len bytes. Egress never drops and
 * never inserts flow records: a packet the local stack built is counted,
 * not judged.
 *
 * Pacing (TG_CONFIG_F_EGRESS_PACING and a tenant's egress_bytes_per_sec):
 * each packet gets a departure time (skb->tstamp, EDT) from the tenant's
 * shared next-free time. Only the fq qdisc acts on it, so fq must be the
 * root qdisc of the device (`tc qdisc replace dev DEV root fq`, or fq under
 * each mq class); with any other qdisc the timestamps are ignored.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"

#define TG_NSEC_PER_SEC		1000000000ull

/* A subprogram for the verifier's sake, as tg_xdp_parse. */
static __noinline enum tg_reason tg_tc_parse(struct __sk_buff *skb,
					     struct tg_pkt *pkt)
{
	struct tg_cursor c = {
		.start = (void *)(long)skb->data,
		.pos = (void *)(long)skb->data,
		.end = (void *)(long)skb->data_end,
	};

	return tg_parse_packet(&c, pkt, TG_PARSE_EGRESS);
}

/*
 * EDT pacing: the packet leaves at the tenant's next free time (or its own
 * timestamp, or now, whichever is latest), and moves that time on by its
 * length at the tenant's rate, with one compare-and-swap so that CPUs
 * sending for the same tenant share one schedule. A schedule more than
 * TG_PACE_HORIZON_NS ahead is not moved further: the packet leaves at the
 * horizon (fq would drop it past its own).
 */
static __always_inline void tg_pace_skb(struct __sk_buff *skb, __u32 tenant,
					__u64 rate, __u64 now)
{
	struct tg_pace *p = bpf_map_lookup_elem(&tg_pace, &tenant);
	__u64 delay, ts, old, start;
	int i;

	if (!p)
		return;
	delay = (__u64)skb->len * TG_NSEC_PER_SEC / rate;
	ts = skb->tstamp;
	if (ts < now)
		ts = now;
	for (i = 0; i < TG_GCRA_CAS_TRIES; i++) {
		old = *(volatile __u64 *)&p->next_ns;
		start = old > ts ? old : ts;
		if (start - now > TG_PACE_HORIZON_NS) {
			skb->tstamp = now + TG_PACE_HORIZON_NS;
			return;
		}
		if (__sync_val_compare_and_swap(&p->next_ns, old,
						start + delay) == old) {
			skb->tstamp = start;
			return;
		}
	}
}

SEC("tc")
int tg_tc_egress(struct __sk_buff *skb)
{
	struct tg_pkt pkt = {};
	struct tg_flow_key key;
	struct tg_tenant_config *tc;
	struct tg_tenant_stats *ts;
	struct tg_config *cfg;
	struct tg_flow *flow;
	enum tg_reason reason;
	__u32 pull, tenant, segs, payload, bpt;
	__u64 now, tok;

	tg_count_run(TG_HOOK_TC_EGRESS);
	reason = tg_tc_parse(skb, &pkt);
	if (reason == TG_REASON_MALFORMED) {
		/*
		 * Direct access reaches only the linear part of the skb, and a
		 * header may sit in paged data. Pull a bounded prefix into the
		 * linear part and look again; only this rare path pays for it
		 * (a pull can copy the head of a cloned skb).
		 */
		pull = skb->len < TG_TC_PULL_BYTES ? skb->len : TG_TC_PULL_BYTES;
		if (!bpf_skb_pull_data(skb, pull)) {
			__builtin_memset(&pkt, 0, sizeof(pkt));
			reason = tg_tc_parse(skb, &pkt);
		}
	}
	tg_count_verdict(TG_HOOK_TC_EGRESS, reason, skb->len);
	if (reason != TG_REASON_PASS)
		return TC_ACT_OK;
	cfg = tg_config_get();
	if (!cfg)
		return TC_ACT_OK;

	now = tg_now(cfg);
	tg_flow_key_fill(&key, &pkt, 1);
	flow = bpf_map_lookup_elem(&tg_flows, &key);
	tenant = flow ? flow->tenant_id :
			tg_tenant_of(pkt.family, pkt.daddr, cfg);
	tc = tg_tenant_config_get(tenant);
	ts = tg_tenant_stats_get(tenant);
	segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	/* One set of headers: the payload of every segment together. */
	payload = skb->len > pkt.payload_off ? skb->len - pkt.payload_off : 0;

	if (flow) {
		flow->last_seen_ns = now;
		flow->packets_out += segs;
		flow->bytes_out += skb->len;
		flow->payload_out += payload;
		flow->tcp_flags_out |= pkt.tcp_flags;
		bpt = tc ? tc->bytes_per_token : 0;
		if (bpt && payload) {	/* no payload, no new tokens */
			tok = flow->payload_out / bpt;
			if (tok > flow->tokens_out) {
				if (ts)
					ts->tokens_out += tok - flow->tokens_out;
				flow->tokens_out = tok;
			}
		}
	}
	if (ts) {
		ts->packets_out += segs;
		ts->bytes_out += skb->len;
	}
	if ((cfg->flags & TG_CONFIG_F_EGRESS_PACING) && tc &&
	    tc->egress_bytes_per_sec)
		tg_pace_skb(skb, tenant, tc->egress_bytes_per_sec, now);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
