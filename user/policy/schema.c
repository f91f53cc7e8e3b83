// SPDX-License-Identifier: Apache-2.0
/*
 * The policy language, as tables. Each row is a key: its type, where it
 * lands, its default, its range and its documentation. Cross-field rules that
 * a row cannot express live in the validate functions next to their table.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/scalar.h"
#include "policy/schema.h"
#include "tollgate/limits.h"

#define OFF(T, m)	((uint32_t)offsetof(struct T, m))
#define RANGE(a, b)	.ranged = true, .min = (double)(a), .max = (double)(b)
#define DOC(s)		.doc = (s)

#define F(k, t, T, m, ...) \
	{ .key = (k), .type = (t), .off = OFF(T, m), __VA_ARGS__ }
#define OBJ(k, T, m, sch, ...) \
	{ .key = (k), .type = PT_OBJECT, .off = OFF(T, m), .schema = &(sch), __VA_ARGS__ }
#define OPT(k, T, m, sch, ...) \
	{ .key = (k), .type = PT_OBJECT_OPT, .off = OFF(T, m), .schema = &(sch), __VA_ARGS__ }
#define ENUM(k, T, m, nm, ...) \
	{ .key = (k), .type = PT_ENUM, .off = OFF(T, m), .names = (nm), __VA_ARGS__ }
/* A list of objects of schema `sch` stored as struct ET[]. */
#define LIST(k, T, m, ET, sch, maxn, ...)					\
	{ .key = (k), .type = PT_LIST, .off = OFF(T, m),			\
	  .count_off = OFF(T, n_##m),						\
	  .elem = &(const struct pfield){ .type = PT_OBJECT, .schema = &(sch) }, \
	  .elem_size = sizeof(struct ET), .max_items = (maxn), __VA_ARGS__ }
/* A list of strings of type `et` stored as const char *[]. */
#define STRLIST(k, T, m, et, maxn, ...)					\
	{ .key = (k), .type = PT_LIST, .off = OFF(T, m),			\
	  .count_off = OFF(T, n_##m),						\
	  .elem = &(const struct pfield){ .type = (et) }, 			\
	  .elem_size = sizeof(const char *), .max_items = (maxn), __VA_ARGS__ }
#define REFLIST(k, T, m, ns, maxn, ...)					\
	{ .key = (k), .type = PT_LIST, .off = OFF(T, m),			\
	  .count_off = OFF(T, n_##m),						\
	  .elem = &(const struct pfield){ .type = PT_NAME, .refs = (ns) },	\
	  .elem_size = sizeof(const char *), .max_items = (maxn), __VA_ARGS__ }
#define END	{ .key = NULL }

#define ONE_DAY_MS	(24ull * 3600 * 1000)

/* ---- enum names (order = the C enums in policy.h) ------------------------ */

static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const tls_versions[] = { "1.2", "1.3", NULL };
static const char *const ktls_modes[] = { "auto", "off", NULL };
static const char *const auth_modes[] = { "api_key", "none", "jwt", NULL };
static const char *const endpoints[] = { "llm", "mcp", "a2a", "metrics", "health", NULL };
static const char *const periods[] = { "minute", "hour", "day", "month", NULL };
static const char *const budget_actions[] = { "block", "warn", NULL };
static const char *const provider_types[] = {
	"openai", "azure_openai", "anthropic", "gemini", "bedrock",
	"openai_compatible", "echo", NULL,
};
static const char *const guard_actions[] = { "block", "redact", "log", NULL };
static const char *const pii_types[] = {
	"email", "phone", "card", "ssn", "iban", "ip", "secret", NULL,
};
static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", NULL };
static const char *const fsync_modes[] = { "batch", "always", "never", NULL };
static const char *const attach_modes[] = { "native", "generic", NULL };
static const char *const failure_modes[] = { "open", "closed", NULL };

const char *policy_endpoint_name(enum policy_endpoint e)
{
	return (unsigned)e < sizeof(endpoints) / sizeof(endpoints[0]) - 1 ? endpoints[e] : "?";
}

const char *policy_provider_type_name(enum policy_provider_type t)
{
	return (unsigned)t < sizeof(provider_types) / sizeof(provider_types[0]) - 1
		? provider_types[t] : "?";
}

/* ---- server ------------------------------------------------------------------ */

static const struct pfield conn_limits_fields[] = {
	F("header_bytes", PT_SIZE, policy_conn_limits, header_bytes, .def = "16KiB",
	  RANGE(TG_HEADER_BYTES_MIN, TG_HEADER_BYTES_MAX),
	  DOC("Largest request head (request line and headers); larger gets 431.")),
	F("header_count", PT_U32, policy_conn_limits, header_count, .def = "100",
	  RANGE(1, TG_HEADER_COUNT_MAX), DOC("Most header fields in a request; more gets 431.")),
	F("body_bytes", PT_SIZE, policy_conn_limits, body_bytes, .def = "8MiB",
	  RANGE(0, TG_BODY_BYTES_MAX), DOC("Largest request body; larger gets 413.")),
	F("connections", PT_U32, policy_conn_limits, connections, .def = "10000",
	  RANGE(1, TG_CONNECTIONS_MAX), DOC("Client connections in total; past it new ones get 503.")),
	F("connections_per_worker", PT_U32, policy_conn_limits, connections_per_worker,
	  .def = "0", RANGE(0, TG_CONNECTIONS_MAX),
	  DOC("Client connections per worker; 0 divides `connections` evenly.")),
	F("memory_per_connection", PT_SIZE, policy_conn_limits, memory_per_connection,
	  .def = "256KiB", RANGE(TG_CONN_MEMORY_MIN, TG_CONN_MEMORY_MAX),
	  DOC("Buffer memory one connection may hold, both directions together.")),
	END,
};

static const struct pschema conn_limits_schema = {
	.name = "server.limits", .size = sizeof(struct policy_conn_limits),
	.fields = conn_limits_fields,
	.doc = "Bounds on what one client may make the gateway hold.",
};

static const struct pfield timeouts_fields[] = {
	F("header", PT_DURATION, policy_timeouts, header_ms, .def = "10s",
	  RANGE(1, TG_TIMEOUT_MS_MAX), DOC("Time to receive a request head; past it 408.")),
	F("body", PT_DURATION, policy_timeouts, body_ms, .def = "60s",
	  RANGE(1, TG_TIMEOUT_MS_MAX), DOC("Time between body reads; past it 408.")),
	F("idle", PT_DURATION, policy_timeouts, idle_ms, .def = "75s",
	  RANGE(1, TG_TIMEOUT_MS_MAX), DOC("Keep-alive idle time before the connection is closed.")),
	F("upstream_connect", PT_DURATION, policy_timeouts, upstream_connect_ms, .def = "5s",
	  RANGE(1, TG_TIMEOUT_MS_MAX), DOC("Time to connect (and finish TLS) to an upstream; past it 504.")),
	F("upstream_first_byte", PT_DURATION, policy_timeouts, upstream_first_byte_ms,
	  .def = "120s", RANGE(1, TG_TIMEOUT_MS_MAX),
	  DOC("Time from sending a request to the first response byte; past it 504.")),
	F("upstream_idle", PT_DURATION, policy_timeouts, upstream_idle_ms, .def = "300s",
	  RANGE(1, TG_TIMEOUT_MS_MAX),
	  DOC("Silence allowed inside a response (e.g. between streamed events); past it the stream is ended.")),
	END,
};

static const struct pschema timeouts_schema = {
	.name = "server.timeouts", .size = sizeof(struct policy_timeouts),
	.fields = timeouts_fields,
	.doc = "Every wait has a bound; each is answered with the right status and counted.",
};

static const struct pfield server_fields[] = {
	F("workers", PT_U32, policy_server, workers, .def = "0", RANGE(0, TG_WORKERS_MAX),
	  DOC("Worker threads, each with its own io_uring; 0 is one per core.")),
	F("user", PT_NAME, policy_server, user,
	  DOC("User to switch to once listeners are bound and the kernel part is attached. Unset: the daemon keeps its user.")),
	ENUM("log_level", policy_server, log_level, log_levels, .def = "info",
	     DOC("Least severe log level written.")),
	F("drain", PT_DURATION, policy_server, drain_ms, .def = "30s",
	  RANGE(0, 3600000), DOC("On SIGTERM, how long in-flight requests may finish before exit.")),
	F("state_file", PT_PATH, policy_server, state_file,
	  DOC("Where budget counters are kept across restarts (written every few seconds and at exit: temporary file, fsync, rename). Unset: budgets start from zero at every start.")),
	OBJ("limits", policy_server, limits, conn_limits_schema, DOC("Connection limits.")),
	OBJ("timeouts", policy_server, timeouts, timeouts_schema, DOC("Timeouts.")),
	END,
};

static const struct pschema server_schema = {
	.name = "server", .size = sizeof(struct policy_server), .fields = server_fields,
	.doc = "Process-wide settings of tollgated.",
};

/* ---- TLS ------------------------------------------------------------------------- */

static const struct pfield tls_server_fields[] = {
	F("cert", PT_PATH, policy_tls_server, cert, .required = true,
	  DOC("PEM certificate chain (ECDSA or RSA).")),
	F("key", PT_PATH, policy_tls_server, key, .required = true, DOC("PEM private key.")),
	F("client_ca", PT_PATH, policy_tls_server, client_ca,
	  DOC("PEM CA bundle; when set, clients must present a certificate it signed.")),
	ENUM("min_version", policy_tls_server, min_version, tls_versions, .def = "1.2",
	     DOC("Oldest TLS version accepted.")),
	F("tickets", PT_BOOL, policy_tls_server, tickets, .def = "true",
	  DOC("Session resumption with tickets.")),
	ENUM("ktls", policy_tls_server, ktls, ktls_modes, .def = "auto",
	     DOC("`auto` hands record encryption to the kernel where it has kTLS; `off` keeps it in user space.")),
	END,
};

static const struct pschema tls_server_schema = {
	.name = "tls", .size = sizeof(struct policy_tls_server), .fields = tls_server_fields,
	.doc = "TLS termination on a listener.",
};

static const struct pfield tls_client_fields[] = {
	F("verify", PT_BOOL, policy_tls_client, verify, .def = "true",
	  DOC("Verify the upstream's certificate and host name. Turning it off is logged at every start.")),
	F("ca_file", PT_PATH, policy_tls_client, ca_file,
	  DOC("PEM CA bundle to verify against; unset: the system store.")),
	F("sni", PT_STR, policy_tls_client, sni,
	  DOC("Server name to send; unset: the host of the URL.")),
	END,
};

static const struct pschema tls_client_schema = {
	.name = "tls (upstream)", .size = sizeof(struct policy_tls_client),
	.fields = tls_client_fields,
	.doc = "TLS towards an upstream (used when its URL is https).",
};

/* ---- listeners, routes, upstreams -------------------------------------------------- */

static const struct pfield route_fields[] = {
	F("path", PT_URLPATH, policy_route, path, .required = true,
	  DOC("Path prefix; the longest matching prefix wins.")),
	F("upstream", PT_NAME, policy_route, upstream, .required = true, .refs = NS_UPSTREAM,
	  DOC("The upstream pool that serves it.")),
	F("strip_prefix", PT_BOOL, policy_route, strip_prefix, .def = "false",
	  DOC("Remove the prefix before forwarding.")),
	END,
};

static void route_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_route *r = obj;

	r->loc = policy_node_loc(ctx, n);
}

static const struct pschema route_schema = {
	.name = "route", .size = sizeof(struct policy_route), .fields = route_fields,
	.validate = route_validate,
	.doc = "A plain reverse-proxy route: requests under `path` go to `upstream`.",
};

static void listener_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_listener *l = obj;

	l->loc = policy_node_loc(ctx, n);
	l->address_loc = policy_node_loc(ctx, policy_node_get(n, "address"));
	/* No authentication is only ever safe where the network cannot
	 * reach: a policy that exposes an unauthenticated listener is
	 * refused rather than warned about. */
	if (l->auth == POLICY_AUTH_NONE && !policy_sockaddr_is_loopback(&l->address))
		policy_ctx_error(ctx, policy_node_get(n, "auth"),
			   "'auth: none' is allowed only on a loopback address (127.0.0.0/8 or ::1); listener '%s' binds %s — use 'auth: api_key'",
			   l->name, l->address.text);
	if (!l->endpoints && !l->n_routes)
		policy_ctx_error(ctx, n, "listener '%s' serves nothing: give it 'endpoints' or 'routes'",
			   l->name);
}

static const struct pfield listener_fields[] = {
	F("name", PT_NAME, policy_listener, name, .required = true, .defines = NS_LISTENER,
	  DOC("Unique name, used in metrics and logs.")),
	F("address", PT_SOCKADDR, policy_listener, address, .required = true,
	  DOC("Numeric address and port to bind, e.g. `0.0.0.0:8443` or `[::1]:8080`; port 0 picks a free port (tests).")),
	OPT("tls", policy_listener, tls, tls_server_schema,
	    DOC("Terminate TLS here; unset: plain HTTP.")),
	ENUM("auth", policy_listener, auth, auth_modes, .def = "api_key",
	     DOC("`api_key`: callers present a tenant key (`Authorization: Bearer` or `x-api-key`). `none`: no key is asked — loopback addresses only.")),
	{ .key = "endpoints", .type = PT_FLAGS, .off = OFF(policy_listener, endpoints),
	  .names = endpoints, .def = "llm,mcp,a2a,metrics,health",
	  DOC("Built-in handlers served: `llm` (/v1/...), `mcp` (/mcp), `a2a` (/a2a/...), `metrics` (/metrics), `health` (/healthz, /readyz).") },
	LIST("routes", policy_listener, routes, policy_route, route_schema,
	     TG_ROUTES_PER_LISTENER_MAX, DOC("Plain reverse-proxy routes, checked before the built-in endpoints.")),
	END,
};

static const struct pschema listener_schema = {
	.name = "listener", .size = sizeof(struct policy_listener),
	.fields = listener_fields, .validate = listener_validate,
	.doc = "A socket the gateway accepts connections on.",
};

static const struct pfield health_fields[] = {
	F("fail_threshold", PT_U32, policy_health, fail_threshold, .def = "3", RANGE(1, 1000),
	  DOC("Consecutive failures that eject a server.")),
	F("eject", PT_DURATION, policy_health, eject_ms, .def = "30s", RANGE(1, ONE_DAY_MS),
	  DOC("How long an ejected server is left out.")),
	END,
};

static const struct pschema health_schema = {
	.name = "health", .size = sizeof(struct policy_health), .fields = health_fields,
	.doc = "Passive health checking: servers that keep failing are left out for a while.",
};

static void upstream_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_upstream *u = obj;

	u->loc = policy_node_loc(ctx, n);
	if (!u->n_servers)
		policy_ctx_error(ctx, policy_node_get(n, "servers"), "upstream '%s' lists no servers", u->name);
}

static const struct pfield upstream_fields[] = {
	F("name", PT_NAME, policy_upstream, name, .required = true, .defines = NS_UPSTREAM,
	  DOC("Unique name; routes refer to it.")),
	{ .key = "servers", .type = PT_LIST, .off = OFF(policy_upstream, servers),
	  .count_off = OFF(policy_upstream, n_servers), .required = true,
	  .elem = &(const struct pfield){ .type = PT_HOSTPORT },
	  .elem_size = sizeof(struct policy_hostport), .max_items = TG_UPSTREAM_SERVERS_MAX,
	  DOC("`host:port` of each server; names are resolved off the event loop.") },
	F("tls", PT_BOOL, policy_upstream, tls, .def = "false", DOC("Speak TLS to the servers.")),
	OBJ("tls_options", policy_upstream, tls_client, tls_client_schema,
	    DOC("Verification and SNI when `tls` is on.")),
	F("max_connections", PT_U32, policy_upstream, max_connections, .def = "256",
	  RANGE(1, 65536), DOC("Connections to each server, at most.")),
	F("keepalive", PT_U32, policy_upstream, keepalive, .def = "32", RANGE(0, 65536),
	  DOC("Idle connections kept open per server for reuse.")),
	OBJ("health", policy_upstream, health, health_schema, DOC("Passive health.")),
	END,
};

static const struct pschema upstream_schema = {
	.name = "upstream", .size = sizeof(struct policy_upstream),
	.fields = upstream_fields, .validate = upstream_validate,
	.doc = "A pool of plain HTTP servers for reverse-proxy routes.",
};

/* ---- tenants --------------------------------------------------------------------- */

static const struct pfield rate_limits_fields[] = {
	F("requests_per_minute", PT_U32, policy_rate_limits, requests_per_minute, .def = "0",
	  RANGE(0, 100000000), DOC("Requests per minute; 0 is unlimited. Past it: 429 with Retry-After.")),
	F("tokens_per_minute", PT_U64, policy_rate_limits, tokens_per_minute, .def = "0",
	  RANGE(0, 1e12), DOC("LLM tokens (input + output) per minute; 0 is unlimited.")),
	F("concurrent", PT_U32, policy_rate_limits, concurrent, .def = "0", RANGE(0, 1000000),
	  DOC("Requests in flight at once; 0 is unlimited.")),
	END,
};

static const struct pschema rate_limits_schema = {
	.name = "limits", .size = sizeof(struct policy_rate_limits),
	.fields = rate_limits_fields,
	.doc = "Rate limits, enforced by the proxy before the call.",
};

static void budget_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_budget *b = obj;

	b->loc = policy_node_loc(ctx, n);
	if (!b->tokens && b->cost == 0)
		policy_ctx_error(ctx, n, "budget sets neither 'tokens' nor 'cost'; give at least one");
}

static const struct pfield budget_fields[] = {
	ENUM("period", policy_budget, period, periods, .required = true,
	     DOC("The window the budget refills in (calendar minute, hour, day or month, UTC).")),
	F("tokens", PT_U64, policy_budget, tokens, .def = "0", RANGE(0, 1e15),
	  DOC("Tokens allowed per period; 0 is no token budget.")),
	F("cost", PT_F64, policy_budget, cost, .def = "0", RANGE(0, 1e9),
	  DOC("Spend allowed per period, in the currency of the model prices; 0 is no cost budget.")),
	ENUM("action", policy_budget, action, budget_actions, .def = "block",
	     DOC("`block` refuses calls once spent (429), ends running streams cleanly, and blocks the tenant's new connections in the kernel; `warn` only logs and counts.")),
	END,
};

static const struct pschema budget_schema = {
	.name = "budget", .size = sizeof(struct policy_budget), .fields = budget_fields,
	.validate = budget_validate,
	.doc = "A spending limit per period.",
};

static void key_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_key *k = obj;

	k->loc = policy_node_loc(ctx, n);
}

static const struct pfield key_fields[] = {
	F("name", PT_NAME, policy_key, name, .required = true, .defines = NS_KEY,
	  DOC("Unique name of the key (across tenants), shown in logs and the audit log.")),
	F("hash", PT_KEYHASH, policy_key, sha256, .required = true,
	  DOC("`sha256:` and the hex SHA-256 of the key. The key itself never appears in a policy; `tollctl key new` makes both.")),
	REFLIST("models", policy_key, models, NS_MODEL, TG_MODELS_MAX,
		DOC("Models this key may use, within the tenant's allow-list; unset: the tenant's.")),
	{ .key = "metadata", .type = PT_JSON, .off = OFF(policy_key, metadata),
	  DOC("Free-form mapping (owner, team, ticket...) written to the audit log with the key's calls.") },
	OBJ("limits", policy_key, limits, rate_limits_schema, DOC("Limits for this key, within the tenant's.")),
	LIST("budgets", policy_key, budgets, policy_budget, budget_schema,
	     TG_BUDGETS_PER_SCOPE_MAX, DOC("Budgets for this key, within the tenant's.")),
	END,
};

static const struct pschema key_schema = {
	.name = "key", .size = sizeof(struct policy_key), .fields = key_fields,
	.validate = key_validate,
	.doc = "An API key of a tenant, stored as its hash.",
};

static const struct pfield syn_fields[] = {
	F("rate", PT_RATE, policy_syn_limit, rate, .def = "0/s", RANGE(0, 1e9),
	  DOC("New connections (SYN) admitted; `0/s` is unlimited.")),
	F("burst", PT_U32, policy_syn_limit, burst, .def = "100", RANGE(1, 10000000),
	  DOC("New connections admitted at once above the rate.")),
	END,
};

static const struct pschema syn_schema = {
	.name = "syn", .size = sizeof(struct policy_syn_limit), .fields = syn_fields,
	.doc = "Connection admission in XDP (GCRA, exact across CPUs).",
};

static void tenant_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_tenant *t = obj;

	t->loc = policy_node_loc(ctx, n);
	if (t->n_prefixes) {
		const yaml_node_t *list = policy_node_get(n, "prefixes");

		t->prefix_locs = policy_ctx_alloc(ctx, t->n_prefixes * sizeof(*t->prefix_locs));
		for (uint32_t i = 0; t->prefix_locs && i < t->n_prefixes; i++)
			t->prefix_locs[i] = policy_node_loc(ctx, policy_node_item(list, i));
	}
	for (uint32_t i = 0; i < t->n_keys; i++) {
		for (uint32_t j = 0; j < i; j++) {
			if (!memcmp(t->keys[i].sha256, t->keys[j].sha256, 32))
				policy_ctx_error(ctx, policy_node_get(n, "keys"),
					   "keys '%s' and '%s' of tenant '%s' have the same hash",
					   t->keys[j].name, t->keys[i].name, t->name);
		}
	}
}

static const struct pfield tenant_fields[] = {
	F("name", PT_NAME, policy_tenant, name, .required = true, .defines = NS_TENANT,
	  DOC("Unique name, used in metrics labels, logs and the kernel's tenant table.")),
	{ .key = "prefixes", .type = PT_LIST, .off = OFF(policy_tenant, prefixes),
	  .count_off = OFF(policy_tenant, n_prefixes),
	  .elem = &(const struct pfield){ .type = PT_CIDR },
	  .elem_size = sizeof(struct policy_cidr), .max_items = TG_PREFIXES_PER_TENANT_MAX,
	  DOC("Source prefixes (IPv4 or IPv6 CIDR) that belong to the tenant; the kernel classifies by longest match.") },
	LIST("keys", policy_tenant, keys, policy_key, key_schema, TG_KEYS_PER_TENANT_MAX,
	     DOC("API keys that authenticate as this tenant.")),
	OBJ("limits", policy_tenant, limits, rate_limits_schema, DOC("Rate limits.")),
	LIST("budgets", policy_tenant, budgets, policy_budget, budget_schema,
	     TG_BUDGETS_PER_SCOPE_MAX, DOC("Token and cost budgets.")),
	REFLIST("models", policy_tenant, models, NS_MODEL, TG_MODELS_MAX,
		DOC("Models the tenant may use; unset: all of them.")),
	F("guard", PT_NAME, policy_tenant, guard, .refs = NS_GUARD,
	  DOC("Guard profile for the tenant's traffic; unset: `default_guard`.")),
	F("egress_bytes_per_second", PT_SIZE, policy_tenant, egress_bytes_per_second, .def = "0",
	  RANGE(0, 1ull << 40),
	  DOC("With `kernel.egress_pacing`: the tenant's replies leave at most this fast (e.g. `10MiB`), paced by departure time in TC egress (needs `fq` as the root qdisc, or `mq` over `fq`). 0: unpaced.")),
	F("cache", PT_BOOL, policy_tenant, cache, .def = "false",
	  DOC("Opt in to the response cache (`cache.enabled`): identical non-streaming calls of this tenant are answered from it.")),
	F("cache_ttl", PT_DURATION, policy_tenant, cache_ttl_ms, .def = "0s", RANGE(0, 30 * ONE_DAY_MS),
	  DOC("How long this tenant's answers are served from the cache; 0: `cache.ttl`.")),
	F("bytes_per_token", PT_U32, policy_tenant, bytes_per_token, .def = "4",
	  RANGE(1, TG_BYTES_PER_TOKEN_MAX),
	  DOC("The kernel's coarse token estimate: payload bytes per token.")),
	OBJ("syn", policy_tenant, syn, syn_schema, DOC("Connection admission for the tenant, in XDP.")),
	END,
};

static const struct pschema tenant_schema = {
	.name = "tenant", .size = sizeof(struct policy_tenant), .fields = tenant_fields,
	.validate = tenant_validate,
	.doc = "Who is calling: identified by API key in the proxy and by source prefix in the kernel.",
};

/* ---- providers and models ---------------------------------------------------------- */

static const char *const default_base_urls[] = {
	[POLICY_PROVIDER_OPENAI] = "https://api.openai.com",
	[POLICY_PROVIDER_AZURE_OPENAI] = NULL,	/* resource-specific */
	[POLICY_PROVIDER_ANTHROPIC] = "https://api.anthropic.com",
	[POLICY_PROVIDER_GEMINI] = "https://generativelanguage.googleapis.com",
	[POLICY_PROVIDER_BEDROCK] = NULL,	/* from the region */
	[POLICY_PROVIDER_OPENAI_COMPATIBLE] = NULL,	/* where it runs */
	[POLICY_PROVIDER_ECHO] = NULL,		/* in process */
};

static const struct pfield backoff_fields[] = {
	F("base", PT_DURATION, policy_backoff, base_ms, .def = "100ms", RANGE(1, 60000),
	  DOC("The first retry waits a random time up to this; each later one up to twice as long (full jitter).")),
	F("max", PT_DURATION, policy_backoff, max_ms, .def = "2s", RANGE(1, 600000),
	  DOC("Cap on a retry's wait.")),
	F("retry_after_max", PT_DURATION, policy_backoff, retry_after_max_ms, .def = "5s",
	  RANGE(0, 600000),
	  DOC("A 429 or 503 whose `Retry-After` asks for at most this is retried after waiting that long (when no fallback on another provider is left); a longer one is passed to the caller. 0: never wait for one.")),
	F("budget_ratio", PT_F64, policy_backoff, budget_ratio, .def = "0.2", RANGE(0, 10),
	  DOC("Retry budget: each call to the provider earns this many retries; a retry spends one. Keeps a failing provider from getting (1 + retries) times its load.")),
	F("budget_min", PT_U32, policy_backoff, budget_min, .def = "10", RANGE(0, 100000),
	  DOC("Retries the budget holds at most (and starts with), so a quiet provider can still be retried.")),
	END,
};

static const struct pschema backoff_schema = {
	.name = "backoff", .size = sizeof(struct policy_backoff), .fields = backoff_fields,
	.doc = "Retry waits and the retry budget.",
};

static void provider_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_provider *p = obj;
	const char *type = provider_types[p->type];

	p->loc = policy_node_loc(ctx, n);
	if (p->optional) {
		struct policy_secret *sec[] = { p->api_key, p->access_key_id, p->secret_access_key };

		for (size_t i = 0; i < sizeof(sec) / sizeof(sec[0]); i++)
			if (sec[i])
				sec[i]->optional = true;
	}
	switch (p->type) {
	case POLICY_PROVIDER_AZURE_OPENAI:
		if (!p->base_url.text)
			policy_ctx_error(ctx, n, "provider '%s' of type azure_openai needs 'base_url' (https://RESOURCE.openai.azure.com)", p->name);
		if (!p->api_version)
			policy_ctx_error(ctx, n, "provider '%s' of type azure_openai needs 'api_version' (e.g. 2024-10-21)", p->name);
		/* fallthrough */
	case POLICY_PROVIDER_ANTHROPIC:
	case POLICY_PROVIDER_GEMINI:
		if (!p->api_key)
			policy_ctx_error(ctx, n, "provider '%s' of type %s needs 'api_key' (e.g. ${env:%s_API_KEY})",
				   p->name, type, p->type == POLICY_PROVIDER_GEMINI ? "GEMINI" :
				   p->type == POLICY_PROVIDER_ANTHROPIC ? "ANTHROPIC" : "AZURE_OPENAI");
		break;
	case POLICY_PROVIDER_BEDROCK:
		/* The region becomes part of a host name. */
		if (p->region && (strspn(p->region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
				  strlen(p->region) || strlen(p->region) > 32))
			policy_ctx_error(ctx, policy_node_get(n, "region"),
				   "'region' must be an AWS region name: lower-case letters, digits and '-' (e.g. eu-central-1)");
		if (!p->region)
			policy_ctx_error(ctx, n, "provider '%s' of type bedrock needs 'region' (e.g. us-east-1)", p->name);
		if (!p->access_key_id || !p->secret_access_key)
			policy_ctx_error(ctx, n, "provider '%s' of type bedrock needs 'access_key_id' and 'secret_access_key'", p->name);
		if (p->api_key)
			policy_ctx_error(ctx, policy_node_get(n, "api_key"), "provider '%s' of type bedrock signs requests with 'access_key_id' and 'secret_access_key'; 'api_key' is not used", p->name);
		break;
	case POLICY_PROVIDER_OPENAI:
		/* api_key is optional: OpenAI-compatible servers often need none */
		break;
	case POLICY_PROVIDER_OPENAI_COMPATIBLE:
		if (!p->base_url.text)
			policy_ctx_error(ctx, n, "provider '%s' of type openai_compatible needs 'base_url' (where the server runs, e.g. http://127.0.0.1:8000)", p->name);
		break;
	case POLICY_PROVIDER_ECHO:
		if (p->base_url.text || p->api_key)
			policy_ctx_error(ctx, n, "provider '%s' of type echo answers in process; it takes no 'base_url' or 'api_key'", p->name);
		break;
	}
	if (p->type != POLICY_PROVIDER_BEDROCK && (p->access_key_id || p->secret_access_key))
		policy_ctx_error(ctx, n, "'access_key_id' and 'secret_access_key' are for bedrock providers; '%s' is %s",
			   p->name, type);
	if (p->type != POLICY_PROVIDER_AZURE_OPENAI && p->api_version)
		policy_ctx_error(ctx, policy_node_get(n, "api_version"), "'api_version' is for azure_openai providers; '%s' is %s",
			   p->name, type);
	if (p->type != POLICY_PROVIDER_BEDROCK && p->region)
		policy_ctx_error(ctx, policy_node_get(n, "region"), "'region' is for bedrock providers; '%s' is %s",
			   p->name, type);
	if (!p->base_url.text) {
		char url[160];

		if (default_base_urls[p->type]) {
			policy_ctx_set_url(ctx, &p->base_url, default_base_urls[p->type]);
		} else if (p->type == POLICY_PROVIDER_BEDROCK && p->region) {
			snprintf(url, sizeof(url), "https://bedrock-runtime.%s.amazonaws.com", p->region);
			policy_ctx_set_url(ctx, &p->base_url, url);
		}
	}
}

static const struct pfield provider_fields[] = {
	F("name", PT_NAME, policy_provider, name, .required = true, .defines = NS_PROVIDER,
	  DOC("Unique name; models refer to it.")),
	ENUM("type", policy_provider, type, provider_types, .required = true,
	     DOC("Wire format: `openai`, `azure_openai`, `anthropic`, `gemini`, `bedrock`, `openai_compatible` (vLLM, Ollama and the like; needs `base_url`), or `echo` (built in: answers deterministically in process, for trying tollgate with no provider).")),
	{ .key = "base_url", .type = PT_URL, .off = OFF(policy_provider, base_url),
	  .schemes = "https http",
	  DOC("Where the API is. Default per type: api.openai.com, api.anthropic.com, generativelanguage.googleapis.com over https; bedrock from `region`; azure_openai has none.") },
	F("api_key", PT_SECRET, policy_provider, api_key,
	  DOC("Provider credential, by reference: `${env:NAME}` or `${file:/path}`. Clients never see it.")),
	F("access_key_id", PT_SECRET, policy_provider, access_key_id, DOC("Bedrock: AWS access key id, by reference.")),
	F("secret_access_key", PT_SECRET, policy_provider, secret_access_key,
	  DOC("Bedrock: AWS secret access key, by reference.")),
	F("api_version", PT_STR, policy_provider, api_version, DOC("Azure OpenAI: the `api-version` to send.")),
	F("region", PT_NAME, policy_provider, region, DOC("Bedrock: the AWS region.")),
	OBJ("tls", policy_provider, tls, tls_client_schema, DOC("Upstream TLS verification.")),
	F("timeout", PT_DURATION, policy_provider, timeout_ms, .def = "120s",
	  RANGE(1, TG_TIMEOUT_MS_MAX), DOC("Whole-call bound for a non-streaming call.")),
	F("max_connections", PT_U32, policy_provider, max_connections, .def = "64",
	  RANGE(1, 65536), DOC("Connections to the provider, at most.")),
	F("optional", PT_BOOL, policy_provider, optional, .def = "false",
	  DOC("When its secrets are not set, the provider is off instead of the policy being refused: its models answer from their other targets and fallbacks, and `/v1/models` leaves out models nothing can serve. For policies that use a provider when its key is in the environment.")),
	F("retries", PT_U32, policy_provider, retries, .def = "1", RANGE(0, 10),
	  DOC("Retries of a failed call (connect errors, timeouts, 5xx; a 429 falls back at once) before falling back.")),
	OBJ("circuit", policy_provider, circuit, health_schema,
	    DOC("Circuit breaker: after `fail_threshold` consecutive failures (connect errors, timeouts, 429, 5xx) the provider is skipped for `eject` (a 429's Retry-After, if longer), its models going straight to their fallbacks.")),
	OBJ("backoff", policy_provider, backoff, backoff_schema,
	    DOC("How retries of this provider wait, and how many it may take.")),
	END,
};

static const struct pschema provider_schema = {
	.name = "provider", .size = sizeof(struct policy_provider),
	.fields = provider_fields, .validate = provider_validate,
	.doc = "An LLM provider account.",
};

static const struct pfield price_fields[] = {
	F("input", PT_F64, policy_price, input, .def = "0", RANGE(0, 1e6),
	  DOC("Price per million input tokens.")),
	F("output", PT_F64, policy_price, output, .def = "0", RANGE(0, 1e6),
	  DOC("Price per million output tokens.")),
	F("cached_input", PT_F64, policy_price, cached_input, .def = "-1", RANGE(-1, 1e6),
	  DOC("Price per million cached input tokens (prompt caching); -1: the `input` price.")),
	END,
};

static const struct pschema price_schema = {
	.name = "price", .size = sizeof(struct policy_price), .fields = price_fields,
	.doc = "Prices, for cost budgets and metrics.",
};

static const char *const balance_modes[] = { "weighted", "least_latency", NULL };

static void target_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_target *t = obj;

	t->loc = policy_node_loc(ctx, n);
}

static const struct pfield target_fields[] = {
	F("provider", PT_NAME, policy_target, provider, .required = true, .refs = NS_PROVIDER,
	  DOC("The provider of this deployment.")),
	F("upstream", PT_STR, policy_target, upstream,
	  DOC("Its name for the model; default: the model's `upstream`.")),
	F("weight", PT_U32, policy_target, weight, .def = "1", RANGE(0, 10000),
	  DOC("Share of calls under `balance: weighted`; 0 only takes calls when the others fail.")),
	END,
};

static const struct pschema target_schema = {
	.name = "target", .size = sizeof(struct policy_target), .fields = target_fields,
	.validate = target_validate,
	.doc = "Another deployment of the model, balanced with the first.",
};

static void model_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_model *m = obj;

	m->loc = policy_node_loc(ctx, n);
	if (!m->upstream)
		m->upstream = m->name;
	for (uint32_t i = 0; i < m->n_targets; i++) {
		const yaml_node_t *item = policy_node_item(policy_node_get(n, "targets"), i);

		if (!m->targets[i].upstream)
			m->targets[i].upstream = m->upstream;
		if (!strcmp(m->targets[i].provider, m->provider) &&
		    !strcmp(m->targets[i].upstream, m->upstream))
			policy_ctx_error(ctx, item, "model '%s': target %u is the model's own provider '%s' and upstream '%s' again",
				   m->name, i, m->provider, m->upstream);
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(m->targets[i].provider, m->targets[j].provider) &&
			    !strcmp(m->targets[i].upstream, m->targets[j].upstream))
				policy_ctx_error(ctx, item, "model '%s' lists target '%s' (upstream '%s') twice",
					   m->name, m->targets[i].provider, m->targets[i].upstream);
	}
	for (uint32_t i = 0; i < m->n_fallback; i++) {
		const yaml_node_t *item = policy_node_item(policy_node_get(n, "fallback"), i);

		if (!strcmp(m->fallback[i], m->name))
			policy_ctx_error(ctx, item, "model '%s' lists itself as a fallback", m->name);
		for (uint32_t j = 0; j < i; j++) {
			if (!strcmp(m->fallback[i], m->fallback[j]))
				policy_ctx_error(ctx, item, "model '%s' lists fallback '%s' twice",
					   m->name, m->fallback[i]);
		}
	}
}

static const struct pfield model_fields[] = {
	F("name", PT_NAME, policy_model, name, .required = true, .defines = NS_MODEL,
	  DOC("The model name clients ask for.")),
	F("provider", PT_NAME, policy_model, provider, .required = true, .refs = NS_PROVIDER,
	  DOC("The provider that serves it.")),
	F("upstream", PT_STR, policy_model, upstream,
	  DOC("The provider's name for the model (e.g. a Bedrock model id or an Azure deployment); default: `name`.")),
	F("weight", PT_U32, policy_model, weight, .def = "1", RANGE(0, 10000),
	  DOC("Share of calls `provider` takes among the `targets` under `balance: weighted`.")),
	LIST("targets", policy_model, targets, policy_target, target_schema, TG_TARGETS_MAX,
	     DOC("More deployments of the same model (another account, region or provider), balanced with `provider`; when one fails the next is tried before `fallback`.")),
	ENUM("balance", policy_model, balance, balance_modes, .def = "weighted",
	     DOC("How a call picks among `provider` and `targets`: `weighted` (random, by weight) or `least_latency` (the lowest moving average of time to the provider's answer head, with one call in 16 spread at random to keep measuring the others).")),
	OBJ("price", policy_model, price, price_schema, DOC("Prices.")),
	REFLIST("fallback", policy_model, fallback, NS_MODEL, TG_FALLBACKS_MAX,
		DOC("Models tried in order when this one fails or its circuit is open.")),
	F("context_window", PT_U64, policy_model, context_window, .def = "0", RANGE(0, 1e9),
	  DOC("Tokens the model accepts; requests estimated larger are refused (400) before the call. 0: unchecked.")),
	END,
};

static const struct pschema model_schema = {
	.name = "model", .size = sizeof(struct policy_model), .fields = model_fields,
	.validate = model_validate,
	.doc = "A model clients may ask for, and where it is served.",
};

/* ---- router --------------------------------------------------------------------------- */

static const struct pfield embeddings_fields[] = {
	{ .key = "url", .type = PT_URL, .off = OFF(policy_embeddings, url), .required = true,
	  .schemes = "https http", DOC("OpenAI-compatible `/v1/embeddings` endpoint.") },
	F("model", PT_STR, policy_embeddings, model, .required = true, DOC("Embedding model to ask for.")),
	F("api_key", PT_SECRET, policy_embeddings, api_key, DOC("Credential, by reference.")),
	F("timeout", PT_DURATION, policy_embeddings, timeout_ms, .def = "2s",
	  RANGE(1, 60000), DOC("Bound on the embeddings call; past it the local decision stands.")),
	END,
};

static const struct pschema embeddings_schema = {
	.name = "embeddings", .size = sizeof(struct policy_embeddings),
	.fields = embeddings_fields,
	.doc = "Optional remote embeddings for prompts the local model is unsure of.",
};

static void semroute_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_semantic_route *r = obj;

	r->loc = policy_node_loc(ctx, n);
	r->model_loc = policy_node_loc(ctx, policy_node_get(n, "model"));
	if (!r->n_examples && !r->n_keywords && r->domain == POLICY_DOMAIN_NONE &&
	    !r->min_tokens)
		policy_ctx_error(ctx, n, "semantic route '%s' has neither 'examples' nor 'keywords'; give example prompts to learn from, a built-in 'domain' or a 'min_tokens' rule",
			   r->name);
}

/* In enum policy_route_domain order. */
static const char *const route_domains[] = {
	"none", "code", "math", "finance", "legal", "summarization", "translation",
	"creative", "chat", NULL,
};

static const struct pfield semroute_fields[] = {
	F("name", PT_NAME, policy_semantic_route, name, .required = true, .defines = NS_SEMROUTE,
	  DOC("Unique name, shown in `x-tollgate-route`, the audit log and metrics.")),
	F("model", PT_NAME, policy_semantic_route, model, .required = true, .refs = NS_MODEL,
	  DOC("The model prompts of this route go to.")),
	STRLIST("examples", policy_semantic_route, examples, PT_TEXT, TG_ROUTE_EXAMPLES_MAX,
		DOC("Example prompts; the router's linear model is trained on them at load.")),
	STRLIST("keywords", policy_semantic_route, keywords, PT_STR, TG_ROUTE_EXAMPLES_MAX,
		DOC("Words that weigh towards this route.")),
	ENUM("domain", policy_semantic_route, domain, route_domains, .def = "none",
	     DOC("A built-in domain whose example prompts and keywords are added to this route's own (`legal` covers compliance, `creative` writing, `chat` general conversation); `none`: only its own.")),
	F("min_tokens", PT_U64, policy_semantic_route, min_tokens, .def = "0", RANGE(0, 1e9),
	  DOC("Rule: the route is eligible only for prompts estimated at this many tokens or more (bytes / 4); with no examples, keywords or domain it takes every such prompt, before the classifier. 0: no rule.")),
	F("threshold", PT_F64, policy_semantic_route, threshold, .def = "-1", RANGE(-1, 1),
	  DOC("Confidence needed to pick this route; -1: the router's `threshold`.")),
	F("guard", PT_NAME, policy_semantic_route, guard, .refs = NS_GUARD,
	  DOC("Guard profile applied to prompts routed here, on top of the tenant's.")),
	END,
};

static const struct pschema semroute_schema = {
	.name = "semantic route", .size = sizeof(struct policy_semantic_route),
	.fields = semroute_fields, .validate = semroute_validate,
	.doc = "A class of prompts, defined by examples, and the model it goes to.",
};

static void router_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_router *r = obj;

	((struct policy *)((char *)r - offsetof(struct policy, router)))->router_loc =
		policy_node_loc(ctx, policy_node_get(n, "default_model") ? policy_node_get(n, "default_model") : n);

	if (r->n_routes && !r->default_model)
		policy_ctx_error(ctx, n, "router has routes but no 'default_model' for prompts that match none");
}

static const struct pfield router_fields[] = {
	F("alias", PT_NAME, policy_router, alias, .def = "auto",
	  DOC("The model name that asks for semantic routing.")),
	F("default_model", PT_NAME, policy_router, default_model, .refs = NS_MODEL,
	  DOC("Where prompts go when no route is confident enough.")),
	F("threshold", PT_F64, policy_router, threshold, .def = "0.5", RANGE(0, 1),
	  DOC("Confidence a route needs, unless it sets its own.")),
	LIST("routes", policy_router, routes, policy_semantic_route, semroute_schema,
	     TG_SEMANTIC_ROUTES_MAX, DOC("The routes.")),
	OPT("embeddings", policy_router, embeddings, embeddings_schema, DOC("Remote embeddings.")),
	END,
};

static const struct pschema router_schema = {
	.name = "router", .size = sizeof(struct policy_router), .fields = router_fields,
	.validate = router_validate,
	.doc = "Semantic routing of requests for the `alias` model.",
};

/* ---- guards ------------------------------------------------------------------------------ */

static const struct pfield pii_fields[] = {
	F("enabled", PT_BOOL, policy_pii, enabled, .def = "true", DOC("Scan for personal data.")),
	ENUM("action", policy_pii, action, guard_actions, .def = "redact",
	     DOC("`block` refuses the request (400), `redact` replaces the match with a placeholder, `log` only records it.")),
	{ .key = "types", .type = PT_FLAGS, .off = OFF(policy_pii, types), .names = pii_types,
	  .def = "email,phone,card,ssn,iban,ip,secret",
	  DOC("Kinds detected: `email`, `phone`, `card` (Luhn-checked), `ssn`, `iban` (checksum), `ip`, `secret` (API keys, tokens).") },
	F("responses", PT_BOOL, policy_pii, responses, .def = "true",
	  DOC("Also scan responses, streamed ones across chunk boundaries.")),
	END,
};

static const struct pschema pii_schema = {
	.name = "pii", .size = sizeof(struct policy_pii), .fields = pii_fields,
	.doc = "Personal data detection.",
};

static void pattern_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_pattern *p = obj;

	p->loc = policy_node_loc(ctx, policy_node_get(n, "regex"));
}

static const struct pfield pattern_fields[] = {
	F("name", PT_NAME, policy_pattern, name, .required = true, DOC("Name reported on a match.")),
	F("regex", PT_STR, policy_pattern, regex, .required = true,
	  DOC("Hyperscan (PCRE subset) expression; a pattern that does not compile is reported at its line.")),
	END,
};

static const struct pschema pattern_schema = {
	.name = "pattern", .size = sizeof(struct policy_pattern), .fields = pattern_fields,
	.validate = pattern_validate,
	.doc = "A named regular expression.",
};

static const struct pfield injection_fields[] = {
	F("enabled", PT_BOOL, policy_injection, enabled, .def = "true",
	  DOC("Scan prompts for injection attempts.")),
	ENUM("action", policy_injection, action, guard_actions, .def = "block",
	     DOC("What a match does (`redact` removes the matched text).")),
	F("builtin", PT_BOOL, policy_injection, builtin, .def = "true",
	  DOC("Use the shipped pattern set.")),
	LIST("patterns", policy_injection, patterns, policy_pattern, pattern_schema,
	     TG_GUARD_PATTERNS_MAX, DOC("More patterns.")),
	END,
};

static const struct pschema injection_schema = {
	.name = "injection", .size = sizeof(struct policy_injection),
	.fields = injection_fields,
	.doc = "Prompt-injection detection.",
};

static void guard_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_guard *g = obj;

	g->loc = policy_node_loc(ctx, n);
}

static const struct pfield guard_fields[] = {
	F("name", PT_NAME, policy_guard, name, .required = true, .defines = NS_GUARD,
	  DOC("Unique name; tenants and routes refer to it.")),
	OBJ("pii", policy_guard, pii, pii_schema, DOC("Personal data.")),
	OBJ("injection", policy_guard, injection, injection_schema, DOC("Prompt injection.")),
	LIST("deny", policy_guard, deny, policy_pattern, pattern_schema, TG_GUARD_PATTERNS_MAX,
	     DOC("Patterns whose match blocks the request.")),
	END,
};

static const struct pschema guard_schema = {
	.name = "guard", .size = sizeof(struct policy_guard), .fields = guard_fields,
	.validate = guard_validate,
	.doc = "A guard profile: what is looked for in prompts and responses, and what is done.",
};

/* ---- MCP --------------------------------------------------------------------------------- */

static void mcp_server_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_mcp_server *s = obj;

	s->loc = policy_node_loc(ctx, n);
}

static const struct pfield mcp_server_fields[] = {
	F("name", PT_NAME, policy_mcp_server, name, .required = true, .defines = NS_MCP,
	  DOC("Unique name; tool names are prefixed with it (`name.tool`) when more than one server is federated.")),
	{ .key = "url", .type = PT_URL, .off = OFF(policy_mcp_server, url), .required = true,
	  .schemes = "https http", DOC("The server's Streamable HTTP endpoint.") },
	F("token", PT_SECRET, policy_mcp_server, token, DOC("Bearer token to send, by reference.")),
	OBJ("tls", policy_mcp_server, tls, tls_client_schema, DOC("Upstream TLS verification.")),
	F("pin_tools", PT_BOOL, policy_mcp_server, pin_tools, .def = "true",
	  DOC("Remember each tool definition's hash; a changed definition is flagged and withheld.")),
	F("timeout", PT_DURATION, policy_mcp_server, timeout_ms, .def = "60s",
	  RANGE(1, TG_TIMEOUT_MS_MAX), DOC("Bound on one call.")),
	END,
};

static const struct pschema mcp_server_schema = {
	.name = "MCP server", .size = sizeof(struct policy_mcp_server),
	.fields = mcp_server_fields, .validate = mcp_server_validate,
	.doc = "An upstream MCP server federated behind the gateway.",
};

static void mcp_tool_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_mcp_tool *t = obj;
	int depth = 0;

	t->loc = policy_node_loc(ctx, n);
	/* Path parameters: {name}, not nested, closed. */
	for (const char *c = t->path; *c; c++) {
		if (*c == '{' && depth++)
			break;
		if (*c == '}' && --depth < 0)
			break;
	}
	if (depth)
		policy_ctx_error(ctx, policy_node_get(n, "path"),
			   "path '%s' has unbalanced '{' '}'; parameters are written {name}", t->path);
}

static const struct pfield mcp_tool_fields[] = {
	F("name", PT_NAME, policy_mcp_tool, name, .required = true, DOC("Tool name.")),
	ENUM("method", policy_mcp_tool, method, methods, .required = true, DOC("HTTP method.")),
	F("path", PT_URLPATH, policy_mcp_tool, path, .required = true,
	  DOC("Path under the bridge's `base_url`; `{param}` segments come from the tool's arguments.")),
	F("description", PT_TEXT, policy_mcp_tool, description, .def = "",
	  DOC("What the tool does, for the model.")),
	F("input_schema", PT_JSON, policy_mcp_tool, input_schema,
	  DOC("JSON Schema of the arguments, written as YAML; unset: derived from the path parameters.")),
	END,
};

static const struct pschema mcp_tool_schema = {
	.name = "tool", .size = sizeof(struct policy_mcp_tool), .fields = mcp_tool_fields,
	.validate = mcp_tool_validate,
	.doc = "A REST endpoint offered as an MCP tool.",
};

static void mcp_bridge_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_mcp_bridge *b = obj;

	b->loc = policy_node_loc(ctx, n);
	if (!b->n_tools && !b->openapi)
		policy_ctx_error(ctx, n, "bridge '%s' offers no tools: give 'tools' or an 'openapi' document", b->name);
	for (uint32_t i = 0; i < b->n_tools; i++) {
		for (uint32_t j = 0; j < i; j++) {
			if (!strcmp(b->tools[i].name, b->tools[j].name)) {
				const struct policy_loc *l = &b->tools[i].loc;

				policy_ctx_error(ctx, n, "bridge '%s' has two tools named '%s' (the second at line %u)",
					   b->name, b->tools[i].name, l->line);
			}
		}
	}
}

static const struct pfield mcp_bridge_fields[] = {
	F("name", PT_NAME, policy_mcp_bridge, name, .required = true, .defines = NS_MCP,
	  DOC("Unique name, the tools' prefix.")),
	{ .key = "base_url", .type = PT_URL, .off = OFF(policy_mcp_bridge, base_url),
	  .required = true, .schemes = "https http", DOC("Where the REST API is.") },
	F("openapi", PT_PATH, policy_mcp_bridge, openapi,
	  DOC("OpenAPI 3 document whose operations become tools.")),
	F("token", PT_SECRET, policy_mcp_bridge, token, DOC("Bearer token for the API, by reference.")),
	LIST("tools", policy_mcp_bridge, tools, policy_mcp_tool, mcp_tool_schema,
	     TG_MCP_TOOLS_PER_BRIDGE_MAX, DOC("Endpoints listed by hand.")),
	END,
};

static const struct pschema mcp_bridge_schema = {
	.name = "bridge", .size = sizeof(struct policy_mcp_bridge),
	.fields = mcp_bridge_fields, .validate = mcp_bridge_validate,
	.doc = "A REST API offered to agents as MCP tools.",
};

static void tool_allow_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_tool_allow *a = obj;

	a->loc = policy_node_loc(ctx, n);
	for (uint32_t i = 0; i < a->n_tools; i++) {
		const char *g = a->tools[i];

		if (!*g || strspn(g, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/:*?") != strlen(g))
			policy_ctx_error(ctx, policy_node_item(policy_node_get(n, "tools"), i),
				   "tool pattern '%.64s' may hold only name characters and the wildcards * and ?", g);
	}
}

static const struct pfield tool_allow_fields[] = {
	F("tenant", PT_NAME, policy_tool_allow, tenant, .required = true, .refs = NS_TENANT,
	  DOC("The tenant.")),
	STRLIST("tools", policy_tool_allow, tools, PT_STR, TG_ALLOW_RULES_MAX,
		DOC("Tool name patterns (`*`, `?`) the tenant may list and call, e.g. `github.*`.")),
	END,
};

static const struct pschema tool_allow_schema = {
	.name = "MCP allow rule", .size = sizeof(struct policy_tool_allow),
	.fields = tool_allow_fields, .validate = tool_allow_validate,
	.doc = "Tools a tenant may use; a tenant with no rule may use none.",
};

static const struct pfield mcp_fields[] = {
	F("path", PT_URLPATH, policy_mcp, path, .def = "/mcp",
	  DOC("Endpoint of the federated server; each server or bridge is also at `<path>/<name>`.")),
	F("session_ttl", PT_DURATION, policy_mcp, session_ttl_ms, .def = "1h",
	  RANGE(1000, 7 * ONE_DAY_MS), DOC("Idle MCP sessions are forgotten after this.")),
	LIST("servers", policy_mcp, servers, policy_mcp_server, mcp_server_schema,
	     TG_MCP_SERVERS_MAX, DOC("Upstream MCP servers.")),
	LIST("bridges", policy_mcp, bridges, policy_mcp_bridge, mcp_bridge_schema,
	     TG_MCP_BRIDGES_MAX, DOC("REST APIs bridged to MCP.")),
	LIST("allow", policy_mcp, allow, policy_tool_allow, tool_allow_schema,
	     TG_ALLOW_RULES_MAX, DOC("Per-tenant tool allow-lists, applied to both `tools/list` and `tools/call`.")),
	END,
};

static const struct pschema mcp_schema = {
	.name = "mcp", .size = sizeof(struct policy_mcp), .fields = mcp_fields,
	.doc = "Model Context Protocol: bridged APIs and federated servers.",
};

/* ---- A2A ---------------------------------------------------------------------------------- */

static void agent_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_a2a_agent *a = obj;

	a->loc = policy_node_loc(ctx, n);
}

static const struct pfield agent_fields[] = {
	F("name", PT_NAME, policy_a2a_agent, name, .required = true, .defines = NS_AGENT,
	  DOC("Unique name; the agent is served at `/a2a/<name>/`.")),
	{ .key = "url", .type = PT_URL, .off = OFF(policy_a2a_agent, url), .required = true,
	  .schemes = "https http", DOC("The agent's base URL.") },
	F("card_path", PT_URLPATH, policy_a2a_agent, card_path,
	  .def = "/.well-known/agent-card.json", DOC("Where the agent serves its card.")),
	F("token", PT_SECRET, policy_a2a_agent, token, DOC("Bearer token to send, by reference.")),
	OBJ("tls", policy_a2a_agent, tls, tls_client_schema, DOC("Upstream TLS verification.")),
	F("requests_per_minute", PT_U32, policy_a2a_agent, requests_per_minute, .def = "0",
	  RANGE(0, 100000000), DOC("Calls to the agent per minute from all callers; 0 is unlimited.")),
	END,
};

static const struct pschema agent_schema = {
	.name = "agent", .size = sizeof(struct policy_a2a_agent), .fields = agent_fields,
	.validate = agent_validate,
	.doc = "An A2A agent behind the gateway.",
};

static void agent_allow_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_agent_allow *a = obj;

	a->loc = policy_node_loc(ctx, n);
}

static const struct pfield agent_allow_fields[] = {
	F("from", PT_NAME, policy_agent_allow, from, .required = true, .refs = NS_TENANT,
	  DOC("The calling tenant.")),
	REFLIST("to", policy_agent_allow, to, NS_AGENT, TG_A2A_AGENTS_MAX,
		.required = true, DOC("Agents it may call.")),
	END,
};

static const struct pschema agent_allow_schema = {
	.name = "A2A allow rule", .size = sizeof(struct policy_agent_allow),
	.fields = agent_allow_fields, .validate = agent_allow_validate,
	.doc = "A row of the caller → agent allow matrix; what is not allowed is refused.",
};

static const struct pfield a2a_fields[] = {
	F("hop_limit", PT_U32, policy_a2a, hop_limit, .def = "8", RANGE(1, 64),
	  DOC("Most agent-to-agent hops one request may take through the gateway.")),
	LIST("agents", policy_a2a, agents, policy_a2a_agent, agent_schema, TG_A2A_AGENTS_MAX,
	     DOC("The agents.")),
	LIST("allow", policy_a2a, allow, policy_agent_allow, agent_allow_schema,
	     TG_ALLOW_RULES_MAX, DOC("The allow matrix.")),
	END,
};

static const struct pschema a2a_schema = {
	.name = "a2a", .size = sizeof(struct policy_a2a), .fields = a2a_fields,
	.doc = "Agent-to-agent (A2A) relay.",
};

/* ---- telemetry ------------------------------------------------------------------------------ */

static const struct pfield metrics_fields[] = {
	F("enabled", PT_BOOL, policy_metrics, enabled, .def = "true", DOC("Serve Prometheus metrics.")),
	F("path", PT_URLPATH, policy_metrics, path, .def = "/metrics", DOC("Where.")),
	END,
};

static const struct pschema metrics_schema = {
	.name = "metrics", .size = sizeof(struct policy_metrics), .fields = metrics_fields,
	.doc = "Prometheus exposition on listeners with the `metrics` endpoint.",
};

static void audit_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_audit *a = obj;

	if (a->enabled && !a->path)
		policy_ctx_error(ctx, n, "audit is enabled but has no 'path'");
}

static const struct pfield audit_fields[] = {
	F("enabled", PT_BOOL, policy_audit, enabled, .def = "false",
	  DOC("Write the hash-chained audit log (JSON lines) of LLM, MCP and A2A calls.")),
	F("path", PT_PATH, policy_audit, path, DOC("The log file (appended to).")),
	ENUM("fsync", policy_audit, fsync, fsync_modes, .def = "batch",
	     DOC("`always` syncs after every batch the writer thread writes, `batch` at most every 100 ms, `never` leaves it to the kernel. Requests never wait for the disk; see docs/audit.md for the durability window.")),
	F("rotate_bytes", PT_SIZE, policy_audit, rotate_bytes, .def = "100MiB",
	  DOC("Rotate the file when it reaches this size (0: only on SIGHUP); the chain continues in the new file.")),
	F("include_prompts", PT_BOOL, policy_audit, include_prompts, .def = "false",
	  DOC("Also write the prompt text (at most 8 KiB per record). Off: prompts never reach the audit log.")),
	END,
};

static const struct pschema audit_schema = {
	.name = "audit", .size = sizeof(struct policy_audit), .fields = audit_fields,
	.validate = audit_validate,
	.doc = "The audit log.",
};

static const struct pfield access_log_fields[] = {
	F("enabled", PT_BOOL, policy_access_log, enabled, .def = "true",
	  DOC("One JSON line per request, written off the hot path.")),
	F("path", PT_PATH, policy_access_log, path, .def = "-",
	  DOC("The file; `-` is standard error.")),
	END,
};

static const struct pschema access_log_schema = {
	.name = "access_log", .size = sizeof(struct policy_access_log),
	.fields = access_log_fields,
	.doc = "The access log.",
};

static void traces_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_traces *t = obj;

	if (t->enabled && !t->endpoint.text)
		policy_ctx_error(ctx, n, "traces are enabled but have no 'endpoint' (an OTLP/HTTP collector URL)");
}

static const struct pfield traces_fields[] = {
	F("enabled", PT_BOOL, policy_traces, enabled, .def = "false", DOC("Export spans.")),
	{ .key = "endpoint", .type = PT_URL, .off = OFF(policy_traces, endpoint),
	  .schemes = "http https", DOC("OTLP/HTTP collector, e.g. http://127.0.0.1:4318/v1/traces.") },
	F("sample_ratio", PT_F64, policy_traces, sample_ratio, .def = "1", RANGE(0, 1),
	  DOC("Share of new traces sampled; an incoming sampled `traceparent` is always followed.")),
	F("service_name", PT_STR, policy_traces, service_name, .def = "tollgate",
	  DOC("`service.name` resource attribute.")),
	END,
};

static const struct pschema traces_schema = {
	.name = "traces", .size = sizeof(struct policy_traces), .fields = traces_fields,
	.validate = traces_validate,
	.doc = "W3C trace context and OTLP export.",
};

static const struct pfield telemetry_fields[] = {
	OBJ("metrics", policy_telemetry, metrics, metrics_schema, DOC("Metrics.")),
	OBJ("audit", policy_telemetry, audit, audit_schema, DOC("Audit log.")),
	OBJ("access_log", policy_telemetry, access_log, access_log_schema, DOC("Access log.")),
	OBJ("traces", policy_telemetry, traces, traces_schema, DOC("Traces.")),
	END,
};

static const struct pschema telemetry_schema = {
	.name = "telemetry", .size = sizeof(struct policy_telemetry),
	.fields = telemetry_fields,
	.doc = "Metrics, audit, access log and traces.",
};

/* ---- kernel ---------------------------------------------------------------------------------- */

static const struct pfield penalty_fields[] = {
	F("auth_failures", PT_U32, policy_penalty, auth_failures, .def = "10", RANGE(0, 1000000),
	  DOC("Failed authentications from one source within `window` that put it in the penalty box; 0 disables.")),
	F("window", PT_DURATION, policy_penalty, window_ms, .def = "1m", RANGE(1000, ONE_DAY_MS),
	  DOC("The window failures are counted in.")),
	F("duration", PT_DURATION, policy_penalty, duration_ms, .def = "10m",
	  RANGE(1000, 30 * ONE_DAY_MS), DOC("How long a boxed source's new connections are dropped in XDP.")),
	END,
};

static const struct pschema penalty_schema = {
	.name = "penalty", .size = sizeof(struct policy_penalty), .fields = penalty_fields,
	.doc = "The penalty box.",
};

static void kernel_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_kernel *k = obj;

	if (k->enabled && !k->n_interfaces)
		policy_ctx_error(ctx, n, "kernel is enabled but lists no 'interfaces' to attach to");
	for (uint32_t i = 0; i < k->n_interfaces; i++) {
		const yaml_node_t *item = policy_node_item(policy_node_get(n, "interfaces"), i);
		const char *ifn = k->interfaces[i];
		size_t len = strlen(ifn);

		if (!len || len >= IFNAMSIZ || strpbrk(ifn, "/ \t\n:") ||
		    !strcmp(ifn, ".") || !strcmp(ifn, "..")) {
			policy_ctx_error(ctx, item,
				   "'%.64s' is not a valid interface name (1 to %d characters, no '/', ':' or spaces)",
				   strpbrk(ifn, "\t\n") ? "(name with a line break)" : ifn,
				   IFNAMSIZ - 1);
			continue;
		}
		for (uint32_t j = 0; j < i; j++) {
			if (!strcmp(ifn, k->interfaces[j]))
				policy_ctx_error(ctx, item, "interface '%s' is listed twice", ifn);
		}
	}
	if (strncmp(k->pin_path, "/sys/fs/bpf/", 12) || strstr(k->pin_path, "/../") ||
	    (strlen(k->pin_path) >= 3 && !strcmp(k->pin_path + strlen(k->pin_path) - 3, "/..")))
		policy_ctx_error(ctx, policy_node_get(n, "pin_path"),
			   "'pin_path' must be a directory under /sys/fs/bpf/ (the BPF file system), without '..'");
}

static const struct pfield kernel_fields[] = {
	F("enabled", PT_BOOL, policy_kernel, enabled, .def = "false",
	  DOC("Attach the XDP and TC programs when tollgated starts (root needed). `tollctl attach` works either way.")),
	STRLIST("interfaces", policy_kernel, interfaces, PT_STR, TG_INTERFACES_MAX,
		DOC("Network interfaces to attach to.")),
	ENUM("attach_mode", policy_kernel, attach_mode, attach_modes, .def = "native",
	     DOC("XDP mode. `generic` only when asked: there is never a silent fallback.")),
	F("flow_table_size", PT_U32, policy_kernel, flow_table_size, .def = "262144",
	  RANGE(TG_FLOW_TABLE_MIN, TG_FLOW_TABLE_MAX), DOC("Flow records (LRU) kept.")),
	F("pin_path", PT_PATH, policy_kernel, pin_path, .def = "/sys/fs/bpf/tollgate",
	  DOC("Where maps and links are pinned.")),
	OBJ("syn_per_prefix", policy_kernel, syn_per_prefix, syn_schema,
	    DOC("SYN admission per source prefix (/24 IPv4, /56 IPv6), for every tenant.")),
	F("flood_guard", PT_U32, policy_kernel, flood_guard, .def = "100000", RANGE(0, 100000000),
	  DOC("New flow records per second per CPU, at most, so a spoofed flood cannot thrash the flow table; 0 disables.")),
	OBJ("penalty", policy_kernel, penalty, penalty_schema, DOC("Penalty box.")),
	F("egress_pacing", PT_BOOL, policy_kernel, egress_pacing, .def = "false",
	  DOC("Pace tenants' egress to their `egress_bytes_per_second` by departure time (EDT; needs `fq` as the root qdisc, or `mq` over `fq`: `tollctl attach` warns otherwise).")),
	F("drop_established_when_blocked", PT_BOOL, policy_kernel, drop_established_when_blocked,
	  .def = "false", DOC("When a tenant is blocked, also drop its established flows, not only new connections.")),
	END,
};

static const struct pschema kernel_schema = {
	.name = "kernel", .size = sizeof(struct policy_kernel), .fields = kernel_fields,
	.validate = kernel_validate,
	.doc = "The XDP/TC datapath.",
};

/* ---- cluster and cache ---------------------------------------------------------------------- */

static const struct pfield redis_fields[] = {
	{ .key = "url", .type = PT_URL, .off = OFF(policy_redis, url), .required = true,
	  .schemes = "redis rediss", DOC("The Redis server, `redis://host:port`.") },
	F("password", PT_SECRET, policy_redis, password, DOC("Password, by reference.")),
	F("lease_tokens", PT_U64, policy_redis, lease_tokens, .def = "10000", RANGE(1, 1e12),
	  DOC("Tokens a node leases from a cluster budget at a time; bounds the overshoot.")),
	ENUM("failure_mode", policy_redis, failure_mode, failure_modes, .def = "open",
	     DOC("While Redis is unreachable: `open` keeps serving on local limits, `closed` refuses what needs a cluster budget (503).")),
	F("timeout", PT_DURATION, policy_redis, timeout_ms, .def = "500ms", RANGE(1, 60000),
	  DOC("Bound on a Redis call (never on the request path).")),
	END,
};

static const struct pschema redis_schema = {
	.name = "redis", .size = sizeof(struct policy_redis), .fields = redis_fields,
	.doc = "Cluster-wide budgets in Redis.",
};

static const struct pfield cluster_fields[] = {
	OPT("redis", policy_cluster, redis, redis_schema, DOC("Unset: every node is on its own.")),
	END,
};

static const struct pschema cluster_schema = {
	.name = "cluster", .size = sizeof(struct policy_cluster), .fields = cluster_fields,
	.doc = "Sharing limits and budgets across nodes.",
};

static const struct pfield cache_fields[] = {
	F("enabled", PT_BOOL, policy_cache, enabled, .def = "false",
	  DOC("Exact-match response cache for non-streaming LLM calls, for the tenants that opt in (`tenants[].cache`).")),
	F("max_entries", PT_U32, policy_cache, max_entries, .def = "10000", RANGE(1, 10000000),
	  DOC("Entries kept at most (least recently used go first).")),
	F("max_bytes", PT_SIZE, policy_cache, max_bytes, .def = "64MiB", RANGE(4096, 1ull << 40),
	  DOC("Bytes the cache holds at most, answers and bookkeeping (least recently used go first).")),
	F("max_entry_bytes", PT_SIZE, policy_cache, max_entry_bytes, .def = "1MiB",
	  RANGE(1, 64u << 20), DOC("Larger responses are not cached.")),
	F("ttl", PT_DURATION, policy_cache, ttl_ms, .def = "5m", RANGE(1000, 30 * ONE_DAY_MS),
	  DOC("How long an entry is served (a tenant's `cache_ttl` overrides it).")),
	END,
};

static void jwt_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy_jwt *j = obj;

	if (!j->tenant_claim || !*j->tenant_claim)
		policy_ctx_error(ctx, n, "'jwt.tenant_claim' must name a claim");
}

static const struct pfield jwt_fields[] = {
	F("jwks_file", PT_PATH, policy_jwt, jwks_file, .required = true,
	  DOC("JWKS file with the verification keys (RS256, ES256 or HS256; `kid` selects one). Read at load and on reload.")),
	F("issuer", PT_STR, policy_jwt, issuer, DOC("Required `iss`; unset: not checked.")),
	F("audience", PT_STR, policy_jwt, audience, DOC("Required in `aud`; unset: not checked.")),
	F("tenant_claim", PT_STR, policy_jwt, tenant_claim, .def = "tenant",
	  DOC("The claim naming the caller's tenant; `sub` names the caller in the audit log.")),
	F("leeway", PT_DURATION, policy_jwt, leeway_ms, .def = "60s", RANGE(0, 3600000),
	  DOC("Clock skew allowed on `exp`, `nbf` and `iat`.")),
	END,
};

static const struct pschema jwt_schema = {
	.name = "jwt", .size = sizeof(struct policy_jwt), .fields = jwt_fields,
	.validate = jwt_validate,
	.doc = "JWT bearer tokens, accepted where API keys are (`auth: api_key`) or instead (`auth: jwt`).",
};

static const struct pschema cache_schema = {
	.name = "cache", .size = sizeof(struct policy_cache), .fields = cache_fields,
	.doc = "Response cache.",
};

/* ---- the root ----------------------------------------------------------------------------------- */

bool policy_sockaddr_is_loopback(const struct policy_sockaddr *a)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (a->family == 4)
		return a->addr[0] == 127;
	return !memcmp(a->addr, v6_loopback, 16);
}


static bool sockaddr_equal(const struct policy_sockaddr *a, const struct policy_sockaddr *b)
{
	return a->family == b->family && a->port == b->port && a->port &&
	       !memcmp(a->addr, b->addr, 16);
}

/* An occurrence of a prefix or key: which tenant, which entry. Sorting
 * these finds repeats in O(n log n) for policies with many tenants. */
struct occ {
	const void *val;
	uint32_t tenant;
	uint32_t idx;
	uint32_t first_tenant;	/* set on repeats: the tenant seen first */
	uint32_t first_idx;
	bool repeat;
};

static size_t occ_size;	/* bytes compared: set before sorting (single-threaded use below) */

static int occ_cmp_val(const void *a, const void *b)
{
	const struct occ *x = a, *y = b;
	int c = memcmp(x->val, y->val, occ_size);

	if (c)
		return c;
	if (x->tenant != y->tenant)
		return x->tenant < y->tenant ? -1 : 1;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int occ_cmp_place(const void *a, const void *b)
{
	const struct occ *x = a, *y = b;

	if (x->tenant != y->tenant)
		return x->tenant < y->tenant ? -1 : 1;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Sorts `v` by value and moves every repeat (with its first occurrence
 * noted) to the front, in reading order. Returns how many repeats. */
static size_t occ_repeats(struct occ *v, size_t n, size_t size)
{
	size_t nrep = 0;

	occ_size = size;
	qsort(v, n, sizeof(*v), occ_cmp_val);
	/* Mark first: nothing moves while groups are being walked. */
	for (size_t i = 1, first = 0; i < n; i++) {
		if (memcmp(v[i].val, v[first].val, size)) {
			first = i;
			continue;
		}
		v[i].repeat = true;
		v[i].first_tenant = v[first].tenant;
		v[i].first_idx = v[first].idx;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].repeat)
			v[nrep++] = v[i];
	}
	qsort(v, nrep, sizeof(*v), occ_cmp_place);
	return nrep;
}

static void check_unique_prefixes(struct pctx *ctx, const struct policy *p)
{
	struct occ *v;
	size_t n = 0, nrep;

	for (uint32_t i = 0; i < p->n_tenants; i++)
		n += p->tenants[i].n_prefixes;
	if (n < 2)
		return;
	v = calloc(n, sizeof(*v));
	if (!v) {
		policy_ctx_error(ctx, NULL, "out of memory checking prefixes");
		return;
	}
	n = 0;
	for (uint32_t i = 0; i < p->n_tenants; i++) {
		for (uint32_t a = 0; a < p->tenants[i].n_prefixes; a++)
			v[n++] = (struct occ){ .val = &p->tenants[i].prefixes[a], .tenant = i, .idx = a };
	}
	nrep = occ_repeats(v, n, sizeof(struct policy_cidr));
	for (size_t r = 0; r < nrep; r++) {
		const struct policy_tenant *t = &p->tenants[v[r].tenant];
		const struct policy_tenant *o = &p->tenants[v[r].first_tenant];
		const struct policy_cidr *c = &t->prefixes[v[r].idx];
		const struct policy_loc *at = t->prefix_locs ? &t->prefix_locs[v[r].idx] : &t->loc;
		char txt[INET6_ADDRSTRLEN];

		inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, txt, sizeof(txt));
		if (o == t)
			policy_error_at(ctx, at, "tenant '%s' lists prefix %s/%u twice",
					t->name, txt, c->len);
		else
			policy_error_at(ctx, at,
					"tenant '%s' claims prefix %s/%u, which tenant '%s' already claims; a prefix may belong to one tenant",
					t->name, txt, c->len, o->name);
	}
	free(v);
}

static void check_unique_keys(struct pctx *ctx, const struct policy *p)
{
	struct occ *v;
	size_t n = 0, nrep;

	for (uint32_t i = 0; i < p->n_tenants; i++)
		n += p->tenants[i].n_keys;
	if (n < 2)
		return;
	v = calloc(n, sizeof(*v));
	if (!v) {
		policy_ctx_error(ctx, NULL, "out of memory checking keys");
		return;
	}
	n = 0;
	for (uint32_t i = 0; i < p->n_tenants; i++) {
		for (uint32_t a = 0; a < p->tenants[i].n_keys; a++)
			v[n++] = (struct occ){ .val = p->tenants[i].keys[a].sha256, .tenant = i, .idx = a };
	}
	nrep = occ_repeats(v, n, 32);
	for (size_t r = 0; r < nrep; r++) {
		const struct policy_tenant *t = &p->tenants[v[r].tenant];
		const struct policy_tenant *o = &p->tenants[v[r].first_tenant];

		/* Within one tenant the tenant's own check has said it. */
		if (o == t)
			continue;
		policy_error_at(ctx, &t->keys[v[r].idx].loc,
				"key '%s' of tenant '%s' has the same hash as key '%s' of tenant '%s'; a key may belong to one tenant",
				t->keys[v[r].idx].name, t->name, o->keys[v[r].first_idx].name, o->name);
	}
	free(v);
}

static void root_validate(struct pctx *ctx, const yaml_node_t *n, void *obj)
{
	struct policy *p = obj;

	(void)n;
	if (!p->n_listeners)
		policy_ctx_error(ctx, NULL, "policy defines no listeners; add one under 'listeners'");
	for (uint32_t i = 0; i < p->n_listeners; i++) {
		const struct policy_listener *l = &p->listeners[i];

		if (l->auth == POLICY_AUTH_JWT && !p->jwt)
			policy_error_at(ctx, &l->loc,
					"listener '%s' has 'auth: jwt' but the policy has no 'jwt' section (jwks_file, issuer, audience)",
					l->name);
		for (uint32_t j = 0; j < i; j++) {
			const struct policy_listener *o = &p->listeners[j];

			if (sockaddr_equal(&l->address, &o->address))
				policy_error_at(ctx, &l->address_loc,
						"listener '%s' binds %s, as listener '%s' does (%s:%u:%u)",
						l->name, l->address.text, o->name, o->loc.file,
						o->loc.line, o->loc.col);
		}
		for (uint32_t r = 0; r < l->n_routes; r++) {
			for (uint32_t s = 0; s < r; s++) {
				if (!strcmp(l->routes[r].path, l->routes[s].path))
					policy_error_at(ctx, &l->routes[r].loc,
							"listener '%s' has two routes for path '%s' (the first at line %u)",
							l->name, l->routes[r].path, l->routes[s].loc.line);
			}
		}
	}
	/* One prefix in two tenants would make the kernel's choice arbitrary,
	 * and one key in two tenants the proxy's. */
	check_unique_prefixes(ctx, p);
	check_unique_keys(ctx, p);
	/* The alias asks for routing; routing to it would loop. */
	if (p->router.default_model && p->router.alias) {
		const char *alias = p->router.alias;

		if (!strcmp(p->router.default_model, alias))
			policy_error_at(ctx, &p->router_loc,
					"router 'default_model' is the router's own alias '%s'; name a real model", alias);
		for (uint32_t i = 0; i < p->router.n_routes; i++) {
			if (!strcmp(p->router.routes[i].model, alias))
				policy_error_at(ctx, &p->router.routes[i].model_loc,
						"semantic route '%s' routes to the router's own alias '%s'; name a real model",
						p->router.routes[i].name, alias);
		}
		for (uint32_t i = 0; i < p->n_models; i++) {
			for (uint32_t f = 0; f < p->models[i].n_fallback; f++) {
				if (!strcmp(p->models[i].fallback[f], alias))
					policy_error_at(ctx, &p->models[i].loc,
							"model '%s' falls back to the router alias '%s'; fallbacks must be real models",
							p->models[i].name, alias);
			}
		}
	}
}

static const struct pfield root_fields[] = {
	F("version", PT_U32, policy, version, .required = true, RANGE(1, 1),
	  DOC("Policy language version; must be 1.")),
	STRLIST("include", policy, includes, PT_PATH, TG_POLICY_FILES_MAX,
		DOC("Files to read as part of this policy, relative to this file; `*` patterns allowed. Lists (tenants, models, ...) from several files are joined; any other section may be set in one file only.")),
	OBJ("server", policy, server, server_schema, DOC("Process settings.")),
	LIST("listeners", policy, listeners, policy_listener, listener_schema, TG_LISTENERS_MAX,
	     .required = true, DOC("Sockets to accept on (at least one).")),
	LIST("upstreams", policy, upstreams, policy_upstream, upstream_schema, TG_UPSTREAMS_MAX,
	     DOC("Server pools for plain reverse-proxy routes.")),
	LIST("tenants", policy, tenants, policy_tenant, tenant_schema, TG_TENANTS_MAX,
	     DOC("Tenants.")),
	F("default_tenant", PT_NAME, policy, default_tenant, .refs = NS_TENANT,
	  DOC("Tenant of traffic that matches no prefix (kernel) and of callers on `auth: none` listeners; unset: no tenant limits apply to them.")),
	F("default_guard", PT_NAME, policy, default_guard, .refs = NS_GUARD,
	  DOC("Guard profile for tenants that name none; unset: no guard.")),
	LIST("providers", policy, providers, policy_provider, provider_schema, TG_PROVIDERS_MAX,
	     DOC("LLM provider accounts.")),
	LIST("models", policy, models, policy_model, model_schema, TG_MODELS_MAX,
	     DOC("Models offered to clients.")),
	OBJ("router", policy, router, router_schema, DOC("Semantic routing.")),
	LIST("guards", policy, guards, policy_guard, guard_schema, TG_GUARDS_MAX,
	     DOC("Guard profiles.")),
	OBJ("mcp", policy, mcp, mcp_schema, DOC("MCP.")),
	OBJ("a2a", policy, a2a, a2a_schema, DOC("A2A.")),
	OBJ("telemetry", policy, telemetry, telemetry_schema, DOC("Telemetry.")),
	OBJ("kernel", policy, kernel, kernel_schema, DOC("Kernel datapath.")),
	OBJ("cluster", policy, cluster, cluster_schema, DOC("Cluster.")),
	OBJ("cache", policy, cache, cache_schema, DOC("Response cache.")),
	OPT("jwt", policy, jwt, jwt_schema, DOC("JWT bearer tokens; unset: API keys only.")),
	END,
};

const struct pschema policy_root_schema = {
	.name = "policy", .size = sizeof(struct policy), .fields = root_fields,
	.validate = root_validate,
	.doc = "The top level of a policy file.",
};
