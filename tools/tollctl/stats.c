// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl stats: packets and bytes per verdict reason and hook (tg_stats),
 * and how often each program ran (tg_runs), summed over CPUs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "inspect.h"
#include "kern/kern.h"
#include "kern/maps.h"
#include "tollctl.h"

static int stats_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl stats [--pin-dir DIR]\n"
	       "       tollctl stats help\n"
	       "\n"
	       "  Packets and bytes by the verdict reason they ended in, per hook,\n"
	       "  and the run count of each program, summed over CPUs.\n"
	       CTL_INSPECT_USAGE
	       "  With -j: {\"reasons\": [{\"reason\", \"hook\", \"packets\", \"bytes\"}],\n"
	       "  \"runs\": [{\"hook\", \"runs\"}]} (a member is absent when its map\n"
	       "  is not pinned).\n");
	return CTL_EXIT_OK;
}

int ctl_do_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help",	no_argument,	NULL, 'h' },
		CTL_INSPECT_LONGOPTS,
		{ NULL,		0,		NULL, 0 },
	};
	struct tg_reason_stats rs[TG_REASON__COUNT];
	uint64_t runs[TG_HOOK__COUNT];
	struct ctl_inspect ci = { 0 };
	bool has_rs, has_runs;
	unsigned int r, h;
	int opt, ret;

	if (argc >= 2 && !strcmp(argv[1], "help"))
		return stats_help(0, NULL);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h" CTL_INSPECT_SHORTOPTS, opts,
				  NULL)) != -1) {
		if (ctl_inspect_opt(&ci, opt, optarg))
			continue;
		if (opt == 'h')
			return stats_help(0, NULL);
		return ctl_usage_error("stats: %s", ctl_opt_problem(opt, argv));
	}
	if (optind < argc)
		return ctl_usage_error("stats: unexpected argument '%s'", argv[optind]);

	ret = ctl_inspect_open(&ci, "stats");
	if (ret)
		goto out;
	has_rs = kern_maps_has(ci.maps, KERN_MAP_STATS);
	has_runs = kern_maps_has(ci.maps, KERN_MAP_RUNS);
	if (!has_rs && !has_runs) {
		ret = ctl_error("stats: neither %s nor %s is pinned under %s",
				TG_MAP_STATS, TG_MAP_RUNS, kern_maps_dir(ci.maps));
		goto out;
	}
	if (has_rs) {
		ret = kern_reason_stats_read(ci.maps, rs);
		if (ret) {
			ret = ctl_error("stats: reading %s: %s", TG_MAP_STATS,
					strerror(-ret));
			goto out;
		}
	}
	if (has_runs) {
		ret = kern_runs_read(ci.maps, runs);
		if (ret) {
			ret = ctl_error("stats: reading %s: %s", TG_MAP_RUNS,
					strerror(-ret));
			goto out;
		}
	}

	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		if (has_rs) {
			jsonw_name(ctl_jw, "reasons");
			jsonw_start_array(ctl_jw);
			for (h = 0; h < TG_HOOK__COUNT; h++)
				for (r = 0; r < TG_REASON__COUNT; r++) {
					jsonw_start_object(ctl_jw);
					jsonw_string_field(ctl_jw, "reason", kern_reason_name(r));
					jsonw_string_field(ctl_jw, "hook", kern_hook_name(h));
					jsonw_uint_field(ctl_jw, "packets", rs[r].packets[h]);
					jsonw_uint_field(ctl_jw, "bytes", rs[r].bytes[h]);
					jsonw_end_object(ctl_jw);
				}
			jsonw_end_array(ctl_jw);
		}
		if (has_runs) {
			jsonw_name(ctl_jw, "runs");
			jsonw_start_array(ctl_jw);
			for (h = 0; h < TG_HOOK__COUNT; h++) {
				jsonw_start_object(ctl_jw);
				jsonw_string_field(ctl_jw, "hook", kern_hook_name(h));
				jsonw_uint_field(ctl_jw, "runs", runs[h]);
				jsonw_end_object(ctl_jw);
			}
			jsonw_end_array(ctl_jw);
		}
		jsonw_end_object(ctl_jw);
	} else {
		if (has_rs) {
			printf("%-18s", "REASON");
			for (h = 0; h < TG_HOOK__COUNT; h++)
				printf(" %14s_PKTS %14s_BYTES", kern_hook_name(h),
				       kern_hook_name(h));
			putchar('\n');
			for (r = 0; r < TG_REASON__COUNT; r++) {
				printf("%-18s", kern_reason_name(r));
				for (h = 0; h < TG_HOOK__COUNT; h++)
					printf(" %19" PRIu64 " %20" PRIu64,
					       (uint64_t)rs[r].packets[h],
					       (uint64_t)rs[r].bytes[h]);
				putchar('\n');
			}
		}
		if (has_runs) {
			if (has_rs)
				putchar('\n');
			printf("%-18s %19s\n", "PROGRAM", "RUNS");
			for (h = 0; h < TG_HOOK__COUNT; h++)
				printf("%-18s %19" PRIu64 "\n", kern_hook_name(h), runs[h]);
		}
	}
	ret = CTL_EXIT_OK;
out:
	ctl_inspect_close(&ci);
	return ret;
}
