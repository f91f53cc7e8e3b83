// SPDX-License-Identifier: Apache-2.0
/*
 * Semantic routing latency (make bench-route): route_classify() p50/p99
 * for prompts under 200 bytes, of 200 bytes and of 2 KB, with 8 routes
 * (the built-in domains), 32 routes (the same examples dealt over four
 * routes per domain) and, when the dataset is there, 150 routes (CLINC150's
 * intents), plus the time to train each model. Prompts are a pool of
 * different texts from the held-out corpus, cycled, so the caches see
 * what a gateway sees rather than one prompt over and over.
 *
 *   build/bench/bench_route [ITERATIONS]     (from the repository root)
 *
 * Targets (issue 6): <= 5 us p50 under 200 bytes, <= 50 us p50 at 2 KB.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"
#include "route/route.h"

#define HELDOUT		"tests/data/route/heldout.jsonl"
#define CLINC		"../shared/datasets/clinc150/data_full.json"
#define POOL		256

static char *texts[1024];
static size_t n_texts;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int load_texts(void)
{
	char line[4096];
	FILE *f = fopen(HELDOUT, "r");

	if (!f)
		return -errno;
	while (n_texts < sizeof(texts) / sizeof(texts[0]) && fgets(line, sizeof(line), f)) {
		json_t *doc = json_loads(line, 0, NULL);
		const char *t = json_string_value(json_object_get(doc, "text"));

		if (t)
			texts[n_texts++] = strdup(t);
		json_decref(doc);
	}
	fclose(f);
	return n_texts ? 0 : -ENODATA;
}

/* POOL prompts of exactly `size` bytes, each a run of held-out prompts
 * starting at a different one; size 0: the held-out prompts as they are. */
static char **make_pool(size_t size, size_t *lens)
{
	char **pool = calloc(POOL, sizeof(*pool));

	for (size_t i = 0; i < POOL; i++) {
		size_t k = (i * 7) % n_texts, off = 0;

		if (!size) {
			pool[i] = strdup(texts[i % n_texts]);
			lens[i] = strlen(pool[i]);
			continue;
		}
		pool[i] = malloc(size + 1);
		while (off < size) {
			size_t l = strlen(texts[k]), take = l + 1 < size - off ? l + 1 : size - off;

			memcpy(pool[i] + off, texts[k], take - (take > l ? 1 : 0));
			if (take > l)
				pool[i][off + l] = ' ';
			off += take;
			k = (k + 1) % n_texts;
		}
		pool[i][size] = '\0';
		lens[i] = size;
	}
	return pool;
}

static void bench(const char *label, const struct route_model *m, size_t size,
		  unsigned int iters)
{
	size_t lens[POOL], total = 0;
	char **pool = make_pool(size, lens);
	double *lat = malloc(iters * sizeof(*lat));
	struct route_result res;
	volatile int sink = 0;
	char what[48];

	for (unsigned int i = 0; i < POOL; i++)	/* warm up */
		route_classify(m, pool[i], lens[i], &res);
	for (unsigned int i = 0; i < iters; i++) {
		double t0 = now_ns();

		route_classify(m, pool[i % POOL], lens[i % POOL], &res);
		lat[i] = now_ns() - t0;
		sink += res.route;
	}
	for (unsigned int i = 0; i < POOL; i++)
		total += lens[i];
	qsort(lat, iters, sizeof(*lat), cmp_double);
	if (size)
		snprintf(what, sizeof(what), "%zu B", size);
	else
		snprintf(what, sizeof(what), "held-out, %zu B avg", total / POOL);
	printf("| %-10s | %6u | %-18s | %7.2f | %7.2f |\n", label, route_model_n_routes(m),
	       what, lat[iters / 2] / 1e3, lat[iters * 99 / 100] / 1e3);
	(void)sink;
	for (unsigned int i = 0; i < POOL; i++)
		free(pool[i]);
	free(pool);
	free(lat);
}

static struct route_model *train(const struct policy *p, const char *label)
{
	char err[256];
	double t0 = now_ns();
	struct route_model *m = route_model_new(&p->router, err, sizeof(err));

	if (!m) {
		fprintf(stderr, "bench_route: %s: %s\n", label, err);
		exit(1);
	}
	fprintf(stderr, "%s: %u routes, %u dimensions, trained in %.1f ms\n", label,
		route_model_n_routes(m), route_model_dim(m), (now_ns() - t0) / 1e6);
	return m;
}

static struct policy *load(const char *name, const char *yaml, size_t len)
{
	struct policy_diags d;
	struct policy *p;

	policy_diags_init(&d);
	p = policy_load_buffer(name, yaml, len, POLICY_LOAD_NO_INCLUDE, &d);
	if (!p) {
		policy_diags_print(&d, stderr);
		exit(1);
	}
	policy_diags_fini(&d);
	return p;
}

#define PREAMBLE							\
	"version: 1\n"							\
	"listeners:\n  - name: local\n    address: 127.0.0.1:1\n"	\
	"providers:\n  - name: sim\n    type: openai\n"		\
	"    base_url: http://127.0.0.1:9/v1\n"				\
	"models:\n  - name: m\n    provider: sim\n  - name: fallback\n    provider: sim\n" \
	"router:\n  default_model: fallback\n  routes:\n"

/* A YAML double-quoted scalar: JSON's escaping is a subset of YAML's. */
static void put_quoted(FILE *f, const char *s)
{
	char *q = json_dumps(json_string(s), JSON_ENCODE_ANY);

	fprintf(f, "%s", q);
	free(q);
}

/* 32 routes: each domain's examples dealt round-robin over four routes. */
static struct policy *policy_32(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct policy *p;

	fputs(PREAMBLE, f);
	for (int d = POLICY_DOMAIN_NONE + 1; d < POLICY_DOMAIN_COUNT; d++) {
		uint32_t n;
		const char *const *ex = route_domain_examples(d, &n);

		for (uint32_t part = 0; part < 4; part++) {
			fprintf(f, "    - name: %s-%u\n      model: m\n      examples:\n",
				route_domain_name(d), part);
			for (uint32_t i = part; i < n; i += 4) {
				fputs("        - ", f);
				put_quoted(f, ex[i]);
				fputc('\n', f);
			}
		}
	}
	fclose(f);
	p = load("32.yaml", buf, len);
	free(buf);
	return p;
}

/* 150 routes, one per CLINC150 intent, from its train split; NULL when the
 * dataset is not there. */
static struct policy *policy_clinc(void)
{
	json_t *data = json_load_file(CLINC, 0, NULL), *train, *item, *texts_of;
	const char *intent;
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;
	struct policy *p;

	if (!data)
		return NULL;
	train = json_object_get(data, "train");
	texts_of = json_object();
	json_array_foreach(train, i, item) {
		const char *label = json_string_value(json_array_get(item, 1));
		json_t *list = json_object_get(texts_of, label);

		if (!list) {
			list = json_array();
			json_object_set_new(texts_of, label, list);
		}
		json_array_append(list, json_array_get(item, 0));
	}
	f = open_memstream(&buf, &len);
	fputs(PREAMBLE, f);
	json_object_foreach(texts_of, intent, item) {
		json_t *t;
		size_t k;

		fprintf(f, "    - name: %s\n      model: m\n      examples:\n", intent);
		json_array_foreach(item, k, t) {
			fputs("        - ", f);
			put_quoted(f, json_string_value(t));
			fputc('\n', f);
		}
	}
	fclose(f);
	p = load("clinc.yaml", buf, len);
	free(buf);
	json_decref(texts_of);
	json_decref(data);
	return p;
}

int main(int argc, char **argv)
{
	unsigned int iters = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 10) : 50000;
	struct policy_diags d;
	struct policy *p8, *p32, *p150;
	struct route_model *m8, *m32, *m150 = NULL;
	static const size_t sizes[] = { 0, 200, 2048 };

	if (load_texts()) {
		fprintf(stderr, "bench_route: cannot read %s (run from the repository root)\n", HELDOUT);
		return 1;
	}
	policy_diags_init(&d);
	p8 = policy_load_file("tests/data/route/domains.yaml", POLICY_LOAD_DEFAULT, &d);
	policy_diags_fini(&d);
	if (!p8) {
		fprintf(stderr, "bench_route: cannot load tests/data/route/domains.yaml\n");
		return 1;
	}
	p32 = policy_32();
	p150 = policy_clinc();
	m8 = train(p8, "8 routes (built-in domains)");
	m32 = train(p32, "32 routes (domains x 4)");
	if (p150)
		m150 = train(p150, "150 routes (CLINC150)");
	else
		fprintf(stderr, "150 routes: %s not found, skipped\n", CLINC);

	printf("| policy     | routes | prompt             | p50 us  | p99 us  |\n");
	printf("|------------|--------|--------------------|---------|---------|\n");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		bench("domains", m8, sizes[s], iters);
		bench("domains x4", m32, sizes[s], iters);
		if (m150)
			bench("clinc150", m150, sizes[s], iters);
	}

	route_model_free(m8);
	route_model_free(m32);
	route_model_free(m150);
	policy_unref(p8);
	policy_unref(p32);
	policy_unref(p150);
	for (size_t i = 0; i < n_texts; i++)
		free(texts[i]);
	return 0;
}
