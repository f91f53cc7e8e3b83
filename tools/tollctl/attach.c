// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl attach | detach | status: the datapath on network interfaces,
 * through user/kern/loader.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tollgate/abi.h>

#include "core/log.h"
#include "kern/loader.h"
#include "kern/maps.h"
#include "policy/policy.h"
#include "tollctl.h"

#define ATTACH_ERR_MAX	1024

struct policy *ctl_policy_load(const char *path)
{
	struct policy_diags diags;
	struct policy *p;
	int err;

	policy_diags_init(&diags);
	errno = 0;
	p = policy_load_file(path, POLICY_LOAD_DEFAULT, &diags);
	if (!p) {
		err = errno ? errno : EINVAL;
		if (ctl_jw) {
			ctl_error("%s: %s", path, diags.n ? diags.v[0].msg : strerror(err));
		} else {
			policy_diags_print(&diags, stderr);
			ctl_error("%s: %s", path, diags.n ? "invalid policy" : strerror(err));
		}
	}
	policy_diags_fini(&diags);
	return p;
}

/* --pin-dir, else $TOLLGATE_PIN_DIR, else the policy's kernel.pin_path,
 * else TG_PIN_DIR. */
const char *ctl_pin_dir(const char *opt, const struct policy *p)
{
	const char *env = getenv(KERN_PIN_DIR_ENV);

	if (opt && *opt)
		return opt;
	if (env && *env)
		return env;
	if (p && p->kernel.pin_path && *p->kernel.pin_path)
		return p->kernel.pin_path;
	return kern_loader_pin_dir(NULL);
}

/* ---- attach ----------------------------------------------------------------- */

static int attach_help(void)
{
	printf("Usage: tollctl attach DEV [--mode native|generic] [-c POLICY] [--force]\n"
	       "                      [--pin-dir DIR]\n"
	       "\n"
	       "  Loads tollgate's programs and attaches XDP ingress (a pinned bpf_link)\n"
	       "  and TC egress (clsact, handle 0x%x, priority 0x%x) to DEV. The maps are\n"
	       "  pinned in DIR and reused: attaching again upgrades the programs in place\n"
	       "  and keeps every counter and flow.\n"
	       "\n"
	       "  --mode      native (default; never falls back) or generic (skb mode)\n"
	       "  -c POLICY   tenants, prefixes and limits from this policy; without it,\n"
	       "              new maps get kernel defaults and pinned maps keep what they\n"
	       "              hold; its kernel.flow_table_size sizes a new flow\n"
	       "              table and its kernel.attach_mode is the default --mode\n"
	       "  --force     replace an XDP program tollgate did not attach\n"
	       "  --pin-dir   pin directory (default $%s, the policy's kernel.pin_path,\n"
	       "              %s)\n",
	       KERN_TC_HANDLE, KERN_TC_PRIORITY, KERN_PIN_DIR_ENV, TG_PIN_DIR);
	return CTL_EXIT_OK;
}

int ctl_do_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode",	required_argument, NULL, 'm' },
		{ "config",	required_argument, NULL, 'c' },
		{ "force",	no_argument,	   NULL, 'f' },
		{ "pin-dir",	required_argument, NULL, 'P' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 },
	};
	const char *mode = NULL, *config = NULL, *pin_dir = NULL, *dev;
	struct kern_attach_opts o;
	struct kern_attach_result res;
	struct policy *p = NULL;
	char err[ATTACH_ERR_MAX];
	int opt, ret;

	memset(&o, 0, sizeof(o));
	if (argc == 2 && !strcmp(argv[1], "help"))
		return attach_help();
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":m:c:fh", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'f':
			o.force = true;
			break;
		case 'P':
			pin_dir = optarg;
			break;
		case 'h':
			return attach_help();
		default:
			return ctl_usage_error("attach: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind != argc - 1)
		return ctl_usage_error("attach: exactly one DEV expected (try 'tollctl attach help')");
	dev = argv[optind];
	if (mode && strcmp(mode, "native") && strcmp(mode, "generic"))
		return ctl_usage_error("attach: --mode is native or generic, not '%s'", mode);

	if (config) {
		p = ctl_policy_load(config);
		if (!p)
			return CTL_EXIT_ERROR;
	}
	if (mode)
		o.mode = strcmp(mode, "generic") ? KERN_XDP_NATIVE : KERN_XDP_GENERIC;
	else if (p && p->kernel.attach_mode == POLICY_ATTACH_GENERIC)
		o.mode = KERN_XDP_GENERIC;
	o.pin_dir = ctl_pin_dir(pin_dir, p);
	o.policy = p;

	ret = kern_attach(dev, &o, &res, err, sizeof(err));
	policy_unref(p);
	if (ret)
		return ctl_error("attach %s: %s", dev, err[0] ? err : strerror(-ret));

	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "ifname", dev);
		jsonw_uint_field(ctl_jw, "ifindex", res.ifindex);
		jsonw_string_field(ctl_jw, "mode",
				   o.mode == KERN_XDP_GENERIC ? "generic" : "native");
		jsonw_uint_field(ctl_jw, "xdp_prog_id", res.xdp_prog_id);
		jsonw_uint_field(ctl_jw, "tc_prog_id", res.tc_prog_id);
		jsonw_bool_field(ctl_jw, "upgraded", res.upgraded);
		jsonw_bool_field(ctl_jw, "qdisc_created", res.qdisc_created);
		jsonw_bool_field(ctl_jw, "replaced_foreign", res.replaced_foreign);
		jsonw_bool_field(ctl_jw, "policy_synced", res.policy_synced);
		jsonw_uint_field(ctl_jw, "flow_table_size", res.flow_table_size);
		if (res.pacing_qdisc[0])
			jsonw_string_field(ctl_jw, "pacing_ignored_by_qdisc", res.pacing_qdisc);
		jsonw_string_field(ctl_jw, "pin_dir", o.pin_dir);
		jsonw_end_object(ctl_jw);
	} else {
		printf("%s %s (ifindex %u): xdp prog %u (%s), tc egress prog %u%s; pins in %s\n",
		       res.upgraded ? "upgraded" : "attached to", dev, res.ifindex,
		       res.xdp_prog_id, o.mode == KERN_XDP_GENERIC ? "generic" : "native",
		       res.tc_prog_id, res.qdisc_created ? " (clsact qdisc tollgate's)" : "",
		       o.pin_dir);
	}
	return CTL_EXIT_OK;
}

/* ---- detach ------------------------------------------------------------------- */

static int detach_help(void)
{
	printf("Usage: tollctl detach DEV [--purge] [--pin-dir DIR]\n"
	       "       tollctl detach --purge [--pin-dir DIR]\n"
	       "\n"
	       "  Removes tollgate's XDP link and tc filter from DEV, and the clsact qdisc\n"
	       "  when tollgate created it and no other filter is on it; anything else on\n"
	       "  DEV is left as it is. The pinned maps stay for the next attach.\n"
	       "\n"
	       "  --purge     also remove the pinned maps, links and the pin directory\n"
	       "              (their state is lost); without DEV, first detaches from\n"
	       "              every interface recorded there\n"
	       "  --pin-dir   pin directory (default $%s, %s)\n",
	       KERN_PIN_DIR_ENV, TG_PIN_DIR);
	return CTL_EXIT_OK;
}

int ctl_do_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "purge",	no_argument,	   NULL, 'u' },
		{ "pin-dir",	required_argument, NULL, 'P' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 },
	};
	const char *pin_dir = NULL, *dev = NULL, *dir;
	char err[ATTACH_ERR_MAX];
	bool purge = false;
	int opt, ret;

	if (argc == 2 && !strcmp(argv[1], "help"))
		return detach_help();
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			purge = true;
			break;
		case 'P':
			pin_dir = optarg;
			break;
		case 'h':
			return detach_help();
		default:
			return ctl_usage_error("detach: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind == argc - 1)
		dev = argv[optind];
	else if (optind != argc || !purge)
		return ctl_usage_error("detach: DEV expected (or --purge alone; try 'tollctl detach help')");
	dir = ctl_pin_dir(pin_dir, NULL);

	ret = kern_detach(dev, dir, purge, err, sizeof(err));
	if (ret)
		return ctl_error("detach%s%s: %s", dev ? " " : "", dev ? dev : "",
				 err[0] ? err : strerror(-ret));
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		if (dev)
			jsonw_string_field(ctl_jw, "ifname", dev);
		jsonw_bool_field(ctl_jw, "detached", true);
		jsonw_bool_field(ctl_jw, "purged", purge);
		jsonw_string_field(ctl_jw, "pin_dir", dir);
		jsonw_end_object(ctl_jw);
	} else {
		if (dev)
			printf("detached from %s\n", dev);
		if (purge)
			printf("purged pin directory %s\n", dir);
	}
	return CTL_EXIT_OK;
}

/* ---- status -------------------------------------------------------------------- */

static int status_help(void)
{
	printf("Usage: tollctl status [--pin-dir DIR]\n"
	       "\n"
	       "  What tollgate has attached where: per interface the XDP mode and\n"
	       "  program, the tc egress program, whether tollgate created the clsact\n"
	       "  qdisc; the pin directory and the ABI version of its maps.\n"
	       "  With -j: {\"pin_dir\", \"pinned\", \"abi_version\", \"abi_version_tollctl\",\n"
	       "  \"interfaces\": [{\"ifname\", \"ifindex\", \"netns\", \"in_this_netns\",\n"
	       "  \"xdp_mode\", \"xdp_prog_id\", \"xdp_attached\", \"tc_prog_id\",\n"
	       "  \"qdisc_created\", \"attached_at\"}]}\n");
	return CTL_EXIT_OK;
}

int ctl_do_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir",	required_argument, NULL, 'P' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 },
	};
	const char *pin_dir = NULL, *dir;
	char err[ATTACH_ERR_MAX], when[32];
	struct kern_status st;
	int opt, ret;
	size_t i;

	if (argc == 2 && !strcmp(argv[1], "help"))
		return status_help();
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case 'P':
			pin_dir = optarg;
			break;
		case 'h':
			return status_help();
		default:
			return ctl_usage_error("status: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind != argc)
		return ctl_usage_error("status takes no arguments but --pin-dir");
	dir = ctl_pin_dir(pin_dir, NULL);

	ret = kern_status_read(dir, &st, err, sizeof(err));
	if (ret) {
		kern_status_fini(&st);
		return ctl_error("status: %s", err[0] ? err : strerror(-ret));
	}

	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "pin_dir", st.pin_dir);
		jsonw_bool_field(ctl_jw, "pinned", st.pinned);
		if (st.has_abi)
			jsonw_uint_field(ctl_jw, "abi_version", st.abi.abi_version);
		else
			jsonw_null_field(ctl_jw, "abi_version");
		jsonw_uint_field(ctl_jw, "abi_version_tollctl", TG_ABI_VERSION);
		jsonw_name(ctl_jw, "interfaces");
		jsonw_start_array(ctl_jw);
	} else {
		printf("pin dir: %s%s\n", st.pin_dir, st.pinned ? "" : " (nothing pinned)");
		if (st.has_abi)
			printf("abi version: %u%s\n", st.abi.abi_version,
			       st.abi.abi_version == TG_ABI_VERSION ? "" :
			       " (differs from this tollctl's)");
		if (st.pinned && !st.n_ifaces)
			printf("not attached to any interface\n");
	}
	for (i = 0; i < st.n_ifaces; i++) {
		const struct kern_status_iface *s = &st.ifaces[i];
		const char *mode = s->xdp_mode[0] ? s->xdp_mode :
				   (s->rec.flags & KERN_IFACE_F_GENERIC) ? "generic" : "native";
		time_t t = (time_t)(s->rec.attached_ns / 1000000000ull);
		struct tm tm;

		when[0] = '\0';
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (ctl_jw) {
			jsonw_start_object(ctl_jw);
			jsonw_string_field(ctl_jw, "ifname", s->rec.ifname);
			jsonw_uint_field(ctl_jw, "ifindex", s->key.ifindex);
			jsonw_uint_field(ctl_jw, "netns", s->key.netns_ino);
			jsonw_bool_field(ctl_jw, "in_this_netns", s->in_this_netns);
			jsonw_string_field(ctl_jw, "xdp_mode", mode);
			jsonw_uint_field(ctl_jw, "xdp_prog_id", s->xdp_prog_id);
			jsonw_bool_field(ctl_jw, "xdp_attached", s->xdp_link_ok);
			if (s->in_this_netns)
				jsonw_uint_field(ctl_jw, "tc_prog_id", s->tc_prog_id);
			else
				jsonw_uint_field(ctl_jw, "tc_prog_id", s->rec.tc_prog_id);
			jsonw_bool_field(ctl_jw, "qdisc_created",
					 s->rec.flags & KERN_IFACE_F_QDISC_CREATED);
			jsonw_string_field(ctl_jw, "attached_at", when);
			jsonw_end_object(ctl_jw);
		} else {
			printf("%s (ifindex %u%s): xdp %s prog %u%s, tc egress prog %u%s, since %s\n",
			       s->rec.ifname, s->key.ifindex,
			       s->in_this_netns ? "" : ", other netns", mode, s->xdp_prog_id,
			       s->xdp_link_ok ? "" : " (link detached)",
			       s->in_this_netns ? s->tc_prog_id : s->rec.tc_prog_id,
			       s->rec.flags & KERN_IFACE_F_QDISC_CREATED ? " (clsact ours)" : "",
			       when);
		}
	}
	if (ctl_jw) {
		jsonw_end_array(ctl_jw);
		jsonw_end_object(ctl_jw);
	}
	kern_status_fini(&st);
	return CTL_EXIT_OK;
}
