// SPDX-License-Identifier: Apache-2.0
/*
 * ns per packet of tg_xdp_ingress above an empty XDP program, measured in
 * the kernel by bpf_prog_test_run_opts (opts.duration: the mean run time
 * over `repeat` runs, syscall excluded). Each case runs a set of distinct
 * packets (varied keys) and is compared with the empty program run the
 * same way, in the same process, on the same CPU:
 *
 *   steady     established flows hit in tg_flows (64 flows)
 *   syn        SYN path: LPM, penalty lookup, prefix and tenant GCRA, the
 *              flow insert (64 sources, limits high enough to admit)
 *   malformed  TCP data offset 3: parse and drop
 *   blocked    SYNs of a blocked tenant's 64 sources, seen before: the
 *              tenant cache (or LPM), tenant flag, drop
 *   blocked-new  SYNs of a blocked tenant, each source seen once (repeat
 *              1): the LPM walk and a cache fill, tenant flag, drop
 *   spoofed    SYNs from random sources, each seen once (repeat 1), the
 *              flood guard on: LPM miss, prefix limiter insert, no flow
 *   spoofed-limited  the same with the tenants' SYN limits in force (the
 *              tenant over its limit after the first few): what a real
 *              flood costs once it is being refused
 *
 * Few distinct keys, many repeats each: every test run with repeat > 1
 * swaps the XDP dispatcher in and out (a synchronize_rcu each way), so
 * calls are expensive and the per-packet figure comes from the repeats.
 * The 64 keys stay cache-hot; a production table's misses are not here.
 *
 * Not part of `make test`: `make bench-bpf` (root). Figures go to
 * docs/benchmarks.md by hand.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

#include "tg_xdp.skel.h"

#define NFLOWS		64
#define NSPOOF		50000
#define REPEAT		20000
#define ROUNDS		3

struct frame {
	uint8_t b[128];
	uint32_t len;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* Ethernet, IPv4 saddr → 10.0.0.2, TCP sport → 8080 with flags and
 * payload bytes. */
static void frame_v4(struct frame *f, uint32_t saddr, uint16_t sport,
		     uint8_t flags, uint32_t payload)
{
	uint8_t *b = f->b;

	memset(f, 0, sizeof(*f));
	memcpy(b, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14);
	b[14] = 0x45;
	put16(b + 16, 40 + payload);
	put16(b + 20, 0x4000);
	b[22] = 64;
	b[23] = 6;
	memcpy(b + 26, &saddr, 4);
	memcpy(b + 30, "\x0a\x00\x00\x02", 4);
	put16(b + 34, sport);
	put16(b + 36, 8080);
	b[46] = 0x50;
	b[47] = flags;
	put16(b + 48, 65535);
	f->len = 54 + payload;
}

static int empty_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0,
		  .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "tg_bench_empty", "GPL", insns,
			     2, NULL);
}

/* Mean ns per run over every frame, each run `repeat` times. */
static double run_set(int fd, const struct frame *fr, unsigned int n,
		      unsigned int repeat)
{
	double sum = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o,
			.data_in = fr[i].b,
			.data_size_in = fr[i].len,
			.repeat = repeat,
		);
		if (bpf_prog_test_run_opts(fd, &o)) {
			fprintf(stderr, "bench_bpf: test run: %s\n", strerror(errno));
			exit(1);
		}
		sum += o.duration;
	}
	return sum / n;
}

struct result {
	const char *name;
	const char *what;
	double empty, prog;
	double target;		/* ns above empty; 0: none */
};

static void config(struct tg_xdp *s, const struct tg_config *c)
{
	uint32_t k = 0;

	if (bpf_map_update_elem(bpf_map__fd(s->maps.tg_config), &k, c, 0)) {
		perror("bench_bpf: tg_config");
		exit(1);
	}
}

static void tenant(struct tg_xdp *s, uint32_t id, const struct tg_tenant_config *tc)
{
	if (bpf_map_update_elem(bpf_map__fd(s->maps.tg_tenants), &id, tc, 0)) {
		perror("bench_bpf: tg_tenants");
		exit(1);
	}
}

static void lpm(struct tg_xdp *s, const char *addr, uint32_t plen, uint32_t id)
{
	struct tg_lpm_v4_key k;
	struct tg_lpm_value v = { .tenant_id = id };

	memset(&k, 0, sizeof(k));
	k.prefixlen = plen;
	inet_pton(AF_INET, addr, &k.addr);
	if (bpf_map_update_elem(bpf_map__fd(s->maps.tg_lpm_v4), &k, &v, 0)) {
		perror("bench_bpf: tg_lpm_v4");
		exit(1);
	}
}

/* Runs one case: `prog` and the empty program alternately, ROUNDS times,
 * keeping each one's best round (the least disturbed). */
static void measure(struct result *r, int prog, int empty,
		    const struct frame *fr, unsigned int n, unsigned int repeat)
{
	double e, p;
	int i;

	r->empty = r->prog = 1e18;
	for (i = 0; i < ROUNDS; i++) {
		e = run_set(empty, fr, n, repeat);
		p = run_set(prog, fr, n, repeat);
		if (e < r->empty)
			r->empty = e;
		if (p < r->prog)
			r->prog = p;
	}
}

int main(void)
{
	static struct frame fr[NFLOWS], spoof[NSPOOF];
	struct tg_tenant_config tc;
	struct result res[7];
	struct tg_config c;
	struct tg_xdp *s;
	int prog, empty, i;
	unsigned int n = 0;
	cpu_set_t set;
	uint32_t a;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	srandom(42);

	s = tg_xdp__open_and_load();
	if (!s) {
		fprintf(stderr, "bench_bpf: loading tg_xdp: %s (root needed)\n",
			strerror(errno));
		return 1;
	}
	empty = empty_prog();
	if (empty < 0) {
		fprintf(stderr, "bench_bpf: loading the empty program: %s\n",
			strerror(errno));
		return 1;
	}
	prog = bpf_program__fd(s->progs.tg_xdp_ingress);

	/* A node as configured in production: tenants by prefix, SYN limits
	 * per tenant and per /24 (high enough that these SYNs pass), a flood
	 * guard, events sampled. The real clock. */
	lpm(s, "10.0.0.0", 8, 1);
	lpm(s, "10.1.0.0", 16, 2);
	lpm(s, "172.16.0.0", 12, 3);
	memset(&tc, 0, sizeof(tc));
	tc.syn_interval_ns = 1;
	tc.syn_burst_ns = 1ull << 40;
	tc.bytes_per_token = 4;
	tenant(s, 1, &tc);
	tenant(s, 0, &tc);
	tc.flags = TG_TENANT_F_BLOCKED;
	tenant(s, 3, &tc);
	memset(&c, 0, sizeof(c));
	c.prefix_syn_interval_ns = 1;
	c.prefix_syn_burst_ns = 1ull << 40;
	c.flood_flows_per_sec = 0;
	/* As a policy push leaves them: the tries' first generation (the
	 * tenant cache on) and a seed. */
	c.lpm_gen = 1;
	c.prefix_hash_seed = 0x9e3779b9u;
	config(s, &c);

	/* steady: 4096 established flows, records in place. */
	for (i = 0; i < NFLOWS; i++) {
		a = htonl(0x0a000000u | (uint32_t)(i + 1));
		frame_v4(&fr[i], a, 40000 + i % 20000, 0x10, 100);
	}
	run_set(prog, fr, NFLOWS, 1);
	res[n] = (struct result){ "steady", "established flow, record hit", 0, 0, 100 };
	measure(&res[n++], prog, empty, fr, NFLOWS, REPEAT);

	/* syn: 4096 sources' SYNs, admitted. */
	for (i = 0; i < NFLOWS; i++) {
		a = htonl(0x0a020000u | (uint32_t)(i + 1));
		frame_v4(&fr[i], a, 50000, 0x02, 0);
	}
	res[n] = (struct result){ "syn", "SYN admitted by both limiters", 0, 0, 0 };
	measure(&res[n++], prog, empty, fr, NFLOWS, REPEAT);

	/* malformed: TCP data offset 3. */
	for (i = 0; i < NFLOWS; i++)
		fr[i].b[46] = 0x30;
	res[n] = (struct result){ "malformed", "TCP data offset 3, dropped", 0, 0, 0 };
	measure(&res[n++], prog, empty, fr, NFLOWS, REPEAT);

	/* blocked: SYNs of a blocked tenant (172.16/12). */
	for (i = 0; i < NFLOWS; i++) {
		a = htonl(0xac100000u | (uint32_t)(i + 1));
		frame_v4(&fr[i], a, 50000, 0x02, 0);
	}
	res[n] = (struct result){ "blocked", "SYN of a blocked tenant, dropped", 0, 0, 25 };
	measure(&res[n++], prog, empty, fr, NFLOWS, REPEAT);

	/* blocked-new: the same tenant, every SYN from a source not seen
	 * before (the cache cannot answer). */
	for (i = 0; i < NSPOOF; i++) {
		a = htonl(0xac100000u | ((uint32_t)random() & 0xfffffu));
		frame_v4(&spoof[i], a, (uint16_t)random(), 0x02, 0);
	}
	res[n] = (struct result){ "blocked-new", "SYN of a blocked tenant, new source each", 0, 0, 0 };
	res[n].empty = run_set(empty, spoof, NSPOOF, 1);
	res[n].prog = run_set(prog, spoof, NSPOOF, 1);
	n++;

	/* spoofed: every packet a new random source, once each. */
	c.flood_flows_per_sec = 10000;
	config(s, &c);
	for (i = 0; i < NSPOOF; i++) {
		a = (uint32_t)random() ^ ((uint32_t)random() << 16);
		frame_v4(&spoof[i], a, (uint16_t)random(), 0x02, 0);
	}
	res[n] = (struct result){ "spoofed", "random-source SYN flood, flood guard on", 0, 0, 250 };
	/* Once: a second pass would find the sources' prefixes known. */
	res[n].empty = run_set(empty, spoof, NSPOOF, 1);
	res[n].prog = run_set(prog, spoof, NSPOOF, 1);
	n++;

	/* spoofed-limited: the same kind of flood, new random sources, with
	 * the tenants' SYN limits in force (1000/s, burst 10), as in a real
	 * flood: the tenant is over its limit after the first few. */
	memset(&tc, 0, sizeof(tc));
	tc.syn_interval_ns = 1000000;
	tc.syn_burst_ns = 9 * tc.syn_interval_ns;
	tc.bytes_per_token = 4;
	tenant(s, 0, &tc);
	tenant(s, 1, &tc);
	for (i = 0; i < NSPOOF; i++) {
		a = (uint32_t)random() ^ ((uint32_t)random() << 16);
		frame_v4(&spoof[i], a, (uint16_t)random(), 0x02, 0);
	}
	res[n] = (struct result){ "spoofed-limited", "random-source SYN flood, tenant over its SYN limit", 0, 0, 250 };
	res[n].empty = run_set(empty, spoof, NSPOOF, 1);
	res[n].prog = run_set(prog, spoof, NSPOOF, 1);
	n++;

	printf("| case | what | empty ns | tollgate ns | above empty ns | ratio | target above empty |\n");
	printf("|---|---|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < (int)n; i++) {
		char target[32] = "-";

		if (res[i].target > 0)
			snprintf(target, sizeof(target), "<= %.0f %s", res[i].target,
				 res[i].prog - res[i].empty <= res[i].target ?
				 "(met)" : "(missed)");
		printf("| %s | %s | %.1f | %.1f | %.1f | %.2fx | %s |\n",
		       res[i].name, res[i].what, res[i].empty, res[i].prog,
		       res[i].prog - res[i].empty, res[i].prog / res[i].empty,
		       target);
	}
	close(empty);
	tg_xdp__destroy(s);
	return 0;
}
