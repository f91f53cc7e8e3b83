/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy engine: worker threads, each with its own I/O loop (io.h),
 * accepting on SO_REUSEPORT listeners, terminating TLS, parsing HTTP/1.1,
 * answering the built-in endpoints and relaying the plain reverse-proxy
 * routes of the policy to upstream pools. The LLM, MCP and A2A handlers
 * plug in above it.
 *
 * A `struct proxy_cfg` is what the workers run: the listeners, routes and
 * upstreams of one policy with their TLS contexts and resolved addresses.
 * It is built off the event loop (name resolution blocks) by the thread
 * that loaded the policy, and published to the workers atomically. Each
 * request holds a reference to the configuration current when it started
 * and finishes on it; see docs/proxy.md.
 */
#ifndef TOLLGATE_PROXY_H
#define TOLLGATE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct policy;
struct proxy;
struct proxy_cfg;

/* Builds the runtime configuration of `p` (takes a policy reference):
 * TLS contexts from its certificate files, upstream names resolved. NULL
 * with errno set and a one-line reason in err on failure. */
struct proxy_cfg *proxy_cfg_new(struct policy *p, char *err, size_t errlen);
void proxy_cfg_unref(struct proxy_cfg *cfg);

/* Starts the workers on `cfg` (takes ownership of the reference): every
 * listener is bound by every worker before this returns. NULL with errno
 * set and a reason in err on failure (the address is in use, ...). */
struct proxy *proxy_start(struct proxy_cfg *cfg, char *err, size_t errlen);
/* Publishes a new configuration (takes ownership). Requests already
 * started finish on the one they started with. Listeners whose address is
 * unchanged keep their sockets (no connection is refused during a reload);
 * new ones are opened, removed ones closed. */
int proxy_reload(struct proxy *px, struct proxy_cfg *cfg, char *err, size_t errlen);
/* Stops accepting, lets requests in flight finish for up to drain_ms,
 * then closes everything and joins the workers. */
void proxy_stop(struct proxy *px, uint64_t drain_ms);
void proxy_free(struct proxy *px);

/* Housekeeping the main thread runs about once a second: budget windows
 * that reset (unblocking tenants), the budget state file every few
 * seconds. */
void proxy_tick(struct proxy *px);

/* Number of workers running. */
unsigned proxy_workers(const struct proxy *px);
/* The I/O backend name of the workers ("io_uring" or "epoll"). */
const char *proxy_backend(const struct proxy *px);

#endif /* TOLLGATE_PROXY_H */
