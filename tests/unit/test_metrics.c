// SPDX-License-Identifier: Apache-2.0
/*
 * user/obs/metrics: the Prometheus text format as written, byte for byte:
 * escaping, HELP/TYPE before samples, the kernel families and their
 * labels, and families left out when their map was not pinned.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tollgate/abi.h>

#include "obs/genai.h"
#include "obs/metrics.h"

struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static void capture_open(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

/* Closes the stream; the text stays in c->buf until capture_free(). */
static const char *capture_text(struct capture *c)
{
	assert_int_equal(fclose(c->f), 0);
	c->f = NULL;
	return c->buf;
}

static void capture_free(struct capture *c)
{
	free(c->buf);
	c->buf = NULL;
}

static void test_metrics_label_values_are_escaped(void **state)
{
	const struct metrics_label l[] = {
		{ "tenant", "a\"b\\c\nd" },
		{ "reason", "pass" },
	};
	struct capture c;

	(void)state;
	capture_open(&c);
	metrics_sample(c.f, "tollgate_x_total", l, 2, 42);
	assert_string_equal(capture_text(&c),
			    "tollgate_x_total{tenant=\"a\\\"b\\\\c\\nd\",reason=\"pass\"} 42\n");
	capture_free(&c);
}

static void test_metrics_sample_without_labels_has_no_braces(void **state)
{
	struct capture c;

	(void)state;
	capture_open(&c);
	metrics_sample(c.f, "tollgate_up", NULL, 0, UINT64_MAX);
	assert_string_equal(capture_text(&c), "tollgate_up 18446744073709551615\n");
	capture_free(&c);
}

static void test_metrics_help_escapes_backslash_and_newline_only(void **state)
{
	struct capture c;

	(void)state;
	capture_open(&c);
	metrics_family(c.f, "tollgate_y", METRICS_GAUGE, "a \"quoted\" \\ word\nnext");
	assert_string_equal(capture_text(&c),
			    "# HELP tollgate_y a \"quoted\" \\\\ word\\nnext\n"
			    "# TYPE tollgate_y gauge\n");
	capture_free(&c);
}

static const char *name_by_table(void *ctx, uint32_t id, char *buf, size_t size)
{
	(void)ctx;
	(void)buf;
	(void)size;
	return id == 2 ? "beta" : NULL;
}

static void test_metrics_kern_families_and_labels(void **state)
{
	struct kern_tenant_snapshot t[2];
	struct kern_snapshot s;
	struct capture c;
	const char *text;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(t, 0, sizeof(t));
	s.has_reasons = true;
	s.reasons[TG_REASON_PENALTY].packets[TG_HOOK_XDP_INGRESS] = 7;
	s.reasons[TG_REASON_PASS].bytes[TG_HOOK_TC_EGRESS] = 1500;
	s.has_runs = true;
	s.runs[TG_HOOK_XDP_INGRESS] = 9;
	s.has_flows = true;
	s.flows = 3;
	s.flows_max = 1024;
	t[0].id = 2;
	t[0].has_config = true;
	t[0].config.flags = TG_TENANT_F_BLOCKED;
	t[0].stats.packets_in = 5;
	t[0].stats.penalty = 1;
	t[1].id = 7;
	t[1].stats.bytes_out = 99;
	s.tenants = t;
	s.n_tenants = 2;

	capture_open(&c);
	assert_int_equal(metrics_write_kern(c.f, &s, name_by_table, NULL), 0);
	text = capture_text(&c);
	assert_non_null(strstr(text,
		"# TYPE tollgate_kern_verdict_packets_total counter\n"
		"tollgate_kern_verdict_packets_total{hook=\"xdp_ingress\",reason=\"pass\"} 0\n"));
	assert_non_null(strstr(text,
		"tollgate_kern_verdict_packets_total{hook=\"xdp_ingress\",reason=\"penalty_box\"} 7\n"));
	assert_non_null(strstr(text,
		"tollgate_kern_verdict_bytes_total{hook=\"tc_egress\",reason=\"pass\"} 1500\n"));
	assert_non_null(strstr(text, "tollgate_kern_program_runs_total{hook=\"xdp_ingress\"} 9\n"));
	assert_non_null(strstr(text, "tollgate_kern_flow_entries 3\n"));
	assert_non_null(strstr(text, "tollgate_kern_flow_entries_max 1024\n"));
	/* Named by the callback, else by id. */
	assert_non_null(strstr(text, "tollgate_tenant_ingress_packets_total{tenant=\"beta\"} 5\n"));
	assert_non_null(strstr(text, "tollgate_tenant_egress_bytes_total{tenant=\"7\"} 99\n"));
	assert_non_null(strstr(text,
		"tollgate_tenant_dropped_packets_total{tenant=\"beta\",reason=\"penalty_box\"} 1\n"));
	assert_non_null(strstr(text, "tollgate_tenant_blocked{tenant=\"beta\"} 1\n"));
	/* No config read for tenant 7: no blocked sample for it. */
	assert_null(strstr(text, "tollgate_tenant_blocked{tenant=\"7\"}"));
	/* The penalty map was not pinned: no family at all. */
	assert_null(strstr(text, "tollgate_kern_penalty_sources"));
	capture_free(&c);
}

/* Every sample line's family was introduced by HELP then TYPE, and no
 * sample carries a label other than reason, hook and tenant. */
static void test_metrics_kern_every_sample_follows_help_and_type(void **state)
{
	struct kern_snapshot s;
	struct capture c;
	char *text, *line, *save = NULL, family[128] = "";
	bool help = false, type = false;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.has_reasons = s.has_runs = s.has_flows = s.has_penalty = true;
	capture_open(&c);
	assert_int_equal(metrics_write_kern(c.f, &s, NULL, NULL), 0);
	text = (char *)capture_text(&c);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP ", 7)) {
			snprintf(family, sizeof(family), "%.*s",
				 (int)strcspn(line + 7, " "), line + 7);
			help = true;
			type = false;
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			assert_true(help);
			assert_int_equal(strncmp(line + 7, family, strlen(family)), 0);
			type = true;
			continue;
		}
		assert_true(help && type);
		assert_int_equal(strncmp(line, family, strlen(family)), 0);
		assert_true(line[strlen(family)] == ' ' || line[strlen(family)] == '{');
		assert_null(strstr(line, "addr"));
		assert_null(strstr(line, "port"));
		assert_null(strstr(line, "flow="));
	}
	capture_free(&c);
}

/* Lines of `text` that start with `prefix`. */
static unsigned count_lines(const char *text, const char *prefix)
{
	unsigned n = 0;
	size_t pl = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, prefix, pl))
			n++;
	return n;
}

/*
 * LLM call series: one per (operation, tenant, model, provider), names of
 * the longest length a policy allows (64) included, counted as often as
 * they were recorded, and calls of other names after a long run of one
 * keep their own series (a 64-character name once took a new slot per
 * call, so 512 calls filled the table and later names went to "other").
 */
static void test_metrics_genai_series_by_name(void **state)
{
	char tenant[65], model[65], provider[65], want[512];
	struct genai *g = genai_new();
	struct genai_call c = { .operation = "chat", .status = 200, .duration_us = 1000 };
	struct capture cap;
	const char *text;
	int i;

	(void)state;
	assert_non_null(g);
	memset(tenant, 't', 64);
	memset(model, 'm', 64);
	memset(provider, 'p', 64);
	tenant[64] = model[64] = provider[64] = '\0';
	c.tenant = tenant;
	c.model = model;
	c.provider = provider;
	for (i = 0; i < 1000; i++)
		genai_record(g, &c);
	c.tenant = "acme";
	c.model = "gpt-4o-mini";
	c.provider = "openai";
	for (i = 0; i < 3; i++)
		genai_record(g, &c);
	c.status = 429;
	genai_record(g, &c);

	capture_open(&cap);
	genai_write(cap.f, &g, 1);
	text = capture_text(&cap);
	snprintf(want, sizeof(want),
		 "tollgate_llm_requests_total{gen_ai_operation_name=\"chat\",tenant=\"%s\","
		 "gen_ai_request_model=\"%s\",gen_ai_system=\"%s\",code=\"2xx\"} 1000\n",
		 tenant, model, provider);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "tollgate_llm_requests_total{gen_ai_operation_name=\"chat\","
				     "tenant=\"acme\",gen_ai_request_model=\"gpt-4o-mini\","
				     "gen_ai_system=\"openai\",code=\"2xx\"} 3\n"));
	assert_non_null(strstr(text, "tollgate_llm_requests_total{gen_ai_operation_name=\"chat\","
				     "tenant=\"acme\",gen_ai_request_model=\"gpt-4o-mini\","
				     "gen_ai_system=\"openai\",code=\"4xx\"} 1\n"));
	/* Two series, three samples (two status classes of one), no "other". */
	assert_int_equal(count_lines(text, "tollgate_llm_requests_total{"), 3);
	assert_null(strstr(text, "\"other\""));
	capture_free(&cap);
	genai_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_label_values_are_escaped),
		cmocka_unit_test(test_metrics_sample_without_labels_has_no_braces),
		cmocka_unit_test(test_metrics_help_escapes_backslash_and_newline_only),
		cmocka_unit_test(test_metrics_kern_families_and_labels),
		cmocka_unit_test(test_metrics_kern_every_sample_follows_help_and_type),
		cmocka_unit_test(test_metrics_genai_series_by_name),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
