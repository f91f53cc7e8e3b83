// SPDX-License-Identifier: Apache-2.0
/*
 * Growable byte buffers. See buf.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

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
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
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
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

