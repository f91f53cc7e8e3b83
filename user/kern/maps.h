/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pinned maps of a running tollgate datapath, read and written from
 * user space without the programs' objects: what `tollctl flows/stats/...`
 * and the exporter see. Only abi.h types cross this interface; no libbpf
 * type does.
 *
 * The maps are opened by name from a pin directory (TG_PIN_DIR, or
 * $TOLLGATE_PIN_DIR, or a directory given by the caller). Each map is
 * optional on its own: a function that needs a map that is not pinned
 * returns -ENOENT, so a datapath that pins fewer maps (an older or a
 * partial one) can still be inspected for what it has. Every opened map's
 * key and value sizes are checked against abi.h, and the ABI record
 * (KERN_MAP_ABI, when pinned) by the loader's kern_abi_check().
 */
#ifndef TOLLGATE_KERN_MAPS_H
#define TOLLGATE_KERN_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tollgate/abi.h>

/* The ABI record: an ARRAY of one struct tg_abi_info pinned by the loader
 * next to the maps (see loader.h). abi.h does not name it; if it ever
 * does, that name wins. */
#ifdef TG_MAP_ABI
#define KERN_MAP_ABI		TG_MAP_ABI
#else
#define KERN_MAP_ABI		"tg_abi"
#endif

/* The environment variable that overrides TG_PIN_DIR. */
#define KERN_PIN_DIR_ENV	"TOLLGATE_PIN_DIR"

enum kern_map_id {
	KERN_MAP_FLOWS = 0,
	KERN_MAP_LPM_V4,
	KERN_MAP_LPM_V6,
	KERN_MAP_TENANTS,
	KERN_MAP_TENANT_STATS,
	KERN_MAP_SYN_TENANT,
	KERN_MAP_SYN_PREFIX,
	KERN_MAP_PENALTY,
	KERN_MAP_CONFIG,
	KERN_MAP_FLOOD,
	KERN_MAP_STATS,
	KERN_MAP_RUNS,
	KERN_MAP_EVENTS,
	KERN_MAP_PACE,
	KERN_MAP_PENALTY_HINT,
	/* Not a datapath map: the loader's id → name record (sync.h). */
	KERN_MAP_NAMES,
	KERN_MAP__COUNT,
};

struct kern_maps;

/* `dir` when not NULL, else $TOLLGATE_PIN_DIR when set and not empty, else
 * TG_PIN_DIR. Never NULL; borrows `dir`. */
const char *kern_pin_dir(const char *dir);

/*
 * Opens every tollgate map pinned under `dir` (see kern_pin_dir). Returns
 * NULL with errno set and a message in `err` (`err_size` bytes, may be 0):
 * ENOENT when no tollgate map is pinned there ("... run tollctl attach"),
 * EPROTO when a map or the ABI record does not match this build, EACCES /
 * EPERM without the privilege to open pins.
 */
struct kern_maps *kern_maps_open(const char *dir, char *err, size_t err_size);
/* Closes every fd. NULL is a no-op. */
void kern_maps_close(struct kern_maps *m);
/* The directory the maps came from. */
const char *kern_maps_dir(const struct kern_maps *m);
bool kern_maps_has(const struct kern_maps *m, enum kern_map_id id);
/* The map's name as pinned ("tg_flows"). */
const char *kern_map_name(enum kern_map_id id);
/* max_entries of a pinned map, 0 when not pinned. */
uint32_t kern_maps_max_entries(const struct kern_maps *m, enum kern_map_id id);

/* CLOCK_MONOTONIC in ns: the clock of every *_ns in the maps. */
uint64_t kern_now_ns(void);

/* "xdp_ingress", "tc_egress"; "unknown" when out of range. */
const char *kern_hook_name(unsigned int hook);

/* ---- flows -------------------------------------------------------------- */

struct kern_flow_entry {
	struct tg_flow_key key;
	struct tg_flow flow;
};

/* Every flow, in a new array the caller frees (NULL when there are none).
 * Uses batch lookups where the kernel has them, else walks the keys. At
 * most the map's max_entries entries; flows inserted or evicted during the
 * walk may be missed. Returns 0 or -errno. */
int kern_flows_read(struct kern_maps *m, struct kern_flow_entry **out, size_t *n);

/* ---- counters (per-CPU values, summed) ------------------------------------ */

int kern_reason_stats_read(struct kern_maps *m,
			   struct tg_reason_stats out[TG_REASON__COUNT]);
int kern_runs_read(struct kern_maps *m, uint64_t out[TG_HOOK__COUNT]);
/* Tenant ids 0 .. kern_tenant_slots()-1. */
uint32_t kern_tenant_slots(const struct kern_maps *m);
int kern_tenant_stats_read(struct kern_maps *m, uint32_t id,
			   struct tg_tenant_stats *out);
/* All-zero `out` when the tenant map is not pinned is not assumed: -ENOENT. */
int kern_tenant_config_read(struct kern_maps *m, uint32_t id,
			    struct tg_tenant_config *out);
/* The tenant's name as the loader recorded it from the policy it synced
 * (KERN_MAP_TENANT_NAMES) into `buf`. Returns 0, -ENOENT when no name is
 * recorded (or the map is not pinned), -ERANGE past the array, or -errno. */
int kern_tenant_name_read(struct kern_maps *m, uint32_t id, char *buf,
			  size_t size);
/* Sets or clears TG_TENANT_F_BLOCKED, leaving the other fields as they are.
 * Returns 0, -ERANGE for an id past the array, or -errno. */
int kern_tenant_set_blocked(struct kern_maps *m, uint32_t id, bool blocked);

/* ---- penalty box ------------------------------------------------------------ */

/* Parses one IPv4 or IPv6 address (no prefix length) into a zeroed key.
 * Returns 0 or -EINVAL. */
int kern_src_key_parse(const char *text, struct tg_src_key *out);
/* Formats an address of `family` (TG_FAMILY_*) into `buf` (at least
 * INET6_ADDRSTRLEN, 46 bytes). Returns buf. */
char *kern_addr_format(uint8_t family, const __u32 addr[4], char *buf, size_t size);

/* Drops the source's packets for `duration_ns` from now (replacing any
 * entry it had), and sets its bits in the hint the program tests first.
 * Returns 0 or -errno. */
int kern_penalty_add(struct kern_maps *m, const struct tg_src_key *key,
		     uint64_t duration_ns);
/* Returns 0, -ENOENT when the source was not in the box, or -errno. */
int kern_penalty_del(struct kern_maps *m, const struct tg_src_key *key);

/* Sets the hint bits (tollgate/hint.h) of every address in the penalty
 * map `penalty_fd` in the hint map `hint_fd`: the loader's step before a
 * program that tests the hint is attached. Returns 0 or -errno. */
int kern_penalty_hint_fill(int penalty_fd, int hint_fd);

struct kern_penalty_entry {
	struct tg_src_key key;
	struct tg_penalty value;
};
/* Every entry, expired ones included; the array is the caller's to free. */
int kern_penalty_list(struct kern_maps *m, struct kern_penalty_entry **out,
		      size_t *n);

/* ---- events ---------------------------------------------------------------- */

struct kern_events;

/* Called once per record; `ev` is valid during the call only. Records
 * shorter than struct tg_event are skipped. Returning non-zero stops the
 * current kern_events_poll(), which then returns that value. */
typedef int (*kern_event_fn)(void *ctx, const struct tg_event *ev);

/* A consumer of tg_events. Returns NULL with errno (ENOENT when the ring
 * buffer is not pinned). Borrows `m`, which must outlive it. */
struct kern_events *kern_events_new(struct kern_maps *m, kern_event_fn fn,
				    void *ctx);
/* Waits up to timeout_ms (-1: forever) and delivers what arrived. Returns
 * the number of records, the callback's non-zero value, -EINTR when a
 * signal arrived, or -errno. */
int kern_events_poll(struct kern_events *ev, int timeout_ms);
void kern_events_free(struct kern_events *ev);

/* ---- a snapshot of the counters, for exporters ----------------------------- */

struct kern_tenant_snapshot {
	uint32_t id;
	bool has_config;
	struct tg_tenant_config config;
	struct tg_tenant_stats stats;
};

/* Counters only: nothing per flow or per address. */
struct kern_snapshot {
	bool has_reasons;
	struct tg_reason_stats reasons[TG_REASON__COUNT];
	bool has_runs;
	uint64_t runs[TG_HOOK__COUNT];
	/* Tenants with any non-zero counter or configuration, by id. */
	struct kern_tenant_snapshot *tenants;
	size_t n_tenants;
	bool has_flows;
	uint64_t flows;		/* entries in tg_flows now */
	uint64_t flows_max;
	bool has_penalty;
	uint64_t penalty_active;	/* entries not yet expired */
};

/* Fills `s` (zeroed first) from whatever maps are pinned. Returns 0 or
 * -errno; kern_snapshot_fini() either way. */
int kern_snapshot_read(struct kern_maps *m, struct kern_snapshot *s);
void kern_snapshot_fini(struct kern_snapshot *s);

#endif /* TOLLGATE_KERN_MAPS_H */
