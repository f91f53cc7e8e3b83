// SPDX-License-Identifier: Apache-2.0
/*
 * The datapath of tg_xdp_ingress and tg_tc_egress, through
 * bpf_prog_test_run_opts against the skeletons' own maps (no pins): L4
 * parsing and a malformed-packet corpus, LPM tenant classification, the
 * penalty box and blocked tenants, the SYN GCRA limiters driven with an
 * injected clock (tg_config.clock_override_ns) on one CPU and on two,
 * tenant isolation, the flood guard, token estimates, sampled events, and
 * TC egress accounting and pacing.
 *
 * Every test loads a fresh pair of objects, the TC object sharing all of
 * the XDP object's maps (bpf_map__reuse_fd, as the loader does with pins),
 * so no state leaks from one test into the next. Whether BPF may be used
 * is decided by trying: a load refused with EPERM/EACCES skips every test.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <tollgate/abi.h>
#include <tollgate/hint.h>
#include <tollgate/limits.h>

/* The skeletons name struct tg_abi_info, so they come after abi.h. */
#include "tg_tc.skel.h"
#include "tg_xdp.skel.h"

#include "kern/kern.h"
#include "kern/maps.h"
#include "kern/sync.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define NSEC		1000000000ull
/* The injected clock starts here, far from 0 (0 means "real clock"). */
#define T0		(1000ull * NSEC)

#define TCP_FIN		0x01
#define TCP_SYN		0x02
#define TCP_RST		0x04
#define TCP_PSH		0x08
#define TCP_ACK		0x10

/* ---- fixture -------------------------------------------------------------- */

struct fx {
	struct tg_xdp *xdp;
	struct tg_tc *tc;
	int xdp_fd, tc_fd;
	int ncpus;
};

/* -1 unknown, 0 BPF refused (EPERM/EACCES: skip), 1 usable. */
static int bpf_usable = -1;

static int load_pair(struct fx *f)
{
	struct bpf_map *m, *src;
	int err;

	memset(f, 0, sizeof(*f));
	f->ncpus = libbpf_num_possible_cpus();
	f->xdp = tg_xdp__open();
	f->tc = tg_tc__open();
	if (!f->xdp || !f->tc)
		return -errno;
	err = tg_xdp__load(f->xdp);
	if (err)
		return err;
	/* Every map the TC object has is the XDP object's: what the loader
	 * does through pins. */
	bpf_object__for_each_map(m, f->tc->obj) {
		if (bpf_map__is_internal(m))
			continue;
		src = bpf_object__find_map_by_name(f->xdp->obj, bpf_map__name(m));
		if (!src)
			return -ENOENT;
		err = bpf_map__reuse_fd(m, bpf_map__fd(src));
		if (err)
			return err;
	}
	err = tg_tc__load(f->tc);
	if (err)
		return err;
	f->xdp_fd = bpf_program__fd(f->xdp->progs.tg_xdp_ingress);
	f->tc_fd = bpf_program__fd(f->tc->progs.tg_tc_egress);
	return 0;
}

static void unload_pair(struct fx *f)
{
	tg_tc__destroy(f->tc);
	tg_xdp__destroy(f->xdp);
	memset(f, 0, sizeof(*f));
}

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int group_setup(void **state)
{
	struct fx f;
	int err;

	(void)state;
	kern_log_init();
	/* One CPU for the single-CPU tests: per-CPU windows and counters. */
	pin_to_cpu(0);
	err = load_pair(&f);
	unload_pair(&f);
	if (err == -EPERM || err == -EACCES) {
		fprintf(stderr, "test_datapath: BPF not permitted (%s): "
			"skipping\n", strerror(-err));
		bpf_usable = 0;
		return 0;
	}
	if (err) {
		fprintf(stderr, "test_datapath: loading the objects failed: %s\n",
			strerror(-err));
		return -1;
	}
	bpf_usable = 1;
	return 0;
}

static int setup(void **state)
{
	struct fx *f;

	if (bpf_usable != 1) {
		*state = NULL;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f || load_pair(f)) {
		if (f)
			unload_pair(f);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f) {
		unload_pair(f);
		free(f);
	}
	return 0;
}

#define FX(state) ({					\
	struct fx *f_ = *(state);			\
	if (!f_)					\
		skip();					\
	f_;						\
})

/* ---- maps ------------------------------------------------------------------ */

static int mfd(struct fx *f, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(f->xdp->obj, name);

	assert_non_null(m);
	return bpf_map__fd(m);
}

/* Occupied slots of tg_syn_prefix: source prefixes with limiter state. */
static int prefix_records(struct fx *f)
{
	int fd = mfd(f, TG_MAP_SYN_PREFIX), n = 0, w;
	struct tg_prefix_set set;
	uint32_t i;

	for (i = 0; i < TG_SYN_PREFIX_SETS; i++) {
		assert_int_equal(bpf_map_lookup_elem(fd, &i, &set), 0);
		for (w = 0; w < TG_PREFIX_WAYS; w++)
			n += set.slot[w] != 0;
	}
	return n;
}

static void cfg_get(struct fx *f, struct tg_config *c)
{
	uint32_t k = 0;

	assert_int_equal(bpf_map_lookup_elem(mfd(f, TG_MAP_CONFIG), &k, c), 0);
}

static void cfg_set(struct fx *f, const struct tg_config *c)
{
	uint32_t k = 0;

	assert_int_equal(bpf_map_update_elem(mfd(f, TG_MAP_CONFIG), &k, c, 0), 0);
}

static void clock_set(struct fx *f, uint64_t now)
{
	struct tg_config c;

	cfg_get(f, &c);
	c.clock_override_ns = now;
	cfg_set(f, &c);
}

static void tenant_set(struct fx *f, uint32_t id, const struct tg_tenant_config *tc)
{
	assert_int_equal(bpf_map_update_elem(mfd(f, TG_MAP_TENANTS), &id, tc, 0), 0);
}

static void lpm_v4_add(struct fx *f, const char *addr, uint32_t plen, uint32_t tenant)
{
	struct tg_lpm_v4_key k;
	struct tg_lpm_value v = { .tenant_id = tenant };

	memset(&k, 0, sizeof(k));
	k.prefixlen = plen;
	assert_int_equal(inet_pton(AF_INET, addr, &k.addr), 1);
	assert_int_equal(bpf_map_update_elem(mfd(f, TG_MAP_LPM_V4), &k, &v, 0), 0);
}

static void lpm_v6_add(struct fx *f, const char *addr, uint32_t plen, uint32_t tenant)
{
	struct tg_lpm_v6_key k;
	struct tg_lpm_value v = { .tenant_id = tenant };

	memset(&k, 0, sizeof(k));
	k.prefixlen = plen;
	assert_int_equal(inet_pton(AF_INET6, addr, k.addr), 1);
	assert_int_equal(bpf_map_update_elem(mfd(f, TG_MAP_LPM_V6), &k, &v, 0), 0);
}

static void penalty_add(struct fx *f, int family, const char *addr, uint64_t expiry)
{
	struct tg_src_key k;
	struct tg_penalty v = { .expiry_ns = expiry };

	memset(&k, 0, sizeof(k));
	k.family = family == AF_INET ? TG_FAMILY_IPV4 : TG_FAMILY_IPV6;
	assert_int_equal(inet_pton(family, addr, k.addr), 1);
	assert_int_equal(bpf_map_update_elem(mfd(f, TG_MAP_PENALTY), &k, &v, 0), 0);
	/* The hint, as kern_penalty_add sets it (the maps here are not
	 * pinned, so through the map rather than kern_maps). */
	assert_int_equal(kern_penalty_hint_fill(mfd(f, TG_MAP_PENALTY),
						mfd(f, TG_MAP_PENALTY_HINT)), 0);
}

/* Sum over CPUs of one tenant's stats. */
static void tenant_stats(struct fx *f, uint32_t id, struct tg_tenant_stats *out)
{
	struct tg_tenant_stats *pc = calloc((size_t)f->ncpus, sizeof(*pc));
	uint64_t *o = (uint64_t *)out;
	int cpu;
	size_t i;

	assert_non_null(pc);
	memset(out, 0, sizeof(*out));
	assert_int_equal(bpf_map_lookup_elem(mfd(f, TG_MAP_TENANT_STATS), &id, pc), 0);
	for (cpu = 0; cpu < f->ncpus; cpu++) {
		const uint64_t *p = (const uint64_t *)&pc[cpu];

		for (i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
			o[i] += p[i];
	}
	free(pc);
}

/* Packets counted for a reason at a hook, all CPUs. */
static uint64_t reason_count(struct fx *f, enum tg_hook hook, enum tg_reason r)
{
	struct tg_reason_stats *pc = calloc((size_t)f->ncpus, sizeof(*pc));
	uint32_t k = r;
	uint64_t n = 0;
	int cpu;

	assert_non_null(pc);
	assert_int_equal(bpf_map_lookup_elem(mfd(f, TG_MAP_STATS), &k, pc), 0);
	for (cpu = 0; cpu < f->ncpus; cpu++)
		n += pc[cpu].packets[hook];
	free(pc);
	return n;
}

static unsigned int flow_count(struct fx *f)
{
	struct tg_flow_key k, next;
	unsigned int n = 0;
	int fd = mfd(f, TG_MAP_FLOWS);
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		n++;
		k = next;
		prev = &k;
	}
	return n;
}

/* ---- packets ----------------------------------------------------------------- */

struct pkt {
	uint8_t b[1600];
	uint32_t len;
	/* Offsets of the headers built, for cutting and corrupting. */
	uint32_t l3, l4, payload;
};

struct spec {
	int family;		/* AF_INET / AF_INET6 */
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t proto;		/* 6 / 17 / other */
	uint8_t flags;		/* TCP */
	uint32_t payload;
	int vlans;		/* 0..3 */
	int v6_ext;		/* destination options headers before L4 */
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void pkt_build(struct pkt *p, const struct spec *s)
{
	uint8_t *b = p->b;
	uint32_t o = 0, l4len, i;
	int v;

	memset(p, 0, sizeof(*p));
	memcpy(b, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01", 12);
	o = 12;
	for (v = 0; v < s->vlans; v++) {
		put16(b + o, v == 0 && s->vlans > 1 ? 0x88a8 : 0x8100);
		put16(b + o + 2, 100 + v);
		o += 4;
	}
	put16(b + o, s->family == AF_INET ? 0x0800 : 0x86dd);
	o += 2;
	p->l3 = o;
	l4len = (s->proto == 6 ? 20 : s->proto == 17 ? 8 : 0) + s->payload;
	if (s->family == AF_INET) {
		b[o] = 0x45;
		put16(b + o + 2, 20 + l4len);
		put16(b + o + 6, 0x4000);
		b[o + 8] = 64;
		b[o + 9] = s->proto;
		assert_int_equal(inet_pton(AF_INET, s->src, b + o + 12), 1);
		assert_int_equal(inet_pton(AF_INET, s->dst, b + o + 16), 1);
		o += 20;
	} else {
		b[o] = 0x60;
		put16(b + o + 4, l4len + 8 * s->v6_ext);
		b[o + 6] = s->v6_ext ? 60 : s->proto;
		b[o + 7] = 64;
		assert_int_equal(inet_pton(AF_INET6, s->src, b + o + 8), 1);
		assert_int_equal(inet_pton(AF_INET6, s->dst, b + o + 24), 1);
		o += 40;
		for (v = 0; v < s->v6_ext; v++) {
			b[o] = v + 1 < s->v6_ext ? 60 : s->proto;
			b[o + 2] = 1;	/* PadN filling the 8 bytes */
			b[o + 3] = 4;
			o += 8;
		}
	}
	p->l4 = o;
	if (s->proto == 6) {
		put16(b + o, s->sport);
		put16(b + o + 2, s->dport);
		b[o + 12] = 0x50;
		b[o + 13] = s->flags;
		put16(b + o + 14, 65535);
		o += 20;
	} else if (s->proto == 17) {
		put16(b + o, s->sport);
		put16(b + o + 2, s->dport);
		put16(b + o + 4, 8 + s->payload);
		o += 8;
	}
	p->payload = o;
	for (i = 0; i < s->payload; i++)
		b[o + i] = (uint8_t)i;
	p->len = o + s->payload;
}

static const struct spec syn_v4 = {
	.family = AF_INET, .src = "10.1.2.3", .dst = "10.0.0.2",
	.sport = 40000, .dport = 8080, .proto = 6, .flags = TCP_SYN,
};
static const struct spec syn_v6 = {
	.family = AF_INET6, .src = "2001:db8:1::3", .dst = "2001:db8::2",
	.sport = 40000, .dport = 8080, .proto = 6, .flags = TCP_SYN,
};

static struct pkt mk(const struct spec *base, const char *src, uint8_t flags,
		     uint32_t payload)
{
	struct spec s = *base;
	struct pkt p;

	if (src)
		s.src = src;
	s.flags = flags;
	s.payload = payload;
	pkt_build(&p, &s);
	return p;
}

/* The server's answer to a client packet spec: addresses and ports
 * swapped. */
static struct pkt mk_reply(const struct spec *base, uint8_t flags, uint32_t payload)
{
	struct spec s = *base;
	struct pkt p;

	s.src = base->dst;
	s.dst = base->src;
	s.sport = base->dport;
	s.dport = base->sport;
	s.flags = flags;
	s.payload = payload;
	pkt_build(&p, &s);
	return p;
}

static int run_prog(int fd, const void *data, uint32_t len, uint32_t repeat,
		    uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o,
		.data_in = data,
		.data_size_in = len,
		.repeat = repeat,
	);
	int err = bpf_prog_test_run_opts(fd, &o);

	if (!err && retval)
		*retval = o.retval;
	return err;
}

static uint32_t xdp(struct fx *f, const struct pkt *p)
{
	uint32_t ret = 0;

	assert_int_equal(run_prog(f->xdp_fd, p->b, p->len, 1, &ret), 0);
	return ret;
}

static void xdp_n(struct fx *f, const struct pkt *p, uint32_t n)
{
	assert_int_equal(run_prog(f->xdp_fd, p->b, p->len, n, NULL), 0);
}

static int flow_get(struct fx *f, const struct spec *s, struct tg_flow *out)
{
	struct tg_flow_key k;
	int fam = s->family;

	memset(&k, 0, sizeof(k));
	k.family = fam == AF_INET ? TG_FAMILY_IPV4 : TG_FAMILY_IPV6;
	k.proto = s->proto;
	assert_int_equal(inet_pton(fam, s->src, k.saddr), 1);
	assert_int_equal(inet_pton(fam, s->dst, k.daddr), 1);
	k.sport = htons(s->sport);
	k.dport = htons(s->dport);
	return bpf_map_lookup_elem(mfd(f, TG_MAP_FLOWS), &k, out);
}

/* ---- L4 parse and the malformed corpus ----------------------------------- */

/* Runs one frame through XDP and checks the verdict and that exactly the
 * expected reason counter moved by one. */
static void expect_xdp(struct fx *f, const char *what, const uint8_t *data,
		       uint32_t len, uint32_t want_ret, enum tg_reason want)
{
	uint64_t before[TG_REASON__COUNT], d;
	uint32_t ret = 0;
	unsigned int r;
	int err;

	for (r = 0; r < TG_REASON__COUNT; r++)
		before[r] = reason_count(f, TG_HOOK_XDP_INGRESS, r);
	err = run_prog(f->xdp_fd, data, len, 1, &ret);
	if (err)
		fail_msg("%s (%u bytes): test run failed: %s", what, len,
			 strerror(-err));
	if (ret != want_ret)
		fail_msg("%s (%u bytes): verdict %u, want %u", what, len, ret,
			 want_ret);
	for (r = 0; r < TG_REASON__COUNT; r++) {
		d = reason_count(f, TG_HOOK_XDP_INGRESS, r) - before[r];
		if (d != (r == want))
			fail_msg("%s (%u bytes): reason %s moved by %llu, want %s",
				 what, len, kern_reason_name(r),
				 (unsigned long long)d, kern_reason_name(want));
	}
}

static void test_l4_tcp_and_udp_parse_and_pass(void **state)
{
	struct fx *f = FX(state);
	struct spec u = syn_v4;
	struct pkt p;

	p = mk(&syn_v4, NULL, TCP_ACK | TCP_PSH, 10);
	expect_xdp(f, "ipv4 tcp data", p.b, p.len, XDP_PASS, TG_REASON_PASS);
	p = mk(&syn_v6, NULL, TCP_ACK, 0);
	expect_xdp(f, "ipv6 tcp ack", p.b, p.len, XDP_PASS, TG_REASON_PASS);
	u.proto = 17;
	pkt_build(&p, &u);
	expect_xdp(f, "ipv4 udp", p.b, p.len, XDP_PASS, TG_REASON_PASS);
	u.proto = 1;	/* ICMP: no ports */
	u.payload = 8;
	pkt_build(&p, &u);
	expect_xdp(f, "ipv4 icmp", p.b, p.len, XDP_PASS, TG_REASON_PASS);
	u = syn_v6;
	u.proto = 17;
	u.v6_ext = 3;
	pkt_build(&p, &u);
	expect_xdp(f, "ipv6 3 ext udp", p.b, p.len, XDP_PASS, TG_REASON_PASS);
	/* TCP with 12 bytes of options (data offset 8). */
	p = mk(&syn_v4, NULL, TCP_SYN, 12);
	p.b[p.l4 + 12] = 0x80;
	expect_xdp(f, "tcp options", p.b, p.len, XDP_PASS, TG_REASON_PASS);
	/* Ethernet padding after the IP datagram is not an error. */
	p = mk(&syn_v4, NULL, TCP_SYN, 0);
	p.len = 60;
	expect_xdp(f, "padded frame", p.b, p.len, XDP_PASS, TG_REASON_PASS);
	/* QinQ down to TCP. */
	u = syn_v4;
	u.vlans = 2;
	pkt_build(&p, &u);
	expect_xdp(f, "qinq tcp", p.b, p.len, XDP_PASS, TG_REASON_PASS);
	u.vlans = 3;
	pkt_build(&p, &u);
	expect_xdp(f, "three tags", p.b, p.len, XDP_PASS, TG_REASON_NON_IP);
}

static void test_l4_malformed_headers_drop(void **state)
{
	struct fx *f = FX(state);
	struct spec u = syn_v4;
	struct pkt p;
	int doff;

	for (doff = 0; doff < 5; doff++) {
		p = mk(&syn_v4, NULL, TCP_SYN, 20);
		p.b[p.l4 + 12] = (uint8_t)(doff << 4);
		expect_xdp(f, "tcp data offset < 5", p.b, p.len, XDP_DROP,
			   TG_REASON_MALFORMED);
	}
	/* Data offset 15: 60 bytes of header, 40 present. */
	p = mk(&syn_v4, NULL, TCP_SYN, 20);
	p.b[p.l4 + 12] = 0xf0;
	expect_xdp(f, "tcp options past the frame", p.b, p.len, XDP_DROP,
		   TG_REASON_MALFORMED);
	/* The TCP header fits the frame but not the IP total length. */
	p = mk(&syn_v4, NULL, TCP_SYN, 0);
	put16(p.b + p.l3 + 2, 30);
	p.len = 60;
	expect_xdp(f, "tcp past ip length", p.b, p.len, XDP_DROP,
		   TG_REASON_MALFORMED);
	/* IPv4 total length past the frame. */
	p = mk(&syn_v4, NULL, TCP_SYN, 10);
	put16(p.b + p.l3 + 2, 20 + 20 + 11);
	expect_xdp(f, "ipv4 total length past frame", p.b, p.len, XDP_DROP,
		   TG_REASON_MALFORMED);
	/* IPv6 payload length past the frame. */
	p = mk(&syn_v6, NULL, TCP_SYN, 10);
	put16(p.b + p.l3 + 4, 31);
	expect_xdp(f, "ipv6 payload length past frame", p.b, p.len, XDP_DROP,
		   TG_REASON_MALFORMED);
	/* UDP length below its header, and past the frame. */
	u.proto = 17;
	u.payload = 4;
	pkt_build(&p, &u);
	put16(p.b + p.l4 + 4, 7);
	expect_xdp(f, "udp length < 8", p.b, p.len, XDP_DROP, TG_REASON_MALFORMED);
	put16(p.b + p.l4 + 4, 13);
	expect_xdp(f, "udp length past frame", p.b, p.len, XDP_DROP,
		   TG_REASON_MALFORMED);
	/* Bad IHL values with an otherwise whole packet. */
	p = mk(&syn_v4, NULL, TCP_SYN, 0);
	p.b[p.l3] = 0x43;
	expect_xdp(f, "ihl 3", p.b, p.len, XDP_DROP, TG_REASON_MALFORMED);
	p.b[p.l3] = 0x4f;
	expect_xdp(f, "ihl 15 past frame", p.b, p.len, XDP_DROP,
		   TG_REASON_MALFORMED);
}

/*
 * Each well-formed packet cut at every length from the Ethernet header to
 * one byte short: every cut drops as malformed (the IP length then points
 * past the frame, or a header is cut). Shorter than Ethernet, the test
 * runner itself refuses the frame (-EINVAL), as no NIC delivers one.
 */
static void test_truncated_at_every_length_drops(void **state)
{
	struct fx *f = FX(state);
	struct spec specs[6];
	char what[96];
	struct pkt p;
	uint32_t len, ret;
	size_t i;

	specs[0] = syn_v4;
	specs[0].payload = 6;
	specs[1] = syn_v6;
	specs[1].payload = 6;
	specs[2] = syn_v4;
	specs[2].vlans = 2;		/* QinQ */
	specs[3] = syn_v6;
	specs[3].v6_ext = 6;		/* the longest chain walked */
	specs[4] = syn_v4;
	specs[4].proto = 17;
	specs[4].payload = 3;
	specs[5] = syn_v6;
	specs[5].vlans = 1;
	specs[5].proto = 17;
	specs[5].v6_ext = 2;

	for (i = 0; i < ARRAY_SIZE(specs); i++) {
		pkt_build(&p, &specs[i]);
		expect_xdp(f, "whole", p.b, p.len, XDP_PASS, TG_REASON_PASS);
		for (len = 14; len < p.len; len++) {
			snprintf(what, sizeof(what), "spec %zu cut", i);
			/* A frame that ends exactly after its tags has an
			 * EtherType and nothing behind it: still malformed. */
			expect_xdp(f, what, p.b, len, XDP_DROP,
				   TG_REASON_MALFORMED);
		}
	}
	/* Tiny frames. */
	assert_int_equal(run_prog(f->xdp_fd, p.b, 13, 1, &ret), -EINVAL);
	p = mk(&syn_v4, NULL, TCP_SYN, 0);
	put16(p.b + 12, 0x0806);
	expect_xdp(f, "bare arp header", p.b, 14, XDP_PASS, TG_REASON_NON_IP);
	put16(p.b + 12, 0x8100);
	expect_xdp(f, "bare vlan ethertype", p.b, 14, XDP_DROP,
		   TG_REASON_MALFORMED);
}

static void test_ipv6_extension_chains(void **state)
{
	struct fx *f = FX(state);
	struct spec s = syn_v6;
	struct pkt p;
	int n;

	for (n = 0; n <= 6; n++) {
		s.v6_ext = n;
		pkt_build(&p, &s);
		expect_xdp(f, "ipv6 ext chain", p.b, p.len, XDP_PASS,
			   TG_REASON_PASS);
	}
	for (n = 7; n <= 9; n++) {
		s.v6_ext = n;
		pkt_build(&p, &s);
		expect_xdp(f, "ipv6 ext chain > 6", p.b, p.len, XDP_PASS,
			   TG_REASON_IPV6_EXT_LIMIT);
	}
	/* A fragment header (offset 0, M set) in the middle of the chain. */
	s.v6_ext = 3;
	pkt_build(&p, &s);
	p.b[p.l3 + 40 + 8] = 44;	/* second ext header says: fragment */
	p.b[p.l3 + 40 + 16] = 6;	/* the third becomes it, before TCP */
	p.b[p.l3 + 40 + 17] = 0;
	put16(p.b + p.l3 + 40 + 18, 1);
	expect_xdp(f, "fragment in chain", p.b, p.len, XDP_PASS,
		   TG_REASON_FRAGMENT);
	/* The same with offset 0 and no M flag: atomic, walked through. */
	put16(p.b + p.l3 + 40 + 18, 0);
	expect_xdp(f, "atomic fragment in chain", p.b, p.len, XDP_PASS,
		   TG_REASON_PASS);
	/* An extension header length running past the frame. */
	p.b[p.l3 + 40 + 1] = 40;
	expect_xdp(f, "ext length past frame", p.b, p.len, XDP_DROP,
		   TG_REASON_MALFORMED);
}

static void test_ipv4_fragments_pass_uncounted_by_flows(void **state)
{
	struct fx *f = FX(state);
	struct pkt p = mk(&syn_v4, NULL, TCP_ACK, 100);

	put16(p.b + p.l3 + 6, 0x2000);	/* MF */
	expect_xdp(f, "first fragment", p.b, p.len, XDP_PASS, TG_REASON_FRAGMENT);
	put16(p.b + p.l3 + 6, 0x0010);	/* offset 128 */
	p.len = p.l4 + 3;		/* a tail shorter than a TCP header */
	put16(p.b + p.l3 + 2, 23);
	expect_xdp(f, "later fragment", p.b, p.len, XDP_PASS, TG_REASON_FRAGMENT);
	assert_int_equal(flow_count(f), 0);
}

/* ---- tenants ------------------------------------------------------------------- */

static void test_lpm_classifies_tenants(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_stats st;
	struct tg_config c;
	struct tg_flow fl;
	struct spec s;
	struct pkt p;

	lpm_v4_add(f, "10.1.0.0", 16, 5);
	lpm_v4_add(f, "10.1.2.0", 24, 6);
	lpm_v6_add(f, "2001:db8:1::", 48, 7);

	p = mk(&syn_v4, "10.1.2.3", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 6, &st);
	assert_int_equal(st.packets_in, 1);
	assert_int_equal(st.flows_new, 1);
	assert_int_equal(st.syn_passed, 1);
	s = syn_v4;
	s.src = "10.1.2.3";
	assert_int_equal(flow_get(f, &s, &fl), 0);
	assert_int_equal(fl.tenant_id, 6);

	p = mk(&syn_v4, "10.1.9.9", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 5, &st);
	assert_int_equal(st.packets_in, 1);

	p = mk(&syn_v6, NULL, TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 7, &st);
	assert_int_equal(st.packets_in, 1);

	/* Unmatched: tenant 0, then the configured default. */
	p = mk(&syn_v4, "192.0.2.1", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.packets_in, 1);
	p = mk(&syn_v6, "2001:db8:2::1", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.packets_in, 2);

	cfg_get(f, &c);
	c.default_tenant_id = 9;
	cfg_set(f, &c);
	p = mk(&syn_v4, "192.0.2.2", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 9, &st);
	assert_int_equal(st.packets_in, 1);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.packets_in, 2);
}

/* The tenant is taken at the flow's first packet and kept: a prefix moved
 * to another tenant later does not move established flows. */
static void test_tenant_cached_in_flow(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_stats st;
	struct pkt p;

	lpm_v4_add(f, "10.1.0.0", 16, 5);
	p = mk(&syn_v4, NULL, TCP_ACK, 10);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	lpm_v4_add(f, "10.1.0.0", 16, 8);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 5, &st);
	assert_int_equal(st.packets_in, 2);
	tenant_stats(f, 8, &st);
	assert_int_equal(st.packets_in, 0);
}

/* The tenant cache's word for an IPv4 source (abi.h, TG_MAP_TENANT_CACHE). */
static uint64_t tenant_cache_word(struct fx *f, const char *addr)
{
	struct tg_config c;
	uint32_t a, slot;
	uint64_t w;

	cfg_get(f, &c);
	assert_int_equal(inet_pton(AF_INET, addr, &a), 1);
	slot = tg_tenant_cache_slot(a, c.prefix_hash_seed);
	assert_int_equal(bpf_map_lookup_elem(mfd(f, TG_MAP_TENANT_CACHE), &slot, &w), 0);
	return w;
}

static void lpm_gen_set(struct fx *f, uint16_t gen)
{
	struct tg_config c;

	cfg_get(f, &c);
	c.lpm_gen = gen;
	cfg_set(f, &c);
}

/* A new connection from a source seen before takes its tenant from the
 * cache, which holds only while the tries' generation is unchanged: a
 * prefix moved to another tenant takes effect with the next generation,
 * as every policy push makes one. */
static void test_tenant_cache_follows_lpm_generation(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_stats st;
	struct tg_config c;
	uint32_t a;
	struct pkt p;

	cfg_get(f, &c);
	c.prefix_hash_seed = 0x5eed1234u;
	c.lpm_gen = 1;
	cfg_set(f, &c);
	lpm_v4_add(f, "10.1.0.0", 16, 5);
	p = mk(&syn_v4, "10.1.2.3", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	assert_int_equal(inet_pton(AF_INET, "10.1.2.3", &a), 1);
	assert_true(tenant_cache_word(f, "10.1.2.3") == tg_tenant_cache_word(a, 5, 1));

	/* The trie changes, the generation does not: the cached tenant. */
	lpm_v4_add(f, "10.1.0.0", 16, 8);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 5, &st);
	assert_int_equal(st.syn_passed, 2);

	/* A new generation: the trie's tenant, cached anew. */
	lpm_gen_set(f, 2);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 8, &st);
	assert_int_equal(st.syn_passed, 1);
	assert_true(tenant_cache_word(f, "10.1.2.3") == tg_tenant_cache_word(a, 8, 2));

	/* Unmatched sources are not cached (a spoofed flood would write a
	 * line per packet), nor is IPv6 (the cache is IPv4 only). */
	p = mk(&syn_v4, "192.0.2.1", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	assert_true(tenant_cache_word(f, "192.0.2.1") == 0);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_passed, 1);
}

/* Generation 0 (no policy pushed) leaves the cache out: every packet asks
 * the trie. */
static void test_tenant_cache_off_at_generation_0(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_stats st;
	struct pkt p;

	lpm_gen_set(f, 0);
	lpm_v4_add(f, "10.1.0.0", 16, 5);
	p = mk(&syn_v4, "10.1.2.3", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	assert_true(tenant_cache_word(f, "10.1.2.3") == 0);
	lpm_v4_add(f, "10.1.0.0", 16, 8);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 8, &st);
	assert_int_equal(st.syn_passed, 1);
}

/* Two sources of different tenants in one slot evict each other; each
 * is still counted to its own tenant, and a blocked one's SYNs still
 * drop whichever holds the slot. */
static void test_tenant_cache_colliding_sources(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_config blocked = { .flags = TG_TENANT_F_BLOCKED };
	struct tg_tenant_stats st;
	struct tg_config c;
	uint32_t a, b, i;
	char sa[32], sb[32];
	struct pkt pa, pb;

	cfg_get(f, &c);
	c.prefix_hash_seed = 77;
	c.lpm_gen = 3;
	cfg_set(f, &c);
	lpm_v4_add(f, "10.1.0.0", 16, 5);
	lpm_v4_add(f, "10.2.0.0", 16, 6);
	tenant_set(f, 6, &blocked);
	a = htonl(0x0a010203u);
	for (b = htonl(0x0a020000u), i = 0; i < 65536; i++, b = htonl(0x0a020000u + i))
		if (tg_tenant_cache_slot(b, 77) == tg_tenant_cache_slot(a, 77))
			break;
	assert_true(i < 65536);
	assert_non_null(inet_ntop(AF_INET, &a, sa, sizeof(sa)));
	assert_non_null(inet_ntop(AF_INET, &b, sb, sizeof(sb)));
	pa = mk(&syn_v4, sa, TCP_SYN, 0);
	pb = mk(&syn_v4, sb, TCP_SYN, 0);
	for (i = 0; i < 10; i++) {
		assert_int_equal(xdp(f, &pa), XDP_PASS);
		assert_int_equal(xdp(f, &pb), XDP_DROP);
	}
	tenant_stats(f, 5, &st);
	assert_int_equal(st.syn_passed, 10);
	tenant_stats(f, 6, &st);
	assert_int_equal(st.blocked, 10);
	assert_true(tenant_cache_word(f, sa) == tg_tenant_cache_word(b, 6, 3));
}

/* ---- penalty box and blocked tenants ------------------------------------------ */

static void test_penalty_drops_syn_passes_established(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_stats st;
	struct tg_config c;
	struct pkt syn, ack, other, udp;
	struct spec u = syn_v4;

	clock_set(f, T0);
	penalty_add(f, AF_INET, "10.1.2.3", T0 + NSEC);
	syn = mk(&syn_v4, NULL, TCP_SYN, 0);
	ack = mk(&syn_v4, NULL, TCP_ACK, 20);
	other = mk(&syn_v4, "10.1.2.4", TCP_SYN, 0);
	u.proto = 17;
	u.payload = 4;
	pkt_build(&udp, &u);

	expect_xdp(f, "penalized syn", syn.b, syn.len, XDP_DROP, TG_REASON_PENALTY);
	expect_xdp(f, "penalized established", ack.b, ack.len, XDP_PASS,
		   TG_REASON_PASS);
	expect_xdp(f, "neighbour syn", other.b, other.len, XDP_PASS,
		   TG_REASON_PASS);
	/* UDP without a flow record is new. */
	expect_xdp(f, "penalized udp", udp.b, udp.len, XDP_DROP,
		   TG_REASON_PENALTY);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.penalty, 2);

	cfg_get(f, &c);
	c.flags |= TG_CONFIG_F_DROP_ESTABLISHED;
	cfg_set(f, &c);
	expect_xdp(f, "penalized established, drop_established", ack.b,
		   ack.len, XDP_DROP, TG_REASON_PENALTY);

	/* Expired: everything passes again. */
	clock_set(f, T0 + NSEC);
	expect_xdp(f, "expired penalty", syn.b, syn.len, XDP_PASS,
		   TG_REASON_PASS);

	/* IPv6 sources too. */
	clock_set(f, T0);
	penalty_add(f, AF_INET6, "2001:db8:1::3", T0 + NSEC);
	syn = mk(&syn_v6, NULL, TCP_SYN, 0);
	expect_xdp(f, "penalized v6 syn", syn.b, syn.len, XDP_DROP,
		   TG_REASON_PENALTY);
}

/*
 * The hint in front of the box (tollgate/hint.h): with a thousand
 * addresses of both families in it, every one of them still drops and
 * their neighbours pass; the hint is filled the way the loader does.
 */
static void test_penalty_hint_many_sources(void **state)
{
	struct fx *f = FX(state);
	struct tg_penalty v = { .expiry_ns = T0 + NSEC };
	struct tg_tenant_stats st;
	struct tg_src_key k;
	char src[64];
	struct pkt p;
	int i;

	clock_set(f, T0);
	for (i = 0; i < 1000; i++) {
		memset(&k, 0, sizeof(k));
		if (i & 1) {
			k.family = TG_FAMILY_IPV6;
			snprintf(src, sizeof(src), "2001:db8:%x::%x", i, i * 7);
			assert_int_equal(inet_pton(AF_INET6, src, k.addr), 1);
		} else {
			k.family = TG_FAMILY_IPV4;
			snprintf(src, sizeof(src), "10.%d.%d.1", i >> 8, i & 255);
			assert_int_equal(inet_pton(AF_INET, src, k.addr), 1);
		}
		assert_int_equal(bpf_map_update_elem(mfd(f, TG_MAP_PENALTY), &k, &v, 0), 0);
	}
	assert_int_equal(kern_penalty_hint_fill(mfd(f, TG_MAP_PENALTY),
						mfd(f, TG_MAP_PENALTY_HINT)), 0);
	for (i = 0; i < 1000; i++) {
		if (i & 1) {
			snprintf(src, sizeof(src), "2001:db8:%x::%x", i, i * 7);
			p = mk(&syn_v6, src, TCP_SYN, 0);
			assert_int_equal(xdp(f, &p), XDP_DROP);
			snprintf(src, sizeof(src), "2001:db8:%x::%x", i, i * 7 + 1);
			p = mk(&syn_v6, src, TCP_SYN, 0);
			assert_int_equal(xdp(f, &p), XDP_PASS);
		} else {
			snprintf(src, sizeof(src), "10.%d.%d.1", i >> 8, i & 255);
			p = mk(&syn_v4, src, TCP_SYN, 0);
			assert_int_equal(xdp(f, &p), XDP_DROP);
			snprintf(src, sizeof(src), "10.%d.%d.2", i >> 8, i & 255);
			p = mk(&syn_v4, src, TCP_SYN, 0);
			assert_int_equal(xdp(f, &p), XDP_PASS);
		}
	}
	tenant_stats(f, 0, &st);
	assert_int_equal(st.penalty, 1000);
}

static void test_blocked_tenant_drops_syn_passes_established(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_config tc = { .flags = TG_TENANT_F_BLOCKED };
	struct tg_tenant_stats st;
	struct tg_config c;
	struct pkt syn, ack, other;

	lpm_v4_add(f, "10.1.0.0", 16, 3);
	lpm_v4_add(f, "10.2.0.0", 16, 4);
	syn = mk(&syn_v4, NULL, TCP_SYN, 0);
	ack = mk(&syn_v4, NULL, TCP_ACK, 20);
	other = mk(&syn_v4, "10.2.0.1", TCP_SYN, 0);
	/* Established before the block. */
	expect_xdp(f, "syn before block", syn.b, syn.len, XDP_PASS,
		   TG_REASON_PASS);
	tenant_set(f, 3, &tc);

	expect_xdp(f, "blocked syn", syn.b, syn.len, XDP_DROP,
		   TG_REASON_TENANT_BLOCKED);
	expect_xdp(f, "blocked established", ack.b, ack.len, XDP_PASS,
		   TG_REASON_PASS);
	expect_xdp(f, "other tenant syn", other.b, other.len, XDP_PASS,
		   TG_REASON_PASS);
	tenant_stats(f, 3, &st);
	assert_int_equal(st.blocked, 1);
	assert_int_equal(st.packets_in, 2);

	cfg_get(f, &c);
	c.flags |= TG_CONFIG_F_DROP_ESTABLISHED;
	cfg_set(f, &c);
	expect_xdp(f, "blocked established, drop_established", ack.b, ack.len,
		   XDP_DROP, TG_REASON_TENANT_BLOCKED);
	tc.flags = 0;
	tenant_set(f, 3, &tc);
	expect_xdp(f, "unblocked", syn.b, syn.len, XDP_PASS, TG_REASON_PASS);
}

/* ---- GCRA ------------------------------------------------------------------------ */

struct gcra_run {
	uint64_t interval_ns;	/* T */
	uint32_t burst;		/* b */
	uint64_t step_ns;	/* clock step */
	uint32_t steps;
	uint32_t per_step;	/* SYNs per step, all threads together */
};

static void tenant_limit(struct fx *f, uint32_t id, uint64_t interval, uint32_t burst)
{
	struct tg_tenant_config tc;

	memset(&tc, 0, sizeof(tc));
	tc.syn_interval_ns = interval;
	tc.syn_burst_ns = interval * (burst - 1);
	tenant_set(f, id, &tc);
}

/* rate × time + burst, time being the span of the steps. */
static double gcra_expected(const struct gcra_run *r)
{
	double span = (double)(r->steps - 1) * (double)r->step_ns;

	return span / (double)r->interval_ns + r->burst;
}

static void assert_within_2pct(uint64_t got, double want, const char *what)
{
	double lo = want * 0.98, hi = want * 1.02;

	print_message("%s: admitted %llu, rate x time + burst = %.0f\n", what,
		      (unsigned long long)got, want);
	if ((double)got < lo || (double)got > hi)
		fail_msg("%s: admitted %llu, want %.0f +-2%%", what,
			 (unsigned long long)got, want);
}

static uint64_t gcra_one_cpu(struct fx *f, const struct gcra_run *r,
			     const struct pkt *p)
{
	struct tg_tenant_stats st;
	uint32_t i;

	for (i = 0; i < r->steps; i++) {
		clock_set(f, T0 + i * r->step_ns);
		xdp_n(f, p, r->per_step);
	}
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_passed + st.syn_tenant_limited,
			 (uint64_t)r->steps * r->per_step);
	assert_int_equal(reason_count(f, TG_HOOK_XDP_INGRESS,
				      TG_REASON_SYN_TENANT_LIMIT),
			 st.syn_tenant_limited);
	return st.syn_passed;
}

/* 1000 SYN/s with a burst of 50, offered 2000/s for 5 s. */
static const struct gcra_run gcra_2x = {
	.interval_ns = NSEC / 1000, .burst = 50, .step_ns = NSEC / 100,
	.steps = 500, .per_step = 20,
};

static void test_gcra_one_cpu_at_2x_overload(void **state)
{
	struct fx *f = FX(state);
	struct pkt p = mk(&syn_v4, NULL, TCP_SYN, 0);
	uint64_t got;

	tenant_limit(f, 0, gcra_2x.interval_ns, gcra_2x.burst);
	got = gcra_one_cpu(f, &gcra_2x, &p);
	assert_within_2pct(got, gcra_expected(&gcra_2x), "1 cpu");
}

/* From rest, exactly the burst passes at one instant, then one per T. */
static void test_gcra_burst_then_one_per_interval(void **state)
{
	struct fx *f = FX(state);
	struct pkt p = mk(&syn_v4, NULL, TCP_SYN, 0);
	struct tg_tenant_stats st;
	int i;

	tenant_limit(f, 0, NSEC / 10, 5);
	clock_set(f, T0);
	xdp_n(f, &p, 20);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_passed, 5);
	for (i = 1; i <= 10; i++) {
		clock_set(f, T0 + i * (NSEC / 10));
		xdp_n(f, &p, 3);
		tenant_stats(f, 0, &st);
		assert_int_equal(st.syn_passed, 5 + i);
	}
	/* Packets that are not a bare SYN never meet the limiter. */
	p = mk(&syn_v4, NULL, TCP_SYN | TCP_ACK, 0);
	xdp_n(f, &p, 10);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_passed, 15);
	assert_int_equal(st.packets_in, 25);
}

struct worker {
	struct fx *f;
	const struct gcra_run *r;
	const struct pkt *p;
	pthread_barrier_t *bar;
	int cpu;
	int err;
};

/* Both threads run their share of each step at the same injected instant,
 * on their own CPU; thread 0 moves the clock between steps. */
static void *gcra_worker(void *arg)
{
	struct worker *w = arg;
	uint32_t i, share = w->r->per_step / 2;
	struct tg_config c;
	uint32_t k = 0;
	int cfg_fd = mfd(w->f, TG_MAP_CONFIG);

	pin_to_cpu(w->cpu);
	for (i = 0; i < w->r->steps; i++) {
		if (w->cpu == 0) {
			if (bpf_map_lookup_elem(cfg_fd, &k, &c))
				w->err = -errno;
			c.clock_override_ns = T0 + i * w->r->step_ns;
			if (bpf_map_update_elem(cfg_fd, &k, &c, 0))
				w->err = -errno;
		}
		pthread_barrier_wait(w->bar);
		if (run_prog(w->f->xdp_fd, w->p->b, w->p->len, share, NULL))
			w->err = -EIO;
		pthread_barrier_wait(w->bar);
	}
	return NULL;
}

static uint64_t gcra_two_cpus(struct fx *f, const struct gcra_run *r,
			      const struct pkt *p)
{
	pthread_barrier_t bar;
	struct worker w[2];
	pthread_t th[2];
	struct tg_tenant_stats st;
	int i;

	assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
	for (i = 0; i < 2; i++) {
		w[i] = (struct worker){ .f = f, .r = r, .p = p, .bar = &bar,
					.cpu = i };
		assert_int_equal(pthread_create(&th[i], NULL, gcra_worker, &w[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].err, 0);
	}
	pthread_barrier_destroy(&bar);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_passed + st.syn_tenant_limited + st.syn_prefix_limited,
			 (uint64_t)r->steps * r->per_step);
	return st.syn_passed;
}

/* 20000 SYN/s with a burst of 200, offered 40000/s for 5 s: enough
 * packets per step that the two CPUs overlap on the state. */
static const struct gcra_run gcra_2x_busy = {
	.interval_ns = NSEC / 20000, .burst = 200, .step_ns = NSEC / 100,
	.steps = 500, .per_step = 400,
};

/* A burst of 50000 at one instant, asked for twice over by each CPU. */
static const struct gcra_run gcra_burst_race = {
	.interval_ns = NSEC / 1000, .burst = 50000, .step_ns = NSEC,
	.steps = 1, .per_step = 200000,
};

static int two_cpus_online(void)
{
	return libbpf_num_possible_cpus() >= 2 &&
	       sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

static uint64_t gcra_one_cpu_fresh(const struct gcra_run *r, const struct pkt *p)
{
	struct fx *g = calloc(1, sizeof(*g));
	uint64_t n;

	assert_non_null(g);
	assert_int_equal(load_pair(g), 0);
	tenant_limit(g, 0, r->interval_ns, r->burst);
	n = gcra_one_cpu(g, r, p);
	unload_pair(g);
	free(g);
	return n;
}

/*
 * The same load from two CPUs at once: the compare-and-swap makes the
 * admitted count exactly the single-CPU one (at one instant the limiter
 * admits a fixed number whoever asks), and so within 2% of the formula.
 * A plain load-and-store limiter over-admits here.
 */
static void test_gcra_two_cpus_is_exact(void **state)
{
	struct fx *f = FX(state);
	struct pkt p = mk(&syn_v4, NULL, TCP_SYN, 0);
	uint64_t one, two;

	if (!two_cpus_online())
		skip();
	tenant_limit(f, 0, gcra_2x_busy.interval_ns, gcra_2x_busy.burst);
	two = gcra_two_cpus(f, &gcra_2x_busy, &p);
	pin_to_cpu(0);
	assert_within_2pct(two, gcra_expected(&gcra_2x_busy), "2 cpus");
	one = gcra_one_cpu_fresh(&gcra_2x_busy, &p);
	assert_within_2pct(one, gcra_expected(&gcra_2x_busy), "1 cpu, same load");
	assert_int_equal(two, one);
}

static void test_gcra_two_cpus_burst_is_exact(void **state)
{
	struct fx *f = FX(state);
	struct pkt p = mk(&syn_v4, NULL, TCP_SYN, 0);
	uint64_t two;

	if (!two_cpus_online())
		skip();
	tenant_limit(f, 0, gcra_burst_race.interval_ns, gcra_burst_race.burst);
	two = gcra_two_cpus(f, &gcra_burst_race, &p);
	pin_to_cpu(0);
	print_message("2 cpus, one instant: admitted %llu of %u, burst %u\n",
		      (unsigned long long)two, gcra_burst_race.per_step,
		      gcra_burst_race.burst);
	assert_int_equal(two, gcra_burst_race.burst);
}

/* The per-prefix limiter is exact across CPUs too, from a prefix's first
 * sight on (both CPUs race to give it a slot; the loser finds the
 * winner's). */
static void test_gcra_two_cpus_prefix_burst_is_exact(void **state)
{
	struct fx *f = FX(state);
	struct pkt p = mk(&syn_v4, "10.77.1.1", TCP_SYN, 0);
	struct tg_tenant_stats st;
	struct tg_config c;
	uint64_t two;

	if (!two_cpus_online())
		skip();
	cfg_get(f, &c);
	c.prefix_syn_interval_ns = gcra_burst_race.interval_ns;
	c.prefix_syn_burst_ns = gcra_burst_race.interval_ns *
				(gcra_burst_race.burst - 1);
	cfg_set(f, &c);
	two = gcra_two_cpus(f, &gcra_burst_race, &p);
	pin_to_cpu(0);
	tenant_stats(f, 0, &st);
	assert_int_equal(two, gcra_burst_race.burst);
	assert_int_equal(st.syn_prefix_limited,
			 gcra_burst_race.per_step - gcra_burst_race.burst);
	assert_int_equal(prefix_records(f), 1);
}

/* Tenant A at 10x its rate does not take from tenant B at 2x. */
static void test_gcra_tenant_isolation(void **state)
{
	struct fx *f = FX(state);
	struct pkt a = mk(&syn_v4, "10.1.0.1", TCP_SYN, 0);
	struct pkt b = mk(&syn_v4, "10.2.0.1", TCP_SYN, 0);
	struct tg_tenant_stats sa, sb;
	struct gcra_run rb = gcra_2x;
	uint32_t i;

	lpm_v4_add(f, "10.1.0.0", 16, 1);
	lpm_v4_add(f, "10.2.0.0", 16, 2);
	tenant_limit(f, 1, gcra_2x.interval_ns, gcra_2x.burst);
	tenant_limit(f, 2, gcra_2x.interval_ns, gcra_2x.burst);
	for (i = 0; i < rb.steps; i++) {
		clock_set(f, T0 + i * rb.step_ns);
		xdp_n(f, &a, 5 * rb.per_step);
		xdp_n(f, &b, rb.per_step);
	}
	tenant_stats(f, 1, &sa);
	tenant_stats(f, 2, &sb);
	assert_within_2pct(sa.syn_passed, gcra_expected(&rb), "tenant A (10x)");
	assert_within_2pct(sb.syn_passed, gcra_expected(&rb), "tenant B (2x)");
	/* Each tenant's limiter saw exactly its own packets. */
	assert_int_equal(sb.syn_passed + sb.syn_tenant_limited,
			 (uint64_t)rb.steps * rb.per_step);
	assert_int_equal(sa.syn_passed, sb.syn_passed);
}

/* The per-prefix limiter: one /24 shares a budget, the next /24 has its
 * own, and so does another tenant's copy of the same /24. */
static void test_gcra_per_prefix(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_stats st;
	struct tg_config c;
	struct pkt p;
	int i;

	cfg_get(f, &c);
	c.prefix_syn_interval_ns = NSEC;
	c.prefix_syn_burst_ns = 2 * NSEC;	/* burst 3 */
	c.clock_override_ns = T0;
	cfg_set(f, &c);
	for (i = 1; i <= 5; i++) {
		char src[32];

		snprintf(src, sizeof(src), "10.1.2.%d", i);
		p = mk(&syn_v4, src, TCP_SYN, 0);
		assert_int_equal(xdp(f, &p), i <= 3 ? XDP_PASS : XDP_DROP);
	}
	p = mk(&syn_v4, "10.1.3.1", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_prefix_limited, 2);
	assert_int_equal(reason_count(f, TG_HOOK_XDP_INGRESS,
				      TG_REASON_SYN_PREFIX_LIMIT), 2);
	/* The same /24 in another tenant. */
	lpm_v4_add(f, "10.1.2.128", 25, 4);
	p = mk(&syn_v4, "10.1.2.200", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	/* IPv6 /56: ::1:0 and ::ff:0 share it; the next /56 does not. */
	for (i = 0; i < 3; i++) {
		p = mk(&syn_v6, i ? "2001:db8:1:ff::1" : "2001:db8:1:1::1",
		       TCP_SYN, 0);
		assert_int_equal(xdp(f, &p), XDP_PASS);
	}
	p = mk(&syn_v6, "2001:db8:1:1::2", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_DROP);
	p = mk(&syn_v6, "2001:db8:1:100::1", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	/* A second later, one more each. */
	clock_set(f, T0 + NSEC);
	p = mk(&syn_v4, "10.1.2.9", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	assert_int_equal(xdp(f, &p), XDP_DROP);
}

/* A tenant already over its SYN limit refuses first: the SYN counts as a
 * tenant-limit drop and a source prefix seen for the first time gets no
 * tg_syn_prefix record (a spoofed flood does not churn the table); once the
 * tenant has budget again, prefixes are limited as before. */
static void test_gcra_tenant_over_limit_skips_prefix(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_stats st;
	struct tg_config c;
	struct pkt p;
	int i;

	cfg_get(f, &c);
	c.prefix_syn_interval_ns = 2 * NSEC;	/* one per 2 s per /24 */
	c.prefix_syn_burst_ns = 0;
	c.clock_override_ns = T0;
	cfg_set(f, &c);
	tenant_limit(f, 0, NSEC, 2);		/* one per s, burst 2 */
	p = mk(&syn_v4, "10.9.1.1", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	p = mk(&syn_v4, "10.9.2.1", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	/* The tenant is out of budget: 20 new /24s drop, none recorded. */
	for (i = 0; i < 20; i++) {
		char src[32];

		snprintf(src, sizeof(src), "10.8.%d.1", i);
		p = mk(&syn_v4, src, TCP_SYN, 0);
		assert_int_equal(xdp(f, &p), XDP_DROP);
	}
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_passed, 2);
	assert_int_equal(st.syn_tenant_limited, 20);
	assert_int_equal(st.syn_prefix_limited, 0);
	assert_int_equal(prefix_records(f), 2);
	/* A second later the tenant has one more: 10.9.1/24 has not, which
	 * is the prefix's refusal (the tenant keeps its budget), and a new
	 * /24 takes the tenant's last one; the one after that is refused by
	 * the tenant again, without a record. */
	clock_set(f, T0 + NSEC);
	p = mk(&syn_v4, "10.9.1.2", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_DROP);
	p = mk(&syn_v4, "10.9.3.1", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	p = mk(&syn_v4, "10.9.4.1", TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_DROP);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_passed, 3);
	assert_int_equal(st.syn_prefix_limited, 1);
	assert_int_equal(st.syn_tenant_limited, 21);
	assert_int_equal(prefix_records(f), 3);
}

/* One SYN from each of the /24s number `from` to `to` - 1; `flood`: the
 * clock moves 1 us a SYN, as in a flood that takes time (older prefixes
 * are then nearer to rest). */
static void syn_per_prefix(struct fx *f, uint32_t from, uint32_t to, bool flood)
{
	char src[32];
	struct pkt p;
	uint32_t i;

	for (i = from; i < to; i++) {
		if (flood && !(i % 16))
			clock_set(f, T0 + i * 1000ull);
		snprintf(src, sizeof(src), "%u.%u.%u.7", 1 + (i >> 16), (i >> 8) & 255,
			 i & 255);
		p = mk(&syn_v4, src, TCP_SYN, 0);
		xdp_n(f, &p, 1);
	}
}

/*
 * More live prefixes than tg_syn_prefix has slots (a spoofed flood): every
 * new prefix still gets a slot (the one nearest to rest: an eviction only
 * ever admits more), so the flood's SYNs are not refused for want of room,
 * and the most recent prefixes keep their state: a second SYN of theirs is
 * refused, as it must be.
 */
static void test_prefix_table_full_keeps_recent(void **state)
{
	const uint32_t n = TG_SYN_PREFIX_SETS * TG_PREFIX_WAYS + 40000;
	const uint32_t recent = 8192;
	struct fx *f = FX(state);
	struct tg_tenant_stats st;
	struct tg_config c;
	uint64_t refused;

	cfg_get(f, &c);
	c.prefix_syn_interval_ns = 100 * NSEC;	/* every prefix stays live */
	c.prefix_syn_burst_ns = 0;		/* burst 1 */
	c.flood_flows_per_sec = 1;		/* no flow records to speak of */
	c.clock_override_ns = T0;
	cfg_set(f, &c);
	syn_per_prefix(f, 0, n, true);
	tenant_stats(f, 0, &st);
	print_message("%u new prefixes, %llu refused (same set and tag as a live one)\n",
		      n, (unsigned long long)st.syn_prefix_limited);
	/* Only a tag collision with a live prefix of the same set refuses:
	 * about 4 in 65535 per SYN. */
	assert_true(st.syn_prefix_limited * 1000 < n);
	/* Sets are filled at random: most, not all, hold 4 by now. */
	assert_true(prefix_records(f) > TG_SYN_PREFIX_SETS * TG_PREFIX_WAYS * 3 / 4);
	refused = st.syn_prefix_limited;
	syn_per_prefix(f, n - recent, n, false);
	tenant_stats(f, 0, &st);
	print_message("the %u most recent prefixes again: %llu refused\n", recent,
		      (unsigned long long)(st.syn_prefix_limited - refused));
	assert_true((st.syn_prefix_limited - refused) * 100 >= (uint64_t)recent * 99);
	/* Their interval later, each has one more. */
	clock_set(f, T0 + n * 1000ull + 100 * NSEC);
	refused = st.syn_prefix_limited;
	syn_per_prefix(f, n - recent, n, false);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_prefix_limited, refused);
}

/*
 * A long tolerance (a burst of 100 at one per hour: tau = 99 hours): the
 * TATs are kept in coarser units (kern_prefix_tat_shift), and the limiter
 * still admits the burst, then one per hour, and the whole burst again once at rest, even after a time
 * that wraps the slot's clock.
 */
static void test_prefix_long_tolerance(void **state)
{
	const uint64_t hour = 3600 * NSEC;
	struct fx *f = FX(state);
	struct tg_tenant_stats st;
	struct tg_config c;
	uint64_t t, tau;
	struct pkt p = mk(&syn_v4, "10.3.3.3", TCP_SYN, 0);

	kern_gcra_params(1, 3600 * 1000, 100, &t, &tau);
	assert_int_equal(t, hour);
	assert_int_equal(tau, 99 * hour);
	assert_int_equal(kern_prefix_tat_shift(NSEC / 100, 99 * (NSEC / 100)), 6);
	cfg_get(f, &c);
	c.prefix_syn_interval_ns = t;
	c.prefix_syn_burst_ns = tau;
	c.prefix_tat_shift = (uint8_t)kern_prefix_tat_shift(t, tau);
	assert_true(c.prefix_tat_shift > 0);
	c.clock_override_ns = T0;
	cfg_set(f, &c);
	xdp_n(f, &p, 150);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_passed, 100);
	clock_set(f, T0 + hour);
	xdp_n(f, &p, 3);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_passed, 101);
	/* 3 * 2^47 units later: the slot's 48-bit clock has wrapped. */
	clock_set(f, T0 + hour + (3ull << (47 + c.prefix_tat_shift)));
	xdp_n(f, &p, 150);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.syn_passed, 201);
}

/* ---- flows ----------------------------------------------------------------------- */

static void test_flood_guard_stops_inserts(void **state)
{
	struct fx *f = FX(state);
	struct tg_config c;
	struct pkt p;
	char src[32];
	int i;

	cfg_get(f, &c);
	c.flood_flows_per_sec = 10;
	c.clock_override_ns = T0;
	cfg_set(f, &c);
	for (i = 0; i < 50; i++) {
		snprintf(src, sizeof(src), "10.%d.%d.1", 1 + i / 200, i % 200);
		p = mk(&syn_v4, src, TCP_SYN, 0);
		/* Above the guard the packet still passes. */
		assert_int_equal(xdp(f, &p), XDP_PASS);
	}
	assert_int_equal(flow_count(f), 10);
	assert_int_equal(reason_count(f, TG_HOOK_XDP_INGRESS,
				      TG_REASON_FLOOD_GUARD), 40);
	assert_int_equal(reason_count(f, TG_HOOK_XDP_INGRESS,
				      TG_REASON_PASS), 10);
	/* Existing flows are still accounted. */
	p = mk(&syn_v4, "10.1.0.1", TCP_ACK, 5);
	expect_xdp(f, "existing flow under guard", p.b, p.len, XDP_PASS,
		   TG_REASON_PASS);
	/* The next window admits the next ten. */
	clock_set(f, T0 + NSEC);
	for (i = 50; i < 70; i++) {
		snprintf(src, sizeof(src), "10.%d.%d.1", 1 + i / 200, i % 200);
		p = mk(&syn_v4, src, TCP_SYN, 0);
		assert_int_equal(xdp(f, &p), XDP_PASS);
	}
	assert_int_equal(flow_count(f), 20);
	/* 0 turns it off. */
	c.flood_flows_per_sec = 0;
	cfg_set(f, &c);
	for (i = 70; i < 90; i++) {
		snprintf(src, sizeof(src), "10.%d.%d.1", 1 + i / 200, i % 200);
		p = mk(&syn_v4, src, TCP_SYN, 0);
		assert_int_equal(xdp(f, &p), XDP_PASS);
	}
	assert_int_equal(flow_count(f), 40);
}

static void test_flow_record_and_token_estimate(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_config tc;
	struct tg_tenant_stats st;
	struct tg_flow fl;
	struct pkt p;
	uint64_t bytes;

	memset(&tc, 0, sizeof(tc));
	tc.bytes_per_token = 4;
	tenant_set(f, 0, &tc);
	clock_set(f, T0);
	p = mk(&syn_v4, NULL, TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	bytes = p.len;
	clock_set(f, T0 + 5);
	p = mk(&syn_v4, NULL, TCP_ACK | TCP_PSH, 100);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	bytes += p.len;
	p = mk(&syn_v4, NULL, TCP_ACK, 3);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	bytes += p.len;
	/* 2 payload bytes in a frame padded to 60. */
	p = mk(&syn_v4, NULL, TCP_ACK | TCP_FIN, 2);
	p.len = 60;
	clock_set(f, T0 + 9);
	assert_int_equal(xdp(f, &p), XDP_PASS);
	bytes += 60;

	assert_int_equal(flow_get(f, &syn_v4, &fl), 0);
	assert_int_equal(fl.packets_in, 4);
	assert_int_equal(fl.bytes_in, bytes);
	assert_int_equal(fl.payload_in, 105);
	assert_int_equal(fl.tokens_in, 105 / 4);
	assert_int_equal(fl.first_seen_ns, T0);
	assert_int_equal(fl.last_seen_ns, T0 + 9);
	assert_int_equal(fl.tcp_flags_in, TCP_SYN | TCP_ACK | TCP_PSH | TCP_FIN);
	assert_int_equal(fl.tenant_id, 0);
	tenant_stats(f, 0, &st);
	assert_int_equal(st.tokens_in, 105 / 4);
	assert_int_equal(st.bytes_in, bytes);
	assert_int_equal(st.flows_new, 1);
}

/* ---- events --------------------------------------------------------------------- */

struct ev_sink {
	unsigned int n;
	struct tg_event last;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct ev_sink *s = ctx;

	if (size >= sizeof(struct tg_event))
		memcpy(&s->last, data, sizeof(s->last));
	s->n++;
	return 0;
}

static void test_events_sampled_and_capped(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_config tc = { .flags = TG_TENANT_F_BLOCKED };
	struct ev_sink sink = { 0 };
	struct ring_buffer *rb;
	struct tg_config c;
	struct pkt p = mk(&syn_v4, NULL, TCP_SYN, 0);

	lpm_v4_add(f, "10.1.0.0", 16, 3);
	tenant_set(f, 3, &tc);
	rb = ring_buffer__new(mfd(f, TG_MAP_EVENTS), on_event, &sink, NULL);
	assert_non_null(rb);

	cfg_get(f, &c);
	c.event_sample_every = 1;
	c.clock_override_ns = T0;
	cfg_set(f, &c);
	assert_int_equal(xdp(f, &p), XDP_DROP);
	ring_buffer__consume(rb);
	assert_int_equal(sink.n, 1);
	assert_int_equal(sink.last.reason, TG_REASON_TENANT_BLOCKED);
	assert_int_equal(sink.last.type, TG_EVENT_DROP);
	assert_int_equal(sink.last.tenant_id, 3);
	assert_int_equal(sink.last.hook, TG_HOOK_XDP_INGRESS);
	assert_int_equal(sink.last.ts_ns, T0);
	assert_int_equal(sink.last.key.sport, htons(40000));

	/* One in four. */
	sink.n = 0;
	c.event_sample_every = 4;
	cfg_set(f, &c);
	xdp_n(f, &p, 400);
	ring_buffer__consume(rb);
	assert_int_equal(sink.n, 100);

	/* Capped per CPU per second, however many are sampled. */
	sink.n = 0;
	c.event_sample_every = 1;
	c.events_per_sec = 5;
	c.clock_override_ns = T0 + 10 * NSEC;
	cfg_set(f, &c);
	xdp_n(f, &p, 1000);
	ring_buffer__consume(rb);
	assert_int_equal(sink.n, 5);

	/* Limiter trips are LIMIT events. */
	sink.n = 0;
	tc.flags = 0;
	tc.syn_interval_ns = NSEC;
	tenant_set(f, 3, &tc);
	c.clock_override_ns = T0 + 20 * NSEC;
	cfg_set(f, &c);
	xdp_n(f, &p, 3);
	ring_buffer__consume(rb);
	assert_int_equal(sink.n, 2);
	assert_int_equal(sink.last.type, TG_EVENT_LIMIT);
	assert_int_equal(sink.last.reason, TG_REASON_SYN_TENANT_LIMIT);
	ring_buffer__free(rb);
}

/* ---- TC egress --------------------------------------------------------------- */

static int tc_run(struct fx *f, const struct pkt *p, struct __sk_buff *ctx,
		  uint32_t *retval)
{
	struct __sk_buff out;
	LIBBPF_OPTS(bpf_test_run_opts, o,
		.data_in = p->b,
		.data_size_in = p->len,
		.ctx_in = ctx,
		.ctx_size_in = ctx ? sizeof(*ctx) : 0,
		.ctx_out = ctx ? &out : NULL,
		.ctx_size_out = ctx ? sizeof(out) : 0,
		.repeat = 1,
	);
	int err = bpf_prog_test_run_opts(f->tc_fd, &o);

	if (!err) {
		*retval = o.retval;
		if (ctx)
			*ctx = out;
	}
	return err;
}

static void test_tc_counts_responses_per_flow_and_tenant(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_config tc;
	struct tg_tenant_stats st;
	struct __sk_buff ctx;
	struct tg_flow fl;
	struct pkt p;
	uint32_t ret;
	uint64_t bytes;
	int err;

	lpm_v4_add(f, "10.1.0.0", 16, 6);
	memset(&tc, 0, sizeof(tc));
	tc.bytes_per_token = 4;
	tenant_set(f, 6, &tc);
	clock_set(f, T0);
	p = mk(&syn_v4, NULL, TCP_SYN, 0);
	assert_int_equal(xdp(f, &p), XDP_PASS);

	clock_set(f, T0 + 100);
	p = mk_reply(&syn_v4, TCP_SYN | TCP_ACK, 0);
	assert_int_equal(tc_run(f, &p, NULL, &ret), 0);
	assert_int_equal(ret, TC_ACT_OK);
	bytes = p.len;
	p = mk_reply(&syn_v4, TCP_ACK | TCP_PSH, 402);
	assert_int_equal(tc_run(f, &p, NULL, &ret), 0);
	bytes += p.len;

	assert_int_equal(flow_get(f, &syn_v4, &fl), 0);
	assert_int_equal(fl.packets_out, 2);
	assert_int_equal(fl.bytes_out, bytes);
	assert_int_equal(fl.payload_out, 402);
	assert_int_equal(fl.tokens_out, 100);
	assert_int_equal(fl.tcp_flags_out, TCP_SYN | TCP_ACK | TCP_PSH);
	assert_int_equal(fl.packets_in, 1);
	assert_int_equal(fl.last_seen_ns, T0 + 100);
	tenant_stats(f, 6, &st);
	assert_int_equal(st.packets_out, 2);
	assert_int_equal(st.bytes_out, bytes);
	assert_int_equal(st.tokens_out, 100);
	assert_int_equal(reason_count(f, TG_HOOK_TC_EGRESS, TG_REASON_PASS), 2);

	/* A GSO skb counts as its segments. */
	p = mk_reply(&syn_v4, TCP_ACK, 1000);
	memset(&ctx, 0, sizeof(ctx));
	ctx.gso_segs = 4;
	ctx.gso_size = 250;
	err = tc_run(f, &p, &ctx, &ret);
	if (err) {
		print_message("this kernel's skb test runner refuses gso_segs: "
			      "%s\n", strerror(-err));
	} else {
		assert_int_equal(flow_get(f, &syn_v4, &fl), 0);
		assert_int_equal(fl.packets_out, 6);
		assert_int_equal(fl.payload_out, 1402);
		tenant_stats(f, 6, &st);
		assert_int_equal(st.packets_out, 6);
	}

	/* No flow: the tenant comes from the destination's prefix. */
	p = mk_reply(&syn_v4, TCP_ACK, 10);
	p.b[p.l4 + 3] ^= 1;	/* another client port */
	assert_int_equal(tc_run(f, &p, NULL, &ret), 0);
	tenant_stats(f, 6, &st);
	assert_int_equal(st.packets_out, err ? 3 : 7);
}

static void test_tc_paces_by_departure_time(void **state)
{
	struct fx *f = FX(state);
	struct tg_tenant_config tc;
	struct __sk_buff ctx;
	struct tg_config c;
	struct pkt p = mk_reply(&syn_v4, TCP_ACK, 958);
	uint32_t ret;
	uint64_t per_pkt;
	int i, err;

	memset(&tc, 0, sizeof(tc));
	tc.egress_bytes_per_sec = 1000000;	/* 1 MB/s: 1 µs per byte */
	tenant_set(f, 0, &tc);
	cfg_get(f, &c);
	c.clock_override_ns = T0;
	cfg_set(f, &c);
	per_pkt = (uint64_t)p.len * 1000;

	/* Pacing off: no timestamp. */
	memset(&ctx, 0, sizeof(ctx));
	err = tc_run(f, &p, &ctx, &ret);
	if (err == -EINVAL)
		skip();
	assert_int_equal(err, 0);
	assert_int_equal(ctx.tstamp, 0);

	c.flags |= TG_CONFIG_F_EGRESS_PACING;
	cfg_set(f, &c);
	for (i = 0; i < 3; i++) {
		memset(&ctx, 0, sizeof(ctx));
		assert_int_equal(tc_run(f, &p, &ctx, &ret), 0);
		assert_int_equal(ret, TC_ACT_OK);
		assert_int_equal(ctx.tstamp, T0 + i * per_pkt);
	}
	/* An idle tenant starts again at now. */
	c.clock_override_ns = T0 + NSEC;
	cfg_set(f, &c);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(tc_run(f, &p, &ctx, &ret), 0);
	assert_int_equal(ctx.tstamp, T0 + NSEC);
	/* Never further ahead than the horizon. */
	tc.egress_bytes_per_sec = 100;
	tenant_set(f, 0, &tc);
	for (i = 0; i < 3; i++) {
		memset(&ctx, 0, sizeof(ctx));
		assert_int_equal(tc_run(f, &p, &ctx, &ret), 0);
		assert_true(ctx.tstamp <= T0 + NSEC + TG_PACE_HORIZON_NS);
	}
}

/* ---- the contract ------------------------------------------------------------- */

/* Every map of abi.h is in both objects, named by its macro, with the same
 * definition, so one set can be shared through pins. */
static void test_both_objects_define_every_map_alike(void **state)
{
	static const char *const names[] = {
		TG_MAP_FLOWS, TG_MAP_LPM_V4, TG_MAP_LPM_V6, TG_MAP_TENANTS,
		TG_MAP_TENANT_STATS, TG_MAP_SYN_TENANT, TG_MAP_SYN_PREFIX,
		TG_MAP_PENALTY, TG_MAP_CONFIG, TG_MAP_FLOOD, TG_MAP_STATS,
		TG_MAP_RUNS, TG_MAP_EVENTS, TG_MAP_PACE, TG_MAP_PENALTY_HINT,
		TG_MAP_TENANT_CACHE,
	};
	struct tg_xdp *x = tg_xdp__open();
	struct tg_tc *t = tg_tc__open();
	const struct bpf_map *a, *b;
	size_t i;

	(void)state;
	assert_non_null(x);
	assert_non_null(t);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		a = bpf_object__find_map_by_name(x->obj, names[i]);
		b = bpf_object__find_map_by_name(t->obj, names[i]);
		if (!a || !b)
			fail_msg("map %s missing", names[i]);
		assert_int_equal(bpf_map__type(a), bpf_map__type(b));
		assert_int_equal(bpf_map__key_size(a), bpf_map__key_size(b));
		assert_int_equal(bpf_map__value_size(a), bpf_map__value_size(b));
		assert_int_equal(bpf_map__max_entries(a), bpf_map__max_entries(b));
	}
	assert_int_equal(bpf_map__value_size(x->maps.tg_config),
			 sizeof(struct tg_config));
	assert_int_equal(bpf_map__value_size(x->maps.tg_tenants),
			 sizeof(struct tg_tenant_config));
	assert_int_equal(bpf_map__value_size(x->maps.tg_flood),
			 sizeof(struct tg_flood_window));
	assert_int_equal(bpf_map__value_size(x->maps.tg_pace),
			 sizeof(struct tg_pace));
	assert_int_equal(bpf_map__max_entries(x->maps.tg_tenants),
			 TG_KERN_TENANT_SLOTS);
	tg_tc__destroy(t);
	tg_xdp__destroy(x);
}

/* Reports what the verifier went through (not a limit: a record). */
static void test_verifier_instruction_counts(void **state)
{
	struct fx *f = FX(state);
	struct bpf_prog_info info;
	uint32_t len;
	int fds[2] = { f->xdp_fd, f->tc_fd };
	int i;

	for (i = 0; i < 2; i++) {
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		assert_int_equal(bpf_obj_get_info_by_fd(fds[i], &info, &len), 0);
		print_message("%s: %u instructions, %u verified\n", info.name,
			      info.xlated_prog_len / 8, info.verified_insns);
		assert_true(info.verified_insns < 1000000);
	}
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* `name` is one of the comma-separated names of `list`. */
static bool name_listed(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p = list;

	while ((p = strstr(p, name))) {
		if ((p == list || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
			return true;
		p += len;
	}
	return false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_objects_define_every_map_alike),
		T(test_verifier_instruction_counts),
		T(test_l4_tcp_and_udp_parse_and_pass),
		T(test_l4_malformed_headers_drop),
		T(test_truncated_at_every_length_drops),
		T(test_ipv6_extension_chains),
		T(test_ipv4_fragments_pass_uncounted_by_flows),
		T(test_lpm_classifies_tenants),
		T(test_tenant_cached_in_flow),
		T(test_tenant_cache_follows_lpm_generation),
		T(test_tenant_cache_off_at_generation_0),
		T(test_tenant_cache_colliding_sources),
		T(test_penalty_drops_syn_passes_established),
		T(test_penalty_hint_many_sources),
		T(test_blocked_tenant_drops_syn_passes_established),
		T(test_gcra_burst_then_one_per_interval),
		T(test_gcra_one_cpu_at_2x_overload),
		T(test_gcra_two_cpus_is_exact),
		T(test_gcra_two_cpus_burst_is_exact),
		T(test_gcra_tenant_isolation),
		T(test_gcra_per_prefix),
		T(test_gcra_tenant_over_limit_skips_prefix),
		T(test_prefix_table_full_keeps_recent),
		T(test_prefix_long_tolerance),
		T(test_gcra_two_cpus_prefix_burst_is_exact),
		T(test_flood_guard_stops_inserts),
		T(test_flow_record_and_token_estimate),
		T(test_events_sampled_and_capped),
		T(test_tc_counts_responses_per_flow_and_tenant),
		T(test_tc_paces_by_departure_time),
	};

	struct CMUnitTest chosen[ARRAY_SIZE(tests)];
	const char *only = getenv("TG_TEST_ONLY");
	size_t i, n = 0;

	/* TG_TEST_ONLY=name,name...: those tests alone (the Debian-kernel
	 * suite runs a few under emulation, where each load takes seconds). */
	if (!only || !*only)
		return cmocka_run_group_tests_name("datapath", tests, group_setup, NULL);
	for (i = 0; i < ARRAY_SIZE(tests); i++)
		if (name_listed(only, tests[i].name))
			chosen[n++] = tests[i];
	if (n == 0) {
		fprintf(stderr, "test_datapath: TG_TEST_ONLY names no test: %s\n", only);
		return 1;
	}
	return _cmocka_run_group_tests("datapath", chosen, n, group_setup, NULL);
}
