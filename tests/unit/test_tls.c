// SPDX-License-Identifier: Apache-2.0
/*
 * user/tls: contexts, the memory-BIO engine (two engines in one process,
 * bytes pumped between them), socket mode over loopback TCP, the kTLS
 * probe, and interop with the openssl CLI.
 *
 * Certificates are made at group setup with the openssl CLI in a mkdtemp
 * directory (removed at teardown): a CA with an ECDSA leaf, an RSA leaf and
 * a client certificate, and an unrelated CA with its own leaf.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/tls.h"

static char dir[] = "/tmp/tg-tls-XXXXXX";
static char path_buf[16][512];
static int path_n;

static const char *P(const char *name)
{
	char *p = path_buf[path_n++ % 16];

	snprintf(p, sizeof(path_buf[0]), "%s/%s", dir, name);
	return p;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int make_ca(const char *name, const char *cn)
{
	return sh("cd %s && openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		  "-nodes -keyout %s.key -out %s.crt -days 2 -subj /CN=%s "
		  "-addext basicConstraints=critical,CA:TRUE "
		  "-addext keyUsage=critical,keyCertSign,cRLSign >/dev/null 2>&1",
		  dir, name, name, cn);
}

/* A leaf signed by `ca`, and `name`-chain.pem = leaf + CA. */
static int make_leaf(const char *newkey, const char *name, const char *cn,
		     const char *ca, const char *ext)
{
	return sh("cd %s && openssl req -new -newkey %s -nodes -keyout %s.key -out %s.csr "
		  "-subj /CN=%s >/dev/null 2>&1 && "
		  "openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key -CAcreateserial "
		  "-out %s.crt -days 2 -extfile %s >/dev/null 2>&1 && "
		  "cat %s.crt %s.crt > %s-chain.pem",
		  dir, newkey, name, name, cn, name, ca, ca, name, ext, name, ca, name);
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return -1;
	/* Leaf extensions: SANs for both host-name and IP checks. */
	if (sh("cd %s && printf '%%s\\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' "
	       "'basicConstraints=CA:FALSE' 'extendedKeyUsage=serverAuth' > srv.ext && "
	       "printf '%%s\\n' 'basicConstraints=CA:FALSE' 'extendedKeyUsage=clientAuth' > cli.ext", dir))
		return -1;
	int rc = 0;

	/* Needs the openssl CLI; cmocka skips teardown when setup fails. */
	rc |= make_ca("ca", "tollgate-test-ca");
	rc |= make_ca("other-ca", "untrusted-ca");
	rc |= make_leaf("ec -pkeyopt ec_paramgen_curve:P-256", "ec", "localhost", "ca", "srv.ext");
	rc |= make_leaf("rsa:2048", "rsa", "localhost", "ca", "srv.ext");
	rc |= make_leaf("ec -pkeyopt ec_paramgen_curve:P-256", "cli", "tollgate-client", "ca", "cli.ext");
	rc |= make_leaf("ec -pkeyopt ec_paramgen_curve:P-256", "evil", "localhost", "other-ca", "srv.ext");
	if (rc) {
		sh("rm -rf '%s'", dir);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	return sh("rm -rf '%s'", dir) ? -1 : 0;
}

/* ---- helpers ----------------------------------------------------------- */

static struct tls_ctx *server_ctx(const char *chain, const char *key,
				  struct tls_server_opts *extra)
{
	struct tls_server_opts o = { 0 };
	char err[256];
	struct tls_ctx *c;

	if (extra)
		o = *extra;
	if (!o.ncerts) {
		o.certs[0].cert_file = chain;
		o.certs[0].key_file = key;
		o.ncerts = 1;
	}
	c = tls_server_ctx_new(&o, err, sizeof(err));
	if (!c)
		fail_msg("server ctx: %s", err);
	return c;
}

static struct tls_ctx *client_ctx(enum tls_version maxv)
{
	struct tls_client_opts o = { .ca_file = P("ca.crt"), .max_version = maxv };
	char err[256];
	struct tls_ctx *c = tls_client_ctx_new(&o, err, sizeof(err));

	if (!c)
		fail_msg("client ctx: %s", err);
	return c;
}

/* Moves ciphertext from a to b, as much as b takes. Returns bytes moved. */
static size_t pump(struct tls_conn *a, struct tls_conn *b)
{
	size_t moved = 0;
	const void *p;
	size_t n;

	while ((n = tls_pending_out(a, &p)) > 0) {
		ssize_t took = tls_feed_in(b, p, n);

		assert_true(took >= 0);
		if (took == 0)
			break;
		tls_consume_out(a, (size_t)took);
		moved += (size_t)took;
	}
	return moved;
}

/* Runs both handshakes to completion or failure. */
static void handshake_pair(struct tls_conn *s, struct tls_conn *c,
			   enum tls_hs *rs, enum tls_hs *rc)
{
	int i;

	*rs = *rc = TLS_HS_WANT_IO;
	for (i = 0; i < 100; i++) {
		size_t moved;

		if (*rc == TLS_HS_WANT_IO)
			*rc = tls_handshake(c);
		moved = pump(c, s);
		if (*rs == TLS_HS_WANT_IO)
			*rs = tls_handshake(s);
		moved += pump(s, c);
		if (*rs != TLS_HS_WANT_IO && *rc != TLS_HS_WANT_IO)
			return;
		if (!moved && i > 2 && (*rs == TLS_HS_ERROR || *rc == TLS_HS_ERROR))
			return;
	}
}

static void connect_pair(struct tls_ctx *sc, struct tls_ctx *cc, const char *host,
			 const struct tls_conn_limits *lim,
			 struct tls_conn **s, struct tls_conn **c)
{
	enum tls_hs rs, rc;

	*s = tls_conn_new(sc, NULL, lim);
	*c = tls_conn_new(cc, host, lim);
	assert_non_null(*s);
	assert_non_null(*c);
	handshake_pair(*s, *c, &rs, &rc);
	if (rs != TLS_HS_DONE || rc != TLS_HS_DONE)
		fail_msg("handshake: server %d (%s) client %d (%s)", rs,
			 tls_conn_error(*s), rc, tls_conn_error(*c));
}

/* ---- handshakes -------------------------------------------------------- */

static void test_tls_handshake_tls13_ecdsa_alpn_sni(void **state)
{
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), NULL);
	struct tls_ctx *cc = client_ctx(TLS_VERSION_DEFAULT);
	struct tls_conn *s, *c;

	(void)state;
	connect_pair(sc, cc, "localhost", NULL, &s, &c);
	assert_string_equal(tls_conn_version(s), "TLSv1.3");
	assert_string_equal(tls_conn_version(c), "TLSv1.3");
	assert_string_equal(tls_conn_alpn(s), "http/1.1");
	assert_string_equal(tls_conn_alpn(c), "http/1.1");
	assert_non_null(tls_conn_sni(s));
	assert_string_equal(tls_conn_sni(s), "localhost");
	assert_false(tls_conn_is_resumed(c));
	assert_false(tls_conn_is_socket_mode(s));
	assert_false(tls_ktls_engaged(s, NULL, NULL));
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

static void test_tls_handshake_tls12_rsa(void **state)
{
	struct tls_ctx *sc = server_ctx(P("rsa-chain.pem"), P("rsa.key"), NULL);
	struct tls_ctx *cc = client_ctx(TLS_VERSION_1_2);
	struct tls_conn *s, *c;

	(void)state;
	connect_pair(sc, cc, "localhost", NULL, &s, &c);
	assert_string_equal(tls_conn_version(c), "TLSv1.2");
	assert_string_equal(tls_conn_alpn(c), "http/1.1");
	assert_non_null(strstr(tls_conn_cipher(c), "RSA"));
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

static void test_tls_dual_cert_serves_both_key_types(void **state)
{
	struct tls_server_opts o = {
		.certs = { { P("ec-chain.pem"), P("ec.key") }, { P("rsa-chain.pem"), P("rsa.key") } },
		.ncerts = 2,
	};
	struct tls_ctx *sc = server_ctx(NULL, NULL, &o);
	struct tls_ctx *cc = client_ctx(TLS_VERSION_1_2);
	struct tls_conn *s, *c;

	(void)state;
	connect_pair(sc, cc, "127.0.0.1", NULL, &s, &c);	/* IP SAN check */
	assert_string_equal(tls_conn_version(c), "TLSv1.2");
	assert_null(tls_conn_sni(s));	/* no SNI for an IP literal */
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

static void test_tls_min_version_13_refuses_12_client(void **state)
{
	struct tls_server_opts o = { .min_version = TLS_VERSION_1_3 };
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), &o);
	struct tls_ctx *cc = client_ctx(TLS_VERSION_1_2);
	struct tls_conn *s = tls_conn_new(sc, NULL, NULL);
	struct tls_conn *c = tls_conn_new(cc, "localhost", NULL);
	enum tls_hs rs, rc;

	(void)state;
	handshake_pair(s, c, &rs, &rc);
	assert_int_equal(rs, TLS_HS_ERROR);
	assert_int_equal(rc, TLS_HS_ERROR);
	assert_non_null(strstr(tls_conn_error(s), "unsupported protocol"));
	assert_non_null(strstr(tls_conn_error(c), "protocol version"));
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

static void test_tls_bad_key_is_an_error_not_a_crash(void **state)
{
	struct tls_server_opts o = {
		.certs = { { P("ec-chain.pem"), P("rsa.key") } }, .ncerts = 1,
	};
	char err[256];

	(void)state;
	assert_null(tls_server_ctx_new(&o, err, sizeof(err)));
	assert_int_equal(errno, EPROTO);
	assert_true(strlen(err) > 0);
	o.certs[0].key_file = P("missing.key");
	assert_null(tls_server_ctx_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "missing.key"));
	o.ncerts = 0;
	assert_null(tls_server_ctx_new(&o, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
}

/* ---- verification ------------------------------------------------------ */

static void expect_client_verify_failure(const char *chain, const char *key,
					 const char *host, const char *why)
{
	struct tls_ctx *sc = server_ctx(chain, key, NULL);
	struct tls_ctx *cc = client_ctx(TLS_VERSION_DEFAULT);
	struct tls_conn *s = tls_conn_new(sc, NULL, NULL);
	struct tls_conn *c = tls_conn_new(cc, host, NULL);
	enum tls_hs rs, rc;
	char buf[16];

	handshake_pair(s, c, &rs, &rc);
	assert_int_equal(rc, TLS_HS_ERROR);
	assert_int_equal(rs, TLS_HS_ERROR);	/* the client's alert reached it */
	if (!strstr(tls_conn_error(c), why))
		fail_msg("client error '%s' lacks '%s'", tls_conn_error(c), why);
	/* Dead connections stay dead, without crashing. */
	assert_int_equal(tls_read(c, buf, sizeof(buf)), -EPROTO);
	assert_int_equal(tls_write(c, "x", 1), -EPROTO);
	assert_int_equal(tls_shutdown(c), -EPROTO);
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

static void test_tls_client_rejects_wrong_host(void **state)
{
	(void)state;
	expect_client_verify_failure(P("ec-chain.pem"), P("ec.key"), "wrong.example",
				     "hostname mismatch");
}

static void test_tls_client_rejects_untrusted_ca(void **state)
{
	(void)state;
	expect_client_verify_failure(P("evil-chain.pem"), P("evil.key"), "localhost",
				     "verify");

	/* verify: false in the policy connects anyway (and is logged there). */
	struct tls_client_opts o = { .ca_file = P("ca.crt"), .no_verify = true };
	struct tls_ctx *cc = tls_client_ctx_new(&o, NULL, 0);
	struct tls_ctx *sc = server_ctx(P("evil-chain.pem"), P("evil.key"), NULL);
	struct tls_conn *s, *c;

	assert_non_null(cc);
	connect_pair(sc, cc, "wrong.example", NULL, &s, &c);
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

static void test_tls_client_cert_required_and_verified(void **state)
{
	struct tls_server_opts o = { .client_ca_file = P("ca.crt") };
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), &o);
	struct tls_ctx *cc = client_ctx(TLS_VERSION_DEFAULT);
	struct tls_client_opts co = {
		.ca_file = P("ca.crt"), .cert_file = P("cli-chain.pem"), .key_file = P("cli.key"),
	};
	struct tls_ctx *cc2 = tls_client_ctx_new(&co, NULL, 0);
	struct tls_conn *s, *c;
	enum tls_hs rs, rc;
	char buf[8];

	(void)state;
	assert_non_null(cc2);
	/* Without a certificate: TLS 1.3 client finishes first, then learns
	 * of the rejection on its next read. */
	s = tls_conn_new(sc, NULL, NULL);
	c = tls_conn_new(cc, "localhost", NULL);
	handshake_pair(s, c, &rs, &rc);
	assert_int_equal(rs, TLS_HS_ERROR);
	assert_non_null(strstr(tls_conn_error(s), "certificate"));
	pump(s, c);
	assert_int_equal(tls_read(c, buf, sizeof(buf)), -EPROTO);
	tls_conn_free(s);
	tls_conn_free(c);

	connect_pair(sc, cc2, "localhost", NULL, &s, &c);
	assert_true(tls_conn_has_peer_cert(s));
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
	tls_ctx_free(cc2);
}

/* ---- data -------------------------------------------------------------- */

static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 131) ^ (i >> 9));
}

/* Sends `total` bytes from w to r in pieces of odd sizes while pumping
 * both ways, reading in other odd sizes; checks every byte. */
static void transfer(struct tls_conn *w, struct tls_conn *r, size_t total)
{
	static const size_t wsz[] = { 1, 7919, 3, 16385, 4099, 65537, 257 };
	static const size_t rsz[] = { 13, 5003, 1, 20011, 777 };
	unsigned char *src = malloc(total), *dst = malloc(total);
	size_t sent = 0, got = 0;
	int wi = 0, ri = 0, spins = 0;

	assert_non_null(src);
	assert_non_null(dst);
	for (size_t i = 0; i < total; i++)
		src[i] = pattern(i);
	while (got < total) {
		bool progress = false;

		if (sent < total) {
			size_t n = wsz[wi % 7];
			ssize_t k;

			if (n > total - sent)
				n = total - sent;
			k = tls_write(w, src + sent, n);
			if (k > 0) {
				sent += (size_t)k;
				wi++;
				progress = true;
			} else {
				assert_int_equal(k, -EAGAIN);
			}
		}
		if (pump(w, r))
			progress = true;
		for (;;) {
			size_t n = rsz[ri % 5];
			ssize_t k;

			if (n > total - got)
				n = total - got;
			if (!n)
				break;
			k = tls_read(r, dst + got, n);
			if (k <= 0) {
				assert_int_equal(k, -EAGAIN);
				break;
			}
			got += (size_t)k;
			ri++;
			progress = true;
		}
		pump(r, w);
		if (!progress)
			assert_true(++spins < 1000);
		else
			spins = 0;
	}
	assert_memory_equal(src, dst, total);
	free(src);
	free(dst);
}

static void test_tls_transfers_1mib_both_ways_in_odd_pieces(void **state)
{
	enum tls_version v[] = { TLS_VERSION_1_2, TLS_VERSION_1_3 };
	struct tls_conn_limits small = { .in_cap = 3001, .out_cap = 5003 };
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), NULL);

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct tls_ctx *cc = client_ctx(v[i]);
		struct tls_conn *s, *c;

		connect_pair(sc, cc, "localhost", i ? NULL : &small, &s, &c);
		transfer(c, s, 1 << 20);
		transfer(s, c, 1 << 20);
		transfer(c, s, 1);
		tls_conn_free(s);
		tls_conn_free(c);
		tls_ctx_free(cc);
	}
	tls_ctx_free(sc);
}

static void test_tls_caps_enforced(void **state)
{
	struct tls_conn_limits lim = { .in_cap = 1024, .out_cap = 2048 };
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), NULL);
	struct tls_ctx *cc = client_ctx(TLS_VERSION_DEFAULT);
	static unsigned char big[256 * 1024];
	struct tls_conn *s, *c;
	size_t accepted = 0, pending = 0;
	const void *p;
	ssize_t k;

	(void)state;
	connect_pair(sc, cc, "localhost", &lim, &s, &c);
	/* Outbound: nobody drains, so writing stops with back-pressure. */
	while ((k = tls_write(c, big + accepted, sizeof(big) - accepted)) > 0)
		accepted += (size_t)k;
	assert_int_equal(k, -EAGAIN);
	assert_int_equal(tls_conn_want(c), TLS_WANT_WRITE);
	assert_true(accepted < 64 * 1024);
	/* The ring holds at most out_cap; drain it piece by piece. */
	size_t n;
	while ((n = tls_pending_out(c, &p)) > 0) {
		assert_true(n <= lim.out_cap);
		/* Inbound: the peer takes at most in_cap until it reads. */
		k = tls_feed_in(s, p, n);
		assert_true(k >= 0 && (size_t)k <= lim.in_cap);
		if (k == 0)
			break;
		tls_consume_out(c, (size_t)k);
		pending += (size_t)k;
	}
	assert_true(pending <= lim.out_cap);
	assert_int_equal(tls_feed_in(s, "x", 1), 0);	/* full */
	tls_conn_free(s);
	tls_conn_free(c);

	/* Caps below the minimum are raised, not honoured literally. */
	lim.in_cap = 1;
	lim.out_cap = 1;
	connect_pair(sc, cc, "localhost", &lim, &s, &c);
	transfer(c, s, 100000);
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

/* ---- resumption -------------------------------------------------------- */

static bool resume_once(struct tls_ctx *sc, struct tls_ctx *cc)
{
	struct tls_conn *s, *c;
	struct tls_session *sess;
	char buf[4];
	bool reused;

	connect_pair(sc, cc, "localhost", NULL, &s, &c);
	/* TLS 1.3 tickets follow the handshake: let the client read them. */
	pump(s, c);
	assert_int_equal(tls_read(c, buf, sizeof(buf)), -EAGAIN);
	sess = tls_session_get(c);
	tls_conn_free(s);
	tls_conn_free(c);
	if (!sess)
		return false;

	s = tls_conn_new(sc, NULL, NULL);
	c = tls_conn_new(cc, "localhost", NULL);
	assert_int_equal(tls_session_set(c, sess), 0);
	tls_session_free(sess);
	enum tls_hs rs, rc;
	handshake_pair(s, c, &rs, &rc);
	assert_int_equal(rs, TLS_HS_DONE);
	assert_int_equal(rc, TLS_HS_DONE);
	reused = tls_conn_is_resumed(c);
	assert_int_equal(reused, tls_conn_is_resumed(s));
	transfer(c, s, 4097);
	tls_conn_free(s);
	tls_conn_free(c);
	return reused;
}

static void test_tls_resumption_with_ticket(void **state)
{
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), NULL);
	struct tls_server_opts off = { .no_session_tickets = true };
	struct tls_ctx *sc_off = server_ctx(P("ec-chain.pem"), P("ec.key"), &off);
	struct tls_ctx *cc13 = client_ctx(TLS_VERSION_DEFAULT);
	struct tls_ctx *cc12 = client_ctx(TLS_VERSION_1_2);

	(void)state;
	assert_true(resume_once(sc, cc13));
	assert_true(resume_once(sc, cc12));
	assert_false(resume_once(sc_off, cc13));
	assert_false(resume_once(sc_off, cc12));
	tls_ctx_free(sc);
	tls_ctx_free(sc_off);
	tls_ctx_free(cc13);
	tls_ctx_free(cc12);
}

/* ---- shutdown and truncation ------------------------------------------- */

static void test_tls_close_notify_is_a_clean_close(void **state)
{
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), NULL);
	struct tls_ctx *cc = client_ctx(TLS_VERSION_DEFAULT);
	struct tls_conn *s, *c;
	char buf[64];

	(void)state;
	connect_pair(sc, cc, "localhost", NULL, &s, &c);
	assert_int_equal(tls_write(c, "bye", 3), 3);
	assert_int_equal(tls_shutdown(c), 0);		/* ours sent */
	assert_int_equal(tls_write(c, "x", 1), -EPIPE);
	pump(c, s);
	assert_int_equal(tls_read(s, buf, sizeof(buf)), 3);
	assert_int_equal(tls_read(s, buf, sizeof(buf)), 0);	/* close_notify */
	assert_int_equal(tls_shutdown(s), 1);
	pump(s, c);
	assert_int_equal(tls_read(c, buf, sizeof(buf)), 0);
	assert_int_equal(tls_shutdown(c), 1);
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

static void test_tls_truncated_stream_detected(void **state)
{
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), NULL);
	struct tls_ctx *cc = client_ctx(TLS_VERSION_DEFAULT);
	struct tls_conn *s, *c;
	char buf[64];

	(void)state;
	connect_pair(sc, cc, "localhost", NULL, &s, &c);
	assert_int_equal(tls_write(c, "partial", 7), 7);
	pump(c, s);
	tls_feed_eof(s);			/* TCP FIN, no close_notify */
	assert_int_equal(tls_feed_in(s, "x", 1), -EPIPE);
	assert_int_equal(tls_read(s, buf, sizeof(buf)), 7);
	assert_int_equal(tls_read(s, buf, sizeof(buf)), -ECONNRESET);
	assert_non_null(strstr(tls_conn_error(s), "truncated"));
	tls_conn_free(s);
	tls_conn_free(c);

	/* EOF in the middle of a record is truncation too. */
	connect_pair(sc, cc, "localhost", NULL, &s, &c);
	assert_int_equal(tls_write(c, "partial", 7), 7);
	const void *p;
	size_t n = tls_pending_out(c, &p);
	assert_true(n > 5);
	assert_int_equal(tls_feed_in(s, p, n - 5), (ssize_t)(n - 5));
	tls_feed_eof(s);
	assert_int_equal(tls_read(s, buf, sizeof(buf)), -ECONNRESET);
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

/* ---- ALPN against a raw OpenSSL client offering something else -------- */

static enum tls_hs raw_client_handshake(struct tls_ctx *sc, const unsigned char *alpn,
					unsigned alpn_len, struct tls_conn **out_s)
{
	SSL_CTX *rc = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(rc);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	struct tls_conn *s = tls_conn_new(sc, NULL, NULL);
	enum tls_hs rs = TLS_HS_WANT_IO;
	char buf[4096];

	SSL_set_bio(ssl, rb, wb);
	SSL_set_connect_state(ssl);
	SSL_set_alpn_protos(ssl, alpn, alpn_len);
	for (int i = 0; i < 20 && rs == TLS_HS_WANT_IO; i++) {
		int n;
		const void *p;
		size_t m;

		SSL_do_handshake(ssl);
		while ((n = BIO_read(wb, buf, sizeof(buf))) > 0)
			assert_int_equal(tls_feed_in(s, buf, (size_t)n), n);
		rs = tls_handshake(s);
		while ((m = tls_pending_out(s, &p)) > 0) {
			BIO_write(rb, p, (int)m);
			tls_consume_out(s, m);
		}
	}
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(rc);
	*out_s = s;
	return rs;
}

static void test_tls_alpn_mismatch_lenient_and_strict(void **state)
{
	static const unsigned char h2[] = { 2, 'h', '2' };
	struct tls_server_opts strict = { .alpn = TLS_ALPN_STRICT };
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), NULL);
	struct tls_ctx *ss = server_ctx(P("ec-chain.pem"), P("ec.key"), &strict);
	struct tls_conn *s;

	(void)state;
	/* Lenient: proceeds, nothing selected. (The raw client does not
	 * verify, so the server's handshake completes.) */
	assert_int_equal(raw_client_handshake(sc, h2, sizeof(h2), &s), TLS_HS_DONE);
	assert_null(tls_conn_alpn(s));
	tls_conn_free(s);
	/* Strict: no_application_protocol. */
	assert_int_equal(raw_client_handshake(ss, h2, sizeof(h2), &s), TLS_HS_ERROR);
	assert_non_null(strstr(tls_conn_error(s), "application protocol"));
	tls_conn_free(s);
	tls_ctx_free(sc);
	tls_ctx_free(ss);
}

/* ---- sockets ----------------------------------------------------------- */

static int listen_loopback(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static int connect_loopback(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

struct srv_arg {
	struct tls_ctx *ctx;
	int lfd;
	bool socket_mode;
	bool ok;
	bool ktls_send, ktls_recv;
	char alpn[16];
	char err[256];
};

/* Memory-mode server over a real socket, the way the loop will drive it:
 * ciphertext moves with send/recv, OpenSSL never sees the fd. Serves one
 * request (up to the blank line) and closes with close_notify. */
static bool serve_memory_mode(struct tls_conn *t, int fd, struct srv_arg *a)
{
	char req[4096], net[8192];
	size_t reqlen = 0;
	bool answered = false, closing = false;
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 19\r\n"
				   "Connection: close\r\n\r\nhello-from-tollgate";
	size_t resp_off = 0;

	for (int iter = 0; iter < 10000; iter++) {
		const void *p;
		size_t n;

		tls_handshake(t);
		if (tls_conn_is_handshake_done(t)) {
			ssize_t k;

			while (!answered && (k = tls_read(t, req + reqlen,
						sizeof(req) - 1 - reqlen)) > 0) {
				reqlen += (size_t)k;
				req[reqlen] = '\0';
				if (strstr(req, "\r\n\r\n"))
					answered = true;
			}
			while (answered && resp_off < sizeof(resp) - 1 &&
			       (k = tls_write(t, resp + resp_off, sizeof(resp) - 1 - resp_off)) > 0)
				resp_off += (size_t)k;
			if (answered && resp_off == sizeof(resp) - 1 && !closing) {
				const char *al = tls_conn_alpn(t);

				snprintf(a->alpn, sizeof(a->alpn), "%s", al ? al : "");
				tls_shutdown(t);
				closing = true;
			}
		}
		while ((n = tls_pending_out(t, &p)) > 0) {
			ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

			if (k <= 0)
				return closing;
			tls_consume_out(t, (size_t)k);
		}
		if (closing)
			return true;
		if (tls_handshake(t) == TLS_HS_ERROR) {
			snprintf(a->err, sizeof(a->err), "%s", tls_conn_error(t));
			return false;
		}
		ssize_t got = recv(fd, net, sizeof(net), 0);
		if (got <= 0) {
			tls_feed_eof(t);
			snprintf(a->err, sizeof(a->err), "peer closed early");
			return false;
		}
		assert_int_equal(tls_feed_in(t, net, (size_t)got), got);
	}
	return false;
}

/* Socket mode (blocking fd): echo one message back, then close. */
static bool serve_socket_mode(struct tls_conn *t, struct srv_arg *a)
{
	char buf[65536];
	ssize_t k;

	if (tls_handshake(t) != TLS_HS_DONE) {
		snprintf(a->err, sizeof(a->err), "%s", tls_conn_error(t));
		return false;
	}
	tls_ktls_engaged(t, &a->ktls_send, &a->ktls_recv);
	snprintf(a->alpn, sizeof(a->alpn), "%s", tls_conn_alpn(t) ? tls_conn_alpn(t) : "");
	size_t total = 0;
	while ((k = tls_read(t, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < k;) {
			ssize_t w = tls_write(t, buf + off, (size_t)(k - off));

			if (w <= 0)
				return false;
			off += w;
		}
		total += (size_t)k;
	}
	if (k != 0) {	/* expected the client's close_notify */
		snprintf(a->err, sizeof(a->err), "read %zd: %s", k, tls_conn_error(t));
		return false;
	}
	return tls_shutdown(t) == 1 && total > 0;
}

static void *server_thread(void *arg)
{
	struct srv_arg *a = arg;
	int fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
	struct tls_conn *t;

	if (fd < 0)
		return NULL;
	t = a->socket_mode ? tls_conn_new_fd(a->ctx, fd, NULL) : tls_conn_new(a->ctx, NULL, NULL);
	if (t)
		a->ok = a->socket_mode ? serve_socket_mode(t, a) : serve_memory_mode(t, fd, a);
	tls_conn_free(t);
	close(fd);
	return NULL;
}

static void test_tls_socket_mode_over_loopback_tcp(void **state)
{
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), NULL);
	struct tls_ctx *cc = client_ctx(TLS_VERSION_DEFAULT);
	struct srv_arg a = { .ctx = sc, .socket_mode = true };
	static unsigned char out[300001], in[300001];
	bool ks, kr;
	pthread_t th;
	int port, fd;

	(void)state;
	a.lfd = listen_loopback(&port);
	assert_int_equal(pthread_create(&th, NULL, server_thread, &a), 0);
	fd = connect_loopback(port);
	struct tls_conn *c = tls_conn_new_fd(cc, fd, "localhost");
	assert_non_null(c);
	assert_true(tls_conn_is_socket_mode(c));
	assert_int_equal(tls_handshake(c), TLS_HS_DONE);
	assert_string_equal(tls_conn_alpn(c), "http/1.1");
	tls_ktls_engaged(c, &ks, &kr);
	if (!tls_ktls_available()) {
		/* No kTLS in this kernel: OpenSSL's setsockopt failed inside
		 * the handshake and records stayed in user space. */
		assert_false(ks);
		assert_false(kr);
	}
	print_message("socket mode: %s, kTLS send=%d recv=%d\n", tls_conn_version(c), ks, kr);

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = pattern(i);
	size_t sent = 0, got = 0;
	while (sent < sizeof(out)) {
		ssize_t w = tls_write(c, out + sent, sizeof(out) - sent);

		assert_true(w > 0);
		sent += (size_t)w;
		/* Read back as we go so neither side's socket buffer fills. */
		while (got < sent) {
			ssize_t r = tls_read(c, in + got, sizeof(in) - got);

			assert_true(r > 0);
			got += (size_t)r;
		}
	}
	assert_memory_equal(out, in, sizeof(out));
	assert_int_equal(tls_shutdown(c), 0);
	char b[8];
	assert_int_equal(tls_read(c, b, sizeof(b)), 0);		/* server's close_notify */
	pthread_join(th, NULL);
	if (!a.ok)
		fail_msg("server: %s", a.err);
	assert_string_equal(a.alpn, "http/1.1");
	if (!tls_ktls_available())
		assert_false(a.ktls_send || a.ktls_recv);
	tls_conn_free(c);
	close(fd);
	close(a.lfd);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

/* Memory-mode engine over a real socket, against the openssl CLI. */
static void test_tls_interop_openssl_s_client(void **state)
{
	struct tls_ctx *sc = server_ctx(P("ec-chain.pem"), P("ec.key"), NULL);
	struct srv_arg a = { .ctx = sc };
	char cmd[1024], out[65536];
	size_t len = 0;
	pthread_t th;
	FILE *f;
	int port;

	(void)state;
	if (system("command -v openssl >/dev/null 2>&1") != 0)
		skip();
	a.lfd = listen_loopback(&port);
	assert_int_equal(pthread_create(&th, NULL, server_thread, &a), 0);
	snprintf(cmd, sizeof(cmd),
		 "printf 'GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n' | "
		 "timeout 20 openssl s_client -connect 127.0.0.1:%d -alpn http/1.1 "
		 "-servername localhost -CAfile %s -verify_return_error -ign_eof 2>&1",
		 port, P("ca.crt"));
	f = popen(cmd, "r");
	assert_non_null(f);
	while (len < sizeof(out) - 1) {
		size_t n = fread(out + len, 1, sizeof(out) - 1 - len, f);

		if (!n)
			break;
		len += n;
	}
	out[len] = '\0';
	pclose(f);
	pthread_join(th, NULL);
	if (!a.ok || !strstr(out, "hello-from-tollgate"))
		fail_msg("server: ok=%d err=%s\ns_client:\n%s", a.ok, a.err, out);
	assert_non_null(strstr(out, "ALPN protocol: http/1.1"));
	assert_non_null(strstr(out, "Verify return code: 0 (ok)"));
	assert_string_equal(a.alpn, "http/1.1");
	close(a.lfd);
	tls_ctx_free(sc);
}

/* ---- kTLS probe -------------------------------------------------------- */

static void test_tls_ktls_probe_reports_what_the_kernel_says(void **state)
{
	int ulp_errno = -1;
	int rc = tls_ktls_probe(&ulp_errno);

	(void)state;
	assert_true(rc == 0 || rc == 1);
	print_message("kTLS probe: %s (setsockopt TCP_ULP errno %d: %s)\n",
		      rc ? "available" : "unavailable", ulp_errno,
		      rc ? "-" : strerror(ulp_errno));
	if (rc == 0) {
		/* No "tls" ULP: ENOENT without CONFIG_TLS (this machine). */
		assert_true(ulp_errno == ENOENT || ulp_errno == EOPNOTSUPP);
		assert_false(tls_ktls_available());
	} else {
		assert_int_equal(ulp_errno, 0);
	}
	/* The cached answer is stable. */
	assert_int_equal(tls_ktls_available(), tls_ktls_available());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_handshake_tls13_ecdsa_alpn_sni),
		cmocka_unit_test(test_tls_handshake_tls12_rsa),
		cmocka_unit_test(test_tls_dual_cert_serves_both_key_types),
		cmocka_unit_test(test_tls_min_version_13_refuses_12_client),
		cmocka_unit_test(test_tls_bad_key_is_an_error_not_a_crash),
		cmocka_unit_test(test_tls_client_rejects_wrong_host),
		cmocka_unit_test(test_tls_client_rejects_untrusted_ca),
		cmocka_unit_test(test_tls_client_cert_required_and_verified),
		cmocka_unit_test(test_tls_transfers_1mib_both_ways_in_odd_pieces),
		cmocka_unit_test(test_tls_caps_enforced),
		cmocka_unit_test(test_tls_resumption_with_ticket),
		cmocka_unit_test(test_tls_close_notify_is_a_clean_close),
		cmocka_unit_test(test_tls_truncated_stream_detected),
		cmocka_unit_test(test_tls_alpn_mismatch_lenient_and_strict),
		cmocka_unit_test(test_tls_socket_mode_over_loopback_tcp),
		cmocka_unit_test(test_tls_interop_openssl_s_client),
		cmocka_unit_test(test_tls_ktls_probe_reports_what_the_kernel_says),
	};

	return cmocka_run_group_tests_name("tls", tests, group_setup, group_teardown);
}
