// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tg_tc_egress: the last look at every transmitted packet, for response
 * bytes per flow and tenant.
 *
 * For now: parse L2/L3 and count the verdict and the run. Egress never
 * drops: a packet the local stack built is counted, not judged.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

#include "lib/common.h"
#include "lib/parse.h"

static __always_inline enum tg_reason tg_tc_parse(struct __sk_buff *skb,
						  struct tg_pkt *pkt)
{
	struct tg_cursor c = {
		.pos = (void *)(long)skb->data,
		.end = (void *)(long)skb->data_end,
	};

	return tg_parse_packet(&c, pkt, TG_PARSE_EGRESS);
}

SEC("tc")
int tg_tc_egress(struct __sk_buff *skb)
{
	struct tg_pkt pkt = {};
	enum tg_reason reason;
	__u32 pull;

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
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
