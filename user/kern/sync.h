/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy → pinned maps: the tenants' prefixes and limits and the node-wide
 * settings of the policy's `kernel` section, written into the maps a loaded
 * datapath shares (see loader.h), and whatever an earlier policy left there
 * that this one no longer has, removed.
 *
 * Tenant ids are the policy's tenant index + 1; id 0 is traffic no prefix
 * matched, unless the policy names a default tenant: then tg_config's
 * default_tenant_id sends unmatched traffic to that tenant's id.
 *
 * A tenant's TG_TENANT_F_BLOCKED (set at run time by the daemon or
 * `tollctl tenant block`) survives a re-sync and follows the tenant's name
 * to its new id when the policy reorders tenants (KERN_MAP_TENANT_NAMES
 * records which name each id had); a removed tenant's block goes with it.
 */
#ifndef TOLLGATE_KERN_SYNC_H
#define TOLLGATE_KERN_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

struct policy;

/* ARRAY: __u32 tenant id → char[KERN_TENANT_NAME_SIZE], NUL-padded; "" for
 * an unused id. Written by user space only, for the inspector and re-syncs. */
#define KERN_MAP_TENANT_NAMES	"tg_tenant_names"
#define KERN_TENANT_NAME_SIZE	TG_NAME_MAX

/* Defaults for a policy that leaves them out, and for no policy. */
#define KERN_PREFIX_LEN_V4	24
#define KERN_PREFIX_LEN_V6	56

/* What a sync did. A map that is not pinned is skipped and counted. */
struct kern_sync_report {
	uint32_t tenants;		/* ids written, 0 included */
	uint32_t lpm_v4;		/* entries written */
	uint32_t lpm_v6;
	uint32_t lpm_removed;		/* stale prefixes deleted */
	uint32_t tenants_cleared;	/* stale ids zeroed */
	uint32_t maps_missing;		/* maps the sync wanted that are not pinned */
};

/*
 * GCRA parameters of `count` events per `period_ms` with `burst`: the
 * emission interval T = period / count and the tolerance tau = T * (burst
 * - 1) (burst 0 counts as 1). count 0: no limit, both 0. Saturates instead
 * of overflowing.
 */
void kern_gcra_params(uint64_t count, uint64_t period_ms, uint32_t burst,
		      uint64_t *interval_ns, uint64_t *burst_ns);

/*
 * tg_config.prefix_tat_shift for a per-prefix limiter of interval T and
 * tolerance tau (ns): at least 6 (64 ns units, a 208-day span in the
 * slot's 48 bits), and large enough that (tau + T) >> shift stays below
 * 2^40, so that a live TAT is never taken for one at rest and a TAT at
 * rest is rarely taken for a live one (abi.h, struct tg_prefix_set).
 * At most 32.
 */
unsigned int kern_prefix_tat_shift(uint64_t interval_ns, uint64_t burst_ns);

/*
 * Writes policy `p` (NULL: no tenants, kernel defaults) into the maps
 * pinned under `pin_dir` (NULL: kern_loader_pin_dir(NULL)). Returns 0 or
 * -errno with `err` filled: -ENOENT nothing pinned there, -EPROTO another
 * ABI, -E2BIG more tenants or prefixes than the maps hold.
 */
int kern_sync_policy(const char *pin_dir, const struct policy *p,
		     struct kern_sync_report *rep, char *err, size_t err_size);

/* The same for a caller that holds kern_pin_lock(pin_dir) already (the
 * loader); kern_sync_policy() takes and releases it itself. */
int kern_sync_policy_locked(const char *pin_dir, const struct policy *p,
			    struct kern_sync_report *rep, char *err, size_t err_size);

#endif /* TOLLGATE_KERN_SYNC_H */
