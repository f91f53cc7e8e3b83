/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to user/proxy/: the runtime configuration, workers, client and
 * upstream connections. See proxy.h for the public side, docs/proxy.md for
 * the request life cycle.
 */
#ifndef TOLLGATE_PROXY_INTERNAL_H
#define TOLLGATE_PROXY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/io.h"
#include "http/http1.h"
#include "policy/policy.h"
#include "proxy/proxy.h"
#include "llm/llm.h"
#include "tls/tls.h"
#include "tollgate/limits.h"

struct access_log;

/* ---- runtime configuration --------------------------------------------------- */

struct pcfg_upstream;

struct pcfg_route {
	const char *path;
	size_t path_len;
	bool strip_prefix;
	struct pcfg_upstream *up;
};

struct pcfg_listener {
	const struct policy_listener *pl;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct tls_ctx *tls;		/* NULL: plain */
	bool ktls;			/* kTLS may engage (kernel and policy) */
	bool sockmode;			/* TLS in socket mode (ktls, or forced) */
	struct pcfg_route *routes;	/* longest path first */
	uint32_t n_routes;
};

struct pcfg_server {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *text;		/* host:port as written */
};

struct pcfg_upstream {
	const struct policy_upstream *pu;
	uint32_t idx;
	struct pcfg_server *servers;
	uint32_t n_servers;
	struct tls_ctx *tls;		/* NULL: plain */
	const char *tls_host;		/* SNI and the name verified */
	/* A provider's circuit breaker, shared by every worker (plain
	 * upstreams keep passive health per worker and server). */
	bool shared_circuit;
	_Atomic uint32_t fails;
	_Atomic uint64_t open_until_ms;
};

struct proxy_cfg {
	_Atomic int refs;
	struct policy *policy;
	struct llm_ctx *llm;
	/* The upstream of each provider (NULL: none, e.g. echo); they sit
	 * after the policy's own in `upstreams`. */
	struct pcfg_upstream **prov_up;
	struct policy_upstream *prov_pu;	/* their synthesized settings */
	struct policy_hostport *prov_hp;
	struct pcfg_upstream *embed_up;		/* the router's embeddings; NULL: none */
	struct pcfg_listener *listeners;
	uint32_t n_listeners;
	struct pcfg_upstream *upstreams;
	uint32_t n_upstreams;
};

struct proxy_cfg *pcfg_ref(struct proxy_cfg *cfg);
/* The listener of cfg bound to the same address as `l`, or NULL. */
struct pcfg_listener *pcfg_listener_same(struct proxy_cfg *cfg,
					 const struct pcfg_listener *l);

/* ---- counters ------------------------------------------------------------------ */

enum pstat {
	PS_CONNS_ACCEPTED = 0,
	PS_CONNS_REFUSED,	/* over a connection limit: 503 */
	PS_REQUESTS,
	PS_RESP_1XX, PS_RESP_2XX, PS_RESP_3XX, PS_RESP_4XX, PS_RESP_5XX,
	PS_BAD_REQUEST,		/* 400 and friends from the parser */
	PS_TIMEOUT_HEADER,
	PS_TIMEOUT_BODY,
	PS_TIMEOUT_IDLE,
	PS_TIMEOUT_UP_CONNECT,
	PS_TIMEOUT_UP_FIRST_BYTE,
	PS_TIMEOUT_UP_IDLE,
	PS_TOO_LARGE_HEAD,	/* 431 */
	PS_TOO_LARGE_BODY,	/* 413 */
	PS_UP_CONNECT_FAIL,
	PS_UP_BAD_RESPONSE,
	PS_UP_RESET,
	PS_UP_REUSED,
	PS_UP_RETRIED,
	PS_UP_EJECTED,
	PS_TLS_HANDSHAKES,
	PS_TLS_FAILURES,
	PS_KTLS_TX,
	PS_KTLS_RX,
	PS_CLIENT_ABORTS,
	PS_ACCESS_DROPPED,
	PS_LLM_FALLBACKS,
	/* Copied from the worker's loop after each wait, not counted here:
	 * quiet sends that went in full, and that came back with a CQE. */
	PS_IO_QUIET_FULL,
	PS_IO_QUIET_CQE,
	PS_COUNT,
};

struct pstats {
	_Atomic uint64_t v[PS_COUNT];
	_Atomic int64_t conns;		/* open client connections */
	_Atomic int64_t up_conns;	/* open upstream connections */
};

static inline void pstat_inc(struct pstats *s, enum pstat k)
{
	atomic_fetch_add_explicit(&s->v[k], 1, memory_order_relaxed);
}

/* ---- workers --------------------------------------------------------------------- */

/* Timer lists: one FIFO per duration, so insertion keeps each sorted. */
enum ptimer {
	PT_NONE = 0,
	PT_HEADER,
	PT_BODY,
	PT_IDLE,
	PT_UP_FIRST,
	PT_UP_IDLE,
	PT_POOL,
	PT_LINGER,
	PT_KICK,	/* zero delay: run after this batch of events */
	PT_EMBED,	/* the router's embeddings call */
	PT_BACKOFF,	/* an LLM retry's wait; deadlines vary: kept sorted */
	PT_COUNT,
};

struct ptnode {
	struct ptnode *prev, *next;
	uint64_t deadline_ms;
	uint8_t list;		/* enum ptimer; PT_NONE: on no list */
};

enum pobj_kind {
	POBJ_LISTENER = 0,
	POBJ_CLIENT,
	POBJ_UPSTREAM,
};

/* First member of every object an io_conn's udata points to. */
struct pobj {
	uint8_t kind;
};

/* One side of a relay: the socket, TLS over it, and the bytes to send. */
struct pend {
	struct io_conn *io;
	struct tls_conn *tls;
	struct buf out;	/* queued: ciphertext when tls, else plaintext */
	struct buf sending;	/* borrowed by the loop while busy */
	struct buf early;	/* plaintext written before the TLS handshake */
	bool busy;
	bool connected;
	bool hs_done;
	bool paused;		/* receiving paused for backpressure */
	/* TLS in socket mode (OpenSSL on the fd, where kTLS can engage):
	 * out holds plaintext; what the kernel took over moves as plaintext
	 * through the loop, the rest through SSL_read/SSL_write on the fd. */
	bool sock;
	bool rx_k, tx_k;	/* kTLS receive / send engaged */
	bool queued;		/* on the flush queue (pend_flush) */
	uint32_t qidx;
	/* Whether the owner acts on a send's completion at once (closes
	 * after it, resumes a peer paused behind it); NULL: always. Other
	 * sends may be reported late (io_send_lazy). */
	bool (*prompt)(const struct pend *e);
};

struct wlistener {
	struct pobj obj;
	struct worker *w;
	struct io_conn *io;
	struct pcfg_listener *l;	/* in the worker's current cfg */
	bool stale;			/* reconcile mark */
};

struct wserver {
	uint32_t fails;			/* consecutive */
	uint64_t eject_until_ms;
};

struct wpool {
	struct pcfg_upstream *up;
	bool retired;			/* its cfg was replaced: no reuse */
	struct uconn *idle;		/* most recently used first */
	uint32_t n_idle;
	uint32_t n_conns;		/* open, idle or busy */
	uint32_t rr;
	struct wserver *servers;
};

struct worker {
	struct proxy *px;
	unsigned id;
	pthread_t thread;
	struct io_loop *loop;
	struct proxy_cfg *cfg;		/* current; one reference */
	_Atomic uint64_t cfg_gen;	/* read by proxy_reload() */
	struct wlistener *lst[TG_LISTENERS_MAX];
	uint32_t n_lst;
	struct wpool **pools;		/* one per upstream of cfg */
	uint32_t n_pools;
	struct client *clients;		/* every open client connection */
	struct buf hbuf;		/* a message head being built */
	struct buf obuf;		/* a handler's output for the client */
	struct json_scratch *js;	/* the hot-path JSON scanner's memory */
	struct genai *gm;		/* LLM call metrics, this worker's */
	struct ptnode timers[PT_COUNT];	/* list heads */
	uint64_t now_ms;
	uint64_t req_seq;
	uint32_t n_clients;
	bool draining;
	struct pstats *st;
	/* access log: lines collected here, handed to the writer in chunks */
	char *alog;
	size_t alog_len;
	uint64_t alog_since_ms;
	char scratch[16384];		/* TLS plaintext out of one record */
};

struct proxy {
	struct worker *workers;
	unsigned n_workers;
	unsigned n_alloc;		/* workers allocated */
	pthread_mutex_t lock;
	pthread_cond_t started;		/* start-up handshake with the workers */
	unsigned n_started;
	bool go;
	int start_err;
	char start_why[256];
	struct proxy_cfg *cfg;		/* latest published; guarded by lock */
	_Atomic uint64_t gen;
	_Atomic bool stopping;
	_Atomic uint64_t drain_deadline_ms;
	_Atomic int64_t conns_total;
	enum io_backend backend;
	bool quiet_send;		/* io_loop_quiet_send(): io_uring only */
	struct pstats *stats;		/* n_workers of them */
	struct access_log *alog;
	uint64_t started_ms;
	/* governance (gov.c) */
	struct budget *budget;
	struct audit_log *audit;
	struct kern_maps *kmaps;
	uint64_t last_persist_ms;
};

int gov_open(struct proxy *px, char *err, size_t errlen);
int gov_reload(struct proxy *px, struct policy *p, char *err, size_t errlen);
void gov_close(struct proxy *px);

uint64_t proxy_now_ms(void);

/* Output queued towards one peer above which receiving from the other side
 * pauses: half the policy's memory_per_connection, at most
 * TG_PROXY_OUT_HIGH. */
static inline size_t proxy_out_high(const struct worker *w)
{
	uint64_t m = w->cfg->policy->server.limits.memory_per_connection / 2;

	return m && m < TG_PROXY_OUT_HIGH ? (size_t)m : TG_PROXY_OUT_HIGH;
}

/* worker.c */
void ptimer_set(struct worker *w, struct ptnode *n, enum ptimer list);
void ptimer_set_in(struct worker *w, struct ptnode *n, enum ptimer list, uint64_t delay_ms);
void ptimer_clear(struct ptnode *n);
uint64_t ptimer_ms(const struct worker *w, const struct proxy_cfg *cfg,
		   enum ptimer list);
int pend_write(struct worker *w, struct pend *e, const void *data, size_t n);
/* Sends what is queued once the current batch of events is handled. */
int pend_flush(struct pend *e);
void pend_flush_all(void);
size_t pend_pending(const struct pend *e);
void pend_fini(struct pend *e);
void pend_close(struct pend *e);
/* Decrypts (when TLS) and hands plaintext to fn; -errno to close. */
int pend_recv(struct worker *w, struct pend *e, const uint8_t *data, size_t n,
	      int (*fn)(void *arg, const char *p, size_t n), void *arg);
void pend_pause(struct pend *e);
void pend_resume(struct pend *e, unsigned idle_ms);
int pend_tls_start(struct worker *w, struct pend *e);
void worker_access(struct worker *w, const char *line, size_t n);
void clients_drain_all(struct worker *w, bool force);

/* client.c */
struct client;
int client_accept(struct worker *w, struct wlistener *wl, int fd);
void client_on_event(struct worker *w, struct client *c, const struct io_event *ev);
void client_on_closed(struct worker *w, struct client *c);
void client_timeout(struct worker *w, struct client *c, enum ptimer list);
void client_drain(struct worker *w, struct client *c);
struct client *client_of_timer(struct ptnode *n);
struct client *client_of_kick(struct ptnode *n);
struct client *client_of_backoff(struct ptnode *n);
void client_backoff_done(struct worker *w, struct client *c);
void client_kick(struct worker *w, struct client *c);
/* Upstream → client, from upstream.c */
void client_resp_head(struct client *c, const struct http1_message *m);
void client_resp_body(struct client *c, const char *p, size_t n);
void client_resp_done(struct client *c);
/* The upstream failed; status is what to answer if nothing was sent yet. */
void client_up_failed(struct client *c, int status, enum pstat why, bool retryable);
/* The upstream's sending buffer drained: body receiving may resume. */
void client_up_drained(struct client *c);
bool client_recv_paused(const struct client *c);
void client_sent(struct client *c);

/* upstream.c */
struct uconn;
int pool_init(struct worker *w);
void pool_fini(struct worker *w);
/* A connection for c's request, queued head in its output. Returns NULL
 * with *status set (502/503) when no server can take it. */
struct uconn *uconn_get(struct worker *w, struct client *c, struct pcfg_upstream *up,
			bool head_method, int *status, bool fresh);
int uconn_write(struct uconn *u, const void *p, size_t n);
size_t uconn_pending(const struct uconn *u);
void uconn_request_sent(struct uconn *u);
/* The client is done with it (reuse when clean, else close). */
void uconn_release(struct uconn *u, bool reusable);
void uconn_on_event(struct worker *w, struct uconn *u, const struct io_event *ev);
void uconn_on_closed(struct worker *w, struct uconn *u);
void uconn_timeout(struct worker *w, struct uconn *u, enum ptimer list);
struct uconn *uconn_of_timer(struct ptnode *n);
void uconn_pause(struct uconn *u);
void uconn_resume(struct uconn *u);
bool uconn_recv_paused(const struct uconn *u);
bool uconn_is_reused(const struct uconn *u);
/* The answer was a failure (429, 5xx): counts against the server like a
 * connect error; its circuit stays open at least retry_after_ms. */
void uconn_answer_failed(struct uconn *u, uint64_t retry_after_ms);
/* Every server of the upstream is ejected: its circuit is open. */
bool uconn_circuit_open(struct worker *w, struct pcfg_upstream *up);
const char *uconn_server(const struct uconn *u);

/* builtin.c */
int builtin_metrics(struct worker *w, struct buf *body);

#endif /* TOLLGATE_PROXY_INTERNAL_H */
