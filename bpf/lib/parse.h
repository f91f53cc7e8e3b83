/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the tollgate programs: Ethernet with up to TG_VLAN_MAX
 * tags, IPv4 with options, IPv6 with up to TG_IPV6_EXT_MAX extension headers,
 * then TCP or UDP.
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
#include <linux/tcp.h>
#include <linux/udp.h>
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

/* Where parsing is; pos only ever moves forward and never past end. start
 * is the first byte of the frame (offsets below count from it). */
struct tg_cursor {
	void *start;
	void *pos;
	void *end;
};

/* TCP flag byte (RFC 9293 §3.1, byte 13 of the header). */
#define TG_TCP_FIN		0x01
#define TG_TCP_SYN		0x02
#define TG_TCP_RST		0x04
#define TG_TCP_ACK		0x10

/* What tg_parse_packet found, valid when it returned PASS (addresses and
 * family also with FRAGMENT). Zero it before parsing. */
struct tg_pkt {
	__u32 saddr[4];		/* network byte order; IPv4 in word 0 */
	__u32 daddr[4];
	__u32 l3_off;		/* network header, from the frame start */
	/* The IP header and payload as the IP length fields say (frame
	 * padding excluded); 0 when they do not say (IPv4 BIG TCP at egress,
	 * an IPv6 jumbogram). */
	__u32 l3_len;
	__u32 payload_off;	/* L4 payload (TCP/UDP), else the L4 header */
	__be16 sport;		/* 0 unless TCP/UDP */
	__be16 dport;
	__u8 family;		/* TG_FAMILY_*; 0 for non-IP */
	__u8 proto;		/* IPPROTO_* of the transport header */
	__u8 vlans;		/* tags skipped */
	__u8 tcp_flags;		/* TCP: the flag byte */
};

/*
 * A 16-bit length field in host order, with bounds the verifier keeps.
 * Linux 6.1's verifier knows nothing of a byte swap's result (it makes the
 * register an unbounded scalar), and then refuses the length in packet
 * pointer arithmetic; later verifiers track it. The mask is opaque to
 * clang, which would otherwise drop it as redundant, so every verifier
 * sees 0..65535. tests/integration/test_debian_kernel.sh loads the
 * programs on Debian 12's own 6.1 kernel.
 */
static __always_inline __u32 tg_len16(__be16 v)
{
	__u32 h = bpf_ntohs(v);

	asm volatile("%0 &= 0xffff" : "+r"(h));
	return h;
}

static __always_inline __u32 tg_off(const struct tg_cursor *c, const void *p)
{
	return (__u32)(p - c->start);
}

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
 * egress 0 is allowed: a BIG TCP GSO skb (Linux 6.3+) carries it. At
 * ingress the total length must also fit in the frame (trailing padding is
 * fine); at egress the payload may sit in paged data past the linear part.
 * Any fragment, the first included, is FRAGMENT: its L4 header is absent or
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
	tot_len = tg_len16(iph->tot_len);
	if (tot_len < hlen && !(dir == TG_PARSE_EGRESS && tot_len == 0))
		return TG_REASON_MALFORMED;
	if (dir == TG_PARSE_INGRESS && c->pos + tot_len > c->end)
		return TG_REASON_MALFORMED;

	pkt->l3_off = tg_off(c, iph);
	pkt->l3_len = tot_len;
	pkt->family = TG_FAMILY_IPV4;
	pkt->proto = iph->protocol;
	pkt->saddr[0] = iph->saddr;
	pkt->daddr[0] = iph->daddr;
	c->pos += hlen;
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
 * transport protocol. At ingress a payload length past the frame is
 * MALFORMED; 0 (a jumbogram, RFC 2675) leaves the length unknown.
 */
static __always_inline enum tg_reason
tg_parse_ipv6(struct tg_cursor *c, struct tg_pkt *pkt, enum tg_parse_dir dir)
{
	struct ipv6hdr *ip6 = c->pos;
	struct ipv6_opt_hdr *oh;
	struct tg_ipv6_frag_hdr *fh;
	__u32 len, plen;
	__u8 next;
	int i;

	if ((void *)(ip6 + 1) > c->end)
		return TG_REASON_MALFORMED;
	if (ip6->version != 6)
		return TG_REASON_MALFORMED;
	plen = tg_len16(ip6->payload_len);
	if (dir == TG_PARSE_INGRESS && (void *)(ip6 + 1) + plen > c->end)
		return TG_REASON_MALFORMED;

	pkt->l3_off = tg_off(c, ip6);
	pkt->l3_len = plen ? plen + sizeof(*ip6) : 0;
	pkt->family = TG_FAMILY_IPV6;
	__builtin_memcpy(pkt->saddr, &ip6->saddr, sizeof(pkt->saddr));
	__builtin_memcpy(pkt->daddr, &ip6->daddr, sizeof(pkt->daddr));
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
	return TG_REASON_PASS;
}

/*
 * TCP (RFC 9293 §3.1: data offset >= 5 words, the whole header with options
 * inside the data) and UDP (RFC 768: length >= 8; at ingress inside the
 * frame). Both must end within the IP length when it is known. Any other
 * protocol passes with ports 0 and its payload counted from the L4 header.
 */
static __always_inline enum tg_reason
tg_parse_l4(struct tg_cursor *c, struct tg_pkt *pkt, enum tg_parse_dir dir)
{
	struct tcphdr *th;
	struct udphdr *uh;
	__u32 hlen, ulen;

	if (pkt->proto == IPPROTO_TCP) {
		th = c->pos;
		if ((void *)(th + 1) > c->end)
			return TG_REASON_MALFORMED;
		if (th->doff < 5)
			return TG_REASON_MALFORMED;
		hlen = th->doff * 4;
		if (c->pos + hlen > c->end)
			return TG_REASON_MALFORMED;
		pkt->sport = th->source;
		pkt->dport = th->dest;
		pkt->tcp_flags = ((__u8 *)th)[13];
	} else if (pkt->proto == IPPROTO_UDP) {
		uh = c->pos;
		if ((void *)(uh + 1) > c->end)
			return TG_REASON_MALFORMED;
		hlen = sizeof(*uh);
		if (dir == TG_PARSE_INGRESS) {
			ulen = tg_len16(uh->len);
			if (ulen < sizeof(*uh) || c->pos + ulen > c->end)
				return TG_REASON_MALFORMED;
		}
		pkt->sport = uh->source;
		pkt->dport = uh->dest;
	} else {
		pkt->payload_off = tg_off(c, c->pos);
		return TG_REASON_PASS;
	}
	/* The offset from the header's, not from the moved cursor: clang
	 * would do that pointer add in 32 bits, which the verifier refuses. */
	pkt->payload_off = tg_off(c, c->pos) + hlen;
	c->pos += hlen;
	if (pkt->l3_len && pkt->payload_off > pkt->l3_off + pkt->l3_len)
		return TG_REASON_MALFORMED;
	return TG_REASON_PASS;
}

/* L2 to L4 of one frame: PASS, NON_IP, FRAGMENT, MALFORMED or
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
		reason = tg_parse_ipv4(c, pkt, dir);
	else if (proto == bpf_htons(ETH_P_IPV6))
		reason = tg_parse_ipv6(c, pkt, dir);
	else
		return TG_REASON_NON_IP;
	if (reason != TG_REASON_PASS)
		return reason;
	return tg_parse_l4(c, pkt, dir);
}

/* The flow key of a parsed packet as seen, or reversed (TC egress: the
 * response of a flow XDP keyed client→server). `k` is zeroed here. */
static __always_inline void tg_flow_key_fill(struct tg_flow_key *k,
					     const struct tg_pkt *pkt,
					     int reverse)
{
	__builtin_memset(k, 0, sizeof(*k));
	if (reverse) {
		__builtin_memcpy(k->saddr, pkt->daddr, sizeof(k->saddr));
		__builtin_memcpy(k->daddr, pkt->saddr, sizeof(k->daddr));
		k->sport = pkt->dport;
		k->dport = pkt->sport;
	} else {
		__builtin_memcpy(k->saddr, pkt->saddr, sizeof(k->saddr));
		__builtin_memcpy(k->daddr, pkt->daddr, sizeof(k->daddr));
		k->sport = pkt->sport;
		k->dport = pkt->dport;
	}
	k->family = pkt->family;
	k->proto = pkt->proto;
}

#endif /* TG_BPF_PARSE_H */
