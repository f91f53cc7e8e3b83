/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Places test input right before an inaccessible page, so that a parser
 * reading one byte past its input faults at once instead of reading
 * whatever follows (the technique of picohttpparser's test.c).
 */
#ifndef TOLLGATE_GUARD_PAGE_H
#define TOLLGATE_GUARD_PAGE_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guarded {
	void *map;
	size_t map_len;
	char *data;	/* len bytes, the last one right before the guard */
};

static inline int guarded_init(struct guarded *g, const void *src, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = (len + page - 1) / page + 1;

	g->map_len = pages * page;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED)
		return -1;
	if (mprotect((char *)g->map + (pages - 1) * page, page, PROT_NONE)) {
		munmap(g->map, g->map_len);
		return -1;
	}
	g->data = (char *)g->map + (pages - 1) * page - len;
	memcpy(g->data, src, len);
	return 0;
}

static inline void guarded_fini(struct guarded *g)
{
	munmap(g->map, g->map_len);
	g->map = NULL;
}

#endif /* TOLLGATE_GUARD_PAGE_H */
