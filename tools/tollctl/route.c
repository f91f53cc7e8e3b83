// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl route: try a policy's semantic router offline.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "policy/policy.h"
#include "route/route.h"
#include "tollctl.h"

static int route_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl route classify -c POLICY\n"
	       "       tollctl route help\n"
	       "\n"
	       "  classify  train POLICY's router, then read JSON lines {\"text\": \"...\"}\n"
	       "            on stdin and classify each: plain output is one line\n"
	       "            'ROUTE MODEL CONFIDENCE' per input line; with -j one object\n"
	       "            per line, {\"route\", \"model\", \"confidence\",\n"
	       "            \"low_confidence\", \"best\", \"scores\": {ROUTE: SCORE}}\n"
	       "            (\"route\" is \"default\" when no route was confident enough;\n"
	       "            \"best\" is the best-scoring route all the same).\n"
	       "            A line that is not such an object is reported by its\n"
	       "            number (on stderr, or as {\"line\", \"error\"} with -j),\n"
	       "            the rest are still classified, and the exit code is 1.\n");
	return CTL_EXIT_OK;
}

/* Scores are floats: six decimals say all they hold, shorter. */
static double route_round(float v)
{
	return round((double)v * 1e6) / 1e6;
}

static void route_print(const struct route_model *m, const struct route_result *res)
{
	uint32_t i;

	if (!ctl_jw) {
		printf("%s %s %.4f\n", res->name, res->model, (double)res->confidence);
		return;
	}
	jsonw_start_object(ctl_jw);
	jsonw_string_field(ctl_jw, "route", res->name);
	jsonw_string_field(ctl_jw, "model", res->model);
	jsonw_double_field(ctl_jw, "confidence", route_round(res->confidence));
	jsonw_bool_field(ctl_jw, "low_confidence", res->low_confidence);
	if (res->best >= 0)
		jsonw_string_field(ctl_jw, "best", route_model_route_name(m, (uint32_t)res->best));
	else
		jsonw_null_field(ctl_jw, "best");
	if (res->by_rule)
		jsonw_bool_field(ctl_jw, "by_rule", true);
	jsonw_name(ctl_jw, "scores");
	jsonw_start_object(ctl_jw);
	for (i = 0; i < res->n_scores; i++)
		jsonw_double_field(ctl_jw, route_model_route_name(m, i), route_round(res->scores[i]));
	jsonw_end_object(ctl_jw);
	jsonw_end_object(ctl_jw);
}

static void route_line_error(unsigned long line, const char *msg)
{
	if (!ctl_jw) {
		fprintf(stderr, "tollctl: line %lu: %s\n", line, msg);
		return;
	}
	jsonw_start_object(ctl_jw);
	jsonw_uint_field(ctl_jw, "line", line);
	jsonw_string_field(ctl_jw, "error", msg);
	jsonw_end_object(ctl_jw);
}

/* One input line; false when it was not {"text": STRING}. */
static bool route_classify_line(const struct route_model *m, const char *buf, size_t len,
				unsigned long line)
{
	struct route_result res;
	json_error_t jerr;
	json_t *doc, *text;
	char msg[256];

	doc = json_loadb(buf, len, 0, &jerr);
	if (!doc) {
		snprintf(msg, sizeof(msg), "not JSON: %s", jerr.text);
		route_line_error(line, msg);
		return false;
	}
	text = json_is_object(doc) ? json_object_get(doc, "text") : NULL;
	if (!json_is_string(text)) {
		route_line_error(line, "expected an object with a string \"text\"");
		json_decref(doc);
		return false;
	}
	route_classify(m, json_string_value(text), json_string_length(text), &res);
	route_print(m, &res);
	json_decref(doc);
	return true;
}

static int route_classify_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config",	required_argument, NULL, 'c' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 },
	};
	const char *config = NULL;
	struct route_model *m;
	struct policy *p;
	unsigned long line = 0;
	char err[256], *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	int opt, ret = CTL_EXIT_OK;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			return route_help(0, NULL);
		default:
			return ctl_usage_error("route classify: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind < argc)
		return ctl_usage_error("route classify: unexpected argument '%s'", argv[optind]);
	if (!config)
		return ctl_usage_error("route classify: no policy given (-c POLICY)");

	p = ctl_policy_load(config);
	if (!p)
		return CTL_EXIT_ERROR;
	if (!p->router.default_model) {
		policy_unref(p);
		return ctl_error("route classify: %s has no router (router.default_model)", config);
	}
	m = route_model_new(&p->router, err, sizeof(err));
	if (!m) {
		policy_unref(p);
		return ctl_error("route classify: %s", err);
	}
	log_debug("route classify: %u routes, %u dimensions, model %016llx",
		  route_model_n_routes(m), route_model_dim(m),
		  (unsigned long long)route_model_digest(m));

	while ((len = getline(&buf, &cap, stdin)) != -1) {
		line++;
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		if (!len)
			continue;	/* blank lines separate nothing */
		if (!route_classify_line(m, buf, (size_t)len, line))
			ret = CTL_EXIT_ERROR;
		if (ctl_jw)
			jsonw_flush(ctl_jw);
	}
	if (ferror(stdin))
		ret = ctl_error("route classify: reading stdin: %s", strerror(errno));
	free(buf);
	route_model_free(m);
	policy_unref(p);
	return ret;
}

static const struct cmd route_cmds[] = {
	{ "classify",	route_classify_cmd },
	{ "help",	route_help },
	{ NULL,		NULL },
};

int ctl_do_route(int argc, char **argv)
{
	return ctl_cmd_select(route_cmds, argc - 1, argv + 1, "route");
}
