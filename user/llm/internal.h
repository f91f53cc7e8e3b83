/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to user/llm/.
 */
#ifndef TOLLGATE_LLM_INTERNAL_H
#define TOLLGATE_LLM_INTERNAL_H

#include <time.h>

#include "core/json.h"
#include "http/sse.h"
#include "llm/llm.h"
#include "tollgate/limits.h"

struct llm_keyent {
	uint8_t h[32];
	const struct policy_tenant *t;
	const struct policy_key *k;
};

struct llm_ctx {
	const struct policy *p;
	struct llm_keyent *keys;	/* sorted by hash */
	uint32_t n_keys;
	const struct policy_tenant *default_tenant;
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
	struct timespec t0;
	const struct policy_tenant *tenant;
	const struct policy_key *key;
	const struct policy_model *pmodel;
	const struct policy_provider *provider;
	const char *upstream_model;
	char model[TG_NAME_MAX * 4];
	char anthropic_version[32];
	bool stream;
	bool usage_injected;	/* we asked for usage: strip it on the way back */
	bool auth_failed;
	int status;
	uint64_t est_in;
	struct llm_usage usage;
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
bool llm_model_allowed(const struct llm_call *c, const char *model);
void llm_json_str(struct buf *b, const char *s, size_t n);
uint64_t llm_estimate_tokens(const char *p, size_t n);
void llm_echo(struct llm_call *c, const struct json_doc *doc, struct llm_out *out);

#endif /* TOLLGATE_LLM_INTERNAL_H */
