// SPDX-License-Identifier: Apache-2.0
/*
 * Growable byte buffers. See buf.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/asan.h"
#include "core/buf.h"
#include "tollgate/limits.h"

/* ---- the per-thread block cache ------------------------------------------
 *
 * A request's buffers (the bytes received, the head and body built for
 * the upstream, the answer's head...) are allocated when it starts and
 * freed when it ends, so that an idle connection holds none. Those are
 * blocks of 1 KiB << k; glibc's own per-thread cache stops at 1 KiB, so
 * each one was a trip through malloc's bins. Freed blocks of those sizes
 * go to a small per-thread list instead and are handed out again from
 * there. Bounded (TG_BUF_POOL_*), freed with the thread. ASan builds do
 * not keep them: a use after free must show.
 */
#define POOL_MIN	1024u
#define POOL_MAX	((size_t)POOL_MIN << (TG_BUF_POOL_CLASSES - 1))

struct pool_block {
	struct pool_block *next;
};

struct pool {
	struct pool_block *head[TG_BUF_POOL_CLASSES];
	unsigned int n[TG_BUF_POOL_CLASSES];
	size_t bytes;
	bool registered;	/* pool_key set: freed at thread exit */
};

static __thread struct pool pool;

/* The class of a block of exactly `size` bytes, or -1. */
static int pool_class(size_t size)
{
	if (size < POOL_MIN || size > POOL_MAX || (size & (size - 1)))
		return -1;
	return __builtin_ctzl(size) - __builtin_ctzl(POOL_MIN);
}

/* The smallest block size that holds `size` bytes, or `size` itself when
 * it is over the largest class. */
static size_t pool_round(size_t size)
{
	size_t cap = POOL_MIN;

	if (size > POOL_MAX)
		return size;
	while (cap < size)
		cap *= 2;
	return cap;
}

#if !TG_ASAN
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static bool pool_key_ok;

static void pool_drain(void *arg)
{
	struct pool *p = arg;

	for (int k = 0; k < TG_BUF_POOL_CLASSES; k++) {
		while (p->head[k]) {
			struct pool_block *b = p->head[k];

			p->head[k] = b->next;
			free(b);
		}
		p->n[k] = 0;
	}
	p->bytes = 0;
	p->registered = false;	/* a later push sets the key again */
}

static void pool_key_init(void)
{
	pool_key_ok = pthread_key_create(&pool_key, pool_drain) == 0;
}

static void *pool_pop(size_t size)
{
	int k = pool_class(size);
	struct pool_block *b;

	if (k < 0 || !(b = pool.head[k]))
		return NULL;
	pool.head[k] = b->next;
	pool.n[k]--;
	pool.bytes -= size;
	return b;
}

/* Keeps the block of `size` bytes; false: the caller frees it. */
static bool pool_push(void *blk, size_t size)
{
	int k = pool_class(size);
	struct pool_block *b = blk;

	if (k < 0 || pool.n[k] >= TG_BUF_POOL_BLOCKS || pool.bytes + size > TG_BUF_POOL_BYTES)
		return false;
	if (!pool.registered) {
		/* The key's value is what the destructor drains. */
		pthread_once(&pool_once, pool_key_init);
		if (!pool_key_ok || pthread_setspecific(pool_key, &pool))
			return false;
		pool.registered = true;
	}
	b->next = pool.head[k];
	pool.head[k] = b;
	pool.n[k]++;
	pool.bytes += size;
	return true;
}
#else	/* ASan: every block goes back to malloc, so a use after free shows */
static void *pool_pop(size_t size)
{
	(void)size;
	return NULL;
}

static bool pool_push(void *blk, size_t size)
{
	(void)blk;
	(void)size;
	return false;
}
#endif

void *buf_block_get(size_t size)
{
	void *p;

	size = pool_round(size);
	p = pool_pop(size);
	return p ? p : malloc(size);
}

void buf_block_put(void *p, size_t size)
{
	if (p && !pool_push(p, pool_round(size)))
		free(p);
}

size_t buf_block_cached(void)
{
	return pool.bytes;
}

/* ---- buffers --------------------------------------------------------------- */

int buf_reserve(struct buf *b, size_t n, size_t max)
{
	size_t want, cap;
	char *p;

	if (n > max || b->len > max - n)
		return -ENOSPC;
	want = b->len + n;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 1024;
	while (cap < want)
		cap *= 2;
	if (cap > max)
		cap = max;
	if (pool_class(cap) >= 0 && (pool_class(b->cap) >= 0 || !b->cap)) {
		/* From block to block, never realloc: realloc would use up
		 * the old block, the cache would run dry of the small size
		 * and overflow with the large one. */
		p = buf_block_get(cap);
		if (!p)
			return -ENOMEM;
		/* All of it, as realloc would: a caller may have written past
		 * len into room it reserved. */
		if (b->cap)
			memcpy(p, b->p, b->cap);
		buf_block_put(b->p, b->cap);
	} else {
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t n, size_t max)
{
	int err;

	if (!n)
		return 0;
	err = buf_reserve(b, n, max);
	if (err)
		return err;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

int buf_append_u64(struct buf *b, uint64_t v, size_t max)
{
	char tmp[20], *p = tmp + sizeof(tmp);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p), max);
}

int buf_printf(struct buf *b, size_t max, const char *fmt, ...)
{
	size_t room = b->cap - b->len;
	va_list ap;
	int n, err;

	/* Formatted once into the room already there, which is nearly
	 * always enough; only a text that does not fit is formatted again
	 * after growing. */
	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < room) {
		if ((size_t)n + 1 > max || b->len > max - ((size_t)n + 1))
			return -ENOSPC;	/* as buf_reserve would say; len unchanged */
		b->len += (size_t)n;
		return 0;
	}
	err = buf_reserve(b, (size_t)n + 1, max);
	if (err)
		return err;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void buf_free(struct buf *b)
{
	if (b->p && !pool_push(b->p, b->cap))
		free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

