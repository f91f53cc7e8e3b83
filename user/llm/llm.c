// SPDX-License-Identifier: Apache-2.0
/*
 * LLM front doors: endpoint matching, caller identity, model resolution,
 * the request for the provider, and the built-in echo provider. The
 * response side is in llm_resp.c.
 */
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/asan.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sha256.h"
#include "guard/guard.h"
#include "obs/audit.h"
#include "obs/genai.h"
#include "llm/cache.h"
#include "llm/internal.h"
#include "llm/jwt.h"
#include "llm/sigv4.h"

/* ---- endpoints ------------------------------------------------------------------ */

static const struct {
	const char *path;
	enum llm_endpoint ep;
	int method;
} endpoints[] = {
	{ "/v1/chat/completions",	LLM_EP_CHAT,		HTTP1_METHOD_POST },
	{ "/v1/completions",		LLM_EP_COMPLETIONS,	HTTP1_METHOD_POST },
	{ "/v1/embeddings",		LLM_EP_EMBEDDINGS,	HTTP1_METHOD_POST },
	{ "/v1/models",			LLM_EP_MODELS,		HTTP1_METHOD_GET },
	{ "/v1/responses",		LLM_EP_RESPONSES,	HTTP1_METHOD_POST },
	{ "/v1/messages",		LLM_EP_MESSAGES,	HTTP1_METHOD_POST },
};

enum llm_endpoint llm_endpoint_match(const char *t, size_t len)
{
	size_t i, n;

	for (n = 0; n < len && t[n] != '?'; n++)
		;
	for (i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		if (strlen(endpoints[i].path) == n && !memcmp(t, endpoints[i].path, n))
			return endpoints[i].ep;
	return LLM_EP_NONE;
}

int llm_endpoint_method(enum llm_endpoint ep)
{
	size_t i;

	for (i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		if (endpoints[i].ep == ep)
			return endpoints[i].method;
	return HTTP1_METHOD_OTHER;
}

/* The provider-side path of an endpoint: "/chat/completions". */
const char *llm_endpoint_suffix(enum llm_endpoint ep)
{
	size_t i;

	for (i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		if (endpoints[i].ep == ep)
			return endpoints[i].path + 3;	/* past "/v1" */
	return "";
}

/* ---- providers ------------------------------------------------------------------------ */

bool llm_provider_url(const struct policy_provider *pv, struct policy_url *out)
{
	static const struct {
		enum policy_provider_type t;
		const char *host;
		const char *path;
	} defaults[] = {
		{ POLICY_PROVIDER_OPENAI,	"api.openai.com",			"/v1" },
		{ POLICY_PROVIDER_ANTHROPIC,	"api.anthropic.com",			"/v1" },
		{ POLICY_PROVIDER_GEMINI,	"generativelanguage.googleapis.com",	"/v1beta" },
	};
	size_t i;

	if (pv->base_url.host) {
		*out = pv->base_url;
		return true;
	}
	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (defaults[i].t == pv->type) {
			memset(out, 0, sizeof(*out));
			out->scheme = "https";
			out->tls = true;
			out->host = defaults[i].host;
			out->port = 443;
			out->path = defaults[i].path;
			out->text = defaults[i].host;
			return true;
		}
	return false;
}

/* ---- the key index ---------------------------------------------------------------- */

static int keyent_cmp(const void *a, const void *b)
{
	return memcmp(((const struct llm_keyent *)a)->h, ((const struct llm_keyent *)b)->h, 32);
}

struct llm_ctx *llm_ctx_new(const struct policy *p, char *err, size_t errlen)
{
	struct llm_ctx *ctx = calloc(1, sizeof(*ctx));
	uint32_t i, j, n = 0;

	if (!ctx)
		goto out_nomem;
	ctx->p = p;
	for (i = 0; i < p->n_tenants; i++)
		n += p->tenants[i].n_keys;
	ctx->keys = calloc(n ? n : 1, sizeof(*ctx->keys));
	if (!ctx->keys)
		goto out_nomem;
	for (i = 0; i < p->n_tenants; i++)
		for (j = 0; j < p->tenants[i].n_keys; j++) {
			struct llm_keyent *e = &ctx->keys[ctx->n_keys++];

			memcpy(e->h, p->tenants[i].keys[j].sha256, 32);
			e->t = &p->tenants[i];
			e->k = &p->tenants[i].keys[j];
		}
	qsort(ctx->keys, ctx->n_keys, sizeof(*ctx->keys), keyent_cmp);
	ctx->pstate = calloc(p->n_providers ? p->n_providers : 1, sizeof(*ctx->pstate));
	if (!ctx->pstate)
		goto out_nomem;
	for (i = 0; i < p->n_providers; i++)
		atomic_init(&ctx->pstate[i].retry_milli,
			    (int64_t)p->providers[i].backoff.budget_min * 1000);
	if (p->default_tenant)
		ctx->default_tenant = policy_tenant_find(p, p->default_tenant);
	if (p->jwt) {
		ctx->jwt = jwt_keys_load(p->jwt->jwks_file, err, errlen);
		if (!ctx->jwt) {
			int e = errno;

			llm_ctx_free(ctx);
			errno = e;
			return NULL;
		}
		for (i = 0; i < jwt_keys_skipped_count(ctx->jwt); i++)
			log_warn("jwt: %s: key skipped: %s", p->jwt->jwks_file,
				 jwt_keys_skipped(ctx->jwt, i));
	}
	for (i = 0; i < p->n_providers; i++)
		if (!policy_provider_available(&p->providers[i]))
			log_info("provider %s: its credentials are not set: off (optional); its models "
				 "answer from their fallbacks", p->providers[i].name);
	if (p->cache.enabled) {
		ctx->cache = llm_cache_new(p->cache.max_bytes, p->cache.max_entry_bytes);
		if (!ctx->cache) {
			snprintf(err, errlen, "cache: max_bytes %llu cannot hold an entry",
				 (unsigned long long)p->cache.max_bytes);
			llm_ctx_free(ctx);
			errno = EINVAL;
			return NULL;
		}
		llm_cache_set_max_entries(ctx->cache, p->cache.max_entries);
	}
	n = (uint32_t)llm_govern_init(ctx, err, errlen);
	if ((int)n < 0) {
		int e = -(int)n;

		llm_ctx_free(ctx);
		errno = e;
		return NULL;
	}
	return ctx;

out_nomem:
	llm_ctx_free(ctx);
	snprintf(err, errlen, "out of memory");
	errno = ENOMEM;
	return NULL;
}

struct llm_cache *llm_ctx_cache(const struct llm_ctx *ctx)
{
	return ctx ? ctx->cache : NULL;
}

void llm_ctx_free(struct llm_ctx *ctx)
{
	if (!ctx)
		return;
	llm_govern_fini(ctx);
	llm_cache_free(ctx->cache);
	jwt_keys_free(ctx->jwt);
	free(ctx->pstate);
	free(ctx->keys);
	free(ctx);
}

/* The key presented: "Authorization: Bearer K", or "x-api-key: K" (the
 * Anthropic SDK), or "api-key: K" (the Azure SDK). */
static bool find_key(const struct http1_message *m, struct http1_span *key)
{
	size_t i;

	for (i = 0; i < m->n_headers; i++) {
		const struct http1_header *h = &m->headers[i];

		if (http1_span_eq_nocase(h->name, "authorization", 13)) {
			if (h->value.len > 7 && !strncasecmp(h->value.p, "bearer ", 7)) {
				key->p = h->value.p + 7;
				key->len = h->value.len - 7;
				while (key->len && *key->p == ' ') {
					key->p++;
					key->len--;
				}
				return key->len > 0;
			}
		} else if (http1_span_eq_nocase(h->name, "x-api-key", 9) ||
			   http1_span_eq_nocase(h->name, "api-key", 7)) {
			*key = h->value;
			return key->len > 0;
		}
	}
	return false;
}

/* A source that keeps presenting bad keys ends up in the penalty box. */
static void auth_failed(struct llm_call *c, const struct sockaddr *sa)
{
	struct policy_cidr a = { 0 };

	if (!c->budget || !sa)
		return;
	if (sa->sa_family == AF_INET) {
		a.family = 4;
		a.len = 32;
		memcpy(a.addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		a.family = 6;
		a.len = 128;
		memcpy(a.addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else {
		return;
	}
	budget_auth_failed(c->budget, &a, budget_now());
}

/* What a thread keeps between calls, freed when the thread ends: the key
 * hashing context (SHA-256's final step wipes its input block, so no key
 * is left in it) and spare calls, so that a worker's calls reuse their
 * allocations rather than take and give back ~5 KB each (as many as are
 * usually in flight at once; more are freed). */
#define LLM_SPARE_CALLS	32

struct llm_tls {
	struct llm_call *spare[LLM_SPARE_CALLS];
	unsigned int n_spare;
};

static pthread_key_t llm_tls_key;
static pthread_once_t llm_tls_once = PTHREAD_ONCE_INIT;
static bool llm_tls_ok;

static void llm_tls_free(void *p)
{
	struct llm_tls *t = p;

	while (t->n_spare)
		free(t->spare[--t->n_spare]);
	free(t);
}

static void llm_tls_init(void)
{
	llm_tls_ok = pthread_key_create(&llm_tls_key, llm_tls_free) == 0;
}

/* NULL when it cannot be had (the callers then do without). */
static struct llm_tls *llm_tls(void)
{
	struct llm_tls *t;

	pthread_once(&llm_tls_once, llm_tls_init);
	if (!llm_tls_ok)
		return NULL;
	t = pthread_getspecific(llm_tls_key);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (t && pthread_setspecific(llm_tls_key, t)) {
			free(t);
			t = NULL;
		}
	}
	return t;
}

/* Looks the key up by its SHA-256. The search order depends only on the
 * hash, which says nothing usable about the key; the final comparison is
 * constant-time. (core/sha256.h: no EVP context to set up per request.) */
static const struct llm_keyent *key_lookup(const struct llm_ctx *ctx, struct http1_span key)
{
	struct llm_keyent probe;
	const struct llm_keyent *e;

	if (tg_sha256(key.p, key.len, probe.h))
		return NULL;
	e = bsearch(&probe, ctx->keys, ctx->n_keys, sizeof(*ctx->keys), keyent_cmp);
	if (e && CRYPTO_memcmp(e->h, probe.h, 32) == 0)
		return e;
	return NULL;
}

static bool name_in(const char *const *list, uint32_t n, const char *name)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

bool llm_model_allowed(const struct llm_call *c, const char *model)
{
	if (c->key && c->key->n_models)
		return name_in(c->key->models, c->key->n_models, model);
	if (c->tenant && c->tenant->n_models)
		return name_in(c->tenant->models, c->tenant->n_models, model);
	return true;
}

/* ---- JSON text helpers ---------------------------------------------------------------- */

/* snprintf(dst, cap, "%s", s) without printf: used on every call's path.
 * cap > 0. */
static void str_copy(char *dst, size_t cap, const char *s)
{
	size_t n = strnlen(s, cap - 1);

	memcpy(dst, s, n);
	dst[n] = '\0';
}

void llm_json_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run;

	buf_append(b, "\"", 1, SIZE_MAX);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char e[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };

		if (ch == '"' || ch == '\\') {
			char q[2] = { '\\', (char)ch };

			buf_append(b, q, 2, SIZE_MAX);
		} else if (ch < 0x20 || ch == 0x7f) {
			buf_append(b, e, 6, SIZE_MAX);
		} else {
			/* A run of bytes that need no escape goes in one append:
			 * names and ids are nearly always one such run. */
			for (run = 1; i + run < n; run++) {
				ch = (unsigned char)s[i + run];
				if (ch == '"' || ch == '\\' || ch < 0x20 || ch == 0x7f)
					break;
			}
			buf_append(b, &s[i], run, SIZE_MAX);
			i += run - 1;
		}
	}
	buf_append(b, "\"", 1, SIZE_MAX);
}

void llm_error_body(enum llm_endpoint ep, int status, const char *type,
		    const char *msg, struct buf *out)
{
	out->len = 0;
	if (ep == LLM_EP_MESSAGES) {
		/* Anthropic: {"type":"error","error":{"type":...,"message":...}} */
		buf_printf(out, SIZE_MAX, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
			   type);
		llm_json_str(out, msg, strlen(msg));
		buf_printf(out, SIZE_MAX, "}}\n");
		return;
	}
	buf_printf(out, SIZE_MAX, "{\"error\":{\"message\":");
	llm_json_str(out, msg, strlen(msg));
	buf_printf(out, SIZE_MAX, ",\"type\":\"%s\",\"param\":null,\"code\":%d}}\n", type, status);
}

static void local_error(struct llm_call *c, struct llm_out *out, int status,
			const char *type, const char *msg)
{
	out->act = LLM_ACT_LOCAL;
	out->status = status;
	out->ctype = "application/json";
	c->status = status;
	llm_error_body(c->ep, status, type, msg, &out->body);
}

/* Anthropic names its error types differently. */
static const char *etype(const struct llm_call *c, const char *openai, const char *anthropic)
{
	return c->ep == LLM_EP_MESSAGES ? anthropic : openai;
}

/* ---- /v1/models ---------------------------------------------------------------------------- */

/* Whether some target of m, or of its fallbacks, has its credentials. */
static bool model_servable(const struct policy *p, const struct policy_model *m, int depth)
{
	const struct policy_provider *pv;
	uint32_t i;

	for (i = 0; i <= m->n_targets; i++) {
		pv = policy_provider_find(p, i ? m->targets[i - 1].provider : m->provider);
		if (pv && policy_provider_available(pv))
			return true;
	}
	for (i = 0; depth < 2 && i < m->n_fallback; i++) {
		const struct policy_model *f = policy_model_find(p, m->fallback[i]);

		if (f && model_servable(p, f, depth + 1))
			return true;
	}
	return false;
}

static void models_list(struct llm_call *c, struct llm_out *out)
{
	const struct policy *p = c->ctx->p;
	uint32_t i;
	bool first = true;

	out->act = LLM_ACT_LOCAL;
	out->status = 200;
	out->ctype = "application/json";
	c->status = 200;
	buf_printf(&out->body, SIZE_MAX, "{\"object\":\"list\",\"data\":[");
	for (i = 0; i < p->n_models; i++) {
		const struct policy_model *m = &p->models[i];

		if (!llm_model_allowed(c, m->name) || !model_servable(p, m, 0))
			continue;
		buf_printf(&out->body, SIZE_MAX, "%s{\"id\":", first ? "" : ",");
		llm_json_str(&out->body, m->name, strlen(m->name));
		buf_printf(&out->body, SIZE_MAX, ",\"object\":\"model\",\"created\":0,\"owned_by\":");
		llm_json_str(&out->body, m->provider, strlen(m->provider));
		buf_printf(&out->body, SIZE_MAX, "}");
		first = false;
	}
	buf_printf(&out->body, SIZE_MAX, "]}\n");
}

/* ---- the provider request ---------------------------------------------------------------------- */

/* The provider request's head and the call's summary are built by appends
 * (no printf): both are made for every forwarded call. */
static int req_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s), SIZE_MAX);
}

#define req_lit(b, s) buf_append((b), (s), sizeof(s) - 1, SIZE_MAX)

#define req_u64(b, v) buf_append_u64((b), (v), SIZE_MAX)

/* Host field value of a provider URL: the port only when not the default. */
static int host_field(struct buf *b, const struct policy_url *u)
{
	int err = req_lit(b, "Host: ");

	err = err ? err : req_str(b, u->host);
	if (!((u->tls && u->port == 443) || (!u->tls && u->port == 80))) {
		err = err ? err : req_lit(b, ":");
		err = err ? err : req_u64(b, u->port);
	}
	return err ? err : req_lit(b, "\r\n");
}

static const char *secret(const struct policy_secret *s)
{
	return s && s->value ? s->value : NULL;
}

/* A rewritten request body to be written where it goes: the edits and
 * the length they give. */
struct rewrite {
	struct json_edit ed[2];
	size_t n;		/* 0: the body goes as it came */
	size_t len;
	bool planned;
};

/* The request body with the provider's model name, and usage asked for in
 * streams (stripped again on the way back when the caller did not ask):
 * the edits, and the length of the result. */
static int rewrite_plan(struct llm_call *c, const struct json_doc *doc, struct rewrite *rw)
{
	struct json_edit *ed = rw->ed;
	size_t n = 0, mlen = strlen(c->upstream_model);
	struct json_value so, iu, m;
	bool want_usage = false;
	int err;

	rw->planned = true;
	/* The caller's name is usually the provider's: no edit then. */
	if (json_find(doc, "model", &m) || m.kind != JSON_K_STRING ||
	    !json_str_eq(&m, c->upstream_model, mlen))
		ed[n++] = (struct json_edit){ .key = "model", .op = JSON_EDIT_SET,
					      .value = c->upstream_model,
					      .value_len = mlen, .is_string = true };
	if (c->stream && (c->ep == LLM_EP_CHAT || c->ep == LLM_EP_COMPLETIONS)) {
		if (json_find(doc, "stream_options", &so) == 0 && so.kind == JSON_K_OBJECT &&
		    json_obj_find(&so, "include_usage", 13, &iu) == 0)
			json_get_bool(&iu, &want_usage);
		if (!want_usage) {
			static const char iu_true[] = "{\"include_usage\":true}";

			ed[n++] = (struct json_edit){ .key = "stream_options",
						      .op = JSON_EDIT_MERGE, .value = iu_true,
						      .value_len = sizeof(iu_true) - 1 };
			c->usage_injected = true;
		}
	}
	rw->n = n;
	if (!n) {
		rw->len = doc->len;
		return 0;
	}
	err = json_rewrite(doc, ed, n, NULL, 0, &rw->len);
	return err == -ENOSPC ? 0 : err;
}

/* The planned body appended to `b`, in place (no copy through a
 * temporary buffer). */
static int rewrite_put(const struct json_doc *doc, const struct rewrite *rw, struct buf *b)
{
	size_t len = 0;
	int err = buf_reserve(b, rw->len, SIZE_MAX);

	if (err)
		return err;
	if (!rw->n) {
		memcpy(b->p + b->len, doc->buf, doc->len);
		b->len += doc->len;
		return 0;
	}
	err = json_rewrite(doc, rw->ed, rw->n, b->p + b->len, rw->len, &len);
	if (err)
		return err;
	if (len != rw->len)
		return -EIO;	/* cannot happen: the same edits, the same text */
	b->len += len;
	return 0;
}

static int rewrite_body(struct llm_call *c, const struct json_doc *doc, struct buf *out)
{
	struct rewrite rw;
	int err = rewrite_plan(c, doc, &rw);

	if (err)
		return err;
	buf_free(out);
	return rewrite_put(doc, &rw, out);
}

/* The wire format a provider type speaks. */
enum xl_dialect llm_provider_dialect(enum policy_provider_type t)
{
	switch (t) {
	case POLICY_PROVIDER_ANTHROPIC: return XL_ANTHROPIC;
	case POLICY_PROVIDER_GEMINI: return XL_GEMINI;
	case POLICY_PROVIDER_BEDROCK: return XL_BEDROCK;
	default: return XL_OPENAI;
	}
}

/* The request body for the provider: ours rewritten (the model, usage
 * asked for), or translated into the provider's format. With `rw`, a
 * rewrite is only planned there (rw->planned) and `body` left empty. */
static int provider_body(struct llm_call *c, const struct json_doc *doc, struct buf *body,
			 struct rewrite *rw)
{
	struct json_value so, iu;
	bool want_usage = false;
	char err[200];
	int r;

	c->xlate = false;
	if (llm_provider_dialect(c->provider->type) == llm_caller_dialect(c->ep) ||
	    (c->ep != LLM_EP_CHAT && c->ep != LLM_EP_MESSAGES))
		return rw ? rewrite_plan(c, doc, rw) : rewrite_body(c, doc, body);
	c->xlate = true;
	c->xl_to = llm_provider_dialect(c->provider->type);
	if (c->ep == LLM_EP_CHAT && c->stream) {
		/* A translated stream always ends with a usage chunk; one the
		 * caller did not ask for is dropped on the way back. */
		if (json_find(doc, "stream_options", &so) == 0 && so.kind == JSON_K_OBJECT &&
		    json_obj_find(&so, "include_usage", 13, &iu) == 0)
			json_get_bool(&iu, &want_usage);
		c->usage_injected = !want_usage;
	}
	err[0] = '\0';
	r = xl_request(llm_caller_dialect(c->ep), c->xl_to, doc->buf, doc->len, c->upstream_model,
		       c->stream, body, err, sizeof(err));
	if (r == -EINVAL)
		snprintf(c->xl_err, sizeof(c->xl_err), "%s", err[0] ? err :
			 "the request cannot be translated for this provider");
	return r;
}

/* Bedrock: the path names the model (URI-encoded: its ':' becomes %3A)
 * and the request is signed (SigV4, service "bedrock"). */
static int bedrock_head(struct llm_call *c, const struct policy_url *u, const struct buf *body,
			struct buf *req)
{
	const struct policy_provider *pv = c->provider;
	const char *id = secret(pv->access_key_id), *sk = secret(pv->secret_access_key);
	struct sigv4_signer *sg;
	struct sigv4_creds cr;
	struct sigv4_request r;
	char path[TG_NAME_MAX * 4 + 64], host[300], sig[1024];
	size_t n, hl, sl;
	int err;

	if (!id || !sk)
		return -ENOKEY;
	memcpy(path, "/model/", 7);
	n = 7 + sigv4_uri_encode(path + 7, sizeof(path) - 40, c->upstream_model,
				 strlen(c->upstream_model), false);
	if (n > sizeof(path) - 40)
		return -E2BIG;
	n += (size_t)snprintf(path + n, sizeof(path) - n, c->stream ? "/converse-stream" : "/converse");
	if ((u->tls && u->port == 443) || (!u->tls && u->port == 80))
		hl = (size_t)snprintf(host, sizeof(host), "%s", u->host);
	else
		hl = (size_t)snprintf(host, sizeof(host), "%s:%u", u->host, u->port);
	cr = (struct sigv4_creds){
		.access_key_id = { id, strlen(id) }, .secret_access_key = { sk, strlen(sk) },
		.region = { pv->region, strlen(pv->region) }, .service = { "bedrock", 7 },
	};
	r = (struct sigv4_request){
		.method = { "POST", 4 }, .path = { path, n }, .query = { "", 0 },
		.host = { host, hl }, .content_type = { "application/json", 16 },
		.body = body->p, .body_len = body->len, .when = time(NULL),
	};
	sg = malloc(sizeof(*sg));	/* large (it carries its buffers) */
	if (!sg)
		return -ENOMEM;
	err = sigv4_signer_init(sg, &cr);
	if (!err)
		err = sigv4_sign(sg, &r, sig, sizeof(sig), &sl);
	sigv4_signer_fini(sg);
	free(sg);
	if (err)
		return err;
	return buf_printf(req, SIZE_MAX, "POST %.*s HTTP/1.1\r\nHost: %s\r\n%.*s", (int)n, path,
			  host, (int)sl, sig);
}

/* The request for the provider: request line, Host, the provider's
 * credentials, our framing, the body (rewritten or translated). */
static int forward(struct llm_call *c, const struct json_doc *doc, struct llm_out *out)
{
	const struct policy_provider *pv = c->provider;
	const bool azure = pv->type == POLICY_PROVIDER_AZURE_OPENAI;
	const bool anthropic = pv->type == POLICY_PROVIDER_ANTHROPIC;
	const bool gemini = pv->type == POLICY_PROVIDER_GEMINI;
	const bool bedrock = pv->type == POLICY_PROVIDER_BEDROCK;
	struct policy_url u;
	const char *key = secret(pv->api_key);
	const char *suffix = llm_endpoint_suffix(c->ep);
	struct buf body = { 0 };
	struct rewrite rw = { .planned = false };
	size_t plen, blen;
	int err;

	if (!llm_provider_url(pv, &u))
		return -EDESTADDRREQ;
	if ((pv->api_key || anthropic || gemini) && !key)
		return -ENOKEY;
	/* A rewritten body goes straight after the head (Bedrock signs the
	 * body first, so it is made aside there). */
	err = provider_body(c, doc, &body, bedrock ? NULL : &rw);
	if (err)
		goto out_free;
	blen = rw.planned ? rw.len : body.len;
	/* One allocation for the head and the body (the head is well under
	 * a kilobyte but for a Bedrock signature or a long key). */
	err = buf_reserve(&out->req, 1024 + blen, SIZE_MAX);
	if (err)
		goto out_free;
	if (c->xlate && c->xl_to == XL_OPENAI)
		suffix = "/chat/completions";
	else if (c->xlate && c->xl_to == XL_ANTHROPIC)
		suffix = "/messages";
	/* base_url "https://api.openai.com/v1" + "/chat/completions" */
	plen = strlen(u.path);
	while (plen && u.path[plen - 1] == '/')
		plen--;
	if (bedrock)
		err = bedrock_head(c, &u, &body, &out->req);
	else if (gemini)
		err = buf_printf(&out->req, SIZE_MAX, "POST %.*s/models/%s:%s HTTP/1.1\r\n", (int)plen,
				 u.path, c->upstream_model,
				 c->stream ? "streamGenerateContent?alt=sse" : "generateContent");
	else if (azure)
		err = buf_printf(&out->req, SIZE_MAX,
				 "POST %.*s/openai/deployments/%s%s?api-version=%s HTTP/1.1\r\n",
				 (int)plen, u.path, c->upstream_model, suffix,
				 pv->api_version ? pv->api_version : "2024-10-21");
	else {
		err = req_lit(&out->req, "POST ");
		err = err ? err : buf_append(&out->req, u.path, plen, SIZE_MAX);
		err = err ? err : req_str(&out->req, suffix);
		err = err ? err : req_lit(&out->req, " HTTP/1.1\r\n");
	}
	if (err)
		goto out_free;
	if (!bedrock)
		host_field(&out->req, &u);
	if (anthropic)
		buf_printf(&out->req, SIZE_MAX, "x-api-key: %s\r\nanthropic-version: %s\r\n",
			   key, c->anthropic_version);
	else if (gemini)
		buf_printf(&out->req, SIZE_MAX, "x-goog-api-key: %s\r\n", key);
	else if (key && azure)
		buf_printf(&out->req, SIZE_MAX, "api-key: %s\r\n", key);
	else if (key && !bedrock) {
		req_lit(&out->req, "Authorization: Bearer ");
		req_str(&out->req, key);
		req_lit(&out->req, "\r\n");
	}
	err = req_lit(&out->req, "Content-Type: application/json\r\nAccept: ");
	err = err ? err : req_str(&out->req, !c->stream ? "application/json" :
				  bedrock ? "application/vnd.amazon.eventstream" :
				  "text/event-stream");
	err = err ? err : req_lit(&out->req, "\r\nUser-Agent: tollgate\r\nx-request-id: ");
	err = err ? err : req_str(&out->req, c->rid);
	err = err ? err : req_lit(&out->req, "\r\nContent-Length: ");
	err = err ? err : req_u64(&out->req, blen);
	err = err ? err : req_lit(&out->req, "\r\n\r\n");
	if (!err && rw.planned)
		err = rewrite_put(doc, &rw, &out->req);
	else if (!err)
		err = buf_append(&out->req, body.p, body.len, SIZE_MAX);
out_free:
	buf_free(&body);
	return err;
}

/* ---- the call ------------------------------------------------------------------------------------ */

static void header_value(const struct http1_message *m, const char *name,
			 char *out, size_t cap)
{
	size_t i, n = strlen(name);

	out[0] = '\0';
	for (i = 0; i < m->n_headers; i++)
		if (http1_span_eq_nocase(m->headers[i].name, name, n)) {
			snprintf(out, cap, "%.*s", (int)m->headers[i].value.len,
				 m->headers[i].value.p);
			return;
		}
}

/* Which front doors a provider type serves. */
bool llm_provider_speaks(enum policy_provider_type t, enum llm_endpoint ep)
{
	/* Chat completions and messages are translated for every provider. */
	if (ep == LLM_EP_CHAT || ep == LLM_EP_MESSAGES)
		return true;
	switch (t) {
	case POLICY_PROVIDER_OPENAI:
	case POLICY_PROVIDER_AZURE_OPENAI:
	case POLICY_PROVIDER_OPENAI_COMPATIBLE:
		return ep != LLM_EP_RESPONSES || t == POLICY_PROVIDER_OPENAI;
	case POLICY_PROVIDER_ECHO:
		return ep != LLM_EP_RESPONSES;
	default:
		return false;
	}
}

/* ---- candidates: targets, balancing, retries ------------------------------------------------- */

/* Target i of model m: 0 is the model's own provider, then m->targets. */
static const char *tgt_provider(const struct policy_model *m, uint32_t i)
{
	return i ? m->targets[i - 1].provider : m->provider;
}

static const char *tgt_upstream(const struct policy_model *m, uint32_t i)
{
	return i ? m->targets[i - 1].upstream : m->upstream ? m->upstream : m->name;
}

static uint32_t tgt_weight(const struct policy_model *m, uint32_t i)
{
	return i ? m->targets[i - 1].weight : m->weight;
}

/* Per thread: balancing and jitter need no more than xorshift. */
static uint64_t rnd(void)
{
	static __thread uint64_t s;

	if (!s) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&s;
		s |= 1;
	}
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

static struct llm_pstate *pstate(const struct llm_call *c, const struct policy_provider *pv)
{
	return &c->ctx->pstate[pv - c->ctx->p->providers];
}

/* Whether target i of m can take this call (known, allowed here, its
 * circuit closed unless `down_ok`). */
static const struct policy_provider *tgt_usable(const struct llm_call *c,
						const struct policy_model *m, uint32_t i,
						bool down_ok)
{
	const struct policy *p = c->ctx->p;
	const struct policy_provider *pv = policy_provider_find(p, tgt_provider(m, i));

	if (!pv || !llm_provider_speaks(pv->type, c->ep) || !policy_provider_available(pv))
		return NULL;
	if (!down_ok && c->provider_down &&
	    c->provider_down(c->down_arg, (uint32_t)(pv - p->providers)))
		return NULL;
	return pv;
}

/* Moves the call to target i of m (provider pv), with `tried` the targets
 * of m already tried. */
static void set_target(struct llm_call *c, const struct policy_model *m, uint32_t i,
		       const struct policy_provider *pv, uint32_t tried)
{
	struct llm_pstate *ps;
	int64_t cap;

	c->pmodel = m;
	c->tgt = i;
	c->tried = tried | 1u << i;
	c->provider = pv;
	c->upstream_model = tgt_upstream(m, i);
	str_copy(c->model, sizeof(c->model), m->name);
	c->retries_left = pv->retries;
	c->attempt = 0;
	if (c->dry)
		return;
	/* A first attempt earns the provider part of a retry. */
	ps = pstate(c, pv);
	cap = (int64_t)pv->backoff.budget_min * 1000;
	if (atomic_load_explicit(&ps->retry_milli, memory_order_relaxed) < cap)
		atomic_fetch_add_explicit(&ps->retry_milli,
					  (int64_t)(pv->backoff.budget_ratio * 1000),
					  memory_order_relaxed);
}

/* Moves the call to an untried target of m (bit i of `tried`) picked by
 * the model's balance; false, changing nothing, when none is usable. */
static bool take_target(struct llm_call *c, const struct policy_model *m, uint32_t tried,
			bool down_ok)
{
	const struct policy_provider *cpv[TG_TARGETS_MAX + 1], *pv;
	uint32_t n = m->n_targets + 1, i, cand[TG_TARGETS_MAX + 1], nc = 0, k = 0;
	uint64_t total = 0, r, best = UINT64_MAX;

	for (i = 0; i < n; i++)
		if (!(tried & (1u << i)) && (pv = tgt_usable(c, m, i, down_ok))) {
			cpv[nc] = pv;
			cand[nc++] = i;
		}
	if (!nc)
		return false;
	if (nc > 1 && m->balance == POLICY_BALANCE_LEAST_LATENCY) {
		/* One call in 16 goes anywhere, so a target that was slow once
		 * is measured again. */
		if ((rnd() & 15) == 0) {
			k = (uint32_t)(rnd() % nc);
		} else {
			for (i = 0; i < nc; i++) {
				uint64_t l = atomic_load_explicit(&pstate(c, cpv[i])->ewma_us,
								  memory_order_relaxed);

				if (l < best) {	/* unmeasured (0) first */
					best = l;
					k = i;
				}
			}
		}
	} else if (nc > 1) {
		for (i = 0; i < nc; i++)
			total += tgt_weight(m, cand[i]);
		/* Only zero weights left: in order (k = 0). */
		if (total) {
			r = rnd() % total;
			for (k = 0; k + 1 < nc && r >= tgt_weight(m, cand[k]); k++)
				r -= tgt_weight(m, cand[k]);
		}
	}
	set_target(c, m, cand[k], cpv[k], tried);
	return true;
}

/* A retry of the same target spends one from the provider's budget. */
static bool retry_budget_take(const struct llm_call *c)
{
	struct llm_pstate *ps = pstate(c, c->provider);
	int64_t v = atomic_load_explicit(&ps->retry_milli, memory_order_relaxed);

	while (v >= 1000)
		if (atomic_compare_exchange_weak_explicit(&ps->retry_milli, &v, v - 1000,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return true;
	return false;
}

/* Full jitter: a random wait up to base * 2^attempt, capped. */
static uint64_t backoff_ms(const struct policy_backoff *b, uint32_t attempt)
{
	uint64_t cap = b->base_ms << (attempt < 16 ? attempt : 16);

	if (cap > b->max_ms)
		cap = b->max_ms;
	return cap ? rnd() % (cap + 1) : 0;
}

/* The next usable fallback model of the call's first model, on one of its
 * targets: true when there was one. */
static bool next_fallback(struct llm_call *c)
{
	const struct policy *p = c->ctx->p;
	uint32_t i;

	for (i = c->fb_next; c->first && i < c->first->n_fallback; i++) {
		const struct policy_model *m = policy_model_find(p, c->first->fallback[i]);

		if (!m || !llm_model_allowed(c, m->name) || !take_target(c, m, 0, false))
			continue;
		c->fb_next = i + 1;
		return true;
	}
	return false;
}

/* Moves the call to its next candidate: the same target again (its
 * retries, after a jittered wait), another target of the model, then the
 * fallback models. A 429 moves on at once; the same target is asked again
 * only when nothing else is left and its Retry-After is short enough.
 * Sets c->delay_ms. Returns false, changing nothing, when none is left. */
static bool next_candidate(struct llm_call *c, int status, uint64_t retry_after_ms)
{
	const struct policy_backoff *b;
	bool limited = status == 429, ra_ok;

	c->delay_ms = 0;
	if (!c->provider)
		return false;
	b = &c->provider->backoff;
	ra_ok = retry_after_ms <= b->retry_after_max_ms;
	if (!limited && ra_ok && c->retries_left && retry_budget_take(c)) {
		c->retries_left--;
		c->delay_ms = backoff_ms(b, c->attempt++);
		if (retry_after_ms > c->delay_ms)
			c->delay_ms = retry_after_ms;
		return true;
	}
	if (c->pmodel && take_target(c, c->pmodel, c->tried, false))
		return true;
	if (next_fallback(c))
		return true;
	if (limited && retry_after_ms && ra_ok && c->retries_left && retry_budget_take(c)) {
		/* Nothing else: wait as the provider asked. */
		c->retries_left--;
		c->attempt++;
		c->delay_ms = retry_after_ms;
		return true;
	}
	return false;
}

bool llm_call_next(struct llm_call *c, int status, uint64_t retry_after_ms, struct llm_out *out)
{
	const struct policy *p = c->ctx->p;
	int err;

	if (!out) {
		/* A dry run on a copy: nothing of c changes (but a retry token,
		 * which the real call then finds spent: give it back). */
		struct llm_call tmp = *c;
		bool ok;

		tmp.dry = true;
		ok = next_candidate(&tmp, status, retry_after_ms);

		if (ok && tmp.retries_left < c->retries_left && tmp.provider == c->provider)
			atomic_fetch_add_explicit(&pstate(c, c->provider)->retry_milli, 1000,
						  memory_order_relaxed);
		return ok;
	}
	memset(out, 0, sizeof(*out));
	if (!next_candidate(c, status, retry_after_ms))
		return false;
	c->fallbacks++;
	c->usage = (struct llm_usage){ 0 };
	c->usage_injected = false;
	out->provider = (uint32_t)(c->provider - p->providers);
	out->delay_ms = c->delay_ms;
	if (c->provider->type == POLICY_PROVIDER_ECHO) {
		llm_echo(c, &c->doc, out);
		return true;
	}
	err = forward(c, &c->doc, out);
	if (err) {
		local_error(c, out, 502, etype(c, "api_error", "api_error"),
			    "the fallback request could not be written");
		return true;
	}
	out->act = LLM_ACT_FORWARD;
	return true;
}

void llm_call_latency(struct llm_call *c, uint64_t us)
{
	struct llm_pstate *ps;
	uint64_t old;

	if (!c || !c->provider)
		return;
	ps = pstate(c, c->provider);
	old = atomic_load_explicit(&ps->ewma_us, memory_order_relaxed);
	/* A moving average over about 8 answers; races between workers only
	 * lose a sample. */
	atomic_store_explicit(&ps->ewma_us, old ? old - old / 8 + us / 8 : (us ? us : 1),
			      memory_order_relaxed);
}

/* Limits and budgets before the call, on the estimate: 429 with
 * Retry-After naming the limit, or the tokens left as a header. */
static int admit(struct llm_call *c, struct llm_out *out)
{
	struct budget_verdict v;
	char msg[256];
	int r = budget_admit(c->budget, c->tenant->name, c->key ? c->key->name : NULL, c->est_in,
			     budget_now(), &c->ticket, &v);

	if (r)
		return 0;	/* not in the budget table (cannot happen): no limits */
	if (!v.ok) {
		c->limit_hit = budget_limit_name(v.limit);
		snprintf(msg, sizeof(msg), "%s limit of %s %s reached; retry in %u s",
			 c->limit_hit, v.scope == BUDGET_SCOPE_KEY ? "key" : "tenant",
			 v.scope == BUDGET_SCOPE_KEY && c->key ? c->key->name : c->tenant->name,
			 v.retry_after);
		local_error(c, out, 429, etype(c, "rate_limit_exceeded", "rate_limit_error"), msg);
		buf_printf(&out->headers, SIZE_MAX, "Retry-After: %u\r\n", v.retry_after);
		return 1;
	}
	if (v.remaining != BUDGET_UNLIMITED) {
		req_lit(&out->headers, "x-tollgate-tokens-remaining: ");
		req_u64(&out->headers, v.remaining);
		req_lit(&out->headers, "\r\n");
	}
	return 0;
}

static void take_rest(struct llm_call *c, struct llm_out *out);

static void take_request(struct llm_call *c, const struct llm_in *in, struct llm_out *out)
{
	struct json_doc *doc = &c->doc;
	struct json_value v;
	char msg[256];
	int err;

	if (in->msg->method_id != llm_endpoint_method(c->ep)) {
		local_error(c, out, 405, etype(c, "invalid_request_error", "invalid_request_error"),
			    "method not allowed on this endpoint");
		return;
	}
	if (c->ep == LLM_EP_MODELS) {
		models_list(c, out);
		return;
	}
	if (json_parse(doc, in->body, in->body_len, in->scratch)) {
		snprintf(msg, sizeof(msg), "request body is not valid JSON: %s at byte %zu",
			 json_strerror(doc->err.code), doc->err.offset);
		local_error(c, out, 400, "invalid_request_error", msg);
		return;
	}
	if (doc->root.kind != JSON_K_OBJECT) {
		local_error(c, out, 400, "invalid_request_error", "request body must be a JSON object");
		return;
	}
	if (json_find(doc, "model", &v) || v.kind != JSON_K_STRING ||
	    json_str_decode(&v, c->model, sizeof(c->model)) <= 0 ||
	    strlen(c->model) != strnlen(c->model, sizeof(c->model))) {
		local_error(c, out, 400, "invalid_request_error", "'model' is required and must be a string");
		return;
	}
	if (json_find(doc, "stream", &v) == 0 && json_get_bool(&v, &c->stream)) {
		local_error(c, out, 400, "invalid_request_error", "'stream' must be a boolean");
		return;
	}
	c->est_in = llm_estimate_tokens(in->body, in->body_len);
	str_copy(c->model_req, sizeof(c->model_req), c->model);
	header_value(in->msg, "anthropic-version", c->anthropic_version,
		     sizeof(c->anthropic_version));
	err = llm_route(c, doc);
	if (err < 0) {
		local_error(c, out, 503, etype(c, "api_error", "api_error"), "out of memory");
		return;
	}
	if (llm_embed_wanted(c)) {
		/* Not sure: ask the embeddings endpoint, asynchronously. */
		llm_embed_request(c, &out->req);
		out->act = LLM_ACT_EMBED;
		return;
	}
	take_rest(c, out);
}

uint64_t llm_embed_timeout_ms(const struct llm_ctx *ctx)
{
	return ctx->p->router.embeddings ? ctx->p->router.embeddings->timeout_ms : 0;
}

void llm_call_resume(struct llm_call *c, const char *body, size_t len, struct llm_out *out)
{
	memset(out, 0, sizeof(*out));
	llm_embed_choose(c, body, len);
	take_rest(c, out);
}

/* ---- the response cache ------------------------------------------------------------------ */

/* Whether the request's Cache-Control has `directive`. */
static bool cache_control_has(const struct http1_message *m, const char *directive)
{
	size_t i, n = strlen(directive);

	for (i = 0; i < m->n_headers; i++) {
		const struct http1_header *h = &m->headers[i];

		if (http1_span_eq_nocase(h->name, "cache-control", 13) &&
		    memmem(h->value.p, h->value.len, directive, n))
			return true;
	}
	return false;
}

/* An identical earlier call of the same tenant, answered from the cache:
 * true with `out` the stored answer. Otherwise the call may be stored when
 * it is answered (c->cache_store). Only whole (non-streamed) answers of
 * tenants that opted in; `Cache-Control: no-cache` skips the lookup,
 * `no-store` the storing. The key covers the tenant, the endpoint, the
 * model the call resolved to (and the Anthropic version) and the body as
 * the provider would get it (after redaction). */
static bool cache_lookup(struct llm_call *c, const struct json_doc *doc, struct llm_out *out)
{
	struct llm_cache_hit hit = { 0 };
	char model[sizeof(c->model) + 40];

	if (!c->ctx->cache || !c->tenant || !c->tenant->cache || c->stream ||
	    c->ep == LLM_EP_MODELS)
		return false;
	snprintf(model, sizeof(model), "%s\n%s", c->model, c->anthropic_version);
	if (llm_cache_key(c->cache_key, c->tenant->name, llm_endpoint_suffix(c->ep), model,
			  doc->buf, doc->len))
		return false;
	c->cache_store = !c->cc_no_store;
	if (c->cc_no_cache ||
	    llm_cache_get(c->ctx->cache, c->cache_key, clock_mono_ms(), &hit)) {
		c->cache_state = LLM_CACHE_MISS;
		buf_free(&hit.body);
		return false;
	}
	c->cache_state = LLM_CACHE_HIT;
	c->cache_store = false;
	c->status = 200;
	out->act = LLM_ACT_LOCAL;
	out->status = 200;
	out->ctype = strcmp(hit.content_type, "text/event-stream") ? "application/json" :
		     "text/event-stream";
	out->body = hit.body;
	buf_printf(&out->headers, SIZE_MAX, "x-tollgate-cache: hit\r\nAge: %llu\r\n",
		   (unsigned long long)(hit.age_ms / 1000));
	return true;
}

void llm_cache_offer(struct llm_call *c, const char *body, size_t len)
{
	const struct policy *p = c->ctx->p;
	struct llm_cache_resp r = {
		.status = 200, .content_type = "application/json", .body = body, .len = len,
		.tokens_in = c->usage.in, .tokens_out = c->usage.out, .tokens_cached = c->usage.cached,
	};

	if (!c->cache_store || c->status != 200 || c->mode != LLM_RESP_BUFFER || c->cut)
		return;
	c->cache_store = false;
	llm_cache_put(c->ctx->cache, c->cache_key, &r,
		      c->tenant->cache_ttl_ms ? c->tenant->cache_ttl_ms : p->cache.ttl_ms, clock_mono_ms());
}

/* After routing: the model, the guard, the limits, then the provider. */
static void take_rest(struct llm_call *c, struct llm_out *out)
{
	const struct policy *p = c->ctx->p;
	struct json_doc *doc = &c->doc;
	char msg[256];
	int err;

	if (c->route[0])
		buf_printf(&out->headers, SIZE_MAX,
			   "x-tollgate-route: %s\r\nx-tollgate-route-confidence: %.3f\r\n",
			   c->route, (double)c->route_confidence);
	c->pmodel = policy_model_find(p, c->model);
	if (!c->pmodel || !llm_model_allowed(c, c->model)) {
		/* Unknown and forbidden look the same, as at the providers. */
		snprintf(msg, sizeof(msg),
			 "The model '%.100s' does not exist or you do not have access to it.",
			 c->model);
		local_error(c, out, 404, etype(c, "invalid_request_error", "not_found_error"), msg);
		return;
	}
	c->first = c->pmodel;
	/* The balance's pick; when every target's circuit is open, or none
	 * is configured, straight to the first usable fallback; all down and
	 * no fallback: a target all the same. */
	if (!take_target(c, c->pmodel, 0, false)) {
		if (next_fallback(c)) {
			c->fallbacks++;
		} else if (!take_target(c, c->pmodel, 0, true)) {
			const struct policy_provider *pv = policy_provider_find(p, c->pmodel->provider);
			bool off = pv && !policy_provider_available(pv);

			snprintf(msg, sizeof(msg), off ?
				 "model '%.100s': its provider has no credentials configured" :
				 "model '%.100s' (provider type %s) is not served on this endpoint by this build",
				 c->model, pv ? policy_provider_type_name(pv->type) : "?");
			local_error(c, out, off ? 503 : 501,
				    etype(c, "invalid_request_error", "api_error"), msg);
			return;
		}
	}
	err = llm_guard(c, doc, &c->redacted);
	if (err < 0) {
		local_error(c, out, 503, etype(c, "api_error", "api_error"),
			    "the request could not be inspected");
		return;
	}
	if (err > 0) {
		snprintf(msg, sizeof(msg), "request blocked by policy: found %s", c->guard_found);
		local_error(c, out, 400, "invalid_request_error", msg);
		return;
	}
	if (c->budget && c->tenant && admit(c, out))
		return;
	if (c->redacted.len && json_parse(doc, c->redacted.p, c->redacted.len, c->scratch)) {
		/* Cannot happen: redaction keeps strings valid; refuse if it did. */
		local_error(c, out, 500, etype(c, "api_error", "api_error"),
			    "redaction produced an invalid body");
		return;
	}
	out->provider = (uint32_t)(c->provider - p->providers);
	if (!c->anthropic_version[0])
		str_copy(c->anthropic_version, sizeof(c->anthropic_version), "2023-06-01");
	if (cache_lookup(c, doc, out))
		return;
	if (c->provider->type == POLICY_PROVIDER_ECHO) {
		llm_echo(c, doc, out);
		return;
	}
	err = forward(c, doc, out);
	if (err == -EINVAL && c->xl_err[0]) {
		local_error(c, out, 400, "invalid_request_error", c->xl_err);
		return;
	}
	if (err == -ENOKEY) {
		log_error("provider %s: api_key %s is not set", c->provider->name,
			  c->provider->api_key ? c->provider->api_key->ref : "(none)");
		local_error(c, out, 502, etype(c, "api_error", "api_error"),
			    "the provider's credentials are not configured");
		return;
	}
	if (err) {
		local_error(c, out, err == -ENOMEM ? 503 : 400, "invalid_request_error",
			    "the request could not be rewritten for the provider");
		return;
	}
	out->act = LLM_ACT_FORWARD;
}

/* A JWT bearer token: verified against the policy's JWKS, its tenant
 * claim naming a policy tenant. 0, or -1 (the reason logged, never the
 * token). */
static int jwt_auth(struct llm_call *c, struct http1_span tok)
{
	const struct policy_jwt *pj = c->ctx->p->jwt;
	const struct jwt_opts o = {
		.issuer = pj->issuer, .audience = pj->audience,
		.leeway_s = (uint32_t)(pj->leeway_ms / 1000), .tenant_claim = pj->tenant_claim,
	};
	struct jwt_claims cl;
	const char *why = NULL;

	if (jwt_verify(c->ctx->jwt, tok.p, tok.len, &o, (int64_t)time(NULL), &cl, &why)) {
		log_info("request %s: jwt refused: %s", c->rid, why ? why : "?");
		return -1;
	}
	c->tenant = policy_tenant_find(c->ctx->p, cl.tenant);
	if (!c->tenant) {
		log_info("request %s: jwt refused: tenant claim names no policy tenant (kid %s)",
			 c->rid, cl.kid);
		return -1;
	}
	snprintf(c->subject, sizeof(c->subject), "jwt:%s", cl.sub);
	return 0;
}

struct llm_call *llm_call_new(const struct llm_in *in, struct llm_out *out)
{
	struct llm_tls *t = llm_tls();
	struct llm_call *c = t && t->n_spare ? t->spare[--t->n_spare] : NULL;
	struct http1_span key;

	memset(out, 0, sizeof(*out));
	if (c) {
		/* All but the request's table of top-level members (3 KiB of
		 * the ~5): json_parse() fills it, and reads stop at n_top. */
		size_t skip = offsetof(struct llm_call, doc.top),
		       rest = offsetof(struct llm_call, doc) + sizeof(c->doc);

		_Static_assert(offsetof(struct json_doc, top) + sizeof(c->doc.top) ==
			       sizeof(struct json_doc), "the table ends the doc");

		memset(c, 0, skip);
		memset((char *)c + rest, 0, sizeof(*c) - rest);
	} else if (!(c = calloc(1, sizeof(*c)))) {
		return NULL;
	}
	c->ctx = in->ctx;
	c->ep = in->ep;
	c->budget = in->budget;
	c->provider_down = in->provider_down;
	c->down_arg = in->down_arg;
	c->scratch = in->scratch;
	if (c->ctx->cache) {	/* only the response cache reads them */
		c->cc_no_cache = cache_control_has(in->msg, "no-cache");
		c->cc_no_store = cache_control_has(in->msg, "no-store");
	}
	str_copy(c->rid, sizeof(c->rid), in->rid);
	if (in->listener->auth != POLICY_AUTH_NONE) {
		const struct llm_keyent *e = NULL;

		if (!find_key(in->msg, &key)) {
			local_error(c, out, 401, etype(c, "invalid_request_error", "authentication_error"),
				    "No API key provided. Send it as 'Authorization: Bearer KEY'.");
			c->auth_failed = true;
			return c;
		}
		if (c->ctx->jwt && jwt_is_jwt(key.p, key.len)) {
			if (jwt_auth(c, key))
				goto out_auth_failed;
		} else {
			if (in->listener->auth == POLICY_AUTH_API_KEY)
				e = key_lookup(c->ctx, key);
			if (!e)
				goto out_auth_failed;
			c->tenant = e->t;
			c->key = e->k;
		}
	} else {
		c->tenant = c->ctx->default_tenant;
	}
	take_request(c, in, out);
	return c;

out_auth_failed:
	auth_failed(c, in->peer);
	local_error(c, out, 401, etype(c, "invalid_request_error", "authentication_error"),
		    "Incorrect API key provided.");
	c->auth_failed = true;
	return c;
}

void llm_out_fini(struct llm_out *out)
{
	buf_free(&out->body);
	buf_free(&out->req);
	buf_free(&out->headers);
}

int llm_call_status(const struct llm_call *c)
{
	return c ? c->status : 0;
}

const char *llm_call_provider(const struct llm_call *c)
{
	return c && c->provider ? c->provider->name : NULL;
}

/* Built by appends (req_lit, req_u64): it is built for every governed
 * request's access-log line. */
void llm_call_summary(const struct llm_call *c, struct buf *out)
{
	if (!c)
		return;
	req_lit(out, ",\"tenant\":");
	if (c->tenant)
		llm_json_str(out, c->tenant->name, strlen(c->tenant->name));
	else
		req_lit(out, "null");
	req_lit(out, ",\"key\":");
	if (c->key)
		llm_json_str(out, c->key->name, strlen(c->key->name));
	else if (c->subject[0])
		llm_json_str(out, c->subject, strlen(c->subject));
	else
		req_lit(out, "null");
	req_lit(out, ",\"model\":");
	llm_json_str(out, c->model, strlen(c->model));
	if (c->route[0]) {
		buf_printf(out, SIZE_MAX, ",\"model_requested\":");
		llm_json_str(out, c->model_req, strlen(c->model_req));
		buf_printf(out, SIZE_MAX, ",\"route\":");
		llm_json_str(out, c->route, strlen(c->route));
		buf_printf(out, SIZE_MAX, ",\"route_confidence\":%.3f,\"route_by\":\"%s\"",
			   (double)c->route_confidence,
			   c->route_by_embeddings ? "embeddings" : c->low_confidence ? "default" : "local");
	}
	if (c->guard_types || c->guard_verdict) {
		int t;
		bool first = true;

		buf_printf(out, SIZE_MAX, ",\"guard\":{\"verdict\":\"%s\",\"found\":[",
			   guard_verdict_name((enum guard_verdict)c->guard_verdict));
		for (t = 0; t < GUARD_T_COUNT; t++)
			if (c->guard_types & (1u << t)) {
				buf_printf(out, SIZE_MAX, "%s\"%s\"", first ? "" : ",",
					   guard_type_name((enum guard_type)t));
				first = false;
			}
		buf_printf(out, SIZE_MAX, "],\"injection_score\":%u}", c->injection_score);
	}
	if (c->cache_state == LLM_CACHE_HIT)
		req_lit(out, ",\"cache\":\"hit\"");
	else if (c->cache_state)
		req_lit(out, ",\"cache\":\"miss\"");
	req_lit(out, ",\"provider\":");
	if (c->provider)
		llm_json_str(out, c->provider->name, strlen(c->provider->name));
	else
		req_lit(out, "null");
	if (c->stream)
		req_lit(out, ",\"stream\":true,\"tokens_in\":");
	else
		req_lit(out, ",\"stream\":false,\"tokens_in\":");
	req_u64(out, c->usage.in);
	req_lit(out, ",\"tokens_out\":");
	req_u64(out, c->usage.out);
	req_lit(out, ",\"tokens_estimated\":");
	req_u64(out, c->est_in);
}

static const char *operation(enum llm_endpoint ep)
{
	switch (ep) {
	case LLM_EP_CHAT: return "chat";
	case LLM_EP_COMPLETIONS: return "text_completion";
	case LLM_EP_EMBEDDINGS: return "embeddings";
	case LLM_EP_MODELS: return "models";
	case LLM_EP_RESPONSES: return "responses";
	case LLM_EP_MESSAGES: return "messages";
	default: return "unknown";
	}
}

void llm_call_finish(struct llm_call *c, struct audit_log *al, struct genai *gm, int status,
		     uint64_t latency_us, uint64_t ttft_us)
{
	struct audit_guard_verdict gv[2];
	struct audit_record r = { 0 };
	uint64_t now = 0;	/* Unix ns: one clock reading for the charge and the audit line */
	uint32_t ng = 0;

	if (!c || c->finished)
		return;
	c->finished = true;
	if (c->ticket.active) {
		now = budget_now();
		if (!c->usage.seen && c->pieces) {
			/* A stream that broke or was cut before its usage came:
			 * charge what was delivered. */
			c->usage.in = c->est_in;
			c->usage.out = c->pieces;
			c->usage.seen = true;
		}
		if (c->usage.seen && c->pmodel) {
			struct budget_usage u = { .in = c->usage.in, .out = c->usage.out,
						  .cached_in = c->usage.cached };

			c->cost = (double)budget_charge(c->budget, &c->ticket, &u, &c->pmodel->price,
							 now) / 1e9;
			c->has_cost = true;
		} else {
			budget_release(c->budget, &c->ticket, now);
		}
	}
	if (gm && c->ep != LLM_EP_MODELS) {
		struct genai_call g = {
			.operation = operation(c->ep),
			.tenant = c->tenant ? c->tenant->name : NULL,
			.model = c->pmodel ? c->model : NULL,
			.provider = c->provider ? c->provider->name : NULL,
			.status = status, .usage = c->usage.seen,
			.tokens_in = c->usage.in, .tokens_out = c->usage.out,
			.duration_us = latency_us, .ttft_us = ttft_us,
			.refusal = c->auth_failed ? "auth" : c->limit_hit ? c->limit_hit :
				   c->guard_verdict == GUARD_BLOCK ? "guard" : NULL,
			.guard_types = c->guard_types,
			.guard_verdict = c->guard_types || c->guard_verdict ?
				guard_verdict_name((enum guard_verdict)c->guard_verdict) : NULL,
			.route = c->route[0] ? c->route : NULL,
		};

		genai_record(gm, &g);
	}
	if (!al || c->ep == LLM_EP_MODELS)
		return;
	r.time_ns = now ? now : clock_real_ns();
	r.request_id = c->rid;
	r.tenant = c->tenant ? c->tenant->name : NULL;
	r.key_id = c->key ? c->key->name : c->subject[0] ? c->subject : NULL;
	r.operation = operation(c->ep);
	r.model_requested = c->model_req[0] ? c->model_req : NULL;
	r.model_used = c->pmodel ? c->model : NULL;
	r.provider = c->provider ? c->provider->name : NULL;
	r.route = c->route[0] ? c->route : NULL;
	r.stream = c->stream;
	r.tokens_in = c->usage.in;
	r.tokens_out = c->usage.out;
	r.tokens_cached = c->usage.cached;
	r.has_cost = c->has_cost;
	r.cost = c->cost;
	r.latency_us = latency_us;
	r.has_ttft = ttft_us > 0;
	r.ttft_us = ttft_us;
	r.status = status;
	r.error = c->auth_failed ? "authentication" : c->limit_hit ? c->limit_hit :
		  c->cut ? "budget_exhausted_mid_stream" :
		  c->guard_verdict == GUARD_BLOCK ? "blocked_by_guard" :
		  status >= 400 ? "error" : NULL;
	if (c->guard_types || c->guard_verdict) {
		gv[ng].name = "request";
		gv[ng++].verdict = guard_verdict_name((enum guard_verdict)c->guard_verdict);
	}
	if (c->resp_guard_types) {
		gv[ng].name = "response";
		gv[ng++].verdict = "redact";
	}
	r.guards = gv;
	r.n_guards = ng;
	audit_write(al, &r);
}

void llm_call_free(struct llm_call *c)
{
#if !TG_ASAN
	struct llm_tls *t;
#endif

	if (!c)
		return;
	llm_call_finish(c, NULL, NULL, c->status, 0, 0);
	/* buf_free, not free: the blocks go back to the thread's cache. */
	buf_free(&c->rbuf);
	buf_free(&c->redacted);
	free(c->route_text);
	guard_stream_free(c->gstream);
	buf_free(&c->released);
	buf_free(&c->tmpl);
	free(c->sse_raw);
	free(c->sse_data);
	xl_stream_free(c->xs);
	buf_free(&c->xout);
#if !TG_ASAN	/* ASan builds free it: a use after free must show */
	t = llm_tls();
	if (t && t->n_spare < LLM_SPARE_CALLS) {
		t->spare[t->n_spare++] = c;
		return;
	}
#endif
	free(c);
}
