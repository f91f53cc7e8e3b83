/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy: one YAML schema for the whole product, loaded into the typed
 * structs below. Only user/policy/ reads policy files; everything else reads
 * these structs.
 *
 * A loaded policy is immutable and reference counted: a reload builds a new
 * one and swaps it in, and work that started on the old one holds a
 * reference until it is done. Everything a policy points to lives in its
 * arena and goes away with the last reference.
 *
 * Lists are a pointer and a count (`x` and `n_x`). Durations are in
 * milliseconds, sizes in bytes, prices in currency units per million tokens.
 */
#ifndef TOLLGATE_POLICY_H
#define TOLLGATE_POLICY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/arena.h"

/* Where a value came from, for errors raised after loading (e.g. a guard
 * pattern that fails to compile is reported at its line in the file). */
struct policy_loc {
	const char *file;
	uint32_t line;		/* 1-based */
	uint32_t col;		/* 1-based */
};

enum policy_secret_kind {
	POLICY_SECRET_NONE = 0,
	POLICY_SECRET_ENV,	/* ${env:NAME} */
	POLICY_SECRET_FILE,	/* ${file:/path} */
};

/* A credential by reference. The policy never holds a literal secret;
 * `value` is filled by policy_resolve_secrets() and is never printed. */
struct policy_secret {
	enum policy_secret_kind kind;
	const char *ref;	/* variable name or path: safe to show */
	char *value;		/* resolved value, NUL-terminated, or NULL */
	size_t len;
	bool optional;		/* unset or empty is not an error: value stays NULL */
	struct policy_loc loc;
};

struct policy_cidr {
	uint8_t family;		/* 4 or 6 */
	uint8_t len;		/* prefix length */
	uint8_t addr[16];	/* network byte order, host bits zero */
};

/* A numeric listen address: "127.0.0.1:8080", "[::1]:8443". */
struct policy_sockaddr {
	uint8_t family;		/* 4 or 6 */
	uint16_t port;
	uint8_t addr[16];
	const char *text;
};

/* "host:port", host a name or an address. */
struct policy_hostport {
	const char *host;
	uint16_t port;
	const char *text;
};

/* http:// or https:// URL; redis:// for the cluster store. */
struct policy_url {
	const char *text;
	const char *scheme;
	bool tls;
	const char *host;
	uint16_t port;
	const char *path;	/* "/" when absent */
};

/* "100/s", "6000/min", "10/h": `count` events per `period_ms`. */
struct policy_rate {
	uint64_t count;
	uint64_t period_ms;
};

/* ---- server ---------------------------------------------------------- */

enum policy_log_level {
	POLICY_LOG_ERROR = 0,
	POLICY_LOG_WARN,
	POLICY_LOG_INFO,
	POLICY_LOG_DEBUG,
};

struct policy_conn_limits {
	uint64_t header_bytes;
	uint32_t header_count;
	uint64_t body_bytes;
	uint32_t connections;
	uint32_t connections_per_worker;
	uint64_t memory_per_connection;
};

struct policy_timeouts {
	uint64_t header_ms;
	uint64_t body_ms;
	uint64_t idle_ms;
	uint64_t upstream_connect_ms;
	uint64_t upstream_first_byte_ms;
	uint64_t upstream_idle_ms;
};

struct policy_server {
	uint32_t workers;	/* 0: one per core */
	const char *user;	/* drop privileges to this user; NULL: stay */
	enum policy_log_level log_level;
	uint64_t drain_ms;
	const char *state_file;	/* budget state; NULL: not kept */
	struct policy_conn_limits limits;
	struct policy_timeouts timeouts;
};

/* ---- listeners and plain reverse-proxy routes --------------------------- */

enum policy_tls_version {
	POLICY_TLS_1_2 = 0,
	POLICY_TLS_1_3,
};

enum policy_ktls {
	POLICY_KTLS_AUTO = 0,	/* engage where the kernel has it */
	POLICY_KTLS_OFF,
};

struct policy_tls_server {
	const char *cert;	/* PEM chain path */
	const char *key;	/* PEM key path */
	const char *client_ca;	/* optional: require client certificates */
	enum policy_tls_version min_version;
	bool tickets;
	enum policy_ktls ktls;
};

struct policy_tls_client {
	bool verify;
	const char *ca_file;	/* NULL: the system store */
	const char *sni;	/* NULL: the host name of the URL */
};

enum policy_auth {
	POLICY_AUTH_API_KEY = 0,
	POLICY_AUTH_NONE,	/* loopback listeners only */
	POLICY_AUTH_JWT,	/* JWT bearer tokens only (api_key takes both) */
};

enum policy_endpoint {
	POLICY_EP_LLM = 0,
	POLICY_EP_MCP,
	POLICY_EP_A2A,
	POLICY_EP_METRICS,
	POLICY_EP_HEALTH,
};
#define POLICY_EP_BIT(e) (1u << (e))

struct policy_route {
	const char *path;	/* prefix, starts with '/' */
	const char *upstream;	/* names an upstream */
	bool strip_prefix;
	struct policy_loc loc;
};

struct policy_listener {
	const char *name;
	struct policy_sockaddr address;
	struct policy_tls_server *tls;	/* NULL: plain HTTP */
	enum policy_auth auth;
	uint32_t endpoints;		/* POLICY_EP_BIT set */
	struct policy_route *routes;
	uint32_t n_routes;
	struct policy_loc loc;
	struct policy_loc address_loc;
};

struct policy_health {
	uint32_t fail_threshold;
	uint64_t eject_ms;
};

struct policy_upstream {
	const char *name;
	struct policy_hostport *servers;
	uint32_t n_servers;
	bool tls;
	struct policy_tls_client tls_client;
	uint32_t max_connections;
	uint32_t keepalive;
	struct policy_health health;
	struct policy_loc loc;
};

/* ---- tenants, keys, limits, budgets ------------------------------------- */

enum policy_period {
	POLICY_PERIOD_MINUTE = 0,
	POLICY_PERIOD_HOUR,
	POLICY_PERIOD_DAY,
	POLICY_PERIOD_MONTH,
};

enum policy_budget_action {
	POLICY_BUDGET_BLOCK = 0,	/* refuse, and block the tenant in the kernel */
	POLICY_BUDGET_WARN,		/* log, count, let through */
};

struct policy_budget {
	enum policy_period period;
	uint64_t tokens;	/* 0: no token budget */
	double cost;		/* 0: no cost budget */
	enum policy_budget_action action;
	struct policy_loc loc;
};

struct policy_rate_limits {
	uint32_t requests_per_minute;	/* 0: unlimited */
	uint64_t tokens_per_minute;	/* 0: unlimited */
	uint32_t concurrent;		/* 0: unlimited */
};

struct policy_syn_limit {
	struct policy_rate rate;	/* count 0: unlimited */
	uint32_t burst;
};

struct policy_key {
	const char *name;
	uint8_t sha256[32];	/* of the key; compared in constant time */
	const char **models;	/* allow-list within the tenant's; none: the tenant's */
	uint32_t n_models;
	const char *metadata;	/* JSON object, for the audit log; NULL: none */
	struct policy_rate_limits limits;
	struct policy_budget *budgets;
	uint32_t n_budgets;
	struct policy_loc loc;
};

struct policy_tenant {
	const char *name;
	struct policy_cidr *prefixes;
	uint32_t n_prefixes;
	struct policy_loc *prefix_locs;	/* one per prefix */
	struct policy_key *keys;
	uint32_t n_keys;
	struct policy_rate_limits limits;
	struct policy_budget *budgets;
	uint32_t n_budgets;
	const char **models;	/* allow-list; none: every model */
	uint32_t n_models;
	const char *guard;	/* NULL: the default guard */
	uint32_t bytes_per_token;
	struct policy_syn_limit syn;
	uint64_t egress_bytes_per_second;	/* kernel.egress_pacing; 0: unpaced */
	bool cache;		/* its answers may be cached (cache.enabled) */
	uint64_t cache_ttl_ms;	/* 0: cache.ttl */
	struct policy_loc loc;
};

/* ---- providers, models, routing ---------------------------------------- */

enum policy_provider_type {
	POLICY_PROVIDER_OPENAI = 0,
	POLICY_PROVIDER_AZURE_OPENAI,
	POLICY_PROVIDER_ANTHROPIC,
	POLICY_PROVIDER_GEMINI,
	POLICY_PROVIDER_BEDROCK,
	POLICY_PROVIDER_OPENAI_COMPATIBLE,	/* vLLM, Ollama and the like */
	POLICY_PROVIDER_ECHO,			/* built in, deterministic */
};

/* How a provider's failed calls are retried (docs/llm.md, "Retries"). */
struct policy_backoff {
	uint64_t base_ms;		/* the first retry waits up to this (full jitter) */
	uint64_t max_ms;		/* the exponential's cap */
	uint64_t retry_after_max_ms;	/* the longest Retry-After waited for */
	double budget_ratio;		/* retries per first attempt, on average */
	uint32_t budget_min;		/* retries always allowed (the bucket's size) */
};

struct policy_provider {
	const char *name;
	enum policy_provider_type type;
	struct policy_url base_url;
	struct policy_secret *api_key;		/* openai, azure, anthropic, gemini */
	struct policy_secret *access_key_id;	/* bedrock */
	struct policy_secret *secret_access_key;/* bedrock */
	const char *api_version;		/* azure */
	const char *region;			/* bedrock */
	struct policy_tls_client tls;
	uint64_t timeout_ms;
	uint32_t max_connections;
	uint32_t retries;
	bool optional;		/* credentials may be missing: the provider is then off */
	struct policy_health circuit;
	struct policy_backoff backoff;
	struct policy_loc loc;
};

struct policy_price {
	double input;		/* per million input tokens */
	double output;		/* per million output tokens */
	double cached_input;	/* per million cached input tokens; <0: as input */
};

/* Another deployment of a model: the same model at another provider. */
struct policy_target {
	const char *provider;
	const char *upstream;	/* default: the model's upstream */
	uint32_t weight;
	struct policy_loc loc;
};

enum policy_balance {
	POLICY_BALANCE_WEIGHTED = 0,
	POLICY_BALANCE_LEAST_LATENCY,
};

struct policy_model {
	const char *name;	/* what clients ask for */
	const char *provider;
	const char *upstream;	/* the provider's name for it; default: name */
	uint32_t weight;	/* of provider/upstream among the targets */
	struct policy_target *targets;	/* more deployments, balanced with the first */
	uint32_t n_targets;
	enum policy_balance balance;
	struct policy_price price;
	const char **fallback;	/* model names, tried in order */
	uint32_t n_fallback;
	uint64_t context_window;
	struct policy_loc loc;
};

struct policy_embeddings {
	struct policy_url url;
	const char *model;
	struct policy_secret *api_key;
	uint64_t timeout_ms;
};

/* The router's built-in domains: example prompts and keywords shipped in
 * user/route/, added to a route's own. */
enum policy_route_domain {
	POLICY_DOMAIN_NONE = 0,
	POLICY_DOMAIN_CODE,
	POLICY_DOMAIN_MATH,
	POLICY_DOMAIN_FINANCE,
	POLICY_DOMAIN_LEGAL,
	POLICY_DOMAIN_SUMMARIZATION,
	POLICY_DOMAIN_TRANSLATION,
	POLICY_DOMAIN_CREATIVE,
	POLICY_DOMAIN_CHAT,
	POLICY_DOMAIN_COUNT,
};

struct policy_semantic_route {
	const char *name;
	const char *model;
	const char **examples;
	uint32_t n_examples;
	const char **keywords;
	uint32_t n_keywords;
	enum policy_route_domain domain;
	uint64_t min_tokens;	/* 0: no rule */
	double threshold;	/* <0: the router's threshold */
	const char *guard;
	struct policy_loc loc;
	struct policy_loc model_loc;
};

struct policy_router {
	const char *alias;		/* the model name that asks for routing */
	const char *default_model;	/* NULL: no semantic routing */
	double threshold;
	struct policy_semantic_route *routes;
	uint32_t n_routes;
	struct policy_embeddings *embeddings;
};

/* ---- guards ------------------------------------------------------------ */

enum policy_guard_action {
	POLICY_GUARD_BLOCK = 0,
	POLICY_GUARD_REDACT,
	POLICY_GUARD_LOG,
};

enum policy_pii_type {
	POLICY_PII_EMAIL = 0,
	POLICY_PII_PHONE,
	POLICY_PII_CARD,
	POLICY_PII_SSN,
	POLICY_PII_IBAN,
	POLICY_PII_IP,
	POLICY_PII_SECRET,
};

struct policy_pii {
	bool enabled;
	enum policy_guard_action action;
	uint32_t types;		/* 1 << POLICY_PII_* */
	bool responses;		/* scan streamed responses too */
};

struct policy_pattern {
	const char *name;
	const char *regex;	/* compiled by guard/, errors at `loc` */
	struct policy_loc loc;
};

struct policy_injection {
	bool enabled;
	enum policy_guard_action action;
	bool builtin;		/* the shipped pattern set */
	struct policy_pattern *patterns;
	uint32_t n_patterns;
};

struct policy_guard {
	const char *name;
	struct policy_pii pii;
	struct policy_injection injection;
	struct policy_pattern *deny;
	uint32_t n_deny;
	struct policy_loc loc;
};

/* ---- MCP --------------------------------------------------------------- */

enum policy_http_method {
	POLICY_METHOD_GET = 0,
	POLICY_METHOD_POST,
	POLICY_METHOD_PUT,
	POLICY_METHOD_PATCH,
	POLICY_METHOD_DELETE,
};

struct policy_mcp_server {
	const char *name;
	struct policy_url url;
	struct policy_secret *token;	/* sent as a bearer token */
	struct policy_tls_client tls;
	bool pin_tools;
	uint64_t timeout_ms;
	struct policy_loc loc;
};

struct policy_mcp_tool {
	const char *name;
	enum policy_http_method method;
	const char *path;
	const char *description;
	const char *input_schema;	/* JSON text; NULL: derived from path */
	struct policy_loc loc;
};

struct policy_mcp_bridge {
	const char *name;
	struct policy_url base_url;
	const char *openapi;		/* path to an OpenAPI 3 document */
	struct policy_secret *token;
	struct policy_mcp_tool *tools;
	uint32_t n_tools;
	struct policy_loc loc;
};

struct policy_tool_allow {
	const char *tenant;
	const char **tools;	/* globs: "github.*", "petstore.get_pet" */
	uint32_t n_tools;
	struct policy_loc loc;
};

struct policy_mcp {
	const char *path;
	uint64_t session_ttl_ms;
	struct policy_mcp_server *servers;
	uint32_t n_servers;
	struct policy_mcp_bridge *bridges;
	uint32_t n_bridges;
	struct policy_tool_allow *allow;
	uint32_t n_allow;
};

/* ---- A2A --------------------------------------------------------------- */

struct policy_a2a_agent {
	const char *name;
	struct policy_url url;
	const char *card_path;
	struct policy_secret *token;
	struct policy_tls_client tls;
	uint32_t requests_per_minute;
	struct policy_loc loc;
};

struct policy_agent_allow {
	const char *from;	/* a tenant */
	const char **to;	/* agents */
	uint32_t n_to;
	struct policy_loc loc;
};

struct policy_a2a {
	uint32_t hop_limit;
	struct policy_a2a_agent *agents;
	uint32_t n_agents;
	struct policy_agent_allow *allow;
	uint32_t n_allow;
};

/* ---- telemetry ----------------------------------------------------------- */

enum policy_fsync {
	POLICY_FSYNC_BATCH = 0,
	POLICY_FSYNC_ALWAYS,
	POLICY_FSYNC_NEVER,
};

struct policy_metrics {
	bool enabled;
	const char *path;
};

struct policy_audit {
	bool enabled;
	const char *path;
	enum policy_fsync fsync;
	uint64_t rotate_bytes;	/* 0: never by size (reopen still rotates) */
	bool include_prompts;	/* write the prompt text (bounded) */
};

struct policy_access_log {
	bool enabled;
	const char *path;	/* "-": standard error */
};

struct policy_traces {
	bool enabled;
	struct policy_url endpoint;
	double sample_ratio;
	const char *service_name;
};

struct policy_telemetry {
	struct policy_metrics metrics;
	struct policy_audit audit;
	struct policy_access_log access_log;
	struct policy_traces traces;
};

/* ---- kernel --------------------------------------------------------------- */

enum policy_attach_mode {
	POLICY_ATTACH_NATIVE = 0,
	POLICY_ATTACH_GENERIC,
};

struct policy_penalty {
	uint32_t auth_failures;	/* failures within window that box a source */
	uint64_t window_ms;
	uint64_t duration_ms;
};

struct policy_kernel {
	bool enabled;
	const char **interfaces;
	uint32_t n_interfaces;
	enum policy_attach_mode attach_mode;
	uint32_t flow_table_size;
	const char *pin_path;
	struct policy_syn_limit syn_per_prefix;
	uint32_t flood_guard;		/* new flows per second per CPU */
	struct policy_penalty penalty;
	bool egress_pacing;
	bool drop_established_when_blocked;
};

/* ---- cluster and cache ---------------------------------------------------- */

enum policy_failure_mode {
	POLICY_FAIL_OPEN = 0,	/* local limits only while Redis is down */
	POLICY_FAIL_CLOSED,	/* refuse what needs a cluster budget */
};

struct policy_redis {
	struct policy_url url;
	struct policy_secret *password;
	uint64_t lease_tokens;
	enum policy_failure_mode failure_mode;
	uint64_t timeout_ms;
};

struct policy_cluster {
	struct policy_redis *redis;	/* NULL: single node */
};

struct policy_cache {
	bool enabled;
	uint32_t max_entries;
	uint64_t max_bytes;
	uint64_t max_entry_bytes;
	uint64_t ttl_ms;
};

/* JWT bearer tokens as an alternative to API keys (docs/llm.md, "Identity"). */
struct policy_jwt {
	const char *jwks_file;		/* the verification keys */
	const char *issuer;		/* NULL: not checked */
	const char *audience;		/* NULL: not checked */
	const char *tenant_claim;	/* the claim naming the tenant */
	uint64_t leeway_ms;
};

/* ---- the policy ------------------------------------------------------------- */

struct policy {
	_Atomic int refs;
	struct arena arena;
	const char *path;		/* the top file, as given */
	const char **files;		/* every file read, includes too */
	uint32_t n_files;
	struct policy_secret **secrets;	/* every reference, for resolving and wiping */
	uint32_t n_secrets;

	uint32_t version;
	const char **includes;		/* as written; resolved by the loader */
	uint32_t n_includes;
	struct policy_server server;
	struct policy_listener *listeners;
	uint32_t n_listeners;
	struct policy_upstream *upstreams;
	uint32_t n_upstreams;
	struct policy_tenant *tenants;
	uint32_t n_tenants;
	const char *default_tenant;	/* NULL: unmatched traffic has no tenant limits */
	const char *default_guard;	/* NULL: no guard unless a tenant names one */
	struct policy_provider *providers;
	uint32_t n_providers;
	struct policy_model *models;
	uint32_t n_models;
	struct policy_router router;
	struct policy_loc router_loc;		/* its default_model value */
	struct policy_guard *guards;
	uint32_t n_guards;
	struct policy_mcp mcp;
	struct policy_a2a a2a;
	struct policy_telemetry telemetry;
	struct policy_kernel kernel;
	struct policy_cluster cluster;
	struct policy_cache cache;
	struct policy_jwt *jwt;		/* NULL: API keys only */
};

/* ---- diagnostics ------------------------------------------------------------ */

struct policy_diag {
	char *file;
	uint32_t line;		/* 0: the file as a whole */
	uint32_t col;
	char *msg;
};

/* Every error found in one load, in the order found. */
struct policy_diags {
	struct policy_diag *v;
	uint32_t n;
	uint32_t cap;
	bool truncated;		/* more than TG_POLICY_ERRORS_MAX */
};

void policy_diags_init(struct policy_diags *d);
void policy_diags_fini(struct policy_diags *d);
/* "file:line:col: message\n" per error. */
void policy_diags_print(const struct policy_diags *d, FILE *out);

/* ---- loading ---------------------------------------------------------------- */

enum policy_load_flags {
	POLICY_LOAD_DEFAULT = 0,
	/* Resolve ${env:} and ${file:} now: missing ones are errors. */
	POLICY_LOAD_RESOLVE_SECRETS = 1u << 0,
	/* Refuse include: (for buffers that have no directory, e.g. fuzzing). */
	POLICY_LOAD_NO_INCLUDE = 1u << 1,
};

/* Loads and validates the policy in `path` (and what it includes).
 * Returns a policy holding one reference, or NULL with every error in
 * `diags` (errno EINVAL; ENOMEM on allocation failure). */
struct policy *policy_load_file(const char *path, unsigned flags,
				struct policy_diags *diags);

/* The same for a policy held in memory; `name` is used in locations and
 * relative includes resolve against the current directory. */
struct policy *policy_load_buffer(const char *name, const char *buf, size_t len,
				  unsigned flags, struct policy_diags *diags);

/* Resolves every secret reference; errors (unset variable, unreadable file)
 * go to `diags` at the reference's location. Returns 0 or -EINVAL. */
int policy_resolve_secrets(struct policy *p, struct policy_diags *diags);

struct policy *policy_ref(struct policy *p);
/* Drops a reference; the last one wipes resolved secrets and frees. NULL ok. */
void policy_unref(struct policy *p);

/* ---- lookups ---------------------------------------------------------------- */

const struct policy_tenant *policy_tenant_find(const struct policy *p, const char *name);
const struct policy_provider *policy_provider_find(const struct policy *p, const char *name);
/* Whether the provider has the credentials it needs (an `optional` one
 * whose secrets are not set is off). */
bool policy_provider_available(const struct policy_provider *pv);
const struct policy_model *policy_model_find(const struct policy *p, const char *name);
const struct policy_upstream *policy_upstream_find(const struct policy *p, const char *name);
const struct policy_guard *policy_guard_find(const struct policy *p, const char *name);

/* Parses "sha256:<64 hex>" into `out`. Returns 0 or -EINVAL. */
int policy_parse_key_hash(const char *text, uint8_t out[32]);
/* Writes "sha256:<hex>" of `key` into `out` (72 bytes at least). */
void policy_key_hash(const char *key, size_t len, char out[72]);
/* Constant-time check of a presented key against a stored hash. */
bool policy_key_matches(const struct policy_key *k, const char *key, size_t len);

/* ---- schema, for documentation and tools ------------------------------------ */

/* Writes the reference of every key (Markdown) — docs/policy-reference.md. */
void policy_schema_markdown(FILE *out);

const char *policy_endpoint_name(enum policy_endpoint e);
const char *policy_provider_type_name(enum policy_provider_type t);

#endif /* TOLLGATE_POLICY_H */
