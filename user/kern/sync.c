// SPDX-License-Identifier: Apache-2.0
#include "kern/sync.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

#include "core/log.h"
#include "kern/loader.h"
#include "kern/maps.h"
#include "policy/policy.h"

#define SYNC_NS_PER_MS		1000000ull
/* tg_syn_prefix's TAT units (abi.h, struct tg_prefix_set): at least 2^6 ns,
 * so that the slot's 48 bits span 208 days, and coarse enough that
 * tau + T stays below 2^40 units, 1/256 of the span. A slot idle longer
 * than the span is then misread as live with a chance of at most 1/256
 * (for the default rates, less than one in a million). */
#define KERN_PREFIX_TAT_SHIFT_MIN	6
#define KERN_PREFIX_SPAN_BITS		40

__attribute__((format(printf, 3, 4)))
static void sync_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!err || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

void kern_gcra_params(uint64_t count, uint64_t period_ms, uint32_t burst,
		      uint64_t *interval_ns, uint64_t *burst_ns)
{
	unsigned __int128 t;

	*interval_ns = 0;
	*burst_ns = 0;
	if (!count)
		return;
	t = (unsigned __int128)period_ms * SYNC_NS_PER_MS / count;
	if (!t)
		t = 1;		/* faster than 1/ns: as fast as the clock goes */
	if (t > UINT64_MAX)
		t = UINT64_MAX;
	*interval_ns = (uint64_t)t;
	if (burst > 1) {
		t *= burst - 1;
		*burst_ns = t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
	}
}

unsigned int kern_prefix_tat_shift(uint64_t interval_ns, uint64_t burst_ns)
{
	unsigned __int128 span = (unsigned __int128)interval_ns + burst_ns;
	unsigned int shift = KERN_PREFIX_TAT_SHIFT_MIN;

	while (shift < 32 && (span >> shift) >= (1ull << KERN_PREFIX_SPAN_BITS))
		shift++;
	return shift;
}

/* A seed for tg_syn_prefix's hash, from the kernel's random pool; never
 * 0 (0 is "not chosen yet"). */
static uint32_t sync_prefix_seed(void)
{
	uint32_t seed = 0;

	while (!seed) {
		if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
			seed = (uint32_t)kern_now_ns() * 2654435761u;
	}
	return seed;
}

static void sync_tenant_config(const struct policy_tenant *t,
			       struct tg_tenant_config *c)
{
	uint64_t interval, burst;

	memset(c, 0, sizeof(*c));
	kern_gcra_params(t->syn.rate.count, t->syn.rate.period_ms, t->syn.burst,
			 &interval, &burst);
	c->syn_interval_ns = interval;
	c->syn_burst_ns = burst;
	c->bytes_per_token = t->bytes_per_token > TG_BYTES_PER_TOKEN_MAX ?
			     TG_BYTES_PER_TOKEN_MAX : t->bytes_per_token;
	c->egress_bytes_per_sec = t->egress_bytes_per_second;
}

/* A desired LPM entry, v4 and v6 alike: the key's bytes then the id. */
struct sync_lpm {
	struct tg_lpm_v6_key key;	/* large enough for both */
	uint32_t tenant_id;
};

static int sync_lpm_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct sync_lpm *)a)->key,
		      &((const struct sync_lpm *)b)->key,
		      sizeof(struct tg_lpm_v6_key));
}

/* Collects the policy's prefixes of one family (4 or 6), sorted by key. */
static int sync_lpm_collect(const struct policy *p, uint8_t family,
			    struct sync_lpm **out, size_t *n)
{
	struct sync_lpm *v = NULL;
	size_t count = 0, k = 0;
	uint32_t i, j;

	*out = NULL;
	*n = 0;
	if (!p)
		return 0;
	for (i = 0; i < p->n_tenants; i++)
		for (j = 0; j < p->tenants[i].n_prefixes; j++)
			count += p->tenants[i].prefixes[j].family == family;
	if (!count)
		return 0;
	v = calloc(count, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < p->n_tenants; i++) {
		for (j = 0; j < p->tenants[i].n_prefixes; j++) {
			const struct policy_cidr *c = &p->tenants[i].prefixes[j];

			if (c->family != family)
				continue;
			memset(&v[k], 0, sizeof(v[k]));
			v[k].key.prefixlen = c->len;
			memcpy(v[k].key.addr, c->addr, family == TG_FAMILY_IPV4 ? 4 : 16);
			v[k].tenant_id = i + 1;
			k++;
		}
	}
	qsort(v, count, sizeof(*v), sync_lpm_cmp);
	*out = v;
	*n = count;
	return 0;
}

/*
 * Writes every desired entry into the trie, then deletes the entries the
 * trie holds that are not desired. Deletes happen after the walk so the
 * walk never loses its place.
 */
static int sync_lpm_map(int fd, uint32_t key_size, uint32_t max_entries,
			const struct sync_lpm *want, size_t n_want,
			uint32_t *written, uint32_t *removed)
{
	struct tg_lpm_v6_key key, next, *stale = NULL;
	struct tg_lpm_value val;
	size_t n_stale = 0, cap = 0, i;
	struct sync_lpm probe;
	bool first = true;
	int err = 0;

	if (n_want > max_entries)
		return -E2BIG;
	for (i = 0; i < n_want; i++) {
		memset(&val, 0, sizeof(val));
		val.tenant_id = want[i].tenant_id;
		if (bpf_map_update_elem(fd, &want[i].key, &val, BPF_ANY))
			return -errno;
		(*written)++;
	}

	memset(&key, 0, sizeof(key));
	for (;;) {
		memset(&next, 0, sizeof(next));
		if (bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
			err = -errno;
			if (err == -ENOENT)
				err = 0;
			break;
		}
		first = false;
		key = next;
		memset(&probe, 0, sizeof(probe));
		memcpy(&probe.key, &next, key_size);
		if (n_want && bsearch(&probe, want, n_want, sizeof(*want), sync_lpm_cmp))
			continue;
		if (n_stale == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *nv = realloc(stale, ncap * sizeof(*stale));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			stale = nv;
			cap = ncap;
		}
		stale[n_stale++] = next;
		if (n_stale > (size_t)max_entries + 1)
			break;	/* a trie cannot hold more; stop a runaway walk */
	}
	for (i = 0; !err && i < n_stale; i++) {
		if (bpf_map_delete_elem(fd, &stale[i]) && errno != ENOENT) {
			err = -errno;
			break;
		}
		(*removed)++;
	}
	free(stale);
	return err;
}

static int sync_lpm(const char *dir, const struct policy *p, uint8_t family,
		    struct kern_sync_report *rep, char *err, size_t err_size)
{
	const char *name = family == TG_FAMILY_IPV4 ? TG_MAP_LPM_V4 : TG_MAP_LPM_V6;
	uint32_t key_size = family == TG_FAMILY_IPV4 ? sizeof(struct tg_lpm_v4_key)
						     : sizeof(struct tg_lpm_v6_key);
	uint32_t *written = family == TG_FAMILY_IPV4 ? &rep->lpm_v4 : &rep->lpm_v6;
	struct sync_lpm *want = NULL;
	uint32_t max_entries = 0;
	size_t n_want = 0;
	int fd, ret;

	fd = kern_pin_open(dir, name, key_size, sizeof(struct tg_lpm_value),
			   &max_entries);
	if (fd == -ENOENT) {
		log_debug("kern sync: %s is not pinned in %s, skipped", name, dir);
		rep->maps_missing++;
		return 0;
	}
	if (fd < 0) {
		sync_err(err, err_size, "%s/%s: %s", dir, name, strerror(-fd));
		return fd;
	}
	ret = sync_lpm_collect(p, family, &want, &n_want);
	if (!ret)
		ret = sync_lpm_map(fd, key_size, max_entries, want, n_want,
				   written, &rep->lpm_removed);
	if (ret == -E2BIG)
		sync_err(err, err_size, "%zu IPv%u prefixes in the policy, %s holds %u",
			 n_want, family, name, max_entries);
	else if (ret)
		sync_err(err, err_size, "writing %s: %s", name, strerror(-ret));
	free(want);
	close(fd);
	return ret;
}

/* The name an id had in the last sync, "" when unknown. */
static void sync_name_get(int names_fd, uint32_t id, char name[KERN_TENANT_NAME_SIZE])
{
	memset(name, 0, KERN_TENANT_NAME_SIZE);
	if (names_fd >= 0 && bpf_map_lookup_elem(names_fd, &id, name))
		memset(name, 0, KERN_TENANT_NAME_SIZE);
	name[KERN_TENANT_NAME_SIZE - 1] = '\0';
}

/* The names of the ids blocked now, read before anything is rewritten. */
struct sync_blocked {
	char (*names)[KERN_TENANT_NAME_SIZE];
	size_t n;
	bool id0;		/* slot 0, which has no name */
};

static int sync_blocked_read(int fd, int names_fd, uint32_t max_entries,
			     struct sync_blocked *b)
{
	struct tg_tenant_config cur;
	char name[KERN_TENANT_NAME_SIZE];
	size_t cap = 0;
	uint32_t id;

	memset(b, 0, sizeof(*b));
	for (id = 0; id < max_entries; id++) {
		memset(&cur, 0, sizeof(cur));
		if (bpf_map_lookup_elem(fd, &id, &cur))
			return -errno;
		if (!(cur.flags & TG_TENANT_F_BLOCKED))
			continue;
		if (!id) {
			b->id0 = true;
			continue;
		}
		sync_name_get(names_fd, id, name);
		if (!name[0])
			continue;	/* blocked, but nobody knows who it was */
		if (b->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *nv = realloc(b->names, ncap * sizeof(*b->names));

			if (!nv)
				return -ENOMEM;
			b->names = nv;
			cap = ncap;
		}
		memcpy(b->names[b->n++], name, sizeof(name));
	}
	return 0;
}

static bool sync_is_blocked(const struct sync_blocked *b, const char *name)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (!strcmp(b->names[i], name))
			return true;
	return false;
}

static int sync_tenants(const char *dir, const struct policy *p,
			struct kern_sync_report *rep, char *err, size_t err_size)
{
	char old[KERN_TENANT_NAME_SIZE], now[KERN_TENANT_NAME_SIZE];
	uint32_t max_entries = 0, n = p ? p->n_tenants : 0, id;
	struct tg_tenant_config cfg, cur;
	struct sync_blocked blocked;
	int fd, names_fd, ret = 0;

	memset(&blocked, 0, sizeof(blocked));
	fd = kern_pin_open(dir, TG_MAP_TENANTS, sizeof(__u32),
			   sizeof(struct tg_tenant_config), &max_entries);
	if (fd == -ENOENT) {
		log_debug("kern sync: %s is not pinned in %s, skipped",
			  TG_MAP_TENANTS, dir);
		rep->maps_missing++;
		return 0;
	}
	if (fd < 0) {
		sync_err(err, err_size, "%s/%s: %s", dir, TG_MAP_TENANTS, strerror(-fd));
		return fd;
	}
	if (n + 1 > max_entries) {
		sync_err(err, err_size, "%u tenants in the policy, %s holds %u (id 0 included)",
			 n, TG_MAP_TENANTS, max_entries);
		close(fd);
		return -E2BIG;
	}
	names_fd = kern_pin_open(dir, KERN_MAP_TENANT_NAMES, sizeof(__u32),
				 KERN_TENANT_NAME_SIZE, NULL);
	if (names_fd < 0 && names_fd != -ENOENT)
		log_warn("kern sync: %s: %s; blocked flags are not kept",
			 KERN_MAP_TENANT_NAMES, strerror(-names_fd));
	ret = sync_blocked_read(fd, names_fd, max_entries, &blocked);
	if (ret) {
		sync_err(err, err_size, "reading %s: %s", TG_MAP_TENANTS, strerror(-ret));
		goto out_close;
	}

	/* Ids 0..n get their configuration, ids past n are cleared; a
	 * slot already all zero is not written again. */
	for (id = 0; id < max_entries; id++) {
		const struct policy_tenant *t = NULL;

		/* Slot 0 stays all zero: unmatched traffic of a policy with
		 * a default tenant is sent to that tenant's id by tg_config. */
		if (id && id <= n)
			t = &p->tenants[id - 1];
		memset(&cfg, 0, sizeof(cfg));
		memset(now, 0, sizeof(now));
		if (t) {
			sync_tenant_config(t, &cfg);
			snprintf(now, sizeof(now), "%s", t->name);
		}
		/* A block follows its tenant's name to whatever id the
		 * tenant has now. */
		if ((id == 0 && blocked.id0) || (t && sync_is_blocked(&blocked, now)))
			cfg.flags |= TG_TENANT_F_BLOCKED;
		memset(&cur, 0, sizeof(cur));
		if (bpf_map_lookup_elem(fd, &id, &cur)) {
			ret = -errno;
			break;
		}
		sync_name_get(names_fd, id, old);
		if (id > n && !memcmp(&cur, &cfg, sizeof(cfg)) && !old[0])
			continue;
		if (bpf_map_update_elem(fd, &id, &cfg, BPF_ANY)) {
			ret = -errno;
			break;
		}
		if (names_fd >= 0 && bpf_map_update_elem(names_fd, &id, now, BPF_ANY)) {
			ret = -errno;
			break;
		}
		if (id <= n)
			rep->tenants++;
		else
			rep->tenants_cleared++;
	}
	if (ret)
		sync_err(err, err_size, "writing %s: %s", TG_MAP_TENANTS, strerror(-ret));
out_close:
	free(blocked.names);
	if (names_fd >= 0)
		close(names_fd);
	close(fd);
	return ret;
}

/* tg_tenant_cache emptied, before its generation wraps back to a value
 * that entries 65535 pushes old may still carry. Not pinned: the program
 * has no cache (an older ABI), nothing to clear. */
static int sync_tenant_cache_clear(const char *dir)
{
	size_t bytes = (size_t)TG_TENANT_CACHE_SLOTS * sizeof(__u64);
	void *mem;
	int fd;

	fd = kern_pin_open(dir, TG_MAP_TENANT_CACHE, sizeof(__u32), sizeof(__u64), NULL);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (mem == MAP_FAILED)
		return -errno;
	memset(mem, 0, bytes);
	munmap(mem, bytes);
	return 0;
}

static int sync_config(const char *dir, const struct policy *p,
		       struct kern_sync_report *rep, char *err, size_t err_size)
{
	struct tg_config c;
	__u32 zero = 0, seed;
	__u16 gen;
	int fd, ret = 0;

	fd = kern_pin_open(dir, TG_MAP_CONFIG, sizeof(__u32),
			   sizeof(struct tg_config), NULL);
	if (fd == -ENOENT) {
		log_debug("kern sync: %s is not pinned in %s, skipped", TG_MAP_CONFIG, dir);
		rep->maps_missing++;
		return 0;
	}
	if (fd < 0) {
		sync_err(err, err_size, "%s/%s: %s", dir, TG_MAP_CONFIG, strerror(-fd));
		return fd;
	}
	/* The hash seed is chosen once and kept: a new one would put every
	 * source prefix's limiter back at rest. The tries have just been
	 * written: a new generation retires every cached tenant (abi.h,
	 * TG_MAP_TENANT_CACHE); 0 is never one. */
	memset(&c, 0, sizeof(c));
	if (bpf_map_lookup_elem(fd, &zero, &c) || !c.prefix_hash_seed)
		c.prefix_hash_seed = sync_prefix_seed();
	seed = c.prefix_hash_seed;
	gen = (__u16)(c.lpm_gen + 1);
	if (!gen) {
		ret = sync_tenant_cache_clear(dir);
		if (ret) {
			sync_err(err, err_size, "clearing %s: %s", TG_MAP_TENANT_CACHE,
				 strerror(-ret));
			close(fd);
			return ret;
		}
		gen = 1;
	}
	memset(&c, 0, sizeof(c));
	c.prefix_hash_seed = seed;
	c.lpm_gen = gen;
	c.prefix_len_v4 = KERN_PREFIX_LEN_V4;
	c.prefix_len_v6 = KERN_PREFIX_LEN_V6;
	if (p) {
		const struct policy_kernel *k = &p->kernel;
		uint64_t interval, burst;

		kern_gcra_params(k->syn_per_prefix.rate.count,
				 k->syn_per_prefix.rate.period_ms,
				 k->syn_per_prefix.burst, &interval, &burst);
		c.prefix_syn_interval_ns = interval;
		c.prefix_syn_burst_ns = burst;
		c.prefix_tat_shift = (__u8)kern_prefix_tat_shift(interval, burst);
		c.flood_flows_per_sec = k->flood_guard;
		if (p->default_tenant) {
			const struct policy_tenant *def = policy_tenant_find(p, p->default_tenant);

			if (def)
				c.default_tenant_id = (uint32_t)(def - p->tenants) + 1;
		}
		if (k->drop_established_when_blocked)
			c.flags |= TG_CONFIG_F_DROP_ESTABLISHED;
		if (k->egress_pacing)
			c.flags |= TG_CONFIG_F_EGRESS_PACING;
	}
	if (bpf_map_update_elem(fd, &zero, &c, BPF_ANY)) {
		ret = -errno;
		sync_err(err, err_size, "writing %s: %s", TG_MAP_CONFIG, strerror(-ret));
	}
	close(fd);
	return ret;
}

int kern_sync_policy(const char *pin_dir, const struct policy *p,
		     struct kern_sync_report *rep, char *err, size_t err_size)
{
	const char *dir = kern_loader_pin_dir(pin_dir);
	int lock_fd, ret;

	lock_fd = kern_pin_lock(dir);
	if (lock_fd == -ENOENT) {
		if (rep)
			memset(rep, 0, sizeof(*rep));
		sync_err(err, err_size, "no tollgate maps pinned in %s (run 'tollctl attach DEV' first)",
			 dir);
		return lock_fd;
	}
	if (lock_fd < 0) {
		sync_err(err, err_size, "locking %s: %s", dir, strerror(-lock_fd));
		return lock_fd;
	}
	ret = kern_sync_policy_locked(dir, p, rep, err, err_size);
	close(lock_fd);
	return ret;
}

int kern_sync_policy_locked(const char *pin_dir, const struct policy *p,
			    struct kern_sync_report *rep, char *err, size_t err_size)
{
	struct kern_sync_report local;
	const char *dir = kern_loader_pin_dir(pin_dir);
	int ret;

	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	if (err && err_size)
		err[0] = '\0';

	ret = kern_abi_check(dir, err, err_size);
	if (ret == -ENOENT) {
		sync_err(err, err_size, "no tollgate maps pinned in %s (run 'tollctl attach DEV' first)",
			 dir);
		return ret;
	}
	if (ret)
		return ret;

	/* Tenants before prefixes, so a prefix never points at an id whose
	 * limits are not written yet; config last. */
	ret = sync_tenants(dir, p, rep, err, err_size);
	if (!ret)
		ret = sync_lpm(dir, p, TG_FAMILY_IPV4, rep, err, err_size);
	if (!ret)
		ret = sync_lpm(dir, p, TG_FAMILY_IPV6, rep, err, err_size);
	if (!ret)
		ret = sync_config(dir, p, rep, err, err_size);
	if (!ret)
		log_debug("kern sync: %u tenants, %u+%u prefixes, %u removed, %u ids cleared, %u maps missing",
			  rep->tenants, rep->lpm_v4, rep->lpm_v6, rep->lpm_removed,
			  rep->tenants_cleared, rep->maps_missing);
	return ret;
}
