/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer with a hard bound per call site: message heads
 * being built, bytes queued towards a peer, bodies collected for a handler.
 */
#ifndef TOLLGATE_BUF_H
#define TOLLGATE_BUF_H

#include <stddef.h>
#include <stdint.h>

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
void buf_free(struct buf *b);

#endif /* TOLLGATE_BUF_H */
