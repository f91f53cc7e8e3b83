/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the inspector commands (flows, tenants, stats, top, penalty, tenant,
 * events, export) share: the --pin-dir and -c options, opening the pinned
 * maps with an error that says what to do, tenant ids to and from names,
 * and number/duration arguments. Private to tools/tollctl.
 *
 * Tenant ids are what the maps hold: tenants are numbered index + 1 in
 * policy order, 0 is the default tenant (unmatched traffic). With -c POLICY
 * ids map to names; without one, through the names the loader recorded when
 * it synced a policy, if it did; else ids are shown as they are.
 */
#ifndef TOLLGATE_TOLLCTL_INSPECT_H
#define TOLLGATE_TOLLCTL_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kern/maps.h"
#include "policy/policy.h"

/* getopt_long entries and the short letters of the shared options. */
#define CTL_INSPECT_OPT_PIN_DIR	0x100
#define CTL_INSPECT_LONGOPTS						\
	{ "pin-dir",	required_argument, NULL, CTL_INSPECT_OPT_PIN_DIR }, \
	{ "policy",	required_argument, NULL, 'c' }
#define CTL_INSPECT_SHORTOPTS	"c:"
#define CTL_INSPECT_USAGE						\
	"  --pin-dir DIR  maps pinned under DIR (default $TOLLGATE_PIN_DIR, else\n" \
	"                 " TG_PIN_DIR ")\n"				\
	"  -c POLICY      name tenants from POLICY (tenant ids otherwise)\n"

struct ctl_inspect {
	const char *pin_dir;		/* --pin-dir, NULL: kern_pin_dir() */
	const char *policy_path;	/* -c, or NULL */
	struct kern_maps *maps;
	struct policy *policy;
};

/* Takes a shared option: returns true when `opt` was one and was stored. */
bool ctl_inspect_opt(struct ctl_inspect *ci, int opt, const char *arg);

/* Loads the policy (when -c was given) and opens the maps. On failure
 * reports it (prefixed by `cmd`) and returns the exit code; 0 on success. */
int ctl_inspect_open(struct ctl_inspect *ci, const char *cmd);
/* Loads only the policy; for commands that open maps themselves. */
int ctl_inspect_load_policy(struct ctl_inspect *ci, const char *cmd);
void ctl_inspect_close(struct ctl_inspect *ci);

/* The name of tenant `id`: from the policy with -c, else the name the
 * loader recorded when it synced a policy (tg_tenant_names), else NULL.
 * `buf` may hold the result. */
const char *ctl_tenant_name(const struct ctl_inspect *ci, uint32_t id,
			    char *buf, size_t size);
/* "id" or the name, for labels and plain output; `buf` holds the id. */
const char *ctl_tenant_label(const struct ctl_inspect *ci, uint32_t id,
			     char *buf, size_t size);
/* "tenant_id": N, "tenant": name|null into the current JSON object. */
void ctl_json_tenant(const struct ctl_inspect *ci, uint32_t id);
/* A tenant id from a number, "default", or a tenant name (the policy's
 * with -c, else the loader's record). Returns 0 or -ENOENT. */
int ctl_tenant_parse(const struct ctl_inspect *ci, const char *text, uint32_t *id);
/* How many tenant ids the policy defines (n_tenants + 1), 0 without one. */
uint32_t ctl_policy_tenant_ids(const struct ctl_inspect *ci);

/* A decimal in [0, max]. Returns 0 or -EINVAL / -ERANGE. */
int ctl_parse_u64(const char *text, uint64_t max, uint64_t *out);
/* "90", "90s", "1.5s", "250ms", "5m", "2h", "1d" → ns (bare numbers are
 * seconds). Returns 0 or -EINVAL / -ERANGE. */
int ctl_parse_duration_ns(const char *text, uint64_t *ns);

/* "tcp", "udp", "icmp", "icmpv6", or the number. */
const char *ctl_proto_name(uint8_t proto, char *buf, size_t size);

/* Flows, as `flows` and `top` print them (flows.c). */
/* The members of one flow into the current JSON object. */
void ctl_flow_json_fields(const struct ctl_inspect *ci,
			  const struct kern_flow_entry *e, uint64_t now_ns);
/* "src:port > dst:port proto" ("[v6]:port" for IPv6) into `buf`. */
const char *ctl_flow_endpoints(const struct kern_flow_entry *e, char *buf,
			       size_t size);
/* Human-readable byte counts: "1.5 MiB". */
const char *ctl_human_bytes(double v, char *buf, size_t size);

#endif /* TOLLGATE_TOLLCTL_INSPECT_H */
