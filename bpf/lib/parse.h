/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the tollgate programs: Ethernet with up to TG_VLAN_MAX
 * tags, IPv4 with options, IPv6 with up to TG_IPV6_EXT_MAX extension headers.
 * Direct packet access through a cursor; every read is bounds-checked against
 * the cursor's end, so the same helpers serve XDP (xdp_md) and TC (__sk_buff).
 *
 * Each parser returns the verdict reason it reached: TG_REASON_PASS means
 * "parsed, go on"; anything else is final for the packet.
 */
#ifndef TG_BPF_PARSE_H
#define TG_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

/* Kernel-internal definitions the UAPI headers do not export. */
#define TG_IP_MF		0x2000	/* RFC 791: more fragments */
#define TG_IP_OFFSET		0x1fff	/* RFC 791: fragment offset, 8-byte units */
#define TG_IP6_FRAG_OFFSET	0xfff8	/* RFC 8200 §4.5: fragment offset */
#define TG_IP6_FRAG_MF		0x0001	/* RFC 8200 §4.5: M flag */

/* IEEE 802.1Q tag, after the outer EtherType. */
struct tg_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* RFC 8200 §4.5 fragment header. */
struct tg_ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

/* Where parsing is; pos only ever moves forward and never past end. */
struct tg_cursor {
	void *pos;
	void *end;
};

/* What tg_parse_packet found, valid when it returned PASS. */
struct tg_pkt {
	void *l3;		/* network header */
	void *l4;		/* transport header, not bounds-checked */
	__u8 family;		/* TG_FAMILY_*; 0 for non-IP */
	__u8 proto;		/* IPPROTO_* of the transport header */
	__u8 vlans;		/* tags skipped */
};

static __always_inline int tg_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) ||
	       proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Ethernet, then up to TG_VLAN_MAX 802.1Q/802.1ad tags. *proto is the inner
 * EtherType (network order); a frame with more tags than that reports the
 * remaining tag's EtherType, which the caller treats as non-IP. A header or
 * tag cut short by the end of the data is MALFORMED.
 */
static __always_inline enum tg_reason
tg_parse_eth(struct tg_cursor *c, struct tg_pkt *pkt, __be16 *proto)
{
	struct ethhdr *eth = c->pos;
	struct tg_vlan_hdr *vh;
	__be16 p;
	int i;

	if ((void *)(eth + 1) > c->end)
		return TG_REASON_MALFORMED;
	p = eth->h_proto;
	c->pos = eth + 1;

#pragma unroll
	for (i = 0; i < TG_VLAN_MAX; i++) {
		if (!tg_is_vlan(p))
			break;
		vh = c->pos;
		if ((void *)(vh + 1) > c->end)
			return TG_REASON_MALFORMED;
		p = vh->proto;
		c->pos = vh + 1;
		pkt->vlans++;
	}
	*proto = p;
	return TG_REASON_PASS;
}

/* Where a packet is seen; changes which header fields can be trusted. */
enum tg_parse_dir {
	TG_PARSE_INGRESS = 0,	/* a frame off the wire */
	TG_PARSE_EGRESS,	/* an skb of the local stack, maybe GSO */
};

/*
 * IPv4 (RFC 791): version 4, IHL >= 5 and the whole header, options included,
 * inside the data; total length not shorter than the header, except that at
 * egress 0 is allowed: a BIG TCP GSO skb (Linux 6.3+) carries it. Any
 * fragment, the first included, is FRAGMENT: its L4 header is absent or
 * partial.
 */
static __always_inline enum tg_reason
tg_parse_ipv4(struct tg_cursor *c, struct tg_pkt *pkt, enum tg_parse_dir dir)
{
	struct iphdr *iph = c->pos;
	__u32 hlen, tot_len;

	if ((void *)(iph + 1) > c->end)
		return TG_REASON_MALFORMED;
	if (iph->version != 4 || iph->ihl < 5)
		return TG_REASON_MALFORMED;
	hlen = iph->ihl * 4;
	if (c->pos + hlen > c->end)
		return TG_REASON_MALFORMED;
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < hlen && !(dir == TG_PARSE_EGRESS && tot_len == 0))
		return TG_REASON_MALFORMED;

	pkt->l3 = iph;
	pkt->family = TG_FAMILY_IPV4;
	pkt->proto = iph->protocol;
	c->pos += hlen;
	pkt->l4 = c->pos;
	if (iph->frag_off & bpf_htons(TG_IP_MF | TG_IP_OFFSET))
		return TG_REASON_FRAGMENT;
	return TG_REASON_PASS;
}

/*
 * IPv6 (RFC 8200): the fixed header, then up to TG_IPV6_EXT_MAX extension
 * headers (§4: hop-by-hop, routing, destination options, fragment; RFC 4302
 * AH). A fragment header with an offset or the M flag is FRAGMENT; an atomic
 * fragment (RFC 6946) is walked through. More extension headers than the
 * bound is IPV6_EXT_LIMIT. ESP and anything else end the walk as the
 * transport protocol.
 */
static __always_inline enum tg_reason
tg_parse_ipv6(struct tg_cursor *c, struct tg_pkt *pkt)
{
	struct ipv6hdr *ip6 = c->pos;
	struct ipv6_opt_hdr *oh;
	struct tg_ipv6_frag_hdr *fh;
	__u32 len;
	__u8 next;
	int i;

	if ((void *)(ip6 + 1) > c->end)
		return TG_REASON_MALFORMED;
	if (ip6->version != 6)
		return TG_REASON_MALFORMED;

	pkt->l3 = ip6;
	pkt->family = TG_FAMILY_IPV6;
	next = ip6->nexthdr;
	c->pos = ip6 + 1;

#pragma unroll
	for (i = 0; i < TG_IPV6_EXT_MAX; i++) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			oh = c->pos;
			if ((void *)(oh + 1) > c->end)
				return TG_REASON_MALFORMED;
			len = ((__u32)oh->hdrlen + 1) * 8;
			next = oh->nexthdr;
			break;
		case IPPROTO_AH:
			oh = c->pos;
			if ((void *)(oh + 1) > c->end)
				return TG_REASON_MALFORMED;
			len = ((__u32)oh->hdrlen + 2) * 4;
			next = oh->nexthdr;
			break;
		case IPPROTO_FRAGMENT:
			fh = c->pos;
			if ((void *)(fh + 1) > c->end)
				return TG_REASON_MALFORMED;
			if (fh->frag_off &
			    bpf_htons(TG_IP6_FRAG_OFFSET | TG_IP6_FRAG_MF)) {
				pkt->proto = fh->nexthdr;
				return TG_REASON_FRAGMENT;
			}
			len = sizeof(*fh);
			next = fh->nexthdr;
			break;
		default:
			goto done;
		}
		if (c->pos + len > c->end)
			return TG_REASON_MALFORMED;
		c->pos += len;
	}
	switch (next) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_FRAGMENT:
		return TG_REASON_IPV6_EXT_LIMIT;
	}
done:
	pkt->proto = next;
	pkt->l4 = c->pos;
	return TG_REASON_PASS;
}

/* L2 and L3 of one frame: PASS, NON_IP, FRAGMENT, MALFORMED or
 * IPV6_EXT_LIMIT. `dir` is a constant at each call site. */
static __always_inline enum tg_reason
tg_parse_packet(struct tg_cursor *c, struct tg_pkt *pkt, enum tg_parse_dir dir)
{
	enum tg_reason reason;
	__be16 proto;

	reason = tg_parse_eth(c, pkt, &proto);
	if (reason != TG_REASON_PASS)
		return reason;
	if (proto == bpf_htons(ETH_P_IP))
		return tg_parse_ipv4(c, pkt, dir);
	if (proto == bpf_htons(ETH_P_IPV6))
		return tg_parse_ipv6(c, pkt);
	return TG_REASON_NON_IP;
}

#endif /* TG_BPF_PARSE_H */
