// SPDX-License-Identifier: Apache-2.0
/*
 * The I/O loop: what both backends share (connection table, completion
 * queue, buffer accounting, backend choice) and the io_uring backend.
 *
 * user_data encoding, as in liburing's examples/proxy.c: the operation in
 * the top 8 bits, the connection's generation in the next 32 and its table
 * index in the low 24. A completion whose generation does not match is a
 * bug (a connection is only freed once nothing is in flight), so it is
 * dropped rather than followed.
 */
#define TOLLGATE_IO_INTERNAL
#include "core/io.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tollgate/limits.h"

enum {
	UD_ACCEPT = 1,
	UD_RECV,
	UD_SEND,
	UD_CONNECT,
	UD_TIMER,
	UD_LINK,	/* a linked timeout */
	UD_CANCEL,
	UD_POLLIN,
	UD_POLLOUT,
	UD_QSEND,	/* a quiet send: a CQE only when it came back short */
};

#define IO_BGID 0

static uint64_t ud_make(const struct io_conn *c, unsigned op)
{
	return (uint64_t)op << 56 | (uint64_t)c->gen << 24 | c->idx;
}

uint64_t io_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void ns_to_ts(struct __kernel_timespec *ts, uint64_t ns)
{
	ts->tv_sec = (long long)(ns / 1000000000ull);
	ts->tv_nsec = (long long)(ns % 1000000000ull);
}

const char *io_backend_name(enum io_backend backend)
{
	switch (backend) {
	case IO_BACKEND_AUTO: return "auto";
	case IO_BACKEND_URING: return "io_uring";
	case IO_BACKEND_EPOLL: return "epoll";
	}
	return "?";
}

/* ---- shared: queue, table, lists ------------------------------------------ */

unsigned io_q_space(const struct io_loop *loop)
{
	return loop->q_cap - loop->q_len;
}

struct io_event *io_q_push(struct io_loop *loop, enum io_op op,
			   struct io_conn *conn, int res)
{
	struct io_event *e;

	/* Callers check io_q_space() before producing; this is the backstop. */
	if (!io_q_space(loop))
		return NULL;
	e = &loop->q[(loop->q_head + loop->q_len) % loop->q_cap];
	loop->q_len++;
	memset(e, 0, sizeof(*e));
	e->op = op;
	e->res = res;
	e->conn = conn;
	e->udata = conn ? conn->udata : NULL;
	return e;
}

void io_starve(struct io_conn *c)
{
	struct io_loop *loop = c->loop;

	if (c->starved)
		return;
	c->starved = true;
	c->s_prev = NULL;
	c->s_next = loop->starved;
	if (loop->starved)
		loop->starved->s_prev = c;
	loop->starved = c;
}

void io_unstarve(struct io_conn *c)
{
	if (!c->starved)
		return;
	if (c->s_prev)
		c->s_prev->s_next = c->s_next;
	else
		c->loop->starved = c->s_next;
	if (c->s_next)
		c->s_next->s_prev = c->s_prev;
	c->s_prev = c->s_next = NULL;
	c->starved = false;
}

/* Nothing is in flight any more: close the fd and queue IO_OP_CLOSE. */
void io_closed(struct io_conn *c)
{
	struct io_loop *loop = c->loop;

	io_unstarve(c);
	c->dead = true;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->c_next = NULL;
	*loop->closed_tail = c;
	loop->closed_tail = &c->c_next;
}

struct io_conn *io_conn_alloc(struct io_loop *loop, int fd, uint8_t kind,
			      void *udata)
{
	struct io_conn *c;

	if (!loop->n_free) {
		errno = EMFILE;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loop = loop;
	c->fd = fd;
	c->kind = kind;
	c->udata = udata;
	c->idx = loop->free_idx[--loop->n_free];
	c->gen = ++loop->gen;
	loop->conns[c->idx] = c;
	loop->n_live++;
	return c;
}

static void conn_free(struct io_conn *c)
{
	struct io_loop *loop = c->loop;

	loop->conns[c->idx] = NULL;
	loop->free_idx[loop->n_free++] = c->idx;
	loop->n_live--;
	free(c);
}

static struct io_conn *conn_lookup(struct io_loop *loop, uint64_t ud)
{
	uint32_t idx = (uint32_t)(ud & 0xffffff);
	uint32_t gen = (uint32_t)(ud >> 24);
	struct io_conn *c;

	if (idx >= loop->max_conns)
		return NULL;
	c = loop->conns[idx];
	if (!c || c->gen != gen)
		return NULL;
	return c;
}

bool io_accept_should_pause(int res)
{
	return res == -EMFILE || res == -ENFILE || res == -ENOBUFS ||
	       res == -ENOMEM;
}

/* ---- io_uring backend ----------------------------------------------------- */

static struct io_uring_sqe *get_sqe(struct io_loop *loop)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

	if (!sqe) {
		/* SQ full: flush it to the kernel and take a fresh entry. */
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	return sqe;
}

/* The setup flags we would like, best first; the kernel decides. */
static int ring_setup(struct io_loop *loop)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	struct io_uring_params p;
	int err = -EINVAL;

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
		p.cq_entries = TG_IO_SQ_ENTRIES * 4;
		err = io_uring_queue_init_params(TG_IO_SQ_ENTRIES, &loop->ring, &p);
		if (err == -EINVAL) {
			/* Old kernels refuse SUBMIT_ALL too; try without. */
			memset(&p, 0, sizeof(p));
			p.flags = tries[i] | IORING_SETUP_CQSIZE;
			p.cq_entries = TG_IO_SQ_ENTRIES * 4;
			err = io_uring_queue_init_params(TG_IO_SQ_ENTRIES,
							 &loop->ring, &p);
		}
		if (!err) {
			loop->setup_flags = p.flags;
			loop->features = p.features;
			loop->ring_ok = true;
			return 0;
		}
		if (err != -EINVAL)
			return err;	/* EPERM, ENOSYS, ENOMEM: no point */
	}
	return err;
}

/* liburing 2.3 has no io_uring_setup_buf_ring(): map the ring ourselves
 * (page aligned, as IORING_REGISTER_PBUF_RING requires) and register it. */
static int buf_ring_setup(struct io_loop *loop)
{
	struct io_uring_buf_reg reg;
	int mask = io_uring_buf_ring_mask(loop->buf_entries);
	void *mem;
	int err;

	loop->br_bytes = loop->buf_entries * sizeof(struct io_uring_buf);
	mem = mmap(NULL, loop->br_bytes, PROT_READ | PROT_WRITE,
		   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)(uintptr_t)mem;
	reg.ring_entries = loop->buf_entries;
	reg.bgid = IO_BGID;
	err = io_uring_register_buf_ring(&loop->ring, &reg, 0);
	if (err) {
		munmap(mem, loop->br_bytes);
		return err;
	}
	loop->br = mem;
	io_uring_buf_ring_init(loop->br);
	for (unsigned i = 0; i < loop->buf_entries; i++)
		io_uring_buf_ring_add(loop->br, loop->bufs + (size_t)i * loop->buf_size,
				      loop->buf_size, (unsigned short)i, mask, (int)i);
	io_uring_buf_ring_advance(loop->br, (int)loop->buf_entries);
	return 0;
}

/* Multishot recv needs 6.0; refuse io_uring where the probe lacks the ops
 * we use instead of failing on the first connection. */
static int ring_probe(struct io_loop *loop)
{
	static const int ops[] = {
		IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND,
		IORING_OP_CONNECT, IORING_OP_TIMEOUT, IORING_OP_LINK_TIMEOUT,
		IORING_OP_ASYNC_CANCEL,
	};
	struct io_uring_probe *probe = io_uring_get_probe_ring(&loop->ring);
	int err = 0;

	if (!probe)
		return -ENOSYS;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!io_uring_opcode_supported(probe, ops[i]))
			err = -ENOSYS;
	io_uring_free_probe(probe);
	return err;
}

/* Multishot recv with a buffer ring (6.0) is what the whole backend rests
 * on, and no opcode probe reveals it: try it on a socketpair. */
static int ring_probe_multishot(struct io_loop *loop)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int sv[2], err, got = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	if (write(sv[1], "p", 1) != 1) {
		err = -EIO;
		goto out_close;
	}
	sqe = io_uring_get_sqe(&loop->ring);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = IO_BGID;
	io_uring_sqe_set_data64(sqe, 1);
	err = io_uring_submit(&loop->ring);
	if (err < 0)
		goto out_close;
	/* Data first, then EOF ends the multishot; an old kernel ends it at
	 * once with -EINVAL. */
	err = -ENOSYS;
	for (int i = 0; i < 4; i++) {
		struct __kernel_timespec ts = { .tv_sec = 1 };

		if (io_uring_wait_cqe_timeout(&loop->ring, &cqe, &ts))
			break;
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			io_uring_buf_ring_add(loop->br, loop->bufs +
				(size_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT) * loop->buf_size,
				loop->buf_size,
				(unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT),
				io_uring_buf_ring_mask(loop->buf_entries), 0);
			io_uring_buf_ring_advance(loop->br, 1);
		}
		if (cqe->res == 1 && (cqe->flags & IORING_CQE_F_MORE))
			got = 1;
		if (!(cqe->flags & IORING_CQE_F_MORE)) {
			err = got ? 0 : -ENOSYS;
			io_uring_cqe_seen(&loop->ring, cqe);
			break;
		}
		io_uring_cqe_seen(&loop->ring, cqe);
		shutdown(sv[1], SHUT_WR);
	}
out_close:
	close(sv[0]);
	close(sv[1]);
	return err;
}

/* An environment switch set to turn something off. */
static bool getenv_off(const char *name)
{
	const char *v = getenv(name);

	return v && (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "no"));
}

/*
 * Quiet sends (see ur_arm_send) rest on three kernel behaviours that no
 * feature flag names: a send with MSG_DONTWAIT and MSG_WAITALL that goes
 * out in full as it is submitted posts no CQE under IOSQE_CQE_SKIP_SUCCESS;
 * one that cannot (the socket is full) is never parked to retry later but
 * fails at once, with a CQE; and that CQE counts the bytes that did go.
 * Checked here on a socketpair with a small send buffer; any surprise
 * leaves quiet sends off.
 */
static bool ring_probe_quiet(struct io_loop *loop)
{
	/* Never freed: if the kernel parked the big send after all, it may
	 * still read it after the probe has given up. */
	enum { BIG = 1 << 20 };
	static const uint8_t big[BIG];
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int sv[2], sndbuf = 4096;
	uint8_t tmp[4096];
	ssize_t k, k2, got = 0;
	bool ok = false;

	if (!(loop->features & IORING_FEAT_CQE_SKIP) || getenv_off("TOLLGATE_IO_QUIET_SEND"))
		return false;
	/* A ring of its own: whatever a failed probe leaves behind goes
	 * with it, never to the loop's ring. */
	if (io_uring_queue_init(4, &ring, 0))
		return false;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		io_uring_queue_exit(&ring);
		return false;
	}
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)))
		goto out;
	/* 1: in full, no CQE; the bytes are there. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, sv[0], "probe", 5, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_WAITALL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, 1);
	if (io_uring_submit(&ring) != 1 || io_uring_cq_ready(&ring) ||
	    recv(sv[1], tmp, sizeof(tmp), MSG_DONTWAIT) != 5)
		goto out;
	/* 2: too big for the socket: a CQE at once, with what went. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, sv[0], big, BIG, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_WAITALL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, 2);
	if (io_uring_submit(&ring) != 1 || io_uring_peek_cqe(&ring, &cqe))
		goto out;
	k = cqe->user_data == 2 ? cqe->res : INT32_MIN;
	io_uring_cqe_seen(&ring, cqe);
	if (k != -EAGAIN && (k <= 0 || k >= BIG))
		goto out;
	while ((k2 = recv(sv[1], tmp, sizeof(tmp), MSG_DONTWAIT)) > 0)
		got += k2;
	ok = got == (k > 0 ? k : 0) && !io_uring_cq_ready(&ring);
out:
	close(sv[0]);
	close(sv[1]);
	io_uring_queue_exit(&ring);
	return ok;
}

static void ring_fini(struct io_loop *loop)
{
	if (loop->br) {
		io_uring_unregister_buf_ring(&loop->ring, IO_BGID);
		munmap(loop->br, loop->br_bytes);
		loop->br = NULL;
	}
	if (loop->ring_ok) {
		io_uring_queue_exit(&loop->ring);
		loop->ring_ok = false;
	}
}

static int ring_init(struct io_loop *loop)
{
	int err = ring_setup(loop);

	if (err)
		return err;
	err = ring_probe(loop);
	if (!err)
		err = buf_ring_setup(loop);
	if (!err)
		err = ring_probe_multishot(loop);
	if (err)
		ring_fini(loop);
	else
		loop->quiet_send = ring_probe_quiet(loop);
	return err;
}

static int ur_arm_accept(struct io_conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(c->loop);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_multishot_accept(sqe, c->fd, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, ud_make(c, UD_ACCEPT));
	c->ops |= IO_F_ACCEPT;
	c->inflight++;
	return 0;
}

static int ur_arm_recv(struct io_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->ops & IO_F_RECV)
		return 0;
	if (!c->loop->bufs_free) {
		/* The kernel would answer -ENOBUFS at once: wait for a release. */
		io_starve(c);
		return 0;
	}
	sqe = get_sqe(c->loop);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = IO_BGID;
	io_uring_sqe_set_data64(sqe, ud_make(c, UD_RECV));
	c->ops |= IO_F_RECV;
	c->inflight++;
	return 0;
}

/* One timer per connection for the receive deadline. Data does not move it
 * (that would cost an SQE per receive); when it fires early relative to the
 * last data, it is re-armed for the rest. */
static int ur_arm_timer(struct io_conn *c, uint64_t ns)
{
	struct io_uring_sqe *sqe;

	if (c->ops & IO_F_TIMER)
		return 0;
	sqe = get_sqe(c->loop);
	if (!sqe)
		return -EBUSY;
	ns_to_ts(&c->ts_timer, ns);
	io_uring_prep_timeout(sqe, &c->ts_timer, 0, 0);
	io_uring_sqe_set_data64(sqe, ud_make(c, UD_TIMER));
	c->ops |= IO_F_TIMER;
	c->inflight++;
	return 0;
}

static int ur_link_timeout(struct io_conn *c, struct __kernel_timespec *ts,
			   uint64_t deadline_ns)
{
	struct io_uring_sqe *sqe = get_sqe(c->loop);
	uint64_t now = io_now_ns();

	if (!sqe)
		return -EBUSY;
	ns_to_ts(ts, deadline_ns > now ? deadline_ns - now : 1);
	io_uring_prep_link_timeout(sqe, ts, 0);
	io_uring_sqe_set_data64(sqe, ud_make(c, UD_LINK));
	c->inflight++;
	return 0;
}

static void qs_link(struct io_conn *c)
{
	struct io_loop *loop = c->loop;

	c->qsend = true;
	c->qsend_short = false;
	c->qs_next = NULL;
	c->qs_prev = loop->qs_tail;
	if (loop->qs_tail)
		loop->qs_tail->qs_next = c;
	else
		loop->qs_head = c;
	loop->qs_tail = c;
}

static void qs_unlink(struct io_conn *c)
{
	struct io_loop *loop = c->loop;

	if (c->qs_prev)
		c->qs_prev->qs_next = c->qs_next;
	else
		loop->qs_head = c->qs_next;
	if (c->qs_next)
		c->qs_next->qs_prev = c->qs_prev;
	else
		loop->qs_tail = c->qs_prev;
	c->qs_prev = c->qs_next = NULL;
	c->qsend = c->qsend_short = false;
}

/*
 * A send. The first attempt of an io_send_lazy() is quiet where the kernel
 * allows (loop->quiet_send): MSG_DONTWAIT | MSG_WAITALL with
 * IOSQE_CQE_SKIP_SUCCESS, so one that goes out in full as it is submitted
 * (nearly all of them) posts no CQE and its completion is known when the
 * submitting io_uring_enter() returns (ur_quiet_done). The wait for the
 * next event is then that same call, not a second one after reaping the
 * send's CQE. One that does not fit posts a CQE with what went, and the
 * rest goes as an ordinary send that waits for room.
 */
static int ur_arm_send(struct io_conn *c, bool may_quiet)
{
	struct io_uring_sqe *sqe;
	bool quiet = may_quiet && c->loop->quiet_send && !c->no_quiet &&
		     !c->send_deadline_ns;

	/* Two SQEs must be adjacent for IOSQE_IO_LINK: make room first. */
	if (io_uring_sq_space_left(&c->loop->ring) < 2)
		io_uring_submit(&c->loop->ring);
	sqe = get_sqe(c->loop);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_send(sqe, c->fd, c->send_buf + c->send_done,
			   c->send_len - c->send_done,
			   MSG_NOSIGNAL | (quiet ? MSG_DONTWAIT | MSG_WAITALL : 0));
	c->ops |= IO_F_SEND;
	c->inflight++;
	if (quiet) {
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		io_uring_sqe_set_data64(sqe, ud_make(c, UD_QSEND));
		c->qsend_pos = c->loop->ring.sq.sqe_tail - 1;
		qs_link(c);
		return 0;
	}
	io_uring_sqe_set_data64(sqe, ud_make(c, UD_SEND));
	if (c->send_deadline_ns) {
		sqe->flags |= IOSQE_IO_LINK;
		return ur_link_timeout(c, &c->ts_send, c->send_deadline_ns);
	}
	return 0;
}

static int ur_arm_connect(struct io_conn *c)
{
	struct io_uring_sqe *sqe;

	if (io_uring_sq_space_left(&c->loop->ring) < 2)
		io_uring_submit(&c->loop->ring);
	sqe = get_sqe(c->loop);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->addr, c->addrlen);
	io_uring_sqe_set_data64(sqe, ud_make(c, UD_CONNECT));
	c->ops |= IO_F_CONNECT;
	c->inflight++;
	if (c->connect_deadline_ns) {
		sqe->flags |= IOSQE_IO_LINK;
		return ur_link_timeout(c, &c->ts_connect, c->connect_deadline_ns);
	}
	return 0;
}

static void ur_cancel(struct io_conn *c, unsigned flag, unsigned op)
{
	struct io_uring_sqe *sqe;

	if (!(c->ops & flag))
		return;
	sqe = get_sqe(c->loop);
	if (!sqe)
		return;	/* cannot happen after a submit; the op ends on its own */
	io_uring_prep_cancel64(sqe, ud_make(c, op), 0);
	io_uring_sqe_set_data64(sqe, ud_make(c, UD_CANCEL));
	c->inflight++;
}

static void ur_close(struct io_conn *c)
{
	/* A linked timeout goes with the request it guards. */
	ur_cancel(c, IO_F_ACCEPT, UD_ACCEPT);
	ur_cancel(c, IO_F_RECV, UD_RECV);
	if (!c->qsend)	/* a quiet send is never parked: nothing to cancel */
		ur_cancel(c, IO_F_SEND, UD_SEND);
	ur_cancel(c, IO_F_CONNECT, UD_CONNECT);
	ur_cancel(c, IO_F_TIMER, UD_TIMER);
	ur_cancel(c, IO_F_POLLIN, UD_POLLIN);
	ur_cancel(c, IO_F_POLLOUT, UD_POLLOUT);
	if (!c->inflight)
		io_closed(c);
}

static void ur_buf_recycle(struct io_loop *loop, unsigned bid)
{
	io_uring_buf_ring_add(loop->br, loop->bufs + (size_t)bid * loop->buf_size,
			      loop->buf_size, (unsigned short)bid,
			      io_uring_buf_ring_mask(loop->buf_entries), 0);
	io_uring_buf_ring_advance(loop->br, 1);
}

static void ur_on_recv(struct io_conn *c, struct io_uring_cqe *cqe)
{
	struct io_loop *loop = c->loop;
	bool more = cqe->flags & IORING_CQE_F_MORE;
	struct io_event *e;

	if (!more) {
		c->ops &= ~IO_F_RECV;
		c->inflight--;
	}
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		loop->bufs_free--;
		if (cqe->res <= 0 || c->closing) {
			ur_buf_recycle(loop, bid);
			loop->bufs_free++;
		} else {
			loop->buf_out[bid] = 1;
			c->recv_last_ns = loop->now_ns;
			e = io_q_push(loop, IO_OP_RECV, c, cqe->res);
			e->data = loop->bufs + (size_t)bid * loop->buf_size;
			e->len = (uint32_t)cqe->res;
			e->buf = (uint16_t)bid;
		}
	}
	if (c->closing) {
		if (!c->inflight)
			io_closed(c);
		return;
	}
	if (cqe->res == -ENOBUFS) {
		io_starve(c);
	} else if (cqe->res == 0 || (cqe->res < 0 && cqe->res != -ECANCELED)) {
		c->recv_on = false;
		io_q_push(loop, IO_OP_RECV, c, cqe->res);
	} else if (!more && c->recv_on) {
		/* The kernel may end a multishot at any time; re-arm. */
		ur_arm_recv(c);
	}
}

static void ur_on_timer(struct io_conn *c, int res)
{
	struct io_loop *loop = c->loop;
	uint64_t due;

	c->ops &= ~IO_F_TIMER;
	c->inflight--;
	if (c->kind == IO_KIND_LISTEN) {
		/* The pause after a resource error is over. */
		if (!c->closing && !(c->ops & IO_F_ACCEPT))
			ur_arm_accept(c);
		return;
	}
	if (c->closing || res != -ETIME || !c->recv_on || !c->idle_ms)
		return;
	due = c->recv_last_ns + (uint64_t)c->idle_ms * 1000000ull;
	if (loop->now_ns >= due) {
		c->idle_ms = 0;
		io_q_push(loop, IO_OP_RECV, c, -ETIME);
	} else {
		ur_arm_timer(c, due - loop->now_ns);
	}
}

static void ur_on_send(struct io_conn *c, int res)
{
	bool quiet = c->qsend;

	c->ops &= ~IO_F_SEND;
	c->inflight--;
	if (quiet) {
		qs_unlink(c);
		/* Nothing went: wait for room. */
		if (res == -EAGAIN)
			res = 0;
		/* The socket takes no MSG_WAITALL (kTLS): the check comes
		 * before any byte goes, so send it all the ordinary way. */
		if (res == -EOPNOTSUPP || res == -EINVAL) {
			c->no_quiet = true;
			res = 0;
		}
	}
	if (c->closing)
		return;
	if (res == -ECANCELED)
		res = -ETIMEDOUT;	/* only the linked timeout cancels it */
	if (res > 0 || (quiet && res == 0)) {
		c->send_done += (size_t)res;
		if (c->send_done < c->send_len) {
			if (c->send_deadline_ns && c->loop->now_ns >= c->send_deadline_ns)
				res = -ETIMEDOUT;
			else if (!ur_arm_send(c, false))
				return;
			else
				res = -ENOMEM;
		} else {
			res = (int)c->send_len;
		}
	} else if (res == 0) {
		res = -EPIPE;
	}
	c->send_on = false;
	io_q_push(c->loop, IO_OP_SEND, c, res);
}

static void ur_on_connect(struct io_conn *c, int res)
{
	c->ops &= ~IO_F_CONNECT;
	c->inflight--;
	if (c->closing)
		return;
	if (res == -ECANCELED)
		res = -ETIMEDOUT;
	c->connecting = false;
	io_q_push(c->loop, IO_OP_CONNECT, c, res);
}

static void ur_on_accept(struct io_conn *c, struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->ops &= ~IO_F_ACCEPT;
		c->inflight--;
	}
	if (c->closing) {
		if (cqe->res >= 0)
			close(cqe->res);
		return;
	}
	if (cqe->res != -ECANCELED)
		io_q_push(c->loop, IO_OP_ACCEPT, c, cqe->res);
	if (c->ops & IO_F_ACCEPT)
		return;
	if (io_accept_should_pause(cqe->res))
		ur_arm_timer(c, TG_IO_ACCEPT_PAUSE_MS * 1000000ull);
	else
		ur_arm_accept(c);
}

static void ur_cqe(struct io_loop *loop, struct io_uring_cqe *cqe)
{
	unsigned op = (unsigned)(cqe->user_data >> 56);
	struct io_conn *c = conn_lookup(loop, cqe->user_data);

	if (!c || c->dead) {
		/* Nothing may complete once a connection is declared drained:
		 * count it, never act on it, but a buffer must go back. */
		loop->stale++;
		if (cqe->flags & IORING_CQE_F_BUFFER)
			ur_buf_recycle(loop, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	switch (op) {
	case UD_ACCEPT:
		ur_on_accept(c, cqe);
		break;
	case UD_RECV:
		ur_on_recv(c, cqe);
		return;	/* handles its own teardown */
	case UD_QSEND:
		loop->quiet_short++;
		/* fall through */
	case UD_SEND:
		ur_on_send(c, cqe->res);
		break;
	case UD_CONNECT:
		ur_on_connect(c, cqe->res);
		break;
	case UD_TIMER:
		ur_on_timer(c, cqe->res);
		break;
	case UD_POLLIN:
	case UD_POLLOUT: {
		unsigned f = op == UD_POLLIN ? IO_F_POLLIN : IO_F_POLLOUT;
		struct io_event *e;

		c->ops &= ~f;
		c->inflight--;
		if (!c->closing && cqe->res != -ECANCELED) {
			e = io_q_push(loop, IO_OP_POLL, c, cqe->res);
			e->len = op == UD_POLLIN ? POLLIN : POLLOUT;
		}
		break;
	}
	case UD_LINK:
	case UD_CANCEL:
		c->inflight--;
		break;
	}
	if (c->closing && !c->inflight)
		io_closed(c);
}

/* Whether the kernel has taken quiet send c's SQE (its outcome is then
 * known: a CQE if it came back short, else it went in full). */
static bool qs_taken(const struct io_conn *c, unsigned khead)
{
	return (int)(khead - c->qsend_pos) > 0;
}

static bool quiet_ready(const struct io_loop *loop)
{
	return loop->qs_head &&
	       qs_taken(loop->qs_head, io_uring_smp_load_acquire(loop->ring.sq.khead));
}

/*
 * The quiet sends the kernel has taken and no CQE reported short went out
 * in full: they complete here, before this wake-up's CQEs are reaped
 * (where their CQEs would have been). A CQE in the ring names the short
 * ones; a CQ overflow might hide one, so nothing completes until the next
 * io_uring_enter() has flushed it.
 */
static void ur_quiet_done(struct io_loop *loop)
{
	unsigned khead = io_uring_smp_load_acquire(loop->ring.sq.khead), head;
	struct io_uring_cqe *cqe;
	struct io_conn *c, *next;

	if (!loop->qs_head || !qs_taken(loop->qs_head, khead) ||
	    (IO_URING_READ_ONCE(*loop->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW))
		return;
	io_uring_for_each_cqe(&loop->ring, head, cqe) {
		if ((unsigned)(cqe->user_data >> 56) == UD_QSEND &&
		    (c = conn_lookup(loop, cqe->user_data)) && c->qsend)
			c->qsend_short = true;
	}
	for (c = loop->qs_head; c && qs_taken(c, khead); c = next) {
		next = c->qs_next;
		if (c->qsend_short)
			continue;	/* its CQE finishes it */
		if (!io_q_space(loop))
			break;		/* the rest after the queue drains */
		loop->quiet_done++;
		ur_on_send(c, (int)(c->send_len - c->send_done));
		if (c->closing && !c->inflight)
			io_closed(c);
	}
}

/* Each CQE yields at most one event; stop reaping while the queue is full
 * (the rest wait in the CQ ring). */
static int ur_poll(struct io_loop *loop, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int err;

	/* Someone waits on a quiet send: submit, do not sleep. */
	if (loop->prompt && loop->qs_head)
		timeout_ms = 0;
	loop->prompt = false;
	if (timeout_ms != 0) {
		struct __kernel_timespec ts, *tsp = NULL;

		if (timeout_ms > 0) {
			ns_to_ts(&ts, (uint64_t)timeout_ms * 1000000ull);
			tsp = &ts;
		}
		err = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, tsp, NULL);
		if (err < 0 && err != -ETIME && err != -EINTR)
			return err;
	} else {
		err = io_uring_submit_and_get_events(&loop->ring);
		if (err < 0 && err != -EINTR && err != -EBUSY)
			return err;
	}
	loop->now_ns = io_now_ns();
	ur_quiet_done(loop);
	io_uring_for_each_cqe(&loop->ring, head, cqe) {
		if (io_q_space(loop) < 1)
			break;
		ur_cqe(loop, cqe);
		n++;
	}
	io_uring_cq_advance(&loop->ring, n);
	return 0;
}

/* Buffers came back: resume receivers that ran dry. */
static void feed_starved(struct io_loop *loop)
{
	while (loop->starved && loop->bufs_free) {
		struct io_conn *c = loop->starved;

		io_unstarve(c);
		if (c->closing || !c->recv_on)
			continue;
		if (loop->backend == IO_BACKEND_URING)
			ur_arm_recv(c);
		else
			io_ep_recv(c);
	}
}

/* ---- the interface ----------------------------------------------------------- */

static int choose_backend(enum io_backend want)
{
	const char *env = getenv("TOLLGATE_IO");

	if (want != IO_BACKEND_AUTO)
		return want;
	if (env && !strcmp(env, "epoll"))
		return IO_BACKEND_EPOLL;
	if (env && (!strcmp(env, "uring") || !strcmp(env, "io_uring")))
		return IO_BACKEND_URING;
	return IO_BACKEND_AUTO;
}

struct io_loop *io_loop_new(const struct io_opts *opts)
{
	struct io_opts o = opts ? *opts : (struct io_opts){0};
	struct io_loop *loop;
	int want, err;

	if (!o.buf_entries)
		o.buf_entries = TG_IO_BUF_ENTRIES_DEFAULT;
	if (!o.buf_size)
		o.buf_size = TG_IO_BUF_SIZE_DEFAULT;
	if (!o.max_conns)
		o.max_conns = TG_IO_CONNS_DEFAULT;
	if (o.buf_entries > TG_IO_BUF_ENTRIES_MAX ||
	    (o.buf_entries & (o.buf_entries - 1)) ||
	    o.buf_size < TG_IO_BUF_SIZE_MIN || o.buf_size > TG_IO_BUF_SIZE_MAX ||
	    o.max_conns > TG_IO_CONNS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	loop->epfd = -1;
	loop->buf_entries = o.buf_entries;
	loop->buf_size = o.buf_size;
	loop->max_conns = o.max_conns;
	loop->closed_tail = &loop->closed;
	/* Room for every buffer's data plus a handful of events per connection;
	 * reaping stops when it is full, so this bounds memory, not progress. */
	loop->q_cap = o.buf_entries + 4 * o.max_conns;
	loop->conns = calloc(o.max_conns, sizeof(*loop->conns));
	loop->free_idx = calloc(o.max_conns, sizeof(*loop->free_idx));
	loop->buf_out = calloc(o.buf_entries, 1);
	loop->q = calloc(loop->q_cap, sizeof(*loop->q));
	loop->bufs = aligned_alloc(4096, (size_t)o.buf_entries * o.buf_size);
	if (!loop->conns || !loop->free_idx || !loop->buf_out || !loop->q ||
	    !loop->bufs) {
		err = -ENOMEM;
		goto out_free_loop;
	}
	for (unsigned i = 0; i < o.max_conns; i++)
		loop->free_idx[i] = o.max_conns - 1 - i;
	loop->n_free = o.max_conns;
	loop->bufs_free = o.buf_entries;

	want = choose_backend(o.backend);
	err = -ENOSYS;
	if (want != IO_BACKEND_EPOLL) {
		err = ring_init(loop);
		if (!err)
			loop->backend = IO_BACKEND_URING;
		else if (want == IO_BACKEND_URING)
			goto out_free_loop;
	}
	if (err) {
		err = io_ep_init(loop);
		if (err)
			goto out_free_loop;
		loop->backend = IO_BACKEND_EPOLL;
	}
	loop->now_ns = io_now_ns();
	return loop;

out_free_loop:
	io_loop_free(loop);
	errno = -err;
	return NULL;
}

/* Cancels everything still in flight and reaps it (bounded), so that the
 * kernel is done with every buffer before it is freed. */
static void ring_drain_all(struct io_loop *loop)
{
	uint64_t end = io_now_ns() + 1000000000ull;
	bool busy = true;

	for (unsigned i = 0; i < loop->max_conns; i++)
		if (loop->conns[i])
			io_close(loop->conns[i]);
	while (busy && io_now_ns() < end) {
		loop->q_len = 0;	/* nobody will read these events */
		if (ur_poll(loop, 10))
			break;
		busy = false;
		for (unsigned i = 0; i < loop->max_conns; i++)
			if (loop->conns[i] && !loop->conns[i]->dead)
				busy = true;
	}
}

void io_loop_free(struct io_loop *loop)
{
	if (!loop)
		return;
	if (loop->conns && loop->ring_ok && loop->br)
		ring_drain_all(loop);
	if (loop->conns) {
		for (unsigned i = 0; i < loop->max_conns; i++) {
			struct io_conn *c = loop->conns[i];

			if (!c)
				continue;
			if (c->fd >= 0)
				close(c->fd);
			free(c);
			loop->conns[i] = NULL;
		}
	}
	/* Queue_exit waits for the kernel to drop its references, so the
	 * buffers below are ours again afterwards. */
	ring_fini(loop);
	io_ep_fini(loop);
	free(loop->bufs);
	free(loop->q);
	free(loop->buf_out);
	free(loop->free_idx);
	free(loop->conns);
	free(loop);
}

enum io_backend io_loop_backend(const struct io_loop *loop)
{
	return loop->backend;
}

unsigned io_loop_setup_flags(const struct io_loop *loop)
{
	return loop->backend == IO_BACKEND_URING ? loop->setup_flags : 0;
}

unsigned io_loop_conns(const struct io_loop *loop)
{
	return loop->n_live;
}

unsigned io_loop_bufs_free(const struct io_loop *loop)
{
	return loop->bufs_free;
}

unsigned long io_loop_stale(const struct io_loop *loop)
{
	return loop->stale;
}

void io_conn_prompt(struct io_conn *c)
{
	if (c && c->qsend)
		c->loop->prompt = true;
}

int io_loop_quiet_send(const struct io_loop *loop)
{
	return loop->backend == IO_BACKEND_URING && loop->quiet_send;
}

unsigned long io_loop_quiet_done(const struct io_loop *loop)
{
	return loop->quiet_done;
}

unsigned long io_loop_quiet_short(const struct io_loop *loop)
{
	return loop->quiet_short;
}

int io_conn_fd(const struct io_conn *conn)
{
	return conn->fd;
}

void *io_conn_udata(const struct io_conn *conn)
{
	return conn->udata;
}

void io_conn_set_udata(struct io_conn *conn, void *udata)
{
	conn->udata = udata;
}

int io_conn_is_closing(const struct io_conn *conn)
{
	return conn->closing;
}

static void set_nodelay(int fd)
{
	int one = 1;

	/* Best effort: not a TCP socket (tests, unix) is fine. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct io_conn *io_listen(struct io_loop *loop, const struct sockaddr *addr,
			  socklen_t addrlen, int backlog, void *udata)
{
	struct io_conn *c;
	int one = 1, fd, err;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC |
		    (loop->backend == IO_BACKEND_EPOLL ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return NULL;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, addr, addrlen) || listen(fd, backlog)) {
		err = errno;
		goto out_close_fd;
	}
	c = io_conn_alloc(loop, fd, IO_KIND_LISTEN, udata);
	if (!c) {
		err = errno;
		goto out_close_fd;
	}
	err = loop->backend == IO_BACKEND_URING ? -ur_arm_accept(c)
						 : -io_ep_listen(c);
	if (err) {
		c->fd = -1;
		conn_free(c);
		goto out_close_fd;
	}
	return c;

out_close_fd:
	close(fd);
	errno = err;
	return NULL;
}

struct io_conn *io_conn_adopt(struct io_loop *loop, int fd, void *udata)
{
	struct io_conn *c = io_conn_alloc(loop, fd, IO_KIND_STREAM, udata);
	int err;

	if (!c) {
		err = errno;
		close(fd);
		errno = err;
		return NULL;
	}
	set_nodelay(fd);
	if (loop->backend == IO_BACKEND_EPOLL) {
		err = io_ep_adopt(c);
		if (err) {
			conn_free(c);
			close(fd);
			errno = -err;
			return NULL;
		}
	}
	return c;
}

struct io_conn *io_connect(struct io_loop *loop, const struct sockaddr *addr,
			   socklen_t addrlen, unsigned timeout_ms, void *udata)
{
	struct io_conn *c;
	int fd, err;

	if (addrlen > sizeof(c->addr)) {
		errno = EINVAL;
		return NULL;
	}
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC |
		    (loop->backend == IO_BACKEND_EPOLL ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return NULL;
	c = io_conn_alloc(loop, fd, IO_KIND_STREAM, udata);
	if (!c) {
		err = errno;
		close(fd);
		errno = err;
		return NULL;
	}
	set_nodelay(fd);
	memcpy(&c->addr, addr, addrlen);
	c->addrlen = addrlen;
	c->connecting = true;
	c->connect_deadline_ns = timeout_ms ?
		io_now_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
	err = loop->backend == IO_BACKEND_URING ? ur_arm_connect(c)
						 : io_ep_connect(c);
	if (err) {
		/* A linked timeout may be queued already: tear down properly. */
		io_close(c);
		errno = -err;
		return NULL;
	}
	return c;
}

int io_recv(struct io_conn *c, unsigned idle_ms)
{
	struct io_loop *loop = c->loop;
	int err;

	if (c->closing || c->kind != IO_KIND_STREAM)
		return -EINVAL;
	if (c->connecting)
		return -ENOTCONN;
	c->recv_on = true;
	c->idle_ms = idle_ms;
	c->recv_last_ns = io_now_ns();
	if (loop->backend == IO_BACKEND_EPOLL)
		return io_ep_recv(c);
	err = ur_arm_recv(c);
	if (!err && idle_ms)
		err = ur_arm_timer(c, (uint64_t)idle_ms * 1000000ull);
	return err;
}

int io_poll(struct io_conn *c, unsigned events)
{
	unsigned f = events == POLLIN ? IO_F_POLLIN : IO_F_POLLOUT;
	struct io_uring_sqe *sqe;

	if (c->closing || c->kind != IO_KIND_STREAM ||
	    (events != POLLIN && events != POLLOUT))
		return -EINVAL;
	if (c->loop->backend == IO_BACKEND_EPOLL) {
		c->poll_want |= f;
		return io_ep_poll_arm(c);
	}
	if (c->ops & f)
		return 0;
	sqe = get_sqe(c->loop);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, c->fd, events);
	io_uring_sqe_set_data64(sqe, ud_make(c, events == POLLIN ? UD_POLLIN : UD_POLLOUT));
	c->ops |= f;
	c->inflight++;
	return 0;
}

int io_recv_pause(struct io_conn *c)
{
	if (c->closing || c->kind != IO_KIND_STREAM)
		return -EINVAL;
	if (!c->recv_on)
		return 0;
	c->recv_on = false;
	c->idle_ms = 0;
	io_unstarve(c);
	if (c->loop->backend == IO_BACKEND_EPOLL)
		return io_ep_recv_pause(c);
	/* The multishot ends with -ECANCELED and is not re-armed while
	 * recv_on is false; io_recv() re-arms it (or, if the cancel has not
	 * completed yet, the completion does). */
	ur_cancel(c, IO_F_RECV, UD_RECV);
	return 0;
}

static int send_start(struct io_conn *c, const void *buf, size_t len,
		      unsigned timeout_ms, bool lazy)
{
	if (c->closing || c->kind != IO_KIND_STREAM || !len || len > INT32_MAX)
		return -EINVAL;
	if (c->connecting)
		return -ENOTCONN;
	if (c->send_on)
		return -EBUSY;
	c->send_on = true;
	c->send_buf = buf;
	c->send_len = len;
	c->send_done = 0;
	c->send_deadline_ns = timeout_ms ?
		io_now_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
	if (c->loop->backend == IO_BACKEND_EPOLL)
		return io_ep_send(c);
	return ur_arm_send(c, lazy);
}

int io_send(struct io_conn *c, const void *buf, size_t len, unsigned timeout_ms)
{
	return send_start(c, buf, len, timeout_ms, false);
}

int io_send_lazy(struct io_conn *c, const void *buf, size_t len)
{
	return send_start(c, buf, len, 0, true);
}

void io_close(struct io_conn *c)
{
	if (!c || c->closing)
		return;
	c->closing = true;
	c->recv_on = false;
	io_unstarve(c);
	if (c->loop->backend == IO_BACKEND_URING)
		ur_close(c);
	else
		io_ep_close(c);
}

int io_buf_release(struct io_loop *loop, unsigned buf)
{
	if (buf >= loop->buf_entries || !loop->buf_out[buf])
		return -EINVAL;
	loop->buf_out[buf] = 0;
	loop->bufs_free++;
	if (loop->backend == IO_BACKEND_URING)
		ur_buf_recycle(loop, buf);
	else
		io_ep_buf_release(loop, buf);
	return 0;
}

int io_wait(struct io_loop *loop, struct io_event *ev, int max, int timeout_ms)
{
	int n = 0, err;

	if (max <= 0)
		return -EINVAL;
	feed_starved(loop);
	if (loop->q_len || loop->closed ||
	    (loop->backend == IO_BACKEND_URING && quiet_ready(loop)))
		timeout_ms = 0;
	if (io_q_space(loop)) {
		err = loop->backend == IO_BACKEND_URING ? ur_poll(loop, timeout_ms)
							 : io_ep_poll(loop, timeout_ms);
		if (err)
			return err;
	}
	while (n < max && loop->q_len) {
		struct io_event *e = &loop->q[loop->q_head];

		loop->q_head = (loop->q_head + 1) % loop->q_cap;
		loop->q_len--;
		if (e->conn && e->conn->closing) {
			/* Closed after this was queued: drop it, keep the buffer. */
			if (e->op == IO_OP_RECV && e->len)
				io_buf_release(loop, e->buf);
			else if (e->op == IO_OP_ACCEPT && e->res >= 0)
				close(e->res);
			continue;
		}
		ev[n++] = *e;
	}
	/* Close events go last, once nothing queued can name the connection. */
	while (n < max && !loop->q_len && loop->closed) {
		struct io_conn *c = loop->closed;

		loop->closed = c->c_next;
		if (!loop->closed)
			loop->closed_tail = &loop->closed;
		memset(&ev[n], 0, sizeof(ev[n]));
		ev[n].op = IO_OP_CLOSE;
		ev[n].udata = c->udata;
		n++;
		conn_free(c);
	}
	return n;
}
