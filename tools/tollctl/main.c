// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl: global options, the table of nouns, and the dispatcher that
 * every noun uses for its verbs.
 */
#include "tollctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

bool ctl_json;
bool ctl_pretty;
struct jsonw *ctl_jw;

static int do_help(int argc, char **argv);
static int do_version(int argc, char **argv);

/* Sorted by name, as `tollctl help` lists them. */
static const struct cmd ctl_nouns[] = {
	{ "attach",	ctl_do_attach },
	{ "audit",	ctl_do_audit },
	{ "detach",	ctl_do_detach },
	{ "events",	ctl_do_events },
	{ "export",	ctl_do_export },
	{ "flows",	ctl_do_flows },
	{ "guard",	ctl_do_guard },
	{ "help",	do_help },
	{ "key",	ctl_do_key },
	{ "penalty",	ctl_do_penalty },
	{ "policy",	ctl_do_policy },
	{ "route",	ctl_do_route },
	{ "stats",	ctl_do_stats },
	{ "status",	ctl_do_status },
	{ "tenant",	ctl_do_tenant },
	{ "tenants",	ctl_do_tenants },
	{ "top",	ctl_do_top },
	{ "version",	do_version },
	{ NULL,		NULL },
};

static void ctl_vreport(const char *fmt, va_list ap)
{
	if (!ctl_jw) {
		fputs("tollctl: ", stderr);
		vfprintf(stderr, fmt, ap);
		putc('\n', stderr);
		return;
	}
	/* Normally the whole document; raised halfway through an object it
	 * becomes that object's "error" member, in an array an element, so
	 * the output stays one valid JSON document. */
	if (jsonw_is_in_object(ctl_jw)) {
		jsonw_name(ctl_jw, "error");
		jsonw_vstringf(ctl_jw, fmt, ap);
		return;
	}
	jsonw_start_object(ctl_jw);
	jsonw_name(ctl_jw, "error");
	jsonw_vstringf(ctl_jw, fmt, ap);
	jsonw_end_object(ctl_jw);
}

int ctl_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vreport(fmt, ap);
	va_end(ap);
	return CTL_EXIT_ERROR;
}

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vreport(fmt, ap);
	va_end(ap);
	return CTL_EXIT_USAGE;
}

const char *ctl_opt_problem(int opt, char **argv)
{
	static char msg[160];
	/* Inside a cluster of short options ("-xj" with x unknown) getopt has
	 * not moved past the cluster yet: argv[optind] is it, not the
	 * argument before. */
	const char *cur = argv[optind];
	bool in_cluster = cur && cur[0] == '-' && cur[1] && cur[1] != '-' &&
			  optopt > 0 && strchr(cur + 1, optopt);
	const char *arg = in_cluster ? cur : argv[optind - 1];
	bool is_long = !in_cluster && !strncmp(arg, "--", 2);

	if (opt == ':') {
		if (is_long)
			snprintf(msg, sizeof(msg), "option '%s' needs an argument", arg);
		else
			snprintf(msg, sizeof(msg), "option '-%c' needs an argument", optopt);
	} else if (optopt && !is_long) {
		snprintf(msg, sizeof(msg), "unknown option '-%c'", optopt);
	} else if (optopt && strchr(arg, '=')) {
		snprintf(msg, sizeof(msg), "option '%.*s' takes no argument",
			 (int)(strchr(arg, '=') - arg), arg);
	} else {
		snprintf(msg, sizeof(msg), "unknown option '%s'", arg);
	}
	return msg;
}

static int ctl_run_help(const struct cmd *cmds)
{
	static char word[] = "help";
	char *argv[] = { word, NULL };
	const struct cmd *c;

	for (c = cmds; c->name; c++)
		if (!strcmp(c->name, "help"))
			return c->fn(1, argv);
	return CTL_EXIT_OK;
}

/* "a, b, c" from the names in `cmds` that start with `word`. */
static void ctl_candidates(const struct cmd *cmds, const char *word,
			   char *buf, size_t size)
{
	size_t len = strlen(word), off = 0;
	const struct cmd *c;
	int n;

	buf[0] = '\0';
	for (c = cmds; c->name; c++) {
		if (strncmp(c->name, word, len))
			continue;
		n = snprintf(buf + off, size - off, "%s%s", off ? ", " : "", c->name);
		if (n < 0 || (size_t)n >= size - off)
			break;
		off += (size_t)n;
	}
}

int ctl_cmd_select(const struct cmd *cmds, int argc, char **argv,
		   const char *parent)
{
	const struct cmd *c, *match = NULL;
	const char *word;
	unsigned int n = 0;
	char names[256];
	size_t len;

	if (argc < 1)
		return ctl_run_help(cmds);
	word = argv[0];
	if (!strcmp(word, "-h") || !strcmp(word, "--help"))
		return ctl_run_help(cmds);

	len = strlen(word);
	for (c = cmds; c->name; c++) {
		if (!strcmp(c->name, word))
			return c->fn(argc, argv);
		if (len && !strncmp(c->name, word, len)) {
			match = c;
			n++;
		}
	}
	if (n == 1) {
		log_debug("'%s' selects %s '%s'", word, parent ? "verb" : "noun",
			  match->name);
		return match->fn(argc, argv);
	}
	if (n > 1) {
		ctl_candidates(cmds, word, names, sizeof(names));
		if (parent)
			return ctl_usage_error("ambiguous verb '%s' for '%s': %s",
					       word, parent, names);
		return ctl_usage_error("ambiguous noun '%s': %s", word, names);
	}
	if (parent)
		return ctl_usage_error("unknown verb '%s' for '%s' (try 'tollctl %s help')",
				       word, parent, parent);
	return ctl_usage_error("unknown noun '%s' (try 'tollctl help')", word);
}

static int do_help(int argc, char **argv)
{
	/* "tollctl help NOUN" is "tollctl NOUN help"; the flag stops
	 * "tollctl help help" from asking itself forever. */
	static bool in_help;
	const struct cmd *c;

	if (argc > 2)
		return ctl_usage_error("help takes at most one NOUN");
	if (argc == 2 && !in_help) {
		static char word[] = "help";
		char *av[] = { argv[1], word, NULL };
		int ret;

		in_help = true;
		ret = ctl_cmd_select(ctl_nouns, 2, av, NULL);
		in_help = false;
		return ret;
	}

	printf("Usage: tollctl [OPTIONS] NOUN VERB [ARGS...]\n"
	       "       tollctl help [NOUN]\n"
	       "\n"
	       "NOUN := {");
	for (c = ctl_nouns; c->name; c++)
		printf(" %s%s", c->name, c[1].name ? " |" : "");
	printf(" }\n"
	       "OPTIONS := { -j|--json | -p|--pretty | -d|--debug | -h|--help | -V|--version }\n"
	       "\n"
	       "  -j, --json     JSON output, errors too ({\"error\": \"...\"} on stdout)\n"
	       "  -p, --pretty   indented JSON output (implies -j)\n"
	       "  -d, --debug    debug logs on stderr\n"
	       "  -h, --help     this text; 'tollctl NOUN help' lists a noun's verbs\n"
	       "  -V, --version  the version\n"
	       "\n"
	       "Nouns and verbs may be shortened to any unique prefix: 'tollctl pol ch FILE'.\n"
	       "Exit status: 0 ok, 1 error, 2 usage.\n");
	return CTL_EXIT_OK;
}

static int do_version(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "help")))
		return ctl_usage_error("version takes no arguments");
	if (argc == 2) {
		printf("Usage: tollctl version\n");
		return CTL_EXIT_OK;
	}
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "version", TG_VERSION);
		jsonw_end_object(ctl_jw);
	} else {
		printf("tollctl %s\n", TG_VERSION);
	}
	return CTL_EXIT_OK;
}

/* Output that never reached stdout is a failure, whatever the command
 * thought of it (a full disk, a closed pipe). */
static int ctl_finish(int ret)
{
	int err = 0;

	if (ctl_jw)
		err = jsonw_error(ctl_jw);
	if (fflush(stdout) && !err)
		err = -errno;
	if (ferror(stdout) && !err)
		err = -EIO;
	if (err == -EINVAL) {
		fprintf(stderr, "tollctl: internal error: malformed JSON output\n");
		return CTL_EXIT_ERROR;
	}
	if (err) {
		fprintf(stderr, "tollctl: writing output: %s\n", strerror(-err));
		return ret ? ret : CTL_EXIT_ERROR;
	}
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json",	no_argument,	NULL, 'j' },
		{ "pretty",	no_argument,	NULL, 'p' },
		{ "debug",	no_argument,	NULL, 'd' },
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
		{ NULL,		0,		NULL, 0 },
	};
	bool help = false, version = false;
	char problem[160] = "";
	int opt, ret;

	log_set_level(LOG_LEVEL_WARN);

	/* '+': options end at the noun, which may have options of its own.
	 * A bad option is reported after the loop, once -j is known. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:jpdhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			ctl_json = true;
			break;
		case 'p':
			ctl_json = true;
			ctl_pretty = true;
			break;
		case 'd':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			help = true;
			break;
		case 'V':
			version = true;
			break;
		default:
			if (!problem[0])
				snprintf(problem, sizeof(problem), "%s",
					 ctl_opt_problem(opt, argv));
			break;
		}
	}

	if (ctl_json) {
		ctl_jw = jsonw_new(stdout);
		if (!ctl_jw) {
			fprintf(stderr, "tollctl: %s\n", strerror(errno));
			return CTL_EXIT_ERROR;
		}
		jsonw_pretty(ctl_jw, ctl_pretty);
	}

	/* argv[optind - 1] is the last option word (or the program name),
	 * standing in for the command's own name. */
	if (problem[0])
		ret = ctl_usage_error("%s (try 'tollctl help')", problem);
	else if (help)
		ret = do_help(argc - optind + 1, argv + optind - 1);
	else if (version)
		ret = do_version(1, argv + optind - 1);
	else
		ret = ctl_cmd_select(ctl_nouns, argc - optind, argv + optind, NULL);

	ret = ctl_finish(ret);
	jsonw_free(ctl_jw);
	ctl_jw = NULL;
	return ret;
}
