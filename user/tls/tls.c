// SPDX-License-Identifier: Apache-2.0
/*
 * TLS contexts and the connection engine (see tls.h and docs/tls.md).
 *
 * Memory mode uses an OpenSSL BIO pair rather than two BIO_s_mem: a pair
 * has fixed-size ring buffers (the caller's caps, so back-pressure comes
 * for free: SSL_write reports WANT_WRITE when the outbound ring is full)
 * and lets the loop send straight out of the ring (BIO_nread0/BIO_nread)
 * without another copy.
 */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_ERR_MAX 256

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	bool is_server;
};

struct tls_conn {
	SSL *ssl;
	BIO *net;		/* memory mode: our end of the pair; NULL in socket mode */
	int fd;			/* socket mode: borrowed fd; -1 in memory mode */
	int want;		/* TLS_WANT_* from the last call that would block */
	bool hs_done;
	bool failed;		/* a fatal error: never call SSL_shutdown after it */
	bool eof_fed;
	char err[TLS_ERR_MAX];
};

/* ALPN wire format (RFC 7301 §3.1): length-prefixed protocol names. */
static const unsigned char alpn_http11[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };

/* ---- errors ------------------------------------------------------------ */

/* Drains this thread's OpenSSL error queue into `buf`: the first two
 * entries ("lib:reason"), which name the cause; the rest are call sites. */
static void drain_errors(char *buf, size_t len, const char *prefix)
{
	size_t off = 0;
	unsigned long e;
	int n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (prefix)
		off = (size_t)snprintf(buf, len, "%s", prefix);
	while ((e = ERR_get_error()) != 0) {
		char one[160];

		if (n++ >= 2 || off >= len - 1)
			continue;
		ERR_error_string_n(e, one, sizeof(one));
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					off ? ": " : "", one);
	}
	if (!n && !off)
		snprintf(buf, len, "unknown TLS error");
}

static void set_err(char *err, size_t errlen, const char *what)
{
	char tmp[TLS_ERR_MAX];

	if (!err || !errlen) {
		ERR_clear_error();
		return;
	}
	drain_errors(tmp, sizeof(tmp), NULL);
	snprintf(err, errlen, "%s: %s", what, tmp);
}

/* 0 for a max means "the highest this OpenSSL supports". */
static int proto(enum tls_version v, int dflt)
{
	switch (v) {
	case TLS_VERSION_1_2:
		return TLS1_2_VERSION;
	case TLS_VERSION_1_3:
		return TLS1_3_VERSION;
	case TLS_VERSION_DEFAULT:
	default:
		return dflt;
	}
}

/* Encrypted keys are refused rather than prompted for on a terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return 0;
}

/* ---- contexts ---------------------------------------------------------- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	bool strict = (uintptr_t)arg != 0;
	unsigned char *sel = NULL;

	(void)ssl;
	if (SSL_select_next_proto(&sel, outlen, alpn_http11, sizeof(alpn_http11),
				  in, inlen) == OPENSSL_NPN_NEGOTIATED) {
		*out = sel;
		return SSL_TLSEXT_ERR_OK;
	}
	/* RFC 7301 §3.2: no overlap → fatal no_application_protocol, or
	 * (lenient) answer without ALPN and let HTTP/1.1 be assumed. */
	return strict ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

static struct tls_ctx *ctx_alloc(const SSL_METHOD *method, bool is_server,
				 enum tls_version minv, enum tls_version maxv)
{
	struct tls_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->is_server = is_server;
	ctx->ssl_ctx = SSL_CTX_new(method);
	if (!ctx->ssl_ctx) {
		free(ctx);
		errno = ENOMEM;
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx->ssl_ctx, proto(minv, TLS1_2_VERSION)) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx->ssl_ctx, proto(maxv, 0)) != 1) {
		SSL_CTX_free(ctx->ssl_ctx);
		free(ctx);
		errno = EINVAL;
		return NULL;
	}
	/* Partial writes and moving buffers: the loop writes what fits and
	 * retries from wherever its buffer now lives. */
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_ENABLE_KTLS | SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_default_passwd_cb(ctx->ssl_ctx, no_password);
	return ctx;
}

struct tls_ctx *tls_server_ctx_new(const struct tls_server_opts *opts,
				   char *err, size_t errlen)
{
	struct tls_ctx *ctx;
	char what[TLS_ERR_MAX];
	int i;

	if (err && errlen)
		err[0] = '\0';
	if (!opts || opts->ncerts < 1 || opts->ncerts > TLS_MAX_CERTS) {
		if (err)
			snprintf(err, errlen, "server TLS needs 1 to %d certificates",
				 TLS_MAX_CERTS);
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < opts->ncerts; i++) {
		if (!opts->certs[i].cert_file || !opts->certs[i].key_file) {
			if (err)
				snprintf(err, errlen, "certificate %d: cert and key files are required", i);
			errno = EINVAL;
			return NULL;
		}
	}
	ERR_clear_error();
	ctx = ctx_alloc(TLS_server_method(), true, opts->min_version,
			opts->max_version);
	if (!ctx) {
		set_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);

	/* One certificate per key type; OpenSSL picks per client. Each key
	 * must follow its certificate (SSL_CTX_use_PrivateKey_file matches
	 * the key to the certificate of the same type). */
	for (i = 0; i < opts->ncerts; i++) {
		const struct tls_cert_pair *p = &opts->certs[i];

		if (SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, p->cert_file) != 1) {
			snprintf(what, sizeof(what), "certificate %s", p->cert_file);
			goto out_err;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx, p->key_file, SSL_FILETYPE_PEM) != 1) {
			snprintf(what, sizeof(what), "private key %s", p->key_file);
			goto out_err;
		}
		if (SSL_CTX_check_private_key(ctx->ssl_ctx) != 1) {
			snprintf(what, sizeof(what), "key %s does not match %s",
				 p->key_file, p->cert_file);
			goto out_err;
		}
	}

	SSL_CTX_set_alpn_select_cb(ctx->ssl_ctx, alpn_select,
				   (void *)(uintptr_t)(opts->alpn == TLS_ALPN_STRICT));

	/* Resumption is stateless (tickets): nothing per session is kept on
	 * the server, so memory stays bounded and every worker sharing this
	 * context can resume any ticket. */
	SSL_CTX_set_session_id_context(ctx->ssl_ctx, (const unsigned char *)"tollgate", 8);
	SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
	if (opts->no_session_tickets) {
		SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx->ssl_ctx, 0);
	}

	if (opts->client_ca_file) {
		STACK_OF(X509_NAME) *names;
		int mode = SSL_VERIFY_PEER;

		if (SSL_CTX_load_verify_locations(ctx->ssl_ctx, opts->client_ca_file, NULL) != 1) {
			snprintf(what, sizeof(what), "client CA %s", opts->client_ca_file);
			goto out_err;
		}
		names = SSL_load_client_CA_file(opts->client_ca_file);
		if (names)
			SSL_CTX_set_client_CA_list(ctx->ssl_ctx, names);
		if (!opts->client_cert_optional)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ctx->ssl_ctx, mode, NULL);
	}
	return ctx;

out_err:
	set_err(err, errlen, what);
	tls_ctx_free(ctx);
	errno = EPROTO;
	return NULL;
}

struct tls_ctx *tls_client_ctx_new(const struct tls_client_opts *opts,
				   char *err, size_t errlen)
{
	struct tls_ctx *ctx;
	char what[TLS_ERR_MAX];

	if (err && errlen)
		err[0] = '\0';
	if (!opts || (!opts->cert_file != !opts->key_file)) {
		if (err)
			snprintf(err, errlen, "client certificate needs both cert and key");
		errno = EINVAL;
		return NULL;
	}
	ERR_clear_error();
	ctx = ctx_alloc(TLS_client_method(), false, opts->min_version,
			opts->max_version);
	if (!ctx) {
		set_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	if (opts->ca_file) {
		if (SSL_CTX_load_verify_locations(ctx->ssl_ctx, opts->ca_file, NULL) != 1) {
			snprintf(what, sizeof(what), "CA file %s", opts->ca_file);
			goto out_err;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx->ssl_ctx) != 1) {
		snprintf(what, sizeof(what), "system trust store");
		goto out_err;
	}
	SSL_CTX_set_verify(ctx->ssl_ctx, opts->no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	/* Note the inverted return convention: 0 is success. */
	if (SSL_CTX_set_alpn_protos(ctx->ssl_ctx, alpn_http11, sizeof(alpn_http11)) != 0) {
		snprintf(what, sizeof(what), "ALPN");
		goto out_err;
	}
	if (opts->cert_file) {
		if (SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, opts->cert_file) != 1) {
			snprintf(what, sizeof(what), "certificate %s", opts->cert_file);
			goto out_err;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx, opts->key_file, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx->ssl_ctx) != 1) {
			snprintf(what, sizeof(what), "private key %s", opts->key_file);
			goto out_err;
		}
	}
	/* Sessions are handed to the caller (tls_session_get); no cache. */
	SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
	return ctx;

out_err:
	set_err(err, errlen, what);
	tls_ctx_free(ctx);
	errno = EPROTO;
	return NULL;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	/* Live connections hold their own reference on the SSL_CTX. */
	SSL_CTX_free(ctx->ssl_ctx);
	ctx->ssl_ctx = NULL;
	free(ctx);
}

/* ---- connections ------------------------------------------------------- */

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static struct tls_conn *conn_alloc(struct tls_ctx *ctx, const char *host)
{
	struct tls_conn *conn;

	if (!ctx || !ctx->ssl_ctx) {
		errno = EINVAL;
		return NULL;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn)
		return NULL;
	conn->fd = -1;
	ERR_clear_error();
	conn->ssl = SSL_new(ctx->ssl_ctx);
	if (!conn->ssl)
		goto out_free_conn;
	if (ctx->is_server) {
		SSL_set_accept_state(conn->ssl);
		return conn;
	}
	SSL_set_connect_state(conn->ssl);
	if (host && *host) {
		/* SNI carries DNS names only (RFC 6066 §3); SSL_set1_host takes
		 * both and checks an IP literal against iPAddress SANs. */
		if (!is_ip_literal(host) && SSL_set_tlsext_host_name(conn->ssl, host) != 1)
			goto out_free_ssl;
		if (SSL_set1_host(conn->ssl, host) != 1)
			goto out_free_ssl;
		/* Partial wildcards ("f*.example.com") are not honoured. */
		SSL_set_hostflags(conn->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}
	return conn;

out_free_ssl:
	SSL_free(conn->ssl);
out_free_conn:
	ERR_clear_error();
	free(conn);
	errno = EINVAL;
	return NULL;
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const char *host,
			      const struct tls_conn_limits *limits)
{
	size_t in_cap = limits && limits->in_cap ? limits->in_cap : TLS_BUF_DEFAULT;
	size_t out_cap = limits && limits->out_cap ? limits->out_cap : TLS_BUF_DEFAULT;
	struct tls_conn *conn;
	BIO *inner = NULL;

	if (in_cap < TLS_BUF_MIN)
		in_cap = TLS_BUF_MIN;
	if (out_cap < TLS_BUF_MIN)
		out_cap = TLS_BUF_MIN;
	if (in_cap > INT_MAX || out_cap > INT_MAX) {
		errno = EINVAL;
		return NULL;
	}
	conn = conn_alloc(ctx, host);
	if (!conn)
		return NULL;
	/* inner's write buffer is what SSL produces (outbound); net's write
	 * buffer is what the loop feeds in (inbound). */
	if (BIO_new_bio_pair(&inner, out_cap, &conn->net, in_cap) != 1) {
		ERR_clear_error();
		tls_conn_free(conn);
		errno = ENOMEM;
		return NULL;
	}
	SSL_set_bio(conn->ssl, inner, inner);	/* SSL owns inner now */
	return conn;
}

struct tls_conn *tls_conn_new_fd(struct tls_ctx *ctx, int fd, const char *host)
{
	struct tls_conn *conn;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	conn = conn_alloc(ctx, host);
	if (!conn)
		return NULL;
	/* SSL_set_fd makes a socket BIO with BIO_NOCLOSE: the fd stays ours.
	 * kTLS needs exactly this BIO type. */
	if (SSL_set_fd(conn->ssl, fd) != 1) {
		ERR_clear_error();
		tls_conn_free(conn);
		errno = ENOMEM;
		return NULL;
	}
	conn->fd = fd;
	return conn;
}

void tls_conn_free(struct tls_conn *conn)
{
	if (!conn)
		return;
	SSL_free(conn->ssl);	/* frees the inner half of the pair */
	conn->ssl = NULL;
	BIO_free(conn->net);
	conn->net = NULL;
	free(conn);
}

/* Maps the outcome of an SSL_* call (ret <= 0) to -errno and records why.
 * Must run right after the call, before anything else touches the
 * thread's error queue. */
static int map_result(struct tls_conn *conn, int ret, const char *op)
{
	int e = SSL_get_error(conn->ssl, ret);
	int saved_errno = errno;
	unsigned long peek;

	conn->want = 0;
	switch (e) {
	case SSL_ERROR_WANT_READ:
		conn->want = TLS_WANT_READ;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		conn->want = TLS_WANT_WRITE;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return 0;
	case SSL_ERROR_SYSCALL:
		conn->failed = true;
		if (ERR_peek_error()) {
			drain_errors(conn->err, sizeof(conn->err), NULL);
			return -EPROTO;
		}
		/* Socket mode: a transport error (or an EOF OpenSSL did not
		 * classify): either way the stream is cut short. */
		snprintf(conn->err, sizeof(conn->err), "%s: %s", op,
			 saved_errno ? strerror(saved_errno) : "unexpected EOF");
		return saved_errno && saved_errno != ECONNRESET ? -saved_errno : -ECONNRESET;
	case SSL_ERROR_SSL:
	default:
		conn->failed = true;
		peek = ERR_peek_error();
		if (ERR_GET_LIB(peek) == ERR_LIB_SSL &&
		    ERR_GET_REASON(peek) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			drain_errors(conn->err, sizeof(conn->err),
				     "truncated: EOF without close_notify");
			return -ECONNRESET;
		}
		drain_errors(conn->err, sizeof(conn->err), NULL);
		if (!conn->hs_done) {
			long vr = SSL_get_verify_result(conn->ssl);

			if (vr != X509_V_OK) {
				size_t off = strlen(conn->err);

				snprintf(conn->err + off, sizeof(conn->err) - off,
					 "; verify: %s", X509_verify_cert_error_string(vr));
			}
		}
		return -EPROTO;
	}
}

enum tls_hs tls_handshake(struct tls_conn *conn)
{
	int ret;

	if (conn->hs_done)
		return TLS_HS_DONE;
	if (conn->failed)
		return TLS_HS_ERROR;
	ERR_clear_error();
	ret = SSL_do_handshake(conn->ssl);
	if (ret == 1) {
		conn->hs_done = true;
		conn->want = 0;
		return TLS_HS_DONE;
	}
	ret = map_result(conn, ret, "handshake");
	if (ret == -EAGAIN)
		return TLS_HS_WANT_IO;
	conn->failed = true;
	if (ret == 0)
		snprintf(conn->err, sizeof(conn->err), "handshake: peer closed");
	return TLS_HS_ERROR;
}

bool tls_conn_is_handshake_done(const struct tls_conn *conn)
{
	/* tls_read() may finish the handshake without returning data (a
	 * client whose peer has not spoken yet): ask OpenSSL, not only our
	 * flag. */
	return conn->hs_done || SSL_is_init_finished(conn->ssl);
}

int tls_conn_want(const struct tls_conn *conn)
{
	return conn->want;
}

ssize_t tls_feed_in(struct tls_conn *conn, const void *buf, size_t len)
{
	int n;

	if (!conn->net)
		return -EINVAL;
	if (conn->eof_fed)
		return -EPIPE;
	if (!len)
		return 0;
	if (len > INT_MAX)
		len = INT_MAX;
	n = BIO_write(conn->net, buf, (int)len);
	if (n <= 0) {
		ERR_clear_error();
		return 0;	/* full: back-pressure */
	}
	return n;
}

void tls_feed_eof(struct tls_conn *conn)
{
	if (!conn->net || conn->eof_fed)
		return;
	conn->eof_fed = true;
	BIO_shutdown_wr(conn->net);
}

ssize_t tls_read(struct tls_conn *conn, void *buf, size_t len)
{
	size_t got = 0;
	int ret;

	if (conn->failed)
		return -EPROTO;
	if (!len)
		return 0;
	ERR_clear_error();
	ret = SSL_read_ex(conn->ssl, buf, len, &got);
	if (ret == 1) {
		conn->hs_done = true;
		conn->want = 0;
		return (ssize_t)got;
	}
	return map_result(conn, ret, "read");
}

ssize_t tls_write(struct tls_conn *conn, const void *buf, size_t len)
{
	size_t done = 0;
	int ret;

	if (conn->failed)
		return -EPROTO;
	if (SSL_get_shutdown(conn->ssl) & SSL_SENT_SHUTDOWN)
		return -EPIPE;
	if (!len)
		return 0;
	ERR_clear_error();
	ret = SSL_write_ex(conn->ssl, buf, len, &done);
	if (ret == 1) {
		conn->hs_done = true;
		conn->want = 0;
		return (ssize_t)done;
	}
	ret = map_result(conn, ret, "write");
	if (ret == 0) {
		/* The peer closed; writing on is pointless. */
		snprintf(conn->err, sizeof(conn->err), "write: peer sent close_notify");
		return -EPIPE;
	}
	return ret;
}

size_t tls_pending_out(struct tls_conn *conn, const void **data)
{
	char *p = NULL;
	int n;

	*data = NULL;
	if (!conn->net)
		return 0;
	n = BIO_nread0(conn->net, &p);
	if (n <= 0) {
		ERR_clear_error();
		return 0;
	}
	*data = p;
	return (size_t)n;
}

void tls_consume_out(struct tls_conn *conn, size_t n)
{
	char *p;

	while (conn->net && n > 0) {
		int step = n > INT_MAX ? INT_MAX : (int)n;
		int got = BIO_nread(conn->net, &p, step);

		if (got <= 0) {
			ERR_clear_error();
			return;
		}
		n -= (size_t)got;
	}
}

int tls_shutdown(struct tls_conn *conn)
{
	int ret, flags;

	if (conn->failed || !conn->hs_done)
		return -EPROTO;
	flags = SSL_get_shutdown(conn->ssl);
	if ((flags & SSL_SENT_SHUTDOWN) && (flags & SSL_RECEIVED_SHUTDOWN))
		return 1;
	ERR_clear_error();
	ret = SSL_shutdown(conn->ssl);
	if (ret == 1)
		return 1;
	if (ret == 0)
		return 0;
	ret = map_result(conn, ret, "shutdown");
	if (ret == -EAGAIN) {
		/* Ours is out (or queued); waiting on the peer's is not an error. */
		if ((SSL_get_shutdown(conn->ssl) & SSL_SENT_SHUTDOWN) &&
		    conn->want == TLS_WANT_READ)
			return 0;
		return -EAGAIN;
	}
	return ret < 0 ? ret : -EPROTO;
}

const char *tls_conn_error(const struct tls_conn *conn)
{
	return conn->err;
}

const char *tls_conn_alpn(const struct tls_conn *conn)
{
	const unsigned char *p = NULL;
	unsigned int len = 0;

	SSL_get0_alpn_selected(conn->ssl, &p, &len);
	/* Only one protocol is ever offered or accepted. */
	if (len == alpn_http11[0] && !memcmp(p, alpn_http11 + 1, len))
		return "http/1.1";
	return NULL;
}

const char *tls_conn_version(const struct tls_conn *conn)
{
	return SSL_get_version(conn->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *conn)
{
	return SSL_get_cipher_name(conn->ssl);
}

const char *tls_conn_sni(const struct tls_conn *conn)
{
	return SSL_get_servername(conn->ssl, TLSEXT_NAMETYPE_host_name);
}

bool tls_conn_is_resumed(const struct tls_conn *conn)
{
	return SSL_session_reused(conn->ssl) == 1;
}

bool tls_conn_has_peer_cert(const struct tls_conn *conn)
{
	X509 *x = SSL_get1_peer_certificate(conn->ssl);
	bool has = x != NULL;

	X509_free(x);
	return has;
}

bool tls_conn_is_socket_mode(const struct tls_conn *conn)
{
	return conn->fd >= 0;
}

/* ---- sessions ---------------------------------------------------------- */

struct tls_session *tls_session_get(struct tls_conn *conn)
{
	SSL_SESSION *s, *copy = NULL;

	/* A connection that died of a fatal alert must not be resumed
	 * (RFC 5246 §7.2.2). */
	if (conn->failed || !conn->hs_done)
		return NULL;
	s = SSL_get0_session(conn->ssl);
	/* A copy: SSL_free marks the connection's own session unresumable
	 * when it was not shut down with close_notify, and the loop often
	 * frees upstream connections that way. RFC 5246 §7.2.1 allows
	 * resuming those. */
	if (s && SSL_SESSION_is_resumable(s))
		copy = SSL_SESSION_dup(s);
	ERR_clear_error();
	return (struct tls_session *)copy;
}

int tls_session_set(struct tls_conn *conn, struct tls_session *sess)
{
	if (!sess || conn->hs_done)
		return -EINVAL;
	ERR_clear_error();
	if (SSL_set_session(conn->ssl, (SSL_SESSION *)sess) != 1) {
		drain_errors(conn->err, sizeof(conn->err), "session");
		return -EINVAL;
	}
	return 0;
}

void tls_session_free(struct tls_session *sess)
{
	SSL_SESSION_free((SSL_SESSION *)sess);
}

/* ---- kTLS -------------------------------------------------------------- */

int tls_ktls_probe(int *ulp_errno)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int lfd, cfd = -1, afd = -1, err, ret;

	if (ulp_errno)
		*ulp_errno = 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		err = -errno;
		goto out_close_lfd;
	}
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0) {
		err = -errno;
		goto out_close_lfd;
	}
	if (connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out_close_cfd;
	}
	afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (afd < 0) {
		err = -errno;
		goto out_close_cfd;
	}
	/* The ULP attaches only to an established socket; this is the same
	 * call OpenSSL makes in ktls_enable(). */
	ret = setsockopt(cfd, SOL_TCP, TCP_ULP, "tls", sizeof("tls"));
	if (ret == 0) {
		err = 1;
	} else {
		if (ulp_errno)
			*ulp_errno = errno;
		err = 0;
	}
	close(afd);
out_close_cfd:
	close(cfd);
out_close_lfd:
	close(lfd);
	return err;
}

static pthread_once_t ktls_once = PTHREAD_ONCE_INIT;
static bool ktls_avail;

static void ktls_probe_once(void)
{
#ifdef OPENSSL_NO_KTLS
	ktls_avail = false;
#else
	ktls_avail = tls_ktls_probe(NULL) == 1;
#endif
}

bool tls_ktls_available(void)
{
	pthread_once(&ktls_once, ktls_probe_once);
	return ktls_avail;
}

bool tls_ktls_engaged(const struct tls_conn *conn, bool *send, bool *recv)
{
	bool s = false, r = false;

	if (conn->fd >= 0 && conn->hs_done) {
		s = BIO_get_ktls_send(SSL_get_wbio(conn->ssl)) != 0;
		r = BIO_get_ktls_recv(SSL_get_rbio(conn->ssl)) != 0;
	}
	if (send)
		*send = s;
	if (recv)
		*recv = r;
	return s || r;
}
