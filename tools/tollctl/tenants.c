// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl tenants: per-tenant counters and kernel settings (tg_tenants,
 * tg_tenant_stats).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "inspect.h"
#include "kern/maps.h"
#include "tollctl.h"

static int tenants_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl tenants [--all] [--pin-dir DIR] [-c POLICY]\n"
	       "       tollctl tenants help\n"
	       "\n"
	       "  Each tenant's kernel counters and settings: tenants with any\n"
	       "  counter or setting, and with -c every tenant of the policy.\n"
	       "  --all        every tenant slot of the map\n"
	       CTL_INSPECT_USAGE
	       "  With -j: [{\"tenant_id\", \"tenant\", \"blocked\", \"bytes_per_token\",\n"
	       "  \"syn_interval_ns\", \"syn_burst_ns\", \"packets_in\", \"bytes_in\",\n"
	       "  \"packets_out\", \"bytes_out\", \"tokens_in\", \"tokens_out\",\n"
	       "  \"flows_new\", \"syn_passed\", \"syn_tenant_limited\",\n"
	       "  \"syn_prefix_limited\", \"blocked_drops\", \"penalty_drops\"}].\n");
	return CTL_EXIT_OK;
}

static void tenants_json(const struct ctl_inspect *ci, uint32_t id,
			 const struct tg_tenant_config *c, bool has_config,
			 const struct tg_tenant_stats *s)
{
	jsonw_start_object(ctl_jw);
	ctl_json_tenant(ci, id);
	if (has_config) {
		jsonw_bool_field(ctl_jw, "blocked", c->flags & TG_TENANT_F_BLOCKED);
		jsonw_uint_field(ctl_jw, "bytes_per_token", c->bytes_per_token);
		jsonw_uint_field(ctl_jw, "syn_interval_ns", c->syn_interval_ns);
		jsonw_uint_field(ctl_jw, "syn_burst_ns", c->syn_burst_ns);
	}
	jsonw_uint_field(ctl_jw, "packets_in", s->packets_in);
	jsonw_uint_field(ctl_jw, "bytes_in", s->bytes_in);
	jsonw_uint_field(ctl_jw, "packets_out", s->packets_out);
	jsonw_uint_field(ctl_jw, "bytes_out", s->bytes_out);
	jsonw_uint_field(ctl_jw, "tokens_in", s->tokens_in);
	jsonw_uint_field(ctl_jw, "tokens_out", s->tokens_out);
	jsonw_uint_field(ctl_jw, "flows_new", s->flows_new);
	jsonw_uint_field(ctl_jw, "syn_passed", s->syn_passed);
	jsonw_uint_field(ctl_jw, "syn_tenant_limited", s->syn_tenant_limited);
	jsonw_uint_field(ctl_jw, "syn_prefix_limited", s->syn_prefix_limited);
	jsonw_uint_field(ctl_jw, "blocked_drops", s->blocked);
	jsonw_uint_field(ctl_jw, "penalty_drops", s->penalty);
	jsonw_end_object(ctl_jw);
}

static void tenants_plain(const struct ctl_inspect *ci, uint32_t id,
			  const struct tg_tenant_config *c, bool has_config,
			  const struct tg_tenant_stats *s)
{
	char t[32], bi[24], bo[24];

	printf("%-16s %-7s %10" PRIu64 " %10s %10" PRIu64 " %10s %10" PRIu64
	       " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 "\n",
	       ctl_tenant_label(ci, id, t, sizeof(t)),
	       !has_config ? "?" : (c->flags & TG_TENANT_F_BLOCKED) ? "blocked" : "ok",
	       (uint64_t)s->packets_in, ctl_human_bytes((double)s->bytes_in, bi, sizeof(bi)),
	       (uint64_t)s->packets_out, ctl_human_bytes((double)s->bytes_out, bo, sizeof(bo)),
	       (uint64_t)(s->tokens_in + s->tokens_out), (uint64_t)s->flows_new,
	       (uint64_t)(s->syn_tenant_limited + s->syn_prefix_limited),
	       (uint64_t)(s->blocked + s->penalty));
}

static bool tenants_is_zero(const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len--)
		if (*b++)
			return false;
	return true;
}

int ctl_do_tenants(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all",	no_argument,	NULL, 'a' },
		{ "help",	no_argument,	NULL, 'h' },
		CTL_INSPECT_LONGOPTS,
		{ NULL,		0,		NULL, 0 },
	};
	struct ctl_inspect ci = { 0 };
	struct tg_tenant_config cfg;
	struct tg_tenant_stats st;
	bool all = false, has_cfg, any = false;
	uint32_t id, slots;
	int opt, ret;

	if (argc >= 2 && !strcmp(argv[1], "help"))
		return tenants_help(0, NULL);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":ah" CTL_INSPECT_SHORTOPTS, opts,
				  NULL)) != -1) {
		if (ctl_inspect_opt(&ci, opt, optarg))
			continue;
		switch (opt) {
		case 'a':
			all = true;
			break;
		case 'h':
			return tenants_help(0, NULL);
		default:
			return ctl_usage_error("tenants: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind < argc)
		return ctl_usage_error("tenants: unexpected argument '%s'", argv[optind]);

	ret = ctl_inspect_open(&ci, "tenants");
	if (ret)
		goto out;
	if (!kern_maps_has(ci.maps, KERN_MAP_TENANT_STATS) &&
	    !kern_maps_has(ci.maps, KERN_MAP_TENANTS)) {
		ret = ctl_error("tenants: neither %s nor %s is pinned under %s",
				TG_MAP_TENANTS, TG_MAP_TENANT_STATS,
				kern_maps_dir(ci.maps));
		goto out;
	}

	if (ctl_jw)
		jsonw_start_array(ctl_jw);
	else
		printf("%-16s %-7s %10s %10s %10s %10s %10s %8s %8s %8s\n", "TENANT",
		       "STATE", "PKTS_IN", "BYTES_IN", "PKTS_OUT", "BYTES_OUT",
		       "TOKENS", "FLOWS", "SYN_LIM", "DROPS");
	slots = kern_tenant_slots(ci.maps);
	for (id = 0; id < slots; id++) {
		memset(&st, 0, sizeof(st));
		memset(&cfg, 0, sizeof(cfg));
		ret = kern_tenant_stats_read(ci.maps, id, &st);
		if (ret && ret != -ENOENT)
			break;
		ret = kern_tenant_config_read(ci.maps, id, &cfg);
		if (ret && ret != -ENOENT)
			break;
		has_cfg = !ret;
		ret = 0;
		if (!all && id >= ctl_policy_tenant_ids(&ci) &&
		    tenants_is_zero(&st, sizeof(st)) && tenants_is_zero(&cfg, sizeof(cfg)))
			continue;
		any = true;
		if (ctl_jw)
			tenants_json(&ci, id, &cfg, has_cfg, &st);
		else
			tenants_plain(&ci, id, &cfg, has_cfg, &st);
	}
	if (ret) {
		ret = ctl_error("tenants: reading tenant %u: %s", id, strerror(-ret));
		if (ctl_jw)
			jsonw_end_array(ctl_jw);
		goto out;
	}
	if (ctl_jw)
		jsonw_end_array(ctl_jw);
	else if (!any)
		printf("(no tenant has traffic or settings yet)\n");
	ret = CTL_EXIT_OK;
out:
	ctl_inspect_close(&ci);
	return ret;
}
