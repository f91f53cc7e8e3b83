// SPDX-License-Identifier: Apache-2.0
/*
 * Loading policies (user/policy/): the shipped default, defaults, every
 * section decoded into its typed value, includes, error reporting and its
 * bounds, secrets, key hashes, hostile YAML, and the policy's lifetime.
 *
 * Files are written under a fresh directory made at group setup and
 * removed at teardown. Run from the repository root.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "policy/policy.h"
#include "policy/schema.h"
#include "tollgate/limits.h"

#define ABC_HASH "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static const uint8_t abc_sha256[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde,
	0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};

/* A listener line that makes a fragment a loadable policy. */
#define LISTENER "listeners:\n  - {name: l, address: \"127.0.0.1:0\", auth: none}\n"

/* snprintf that fails the test rather than cut a path short. */
static void fmt(char *out, size_t size, const char *f, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt(char *out, size_t size, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(out, size, f, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		fail_msg("formatted text does not fit in %zu bytes", size);
}

/* ---- fixture: a scratch directory ------------------------------------------- */

static char tmpdir[PATH_MAX];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	fmt(tmpdir, sizeof(tmpdir), "%s/tg-test-policy-XXXXXX",
		 base && *base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes `text` to tmpdir/rel (making the directories on the way) and
 * returns the full path in `out`. */
static const char *write_file(const char *rel, const char *text, char out[PATH_MAX])
{
	char dir[PATH_MAX];
	FILE *f;

	fmt(out, PATH_MAX, "%s/%s", tmpdir, rel);
	fmt(dir, sizeof(dir), "%s", out);
	for (char *c = dir + strlen(tmpdir) + 1; *c; c++) {
		if (*c == '/') {
			*c = '\0';
			if (mkdir(dir, 0700) && errno != EEXIST)
				fail_msg("mkdir %s: %s", dir, strerror(errno));
			*c = '/';
		}
	}
	f = fopen(out, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	return out;
}

/* ---- helpers ----------------------------------------------------------------- */

static void dump(const struct policy_diags *d)
{
	policy_diags_print(d, stderr);
}

static struct policy *load(const char *yaml, unsigned flags, struct policy_diags *d)
{
	return policy_load_buffer("test.yaml", yaml, strlen(yaml), flags, d);
}

/* Loads a policy that must load; shows every diagnostic if it does not. */
static struct policy *load_ok(const char *yaml)
{
	struct policy_diags d;
	struct policy *p;

	policy_diags_init(&d);
	p = load(yaml, POLICY_LOAD_DEFAULT, &d);
	if (!p || d.n) {
		dump(&d);
		policy_diags_fini(&d);
		fail_msg("policy did not load cleanly");
	}
	policy_diags_fini(&d);
	return p;
}

/* Loads a policy that must fail, into `d`. */
static void load_bad(const char *yaml, unsigned flags, struct policy_diags *d)
{
	struct policy *p;

	policy_diags_init(d);
	errno = 0;
	p = load(yaml, flags, d);
	if (p) {
		policy_unref(p);
		fail_msg("policy loaded but should not have");
	}
	assert_int_equal(errno, EINVAL);
	if (d->n == 0)
		fail_msg("load failed without a diagnostic");
}

/* Diagnostic `i` is at line:col and its message holds `needle`. */
static void assert_diag(const struct policy_diags *d, uint32_t i, uint32_t line,
			uint32_t col, const char *needle)
{
	if (i >= d->n) {
		dump(d);
		fail_msg("no diagnostic #%u (there are %u)", i, d->n);
	}
	if (d->v[i].line != line || d->v[i].col != col ||
	    (needle && !strstr(d->v[i].msg, needle))) {
		dump(d);
		fail_msg("diagnostic #%u is %u:%u '%s'; expected %u:%u with '%s'", i,
			 d->v[i].line, d->v[i].col, d->v[i].msg, line, col,
			 needle ? needle : "");
	}
}

/* Some diagnostic's message holds `needle`; returns its index. */
static uint32_t find_diag(const struct policy_diags *d, const char *needle)
{
	for (uint32_t i = 0; i < d->n; i++) {
		if (strstr(d->v[i].msg, needle))
			return i;
	}
	dump(d);
	fail_msg("no diagnostic mentions '%s'", needle);
	return UINT32_MAX;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the default policy --------------------------------------------------------- */

static void test_policy_default_file_loads(void **state)
{
	static const uint8_t lo[16] = { 127, 0, 0, 1 };
	struct policy_diags d;
	struct policy *p;
	const struct policy_listener *l;

	(void)state;
	policy_diags_init(&d);
	p = policy_load_file("policies/default.yaml", POLICY_LOAD_DEFAULT, &d);
	if (!p) {
		dump(&d);
		fail_msg("policies/default.yaml did not load (run from the repository root)");
	}
	assert_int_equal(d.n, 0);
	assert_string_equal(p->path, "policies/default.yaml");
	assert_int_equal(p->n_files, 1);
	assert_string_equal(p->files[0], "policies/default.yaml");
	assert_int_equal(p->version, 1);
	assert_int_equal(p->n_listeners, 1);
	l = &p->listeners[0];
	assert_string_equal(l->name, "local");
	assert_int_equal(l->address.family, 4);
	assert_int_equal(l->address.port, 8080);
	assert_memory_equal(l->address.addr, lo, 16);
	assert_string_equal(l->address.text, "127.0.0.1:8080");
	assert_int_equal(l->auth, POLICY_AUTH_NONE);
	assert_null(l->tls);
	assert_int_equal(l->endpoints,
			 POLICY_EP_BIT(POLICY_EP_LLM) | POLICY_EP_BIT(POLICY_EP_MCP) |
			 POLICY_EP_BIT(POLICY_EP_A2A) | POLICY_EP_BIT(POLICY_EP_METRICS) |
			 POLICY_EP_BIT(POLICY_EP_HEALTH));
	assert_int_equal(l->n_routes, 0);
	assert_true(l->loc.line > 1);
	assert_string_equal(l->loc.file, "policies/default.yaml");
	assert_int_equal(p->server.log_level, POLICY_LOG_INFO);
	assert_true(p->telemetry.metrics.enabled);
	assert_true(p->telemetry.access_log.enabled);
	assert_string_equal(p->telemetry.access_log.path, "-");
	assert_int_equal(p->n_tenants, 0);
	/* Real providers, optional (off without their keys), falling back
	 * to the built-in echo provider so the front doors answer out of the
	 * box. */
	assert_int_equal(p->n_providers, 4);
	for (uint32_t i = 0; i < 3; i++) {
		assert_true(p->providers[i].optional);
		assert_non_null(p->providers[i].api_key);
		assert_true(p->providers[i].api_key->optional);
		assert_int_equal(p->models[i].n_fallback, 1);
		assert_string_equal(p->models[i].fallback[0], "echo");
	}
	assert_int_equal(p->providers[3].type, POLICY_PROVIDER_ECHO);
	assert_int_equal(p->n_models, 4);
	assert_string_equal(p->models[3].name, "echo");
	assert_int_equal(p->n_secrets, 3);
	assert_null(p->default_tenant);
	assert_null(p->cluster.redis);
	policy_unref(p);
	policy_diags_fini(&d);
}

/* An optional provider whose secret is not set loads, and is off; a
 * required one refuses the policy. */
static void test_policy_optional_provider_without_secret_is_off(void **state)
{
	static const char yaml_opt[] =
		"version: 1\n"
		"listeners: [{name: l, address: 127.0.0.1:8080, auth: none, endpoints: [llm]}]\n"
		"providers:\n"
		"  - {name: o, type: openai, api_key: \"${env:TG_TEST_SURELY_UNSET_1}\", optional: true}\n"
		"  - {name: s, type: openai, api_key: \"${env:TG_TEST_SET_1}\", optional: true}\n"
		"models: [{name: m, provider: o}]\n";
	static const char yaml_req[] =
		"version: 1\n"
		"listeners: [{name: l, address: 127.0.0.1:8080, auth: none, endpoints: [llm]}]\n"
		"providers: [{name: o, type: openai, api_key: \"${env:TG_TEST_SURELY_UNSET_1}\"}]\n"
		"models: [{name: m, provider: o}]\n";
	struct policy_diags d = { 0 };
	struct policy *p;

	(void)state;
	unsetenv("TG_TEST_SURELY_UNSET_1");
	setenv("TG_TEST_SET_1", "sk-x", 1);
	p = policy_load_buffer("opt.yaml", yaml_opt, strlen(yaml_opt),
			       POLICY_LOAD_RESOLVE_SECRETS, &d);
	assert_non_null(p);
	assert_false(policy_provider_available(&p->providers[0]));
	assert_true(policy_provider_available(&p->providers[1]));
	policy_unref(p);
	policy_diags_fini(&d);
	p = policy_load_buffer("req.yaml", yaml_req, strlen(yaml_req),
			       POLICY_LOAD_RESOLVE_SECRETS, &d);
	assert_null(p);
	assert_true(d.n > 0);
	assert_non_null(strstr(d.v[0].msg, "TG_TEST_SURELY_UNSET_1 is not set"));
	policy_diags_fini(&d);
	unsetenv("TG_TEST_SET_1");
}

static void test_policy_defaults_applied(void **state)
{
	struct policy *p;

	(void)state;
	p = policy_load_file("policies/default.yaml", POLICY_LOAD_DEFAULT, NULL);
	assert_non_null(p);
	/* server */
	assert_int_equal(p->server.workers, 0);
	assert_null(p->server.user);
	assert_int_equal(p->server.drain_ms, 30000);
	assert_int_equal(p->server.timeouts.header_ms, 10000);
	assert_int_equal(p->server.timeouts.body_ms, 60000);
	assert_int_equal(p->server.timeouts.idle_ms, 75000);
	assert_int_equal(p->server.timeouts.upstream_connect_ms, 5000);
	assert_int_equal(p->server.timeouts.upstream_first_byte_ms, 120000);
	assert_int_equal(p->server.timeouts.upstream_idle_ms, 300000);
	assert_int_equal(p->server.limits.body_bytes, 8u << 20);
	assert_int_equal(p->server.limits.header_bytes, 16u << 10);
	assert_int_equal(p->server.limits.header_count, 100);
	assert_int_equal(p->server.limits.connections, 10000);
	assert_int_equal(p->server.limits.connections_per_worker, 0);
	assert_int_equal(p->server.limits.memory_per_connection, 256u << 10);
	/* kernel */
	assert_false(p->kernel.enabled);
	assert_string_equal(p->kernel.pin_path, "/sys/fs/bpf/tollgate");
	assert_int_equal(p->kernel.attach_mode, POLICY_ATTACH_NATIVE);
	assert_int_equal(p->kernel.flow_table_size, 262144);
	assert_int_equal(p->kernel.flood_guard, 100000);
	assert_int_equal(p->kernel.syn_per_prefix.rate.count, 0);
	assert_int_equal(p->kernel.syn_per_prefix.rate.period_ms, 1000);
	assert_int_equal(p->kernel.syn_per_prefix.burst, 100);
	assert_int_equal(p->kernel.penalty.auth_failures, 10);
	assert_int_equal(p->kernel.penalty.window_ms, 60000);
	assert_int_equal(p->kernel.penalty.duration_ms, 600000);
	assert_false(p->kernel.egress_pacing);
	assert_false(p->kernel.drop_established_when_blocked);
	/* router */
	assert_string_equal(p->router.alias, "auto");
	assert_null(p->router.default_model);
	assert_true(p->router.threshold == 0.5);
	assert_null(p->router.embeddings);
	/* mcp, a2a */
	assert_string_equal(p->mcp.path, "/mcp");
	assert_int_equal(p->mcp.session_ttl_ms, 3600000);
	assert_int_equal(p->a2a.hop_limit, 8);
	/* telemetry */
	assert_string_equal(p->telemetry.metrics.path, "/metrics");
	assert_false(p->telemetry.audit.enabled);
	assert_int_equal(p->telemetry.audit.fsync, POLICY_FSYNC_BATCH);
	assert_false(p->telemetry.traces.enabled);
	assert_true(p->telemetry.traces.sample_ratio == 1.0);
	assert_string_equal(p->telemetry.traces.service_name, "tollgate");
	/* cache */
	assert_false(p->cache.enabled);
	assert_int_equal(p->cache.max_entries, 10000);
	assert_int_equal(p->cache.max_entry_bytes, 1u << 20);
	assert_int_equal(p->cache.ttl_ms, 300000);
	policy_unref(p);
}

static void test_policy_listener_defaults_to_every_endpoint_and_api_key(void **state)
{
	struct policy *p;

	(void)state;
	p = load_ok("version: 1\n"
		    "listeners:\n"
		    "  - name: pub\n"
		    "    address: 0.0.0.0:8443\n");
	assert_int_equal(p->listeners[0].endpoints, 0x1f);
	assert_int_equal(p->listeners[0].auth, POLICY_AUTH_API_KEY);
	assert_null(p->listeners[0].tls);
	policy_unref(p);
}

static void test_policy_list_element_defaults(void **state)
{
	struct policy *p;
	const struct policy_tenant *t;
	const struct policy_provider *pr;
	const struct policy_guard *g;

	(void)state;
	p = load_ok("version: 1\n" LISTENER
		    "tenants:\n"
		    "  - name: t\n"
		    "    keys: [{name: k, hash: \"" ABC_HASH "\"}]\n"
		    "    budgets: [{period: day, tokens: 5}]\n"
		    "providers: [{name: o, type: openai}]\n"
		    "models: [{name: m, provider: o}]\n"
		    "guards: [{name: g}]\n"
		    "upstreams: [{name: u, servers: [\"a:1\"]}]\n"
		    "mcp:\n"
		    "  servers: [{name: s, url: \"http://s\"}]\n"
		    "a2a:\n"
		    "  agents: [{name: a, url: \"http://a\"}]\n"
		    "cluster:\n"
		    "  redis: {url: \"redis://r\"}\n");
	t = &p->tenants[0];
	assert_int_equal(t->bytes_per_token, 4);
	assert_int_equal(t->syn.burst, 100);
	assert_int_equal(t->syn.rate.count, 0);
	assert_int_equal(t->limits.requests_per_minute, 0);
	assert_null(t->guard);
	assert_int_equal(t->n_models, 0);
	assert_int_equal(t->keys[0].limits.concurrent, 0);
	assert_int_equal(t->budgets[0].action, POLICY_BUDGET_BLOCK);
	assert_true(t->budgets[0].cost == 0);
	pr = &p->providers[0];
	assert_int_equal(pr->timeout_ms, 120000);
	assert_int_equal(pr->max_connections, 64);
	assert_int_equal(pr->retries, 1);
	assert_true(pr->tls.verify);
	assert_null(pr->api_key);
	assert_string_equal(p->models[0].upstream, "m");
	assert_int_equal(p->models[0].context_window, 0);
	g = &p->guards[0];
	assert_true(g->pii.enabled);
	assert_int_equal(g->pii.action, POLICY_GUARD_REDACT);
	assert_int_equal(g->pii.types, 0x7f);
	assert_true(g->pii.responses);
	assert_true(g->injection.enabled);
	assert_int_equal(g->injection.action, POLICY_GUARD_BLOCK);
	assert_true(g->injection.builtin);
	assert_int_equal(p->upstreams[0].max_connections, 256);
	assert_int_equal(p->upstreams[0].keepalive, 32);
	assert_int_equal(p->upstreams[0].health.fail_threshold, 3);
	assert_int_equal(p->upstreams[0].health.eject_ms, 30000);
	assert_false(p->upstreams[0].tls);
	assert_true(p->upstreams[0].tls_client.verify);
	assert_true(p->mcp.servers[0].pin_tools);
	assert_int_equal(p->mcp.servers[0].timeout_ms, 60000);
	assert_string_equal(p->a2a.agents[0].card_path, "/.well-known/agent-card.json");
	assert_non_null(p->cluster.redis);
	assert_int_equal(p->cluster.redis->lease_tokens, 10000);
	assert_int_equal(p->cluster.redis->timeout_ms, 500);
	assert_int_equal(p->cluster.redis->failure_mode, POLICY_FAIL_OPEN);
	assert_int_equal(p->cluster.redis->url.port, 6379);
	policy_unref(p);
}

/* ---- a policy with every section ------------------------------------------------------ */

static const char full_policy[] =
	"version: 1\n"
	"server:\n"
	"  workers: 4\n"
	"  user: tollgate\n"
	"  log_level: debug\n"
	"  drain: 45s\n"
	"  limits:\n"
	"    header_bytes: 32KiB\n"
	"    header_count: 50\n"
	"    body_bytes: 1MiB\n"
	"    connections: 500\n"
	"    connections_per_worker: 100\n"
	"    memory_per_connection: 128KiB\n"
	"  timeouts:\n"
	"    header: 5s\n"
	"    body: 30s\n"
	"    idle: 2m\n"
	"    upstream_connect: 3s\n"
	"    upstream_first_byte: 90s\n"
	"    upstream_idle: 10m\n"
	"listeners:\n"
	"  - name: public\n"				/* line 22 */
	"    address: 0.0.0.0:8443\n"
	"    tls:\n"
	"      cert: /etc/tollgate/cert.pem\n"
	"      key: /etc/tollgate/key.pem\n"
	"      client_ca: /etc/tollgate/ca.pem\n"
	"      min_version: \"1.3\"\n"
	"      tickets: false\n"
	"      ktls: off\n"
	"    auth: api_key\n"
	"    endpoints: [llm, health]\n"
	"    routes:\n"
	"      - path: /app/\n"
	"        upstream: app\n"
	"        strip_prefix: true\n"
	"  - name: local\n"
	"    address: \"[::1]:9090\"\n"
	"    auth: none\n"
	"    endpoints: [metrics]\n"
	"upstreams:\n"
	"  - name: app\n"
	"    servers: [app1.internal:8080, 10.0.0.5:80, \"[2001:db8::5]:443\"]\n"
	"    tls: true\n"
	"    tls_options:\n"
	"      verify: false\n"
	"      ca_file: /etc/ssl/ca.pem\n"
	"      sni: app.example\n"
	"    max_connections: 10\n"
	"    keepalive: 4\n"
	"    health:\n"
	"      fail_threshold: 5\n"
	"      eject: 1m\n"
	"tenants:\n"
	"  - name: acme\n"
	"    prefixes: [10.1.0.0/16, \"2001:db8:1::/48\", 192.0.2.7]\n"
	"    keys:\n"
	"      - name: acme-ci\n"
	"        hash: " ABC_HASH "\n"
	"        limits: {requests_per_minute: 60}\n"
	"        budgets:\n"
	"          - period: day\n"
	"            tokens: 100000\n"
	"    limits:\n"
	"      requests_per_minute: 600\n"
	"      tokens_per_minute: 200000\n"
	"      concurrent: 20\n"
	"    budgets:\n"
	"      - period: month\n"
	"        cost: 250.5\n"
	"        action: warn\n"
	"      - period: hour\n"
	"        tokens: 50000\n"
	"    models: [gpt-4o, claude]\n"
	"    guard: strict\n"
	"    bytes_per_token: 3\n"
	"    syn:\n"
	"      rate: 100/s\n"
	"      burst: 200\n"
	"  - name: beta\n"
	"default_tenant: beta\n"
	"default_guard: strict\n"
	"providers:\n"
	"  - name: openai\n"
	"    type: openai\n"
	"    api_key: ${env:OPENAI_API_KEY}\n"
	"  - name: anthropic\n"
	"    type: anthropic\n"
	"    api_key: ${file:/run/secrets/anthropic}\n"
	"    timeout: 60s\n"
	"    max_connections: 16\n"
	"    retries: 3\n"
	"  - name: gemini\n"
	"    type: gemini\n"
	"    api_key: ${env:GEMINI_API_KEY}\n"
	"  - name: azure\n"
	"    type: azure_openai\n"
	"    base_url: https://myres.openai.azure.com\n"
	"    api_key: ${env:AZURE_KEY}\n"
	"    api_version: 2024-10-21\n"
	"  - name: bedrock\n"
	"    type: bedrock\n"
	"    region: us-east-1\n"
	"    access_key_id: ${env:AWS_ACCESS_KEY_ID}\n"
	"    secret_access_key: ${env:AWS_SECRET_ACCESS_KEY}\n"
	"  - name: local\n"
	"    type: openai\n"
	"    base_url: http://127.0.0.1:11434/v1\n"
	"    tls: {verify: false}\n"
	"models:\n"
	"  - name: gpt-4o\n"
	"    provider: openai\n"
	"    price: {input: 2.5, output: 10}\n"
	"    fallback: [claude]\n"
	"    context_window: 128000\n"
	"  - name: claude\n"
	"    provider: anthropic\n"
	"    upstream: claude-sonnet-4-5\n"
	"  - name: titan\n"
	"    provider: bedrock\n"
	"router:\n"
	"  alias: smart\n"
	"  default_model: gpt-4o\n"
	"  threshold: 0.7\n"
	"  routes:\n"
	"    - name: code\n"
	"      model: claude\n"
	"      examples: [\"write a function\", \"fix this bug\"]\n"
	"      keywords: [python, rust]\n"
	"      threshold: 0.8\n"
	"      guard: strict\n"
	"  embeddings:\n"
	"    url: https://emb.example/v1/embeddings\n"
	"    model: text-embedding-3-small\n"
	"    api_key: ${env:EMB_KEY}\n"
	"    timeout: 1s\n"
	"guards:\n"
	"  - name: strict\n"
	"    pii:\n"
	"      action: block\n"
	"      types: [email, card]\n"
	"      responses: false\n"
	"    injection:\n"
	"      action: log\n"
	"      builtin: false\n"
	"      patterns:\n"
	"        - name: ignore\n"
	"          regex: \"ignore (all|previous) instructions\"\n"
	"    deny:\n"
	"      - name: magic\n"
	"        regex: xyzzy\n"
	"mcp:\n"
	"  path: /tools/mcp\n"
	"  session_ttl: 30m\n"
	"  servers:\n"
	"    - name: github\n"
	"      url: https://mcp.github.example/mcp\n"
	"      token: ${env:GH_TOKEN}\n"
	"      pin_tools: false\n"
	"      timeout: 10s\n"
	"  bridges:\n"
	"    - name: petstore\n"
	"      base_url: http://petstore.internal:8080/api\n"
	"      token: ${file:/run/secrets/pet}\n"
	"      tools:\n"
	"        - name: get_pet\n"
	"          method: GET\n"
	"          path: /pets/{id}\n"
	"          description: Get a pet\n"
	"          input_schema:\n"
	"            type: object\n"
	"            required: [id]\n"
	"            properties:\n"
	"              id: {type: integer, minimum: 1, description: 'pet \"id\"'}\n"
	"            additionalProperties: false\n"
	"  allow:\n"
	"    - tenant: acme\n"
	"      tools: [\"github.*\", petstore.get_pet]\n"
	"a2a:\n"
	"  hop_limit: 4\n"
	"  agents:\n"
	"    - name: planner\n"
	"      url: https://planner.example\n"
	"      card_path: /card.json\n"
	"      token: ${env:PLANNER_TOKEN}\n"
	"      requests_per_minute: 30\n"
	"  allow:\n"
	"    - from: acme\n"
	"      to: [planner]\n"
	"telemetry:\n"
	"  metrics: {enabled: false, path: /m}\n"
	"  audit: {enabled: true, path: /var/log/tollgate/audit.jsonl, fsync: always}\n"
	"  access_log: {enabled: false, path: /var/log/tollgate/access.log}\n"
	"  traces:\n"
	"    enabled: true\n"
	"    endpoint: http://127.0.0.1:4318/v1/traces\n"
	"    sample_ratio: 0.25\n"
	"    service_name: gw\n"
	"kernel:\n"
	"  enabled: true\n"
	"  interfaces: [eth0, eth1]\n"
	"  attach_mode: generic\n"
	"  flow_table_size: 65536\n"
	"  pin_path: /sys/fs/bpf/tg2\n"
	"  syn_per_prefix: {rate: 6000/min, burst: 50}\n"
	"  flood_guard: 5000\n"
	"  penalty: {auth_failures: 5, window: 30s, duration: 1h}\n"
	"  egress_pacing: true\n"
	"  drop_established_when_blocked: true\n"
	"cluster:\n"
	"  redis:\n"
	"    url: rediss://redis.internal\n"
	"    password: ${env:REDIS_PASSWORD}\n"
	"    lease_tokens: 5000\n"
	"    failure_mode: closed\n"
	"    timeout: 250ms\n"
	"cache:\n"
	"  enabled: true\n"
	"  max_entries: 500\n"
	"  max_entry_bytes: 256KiB\n"
	"  ttl: 10m\n";

static void test_policy_full_server_listeners_upstreams(void **state)
{
	static const uint8_t lo6[16] = { [15] = 1 };
	struct policy *p;
	const struct policy_listener *l;
	const struct policy_upstream *u;

	(void)state;
	p = load_ok(full_policy);
	assert_int_equal(p->server.workers, 4);
	assert_string_equal(p->server.user, "tollgate");
	assert_int_equal(p->server.log_level, POLICY_LOG_DEBUG);
	assert_int_equal(p->server.drain_ms, 45000);
	assert_int_equal(p->server.limits.header_bytes, 32768);
	assert_int_equal(p->server.limits.header_count, 50);
	assert_int_equal(p->server.limits.body_bytes, 1u << 20);
	assert_int_equal(p->server.limits.connections, 500);
	assert_int_equal(p->server.limits.connections_per_worker, 100);
	assert_int_equal(p->server.limits.memory_per_connection, 128u << 10);
	assert_int_equal(p->server.timeouts.header_ms, 5000);
	assert_int_equal(p->server.timeouts.body_ms, 30000);
	assert_int_equal(p->server.timeouts.idle_ms, 120000);
	assert_int_equal(p->server.timeouts.upstream_connect_ms, 3000);
	assert_int_equal(p->server.timeouts.upstream_first_byte_ms, 90000);
	assert_int_equal(p->server.timeouts.upstream_idle_ms, 600000);

	assert_int_equal(p->n_listeners, 2);
	l = &p->listeners[0];
	assert_string_equal(l->name, "public");
	assert_int_equal(l->loc.line, 22);
	assert_int_equal(l->loc.col, 5);
	assert_string_equal(l->loc.file, "test.yaml");
	assert_int_equal(l->address.family, 4);
	assert_int_equal(l->address.port, 8443);
	assert_non_null(l->tls);
	assert_string_equal(l->tls->cert, "/etc/tollgate/cert.pem");
	assert_string_equal(l->tls->key, "/etc/tollgate/key.pem");
	assert_string_equal(l->tls->client_ca, "/etc/tollgate/ca.pem");
	assert_int_equal(l->tls->min_version, POLICY_TLS_1_3);
	assert_false(l->tls->tickets);
	assert_int_equal(l->tls->ktls, POLICY_KTLS_OFF);
	assert_int_equal(l->auth, POLICY_AUTH_API_KEY);
	assert_int_equal(l->endpoints, POLICY_EP_BIT(POLICY_EP_LLM) | POLICY_EP_BIT(POLICY_EP_HEALTH));
	assert_int_equal(l->n_routes, 1);
	assert_string_equal(l->routes[0].path, "/app/");
	assert_string_equal(l->routes[0].upstream, "app");
	assert_true(l->routes[0].strip_prefix);
	l = &p->listeners[1];
	assert_string_equal(l->name, "local");
	assert_int_equal(l->address.family, 6);
	assert_int_equal(l->address.port, 9090);
	assert_memory_equal(l->address.addr, lo6, 16);
	assert_int_equal(l->auth, POLICY_AUTH_NONE);
	assert_int_equal(l->endpoints, POLICY_EP_BIT(POLICY_EP_METRICS));

	assert_int_equal(p->n_upstreams, 1);
	u = &p->upstreams[0];
	assert_int_equal(u->n_servers, 3);
	assert_string_equal(u->servers[0].host, "app1.internal");
	assert_int_equal(u->servers[0].port, 8080);
	assert_string_equal(u->servers[1].host, "10.0.0.5");
	assert_int_equal(u->servers[1].port, 80);
	assert_string_equal(u->servers[2].host, "2001:db8::5");
	assert_int_equal(u->servers[2].port, 443);
	assert_true(u->tls);
	assert_false(u->tls_client.verify);
	assert_string_equal(u->tls_client.ca_file, "/etc/ssl/ca.pem");
	assert_string_equal(u->tls_client.sni, "app.example");
	assert_int_equal(u->max_connections, 10);
	assert_int_equal(u->keepalive, 4);
	assert_int_equal(u->health.fail_threshold, 5);
	assert_int_equal(u->health.eject_ms, 60000);
	policy_unref(p);
}

static void test_policy_full_tenants_keys_budgets(void **state)
{
	static const uint8_t v4[16] = { 10, 1 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01 };
	static const uint8_t host[16] = { 192, 0, 2, 7 };
	struct policy *p;
	const struct policy_tenant *t;
	const struct policy_key *k;

	(void)state;
	p = load_ok(full_policy);
	assert_int_equal(p->n_tenants, 2);
	t = &p->tenants[0];
	assert_string_equal(t->name, "acme");
	assert_int_equal(t->n_prefixes, 3);
	assert_int_equal(t->prefixes[0].family, 4);
	assert_int_equal(t->prefixes[0].len, 16);
	assert_memory_equal(t->prefixes[0].addr, v4, 16);
	assert_int_equal(t->prefixes[1].family, 6);
	assert_int_equal(t->prefixes[1].len, 48);
	assert_memory_equal(t->prefixes[1].addr, v6, 16);
	assert_int_equal(t->prefixes[2].family, 4);
	assert_int_equal(t->prefixes[2].len, 32);
	assert_memory_equal(t->prefixes[2].addr, host, 16);

	assert_int_equal(t->n_keys, 1);
	k = &t->keys[0];
	assert_string_equal(k->name, "acme-ci");
	assert_memory_equal(k->sha256, abc_sha256, 32);
	assert_int_equal(k->limits.requests_per_minute, 60);
	assert_int_equal(k->n_budgets, 1);
	assert_int_equal(k->budgets[0].period, POLICY_PERIOD_DAY);
	assert_int_equal(k->budgets[0].tokens, 100000);
	assert_true(policy_key_matches(k, "abc", 3));

	assert_int_equal(t->limits.requests_per_minute, 600);
	assert_int_equal(t->limits.tokens_per_minute, 200000);
	assert_int_equal(t->limits.concurrent, 20);
	assert_int_equal(t->n_budgets, 2);
	assert_int_equal(t->budgets[0].period, POLICY_PERIOD_MONTH);
	assert_true(t->budgets[0].cost == 250.5);
	assert_int_equal(t->budgets[0].tokens, 0);
	assert_int_equal(t->budgets[0].action, POLICY_BUDGET_WARN);
	assert_int_equal(t->budgets[1].period, POLICY_PERIOD_HOUR);
	assert_int_equal(t->budgets[1].tokens, 50000);
	assert_int_equal(t->budgets[1].action, POLICY_BUDGET_BLOCK);
	assert_int_equal(t->n_models, 2);
	assert_string_equal(t->models[0], "gpt-4o");
	assert_string_equal(t->models[1], "claude");
	assert_string_equal(t->guard, "strict");
	assert_int_equal(t->bytes_per_token, 3);
	assert_int_equal(t->syn.rate.count, 100);
	assert_int_equal(t->syn.rate.period_ms, 1000);
	assert_int_equal(t->syn.burst, 200);
	assert_string_equal(p->tenants[1].name, "beta");
	assert_int_equal(p->tenants[1].n_keys, 0);
	assert_string_equal(p->default_tenant, "beta");
	assert_string_equal(p->default_guard, "strict");
	policy_unref(p);
}

static void test_policy_full_providers_and_models(void **state)
{
	struct policy *p;
	const struct policy_provider *pr;
	const struct policy_model *m;

	(void)state;
	p = load_ok(full_policy);
	assert_int_equal(p->n_providers, 6);

	pr = policy_provider_find(p, "openai");
	assert_non_null(pr);
	assert_int_equal(pr->type, POLICY_PROVIDER_OPENAI);
	assert_string_equal(pr->base_url.text, "https://api.openai.com");
	assert_string_equal(pr->base_url.host, "api.openai.com");
	assert_int_equal(pr->base_url.port, 443);
	assert_true(pr->base_url.tls);
	assert_string_equal(pr->base_url.path, "/");
	assert_non_null(pr->api_key);
	assert_int_equal(pr->api_key->kind, POLICY_SECRET_ENV);
	assert_string_equal(pr->api_key->ref, "OPENAI_API_KEY");
	assert_null(pr->api_key->value);

	pr = policy_provider_find(p, "anthropic");
	assert_non_null(pr);
	assert_int_equal(pr->type, POLICY_PROVIDER_ANTHROPIC);
	assert_string_equal(pr->base_url.host, "api.anthropic.com");
	assert_int_equal(pr->base_url.port, 443);
	assert_int_equal(pr->api_key->kind, POLICY_SECRET_FILE);
	assert_string_equal(pr->api_key->ref, "/run/secrets/anthropic");
	assert_int_equal(pr->timeout_ms, 60000);
	assert_int_equal(pr->max_connections, 16);
	assert_int_equal(pr->retries, 3);

	pr = policy_provider_find(p, "gemini");
	assert_non_null(pr);
	assert_int_equal(pr->type, POLICY_PROVIDER_GEMINI);
	assert_string_equal(pr->base_url.host, "generativelanguage.googleapis.com");
	assert_true(pr->base_url.tls);

	pr = policy_provider_find(p, "azure");
	assert_non_null(pr);
	assert_int_equal(pr->type, POLICY_PROVIDER_AZURE_OPENAI);
	assert_string_equal(pr->base_url.host, "myres.openai.azure.com");
	assert_string_equal(pr->api_version, "2024-10-21");

	pr = policy_provider_find(p, "bedrock");
	assert_non_null(pr);
	assert_int_equal(pr->type, POLICY_PROVIDER_BEDROCK);
	assert_string_equal(pr->region, "us-east-1");
	assert_string_equal(pr->base_url.text, "https://bedrock-runtime.us-east-1.amazonaws.com");
	assert_string_equal(pr->base_url.host, "bedrock-runtime.us-east-1.amazonaws.com");
	assert_int_equal(pr->base_url.port, 443);
	assert_true(pr->base_url.tls);
	assert_null(pr->api_key);
	assert_string_equal(pr->access_key_id->ref, "AWS_ACCESS_KEY_ID");
	assert_string_equal(pr->secret_access_key->ref, "AWS_SECRET_ACCESS_KEY");

	pr = policy_provider_find(p, "local");
	assert_non_null(pr);
	assert_string_equal(pr->base_url.host, "127.0.0.1");
	assert_int_equal(pr->base_url.port, 11434);
	assert_false(pr->base_url.tls);
	assert_string_equal(pr->base_url.path, "/v1");
	assert_false(pr->tls.verify);
	assert_null(pr->api_key);

	assert_int_equal(p->n_models, 3);
	m = policy_model_find(p, "gpt-4o");
	assert_non_null(m);
	assert_string_equal(m->provider, "openai");
	assert_string_equal(m->upstream, "gpt-4o");
	assert_true(m->price.input == 2.5);
	assert_true(m->price.output == 10.0);
	assert_int_equal(m->n_fallback, 1);
	assert_string_equal(m->fallback[0], "claude");
	assert_int_equal(m->context_window, 128000);
	m = policy_model_find(p, "claude");
	assert_string_equal(m->upstream, "claude-sonnet-4-5");
	m = policy_model_find(p, "titan");
	assert_string_equal(m->upstream, "titan");
	assert_string_equal(m->provider, "bedrock");

	/* Every reference is listed for resolving: 11 in this policy. */
	assert_int_equal(p->n_secrets, 11);
	policy_unref(p);
}

static void test_policy_full_router_guards_mcp_a2a(void **state)
{
	static const char want_schema[] =
		"{\"additionalProperties\":false,\"properties\":{\"id\":{\"description\":"
		"\"pet \\\"id\\\"\",\"minimum\":1,\"type\":\"integer\"}},\"required\":[\"id\"],"
		"\"type\":\"object\"}";
	struct policy *p;
	const struct policy_guard *g;
	const struct policy_mcp_tool *tool;
	json_error_t jerr;
	json_t *j;
	char *again;

	(void)state;
	p = load_ok(full_policy);
	assert_string_equal(p->router.alias, "smart");
	assert_string_equal(p->router.default_model, "gpt-4o");
	assert_true(p->router.threshold == 0.7);
	assert_int_equal(p->router.n_routes, 1);
	assert_string_equal(p->router.routes[0].name, "code");
	assert_string_equal(p->router.routes[0].model, "claude");
	assert_int_equal(p->router.routes[0].n_examples, 2);
	assert_string_equal(p->router.routes[0].examples[1], "fix this bug");
	assert_int_equal(p->router.routes[0].n_keywords, 2);
	assert_string_equal(p->router.routes[0].keywords[0], "python");
	assert_true(p->router.routes[0].threshold == 0.8);
	assert_string_equal(p->router.routes[0].guard, "strict");
	assert_non_null(p->router.embeddings);
	assert_string_equal(p->router.embeddings->url.host, "emb.example");
	assert_string_equal(p->router.embeddings->url.path, "/v1/embeddings");
	assert_string_equal(p->router.embeddings->model, "text-embedding-3-small");
	assert_string_equal(p->router.embeddings->api_key->ref, "EMB_KEY");
	assert_int_equal(p->router.embeddings->timeout_ms, 1000);

	g = policy_guard_find(p, "strict");
	assert_non_null(g);
	assert_int_equal(g->pii.action, POLICY_GUARD_BLOCK);
	assert_int_equal(g->pii.types, (1u << POLICY_PII_EMAIL) | (1u << POLICY_PII_CARD));
	assert_false(g->pii.responses);
	assert_int_equal(g->injection.action, POLICY_GUARD_LOG);
	assert_false(g->injection.builtin);
	assert_int_equal(g->injection.n_patterns, 1);
	assert_string_equal(g->injection.patterns[0].regex, "ignore (all|previous) instructions");
	assert_int_equal(g->n_deny, 1);
	assert_string_equal(g->deny[0].name, "magic");
	assert_string_equal(g->deny[0].regex, "xyzzy");

	assert_string_equal(p->mcp.path, "/tools/mcp");
	assert_int_equal(p->mcp.session_ttl_ms, 1800000);
	assert_int_equal(p->mcp.n_servers, 1);
	assert_string_equal(p->mcp.servers[0].url.host, "mcp.github.example");
	assert_string_equal(p->mcp.servers[0].token->ref, "GH_TOKEN");
	assert_false(p->mcp.servers[0].pin_tools);
	assert_int_equal(p->mcp.servers[0].timeout_ms, 10000);
	assert_int_equal(p->mcp.n_bridges, 1);
	assert_string_equal(p->mcp.bridges[0].base_url.path, "/api");
	assert_int_equal(p->mcp.bridges[0].base_url.port, 8080);
	assert_int_equal(p->mcp.bridges[0].token->kind, POLICY_SECRET_FILE);
	assert_int_equal(p->mcp.bridges[0].n_tools, 1);
	tool = &p->mcp.bridges[0].tools[0];
	assert_string_equal(tool->name, "get_pet");
	assert_int_equal(tool->method, POLICY_METHOD_GET);
	assert_string_equal(tool->path, "/pets/{id}");
	assert_string_equal(tool->description, "Get a pet");
	assert_non_null(tool->input_schema);
	assert_string_equal(tool->input_schema, want_schema);
	/* Valid JSON, and already in jansson's compact sorted form. */
	j = json_loads(tool->input_schema, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		fail_msg("input_schema is not JSON: %s", jerr.text);
	again = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(again, tool->input_schema);
	free(again);
	json_decref(j);
	assert_int_equal(p->mcp.n_allow, 1);
	assert_string_equal(p->mcp.allow[0].tenant, "acme");
	assert_int_equal(p->mcp.allow[0].n_tools, 2);
	assert_string_equal(p->mcp.allow[0].tools[0], "github.*");

	assert_int_equal(p->a2a.hop_limit, 4);
	assert_int_equal(p->a2a.n_agents, 1);
	assert_string_equal(p->a2a.agents[0].name, "planner");
	assert_string_equal(p->a2a.agents[0].card_path, "/card.json");
	assert_int_equal(p->a2a.agents[0].requests_per_minute, 30);
	assert_int_equal(p->a2a.n_allow, 1);
	assert_string_equal(p->a2a.allow[0].from, "acme");
	assert_int_equal(p->a2a.allow[0].n_to, 1);
	assert_string_equal(p->a2a.allow[0].to[0], "planner");
	policy_unref(p);
}

static void test_policy_full_telemetry_kernel_cluster_cache(void **state)
{
	struct policy *p;

	(void)state;
	p = load_ok(full_policy);
	assert_false(p->telemetry.metrics.enabled);
	assert_string_equal(p->telemetry.metrics.path, "/m");
	assert_true(p->telemetry.audit.enabled);
	assert_string_equal(p->telemetry.audit.path, "/var/log/tollgate/audit.jsonl");
	assert_int_equal(p->telemetry.audit.fsync, POLICY_FSYNC_ALWAYS);
	assert_false(p->telemetry.access_log.enabled);
	assert_true(p->telemetry.traces.enabled);
	assert_string_equal(p->telemetry.traces.endpoint.path, "/v1/traces");
	assert_int_equal(p->telemetry.traces.endpoint.port, 4318);
	assert_true(p->telemetry.traces.sample_ratio == 0.25);
	assert_string_equal(p->telemetry.traces.service_name, "gw");

	assert_true(p->kernel.enabled);
	assert_int_equal(p->kernel.n_interfaces, 2);
	assert_string_equal(p->kernel.interfaces[1], "eth1");
	assert_int_equal(p->kernel.attach_mode, POLICY_ATTACH_GENERIC);
	assert_int_equal(p->kernel.flow_table_size, 65536);
	assert_string_equal(p->kernel.pin_path, "/sys/fs/bpf/tg2");
	assert_int_equal(p->kernel.syn_per_prefix.rate.count, 6000);
	assert_int_equal(p->kernel.syn_per_prefix.rate.period_ms, 60000);
	assert_int_equal(p->kernel.syn_per_prefix.burst, 50);
	assert_int_equal(p->kernel.flood_guard, 5000);
	assert_int_equal(p->kernel.penalty.auth_failures, 5);
	assert_int_equal(p->kernel.penalty.window_ms, 30000);
	assert_int_equal(p->kernel.penalty.duration_ms, 3600000);
	assert_true(p->kernel.egress_pacing);
	assert_true(p->kernel.drop_established_when_blocked);

	assert_non_null(p->cluster.redis);
	assert_string_equal(p->cluster.redis->url.scheme, "rediss");
	assert_true(p->cluster.redis->url.tls);
	assert_int_equal(p->cluster.redis->url.port, 6379);
	assert_string_equal(p->cluster.redis->password->ref, "REDIS_PASSWORD");
	assert_int_equal(p->cluster.redis->lease_tokens, 5000);
	assert_int_equal(p->cluster.redis->failure_mode, POLICY_FAIL_CLOSED);
	assert_int_equal(p->cluster.redis->timeout_ms, 250);

	assert_true(p->cache.enabled);
	assert_int_equal(p->cache.max_entries, 500);
	assert_int_equal(p->cache.max_entry_bytes, 256u << 10);
	assert_int_equal(p->cache.ttl_ms, 600000);
	policy_unref(p);
}

static void test_policy_bedrock_base_url_follows_region(void **state)
{
	struct policy *p;

	(void)state;
	p = load_ok("version: 1\n" LISTENER
		    "providers:\n"
		    "  - name: b\n"
		    "    type: bedrock\n"
		    "    region: eu-west-3\n"
		    "    access_key_id: ${env:A}\n"
		    "    secret_access_key: ${env:B}\n"
		    "  - name: b2\n"
		    "    type: bedrock\n"
		    "    region: us-west-2\n"
		    "    base_url: https://vpce.example:8443/br\n"
		    "    access_key_id: ${env:A}\n"
		    "    secret_access_key: ${env:B}\n");
	assert_string_equal(p->providers[0].base_url.text,
			    "https://bedrock-runtime.eu-west-3.amazonaws.com");
	assert_string_equal(p->providers[0].base_url.path, "/");
	/* An explicit base_url wins over the region's. */
	assert_string_equal(p->providers[1].base_url.host, "vpce.example");
	assert_int_equal(p->providers[1].base_url.port, 8443);
	policy_unref(p);
}

static void test_policy_lookups(void **state)
{
	struct policy *p;

	(void)state;
	p = load_ok(full_policy);
	assert_ptr_equal(policy_tenant_find(p, "acme"), &p->tenants[0]);
	assert_ptr_equal(policy_tenant_find(p, "beta"), &p->tenants[1]);
	assert_null(policy_tenant_find(p, "Acme"));
	assert_null(policy_tenant_find(p, ""));
	assert_ptr_equal(policy_provider_find(p, "bedrock"), &p->providers[4]);
	assert_null(policy_provider_find(p, "openai2"));
	assert_ptr_equal(policy_model_find(p, "claude"), &p->models[1]);
	assert_null(policy_model_find(p, "auto"));
	assert_ptr_equal(policy_upstream_find(p, "app"), &p->upstreams[0]);
	assert_null(policy_upstream_find(p, "ap"));
	assert_ptr_equal(policy_guard_find(p, "strict"), &p->guards[0]);
	assert_null(policy_guard_find(p, "lax"));
	policy_unref(p);
}

static void test_policy_enum_names(void **state)
{
	(void)state;
	assert_string_equal(policy_endpoint_name(POLICY_EP_LLM), "llm");
	assert_string_equal(policy_endpoint_name(POLICY_EP_HEALTH), "health");
	assert_string_equal(policy_endpoint_name((enum policy_endpoint)99), "?");
	assert_string_equal(policy_provider_type_name(POLICY_PROVIDER_BEDROCK), "bedrock");
	assert_string_equal(policy_provider_type_name(POLICY_PROVIDER_AZURE_OPENAI), "azure_openai");
	assert_string_equal(policy_provider_type_name((enum policy_provider_type)99), "?");
}

static void test_policy_schema_self_check(void **state)
{
	(void)state;
	assert_int_equal(policy_schema_self_check(), 0);
}

/* ---- includes ----------------------------------------------------------------------- */

static void test_policy_include_relative_and_glob_sorted(void **state)
{
	char main_path[PATH_MAX], path[PATH_MAX];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	write_file("inc1/main.yaml",
		   "version: 1\n" LISTENER
		   "include: [sub/upstreams.yaml, \"tenants/*.yaml\"]\n"
		   "tenants:\n"
		   "  - name: t-main\n", main_path);
	/* Relative to the including file, not to the current directory or
	 * to the top file. */
	write_file("inc1/sub/upstreams.yaml",
		   "include: [more.yaml]\n"
		   "upstreams: [{name: u1, servers: [\"a:1\"]}]\n", path);
	write_file("inc1/sub/more.yaml",
		   "upstreams: [{name: u2, servers: [\"b:2\"]}]\n", path);
	/* Written out of order: the glob expands sorted. */
	write_file("inc1/tenants/c.yaml", "tenants: [{name: t-c}]\n", path);
	write_file("inc1/tenants/a.yaml", "tenants: [{name: t-a1}, {name: t-a2}]\n", path);
	write_file("inc1/tenants/b.yaml", "tenants: [{name: t-b}]\n", path);

	policy_diags_init(&d);
	p = policy_load_file(main_path, POLICY_LOAD_DEFAULT, &d);
	if (!p) {
		dump(&d);
		fail_msg("included policy did not load");
	}
	/* Lists from every file are joined, in reading order. */
	assert_int_equal(p->n_tenants, 5);
	assert_string_equal(p->tenants[0].name, "t-main");
	assert_string_equal(p->tenants[1].name, "t-a1");
	assert_string_equal(p->tenants[2].name, "t-a2");
	assert_string_equal(p->tenants[3].name, "t-b");
	assert_string_equal(p->tenants[4].name, "t-c");
	assert_int_equal(p->n_listeners, 1);
	assert_int_equal(p->n_upstreams, 2);
	assert_string_equal(p->upstreams[0].name, "u1");
	assert_string_equal(p->upstreams[1].name, "u2");
	assert_string_equal(p->upstreams[1].servers[0].host, "b");
	assert_int_equal(p->n_includes, 3);
	assert_int_equal(p->n_files, 6);
	assert_string_equal(p->files[0], main_path);
	assert_non_null(strstr(p->files[1], "sub/upstreams.yaml"));
	assert_non_null(strstr(p->files[2], "sub/more.yaml"));
	assert_non_null(strstr(p->files[3], "tenants/a.yaml"));
	assert_non_null(strstr(p->files[4], "tenants/b.yaml"));
	assert_non_null(strstr(p->files[5], "tenants/c.yaml"));
	/* Locations name the file each object came from. */
	assert_non_null(strstr(p->tenants[4].loc.file, "tenants/c.yaml"));
	assert_int_equal(p->tenants[4].loc.line, 1);
	assert_int_equal(p->tenants[4].loc.col, 11);
	assert_non_null(strstr(p->upstreams[0].loc.file, "sub/upstreams.yaml"));
	assert_int_equal(p->upstreams[0].loc.line, 2);
	assert_string_equal(p->tenants[0].loc.file, main_path);
	policy_unref(p);
	policy_diags_fini(&d);
}

static void test_policy_include_section_in_two_files_is_error(void **state)
{
	char main_path[PATH_MAX], path[PATH_MAX];
	struct policy_diags d;
	struct policy *p;
	uint32_t i;

	(void)state;
	write_file("inc2/main.yaml",
		   "version: 1\n"
		   LISTENER
		   "server:\n"
		   "  workers: 1\n"
		   "include: [other.yaml]\n", main_path);
	write_file("inc2/other.yaml",
		   "# the server section again\n"
		   "server:\n"
		   "  workers: 2\n", path);
	policy_diags_init(&d);
	p = policy_load_file(main_path, POLICY_LOAD_DEFAULT, &d);
	assert_null(p);
	assert_int_equal(d.n, 1);
	i = find_diag(&d, "already set");
	assert_diag(&d, i, 2, 1, "server");
	assert_non_null(strstr(d.v[i].file, "other.yaml"));
	/* It says where the first one is. */
	assert_non_null(strstr(d.v[i].msg, "main.yaml:4:1"));
	policy_diags_fini(&d);
}

static void test_policy_include_cycle_is_error(void **state)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct policy_diags d;
	struct policy *p;
	uint32_t i;

	(void)state;
	write_file("inc3/a.yaml", "version: 1\n" LISTENER "include: [b.yaml]\n", a);
	write_file("inc3/b.yaml", "include: [a.yaml]\n", b);
	policy_diags_init(&d);
	p = policy_load_file(a, POLICY_LOAD_DEFAULT, &d);
	assert_null(p);
	assert_int_equal(d.n, 1);
	i = find_diag(&d, "cycle");
	assert_diag(&d, i, 1, 11, NULL);
	assert_non_null(strstr(d.v[i].file, "b.yaml"));
	policy_diags_fini(&d);

	/* A file that includes itself. */
	write_file("inc3/self.yaml", "version: 1\n" LISTENER "include: [self.yaml]\n", a);
	policy_diags_init(&d);
	p = policy_load_file(a, POLICY_LOAD_DEFAULT, &d);
	assert_null(p);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 4, 11, "cycle");
	policy_diags_fini(&d);
}

static void test_policy_include_same_file_twice_is_error(void **state)
{
	char main_path[PATH_MAX], path[PATH_MAX];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	write_file("inc4/main.yaml",
		   "version: 1\n" LISTENER
		   "include:\n"
		   "  - x.yaml\n"
		   "  - y.yaml\n", main_path);
	write_file("inc4/x.yaml", "tenants: [{name: x}]\n", path);
	/* y.yaml includes x.yaml again, spelled differently. */
	write_file("inc4/y.yaml", "include: [./x.yaml]\n", path);
	policy_diags_init(&d);
	p = policy_load_file(main_path, POLICY_LOAD_DEFAULT, &d);
	assert_null(p);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 1, 11, "already included");
	assert_non_null(strstr(d.v[0].file, "y.yaml"));
	policy_diags_fini(&d);
}

static void test_policy_include_missing_file_is_error(void **state)
{
	char main_path[PATH_MAX];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	write_file("inc5/main.yaml",
		   "version: 1\n" LISTENER
		   "include: [nope.yaml]\n", main_path);
	policy_diags_init(&d);
	p = policy_load_file(main_path, POLICY_LOAD_DEFAULT, &d);
	assert_null(p);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 4, 11, "nope.yaml");
	policy_diags_fini(&d);
}

/* The whole-policy checks (at least one listener, no two listeners on one
 * address) belong to the policy as a whole, after every file is read. */
static void test_policy_include_listeners_only_in_included_file(void **state)
{
	char main_path[PATH_MAX], path[PATH_MAX];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	write_file("inc7/main.yaml", "version: 1\ninclude: [listeners.yaml]\n", main_path);
	write_file("inc7/listeners.yaml", LISTENER, path);
	policy_diags_init(&d);
	p = policy_load_file(main_path, POLICY_LOAD_DEFAULT, &d);
	if (!p) {
		dump(&d);
		policy_diags_fini(&d);
		fail_msg("a policy whose listeners are in an included file did not load");
	}
	assert_int_equal(p->n_listeners, 1);
	policy_unref(p);
	policy_diags_fini(&d);
}

static void test_policy_include_reports_policy_checks_once(void **state)
{
	char main_path[PATH_MAX], path[PATH_MAX];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	write_file("inc8/main.yaml",
		   "version: 1\n"
		   "include: [t.yaml]\n"
		   "listeners:\n"
		   "  - {name: x, address: \"127.0.0.1:1\", auth: none}\n"
		   "  - {name: y, address: \"127.0.0.1:1\", auth: none}\n", main_path);
	write_file("inc8/t.yaml", "tenants: [{name: t}]\n", path);
	policy_diags_init(&d);
	p = policy_load_file(main_path, POLICY_LOAD_DEFAULT, &d);
	assert_null(p);
	if (d.n != 1) {
		uint32_t n = d.n;

		dump(&d);
		policy_diags_fini(&d);
		fail_msg("one mistake gave %u diagnostics", n);
	}
	assert_diag(&d, 0, 5, 24, "listener 'y' binds 127.0.0.1:1");
	policy_diags_fini(&d);
}

static void test_policy_include_depth_is_bounded(void **state)
{
	char path[PATH_MAX], rel[64], text[128];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	/* f0 includes f1 includes ... f11: deeper than TG_POLICY_INCLUDE_DEPTH. */
	for (int i = 0; i < 12; i++) {
		fmt(rel, sizeof(rel), "inc9/f%d.yaml", i);
		fmt(text, sizeof(text), "%sinclude: [f%d.yaml]\n",
		    i == 0 ? "version: 1\n" LISTENER : "", i + 1);
		write_file(rel, text, path);
	}
	write_file("inc9/f12.yaml", "", path);
	fmt(path, sizeof(path), "%s/inc9/f0.yaml", tmpdir);
	policy_diags_init(&d);
	p = policy_load_file(path, POLICY_LOAD_DEFAULT, &d);
	assert_null(p);
	assert_int_equal(d.n, 1);
	find_diag(&d, "deeper than");
	policy_diags_fini(&d);
}

static void test_policy_include_of_directory_is_error(void **state)
{
	char main_path[PATH_MAX], path[PATH_MAX];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	write_file("inc10/main.yaml", "version: 1\n" LISTENER "include: [dir]\n", main_path);
	write_file("inc10/dir/x.yaml", "", path);
	policy_diags_init(&d);
	p = policy_load_file(main_path, POLICY_LOAD_DEFAULT, &d);
	assert_null(p);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 4, 11, "not a regular file");
	policy_diags_fini(&d);
}

/* Runs `check` in a child with a 5 s alarm and asserts it exited 0: a load
 * that blocks fails the test instead of hanging the suite. */
static void run_bounded(bool (*check)(const char *arg, const char *path), const char *arg,
			const char *path)
{
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(5);
		_exit(check(arg, path) ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Loads `path` with `flags`; true when it fails with exactly one error
 * holding `text`, at `line` (0: any). */
static bool refused_as_not_regular(const char *path, unsigned flags, uint32_t line,
				   const char *text)
{
	struct policy_diags d;
	struct policy *p;
	bool ok;

	policy_diags_init(&d);
	p = policy_load_file(path, flags, &d);
	ok = !p && d.n == 1 && (!line || d.v[0].line == line) &&
	     strstr(d.v[0].msg, text);
	policy_unref(p);
	policy_diags_fini(&d);
	return ok;
}

static bool fifo_policy_and_include_refused(const char *fifo, const char *main_path)
{
	return refused_as_not_regular(fifo, 0, 0, "not a regular file") &&
	       refused_as_not_regular(main_path, POLICY_LOAD_RESOLVE_SECRETS, 2,
				      "is not a regular file");
}

static bool fifo_secret_refused(const char *fifo, const char *main_path)
{
	(void)fifo;
	return refused_as_not_regular(main_path, POLICY_LOAD_RESOLVE_SECRETS, 3,
				      "not a regular file");
}

/* A FIFO (or any non-file) named as a policy, an include or a secret file
 * is refused at once: opening it must not wait for a writer. */
static void test_policy_fifo_is_refused_without_waiting(void **state)
{
	char fifo[PATH_MAX], main_path[PATH_MAX], yaml[PATH_MAX * 2];

	(void)state;
	fmt(fifo, sizeof(fifo), "%s/fifo.yaml", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	fmt(yaml, sizeof(yaml),
	    "version: 1\n"
	    "include: [fifo.yaml]\n"
	    "listeners: [{name: a, address: \"127.0.0.1:1\", auth: none}]\n"
	    "providers: [{name: o, type: openai, api_key: \"${file:%s}\"}]\n", fifo);
	write_file("fifo-main.yaml", yaml, main_path);
	run_bounded(fifo_policy_and_include_refused, fifo, main_path);
}

static void test_policy_fifo_secret_is_refused_without_waiting(void **state)
{
	char fifo[PATH_MAX], main_path[PATH_MAX], yaml[PATH_MAX * 2];

	(void)state;
	fmt(fifo, sizeof(fifo), "%s/secret.fifo", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	fmt(yaml, sizeof(yaml),
	    "version: 1\n"
	    "listeners: [{name: a, address: \"127.0.0.1:1\", auth: none}]\n"
	    "providers: [{name: o, type: openai, api_key: \"${file:%s}\"}]\n", fifo);
	write_file("fifo-secret.yaml", yaml, main_path);
	run_bounded(fifo_secret_refused, fifo, main_path);
}

static void test_policy_secret_error_names_the_included_file(void **state)
{
	char main_path[PATH_MAX], path[PATH_MAX];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	unsetenv("TG_TEST_SECRET_INC");
	write_file("inc11/main.yaml", "version: 1\n" LISTENER "include: [providers.yaml]\n",
		   main_path);
	write_file("inc11/providers.yaml",
		   "providers:\n"
		   "  - {name: p, type: openai, api_key: \"${env:TG_TEST_SECRET_INC}\"}\n", path);
	policy_diags_init(&d);
	p = policy_load_file(main_path, POLICY_LOAD_DEFAULT, &d);
	if (!p) {
		dump(&d);
		fail_msg("policy did not load");
	}
	assert_int_equal(policy_resolve_secrets(p, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 2, 38, "TG_TEST_SECRET_INC");
	assert_non_null(strstr(d.v[0].file, "providers.yaml"));
	policy_unref(p);
	policy_diags_fini(&d);
}

static void test_policy_no_include_flag_refuses_include(void **state)
{
	char path[PATH_MAX];
	struct policy_diags d;
	char yaml[PATH_MAX + 128];

	(void)state;
	/* The file exists; the flag alone refuses it. */
	write_file("inc6/x.yaml", "tenants: [{name: x}]\n", path);
	fmt(yaml, sizeof(yaml), "version: 1\n" LISTENER "include: [\"%s\"]\n", path);
	load_bad(yaml, POLICY_LOAD_NO_INCLUDE, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 4, 10, "'include' is not allowed");
	policy_diags_fini(&d);
}

static void test_policy_missing_file_is_error(void **state)
{
	char path[PATH_MAX];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	fmt(path, sizeof(path), "%s/does-not-exist.yaml", tmpdir);
	policy_diags_init(&d);
	errno = 0;
	p = policy_load_file(path, POLICY_LOAD_DEFAULT, &d);
	assert_null(p);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].file, path);
	assert_int_equal(d.v[0].line, 0);
	assert_non_null(strstr(d.v[0].msg, "cannot read policy"));
	policy_diags_fini(&d);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void test_policy_reports_every_error_in_one_run(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n"
		 "server:\n"
		 "  workers: lots\n"			/* 3:12 */
		 "  log_level: loud\n"			/* 4:14 */
		 "  timeouts:\n"
		 "    header: 10\n"			/* 6:13 */
		 "listeners:\n"
		 "  - name: local\n"
		 "    address: 127.0.0.1:8080\n"
		 "    auth: none\n"
		 "tenants:\n"
		 "  - name: acme\n"
		 "    prefixes: [10.0.0.1/8]\n"		/* 13:16 */
		 "cache:\n"
		 "  enabled: yes\n",			/* 15:12 */
		 POLICY_LOAD_DEFAULT, &d);
	if (d.n != 5) {
		dump(&d);
		fail_msg("expected 5 diagnostics, got %u", d.n);
	}
	assert_false(d.truncated);
	assert_diag(&d, 0, 3, 12, "workers");
	assert_diag(&d, 1, 4, 14, "log_level");
	assert_diag(&d, 2, 6, 13, "header");
	assert_diag(&d, 3, 13, 16, "10.0.0.0/8");
	assert_diag(&d, 4, 15, 12, "true or false");
	for (uint32_t i = 0; i < d.n; i++)
		assert_string_equal(d.v[i].file, "test.yaml");
	policy_diags_fini(&d);
}

static void test_policy_diags_print_format(void **state)
{
	struct policy_diags d;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	load_bad("version: 1\n" LISTENER "cache:\n  enabled: yes\n", POLICY_LOAD_DEFAULT, &d);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	policy_diags_print(&d, f);
	fclose(f);
	assert_int_equal(d.n, 1);
	assert_true(strncmp(buf, "test.yaml:5:12: ", 16) == 0);
	assert_int_equal(buf[len - 1], '\n');
	assert_ptr_equal(strchr(buf, '\n'), buf + len - 1);
	free(buf);
	policy_diags_fini(&d);
}

static void test_policy_unknown_key_suggests_nearest(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n" LISTENER "sever:\n  workers: 1\n", POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 4, 1, "did you mean 'server'?");
	policy_diags_fini(&d);
}

static void test_policy_duplicate_and_undefined_names(void **state)
{
	struct policy_diags d;
	uint32_t i;

	(void)state;
	load_bad("version: 1\n" LISTENER
		 "providers:\n"
		 "  - {name: o, type: openai}\n"
		 "  - {name: o, type: openai}\n"		/* line 6 */
		 "models:\n"
		 "  - {name: m, provider: oo}\n",		/* line 8 */
		 POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 2);
	i = find_diag(&d, "duplicate provider name 'o'");
	assert_int_equal(d.v[i].line, 6);
	assert_int_equal(d.v[i].col, 12);
	assert_non_null(strstr(d.v[i].msg, "test.yaml:5:12"));
	i = find_diag(&d, "provider 'oo' is not defined");
	assert_diag(&d, i, 8, 25, "did you mean 'o'?");
	policy_diags_fini(&d);
}

static void test_policy_refuses_auth_none_off_loopback(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n"
		 "listeners:\n"
		 "  - name: pub\n"
		 "    address: 0.0.0.0:8080\n"
		 "    auth: none\n", POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 5, 11, "loopback");
	policy_diags_fini(&d);
}

static void test_policy_empty_buffer_needs_version_and_listener(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("", POLICY_LOAD_DEFAULT, &d);
	find_diag(&d, "version");
	policy_diags_fini(&d);
	load_bad("version: 1\n", POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	find_diag(&d, "missing required key 'listeners'");
	policy_diags_fini(&d);
	load_bad("version: 2\n" LISTENER, POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 1, 10, "version");
	policy_diags_fini(&d);
}

static void test_policy_prefix_in_two_tenants_is_error(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n" LISTENER
		 "tenants:\n"
		 "  - {name: a, prefixes: [10.0.0.0/8]}\n"
		 "  - {name: b, prefixes: [192.0.2.0/24, 10.0.0.0/8]}\n",
		 POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 6, 40, "tenant 'b' claims prefix 10.0.0.0/8, which tenant 'a' already claims");
	policy_diags_fini(&d);
}

static void test_policy_same_key_hash_twice_is_error(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n" LISTENER
		 "tenants:\n"
		 "  - name: a\n"
		 "    keys:\n"
		 "      - {name: k1, hash: \"" ABC_HASH "\"}\n"
		 "      - {name: k2, hash: \"" ABC_HASH "\"}\n",
		 POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 7, 7, "same hash");
	policy_diags_fini(&d);
}

/* One key in two tenants: the proxy could not tell which tenant calls (the
 * same reason one prefix may not belong to two tenants). */
static void test_policy_same_key_hash_in_two_tenants_is_error(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n" LISTENER
		 "tenants:\n"
		 "  - {name: a, keys: [{name: k1, hash: \"" ABC_HASH "\"}]}\n"
		 "  - {name: b, keys: [{name: k2, hash: \"" ABC_HASH "\"}]}\n",
		 POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].line, 6);
	policy_diags_fini(&d);
}

static void test_policy_provider_needs_what_its_type_needs(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n" LISTENER
		 "providers:\n"
		 "  - {name: az, type: azure_openai, api_key: \"${env:K}\"}\n"
		 "  - {name: an, type: anthropic}\n"
		 "  - {name: br, type: bedrock, access_key_id: \"${env:A}\", secret_access_key: \"${env:B}\"}\n",
		 POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 4);
	assert_diag(&d, find_diag(&d, "needs 'base_url'"), 5, 5, "az");
	assert_diag(&d, find_diag(&d, "needs 'api_version'"), 5, 5, "az");
	assert_diag(&d, find_diag(&d, "needs 'api_key'"), 6, 5, "an");
	assert_diag(&d, find_diag(&d, "needs 'region'"), 7, 5, "br");
	policy_diags_fini(&d);
}

static void test_policy_duplicate_key_is_error(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n" LISTENER
		 "server:\n"
		 "  workers: 1\n"
		 "  workers: 2\n", POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 6, 3, "already set at line 5");
	policy_diags_fini(&d);
}

static void test_policy_missing_required_key_is_error_at_object(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n" LISTENER
		 "tenants:\n"
		 "  - name: a\n"
		 "  - bytes_per_token: 2\n", POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 6, 5, "tenant is missing required key 'name'");
	policy_diags_fini(&d);
}

static void test_policy_oversized_buffer_is_refused(void **state)
{
	size_t len = TG_POLICY_FILE_MAX + 1;
	char *big = malloc(len);
	struct policy_diags d;
	struct policy *p;

	(void)state;
	assert_non_null(big);
	memset(big, '\n', len);
	memcpy(big, "version: 1\n", 11);
	policy_diags_init(&d);
	p = policy_load_buffer("big.yaml", big, len, 0, &d);
	assert_null(p);
	find_diag(&d, "larger than");
	free(big);
	policy_diags_fini(&d);
}

static void test_policy_second_document_is_error(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n" LISTENER "---\nversion: 1\n", POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 5, 1, "one YAML document");
	policy_diags_fini(&d);
}

static void test_policy_truncates_diagnostics_at_max(void **state)
{
	struct policy_diags d;
	char *yaml;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);

	(void)state;
	assert_non_null(f);
	fputs("version: 1\n" LISTENER "server:\n", f);
	for (int i = 0; i < TG_POLICY_ERRORS_MAX + 50; i++)
		fprintf(f, "  bogus%d: 1\n", i);
	fclose(f);
	load_bad(yaml, POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, TG_POLICY_ERRORS_MAX);
	assert_true(d.truncated);
	/* The first ones are kept, in order. */
	assert_diag(&d, 0, 5, 3, "bogus0");
	assert_diag(&d, TG_POLICY_ERRORS_MAX - 1, 5 + TG_POLICY_ERRORS_MAX - 1, 3, "bogus99");
	free(yaml);
	yaml = NULL;
	f = open_memstream(&yaml, &len);
	assert_non_null(f);
	policy_diags_print(&d, f);
	fclose(f);
	assert_non_null(strstr(yaml, "too many errors; stopped after 100\n"));
	free(yaml);
	policy_diags_fini(&d);
}

/* ---- secrets ------------------------------------------------------------------------------- */

/* A policy with one provider whose api_key (line 6, column 14) is `ref`. */
static struct policy *load_with_secret(const char *ref)
{
	char yaml[PATH_MAX + 256];

	fmt(yaml, sizeof(yaml),
		 "version: 1\n" LISTENER
		 "providers:\n"
		 "  - name: p\n"
		 "    api_key: %s\n"
		 "    type: openai\n", ref);
	return load_ok(yaml);
}

static void test_policy_resolves_env_secret(void **state)
{
	struct policy_diags d;
	struct policy *p;

	(void)state;
	assert_int_equal(setenv("TG_TEST_SECRET_A", "v4lue-A", 1), 0);
	p = load_with_secret("${env:TG_TEST_SECRET_A}");
	assert_int_equal(p->n_secrets, 1);
	assert_ptr_equal(p->secrets[0], p->providers[0].api_key);
	assert_null(p->providers[0].api_key->value);
	policy_diags_init(&d);
	assert_int_equal(policy_resolve_secrets(p, &d), 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(p->providers[0].api_key->value, "v4lue-A");
	assert_int_equal(p->providers[0].api_key->len, 7);
	policy_diags_fini(&d);
	policy_unref(p);
	unsetenv("TG_TEST_SECRET_A");
}

static void test_policy_unset_env_secret_is_error_at_reference(void **state)
{
	struct policy_diags d;
	struct policy *p;

	(void)state;
	unsetenv("TG_TEST_SECRET_UNSET");
	p = load_with_secret("${env:TG_TEST_SECRET_UNSET}");
	policy_diags_init(&d);
	assert_int_equal(policy_resolve_secrets(p, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 6, 14, "TG_TEST_SECRET_UNSET");
	assert_string_equal(d.v[0].file, "test.yaml");
	assert_null(p->providers[0].api_key->value);
	policy_diags_fini(&d);
	policy_unref(p);
}

static void test_policy_load_flag_resolves_secrets(void **state)
{
	struct policy_diags d;
	struct policy *p;
	const char *yaml = "version: 1\n" LISTENER
			   "providers: [{name: p, type: openai, api_key: \"${env:TG_TEST_SECRET_F}\"}]\n";

	(void)state;
	unsetenv("TG_TEST_SECRET_F");
	load_bad(yaml, POLICY_LOAD_RESOLVE_SECRETS, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 4, 46, "TG_TEST_SECRET_F");
	policy_diags_fini(&d);

	assert_int_equal(setenv("TG_TEST_SECRET_F", "f-value", 1), 0);
	policy_diags_init(&d);
	p = load(yaml, POLICY_LOAD_RESOLVE_SECRETS, &d);
	assert_non_null(p);
	assert_string_equal(p->providers[0].api_key->value, "f-value");
	policy_unref(p);
	policy_diags_fini(&d);
	unsetenv("TG_TEST_SECRET_F");
}

static void test_policy_file_secret_strips_one_newline(void **state)
{
	static const struct {
		const char *rel, *content, *want;
	} cases[] = {
		{ "sec/one", "s3cret\n", "s3cret" },
		{ "sec/two", "two\n\n", "two\n" },
		{ "sec/crlf", "crlf\r\n", "crlf" },
		{ "sec/none", "bare", "bare" },
		{ "sec/inner", "a\nb\n", "a\nb" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[PATH_MAX], ref[PATH_MAX + 16];
		struct policy_diags d;
		struct policy *p;

		write_file(cases[i].rel, cases[i].content, path);
		fmt(ref, sizeof(ref), "${file:%s}", path);
		p = load_with_secret(ref);
		assert_int_equal(p->providers[0].api_key->kind, POLICY_SECRET_FILE);
		assert_string_equal(p->providers[0].api_key->ref, path);
		policy_diags_init(&d);
		assert_int_equal(policy_resolve_secrets(p, &d), 0);
		assert_int_equal(d.n, 0);
		assert_string_equal(p->providers[0].api_key->value, cases[i].want);
		assert_int_equal(p->providers[0].api_key->len, strlen(cases[i].want));
		policy_diags_fini(&d);
		policy_unref(p);
	}
}

static void test_policy_missing_secret_file_is_error(void **state)
{
	char path[PATH_MAX], ref[PATH_MAX + 16];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	fmt(path, sizeof(path), "%s/sec/missing", tmpdir);
	fmt(ref, sizeof(ref), "${file:%s}", path);
	p = load_with_secret(ref);
	policy_diags_init(&d);
	assert_int_equal(policy_resolve_secrets(p, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 6, 14, path);
	assert_null(p->providers[0].api_key->value);
	policy_diags_fini(&d);
	policy_unref(p);
}

static void test_policy_empty_secret_is_rejected(void **state)
{
	char path[PATH_MAX], ref[PATH_MAX + 16];
	struct policy_diags d;
	struct policy *p;

	(void)state;
	write_file("sec/empty", "", path);
	fmt(ref, sizeof(ref), "${file:%s}", path);
	p = load_with_secret(ref);
	policy_diags_init(&d);
	assert_int_equal(policy_resolve_secrets(p, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 6, 14, "empty");
	assert_null(p->providers[0].api_key->value);
	policy_diags_fini(&d);
	policy_unref(p);

	/* A file holding only the newline is empty too. */
	write_file("sec/newline", "\n", path);
	fmt(ref, sizeof(ref), "${file:%s}", path);
	p = load_with_secret(ref);
	policy_diags_init(&d);
	assert_int_equal(policy_resolve_secrets(p, &d), -EINVAL);
	assert_diag(&d, 0, 6, 14, "empty");
	policy_diags_fini(&d);
	policy_unref(p);

	assert_int_equal(setenv("TG_TEST_SECRET_EMPTY", "", 1), 0);
	p = load_with_secret("${env:TG_TEST_SECRET_EMPTY}");
	policy_diags_init(&d);
	assert_int_equal(policy_resolve_secrets(p, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 6, 14, "empty");
	assert_null(p->providers[0].api_key->value);
	policy_diags_fini(&d);
	policy_unref(p);
	unsetenv("TG_TEST_SECRET_EMPTY");
}

/* No message, file name or printed line holds `needle`. */
static void assert_diags_lack(const struct policy_diags *d, const char *needle)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	for (uint32_t i = 0; i < d->n; i++) {
		if (strstr(d->v[i].msg, needle) || strstr(d->v[i].file, needle)) {
			dump(d);
			fail_msg("diagnostic #%u shows the secret '%s'", i, needle);
		}
	}
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	policy_diags_print(d, f);
	fclose(f);
	if (strstr(buf, needle)) {
		free(buf);
		fail_msg("printed diagnostics show the secret '%s'", needle);
	}
	free(buf);
}

static void test_policy_rejects_literal_secret(void **state)
{
	struct policy_diags d;

	(void)state;
	load_bad("version: 1\n" LISTENER
		 "providers:\n"
		 "  - name: p\n"
		 "    api_key: sk-live-SECRET123\n"
		 "    type: openai\n", POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 6, 14, "api_key");
	assert_diags_lack(&d, "sk-live-SECRET123");
	assert_diags_lack(&d, "SECRET123");
	policy_diags_fini(&d);
}

static void test_policy_no_diagnostic_shows_a_secret_value(void **state)
{
	struct policy_diags d;
	struct policy *p;

	(void)state;
	/* A literal in every secret-typed key. */
	load_bad("version: 1\n" LISTENER
		 "providers:\n"
		 "  - {name: o, type: openai, api_key: \"sk-live-SECRET101\"}\n"
		 "  - name: b\n"
		 "    type: bedrock\n"
		 "    region: us-east-1\n"
		 "    access_key_id: AKIASECRET102\n"
		 "    secret_access_key: 'wJalrSECRET103'\n"
		 "router:\n"
		 "  embeddings: {url: \"http://e\", model: m, api_key: SECRET104}\n"
		 "mcp:\n"
		 "  servers: [{name: s, url: \"http://s\", token: SECRET105}]\n"
		 "  bridges:\n"
		 "    - name: br\n"
		 "      base_url: http://b\n"
		 "      openapi: /x.json\n"
		 "      token: |\n"
		 "        SECRET106\n"
		 "a2a:\n"
		 "  agents: [{name: a, url: \"http://a\", token: \"Bearer SECRET107\"}]\n"
		 "cluster:\n"
		 "  redis: {url: \"redis://r\", password: \"${env:SECRET108-bad\"}\n",
		 POLICY_LOAD_DEFAULT, &d);
	assert_int_equal(d.n, 8);
	assert_diags_lack(&d, "SECRET1");
	policy_diags_fini(&d);

	/* Nor does resolving print what it read, on success or failure. */
	assert_int_equal(setenv("TG_TEST_SECRET_V", "SECRET201", 1), 0);
	unsetenv("TG_TEST_SECRET_W");
	p = load_ok("version: 1\n" LISTENER
		    "providers:\n"
		    "  - {name: a, type: openai, api_key: \"${env:TG_TEST_SECRET_V}\"}\n"
		    "  - {name: b, type: openai, api_key: \"${env:TG_TEST_SECRET_W}\"}\n");
	policy_diags_init(&d);
	assert_int_equal(policy_resolve_secrets(p, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_diags_lack(&d, "SECRET201");
	assert_string_equal(p->providers[0].api_key->value, "SECRET201");
	policy_diags_fini(&d);
	policy_unref(p);
	unsetenv("TG_TEST_SECRET_V");
}

/* ---- key hashes ---------------------------------------------------------------------------- */

static void test_policy_key_hash_known_vector(void **state)
{
	char out[72];

	(void)state;
	memset(out, 'x', sizeof(out));
	policy_key_hash("abc", 3, out);
	assert_string_equal(out, ABC_HASH);
	assert_int_equal(out[71], '\0');
	policy_key_hash("", 0, out);
	assert_string_equal(out, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* Bytes after `len` are not part of the key. */
	policy_key_hash("abcdef", 3, out);
	assert_string_equal(out, ABC_HASH);
}

static void test_policy_key_matches_only_the_right_key(void **state)
{
	struct policy_key k = { 0 };
	char out[72];

	(void)state;
	assert_int_equal(policy_parse_key_hash(ABC_HASH, k.sha256), 0);
	assert_true(policy_key_matches(&k, "abc", 3));
	assert_false(policy_key_matches(&k, "abd", 3));
	assert_false(policy_key_matches(&k, "ABC", 3));
	assert_false(policy_key_matches(&k, "abcd", 4));
	assert_false(policy_key_matches(&k, "abc", 4));	/* with its NUL */
	assert_false(policy_key_matches(&k, "ab", 2));
	assert_false(policy_key_matches(&k, "", 0));

	/* A round trip through policy_key_hash. */
	policy_key_hash("tg-key-0123456789", 17, out);
	assert_int_equal(policy_parse_key_hash(out, k.sha256), 0);
	assert_true(policy_key_matches(&k, "tg-key-0123456789", 17));
	assert_false(policy_key_matches(&k, "tg-key-0123456789X", 18));
}

/* ---- hostile input -------------------------------------------------------------------------- */

static void test_policy_alias_bomb_is_bounded(void **state)
{
	static const char bomb[] =
		"version: 1\n" LISTENER
		"mcp:\n"
		"  bridges:\n"
		"    - name: b\n"
		"      base_url: http://b\n"
		"      tools:\n"
		"        - name: t\n"
		"          method: GET\n"
		"          path: /t\n"
		"          input_schema:\n"
		"            a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		"            b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"            c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"            d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"            e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"            f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"            g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		"            h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
		"            i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
	static const char list_bomb[] =
		"version: 1\n" LISTENER
		"router:\n"
		"  routes:\n"
		"    - name: r\n"
		"      model: m\n"
		"      examples: &a [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x]\n"
		"      keywords: *a\n"
		"guards:\n"
		"  - &g {name: g, deny: [{name: p, regex: x}]}\n"
		"  - *g\n"
		"  - *g\n";
	struct policy_diags d;
	double t0 = now_s();

	(void)state;
	load_bad(bomb, POLICY_LOAD_DEFAULT, &d);
	find_diag(&d, "too large");
	assert_true(d.n <= 2);
	policy_diags_fini(&d);
	/* Aliased objects decode as copies: the names collide. */
	load_bad(list_bomb, POLICY_LOAD_DEFAULT, &d);
	find_diag(&d, "duplicate guard name 'g'");
	policy_diags_fini(&d);
	assert_true(now_s() - t0 < 10.0);
}

/* `depth` copies of `open`, then of `close`, inside `prefix` and `suffix`. */
static char *nested(const char *prefix, const char *open, const char *close,
		    const char *suffix, int depth)
{
	char *s;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	assert_non_null(f);
	fputs(prefix, f);
	for (int i = 0; i < depth; i++)
		fputs(open, f);
	for (int i = 0; i < depth; i++)
		fputs(close, f);
	fputs(suffix, f);
	fclose(f);
	return s;
}

static void test_policy_deep_nesting_is_an_error(void **state)
{
	static const char tool[] =
		"version: 1\n" LISTENER
		"mcp:\n"
		"  bridges:\n"
		"    - name: b\n"
		"      base_url: http://b\n"
		"      tools:\n"
		"        - name: t\n"
		"          method: GET\n"
		"          path: /t\n"
		"          input_schema: ";
	struct policy_diags d;
	double t0 = now_s();
	char *y;

	(void)state;
	y = nested("", "[", "]", "\n", 10000);
	load_bad(y, POLICY_LOAD_DEFAULT, &d);
	policy_diags_fini(&d);
	free(y);

	y = nested("version: 1\n" LISTENER "server: ", "[", "]", "\n", 10000);
	load_bad(y, POLICY_LOAD_DEFAULT, &d);
	policy_diags_fini(&d);
	free(y);

	y = nested("version: 1\n" LISTENER "server: ", "{a: ", "}", "\n", 10000);
	load_bad(y, POLICY_LOAD_DEFAULT, &d);
	policy_diags_fini(&d);
	free(y);

	/* Where any value is accepted, the depth bound is what stops it. */
	y = nested(tool, "[", "]", "\n", 10000);
	load_bad(y, POLICY_LOAD_DEFAULT, &d);
	policy_diags_fini(&d);
	free(y);

	y = nested(tool, "[", "]", "\n", TG_POLICY_DEPTH_MAX + 1);
	load_bad(y, POLICY_LOAD_DEFAULT, &d);
	find_diag(&d, "nesting is deeper than");
	policy_diags_fini(&d);
	free(y);
	assert_true(now_s() - t0 < 10.0);
}

static void test_policy_non_utf8_is_yaml_error(void **state)
{
	struct policy_diags d;
	uint32_t i;

	(void)state;
	load_bad("version: 1\n"
		 "server:\n"
		 "  user: \xff\xfe\n" LISTENER, POLICY_LOAD_DEFAULT, &d);
	i = find_diag(&d, "YAML");
	/* The error points at the line that holds the bad byte. */
	if (d.v[i].line != 3) {
		uint32_t line = d.v[i].line, col = d.v[i].col;

		dump(&d);
		policy_diags_fini(&d);
		fail_msg("non-UTF-8 byte on line 3 reported at %u:%u", line, col);
	}
	policy_diags_fini(&d);
}

static void test_policy_nul_and_control_bytes_are_errors(void **state)
{
	static const char nul[] = "version: 1\n" LISTENER "server:\n  user: a\0b\n";
	struct policy_diags d;
	struct policy *p;

	(void)state;
	policy_diags_init(&d);
	p = policy_load_buffer("test.yaml", nul, sizeof(nul) - 1, 0, &d);
	assert_null(p);
	assert_true(d.n >= 1);
	policy_diags_fini(&d);

	load_bad("version: 1\n" LISTENER "server:\n  user: \"a\\x01b\"\n", 0, &d);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, 5, 9, "user");
	policy_diags_fini(&d);
}

/* ---- lifetime -------------------------------------------------------------------------------- */

static void test_policy_ref_and_unref_count(void **state)
{
	struct policy *p, *q;

	(void)state;
	assert_int_equal(setenv("TG_TEST_SECRET_R", "r-value", 1), 0);
	p = load_with_secret("${env:TG_TEST_SECRET_R}");
	assert_int_equal(policy_resolve_secrets(p, NULL), 0);
	assert_int_equal(atomic_load(&p->refs), 1);
	q = policy_ref(p);
	assert_ptr_equal(q, p);
	assert_int_equal(atomic_load(&p->refs), 2);
	policy_unref(q);
	assert_int_equal(atomic_load(&p->refs), 1);
	/* Still whole after dropping one of two references. */
	assert_string_equal(p->listeners[0].name, "l");
	assert_string_equal(p->providers[0].api_key->value, "r-value");
	/* The last reference frees it all, the secret included (ASan's leak
	 * check fails the run otherwise). */
	policy_unref(p);
	policy_unref(NULL);
	unsetenv("TG_TEST_SECRET_R");
}

static void *load_many(void *arg)
{
	uintptr_t bad = 0;

	(void)arg;
	for (int i = 0; i < 20; i++) {
		struct policy_diags d;
		struct policy *p;

		policy_diags_init(&d);
		p = policy_load_buffer("full.yaml", full_policy, sizeof(full_policy) - 1, 0, &d);
		if (!p || d.n || p->n_tenants != 2 || strcmp(p->tenants[0].name, "acme"))
			bad++;
		policy_unref(p);
		policy_diags_fini(&d);
	}
	return (void *)bad;
}

/* Loads in several threads at once keep apart (the loader's context is
 * thread-local). */
static void test_policy_loads_concurrently(void **state)
{
	pthread_t th[4];
	void *bad;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, load_many, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_int_equal((uintptr_t)bad, 0);
	}
}

/* ---- after the error cap -------------------------------------------------------------------- */

/* Loads `yaml` in a child process, so that a loader crash fails this test
 * (with the sanitizer's report on stderr) instead of ending the run. The
 * child exits 0 when the load failed cleanly with the diagnostics
 * truncated. Takes ownership of `yaml`. */
static void load_truncated_in_child(char *yaml)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct policy_diags d;
		struct policy *p;
		int rc;

		/* cmocka's handlers would carry on with the parent's tests here. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		policy_diags_init(&d);
		p = load(yaml, POLICY_LOAD_DEFAULT, &d);
		rc = !p && d.truncated ? 0 : 3;
		policy_unref(p);
		policy_diags_fini(&d);
		exit(rc);
	}
	free(yaml);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("the loader was killed by signal %d", WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the loader crashed or misbehaved (exit status %d)",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* A policy with more than TG_POLICY_ERRORS_MAX errors, then `tail`. */
static char *past_error_cap(const char *tail)
{
	char *yaml;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);

	assert_non_null(f);
	fputs("version: 1\n" LISTENER "server:\n", f);
	for (int i = 0; i < TG_POLICY_ERRORS_MAX + 5; i++)
		fprintf(f, "  bogus%d: 1\n", i);
	fputs(tail, f);
	fclose(f);
	return yaml;
}

/* Past TG_POLICY_ERRORS_MAX the loader keeps going; objects that failed to
 * decode must still not reach their validators. */
static void test_policy_truncated_load_skips_validators_of_broken_objects(void **state)
{
	/* A tool without its required 'path'. */
	char *yaml = past_error_cap("mcp:\n"
				    "  bridges:\n"
				    "    - name: b\n"
				    "      base_url: http://b\n"
				    "      tools:\n"
				    "        - {name: t, method: GET}\n");

	(void)state;
	load_truncated_in_child(yaml);
}

static void test_policy_truncated_load_skips_model_validator(void **state)
{
	/* A model without its required 'name', with a fallback. */
	char *yaml = past_error_cap("providers: [{name: o, type: openai}]\n"
				    "models:\n"
				    "  - {name: m2, provider: o}\n"
				    "  - {provider: o, fallback: [m2]}\n");

	(void)state;
	load_truncated_in_child(yaml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_default_file_loads),
		cmocka_unit_test(test_policy_defaults_applied),
		cmocka_unit_test(test_policy_optional_provider_without_secret_is_off),
		cmocka_unit_test(test_policy_listener_defaults_to_every_endpoint_and_api_key),
		cmocka_unit_test(test_policy_list_element_defaults),
		cmocka_unit_test(test_policy_full_server_listeners_upstreams),
		cmocka_unit_test(test_policy_full_tenants_keys_budgets),
		cmocka_unit_test(test_policy_full_providers_and_models),
		cmocka_unit_test(test_policy_full_router_guards_mcp_a2a),
		cmocka_unit_test(test_policy_full_telemetry_kernel_cluster_cache),
		cmocka_unit_test(test_policy_bedrock_base_url_follows_region),
		cmocka_unit_test(test_policy_lookups),
		cmocka_unit_test(test_policy_enum_names),
		cmocka_unit_test(test_policy_schema_self_check),
		cmocka_unit_test(test_policy_include_relative_and_glob_sorted),
		cmocka_unit_test(test_policy_include_section_in_two_files_is_error),
		cmocka_unit_test(test_policy_include_cycle_is_error),
		cmocka_unit_test(test_policy_include_same_file_twice_is_error),
		cmocka_unit_test(test_policy_include_missing_file_is_error),
		cmocka_unit_test(test_policy_include_listeners_only_in_included_file),
		cmocka_unit_test(test_policy_include_reports_policy_checks_once),
		cmocka_unit_test(test_policy_include_depth_is_bounded),
		cmocka_unit_test(test_policy_include_of_directory_is_error),
		cmocka_unit_test(test_policy_secret_error_names_the_included_file),
		cmocka_unit_test(test_policy_fifo_is_refused_without_waiting),
		cmocka_unit_test(test_policy_fifo_secret_is_refused_without_waiting),
		cmocka_unit_test(test_policy_no_include_flag_refuses_include),
		cmocka_unit_test(test_policy_missing_file_is_error),
		cmocka_unit_test(test_policy_reports_every_error_in_one_run),
		cmocka_unit_test(test_policy_diags_print_format),
		cmocka_unit_test(test_policy_unknown_key_suggests_nearest),
		cmocka_unit_test(test_policy_duplicate_and_undefined_names),
		cmocka_unit_test(test_policy_refuses_auth_none_off_loopback),
		cmocka_unit_test(test_policy_empty_buffer_needs_version_and_listener),
		cmocka_unit_test(test_policy_prefix_in_two_tenants_is_error),
		cmocka_unit_test(test_policy_same_key_hash_twice_is_error),
		cmocka_unit_test(test_policy_same_key_hash_in_two_tenants_is_error),
		cmocka_unit_test(test_policy_provider_needs_what_its_type_needs),
		cmocka_unit_test(test_policy_duplicate_key_is_error),
		cmocka_unit_test(test_policy_missing_required_key_is_error_at_object),
		cmocka_unit_test(test_policy_oversized_buffer_is_refused),
		cmocka_unit_test(test_policy_second_document_is_error),
		cmocka_unit_test(test_policy_truncates_diagnostics_at_max),
		cmocka_unit_test(test_policy_resolves_env_secret),
		cmocka_unit_test(test_policy_unset_env_secret_is_error_at_reference),
		cmocka_unit_test(test_policy_load_flag_resolves_secrets),
		cmocka_unit_test(test_policy_file_secret_strips_one_newline),
		cmocka_unit_test(test_policy_missing_secret_file_is_error),
		cmocka_unit_test(test_policy_empty_secret_is_rejected),
		cmocka_unit_test(test_policy_rejects_literal_secret),
		cmocka_unit_test(test_policy_no_diagnostic_shows_a_secret_value),
		cmocka_unit_test(test_policy_key_hash_known_vector),
		cmocka_unit_test(test_policy_key_matches_only_the_right_key),
		cmocka_unit_test(test_policy_alias_bomb_is_bounded),
		cmocka_unit_test(test_policy_deep_nesting_is_an_error),
		cmocka_unit_test(test_policy_non_utf8_is_yaml_error),
		cmocka_unit_test(test_policy_nul_and_control_bytes_are_errors),
		cmocka_unit_test(test_policy_ref_and_unref_count),
		cmocka_unit_test(test_policy_loads_concurrently),
		cmocka_unit_test(test_policy_truncated_load_skips_validators_of_broken_objects),
		cmocka_unit_test(test_policy_truncated_load_skips_model_validator),
	};

	return cmocka_run_group_tests_name("policy", tests, group_setup, group_teardown);
}
