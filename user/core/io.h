/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's I/O backend: one `struct io_loop` per worker thread,
 * shared-nothing. Two implementations behind the same calls:
 *
 *   io_uring  multishot accept, multishot recv into a provided buffer ring,
 *             send/connect with linked timeouts, IORING_OP_TIMEOUT for receive
 *             deadlines, IORING_OP_ASYNC_CANCEL for teardown (io_uring.c)
 *   epoll     non-blocking sockets, the same buffer pool and semantics
 *             (io_epoll.c), for hosts where io_uring is disabled
 *
 * Completions are delivered as an array of `struct io_event` by io_wait(),
 * never through callbacks, so no user code runs inside the backend.
 *
 * Ownership (see docs/io.md):
 *  - The loop owns every `struct io_conn`. A connection stays valid until
 *    io_wait() hands out its IO_OP_CLOSE event; after that it is gone.
 *  - io_close() cancels whatever is in flight, waits (inside later io_wait()
 *    calls) for every completion, closes the fd and only then reports
 *    IO_OP_CLOSE. Events of the batch already returned may still name the
 *    connection: skip them, but still io_buf_release() their buffers.
 *  - A receive buffer (IO_OP_RECV event with len > 0) belongs to the caller
 *    until io_buf_release(); the ring runs dry if buffers are kept, and
 *    receiving pauses (no data is lost) until some come back.
 *  - io_send() borrows `buf` until its IO_OP_SEND event, or, if the
 *    connection is closed first, until IO_OP_CLOSE.
 *
 * Create, use and free a loop on one thread (IORING_SETUP_SINGLE_ISSUER).
 */
#ifndef TOLLGATE_IO_H
#define TOLLGATE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct io_loop;
struct io_conn;

enum io_backend {
	IO_BACKEND_AUTO = 0,	/* io_uring, else epoll; TOLLGATE_IO overrides */
	IO_BACKEND_URING,
	IO_BACKEND_EPOLL,
};

enum io_op {
	IO_OP_NONE = 0,
	/* res: a new connected fd (the caller owns it: io_conn_adopt() or
	 * close()), or -errno. `conn` is the listener. After -EMFILE,
	 * -ENFILE, -ENOBUFS or -ENOMEM accepting pauses for
	 * TG_IO_ACCEPT_PAUSE_MS, then resumes by itself. */
	IO_OP_ACCEPT,
	/* res > 0: `len` bytes at `data` in buffer `buf` (release it);
	 * res == 0: the peer closed; res == -ETIME: the receive deadline
	 * passed with no data (receiving stays armed); other -errno: receiving
	 * stopped. */
	IO_OP_RECV,
	/* res: bytes sent (all of them), -ETIMEDOUT, or -errno. */
	IO_OP_SEND,
	/* res: 0 connected, -ETIMEDOUT, -ECONNREFUSED, ... */
	IO_OP_CONNECT,
	/* io_poll(): res is the revents (POLLERR/POLLHUP included) or -errno;
	 * `len` says which direction was asked (POLLIN or POLLOUT). */
	IO_OP_POLL,
	/* The connection is gone: nothing is in flight, its fd is closed and
	 * send buffers are the caller's again. `conn` is NULL; `udata` says
	 * which connection it was. */
	IO_OP_CLOSE,
};

struct io_event {
	enum io_op op;
	int res;
	struct io_conn *conn;
	void *udata;		/* the connection's udata */
	const uint8_t *data;	/* IO_OP_RECV with res > 0 */
	uint32_t len;
	uint16_t buf;		/* buffer id for io_buf_release() */
};

/* Zero means the default from limits.h ("io"). */
struct io_opts {
	enum io_backend backend;
	unsigned buf_entries;	/* receive buffers, a power of two */
	unsigned buf_size;	/* bytes per receive buffer */
	unsigned max_conns;	/* connections and listeners of this loop */
};

/* A loop with the backend chosen by opts->backend (NULL: all defaults).
 * AUTO honours TOLLGATE_IO=epoll|uring and falls back to epoll when
 * io_uring is refused (EPERM/ENOSYS from seccomp, missing features).
 * Asking for IO_BACKEND_URING explicitly fails instead of falling back.
 * Returns NULL and sets errno on failure. */
struct io_loop *io_loop_new(const struct io_opts *opts);
/* Cancels and reaps whatever is still in flight (io_uring: bounded to 1 s),
 * closes every fd and frees the loop; NULL is a no-op. Best called once
 * every connection's IO_OP_CLOSE was seen: then no buffer of the caller
 * can still be in the kernel's hands. */
void io_loop_free(struct io_loop *loop);
enum io_backend io_loop_backend(const struct io_loop *loop);
const char *io_backend_name(enum io_backend backend);
/* io_uring setup flags the kernel accepted (0 for epoll). */
unsigned io_loop_setup_flags(const struct io_loop *loop);
/* Connections (and listeners) not yet reported closed. */
unsigned io_loop_conns(const struct io_loop *loop);
/* Receive buffers available to the kernel / the epoll pool. */
unsigned io_loop_bufs_free(const struct io_loop *loop);
/* Completions that named no live connection: always 0 unless a connection
 * was freed with work in flight (a bug; such completions are dropped). */
unsigned long io_loop_stale(const struct io_loop *loop);
/* io_uring: whether sends are quiet (no CQE when a send completes in full
 * as it is submitted; probed at start, TOLLGATE_IO_QUIET_SEND=0 turns it
 * off), how many quiet sends completed in full, and how many came back
 * with a CQE (short, finished as ordinary sends, or failed). 0 for epoll. */
int io_loop_quiet_send(const struct io_loop *loop);
unsigned long io_loop_quiet_done(const struct io_loop *loop);
unsigned long io_loop_quiet_short(const struct io_loop *loop);

/* A SO_REUSEPORT listener accepting continuously (multishot). Returns NULL
 * and sets errno on failure. */
struct io_conn *io_listen(struct io_loop *loop, const struct sockaddr *addr,
			  socklen_t addrlen, int backlog, void *udata);
/* Wraps a connected socket; takes ownership of fd (closed on failure too).
 * Fails with EMFILE once the loop holds max_conns connections. */
struct io_conn *io_conn_adopt(struct io_loop *loop, int fd, void *udata);
/* Starts a non-blocking connect; the result comes as IO_OP_CONNECT, with
 * -ETIMEDOUT after timeout_ms (0: no deadline). */
struct io_conn *io_connect(struct io_loop *loop, const struct sockaddr *addr,
			   socklen_t addrlen, unsigned timeout_ms, void *udata);

/* Arms continuous receiving (again); -ENOTCONN before IO_OP_CONNECT. idle_ms > 0: one IO_OP_RECV -ETIME
 * once no data arrived for that long; calling again restarts the clock. */
int io_recv(struct io_conn *conn, unsigned idle_ms);
/* Stops receiving (backpressure: the other side cannot take more yet) until
 * io_recv() is called again. Data the kernel had already completed may
 * still arrive as IO_OP_RECV events after this call; no data is lost. The
 * receive deadline is disarmed with it. */
int io_recv_pause(struct io_conn *conn);
/* Sends all of buf (borrowed, see above), resubmitting partial sends
 * (-ENOTCONN before IO_OP_CONNECT);
 * timeout_ms bounds the whole send (0: none). One send at a time: -EBUSY. */
int io_send(struct io_conn *conn, const void *buf, size_t len,
	    unsigned timeout_ms);
/* io_send() with no deadline, for a caller that does nothing on the
 * completion but reuse the buffer: with io_uring it may be quiet, and
 * its IO_OP_SEND then comes when the loop next wakes for another event
 * (or io_wait()'s timeout). A caller that acts on the completion (closes
 * after it, resumes a paused peer) uses io_send(), or io_conn_prompt()
 * once it finds it has to wait for a lazy one. */
int io_send_lazy(struct io_conn *conn, const void *buf, size_t len);
/* The caller waits on conn's send: if it is a quiet one, the next
 * io_wait() reports it without sleeping for another event. */
void io_conn_prompt(struct io_conn *conn);
/* One-shot readiness of the fd for a caller that does its own I/O on it
 * (TLS in socket mode, where OpenSSL reads and writes the socket): events
 * is POLLIN or POLLOUT; the two directions may be armed at the same time.
 * Arming a direction already armed is a no-op. Do not mix POLLIN with
 * io_recv() on one connection. */
int io_poll(struct io_conn *conn, unsigned events);
/* Cancel, drain, close, then IO_OP_CLOSE. Calling it twice is a no-op. */
void io_close(struct io_conn *conn);
/* Gives receive buffer `buf` back; -EINVAL if it is not out. */
int io_buf_release(struct io_loop *loop, unsigned buf);

/* Submits pending work and waits up to timeout_ms (-1: no bound, 0: poll)
 * for completions; fills at most max events. Returns their count (0 on
 * timeout) or -errno. */
int io_wait(struct io_loop *loop, struct io_event *ev, int max, int timeout_ms);

int io_conn_fd(const struct io_conn *conn);
void *io_conn_udata(const struct io_conn *conn);
void io_conn_set_udata(struct io_conn *conn, void *udata);
int io_conn_is_closing(const struct io_conn *conn);

/* ---- backend internals: shared by io_uring.c and io_epoll.c only ------ */
#ifdef TOLLGATE_IO_INTERNAL

#include <stdbool.h>
#include <liburing.h>

enum {
	IO_KIND_STREAM = 0,
	IO_KIND_LISTEN,
};

/* In-flight operations of a connection (io_conn.ops). */
enum {
	IO_F_ACCEPT	= 1u << 0,
	IO_F_RECV	= 1u << 1,
	IO_F_SEND	= 1u << 2,
	IO_F_CONNECT	= 1u << 3,
	IO_F_TIMER	= 1u << 4,
	IO_F_POLLIN	= 1u << 5,
	IO_F_POLLOUT	= 1u << 6,
};

struct io_conn {
	struct io_loop *loop;
	void *udata;
	int fd;
	uint32_t idx, gen;
	uint8_t kind;
	bool closing;
	bool dead;		/* fd closed, IO_OP_CLOSE queued */
	unsigned ops;		/* IO_F_* in flight */
	unsigned inflight;	/* io_uring: CQEs still to come */

	bool recv_on;		/* the caller wants data */
	bool starved;		/* on loop->starved: waits for buffers */
	unsigned idle_ms;	/* 0: no receive deadline armed */
	uint64_t recv_last_ns;

	bool send_on;
	const uint8_t *send_buf;
	size_t send_len, send_done;
	uint64_t send_deadline_ns;
	/* io_uring: the send in flight is quiet (see ur_arm_send), the
	 * position of its SQE, whether a CQE reported it short, and its
	 * links on loop->qs_head; no_quiet: the socket refused the flags
	 * (kTLS refuses MSG_WAITALL), so its sends are ordinary. */
	bool qsend, qsend_short, no_quiet;
	unsigned qsend_pos;
	struct io_conn *qs_prev, *qs_next;

	bool connecting;
	uint64_t connect_deadline_ns;
	uint64_t accept_pause_ns;	/* epoll: listener paused until */
	struct sockaddr_storage addr;
	socklen_t addrlen;

	/* Read by the kernel when the SQE is submitted. */
	struct __kernel_timespec ts_timer, ts_send, ts_connect;

	unsigned poll_want;	/* epoll: IO_F_POLLIN/IO_F_POLLOUT armed */
	uint32_t ep_events;	/* epoll interest now registered */
	int ep_err;		/* epoll: connect()'s immediate error */
	bool timed;		/* on loop->timed (epoll deadlines) */
	struct io_conn *t_prev, *t_next;
	struct io_conn *s_prev, *s_next;	/* loop->starved */
	struct io_conn *c_next;			/* loop->closed */
};

struct io_loop {
	enum io_backend backend;
	unsigned setup_flags;
	unsigned buf_entries, buf_size, max_conns;

	struct io_conn **conns;	/* by idx */
	uint32_t *free_idx;
	unsigned n_free, n_live;
	uint32_t gen;

	uint8_t *bufs;		/* buf_entries * buf_size */
	uint8_t *buf_out;	/* 1 while the caller holds buffer i */
	unsigned bufs_free;

	struct io_event *q;	/* completions not yet handed out */
	unsigned q_cap, q_head, q_len;

	struct io_conn *starved;	/* recv paused: no buffers */
	struct io_conn *closed, **closed_tail;

	uint64_t now_ns;
	unsigned long stale;

	/* io_uring */
	struct io_uring ring;
	bool ring_ok;
	unsigned features;	/* IORING_FEAT_* of the ring */
	bool quiet_send;	/* sends post a CQE only when short (probed) */
	bool prompt;		/* io_conn_prompt() since the last wait */
	struct io_conn *qs_head, *qs_tail;	/* quiet sends, in SQ order */
	unsigned long quiet_done, quiet_short;
	struct io_uring_buf_ring *br;
	size_t br_bytes;

	/* epoll */
	int epfd;
	uint16_t *buf_stack;	/* free buffer ids */
	unsigned buf_top;
	struct io_conn *timed;	/* connections with a deadline */
};

uint64_t io_now_ns(void);
bool io_accept_should_pause(int res);
struct io_event *io_q_push(struct io_loop *loop, enum io_op op,
			   struct io_conn *conn, int res);
unsigned io_q_space(const struct io_loop *loop);
void io_starve(struct io_conn *conn);
void io_unstarve(struct io_conn *conn);
void io_closed(struct io_conn *conn);
struct io_conn *io_conn_alloc(struct io_loop *loop, int fd, uint8_t kind,
			      void *udata);

int io_ep_init(struct io_loop *loop);
void io_ep_fini(struct io_loop *loop);
int io_ep_listen(struct io_conn *conn);
int io_ep_adopt(struct io_conn *conn);
int io_ep_connect(struct io_conn *conn);
int io_ep_recv(struct io_conn *conn);
int io_ep_send(struct io_conn *conn);
void io_ep_close(struct io_conn *conn);
int io_ep_recv_pause(struct io_conn *conn);
int io_ep_poll_arm(struct io_conn *conn);
void io_ep_buf_release(struct io_loop *loop, unsigned buf);
int io_ep_poll(struct io_loop *loop, int timeout_ms);

#endif /* TOLLGATE_IO_INTERNAL */

#endif /* TOLLGATE_IO_H */
