/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS for the proxy: OpenSSL 3 contexts (server and upstream client) and a
 * per-connection engine the event loop drives.
 *
 * Two connection modes, chosen per listener at startup (docs/tls.md):
 *
 *  - memory mode (tls_conn_new): OpenSSL never touches a socket. The loop
 *    hands in ciphertext it received (tls_feed_in, tls_feed_eof), pulls
 *    plaintext (tls_read), pushes plaintext (tls_write) and takes the
 *    ciphertext to send (tls_pending_out, tls_consume_out). No syscalls
 *    happen inside. Ciphertext is buffered in two fixed-size buffers whose
 *    sizes the caller sets; when one is full the call reports back-pressure
 *    instead of growing. Plaintext is never buffered here beyond the one
 *    record OpenSSL holds.
 *
 *  - socket mode (tls_conn_new_fd): OpenSSL runs on the connection's fd
 *    through a socket BIO. This is the only way kTLS can engage (OpenSSL
 *    enables it from inside the handshake). After the handshake
 *    tls_ktls_engaged() says which directions the kernel took over; the
 *    rest stays in OpenSSL (user-space records over the same fd). A
 *    socket-mode connection cannot switch to memory mode later, which is
 *    why the mode is decided once, from tls_ktls_available().
 *
 * Errors follow the project rule: int functions return >= 0 on success and
 * -errno on failure; constructors return NULL and set errno. Reason strings
 * (tls_conn_error) come from OpenSSL's error queue and the certificate
 * verification result; they never contain key material or plaintext.
 *
 * Threads: a tls_ctx may be shared by every worker (OpenSSL's SSL_CTX is
 * thread-safe for creating connections); a tls_conn belongs to one thread.
 */
#ifndef TOLLGATE_TLS_H
#define TOLLGATE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_ctx;
struct tls_conn;
struct tls_session;

enum tls_version {
	TLS_VERSION_DEFAULT = 0,	/* min: 1.2; max: the highest OpenSSL has */
	TLS_VERSION_1_2,
	TLS_VERSION_1_3,
};

/* One certificate: the PEM chain (leaf first, then intermediates) and its
 * private key (PEM, unencrypted: there is no passphrase prompt). */
struct tls_cert_pair {
	const char *cert_file;
	const char *key_file;
};

#define TLS_MAX_CERTS 2		/* one ECDSA and one RSA */

enum tls_alpn_mode {
	/* A client offering ALPN without "http/1.1" gets no ALPN in the
	 * ServerHello and the handshake proceeds (RFC 7301 §3.2 allows the
	 * server to ignore ALPN; HTTP/1.1 is what it will get). */
	TLS_ALPN_LENIENT = 0,
	/* ... or the handshake fails with no_application_protocol (120),
	 * the other behaviour RFC 7301 §3.2 specifies. */
	TLS_ALPN_STRICT,
};

struct tls_server_opts {
	struct tls_cert_pair certs[TLS_MAX_CERTS];
	int ncerts;			/* 1 or 2; one key type each */
	enum tls_version min_version;
	enum tls_version max_version;
	enum tls_alpn_mode alpn;
	bool no_session_tickets;	/* tickets are on unless this is set */
	/* When set, clients must present a certificate that chains to a CA
	 * in this PEM file (unless client_cert_optional). */
	const char *client_ca_file;
	bool client_cert_optional;
};

struct tls_client_opts {
	/* PEM CA file; NULL means the system trust store. */
	const char *ca_file;
	enum tls_version min_version;
	enum tls_version max_version;
	/* Skip certificate and host-name verification (policy `verify:
	 * false`; the caller logs it). The default verifies. */
	bool no_verify;
	/* Client certificate for mutual TLS; both NULL for none. */
	const char *cert_file;
	const char *key_file;
};

/* Fallible constructors: NULL with errno set (EINVAL for bad options,
 * EPROTO for OpenSSL failures — a bad certificate, key, or mismatch). When
 * `err` is not NULL it receives a one-line reason (at most errlen bytes,
 * NUL-terminated). Borrow the option strings: files are read at once. */
struct tls_ctx *tls_server_ctx_new(const struct tls_server_opts *opts,
				   char *err, size_t errlen);
struct tls_ctx *tls_client_ctx_new(const struct tls_client_opts *opts,
				   char *err, size_t errlen);
/* Connections hold a reference; the context is released when the last of
 * them and this owner let go. NULL is a no-op. */
void tls_ctx_free(struct tls_ctx *ctx);

/* Caps on buffered ciphertext, per direction, in bytes. 0 takes the
 * default (TLS_BUF_DEFAULT). Values below TLS_BUF_MIN are raised to it. */
struct tls_conn_limits {
	size_t in_cap;
	size_t out_cap;
};
#define TLS_BUF_DEFAULT	(64 * 1024)
#define TLS_BUF_MIN	512

/* A connection in memory mode. `host` is used by client contexts only:
 * sent as SNI (unless it is an IP literal, RFC 6066 §3) and matched
 * against the certificate (DNS name or IP address); NULL for a client
 * means no host-name check (the chain is still verified). `limits` may be
 * NULL. Takes a reference on ctx. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const char *host,
			      const struct tls_conn_limits *limits);
/* A connection in socket mode over `fd` (borrowed: never closed here;
 * blocking or not). kTLS engages in the handshake where the kernel and
 * OpenSSL allow it. */
struct tls_conn *tls_conn_new_fd(struct tls_ctx *ctx, int fd,
				 const char *host);
void tls_conn_free(struct tls_conn *conn);

enum tls_hs {
	TLS_HS_DONE = 0,
	TLS_HS_WANT_IO,		/* see tls_conn_want() */
	TLS_HS_ERROR,		/* see tls_conn_error(); the connection is dead */
};

/* What the last call that returned TLS_HS_WANT_IO or -EAGAIN waits for.
 * Memory mode: WANT_READ = feed more ciphertext, WANT_WRITE = drain
 * tls_pending_out. Socket mode: poll the fd for that. */
#define TLS_WANT_READ	0x1
#define TLS_WANT_WRITE	0x2
int tls_conn_want(const struct tls_conn *conn);

/* Drives the handshake. Idempotent once done. In memory mode, drain
 * tls_pending_out after every call whatever it returns (an error may
 * leave an alert to send). */
enum tls_hs tls_handshake(struct tls_conn *conn);
bool tls_conn_is_handshake_done(const struct tls_conn *conn);

/* Memory mode: ciphertext received from the socket. Copies and returns
 * how much was taken (0 .. len); less than len means the inbound cap is
 * full: call tls_read to consume, then feed the rest. -EINVAL in socket
 * mode, -EPIPE after tls_feed_eof. */
ssize_t tls_feed_in(struct tls_conn *conn, const void *buf, size_t len);
/* Memory mode: the peer closed its sending side (recv returned 0). */
void tls_feed_eof(struct tls_conn *conn);

/* Plaintext out. Returns bytes read (> 0), 0 at a clean close (the peer's
 * close_notify), -EAGAIN when more input (or output room) is needed,
 * -ECONNRESET when the stream ended without close_notify (truncation, RFC
 * 8446 §6.1), -EPROTO on any other TLS failure (tls_conn_error says why).
 * Drives the handshake if it is not done yet. */
ssize_t tls_read(struct tls_conn *conn, void *buf, size_t len);
/* Plaintext in. Returns bytes accepted (> 0; may be less than len), or
 * -EAGAIN when the outbound cap is full (drain, then retry with the same
 * remaining bytes), -EPIPE after shutdown, -EPROTO on failure. len 0
 * returns 0. */
ssize_t tls_write(struct tls_conn *conn, const void *buf, size_t len);

/* Memory mode: the ciphertext waiting to be sent, as one contiguous span
 * (*data valid until the next call on conn). Returns its length, 0 when
 * nothing is pending. More may follow once this span is consumed. */
size_t tls_pending_out(struct tls_conn *conn, const void **data);
/* Memory mode: `n` bytes of the span were sent. */
void tls_consume_out(struct tls_conn *conn, size_t n);

/* Sends close_notify (drain tls_pending_out afterwards). Returns 1 when
 * both sides have sent close_notify, 0 when ours is sent and the peer's
 * has not arrived, -EAGAIN when the output is full, -EPROTO on failure. */
int tls_shutdown(struct tls_conn *conn);

/* Reason for the last failure: OpenSSL's error string and, for a failed
 * certificate check, the verification error ("" when none). */
const char *tls_conn_error(const struct tls_conn *conn);

/* Negotiated values, after the handshake. */
const char *tls_conn_alpn(const struct tls_conn *conn);	/* NULL: none */
const char *tls_conn_version(const struct tls_conn *conn);	/* "TLSv1.3" */
const char *tls_conn_cipher(const struct tls_conn *conn);
const char *tls_conn_sni(const struct tls_conn *conn);	/* server: from client */
bool tls_conn_is_resumed(const struct tls_conn *conn);
bool tls_conn_has_peer_cert(const struct tls_conn *conn);

/* Client-side resumption. tls_session_get takes a resumable session from
 * a finished connection (TLS 1.3 tickets arrive after the handshake: call
 * it after a tls_read has consumed them), or NULL. tls_session_set offers
 * it on a new connection before its handshake (borrows sess). */
struct tls_session *tls_session_get(struct tls_conn *conn);
int tls_session_set(struct tls_conn *conn, struct tls_session *sess);
void tls_session_free(struct tls_session *sess);

/* kTLS. tls_ktls_probe attaches the "tls" ULP to a connected loopback TCP
 * socket: 1 when the kernel accepts it, 0 when it refuses (*ulp_errno gets
 * its errno: ENOENT without CONFIG_TLS, EOPNOTSUPP, ...), -errno when the
 * probe itself could not run. tls_ktls_available caches the answer (and
 * is false when OpenSSL was built without kTLS): the listener's mode. */
int tls_ktls_probe(int *ulp_errno);
bool tls_ktls_available(void);
/* Socket mode after the handshake: which directions the kernel offloaded.
 * Returns true when either did. Memory mode: always false. */
bool tls_ktls_engaged(const struct tls_conn *conn, bool *send, bool *recv);
bool tls_conn_is_socket_mode(const struct tls_conn *conn);

#endif /* TOLLGATE_TLS_H */
