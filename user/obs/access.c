// SPDX-License-Identifier: Apache-2.0
/*
 * Access log writer thread. See access.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "obs/access.h"
#include "tollgate/limits.h"

struct achunk {
	struct achunk *next;
	size_t len;
	char *buf;
};

struct access_log {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct achunk *head, **tail;
	unsigned queued;
	bool stop;
	int fd;			/* guarded by lock */
	bool own_fd;
	_Atomic uint64_t dropped;
};

static int open_path(const char *path, bool *own)
{
	int fd;

	if (!strcmp(path, "-")) {
		*own = false;
		return 2;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	*own = true;
	return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;	/* disk full: the line is lost, nothing else is */
		p += w;
		n -= (size_t)w;
	}
}

static void *writer_main(void *arg)
{
	struct access_log *al = arg;

	pthread_mutex_lock(&al->lock);
	for (;;) {
		struct achunk *c;
		int fd;

		while (!al->head && !al->stop)
			pthread_cond_wait(&al->cond, &al->lock);
		c = al->head;
		if (!c)
			break;
		al->head = c->next;
		if (!al->head)
			al->tail = &al->head;
		al->queued--;
		fd = al->fd;
		pthread_mutex_unlock(&al->lock);
		write_all(fd, c->buf, c->len);
		free(c->buf);
		free(c);
		pthread_mutex_lock(&al->lock);
	}
	pthread_mutex_unlock(&al->lock);
	return NULL;
}

struct access_log *access_log_open(const char *path)
{
	struct access_log *al = calloc(1, sizeof(*al));
	int err;

	if (!al)
		return NULL;
	al->fd = open_path(path, &al->own_fd);
	if (al->fd < 0) {
		err = -al->fd;
		goto out_free;
	}
	al->tail = &al->head;
	pthread_mutex_init(&al->lock, NULL);
	pthread_cond_init(&al->cond, NULL);
	err = pthread_create(&al->thread, NULL, writer_main, al);
	if (err)
		goto out_close;
	pthread_setname_np(al->thread, "tg-access");	/* top -H, perf; best effort */
	return al;

out_close:
	if (al->own_fd)
		close(al->fd);
out_free:
	free(al);
	errno = err;
	return NULL;
}

int access_log_reopen(struct access_log *al, const char *path)
{
	bool own = false;
	int fd = open_path(path, &own), old;
	bool old_own;

	if (fd < 0)
		return fd;
	pthread_mutex_lock(&al->lock);
	old = al->fd;
	old_own = al->own_fd;
	al->fd = fd;
	al->own_fd = own;
	pthread_mutex_unlock(&al->lock);
	/* The writer may be in write() on the old fd: close it only once it
	 * is done with that chunk — it takes the lock between chunks. */
	pthread_mutex_lock(&al->lock);
	pthread_mutex_unlock(&al->lock);
	if (old_own && old != fd)
		close(old);
	return 0;
}

void access_log_submit(struct access_log *al, char *buf, size_t len)
{
	struct achunk *c;

	if (!len) {
		free(buf);
		return;
	}
	c = malloc(sizeof(*c));
	if (!c)
		goto out_drop;
	c->next = NULL;
	c->buf = buf;
	c->len = len;
	pthread_mutex_lock(&al->lock);
	if (al->queued >= TG_ACCESS_QUEUE_MAX) {
		pthread_mutex_unlock(&al->lock);
		free(c);
		goto out_drop;
	}
	*al->tail = c;
	al->tail = &c->next;
	al->queued++;
	pthread_cond_signal(&al->cond);
	pthread_mutex_unlock(&al->lock);
	return;

out_drop:
	atomic_fetch_add_explicit(&al->dropped, 1, memory_order_relaxed);
	free(buf);
}

uint64_t access_log_dropped(const struct access_log *al)
{
	return al ? atomic_load_explicit(&al->dropped, memory_order_relaxed) : 0;
}

void access_log_close(struct access_log *al)
{
	if (!al)
		return;
	pthread_mutex_lock(&al->lock);
	al->stop = true;
	pthread_cond_signal(&al->cond);
	pthread_mutex_unlock(&al->lock);
	pthread_join(al->thread, NULL);
	if (al->own_fd)
		close(al->fd);
	pthread_mutex_destroy(&al->lock);
	pthread_cond_destroy(&al->cond);
	free(al);
}
