// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl policy: check policy files, print the schema reference.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "kern/loader.h"
#include "kern/sync.h"
#include "policy/policy.h"
#include "tollctl.h"

static int policy_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl policy check [--resolve-secrets] FILE...\n"
	       "       tollctl policy apply -c POLICY [--pin-dir DIR]\n"
	       "       tollctl policy schema\n"
	       "       tollctl policy help\n"
	       "\n"
	       "  check   validate each FILE (and what it includes); errors are printed\n"
	       "          as 'file:line:col: message' on stderr, a valid file as\n"
	       "          'FILE: ok' on stdout. Exit 1 if any FILE is invalid.\n"
	       "          --resolve-secrets  also resolve ${env:...} and ${file:...}:\n"
	       "                             a missing one is an error\n"
	       "          With -j: [{\"file\", \"ok\", \"errors\": [{\"file\", \"line\",\n"
	       "          \"col\", \"message\"}]}] (\"truncated\": true when errors were\n"
	       "          dropped past the loader's limit).\n"
	       "  apply   push POLICY's tenants, prefixes and kernel limits into the\n"
	       "          maps of an attached datapath (tollctl attach), without\n"
	       "          re-attaching; entries the policy no longer has are removed.\n"
	       "          With -j: {\"pin_dir\", \"tenants\", \"prefixes_v4\",\n"
	       "          \"prefixes_v6\", \"prefixes_removed\", \"tenants_cleared\",\n"
	       "          \"maps_missing\"}.\n"
	       "  schema  the reference of every policy key, in Markdown.\n"
	       "          With -j: {\"markdown\": \"...\"}.\n");
	return CTL_EXIT_OK;
}

static void policy_json_diag(const char *file, uint32_t line, uint32_t col,
			     const char *msg)
{
	jsonw_start_object(ctl_jw);
	jsonw_string_field(ctl_jw, "file", file);
	jsonw_uint_field(ctl_jw, "line", line);
	jsonw_uint_field(ctl_jw, "col", col);
	jsonw_string_field(ctl_jw, "message", msg);
	jsonw_end_object(ctl_jw);
}

/* Loads one file and reports on it. Returns true when it is valid. */
static bool policy_check_file(const char *path, unsigned int flags)
{
	struct policy_diags diags;
	struct policy *p;
	uint32_t i;
	int err = 0;

	log_debug("policy check: loading %s", path);
	policy_diags_init(&diags);
	errno = 0;
	p = policy_load_file(path, flags, &diags);
	if (!p)
		err = errno ? -errno : -EINVAL;
	policy_unref(p);

	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "file", path);
		jsonw_bool_field(ctl_jw, "ok", !err);
		jsonw_name(ctl_jw, "errors");
		jsonw_start_array(ctl_jw);
		for (i = 0; i < diags.n; i++)
			policy_json_diag(diags.v[i].file, diags.v[i].line,
					 diags.v[i].col, diags.v[i].msg);
		/* A failure the loader did not describe (no memory). */
		if (err && !diags.n)
			policy_json_diag(path, 0, 0, strerror(-err));
		jsonw_end_array(ctl_jw);
		if (diags.truncated)
			jsonw_bool_field(ctl_jw, "truncated", true);
		jsonw_end_object(ctl_jw);
	} else {
		policy_diags_print(&diags, stderr);
		if (err && !diags.n)
			fprintf(stderr, "%s: %s\n", path, strerror(-err));
		if (!err)
			printf("%s: ok\n", path);
	}

	policy_diags_fini(&diags);
	return !err;
}

static int policy_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "resolve-secrets",	no_argument, NULL, 's' },
		{ "help",		no_argument, NULL, 'h' },
		{ NULL,			0,	     NULL, 0 },
	};
	unsigned int flags = POLICY_LOAD_DEFAULT;
	int opt, i, ret = CTL_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			flags |= POLICY_LOAD_RESOLVE_SECRETS;
			break;
		case 'h':
			return policy_help(0, NULL);
		default:
			return ctl_usage_error("policy check: %s",
					       ctl_opt_problem(opt, argv));
		}
	}
	if (optind >= argc)
		return ctl_usage_error("policy check: no FILE given");

	/* Every file is checked, whatever the ones before it held. */
	if (ctl_jw)
		jsonw_start_array(ctl_jw);
	for (i = optind; i < argc; i++)
		if (!policy_check_file(argv[i], flags))
			ret = CTL_EXIT_ERROR;
	if (ctl_jw)
		jsonw_end_array(ctl_jw);
	return ret;
}

static int policy_schema(int argc, char **argv)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int err;

	(void)argv;
	if (argc > 1)
		return ctl_usage_error("policy schema takes no arguments");
	if (!ctl_jw) {
		policy_schema_markdown(stdout);
		return CTL_EXIT_OK;
	}

	mem = open_memstream(&buf, &len);
	if (!mem)
		return ctl_error("policy schema: %s", strerror(errno));
	policy_schema_markdown(mem);
	if (fclose(mem)) {
		err = -errno;
		free(buf);
		return ctl_error("policy schema: %s", strerror(-err));
	}
	jsonw_start_object(ctl_jw);
	jsonw_name(ctl_jw, "markdown");
	jsonw_string_len(ctl_jw, buf, len);
	jsonw_end_object(ctl_jw);
	free(buf);
	return CTL_EXIT_OK;
}

static int policy_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config",	required_argument, NULL, 'c' },
		{ "pin-dir",	required_argument, NULL, 'P' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 },
	};
	const char *config = NULL, *pin_dir = NULL, *dir;
	struct kern_sync_report rep;
	struct policy *p;
	char err[1024];
	int opt, ret;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'P':
			pin_dir = optarg;
			break;
		case 'h':
			return policy_help(0, NULL);
		default:
			return ctl_usage_error("policy apply: %s", ctl_opt_problem(opt, argv));
		}
	}
	/* "policy apply FILE" reads as well as "-c FILE". */
	if (!config && optind == argc - 1)
		config = argv[optind++];
	if (!config || optind != argc)
		return ctl_usage_error("policy apply: -c POLICY expected");

	p = ctl_policy_load(config);
	if (!p)
		return CTL_EXIT_ERROR;
	dir = ctl_pin_dir(pin_dir, p);
	ret = kern_sync_policy(dir, p, &rep, err, sizeof(err));
	policy_unref(p);
	if (ret)
		return ctl_error("policy apply: %s", err[0] ? err : strerror(-ret));
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "pin_dir", dir);
		jsonw_uint_field(ctl_jw, "tenants", rep.tenants);
		jsonw_uint_field(ctl_jw, "prefixes_v4", rep.lpm_v4);
		jsonw_uint_field(ctl_jw, "prefixes_v6", rep.lpm_v6);
		jsonw_uint_field(ctl_jw, "prefixes_removed", rep.lpm_removed);
		jsonw_uint_field(ctl_jw, "tenants_cleared", rep.tenants_cleared);
		jsonw_uint_field(ctl_jw, "maps_missing", rep.maps_missing);
		jsonw_end_object(ctl_jw);
	} else {
		printf("%s: applied to %s: %u tenant ids, %u+%u prefixes (%u stale removed, "
		       "%u ids cleared)\n", config, dir, rep.tenants, rep.lpm_v4, rep.lpm_v6,
		       rep.lpm_removed, rep.tenants_cleared);
		if (rep.maps_missing)
			printf("note: %u map(s) the policy fills are not pinned by this datapath\n",
			       rep.maps_missing);
	}
	return CTL_EXIT_OK;
}

static const struct cmd policy_cmds[] = {
	{ "apply",	policy_apply },
	{ "check",	policy_check },
	{ "help",	policy_help },
	{ "schema",	policy_schema },
	{ NULL,		NULL },
};

int ctl_do_policy(int argc, char **argv)
{
	return ctl_cmd_select(policy_cmds, argc - 1, argv + 1, "policy");
}
