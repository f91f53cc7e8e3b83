/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Semantic router: picks a route (and so a model) for a prompt from what it
 * is about, in microseconds, with no model download.
 *
 * Features: the prompt is lowercased and its whitespace collapsed; character
 * 3-, 4- and 5-grams of that text, and its word unigrams and bigrams, are
 * hashed into 2^k dimensions, weighted by TF-IDF (IDF from the training
 * examples) and normalised (see struct route_sink in route.c).
 *
 * Model: multinomial logistic regression over the routes, trained when the
 * model is built by SGD with a fixed initialisation (zero), a fixed example
 * order (a permutation from a fixed-seed PRNG) and fixed epochs and learning
 * rate: the same policy gives bit-identical weights on every load.
 *
 * Decision, in order:
 *   1. rule routes (min_tokens set, nothing to learn from): the first whose
 *      min_tokens the prompt's estimated token count (bytes / 4) reaches wins
 *      with confidence 1;
 *   2. the classifier: logits, plus ROUTE_KEYWORD_BOOST for every route one
 *      of whose keywords (whole words, case-insensitive) the prompt holds;
 *      routes whose min_tokens the prompt does not reach are left out; a
 *      softmax gives each route's score;
 *   3. the best route is taken when its score reaches its threshold (its
 *      own, else the router's); otherwise the default route
 *      (the router's default_model) with low_confidence set.
 *
 * Remote embeddings (router.embeddings in the policy) are the caller's: when
 * a result has low_confidence and route_model_embeddings() is not NULL, the
 * proxy may ask that endpoint, within its timeout, and otherwise keeps the
 * local decision.
 *
 * Threads: a built model is read-only; route_classify() may run on any
 * number of threads at once. It allocates nothing and uses about
 * TG_ROUTE_TEXT_MAX + 4 KiB of stack.
 */
#ifndef TOLLGATE_ROUTE_H
#define TOLLGATE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tollgate/limits.h"

struct policy_router;
struct policy_embeddings;

/* Added to a route's logit when the prompt holds one of its keywords. */
#define ROUTE_KEYWORD_BOOST	2.0f
/* The estimated token count of a prompt: bytes / ROUTE_BYTES_PER_TOKEN. */
#define ROUTE_BYTES_PER_TOKEN	4

struct route_model;

struct route_result {
	int route;		/* index in the policy's routes; -1: the default */
	int best;		/* the best-scoring route, even when below threshold; -1: none */
	const char *name;	/* the route's name, "default" for the default */
	const char *model;	/* the model to call */
	float confidence;	/* score of `best` (1 for a rule route) */
	bool low_confidence;	/* no route reached its threshold */
	bool by_rule;		/* chosen by min_tokens alone */
	uint32_t n_scores;
	float scores[TG_SEMANTIC_ROUTES_MAX];	/* per route, sum 1 over eligible ones */
};

/* Trains a model for `r`. Borrows `r` (and its strings): it must outlive the
 * model. Returns NULL with errno set (EINVAL: no default_model or no routes,
 * ENOMEM) and a message in err. */
struct route_model *route_model_new(const struct policy_router *r, char *err,
				    size_t errlen);
/* NULL is a no-op. */
void route_model_free(struct route_model *m);

/* Classifies len bytes of text (any bytes; UTF-8 expected). Only the first
 * and last bytes of a long prompt are read (TG_ROUTE_TEXT_MAX in all), but
 * the token estimate uses the whole len. Always fills *res. */
void route_classify(const struct route_model *m, const char *text, size_t len,
		    struct route_result *res);

uint32_t route_model_n_routes(const struct route_model *m);
const char *route_model_route_name(const struct route_model *m, uint32_t i);
/* Hash dimensions the features are folded into (a power of two). */
uint32_t route_model_dim(const struct route_model *m);
/* XXH64 of the trained weights and biases: equal for equal models. */
uint64_t route_model_digest(const struct route_model *m);
/* The policy's remote embeddings endpoint, or NULL. */
const struct policy_embeddings *route_model_embeddings(const struct route_model *m);

/* Built-in domains (enum policy_route_domain): name ("code"), examples and
 * keywords. NULL / 0 for POLICY_DOMAIN_NONE and unknown values. */
const char *route_domain_name(int domain);
const char *const *route_domain_examples(int domain, uint32_t *n);
const char *const *route_domain_keywords(int domain, uint32_t *n);

#endif /* TOLLGATE_ROUTE_H */
