/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer with a hard bound per call site: message heads
 * being built, bytes queued towards a peer, bodies collected for a handler.
 */
#ifndef TOLLGATE_BUF_H
#define TOLLGATE_BUF_H

#include <stddef.h>
#include <stdint.h>

/* p is malloc'd memory of cap bytes (or NULL with cap 0), owned by the
 * buf: whoever sets p by hand sets cap to its allocation's size. */
struct buf {
	char *p;
	size_t len, cap;
};

/* Appends n bytes; -ENOSPC when len would pass max (nothing appended),
 * -ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t n, size_t max);
/* Room for n more bytes (len unchanged); -ENOSPC when len would pass
 * max, -ENOMEM. */
int buf_reserve(struct buf *b, size_t n, size_t max);
/* Appends v in decimal, as buf_append does; no printf (heads and log
 * lines built on every request use it). */
int buf_append_u64(struct buf *b, uint64_t v, size_t max);
int buf_printf(struct buf *b, size_t max, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Frees the memory (or keeps it in the thread's block cache, see
 * buf_block_get) and empties b. */
void buf_free(struct buf *b);
/*
 * A block of at least `size` bytes, uninitialised, for per-request memory
 * that is not a buf (a parser's field array): from the calling thread's
 * cache of freed blocks of 1 KiB << k when it has one, else malloc. Give
 * it back with buf_block_put() and the same size (any thread); NULL:
 * no memory.
 */
void *buf_block_get(size_t size);
/* Keeps p for reuse by this thread, or frees it. p NULL: no-op. */
void buf_block_put(void *p, size_t size);
/* Bytes the calling thread's cache holds (0 in ASan builds). */
size_t buf_block_cached(void);

#endif /* TOLLGATE_BUF_H */
