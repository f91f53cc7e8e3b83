// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl penalty: the penalty box (tg_penalty), source address → expiry.
 * Packets from a source in the box drop at XDP until it expires; the
 * daemon puts sources there too (repeated authentication failures).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect.h"
#include "kern/maps.h"
#include "tollctl.h"

/* When `penalty add` is not given --duration. */
#define PENALTY_DEFAULT_NS	(600ull * 1000000000ull)

static int penalty_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl penalty add ADDR [--duration D] [--pin-dir DIR]\n"
	       "       tollctl penalty del ADDR [--pin-dir DIR]\n"
	       "       tollctl penalty list [--pin-dir DIR]\n"
	       "       tollctl penalty help\n"
	       "\n"
	       "  add   drop every packet from ADDR (one IPv4 or IPv6 address, no\n"
	       "        prefix) for D: 90, 90s, 250ms, 10m, 2h, 1d (default 10m).\n"
	       "        Adding an address again sets its new expiry.\n"
	       "        With -j: {\"address\", \"family\", \"expires_in_s\"}.\n"
	       "  del   take ADDR out of the box (error if it was not in it).\n"
	       "        With -j: {\"address\", \"deleted\": true}.\n"
	       "  list  every address in the box, soonest expiry first.\n"
	       "        With -j: [{\"address\", \"family\", \"expiry_ns\",\n"
	       "        \"expires_in_s\", \"expired\"}].\n"
	       "  --pin-dir DIR  maps pinned under DIR (default $TOLLGATE_PIN_DIR, else\n"
	       "                 " TG_PIN_DIR ")\n");
	return CTL_EXIT_OK;
}

/* Parses `verb ADDR [--duration D] [--pin-dir DIR]`. */
static int penalty_args(int argc, char **argv, const char *verb, bool want_addr,
			bool want_duration, struct ctl_inspect *ci,
			const char **addr, uint64_t *duration_ns)
{
	static const struct option opts[] = {
		{ "duration",	required_argument, NULL, 'd' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ "pin-dir",	required_argument, NULL, CTL_INSPECT_OPT_PIN_DIR },
		{ NULL,		0,		   NULL, 0 },
	};
	int opt;

	optind = 0;
	opterr = 0;
	/* '-' keeps ADDR in place among the options (an IPv6 address never
	 * starts with '-'). */
	while ((opt = getopt_long(argc, argv, "-:d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 1:
			if (!want_addr || *addr)
				return ctl_usage_error("penalty %s: unexpected argument '%s'",
						       verb, optarg);
			*addr = optarg;
			break;
		case 'd':
			if (!want_duration)
				return ctl_usage_error("penalty %s: --duration is for 'penalty add'",
						       verb);
			if (ctl_parse_duration_ns(optarg, duration_ns) || !*duration_ns)
				return ctl_usage_error("penalty %s: --duration takes a duration such as 90s, 10m or 2h, not '%s'",
						       verb, optarg);
			break;
		case CTL_INSPECT_OPT_PIN_DIR:
			ci->pin_dir = optarg;
			break;
		case 'h':
			return penalty_help(0, NULL) ? CTL_EXIT_ERROR : -1;
		default:
			return ctl_usage_error("penalty %s: %s", verb,
					       ctl_opt_problem(opt, argv));
		}
	}
	if (want_addr && !*addr)
		return ctl_usage_error("penalty %s: no ADDR given", verb);
	return CTL_EXIT_OK;
}

static int penalty_add(int argc, char **argv)
{
	struct ctl_inspect ci = { 0 };
	uint64_t duration = PENALTY_DEFAULT_NS;
	const char *addr = NULL;
	struct tg_src_key key;
	char text[64];
	int ret;

	ret = penalty_args(argc, argv, "add", true, true, &ci, &addr, &duration);
	if (ret)
		return ret < 0 ? CTL_EXIT_OK : ret;
	if (kern_src_key_parse(addr, &key))
		return ctl_usage_error("penalty add: '%s' is not an IPv4 or IPv6 address",
				       addr);
	ret = ctl_inspect_open(&ci, "penalty add");
	if (ret)
		goto out;
	ret = kern_penalty_add(ci.maps, &key, duration);
	if (ret) {
		ret = ctl_error("penalty add: %s/%s: %s", kern_maps_dir(ci.maps),
				TG_MAP_PENALTY, strerror(-ret));
		goto out;
	}
	kern_addr_format(key.family, key.addr, text, sizeof(text));
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "address", text);
		jsonw_uint_field(ctl_jw, "family", key.family);
		jsonw_double_field(ctl_jw, "expires_in_s", (double)duration / 1e9);
		jsonw_end_object(ctl_jw);
	} else {
		printf("%s: in the penalty box for %.0f s\n", text, (double)duration / 1e9);
	}
	ret = CTL_EXIT_OK;
out:
	ctl_inspect_close(&ci);
	return ret;
}

static int penalty_del(int argc, char **argv)
{
	struct ctl_inspect ci = { 0 };
	const char *addr = NULL;
	struct tg_src_key key;
	uint64_t unused = 0;
	char text[64];
	int ret;

	ret = penalty_args(argc, argv, "del", true, false, &ci, &addr, &unused);
	if (ret)
		return ret < 0 ? CTL_EXIT_OK : ret;
	if (kern_src_key_parse(addr, &key))
		return ctl_usage_error("penalty del: '%s' is not an IPv4 or IPv6 address",
				       addr);
	ret = ctl_inspect_open(&ci, "penalty del");
	if (ret)
		goto out;
	kern_addr_format(key.family, key.addr, text, sizeof(text));
	ret = kern_penalty_del(ci.maps, &key);
	if (ret == -ENOENT && kern_maps_has(ci.maps, KERN_MAP_PENALTY)) {
		ret = ctl_error("penalty del: %s is not in the penalty box", text);
		goto out;
	}
	if (ret) {
		ret = ctl_error("penalty del: %s/%s: %s", kern_maps_dir(ci.maps),
				TG_MAP_PENALTY, strerror(-ret));
		goto out;
	}
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "address", text);
		jsonw_bool_field(ctl_jw, "deleted", true);
		jsonw_end_object(ctl_jw);
	} else {
		printf("%s: out of the penalty box\n", text);
	}
	ret = CTL_EXIT_OK;
out:
	ctl_inspect_close(&ci);
	return ret;
}

static int penalty_cmp(const void *pa, const void *pb)
{
	const struct kern_penalty_entry *a = pa, *b = pb;

	if (a->value.expiry_ns != b->value.expiry_ns)
		return a->value.expiry_ns < b->value.expiry_ns ? -1 : 1;
	return memcmp(&a->key, &b->key, sizeof(a->key));
}

static int penalty_list(int argc, char **argv)
{
	struct kern_penalty_entry *v = NULL;
	struct ctl_inspect ci = { 0 };
	const char *addr = NULL;
	uint64_t unused = 0, now;
	size_t n = 0, i;
	char text[64];
	double left;
	int ret;

	ret = penalty_args(argc, argv, "list", false, false, &ci, &addr, &unused);
	if (ret)
		return ret < 0 ? CTL_EXIT_OK : ret;
	ret = ctl_inspect_open(&ci, "penalty list");
	if (ret)
		goto out;
	ret = kern_penalty_list(ci.maps, &v, &n);
	if (ret) {
		ret = ctl_error("penalty list: %s/%s: %s", kern_maps_dir(ci.maps),
				TG_MAP_PENALTY, strerror(-ret));
		goto out;
	}
	now = kern_now_ns();
	if (n)
		qsort(v, n, sizeof(*v), penalty_cmp);
	if (ctl_jw)
		jsonw_start_array(ctl_jw);
	else if (n)
		printf("%-40s %14s\n", "ADDRESS", "EXPIRES_IN_S");
	else
		printf("the penalty box is empty\n");
	for (i = 0; i < n; i++) {
		kern_addr_format(v[i].key.family, v[i].key.addr, text, sizeof(text));
		left = v[i].value.expiry_ns > now ?
			(double)(v[i].value.expiry_ns - now) / 1e9 : 0;
		if (ctl_jw) {
			jsonw_start_object(ctl_jw);
			jsonw_string_field(ctl_jw, "address", text);
			jsonw_uint_field(ctl_jw, "family", v[i].key.family);
			jsonw_uint_field(ctl_jw, "expiry_ns", v[i].value.expiry_ns);
			jsonw_double_field(ctl_jw, "expires_in_s", left);
			jsonw_bool_field(ctl_jw, "expired", v[i].value.expiry_ns <= now);
			jsonw_end_object(ctl_jw);
		} else if (v[i].value.expiry_ns <= now) {
			printf("%-40s %14s\n", text, "expired");
		} else {
			printf("%-40s %14.1f\n", text, left);
		}
	}
	if (ctl_jw)
		jsonw_end_array(ctl_jw);
	ret = CTL_EXIT_OK;
out:
	free(v);
	ctl_inspect_close(&ci);
	return ret;
}

int ctl_do_penalty(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add",	penalty_add },
		{ "del",	penalty_del },
		{ "help",	penalty_help },
		{ "list",	penalty_list },
		{ NULL,		NULL },
	};

	return ctl_cmd_select(cmds, argc - 1, argv + 1, "penalty");
}
