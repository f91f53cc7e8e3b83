/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loader: puts tollgate's XDP and TC programs on an interface, takes
 * them off, and says what is attached where. Only abi.h and plain C types
 * cross this interface; no libbpf type does.
 *
 * Everything lives under one pin directory on bpffs (TG_PIN_DIR, or
 * $TOLLGATE_PIN_DIR, or one the caller names):
 *
 *   <dir>/tg_*            the maps, pinned by name, shared by every
 *                         interface and reused by every later load, so
 *                         re-attaching an upgraded program keeps their state
 *   <dir>/tg_abi          KERN_MAP_ABI: ARRAY of one struct tg_abi_info,
 *                         frozen; what the maps' layout was built with
 *   <dir>/tg_ifaces       KERN_MAP_IFACES: what the loader attached, per
 *                         interface (struct kern_iface_record), so detach
 *                         removes only what attach created
 *   <dir>/links/xdp_<netns inode>_<ifindex>
 *                         the XDP bpf_link; the attachment lives as long as
 *                         this pin does
 *
 * TC egress is a direct-action filter with a fixed handle and priority on
 * the clsact qdisc; the qdisc is created only when absent, and removed on
 * detach only when this loader created it and no other filter is left on
 * it. A hook, qdisc or filter the loader did not create is never removed.
 */
#ifndef TOLLGATE_KERN_LOADER_H
#define TOLLGATE_KERN_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tollgate/abi.h>

struct policy;

/* Our tc filter: handle 0x7467 ("tg"), priority 0x7467. Another filter
 * at this handle and priority that is not ours is refused, not replaced. */
#define KERN_TC_HANDLE		0x7467u
#define KERN_TC_PRIORITY	0x7467u

/* The loader's bookkeeping maps (user space only; no program reads them). */
#define KERN_MAP_IFACES		"tg_ifaces"
#define KERN_IFACES_MAX		256
/* Under the pin directory. */
#define KERN_LINKS_SUBDIR	"links"

enum kern_xdp_mode {
	KERN_XDP_NATIVE = 0,
	KERN_XDP_GENERIC,
};

/* struct kern_iface_record.flags */
#define KERN_IFACE_F_XDP		(1u << 0)
#define KERN_IFACE_F_GENERIC		(1u << 1)	/* XDP in generic (skb) mode */
#define KERN_IFACE_F_TC			(1u << 2)
#define KERN_IFACE_F_QDISC_CREATED	(1u << 3)	/* we created clsact */

/* tg_ifaces key: an interface in a network namespace. */
struct kern_iface_key {
	uint64_t netns_ino;	/* st_ino of /proc/self/ns/net */
	uint32_t ifindex;
	uint32_t pad;
};

/* tg_ifaces value. */
struct kern_iface_record {
	char ifname[16];
	uint64_t attached_ns;	/* CLOCK_REALTIME, for people */
	uint32_t flags;		/* KERN_IFACE_F_* */
	uint32_t xdp_prog_id;
	uint32_t tc_prog_id;
	uint32_t pad;
};

struct kern_attach_opts {
	const char *pin_dir;		/* NULL: kern_loader_pin_dir(NULL) */
	enum kern_xdp_mode mode;
	bool force;			/* replace another XDP program */
	const struct policy *policy;	/* NULL: kernel defaults, no tenants */
};

struct kern_attach_result {
	uint32_t ifindex;
	uint32_t xdp_prog_id;
	uint32_t tc_prog_id;
	bool upgraded;			/* replaced our own earlier programs */
	bool qdisc_created;
	bool replaced_foreign;		/* --force removed another XDP program */
	bool policy_synced;		/* the maps were (re)filled from the policy */
	uint32_t flow_table_size;	/* as loaded (a pinned table keeps its size) */
	/* The policy asks for egress pacing but the root qdisc is not fq
	 * (nor mq over fq), so departure times are ignored: its kind. */
	char pacing_qdisc[16];
};

/* `dir` when not NULL, else $TOLLGATE_PIN_DIR when set and not empty, else
 * TG_PIN_DIR. Never NULL; borrows `dir`. */
const char *kern_loader_pin_dir(const char *dir);

/*
 * Loads both programs (reusing the maps pinned under the pin directory, or
 * creating and pinning them), fills the maps from the policy (or, without
 * one, with kernel defaults when the maps are new; maps already pinned
 * keep their contents) and attaches
 * XDP ingress and TC egress to `ifname`. Attaching again upgrades the
 * programs in place. Returns 0 or -errno with a message for people in
 * `err` (`err_size` bytes): -ENODEV unknown interface, -ENETDOWN link
 * down, -EBUSY another XDP program (without force), -EPERM not privileged,
 * -EOPNOTSUPP native XDP unsupported, -EPROTO pinned maps of another ABI.
 */
int kern_attach(const char *ifname, const struct kern_attach_opts *o,
		struct kern_attach_result *res, char *err, size_t err_size);

/*
 * Removes our XDP link and tc filter from `ifname` (NULL: from every
 * interface recorded in the pin directory), and the clsact qdisc when we
 * created it and it holds no other filter. With `purge`, also removes every
 * pinned map, link and the pin directory itself (refused while another
 * interface is still attached, unless ifname is NULL). Returns 0 or -errno
 * with `err` filled; -ENOENT when nothing of ours is on `ifname`.
 */
int kern_detach(const char *ifname, const char *pin_dir, bool purge,
		char *err, size_t err_size);

/* One attachment, as `tollctl status` shows it. */
struct kern_status_iface {
	struct kern_iface_key key;
	struct kern_iface_record rec;
	bool in_this_netns;	/* the live fields below could be read */
	bool xdp_link_ok;	/* the pinned link exists and is attached */
	uint32_t xdp_prog_id;	/* live: the link's program */
	uint32_t tc_prog_id;	/* live: the program at our handle/priority */
	char xdp_mode[8];	/* "native", "generic", "" */
};

struct kern_status {
	char pin_dir[256];
	bool pinned;			/* the pin directory holds our maps */
	bool has_abi;
	struct tg_abi_info abi;		/* the pinned record */
	struct kern_status_iface *ifaces;
	size_t n_ifaces;
};

/* Fills `st`; an empty or absent pin directory is not an error. Returns 0
 * or -errno with `err` filled. kern_status_fini() either way. */
int kern_status_read(const char *pin_dir, struct kern_status *st,
		     char *err, size_t err_size);
void kern_status_fini(struct kern_status *st);

/*
 * Checks the pinned ABI record under `pin_dir` against this build. Returns
 * 0 when it matches or is an older version this build migrates (the next
 * attach does; maps of another shape until then are listed in
 * kern_map_specs' changed_in), -ENOENT when none is pinned, -EPROTO (with `err`
 * naming both versions and how to clear them) when it differs.
 */
int kern_abi_check(const char *pin_dir, char *err, size_t err_size);

/* The ABI version of the record pinned in pin_dir (NULL: the default).
 * Returns 0, -ENOENT (no record) or -errno. */
int kern_abi_pinned_version(const char *pin_dir, uint32_t *version);

/*
 * Serializes the commands that change a pin directory (attach, detach,
 * policy sync): an exclusive flock(2) on the directory, waited for. Returns
 * an fd to close to unlock, or -errno (-ENOENT: no such directory).
 */
int kern_pin_lock(const char *dir);

/*
 * Opens the map pinned as <dir>/<name> and checks its key and value sizes
 * (0: not checked). Returns the fd (the caller closes it) or -errno:
 * -ENOENT not pinned, -EPROTO sizes differ. `max_entries` may be NULL.
 */
int kern_pin_open(const char *dir, const char *name, uint32_t key_size,
		  uint32_t value_size, uint32_t *max_entries);

#endif /* TOLLGATE_KERN_LOADER_H */
