// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tg_xdp_ingress: the first look at every received frame.
 *
 * For now: parse L2/L3, count the verdict and the run, drop malformed
 * headers and pass everything else. Tenant lookup, the penalty box, SYN
 * limits and flow accounting build on this parse (DESIGN.md, "The kernel
 * side").
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include <tollgate/abi.h>

#include "lib/common.h"
#include "lib/parse.h"

SEC("xdp")
int tg_xdp_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct tg_cursor c = { .pos = data, .end = data_end };
	struct tg_pkt pkt = {};
	enum tg_reason reason;

	tg_count_run(TG_HOOK_XDP_INGRESS);
	reason = tg_parse_packet(&c, &pkt, TG_PARSE_INGRESS);
	/* The whole frame, also once the program is made multi-buffer
	 * aware (xdp.frags) for jumbo MTUs, where data_end - data is only
	 * the first buffer. */
	tg_count_verdict(TG_HOOK_XDP_INGRESS, reason, bpf_xdp_get_buff_len(ctx));

	/* A frame whose headers do not parse cannot be accounted to anyone;
	 * the stack would drop it too, later and at greater cost. */
	if (reason == TG_REASON_MALFORMED)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
