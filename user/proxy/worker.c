// SPDX-License-Identifier: Apache-2.0
/*
 * Workers: one thread and one I/O loop each, shared-nothing. A worker owns
 * its listeners (SO_REUSEPORT: the kernel spreads connections), its client
 * and upstream connections, its upstream pools and its timers. The only
 * shared state is the published configuration (under px->lock, read when
 * px->gen moves), the counters (relaxed atomics) and the access log queue.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "obs/access.h"
#include "core/json.h"
#include "obs/genai.h"
#include "proxy/internal.h"
#include "tollgate/limits.h"

/* A hard cap on bytes queued towards one peer; backpressure keeps it near
 * proxy_out_high(), so reaching this is a bug or a hostile peer. (Whole
 * answers of our own, a buffered LLM answer, are bounded on their own.) */
#define PEND_OUT_MAX	(TG_PROXY_OUT_HIGH * 16 + TG_LLM_RESP_MAX)

/* ---- timers ------------------------------------------------------------------- */

uint64_t ptimer_ms(const struct worker *w, const struct proxy_cfg *cfg,
		   enum ptimer list)
{
	const struct policy_timeouts *t;

	if (!cfg)
		cfg = w->cfg;
	t = &cfg->policy->server.timeouts;
	switch (list) {
	case PT_HEADER:
		return t->header_ms;
	case PT_BODY:
		return t->body_ms;
	case PT_IDLE:
		return t->idle_ms;
	case PT_UP_FIRST:
		return t->upstream_first_byte_ms;
	case PT_UP_IDLE:
	case PT_POOL:
		return t->upstream_idle_ms;
	case PT_LINGER:
		return TG_PROXY_LINGER_MS;
	case PT_KICK:
		return 0;
	case PT_EMBED:
		return llm_embed_timeout_ms(cfg->llm);
	default:
		return 0;
	}
}

void ptimer_clear(struct ptnode *n)
{
	if (n->list == PT_NONE)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
	n->list = PT_NONE;
}

void ptimer_set(struct worker *w, struct ptnode *n, enum ptimer list)
{
	struct ptnode *head = &w->timers[list];

	ptimer_clear(n);
	/* Each list has one duration, so appending keeps it sorted (a reload
	 * that changes a duration only makes a few fire late). */
	n->deadline_ms = w->now_ms + ptimer_ms(w, NULL, list);
	n->list = (uint8_t)list;
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

/* For lists whose deadlines vary (PT_BACKOFF): inserted in order, from
 * the back, where a new deadline usually belongs. */
void ptimer_set_in(struct worker *w, struct ptnode *n, enum ptimer list, uint64_t delay_ms)
{
	struct ptnode *head = &w->timers[list], *at = head->prev;

	ptimer_clear(n);
	n->deadline_ms = w->now_ms + delay_ms;
	n->list = (uint8_t)list;
	while (at != head && at->deadline_ms > n->deadline_ms)
		at = at->prev;
	n->prev = at;
	n->next = at->next;
	at->next->prev = n;
	at->next = n;
}

static void timers_init(struct worker *w)
{
	int i;

	for (i = 0; i < PT_COUNT; i++) {
		w->timers[i].prev = w->timers[i].next = &w->timers[i];
		w->timers[i].list = PT_NONE;
	}
}

static void timers_expire(struct worker *w)
{
	int i;

	for (i = PT_NONE + 1; i < PT_COUNT; i++) {
		struct ptnode *head = &w->timers[i];

		while (head->next != head && head->next->deadline_ms <= w->now_ms) {
			struct ptnode *n = head->next;

			ptimer_clear(n);
			clock_event();	/* a timer is an event of its own */
			if (i == PT_KICK)
				client_kick(w, client_of_kick(n));
			else if (i == PT_BACKOFF)
				client_backoff_done(w, client_of_backoff(n));
			else if (i == PT_HEADER || i == PT_BODY || i == PT_IDLE || i == PT_LINGER ||
				 i == PT_EMBED)
				client_timeout(w, client_of_timer(n), (enum ptimer)i);
			else
				uconn_timeout(w, uconn_of_timer(n), (enum ptimer)i);
			clock_event_end();
		}
	}
}

/* ---- one side of a relay --------------------------------------------------------- */

static int pend_tls_drain(struct pend *e)
{
	const void *d;
	size_t k;
	int err;

	while ((k = tls_pending_out(e->tls, &d))) {
		err = buf_append(&e->out, d, k, PEND_OUT_MAX);
		if (err)
			return err;
		tls_consume_out(e->tls, k);
	}
	return 0;
}

static int pend_tls_write(struct pend *e, const char *p, size_t n)
{
	int err;

	while (n) {
		ssize_t k = tls_write(e->tls, p, n);

		if (k == -EAGAIN) {
			err = pend_tls_drain(e);
			if (err)
				return err;
			continue;
		}
		if (k < 0)
			return (int)k;
		p += k;
		n -= (size_t)k;
	}
	return pend_tls_drain(e);
}

int pend_write(struct worker *w, struct pend *e, const void *data, size_t n)
{
	(void)w;
	if (!n)
		return 0;
	/* Queued behind a send in flight, which may be a lazy one: its
	 * completion is what lets these bytes go. */
	if (e->busy)
		io_conn_prompt(e->io);
	if (!e->tls || e->sock)
		return buf_append(&e->out, data, n, PEND_OUT_MAX);
	if (!e->hs_done)
		return buf_append(&e->early, data, n, PEND_OUT_MAX);
	return pend_tls_write(e, data, n);
}

/* Socket mode without kTLS send: SSL_write on the fd until it would block,
 * then wait for POLLOUT (busy until then). */
static int pend_sock_tx(struct pend *e)
{
	while (e->out.len) {
		ssize_t k = tls_write(e->tls, e->out.p, e->out.len);

		if (k == -EAGAIN) {
			e->busy = true;
			return io_poll(e->io, (tls_conn_want(e->tls) & TLS_WANT_READ) ?
				       POLLIN : POLLOUT);
		}
		if (k < 0)
			return (int)k;
		buf_consume(&e->out, (size_t)k);
	}
	return 0;
}

static int pend_flush_now(struct pend *e)
{
	struct buf t;
	int err;

	if (e->sock && !e->tx_k)
		return e->busy || !e->hs_done || !e->io ? 0 : pend_sock_tx(e);
	if (e->busy || !e->connected || !e->out.len || !e->io || io_conn_is_closing(e->io))
		return 0;
	t = e->sending;
	e->sending = e->out;
	e->out = t;
	e->out.len = 0;
	e->busy = true;
	/* kTLS refuses the flags of a quiet send (MSG_WAITALL). */
	err = !e->prompt || e->tx_k || e->prompt(e) ?
		io_send(e->io, e->sending.p, e->sending.len, 0) :
		io_send_lazy(e->io, e->sending.p, e->sending.len);
	if (err) {
		/* Nothing is lost: the bytes go back in front of the queue. */
		t = e->out;
		e->out = e->sending;
		e->sending = t;
		buf_append(&e->out, e->sending.p, e->sending.len, SIZE_MAX);
		e->sending.len = 0;
		e->busy = false;
		return err;
	}
	return 0;
}

/* Sends are corked for the rest of the batch of events: what a handler
 * writes in several pieces (a head, then body bytes; a response, then the
 * next pipelined one) leaves in one send. The worker flushes the queue
 * once the batch is handled (pend_flush_all). */
static __thread struct pend **flush_q;
static __thread uint32_t flush_n, flush_cap;

int pend_flush(struct pend *e)
{
	if (e->queued)
		return 0;
	if (flush_n == flush_cap) {
		uint32_t cap = flush_cap ? flush_cap * 2 : 256;
		struct pend **q = realloc(flush_q, cap * sizeof(*q));

		if (!q)
			return pend_flush_now(e);	/* no room to cork: send now */
		flush_q = q;
		flush_cap = cap;
	}
	e->queued = true;
	e->qidx = flush_n;
	flush_q[flush_n++] = e;
	return 0;
}

void pend_flush_all(void)
{
	uint32_t i;

	/* Flushing may queue more (a TLS alert): loop until empty. */
	for (i = 0; i < flush_n; i++) {
		struct pend *e = flush_q[i];

		if (!e)
			continue;
		flush_q[i] = NULL;
		e->queued = false;
		pend_flush_now(e);
	}
	flush_n = 0;
}

static void pend_unqueue(struct pend *e)
{
	if (e->queued && e->qidx < flush_n && flush_q[e->qidx] == e)
		flush_q[e->qidx] = NULL;
	e->queued = false;
}

size_t pend_pending(const struct pend *e)
{
	return e->out.len + (e->busy ? e->sending.len : 0) + e->early.len;
}

void pend_fini(struct pend *e)
{
	pend_unqueue(e);
	tls_conn_free(e->tls);
	e->tls = NULL;
	buf_free(&e->out);
	buf_free(&e->sending);
	buf_free(&e->early);
}

void pend_close(struct pend *e)
{
	if (e->io)
		io_close(e->io);
}

void pend_pause(struct pend *e)
{
	if (e->paused || !e->io)
		return;
	e->paused = true;
	if (!e->sock || e->rx_k)
		io_recv_pause(e->io);
}

void pend_resume(struct pend *e, unsigned idle_ms)
{
	if (!e->paused || !e->io)
		return;
	e->paused = false;
	io_recv(e->io, idle_ms);
}

/* The handshake finished (or progressed): send what it produced, then the
 * plaintext that waited for it. */
static int pend_hs_progress(struct worker *w, struct pend *e)
{
	int err;

	if (!e->hs_done && tls_conn_is_handshake_done(e->tls)) {
		e->hs_done = true;
		pstat_inc(w->st, PS_TLS_HANDSHAKES);
		if (e->early.len) {
			err = pend_tls_write(e, e->early.p, e->early.len);
			if (err)
				return err;
			buf_free(&e->early);
		}
	}
	err = pend_tls_drain(e);
	if (err)
		return err;
	return pend_flush(e);
}

int pend_recv(struct worker *w, struct pend *e, const uint8_t *data, size_t n,
	      int (*fn)(void *arg, const char *p, size_t n), void *arg)
{
	int ret = 0;

	if (!e->tls || (e->sock && e->rx_k))
		return fn(arg, (const char *)data, n);
	for (;;) {
		ssize_t k = n ? tls_feed_in(e->tls, data, n) : 0;

		if (k < 0)
			return (int)k;
		data += k;
		n -= (size_t)k;
		for (;;) {
			ssize_t r = tls_read(e->tls, w->scratch, sizeof(w->scratch));

			if (r > 0) {
				ret = fn(arg, w->scratch, (size_t)r);
				if (ret < 0)
					return ret;
				continue;
			}
			if (r == -EAGAIN)
				break;
			if (r == 0)
				return 1;	/* close_notify */
			pstat_inc(w->st, PS_TLS_FAILURES);
			pend_tls_drain(e);	/* an alert, if any */
			pend_flush(e);
			return (int)r;
		}
		ret = pend_hs_progress(w, e);
		if (ret < 0)
			return ret;
		if (!n)
			break;
		if (!k)
			return -ENOBUFS;	/* the engine took nothing and gave nothing */
	}
	return 0;
}

/* Client side of an upstream TLS connection: start the handshake. */
int pend_tls_start(struct worker *w, struct pend *e)
{
	enum tls_hs hs = tls_handshake(e->tls);

	if (hs == TLS_HS_ERROR) {
		pstat_inc(w->st, PS_TLS_FAILURES);
		return -EPROTO;
	}
	return pend_hs_progress(w, e);
}

/* ---- listeners ---------------------------------------------------------------------- */

static struct wlistener *listener_open(struct worker *w, struct pcfg_listener *l)
{
	struct wlistener *wl = calloc(1, sizeof(*wl));

	if (!wl)
		return NULL;
	wl->obj.kind = POBJ_LISTENER;
	wl->w = w;
	wl->l = l;
	wl->io = io_listen(w->loop, (const struct sockaddr *)&l->addr, l->addrlen,
			   4096, wl);
	if (!wl->io) {
		int err = errno;

		free(wl);
		errno = err;
		return NULL;
	}
	return wl;
}

static void listener_close(struct worker *w, uint32_t i)
{
	struct wlistener *wl = w->lst[i];

	/* Freed at its IO_OP_CLOSE. */
	io_close(wl->io);
	wl->l = NULL;
	w->lst[i] = w->lst[--w->n_lst];
}

/* Makes the worker's listeners those of its cfg. Returns -errno when one
 * could not be opened (the others stay). */
static int listeners_reconcile(struct worker *w)
{
	uint32_t i, j;
	int ret = 0;

	for (i = 0; i < w->n_lst; i++)
		w->lst[i]->stale = true;
	for (j = 0; j < w->cfg->n_listeners; j++) {
		struct pcfg_listener *l = &w->cfg->listeners[j];
		bool found = false;

		for (i = 0; i < w->n_lst; i++) {
			struct wlistener *wl = w->lst[i];

			if (wl->stale && wl->l && pcfg_listener_same(w->cfg, wl->l) == l) {
				wl->l = l;
				wl->stale = false;
				found = true;
				break;
			}
		}
		if (found || w->n_lst >= TG_LISTENERS_MAX)
			continue;
		w->lst[w->n_lst] = listener_open(w, l);
		if (!w->lst[w->n_lst]) {
			ret = -errno;
			log_error("worker %u: listener %s on %s: %s", w->id, l->pl->name,
				  l->pl->address.text, strerror(errno));
			continue;
		}
		w->n_lst++;
	}
	for (i = w->n_lst; i-- > 0;)
		if (w->lst[i]->stale)
			listener_close(w, i);
	return ret;
}

/* ---- the loop ---------------------------------------------------------------------- */

static void worker_take_cfg(struct worker *w)
{
	struct proxy *px = w->px;
	struct proxy_cfg *old = w->cfg;
	uint64_t gen = atomic_load(&px->gen);

	if (gen == atomic_load(&w->cfg_gen))
		return;
	pthread_mutex_lock(&px->lock);
	w->cfg = pcfg_ref(px->cfg);
	gen = atomic_load(&px->gen);
	pthread_mutex_unlock(&px->lock);
	/* Listeners of the old cfg point into it: move them first. */
	if (!w->draining)
		listeners_reconcile(w);
	pool_fini(w);
	pool_init(w);
	proxy_cfg_unref(old);
	atomic_store(&w->cfg_gen, gen);
}

static void alog_flush(struct worker *w)
{
	if (!w->alog_len)
		return;
	access_log_submit(w->px->alog, w->alog, w->alog_len);
	w->alog = NULL;
	w->alog_len = 0;
}

/* One access log line (no newline in `line`); batched per worker. */
void worker_access(struct worker *w, const char *line, size_t n)
{
	if (!w->px->alog || !w->cfg->policy->telemetry.access_log.enabled)
		return;
	if (w->alog_len + n + 1 > TG_ACCESS_CHUNK_BYTES)
		alog_flush(w);
	if (!w->alog) {
		w->alog = malloc(TG_ACCESS_CHUNK_BYTES);
		if (!w->alog) {
			pstat_inc(w->st, PS_ACCESS_DROPPED);
			return;
		}
		w->alog_since_ms = w->now_ms;
	}
	if (n + 1 > TG_ACCESS_CHUNK_BYTES)
		return;
	memcpy(w->alog + w->alog_len, line, n);
	w->alog[w->alog_len + n] = '\n';
	w->alog_len += n + 1;
}

static void worker_dispatch(struct worker *w, struct io_event *ev)
{
	struct pobj *o = ev->udata;

	if (!o) {
		if (ev->op == IO_OP_RECV && ev->res > 0)
			io_buf_release(w->loop, ev->buf);
		return;
	}
	switch (o->kind) {
	case POBJ_LISTENER: {
		struct wlistener *wl = (struct wlistener *)o;

		if (ev->op == IO_OP_CLOSE) {
			free(wl);
			return;
		}
		if (ev->op != IO_OP_ACCEPT)
			return;
		if (ev->res < 0) {
			if (ev->res != -EAGAIN && ev->res != -ECONNABORTED)
				log_warn("worker %u: accept: %s", w->id, strerror(-ev->res));
			return;
		}
		if (!wl->l || io_conn_is_closing(wl->io) || w->draining) {
			close(ev->res);
			return;
		}
		client_accept(w, wl, ev->res);
		return;
	}
	case POBJ_CLIENT:
		if (ev->op == IO_OP_CLOSE)
			client_on_closed(w, (struct client *)o);
		else
			client_on_event(w, (struct client *)o, ev);
		return;
	case POBJ_UPSTREAM:
		if (ev->op == IO_OP_CLOSE)
			uconn_on_closed(w, (struct uconn *)o);
		else
			uconn_on_event(w, (struct uconn *)o, ev);
		return;
	}
}

static void worker_start_drain(struct worker *w)
{
	uint32_t i;

	w->draining = true;
	for (i = w->n_lst; i-- > 0;)
		listener_close(w, i);
	clients_drain_all(w, false);
}

static int worker_init(struct proxy *px, struct worker *w, unsigned id,
		       char *err, size_t errlen);
static void worker_fini(struct worker *w);

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct proxy *px = w->px;
	struct io_event ev[256];
	bool forced = false;
	char why[256] = "";
	int ret;

	/* The ring is created here: with IORING_SETUP_SINGLE_ISSUER only the
	 * thread that created it may submit. Report to proxy_start(). */
	ret = worker_init(px, w, w->id, why, sizeof(why));
	pthread_mutex_lock(&px->lock);
	if (ret && !px->start_err) {
		px->start_err = ret;
		snprintf(px->start_why, sizeof(px->start_why), "%s", why);
	}
	px->n_started++;
	pthread_cond_broadcast(&px->started);
	while (!px->go && !px->start_err)
		pthread_cond_wait(&px->started, &px->lock);
	ret = px->start_err;
	pthread_mutex_unlock(&px->lock);
	if (ret) {
		worker_fini(w);
		return NULL;
	}
	for (;;) {
		int n = io_wait(w->loop, ev, (int)(sizeof(ev) / sizeof(ev[0])),
				TG_PROXY_TICK_MS);
		int i;

		w->now_ms = proxy_now_ms();
		atomic_store_explicit(&w->st->v[PS_IO_QUIET_FULL], io_loop_quiet_done(w->loop),
				      memory_order_relaxed);
		atomic_store_explicit(&w->st->v[PS_IO_QUIET_CQE], io_loop_quiet_short(w->loop),
				      memory_order_relaxed);
		if (n < 0 && n != -EINTR) {
			log_error("worker %u: io_wait: %s", w->id, strerror(-n));
			break;
		}
		/* Each event's time stamps share one clock reading. */
		for (i = 0; i < n; i++) {
			clock_event();
			worker_dispatch(w, &ev[i]);
		}
		clock_event_end();
		pend_flush_all();
		if (!w->draining)
			worker_take_cfg(w);
		if (!w->draining && atomic_load(&w->px->stopping))
			worker_start_drain(w);
		timers_expire(w);
		pend_flush_all();
		if (w->alog_len && w->now_ms - w->alog_since_ms >= TG_ACCESS_FLUSH_MS)
			alog_flush(w);
		if (w->draining) {
			if (!w->n_clients)
				pool_fini(w);
			if (!io_loop_conns(w->loop))
				break;
			if (!forced && w->now_ms >= atomic_load(&w->px->drain_deadline_ms)) {
				forced = true;
				clients_drain_all(w, true);
				pool_fini(w);
			}
		}
	}
	pend_flush_all();
	alog_flush(w);
	worker_fini(w);
	free(flush_q);
	flush_q = NULL;
	flush_n = flush_cap = 0;
	return NULL;
}

/* ---- the proxy ----------------------------------------------------------------------- */

static void worker_fini(struct worker *w)
{
	pool_fini(w);
	io_loop_free(w->loop);
	w->loop = NULL;
	proxy_cfg_unref(w->cfg);
	w->cfg = NULL;
	free(w->alog);
	w->alog = NULL;
	buf_free(&w->hbuf);
	buf_free(&w->obuf);
	free(w->js);
	w->js = NULL;
	/* The table stays until proxy_free(): /metrics of another worker may
	 * still read it while this one drains. */
}

static unsigned workers_wanted(const struct proxy_cfg *cfg)
{
	long n = cfg->policy->server.workers;

	if (!n)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > TG_WORKERS_MAX)
		n = TG_WORKERS_MAX;
	return (unsigned)n;
}

static int worker_init(struct proxy *px, struct worker *w, unsigned id,
		       char *err, size_t errlen)
{
	const struct policy_conn_limits *lim = &px->cfg->policy->server.limits;
	struct io_opts o = { 0 };
	uint32_t i;

	w->st = &px->stats[id];
	timers_init(w);
	w->js = malloc(sizeof(*w->js));
	w->gm = genai_new();
	if (!w->js || !w->gm) {
		snprintf(err, errlen, "worker %u: out of memory", id);
		return -ENOMEM;
	}
	/* Listeners, clients and their upstream connections (at most one each). */
	o.max_conns = lim->connections_per_worker ?
		lim->connections_per_worker * 2 + TG_LISTENERS_MAX + 64 : 0;
	if (o.max_conns > TG_IO_CONNS_MAX)
		o.max_conns = TG_IO_CONNS_MAX;
	w->loop = io_loop_new(&o);
	if (!w->loop) {
		snprintf(err, errlen, "worker %u: I/O loop: %s", id, strerror(errno));
		return -errno;
	}
	w->cfg = pcfg_ref(px->cfg);
	w->cfg_gen = atomic_load(&px->gen);
	w->now_ms = proxy_now_ms();
	if (pool_init(w))
		return -ENOMEM;
	for (i = 0; i < w->cfg->n_listeners; i++) {
		struct pcfg_listener *l = &w->cfg->listeners[i];

		w->lst[w->n_lst] = listener_open(w, l);
		if (!w->lst[w->n_lst]) {
			snprintf(err, errlen, "listener %s on %s: %s", l->pl->name,
				 l->pl->address.text, strerror(errno));
			return -errno;
		}
		w->n_lst++;
	}
	return 0;
}

struct proxy *proxy_start(struct proxy_cfg *cfg, char *err, size_t errlen)
{
	const struct policy_access_log *al = &cfg->policy->telemetry.access_log;
	struct proxy *px;
	sigset_t all, old;
	unsigned i, n;
	int ret;

	px = calloc(1, sizeof(*px));
	if (!px) {
		proxy_cfg_unref(cfg);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&px->lock, NULL);
	pthread_cond_init(&px->started, NULL);
	px->cfg = cfg;
	atomic_init(&px->gen, 1);
	px->started_ms = proxy_now_ms();
	n = workers_wanted(cfg);
	px->workers = calloc(n, sizeof(*px->workers));
	px->n_alloc = n;
	px->stats = calloc(n, sizeof(*px->stats));
	if (!px->workers || !px->stats) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	if (al->enabled) {
		px->alog = access_log_open(al->path);
		if (!px->alog) {
			ret = -errno;
			snprintf(err, errlen, "access log %s: %s", al->path, strerror(errno));
			goto out_free;
		}
	}
	ret = gov_open(px, err, errlen);
	if (ret)
		goto out_free;
	/* Every worker binds every listener before any serves: a bind error
	 * is reported here. Signals stay with the main thread's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < n; i++) {
		struct worker *w = &px->workers[i];

		w->px = px;
		w->id = i;
		ret = -pthread_create(&w->thread, NULL, worker_main, w);
		if (ret) {
			pthread_mutex_lock(&px->lock);
			if (!px->start_err) {
				px->start_err = ret;
				snprintf(px->start_why, sizeof(px->start_why),
					 "worker thread: %s", strerror(-ret));
			}
			pthread_cond_broadcast(&px->started);
			pthread_mutex_unlock(&px->lock);
			break;
		}
		{
			char name[16];

			/* top -H, perf; best effort. */
			snprintf(name, sizeof(name), "tg-worker-%u", i);
			pthread_setname_np(w->thread, name);
		}
		px->n_workers++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_lock(&px->lock);
	while (px->n_started < px->n_workers && !px->start_err)
		pthread_cond_wait(&px->started, &px->lock);
	ret = px->start_err;
	if (!ret)
		px->go = true;
	pthread_cond_broadcast(&px->started);
	pthread_mutex_unlock(&px->lock);
	if (ret) {
		snprintf(err, errlen, "%s", px->start_why);
		goto out_join;
	}
	px->backend = io_loop_backend(px->workers[0].loop);
	px->quiet_send = io_loop_quiet_send(px->workers[0].loop);
	return px;

out_join:
	for (i = 0; i < px->n_workers; i++)
		pthread_join(px->workers[i].thread, NULL);
	px->n_workers = 0;
out_free:
	proxy_free(px);
	errno = -ret;
	return NULL;
}

/* Binds a new listener address once, so that a reload naming an address
 * in use fails on the main thread with a message instead of in a worker. */
static int probe_bind(const struct pcfg_listener *l)
{
	int one = 1, err = 0;
	int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)&l->addr, l->addrlen))
		err = -errno;
	close(fd);
	return err;
}

int proxy_reload(struct proxy *px, struct proxy_cfg *cfg, char *err, size_t errlen)
{
	const struct policy_access_log *al = &cfg->policy->telemetry.access_log;
	struct proxy_cfg *old;
	uint64_t gen;
	uint32_t i;
	int ret;

	pthread_mutex_lock(&px->lock);
	old = px->cfg;
	pthread_mutex_unlock(&px->lock);
	for (i = 0; i < cfg->n_listeners; i++) {
		if (pcfg_listener_same(old, &cfg->listeners[i]))
			continue;
		ret = probe_bind(&cfg->listeners[i]);
		if (ret) {
			snprintf(err, errlen, "listener %s on %s: %s",
				 cfg->listeners[i].pl->name,
				 cfg->listeners[i].pl->address.text, strerror(-ret));
			proxy_cfg_unref(cfg);
			return ret;
		}
	}
	ret = gov_reload(px, cfg->policy, err, errlen);
	if (ret) {
		proxy_cfg_unref(cfg);
		return ret;
	}
	if (al->enabled) {
		if (!px->alog) {
			px->alog = access_log_open(al->path);
			ret = px->alog ? 0 : -errno;
		} else {
			ret = access_log_reopen(px->alog, al->path);
		}
		if (ret)
			log_warn("access log %s: %s; lines go to the previous file",
				 al->path, strerror(-ret));
	}
	pthread_mutex_lock(&px->lock);
	px->cfg = cfg;
	gen = atomic_fetch_add(&px->gen, 1) + 1;
	pthread_mutex_unlock(&px->lock);
	proxy_cfg_unref(old);
	/* Return once every worker runs it (each looks every tick), so that
	 * "reloaded" in the log means new listeners accept and removed ones
	 * are closed. */
	for (i = 0; i < px->n_workers; i++) {
		uint64_t until = proxy_now_ms() + 20 * TG_PROXY_TICK_MS;

		while (atomic_load(&px->workers[i].cfg_gen) < gen && proxy_now_ms() < until)
			usleep(1000);
	}
	return 0;
}

void proxy_stop(struct proxy *px, uint64_t drain_ms)
{
	unsigned i;

	if (!px)
		return;
	atomic_store(&px->drain_deadline_ms, proxy_now_ms() + drain_ms);
	atomic_store(&px->stopping, true);
	for (i = 0; i < px->n_workers; i++)
		pthread_join(px->workers[i].thread, NULL);
	px->n_workers = 0;
}

void proxy_free(struct proxy *px)
{
	if (!px)
		return;
	gov_close(px);
	access_log_close(px->alog);
	proxy_cfg_unref(px->cfg);
	pthread_mutex_destroy(&px->lock);
	pthread_cond_destroy(&px->started);
	for (unsigned i = 0; px->workers && i < px->n_alloc; i++)
		genai_free(px->workers[i].gm);
	free(px->workers);
	free(px->stats);
	free(px);
}

unsigned proxy_workers(const struct proxy *px)
{
	return px->n_workers;
}

const char *proxy_backend(const struct proxy *px)
{
	if (px->quiet_send)
		return "io_uring (quiet sends)";
	return io_backend_name(px->backend);
}
