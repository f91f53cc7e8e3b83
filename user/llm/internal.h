/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to user/llm/.
 */
#ifndef TOLLGATE_LLM_INTERNAL_H
#define TOLLGATE_LLM_INTERNAL_H

#include <stdatomic.h>
#include <time.h>

#include "core/json.h"
#include "http/sse.h"
#include "llm/budget.h"
#include "llm/llm.h"
#include "llm/xlate.h"
#include "tollgate/limits.h"

struct llm_keyent {
	uint8_t h[32];
	const struct policy_tenant *t;
	const struct policy_key *k;
};

struct guard;
struct route_model;

/* What the calls learn about a provider, shared by the workers. */
struct llm_pstate {
	_Atomic uint64_t ewma_us;	/* time to the answer head; 0: unmeasured */
	_Atomic int64_t retry_milli;	/* the retry budget, in thousandths */
};

struct llm_ctx {
	const struct policy *p;
	struct guard **guards;		/* one per policy guard, same order */
	uint32_t n_guards;
	struct route_model *router;	/* NULL: no semantic routing */
	float *centroids;		/* routes x embed_dim; NULL: no remote embeddings */
	uint32_t embed_dim;
	struct llm_keyent *keys;	/* sorted by hash */
	uint32_t n_keys;
	const struct policy_tenant *default_tenant;
	struct llm_pstate *pstate;	/* per policy provider */
	struct llm_cache *cache;	/* NULL: cache.enabled is off */
	struct jwt_keys *jwt;		/* NULL: no jwt section */
};

enum llm_cache_state {
	LLM_CACHE_NONE = 0,	/* not looked up */
	LLM_CACHE_MISS,
	LLM_CACHE_HIT,
};

struct llm_usage {
	uint64_t in, out, cached;
	bool seen;
};

struct llm_call {
	const struct llm_ctx *ctx;
	enum llm_endpoint ep;
	struct json_scratch *scratch;
	char rid[TG_REQUEST_ID_MAX + 1];
	const struct policy_tenant *tenant;
	const struct policy_key *key;		/* NULL for JWT callers */
	char subject[TG_JWT_CLAIM_MAX + 8];	/* "jwt:<sub>" for JWT callers */
	const struct policy_model *pmodel;
	const struct policy_provider *provider;
	const char *upstream_model;
	char model[TG_NAME_MAX * 4];
	char model_req[TG_NAME_MAX * 4];	/* as asked, before routing */
	struct buf redacted;			/* the body after redaction */
	char anthropic_version[32];
	bool cc_no_cache, cc_no_store;	/* the request's Cache-Control */
	/* the response cache */
	uint8_t cache_key[32];
	enum llm_cache_state cache_state;
	bool cache_store;		/* store the answer under cache_key */
	/* translation: the provider speaks another format than the caller */
	bool xlate;
	enum xl_dialect xl_to;		/* the provider's */
	char xl_err[200];		/* why a request could not be translated */
	struct xl_stream *xs;		/* a translated stream */
	struct buf xout;		/* what it produced, for the stream reader */
	bool stream;
	bool usage_injected;	/* we asked for usage: strip it on the way back */
	bool auth_failed;
	int status;
	uint64_t est_in;
	struct llm_usage usage;
	/* governance */
	char route[TG_NAME_MAX + 1];	/* "" when not routed */
	float route_confidence;
	bool low_confidence;		/* the local router was not sure */
	bool route_by_embeddings;	/* the remote embeddings decided */
	char *route_text;		/* what the router read (for embeddings) */
	size_t route_text_len;
	const char *route_guard;
	uint32_t guard_types;		/* 1 << enum guard_type found in the prompt */
	int guard_verdict;		/* enum guard_verdict */
	uint32_t injection_score;
	char guard_found[160];		/* type names, for a block answer */
	uint32_t resp_guard_types;	/* found (and redacted) in the answer */
	/* fallback */
	bool (*provider_down)(void *arg, uint32_t provider);
	void *down_arg;
	const struct policy_model *first;	/* the model chosen first */
	uint32_t fb_next;			/* next index in first->fallback */
	uint32_t retries_left;
	uint32_t fallbacks;			/* attempts after the first */
	uint32_t tgt;				/* the target of pmodel in use */
	uint32_t tried;				/* targets of pmodel tried, bit per index */
	uint32_t attempt;			/* retries of this target so far */
	uint64_t delay_ms;			/* the wait before the next attempt */
	bool dry;				/* a dry run: change nothing shared */
	/* limits and budgets */
	struct budget *budget;
	struct budget_ticket ticket;
	bool finished;			/* charged and audited */
	bool cut;			/* the stream was ended for its budget */
	const char *limit_hit;		/* budget_limit_name() of a refusal */
	uint64_t pieces;		/* text deltas relayed (a stream's output so far) */
	double cost;
	bool has_cost;
	const struct guard *rguard;	/* scans the answer; NULL: not */
	struct guard_stream *gstream;
	struct buf released;		/* redacted text the stream let go */
	struct buf tmpl;		/* the last text event's data */
	size_t tmpl_off, tmpl_slen;	/* its text string in tmpl */
	char tmpl_type[64];		/* its event type */
	struct json_doc doc;	/* the request; then each streamed event */

	/* response */
	enum llm_resp_mode mode;
	bool sse;
	struct buf rbuf;	/* a buffered body */
	struct sse_reader sse_r;
	char *sse_raw, *sse_data;
	uint64_t events;
};

const char *llm_endpoint_suffix(enum llm_endpoint ep);
/* The wire format of a provider type, and of a front door (chat completions:
 * OpenAI; messages: Anthropic). */
enum xl_dialect llm_provider_dialect(enum policy_provider_type t);
static inline enum xl_dialect llm_caller_dialect(enum llm_endpoint ep)
{
	return ep == LLM_EP_MESSAGES ? XL_ANTHROPIC : XL_OPENAI;
}
/* Whether a provider type can serve the front door (translating if need be). */
bool llm_provider_speaks(enum policy_provider_type t, enum llm_endpoint ep);
bool llm_model_allowed(const struct llm_call *c, const char *model);
void llm_json_str(struct buf *b, const char *s, size_t n);
uint64_t llm_estimate_tokens(const char *p, size_t n);
int llm_govern_init(struct llm_ctx *ctx, char *err, size_t errlen);
void llm_govern_fini(struct llm_ctx *ctx);
/* 1 when the model alias was routed (c->model replaced), 0 when not. */
int llm_route(struct llm_call *c, const struct json_doc *doc);
/* Scans the prompt; 1 when the guard blocks (c->guard_found says what),
 * 0 to go on — with `redacted` holding the redacted body when it redacted
 * (empty otherwise). */
int llm_guard(struct llm_call *c, const struct json_doc *doc, struct buf *redacted);
const struct guard *llm_call_guard(const struct llm_call *c);
/* A whole JSON answer with its text strings redacted, into out. */
int llm_guard_answer(struct llm_call *c, const struct guard *g, const struct json_doc *doc,
		     struct buf *out);
/* The text string a streamed event adds, if any. */
bool llm_event_text(const struct json_doc *doc, struct json_value *s);
int llm_embed_prepare(struct llm_ctx *ctx, char *err, size_t errlen);
bool llm_embed_wanted(const struct llm_call *c);
int llm_embed_request(struct llm_call *c, struct buf *req);
/* The embeddings answer (NULL: failed or late: the local decision stands). */
void llm_embed_choose(struct llm_call *c, const char *body, size_t len);
void llm_echo(struct llm_call *c, const struct json_doc *doc, struct llm_out *out);
/* The answer the caller gets, for the cache when the call may be stored. */
void llm_cache_offer(struct llm_call *c, const char *body, size_t len);

#endif /* TOLLGATE_LLM_INTERNAL_H */
