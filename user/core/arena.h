/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bump allocator released all at once: per-request data, a loaded policy.
 * Blocks come from malloc and are chained; nothing is freed individually.
 */
#ifndef TOLLGATE_ARENA_H
#define TOLLGATE_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head;
	size_t block_size;	/* default size of a new block */
	size_t used;		/* bytes handed out, for accounting */
	size_t limit;		/* 0: unbounded; else allocations past it fail */
};

/* `block_size` 0 picks a default. `limit` bounds the total handed out. */
void arena_init(struct arena *a, size_t block_size, size_t limit);
/* Frees every block; the arena can be used again afterwards. */
void arena_fini(struct arena *a);

/* Memory aligned for any type, or NULL (errno ENOMEM) past the limit. */
void *arena_alloc(struct arena *a, size_t size);
/* Zeroed. */
void *arena_zalloc(struct arena *a, size_t size);
/* Zeroed array of n elements; NULL on overflow. */
void *arena_calloc(struct arena *a, size_t n, size_t size);
char *arena_strndup(struct arena *a, const char *s, size_t len);
char *arena_strdup(struct arena *a, const char *s);
/* printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* TOLLGATE_ARENA_H */
