// SPDX-License-Identifier: Apache-2.0
/*
 * tg_xdp_ingress and tg_tc_egress on a table of packets, through
 * bpf_prog_test_run_opts (the way of the kernel selftests'
 * prog_tests/xdp_adjust_tail.c): each packet is run once through each
 * program, and the test checks the return value and that exactly the
 * expected reason counter of that hook moved, by one packet and the
 * packet's bytes, and that the run counter moved by one.
 *
 * Loading and running programs needs privileges; when a load is refused
 * with EPERM/EACCES every packet case is reported as skipped. The ABI
 * checks need no privileges and always run.
 *
 * The kernel's test runner refuses data shorter than an Ethernet header
 * (-EINVAL), as no real frame is; "truncated Ethernet" here is the shortest
 * thing that can arrive: a header whose VLAN tag is cut off.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

/* The skeletons name struct tg_abi_info, so they come after abi.h. */
#include "tg_tc.skel.h"
#include "tg_xdp.skel.h"

#include "kern/kern.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- packets ------------------------------------------------------------ */

/* Checksums are left zero: nothing on this path verifies them. */
#define B16(v)		(uint8_t)((v) >> 8), (uint8_t)((v) & 0xff)
#define ETH(type)	0x02, 0, 0, 0, 0, 0x02,  0x02, 0, 0, 0, 0, 0x01,  B16(type)
#define VLAN(tci, type)	B16(tci), B16(type)
/* version/IHL byte, total length, flags+fragment offset, protocol;
 * 10.0.0.1 → 10.0.0.2 */
#define IPV4(vihl, len, frag, proto) \
	(vihl), 0, B16(len), 0, 1, B16(frag), 64, (proto), 0, 0, \
	10, 0, 0, 1,  10, 0, 0, 2
#define IPV4_OPT_NOP4	1, 1, 1, 1	/* four NOP options: one IHL word */
/* payload length, next header; 2001:db8::1 → 2001:db8::2 */
#define IPV6(plen, next) \
	0x60, 0, 0, 0, B16(plen), (next), 64, \
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, \
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2
/* An 8-byte options header (hop-by-hop, destination): PadN filling it. */
#define IPV6_OPTS(next)	(next), 0, 1, 4, 0, 0, 0, 0
/* RFC 8200 §4.5: offset in 8-byte units in the top 13 bits, M flag last. */
#define IPV6_FRAG(next, offset, more) \
	(next), 0, B16(((offset) << 3) | (more)), 0, 0, 0, 42
/* 40000 → 8080, SYN */
#define TCP_SYN \
	B16(40000), B16(8080), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, \
	B16(65535), 0, 0, 0, 0

#define P_IP		0x0800
#define P_ARP		0x0806
#define P_IPV6		0x86dd
#define P_8021Q		0x8100
#define P_8021AD	0x88a8
#define IPV4_DF		0x4000
#define IPV4_MF		0x2000
#define PROTO_TCP	6
#define PROTO_HOPOPTS	0
#define PROTO_DSTOPTS	60
#define PROTO_FRAGMENT	44

static const uint8_t pkt_ipv4_tcp[] = {
	ETH(P_IP), IPV4(0x45, 40, IPV4_DF, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_ipv4_options[] = {
	ETH(P_IP), IPV4(0x46, 44, IPV4_DF, PROTO_TCP), IPV4_OPT_NOP4, TCP_SYN,
};
static const uint8_t pkt_ipv6_tcp[] = {
	ETH(P_IPV6), IPV6(20, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_vlan_ipv4[] = {
	ETH(P_8021Q), VLAN(100, P_IP), IPV4(0x45, 40, IPV4_DF, PROTO_TCP),
	TCP_SYN,
};
static const uint8_t pkt_qinq_ipv4[] = {
	ETH(P_8021AD), VLAN(200, P_8021Q), VLAN(100, P_IP),
	IPV4(0x45, 40, IPV4_DF, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_qinq_ipv6[] = {
	ETH(P_8021AD), VLAN(200, P_8021Q), VLAN(100, P_IPV6),
	IPV6(20, PROTO_TCP), TCP_SYN,
};
/* Beyond TG_VLAN_MAX tags the frame is not looked into. */
static const uint8_t pkt_three_vlans[] = {
	ETH(P_8021AD), VLAN(300, P_8021Q), VLAN(200, P_8021Q), VLAN(100, P_IP),
	IPV4(0x45, 40, IPV4_DF, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_arp[] = {
	ETH(P_ARP),
	0, 1, B16(P_IP), 6, 4, 0, 1,			/* Ethernet/IPv4 request */
	0x02, 0, 0, 0, 0, 0x01, 10, 0, 0, 1,		/* sender */
	0, 0, 0, 0, 0, 0, 10, 0, 0, 2,			/* target */
};
static const uint8_t pkt_eth_vlan_cut[] = {
	ETH(P_8021Q), B16(100),
};
static const uint8_t pkt_qinq_inner_cut[] = {
	ETH(P_8021AD), VLAN(200, P_8021Q), B16(100),
};
static const uint8_t pkt_eth_only_ipv4[] = {
	ETH(P_IP),
};
static const uint8_t pkt_ipv4_cut[] = {
	ETH(P_IP), 0x45, 0, B16(40), 0, 1, B16(IPV4_DF), 64, PROTO_TCP,
};
static const uint8_t pkt_ipv4_ihl4[] = {
	ETH(P_IP), IPV4(0x44, 40, IPV4_DF, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_ipv4_ihl0[] = {
	ETH(P_IP), IPV4(0x40, 40, IPV4_DF, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_ipv4_version6[] = {
	ETH(P_IP), IPV4(0x65, 40, IPV4_DF, PROTO_TCP), TCP_SYN,
};
/* IHL says 60 bytes of header, 40 are there. */
static const uint8_t pkt_ipv4_options_cut[] = {
	ETH(P_IP), IPV4(0x4f, 60, IPV4_DF, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_ipv4_totlen_short[] = {
	ETH(P_IP), IPV4(0x45, 19, IPV4_DF, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_ipv4_totlen_zero[] = {
	ETH(P_IP), IPV4(0x45, 0, IPV4_DF, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_ipv4_first_fragment[] = {
	ETH(P_IP), IPV4(0x45, 40, IPV4_MF, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_ipv4_later_fragment[] = {
	ETH(P_IP), IPV4(0x45, 40, 185, PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_ipv6_cut[] = {
	ETH(P_IPV6), 0x60, 0, 0, 0, B16(20), PROTO_TCP, 64,
	0x20, 0x01, 0x0d, 0xb8,
};
/* The same cuts behind a tag, which TC's test runner always accepts. */
static const uint8_t pkt_vlan_ipv4_cut[] = {
	ETH(P_8021Q), VLAN(100, P_IP),
	0x45, 0, B16(40), 0, 1, B16(IPV4_DF), 64, PROTO_TCP,
};
static const uint8_t pkt_vlan_ipv6_cut[] = {
	ETH(P_8021Q), VLAN(100, P_IPV6),
	0x60, 0, 0, 0, B16(20), PROTO_TCP, 64, 0x20, 0x01, 0x0d, 0xb8,
};
static const uint8_t pkt_ipv6_version4[] = {
	ETH(P_IPV6), 0x40, 0, 0, 0, B16(20), PROTO_TCP, 64,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
	TCP_SYN,
};
static const uint8_t pkt_ipv6_hbh_tcp[] = {
	ETH(P_IPV6), IPV6(28, PROTO_HOPOPTS), IPV6_OPTS(PROTO_TCP), TCP_SYN,
};
static const uint8_t pkt_ipv6_ext_cut[] = {
	ETH(P_IPV6), IPV6(8, PROTO_HOPOPTS), PROTO_TCP, 0, 1, 4,
};
/* hdrlen 1: 16 bytes claimed, 8 present. */
static const uint8_t pkt_ipv6_ext_len_cut[] = {
	ETH(P_IPV6), IPV6(8, PROTO_HOPOPTS), PROTO_TCP, 1, 1, 4, 0, 0, 0, 0,
};
static const uint8_t pkt_ipv6_fragment[] = {
	ETH(P_IPV6), IPV6(28, PROTO_FRAGMENT), IPV6_FRAG(PROTO_TCP, 0, 1),
	TCP_SYN,
};
static const uint8_t pkt_ipv6_later_fragment[] = {
	ETH(P_IPV6), IPV6(28, PROTO_FRAGMENT), IPV6_FRAG(PROTO_TCP, 185, 0),
	TCP_SYN,
};
/* RFC 6946: offset 0 and no M flag is not a fragment of anything. */
static const uint8_t pkt_ipv6_atomic_fragment[] = {
	ETH(P_IPV6), IPV6(28, PROTO_FRAGMENT), IPV6_FRAG(PROTO_TCP, 0, 0),
	TCP_SYN,
};
/* TG_IPV6_EXT_MAX (6) extension headers, then TCP. */
static const uint8_t pkt_ipv6_six_ext[] = {
	ETH(P_IPV6), IPV6(68, PROTO_HOPOPTS),
	IPV6_OPTS(PROTO_DSTOPTS), IPV6_OPTS(PROTO_DSTOPTS),
	IPV6_OPTS(PROTO_DSTOPTS), IPV6_OPTS(PROTO_DSTOPTS),
	IPV6_OPTS(PROTO_DSTOPTS), IPV6_OPTS(PROTO_TCP), TCP_SYN,
};
/* One more than the walk takes. */
static const uint8_t pkt_ipv6_seven_ext[] = {
	ETH(P_IPV6), IPV6(76, PROTO_HOPOPTS),
	IPV6_OPTS(PROTO_DSTOPTS), IPV6_OPTS(PROTO_DSTOPTS),
	IPV6_OPTS(PROTO_DSTOPTS), IPV6_OPTS(PROTO_DSTOPTS),
	IPV6_OPTS(PROTO_DSTOPTS), IPV6_OPTS(PROTO_DSTOPTS),
	IPV6_OPTS(PROTO_TCP), TCP_SYN,
};

_Static_assert(TG_IPV6_EXT_MAX == 6, "the ipv6 extension cases assume 6");
_Static_assert(TG_VLAN_MAX == 2, "the vlan cases assume 2");

struct pkt_case {
	const char *name;
	const uint8_t *data;
	uint32_t len;
	enum tg_reason reason;		/* at XDP ingress */
	enum tg_reason tc_reason;	/* at TC egress */
	uint32_t xdp_ret;
	uint32_t tc_ret;
	/*
	 * An untagged IPv4/IPv6 EtherType whose fixed IP header is cut:
	 * newer kernels' skb test runner refuses it (-EINVAL) before the
	 * program runs, as the stack never hands TC such an skb. The case
	 * then skips for TC; the tagged variants cover the same path.
	 */
	int tc_runner_may_refuse;
};

#define CASE(n, pkt, why, xdp, tc) \
	{ .name = (n), .data = (pkt), .len = sizeof(pkt), \
	  .reason = TG_REASON_##why, .tc_reason = TG_REASON_##why, \
	  .xdp_ret = (xdp), .tc_ret = (tc) }
#define CASE_L3_CUT(n, pkt) \
	{ .name = (n), .data = (pkt), .len = sizeof(pkt), \
	  .reason = TG_REASON_MALFORMED, .tc_reason = TG_REASON_MALFORMED, \
	  .xdp_ret = XDP_DROP, .tc_ret = TC_ACT_OK, .tc_runner_may_refuse = 1 }

static const struct pkt_case cases[] = {
	CASE("ipv4_tcp_passes", pkt_ipv4_tcp, PASS, XDP_PASS, TC_ACT_OK),
	CASE("ipv4_options_pass", pkt_ipv4_options, PASS, XDP_PASS, TC_ACT_OK),
	CASE("ipv6_tcp_passes", pkt_ipv6_tcp, PASS, XDP_PASS, TC_ACT_OK),
	CASE("vlan_ipv4_passes", pkt_vlan_ipv4, PASS, XDP_PASS, TC_ACT_OK),
	CASE("qinq_ipv4_passes", pkt_qinq_ipv4, PASS, XDP_PASS, TC_ACT_OK),
	CASE("qinq_ipv6_passes", pkt_qinq_ipv6, PASS, XDP_PASS, TC_ACT_OK),
	CASE("three_vlans_are_non_ip", pkt_three_vlans, NON_IP, XDP_PASS, TC_ACT_OK),
	CASE("arp_is_non_ip", pkt_arp, NON_IP, XDP_PASS, TC_ACT_OK),
	CASE("eth_vlan_tag_cut_is_malformed", pkt_eth_vlan_cut, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE("qinq_inner_tag_cut_is_malformed", pkt_qinq_inner_cut, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE_L3_CUT("eth_without_ipv4_is_malformed", pkt_eth_only_ipv4),
	CASE_L3_CUT("ipv4_header_cut_is_malformed", pkt_ipv4_cut),
	CASE("vlan_ipv4_header_cut_is_malformed", pkt_vlan_ipv4_cut, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE("ipv4_ihl4_is_malformed", pkt_ipv4_ihl4, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE("ipv4_ihl0_is_malformed", pkt_ipv4_ihl0, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE("ipv4_version6_is_malformed", pkt_ipv4_version6, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE("ipv4_options_cut_are_malformed", pkt_ipv4_options_cut, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE("ipv4_totlen_below_ihl_is_malformed", pkt_ipv4_totlen_short, MALFORMED, XDP_DROP, TC_ACT_OK),
	/* Total length 0 is BIG TCP's mark on a GSO skb (Linux 6.3+): fine
	 * leaving, malformed arriving. */
	{ .name = "ipv4_totlen_zero_is_big_tcp_at_egress_only",
	  .data = pkt_ipv4_totlen_zero, .len = sizeof(pkt_ipv4_totlen_zero),
	  .reason = TG_REASON_MALFORMED, .tc_reason = TG_REASON_PASS,
	  .xdp_ret = XDP_DROP, .tc_ret = TC_ACT_OK },
	CASE("ipv4_first_fragment_is_fragment", pkt_ipv4_first_fragment, FRAGMENT, XDP_PASS, TC_ACT_OK),
	CASE("ipv4_later_fragment_is_fragment", pkt_ipv4_later_fragment, FRAGMENT, XDP_PASS, TC_ACT_OK),
	CASE_L3_CUT("ipv6_header_cut_is_malformed", pkt_ipv6_cut),
	CASE("vlan_ipv6_header_cut_is_malformed", pkt_vlan_ipv6_cut, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE("ipv6_version4_is_malformed", pkt_ipv6_version4, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE("ipv6_hop_by_hop_tcp_passes", pkt_ipv6_hbh_tcp, PASS, XDP_PASS, TC_ACT_OK),
	CASE("ipv6_ext_header_cut_is_malformed", pkt_ipv6_ext_cut, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE("ipv6_ext_length_past_end_is_malformed", pkt_ipv6_ext_len_cut, MALFORMED, XDP_DROP, TC_ACT_OK),
	CASE("ipv6_first_fragment_is_fragment", pkt_ipv6_fragment, FRAGMENT, XDP_PASS, TC_ACT_OK),
	CASE("ipv6_later_fragment_is_fragment", pkt_ipv6_later_fragment, FRAGMENT, XDP_PASS, TC_ACT_OK),
	CASE("ipv6_atomic_fragment_passes", pkt_ipv6_atomic_fragment, PASS, XDP_PASS, TC_ACT_OK),
	CASE("ipv6_six_ext_headers_pass", pkt_ipv6_six_ext, PASS, XDP_PASS, TC_ACT_OK),
	CASE("ipv6_seven_ext_headers_hit_limit", pkt_ipv6_seven_ext, IPV6_EXT_LIMIT, XDP_PASS, TC_ACT_OK),
};

/* ---- fixture -------------------------------------------------------------- */

struct fixture {
	struct tg_xdp *xdp;
	struct tg_tc *tc;
	int loaded;		/* programs in the kernel: root only */
};

static struct fixture fx;

/* One cmocka test per (hook, case). */
struct run {
	enum tg_hook hook;
	const struct pkt_case *c;
	char name[96];
};

static struct run runs[TG_HOOK__COUNT * ARRAY_SIZE(cases)];

static int group_setup(void **state)
{
	int err;

	(void)state;
	kern_log_init();
	fx.xdp = tg_xdp__open();
	fx.tc = tg_tc__open();
	if (!fx.xdp || !fx.tc) {
		fprintf(stderr, "test_xdp: opening the skeletons failed: %s\n",
			strerror(errno));
		return -1;
	}
	/* Whether BPF may be used is found out by trying, not from the euid:
	 * capabilities, user namespaces and LSMs decide it. */
	err = tg_xdp__load(fx.xdp);
	if (err == -EPERM || err == -EACCES) {
		fprintf(stderr, "test_xdp: BPF not permitted (%s): the packet "
			"cases skip\n", strerror(-err));
		return 0;
	}
	if (err) {
		fprintf(stderr, "test_xdp: loading tg_xdp failed: %s\n",
			strerror(-err));
		return -1;
	}
	err = tg_tc__load(fx.tc);
	if (err) {
		fprintf(stderr, "test_xdp: loading tg_tc failed: %s\n",
			strerror(-err));
		return -1;
	}
	fx.loaded = 1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tg_tc__destroy(fx.tc);
	fx.tc = NULL;
	tg_xdp__destroy(fx.xdp);
	fx.xdp = NULL;
	return 0;
}

/* ---- counters ------------------------------------------------------------- */

struct counts {
	uint64_t packets[TG_REASON__COUNT];
	uint64_t bytes[TG_REASON__COUNT];
	uint64_t runs;
};

/* Sums the per-CPU counters of one hook. */
static void read_counts(int stats_fd, int runs_fd, enum tg_hook hook,
			struct counts *out)
{
	int ncpus = libbpf_num_possible_cpus();
	struct tg_reason_stats *st;
	uint64_t *runs_pc;
	uint32_t key;
	int cpu;

	assert_true(ncpus > 0);
	st = calloc((size_t)ncpus, sizeof(*st));
	runs_pc = calloc((size_t)ncpus, sizeof(*runs_pc));
	assert_non_null(st);
	assert_non_null(runs_pc);
	memset(out, 0, sizeof(*out));

	for (key = 0; key < TG_REASON__COUNT; key++) {
		assert_int_equal(bpf_map_lookup_elem(stats_fd, &key, st), 0);
		for (cpu = 0; cpu < ncpus; cpu++) {
			out->packets[key] += st[cpu].packets[hook];
			out->bytes[key] += st[cpu].bytes[hook];
		}
	}
	key = hook;
	assert_int_equal(bpf_map_lookup_elem(runs_fd, &key, runs_pc), 0);
	for (cpu = 0; cpu < ncpus; cpu++)
		out->runs += runs_pc[cpu];

	free(runs_pc);
	free(st);
}

/* ---- the packet table ---------------------------------------------------- */

static void test_packet_case(void **state)
{
	const struct run *r = *state;
	const struct pkt_case *c = r->c;
	struct counts before, after;
	int prog_fd, stats_fd, runs_fd, err;
	enum tg_reason want_reason;
	uint32_t want_ret;
	unsigned int i;

	if (!fx.loaded)
		skip();

	if (r->hook == TG_HOOK_XDP_INGRESS) {
		prog_fd = bpf_program__fd(fx.xdp->progs.tg_xdp_ingress);
		stats_fd = bpf_map__fd(fx.xdp->maps.tg_stats);
		runs_fd = bpf_map__fd(fx.xdp->maps.tg_runs);
		want_ret = c->xdp_ret;
		want_reason = c->reason;
	} else {
		prog_fd = bpf_program__fd(fx.tc->progs.tg_tc_egress);
		stats_fd = bpf_map__fd(fx.tc->maps.tg_stats);
		runs_fd = bpf_map__fd(fx.tc->maps.tg_runs);
		want_ret = c->tc_ret;
		want_reason = c->tc_reason;
	}

	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = c->data,
		.data_size_in = c->len,
		.repeat = 1,
	);

	read_counts(stats_fd, runs_fd, r->hook, &before);
	err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (err == -EINVAL && r->hook == TG_HOOK_TC_EGRESS &&
	    c->tc_runner_may_refuse) {
		/* Refused before the program ran: nothing may have moved. */
		read_counts(stats_fd, runs_fd, r->hook, &after);
		assert_int_equal(after.runs, before.runs);
		print_message("%s: this kernel's skb test runner refuses the "
			      "packet\n", r->name);
		skip();
	}
	assert_int_equal(err, 0);
	read_counts(stats_fd, runs_fd, r->hook, &after);

	assert_int_equal(opts.retval, want_ret);
	assert_int_equal(after.runs - before.runs, 1);
	for (i = 0; i < TG_REASON__COUNT; i++) {
		uint64_t dp = after.packets[i] - before.packets[i];
		uint64_t db = after.bytes[i] - before.bytes[i];

		if (i == want_reason) {
			if (dp != 1)
				fail_msg("%s: reason %s counted %llu times, want 1",
					 r->name, kern_reason_name(i),
					 (unsigned long long)dp);
			assert_int_equal(db, c->len);
		} else if (dp || db) {
			fail_msg("%s: unexpected reason %s (+%llu packets), want %s",
				 r->name, kern_reason_name(i),
				 (unsigned long long)dp,
				 kern_reason_name(want_reason));
		}
	}
}

/* ---- the contract --------------------------------------------------------- */

/* Both objects were compiled with the layout user space is compiled with. */
static void test_objects_carry_this_abi(void **state)
{
	const struct tg_abi_info want = TG_ABI_INFO_INIT;
	struct tg_abi_info got;

	(void)state;
	got = fx.xdp->rodata->tg_abi_info;
	assert_int_equal(got.abi_version, TG_ABI_VERSION);
	assert_memory_equal(&got, &want, sizeof(want));

	got = fx.tc->rodata->tg_abi_info;
	assert_int_equal(got.abi_version, TG_ABI_VERSION);
	assert_memory_equal(&got, &want, sizeof(want));
}

/* The map and program names user space looks up are the ones in the
 * objects, with the key and value sizes of abi.h. */
static void test_objects_use_abi_names(void **state)
{
	(void)state;
	assert_string_equal(bpf_program__name(fx.xdp->progs.tg_xdp_ingress),
			    TG_PROG_XDP_INGRESS);
	assert_string_equal(bpf_program__name(fx.tc->progs.tg_tc_egress),
			    TG_PROG_TC_EGRESS);

	assert_string_equal(bpf_map__name(fx.xdp->maps.tg_stats), TG_MAP_STATS);
	assert_string_equal(bpf_map__name(fx.xdp->maps.tg_runs), TG_MAP_RUNS);
	assert_string_equal(bpf_map__name(fx.tc->maps.tg_stats), TG_MAP_STATS);
	assert_string_equal(bpf_map__name(fx.tc->maps.tg_runs), TG_MAP_RUNS);

	assert_int_equal(bpf_map__max_entries(fx.xdp->maps.tg_stats),
			 TG_REASON__COUNT);
	assert_int_equal(bpf_map__value_size(fx.xdp->maps.tg_stats),
			 sizeof(struct tg_reason_stats));
	assert_int_equal(bpf_map__max_entries(fx.tc->maps.tg_runs),
			 TG_HOOK__COUNT);
}

int main(void)
{
	struct CMUnitTest tests[2 + ARRAY_SIZE(runs)] = {
		cmocka_unit_test(test_objects_carry_this_abi),
		cmocka_unit_test(test_objects_use_abi_names),
	};
	size_t i, n = 2;
	int hook;

	for (hook = 0; hook < TG_HOOK__COUNT; hook++) {
		for (i = 0; i < ARRAY_SIZE(cases); i++) {
			struct run *r = &runs[hook * ARRAY_SIZE(cases) + i];

			r->hook = (enum tg_hook)hook;
			r->c = &cases[i];
			snprintf(r->name, sizeof(r->name), "%s_%s",
				 hook == TG_HOOK_XDP_INGRESS ? "xdp" : "tc",
				 cases[i].name);
			tests[n++] = (struct CMUnitTest)
				cmocka_unit_test_prestate(test_packet_case, r);
			tests[n - 1].name = r->name;
		}
	}
	return cmocka_run_group_tests_name("bpf", tests, group_setup,
					   group_teardown);
}
