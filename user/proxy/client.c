// SPDX-License-Identifier: Apache-2.0
/*
 * Client connections: TLS termination, request heads, the built-in
 * endpoints, routing, the request body towards the upstream and the
 * response back, one request at a time (pipelined requests wait in order).
 *
 * Framing is regenerated in both directions: the upstream gets
 * Content-Length or chunked as the parser understood the request, never
 * the client's own framing fields, so a request the parser rejects can
 * never reach an upstream and one it accepts cannot be read differently
 * there (docs/proxy.md, "Smuggling").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/fwd.h"
#include "llm/llm.h"
#include "proxy/internal.h"

enum cstate {
	C_HEAD = 0,	/* reading a request head (or idle between requests) */
	C_BODY,		/* forwarding the request body */
	C_WAIT,		/* request complete; the response is on its way */
	C_LINGER,	/* answered with close: reading and dropping until EOF */
};

struct client {
	struct pobj obj;
	struct worker *w;
	struct client *prev, *next;
	struct pend e;
	struct ptnode tn;
	struct ptnode kick;		/* socket-mode TLS: read again soon */
	struct ptnode backoff;		/* an LLM retry waiting (llm_wait) */
	struct proxy_cfg *cfg0;		/* at accept: for its listener */
	struct pcfg_listener *l0;
	char peer[FWD_ADDR_MAX];
	size_t peer_len;
	struct sockaddr_storage peer_ss;
	uint8_t state;
	bool closing;
	bool close_after;		/* close once the response is out */
	bool eof;			/* the client half-closed */
	bool shut;			/* SHUT_WR done (lingering) */
	bool parsing, reparse;
	bool abort_pending;		/* close once the queued output is out */

	struct buf in;			/* the head (and what came with it) */
	size_t in_used;
	struct buf pipe;		/* bytes after the request, received later */
	struct http1_parser hp;
	struct http1_header *hdrs;

	/* the request in progress (cfg != NULL) */
	struct proxy_cfg *cfg;
	struct pcfg_listener *l;
	struct pcfg_route *route;
	struct uconn *up;
	char rid[20];
	struct timespec t0;
	struct timespec t_first;	/* the first response byte out; 0: none */
	int status;
	uint64_t bytes_in, bytes_out;
	uint64_t body_left;
	struct http1_chunked chin;
	char *tbuf;
	bool body_done, resp_started, resp_done, chunked_out, keep_alive;
	bool head_method, retried, body_sent_any;

	/* an LLM front-door request (llm_ep != NONE) */
	enum llm_endpoint llm_ep;
	struct llm_call *llm;
	bool llm_pending;		/* body complete: hand it over from the loop */
	bool embedding;			/* waiting for the router's embeddings */
	bool llm_discard;		/* a failed provider answer, dropped for a retry */
	int discard_status;
	uint64_t discard_ra_ms;		/* its Retry-After */
	bool llm_waiting;		/* llm_wait goes out when `backoff` fires */
	struct llm_out llm_wait;
	struct timespec t_sent;		/* the provider request went out */
	struct buf ebody;		/* their answer */
	int estatus;
	enum llm_resp_mode llm_mode;
	uint32_t llm_prov;
	struct buf body;		/* the request body, collected */
	struct buf fwd;			/* the provider request (kept for a retry) */
	struct buf llm_hdrs;		/* extra response fields */
	struct buf rhead;		/* a buffered response's head, sans framing */
};

struct client *client_of_timer(struct ptnode *n)
{
	return (struct client *)((char *)n - offsetof(struct client, tn));
}

struct client *client_of_kick(struct ptnode *n)
{
	return (struct client *)((char *)n - offsetof(struct client, kick));
}

struct client *client_of_backoff(struct ptnode *n)
{
	return (struct client *)((char *)n - offsetof(struct client, backoff));
}

static uint64_t us_since(const struct timespec *a, const struct timespec *b)
{
	int64_t ns = (int64_t)(b->tv_sec - a->tv_sec) * 1000000000 + (b->tv_nsec - a->tv_nsec);

	/* Signed: tv_nsec of b may be below a's. */
	return ns > 0 ? (uint64_t)ns / 1000 : 0;
}

static const struct policy_server *srv(const struct client *c)
{
	return &(c->cfg ? c->cfg : c->w->cfg)->policy->server;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 508: return "Loop Detected";
	default: return "Unknown";
	}
}

/* ---- closing ------------------------------------------------------------------------- */


/* Charges the budget and writes the audit record (once). */
static void client_llm_settle(struct client *c)
{
	struct timespec now;

	if (!c->llm)
		return;
	clock_mono(&now);
	llm_call_finish(c->llm, c->w->px->audit, c->w->gm, c->status ? c->status : 499,
			us_since(&c->t0, &now),
			c->t_first.tv_sec ? us_since(&c->t0, &c->t_first) : 0);
}

static void client_llm_unwait(struct client *c)
{
	ptimer_clear(&c->backoff);
	if (c->llm_waiting) {
		llm_out_fini(&c->llm_wait);
		c->llm_waiting = false;
	}
}

static void client_llm_end(struct client *c)
{
	client_llm_unwait(c);
	client_llm_settle(c);
	llm_call_free(c->llm);
	c->llm = NULL;
	c->llm_ep = LLM_EP_NONE;
	c->llm_pending = false;
	buf_free(&c->body);
	buf_free(&c->fwd);
	buf_free(&c->llm_hdrs);
	buf_free(&c->rhead);
	buf_free(&c->ebody);
	c->embedding = false;
}

static void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	ptimer_clear(&c->tn);
	ptimer_clear(&c->kick);
	client_llm_unwait(c);
	if (c->up) {
		uconn_release(c->up, false);
		c->up = NULL;
	}
	pend_close(&c->e);
}

/* Output is done: close now, or linger after an error answer so that the
 * client reads it before our close can turn into a reset. */
static void client_close_when_sent(struct client *c)
{
	io_conn_prompt(c->e.io);	/* the close waits on a send in flight */
	if (pend_pending(&c->e) || c->e.busy)
		return;
	if (c->eof || c->shut) {
		client_close(c);
		return;
	}
	c->shut = true;
	c->state = C_LINGER;
	shutdown(io_conn_fd(c->e.io), SHUT_WR);
	ptimer_set(c->w, &c->tn, PT_LINGER);
}

static void client_abort_after_flush(struct client *c);

/* The header array back to the worker's cache, with the size it was
 * taken with (client_parse_once). */
static void client_hdrs_release(struct client *c)
{
	buf_block_put(c->hdrs, c->hp.headers_max * sizeof(*c->hdrs));
	c->hdrs = NULL;
}

void client_on_closed(struct worker *w, struct client *c)
{
	struct proxy *px = w->px;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ptimer_clear(&c->tn);
	ptimer_clear(&c->kick);
	pend_fini(&c->e);
	buf_free(&c->in);
	buf_free(&c->pipe);
	client_hdrs_release(c);
	free(c->tbuf);
	client_llm_end(c);
	proxy_cfg_unref(c->cfg);
	proxy_cfg_unref(c->cfg0);
	free(c);
	w->n_clients--;
	atomic_fetch_sub(&px->conns_total, 1);
	atomic_fetch_sub_explicit(&w->st->conns, 1, memory_order_relaxed);
}

/* ---- writing to the client ------------------------------------------------------------ */

static int client_out(struct client *c, const void *p, size_t n)
{
	int err = pend_write(c->w, &c->e, p, n);

	if (!err)
		err = pend_flush(&c->e);
	if (err)
		client_close(c);
	return err;
}

/* Pieces of an LLM response head, appended without printf: the head is
 * built for every governed answer, and formatting it through buf_printf
 * (which runs vsnprintf twice) was a visible share of the request's CPU. */
static int head_put(struct buf *h, const char *s, size_t n)
{
	return buf_append(h, s, n, SIZE_MAX);
}

static int head_str(struct buf *h, const char *s)
{
	return head_put(h, s, strlen(s));
}

static int head_u64(struct buf *h, uint64_t v)
{
	return buf_append_u64(h, v, SIZE_MAX);
}

static int head_te_chunked(struct buf *h)
{
	static const char te[] = "Transfer-Encoding: chunked\r\n";

	return head_put(h, te, sizeof(te) - 1);
}

static int head_content_length(struct buf *h, uint64_t v)
{
	int err = head_put(h, "Content-Length: ", 16);

	err = err ? err : head_u64(h, v);
	return err ? err : head_put(h, "\r\n", 2);
}

static int head_status_line(struct buf *h, const struct http1_message *m)
{
	int err = head_put(h, "HTTP/1.1 ", 9);

	err = err ? err : head_u64(h, (unsigned int)m->status);
	err = err ? err : head_put(h, " ", 1);
	err = err ? err : head_put(h, m->reason.p, m->reason.len);
	return err ? err : head_put(h, "\r\n", 2);
}

static void access_line(struct client *c)
{
	struct worker *w = c->w;
	struct buf *h = &w->hbuf;
	struct timespec t1;
	struct http1_span m = c->hp.msg.method, t = c->hp.msg.target;
	size_t i, o, base, mark;
	int err;

	/* The same test as worker_access(): nothing to build when the line
	 * would be dropped. */
	if (!w->px->alog || !w->cfg->policy->telemetry.access_log.enabled)
		return;
	clock_mono(&t1);
	/* Built by appends into the worker's head buffer (free again by now:
	 * heads are copied out when queued) rather than snprintf'd: this
	 * runs for every request. */
	h->len = 0;
	{
		time_t now = time(NULL);
		struct tm tm;

		/* Formatted once a second per thread. */
		static __thread time_t ts_sec;
		static __thread char ts_text[32];

		if (now != ts_sec) {
			gmtime_r(&now, &tm);
			strftime(ts_text, sizeof(ts_text), "%Y-%m-%dT%H:%M:%SZ", &tm);
			ts_sec = now;
		}
		err = head_put(h, "{\"time\":\"", 9);
		err = err ? err : head_str(h, ts_text);
	}
	err = err ? err : head_put(h, "\",\"request_id\":\"", 16);
	err = err ? err : head_str(h, c->rid);
	err = err ? err : head_put(h, "\",\"listener\":\"", 14);
	err = err ? err : head_str(h, c->l ? c->l->pl->name : "");
	err = err ? err : head_put(h, "\",\"client\":\"", 12);
	err = err ? err : head_str(h, c->peer);
	err = err ? err : head_put(h, "\",\"method\":\"", 12);
	/* At most 31 bytes of the method, as a char[32] held before. */
	err = err ? err : head_put(h, m.p, m.p ? (m.len < 31 ? m.len : 31) : 0);
	err = err ? err : head_put(h, "\",\"path\":\"", 10);
	/* Method and target are tokens and visible ASCII (the parser saw to
	 * it); only '"' and '\\' need escaping. The query is left out: it may
	 * carry credentials. At most 510 bytes, escapes included. */
	for (i = 0; i < t.len && i < 510 && t.p[i] != '?' && t.p[i] != '"' && t.p[i] != '\\'; i++)
		;
	if (i == t.len || i == 510 || t.p[i] == '?') {
		/* Nothing to escape: in one piece. */
		err = err ? err : head_put(h, t.p, i);
	} else {
		for (i = 0, o = 0; !err && i < t.len && t.p[i] != '?' && o + 2 < 512; i++) {
			if (t.p[i] == '"' || t.p[i] == '\\') {
				err = head_put(h, "\\", 1);
				o++;
			}
			err = err ? err : head_put(h, t.p + i, 1);
			o++;
		}
	}
	err = err ? err : head_put(h, "\",\"status\":", 11);
	if (!err && c->status < 0)
		err = head_put(h, "-", 1);
	err = err ? err : head_u64(h, c->status < 0 ? (uint64_t)-(int64_t)c->status :
				    (uint64_t)c->status);
	err = err ? err : head_put(h, ",\"bytes_in\":", 12);
	err = err ? err : head_u64(h, c->bytes_in);
	err = err ? err : head_put(h, ",\"bytes_out\":", 13);
	err = err ? err : head_u64(h, c->bytes_out);
	err = err ? err : head_put(h, ",\"upstream\":\"", 13);
	err = err ? err : head_str(h, c->route ? c->route->up->pu->name : "");
	err = err ? err : head_put(h, "\",\"duration_us\":", 16);
	err = err ? err : head_u64(h, us_since(&c->t0, &t1));
	/* A line that does not fit is dropped, and the LLM fields are left
	 * out when only they do not fit: TG_ACCESS_LINE_MAX with its NUL. */
	base = h->len + 1;	/* with the closing brace */
	if (err || base >= TG_ACCESS_LINE_MAX)
		return;
	if (c->llm) {
		mark = h->len;
		llm_call_summary(c->llm, h);
		if (base + (h->len - mark) >= TG_ACCESS_LINE_MAX)
			h->len = mark;
	}
	if (head_put(h, "}", 1))
		return;
	worker_access(w, h->p, h->len);
}

static void count_status(struct client *c)
{
	static const enum pstat cls[] = { PS_RESP_1XX, PS_RESP_1XX, PS_RESP_2XX,
					  PS_RESP_3XX, PS_RESP_4XX, PS_RESP_5XX };
	int k = c->status / 100;

	if (k >= 1 && k <= 5)
		pstat_inc(c->w->st, cls[k]);
}

static void client_next(struct client *c);

/* The response is out (queued): log, then the next request or close. */
static void client_finish(struct client *c)
{
	struct worker *w = c->w;

	count_status(c);
	client_llm_settle(c);	/* the usage of a cut stream is known after this */
	access_line(c);
	if (c->up) {
		uconn_release(c->up, c->body_done);
		c->up = NULL;
	}
	if (!c->body_done || !c->keep_alive || w->draining)
		c->close_after = true;
	client_llm_end(c);
	proxy_cfg_unref(c->cfg);
	c->cfg = NULL;
	c->route = NULL;
	free(c->tbuf);
	c->tbuf = NULL;
	if (c->close_after) {
		c->state = C_WAIT;
		client_close_when_sent(c);
		return;
	}
	client_next(c);
}

/* A response of our own: JSON error or a built-in endpoint. */
static void client_local_x(struct client *c, int status, const char *ctype,
			   const char *body, size_t len, bool close, const struct buf *extra)
{
	struct buf *h = &c->w->hbuf;

	if (!c->cfg) {
		/* A parse error before the request was taken. */
		c->cfg = pcfg_ref(c->w->cfg);
		c->l = c->l0;
	}
	c->status = status;
	if (close || !c->body_done)
		c->close_after = true;
	h->len = 0;
	if (buf_printf(h, SIZE_MAX,
			"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			"Cache-Control: no-store\r\nx-tollgate-request-id: %s\r\n%s%s%s%s%.*s\r\n",
			status, reason(status), ctype, len, c->rid,
			c->close_after ? "Connection: close\r\n" : "",
			llm_call_provider(c->llm) ? "x-tollgate-provider: " : "",
			llm_call_provider(c->llm) ? llm_call_provider(c->llm) : "",
			llm_call_provider(c->llm) ? "\r\n" : "",
			extra ? (int)extra->len : 0, extra && extra->p ? extra->p : "") ||
	    buf_append(h, body, c->head_method ? 0 : len, SIZE_MAX)) {
		client_close(c);
		return;
	}
	c->resp_started = c->resp_done = true;
	c->bytes_out += len;
	clock_mono(&c->t_first);
	if (client_out(c, h->p, h->len))
		return;
	client_finish(c);
}

static void client_local(struct client *c, int status, const char *ctype,
			 const char *body, size_t len, bool close)
{
	client_local_x(c, status, ctype, body, len, close, NULL);
}

/* The type name an OpenAI- or Anthropic-style error carries. */
static const char *llm_etype(enum llm_endpoint ep, int status)
{
	bool a = ep == LLM_EP_MESSAGES;

	switch (status) {
	case 401: return a ? "authentication_error" : "invalid_request_error";
	case 404: return a ? "not_found_error" : "invalid_request_error";
	case 413: return a ? "request_too_large" : "invalid_request_error";
	case 429: return a ? "rate_limit_error" : "rate_limit_exceeded";
	case 503: return a ? "overloaded_error" : "api_error";
	default: return status < 500 ? "invalid_request_error" : "api_error";
	}
}

static void client_error(struct client *c, int status, const char *msg, bool close)
{
	char body[256];
	int n;

	if (c->llm_ep != LLM_EP_NONE) {
		/* On an LLM front door, errors are in the caller's API format. */
		struct buf b = { 0 };

		llm_error_body(c->llm_ep, status, llm_etype(c->llm_ep, status), msg, &b);
		client_local_x(c, status, "application/json", b.p, b.len, close,
			       c->llm_hdrs.len ? &c->llm_hdrs : NULL);
		buf_free(&b);
		return;
	}
	n = snprintf(body, sizeof(body),
		     "{\"error\":{\"code\":%d,\"type\":\"%s\",\"message\":\"%s\"}}\n",
		     status, reason(status), msg);
	client_local(c, status, "application/json", body, (size_t)n, close);
}

/* ---- request bodies ------------------------------------------------------------------------ */

static void client_body_done(struct client *c)
{
	c->body_done = true;
	c->state = C_WAIT;
	ptimer_clear(&c->tn);
	if (c->llm_ep != LLM_EP_NONE) {
		/* Not from inside the body loop: the handler may answer at
		 * once and start the next pipelined request. */
		c->llm_pending = true;
		ptimer_set(c->w, &c->kick, PT_KICK);
		return;
	}
	if (c->up)
		uconn_request_sent(c->up);
}

/* Body bytes to the upstream, or collected for a handler. */
static int body_out(struct client *c, const char *p, size_t n)
{
	if (c->llm_ep != LLM_EP_NONE)
		return buf_append(&c->body, p, n, srv(c)->limits.body_bytes);
	return uconn_write(c->up, p, n);
}

/* Forwards body bytes; returns how many of p belong to the body, or -1
 * after answering an error. */
static long client_body(struct client *c, const char *p, size_t n)
{
	struct worker *w = c->w;
	size_t used = 0;

	if (c->hp.msg.body == HTTP1_BODY_LENGTH) {
		size_t k = n < c->body_left ? n : (size_t)c->body_left;

		if (k && body_out(c, p, k))
			goto out_up;
		c->body_left -= k;
		c->bytes_in += k;
		c->body_sent_any |= k > 0;
		used = k;
		if (!c->body_left)
			client_body_done(c);
	} else {
		while (used < n && !c->body_done) {
			struct http1_span d;
			size_t k = 0;
			char head[HTTP1_CHUNK_HEAD_MAX];
			int r = http1_chunked_next(&c->chin, p + used, n - used, &k, &d);

			used += k;
			if (r < 0) {
				pstat_inc(w->st, PS_BAD_REQUEST);
				if (c->resp_started) {
					client_close(c);
					return -1;
				}
				client_error(c, 400, http1_strerror(-r), true);
				return -1;
			}
			if (r == HTTP1_CHUNKED_DATA) {
				size_t hn = http1_chunk_head(head, sizeof(head), d.len);

				if (c->chin.total > srv(c)->limits.body_bytes) {
					pstat_inc(w->st, PS_TOO_LARGE_BODY);
					if (c->resp_started) {
						client_close(c);
						return -1;
					}
					client_error(c, 413, "request body too large", true);
					return -1;
				}
				if (c->llm_ep != LLM_EP_NONE) {
					if (body_out(c, d.p, d.len))
						goto out_up;
				} else if (uconn_write(c->up, head, hn) ||
					   uconn_write(c->up, d.p, d.len) ||
					   uconn_write(c->up, "\r\n", 2)) {
					goto out_up;
				}
				c->bytes_in += d.len;
				c->body_sent_any = true;
			} else if (r == HTTP1_CHUNKED_DONE) {
				if (c->llm_ep == LLM_EP_NONE && uconn_write(c->up, "0\r\n\r\n", 5))
					goto out_up;
				client_body_done(c);
			}
		}
	}
	if (!c->body_done && c->up && uconn_pending(c->up) > proxy_out_high(c->w))
		pend_pause(&c->e);
	return (long)used;

out_up:
	if (c->llm_ep != LLM_EP_NONE) {
		client_error(c, 413, "request body too large", true);
		return -1;
	}
	client_up_failed(c, 502, PS_UP_RESET, false);
	return -1;
}

/* Receiving again after a pause. In socket mode OpenSSL may already hold
 * decrypted bytes no poll would announce: read from the loop, soon. */
static void client_resume(struct client *c)
{
	if (!c->e.paused)
		return;
	if (c->e.sock && !c->e.rx_k) {
		c->e.paused = false;
		ptimer_set(c->w, &c->kick, PT_KICK);
		return;
	}
	pend_resume(&c->e, 0);
}

bool client_recv_paused(const struct client *c)
{
	return c->e.paused;
}

/* A send's completion is acted on at once when the connection closes or
 * lingers after it, or the upstream waits on it to read again. */
static bool client_prompt(const struct pend *e)
{
	const struct client *c = (const struct client *)(const void *)
		((const char *)e - offsetof(struct client, e));

	return c->close_after || c->abort_pending || c->shut ||
	       (c->up && uconn_recv_paused(c->up));
}

void client_up_drained(struct client *c)
{
	if (c->state == C_BODY && !c->closing)
		client_resume(c);
}

/* ---- starting a request ------------------------------------------------------------------------ */

static bool path_is(const struct http1_span *t, const char *path)
{
	size_t n = strlen(path), i;

	for (i = 0; i < t->len && t->p[i] != '?'; i++)
		;
	return i == n && !memcmp(t->p, path, n);
}

static struct pcfg_route *route_match(struct pcfg_listener *l, const struct http1_span *t)
{
	uint32_t i;

	for (i = 0; i < l->n_routes; i++) {
		struct pcfg_route *r = &l->routes[i];

		if (t->len < r->path_len || memcmp(t->p, r->path, r->path_len))
			continue;
		/* "/api" matches "/api", "/api/x" and "/api?q", not "/apix". */
		if (t->len == r->path_len || r->path[r->path_len - 1] == '/' ||
		    t->p[r->path_len] == '/' || t->p[r->path_len] == '?')
			return r;
	}
	return NULL;
}

static bool client_builtin(struct client *c)
{
	const struct http1_span *t = &c->hp.msg.target;
	uint32_t ep = c->l->pl->endpoints;
	const struct policy_metrics *m = &c->cfg->policy->telemetry.metrics;

	if (c->hp.msg.method_id != HTTP1_METHOD_GET && c->hp.msg.method_id != HTTP1_METHOD_HEAD)
		return false;
	if (ep & POLICY_EP_BIT(POLICY_EP_HEALTH)) {
		if (path_is(t, "/healthz")) {
			client_local(c, 200, "application/json", "{\"status\":\"ok\"}\n", 16, false);
			return true;
		}
		if (path_is(t, "/readyz")) {
			if (c->w->draining || atomic_load(&c->w->px->stopping))
				client_local(c, 503, "application/json",
					     "{\"status\":\"draining\"}\n", 22, true);
			else
				client_local(c, 200, "application/json",
					     "{\"status\":\"ready\"}\n", 19, false);
			return true;
		}
	}
	if ((ep & POLICY_EP_BIT(POLICY_EP_METRICS)) && m->enabled &&
	    path_is(t, m->path ? m->path : "/metrics")) {
		struct buf body = { 0 };

		if (builtin_metrics(c->w, &body)) {
			client_error(c, 500, "metrics unavailable", false);
		} else {
			client_local(c, 200, "text/plain; version=0.0.4; charset=utf-8",
				     body.p, body.len, false);
		}
		buf_free(&body);
		return true;
	}
	return false;
}

/* "Name: value\r\n" of a parsed field, copied (a printf per field costs
 * more than the rest of the head). */
static int field_out(struct buf *h, const struct http1_header *f)
{
	int err = buf_append(h, f->name.p, f->name.len, SIZE_MAX);

	if (!err)
		err = buf_append(h, ": ", 2, SIZE_MAX);
	if (!err)
		err = buf_append(h, f->value.p, f->value.len, SIZE_MAX);
	if (!err)
		err = buf_append(h, "\r\n", 2, SIZE_MAX);
	return err;
}

/* The upstream request head into hbuf. -ELOOP: answer 508. */
static int build_up_head(struct client *c)
{
	const struct http1_message *m = &c->hp.msg;
	struct buf *h = &c->w->hbuf;
	const struct pcfg_route *r = c->route;
	struct http1_span t = m->target;
	char fwd[1024];
	size_t i, flen = 0;
	int err;

	h->len = 0;
	if (r->strip_prefix) {
		size_t k = r->path_len;

		/* "/api/" stripped from "/api/x" leaves "x": keep the slash. */
		if (r->path[k - 1] == '/')
			k--;
		t.p += k;
		t.len -= k;
	}
	/* Appends, not printf: this runs for every request. */
	err = head_put(h, m->method.p, m->method.len);
	err = err ? err : head_put(h, " /", (!t.len || t.p[0] != '/') ? 2 : 1);
	err = err ? err : head_put(h, t.p, t.len);
	err = err ? err : head_put(h, " HTTP/1.1\r\n", 11);
	for (i = 0; !err && i < m->n_headers; i++) {
		const struct http1_header *f = &m->headers[i];

		if ((f->flags & HTTP1_HF_HOP_BY_HOP) || fwd_is_rewritten(f) ||
		    f->id == HTTP1_H_CONTENT_LENGTH || f->id == HTTP1_H_TRANSFER_ENCODING ||
		    f->id == HTTP1_H_EXPECT)
			continue;
		err = field_out(h, f);
	}
	if (!err && !(m->flags & HTTP1_M_HOST)) {
		err = head_put(h, "Host: ", 6);
		err = err ? err : head_str(h, r->up->servers[0].text);
		err = err ? err : head_put(h, "\r\n", 2);
	}
	if (err)
		return err;
	err = fwd_request_fields(fwd, sizeof(fwd), m, c->peer, c->peer_len,
				 c->l->tls != NULL, FWD_PSEUDONYM, &flen);
	if (err == -ENOSPC)
		return -E2BIG;
	if (err)
		return err;
	err = buf_append(h, fwd, flen, SIZE_MAX);
	if (!err && m->body == HTTP1_BODY_LENGTH) {
		err = head_content_length(h, m->content_length);
	} else if (!err && m->body == HTTP1_BODY_CHUNKED) {
		err = head_te_chunked(h);
	}
	if (!err)
		err = head_put(h, "\r\n", 2);
	return err;
}

/* Picks a connection and queues the head. Returns 0, or -1 after answering. */
static int client_start_upstream(struct client *c, bool fresh)
{
	int status = 502, err;

	c->up = uconn_get(c->w, c, c->route->up, c->head_method, &status, fresh);
	if (!c->up) {
		client_error(c, status, status == 503 ? "upstream connection limit reached" :
			     "no upstream server available", false);
		return -1;
	}
	err = build_up_head(c);
	if (err == -ELOOP) {
		client_error(c, 508, "request loop: it has been through this gateway", true);
		return -1;
	}
	if (err == -E2BIG) {
		client_error(c, 431, "forwarding fields too large", true);
		return -1;
	}
	if (err || uconn_write(c->up, c->w->hbuf.p, c->w->hbuf.len)) {
		client_up_failed(c, 502, PS_UP_RESET, false);
		return -1;
	}
	return 0;
}

/* The whole body is in: the LLM handler answers, or names the provider. */
static void client_llm_act(struct client *c, struct llm_out *o);

/* The circuit breaker: every server of the provider's pool ejected. */
static bool provider_down(void *arg, uint32_t provider)
{
	struct client *c = arg;
	struct pcfg_upstream *up = c->cfg->prov_up[provider];

	return up && uconn_circuit_open(c->w, up);
}

/* The provider failed before anything reached the client: the next
 * attempt, if the call has one — now, or after its backoff. Returns false
 * when it has none. */
static bool client_llm_next(struct client *c, int status, uint64_t retry_after_ms)
{
	struct llm_out out;

	if (!c->llm || c->resp_started ||
	    !llm_call_next(c->llm, status, retry_after_ms, &out))
		return false;
	pstat_inc(c->w->st, PS_LLM_FALLBACKS);
	buf_free(&c->fwd);
	if (out.delay_ms && out.act == LLM_ACT_FORWARD) {
		c->llm_wait = out;
		c->llm_waiting = true;
		ptimer_set_in(c->w, &c->backoff, PT_BACKOFF, out.delay_ms);
		return true;
	}
	client_llm_act(c, &out);
	return true;
}

void client_backoff_done(struct worker *w, struct client *c)
{
	struct llm_out out = c->llm_wait;

	(void)w;
	if (c->closing || !c->llm_waiting)
		return;
	c->llm_waiting = false;
	memset(&c->llm_wait, 0, sizeof(c->llm_wait));
	client_llm_act(c, &out);
}

static void client_llm_start(struct client *c)
{
	struct worker *w = c->w;
	struct llm_in in = {
		.ctx = c->cfg->llm, .listener = c->l->pl, .msg = &c->hp.msg,
		.ep = c->llm_ep, .body = c->body.p ? c->body.p : "", .body_len = c->body.len,
		.rid = c->rid, .scratch = w->js, .budget = w->px->budget,
		.peer = (const struct sockaddr *)&c->peer_ss,
		.provider_down = provider_down, .down_arg = c,
	};
	struct llm_out out;

	c->llm = llm_call_new(&in, &out);
	if (!c->llm) {
		client_error(c, 503, "out of memory", true);
		return;
	}
	client_llm_act(c, &out);
}

/* The router's embeddings answered (body), failed or timed out (NULL). */
static void client_embed_done(struct client *c, const char *body, size_t len)
{
	struct llm_out out;

	log_debug("router embeddings: %s (%zu bytes, status %d)", body ? "answered" : "no answer",
		  len, c->estatus);
	c->embedding = false;
	ptimer_clear(&c->tn);
	if (c->up) {
		uconn_release(c->up, body != NULL);
		c->up = NULL;
	}
	llm_call_resume(c->llm, body, len, &out);
	buf_free(&c->ebody);
	client_llm_act(c, &out);
}

/* What the handler decided: answer, call the provider, or ask the router's
 * embeddings endpoint first. Takes out's buffers. */
static void client_llm_act(struct client *c, struct llm_out *o)
{
	struct llm_out out = *o;
	struct worker *w = c->w;
	struct pcfg_upstream *up;
	int status = 502;

	if (!c->llm_hdrs.len) {
		/* The usual case, the first answer of the call: the buffer
		 * itself is taken rather than copied. */
		buf_free(&c->llm_hdrs);
		c->llm_hdrs = out.headers;
		out.headers = (struct buf){ 0 };
	} else {
		buf_append(&c->llm_hdrs, out.headers.p, out.headers.len, SIZE_MAX);
		buf_free(&out.headers);
	}
	if (out.act == LLM_ACT_EMBED) {
		c->embedding = true;
		c->up = c->cfg->embed_up ?
			uconn_get(w, c, c->cfg->embed_up, false, &status, false) : NULL;
		if (!c->up || uconn_write(c->up, out.req.p, out.req.len)) {
			llm_out_fini(&out);
			client_embed_done(c, NULL, 0);
			return;
		}
		llm_out_fini(&out);
		uconn_request_sent(c->up);
		ptimer_set(w, &c->tn, PT_EMBED);
		return;
	}
	if (out.act == LLM_ACT_LOCAL) {
		client_local_x(c, out.status, out.ctype, out.body.p ? out.body.p : "", out.body.len,
			       false, c->llm_hdrs.len ? &c->llm_hdrs : NULL);
		llm_out_fini(&out);
		return;
	}
	c->fwd = out.req;
	out.req = (struct buf){ 0 };
	llm_out_fini(&out);
	c->llm_prov = out.provider;
	up = c->cfg->prov_up[out.provider];
	if (!up) {
		client_error(c, 502, "the provider is unreachable (its name did not resolve)", false);
		return;
	}
	c->up = uconn_get(w, c, up, false, &status, false);
	if (!c->up) {
		client_error(c, status, status == 503 ? "provider connection limit reached" :
			     "provider unavailable", false);
		return;
	}
	if (uconn_write(c->up, c->fwd.p, c->fwd.len)) {
		client_up_failed(c, 502, PS_UP_RESET, false);
		return;
	}
	c->bytes_in = c->fwd.len;
	clock_mono(&c->t_sent);
	uconn_request_sent(c->up);
}

static void client_request(struct client *c, size_t head_len)
{
	struct worker *w = c->w;
	const struct http1_message *m = &c->hp.msg;
	const struct policy_server *s;
	long k;

	c->cfg = pcfg_ref(w->cfg);
	c->l = pcfg_listener_same(c->cfg, c->l0);
	if (!c->l) {
		/* The listener went away in a reload: finish on the policy the
		 * connection started with, then close. */
		proxy_cfg_unref(c->cfg);
		c->cfg = pcfg_ref(c->cfg0);
		c->l = c->l0;
		c->close_after = true;
	}
	s = &c->cfg->policy->server;
	pstat_inc(w->st, PS_REQUESTS);
	c->in_used = head_len;
	c->head_method = m->method_id == HTTP1_METHOD_HEAD;
	c->keep_alive = (m->flags & HTTP1_M_KEEP_ALIVE) != 0;
	c->body_done = m->body == HTTP1_BODY_NONE ||
		       (m->body == HTTP1_BODY_LENGTH && !m->content_length);
	c->body_left = m->body == HTTP1_BODY_LENGTH ? m->content_length : 0;
	c->bytes_in = head_len;
	if (m->flags & HTTP1_M_EXPECT_OTHER) {
		client_error(c, 417, "unsupported expectation", true);
		return;
	}
	if (m->body == HTTP1_BODY_LENGTH && m->content_length > s->limits.body_bytes) {
		pstat_inc(w->st, PS_TOO_LARGE_BODY);
		client_error(c, 413, "request body too large", true);
		return;
	}
	if (client_builtin(c))
		return;
	if (c->l->pl->endpoints & POLICY_EP_BIT(POLICY_EP_LLM))
		c->llm_ep = llm_endpoint_match(m->target.p, m->target.len);
	if (c->llm_ep == LLM_EP_NONE) {
		c->route = route_match(c->l, &m->target);
		if (!c->route) {
			client_error(c, 404, "no route for this path", false);
			return;
		}
	}
	if (m->body == HTTP1_BODY_CHUNKED) {
		c->tbuf = malloc(TG_PROXY_TRAILER_MAX);
		if (!c->tbuf) {
			client_error(c, 503, "out of memory", true);
			return;
		}
		http1_chunked_init(&c->chin, TG_PROXY_CHUNK_EXT_MAX, c->tbuf,
				   TG_PROXY_TRAILER_MAX, NULL, 0);
	}
	if (c->llm_ep == LLM_EP_NONE && client_start_upstream(c, false))
		return;
	if (c->body_done) {
		client_body_done(c);
	} else {
		c->state = C_BODY;
		ptimer_set(w, &c->tn, PT_BODY);
		if (m->flags & HTTP1_M_EXPECT_CONTINUE) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

			if (client_out(c, cont, sizeof(cont) - 1))
				return;
		}
	}
	if (c->state == C_BODY && c->in.len > head_len) {
		k = client_body(c, c->in.p + head_len, c->in.len - head_len);
		if (k < 0)
			return;
		c->in_used += (size_t)k;
	}
}

static void rid_new(struct client *c)
{
	struct worker *w = c->w;

	/* Worker (8 bits), run (24) and sequence (32) in 16 hex digits,
	 * written by hand: printf was a visible share of a request's parse. */
	static const char hex[] = "0123456789abcdef";
	uint64_t v = (uint64_t)(w->id & 0xff) << 56 |
		     ((w->px->started_ms ^ (uint64_t)(uintptr_t)w) & 0xffffff) << 32 |
		     (++w->req_seq & 0xffffffffu);
	int i;

	_Static_assert(sizeof(c->rid) > 16, "request id room");
	for (i = 15; i >= 0; i--, v >>= 4)
		c->rid[i] = hex[v & 0xf];
	c->rid[16] = '\0';
}

/* Parses what `in` holds. */
static void client_parse_once(struct client *c)
{
	struct worker *w = c->w;
	const struct policy_server *s = srv(c);
	long r;

	if (!c->hdrs) {
		/* Fields are written before they are read: no need to zero. */
		c->hdrs = buf_block_get(s->limits.header_count * sizeof(*c->hdrs));
		if (!c->hdrs) {
			client_close(c);
			return;
		}
		http1_parser_init(&c->hp, HTTP1_F_REQUEST, c->hdrs, s->limits.header_count,
				  s->limits.header_bytes);
	}
	r = http1_parse(&c->hp, c->in.p, c->in.len);
	if (!r)
		return;
	rid_new(c);
	clock_mono(&c->t0);
	c->body_done = false;
	c->resp_started = c->resp_done = c->chunked_out = c->retried = false;
	c->body_sent_any = false;
	c->head_method = false;
	c->t_first.tv_sec = c->t_first.tv_nsec = 0;
	c->bytes_in = c->bytes_out = 0;
	c->status = 0;
	ptimer_clear(&c->tn);
	if (r < 0) {
		int status = http1_error_status((int)-r);

		pstat_inc(w->st, status == 431 ? PS_TOO_LARGE_HEAD : PS_BAD_REQUEST);
		c->hp.msg.method.len = 0;
		c->hp.msg.target.len = 0;
		c->body_done = true;
		client_error(c, status, http1_strerror((int)-r), true);
		return;
	}
	client_request(c, (size_t)r);
}

/* A request answered at once (a built-in endpoint, an error) starts the
 * next pipelined one from inside this call; loop instead of recursing. */
static void client_parse(struct client *c)
{
	if (c->parsing) {
		c->reparse = true;
		return;
	}
	c->parsing = true;
	do {
		c->reparse = false;
		client_parse_once(c);
	} while (c->reparse && !c->closing && c->state == C_HEAD);
	c->parsing = false;
}

/* Ready for the next request on the connection. */
static void client_next(struct client *c)
{
	struct worker *w = c->w;
	size_t rest = c->in.len - c->in_used;

	c->state = C_HEAD;
	c->hp.msg.method.len = c->hp.msg.target.len = 0;
	if (c->hdrs)
		http1_parser_reset(&c->hp);
	memmove(c->in.p, c->in.p + c->in_used, rest);
	c->in.len = rest;
	c->in_used = 0;
	if (c->pipe.len) {
		if (buf_append(&c->in, c->pipe.p, c->pipe.len, SIZE_MAX)) {
			client_close(c);
			return;
		}
		c->pipe.len = 0;
	}
	buf_free(&c->pipe);
	client_resume(c);
	if (!c->in.len) {
		/* Idle: hold as little memory as possible. */
		buf_free(&c->in);
		client_hdrs_release(c);
		if (c->eof) {
			client_close(c);
			return;
		}
		ptimer_set(w, &c->tn, PT_IDLE);
		return;
	}
	ptimer_set(w, &c->tn, PT_HEADER);
	client_parse(c);
}

/* ---- received bytes ------------------------------------------------------------------------- */

static int client_on_plain(void *arg, const char *p, size_t n)
{
	struct client *c = arg;
	const struct policy_server *s = srv(c);
	long k;

	if (c->closing)
		return 0;
	switch (c->state) {
	case C_HEAD:
		if (!c->in.len)
			ptimer_set(c->w, &c->tn, PT_HEADER);
		/* The head bound is the parser's; the slack holds body bytes
		 * that arrived with it. */
		if (buf_append(&c->in, p, n, s->limits.header_bytes + sizeof(c->w->scratch) + 4096)) {
			pstat_inc(c->w->st, PS_TOO_LARGE_HEAD);
			client_error(c, 431, "request head too large", true);
			return 0;
		}
		client_parse(c);
		return 0;
	case C_BODY:
		k = client_body(c, p, n);
		if (k < 0)
			return 0;
		p += k;
		n -= (size_t)k;
		if (!n)
			return 0;
		/* bytes of the next request */
		__attribute__((fallthrough));
	case C_WAIT:
		/* Closing after this answer (an answer that came before the
		 * whole body, or Connection: close): what still arrives is the
		 * rest of a body or requests that will not be served. Dropped,
		 * as in lingering close; buffering it and closing when the
		 * buffer fills would reset the connection under the answer. */
		if (c->close_after)
			return 0;
		if (buf_append(&c->pipe, p, n, TG_PROXY_PIPE_MAX * 2)) {
			client_close(c);
			return 0;
		}
		if (c->pipe.len > TG_PROXY_PIPE_MAX)
			pend_pause(&c->e);
		return 0;
	case C_LINGER:
	default:
		return 0;
	}
}

static void client_eof(struct client *c)
{
	c->eof = true;
	switch (c->state) {
	case C_HEAD:
		/* Between requests, or a head cut short: nothing to answer. */
		client_close(c);
		return;
	case C_WAIT:
		/* A half-close after a complete request: answer, then close. */
		c->close_after = true;
		return;
	case C_BODY:
		pstat_inc(c->w->st, PS_CLIENT_ABORTS);
		client_close(c);
		return;
	default:
		client_close(c);
	}
}

/* ---- TLS in socket mode ------------------------------------------------------------------ */

static void client_sock_read(struct client *c)
{
	struct worker *w = c->w;

	while (!c->closing && !c->e.paused) {
		ssize_t r = tls_read(c->e.tls, w->scratch, sizeof(w->scratch));

		if (r > 0) {
			client_on_plain(c, w->scratch, (size_t)r);
			continue;
		}
		if (r == -EAGAIN) {
			if (io_poll(c->e.io, (tls_conn_want(c->e.tls) & TLS_WANT_WRITE) ?
				    POLLOUT : POLLIN))
				client_close(c);
			return;
		}
		if (r == 0) {
			client_eof(c);
			return;
		}
		pstat_inc(w->st, PS_TLS_FAILURES);
		client_close(c);
		return;
	}
}

/* The handshake on the socket; then whatever the kernel took over runs as
 * plaintext through the loop. */
static void client_sock_step(struct client *c)
{
	struct worker *w = c->w;
	bool tx = false, rx = false;

	switch (tls_handshake(c->e.tls)) {
	case TLS_HS_WANT_IO:
		if (io_poll(c->e.io, (tls_conn_want(c->e.tls) & TLS_WANT_WRITE) ?
			    POLLOUT : POLLIN))
			client_close(c);
		return;
	case TLS_HS_ERROR:
		pstat_inc(w->st, PS_TLS_FAILURES);
		client_close(c);
		return;
	case TLS_HS_DONE:
		break;
	}
	c->e.hs_done = true;
	pstat_inc(w->st, PS_TLS_HANDSHAKES);
	tls_ktls_engaged(c->e.tls, &tx, &rx);
	c->e.tx_k = tx;
	c->e.rx_k = rx;
	if (tx)
		pstat_inc(w->st, PS_KTLS_TX);
	if (rx) {
		pstat_inc(w->st, PS_KTLS_RX);
		if (io_recv(c->e.io, 0))
			client_close(c);
		return;
	}
	client_sock_read(c);
}

void client_kick(struct worker *w, struct client *c)
{
	(void)w;
	if (c->closing)
		return;
	if (c->llm_pending) {
		c->llm_pending = false;
		client_llm_start(c);
		return;
	}
	if (c->e.hs_done)
		client_sock_read(c);
}

static void client_on_poll(struct client *c, const struct io_event *ev)
{
	if (c->closing)
		return;
	if (!c->e.hs_done) {
		client_sock_step(c);
		return;
	}
	if (c->e.busy && (ev->len == POLLOUT || (tls_conn_want(c->e.tls) & TLS_WANT_READ))) {
		/* SSL_write was waiting. */
		c->e.busy = false;
		client_sent(c);
		if (ev->len == POLLOUT || c->closing)
			return;
	}
	client_sock_read(c);
}

void client_on_event(struct worker *w, struct client *c, const struct io_event *ev)
{
	int ret;

	switch (ev->op) {
	case IO_OP_POLL:
		client_on_poll(c, ev);
		return;
	case IO_OP_RECV:
		if (ev->res > 0) {
			ret = c->closing ? 0 :
				pend_recv(w, &c->e, ev->data, ev->len, client_on_plain, c);
			io_buf_release(w->loop, ev->buf);
			if (ret < 0)
				client_close(c);
			else if (ret == 1 && !c->closing)
				client_eof(c);
			return;
		}
		if (c->closing)
			return;
		if (ev->res == 0)
			client_eof(c);
		else if (ev->res != -ETIME)
			client_close(c);
		return;
	case IO_OP_SEND:
		c->e.busy = false;
		c->e.sending.len = 0;
		if (c->closing)
			return;
		if (ev->res < 0) {
			client_close(c);
			return;
		}
		client_sent(c);
		return;
	default:
		return;
	}
}

/* Closes once the queued output is sent. */
static void client_abort_after_flush(struct client *c)
{
	c->keep_alive = false;
	c->abort_pending = true;
	io_conn_prompt(c->e.io);	/* the close waits on a send in flight */
	if (!pend_pending(&c->e) && !c->e.busy)
		client_close(c);
}

void client_sent(struct client *c)
{
	if (pend_flush(&c->e)) {
		client_close(c);
		return;
	}
	if (c->abort_pending) {
		if (!pend_pending(&c->e) && !c->e.busy)
			client_close(c);
		return;
	}
	if (c->up && pend_pending(&c->e) < proxy_out_high(c->w) / 2)
		uconn_resume(c->up);
	if (c->close_after && !c->cfg) {
		client_close_when_sent(c);
		return;
	}
	if (c->state == C_HEAD && !c->in.len && !c->e.busy && !c->e.out.len) {
		buf_free(&c->e.out);
		buf_free(&c->e.sending);
	}
}

/* ---- from the upstream ------------------------------------------------------------------------ */

/* An LLM response head: the fields the handler lets through, then ours;
 * framing now when streaming, at the end (Content-Length) when buffered. */
static uint64_t retry_after_ms(const struct http1_message *m)
{
	size_t i;

	for (i = 0; i < m->n_headers; i++)
		if (http1_span_eq_nocase(m->headers[i].name, "retry-after", 11)) {
			char v[40];

			snprintf(v, sizeof(v), "%.*s", (int)m->headers[i].value.len,
				 m->headers[i].value.p);
			return http1_retry_after_ms(v, time(NULL));
		}
	return 0;
}

static void client_llm_head(struct client *c, const struct http1_message *m)
{
	struct buf *h = &c->rhead;
	struct buf extra = { 0 };
	const char *prov;
	int err;

	if (m->status == 429 || m->status >= 500) {
		/* Counted against the provider's circuit, and retried or sent to
		 * a fallback when the call has one: this answer is dropped. */
		uint64_t ra = retry_after_ms(m);

		if (c->up)
			uconn_answer_failed(c->up, m->status == 429 ? ra : 0);
		if (llm_call_next(c->llm, m->status, ra, NULL)) {
			c->llm_discard = true;
			c->discard_status = m->status;
			c->discard_ra_ms = ra;
			return;
		}
	}
	/* The answer head: the call's first byte, and (a success) a latency
	 * sample of its provider, from one clock reading. */
	clock_mono(&c->t_first);
	if (m->status != 429 && m->status < 500)
		llm_call_latency(c->llm, us_since(&c->t_sent, &c->t_first));

	c->status = m->status;
	c->resp_started = true;
	if (c->w->draining)
		c->close_after = true;
	c->keep_alive = c->keep_alive && !c->close_after;
	c->llm_mode = llm_resp_head(c->llm, m, &extra);
	h->len = 0;
	prov = llm_call_provider(c->llm);
	err = head_status_line(h, m);
	err = err ? err : head_put(h, extra.p, extra.len);
	err = err ? err : head_put(h, c->llm_hdrs.p, c->llm_hdrs.len);
	err = err ? err : head_put(h, "x-tollgate-request-id: ", 23);
	err = err ? err : head_str(h, c->rid);
	err = err ? err : head_put(h, "\r\nx-tollgate-provider: ", 23);
	/* printf's rendering of a NULL %s, which this head used to carry. */
	err = err ? err : head_str(h, prov ? prov : "(null)");
	err = err ? err : head_put(h, "\r\nCache-Control: no-store\r\n", 27);
	buf_free(&extra);
	if (!err && c->llm_mode == LLM_RESP_STREAM) {
		if (c->hp.msg.version_minor >= 1) {
			c->chunked_out = true;
			err = head_te_chunked(h);
		} else {
			c->keep_alive = false;
			c->close_after = true;
		}
		if (!err && !c->keep_alive)
			err = head_put(h, "Connection: close\r\n", 19);
		if (!err)
			err = head_put(h, "\r\n", 2);
		if (!err) {
			client_out(c, h->p, h->len);
			buf_free(h);
			return;
		}
	}
	if (err)
		client_close(c);
}

void client_resp_head(struct client *c, const struct http1_message *m)
{
	struct buf *h = &c->w->hbuf;
	size_t i;
	int err;

	if (c->embedding) {
		c->estatus = m->status;
		return;
	}
	if (c->llm) {
		client_llm_head(c, m);
		return;
	}

	c->status = m->status;
	c->resp_started = true;
	if (!c->body_done || c->w->draining)
		c->close_after = true;
	c->keep_alive = c->keep_alive && !c->close_after;
	h->len = 0;
	/* Appends, not printf: this runs for every request. */
	err = head_status_line(h, m);
	for (i = 0; !err && i < m->n_headers; i++) {
		const struct http1_header *f = &m->headers[i];

		if ((f->flags & HTTP1_HF_HOP_BY_HOP) ||
		    f->id == HTTP1_H_CONTENT_LENGTH || f->id == HTTP1_H_TRANSFER_ENCODING)
			continue;
		err = field_out(h, f);
	}
	if (err)
		goto out_close;
	switch (m->body) {
	case HTTP1_BODY_NONE:
		/* HEAD, 204, 304: the length describes the representation. */
		if (m->flags & HTTP1_M_CONTENT_LENGTH)
			err = head_content_length(h, m->content_length);
		break;
	case HTTP1_BODY_LENGTH:
		err = head_content_length(h, m->content_length);
		break;
	default:
		if (c->hp.msg.version_minor >= 1) {
			c->chunked_out = true;
			err = head_te_chunked(h);
		} else {
			/* An HTTP/1.0 client: the end of the body is our close. */
			c->keep_alive = false;
			c->close_after = true;
		}
	}
	if (!err) {
		if (!c->keep_alive)
			err = head_put(h, "Connection: close\r\n", 19);
		else if (c->hp.msg.version_minor == 0)
			err = head_put(h, "Connection: keep-alive\r\n", 24);
	}
	err = err ? err : head_put(h, "x-tollgate-request-id: ", 23);
	err = err ? err : head_str(h, c->rid);
	err = err ? err : head_put(h, "\r\n\r\n", 4);
	if (err)
		goto out_close;
	client_out(c, h->p, h->len);
	return;

out_close:
	client_close(c);
}

static void client_resp_out(struct client *c, const char *p, size_t n);

void client_resp_body(struct client *c, const char *p, size_t n)
{
	int r;

	if (!n || c->closing)
		return;
	if (c->embedding) {
		if (buf_append(&c->ebody, p, n, TG_EMBED_RESP_MAX))
			client_embed_done(c, NULL, 0);
		return;
	}
	if (c->llm_discard)
		return;
	if (c->llm) {
		struct buf *o = &c->w->obuf;

		o->len = 0;
		r = llm_resp_body(c->llm, p, n, o);
		if (r < 0) {
			client_abort_after_flush(c);
			return;
		}
		if (o->len)
			client_resp_out(c, o->p, o->len);
		if (r == LLM_RESP_END && !c->closing) {
			/* The stream's budget ran out: the final event is out;
			 * end the response here and drop the provider. */
			if (c->up) {
				uconn_release(c->up, false);
				c->up = NULL;
			}
			if (c->chunked_out && client_out(c, "0\r\n\r\n", 5))
				return;
			c->resp_done = true;
			client_finish(c);
		}
		return;
	}
	client_resp_out(c, p, n);
}

static void client_resp_out(struct client *c, const char *p, size_t n)
{
	char head[HTTP1_CHUNK_HEAD_MAX];

	if (!n || c->closing)
		return;
	c->bytes_out += n;
	if (c->chunked_out) {
		size_t hn = http1_chunk_head(head, sizeof(head), n);

		if (pend_write(c->w, &c->e, head, hn) || pend_write(c->w, &c->e, p, n) ||
		    client_out(c, "\r\n", 2)) {
			client_close(c);
			return;
		}
	} else if (client_out(c, p, n)) {
		return;
	}
	if (c->up && pend_pending(&c->e) > proxy_out_high(c->w))
		uconn_pause(c->up);
}

/* The handler changed its mind about a buffered answer's status (a
 * provider answer it could not read is a 502): the head's status line. */
static void client_restatus(struct client *c, int status)
{
	const char *eol = c->rhead.p ? memchr(c->rhead.p, '\n', c->rhead.len) : NULL;
	struct buf h = { 0 };
	size_t skip;

	if (!eol || status < 200 || status > 599)
		return;
	skip = (size_t)(eol + 1 - c->rhead.p);
	if (buf_printf(&h, SIZE_MAX, "HTTP/1.1 %d %s\r\n", status, reason(status)) ||
	    buf_append(&h, c->rhead.p + skip, c->rhead.len - skip, SIZE_MAX)) {
		buf_free(&h);
		return;
	}
	buf_free(&c->rhead);
	c->rhead = h;
	c->status = status;
}

void client_resp_done(struct client *c)
{
	if (c->closing)
		return;
	if (c->embedding) {
		client_embed_done(c, c->estatus == 200 ? (c->ebody.p ? c->ebody.p : "") : NULL,
				  c->ebody.len);
		return;
	}
	if (c->llm_discard) {
		c->llm_discard = false;
		if (c->up) {
			uconn_release(c->up, true);
			c->up = NULL;
		}
		if (!client_llm_next(c, c->discard_status, c->discard_ra_ms))
			client_error(c, 502, "the provider failed and no fallback is left", false);
		return;
	}
	if (c->llm) {
		struct buf *o = &c->w->obuf;

		o->len = 0;
		if (llm_resp_done(c->llm, o)) {
			client_close(c);
			return;
		}
		if (c->llm_mode == LLM_RESP_BUFFER) {
			if (!c->keep_alive)
				c->close_after = true;
			if (llm_call_status(c->llm) != c->status)
				client_restatus(c, llm_call_status(c->llm));
			if (head_put(&c->rhead, "Content-Length: ", 16) ||
			    head_u64(&c->rhead, o->len) ||
			    (c->close_after ? head_put(&c->rhead, "\r\nConnection: close\r\n\r\n", 23) :
					      head_put(&c->rhead, "\r\n\r\n", 4)) ||
			    client_out(c, c->rhead.p, c->rhead.len))
				return;
			c->bytes_out += o->len;
			if (o->len && client_out(c, o->p, o->len))
				return;
		} else if (o->len) {
			client_resp_out(c, o->p, o->len);
		}
	}
	if (c->chunked_out && client_out(c, "0\r\n\r\n", 5))
		return;
	c->resp_done = true;
	client_finish(c);
}

void client_up_failed(struct client *c, int status, enum pstat why, bool retryable)
{
	pstat_inc(c->w->st, why);
	c->up = NULL;
	if (c->closing)
		return;
	if (c->embedding) {
		client_embed_done(c, NULL, 0);	/* the local decision stands */
		return;
	}
	if (c->llm_discard) {
		c->llm_discard = false;	/* the dropped answer broke off: go on */
		status = c->discard_status;
	}
	if (!c->resp_started && (!retryable || c->retried) && client_llm_next(c, status, 0))
		return;
	if (c->resp_started) {
		/* Part of the answer is out, or queued: send what is queued, then
		 * close without the final chunk (or short of Content-Length) —
		 * that is how the client learns. */
		client_abort_after_flush(c);
		return;
	}
	if (retryable && !c->retried && !c->body_sent_any && c->body_done) {
		/* A kept-alive connection the upstream had closed: the request
		 * never reached it, so send it again on a new connection. */
		c->retried = true;
		pstat_inc(c->w->st, PS_UP_RETRIED);
		if (c->llm) {
			int st = 502;

			c->up = uconn_get(c->w, c, c->cfg->prov_up[c->llm_prov], false, &st, true);
			if (c->up && !uconn_write(c->up, c->fwd.p, c->fwd.len)) {
				uconn_request_sent(c->up);
				return;
			}
			if (c->up) {
				uconn_release(c->up, false);
				c->up = NULL;
			}
			client_error(c, st, "provider unavailable", false);
			return;
		}
		if (!client_start_upstream(c, true) && c->body_done)
			uconn_request_sent(c->up);
		return;
	}
	client_error(c, status, status == 504 ? "upstream timed out" :
		     "upstream failed", false);
}

/* ---- timers and lifecycle ---------------------------------------------------------------------- */

void client_timeout(struct worker *w, struct client *c, enum ptimer list)
{
	if (c->closing)
		return;
	switch (list) {
	case PT_IDLE:
		pstat_inc(w->st, PS_TIMEOUT_IDLE);
		client_close(c);
		return;
	case PT_HEADER:
		pstat_inc(w->st, PS_TIMEOUT_HEADER);
		if (c->e.tls && !c->e.hs_done) {
			client_close(c);
			return;
		}
		c->body_done = true;
		client_error(c, 408, "request head not received in time", true);
		return;
	case PT_EMBED:
		client_embed_done(c, NULL, 0);	/* late: the local decision stands */
		return;
	case PT_BODY:
		pstat_inc(w->st, PS_TIMEOUT_BODY);
		if (c->resp_started) {
			client_close(c);
			return;
		}
		if (c->up) {
			uconn_release(c->up, false);
			c->up = NULL;
		}
		client_error(c, 408, "request body not received in time", true);
		return;
	default:
		client_close(c);	/* linger over */
	}
}

void clients_drain_all(struct worker *w, bool force)
{
	struct client *c, *next;

	for (c = w->clients; c; c = next) {
		next = c->next;
		if (force || (c->state == C_HEAD && !c->in.len && !pend_pending(&c->e))) {
			client_close(c);
		} else {
			c->close_after = true;
			io_conn_prompt(c->e.io);	/* the close waits on a send in flight */
		}
	}
}

int client_accept(struct worker *w, struct wlistener *wl, int fd)
{
	const struct policy_conn_limits *lim = &w->cfg->policy->server.limits;
	struct proxy *px = w->px;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct client *c;
	int n;

	/* connections_per_worker 0: an even share of `connections`. */
	uint32_t per_worker = lim->connections_per_worker ? lim->connections_per_worker :
		(uint32_t)((lim->connections + px->n_workers - 1) / (px->n_workers ? px->n_workers : 1));

	if ((uint64_t)atomic_load(&px->conns_total) >= lim->connections ||
	    w->n_clients >= per_worker) {
		static const char busy[] =
			"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
			"Content-Length: 75\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
			"{\"error\":{\"code\":503,\"message\":\"too many connections; retry later\"}}\n";

		pstat_inc(w->st, PS_CONNS_REFUSED);
		n = (int)send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)n;
		close(fd);
		return -EMFILE;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->obj.kind = POBJ_CLIENT;
	c->w = w;
	c->cfg0 = pcfg_ref(w->cfg);
	c->l0 = wl->l;
	n = getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 ?
		fwd_addr_text((struct sockaddr *)&ss, c->peer, sizeof(c->peer)) : -1;
	if (n > 0) {
		c->peer_ss = ss;
		c->peer_len = (size_t)n;
	} else {
		c->peer_len = (size_t)snprintf(c->peer, sizeof(c->peer), "0.0.0.0");
	}
	if (wl->l->tls) {
		c->e.tls = tls_conn_new(wl->l->tls, NULL, NULL);
		if (!c->e.tls)
			goto out_free;
	}
	if (wl->l->tls && wl->l->sockmode) {
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
			goto out_free;
		tls_conn_free(c->e.tls);
		c->e.tls = tls_conn_new_fd(wl->l->tls, fd, NULL);
		if (!c->e.tls)
			goto out_free;
		c->e.sock = true;
	}
	c->e.io = io_conn_adopt(w->loop, fd, c);
	c->e.prompt = client_prompt;
	fd = -1;
	if (!c->e.io)
		goto out_free;
	c->e.connected = true;
	c->next = w->clients;
	if (w->clients)
		w->clients->prev = c;
	w->clients = c;
	w->n_clients++;
	atomic_fetch_add(&px->conns_total, 1);
	atomic_fetch_add_explicit(&w->st->conns, 1, memory_order_relaxed);
	pstat_inc(w->st, PS_CONNS_ACCEPTED);
	ptimer_set(w, &c->tn, PT_HEADER);
	if (c->e.sock)
		client_sock_step(c);
	else if (io_recv(c->e.io, 0))
		client_close(c);
	return 0;

out_free:
	if (fd >= 0)
		close(fd);
	pend_fini(&c->e);
	proxy_cfg_unref(c->cfg0);
	free(c);
	return -ENOMEM;
}
