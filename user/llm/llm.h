/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The LLM front doors (OpenAI- and Anthropic-compatible) and the provider
 * adapters behind them. The proxy hands a request here once its body is
 * in; this module authenticates the caller, resolves the model, and either
 * answers at once (an error, /v1/models, the built-in echo provider) or
 * returns the request to send to the provider. The provider's answer then
 * comes back through llm_resp_*(), which read the usage (streaming
 * included) and may rewrite the body before the client sees it.
 *
 * Nothing here touches a socket: the proxy moves the bytes. See docs/llm.md.
 */
#ifndef TOLLGATE_LLM_H
#define TOLLGATE_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/http1.h"
#include "policy/policy.h"

struct budget;
struct sockaddr;

struct json_scratch;

enum llm_endpoint {
	LLM_EP_NONE = 0,
	LLM_EP_CHAT,		/* POST /v1/chat/completions */
	LLM_EP_COMPLETIONS,	/* POST /v1/completions */
	LLM_EP_EMBEDDINGS,	/* POST /v1/embeddings */
	LLM_EP_MODELS,		/* GET  /v1/models */
	LLM_EP_RESPONSES,	/* POST /v1/responses */
	LLM_EP_MESSAGES,	/* POST /v1/messages (Anthropic) */
};

/* The front-door endpoint a request target names (the query ignored). */
enum llm_endpoint llm_endpoint_match(const char *target, size_t len);
/* The method the endpoint takes: HTTP1_METHOD_GET or _POST. */
int llm_endpoint_method(enum llm_endpoint ep);

/* Where a provider is: its base_url, or the type's default (api.openai.com
 * and api.anthropic.com over https with path "/v1", Gemini's and Bedrock's
 * hosts). False when it has none (echo; azure_openai without base_url,
 * which the loader refuses). The strings are static or the policy's. */
bool llm_provider_url(const struct policy_provider *pv, struct policy_url *out);

/* Per policy: the key index. Built off the event loop with the proxy's
 * configuration. */
struct llm_ctx;
struct llm_ctx *llm_ctx_new(const struct policy *p, char *err, size_t errlen);
void llm_ctx_free(struct llm_ctx *ctx);
/* The policy generation's response cache, NULL when off (llm/cache.h). */
struct llm_cache *llm_ctx_cache(const struct llm_ctx *ctx);

struct llm_in {
	const struct llm_ctx *ctx;
	const struct policy_listener *listener;
	const struct http1_message *msg;	/* the request head */
	enum llm_endpoint ep;
	const char *body;			/* the whole request body */
	size_t body_len;
	const char *rid;			/* request id */
	struct json_scratch *scratch;		/* the worker's */
	struct budget *budget;			/* limits and budgets; NULL: none */
	/* Whether a provider's circuit is open (skip it); NULL: never. */
	bool (*provider_down)(void *arg, uint32_t provider);
	void *down_arg;
	const struct sockaddr *peer;		/* the caller's address */
};

enum llm_act {
	LLM_ACT_LOCAL = 0,	/* answer with status/ctype/body */
	LLM_ACT_FORWARD,	/* send `req` to provider `provider` */
	LLM_ACT_EMBED,		/* send `req` to the router's embeddings endpoint,
				 * then llm_call_resume() with its answer */
};

struct llm_out {
	enum llm_act act;
	int status;
	const char *ctype;
	struct buf body;	/* LOCAL: the response body */
	struct buf req;		/* FORWARD: the whole upstream request */
	struct buf headers;	/* extra response fields, "Name: value\r\n" */
	uint32_t provider;	/* FORWARD: index in policy->providers */
	uint64_t delay_ms;	/* llm_call_next(): wait this long before sending */
};

struct llm_call;

/* Takes the request. Returns the call (NULL only when out of memory) with
 * `out` filled; free `out`'s buffers with llm_out_fini(). */
struct llm_call *llm_call_new(const struct llm_in *in, struct llm_out *out);
void llm_out_fini(struct llm_out *out);
/* After LLM_ACT_EMBED: the endpoint's answer body (NULL when it failed or
 * timed out: the local decision stands); fills `out` as llm_call_new(). */
void llm_call_resume(struct llm_call *c, const char *body, size_t len, struct llm_out *out);
/* The provider failed (an answer with `status` and its Retry-After in ms,
 * 0 for none; or no answer: status 502 or 504). With `out` NULL: whether
 * another attempt is left. Otherwise the next attempt into `out`
 * (FORWARD, or LOCAL for echo; out->delay_ms the wait before sending it):
 * the same target again while its provider has retries and retry budget
 * (after a jittered backoff, or the Retry-After when longer and not over
 * the provider's retry_after_max; never first after a 429), then the
 * model's other targets, then its fallbacks in order — skipping those the
 * caller may not use, that cannot serve the endpoint, or whose provider's
 * circuit is open. False when none is left. */
bool llm_call_next(struct llm_call *c, int status, uint64_t retry_after_ms, struct llm_out *out);
/* The provider's answer head came `us` after the request was sent: feeds
 * least-latency balancing. */
void llm_call_latency(struct llm_call *c, uint64_t us);

/* How long the embeddings call may take, in ms. */
uint64_t llm_embed_timeout_ms(const struct llm_ctx *ctx);

/* An error body in the caller's API format (OpenAI or Anthropic). */
void llm_error_body(enum llm_endpoint ep, int status, const char *type,
		    const char *msg, struct buf *out);

enum llm_resp_mode {
	LLM_RESP_BUFFER = 0,	/* the body comes out whole at llm_resp_done() */
	LLM_RESP_STREAM,	/* the body comes out as it is read */
};

/* The provider's response head: extra fields for the client's response
 * head go to `hdrs` ("Name: value\r\n"). */
enum llm_resp_mode llm_resp_head(struct llm_call *c, const struct http1_message *m,
				 struct buf *hdrs);
/* Body bytes from the provider; what the client gets is appended to out.
 * -errno ends the response (too large, malformed stream). */
int llm_resp_body(struct llm_call *c, const char *p, size_t n, struct buf *out);
/* The end of the provider's body; the rest for the client goes to out. */
int llm_resp_done(struct llm_call *c, struct buf *out);
/* The provider failed before answering (the proxy answers the client). */
void llm_resp_failed(struct llm_call *c, int status);
/* llm_resp_body() returns this when the stream must end here (its budget
 * ran out): `out` holds the final event saying why; send it, end the
 * response, and drop the provider's connection. */
#define LLM_RESP_END	1

/* Charges the budget with the usage (or, for a stream cut short, with what
 * was delivered), writes the audit record and counts the call in `gm`. Once; llm_call_free() does
 * it if it was not done. */
struct audit_log;
struct genai;
void llm_call_finish(struct llm_call *c, struct audit_log *al, struct genai *gm, int status,
		     uint64_t latency_us, uint64_t ttft_us);

/* The status of the call's answer as the handler sees it now. */
int llm_call_status(const struct llm_call *c);
/* The provider the call went to last (x-tollgate-provider), or NULL. */
const char *llm_call_provider(const struct llm_call *c);

/* What the access log adds for LLM calls: ",\"model\":...,..." (a JSON
 * fragment starting with a comma). */
void llm_call_summary(const struct llm_call *c, struct buf *out);
/* Logs the call's accounting and frees it; NULL is a no-op. */
void llm_call_free(struct llm_call *c);

#endif /* TOLLGATE_LLM_H */
