// SPDX-License-Identifier: Apache-2.0
/*
 * The loader: bpffs, pins, the ABI record, loading both skeletons against
 * the pinned maps, XDP as a pinned bpf_link, TC egress through libbpf's
 * bpf_tc_* on clsact, and the bookkeeping that lets detach undo exactly
 * what attach did. See loader.h for the layout of the pin directory.
 */
#include "kern/loader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/pkt_sched.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <netlink/netlink.h>
#include <netlink/route/classifier.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

/* Skeletons name struct tg_abi_info: abi.h comes first. */
#include "tg_tc.skel.h"
#include "tg_xdp.skel.h"

#include "core/log.h"
#include "kern/kern.h"
#include "kern/maps.h"
#include "kern/sync.h"
#include "policy/policy.h"

#define LOADER_BPFFS_ROOT	"/sys/fs/bpf"
#define LOADER_BTF_VMLINUX	"/sys/kernel/btf/vmlinux"

__attribute__((format(printf, 3, 4)))
static void loader_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!err || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

const char *kern_loader_pin_dir(const char *dir)
{
	const char *env;

	if (dir && *dir)
		return dir;
	env = getenv(KERN_PIN_DIR_ENV);
	if (env && *env)
		return env;
	return TG_PIN_DIR;
}

static int loader_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int kern_pin_open(const char *dir, const char *name, uint32_t key_size,
		  uint32_t value_size, uint32_t *max_entries)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd, err;

	err = loader_path(path, sizeof(path), dir, name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	if ((key_size && info.key_size != key_size) ||
	    (value_size && info.value_size != value_size)) {
		log_warn("kern: %s: key/value %u/%u bytes, this build expects %u/%u",
			 path, info.key_size, info.value_size, key_size, value_size);
		close(fd);
		return -EPROTO;
	}
	if (max_entries)
		*max_entries = info.max_entries;
	return fd;
}

int kern_pin_lock(const char *dir)
{
	int fd, ret;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX)) {
		if (errno == EINTR)
			continue;
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* ---- preconditions ---------------------------------------------------------- */

static int loader_check_caps(char *err, size_t err_size)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	uint64_t eff;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data)) {
		if (geteuid() == 0)
			return 0;
		loader_err(err, err_size, "not root: tollctl needs root (or CAP_BPF and CAP_NET_ADMIN)");
		return -EPERM;
	}
	eff = (uint64_t)data[0].effective | (uint64_t)data[1].effective << 32;
#define LOADER_HAS(cap)	(eff & (1ull << (cap)))
	if (!LOADER_HAS(CAP_NET_ADMIN) ||
	    !(LOADER_HAS(CAP_SYS_ADMIN) || LOADER_HAS(CAP_BPF))) {
		loader_err(err, err_size, "%s: tollctl needs root (or CAP_BPF and CAP_NET_ADMIN)",
			   geteuid() ? "not root" : "missing capability");
		return -EPERM;
	}
#undef LOADER_HAS
	return 0;
}

static bool loader_is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

/*
 * Makes sure `dir` is a directory on bpffs, mounting bpffs at /sys/fs/bpf
 * when that is where `dir` goes and nothing is mounted there yet, and
 * creates `dir` and its links/ directory (mode 0700).
 */
static int loader_pin_dir_prepare(const char *dir, char *err, size_t err_size)
{
	char links[PATH_MAX];
	int ret;

	if (!strncmp(dir, LOADER_BPFFS_ROOT "/", strlen(LOADER_BPFFS_ROOT) + 1) &&
	    !loader_is_bpffs(LOADER_BPFFS_ROOT)) {
		log_info("kern: mounting bpffs at %s", LOADER_BPFFS_ROOT);
		if (mount("bpf", LOADER_BPFFS_ROOT, "bpf", 0, "mode=0700")) {
			ret = -errno;
			loader_err(err, err_size,
				   "%s is not a bpf filesystem and mounting one there failed: %s "
				   "(mount -t bpf bpf %s)",
				   LOADER_BPFFS_ROOT, strerror(-ret), LOADER_BPFFS_ROOT);
			return ret;
		}
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		ret = -errno;
		loader_err(err, err_size, "creating pin directory %s: %s", dir, strerror(-ret));
		return ret;
	}
	if (!loader_is_bpffs(dir)) {
		loader_err(err, err_size, "pin directory %s is not on a bpf filesystem "
			   "(mount -t bpf bpf %s, or --pin-dir under it)", dir,
			   LOADER_BPFFS_ROOT);
		return -EINVAL;
	}
	ret = loader_path(links, sizeof(links), dir, KERN_LINKS_SUBDIR);
	if (!ret && mkdir(links, 0700) && errno != EEXIST)
		ret = -errno;
	if (ret)
		loader_err(err, err_size, "creating %s: %s", links, strerror(-ret));
	return ret;
}

static uint64_t loader_netns_ino(void)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return 0;
	return st.st_ino;
}

/* ---- interfaces (libnl) -------------------------------------------------------- */

struct loader_iface {
	uint32_t ifindex;
	unsigned int flags;	/* IFF_* */
	char name[IF_NAMESIZE];
};

/* Finds `name` in this network namespace through an rtnl link cache.
 * Returns 0, -ENODEV when there is no such interface, or -errno. */
/* A connected rtnetlink socket in *out. Returns 0 or -errno. */
static int loader_nl_open(struct nl_sock **out)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (!sk)
		return -ENOMEM;
	if (nl_connect(sk, NETLINK_ROUTE)) {
		nl_socket_free(sk);
		return -ECONNREFUSED;
	}
	*out = sk;
	return 0;
}

static int loader_iface_lookup(const char *name, struct loader_iface *out)
{
	struct nl_cache *cache = NULL;
	struct rtnl_link *link;
	struct nl_sock *sk;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = loader_nl_open(&sk);
	if (ret)
		return ret;
	if (rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache)) {
		ret = -EIO;
		goto out_free_sock;
	}
	link = rtnl_link_get_by_name(cache, name);
	if (!link) {
		ret = -ENODEV;
		goto out_free_cache;
	}
	out->ifindex = (uint32_t)rtnl_link_get_ifindex(link);
	out->flags = rtnl_link_get_flags(link);
	snprintf(out->name, sizeof(out->name), "%s", rtnl_link_get_name(link));
	rtnl_link_put(link);
out_free_cache:
	nl_cache_free(cache);
out_free_sock:
	nl_socket_free(sk);
	return ret;
}

/* Counts the tc filters on both clsact hooks of `ifindex`. Returns the
 * count or -errno. */
static int loader_clsact_filters(uint32_t ifindex)
{
	const uint32_t parents[] = {
		TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS),
		TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS),
	};
	struct nl_cache *cache;
	struct nl_sock *sk;
	int n = 0, ret;
	size_t i;

	ret = loader_nl_open(&sk);
	if (ret)
		return ret;
	for (i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		cache = NULL;
		if (rtnl_cls_alloc_cache(sk, (int)ifindex, parents[i], &cache)) {
			ret = -EIO;
			break;
		}
		n += nl_cache_nitems(cache);
		nl_cache_free(cache);
	}
	nl_socket_free(sk);
	return ret ? ret : n;
}

/* Whether departure times (EDT) take effect on `ifindex`: its root qdisc is
 * fq, or mq with fq on every queue. 1, or 0 with the root's kind in
 * `kind` ("none" without one), or -errno. */
static int loader_root_is_fq(uint32_t ifindex, char *kind, size_t cap)
{
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	struct nl_sock *sk;
	uint32_t root = 0;
	int ret, children = 0, fq_children = 0;

	snprintf(kind, cap, "none");
	ret = loader_nl_open(&sk);
	if (ret)
		return ret;
	if (rtnl_qdisc_alloc_cache(sk, &cache)) {
		nl_socket_free(sk);
		return -EIO;
	}
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_tc *tc = TC_CAST(obj);

		if (rtnl_tc_get_ifindex(tc) == (int)ifindex && rtnl_tc_get_parent(tc) == TC_H_ROOT &&
		    rtnl_tc_get_kind(tc)) {
			snprintf(kind, cap, "%s", rtnl_tc_get_kind(tc));
			root = rtnl_tc_get_handle(tc);
		}
	}
	for (obj = nl_cache_get_first(cache); root && obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_tc *tc = TC_CAST(obj);
		const char *k = rtnl_tc_get_kind(tc);

		if (rtnl_tc_get_ifindex(tc) == (int)ifindex &&
		    TC_H_MAJ(rtnl_tc_get_parent(tc)) == TC_H_MAJ(root) &&
		    rtnl_tc_get_parent(tc) != TC_H_ROOT) {
			children++;
			fq_children += k && !strcmp(k, "fq");
		}
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	if (!strcmp(kind, "fq"))
		return 1;
	return !strcmp(kind, "mq") && children && children == fq_children;
}

/* Whether `ifindex` has a clsact qdisc. Returns 1, 0 or -errno. */
static int loader_has_clsact(uint32_t ifindex)
{
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	struct nl_sock *sk;
	int found = 0, ret;

	ret = loader_nl_open(&sk);
	if (ret)
		return ret;
	if (rtnl_qdisc_alloc_cache(sk, &cache)) {
		nl_socket_free(sk);
		return -EIO;
	}
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_tc *tc = TC_CAST(obj);
		const char *kind = rtnl_tc_get_kind(tc);

		if (rtnl_tc_get_ifindex(tc) == (int)ifindex && kind &&
		    !strcmp(kind, "clsact")) {
			found = 1;
			break;
		}
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return found;
}

/*
 * Whether a filter sits at our handle and priority on clsact egress. Asked
 * through libnl first because bpf_tc_query() on a hook without a filter
 * chain fails with EINVAL and libbpf logs it as a warning. Returns 1, 0 or
 * -errno.
 */
static int loader_tc_has_filter(uint32_t ifindex)
{
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	struct nl_sock *sk;
	int found = 0, ret;

	ret = loader_nl_open(&sk);
	if (ret)
		return ret;
	if (rtnl_cls_alloc_cache(sk, (int)ifindex,
				 TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS), &cache)) {
		nl_socket_free(sk);
		return -EIO;
	}
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_cls *cls = (struct rtnl_cls *)obj;

		if (rtnl_cls_get_prio(cls) == KERN_TC_PRIORITY &&
		    rtnl_tc_get_handle(TC_CAST(cls)) == KERN_TC_HANDLE) {
			found = 1;
			break;
		}
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return found;
}

/* ---- the ABI record ---------------------------------------------------------------- */

static const struct tg_abi_info loader_abi = TG_ABI_INFO_INIT;

/* Names the first field where two records differ, for the message. */
static const char *loader_abi_diff(const struct tg_abi_info *a,
				   const struct tg_abi_info *b)
{
#define LOADER_ABI_FIELD(f)	if (a->f != b->f) return #f;
	LOADER_ABI_FIELD(abi_version)
	LOADER_ABI_FIELD(reason_count)
	LOADER_ABI_FIELD(hook_count)
	LOADER_ABI_FIELD(flow_key_size)
	LOADER_ABI_FIELD(flow_size)
	LOADER_ABI_FIELD(lpm_v4_key_size)
	LOADER_ABI_FIELD(lpm_v6_key_size)
	LOADER_ABI_FIELD(lpm_value_size)
	LOADER_ABI_FIELD(tenant_config_size)
	LOADER_ABI_FIELD(gcra_size)
	LOADER_ABI_FIELD(prefix_set_size)
	LOADER_ABI_FIELD(src_key_size)
	LOADER_ABI_FIELD(penalty_size)
	LOADER_ABI_FIELD(config_size)
	LOADER_ABI_FIELD(tenant_stats_size)
	LOADER_ABI_FIELD(reason_stats_size)
	LOADER_ABI_FIELD(event_size)
	LOADER_ABI_FIELD(pace_size)
#undef LOADER_ABI_FIELD
	return NULL;
}

static int loader_abi_read(const char *dir, struct tg_abi_info *out)
{
	__u32 zero = 0;
	int fd, ret = 0;

	/* Only the first 4 bytes are sure to mean the same in every
	 * version; a record of another size is still read for its version. */
	fd = kern_pin_open(dir, KERN_MAP_ABI, sizeof(__u32), 0, NULL);
	if (fd < 0)
		return fd;
	memset(out, 0, sizeof(*out));
	{
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		unsigned char buf[4096];

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.value_size > sizeof(buf) ||
		    info.value_size < sizeof(__u32)) {
			ret = -EPROTO;
		} else if (bpf_map_lookup_elem(fd, &zero, buf)) {
			ret = -errno;
		} else {
			memcpy(out, buf, info.value_size < sizeof(*out) ?
			       info.value_size : sizeof(*out));
		}
	}
	close(fd);
	return ret;
}

/*
 * The pinned ABI versions this build migrates from (loader_abi_migrate):
 * version 2 differs only in tg_syn_prefix, whose state is dropped, and in
 * tg_config fields that were padding (zero: the defaults).
 */
static bool loader_abi_can_migrate(uint32_t from)
{
	return from == 2;
}

int kern_abi_pinned_version(const char *pin_dir, uint32_t *version)
{
	struct tg_abi_info pinned;
	int ret;

	ret = loader_abi_read(kern_loader_pin_dir(pin_dir), &pinned);
	if (ret)
		return ret;
	*version = pinned.abi_version;
	return 0;
}

int kern_abi_check(const char *pin_dir, char *err, size_t err_size)
{
	const char *dir = kern_loader_pin_dir(pin_dir);
	struct tg_abi_info pinned;
	const char *field;
	int ret;

	ret = loader_abi_read(dir, &pinned);
	if (ret == -ENOENT)
		return ret;
	if (ret == -EACCES || ret == -EPERM) {
		loader_err(err, err_size, "reading %s/%s: %s (tollctl needs root)", dir,
			   KERN_MAP_ABI, strerror(-ret));
		return ret;
	}
	if (ret) {
		loader_err(err, err_size, "%s/%s: unreadable ABI record: %s; clear it with "
			   "'tollctl detach --purge --pin-dir %s'", dir, KERN_MAP_ABI,
			   strerror(-ret), dir);
		return -EPROTO;
	}
	field = loader_abi_diff(&pinned, &loader_abi);
	if (!field)
		return 0;
	if (pinned.abi_version != loader_abi.abi_version) {
		if (loader_abi_can_migrate(pinned.abi_version))
			return 0;
		loader_err(err, err_size,
			   "the maps pinned in %s are ABI version %u, this tollctl is ABI "
			   "version %u and has no migration from it; detach and clear them "
			   "with 'tollctl detach --purge --pin-dir %s' (their state is lost)",
			   dir, pinned.abi_version, loader_abi.abi_version, dir);
	} else {
		/* The same version, another layout: say which number moved. */
		const __u32 *x = (const __u32 *)&pinned, *y = (const __u32 *)&loader_abi;
		size_t i;

		for (i = 0; i < sizeof(pinned) / sizeof(__u32) - 1 && x[i] == y[i]; i++)
			;
		loader_err(err, err_size,
			   "the maps pinned in %s are ABI version %u like this tollctl, but "
			   "their %s is %u, here %u: a layout change without a version bump; "
			   "clear them with 'tollctl detach --purge --pin-dir %s'", dir,
			   pinned.abi_version, field, x[i], y[i], dir);
	}
	return -EPROTO;
}

/* Creates, fills, freezes and pins the ABI record. */
static int loader_abi_create(const char *dir)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_RDONLY_PROG);
	char path[PATH_MAX];
	__u32 zero = 0;
	int fd, ret;

	ret = loader_path(path, sizeof(path), dir, KERN_MAP_ABI);
	if (ret)
		return ret;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, KERN_MAP_ABI, sizeof(__u32),
			    sizeof(struct tg_abi_info), 1, &opts);
	if (fd < 0)
		return -errno;
	if (bpf_map_update_elem(fd, &zero, &loader_abi, BPF_ANY) ||
	    bpf_map_freeze(fd) || bpf_obj_pin(fd, path))
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Brings maps pinned by an older ABI version this build can migrate
 * (loader_abi_can_migrate) to this version, under the pin lock, before the
 * programs are loaded: the maps whose shape changed are unpinned, so that
 * loading creates them afresh, and the ABI record is replaced last, so that
 * a migration cut short is simply done again. Every other map keeps its
 * state. The attached program keeps the old maps it holds until the new
 * one replaces it.
 */
static int loader_abi_migrate(const char *dir, char *err, size_t err_size)
{
	static const char *const gone[] = { TG_MAP_SYN_PREFIX, KERN_MAP_ABI };
	struct tg_abi_info pinned;
	char path[PATH_MAX];
	size_t i;
	int ret;

	ret = loader_abi_read(dir, &pinned);
	if (ret || pinned.abi_version == loader_abi.abi_version)
		return ret;
	if (!loader_abi_can_migrate(pinned.abi_version))
		return -EPROTO;	/* kern_abi_check said so first */
	/* 2 -> 3: tg_syn_prefix went from an LRU hash to a set array; the
	 * record goes last. */
	for (i = 0; !ret && i < sizeof(gone) / sizeof(gone[0]); i++) {
		ret = loader_path(path, sizeof(path), dir, gone[i]);
		if (!ret && unlink(path) && errno != ENOENT)
			ret = -errno;
	}
	if (!ret)
		ret = loader_abi_create(dir);
	if (ret) {
		loader_err(err, err_size, "migrating the maps pinned in %s from ABI version %u "
			   "to %u: %s", dir, pinned.abi_version, loader_abi.abi_version,
			   strerror(-ret));
		return ret;
	}
	log_warn("kern: migrated the maps pinned in %s from ABI version %u to %u (the "
		 "per-prefix SYN limiter starts afresh; everything else is kept)", dir,
		 pinned.abi_version, loader_abi.abi_version);
	return 0;
}

/* Opens (or creates and pins) one of the loader's own maps. */
static int loader_aux_map(const char *dir, const char *name, enum bpf_map_type type,
			  uint32_t key_size, uint32_t value_size, uint32_t max_entries)
{
	char path[PATH_MAX];
	int fd, ret;

	fd = kern_pin_open(dir, name, key_size, value_size, NULL);
	if (fd != -ENOENT)
		return fd;
	ret = loader_path(path, sizeof(path), dir, name);
	if (ret)
		return ret;
	fd = bpf_map_create(type, name, key_size, value_size, max_entries, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static int loader_ifaces_open(const char *dir, bool create)
{
	if (!create)
		return kern_pin_open(dir, KERN_MAP_IFACES, sizeof(struct kern_iface_key),
				     sizeof(struct kern_iface_record), NULL);
	return loader_aux_map(dir, KERN_MAP_IFACES, BPF_MAP_TYPE_HASH,
			      sizeof(struct kern_iface_key),
			      sizeof(struct kern_iface_record), KERN_IFACES_MAX);
}

/* ---- loading ------------------------------------------------------------------------ */

struct loader_objs {
	struct tg_xdp *xdp;
	struct tg_tc *tc;
	int xdp_prog_fd;
	int tc_prog_fd;
	uint32_t flow_table_size;
};

static void loader_objs_free(struct loader_objs *o)
{
	tg_tc__destroy(o->tc);
	o->tc = NULL;
	tg_xdp__destroy(o->xdp);
	o->xdp = NULL;
}

/*
 * Points every map of `obj` at its pin (libbpf reuses a pinned map, or
 * creates and pins a new one), sizing the flow table: a pinned table keeps
 * the size it has, so re-attaching never throws its flows away. A pinned
 * map that differs in type or layout from the object's is refused here,
 * with its name, rather than by libbpf's generic mismatch.
 */
static int loader_obj_prepare(struct bpf_object *obj, const char *dir,
			      uint32_t flow_size, uint32_t *flow_loaded,
			      char *err, size_t err_size)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int ret;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		bool is_flows = !strcmp(name, TG_MAP_FLOWS);
		int fd;

		if (bpf_map__is_internal(map))
			continue;
		if (is_flows && flow_size) {
			ret = bpf_map__set_max_entries(map, flow_size);
			if (ret)
				return ret;
		}
		ret = loader_path(path, sizeof(path), dir, name);
		if (ret)
			return ret;
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			memset(&info, 0, sizeof(info));
			ret = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
			close(fd);
			if (ret)
				return ret;
			if (is_flows && info.max_entries != bpf_map__max_entries(map)) {
				log_warn("kern: %s keeps its pinned size of %u entries (policy: %u); "
					 "'tollctl detach --purge' resizes it", name,
					 info.max_entries, bpf_map__max_entries(map));
				ret = bpf_map__set_max_entries(map, info.max_entries);
				if (ret)
					return ret;
			}
			if (info.type != bpf_map__type(map) ||
			    info.key_size != bpf_map__key_size(map) ||
			    info.value_size != bpf_map__value_size(map) ||
			    info.max_entries != bpf_map__max_entries(map) ||
			    info.map_flags != bpf_map__map_flags(map)) {
				loader_err(err, err_size,
					   "pinned map %s differs from this build's (type %u/%u, key "
					   "%u/%u, value %u/%u, entries %u/%u); clear it with "
					   "'tollctl detach --purge --pin-dir %s'", path,
					   info.type, bpf_map__type(map), info.key_size,
					   bpf_map__key_size(map), info.value_size,
					   bpf_map__value_size(map), info.max_entries,
					   bpf_map__max_entries(map), dir);
				return -EPROTO;
			}
		}
		ret = bpf_map__set_pin_path(map, path);
		if (ret)
			return ret;
		if (is_flows)
			*flow_loaded = bpf_map__max_entries(map);
	}
	return 0;
}

static int loader_load(struct loader_objs *o, const char *dir, uint32_t flow_size,
		       char *err, size_t err_size)
{
	struct bpf_program *prog;
	int ret;

	memset(o, 0, sizeof(*o));
	o->xdp_prog_fd = -1;
	o->tc_prog_fd = -1;

	o->xdp = tg_xdp__open();
	if (!o->xdp) {
		ret = -errno;
		loader_err(err, err_size, "opening the XDP object: %s", strerror(-ret));
		return ret;
	}
	o->tc = tg_tc__open();
	if (!o->tc) {
		ret = -errno;
		loader_err(err, err_size, "opening the TC object: %s", strerror(-ret));
		goto out_free;
	}
	if (err && err_size)
		err[0] = '\0';
	ret = loader_obj_prepare(o->xdp->obj, dir, flow_size, &o->flow_table_size,
				 err, err_size);
	if (!ret)
		ret = loader_obj_prepare(o->tc->obj, dir, o->flow_table_size ?
					 o->flow_table_size : flow_size,
					 &o->flow_table_size, err, err_size);
	if (ret) {
		if (err && err_size && !err[0])
			loader_err(err, err_size, "preparing maps: %s", strerror(-ret));
		goto out_free;
	}
	/* XDP first: it creates and pins what both share, TC reuses it. */
	ret = tg_xdp__load(o->xdp);
	if (ret) {
		loader_err(err, err_size, "loading %s failed: %s (the verifier's log is "
			   "above with -d)", TG_PROG_XDP_INGRESS, strerror(-ret));
		goto out_free;
	}
	ret = tg_tc__load(o->tc);
	if (ret) {
		loader_err(err, err_size, "loading %s failed: %s (the verifier's log is "
			   "above with -d)", TG_PROG_TC_EGRESS, strerror(-ret));
		goto out_free;
	}
	/* Before the program that tests the hint is attached: every address
	 * already in the box (pinned by an older ABI without a hint, or
	 * added while the hint was not pinned) gets its bits. */
	ret = kern_penalty_hint_fill(bpf_map__fd(o->xdp->maps.tg_penalty),
				     bpf_map__fd(o->xdp->maps.tg_penalty_hint));
	if (ret) {
		loader_err(err, err_size, "filling %s from %s: %s", TG_MAP_PENALTY_HINT,
			   TG_MAP_PENALTY, strerror(-ret));
		goto out_free;
	}
	prog = bpf_object__find_program_by_name(o->xdp->obj, TG_PROG_XDP_INGRESS);
	if (prog)
		o->xdp_prog_fd = bpf_program__fd(prog);
	prog = bpf_object__find_program_by_name(o->tc->obj, TG_PROG_TC_EGRESS);
	if (prog)
		o->tc_prog_fd = bpf_program__fd(prog);
	if (o->xdp_prog_fd < 0 || o->tc_prog_fd < 0) {
		ret = -ENOENT;
		loader_err(err, err_size, "the objects lack %s or %s", TG_PROG_XDP_INGRESS,
			   TG_PROG_TC_EGRESS);
		goto out_free;
	}
	return 0;

out_free:
	loader_objs_free(o);
	return ret;
}

static uint32_t loader_prog_id(int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/* The name of program `id`, "" when it cannot be read. */
static void loader_prog_name(uint32_t id, char name[BPF_OBJ_NAME_LEN])
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int fd;

	name[0] = '\0';
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		snprintf(name, BPF_OBJ_NAME_LEN, "%s", info.name);
	close(fd);
}

/* ---- XDP ------------------------------------------------------------------------------- */

static int loader_link_path(char *buf, size_t size, const char *dir,
			    const struct kern_iface_key *key)
{
	int n = snprintf(buf, size, "%s/%s/xdp_%llu_%u", dir, KERN_LINKS_SUBDIR,
			 (unsigned long long)key->netns_ino, key->ifindex);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Opens our pinned XDP link; fills its live program id and ifindex (0 when
 * the link is detached). Returns the fd or -errno (-ENOENT: no pin). */
static int loader_link_open(const char *path, uint32_t *prog_id, uint32_t *ifindex)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	int fd, ret;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (info.type != BPF_LINK_TYPE_XDP) {
		close(fd);
		return -EPROTO;
	}
	*prog_id = info.prog_id;
	*ifindex = info.xdp.ifindex;
	return fd;
}

/*
 * Takes another XDP program off `ifindex` (--force): through its bpf_link
 * when it has one, else through netlink in the mode it was attached in.
 */
static int loader_xdp_remove_foreign(uint32_t ifindex, const struct bpf_xdp_query_opts *q)
{
	__u32 id = 0;
	int fd, ret;

	while (!bpf_link_get_next_id(id, &id)) {
		struct bpf_link_info info;
		__u32 len = sizeof(info);

		fd = bpf_link_get_fd_by_id(id);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    info.type == BPF_LINK_TYPE_XDP && info.xdp.ifindex == ifindex &&
		    info.prog_id == q->prog_id) {
			ret = bpf_link_detach(fd) ? -errno : 0;
			close(fd);
			return ret;
		}
		close(fd);
	}
	if (q->drv_prog_id && bpf_xdp_detach((int)ifindex, XDP_FLAGS_DRV_MODE, NULL))
		return -errno;
	if (q->skb_prog_id && bpf_xdp_detach((int)ifindex, XDP_FLAGS_SKB_MODE, NULL))
		return -errno;
	return 0;
}

static const char *loader_mode_name(__u8 attach_mode)
{
	switch (attach_mode) {
	case XDP_ATTACHED_DRV:
		return "native";
	case XDP_ATTACHED_SKB:
		return "generic";
	case XDP_ATTACHED_HW:
		return "offload";
	case XDP_ATTACHED_MULTI:
		return "multi";
	}
	return "";
}

/*
 * Puts `prog_fd` on the interface through our pinned link: updates the
 * program of a link we already have there in the same mode (an upgrade in
 * place, no gap), else creates and pins a new link. Returns the program
 * id in *prog_id.
 */
static int loader_xdp_attach(const char *dir, const struct loader_iface *ifc,
			     const struct kern_iface_key *key, int prog_fd,
			     const struct kern_attach_opts *o,
			     struct kern_attach_result *res, char *err, size_t err_size)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	LIBBPF_OPTS(bpf_link_create_opts, lopts);
	bool generic = o->mode == KERN_XDP_GENERIC;
	uint32_t link_prog = 0, link_ifindex = 0;
	char path[PATH_MAX], name[BPF_OBJ_NAME_LEN];
	int link_fd, ret;

	ret = loader_link_path(path, sizeof(path), dir, key);
	if (ret)
		return ret;
	link_fd = loader_link_open(path, &link_prog, &link_ifindex);
	if (link_fd >= 0 && link_ifindex != ifc->ifindex) {
		/* The interface went away under it: a dead link. */
		log_info("kern: %s is detached; replacing it", path);
		close(link_fd);
		unlink(path);
		link_fd = -ENOENT;
	}

	if (bpf_xdp_query((int)ifc->ifindex, 0, &q)) {
		ret = -errno;
		loader_err(err, err_size, "querying XDP on %s: %s", ifc->name, strerror(-ret));
		goto out_close_link;
	}

	if (link_fd >= 0 && q.prog_id == link_prog) {
		/* The live mode decides, not the record. */
		if ((q.attach_mode == XDP_ATTACHED_SKB) == generic) {
			if (bpf_link_update(link_fd, prog_fd, NULL)) {
				ret = -errno;
				loader_err(err, err_size, "replacing the XDP program on %s: %s",
					   ifc->name, strerror(-ret));
				goto out_close_link;
			}
			res->upgraded = true;
			ret = 0;
			goto out_close_link;
		}
		/* Another mode: a link cannot change it, so a new link. */
		log_info("kern: %s: XDP mode changes to %s; re-attaching", ifc->name,
			 generic ? "generic" : "native");
		if (bpf_link_detach(link_fd)) {
			ret = -errno;
			loader_err(err, err_size, "detaching the old XDP link on %s: %s",
				   ifc->name, strerror(-ret));
			goto out_close_link;
		}
		close(link_fd);
		link_fd = -ENOENT;
		unlink(path);
		memset(&q, 0, sizeof(q));
		q.sz = sizeof(q);
	} else if (link_fd >= 0) {
		/* Our pin, but someone else's program is on the hook. */
		close(link_fd);
		link_fd = -ENOENT;
		unlink(path);
	}

	/* Attached in two modes at once (XDP_ATTACHED_MULTI), prog_id is 0
	 * and only the per-mode ids say what is there. */
	if (!q.prog_id)
		q.prog_id = q.drv_prog_id ? q.drv_prog_id :
			    q.skb_prog_id ? q.skb_prog_id : q.hw_prog_id;
	if (q.prog_id) {
		loader_prog_name(q.prog_id, name);
		if (!o->force) {
			loader_err(err, err_size,
				   "%s already has an XDP program (id %u%s%s%s, %s mode) that "
				   "tollgate did not attach; refusing to replace it (--force "
				   "replaces it)", ifc->name, q.prog_id, name[0] ? ", name '" : "",
				   name, name[0] ? "'" : "", loader_mode_name(q.attach_mode));
			return -EBUSY;
		}
		log_warn("kern: %s: removing XDP program %u ('%s') (--force)", ifc->name,
			 q.prog_id, name);
		ret = loader_xdp_remove_foreign(ifc->ifindex, &q);
		if (ret) {
			loader_err(err, err_size, "removing XDP program %u from %s: %s",
				   q.prog_id, ifc->name, strerror(-ret));
			return ret;
		}
		res->replaced_foreign = true;
	}

	/* The mode flag is always explicit: with none the kernel would pick
	 * generic by itself where the driver has no native XDP. */
	lopts.flags = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	link_fd = bpf_link_create(prog_fd, (int)ifc->ifindex, BPF_XDP, &lopts);
	if (link_fd < 0) {
		ret = -errno;
		if (!generic && (ret == -EOPNOTSUPP || ret == -EINVAL))
			loader_err(err, err_size,
				   "native XDP on %s failed: %s (its driver may not support "
				   "native XDP); not falling back: '--mode generic' attaches in "
				   "generic (skb) mode", ifc->name, strerror(-ret));
		else
			loader_err(err, err_size, "attaching XDP (%s) to %s: %s",
				   generic ? "generic" : "native", ifc->name, strerror(-ret));
		return ret;
	}
	if (bpf_obj_pin(link_fd, path)) {
		ret = -errno;
		loader_err(err, err_size, "pinning the XDP link at %s: %s", path,
			   strerror(-ret));
		bpf_link_detach(link_fd);
		goto out_close_link;
	}
	ret = 0;

out_close_link:
	if (link_fd >= 0)
		close(link_fd);
	return ret;
}

/* Removes our XDP link for `key`. Returns 0, -ENOENT when there is none. */
static int loader_xdp_detach(const char *dir, const struct kern_iface_key *key)
{
	uint32_t prog_id, ifindex;
	char path[PATH_MAX];
	int fd, ret;

	ret = loader_link_path(path, sizeof(path), dir, key);
	if (ret)
		return ret;
	fd = loader_link_open(path, &prog_id, &ifindex);
	if (fd < 0)
		return fd == -EPROTO ? 0 : fd;
	/* Detach first: another process holding an fd to the link must
	 * not keep the program on the interface. */
	if (ifindex && bpf_link_detach(fd) && errno != ENOLINK)
		log_warn("kern: detaching %s: %s", path, strerror(errno));
	close(fd);
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

/* ---- TC ----------------------------------------------------------------------------------- */

/* Attaches (or replaces, when the filter there is ours) our egress filter.
 * Sets *qdisc_created when the clsact qdisc was made here. */
static int loader_tc_attach(const struct loader_iface *ifc, int prog_fd,
			    const struct kern_iface_record *old, bool *qdisc_created,
			    uint32_t *prog_id, char *err, size_t err_size)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifc->ifindex,
		    .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = KERN_TC_HANDLE, .priority = KERN_TC_PRIORITY);
	LIBBPF_OPTS(bpf_tc_opts, a, .handle = KERN_TC_HANDLE, .priority = KERN_TC_PRIORITY);
	char name[BPF_OBJ_NAME_LEN];
	int ret;

	*qdisc_created = false;
	/* Asked first: bpf_tc_hook_create() on an existing clsact fails
	 * with EEXIST, which is fine, but libbpf logs it as a warning. */
	ret = loader_has_clsact(ifc->ifindex);
	if (ret < 0) {
		loader_err(err, err_size, "listing qdiscs on %s: %s", ifc->name,
			   strerror(-ret));
		return ret;
	}
	ret = ret ? -EEXIST : bpf_tc_hook_create(&hook);
	if (!ret) {
		*qdisc_created = true;
	} else if (ret != -EEXIST) {
		loader_err(err, err_size, "creating the clsact qdisc on %s: %s", ifc->name,
			   strerror(-ret));
		return ret;
	}

	ret = loader_tc_has_filter(ifc->ifindex);
	if (ret < 0) {
		loader_err(err, err_size, "listing tc egress filters on %s: %s", ifc->name,
			   strerror(-ret));
		goto out_undo_qdisc;
	}
	ret = ret ? bpf_tc_query(&hook, &q) : -ENOENT;
	if (!ret) {
		loader_prog_name(q.prog_id, name);
		if ((!old || q.prog_id != old->tc_prog_id) && strcmp(name, TG_PROG_TC_EGRESS)) {
			loader_err(err, err_size,
				   "%s has another tc egress filter at tollgate's handle 0x%x "
				   "priority 0x%x (program %u '%s'); refusing to replace it",
				   ifc->name, KERN_TC_HANDLE, KERN_TC_PRIORITY, q.prog_id, name);
			ret = -EBUSY;
			goto out_undo_qdisc;
		}
		a.flags = BPF_TC_F_REPLACE;
	} else if (ret != -ENOENT) {
		loader_err(err, err_size, "querying tc egress on %s: %s", ifc->name,
			   strerror(-ret));
		goto out_undo_qdisc;
	}
	a.prog_fd = prog_fd;
	ret = bpf_tc_attach(&hook, &a);
	if (ret) {
		loader_err(err, err_size, "attaching tc egress to %s: %s", ifc->name,
			   strerror(-ret));
		goto out_undo_qdisc;
	}
	*prog_id = a.prog_id;
	/* A qdisc we created earlier is still ours. */
	if (old && (old->flags & KERN_IFACE_F_QDISC_CREATED))
		*qdisc_created = true;
	return 0;

out_undo_qdisc:
	if (*qdisc_created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
		*qdisc_created = false;
	}
	return ret;
}

/* Removes our filter (only when it is ours) and the qdisc when we created
 * it and nothing else is on it. */
static int loader_tc_detach(uint32_t ifindex, const char *ifname,
			    const struct kern_iface_record *rec)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
		    .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = KERN_TC_HANDLE, .priority = KERN_TC_PRIORITY);
	LIBBPF_OPTS(bpf_tc_opts, d, .handle = KERN_TC_HANDLE, .priority = KERN_TC_PRIORITY);
	char name[BPF_OBJ_NAME_LEN];
	int ret, n;

	ret = loader_tc_has_filter(ifindex);
	if (ret < 0)
		return ret;
	ret = ret ? bpf_tc_query(&hook, &q) : -ENOENT;
	if (!ret) {
		loader_prog_name(q.prog_id, name);
		if (q.prog_id == rec->tc_prog_id || !strcmp(name, TG_PROG_TC_EGRESS)) {
			ret = bpf_tc_detach(&hook, &d);
			if (ret && ret != -ENOENT)
				return ret;
		} else {
			log_warn("kern: %s: the tc filter at tollgate's handle/priority is "
				 "program %u '%s', not ours; left in place", ifname,
				 q.prog_id, name);
		}
	} else if (ret != -ENOENT && ret != -EINVAL) {
		return ret;
	}

	if (!(rec->flags & KERN_IFACE_F_QDISC_CREATED))
		return 0;
	n = loader_clsact_filters(ifindex);
	if (n < 0) {
		log_warn("kern: %s: cannot list tc filters (%s); clsact qdisc left in place",
			 ifname, strerror(-n));
		return 0;
	}
	if (n > 0) {
		log_warn("kern: %s: the clsact qdisc tollgate created now holds %d other "
			 "filter(s); left in place", ifname, n);
		return 0;
	}
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	ret = bpf_tc_hook_destroy(&hook);
	if (ret == -ENOENT || ret == -EINVAL)
		ret = 0;
	return ret;
}

/* ---- attach --------------------------------------------------------------------------------- */

int kern_attach(const char *ifname, const struct kern_attach_opts *o,
		struct kern_attach_result *res, char *err, size_t err_size)
{
	const char *dir = kern_loader_pin_dir(o->pin_dir);
	struct kern_iface_record old, rec;
	struct kern_sync_report rep;
	struct loader_objs objs;
	struct loader_iface ifc;
	struct kern_iface_key key;
	uint32_t flow_size = 0;
	bool have_old, qdisc_created = false, fresh = false;
	int ifaces_fd = -1, lock_fd, ret;

	memset(res, 0, sizeof(*res));
	if (err && err_size)
		err[0] = '\0';
	kern_log_init();

	ret = loader_check_caps(err, err_size);
	if (ret)
		return ret;
	ret = loader_iface_lookup(ifname, &ifc);
	if (ret == -ENODEV) {
		loader_err(err, err_size, "unknown interface '%s' (ip link show)", ifname);
		return ret;
	}
	if (ret) {
		loader_err(err, err_size, "looking up interface '%s' over rtnetlink: %s",
			   ifname, strerror(-ret));
		return ret;
	}
	if (!(ifc.flags & IFF_UP)) {
		loader_err(err, err_size, "interface %s is down (ip link set dev %s up)",
			   ifc.name, ifc.name);
		return -ENETDOWN;
	}
	if (access(LOADER_BTF_VMLINUX, R_OK)) {
		loader_err(err, err_size, "the kernel has no BTF (%s is missing): tollgate's "
			   "programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y",
			   LOADER_BTF_VMLINUX);
		return -ENOTSUP;
	}
	res->ifindex = ifc.ifindex;

	ret = loader_pin_dir_prepare(dir, err, err_size);
	if (ret)
		return ret;
	lock_fd = kern_pin_lock(dir);
	if (lock_fd < 0) {
		loader_err(err, err_size, "locking %s: %s", dir, strerror(-lock_fd));
		return lock_fd;
	}
	ret = kern_abi_check(dir, err, err_size);
	if (ret == -ENOENT) {
		fresh = true;
		ret = loader_abi_create(dir);
		if (ret) {
			loader_err(err, err_size, "pinning the ABI record in %s: %s", dir,
				   strerror(-ret));
			goto out_unlock;
		}
	} else if (ret) {
		goto out_unlock;
	} else {
		ret = loader_abi_migrate(dir, err, err_size);
		if (ret)
			goto out_unlock;
	}
	ifaces_fd = loader_ifaces_open(dir, true);
	if (ifaces_fd < 0) {
		ret = ifaces_fd;
		loader_err(err, err_size, "%s/%s: %s", dir, KERN_MAP_IFACES, strerror(-ret));
		goto out_unlock;
	}
	ret = loader_aux_map(dir, KERN_MAP_TENANT_NAMES, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
			     KERN_TENANT_NAME_SIZE, TG_KERN_TENANTS_MAX + 1);
	if (ret < 0) {
		loader_err(err, err_size, "%s/%s: %s", dir, KERN_MAP_TENANT_NAMES,
			   strerror(-ret));
		goto out_close_ifaces;
	}
	close(ret);

	memset(&key, 0, sizeof(key));
	key.netns_ino = loader_netns_ino();
	key.ifindex = ifc.ifindex;
	memset(&old, 0, sizeof(old));
	have_old = !bpf_map_lookup_elem(ifaces_fd, &key, &old);

	if (o->policy)
		flow_size = o->policy->kernel.flow_table_size;
	ret = loader_load(&objs, dir, flow_size, err, err_size);
	if (ret)
		goto out_close_ifaces;
	res->flow_table_size = objs.flow_table_size;

	/* The maps hold the policy before the first packet runs. Maps that
	 * were pinned already keep what they hold unless a policy is given:
	 * an upgrade without -c does not wipe the tenants. */
	if (o->policy || fresh) {
		ret = kern_sync_policy_locked(dir, o->policy, &rep, err, err_size);
		if (ret)
			goto out_free_objs;
		res->policy_synced = true;
	}

	if (o->policy && o->policy->kernel.egress_pacing) {
		char kind[16];

		if (loader_root_is_fq(ifc.ifindex, kind, sizeof(kind)) == 0) {
			snprintf(res->pacing_qdisc, sizeof(res->pacing_qdisc), "%s", kind);
			log_warn("kern: %s: kernel.egress_pacing needs fq as the root qdisc (or mq over "
				 "fq); the root is %s, so departure times are ignored "
				 "(tc qdisc replace dev %s root fq)", ifc.name, kind, ifc.name);
		}
	}

	ret = loader_xdp_attach(dir, &ifc, &key, objs.xdp_prog_fd, o, res, err, err_size);
	if (ret)
		goto out_free_objs;
	res->xdp_prog_id = loader_prog_id(objs.xdp_prog_fd);

	ret = loader_tc_attach(&ifc, objs.tc_prog_fd, have_old ? &old : NULL,
			       &qdisc_created, &res->tc_prog_id, err, err_size);
	if (ret) {
		/* All or nothing, unless this was an upgrade: then the old TC
		 * program stays beside the new XDP one. */
		if (!res->upgraded)
			loader_xdp_detach(dir, &key);
		goto out_free_objs;
	}
	res->qdisc_created = qdisc_created;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.ifname, sizeof(rec.ifname), "%s", ifc.name);
	rec.attached_ns = (uint64_t)time(NULL) * 1000000000ull;
	rec.flags = KERN_IFACE_F_XDP | KERN_IFACE_F_TC;
	if (o->mode == KERN_XDP_GENERIC)
		rec.flags |= KERN_IFACE_F_GENERIC;
	if (qdisc_created)
		rec.flags |= KERN_IFACE_F_QDISC_CREATED;
	rec.xdp_prog_id = res->xdp_prog_id;
	rec.tc_prog_id = res->tc_prog_id;
	if (bpf_map_update_elem(ifaces_fd, &key, &rec, BPF_ANY)) {
		ret = -errno;
		loader_err(err, err_size, "recording the attachment in %s: %s",
			   KERN_MAP_IFACES, strerror(-ret));
		/* Without the record detach could not tell our qdisc from
		 * another's: undo rather than leave it unrecorded. */
		loader_tc_detach(ifc.ifindex, ifc.name, &rec);
		if (!res->upgraded)
			loader_xdp_detach(dir, &key);
		goto out_free_objs;
	}
	log_info("kern: attached to %s (ifindex %u): xdp %u (%s), tc %u, pins in %s",
		 ifc.name, ifc.ifindex, rec.xdp_prog_id,
		 o->mode == KERN_XDP_GENERIC ? "generic" : "native", rec.tc_prog_id, dir);

out_free_objs:
	loader_objs_free(&objs);
out_close_ifaces:
	close(ifaces_fd);
out_unlock:
	close(lock_fd);
	return ret;
}

/* ---- detach ----------------------------------------------------------------------------------- */

/* Detaches one recorded attachment; the record goes too. */
static int loader_detach_one(const char *dir, int ifaces_fd,
			     const struct kern_iface_key *key,
			     const struct kern_iface_record *rec, bool here)
{
	int ret;

	ret = loader_xdp_detach(dir, key);
	if (ret && ret != -ENOENT)
		return ret;
	/* tc has no link: only reachable from the interface's namespace. */
	if (here && (rec->flags & KERN_IFACE_F_TC)) {
		ret = loader_tc_detach(key->ifindex, rec->ifname, rec);
		if (ret)
			return ret;
	} else if (!here && (rec->flags & KERN_IFACE_F_TC)) {
		log_warn("kern: %s is in another network namespace: its tc filter%s can "
			 "only be removed from there", rec->ifname,
			 rec->flags & KERN_IFACE_F_QDISC_CREATED ? " and clsact qdisc" : "");
	}
	if (bpf_map_delete_elem(ifaces_fd, key) && errno != ENOENT)
		return -errno;
	return 0;
}

/* Removes every pin in `dir` (maps, the ABI record, links) and the
 * directory. Only names that tollgate pins are touched. */
static int loader_purge(const char *dir)
{
	char path[PATH_MAX], links[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (loader_path(links, sizeof(links), dir, KERN_LINKS_SUBDIR))
		return -ENAMETOOLONG;
	d = opendir(links);
	if (d) {
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, "xdp_", 4))
				continue;
			if (!loader_path(path, sizeof(path), links, de->d_name) &&
			    unlink(path) && !ret)
				ret = -errno;
		}
		closedir(d);
		if (rmdir(links) && errno != ENOENT && !ret)
			ret = -errno;
	}
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? ret : -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "tg_", 3))
			continue;
		if (!loader_path(path, sizeof(path), dir, de->d_name) && unlink(path) && !ret)
			ret = -errno;
	}
	closedir(d);
	if (rmdir(dir) && errno != ENOENT && !ret)
		ret = -errno;
	return ret;
}

int kern_detach(const char *ifname, const char *pin_dir, bool purge,
		char *err, size_t err_size)
{
	const char *dir = kern_loader_pin_dir(pin_dir);
	struct kern_iface_key key, next, mine;
	struct kern_iface_record rec;
	struct loader_iface ifc;
	uint64_t ns = loader_netns_ino();
	unsigned int left = 0, done = 0;
	bool first = true, found = false;
	int fd, lock_fd = -1, ret = 0;

	if (err && err_size)
		err[0] = '\0';
	kern_log_init();
	ret = loader_check_caps(err, err_size);
	if (ret)
		return ret;

	memset(&mine, 0, sizeof(mine));
	if (ifname) {
		ret = loader_iface_lookup(ifname, &ifc);
		if (ret == -ENODEV) {
			loader_err(err, err_size, "unknown interface '%s' (ip link show)", ifname);
			return ret;
		}
		if (ret) {
			loader_err(err, err_size, "looking up interface '%s': %s", ifname,
				   strerror(-ret));
			return ret;
		}
		mine.netns_ino = ns;
		mine.ifindex = ifc.ifindex;
	}

	lock_fd = kern_pin_lock(dir);
	if (lock_fd < 0 && lock_fd != -ENOENT) {
		loader_err(err, err_size, "locking %s: %s", dir, strerror(-lock_fd));
		return lock_fd;
	}
	fd = loader_ifaces_open(dir, false);
	if (fd < 0 && fd != -ENOENT) {
		loader_err(err, err_size, "%s/%s: %s", dir, KERN_MAP_IFACES, strerror(-fd));
		ret = fd;
		goto out_unlock;
	}
	if (fd >= 0 && ifname) {
		memset(&rec, 0, sizeof(rec));
		if (!bpf_map_lookup_elem(fd, &mine, &rec)) {
			found = true;
			ret = loader_detach_one(dir, fd, &mine, &rec, true);
			if (ret) {
				loader_err(err, err_size, "detaching from %s: %s", ifname,
					   strerror(-ret));
				goto out_close;
			}
			done++;
		}
	}
	/* Every other record: detached too without a DEV, else counted. */
	memset(&key, 0, sizeof(key));
	while (fd >= 0) {
		memset(&next, 0, sizeof(next));
		if (bpf_map_get_next_key(fd, first ? NULL : &key, &next))
			break;
		memset(&rec, 0, sizeof(rec));
		if (bpf_map_lookup_elem(fd, &next, &rec)) {
			key = next;
			first = false;
			continue;
		}
		if (ifname) {
			left++;
			key = next;
			first = false;
			continue;
		}
		ret = loader_detach_one(dir, fd, &next, &rec, next.netns_ino == ns);
		if (ret) {
			loader_err(err, err_size, "detaching from %s: %s", rec.ifname,
				   strerror(-ret));
			goto out_close;
		}
		done++;
		first = true;	/* the record is gone: start over */
	}
	if (ifname && !found) {
		/* No record, but maybe a link (a record lost to a crash). */
		ret = loader_xdp_detach(dir, &mine);
		if (ret == -ENOENT && !purge) {
			loader_err(err, err_size, "nothing of tollgate's is attached to %s "
				   "(pin directory %s)", ifname, dir);
			goto out_close;
		}
		ret = 0;
	}
	if (purge) {
		if (left) {
			loader_err(err, err_size, "not purging %s: %u other interface(s) still "
				   "attached ('tollctl status'; 'tollctl detach --purge' without "
				   "DEV detaches all)", dir, left);
			ret = -EBUSY;
			goto out_close;
		}
		if (fd >= 0) {
			close(fd);
			fd = -1;
		}
		ret = loader_purge(dir);
		if (ret)
			loader_err(err, err_size, "purging %s: %s", dir, strerror(-ret));
	}
	log_debug("kern: detached %u attachment(s)", done);

out_close:
	if (fd >= 0)
		close(fd);
out_unlock:
	/* After a purge the directory is gone; the lock goes with the fd. */
	if (lock_fd >= 0)
		close(lock_fd);
	return ret;
}

/* ---- status --------------------------------------------------------------------------------------- */

void kern_status_fini(struct kern_status *st)
{
	if (!st)
		return;
	free(st->ifaces);
	st->ifaces = NULL;
	st->n_ifaces = 0;
}

static void loader_status_live(const char *dir, struct kern_status_iface *s)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)s->key.ifindex,
		    .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tq, .handle = KERN_TC_HANDLE, .priority = KERN_TC_PRIORITY);
	uint32_t prog = 0, ifindex = 0;
	char path[PATH_MAX];
	int fd;

	if (!loader_link_path(path, sizeof(path), dir, &s->key)) {
		fd = loader_link_open(path, &prog, &ifindex);
		if (fd >= 0) {
			s->xdp_link_ok = ifindex != 0;
			s->xdp_prog_id = prog;
			close(fd);
		}
	}
	if (!s->in_this_netns)
		return;
	if (!bpf_xdp_query((int)s->key.ifindex, 0, &q))
		snprintf(s->xdp_mode, sizeof(s->xdp_mode), "%s",
			 loader_mode_name(q.attach_mode));
	if (loader_tc_has_filter(s->key.ifindex) > 0 && !bpf_tc_query(&hook, &tq))
		s->tc_prog_id = tq.prog_id;
}

int kern_status_read(const char *pin_dir, struct kern_status *st,
		     char *err, size_t err_size)
{
	const char *dir = kern_loader_pin_dir(pin_dir);
	struct kern_iface_key key, next;
	uint64_t ns = loader_netns_ino();
	bool first = true;
	int fd, ret;

	memset(st, 0, sizeof(*st));
	if (err && err_size)
		err[0] = '\0';
	snprintf(st->pin_dir, sizeof(st->pin_dir), "%s", dir);
	ret = loader_abi_read(dir, &st->abi);
	if (!ret)
		st->has_abi = true;
	else if (ret == -EACCES || ret == -EPERM) {
		loader_err(err, err_size, "reading %s: %s (tollctl needs root)", dir,
			   strerror(-ret));
		return ret;
	}
	st->pinned = st->has_abi;

	fd = loader_ifaces_open(dir, false);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0) {
		loader_err(err, err_size, "%s/%s: %s", dir, KERN_MAP_IFACES, strerror(-fd));
		return fd;
	}
	st->pinned = true;
	memset(&key, 0, sizeof(key));
	while (st->n_ifaces < KERN_IFACES_MAX) {
		struct kern_status_iface *s, *nv;

		memset(&next, 0, sizeof(next));
		if (bpf_map_get_next_key(fd, first ? NULL : &key, &next))
			break;
		first = false;
		key = next;
		nv = realloc(st->ifaces, (st->n_ifaces + 1) * sizeof(*nv));
		if (!nv) {
			close(fd);
			return -ENOMEM;
		}
		st->ifaces = nv;
		s = &st->ifaces[st->n_ifaces];
		memset(s, 0, sizeof(*s));
		s->key = next;
		if (bpf_map_lookup_elem(fd, &next, &s->rec))
			continue;
		s->rec.ifname[sizeof(s->rec.ifname) - 1] = '\0';
		s->in_this_netns = next.netns_ino == ns;
		loader_status_live(dir, s);
		st->n_ifaces++;
	}
	close(fd);
	return 0;
}
