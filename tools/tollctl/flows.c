// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl flows: the kernel's flow table, read from the pinned tg_flows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect.h"
#include "kern/maps.h"
#include "tollctl.h"

enum flows_sort {
	FLOWS_SORT_BYTES = 0,
	FLOWS_SORT_PKTS,
	FLOWS_SORT_AGE,
	FLOWS_SORT_TOKENS,
};

static int flows_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl flows [--tenant T] [--sort bytes|pkts|age|tokens]\n"
	       "                     [--limit N] [--pin-dir DIR] [-c POLICY]\n"
	       "       tollctl flows help\n"
	       "\n"
	       "  The kernel's flow records: one per connection (5-tuple), both\n"
	       "  directions in one record (in: client to this node, at XDP;\n"
	       "  out: replies, at TC egress).\n"
	       "  --tenant T   only tenant T (an id, 'default', or a name with -c)\n"
	       "  --sort KEY   bytes (in+out, the default), pkts, tokens: largest\n"
	       "               first; age: oldest first\n"
	       "  --limit N    at most N flows\n"
	       CTL_INSPECT_USAGE
	       "  With -j: [{\"src\", \"sport\", \"dst\", \"dport\", \"proto\", \"family\",\n"
	       "  \"tenant_id\", \"tenant\", \"packets_in\", \"bytes_in\", \"packets_out\",\n"
	       "  \"bytes_out\", \"payload_in\", \"payload_out\", \"tokens_in\",\n"
	       "  \"tokens_out\", \"tcp_flags_in\", \"tcp_flags_out\", \"first_seen_ns\",\n"
	       "  \"last_seen_ns\", \"age_s\", \"idle_s\"}].\n");
	return CTL_EXIT_OK;
}

const char *ctl_human_bytes(double v, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned int u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, size, "%.0f %s", v, units[u]);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

static void flows_addr_port(uint8_t family, const __u32 addr[4], __u16 port_be,
			    char *buf, size_t size)
{
	char a[64];

	kern_addr_format(family, addr, a, sizeof(a));
	if (family == TG_FAMILY_IPV6)
		snprintf(buf, size, "[%s]:%u", a, ntohs(port_be));
	else
		snprintf(buf, size, "%s:%u", a, ntohs(port_be));
}

const char *ctl_flow_endpoints(const struct kern_flow_entry *e, char *buf,
			       size_t size)
{
	char s[80], d[80], p[8];

	flows_addr_port(e->key.family, e->key.saddr, e->key.sport, s, sizeof(s));
	flows_addr_port(e->key.family, e->key.daddr, e->key.dport, d, sizeof(d));
	snprintf(buf, size, "%s > %s %s", s, d,
		 ctl_proto_name(e->key.proto, p, sizeof(p)));
	return buf;
}

static double flows_seconds(uint64_t later, uint64_t earlier)
{
	if (!earlier || later < earlier)
		return 0;
	return (double)(later - earlier) / 1e9;
}

void ctl_flow_json_fields(const struct ctl_inspect *ci,
			  const struct kern_flow_entry *e, uint64_t now_ns)
{
	const struct tg_flow *f = &e->flow;
	char a[64], p[8];

	jsonw_string_field(ctl_jw, "src", kern_addr_format(e->key.family, e->key.saddr,
							   a, sizeof(a)));
	jsonw_uint_field(ctl_jw, "sport", ntohs(e->key.sport));
	jsonw_string_field(ctl_jw, "dst", kern_addr_format(e->key.family, e->key.daddr,
							   a, sizeof(a)));
	jsonw_uint_field(ctl_jw, "dport", ntohs(e->key.dport));
	jsonw_string_field(ctl_jw, "proto", ctl_proto_name(e->key.proto, p, sizeof(p)));
	jsonw_uint_field(ctl_jw, "family", e->key.family);
	ctl_json_tenant(ci, f->tenant_id);
	jsonw_uint_field(ctl_jw, "packets_in", f->packets_in);
	jsonw_uint_field(ctl_jw, "bytes_in", f->bytes_in);
	jsonw_uint_field(ctl_jw, "packets_out", f->packets_out);
	jsonw_uint_field(ctl_jw, "bytes_out", f->bytes_out);
	jsonw_uint_field(ctl_jw, "payload_in", f->payload_in);
	jsonw_uint_field(ctl_jw, "payload_out", f->payload_out);
	jsonw_uint_field(ctl_jw, "tokens_in", f->tokens_in);
	jsonw_uint_field(ctl_jw, "tokens_out", f->tokens_out);
	jsonw_uint_field(ctl_jw, "tcp_flags_in", f->tcp_flags_in);
	jsonw_uint_field(ctl_jw, "tcp_flags_out", f->tcp_flags_out);
	jsonw_uint_field(ctl_jw, "first_seen_ns", f->first_seen_ns);
	jsonw_uint_field(ctl_jw, "last_seen_ns", f->last_seen_ns);
	jsonw_double_field(ctl_jw, "age_s", flows_seconds(now_ns, f->first_seen_ns));
	jsonw_double_field(ctl_jw, "idle_s", flows_seconds(now_ns, f->last_seen_ns));
}

static int flows_cmp_u64_desc(uint64_t a, uint64_t b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

static enum flows_sort flows_sort_key;

static int flows_cmp(const void *pa, const void *pb)
{
	const struct tg_flow *a = &((const struct kern_flow_entry *)pa)->flow;
	const struct tg_flow *b = &((const struct kern_flow_entry *)pb)->flow;
	int c = 0;

	switch (flows_sort_key) {
	case FLOWS_SORT_BYTES:
		c = flows_cmp_u64_desc(a->bytes_in + a->bytes_out,
				       b->bytes_in + b->bytes_out);
		break;
	case FLOWS_SORT_PKTS:
		c = flows_cmp_u64_desc(a->packets_in + a->packets_out,
				       b->packets_in + b->packets_out);
		break;
	case FLOWS_SORT_TOKENS:
		c = flows_cmp_u64_desc(a->tokens_in + a->tokens_out,
				       b->tokens_in + b->tokens_out);
		break;
	case FLOWS_SORT_AGE:
		c = -flows_cmp_u64_desc(a->first_seen_ns, b->first_seen_ns);
		break;
	}
	/* Stable output for equal keys. */
	if (!c)
		c = memcmp(&((const struct kern_flow_entry *)pa)->key,
			   &((const struct kern_flow_entry *)pb)->key,
			   sizeof(struct tg_flow_key));
	return c;
}

static int flows_parse_sort(const char *s, enum flows_sort *out)
{
	if (!strcmp(s, "bytes"))
		*out = FLOWS_SORT_BYTES;
	else if (!strcmp(s, "pkts") || !strcmp(s, "packets"))
		*out = FLOWS_SORT_PKTS;
	else if (!strcmp(s, "age"))
		*out = FLOWS_SORT_AGE;
	else if (!strcmp(s, "tokens"))
		*out = FLOWS_SORT_TOKENS;
	else
		return -EINVAL;
	return 0;
}

static void flows_print_plain(const struct ctl_inspect *ci,
			      const struct kern_flow_entry *v, size_t n,
			      uint64_t now)
{
	char ep[200], t[32], bi[24], bo[24];
	size_t i;

	if (!n) {
		printf("no flows\n");
		return;
	}
	printf("%-52s %-10s %10s %10s %10s %10s %9s %8s %8s\n", "FLOW", "TENANT",
	       "PKTS_IN", "BYTES_IN", "PKTS_OUT", "BYTES_OUT", "TOKENS", "AGE_S",
	       "IDLE_S");
	for (i = 0; i < n; i++) {
		const struct tg_flow *f = &v[i].flow;

		printf("%-52s %-10s %10" PRIu64 " %10s %10" PRIu64 " %10s %9" PRIu64
		       " %8.1f %8.1f\n",
		       ctl_flow_endpoints(&v[i], ep, sizeof(ep)),
		       ctl_tenant_label(ci, f->tenant_id, t, sizeof(t)),
		       (uint64_t)f->packets_in,
		       ctl_human_bytes((double)f->bytes_in, bi, sizeof(bi)),
		       (uint64_t)f->packets_out,
		       ctl_human_bytes((double)f->bytes_out, bo, sizeof(bo)),
		       (uint64_t)(f->tokens_in + f->tokens_out),
		       flows_seconds(now, f->first_seen_ns),
		       flows_seconds(now, f->last_seen_ns));
	}
}

int ctl_do_flows(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant",	required_argument, NULL, 't' },
		{ "sort",	required_argument, NULL, 's' },
		{ "limit",	required_argument, NULL, 'n' },
		{ "help",	no_argument,	   NULL, 'h' },
		CTL_INSPECT_LONGOPTS,
		{ NULL,		0,		   NULL, 0 },
	};
	struct ctl_inspect ci = { 0 };
	struct kern_flow_entry *v = NULL;
	const char *tenant = NULL;
	enum flows_sort sort = FLOWS_SORT_BYTES;
	uint64_t limit = 0, now;
	size_t n = 0, i, kept;
	uint32_t tid = 0;
	int opt, ret;

	if (argc >= 2 && !strcmp(argv[1], "help"))
		return flows_help(0, NULL);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":t:s:n:h" CTL_INSPECT_SHORTOPTS,
				  opts, NULL)) != -1) {
		if (ctl_inspect_opt(&ci, opt, optarg))
			continue;
		switch (opt) {
		case 't':
			tenant = optarg;
			break;
		case 's':
			if (flows_parse_sort(optarg, &sort))
				return ctl_usage_error("flows: --sort takes bytes, pkts, age or tokens, not '%s'",
						       optarg);
			break;
		case 'n':
			if (ctl_parse_u64(optarg, SIZE_MAX, &limit))
				return ctl_usage_error("flows: --limit takes a count, not '%s'",
						       optarg);
			break;
		case 'h':
			return flows_help(0, NULL);
		default:
			return ctl_usage_error("flows: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind < argc)
		return ctl_usage_error("flows: unexpected argument '%s'", argv[optind]);

	ret = ctl_inspect_open(&ci, "flows");
	if (ret)
		goto out;
	if (tenant && ctl_tenant_parse(&ci, tenant, &tid)) {
		ret = ctl_usage_error("flows: unknown tenant '%s'%s", tenant,
				      ci.policy ? "" : " (names come from -c POLICY or the policy tollctl attach synced)");
		goto out;
	}
	ret = kern_flows_read(ci.maps, &v, &n);
	if (ret) {
		ret = ctl_error("flows: reading %s/%s: %s", kern_maps_dir(ci.maps),
				TG_MAP_FLOWS, strerror(-ret));
		goto out;
	}
	now = kern_now_ns();

	kept = 0;
	for (i = 0; i < n; i++)
		if (!tenant || v[i].flow.tenant_id == tid)
			v[kept++] = v[i];
	n = kept;
	flows_sort_key = sort;
	if (n)
		qsort(v, n, sizeof(*v), flows_cmp);
	if (limit && n > limit)
		n = (size_t)limit;

	if (ctl_jw) {
		jsonw_start_array(ctl_jw);
		for (i = 0; i < n; i++) {
			jsonw_start_object(ctl_jw);
			ctl_flow_json_fields(&ci, &v[i], now);
			jsonw_end_object(ctl_jw);
		}
		jsonw_end_array(ctl_jw);
	} else {
		flows_print_plain(&ci, v, n, now);
	}
	ret = CTL_EXIT_OK;
out:
	free(v);
	ctl_inspect_close(&ci);
	return ret;
}
