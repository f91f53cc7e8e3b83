// SPDX-License-Identifier: Apache-2.0
/*
 * The epoll backend: the io_uring backend's semantics over non-blocking
 * sockets, for hosts where io_uring_setup() is refused (seccomp, sysctl
 * kernel.io_uring_disabled) or TOLLGATE_IO=epoll asks for it.
 *
 * Level-triggered: an fd is registered only while some operation wants it
 * (so a hung-up socket nobody reads cannot spin the loop), and whatever is
 * not processed for lack of queue room is reported again. Nothing is ever
 * in flight in the kernel, so io_close() completes at once. Deadlines are
 * kept on a list of the connections that have one and checked after every
 * epoll_wait(); the wait is shortened to the earliest of them.
 */
#define TOLLGATE_IO_INTERNAL
#include "core/io.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tollgate/limits.h"

int io_ep_init(struct io_loop *loop)
{
	loop->buf_stack = calloc(loop->buf_entries, sizeof(*loop->buf_stack));
	if (!loop->buf_stack)
		return -ENOMEM;
	for (unsigned i = 0; i < loop->buf_entries; i++)
		loop->buf_stack[i] = (uint16_t)(loop->buf_entries - 1 - i);
	loop->buf_top = loop->buf_entries;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int err = -errno;

		free(loop->buf_stack);
		loop->buf_stack = NULL;
		return err;
	}
	return 0;
}

void io_ep_fini(struct io_loop *loop)
{
	if (loop->epfd >= 0) {
		close(loop->epfd);
		loop->epfd = -1;
	}
	free(loop->buf_stack);
	loop->buf_stack = NULL;
}

static void timed_update(struct io_conn *c)
{
	struct io_loop *loop = c->loop;
	bool want = !c->closing &&
		(c->accept_pause_ns ||
		 (c->recv_on && c->idle_ms) ||
		 (c->send_on && c->send_deadline_ns) ||
		 (c->connecting && c->connect_deadline_ns));

	if (want == c->timed)
		return;
	if (want) {
		c->t_prev = NULL;
		c->t_next = loop->timed;
		if (loop->timed)
			loop->timed->t_prev = c;
		loop->timed = c;
	} else {
		if (c->t_prev)
			c->t_prev->t_next = c->t_next;
		else
			loop->timed = c->t_next;
		if (c->t_next)
			c->t_next->t_prev = c->t_prev;
		c->t_prev = c->t_next = NULL;
	}
	c->timed = want;
}

/* Registers exactly the interest the pending operations need. */
static int interest_update(struct io_conn *c)
{
	struct epoll_event ev = { .data.ptr = c };
	uint32_t want = 0;
	int op;

	if (!c->closing) {
		if ((c->kind == IO_KIND_LISTEN && !c->accept_pause_ns) ||
		    (c->recv_on && !c->starved) || (c->poll_want & IO_F_POLLIN))
			want |= EPOLLIN | EPOLLRDHUP;
		if (c->send_on || c->connecting || (c->poll_want & IO_F_POLLOUT))
			want |= EPOLLOUT;
	}
	timed_update(c);
	if (want == c->ep_events)
		return 0;
	if (!want)
		op = EPOLL_CTL_DEL;
	else if (!c->ep_events)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	ev.events = want;
	if (epoll_ctl(c->loop->epfd, op, c->fd, &ev))
		return -errno;
	c->ep_events = want;
	return 0;
}

int io_ep_listen(struct io_conn *c)
{
	return interest_update(c);
}

int io_ep_adopt(struct io_conn *c)
{
	int fl = fcntl(c->fd, F_GETFL);

	if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK))
		return -errno;
	return 0;
}

int io_ep_connect(struct io_conn *c)
{
	if (connect(c->fd, (struct sockaddr *)&c->addr, c->addrlen) &&
	    errno != EINPROGRESS)
		c->ep_err = errno;	/* reported through the event, as io_uring */
	/* A finished or failed socket polls writable or hung up at once. */
	return interest_update(c);
}

int io_ep_recv(struct io_conn *c)
{
	if (!c->loop->buf_top)
		io_starve(c);
	return interest_update(c);
}

int io_ep_recv_pause(struct io_conn *c)
{
	return interest_update(c);
}

int io_ep_poll_arm(struct io_conn *c)
{
	return interest_update(c);
}

static void poll_ready(struct io_conn *c, uint32_t events)
{
	static const struct { unsigned f; uint32_t mask; unsigned dir; } d[] = {
		{ IO_F_POLLIN, EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP, POLLIN },
		{ IO_F_POLLOUT, EPOLLOUT | EPOLLERR | EPOLLHUP, POLLOUT },
	};
	size_t i;

	for (i = 0; i < 2; i++) {
		struct io_event *e;

		if (!(c->poll_want & d[i].f) || !(events & d[i].mask) || !io_q_space(c->loop))
			continue;
		c->poll_want &= ~d[i].f;
		e = io_q_push(c->loop, IO_OP_POLL, c, (int)(events & 0xffff));
		e->len = d[i].dir;
	}
}

static void send_some(struct io_conn *c)
{
	int res;

	while (c->send_done < c->send_len) {
		ssize_t n = send(c->fd, c->send_buf + c->send_done,
				 c->send_len - c->send_done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			res = n < 0 ? -errno : -EPIPE;
			goto out_done;
		}
		c->send_done += (size_t)n;
	}
	res = (int)c->send_len;
out_done:
	c->send_on = false;
	io_q_push(c->loop, IO_OP_SEND, c, res);
}

int io_ep_send(struct io_conn *c)
{
	/* Most sends finish at once: save the wake-up when there is room to
	 * report it. */
	if (!c->connecting && io_q_space(c->loop))
		send_some(c);
	return interest_update(c);
}

void io_ep_close(struct io_conn *c)
{
	/* close() drops the epoll registration; nothing is in flight. */
	c->ep_events = 0;
	timed_update(c);
	io_closed(c);
}

void io_ep_buf_release(struct io_loop *loop, unsigned buf)
{
	loop->buf_stack[loop->buf_top++] = (uint16_t)buf;
}

static void on_accept(struct io_conn *c)
{
	for (int i = 0; i < TG_IO_EPOLL_BATCH && io_q_space(c->loop); i++) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int err;

		if (fd >= 0) {
			io_q_push(c->loop, IO_OP_ACCEPT, c, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		err = -errno;
		if (err == -EAGAIN || err == -EWOULDBLOCK)
			return;
		io_q_push(c->loop, IO_OP_ACCEPT, c, err);
		if (io_accept_should_pause(err))
			c->accept_pause_ns = c->loop->now_ns +
				TG_IO_ACCEPT_PAUSE_MS * 1000000ull;
		return;
	}
}

static void on_readable(struct io_conn *c)
{
	struct io_loop *loop = c->loop;

	for (int i = 0; i < TG_IO_EPOLL_BATCH && c->recv_on; i++) {
		unsigned bid;
		uint8_t *buf;
		ssize_t n;
		struct io_event *e;

		if (!io_q_space(loop))
			return;
		if (!loop->buf_top) {
			io_starve(c);
			return;
		}
		bid = loop->buf_stack[--loop->buf_top];
		buf = loop->bufs + (size_t)bid * loop->buf_size;
		n = recv(c->fd, buf, loop->buf_size, 0);
		if (n > 0) {
			loop->bufs_free--;
			loop->buf_out[bid] = 1;
			c->recv_last_ns = loop->now_ns;
			e = io_q_push(loop, IO_OP_RECV, c, (int)n);
			e->data = buf;
			e->len = (uint32_t)n;
			e->buf = (uint16_t)bid;
			if ((size_t)n < loop->buf_size)
				return;	/* drained; level-triggered says if not */
			continue;
		}
		loop->buf_stack[loop->buf_top++] = (uint16_t)bid;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		c->recv_on = false;
		io_q_push(loop, IO_OP_RECV, c, n < 0 ? -errno : 0);
		return;
	}
}

static void on_connected(struct io_conn *c)
{
	int err = c->ep_err;
	socklen_t len = sizeof(err);

	if (!err && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	c->connecting = false;
	io_q_push(c->loop, IO_OP_CONNECT, c, -err);
}

static void on_event(struct io_conn *c, uint32_t events)
{
	if (c->closing)
		return;
	if (c->kind == IO_KIND_LISTEN) {
		on_accept(c);
		interest_update(c);
		return;
	}
	if (c->connecting) {
		if (io_q_space(c->loop) && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			on_connected(c);
	} else if (c->send_on && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
		   io_q_space(c->loop)) {
		send_some(c);
	}
	if (c->recv_on && (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
		on_readable(c);
	if (c->poll_want)
		poll_ready(c, events);
	interest_update(c);
}

static void check_deadlines(struct io_loop *loop)
{
	struct io_conn *c, *next;
	uint64_t now = loop->now_ns;

	for (c = loop->timed; c; c = next) {
		next = c->t_next;
		if (io_q_space(loop) < 3)
			return;
		if (c->accept_pause_ns && now >= c->accept_pause_ns)
			c->accept_pause_ns = 0;
		if (c->recv_on && c->idle_ms &&
		    now >= c->recv_last_ns + (uint64_t)c->idle_ms * 1000000ull) {
			c->idle_ms = 0;
			io_q_push(loop, IO_OP_RECV, c, -ETIME);
		}
		if (c->send_on && c->send_deadline_ns && now >= c->send_deadline_ns) {
			c->send_on = false;
			io_q_push(loop, IO_OP_SEND, c, -ETIMEDOUT);
		}
		if (c->connecting && c->connect_deadline_ns &&
		    now >= c->connect_deadline_ns) {
			c->connecting = false;
			io_q_push(loop, IO_OP_CONNECT, c, -ETIMEDOUT);
		}
		interest_update(c);
	}
}

/* Milliseconds until the earliest deadline, rounded up; -1 if none. */
static int next_deadline_ms(struct io_loop *loop)
{
	uint64_t now = io_now_ns(), first = UINT64_MAX;

	for (struct io_conn *c = loop->timed; c; c = c->t_next) {
		if (c->recv_on && c->idle_ms) {
			uint64_t d = c->recv_last_ns + (uint64_t)c->idle_ms * 1000000ull;

			if (d < first)
				first = d;
		}
		if (c->accept_pause_ns && c->accept_pause_ns < first)
			first = c->accept_pause_ns;
		if (c->send_on && c->send_deadline_ns && c->send_deadline_ns < first)
			first = c->send_deadline_ns;
		if (c->connecting && c->connect_deadline_ns &&
		    c->connect_deadline_ns < first)
			first = c->connect_deadline_ns;
	}
	if (first == UINT64_MAX)
		return -1;
	if (first <= now)
		return 0;
	return (int)((first - now + 999999) / 1000000);
}

int io_ep_poll(struct io_loop *loop, int timeout_ms)
{
	struct epoll_event evs[TG_IO_EPOLL_BATCH];
	int n, dl = next_deadline_ms(loop);

	if (dl >= 0 && (timeout_ms < 0 || dl < timeout_ms))
		timeout_ms = dl;
	n = epoll_wait(loop->epfd, evs, TG_IO_EPOLL_BATCH, timeout_ms);
	if (n < 0 && errno != EINTR)
		return -errno;
	loop->now_ns = io_now_ns();
	for (int i = 0; i < n; i++)
		on_event(evs[i].data.ptr, evs[i].events);
	check_deadlines(loop);
	return 0;
}
