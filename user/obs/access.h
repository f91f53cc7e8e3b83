/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The access log: one JSON line per request, written off the hot path.
 * Workers collect lines in their own chunk and hand whole chunks to a
 * writer thread; a worker never waits for the disk. When the writer falls
 * behind by more than TG_ACCESS_QUEUE_MAX chunks, further chunks are
 * dropped and counted (access_log_dropped) rather than growing without
 * bound.
 */
#ifndef TOLLGATE_ACCESS_H
#define TOLLGATE_ACCESS_H

#include <stddef.h>
#include <stdint.h>

struct access_log;

/* "-" is standard error. NULL with errno set on failure. */
struct access_log *access_log_open(const char *path);
/* Points the writer at `path` (reopened even when unchanged: rotation). */
int access_log_reopen(struct access_log *al, const char *path);
/* Takes ownership of the malloc'ed chunk buf[0..len). */
void access_log_submit(struct access_log *al, char *buf, size_t len);
/* Lines' chunks dropped because the writer fell behind. */
uint64_t access_log_dropped(const struct access_log *al);
/* Writes what is queued, stops the writer and frees; NULL is a no-op. */
void access_log_close(struct access_log *al);

#endif /* TOLLGATE_ACCESS_H */
