// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl tenant block|unblock: the blocked flag of a tenant's kernel
 * settings (TG_TENANT_F_BLOCKED in tg_tenants). A blocked tenant's new
 * connections drop at XDP.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "inspect.h"
#include "kern/maps.h"
#include "tollctl.h"

static int tenant_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl tenant block T [--pin-dir DIR] [-c POLICY]\n"
	       "       tollctl tenant unblock T [--pin-dir DIR] [-c POLICY]\n"
	       "       tollctl tenant help\n"
	       "\n"
	       "  block    new connections of tenant T drop at XDP (established\n"
	       "           ones too when the policy says so)\n"
	       "  unblock  let them through again\n"
	       "  T is a tenant id, 'default', or a tenant name with -c POLICY.\n"
	       "  The daemon may block a tenant again when it is over budget.\n"
	       CTL_INSPECT_USAGE
	       "  With -j: {\"tenant_id\", \"tenant\", \"blocked\"}.\n");
	return CTL_EXIT_OK;
}

static int tenant_set(int argc, char **argv, bool blocked)
{
	static const struct option opts[] = {
		{ "help",	no_argument,	NULL, 'h' },
		CTL_INSPECT_LONGOPTS,
		{ NULL,		0,		NULL, 0 },
	};
	const char *verb = blocked ? "tenant block" : "tenant unblock";
	struct ctl_inspect ci = { 0 };
	const char *name = NULL;
	uint32_t id;
	int opt, ret;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "-:h" CTL_INSPECT_SHORTOPTS, opts,
				  NULL)) != -1) {
		if (ctl_inspect_opt(&ci, opt, optarg))
			continue;
		switch (opt) {
		case 1:
			if (name)
				return ctl_usage_error("%s: unexpected argument '%s'",
						       verb, optarg);
			name = optarg;
			break;
		case 'h':
			return tenant_help(0, NULL);
		default:
			return ctl_usage_error("%s: %s", verb, ctl_opt_problem(opt, argv));
		}
	}
	if (!name)
		return ctl_usage_error("%s: no tenant given", verb);

	ret = ctl_inspect_open(&ci, verb);
	if (ret)
		goto out;
	if (ctl_tenant_parse(&ci, name, &id)) {
		ret = ctl_usage_error("%s: unknown tenant '%s'%s", verb, name,
				      ci.policy ? "" : " (names come from -c POLICY or the policy tollctl attach synced)");
		goto out;
	}
	ret = kern_tenant_set_blocked(ci.maps, id, blocked);
	if (ret == -ERANGE) {
		ret = ctl_error("%s: tenant id %u is past the %u slots of %s", verb,
				id, kern_maps_max_entries(ci.maps, KERN_MAP_TENANTS),
				TG_MAP_TENANTS);
		goto out;
	}
	if (ret) {
		ret = ctl_error("%s: %s/%s: %s", verb, kern_maps_dir(ci.maps),
				TG_MAP_TENANTS, strerror(-ret));
		goto out;
	}
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		ctl_json_tenant(&ci, id);
		jsonw_bool_field(ctl_jw, "blocked", blocked);
		jsonw_end_object(ctl_jw);
	} else {
		char buf[32];

		printf("tenant %s: %s\n", ctl_tenant_label(&ci, id, buf, sizeof(buf)),
		       blocked ? "blocked" : "unblocked");
	}
	ret = CTL_EXIT_OK;
out:
	ctl_inspect_close(&ci);
	return ret;
}

static int tenant_block(int argc, char **argv)
{
	return tenant_set(argc, argv, true);
}

static int tenant_unblock(int argc, char **argv)
{
	return tenant_set(argc, argv, false);
}

int ctl_do_tenant(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "block",	tenant_block },
		{ "help",	tenant_help },
		{ "unblock",	tenant_unblock },
		{ NULL,		NULL },
	};

	return ctl_cmd_select(cmds, argc - 1, argv + 1, "tenant");
}
