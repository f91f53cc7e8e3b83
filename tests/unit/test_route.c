// SPDX-License-Identifier: Apache-2.0
/*
 * The semantic router: determinism, thresholds and the default route,
 * keywords, min_tokens rules, built-in domains extended by a policy, and
 * the accuracy on the held-out corpus tests/data/route/heldout.jsonl
 * (printed; fails below ROUTE_ACCURACY_MIN). Run from the repository root
 * (tests/run.sh does).
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"
#include "route/route.h"

#define DOMAINS_POLICY	"tests/data/route/domains.yaml"
#define HELDOUT		"tests/data/route/heldout.jsonl"
#define ROUTE_ACCURACY_MIN	0.90

/* Everything before the router, shared by the policies written here. */
#define PREAMBLE							\
	"version: 1\n"							\
	"listeners:\n  - name: local\n    address: 127.0.0.1:1\n"	\
	"providers:\n  - name: sim\n    type: openai\n"		\
	"    base_url: http://127.0.0.1:9/v1\n"				\
	"models:\n  - name: big\n    provider: sim\n"			\
	"  - name: small\n    provider: sim\n"				\
	"  - name: long\n    provider: sim\n"

static struct policy *load_buf(const char *yaml)
{
	struct policy_diags d;
	struct policy *p;

	policy_diags_init(&d);
	p = policy_load_buffer("test.yaml", yaml, strlen(yaml), POLICY_LOAD_NO_INCLUDE, &d);
	if (!p)
		policy_diags_print(&d, stderr);
	policy_diags_fini(&d);
	assert_non_null(p);
	return p;
}

static struct policy *load_file(const char *path)
{
	struct policy_diags d;
	struct policy *p;

	policy_diags_init(&d);
	p = policy_load_file(path, POLICY_LOAD_DEFAULT, &d);
	if (!p)
		policy_diags_print(&d, stderr);
	policy_diags_fini(&d);
	assert_non_null(p);
	return p;
}

static struct route_model *model_new(const struct policy *p)
{
	char err[256] = "";
	struct route_model *m = route_model_new(&p->router, err, sizeof(err));

	if (!m)
		fprintf(stderr, "route_model_new: %s\n", err);
	assert_non_null(m);
	return m;
}

/* A policy and the model trained from it, which borrows its router. */
struct router {
	struct policy *p;
	struct route_model *m;
};

static struct router router_of(struct policy *p)
{
	return (struct router){ .p = p, .m = model_new(p) };
}

static void router_free(struct router *r)
{
	route_model_free(r->m);
	policy_unref(r->p);
}

static void classify(const struct route_model *m, const char *text, struct route_result *res)
{
	route_classify(m, text, strlen(text), res);
}

static void test_route_same_policy_gives_bit_identical_models(void **state)
{
	static const char *const prompts[] = {
		"fix the null pointer bug in this C function",
		"what is the integral of x^2",
		"hello!",
		"",
	};
	struct router r1 = router_of(load_file(DOMAINS_POLICY));
	struct router r2 = router_of(load_file(DOMAINS_POLICY));
	/* A second model from the same policy object, too. */
	struct route_model *a = r1.m, *b = r2.m, *c = model_new(r1.p);
	struct route_result ra, rb, rc;

	(void)state;
	assert_int_equal(route_model_digest(a), route_model_digest(b));
	assert_int_equal(route_model_digest(a), route_model_digest(c));
	for (size_t i = 0; i < sizeof(prompts) / sizeof(prompts[0]); i++) {
		classify(a, prompts[i], &ra);
		classify(b, prompts[i], &rb);
		classify(c, prompts[i], &rc);
		assert_int_equal(ra.route, rb.route);
		assert_memory_equal(ra.scores, rb.scores, ra.n_scores * sizeof(float));
		assert_memory_equal(ra.scores, rc.scores, ra.n_scores * sizeof(float));
	}
	route_model_free(c);
	router_free(&r1);
	router_free(&r2);
}

/* A changed example must change the model: the digest covers the weights. */
static void test_route_different_examples_give_different_models(void **state)
{
#define TWO_ROUTES(last) PREAMBLE						\
	"router:\n  default_model: small\n  routes:\n"				\
	"    - { name: a, model: big, examples: [\"alpha beta\", \"" last "\"] }\n"	\
	"    - { name: b, model: small, examples: [\"delta epsilon\"] }\n"
	struct router a = router_of(load_buf(TWO_ROUTES("gamma")));
	struct router b = router_of(load_buf(TWO_ROUTES("gamma!")));

	(void)state;
	assert_int_not_equal(route_model_digest(a.m), route_model_digest(b.m));
	router_free(&a);
	router_free(&b);
}

static void test_route_low_confidence_goes_to_the_default_route(void **state)
{
	struct router rt = router_of(load_buf(PREAMBLE
		"router:\n  default_model: small\n  threshold: 0.9\n  routes:\n"
		"    - { name: code, model: big, domain: code }\n"
		"    - { name: math, model: big, domain: math }\n"
		"    - { name: chat, model: small, domain: chat, threshold: 0.2 }\n"));
	const struct route_model *m = rt.m;
	struct route_result res;
	float sum = 0;

	(void)state;
	/* Nothing any route learnt from: scores stay close together. */
	classify(m, "zzqx vlorp", &res);
	assert_int_equal(res.route, -1);
	assert_string_equal(res.name, "default");
	assert_string_equal(res.model, "small");
	assert_true(res.low_confidence);
	assert_true(res.best >= 0);
	assert_true(res.confidence < 0.9f);
	assert_int_equal(res.n_scores, 3);
	for (uint32_t i = 0; i < res.n_scores; i++)
		sum += res.scores[i];
	assert_float_equal(sum, 1.0f, 1e-4);

	/* A clear prompt clears the bar. */
	classify(m, "write a python function that reverses a linked list and fix the compile error", &res);
	assert_int_equal(res.route, 0);
	assert_string_equal(res.name, "code");
	assert_string_equal(res.model, "big");
	assert_false(res.low_confidence);
	assert_true(res.confidence >= 0.9f);
	router_free(&rt);
}

static void test_route_per_route_threshold_overrides_the_router(void **state)
{
#define THRESHOLD_POLICY(t) PREAMBLE						\
	"router:\n  default_model: small\n  threshold: 0.1\n  routes:\n"	\
	"    - { name: code, model: big, domain: code, threshold: " t " }\n"	\
	"    - { name: chat, model: small, domain: chat }\n"
	const char *prompt = "my rust program panics with index out of bounds, help me debug it";
	struct router rt = router_of(load_buf(THRESHOLD_POLICY("-1")));
	struct route_result res;

	(void)state;
	classify(rt.m, prompt, &res);
	assert_int_equal(res.route, 0);
	router_free(&rt);

	/* The same prompt, the same score, now below the route's own bar. */
	rt = router_of(load_buf(THRESHOLD_POLICY("1")));
	classify(rt.m, prompt, &res);
	assert_int_equal(res.route, -1);
	assert_int_equal(res.best, 0);
	router_free(&rt);
}

static void test_route_keywords_boost_whole_words_any_case(void **state)
{
	struct router rt = router_of(load_buf(PREAMBLE
		"router:\n  default_model: small\n  threshold: 0\n  routes:\n"
		"    - { name: tickets, model: big, examples: [\"open a ticket for the outage\"],\n"
		"        keywords: [\"pager duty\", incident] }\n"
		"    - { name: other, model: small, examples: [\"what a lovely day\", \"tell me about the weather\"] }\n"));
	const struct route_model *m = rt.m;
	struct route_result with, without, part;

	(void)state;
	classify(m, "the weather today: INCIDENT", &with);
	classify(m, "the weather today: incidental", &part);
	classify(m, "the weather today: accident", &without);
	/* The keyword adds ROUTE_KEYWORD_BOOST to the logit: a clear gap. */
	assert_true(with.scores[0] > part.scores[0] + 0.2f);
	assert_true(with.scores[0] > without.scores[0] + 0.2f);
	classify(m, "the weather today, says Pager   Duty", &with);
	classify(m, "the weather today, says pager", &part);
	assert_true(with.scores[0] > part.scores[0] + 0.2f);
	router_free(&rt);
}

static void test_route_min_tokens_rule_takes_long_prompts(void **state)
{
	struct router rt = router_of(load_buf(PREAMBLE
		"router:\n  default_model: small\n  threshold: 0\n  routes:\n"
		"    - { name: long-context, model: long, min_tokens: 1000 }\n"
		"    - { name: code, model: big, domain: code }\n"
		"    - { name: chat, model: small, domain: chat }\n"));
	const struct route_model *m = rt.m;
	struct route_result res;
	size_t len = 4000 + 20000, i;
	char *big = malloc(len + 1);

	(void)state;
	assert_non_null(big);
	classify(m, "hello there, how are you?", &res);
	assert_string_equal(res.name, "chat");
	assert_false(res.by_rule);
	assert_float_equal(res.scores[0], 0.0f, 0);

	/* 24000 bytes: about 6000 tokens, past the rule. Only the head and
	 * tail are read for features, but the estimate counts every byte. */
	for (i = 0; i < len; i++)
		big[i] = "hello how are you "[i % 18];
	big[len] = '\0';
	classify(m, big, &res);
	assert_int_equal(res.route, 0);
	assert_string_equal(res.model, "long");
	assert_true(res.by_rule);
	assert_float_equal(res.confidence, 1.0f, 0);

	/* 4000 bytes: 1000 tokens, the rule's own number. */
	big[4000] = '\0';
	classify(m, big, &res);
	assert_true(res.by_rule);

	/* 3999 bytes: 999 tokens, one short. */
	big[3999] = '\0';
	classify(m, big, &res);
	assert_string_equal(res.name, "chat");
	free(big);
	router_free(&rt);
}

static void test_route_min_tokens_gates_a_learnt_route(void **state)
{
	struct router rt = router_of(load_buf(PREAMBLE
		"router:\n  default_model: small\n  threshold: 0\n  routes:\n"
		"    - { name: long-summary, model: long, domain: summarization, min_tokens: 500 }\n"
		"    - { name: chat, model: small, domain: chat }\n"));
	const struct route_model *m = rt.m;
	struct route_result res;
	char text[4096];

	(void)state;
	classify(m, "summarize this article in three bullet points", &res);
	assert_string_equal(res.name, "chat");
	assert_float_equal(res.scores[0], 0.0f, 0);
	assert_float_equal(res.scores[1], 1.0f, 1e-6);

	snprintf(text, sizeof(text), "summarize this article in three bullet points: %2100s", "x");
	classify(m, text, &res);
	assert_string_equal(res.name, "long-summary");
	assert_false(res.by_rule);
	router_free(&rt);
}

/* A policy's own examples are added to a built-in domain's. */
static void test_route_user_examples_extend_a_domain(void **state)
{
	const char *prompt = "run the frobnitz reconciliation for the quux ledger";
	struct router rt1 = router_of(load_buf(PREAMBLE
		"router:\n  default_model: small\n  threshold: 0\n  routes:\n"
		"    - { name: code, model: big, domain: code }\n"
		"    - { name: finance, model: big, domain: finance }\n"
		"    - { name: chat, model: small, domain: chat }\n"));
	struct router rt2 = router_of(load_buf(PREAMBLE
		"router:\n  default_model: small\n  threshold: 0\n  routes:\n"
		"    - { name: code, model: big, domain: code }\n"
		"    - name: finance\n      model: big\n      domain: finance\n"
		"      examples: [\"start the frobnitz reconciliation\", \"quux ledger close\",\n"
		"                 \"frobnitz run for the quux accounts\"]\n"
		"    - { name: chat, model: small, domain: chat }\n"));
	const struct route_model *m1 = rt1.m, *m2 = rt2.m;
	struct route_result r1, r2;

	(void)state;
	classify(m1, prompt, &r1);
	classify(m2, prompt, &r2);
	assert_string_equal(r2.name, "finance");
	assert_true(r2.scores[1] > r1.scores[1] + 0.2f);
	/* The domain is still there. */
	classify(m2, "how do dividends get taxed on an index fund", &r2);
	assert_string_equal(r2.name, "finance");
	router_free(&rt1);
	router_free(&rt2);
}

static void test_route_reads_any_bytes_of_any_length(void **state)
{
	struct router rt = router_of(load_file(DOMAINS_POLICY));
	const struct route_model *m = rt.m;
	struct route_result res;
	size_t len = 1 << 20, i;
	char *buf = malloc(len);
	uint64_t s = 1;

	(void)state;
	assert_non_null(buf);
	for (i = 0; i < len; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = (char)(s >> 56);
	}
	for (size_t n = 0; n < 64; n++) {
		route_classify(m, buf, n, &res);
		assert_true(res.model != NULL);
	}
	route_classify(m, buf, len, &res);
	assert_true(res.model != NULL);
	route_classify(m, NULL, 0, &res);
	assert_true(res.model != NULL);
	free(buf);
	router_free(&rt);
}

static void test_route_model_new_needs_a_default_model(void **state)
{
	struct policy_router r = { 0 };
	char err[128] = "";

	(void)state;
	errno = 0;
	assert_null(route_model_new(&r, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "default_model"));
	route_model_free(NULL);
}

static void test_route_domains_are_named_and_large(void **state)
{
	uint32_t total = 0, n;

	(void)state;
	assert_null(route_domain_name(POLICY_DOMAIN_NONE));
	assert_null(route_domain_examples(POLICY_DOMAIN_COUNT, &n));
	assert_int_equal(n, 0);
	assert_string_equal(route_domain_name(POLICY_DOMAIN_CODE), "code");
	assert_string_equal(route_domain_name(POLICY_DOMAIN_CHAT), "chat");
	for (int d = POLICY_DOMAIN_NONE + 1; d < POLICY_DOMAIN_COUNT; d++) {
		assert_non_null(route_domain_examples(d, &n));
		assert_true(n >= 40);
		total += n;
		assert_non_null(route_domain_keywords(d, &n));
		assert_true(n >= 5);
	}
	assert_true(total >= 400);
}

/* The held-out corpus: prompts written apart from the built-in examples. */
static void test_route_heldout_accuracy(void **state)
{
	struct router rt = router_of(load_file(DOMAINS_POLICY));
	const struct route_model *m = rt.m;
	unsigned int n = 0, best_ok = 0, routed_ok = 0, to_default = 0;
	struct route_result res;
	char line[4096];
	FILE *f = fopen(HELDOUT, "r");

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_error_t jerr;
		json_t *doc = json_loads(line, 0, &jerr);
		const char *text, *label, *best;

		assert_non_null(doc);
		text = json_string_value(json_object_get(doc, "text"));
		label = json_string_value(json_object_get(doc, "label"));
		assert_non_null(text);
		assert_non_null(label);
		classify(m, text, &res);
		best = route_model_route_name(m, (uint32_t)res.best);
		n++;
		best_ok += !strcmp(best, label);
		routed_ok += !strcmp(res.name, label);
		to_default += res.route < 0;
		json_decref(doc);
	}
	fclose(f);
	printf("route: held-out accuracy %.1f%% (%u/%u prompts, 8 built-in domains); "
	       "at threshold %.2f %.1f%% routed right, %.1f%% to the default route\n",
	       100.0 * best_ok / n, best_ok, n, rt.p->router.threshold,
	       100.0 * routed_ok / n, 100.0 * to_default / n);
	assert_true(n >= 300);
	assert_true((double)best_ok / n >= ROUTE_ACCURACY_MIN);
	router_free(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_same_policy_gives_bit_identical_models),
		cmocka_unit_test(test_route_different_examples_give_different_models),
		cmocka_unit_test(test_route_low_confidence_goes_to_the_default_route),
		cmocka_unit_test(test_route_per_route_threshold_overrides_the_router),
		cmocka_unit_test(test_route_keywords_boost_whole_words_any_case),
		cmocka_unit_test(test_route_min_tokens_rule_takes_long_prompts),
		cmocka_unit_test(test_route_min_tokens_gates_a_learnt_route),
		cmocka_unit_test(test_route_user_examples_extend_a_domain),
		cmocka_unit_test(test_route_reads_any_bytes_of_any_length),
		cmocka_unit_test(test_route_model_new_needs_a_default_model),
		cmocka_unit_test(test_route_domains_are_named_and_large),
		cmocka_unit_test(test_route_heldout_accuracy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
