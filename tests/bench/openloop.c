// SPDX-License-Identifier: Apache-2.0
/*
 * openloop: an open-loop (fixed-rate) HTTP/1.1 load generator for the
 * benchmark scripts.
 *
 *   openloop -c CONNS -r RATE -d SECONDS [-w WARMUP] [-H 'Name: value']...
 *            [-b BODYFILE] [-m METHOD] http://IPV4:PORT/PATH
 *
 * wrk is closed-loop: a connection sends its next request only when the
 * previous one has come back, so when the server stalls wrk stops offering
 * load and the stall shows up as one slow sample instead of the many a real
 * client population would see (coordinated omission). Here request k is due
 * at t0 + k/RATE whatever the server does, and its latency runs from that
 * scheduled time to the last byte of its response, so queueing behind a
 * slow response is counted.
 *
 * Requests go round-robin to CONNS keep-alive connections, one in flight
 * per connection; a due request waits for its connection. Because the
 * assignment is fixed (k mod CONNS), a connection's queue is just the index
 * of its next request: no per-request memory. One thread, epoll, and a
 * timerfd armed at the next due time (timer slack set to 1 ns so the wakeup
 * is not rounded by up to 50 us, which would be added to every sample).
 *
 * Responses are read with the gateway's own parser and chunked decoder
 * (user/http/http1.h, RFC 9112): no body for HEAD, 1xx, 204 and 304;
 * Transfer-Encoding: chunked; else Content-Length. A body delimited by the
 * close of the connection is not supported (it cannot be keep-alive) and
 * counts as an error, as does anything the parser refuses; the connection
 * is then reopened.
 *
 * Everything printed covers the measured window: the requests scheduled in
 * [t0 + WARMUP, t0 + WARMUP + SECONDS).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "http/http1.h"

#define OL_MAX_CONNS	10000
#define OL_MAX_RATE	10000000.0
#define OL_MAX_SECONDS	86400.0
#define OL_MAX_WARMUP	3600.0
#define OL_MAX_HEADERS	64
#define OL_MAX_BODY	(64u << 20)
#define OL_RBUF		16384		/* bound on a response head */
#define OL_EXT_MAX	4096		/* chunk extensions of one size line */
#define OL_TRAILER_MAX	16384		/* whole trailer section */
#define OL_NS		1000000000ull
#define OL_LATE_NS	1000000ull	/* "late": sent > 1 ms after due */
#define OL_DRAIN_NS	(2 * OL_NS)	/* wait for in-flight ones at the end */
#define OL_RETRY_NS	(100 * 1000000ull)
#define OL_CONNECT_NS	(2 * OL_NS)
#define OL_EVENTS	256
#define OL_TIMER_ID	UINT32_MAX

/*
 * Latency histogram in microseconds, HdrHistogram-like: 1 us bins up to
 * 16.383 ms, then each doubling of range split into 8192 bins (relative
 * error < 0.013 %) up to 2^24 - 1 us (16.7 s); larger values land in the
 * last bin (max_us is kept exactly). 98304 bins, 768 KiB.
 */
#define H_SUB_BITS	13
#define H_HALF		(1u << H_SUB_BITS)
#define H_LINEAR	(2u * H_HALF)
#define H_RANGES	10
#define H_BINS		(H_LINEAR + H_RANGES * H_HALF)
#define H_TOP		((1ull << (H_SUB_BITS + 1 + H_RANGES)) - 1)

enum ol_conn_state {
	OL_DOWN = 0,		/* no socket; retried at timer_at while running */
	OL_CONNECTING,		/* given up at timer_at */
	OL_IDLE,
	OL_BUSY,		/* one request in flight */
};

enum ol_phase {
	OL_RP_HEAD = 0,
	OL_RP_LENGTH,
	OL_RP_CHUNKED,
	OL_RP_DONE,
};


/* One response, read with the proxy's own HTTP/1.1 parser and chunked
 * decoder (user/http/http1.h): the same RFC 9112 rules the gateway
 * applies to its upstreams. */
struct ol_resp {
	enum ol_phase phase;
	int status;
	bool close;
	uint64_t remaining;	/* Content-Length bytes left */
	struct http1_parser hp;
	struct http1_chunked ch;
	char tbuf[OL_TRAILER_MAX];	/* trailer fields, validated and dropped */
};

struct ol_conn {
	int fd;
	enum ol_conn_state state;
	uint32_t gen;		/* bumped on close: stale handlers stop */
	uint64_t next_k;	/* next request index this connection sends */
	uint64_t cur_k;		/* the one in flight when OL_BUSY */
	uint64_t timer_at;
	size_t woff;
	struct ol_resp resp;
	size_t rlen;
	char rbuf[OL_RBUF];
};

static struct {
	struct sockaddr_in addr;
	char *req;
	size_t req_len;
	bool head_req;
	unsigned nconns;
	double rate;
	uint64_t t0, t_meas, t_end;

	int ep, tfd;
	struct ol_conn *conns;
	uint64_t g;		/* requests released: due time has passed */
	bool running;		/* false before t0 and while draining */
	unsigned busy;		/* connections in OL_BUSY */
	unsigned timed;		/* connections in OL_DOWN or OL_CONNECTING */
	uint64_t armed;

	uint64_t requests, window_done, errors, non2xx, late, max_us;
	bool ever_connected;
	int last_err;
	uint64_t hist[H_BINS];
} ol = {
	.ep = -1,
	.tfd = -1,
	.t_meas = UINT64_MAX,
	.t_end = UINT64_MAX,
};

static const char ol_usage[] =
"usage: openloop -c CONNS -r RATE -d SECONDS [-w WARMUP_SECONDS]\n"
"                [-H 'Name: value']... [-b BODYFILE] [-m METHOD] URL\n"
"\n"
"Open-loop HTTP/1.1 load generator: request k is due at start + k/RATE\n"
"whatever the server does, and its latency is measured from that scheduled\n"
"time to the last byte of its response (no coordinated omission).\n"
"\n"
"  -c CONNS    keep-alive connections (1..10000); requests go round-robin,\n"
"              one in flight per connection, a due request waits for its\n"
"              connection\n"
"  -r RATE     requests per second offered (> 0, fractions allowed)\n"
"  -d SECONDS  measured duration (> 0)\n"
"  -w SECONDS  warmup before it, sent but not recorded (default 1)\n"
"  -H HEADER   extra request header, repeatable (not Content-Length or\n"
"              Transfer-Encoding; a Host given here replaces the default)\n"
"  -b FILE     request body (sent with Content-Length); method defaults to\n"
"              POST with -b, GET without\n"
"  -m METHOD   request method\n"
"  URL         http://HOST[:PORT][/PATH]; HOST must be an IPv4 literal\n"
"              (no DNS, no IPv6, no https)\n"
"  -h, --help  this text\n"
"\n"
"Responses: Content-Length and chunked bodies; a malformed response, a body\n"
"delimited by connection close, a failed connect or a connection closed by\n"
"the server (other than after 'Connection: close') counts as an error and\n"
"the connection is reopened. After the run, requests still in flight get\n"
"2 s, then count as errors; requests still queued are reported on stderr.\n"
"\n"
"Output (stdout, one 'key value' a line, all for the measured window):\n"
"  requests  completed responses recorded (non-2xx included)\n"
"  rate      completions per second during the window\n"
"  errors    connection and protocol errors\n"
"  non2xx    responses with a status outside 200..299\n"
"  p50_us p90_us p99_us p999_us max_us   latency percentiles, microseconds\n"
"  late      requests sent > 1 ms after their scheduled time (connection\n"
"            busy: the rate is too high for CONNS, or the server saturated)\n"
"\n"
"Exit: 0 ran, 1 could not connect at all, 2 bad arguments.\n";

static uint64_t ol_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * OL_NS + (uint64_t)ts.tv_nsec;
}

static uint64_t ol_due(uint64_t k)
{
	return ol.t0 + (uint64_t)((double)k * 1e9 / ol.rate);
}

static bool ol_in_window(uint64_t t)
{
	return t >= ol.t_meas && t < ol.t_end;
}

static void ol_count_error(bool counted)
{
	if (counted)
		ol.errors++;
}

/* ---- histogram ----------------------------------------------------------- */

static unsigned hist_index(uint64_t us)
{
	unsigned e;

	if (us > H_TOP)
		us = H_TOP;
	if (us < H_LINEAR)
		return (unsigned)us;
	e = (unsigned)(63 - __builtin_clzll(us)) - H_SUB_BITS;
	return H_LINEAR + (e - 1) * H_HALF + (unsigned)((us >> e) - H_HALF);
}

/* The highest value that lands in bin i, as HdrHistogram reports. */
static uint64_t hist_value(unsigned i)
{
	unsigned e;
	uint64_t sub;

	if (i < H_LINEAR)
		return i;
	e = (i - H_LINEAR) / H_HALF + 1;
	sub = (i - H_LINEAR) % H_HALF + H_HALF;
	return (sub << e) + (1ull << e) - 1;
}

static void hist_record(uint64_t us)
{
	ol.hist[hist_index(us)]++;
	if (us > ol.max_us)
		ol.max_us = us;
}

/* The num/den quantile: 500/1000 is p50, 999/1000 is p99.9. */
static uint64_t hist_percentile(uint64_t num, uint64_t den)
{
	uint64_t total = 0, target, seen = 0;
	unsigned i;

	for (i = 0; i < H_BINS; i++)
		total += ol.hist[i];
	if (!total)
		return 0;
	/* the smallest value with at least ceil(total * num / den) samples at
	 * or below it */
	target = (total * num + den - 1) / den;
	if (!target)
		target = 1;
	for (i = 0; i < H_BINS; i++) {
		seen += ol.hist[i];
		if (seen >= target) {
			uint64_t v = hist_value(i);

			return v < ol.max_us ? v : ol.max_us;
		}
	}
	return ol.max_us;
}

/* ---- connections ---------------------------------------------------------- */

static void conn_set_state(struct ol_conn *c, enum ol_conn_state s)
{
	if (c->state == OL_BUSY)
		ol.busy--;
	if (c->state == OL_DOWN || c->state == OL_CONNECTING)
		ol.timed--;
	c->state = s;
	if (s == OL_BUSY)
		ol.busy++;
	if (s == OL_DOWN || s == OL_CONNECTING)
		ol.timed++;
}

static void conn_close(struct ol_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->gen++;
	c->rlen = 0;
	conn_set_state(c, OL_DOWN);
}

static void conn_retry_later(struct ol_conn *c, uint64_t now, int err)
{
	ol.last_err = err;
	conn_close(c);
	c->timer_at = now + OL_RETRY_NS;
}

static void conn_open(struct ol_conn *c, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	int one = 1, fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		ol_count_error(ol_in_window(now));
		conn_retry_later(c, now, err);
		return;
	}
	c->fd = fd;
	/* requests are one write each; do not let Nagle hold back the tail */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.data.u32 = (uint32_t)(c - ol.conns);
	if (epoll_ctl(ol.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = errno;
		ol_count_error(ol_in_window(now));
		conn_retry_later(c, now, err);
		return;
	}
	if (connect(fd, (struct sockaddr *)&ol.addr, sizeof(ol.addr)) < 0 &&
	    errno != EINPROGRESS) {
		err = errno;
		ol_count_error(ol_in_window(now));
		conn_retry_later(c, now, err);
		return;
	}
	/* even an immediate success is reported by EPOLLOUT; wait for it */
	c->timer_at = now + OL_CONNECT_NS;
	conn_set_state(c, OL_CONNECTING);
}

/*
 * An error on the connection: the request in flight, if any, is lost (one
 * error, not a sample); an idle connection closed or broken counts once.
 * The connection is reopened while the run lasts.
 */
static void conn_drop(struct ol_conn *c, uint64_t now)
{
	if (c->state == OL_BUSY)
		ol_count_error(ol_due(c->cur_k) >= ol.t_meas);
	else
		ol_count_error(ol_in_window(now));
	conn_close(c);
	if (ol.running)
		conn_open(c, now);
}

static void conn_try_write(struct ol_conn *c, uint64_t now)
{
	while (c->woff < ol.req_len) {
		ssize_t n = send(c->fd, ol.req + c->woff, ol.req_len - c->woff,
				 MSG_NOSIGNAL);

		if (n > 0) {
			c->woff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;		/* EPOLLOUT resumes */
		conn_drop(c, now);
		return;
	}
}

/* Ready to read the answer to the request about to go out. */
static void resp_begin(struct ol_resp *r)
{
	r->phase = OL_RP_HEAD;
	r->status = 0;
	r->close = false;
	r->remaining = 0;
	http1_parser_init(&r->hp, ol.head_req ? HTTP1_F_HEAD_RESPONSE : 0, NULL, 0, OL_RBUF);
}

static void conn_send(struct ol_conn *c, uint64_t now)
{
	uint64_t due;

	c->cur_k = c->next_k;
	c->next_k += ol.nconns;
	due = ol_due(c->cur_k);
	if (due >= ol.t_meas && now > due + OL_LATE_NS)
		ol.late++;
	resp_begin(&c->resp);
	c->woff = 0;
	conn_set_state(c, OL_BUSY);
	conn_try_write(c, now);
}

/* Send this connection's oldest queued request if one is due. */
static void conn_maybe_send(struct ol_conn *c, uint64_t now)
{
	if (ol.running && c->state == OL_IDLE && c->next_k < ol.g)
		conn_send(c, now);
}

static void conn_on_connect(struct ol_conn *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		ol_count_error(ol_in_window(now));
		conn_retry_later(c, now, err);
		return;
	}
	ol.ever_connected = true;
	conn_set_state(c, OL_IDLE);
	conn_maybe_send(c, now);
}

/* ---- responses ---------------------------------------------------------- */

static bool is_tchar(unsigned char ch)
{
	/* RFC 9110 §5.6.2 token */
	if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z'))
		return true;
	return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool token_is(const char *b, const char *e, const char *want)
{
	size_t n = strlen(want);

	return (size_t)(e - b) == n && strncasecmp(b, want, n) == 0;
}

static void conn_consume(struct ol_conn *c, size_t n)
{
	c->rlen -= n;
	if (c->rlen)
		memmove(c->rbuf, c->rbuf + n, c->rlen);
}

static void resp_done(struct ol_conn *c)
{
	uint64_t now = ol_now(), due = ol_due(c->cur_k);

	if (due >= ol.t_meas) {
		ol.requests++;
		if (c->resp.status < 200 || c->resp.status > 299)
			ol.non2xx++;
		hist_record((now - due + 500) / 1000);
	}
	if (ol_in_window(now))
		ol.window_done++;
	conn_set_state(c, OL_IDLE);
	if (c->rlen) {
		/* bytes nobody asked for: the framing is off, start over */
		conn_drop(c, now);
		return;
	}
	if (c->resp.close) {
		/* the server said so: not an error */
		conn_close(c);
		if (ol.running)
			conn_open(c, now);
		return;
	}
	conn_maybe_send(c, now);
}

/* After the head: what delimits the body (RFC 9112 §6.3, as the parser
 * read it). false: a body that ends only with the connection, which
 * cannot be kept alive, so it counts as an error. */
static bool resp_body(struct ol_resp *r)
{
	const struct http1_message *m = &r->hp.msg;

	switch (m->body) {
	case HTTP1_BODY_LENGTH:
		r->remaining = m->content_length;
		r->phase = m->content_length ? OL_RP_LENGTH : OL_RP_DONE;
		return true;
	case HTTP1_BODY_CHUNKED:
		http1_chunked_init(&r->ch, OL_EXT_MAX, r->tbuf, sizeof(r->tbuf), NULL, 0);
		r->phase = OL_RP_CHUNKED;
		return true;
	case HTTP1_BODY_NONE:
		r->phase = OL_RP_DONE;
		return true;
	default:
		return false;
	}
}

/* Consume what is in c->rbuf; may complete the response or drop c. */
static void resp_process(struct ol_conn *c, uint64_t now)
{
	struct ol_resp *r = &c->resp;

	for (;;) {
		if (c->state != OL_BUSY) {
			if (c->rlen)
				conn_drop(c, now);
			return;
		}
		if (r->phase == OL_RP_HEAD) {
			/* Everything received for this head, from its first
			 * byte: the parser resumes where it stopped. */
			long hl = http1_parse(&r->hp, c->rbuf, c->rlen);

			if (!hl)
				return;
			if (hl < 0 || r->hp.msg.status == 101) {
				conn_drop(c, now);	/* malformed, or a protocol switch */
				return;
			}
			conn_consume(c, (size_t)hl);
			r->status = r->hp.msg.status;
			r->close = !(r->hp.msg.flags & HTTP1_M_KEEP_ALIVE);
			if (r->status < 200) {
				/* an interim answer: the real one follows */
				http1_parser_reset(&r->hp);
				continue;
			}
			if (!resp_body(r)) {
				conn_drop(c, now);
				return;
			}
			if (r->phase == OL_RP_DONE) {
				resp_done(c);
				return;
			}
			continue;
		}
		if (r->phase == OL_RP_LENGTH) {
			size_t take = c->rlen;

			if (take > r->remaining)
				take = (size_t)r->remaining;
			r->remaining -= take;
			conn_consume(c, take);
			if (!r->remaining)
				resp_done(c);
			return;
		}
		if (r->phase == OL_RP_CHUNKED) {
			struct http1_span data;
			size_t used = 0;
			int rc = http1_chunked_next(&r->ch, c->rbuf, c->rlen, &used, &data);

			if (rc < 0) {
				conn_drop(c, now);
				return;
			}
			conn_consume(c, used);
			if (rc == HTTP1_CHUNKED_DONE)
				resp_done(c);
			if (rc == HTTP1_CHUNKED_DATA)
				continue;	/* the body itself is not kept */
			return;
		}
		return;
	}
}

/*
 * Edge-triggered: read until EAGAIN, except that a short read with no
 * hangup pending means the socket is empty (new data or a FIN raises a new
 * edge), which saves a read per response.
 */
static void conn_read(struct ol_conn *c, uint64_t now, bool hangup)
{
	uint32_t gen = c->gen;

	for (;;) {
		size_t space = sizeof(c->rbuf) - c->rlen;
		ssize_t n;

		if (c->rlen == sizeof(c->rbuf)) {
			conn_drop(c, now);	/* response head too large */
			return;
		}
		n = read(c->fd, c->rbuf + c->rlen, space);
		if (n > 0) {
			c->rlen += (size_t)n;
			resp_process(c, now);
			if (c->gen != gen || ((size_t)n < space && !hangup))
				return;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_drop(c, now);	/* closed by the peer, or reset */
		return;
	}
}

static void conn_event(struct ol_conn *c, uint32_t events)
{
	uint64_t now = ol_now();
	uint32_t gen = c->gen;

	if (c->state == OL_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		conn_on_connect(c, now);
		if (c->gen != gen || c->state == OL_DOWN)
			return;
	}
	if (c->state == OL_DOWN)
		return;
	if ((events & EPOLLOUT) && c->state == OL_BUSY && c->woff < ol.req_len) {
		conn_try_write(c, now);
		if (c->gen != gen)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_read(c, now, events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
}

/* ---- the loop ------------------------------------------------------------- */

static void ol_arm(uint64_t at)
{
	struct itimerspec its = { 0 };

	if (at == ol.armed)
		return;
	its.it_value.tv_sec = (time_t)(at / OL_NS);
	its.it_value.tv_nsec = (long)(at % OL_NS);
	timerfd_settime(ol.tfd, TFD_TIMER_ABSTIME, &its, NULL);
	ol.armed = at;
}

/* Handle connection retries and connect timeouts; the earliest next one. */
static uint64_t ol_scan_timers(uint64_t now)
{
	uint64_t next = UINT64_MAX;
	unsigned i;

	if (!ol.timed)
		return next;
	for (i = 0; i < ol.nconns; i++) {
		struct ol_conn *c = &ol.conns[i];

		if (c->state == OL_CONNECTING && c->timer_at <= now) {
			ol_count_error(ol_in_window(now));
			conn_retry_later(c, now, ETIMEDOUT);
		} else if (c->state == OL_DOWN && c->timer_at <= now && ol.running) {
			conn_open(c, now);
		}
		if ((c->state == OL_CONNECTING || (c->state == OL_DOWN && ol.running)) &&
		    c->timer_at < next)
			next = c->timer_at;
	}
	return next;
}

static int ol_wait(uint64_t deadline, uint64_t now)
{
	struct epoll_event evs[OL_EVENTS];
	int n, i;

	if (deadline <= now)
		n = epoll_wait(ol.ep, evs, OL_EVENTS, 0);
	else {
		ol_arm(deadline);
		n = epoll_wait(ol.ep, evs, OL_EVENTS, -1);
	}
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		if (evs[i].data.u32 == OL_TIMER_ID) {
			uint64_t ticks;

			if (read(ol.tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				return -errno;
			continue;
		}
		conn_event(&ol.conns[evs[i].data.u32], evs[i].events);
	}
	return 0;
}

static int ol_run(double warmup, double seconds)
{
	uint64_t now, deadline, give_up;
	unsigned i;
	int err;

	/* connect everything first so the schedule does not start on cold
	 * connections */
	now = ol_now();
	for (i = 0; i < ol.nconns; i++)
		conn_open(&ol.conns[i], now);
	give_up = now + OL_CONNECT_NS + OL_NS / 10;
	for (;;) {
		bool connecting = false;

		now = ol_now();
		for (i = 0; i < ol.nconns; i++)
			connecting |= ol.conns[i].state == OL_CONNECTING;
		if (!connecting || now >= give_up)
			break;
		deadline = ol_scan_timers(now);
		err = ol_wait(deadline < give_up ? deadline : give_up, now);
		if (err < 0)
			return err;
	}
	if (!ol.ever_connected)
		return -ECONNREFUSED;

	ol.t0 = ol_now();
	ol.t_meas = ol.t0 + (uint64_t)(warmup * 1e9);
	ol.t_end = ol.t_meas + (uint64_t)(seconds * 1e9);
	ol.running = true;
	for (i = 0; i < ol.nconns; i++)
		if (ol.conns[i].state == OL_DOWN)
			ol.conns[i].timer_at = ol.t0;

	for (;;) {
		uint64_t due;

		now = ol_now();
		if (now >= ol.t_end)
			break;
		/* release what is due; an idle connection sends at once, a busy
		 * one picks it up when its response is in */
		while ((due = ol_due(ol.g)) <= now && due < ol.t_end) {
			struct ol_conn *c = &ol.conns[ol.g % ol.nconns];

			ol.g++;
			conn_maybe_send(c, now);
		}
		deadline = due < ol.t_end ? due : ol.t_end;
		due = ol_scan_timers(now);
		if (due < deadline)
			deadline = due;
		err = ol_wait(deadline, now);
		if (err < 0)
			return err;
	}

	/* drain: no new sends, in-flight ones get OL_DRAIN_NS */
	ol.running = false;
	give_up = ol.t_end + OL_DRAIN_NS;
	while (ol.busy && (now = ol_now()) < give_up) {
		err = ol_wait(give_up, now);
		if (err < 0)
			return err;
	}
	return 0;
}

static void ol_report(void)
{
	uint64_t timeouts = 0, unsent = 0;
	double seconds = (double)(ol.t_end - ol.t_meas) / 1e9;
	unsigned i;

	for (i = 0; i < ol.nconns; i++) {
		struct ol_conn *c = &ol.conns[i];
		uint64_t k;

		if (c->state == OL_BUSY && ol_due(c->cur_k) >= ol.t_meas)
			timeouts++;
		for (k = c->next_k; k < ol.g; k += ol.nconns)
			if (ol_due(k) >= ol.t_meas)
				unsent++;
	}
	ol.errors += timeouts;

	printf("requests %llu\n", (unsigned long long)ol.requests);
	printf("rate %.1f\n", seconds > 0 ? (double)ol.window_done / seconds : 0.0);
	printf("errors %llu\n", (unsigned long long)ol.errors);
	printf("non2xx %llu\n", (unsigned long long)ol.non2xx);
	printf("p50_us %llu\n", (unsigned long long)hist_percentile(500, 1000));
	printf("p90_us %llu\n", (unsigned long long)hist_percentile(900, 1000));
	printf("p99_us %llu\n", (unsigned long long)hist_percentile(990, 1000));
	printf("p999_us %llu\n", (unsigned long long)hist_percentile(999, 1000));
	printf("max_us %llu\n", (unsigned long long)ol.max_us);
	printf("late %llu\n", (unsigned long long)ol.late);
	if (timeouts)
		fprintf(stderr, "openloop: %llu requests still in flight %.0f s after the end (counted as errors)\n",
			(unsigned long long)timeouts, (double)OL_DRAIN_NS / 1e9);
	if (unsent)
		fprintf(stderr, "openloop: %llu requests were still queued at the end, never sent (offered rate above what -c %u connections carry)\n",
			(unsigned long long)unsent, ol.nconns);
}

/* ---- arguments ------------------------------------------------------------ */

static int bad(const char *fmt_what, const char *arg)
{
	fprintf(stderr, "openloop: %s: '%s'\n", fmt_what, arg);
	fprintf(stderr, "try 'openloop --help'\n");
	return 2;
}

static bool parse_double(const char *s, double lo, double hi, bool lo_open, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v != v || v > hi || v < lo || (lo_open && v == lo))
		return false;
	*out = v;
	return true;
}

static bool parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool valid_token(const char *b, const char *e)
{
	if (b == e)
		return false;
	for (; b < e; b++)
		if (!is_tchar((unsigned char)*b))
			return false;
	return true;
}

/* "Name: value": token name, value of visible chars, SP and HTAB. */
static bool valid_header(const char *h, bool *is_host, bool *is_framing)
{
	const char *colon = strchr(h, ':'), *q;

	if (!colon || !valid_token(h, colon))
		return false;
	for (q = colon + 1; *q; q++)
		if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
			return false;
	*is_host = token_is(h, colon, "host");
	*is_framing = token_is(h, colon, "content-length") ||
		      token_is(h, colon, "transfer-encoding");
	return true;
}

/* http://IPV4[:PORT][/PATH] into ol.addr, *hostport and *path (malloc'd). */
static int parse_url(const char *url, char **hostport, char **path)
{
	const char *rest, *slash, *colon, *q;
	char host[INET_ADDRSTRLEN + 1];
	unsigned long port = 80;
	size_t hl;

	if (strncasecmp(url, "https://", 8) == 0)
		return bad("https is not supported", url);
	if (strncasecmp(url, "http://", 7) != 0)
		return bad("URL must start with http://", url);
	rest = url + 7;
	slash = strchr(rest, '/');
	if (!slash)
		slash = rest + strlen(rest);
	if (memchr(rest, '?', (size_t)(slash - rest)) || memchr(rest, '#', (size_t)(slash - rest)) ||
	    memchr(rest, '@', (size_t)(slash - rest)))
		return bad("URL host part must be IPV4[:PORT]", url);
	colon = memchr(rest, ':', (size_t)(slash - rest));
	hl = (size_t)((colon ? colon : slash) - rest);
	if (!hl || hl >= sizeof(host))
		return bad("URL host must be an IPv4 literal like 127.0.0.1", url);
	memcpy(host, rest, hl);
	host[hl] = '\0';
	memset(&ol.addr, 0, sizeof(ol.addr));
	ol.addr.sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &ol.addr.sin_addr) != 1)
		return bad("URL host must be an IPv4 literal like 127.0.0.1 (no DNS, no IPv6)", url);
	if (colon) {
		char portbuf[8];
		size_t pl = (size_t)(slash - colon - 1);

		if (!pl || pl >= sizeof(portbuf))
			return bad("bad port in URL", url);
		memcpy(portbuf, colon + 1, pl);
		portbuf[pl] = '\0';
		if (!parse_uint(portbuf, 1, 65535, &port))
			return bad("bad port in URL", url);
	}
	ol.addr.sin_port = htons((uint16_t)port);

	for (q = slash; *q && *q != '#'; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f)
			return bad("URL path has a space or control character", url);
	*hostport = strndup(rest, (size_t)(slash - rest));
	*path = *slash ? strndup(slash, (size_t)(q - slash)) : strdup("/");
	if (!*hostport || !*path)
		return 1;
	return 0;
}

static int read_body(const char *file, char **body, size_t *len)
{
	struct stat st;
	size_t got = 0;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "openloop: -b %s: %s\n", file, strerror(errno));
		return 2;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > OL_MAX_BODY) {
		fprintf(stderr, "openloop: -b %s: not a regular file of at most %u bytes\n",
			file, OL_MAX_BODY);
		close(fd);
		return 2;
	}
	*body = malloc((size_t)st.st_size + 1);
	if (!*body) {
		close(fd);
		return 1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *body + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "openloop: -b %s: %s\n", file,
				n < 0 ? strerror(errno) : "file shrank while reading");
			free(*body);
			*body = NULL;
			close(fd);
			return 2;
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

/* The request, built once: every connection sends the same bytes. */
static int build_request(const char *method, const char *path, const char *hostport,
			 char **hdrs, unsigned nhdrs, bool user_host,
			 const char *body, size_t body_len, bool with_length)
{
	size_t cap = strlen(method) + strlen(path) + strlen(hostport) + body_len + 96;
	size_t off = 0;
	unsigned i;
	char *b;

	for (i = 0; i < nhdrs; i++)
		cap += strlen(hdrs[i]) + 2;
	b = malloc(cap);
	if (!b)
		return 1;
	off += (size_t)snprintf(b + off, cap - off, "%s %s HTTP/1.1\r\n", method, path);
	if (!user_host)
		off += (size_t)snprintf(b + off, cap - off, "Host: %s\r\n", hostport);
	for (i = 0; i < nhdrs; i++)
		off += (size_t)snprintf(b + off, cap - off, "%s\r\n", hdrs[i]);
	if (with_length)
		off += (size_t)snprintf(b + off, cap - off, "Content-Length: %zu\r\n", body_len);
	off += (size_t)snprintf(b + off, cap - off, "\r\n");
	if (body_len)
		memcpy(b + off, body, body_len);
	ol.req = b;
	ol.req_len = off + body_len;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long conns = 0;
	double rate = 0, seconds = 0, warmup = 1;
	bool have_c = false, have_r = false, have_d = false, user_host = false;
	const char *bodyfile = NULL, *method = NULL;
	char *hdrs[OL_MAX_HEADERS], *hostport = NULL, *path = NULL, *body = NULL;
	unsigned nhdrs = 0;
	size_t body_len = 0;
	struct rlimit rl;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = OL_TIMER_ID };
	int opt, rc, err;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:r:d:w:H:b:m:h", longopts, NULL)) != -1) {
		bool is_host, is_framing;

		switch (opt) {
		case 'c':
			if (!parse_uint(optarg, 1, OL_MAX_CONNS, &conns))
				return bad("-c wants a connection count in 1..10000", optarg);
			have_c = true;
			break;
		case 'r':
			if (!parse_double(optarg, 0, OL_MAX_RATE, true, &rate))
				return bad("-r wants requests per second, > 0 and <= 1e7", optarg);
			have_r = true;
			break;
		case 'd':
			if (!parse_double(optarg, 0, OL_MAX_SECONDS, true, &seconds))
				return bad("-d wants seconds, > 0 and <= 86400", optarg);
			have_d = true;
			break;
		case 'w':
			if (!parse_double(optarg, 0, OL_MAX_WARMUP, false, &warmup))
				return bad("-w wants seconds, >= 0 and <= 3600", optarg);
			break;
		case 'H':
			if (nhdrs == OL_MAX_HEADERS)
				return bad("too many -H (at most 64)", optarg);
			if (!valid_header(optarg, &is_host, &is_framing))
				return bad("-H wants 'Name: value' (token name, no control characters)", optarg);
			if (is_framing)
				return bad("-H cannot set the body framing; use -b", optarg);
			user_host |= is_host;
			hdrs[nhdrs++] = optarg;
			break;
		case 'b':
			bodyfile = optarg;
			break;
		case 'm':
			if (!valid_token(optarg, optarg + strlen(optarg)) || strlen(optarg) > 32)
				return bad("-m wants an HTTP method token", optarg);
			method = optarg;
			break;
		case 'h':
			fputs(ol_usage, stdout);
			return 0;
		default:
			if (optopt && strchr("crdwHbm", optopt))
				fprintf(stderr, "openloop: -%c needs a value\n", optopt);
			else if (optopt)
				fprintf(stderr, "openloop: unknown option -%c\n", optopt);
			else
				fprintf(stderr, "openloop: unknown option %s\n", argv[optind - 1]);
			fprintf(stderr, "try 'openloop --help'\n");
			return 2;
		}
	}
	if (!have_c || !have_r || !have_d || optind != argc - 1) {
		fprintf(stderr, "openloop: %s\n%s", optind < argc - 1 ? "exactly one URL, after the options" :
			"-c, -r, -d and a URL are required", ol_usage);
		return 2;
	}
	rc = parse_url(argv[optind], &hostport, &path);
	if (rc)
		goto out_free_url;
	if (bodyfile) {
		rc = read_body(bodyfile, &body, &body_len);
		if (rc)
			goto out_free_url;
	}
	if (!method)
		method = bodyfile ? "POST" : "GET";
	ol.head_req = strcmp(method, "HEAD") == 0;
	/* RFC 9110 §8.6: no Content-Length on a body-less GET or HEAD */
	rc = build_request(method, path, hostport, hdrs, nhdrs, user_host, body, body_len,
			   bodyfile || (strcmp(method, "GET") && !ol.head_req));
	free(body);
	if (rc)
		goto out_free_url;

	rc = 2;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < conns + 16) {
		rl.rlim_cur = rl.rlim_max < conns + 16 ? rl.rlim_max : conns + 16;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < conns + 16) {
			fprintf(stderr, "openloop: -c %lu needs %lu file descriptors; the limit is %llu\n",
				conns, conns + 16, (unsigned long long)rl.rlim_cur);
			goto out_free_req;
		}
	}
	/* a 50 us default slack on the timer would be added to every sample */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

	rc = 1;
	ol.nconns = (unsigned)conns;
	ol.rate = rate;
	ol.conns = calloc(conns, sizeof(*ol.conns));
	if (!ol.conns) {
		fprintf(stderr, "openloop: setup: %s\n", strerror(errno));
		goto out_free_req;
	}
	for (unsigned i = 0; i < ol.nconns; i++) {
		ol.conns[i].fd = -1;
		ol.conns[i].next_k = i;
		ol.conns[i].state = OL_DOWN;
		ol.timed++;
	}
	ol.ep = epoll_create1(EPOLL_CLOEXEC);
	ol.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ol.ep < 0 || ol.tfd < 0 || epoll_ctl(ol.ep, EPOLL_CTL_ADD, ol.tfd, &ev) < 0) {
		fprintf(stderr, "openloop: setup: %s\n", strerror(errno));
		goto out_close;
	}

	err = ol_run(warmup, seconds);
	if (err == -ECONNREFUSED && !ol.ever_connected) {
		fprintf(stderr, "openloop: could not connect to %s: %s\n", hostport,
			strerror(ol.last_err ? ol.last_err : ETIMEDOUT));
	} else if (err < 0) {
		fprintf(stderr, "openloop: event loop: %s\n", strerror(-err));
	} else {
		ol_report();
		rc = 0;
	}
out_close:
	for (unsigned i = 0; i < ol.nconns; i++)
		if (ol.conns[i].fd >= 0)
			close(ol.conns[i].fd);
	if (ol.tfd >= 0)
		close(ol.tfd);
	if (ol.ep >= 0)
		close(ol.ep);
	free(ol.conns);
	ol.conns = NULL;
out_free_req:
	free(ol.req);
	ol.req = NULL;
out_free_url:
	free(hostport);
	free(path);
	return rc;
}
