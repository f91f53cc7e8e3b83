// SPDX-License-Identifier: Apache-2.0
/*
 * ns per request of the hot-path JSON scanner and rewriter against jansson,
 * on the same 1.3 KB chat-completion request, in the same process:
 *
 *   find     ours: json_parse() (full validation: UTF-8, duplicate keys)
 *            + json_find() of model, stream, messages + decode model, read
 *            stream, walk messages
 *            jansson: json_loadb(JSON_REJECT_DUPLICATES) + the same lookups
 *   rewrite  ours: the above + json_rewrite() setting model and merging
 *            {"include_usage":true} into stream_options
 *            jansson: the above + the same edits + json_dumpb()
 *
 * Each figure is the best of ROUNDS short rounds (wall clock,
 * CLOCK_MONOTONIC; ours and jansson's interleaved, each round about a
 * millisecond so that the best ones ran unpreempted on a shared VM).
 * Not part of `make test`: `make bench-json`; figures go to
 * docs/benchmarks.md by hand.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/json.h"

#define ROUNDS		100
#define ITERS		1000	/* jansson: a tenth, about as long */

/* An OpenAI SDK chat request as sent (compact, keys in the SDK's order):
 * a system prompt, three turns, one tool; 1.3 KB. */
static const char request[] =
	"{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful "
	"assistant for an online bookshop. Answer in at most three sentences, "
	"cite the catalogue number when you mention a book, and never invent "
	"prices.\"},{\"role\":\"user\",\"content\":\"Hi! I am looking for a "
	"gift for my father, who likes naval history and long novels. Do you "
	"have anything set during the Napoleonic wars?\"},{\"role\":\"assistant\","
	"\"content\":\"Patrick O'Brian's \\\"Master and Commander\\\" (cat. "
	"no. 4471) opens a twenty-volume series about the Royal Navy during "
	"the Napoleonic wars; C. S. Forester's Hornblower novels (cat. no. "
	"3920) are another favourite.\"},{\"role\":\"user\",\"content\":\"Which "
	"of the two is better to start with, and is there a box set? He reads "
	"in English and in Fran\\u00e7ais.\"}],\"model\":\"gpt-4o-mini\","
	"\"frequency_penalty\":0,\"max_tokens\":400,\"n\":1,"
	"\"parallel_tool_calls\":true,\"presence_penalty\":0,"
	"\"response_format\":{\"type\":\"text\"},\"seed\":42,\"stream\":true,\"temperature\":0.7,"
	"\"tool_choice\":\"auto\",\"tools\":[{\"type\":\"function\",\"function\":"
	"{\"name\":\"lookup_catalogue\",\"description\":\"Look a book up in the "
	"catalogue by title or number\",\"parameters\":{\"type\":\"object\","
	"\"properties\":{\"query\":{\"type\":\"string\",\"description\":\"A title, "
	"an author or a catalogue number\"},\"in_stock_only\":{\"type\":"
	"\"boolean\"}},\"required\":[\"query\"]}}}],\"top_p\":1,\"user\":"
	"\"user-8f3a2c\"}";

static struct json_scratch scratch;
static volatile size_t sink;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Ours: validate, find model/stream/messages, read them. */
static int ours_find(struct json_doc *doc)
{
	struct json_value model, stream, msgs, m;
	struct json_iter it;
	char name[128];
	size_t n = 0;
	bool b;

	if (json_parse(doc, request, sizeof(request) - 1, &scratch) ||
	    json_find(doc, "model", &model) ||
	    json_find(doc, "stream", &stream) ||
	    json_find(doc, "messages", &msgs) ||
	    json_str_decode(&model, name, sizeof(name)) < 0 ||
	    json_get_bool(&stream, &b))
		return -1;
	json_iter_init(&it, &msgs);
	while (json_iter_next(&it, NULL, &m))
		n++;
	sink += n + (size_t)b + (size_t)name[0];
	return 0;
}

static const char usage[] = "{\"include_usage\":true}";
static const struct json_edit edits[] = {
	{ .key = "model", .op = JSON_EDIT_SET, .value = "gpt-4o-2024-08-06",
	  .value_len = 17, .is_string = true },
	{ .key = "stream_options", .op = JSON_EDIT_MERGE, .value = usage,
	  .value_len = sizeof(usage) - 1 },
};

static int ours_rewrite(void)
{
	static char out[4096];
	struct json_doc doc;
	size_t len;

	if (ours_find(&doc) ||
	    json_rewrite(&doc, edits, 2, out, sizeof(out), &len))
		return -1;
	sink += len;
	return 0;
}

static int jansson_find(json_t **rootp)
{
	json_t *root, *model, *stream, *msgs;
	json_error_t err;
	size_t n;

	root = json_loadb(request, sizeof(request) - 1,
			  JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return -1;
	model = json_object_get(root, "model");
	stream = json_object_get(root, "stream");
	msgs = json_object_get(root, "messages");
	if (!json_is_string(model) || !json_is_boolean(stream) ||
	    !json_is_array(msgs)) {
		json_decref(root);
		return -1;
	}
	n = json_array_size(msgs);
	sink += n + (size_t)json_is_true(stream) +
		(size_t)json_string_value(model)[0];
	*rootp = root;
	return 0;
}

static int jansson_find_only(void)
{
	json_t *root;

	if (jansson_find(&root))
		return -1;
	json_decref(root);
	return 0;
}

static int jansson_rewrite(void)
{
	static char out[4096];
	json_t *root, *so;
	size_t len;

	if (jansson_find(&root))
		return -1;
	json_object_set_new(root, "model", json_string("gpt-4o-2024-08-06"));
	so = json_object_get(root, "stream_options");
	if (json_is_object(so))
		json_object_set_new(so, "include_usage", json_true());
	else
		json_object_set_new(root, "stream_options",
				    json_pack("{s:b}", "include_usage", 1));
	len = json_dumpb(root, out, sizeof(out), JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!len || len > sizeof(out))
		return -1;
	sink += len;
	return 0;
}

static int ours_find_only(void)
{
	struct json_doc doc;

	return ours_find(&doc);
}

struct bench_case {
	const char *name;
	int (*ours)(void);
	int (*jansson)(void);
	double ours_ns, jansson_ns;
};

/* ns per call of one short round (about a millisecond, so that most
 * rounds run without being preempted); negative when a call fails. */
static double round_ns(int (*fn)(void), int iters)
{
	double t = now_ns();
	int i;

	for (i = 0; i < iters; i++)
		if (fn())
			return -1;
	return (now_ns() - t) / iters;
}

static void keep_best(double *best, double t)
{
	if (*best < 0 || t < *best)
		*best = t;
}

int main(void)
{
	struct bench_case cases[] = {
		{ "find", ours_find_only, jansson_find_only, -1, -1 },
		{ "rewrite", ours_rewrite, jansson_rewrite, -1, -1 },
	};
	size_t c;
	int r;

	/* Warm both up (and fail early if either refuses the request). */
	if (ours_rewrite() || jansson_rewrite()) {
		fprintf(stderr, "bench_json: the request was refused\n");
		return 1;
	}
	/* Rounds interleaved, so both parsers see the same machine. */
	for (r = 0; r < ROUNDS; r++) {
		for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			double o = round_ns(cases[c].ours, ITERS);
			double j = round_ns(cases[c].jansson, ITERS / 10);

			if (o < 0 || j < 0) {
				fprintf(stderr, "bench_json: a run failed\n");
				return 1;
			}
			keep_best(&cases[c].ours_ns, o);
			keep_best(&cases[c].jansson_ns, j);
		}
	}
	printf("request: %zu bytes, best of %d interleaved rounds\n",
	       sizeof(request) - 1, ROUNDS);
	printf("%-8s %12s %12s %8s\n", "case", "tollgate ns", "jansson ns",
	       "ratio");
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		printf("%-8s %12.0f %12.0f %7.1fx\n", cases[c].name,
		       cases[c].ours_ns, cases[c].jansson_ns,
		       cases[c].jansson_ns / cases[c].ours_ns);
	printf("rewrite alone (rewrite - find): tollgate %.0f ns, jansson %.0f ns\n",
	       cases[1].ours_ns - cases[0].ours_ns,
	       cases[1].jansson_ns - cases[0].jansson_ns);
	return 0;
}
