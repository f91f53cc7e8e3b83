// SPDX-License-Identifier: Apache-2.0
/*
 * Upstream connections and pools, per worker: keep-alive reuse (the most
 * recently used idle connection first, so surplus ones age out), a cap on
 * connections per upstream, round-robin over servers, and passive health
 * (consecutive failures eject a server for a while). Responses are parsed
 * strictly and their framing regenerated towards the client.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proxy/internal.h"

enum ustate {
	U_IDLE = 0,	/* in the pool */
	U_HEAD,		/* waiting for / reading the response head */
	U_BODY,
	U_DONE,
};

struct uconn {
	struct pobj obj;
	struct worker *w;
	struct pend e;
	struct ptnode tn;
	struct wpool *pool;
	uint32_t server;
	struct client *c;
	struct uconn *pnext;		/* pool->idle */
	uint8_t state;
	bool closing;
	bool reused;			/* carried an earlier request */
	bool got_bytes;			/* of this response */
	bool broken;			/* framing went wrong: never reuse */
	bool answer_failed;		/* a 429/5xx answer counted against the server */
	bool req_sent;
	struct buf in;
	struct http1_parser hp;
	struct http1_header *hdrs;
	uint64_t left;
	struct http1_chunked ch;
	char tbuf[512];
};

struct uconn *uconn_of_timer(struct ptnode *n)
{
	return (struct uconn *)((char *)n - offsetof(struct uconn, tn));
}

bool uconn_is_reused(const struct uconn *u)
{
	return u->reused;
}

const char *uconn_server(const struct uconn *u)
{
	return u->pool ? u->pool->up->servers[u->server].text : "";
}

/* ---- pools -------------------------------------------------------------------------- */

/* The worker's pool of `up`, or NULL when up belongs to another
 * configuration than the worker's current one (its pools were replaced). */
static struct wpool *pool_of(struct worker *w, const struct pcfg_upstream *up)
{
	return up->idx < w->n_pools && w->pools[up->idx]->up == up ? w->pools[up->idx] : NULL;
}

static void pool_free_if_unused(struct wpool *p)
{
	if (p->retired && !p->n_conns) {
		free(p->servers);
		free(p);
	}
}

static void uconn_close(struct uconn *u);

int pool_init(struct worker *w)
{
	uint32_t i;

	w->pools = calloc(w->cfg->n_upstreams ? w->cfg->n_upstreams : 1, sizeof(*w->pools));
	if (!w->pools)
		return -ENOMEM;
	for (i = 0; i < w->cfg->n_upstreams; i++) {
		struct wpool *p = calloc(1, sizeof(*p));

		if (!p)
			return -ENOMEM;
		p->up = &w->cfg->upstreams[i];
		p->servers = calloc(p->up->n_servers ? p->up->n_servers : 1,
				    sizeof(*p->servers));
		if (!p->servers) {
			free(p);
			return -ENOMEM;
		}
		w->pools[i] = p;
		w->n_pools++;
	}
	return 0;
}

/* Retires the pools: idle connections close now, busy ones when their
 * request ends; each pool goes with its last connection. */
void pool_fini(struct worker *w)
{
	uint32_t i;

	for (i = 0; i < w->n_pools; i++) {
		struct wpool *p = w->pools[i];

		p->retired = true;
		while (p->idle)
			uconn_close(p->idle);
		pool_free_if_unused(p);
	}
	free(w->pools);
	w->pools = NULL;
	w->n_pools = 0;
}

/* A failure of the server: ejected (its circuit opened) after
 * fail_threshold in a row, for eject_ms or min_ms, whichever is longer. */
static void server_failed_for(struct uconn *u, uint64_t min_ms)
{
	struct wpool *p = u->pool;
	struct wserver *s;
	uint64_t ms;

	if (!p)
		return;
	ms = p->up->pu->health.eject_ms > min_ms ? p->up->pu->health.eject_ms : min_ms;
	if (p->up->shared_circuit) {
		struct pcfg_upstream *up = p->up;

		if (atomic_fetch_add(&up->fails, 1) + 1 >= up->pu->health.fail_threshold &&
		    atomic_load(&up->open_until_ms) <= u->w->now_ms) {
			atomic_store(&up->open_until_ms, u->w->now_ms + ms);
			pstat_inc(u->w->st, PS_UP_EJECTED);
			log_warn("provider %s: circuit open for %llu ms after %u failures",
				 up->pu->name, (unsigned long long)ms, atomic_load(&up->fails));
		}
		return;
	}
	s = &p->servers[u->server];
	if (++s->fails >= p->up->pu->health.fail_threshold && !s->eject_until_ms) {
		s->eject_until_ms = u->w->now_ms + ms;
		pstat_inc(u->w->st, PS_UP_EJECTED);
		log_warn("upstream %s: server %s ejected for %llu ms after %u failures",
			 p->up->pu->name, p->up->servers[u->server].text,
			 (unsigned long long)ms, s->fails);
	}
}

static void server_failed(struct uconn *u)
{
	server_failed_for(u, 0);
}

void uconn_answer_failed(struct uconn *u, uint64_t retry_after_ms)
{
	u->answer_failed = true;
	server_failed_for(u, retry_after_ms);
}

bool uconn_circuit_open(struct worker *w, struct pcfg_upstream *up)
{
	struct wpool *p = pool_of(w, up);
	uint32_t i;

	if (up->shared_circuit) {
		uint64_t until = atomic_load(&up->open_until_ms);

		if (until && until <= w->now_ms && atomic_load(&up->fails)) {
			/* Half-open: the next call tries; one more failure reopens. */
			atomic_store(&up->fails, up->pu->health.fail_threshold - 1);
			atomic_store(&up->open_until_ms, 0);
		}
		return until > w->now_ms;
	}
	if (!p)
		return false;
	for (i = 0; i < up->n_servers; i++)
		if (!p->servers[i].eject_until_ms || p->servers[i].eject_until_ms <= w->now_ms)
			return false;
	return true;
}

static uint32_t server_pick(struct worker *w, struct wpool *p)
{
	uint32_t n = p->up->n_servers, i, best = 0;
	uint64_t soonest = UINT64_MAX;

	for (i = 0; i < n; i++) {
		uint32_t k = (p->rr + i) % n;
		struct wserver *s = &p->servers[k];

		if (s->eject_until_ms && s->eject_until_ms <= w->now_ms) {
			/* Back on probation: one more failure ejects again. */
			s->eject_until_ms = 0;
			s->fails = p->up->pu->health.fail_threshold - 1;
		}
		if (!s->eject_until_ms) {
			p->rr = k + 1;
			return k;
		}
		if (s->eject_until_ms < soonest) {
			soonest = s->eject_until_ms;
			best = k;
		}
	}
	/* Every server is ejected: try the one back soonest rather than
	 * failing every request until then. */
	return best;
}

/* ---- connections ----------------------------------------------------------------------- */

static void uconn_close(struct uconn *u)
{
	struct wpool *p = u->pool;

	if (u->closing)
		return;
	u->closing = true;
	ptimer_clear(&u->tn);
	if (u->state == U_IDLE && p) {
		struct uconn **pp;

		for (pp = &p->idle; *pp; pp = &(*pp)->pnext)
			if (*pp == u) {
				*pp = u->pnext;
				p->n_idle--;
				break;
			}
	}
	pend_close(&u->e);
}

void uconn_on_closed(struct worker *w, struct uconn *u)
{
	struct wpool *p = u->pool;

	ptimer_clear(&u->tn);
	pend_fini(&u->e);
	buf_free(&u->in);
	free(u->hdrs);
	free(u);
	atomic_fetch_sub_explicit(&w->st->up_conns, 1, memory_order_relaxed);
	if (p) {
		p->n_conns--;
		pool_free_if_unused(p);
	}
}

static void uconn_fail(struct uconn *u, int status, enum pstat why)
{
	struct client *c = u->c;
	bool retry = u->reused && !u->got_bytes && why == PS_UP_RESET;

	server_failed(u);
	u->c = NULL;
	uconn_close(u);
	if (c)
		client_up_failed(c, status, why, retry);
}

static int uconn_response_init(struct uconn *u, bool head_method)
{
	if (!u->hdrs) {
		u->hdrs = calloc(TG_PROXY_RESP_FIELDS_MAX, sizeof(*u->hdrs));
		if (!u->hdrs)
			return -ENOMEM;
	}
	http1_parser_init(&u->hp, head_method ? HTTP1_F_HEAD_RESPONSE : 0, u->hdrs,
			  TG_PROXY_RESP_FIELDS_MAX, TG_PROXY_RESP_HEAD_MAX);
	u->state = U_HEAD;
	u->got_bytes = false;
	u->answer_failed = false;
	u->req_sent = false;
	u->in.len = 0;
	return 0;
}

/* The client waits on a send's completion when it stopped reading its
 * request body until this upstream drains. */
static bool uconn_prompt(const struct pend *e)
{
	const struct uconn *u = (const struct uconn *)(const void *)
		((const char *)e - offsetof(struct uconn, e));

	return u->c && client_recv_paused(u->c);
}

struct uconn *uconn_get(struct worker *w, struct client *c, struct pcfg_upstream *up,
			bool head_method, int *status, bool fresh)
{
	struct wpool *p = pool_of(w, up);
	struct pcfg_server *s;
	struct uconn *u;

	if (p && !fresh && p->idle) {
		u = p->idle;
		p->idle = u->pnext;
		p->n_idle--;
		u->pnext = NULL;
		ptimer_clear(&u->tn);
		if (uconn_response_init(u, head_method)) {
			uconn_close(u);
			goto out_new;
		}
		u->c = c;
		pstat_inc(w->st, PS_UP_REUSED);
		return u;
	}
out_new:
	if (p && p->n_conns >= p->up->pu->max_connections) {
		*status = 503;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		*status = 503;
		return NULL;
	}
	u->obj.kind = POBJ_UPSTREAM;
	u->w = w;
	u->pool = p;
	u->server = p ? server_pick(w, p) : 0;
	s = &up->servers[u->server];
	if (uconn_response_init(u, head_method))
		goto out_free;
	if (up->tls) {
		u->e.tls = tls_conn_new(up->tls, up->tls_host, NULL);
		if (!u->e.tls)
			goto out_free;
	}
	u->e.io = io_connect(w->loop, (const struct sockaddr *)&s->addr, s->addrlen,
			     (unsigned)w->cfg->policy->server.timeouts.upstream_connect_ms, u);
	if (!u->e.io)
		goto out_free;
	u->e.prompt = uconn_prompt;
	if (p)
		p->n_conns++;
	atomic_fetch_add_explicit(&w->st->up_conns, 1, memory_order_relaxed);
	u->c = c;
	return u;

out_free:
	*status = 502;
	pend_fini(&u->e);
	free(u->hdrs);
	free(u);
	return NULL;
}

int uconn_write(struct uconn *u, const void *p, size_t n)
{
	int err = pend_write(u->w, &u->e, p, n);

	return err ? err : pend_flush(&u->e);
}

size_t uconn_pending(const struct uconn *u)
{
	return pend_pending(&u->e);
}

void uconn_request_sent(struct uconn *u)
{
	u->req_sent = true;
	if (u->state == U_HEAD && !u->got_bytes)
		ptimer_set(u->w, &u->tn, PT_UP_FIRST);
}

void uconn_release(struct uconn *u, bool reusable)
{
	struct wpool *p = u->pool;

	u->c = NULL;
	ptimer_clear(&u->tn);
	if (!reusable || u->broken || u->state != U_DONE || !p || p->retired ||
	    p->n_idle >= p->up->pu->keepalive || u->w->draining ||
	    /* A send still in flight is fine: the whole response is here, so
	     * the request was received; its completion may simply come after
	     * the response's. Queued bytes are not. */
	    u->e.out.len || u->e.early.len ||
	    !(u->hp.msg.flags & HTTP1_M_KEEP_ALIVE)) {
		uconn_close(u);
		return;
	}
	u->state = U_IDLE;
	u->reused = true;
	buf_free(&u->in);
	u->pnext = p->idle;
	p->idle = u;
	p->n_idle++;
	ptimer_set(u->w, &u->tn, PT_POOL);
}

void uconn_pause(struct uconn *u)
{
	pend_pause(&u->e);
}

void uconn_resume(struct uconn *u)
{
	pend_resume(&u->e, 0);
}

bool uconn_recv_paused(const struct uconn *u)
{
	return u->e.paused;
}

/* ---- the response ---------------------------------------------------------------------- */

static void uconn_done(struct uconn *u)
{
	struct client *c = u->c;

	u->state = U_DONE;
	ptimer_clear(&u->tn);
	if (u->pool && !u->answer_failed) {
		u->pool->servers[u->server].fails = 0;
		if (u->pool->up->shared_circuit && atomic_load(&u->pool->up->fails))
			atomic_store(&u->pool->up->fails, 0);
	}
	/* The client releases (and maybe pools) u from here: touch it no more. */
	client_resp_done(c);
}

/* Body bytes. Returns -1 when u is gone (done or failed). */
static int uconn_body(struct uconn *u, const char *p, size_t n)
{
	struct http1_span d;
	size_t k;
	int r;

	switch (u->hp.msg.body) {
	case HTTP1_BODY_LENGTH:
		k = n < u->left ? n : (size_t)u->left;
		client_resp_body(u->c, p, k);
		if (!u->c || u->closing)
			return -1;	/* the client let go of it */
		u->left -= k;
		if (n > k)
			u->broken = true;	/* bytes after the response */
		if (!u->left) {
			uconn_done(u);
			return -1;
		}
		return 0;
	case HTTP1_BODY_CHUNKED:
		while (n) {
			k = 0;
			r = http1_chunked_next(&u->ch, p, n, &k, &d);
			p += k;
			n -= k;
			if (r < 0) {
				log_warn("upstream %s: bad chunked body: %s", uconn_server(u),
					 http1_strerror(-r));
				uconn_fail(u, 502, PS_UP_BAD_RESPONSE);
				return -1;
			}
			if (r == HTTP1_CHUNKED_DATA) {
				client_resp_body(u->c, d.p, d.len);
				if (!u->c || u->closing)
					return -1;
			} else if (r == HTTP1_CHUNKED_DONE) {
				if (n)
					u->broken = true;
				uconn_done(u);
				return -1;
			}
		}
		return 0;
	case HTTP1_BODY_UNTIL_CLOSE:
		client_resp_body(u->c, p, n);
		return !u->c || u->closing ? -1 : 0;
	default:
		if (n)
			u->broken = true;
		uconn_done(u);
		return -1;
	}
}

static int uconn_on_plain(void *arg, const char *p, size_t n)
{
	struct uconn *u = arg;
	long r;

	if (u->closing || !u->c)
		return -EPROTO;
	if (!u->got_bytes) {
		u->got_bytes = true;
		ptimer_set(u->w, &u->tn, PT_UP_IDLE);
	} else if (u->tn.list == PT_UP_IDLE) {
		ptimer_set(u->w, &u->tn, PT_UP_IDLE);
	}
	if (u->state == U_BODY)
		return uconn_body(u, p, n) < 0 ? 1 : 0;
	if (u->state != U_HEAD) {
		u->broken = true;
		return 0;
	}
	if (buf_append(&u->in, p, n, TG_PROXY_RESP_HEAD_MAX + sizeof(u->w->scratch) + 4096)) {
		uconn_fail(u, 502, PS_UP_BAD_RESPONSE);
		return 1;
	}
	for (;;) {
		r = http1_parse(&u->hp, u->in.p, u->in.len);
		if (!r)
			return 0;
		if (r < 0) {
			log_warn("upstream %s: bad response: %s", uconn_server(u),
				 http1_strerror((int)-r));
			uconn_fail(u, 502, PS_UP_BAD_RESPONSE);
			return 1;
		}
		if (u->hp.msg.status >= 200)
			break;
		if (u->hp.msg.status == 101) {
			uconn_fail(u, 502, PS_UP_BAD_RESPONSE);
			return 1;
		}
		/* Interim answers are ours to give (100 Continue went out when
		 * the body started); drop the upstream's. */
		buf_consume(&u->in, (size_t)r);
		http1_parser_reset(&u->hp);
	}
	client_resp_head(u->c, &u->hp.msg);
	if (!u->c)
		return 1;	/* the client went away */
	u->state = U_BODY;
	u->left = u->hp.msg.body == HTTP1_BODY_LENGTH ? u->hp.msg.content_length : 0;
	if (u->hp.msg.body == HTTP1_BODY_CHUNKED)
		http1_chunked_init(&u->ch, TG_PROXY_CHUNK_EXT_MAX, u->tbuf, sizeof(u->tbuf),
				   NULL, 0);
	if (uconn_body(u, u->in.p + r, u->in.len - (size_t)r) < 0)
		return 1;
	return 0;
}

static void uconn_eof(struct uconn *u)
{
	if (u->c && u->state == U_BODY && u->hp.msg.body == HTTP1_BODY_UNTIL_CLOSE) {
		u->broken = true;
		uconn_done(u);
		return;
	}
	if (u->c) {
		log_warn("upstream %s closed the connection %s", uconn_server(u),
			 u->state == U_HEAD ? "before answering" : "mid-response");
		uconn_fail(u, 502, PS_UP_RESET);
		return;
	}
	uconn_close(u);	/* an idle connection the upstream closed */
}

void uconn_on_event(struct worker *w, struct uconn *u, const struct io_event *ev)
{
	int ret, status;

	switch (ev->op) {
	case IO_OP_CONNECT:
		if (u->closing)
			return;
		if (ev->res) {
			status = ev->res == -ETIMEDOUT ? 504 : 502;
			log_warn("upstream %s: connect: %s", uconn_server(u), strerror(-ev->res));
			uconn_fail(u, status, ev->res == -ETIMEDOUT ? PS_TIMEOUT_UP_CONNECT :
				   PS_UP_CONNECT_FAIL);
			return;
		}
		u->e.connected = true;
		if (io_recv(u->e.io, 0) ||
		    (u->e.tls ? pend_tls_start(w, &u->e) : pend_flush(&u->e))) {
			if (u->e.tls)
				log_warn("upstream %s: TLS: %s", uconn_server(u),
					 tls_conn_error(u->e.tls));
			uconn_fail(u, 502, PS_UP_CONNECT_FAIL);
		}
		return;
	case IO_OP_RECV:
		if (ev->res > 0) {
			ret = u->closing ? 0 : !u->c ? -EPROTO :
				pend_recv(w, &u->e, ev->data, ev->len, uconn_on_plain, u);
			io_buf_release(w->loop, ev->buf);
			if (u->closing)
				return;
			if (ret < 0 && u->e.tls && !u->e.hs_done) {
				log_warn("upstream %s: TLS: %s", uconn_server(u),
					 tls_conn_error(u->e.tls));
				uconn_fail(u, 502, PS_UP_CONNECT_FAIL);
			} else if (ret < 0 && u->c) {
				uconn_fail(u, 502, PS_UP_BAD_RESPONSE);
			} else if (ret < 0) {
				uconn_close(u);	/* bytes on an idle connection */
			} else if (ret == 1 && u->e.tls && !u->closing && u->c &&
				   u->state != U_DONE) {
				uconn_eof(u);
			}
			return;
		}
		if (u->closing)
			return;
		if (ev->res == 0)
			uconn_eof(u);
		else if (ev->res != -ETIME)
			uconn_fail(u, 502, PS_UP_RESET);
		return;
	case IO_OP_SEND:
		u->e.busy = false;
		u->e.sending.len = 0;
		if (u->closing)
			return;
		if (ev->res < 0) {
			uconn_fail(u, 502, PS_UP_RESET);
			return;
		}
		if (pend_flush(&u->e)) {
			uconn_fail(u, 502, PS_UP_RESET);
			return;
		}
		if (u->c && pend_pending(&u->e) < proxy_out_high(u->w) / 2)
			client_up_drained(u->c);
		return;
	default:
		return;
	}
}

void uconn_timeout(struct worker *w, struct uconn *u, enum ptimer list)
{
	(void)w;
	if (u->closing)
		return;
	switch (list) {
	case PT_UP_FIRST:
		log_warn("upstream %s: no response within the first-byte timeout",
			 uconn_server(u));
		uconn_fail(u, 504, PS_TIMEOUT_UP_FIRST_BYTE);
		return;
	case PT_UP_IDLE:
		uconn_fail(u, 504, PS_TIMEOUT_UP_IDLE);
		return;
	default:
		uconn_close(u);
	}
}
