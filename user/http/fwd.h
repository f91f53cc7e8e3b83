/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fields a gateway adds when it forwards a message: X-Forwarded-For,
 * X-Forwarded-Proto and Via (RFC 9110 §7.6.3), and Via loop detection.
 *
 * Nothing here allocates. Input is a message parsed by http1_parse()
 * (borrowed); output is whole field lines ("Name: value\r\n") written into
 * the caller's buffer. The forwarder copies the other fields itself and
 * skips those for which fwd_is_rewritten() is true, since the lines written
 * here already carry their values. See docs/http.md.
 */
#ifndef TOLLGATE_FWD_H
#define TOLLGATE_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "http/http1.h"

/* Our Via received-by pseudonym unless the policy names another. Nodes
 * chained on purpose (edge → regional) need distinct pseudonyms, or the
 * second one sees a loop. */
#define FWD_PSEUDONYM		"tollgate"
#define FWD_PSEUDONYM_MAX	64
/* The answer to a request that has already passed through us: 508 Loop
 * Detected (RFC 5842 §7.2), as CDNs do on a CDN-Loop match (RFC 8586). */
#define FWD_LOOP_STATUS		508
/* The longest address text fwd_addr_text() writes, NUL included
 * (INET6_ADDRSTRLEN with a zone id). */
#define FWD_ADDR_MAX		64

/* X-Forwarded-For, X-Forwarded-Proto or Via (case-insensitive): the fields
 * the lines written here replace. */
bool fwd_is_rewritten(const struct http1_header *h);

/* Whether a Via field of m names `pseudonym` (case-insensitive) as a
 * received-by: the message has been through us before. Comments and
 * ports are handled; a malformed element never matches. */
bool fwd_has_via_loop(const struct http1_message *m, const char *pseudonym);

/*
 * Writes the client address of `sa` (AF_INET or AF_INET6; a v4-mapped v6
 * address as plain IPv4, as X-Forwarded-For readers expect) NUL-terminated
 * into out[0..cap). Returns the length without the NUL, -EAFNOSUPPORT, or
 * -ENOSPC (FWD_ADDR_MAX always suffices).
 */
int fwd_addr_text(const struct sockaddr *sa, char *out, size_t cap);

/*
 * Writes "X-Forwarded-For: " + the values of every X-Forwarded-For field of
 * m in order, joined with ", " + the client address + CRLF. `addr` must be
 * IPv4 or IPv6 text (no brackets, no port): anything else is -EINVAL, so a
 * caller's mistake cannot inject bytes. Returns 0 with *len written,
 * -ENOSPC with *len the bytes needed.
 */
int fwd_xff(char *out, size_t cap, const struct http1_message *m,
	    const char *addr, size_t addr_len, size_t *len);

/* Writes "X-Forwarded-Proto: https\r\n" (tls) or "...: http\r\n". The value
 * describes the client's connection to us, so a received one is replaced,
 * never trusted. Returns as fwd_xff(). */
int fwd_xfp(char *out, size_t cap, bool tls, size_t *len);

/*
 * Writes "Via: " + the values of every Via field of m joined with ", " +
 * "1.<minor> <pseudonym>" + CRLF, the received-protocol being the version
 * of m as received (RFC 9110 §7.6.3). -EINVAL for a pseudonym that is empty,
 * longer than FWD_PSEUDONYM_MAX or not a token. Returns as fwd_xff(); it
 * does not check for a loop (fwd_has_via_loop()).
 */
int fwd_via(char *out, size_t cap, const struct http1_message *m,
	    const char *pseudonym, size_t *len);

/*
 * All three for a request: -ELOOP (answer FWD_LOOP_STATUS, write nothing)
 * when m's Via already names `pseudonym`, else fwd_xff() + fwd_xfp() +
 * fwd_via() back to back, with their errors (-ENOSPC: *len is the total
 * needed).
 */
int fwd_request_fields(char *out, size_t cap, const struct http1_message *m,
		       const char *addr, size_t addr_len, bool tls,
		       const char *pseudonym, size_t *len);

#endif /* TOLLGATE_FWD_H */
