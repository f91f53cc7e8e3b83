// SPDX-License-Identifier: Apache-2.0
/*
 * The I/O loop: every case runs against both backends (io_uring and epoll)
 * on loopback, each bounded to a few seconds. Clients are non-blocking
 * sockets driven by poll() in one thread, so hundreds of them cost little.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/io.h"

static enum io_backend B_URING = IO_BACKEND_URING;
static enum io_backend B_EPOLL = IO_BACKEND_EPOLL;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static struct io_loop *loop_new(void **state, unsigned entries, unsigned size,
				unsigned conns)
{
	struct io_opts o = {
		.backend = *(enum io_backend *)*state,
		.buf_entries = entries, .buf_size = size, .max_conns = conns,
	};
	struct io_loop *loop = io_loop_new(&o);

	if (!loop && o.backend == IO_BACKEND_URING &&
	    (errno == EPERM || errno == ENOSYS || errno == EINVAL)) {
		print_message("io_uring unavailable here (%s): skipped\n",
			      strerror(errno));
		skip();
	}
	assert_non_null(loop);
	assert_int_equal(io_loop_backend(loop), o.backend);
	return loop;
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static struct io_conn *listen_any(struct io_loop *loop, uint16_t *port)
{
	struct sockaddr_in a = loopback(0);
	struct io_conn *l = io_listen(loop, (struct sockaddr *)&a, sizeof(a), 512, NULL);

	assert_non_null(l);
	*port = local_port(io_conn_fd(l));
	return l;
}

/* Waits for `count` IO_OP_CLOSE events, releasing buffers on the way. */
static void drain_close(struct io_loop *loop, int count)
{
	struct io_event ev[64];
	uint64_t end = now_ms() + 2000;

	while (now_ms() < end) {
		int n = io_wait(loop, ev, 64, 50);

		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			if (ev[i].op == IO_OP_RECV && ev[i].res > 0)
				io_buf_release(loop, ev[i].buf);
			if (ev[i].op == IO_OP_ACCEPT && ev[i].res >= 0)
				close(ev[i].res);
			if (ev[i].op == IO_OP_CLOSE && --count == 0)
				return;
		}
	}
	fail_msg("no IO_OP_CLOSE within 2 s");
}

/* ---- clients: non-blocking sockets in one thread ------------------------- */

struct cli {
	int fd;
	uint8_t *out, *in;
	size_t len, sent, got;
	bool done;
};

struct clients {
	int n;
	size_t max_len;
	uint16_t port;
	uint32_t seed;
	int close_early;	/* this many close after sending a bit */
	atomic_int finished;
	atomic_int errors;
	pthread_t tid;
};

static void *clients_run(void *arg)
{
	struct clients *cs = arg;
	struct cli *c = calloc((size_t)cs->n, sizeof(*c));
	struct pollfd *pfd = calloc((size_t)cs->n, sizeof(*pfd));
	struct sockaddr_in a = loopback(cs->port);
	uint32_t seed = cs->seed;
	uint64_t end = now_ms() + 4000;
	int left = cs->n;

	for (int i = 0; i < cs->n; i++) {
		c[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(c[i].fd, (struct sockaddr *)&a, sizeof(a)) &&
		    errno != EINPROGRESS)
			atomic_fetch_add(&cs->errors, 1);
		c[i].len = 1 + rnd(&seed) % cs->max_len;
		c[i].out = malloc(c[i].len);
		c[i].in = malloc(c[i].len);
		for (size_t j = 0; j < c[i].len; j++)
			c[i].out[j] = (uint8_t)rnd(&seed);
	}
	while (left && now_ms() < end) {
		for (int i = 0; i < cs->n; i++) {
			pfd[i].fd = c[i].done ? -1 : c[i].fd;
			pfd[i].events = POLLIN | (c[i].sent < c[i].len ? POLLOUT : 0);
		}
		if (poll(pfd, (nfds_t)cs->n, 100) < 0)
			break;
		for (int i = 0; i < cs->n; i++) {
			struct cli *k = &c[i];
			ssize_t r;

			if (k->done || !pfd[i].revents)
				continue;
			if ((pfd[i].revents & POLLOUT) && k->sent < k->len) {
				/* Odd pieces: the server sees arbitrary splits. */
				size_t piece = 1 + rnd(&seed) % 7919;

				if (piece > k->len - k->sent)
					piece = k->len - k->sent;
				r = send(k->fd, k->out + k->sent, piece, MSG_NOSIGNAL);
				if (r > 0)
					k->sent += (size_t)r;
				if (i < cs->close_early && k->sent > 0) {
					close(k->fd);
					k->done = true;
					left--;
					continue;
				}
				if (k->sent == k->len)
					shutdown(k->fd, SHUT_WR);
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				r = recv(k->fd, k->in + k->got, k->len - k->got + 1, 0);
				if (r > 0) {
					k->got += (size_t)r;
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					if (k->got != k->len ||
					    memcmp(k->in, k->out, k->len))
						atomic_fetch_add(&cs->errors, 1);
					k->done = true;
					left--;
				}
			}
		}
	}
	if (left)
		atomic_fetch_add(&cs->errors, left);
	for (int i = 0; i < cs->n; i++) {
		if (!c[i].done || i >= cs->close_early)
			close(c[i].fd);
		free(c[i].out);
		free(c[i].in);
	}
	free(pfd);
	free(c);
	atomic_store(&cs->finished, 1);
	return NULL;
}

static void clients_start(struct clients *cs)
{
	assert_int_equal(pthread_create(&cs->tid, NULL, clients_run, cs), 0);
}

/* ---- echo server ---------------------------------------------------------- */

#define QMAX 256

struct sconn {
	struct io_conn *c;
	bool eof, sending, closed;
	unsigned head, n;
	struct { const uint8_t *p; uint32_t len; uint16_t buf; } q[QMAX];
};

struct server {
	struct io_loop *loop;
	struct io_conn *lis;
	int live;		/* server connections not yet IO_OP_CLOSE'd */
	int accepted;
	bool hoard;		/* keep buffers until the ring is dry */
	bool saw_dry;
	int closes;
	struct sconn *all[1024];
	int nall;
};

static void sconn_kick(struct server *s, struct sconn *k)
{
	if (k->sending || k->closed)
		return;
	if (k->n) {
		assert_int_equal(io_send(k->c, k->q[k->head].p, k->q[k->head].len,
					 2000), 0);
		k->sending = true;
	} else if (k->eof) {
		k->closed = true;
		io_close(k->c);
	}
	(void)s;
}

static void server_event(struct server *s, struct io_event *e)
{
	struct sconn *k = e->udata;

	switch (e->op) {
	case IO_OP_ACCEPT: {
		struct io_conn *c;

		assert_true(e->res >= 0);
		k = calloc(1, sizeof(*k));
		c = io_conn_adopt(s->loop, e->res, k);
		assert_non_null(c);
		k->c = c;
		s->live++;
		s->accepted++;
		s->all[s->nall++] = k;
		assert_int_equal(io_recv(c, 0), 0);
		break;
	}
	case IO_OP_RECV:
		if (k->closed) {
			if (e->res > 0)
				io_buf_release(s->loop, e->buf);
			break;
		}
		if (e->res > 0) {
			unsigned t = (k->head + k->n) % QMAX;

			assert_true(k->n < QMAX);
			k->q[t].p = e->data;
			k->q[t].len = e->len;
			k->q[t].buf = e->buf;
			k->n++;
		} else if (e->res == 0) {
			k->eof = true;
		} else {
			k->eof = true;	/* reset by a client closing early */
			while (k->n) {
				if (!k->sending)
					io_buf_release(s->loop, k->q[k->head].buf);
				k->head = (k->head + 1) % QMAX;
				k->n--;
				if (k->sending)
					break;
			}
		}
		if (!s->hoard)
			sconn_kick(s, k);
		break;
	case IO_OP_SEND:
		if (k->closed)
			break;
		k->sending = false;
		if (e->res < 0) {
			/* Peer went away: give everything back and close. */
			while (k->n) {
				io_buf_release(s->loop, k->q[k->head].buf);
				k->head = (k->head + 1) % QMAX;
				k->n--;
			}
			k->closed = true;
			io_close(k->c);
			break;
		}
		assert_int_equal(e->res, k->q[k->head].len);
		io_buf_release(s->loop, k->q[k->head].buf);
		k->head = (k->head + 1) % QMAX;
		k->n--;
		sconn_kick(s, k);
		break;
	case IO_OP_CLOSE:
		if (k) {
			/* Buffers still queued are ours to give back. */
			while (k->n) {
				io_buf_release(s->loop, k->q[k->head].buf);
				k->head = (k->head + 1) % QMAX;
				k->n--;
			}
			for (int i = 0; i < s->nall; i++)
				if (s->all[i] == k)
					s->all[i] = s->all[--s->nall];
			free(k);
			s->live--;
		}
		s->closes++;
		break;
	default:
		break;
	}
}

/* Runs the server until the clients finished and every connection closed. */
static void server_run(struct server *s, struct clients *cs, int budget_ms)
{
	struct io_event ev[128];
	uint64_t end = now_ms() + (uint64_t)budget_ms;

	while (now_ms() < end) {
		int n = io_wait(s->loop, ev, 128, 10);

		assert_true(n >= 0);
		if (!io_loop_bufs_free(s->loop))
			s->saw_dry = true;
		for (int i = 0; i < n; i++)
			server_event(s, &ev[i]);
		if (s->hoard && (!io_loop_bufs_free(s->loop) || n == 0)) {
			/* Dry (or quiet): now let the echoes go. */
			for (int i = 0; i < s->nall; i++)
				sconn_kick(s, s->all[i]);
		}
		if (atomic_load(&cs->finished) && !s->live)
			return;
	}
	fail_msg("server: clients finished=%d live=%d", atomic_load(&cs->finished),
		 s->live);
}

static void test_io_echo(void **state, int nclients, size_t max_len,
			 unsigned entries, unsigned size, bool hoard)
{
	struct io_loop *loop = loop_new(state, entries, size, 1024);
	struct server s = { .loop = loop, .hoard = hoard };
	struct clients cs = { .n = nclients, .max_len = max_len, .seed = 2463534242u };

	s.lis = listen_any(loop, &cs.port);
	clients_start(&cs);
	server_run(&s, &cs, 4500);
	pthread_join(cs.tid, NULL);
	assert_int_equal(atomic_load(&cs.errors), 0);
	assert_int_equal(s.accepted, nclients);
	io_close(s.lis);
	drain_close(loop, 1);
	assert_int_equal(io_loop_conns(loop), 0);
	assert_int_equal(io_loop_bufs_free(loop), entries);
	if (hoard)
		assert_true(s.saw_dry);
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
}

static void test_io_echo_concurrent_clients(void **state)
{
	test_io_echo(state, 8, 300000, 256, 4096, false);
}

static void test_io_accept_many_with_small_ring(void **state)
{
	/* 200 connections share 8 buffers: receiving must pause and resume. */
	test_io_echo(state, 200, 3000, 8, 512, true);
}

static void test_io_client_closes_mid_transfer(void **state)
{
	struct io_loop *loop = loop_new(state, 64, 4096, 1024);
	struct server s = { .loop = loop };
	struct clients cs = { .n = 8, .max_len = 200000, .seed = 88172645u,
			      .close_early = 4 };

	s.lis = listen_any(loop, &cs.port);
	clients_start(&cs);
	server_run(&s, &cs, 4500);
	pthread_join(cs.tid, NULL);
	assert_int_equal(atomic_load(&cs.errors), 0);
	io_close(s.lis);
	drain_close(loop, 1);
	assert_int_equal(io_loop_conns(loop), 0);
	assert_int_equal(io_loop_bufs_free(loop), 64);
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
}

/* Waits for the next event of kind `op` (others: buffers released). */
static struct io_event wait_for(struct io_loop *loop, enum io_op op, int ms)
{
	struct io_event ev;
	uint64_t end = now_ms() + (uint64_t)ms;

	while (now_ms() < end) {
		int n = io_wait(loop, &ev, 1, 20);

		assert_true(n >= 0);
		if (n && ev.op == op)
			return ev;
		if (n && ev.op == IO_OP_RECV && ev.res > 0)
			io_buf_release(loop, ev.buf);
	}
	fail_msg("no event %d within %d ms", op, ms);
	return ev;
}

/* A connected pair: a plain client socket and the loop's side of it. */
static struct io_conn *accept_one(struct io_loop *loop, uint16_t port, int *cfd)
{
	struct sockaddr_in a = loopback(port);
	struct io_event ev;
	struct io_conn *c;

	*cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(*cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ev = wait_for(loop, IO_OP_ACCEPT, 2000);
	assert_true(ev.res >= 0);
	c = io_conn_adopt(loop, ev.res, NULL);
	assert_non_null(c);
	return c;
}

static void test_io_recv_deadline_fires(void **state)
{
	struct io_loop *loop = loop_new(state, 16, 4096, 64);
	uint16_t port;
	struct io_conn *l = listen_any(loop, &port), *c;
	struct io_event ev;
	uint64_t t0, dt;
	int cfd;

	c = accept_one(loop, port, &cfd);
	t0 = now_ms();
	assert_int_equal(io_recv(c, 150), 0);
	ev = wait_for(loop, IO_OP_RECV, 2000);
	dt = now_ms() - t0;
	assert_int_equal(ev.res, -ETIME);
	assert_ptr_equal(ev.conn, c);
	assert_true(dt >= 140 && dt < 1500);
	/* Receiving stays armed after the deadline. */
	assert_int_equal(send(cfd, "x", 1, 0), 1);
	ev = wait_for(loop, IO_OP_RECV, 2000);
	assert_int_equal(ev.res, 1);
	assert_int_equal(ev.data[0], 'x');
	assert_int_equal(io_buf_release(loop, ev.buf), 0);
	assert_int_equal(io_buf_release(loop, ev.buf), -EINVAL);
	io_close(c);
	io_close(l);
	drain_close(loop, 2);
	close(cfd);
	assert_int_equal(io_loop_conns(loop), 0);
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
}

/* Collects RECV data for up to ms; returns the byte count. */
static size_t recv_for(struct io_loop *loop, int ms, char *out, size_t cap)
{
	struct io_event ev[16];
	uint64_t end = now_ms() + (uint64_t)ms;
	size_t got = 0;

	while (now_ms() < end) {
		int n = io_wait(loop, ev, 16, 10), i;

		assert_true(n >= 0);
		for (i = 0; i < n; i++) {
			if (ev[i].op != IO_OP_RECV || ev[i].res <= 0)
				continue;
			assert_true(got + ev[i].len <= cap);
			memcpy(out + got, ev[i].data, ev[i].len);
			got += ev[i].len;
			io_buf_release(loop, ev[i].buf);
		}
	}
	return got;
}

static void test_io_recv_pause_holds_data_until_resumed(void **state)
{
	struct io_loop *loop = loop_new(state, 16, 4096, 64);
	uint16_t port;
	struct io_conn *l = listen_any(loop, &port), *c;
	char buf[64];
	int cfd;

	c = accept_one(loop, port, &cfd);
	assert_int_equal(io_recv(c, 0), 0);
	assert_int_equal(send(cfd, "one", 3, 0), 3);
	assert_int_equal(recv_for(loop, 200, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "one", 3);
	assert_int_equal(io_recv_pause(c), 0);
	assert_int_equal(io_recv_pause(c), 0);	/* twice: a no-op */
	/* Let the cancel complete, then send: nothing may be delivered. */
	recv_for(loop, 50, buf, sizeof(buf));
	assert_int_equal(send(cfd, "two", 3, 0), 3);
	assert_int_equal(recv_for(loop, 200, buf, sizeof(buf)), 0);
	/* Resumed: the bytes sent while paused arrive, none lost. */
	assert_int_equal(io_recv(c, 0), 0);
	assert_int_equal(recv_for(loop, 200, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "two", 3);
	io_close(c);
	io_close(l);
	drain_close(loop, 2);
	close(cfd);
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
}

static void test_io_poll_reports_readiness(void **state)
{
	struct io_loop *loop = loop_new(state, 16, 4096, 64);
	uint16_t port;
	struct io_conn *l = listen_any(loop, &port), *c;
	struct io_event ev;
	char b;
	int cfd;

	c = accept_one(loop, port, &cfd);
	/* A fresh socket is writable at once. */
	assert_int_equal(io_poll(c, POLLOUT), 0);
	ev = wait_for(loop, IO_OP_POLL, 2000);
	assert_int_equal(ev.len, POLLOUT);
	assert_true(ev.res & POLLOUT);
	/* Readable only once the peer sends; arming twice is one event. */
	assert_int_equal(io_poll(c, POLLIN), 0);
	assert_int_equal(io_poll(c, POLLIN), 0);
	assert_int_equal(io_wait(loop, &ev, 1, 100), 0);
	assert_int_equal(send(cfd, "z", 1, 0), 1);
	ev = wait_for(loop, IO_OP_POLL, 2000);
	assert_int_equal(ev.len, POLLIN);
	assert_true(ev.res & POLLIN);
	assert_int_equal(io_wait(loop, &ev, 1, 100), 0);	/* one-shot */
	/* The data is still there for the caller's own read. */
	assert_int_equal(recv(io_conn_fd(c), &b, 1, MSG_DONTWAIT), 1);
	assert_int_equal(b, 'z');
	assert_int_equal(io_poll(c, POLLIN | POLLOUT), -EINVAL);
	/* Closing with a poll armed completes cleanly. */
	assert_int_equal(io_poll(c, POLLIN), 0);
	io_close(c);
	io_close(l);
	drain_close(loop, 2);
	close(cfd);
	assert_int_equal(io_loop_conns(loop), 0);
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
}

static void test_io_connect_refused(void **state)
{
	struct io_loop *loop = loop_new(state, 16, 4096, 64);
	struct sockaddr_in a = loopback(0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct io_conn *c;
	struct io_event ev;

	/* A port that was just ours and nobody listens on. */
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	a = loopback(local_port(fd));
	close(fd);
	c = io_connect(loop, (struct sockaddr *)&a, sizeof(a), 1000, NULL);
	assert_non_null(c);
	ev = wait_for(loop, IO_OP_CONNECT, 2000);
	assert_ptr_equal(ev.conn, c);
	assert_int_equal(ev.res, -ECONNREFUSED);
	io_close(c);
	drain_close(loop, 1);
	assert_int_equal(io_loop_conns(loop), 0);
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
}

/* A listener whose accept queue is full: further SYNs are dropped, so a
 * connect to it hangs until its deadline. */
static int blackhole(uint16_t *port, int *filler)
{
	struct sockaddr_in a = loopback(0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct pollfd p;

	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 0), 0);
	*port = local_port(fd);
	a = loopback(*port);
	*filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(*filler, (struct sockaddr *)&a, sizeof(a));
	p = (struct pollfd){ .fd = *filler, .events = POLLOUT };
	assert_int_equal(poll(&p, 1, 1000), 1);
	return fd;
}

static void test_io_connect_timeout(void **state)
{
	struct io_loop *loop = loop_new(state, 16, 4096, 64);
	uint16_t port;
	int filler, lfd = blackhole(&port, &filler);
	struct sockaddr_in a = loopback(port);
	struct io_conn *c;
	struct io_event ev;
	uint64_t t0 = now_ms(), dt;

	c = io_connect(loop, (struct sockaddr *)&a, sizeof(a), 200, NULL);
	assert_non_null(c);
	ev = wait_for(loop, IO_OP_CONNECT, 3000);
	dt = now_ms() - t0;
	assert_int_equal(ev.res, -ETIMEDOUT);
	assert_true(dt >= 190 && dt < 1000);
	io_close(c);
	drain_close(loop, 1);
	assert_int_equal(io_loop_conns(loop), 0);
	close(filler);
	close(lfd);
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
}

static void test_io_cancel_then_free_in_flight(void **state)
{
	struct io_loop *loop = loop_new(state, 16, 4096, 64);
	uint16_t port, bport;
	struct io_conn *l = listen_any(loop, &port), *c, *up;
	int filler, bfd = blackhole(&bport, &filler), cfd;
	struct sockaddr_in a = loopback(bport);
	size_t big_len = 16u << 20;
	uint8_t *big = calloc(1, big_len);
	struct io_event ev[16];
	uint64_t t0;

	assert_non_null(big);
	c = accept_one(loop, port, &cfd);
	/* Receive and its deadline, a send the peer never reads, and an
	 * upstream connect that cannot finish: all in flight at once. */
	assert_int_equal(io_recv(c, 10000), 0);
	assert_int_equal(io_send(c, big, big_len, 10000), 0);
	assert_int_equal(io_send(c, big, big_len, 10000), -EBUSY);
	up = io_connect(loop, (struct sockaddr *)&a, sizeof(a), 10000, NULL);
	assert_non_null(up);
	for (int i = 0; i < 5; i++)
		assert_int_equal(io_wait(loop, ev, 16, 20), 0);
	assert_int_equal(io_loop_conns(loop), 3);
	t0 = now_ms();
	io_close(c);
	io_close(c);	/* twice is a no-op */
	io_close(up);
	drain_close(loop, 2);
	assert_true(now_ms() - t0 < 1000);
	/* Anything the kernel still had would complete now, after the free. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(io_wait(loop, ev, 16, 20), 0);
	assert_int_equal(io_loop_stale(loop), 0);
	/* Only now is the send buffer ours again. */
	free(big);
	assert_int_equal(io_loop_conns(loop), 1);
	assert_int_equal(io_loop_bufs_free(loop), 16);
	io_close(l);
	drain_close(loop, 1);
	close(cfd);
	close(filler);
	close(bfd);
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
}

static void test_io_server_closes_mid_send(void **state)
{
	struct io_loop *loop = loop_new(state, 16, 4096, 64);
	uint16_t port;
	struct io_conn *l = listen_any(loop, &port), *c;
	size_t big_len = 4u << 20;
	uint8_t *big = malloc(big_len);
	uint8_t chunk[65536] = { 1 };
	struct io_event ev;
	int cfd;

	assert_non_null(big);
	memset(big, 7, big_len);
	c = accept_one(loop, port, &cfd);
	assert_int_equal(io_recv(c, 0), 0);
	assert_true(send(cfd, chunk, sizeof(chunk), MSG_DONTWAIT) > 0);
	ev = wait_for(loop, IO_OP_RECV, 2000);
	assert_true(ev.res > 0);
	/* Hold the buffer across the close: still ours to release after. */
	assert_int_equal(io_send(c, big, big_len, 0), 0);
	io_close(c);
	drain_close(loop, 1);
	free(big);
	assert_int_equal(io_buf_release(loop, ev.buf), 0);
	assert_int_equal(io_loop_bufs_free(loop), 16);
	assert_int_equal(io_loop_conns(loop), 1);
	io_close(l);
	drain_close(loop, 1);
	close(cfd);
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
}

/* Kernel release at least major.minor. */
static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int a = 0, b = 0;

	assert_int_equal(uname(&u), 0);
	assert_true(sscanf(u.release, "%d.%d", &a, &b) == 2);
	return a > major || (a == major && b >= minor);
}

/* Reads what is there on cfd (non-blocking) into got, checking it against
 * the pattern byte i & 0xff. */
static void read_pattern(int cfd, size_t *got)
{
	uint8_t tmp[65536];
	ssize_t k;

	while ((k = recv(cfd, tmp, sizeof(tmp), MSG_DONTWAIT)) > 0) {
		for (ssize_t i = 0; i < k; i++)
			if (tmp[i] != (uint8_t)((*got + (size_t)i) & 0xff))
				fail_msg("byte %zu is %u", *got + (size_t)i, tmp[i]);
		*got += (size_t)k;
	}
}

/*
 * Quiet sends (io_uring): a lazy send that goes out in full posts no CQE
 * and still completes, with every byte, at once after io_conn_prompt()
 * and else by io_wait()'s timeout; one too big for the socket comes back
 * short and finishes as an ordinary send; io_send() is never quiet;
 * closing with one in flight loses nothing; TOLLGATE_IO_QUIET_SEND=0
 * turns them off.
 */
static void test_io_quiet_send(void **state)
{
	struct io_loop *loop;
	uint16_t port;
	struct io_conn *l, *c;
	size_t big_len = 8u << 20, got = 0;
	uint8_t *big = malloc(big_len), small[997];
	struct io_event ev;
	unsigned long done0;
	int cfd;

	assert_non_null(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (uint8_t)(i & 0xff);
	unsetenv("TOLLGATE_IO_QUIET_SEND");
	loop = loop_new(state, 16, 4096, 64);
	l = listen_any(loop, &port);
	if (kernel_at_least(6, 1))
		assert_true(io_loop_quiet_send(loop));
	if (!io_loop_quiet_send(loop)) {
		print_message("quiet sends are off on this kernel: ordinary sends only\n");
	}
	c = accept_one(loop, port, &cfd);

	/* Small sends, one after another, each completing with all its bytes. */
	done0 = io_loop_quiet_done(loop);
	for (int i = 0; i < 500; i++) {
		size_t n = 1 + (size_t)(i * 7) % sizeof(small);

		for (size_t j = 0; j < n; j++)
			small[j] = (uint8_t)((got + j) & 0xff);
		assert_int_equal(io_send_lazy(c, small, n), 0);
		/* Nothing else wakes the loop: the completion comes at once
		 * when asked for (one wait of up to a second returns it in
		 * well under that), else with io_wait()'s timeout. */
		if (i % 100) {
			uint64_t t0 = now_ms();

			io_conn_prompt(c);
			assert_int_equal(io_wait(loop, &ev, 1, 1000), 1);
			assert_int_equal(ev.op, IO_OP_SEND);
			assert_true(now_ms() - t0 < 500);
		} else {
			ev = wait_for(loop, IO_OP_SEND, 2000);
		}
		assert_ptr_equal(ev.conn, c);
		assert_int_equal(ev.res, (int)n);
		{
			size_t want = got + n;

			while (got < want)
				read_pattern(cfd, &got);
		}
	}
	if (io_loop_quiet_send(loop)) {
		assert_true(io_loop_quiet_done(loop) - done0 >= 400);
		assert_int_equal(io_loop_quiet_short(loop), 0);
	}

	/* 8 MiB to a reader that is not reading yet: short, then finished as
	 * an ordinary send while the reader catches up. */
	/* A prompt send is never quiet. */
	done0 = io_loop_quiet_done(loop);
	assert_int_equal(io_send(c, small, 10, 0), 0);
	ev = wait_for(loop, IO_OP_SEND, 2000);
	assert_int_equal(ev.res, 10);
	assert_int_equal(io_loop_quiet_done(loop), done0);
	{
		uint8_t tmp[10];

		assert_int_equal(recv(cfd, tmp, sizeof(tmp), MSG_WAITALL), 10);
	}

	got = 0;
	assert_int_equal(io_send_lazy(c, big, big_len), 0);
	{
		uint64_t end = now_ms() + 10000;
		bool sent = false;

		while (!sent && now_ms() < end) {
			int n = io_wait(loop, &ev, 1, 5);

			assert_true(n >= 0);
			if (n && ev.op == IO_OP_SEND) {
				assert_int_equal(ev.res, (int)big_len);
				sent = true;
			}
			read_pattern(cfd, &got);
		}
		assert_true(sent);
		while (got < big_len)
			read_pattern(cfd, &got);
	}
	if (io_loop_quiet_send(loop))
		assert_true(io_loop_quiet_short(loop) >= 1);

	/* Closed right after a send is queued: it drains, nothing is stale. */
	assert_int_equal(io_send_lazy(c, small, sizeof(small)), 0);
	io_close(c);
	drain_close(loop, 1);
	io_close(l);
	drain_close(loop, 1);
	close(cfd);
	assert_int_equal(io_loop_stale(loop), 0);
	assert_int_equal(io_loop_conns(loop), 0);
	io_loop_free(loop);

	/* Switched off: ordinary sends, same results. */
	setenv("TOLLGATE_IO_QUIET_SEND", "0", 1);
	loop = loop_new(state, 16, 4096, 64);
	unsetenv("TOLLGATE_IO_QUIET_SEND");
	assert_false(io_loop_quiet_send(loop));
	l = listen_any(loop, &port);
	c = accept_one(loop, port, &cfd);
	got = 0;
	assert_int_equal(io_send_lazy(c, big, 4096), 0);
	ev = wait_for(loop, IO_OP_SEND, 2000);
	assert_int_equal(ev.res, 4096);
	while (got < 4096)
		read_pattern(cfd, &got);
	assert_int_equal(io_loop_quiet_done(loop), 0);
	io_close(c);
	drain_close(loop, 1);
	io_close(l);
	drain_close(loop, 1);
	close(cfd);
	io_loop_free(loop);
	free(big);
}

static void test_io_env_selects_epoll(void **state)
{
	struct io_opts o = { .buf_entries = 8, .buf_size = 512, .max_conns = 8 };
	struct io_loop *loop;

	(void)state;
	setenv("TOLLGATE_IO", "epoll", 1);
	loop = io_loop_new(&o);
	unsetenv("TOLLGATE_IO");
	assert_non_null(loop);
	assert_int_equal(io_loop_backend(loop), IO_BACKEND_EPOLL);
	assert_int_equal(io_loop_setup_flags(loop), 0);
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
	loop = io_loop_new(&o);
	assert_non_null(loop);
	print_message("auto backend: %s, setup flags 0x%x\n",
		      io_backend_name(io_loop_backend(loop)),
		      io_loop_setup_flags(loop));
	assert_int_equal(io_loop_stale(loop), 0);
	io_loop_free(loop);
	o.buf_entries = 6;	/* not a power of two */
	assert_null(io_loop_new(&o));
	assert_int_equal(errno, EINVAL);
}

static void test_io_free_with_work_in_flight(void **state)
{
	struct io_loop *loop = loop_new(state, 16, 4096, 64);
	uint16_t port, bport;
	struct io_conn *c;
	int filler, bfd = blackhole(&bport, &filler), cfd;
	struct sockaddr_in a = loopback(bport);
	size_t big_len = 8u << 20;
	uint8_t *big = calloc(1, big_len);
	struct io_event ev[8];

	assert_non_null(big);
	listen_any(loop, &port);
	c = accept_one(loop, port, &cfd);
	assert_int_equal(io_recv(c, 5000), 0);
	assert_int_equal(io_send(c, big, big_len, 5000), 0);
	assert_non_null(io_connect(loop, (struct sockaddr *)&a, sizeof(a), 5000, NULL));
	assert_int_equal(io_wait(loop, ev, 8, 20), 0);
	/* No close, no drain: io_loop_free() must do both itself. */
	io_loop_free(loop);
	free(big);
	close(cfd);
	close(filler);
	close(bfd);
}

/* Out of fds: accepting reports -EMFILE, pauses instead of spinning, and
 * picks the waiting connections up once fds are back. In a child, so the
 * lowered limit stays there. */
static int emfile_child(enum io_backend b)
{
	struct io_opts o = { .backend = b, .buf_entries = 8, .buf_size = 512,
			     .max_conns = 16 };
	struct io_loop *loop = io_loop_new(&o);
	struct sockaddr_in a = loopback(0);
	struct io_conn *l;
	struct io_event ev[16];
	struct rlimit rl, low;
	int cli[3], emfile = 0, accepted = 0, fd;
	uint64_t end;

	if (!loop)
		return b == IO_BACKEND_URING ? 0 : 20;	/* no io_uring: skip */
	l = io_listen(loop, (struct sockaddr *)&a, sizeof(a), 16, NULL);
	if (!l)
		return 21;
	a = loopback(local_port(io_conn_fd(l)));
	getrlimit(RLIMIT_NOFILE, &rl);
	for (int i = 0; i < 3; i++) {
		cli[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(cli[i], (struct sockaddr *)&a, sizeof(a));
	}
	/* The lowest free fd is the limit: nothing new can be opened. */
	fd = dup(0);
	close(fd);
	low = (struct rlimit){ .rlim_cur = (rlim_t)fd, .rlim_max = rl.rlim_max };
	setrlimit(RLIMIT_NOFILE, &low);
	end = now_ms() + 400;
	while (now_ms() < end) {
		int n = io_wait(loop, ev, 16, 20);

		for (int i = 0; i < n; i++) {
			if (ev[i].op != IO_OP_ACCEPT)
				continue;
			if (ev[i].res == -EMFILE)
				emfile++;
			else if (ev[i].res >= 0)
				return 22;
		}
	}
	/* Paused: a handful of reports in 400 ms, not a busy loop. */
	if (emfile < 1 || emfile > 8)
		return 23;
	setrlimit(RLIMIT_NOFILE, &rl);
	end = now_ms() + 1000;
	while (now_ms() < end && accepted < 3) {
		int n = io_wait(loop, ev, 16, 20);

		for (int i = 0; i < n; i++)
			if (ev[i].op == IO_OP_ACCEPT && ev[i].res >= 0) {
				close(ev[i].res);
				accepted++;
			}
	}
	if (accepted != 3)
		return 24;
	for (int i = 0; i < 3; i++)
		close(cli[i]);
	io_loop_free(loop);
	return 0;
}

static void test_io_accept_pauses_on_emfile(void **state)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (!pid)
		_exit(emfile_child(*(enum io_backend *)*state));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A seccomp profile like a container's: io_uring_setup() is refused. */
static int deny_io_uring(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void test_io_falls_back_when_io_uring_refused(void **state)
{
	static const int errs[] = { EPERM, ENOSYS };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		pid_t pid = fork();
		int st;

		assert_true(pid >= 0);
		if (!pid) {
			struct io_opts o = { .buf_entries = 8, .buf_size = 512,
					     .max_conns = 8 };
			struct io_loop *loop;

			if (deny_io_uring(errs[i]))
				_exit(10);
			loop = io_loop_new(&o);
			if (!loop || io_loop_backend(loop) != IO_BACKEND_EPOLL)
				_exit(11);
			io_loop_free(loop);
			o.backend = IO_BACKEND_URING;	/* asked for: no fallback */
			loop = io_loop_new(&o);
			if (loop || errno != errs[i])
				_exit(12);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
}

#define BOTH(f) \
	{ #f "/io_uring", f, NULL, NULL, &B_URING }, \
	{ #f "/epoll", f, NULL, NULL, &B_EPOLL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_io_echo_concurrent_clients),
		BOTH(test_io_accept_many_with_small_ring),
		BOTH(test_io_client_closes_mid_transfer),
		BOTH(test_io_server_closes_mid_send),
		BOTH(test_io_recv_deadline_fires),
		BOTH(test_io_recv_pause_holds_data_until_resumed),
		BOTH(test_io_poll_reports_readiness),
		BOTH(test_io_connect_refused),
		BOTH(test_io_connect_timeout),
		BOTH(test_io_cancel_then_free_in_flight),
		BOTH(test_io_free_with_work_in_flight),
		BOTH(test_io_accept_pauses_on_emfile),
		{ "test_io_quiet_send/io_uring", test_io_quiet_send, NULL, NULL, &B_URING },
		cmocka_unit_test(test_io_falls_back_when_io_uring_refused),
		cmocka_unit_test(test_io_env_selects_epoll),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
