// SPDX-License-Identifier: Apache-2.0
/*
 * Governance of an LLM request before it leaves: the semantic router (the
 * model alias picks a route from the prompt) and the prompt guard (block,
 * redact or log what it finds in the messages). Both are built once per
 * policy, off the request path (route training, Hyperscan compilation).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "guard/guard.h"
#include "llm/internal.h"
#include "route/route.h"

int llm_govern_init(struct llm_ctx *ctx, char *err, size_t errlen)
{
	const struct policy *p = ctx->p;
	uint32_t i;

	ctx->guards = calloc(p->n_guards + 1, sizeof(*ctx->guards));
	if (!ctx->guards)
		return -ENOMEM;
	for (i = 0; i < p->n_guards; i++) {
		ctx->guards[i] = guard_new(&p->guards[i], err, errlen);
		if (!ctx->guards[i])
			return -errno;
		ctx->n_guards++;
	}
	if (p->router.alias && p->router.default_model && p->router.n_routes) {
		ctx->router = route_model_new(&p->router, err, errlen);
		if (!ctx->router)
			return -errno;
		return llm_embed_prepare(ctx, err, errlen);
	}
	return 0;
}

void llm_govern_fini(struct llm_ctx *ctx)
{
	uint32_t i;

	for (i = 0; i < ctx->n_guards; i++)
		guard_free(ctx->guards[i]);
	free(ctx->guards);
	ctx->guards = NULL;
	route_model_free(ctx->router);
	ctx->router = NULL;
	free(ctx->centroids);
	ctx->centroids = NULL;
}

static const struct guard *guard_named(const struct llm_ctx *ctx, const char *name)
{
	uint32_t i;

	for (i = 0; name && i < ctx->n_guards; i++)
		if (!strcmp(ctx->p->guards[i].name, name))
			return ctx->guards[i];
	return NULL;
}

/* ---- the text of a request --------------------------------------------------------------- */

/* Calls fn on every string a model reads as prompt text: messages[].content
 * (a string or the "text" of its parts), "system", "prompt", "input". */
typedef int (*text_fn)(void *arg, const struct json_value *s);

static int parts_each(const struct json_value *v, text_fn fn, void *arg)
{
	struct json_iter it;
	struct json_value part, text;
	int err;

	if (v->kind == JSON_K_STRING)
		return fn(arg, v);
	if (v->kind != JSON_K_ARRAY)
		return 0;
	json_iter_init(&it, v);
	while (json_iter_next(&it, NULL, &part)) {
		if (part.kind == JSON_K_STRING) {
			err = fn(arg, &part);
		} else if (part.kind == JSON_K_OBJECT &&
			   json_obj_find(&part, "text", 4, &text) == 0 && text.kind == JSON_K_STRING) {
			err = fn(arg, &text);
		} else {
			continue;
		}
		if (err)
			return err;
	}
	return 0;
}

static int prompt_each(const struct json_doc *doc, text_fn fn, void *arg)
{
	static const char *const direct[] = { "system", "prompt", "input", "instructions" };
	struct json_value v, m, content;
	struct json_iter it;
	size_t i;
	int err;

	for (i = 0; i < sizeof(direct) / sizeof(direct[0]); i++)
		if (json_find(doc, direct[i], &v) == 0 && (err = parts_each(&v, fn, arg)))
			return err;
	if (json_find(doc, "messages", &v) || v.kind != JSON_K_ARRAY)
		return 0;
	json_iter_init(&it, &v);
	while (json_iter_next(&it, NULL, &m))
		if (m.kind == JSON_K_OBJECT && json_obj_find(&m, "content", 7, &content) == 0 &&
		    (err = parts_each(&content, fn, arg)))
			return err;
	return 0;
}

/* ---- routing --------------------------------------------------------------------------------- */

struct last_user {
	struct json_value v;
	bool found;
};

static int take_last(void *arg, const struct json_value *s)
{
	struct last_user *lu = arg;

	lu->v = *s;
	lu->found = true;
	return 0;
}

/* The text the router reads: the last user message (or the prompt). */
static size_t route_text(const struct json_doc *doc, char *out, size_t cap)
{
	struct json_value v, m, role, content;
	struct json_iter it;
	struct last_user lu = { .found = false };
	ssize_t n;

	if (json_find(doc, "messages", &v) == 0 && v.kind == JSON_K_ARRAY) {
		json_iter_init(&it, &v);
		while (json_iter_next(&it, NULL, &m))
			if (m.kind == JSON_K_OBJECT && json_obj_find(&m, "role", 4, &role) == 0 &&
			    json_str_eq(&role, "user", 4) &&
			    json_obj_find(&m, "content", 7, &content) == 0)
				parts_each(&content, take_last, &lu);
	} else if (json_find(doc, "prompt", &v) == 0) {
		parts_each(&v, take_last, &lu);
	}
	if (!lu.found)
		return 0;
	n = json_str_decode(&lu.v, out, cap);
	if (n == -ENOSPC) {
		/* Long prompt: the router reads a bounded part anyway. */
		char *tmp = malloc(lu.v.len + 1);

		if (!tmp)
			return 0;
		n = json_str_decode(&lu.v, tmp, lu.v.len + 1);
		if (n > 0) {
			memcpy(out, tmp, cap - 1);
			n = (ssize_t)cap - 1;
		}
		free(tmp);
	}
	return n > 0 ? (size_t)n : 0;
}

int llm_route(struct llm_call *c, const struct json_doc *doc)
{
	const struct llm_ctx *ctx = c->ctx;
	struct route_result *res;
	char *text;
	size_t n;

	if (!ctx->router || !ctx->p->router.alias || strcmp(c->model, ctx->p->router.alias))
		return 0;
	res = malloc(sizeof(*res));
	text = malloc(TG_ROUTE_TEXT_MAX + 1);
	if (!res || !text) {
		free(res);
		free(text);
		return -ENOMEM;
	}
	n = route_text(doc, text, TG_ROUTE_TEXT_MAX + 1);
	route_classify(ctx->router, text, n, res);
	snprintf(c->route, sizeof(c->route), "%s", res->name);
	c->route_confidence = res->confidence;
	c->low_confidence = res->low_confidence;
	snprintf(c->model, sizeof(c->model), "%s", res->model);
	if (res->route >= 0)
		c->route_guard = ctx->p->router.routes[res->route].guard;
	free(res);
	if (c->low_confidence && ctx->centroids && n) {
		c->route_text = text;	/* for the embeddings call */
		c->route_text_len = n;
	} else {
		free(text);
	}
	return 1;
}

/* ---- the guard ----------------------------------------------------------------------------------- */

struct scan_state {
	const struct guard *g;
	struct guard_result r;
	uint32_t types;
	enum guard_verdict verdict;
	uint32_t injection_score;
	bool changed;
	/* redaction: the body rebuilt with redacted strings */
	const char *src;
	size_t copied;
	struct buf *out;
	int err;
};

/* Scans one string; with redaction, copies the body up to it and writes
 * the redacted string. Strings come in document order. */
static int scan_string(void *arg, const struct json_value *s)
{
	struct scan_state *st = arg;
	struct guard_buf gb = { 0 };
	int err;

	err = guard_redact_json_string(st->g, s->p + 1, s->len - 2, &st->r, guard_buf_emit, &gb);
	if (err) {
		free(gb.p);
		return err;
	}
	st->types |= st->r.types;
	if (st->r.verdict > st->verdict)
		st->verdict = st->r.verdict;
	if (st->r.injection_score > st->injection_score)
		st->injection_score = st->r.injection_score;
	if (st->out && st->r.n) {
		/* Everything before this string, then the redacted string. */
		err = buf_append(st->out, st->src + st->copied,
				 (size_t)(s->p + 1 - (st->src + st->copied)), SIZE_MAX);
		if (!err)
			err = buf_append(st->out, gb.p, gb.len, SIZE_MAX);
		st->copied = (size_t)(s->p + s->len - 1 - st->src);
		st->changed = true;
	}
	free(gb.p);
	return err;
}

/* The guard of a call: the route's, else the tenant's, else the default. */
const struct guard *llm_call_guard(const struct llm_call *c)
{
	const struct llm_ctx *ctx = c->ctx;
	const char *name = c->route_guard;

	if (!name && c->tenant)
		name = c->tenant->guard;
	if (!name)
		name = ctx->p->default_guard;
	return guard_named(ctx, name);
}

static void types_text(uint32_t types, char *out, size_t cap)
{
	size_t o = 0;
	int t;

	out[0] = '\0';
	for (t = 0; t < GUARD_T_COUNT && o + 1 < cap; t++)
		if (types & (1u << t))
			o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? ", " : "",
					      guard_type_name((enum guard_type)t));
}

int llm_guard(struct llm_call *c, const struct json_doc *doc, struct buf *redacted)
{
	struct scan_state st = { .g = llm_call_guard(c), .src = doc->buf };
	int err;

	if (!st.g)
		return 0;
	guard_result_init(&st.r);
	/* Pass 1 decides; only a redaction needs the body rebuilt. */
	err = prompt_each(doc, scan_string, &st);
	c->guard_types = st.types;
	c->guard_verdict = (int)st.verdict;
	c->injection_score = st.injection_score;
	if (!err && st.verdict == GUARD_REDACT) {
		struct scan_state st2 = { .g = st.g, .src = doc->buf, .out = redacted };

		guard_result_init(&st2.r);
		err = prompt_each(doc, scan_string, &st2);
		if (!err)
			err = buf_append(redacted, doc->buf + st2.copied, doc->len - st2.copied,
					 SIZE_MAX);
		guard_result_fini(&st2.r);
		if (!err && !st2.changed)
			redacted->len = 0;
	}
	guard_result_fini(&st.r);
	if (err)
		return err;
	if (st.verdict == GUARD_BLOCK) {
		types_text(st.types, c->guard_found, sizeof(c->guard_found));
		return 1;
	}
	return 0;
}

/* ---- responses ------------------------------------------------------------------------------------- */

/* The strings of an answer a caller reads: choices[].message.content,
 * choices[].text (OpenAI), content[].text (Anthropic), output_text. */
static int answer_each(const struct json_doc *doc, text_fn fn, void *arg)
{
	struct json_value v, ch, m, content;
	struct json_iter it;
	int err;

	if (json_find(doc, "choices", &v) == 0 && v.kind == JSON_K_ARRAY) {
		json_iter_init(&it, &v);
		while (json_iter_next(&it, NULL, &ch)) {
			if (ch.kind != JSON_K_OBJECT)
				continue;
			if (json_obj_find(&ch, "message", 7, &m) == 0 && m.kind == JSON_K_OBJECT &&
			    json_obj_find(&m, "content", 7, &content) == 0 &&
			    (err = parts_each(&content, fn, arg)))
				return err;
			if (json_obj_find(&ch, "text", 4, &content) == 0 &&
			    (err = parts_each(&content, fn, arg)))
				return err;
		}
	}
	if (json_find(doc, "content", &v) == 0 && (err = parts_each(&v, fn, arg)))
		return err;
	if (json_find(doc, "output_text", &v) == 0 && (err = parts_each(&v, fn, arg)))
		return err;
	return 0;
}

int llm_guard_answer(struct llm_call *c, const struct guard *g, const struct json_doc *doc,
		     struct buf *out)
{
	struct scan_state st = { .g = g, .src = doc->buf, .out = out };
	int err;

	guard_result_init(&st.r);
	err = answer_each(doc, scan_string, &st);
	if (!err)
		err = buf_append(out, doc->buf + st.copied, doc->len - st.copied, SIZE_MAX);
	guard_result_fini(&st.r);
	c->resp_guard_types |= st.types;
	return err;
}

/* The text delta of a streamed event: choices[0].delta.content (OpenAI
 * chat), choices[0].text (OpenAI completions), delta.text (Anthropic). */
bool llm_event_text(const struct json_doc *doc, struct json_value *s)
{
	struct json_value v, ch, d;
	struct json_iter it;

	if (json_find(doc, "choices", &v) == 0 && v.kind == JSON_K_ARRAY) {
		json_iter_init(&it, &v);
		if (!json_iter_next(&it, NULL, &ch) || ch.kind != JSON_K_OBJECT)
			return false;
		if (json_obj_find(&ch, "delta", 5, &d) == 0 && d.kind == JSON_K_OBJECT &&
		    json_obj_find(&d, "content", 7, s) == 0 && s->kind == JSON_K_STRING)
			return true;
		return json_obj_find(&ch, "text", 4, s) == 0 && s->kind == JSON_K_STRING;
	}
	return json_find(doc, "delta", &d) == 0 && d.kind == JSON_K_OBJECT &&
	       json_obj_find(&d, "text", 4, s) == 0 && s->kind == JSON_K_STRING;
}
