// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl guard: try a policy's guard profile offline.
 *
 *   tollctl guard scan -c POLICY [--guard NAME] < lines.jsonl
 *
 * Each input line is a JSON object with a "text" string. Every line is
 * answered, a bad one with an error naming its line number; the exit code
 * is 1 when any line was bad.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "guard/guard.h"
#include "policy/policy.h"
#include "tollctl.h"

static int guard_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl guard scan -c POLICY [--guard NAME]\n"
	       "       tollctl guard help\n"
	       "\n"
	       "  scan    read JSON lines {\"text\": \"...\"} on stdin and scan each text with\n"
	       "          the guard profile NAME (default: the policy's default_guard, else\n"
	       "          its only guard). Plain output, one line per input line:\n"
	       "            LINE: VERDICT [TYPE START-END ...] injection=SCORE | REDACTED\n"
	       "          With -j, one JSON object per input line: {\"line\", \"findings\":\n"
	       "          [{\"type\", \"start\", \"end\"}], \"redacted\", \"injection\":\n"
	       "          {\"score\", \"threshold\", \"verdict\"}, \"verdict\"}; offsets are\n"
	       "          bytes of the UTF-8 text. A bad line gives {\"line\", \"error\"}\n"
	       "          (stderr in plain mode); the others are still scanned, and the\n"
	       "          exit code is then 1.\n");
	return CTL_EXIT_OK;
}

static const struct policy_guard *guard_pick(const struct policy *p, const char *name)
{
	uint32_t i;

	if (!name)
		name = p->default_guard;
	if (!name)
		return p->n_guards == 1 ? &p->guards[0] : NULL;
	for (i = 0; i < p->n_guards; i++)
		if (!strcmp(p->guards[i].name, name))
			return &p->guards[i];
	return NULL;
}

static void guard_line_error(unsigned long line, const char *msg)
{
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_uint_field(ctl_jw, "line", line);
		jsonw_string_field(ctl_jw, "error", msg);
		jsonw_end_object(ctl_jw);
		jsonw_flush(ctl_jw);
	} else {
		fprintf(stderr, "tollctl: guard scan: line %lu: %s\n", line, msg);
	}
}

static void guard_report(const struct guard *g, unsigned long line, const char *text,
			 const struct guard_result *r, const char *red, size_t red_len)
{
	uint32_t i;

	(void)text;
	if (!ctl_jw) {
		printf("%lu: %s", line, guard_verdict_name(r->verdict));
		for (i = 0; i < r->n; i++)
			printf(" %s %u-%u", guard_finding_name(g, &r->v[i]), r->v[i].start,
			       r->v[i].end);
		printf(" injection=%u | %.*s\n", r->injection_score, (int)red_len, red);
		return;
	}
	jsonw_start_object(ctl_jw);
	jsonw_uint_field(ctl_jw, "line", line);
	jsonw_name(ctl_jw, "findings");
	jsonw_start_array(ctl_jw);
	for (i = 0; i < r->n; i++) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "type", guard_finding_name(g, &r->v[i]));
		jsonw_uint_field(ctl_jw, "start", r->v[i].start);
		jsonw_uint_field(ctl_jw, "end", r->v[i].end);
		jsonw_end_object(ctl_jw);
	}
	jsonw_end_array(ctl_jw);
	jsonw_name(ctl_jw, "redacted");
	jsonw_string_len(ctl_jw, red, red_len);
	jsonw_name(ctl_jw, "injection");
	jsonw_start_object(ctl_jw);
	jsonw_uint_field(ctl_jw, "score", r->injection_score);
	jsonw_uint_field(ctl_jw, "threshold", guard_injection_threshold(g));
	jsonw_bool_field(ctl_jw, "verdict", r->injection);
	jsonw_end_object(ctl_jw);
	jsonw_string_field(ctl_jw, "verdict", guard_verdict_name(r->verdict));
	jsonw_end_object(ctl_jw);
	jsonw_flush(ctl_jw);
}

/* One input line; false when it was bad. */
static bool guard_scan_line(const struct guard *g, unsigned long line, const char *buf,
			    size_t len, struct guard_result *r)
{
	json_error_t jerr;
	json_t *doc, *text;
	char *red = NULL, msg[300];
	size_t red_len = 0;
	bool ok = false;
	int err;

	doc = json_loadb(buf, len, JSON_ALLOW_NUL, &jerr);
	if (!doc) {
		snprintf(msg, sizeof(msg), "not JSON: %s (column %d)", jerr.text, jerr.column);
		guard_line_error(line, msg);
		return false;
	}
	text = json_is_object(doc) ? json_object_get(doc, "text") : NULL;
	if (!json_is_string(text)) {
		guard_line_error(line, "expected an object with a \"text\" string");
		goto out_decref;
	}
	err = guard_scan(g, json_string_value(text), json_string_length(text), r);
	if (!err)
		err = guard_redact_alloc(g, json_string_value(text), json_string_length(text), r,
					 &red, &red_len);
	if (err) {
		guard_line_error(line, strerror(-err));
		goto out_decref;
	}
	guard_report(g, line, json_string_value(text), r, red, red_len);
	free(red);
	ok = true;
out_decref:
	json_decref(doc);
	return ok;
}

static int guard_scan_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config",	required_argument, NULL, 'c' },
		{ "guard",	required_argument, NULL, 'g' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 },
	};
	const char *config = NULL, *name = NULL;
	const struct policy_guard *pg;
	struct guard_result r;
	struct policy *p;
	struct guard *g;
	unsigned long line = 0;
	char *buf = NULL, err[512];
	size_t cap = 0;
	ssize_t n;
	int opt, ret = CTL_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:g:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'g':
			name = optarg;
			break;
		case 'h':
			return guard_help(0, NULL);
		default:
			return ctl_usage_error("guard scan: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind < argc)
		return ctl_usage_error("guard scan: unexpected argument '%s'", argv[optind]);
	if (!config)
		return ctl_usage_error("guard scan: no policy given (-c POLICY)");

	p = ctl_policy_load(config);
	if (!p)
		return CTL_EXIT_ERROR;
	pg = guard_pick(p, name);
	if (!pg) {
		ret = name ? ctl_error("guard scan: %s: no guard named '%s'", config, name)
			   : ctl_error("guard scan: %s: no default_guard and not exactly one guard;"
				       " name one with --guard", config);
		goto out_unref;
	}
	g = guard_new(pg, err, sizeof(err));
	if (!g) {
		ret = ctl_error("guard scan: %s", err[0] ? err : strerror(errno));
		goto out_unref;
	}

	guard_result_init(&r);
	while ((n = getline(&buf, &cap, stdin)) >= 0) {
		line++;
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		if (!n)
			continue;	/* blank lines separate nothing */
		if (!guard_scan_line(g, line, buf, (size_t)n, &r))
			ret = CTL_EXIT_ERROR;
	}
	free(buf);
	guard_result_fini(&r);
	guard_free(g);
	guard_thread_fini();
out_unref:
	policy_unref(p);
	return ret;
}

int ctl_do_guard(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "help",	guard_help },
		{ "scan",	guard_scan_cmd },
		{ NULL,		NULL },
	};

	return ctl_cmd_select(cmds, argc - 1, argv + 1, "guard");
}
