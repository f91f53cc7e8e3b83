// SPDX-License-Identifier: Apache-2.0
/*
 * The pinned maps, opened by name (see maps.h). Reads are plain syscalls on
 * map fds: no object file, no skeleton, so tollctl can inspect a datapath
 * loaded by any build that shares abi.h.
 */
#include "kern/maps.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <tollgate/hint.h>
#include <tollgate/limits.h>

#include "core/log.h"
#include "kern/kern.h"
#include "kern/loader.h"
#include "kern/sync.h"

#define KERN_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
/* Entries asked for per batch lookup; a hash bucket larger than this makes
 * the kernel answer ENOSPC, and the batch is retried twice as large. */
#define KERN_BATCH_ENTRIES	1024u
/* tg_penalty_hint, mapped. */
#define KERN_HINT_BYTES		(TG_PENALTY_HINT_WORDS * sizeof(__u64))
#define KERN_BATCH_ENTRIES_MAX	65536u

struct kern_map_spec {
	const char *name;
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	/* The ABI version that last changed this map's shape: pinned by an
	 * older version the loader can migrate, a map of another shape is
	 * left out (it is the old program's until the next attach). */
	__u32 changed_in;
};

/* What abi.h says each map is. */
static const struct kern_map_spec kern_map_specs[KERN_MAP__COUNT] = {
	[KERN_MAP_FLOWS] = { TG_MAP_FLOWS, BPF_MAP_TYPE_LRU_HASH,
		sizeof(struct tg_flow_key), sizeof(struct tg_flow), 0 },
	[KERN_MAP_LPM_V4] = { TG_MAP_LPM_V4, BPF_MAP_TYPE_LPM_TRIE,
		sizeof(struct tg_lpm_v4_key), sizeof(struct tg_lpm_value), 0 },
	[KERN_MAP_LPM_V6] = { TG_MAP_LPM_V6, BPF_MAP_TYPE_LPM_TRIE,
		sizeof(struct tg_lpm_v6_key), sizeof(struct tg_lpm_value), 0 },
	[KERN_MAP_TENANTS] = { TG_MAP_TENANTS, BPF_MAP_TYPE_ARRAY,
		sizeof(__u32), sizeof(struct tg_tenant_config), 0 },
	[KERN_MAP_TENANT_STATS] = { TG_MAP_TENANT_STATS, BPF_MAP_TYPE_PERCPU_ARRAY,
		sizeof(__u32), sizeof(struct tg_tenant_stats), 0 },
	[KERN_MAP_SYN_TENANT] = { TG_MAP_SYN_TENANT, BPF_MAP_TYPE_ARRAY,
		sizeof(__u32), sizeof(struct tg_gcra), 0 },
	[KERN_MAP_SYN_PREFIX] = { TG_MAP_SYN_PREFIX, BPF_MAP_TYPE_ARRAY,
		sizeof(__u32), sizeof(struct tg_prefix_set), 3 },
	[KERN_MAP_PENALTY] = { TG_MAP_PENALTY, BPF_MAP_TYPE_LRU_HASH,
		sizeof(struct tg_src_key), sizeof(struct tg_penalty), 0 },
	[KERN_MAP_CONFIG] = { TG_MAP_CONFIG, BPF_MAP_TYPE_ARRAY,
		sizeof(__u32), sizeof(struct tg_config), 0 },
	[KERN_MAP_FLOOD] = { TG_MAP_FLOOD, BPF_MAP_TYPE_PERCPU_ARRAY,
		sizeof(__u32), sizeof(struct tg_flood_window), 0 },
	[KERN_MAP_STATS] = { TG_MAP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY,
		sizeof(__u32), sizeof(struct tg_reason_stats), 0 },
	[KERN_MAP_RUNS] = { TG_MAP_RUNS, BPF_MAP_TYPE_PERCPU_ARRAY,
		sizeof(__u32), sizeof(__u64), 0 },
	[KERN_MAP_EVENTS] = { TG_MAP_EVENTS, BPF_MAP_TYPE_RINGBUF, 0, 0, 0 },
	[KERN_MAP_PACE] = { TG_MAP_PACE, BPF_MAP_TYPE_ARRAY,
		sizeof(__u32), sizeof(struct tg_pace), 0 },
	[KERN_MAP_PENALTY_HINT] = { TG_MAP_PENALTY_HINT, BPF_MAP_TYPE_ARRAY,
		sizeof(__u32), sizeof(__u64), 3 },
	[KERN_MAP_NAMES] = { KERN_MAP_TENANT_NAMES, BPF_MAP_TYPE_ARRAY,
		sizeof(__u32), KERN_TENANT_NAME_SIZE, 0 },
};

struct kern_maps {
	char *dir;
	int fd[KERN_MAP__COUNT];
	__u32 max_entries[KERN_MAP__COUNT];
	int ncpus;
	__u32 abi_pinned;	/* the pinned record's version (ours when none) */
	__u64 *hint;		/* tg_penalty_hint mapped, once a penalty is added */
};

struct kern_events {
	struct ring_buffer *rb;
	kern_event_fn fn;
	void *ctx;
};

static const char *const kern_hook_names[] = {
	[TG_HOOK_XDP_INGRESS] = "xdp_ingress",
	[TG_HOOK_TC_EGRESS] = "tc_egress",
};

_Static_assert(KERN_ARRAY_SIZE(kern_hook_names) == TG_HOOK__COUNT,
	       "one name per hook");

const char *kern_hook_name(unsigned int hook)
{
	if (hook >= KERN_ARRAY_SIZE(kern_hook_names) || !kern_hook_names[hook])
		return "unknown";
	return kern_hook_names[hook];
}

const char *kern_map_name(enum kern_map_id id)
{
	if ((unsigned int)id >= KERN_MAP__COUNT)
		return "unknown";
	return kern_map_specs[id].name;
}

const char *kern_pin_dir(const char *dir)
{
	const char *env;

	if (dir)
		return dir;
	env = getenv(KERN_PIN_DIR_ENV);
	if (env && *env)
		return env;
	return TG_PIN_DIR;
}

uint64_t kern_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 3, 4)))
static void kern_set_err(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

void kern_maps_close(struct kern_maps *m)
{
	unsigned int i;

	if (!m)
		return;
	if (m->hint)
		munmap(m->hint, KERN_HINT_BYTES);
	m->hint = NULL;
	for (i = 0; i < KERN_MAP__COUNT; i++) {
		if (m->fd[i] >= 0)
			close(m->fd[i]);
		m->fd[i] = -1;
	}
	free(m->dir);
	m->dir = NULL;
	free(m);
}

const char *kern_maps_dir(const struct kern_maps *m)
{
	return m->dir;
}

bool kern_maps_has(const struct kern_maps *m, enum kern_map_id id)
{
	return (unsigned int)id < KERN_MAP__COUNT && m->fd[id] >= 0;
}

uint32_t kern_maps_max_entries(const struct kern_maps *m, enum kern_map_id id)
{
	if (!kern_maps_has(m, id))
		return 0;
	return m->max_entries[id];
}

/* Checks a pinned map against its spec. Returns 0 or -EPROTO with the
 * difference in `err`. */
static int kern_map_check(struct kern_maps *m, enum kern_map_id id,
			  char *err, size_t err_size)
{
	const struct kern_map_spec *spec = &kern_map_specs[id];
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int ret;

	memset(&info, 0, sizeof(info));
	ret = bpf_obj_get_info_by_fd(m->fd[id], &info, &len);
	if (ret) {
		ret = -errno;
		kern_set_err(err, err_size, "%s/%s: reading map info: %s",
			     m->dir, spec->name, strerror(-ret));
		return ret;
	}
	if ((info.type != spec->type || info.key_size != spec->key_size ||
	     info.value_size != spec->value_size) && m->abi_pinned < spec->changed_in) {
		/* Pinned by an older version, which the next attach migrates:
		 * left out until then. */
		log_debug("kern: %s/%s is ABI version %u's; left out until re-attached",
			  m->dir, spec->name, m->abi_pinned);
		close(m->fd[id]);
		m->fd[id] = -1;
		return -ENOENT;
	}
	if (info.type != spec->type || info.key_size != spec->key_size ||
	    info.value_size != spec->value_size) {
		kern_set_err(err, err_size,
			     "%s/%s does not match this build's abi.h (type %u key %u value %u, expected type %u key %u value %u): re-attach with this build",
			     m->dir, spec->name, info.type, info.key_size,
			     info.value_size, spec->type, spec->key_size,
			     spec->value_size);
		return -EPROTO;
	}
	m->max_entries[id] = info.max_entries;
	return 0;
}

/* The ABI record, when the loader pinned one: the loader's own check, so
 * the inspector accepts exactly what the loader would re-attach to
 * (including versions it can migrate). Returns 0, -EPROTO or -errno. */
static int kern_maps_abi_check(struct kern_maps *m, char *err,
			       size_t err_size)
{
	int ret = kern_abi_check(m->dir, err, err_size);

	if (ret == -ENOENT)
		return 0;
	if (!ret && kern_abi_pinned_version(m->dir, &m->abi_pinned))
		m->abi_pinned = TG_ABI_VERSION;
	return ret;
}

struct kern_maps *kern_maps_open(const char *dir, char *err, size_t err_size)
{
	struct kern_maps *m;
	char path[PATH_MAX];
	unsigned int i, found = 0;
	struct stat st;
	int ret;

	kern_set_err(err, err_size, "no error");
	dir = kern_pin_dir(dir);
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	for (i = 0; i < KERN_MAP__COUNT; i++)
		m->fd[i] = -1;
	m->abi_pinned = TG_ABI_VERSION;
	m->dir = strdup(dir);
	if (!m->dir) {
		ret = -ENOMEM;
		goto out_close;
	}
	m->ncpus = libbpf_num_possible_cpus();
	if (m->ncpus <= 0) {
		ret = m->ncpus < 0 ? m->ncpus : -EINVAL;
		kern_set_err(err, err_size, "counting possible CPUs: %s",
			     strerror(-ret));
		goto out_close;
	}

	if (stat(dir, &st)) {
		ret = -errno;
		if (ret == -ENOENT) {
			kern_set_err(err, err_size,
				     "no tollgate maps pinned under %s: run tollctl attach",
				     dir);
		} else {
			kern_set_err(err, err_size, "%s: %s%s", dir, strerror(-ret),
				     ret == -EPERM || ret == -EACCES ?
				     " (tollctl needs root, or CAP_BPF and access to bpffs)" : "");
		}
		goto out_close;
	}
	/* The record first: "another ABI version" explains any map that
	 * differs below better than the map's sizes would. */
	ret = kern_maps_abi_check(m, err, err_size);
	if (ret)
		goto out_close;

	for (i = 0; i < KERN_MAP__COUNT; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     kern_map_specs[i].name) >= sizeof(path)) {
			ret = -ENAMETOOLONG;
			kern_set_err(err, err_size, "%s: %s", dir, strerror(-ret));
			goto out_close;
		}
		m->fd[i] = bpf_obj_get(path);
		if (m->fd[i] < 0) {
			ret = -errno;
			m->fd[i] = -1;
			if (ret == -ENOENT)
				continue;
			kern_set_err(err, err_size, "%s: %s%s", path, strerror(-ret),
				     ret == -EPERM || ret == -EACCES ?
				     " (tollctl needs root, or CAP_BPF and access to bpffs)" : "");
			goto out_close;
		}
		ret = kern_map_check(m, i, err, err_size);
		if (ret == -ENOENT)
			continue;
		if (ret)
			goto out_close;
		found++;
		log_debug("kern: opened %s (max_entries %u)", path, m->max_entries[i]);
	}
	if (!found) {
		ret = -ENOENT;
		kern_set_err(err, err_size,
			     "no tollgate maps pinned under %s: run tollctl attach", dir);
		goto out_close;
	}
	return m;

out_close:
	kern_maps_close(m);
	errno = -ret;
	return NULL;
}

/* ---- per-CPU values ---------------------------------------------------------- */

/* Looks up one per-CPU element of `id` and adds its CPUs' u64 words into
 * `out` (value_size bytes, a whole number of u64 words). */
static int kern_percpu_sum(struct kern_maps *m, enum kern_map_id id, __u32 key,
			   void *out)
{
	size_t words = kern_map_specs[id].value_size / sizeof(__u64);
	size_t stride = (kern_map_specs[id].value_size + 7) & ~(size_t)7;
	__u64 *sum = out, *buf;
	int cpu, ret;
	size_t w;

	if (!kern_maps_has(m, id))
		return -ENOENT;
	if (key >= m->max_entries[id])
		return -ERANGE;
	buf = calloc((size_t)m->ncpus, stride);
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(m->fd[id], &key, buf)) {
		ret = -errno;
		goto out_free_buf;
	}
	memset(out, 0, kern_map_specs[id].value_size);
	for (cpu = 0; cpu < m->ncpus; cpu++) {
		const __u64 *v = (const __u64 *)((const char *)buf + (size_t)cpu * stride);

		for (w = 0; w < words; w++)
			sum[w] += v[w];
	}
	ret = 0;
out_free_buf:
	free(buf);
	return ret;
}

_Static_assert(sizeof(struct tg_reason_stats) % sizeof(__u64) == 0, "u64 words");
_Static_assert(sizeof(struct tg_tenant_stats) % sizeof(__u64) == 0, "u64 words");

int kern_reason_stats_read(struct kern_maps *m,
			   struct tg_reason_stats out[TG_REASON__COUNT])
{
	__u32 r;
	int ret;

	memset(out, 0, sizeof(*out) * TG_REASON__COUNT);
	for (r = 0; r < TG_REASON__COUNT; r++) {
		ret = kern_percpu_sum(m, KERN_MAP_STATS, r, &out[r]);
		/* A map sized for fewer reasons (an older datapath). */
		if (ret == -ERANGE)
			break;
		if (ret)
			return ret;
	}
	return 0;
}

int kern_runs_read(struct kern_maps *m, uint64_t out[TG_HOOK__COUNT])
{
	__u32 h;
	__u64 v;
	int ret;

	memset(out, 0, sizeof(*out) * TG_HOOK__COUNT);
	for (h = 0; h < TG_HOOK__COUNT; h++) {
		ret = kern_percpu_sum(m, KERN_MAP_RUNS, h, &v);
		if (ret == -ERANGE)
			break;
		if (ret)
			return ret;
		out[h] = v;
	}
	return 0;
}

uint32_t kern_tenant_slots(const struct kern_maps *m)
{
	uint32_t a = kern_maps_max_entries(m, KERN_MAP_TENANTS);
	uint32_t b = kern_maps_max_entries(m, KERN_MAP_TENANT_STATS);

	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

int kern_tenant_stats_read(struct kern_maps *m, uint32_t id,
			   struct tg_tenant_stats *out)
{
	return kern_percpu_sum(m, KERN_MAP_TENANT_STATS, id, out);
}

int kern_tenant_config_read(struct kern_maps *m, uint32_t id,
			    struct tg_tenant_config *out)
{
	if (!kern_maps_has(m, KERN_MAP_TENANTS))
		return -ENOENT;
	if (id >= m->max_entries[KERN_MAP_TENANTS])
		return -ERANGE;
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(m->fd[KERN_MAP_TENANTS], &id, out))
		return -errno;
	return 0;
}

int kern_tenant_name_read(struct kern_maps *m, uint32_t id, char *buf,
			  size_t size)
{
	char name[KERN_TENANT_NAME_SIZE + 1];

	if (!kern_maps_has(m, KERN_MAP_NAMES))
		return -ENOENT;
	if (id >= m->max_entries[KERN_MAP_NAMES])
		return -ERANGE;
	memset(name, 0, sizeof(name));
	if (bpf_map_lookup_elem(m->fd[KERN_MAP_NAMES], &id, name))
		return -errno;
	name[KERN_TENANT_NAME_SIZE] = '\0';
	if (!name[0])
		return -ENOENT;
	snprintf(buf, size, "%s", name);
	return 0;
}

int kern_tenant_set_blocked(struct kern_maps *m, uint32_t id, bool blocked)
{
	struct tg_tenant_config cfg;
	int ret;

	/* Read-modify-write: the loader may rewrite the entry at the same
	 * time (policy apply), in which case the later writer wins; a block
	 * lost that way is re-applied by the daemon's budget check. */
	ret = kern_tenant_config_read(m, id, &cfg);
	if (ret)
		return ret;
	if (blocked)
		cfg.flags |= TG_TENANT_F_BLOCKED;
	else
		cfg.flags &= ~TG_TENANT_F_BLOCKED;
	if (bpf_map_update_elem(m->fd[KERN_MAP_TENANTS], &id, &cfg, BPF_EXIST))
		return -errno;
	return 0;
}

/* ---- hash walks ------------------------------------------------------------- */

/* Appends one record (key at 0, value at `voff`) to a growing array. */
static int kern_dump_push(char **buf, size_t *n, size_t *cap, size_t rec,
			  size_t voff, const void *key, size_t ksize,
			  const void *val, size_t vsize, size_t limit)
{
	char *p;

	if (*n >= limit)
		return -E2BIG;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;

		if (ncap > limit)
			ncap = limit;
		p = realloc(*buf, ncap * rec);
		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = ncap;
	}
	p = *buf + *n * rec;
	memset(p, 0, rec);
	memcpy(p, key, ksize);
	memcpy(p + voff, val, vsize);
	(*n)++;
	return 0;
}

/* Batch walk. Returns 0, -EOPNOTSUPP/-EINVAL when the kernel has no batch
 * ops for this map (nothing was read then), or -errno. */
static int kern_dump_batch(int fd, size_t ksize, size_t vsize, size_t rec,
			   size_t voff, size_t limit, char **buf, size_t *n,
			   size_t *cap)
{
	__u32 chunk = KERN_BATCH_ENTRIES, count, i;
	char token[64], next[64];
	char *keys = NULL, *vals = NULL;
	bool first = true, done = false;
	int ret = 0;

	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	while (!done) {
		if (!keys) {
			keys = calloc(chunk, ksize);
			vals = calloc(chunk, vsize);
			if (!keys || !vals) {
				ret = -ENOMEM;
				goto out_free;
			}
		}
		count = chunk;
		ret = bpf_map_lookup_batch(fd, first ? NULL : token, next, keys,
					   vals, &count, &opts);
		if (ret) {
			ret = -errno;
			if (ret == -ENOSPC && chunk < KERN_BATCH_ENTRIES_MAX) {
				/* A bucket larger than the chunk. */
				free(keys);
				free(vals);
				keys = vals = NULL;
				chunk *= 2;
				continue;
			}
			if (ret != -ENOENT)
				goto out_free;
			/* The last, possibly empty, chunk. */
			done = true;
			ret = 0;
		}
		for (i = 0; i < count; i++) {
			ret = kern_dump_push(buf, n, cap, rec, voff,
					     keys + (size_t)i * ksize, ksize,
					     vals + (size_t)i * vsize, vsize, limit);
			if (ret == -E2BIG) {
				/* More than max_entries: entries came and went
				 * during the walk; what we have is the answer. */
				ret = 0;
				done = true;
				break;
			}
			if (ret)
				goto out_free;
		}
		memcpy(token, next, sizeof(token));
		first = false;
	}
out_free:
	free(keys);
	free(vals);
	return ret;
}

/* Key-by-key walk, for kernels without batch ops. */
static int kern_dump_keys(int fd, size_t ksize, size_t vsize, size_t rec,
			  size_t voff, size_t limit, char **buf, size_t *n,
			  size_t *cap)
{
	char key[64], next[64], val[128];
	bool first = true;
	size_t steps = 0;
	int ret;

	for (;;) {
		if (bpf_map_get_next_key(fd, first ? NULL : key, next)) {
			if (errno == ENOENT)
				return 0;	/* the end */
			return -errno;
		}
		first = false;
		memcpy(key, next, ksize);
		/* A walk over an LRU map that keeps changing can restart;
		 * bound it. */
		if (++steps > limit * 2)
			break;
		if (bpf_map_lookup_elem(fd, key, val)) {
			if (errno == ENOENT)
				continue;	/* evicted since */
			return -errno;
		}
		ret = kern_dump_push(buf, n, cap, rec, voff, key, ksize, val,
				     vsize, limit);
		if (ret == -E2BIG)
			return 0;
		if (ret)
			return ret;
	}
	return 0;
}

/* Every entry of a hash map as records of `rec` bytes (key at offset 0,
 * value at `voff`). */
static int kern_dump(struct kern_maps *m, enum kern_map_id id, size_t rec,
		     size_t voff, void **out, size_t *nout)
{
	size_t ksize = kern_map_specs[id].key_size;
	size_t vsize = kern_map_specs[id].value_size;
	size_t n = 0, cap = 0, limit;
	char *buf = NULL;
	int ret;

	_Static_assert(sizeof(struct tg_flow_key) <= 64, "kern_dump key buffer");
	_Static_assert(sizeof(struct tg_flow) <= 128, "kern_dump value buffer");

	*out = NULL;
	*nout = 0;
	if (!kern_maps_has(m, id))
		return -ENOENT;
	if (ksize > 64 || vsize > 128)
		return -EINVAL;
	limit = m->max_entries[id];
	if (!limit)
		return 0;

	ret = kern_dump_batch(m->fd[id], ksize, vsize, rec, voff, limit, &buf,
			      &n, &cap);
	if (ret == -EINVAL || ret == -EOPNOTSUPP || ret == -ENOTSUP ||
	    ret == -524 /* ENOTSUPP, the kernel-internal one */) {
		log_debug("kern: no batch lookup for %s (%s), walking keys",
			  kern_map_specs[id].name, strerror(-ret));
		n = 0;
		ret = kern_dump_keys(m->fd[id], ksize, vsize, rec, voff, limit,
				     &buf, &n, &cap);
	}
	if (ret) {
		free(buf);
		return ret;
	}
	if (!n) {
		free(buf);
		buf = NULL;
	}
	*out = buf;
	*nout = n;
	return 0;
}

int kern_flows_read(struct kern_maps *m, struct kern_flow_entry **out, size_t *n)
{
	return kern_dump(m, KERN_MAP_FLOWS, sizeof(**out),
			 offsetof(struct kern_flow_entry, flow), (void **)out, n);
}

/* ---- penalty box ------------------------------------------------------------ */

int kern_src_key_parse(const char *text, struct tg_src_key *out)
{
	memset(out, 0, sizeof(*out));
	if (strchr(text, ':')) {
		if (inet_pton(AF_INET6, text, out->addr) != 1)
			return -EINVAL;
		out->family = TG_FAMILY_IPV6;
		return 0;
	}
	if (inet_pton(AF_INET, text, &out->addr[0]) != 1)
		return -EINVAL;
	out->family = TG_FAMILY_IPV4;
	return 0;
}

char *kern_addr_format(uint8_t family, const __u32 addr[4], char *buf, size_t size)
{
	const char *ok;

	if (family == TG_FAMILY_IPV4)
		ok = inet_ntop(AF_INET, &addr[0], buf, (socklen_t)size);
	else if (family == TG_FAMILY_IPV6)
		ok = inet_ntop(AF_INET6, addr, buf, (socklen_t)size);
	else
		ok = NULL;
	if (!ok)
		snprintf(buf, size, "?");
	return buf;
}

/* tg_penalty_hint mapped writable; NULL when it cannot be (errno set). */
static __u64 *kern_hint_map(int fd)
{
	void *p = mmap(NULL, KERN_HINT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Sets `key`'s hint bits: an atomic OR, so a concurrent writer (tollctl
 * and the daemon) never loses a bit of another address. */
static void kern_hint_set(__u64 *hint, const struct tg_src_key *key)
{
	__u64 bits;
	__u32 word;

	tg_penalty_hint_of(key, &word, &bits);
	__atomic_fetch_or(&hint[word], bits, __ATOMIC_SEQ_CST);
}

/* The hint mapped, opening its pin when it was not there at
 * kern_maps_open (the attach that creates it may have come since).
 * -ENOENT: no hint pinned, maps of an older ABI whose program has none. */
static int kern_maps_hint(struct kern_maps *m)
{
	int fd;

	if (m->hint)
		return 0;
	if (m->fd[KERN_MAP_PENALTY_HINT] < 0) {
		fd = kern_pin_open(m->dir, TG_MAP_PENALTY_HINT, sizeof(__u32), sizeof(__u64),
				   &m->max_entries[KERN_MAP_PENALTY_HINT]);
		if (fd < 0)
			return fd;
		m->fd[KERN_MAP_PENALTY_HINT] = fd;
	}
	m->hint = kern_hint_map(m->fd[KERN_MAP_PENALTY_HINT]);
	return m->hint ? 0 : -errno;
}

int kern_penalty_add(struct kern_maps *m, const struct tg_src_key *key,
		     uint64_t duration_ns)
{
	struct tg_penalty v = { .expiry_ns = kern_now_ns() + duration_ns };
	int ret;

	if (!kern_maps_has(m, KERN_MAP_PENALTY))
		return -ENOENT;
	if (v.expiry_ns < duration_ns)
		v.expiry_ns = UINT64_MAX;
	ret = kern_maps_hint(m);
	if (ret && ret != -ENOENT)
		return ret;
	if (bpf_map_update_elem(m->fd[KERN_MAP_PENALTY], key, &v, BPF_ANY))
		return -errno;
	if (m->hint)
		kern_hint_set(m->hint, key);
	return 0;
}

int kern_penalty_hint_fill(int penalty_fd, int hint_fd)
{
	struct tg_src_key key, next;
	__u64 *hint = kern_hint_map(hint_fd);
	bool first = true;
	int ret = 0;

	if (!hint)
		return -errno;
	while (!bpf_map_get_next_key(penalty_fd, first ? NULL : &key, &next)) {
		kern_hint_set(hint, &next);
		key = next;
		first = false;
	}
	if (errno != ENOENT)
		ret = -errno;
	munmap(hint, KERN_HINT_BYTES);
	return ret;
}

int kern_penalty_del(struct kern_maps *m, const struct tg_src_key *key)
{
	if (!kern_maps_has(m, KERN_MAP_PENALTY))
		return -ENOENT;
	if (bpf_map_delete_elem(m->fd[KERN_MAP_PENALTY], key))
		return -errno;
	return 0;
}

int kern_penalty_list(struct kern_maps *m, struct kern_penalty_entry **out,
		      size_t *n)
{
	return kern_dump(m, KERN_MAP_PENALTY, sizeof(**out),
			 offsetof(struct kern_penalty_entry, value), (void **)out, n);
}

/* ---- events ---------------------------------------------------------------- */

static int kern_events_sample(void *ctx, void *data, size_t size)
{
	struct kern_events *ev = ctx;
	struct tg_event rec;

	if (size < sizeof(rec))
		return 0;
	/* Ring buffer samples are 8-byte aligned; copy anyway so a callback
	 * can keep the record past a later consume. */
	memcpy(&rec, data, sizeof(rec));
	return ev->fn(ev->ctx, &rec);
}

struct kern_events *kern_events_new(struct kern_maps *m, kern_event_fn fn,
				    void *ctx)
{
	struct kern_events *ev;
	int err;

	if (!kern_maps_has(m, KERN_MAP_EVENTS)) {
		errno = ENOENT;
		return NULL;
	}
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->fn = fn;
	ev->ctx = ctx;
	ev->rb = ring_buffer__new(m->fd[KERN_MAP_EVENTS], kern_events_sample, ev,
				  NULL);
	if (!ev->rb) {
		err = errno;
		free(ev);
		errno = err;
		return NULL;
	}
	return ev;
}

int kern_events_poll(struct kern_events *ev, int timeout_ms)
{
	int ret = ring_buffer__poll(ev->rb, timeout_ms);

	return ret;
}

void kern_events_free(struct kern_events *ev)
{
	if (!ev)
		return;
	ring_buffer__free(ev->rb);
	ev->rb = NULL;
	free(ev);
}

/* ---- snapshot ---------------------------------------------------------------- */

static bool kern_is_zero(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

void kern_snapshot_fini(struct kern_snapshot *s)
{
	if (!s)
		return;
	free(s->tenants);
	s->tenants = NULL;
	s->n_tenants = 0;
}

int kern_snapshot_read(struct kern_maps *m, struct kern_snapshot *s)
{
	struct kern_tenant_snapshot t;
	struct kern_penalty_entry *pen = NULL;
	struct kern_flow_entry *flows = NULL;
	uint32_t id, slots;
	size_t i, n, cap = 0;
	uint64_t now;
	int ret;

	memset(s, 0, sizeof(*s));
	if (kern_maps_has(m, KERN_MAP_STATS)) {
		ret = kern_reason_stats_read(m, s->reasons);
		if (ret)
			return ret;
		s->has_reasons = true;
	}
	if (kern_maps_has(m, KERN_MAP_RUNS)) {
		ret = kern_runs_read(m, s->runs);
		if (ret)
			return ret;
		s->has_runs = true;
	}

	slots = kern_tenant_slots(m);
	for (id = 0; id < slots; id++) {
		memset(&t, 0, sizeof(t));
		t.id = id;
		if (kern_maps_has(m, KERN_MAP_TENANT_STATS)) {
			ret = kern_tenant_stats_read(m, id, &t.stats);
			if (ret)
				return ret;
		}
		if (kern_maps_has(m, KERN_MAP_TENANTS)) {
			ret = kern_tenant_config_read(m, id, &t.config);
			if (ret)
				return ret;
			t.has_config = true;
		}
		if (kern_is_zero(&t.stats, sizeof(t.stats)) &&
		    kern_is_zero(&t.config, sizeof(t.config)))
			continue;
		if (s->n_tenants == cap) {
			struct kern_tenant_snapshot *p;

			cap = cap ? cap * 2 : 16;
			p = realloc(s->tenants, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			s->tenants = p;
		}
		s->tenants[s->n_tenants++] = t;
	}

	if (kern_maps_has(m, KERN_MAP_FLOWS)) {
		ret = kern_flows_read(m, &flows, &n);
		free(flows);
		if (ret)
			return ret;
		s->has_flows = true;
		s->flows = n;
		s->flows_max = m->max_entries[KERN_MAP_FLOWS];
	}
	if (kern_maps_has(m, KERN_MAP_PENALTY)) {
		ret = kern_penalty_list(m, &pen, &n);
		if (ret)
			return ret;
		now = kern_now_ns();
		for (i = 0; i < n; i++)
			if (pen[i].value.expiry_ns > now)
				s->penalty_active++;
		free(pen);
		s->has_penalty = true;
	}
	return 0;
}
