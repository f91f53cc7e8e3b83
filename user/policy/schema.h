/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to user/policy/: the policy schema as data.
 *
 * Every key of the policy language is one `struct pfield` row: its name,
 * type, where it lands in the typed structs, its default (written in policy
 * syntax and parsed by the same code as the file), its range and its
 * documentation. The decoder, the validator and docs/policy-reference.md are
 * all driven by these tables, so they cannot drift apart.
 */
#ifndef TOLLGATE_POLICY_SCHEMA_H
#define TOLLGATE_POLICY_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "policy/policy.h"

enum ptype {
	PT_STR = 0,	/* one line of text: no control bytes but tab */
	PT_TEXT,	/* text that may span lines (prompts, descriptions) */
	PT_NAME,	/* identifier: [A-Za-z0-9][A-Za-z0-9_.:/-]* */
	PT_PATH,	/* a file path */
	PT_URLPATH,	/* an HTTP path: starts with '/' */
	PT_BOOL,
	PT_U32,
	PT_U64,
	PT_F64,
	PT_DURATION,	/* "500ms", "30s", "5m", "1h", "7d" → u64 ms */
	PT_SIZE,	/* "512", "16KiB", "8MiB", "1GiB" → u64 bytes */
	PT_RATE,	/* "100/s", "6000/min" → struct policy_rate */
	PT_ENUM,	/* one of .names → int-sized enum */
	PT_FLAGS,	/* list of .names → u32 bit set */
	PT_CIDR,	/* struct policy_cidr */
	PT_SOCKADDR,	/* struct policy_sockaddr */
	PT_HOSTPORT,	/* struct policy_hostport */
	PT_URL,		/* struct policy_url; schemes in .schemes */
	PT_SECRET,	/* struct policy_secret * */
	PT_KEYHASH,	/* uint8_t[32] from "sha256:<hex>" */
	PT_JSON,	/* any YAML value → const char * JSON text */
	PT_OBJECT,	/* embedded struct, .schema */
	PT_OBJECT_OPT,	/* pointer to struct, NULL when absent */
	PT_LIST,	/* pointer + uint32_t count, elements per .elem */
};

/* Namespaces of names, for duplicate and dangling-reference checks. */
enum pns {
	NS_NONE = 0,
	NS_LISTENER,
	NS_UPSTREAM,
	NS_TENANT,
	NS_KEY,
	NS_PROVIDER,
	NS_MODEL,
	NS_SEMROUTE,
	NS_GUARD,
	NS_MCP,		/* MCP servers and bridges share the tool prefix space */
	NS_AGENT,
	NS__COUNT,
};

struct pschema;
struct pctx;

struct pfield {
	const char *key;
	enum ptype type;
	uint32_t off;		/* in the parent struct (0 for list elements) */
	uint32_t count_off;	/* PT_LIST: the uint32_t count */
	bool required;
	bool ranged;		/* check [min, max] */
	double min, max;	/* numbers; durations in ms; sizes in bytes */
	const char *def;	/* default, in policy syntax; NULL: none */
	const char *const *names;	/* PT_ENUM, PT_FLAGS */
	const char *schemes;	/* PT_URL: space-separated */
	const struct pschema *schema;	/* PT_OBJECT, PT_OBJECT_OPT, list of */
	const struct pfield *elem;	/* PT_LIST */
	uint32_t elem_size;		/* PT_LIST */
	uint32_t max_items;		/* PT_LIST */
	enum pns defines;	/* this value names a new object */
	enum pns refs;		/* this value must name an existing object */
	const char *doc;
};

/* Cross-field checks of one object, run once its keys decoded cleanly.
 * `node` is the object's mapping, for error locations. */
typedef void (*pvalidate_fn)(struct pctx *ctx, const yaml_node_t *node, void *obj);

struct pschema {
	const char *name;	/* "listener": used in messages and docs */
	const char *doc;
	uint32_t size;
	const struct pfield *fields;	/* ends with { .key = NULL } */
	pvalidate_fn validate;
};

/* The root of the policy language. */
extern const struct pschema policy_root_schema;

/* ---- services the schema's validators use (load.c) ---------------------- */

/* Records an error at a node (NULL: the file as a whole). */
void policy_ctx_error(struct pctx *ctx, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Records an error at a stored location. */
void policy_error_at(struct pctx *ctx, const struct policy_loc *loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Fills `u` from a URL the schema supplies (a default); a bad one is an
 * error at the file level (a schema bug, caught by the tests). */
void policy_ctx_set_url(struct pctx *ctx, struct policy_url *u, const char *text);
/* Item `i` of sequence `node`; `node` itself when it is not one or is
 * shorter (so an error still has a place). */
const yaml_node_t *policy_node_item(const yaml_node_t *node, uint32_t i);
/* The node of `key` in mapping `node`, or NULL. */
const yaml_node_t *policy_node_get(const yaml_node_t *node, const char *key);
/* Zeroed memory in the policy's arena (NULL, and the load fails, on OOM). */
void *policy_ctx_alloc(struct pctx *ctx, size_t size);
/* The location of a node, as stored in the policy. */
struct policy_loc policy_node_loc(struct pctx *ctx, const yaml_node_t *node);

/* The field's [min, max] in its own units ("1KiB", "10s", "100/s"). */
void policy_format_range(const struct pfield *f, char *lo, char *hi, size_t len);

bool policy_sockaddr_is_loopback(const struct policy_sockaddr *a);

/* Applies every default of `schema` to `obj`; returns the number of
 * defaults that failed to parse (a schema bug: the unit tests check 0). */
int policy_schema_self_check(void);

#endif /* TOLLGATE_POLICY_SCHEMA_H */
