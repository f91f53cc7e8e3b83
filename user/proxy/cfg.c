// SPDX-License-Identifier: Apache-2.0
/*
 * The runtime configuration built from a policy: TLS contexts, resolved
 * upstream addresses and route tables. Built on the thread that loaded the
 * policy, never on a worker: getaddrinfo() and reading certificate files
 * block.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "proxy/internal.h"
#include "tollgate/limits.h"

uint64_t proxy_now_ms(void)
{
	return clock_mono_ms();
}

/* ---- building ------------------------------------------------------------------ */

static void cfg_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cfg_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void sockaddr_from_policy(const struct policy_sockaddr *a,
				 struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->addr, 4);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		memcpy(&in6->sin6_addr, a->addr, 16);
		*len = sizeof(*in6);
	}
}

static int route_cmp(const void *a, const void *b)
{
	const struct pcfg_route *x = a, *y = b;

	if (x->path_len != y->path_len)
		return x->path_len < y->path_len ? 1 : -1;
	return strcmp(x->path, y->path);
}

static enum tls_version tls_min(enum policy_tls_version v)
{
	return v == POLICY_TLS_1_3 ? TLS_VERSION_1_3 : TLS_VERSION_1_2;
}

static int listener_build(struct proxy_cfg *cfg, struct pcfg_listener *l,
			  const struct policy_listener *pl, char *err, size_t errlen)
{
	const struct policy_upstream *pu;
	uint32_t i;

	l->pl = pl;
	sockaddr_from_policy(&pl->address, &l->addr, &l->addrlen);
	if (pl->tls) {
		struct tls_server_opts o = {
			.certs = { { pl->tls->cert, pl->tls->key } },
			.ncerts = 1,
			.min_version = tls_min(pl->tls->min_version),
			.no_session_tickets = !pl->tls->tickets,
			.client_ca_file = pl->tls->client_ca,
		};
		char why[256] = "";

		l->tls = tls_server_ctx_new(&o, why, sizeof(why));
		if (!l->tls) {
			cfg_err(err, errlen, "listener %s: TLS: %s", pl->name, why);
			return -EPROTO;
		}
		l->ktls = pl->tls->ktls == POLICY_KTLS_AUTO && tls_ktls_available();
		/* TOLLGATE_TLS_SOCKET=1 takes the socket-mode path even where
		 * kTLS cannot engage: how that path is tested on such kernels. */
		l->sockmode = l->ktls || (getenv("TOLLGATE_TLS_SOCKET") &&
					  !strcmp(getenv("TOLLGATE_TLS_SOCKET"), "1"));
	}
	l->routes = calloc(pl->n_routes ? pl->n_routes : 1, sizeof(*l->routes));
	if (!l->routes)
		return -ENOMEM;
	for (i = 0; i < pl->n_routes; i++) {
		struct pcfg_route *r = &l->routes[l->n_routes];

		r->path = pl->routes[i].path;
		r->path_len = strlen(r->path);
		r->strip_prefix = pl->routes[i].strip_prefix;
		/* The policy's upstreams come first in cfg->upstreams, in order
		 * (providers' pools follow: a provider's name must not match). */
		pu = policy_upstream_find(cfg->policy, pl->routes[i].upstream);
		if (pu)
			r->up = &cfg->upstreams[pu - cfg->policy->upstreams];
		if (!r->up) {
			/* The loader checks references; this is belt and braces. */
			cfg_err(err, errlen, "listener %s: route %s: unknown upstream %s",
				pl->name, r->path, pl->routes[i].upstream);
			return -EINVAL;
		}
		l->n_routes++;
	}
	qsort(l->routes, l->n_routes, sizeof(*l->routes), route_cmp);
	return 0;
}

static int server_resolve(struct pcfg_server *s, const struct policy_hostport *hp,
			  char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", hp->port);
	rc = getaddrinfo(hp->host, port, &hints, &res);
	if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME) {
		/* AI_ADDRCONFIG hides loopback-only hosts on a box with no
		 * other address; try once more without it. */
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(hp->host, port, &hints, &res);
	}
	if (rc) {
		cfg_err(err, errlen, "upstream server %s: %s", hp->text, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
	s->addrlen = res->ai_addrlen;
	s->text = hp->text;
	freeaddrinfo(res);
	return 0;
}

static int upstream_build(struct pcfg_upstream *u, const struct policy_upstream *pu,
			  uint32_t idx, char *err, size_t errlen)
{
	uint32_t i;
	int ret;

	u->pu = pu;
	u->idx = idx;
	u->servers = calloc(pu->n_servers ? pu->n_servers : 1, sizeof(*u->servers));
	if (!u->servers)
		return -ENOMEM;
	for (i = 0; i < pu->n_servers; i++) {
		ret = server_resolve(&u->servers[i], &pu->servers[i], err, errlen);
		if (ret)
			return ret;
		u->n_servers++;
	}
	if (pu->tls) {
		struct tls_client_opts o = {
			.ca_file = pu->tls_client.ca_file,
			.no_verify = !pu->tls_client.verify,
		};
		char why[256] = "";

		u->tls = tls_client_ctx_new(&o, why, sizeof(why));
		if (!u->tls) {
			cfg_err(err, errlen, "upstream %s: TLS: %s", pu->name, why);
			return -EPROTO;
		}
		u->tls_host = pu->tls_client.sni ? pu->tls_client.sni :
			(pu->n_servers ? pu->servers[0].host : NULL);
		if (!pu->tls_client.verify)
			log_warn("upstream %s: TLS certificate verification is OFF "
				 "(tls_options.verify: false)", pu->name);
	}
	return 0;
}

/* An endpoint named by a URL (a provider, the router's embeddings) as an
 * upstream pool of one server: keep-alive, passive health and TLS
 * verification as for any upstream. The settings live in pu/hp (the
 * cfg's). NULL when its name does not resolve now: calls to it fail (502)
 * until a reload resolves it, rather than keeping the gateway from
 * starting. */
static struct pcfg_upstream *url_upstream(struct proxy_cfg *cfg, const char *name,
					  const struct policy_url *url,
					  const struct policy_tls_client *tls, uint32_t max_conns,
					  const struct policy_health *health,
					  struct policy_upstream *pu, struct policy_hostport *hp,
					  const struct policy_loc *loc, char *err, size_t errlen,
					  int *ret)
{
	struct pcfg_upstream *u = &cfg->upstreams[cfg->n_upstreams];

	hp->host = url->host;
	hp->port = url->port;
	hp->text = url->text;
	pu->name = name;
	pu->servers = hp;
	pu->n_servers = 1;
	pu->tls = url->tls;
	if (tls)
		pu->tls_client = *tls;
	else
		pu->tls_client.verify = true;
	pu->max_connections = max_conns;
	pu->keepalive = 32;
	if (health) {
		pu->health = *health;
	} else {
		pu->health.fail_threshold = 3;
		pu->health.eject_ms = 30000;
	}
	pu->loc = *loc;
	*ret = upstream_build(u, pu, cfg->n_upstreams, err, errlen);
	if (*ret == -EHOSTUNREACH) {
		log_warn("%s: %s; its calls fail until a reload resolves it", name, err);
		free(u->servers);
		memset(u, 0, sizeof(*u));
		err[0] = '\0';
		*ret = 0;
		return NULL;
	}
	cfg->n_upstreams++;
	return *ret ? NULL : u;
}

static int provider_upstream(struct proxy_cfg *cfg, uint32_t i, char *err, size_t errlen)
{
	const struct policy_provider *pv = &cfg->policy->providers[i];
	struct policy_url url;
	int ret = 0;

	if (!llm_provider_url(pv, &url))
		return 0;
	cfg->prov_up[i] = url_upstream(cfg, pv->name, &url, &pv->tls, pv->max_connections,
				       &pv->circuit, &cfg->prov_pu[i], &cfg->prov_hp[i], &pv->loc, err, errlen,
				       &ret);
	if (cfg->prov_up[i])
		cfg->prov_up[i]->shared_circuit = true;
	return ret;
}

static void cfg_free(struct proxy_cfg *cfg)
{
	uint32_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_listeners; i++) {
		tls_ctx_free(cfg->listeners[i].tls);
		free(cfg->listeners[i].routes);
	}
	free(cfg->listeners);
	for (i = 0; i < cfg->n_upstreams; i++) {
		tls_ctx_free(cfg->upstreams[i].tls);
		free(cfg->upstreams[i].servers);
	}
	free(cfg->upstreams);
	free(cfg->prov_up);
	free(cfg->prov_pu);
	free(cfg->prov_hp);
	llm_ctx_free(cfg->llm);
	policy_unref(cfg->policy);
	free(cfg);
}

struct proxy_cfg *proxy_cfg_new(struct policy *p, char *err, size_t errlen)
{
	struct proxy_cfg *cfg;
	uint32_t i;
	int ret = -ENOMEM;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		goto out_err;
	atomic_init(&cfg->refs, 1);
	cfg->policy = policy_ref(p);
	/* The policy's upstreams, one per provider, one for the embeddings. */
	cfg->upstreams = calloc(p->n_upstreams + p->n_providers + 1, sizeof(*cfg->upstreams));
	cfg->listeners = calloc(p->n_listeners ? p->n_listeners : 1, sizeof(*cfg->listeners));
	cfg->prov_up = calloc(p->n_providers + 1, sizeof(*cfg->prov_up));
	cfg->prov_pu = calloc(p->n_providers + 1, sizeof(*cfg->prov_pu));
	cfg->prov_hp = calloc(p->n_providers + 1, sizeof(*cfg->prov_hp));
	if (!cfg->upstreams || !cfg->listeners || !cfg->prov_up || !cfg->prov_pu || !cfg->prov_hp)
		goto out_free;
	cfg->llm = llm_ctx_new(p, err, errlen);
	if (!cfg->llm)
		goto out_free;
	/* Upstreams first: routes point at them. */
	for (i = 0; i < p->n_upstreams; i++) {
		ret = upstream_build(&cfg->upstreams[i], &p->upstreams[i], i, err, errlen);
		cfg->n_upstreams++;
		if (ret)
			goto out_free;
	}
	for (i = 0; i < p->n_providers; i++) {
		ret = provider_upstream(cfg, i, err, errlen);
		if (ret)
			goto out_free;
	}
	if (p->router.embeddings) {
		cfg->embed_up = url_upstream(cfg, "router-embeddings", &p->router.embeddings->url,
					     NULL, 64, NULL, &cfg->prov_pu[p->n_providers],
					     &cfg->prov_hp[p->n_providers], &p->router_loc, err,
					     errlen, &ret);
		if (ret)
			goto out_free;
	}
	for (i = 0; i < p->n_listeners; i++) {
		ret = listener_build(cfg, &cfg->listeners[i], &p->listeners[i], err, errlen);
		cfg->n_listeners++;
		if (ret)
			goto out_free;
	}
	return cfg;

out_free:
	cfg_free(cfg);
out_err:
	if (ret == -ENOMEM)
		cfg_err(err, errlen, "out of memory");
	errno = -ret;
	return NULL;
}

struct proxy_cfg *pcfg_ref(struct proxy_cfg *cfg)
{
	atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
	return cfg;
}

void proxy_cfg_unref(struct proxy_cfg *cfg)
{
	if (cfg && atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
		cfg_free(cfg);
}

struct pcfg_listener *pcfg_listener_same(struct proxy_cfg *cfg,
					 const struct pcfg_listener *l)
{
	uint32_t i;

	for (i = 0; i < cfg->n_listeners; i++) {
		struct pcfg_listener *o = &cfg->listeners[i];

		if (o->addrlen == l->addrlen && !memcmp(&o->addr, &l->addr, l->addrlen) &&
		    !o->tls == !l->tls)
			return o;
	}
	return NULL;
}
