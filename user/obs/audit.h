/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit log: one JSON line per governed call (LLM, MCP, A2A), each
 * line carrying its sequence number and the SHA-256 of the line before it,
 * so that an edited, deleted, inserted or reordered line breaks the chain
 * (`tollctl audit verify`). The format, the chain rule and the durability
 * of each fsync mode are in docs/audit.md.
 *
 * audit_write() is called from workers' event loops and never touches the
 * disk: it formats the record, chains it under a short mutex and appends
 * it to a chunk; a writer thread writes, fsyncs and rotates. When the
 * writer is TG_AUDIT_QUEUE_CHUNKS chunks behind, audit_write() waits up to
 * TG_AUDIT_FULL_WAIT_MS for room; after that the record is lost, counted
 * (audit_log_stats) and announced by the next line's "lost" member, so
 * a loss is visible in the log itself and the chain still verifies.
 */
#ifndef TOLLGATE_AUDIT_H
#define TOLLGATE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct policy_audit;

/* The `prev` of the first line of a fresh chain: the hex SHA-256 of
 * AUDIT_GENESIS (without a NUL). */
#define AUDIT_GENESIS		"tollgate-audit-v1"
#define AUDIT_HASH_HEX_LEN	64

/* One guard's verdict on the call, written as "guard": {name: verdict}. */
struct audit_guard_verdict {
	const char *name;	/* "input", "output", a profile name... */
	const char *verdict;	/* "allow", "redact", "block"... */
};

/*
 * One record. Strings are borrowed for the call and may be NULL (the
 * member is then left out); they need not be valid UTF-8 or free of
 * control bytes (they are escaped) and are cut at TG_AUDIT_FIELD_MAX
 * bytes. Zero counters are written (0 tokens is a fact); ttft_us and
 * cost are written only when has_ttft / has_cost.
 */
struct audit_record {
	uint64_t time_ns;	/* Unix time; 0: now */
	const char *kind;	/* "llm" (NULL), "mcp", "a2a" */
	const char *request_id;
	const char *tenant;
	const char *key_id;	/* the key's name, never the key */
	const char *operation;	/* "chat", "embeddings", "tools/call"... */
	const char *model_requested;
	const char *model_used;
	const char *provider;
	const char *route;
	bool stream;
	uint64_t tokens_in;
	uint64_t tokens_out;
	uint64_t tokens_cached;	/* of tokens_in, served from the provider's cache */
	bool has_cost;
	double cost;		/* in the price table's currency */
	uint64_t latency_us;
	bool has_ttft;
	uint64_t ttft_us;	/* time to first token */
	int status;		/* HTTP status answered to the caller */
	const char *error;	/* why it failed: "budget_exceeded"...; NULL: none */
	const struct audit_guard_verdict *guards;
	uint32_t n_guards;	/* at most TG_AUDIT_GUARDS_MAX are written */
	/* Written only when the log was opened with include_prompts, and
	 * then cut at TG_AUDIT_PROMPT_MAX bytes ("prompt_truncated": true). */
	const char *prompt;
	size_t prompt_len;
};

struct audit_stats {
	uint64_t lines;		/* chained and queued */
	uint64_t lost;		/* records lost: queue full past the wait, or too big */
	uint64_t waits;		/* audit_write() calls that waited for room */
	uint64_t write_errors;	/* failed write/fsync/rename by the writer */
	uint64_t rotations;
	uint64_t seq;		/* the last line's sequence number */
};

struct audit_log;

/*
 * Opens (creates, 0640) cfg->path for appending and starts the writer. An
 * existing file's chain is continued: its last complete line's seq and
 * hash are read back, so a restart does not break verification. Borrows
 * cfg (path is copied). NULL with errno set: EBADMSG when the file's last
 * line is not an audit line (move the file aside), or what open/read gave.
 */
struct audit_log *audit_log_open(const struct policy_audit *cfg);
/*
 * Rotates: the current file is renamed to PATH.YYYYmmddTHHMMSS.uuuuuuZ
 * (UTC) and `path` (NULL: the same path) is opened afresh; the next line
 * names the renamed file in "prev_file" and chains to its last line. For
 * SIGHUP. The rename is done by the writer thread, in order with the
 * lines; 0, or -ENOMEM.
 */
int audit_log_reopen(struct audit_log *al, const char *path);
/*
 * Chains the record and queues it for the writer; never waits for the
 * disk, waits at most TG_AUDIT_FULL_WAIT_MS for room. `al` NULL (audit
 * off) writes nothing and returns 0. 0; -ENOBUFS when
 * the record was lost (queue full, or no memory); -E2BIG when it did not
 * fit TG_AUDIT_LINE_MAX (cannot happen within the field bounds; also
 * counted lost). Thread-safe.
 */
int audit_write(struct audit_log *al, const struct audit_record *r);
/*
 * Waits until every line chained before the call is written and, unless
 * fsync is `never`, fsynced. For shutdown, tests and tools — not for a
 * worker's loop. 0, or -EIO when the writer saw an error since the last
 * audit_log_flush().
 */
int audit_log_flush(struct audit_log *al);
/* All zero for NULL. */
void audit_log_stats(struct audit_log *al, struct audit_stats *st);
/* Writes and syncs what is queued, stops the writer, frees; NULL: no-op. */
void audit_log_close(struct audit_log *al);

/* Hex SHA-256 of buf[0..len) into out[AUDIT_HASH_HEX_LEN + 1]; 0 or -EIO.
 * The chain's hash: `prev` is this of the previous line without its '\n'. */
int audit_hash_hex(const void *buf, size_t len, char *out);

/* ---- verification (tollctl audit verify, tests) ---- */

enum audit_bad {
	AUDIT_OK = 0,
	AUDIT_BAD_CUT,		/* no '\n' at the end: a cut line */
	AUDIT_BAD_JSON,		/* not JSON (duplicate keys included) */
	AUDIT_BAD_LINE,		/* JSON, but no integer seq >= 1 or hex prev */
	AUDIT_BAD_SEQ,		/* seq is not the previous seq + 1 */
	AUDIT_BAD_HASH,		/* prev is not the previous line's hash */
};

/* Fed the lines of one chain in order, across files. */
struct audit_verify {
	char genesis[AUDIT_HASH_HEX_LEN + 1];
	char hash[AUDIT_HASH_HEX_LEN + 1];	/* of the last good line */
	uint64_t seq;				/* of the last good line */
	uint64_t first_seq;
	uint64_t lines;				/* good lines */
	bool started;
	/* The first line named the file before it ("prev_file") instead of
	 * chaining to the genesis: older files were not given. */
	bool has_start_file;
	char start_file[256];
	/* After AUDIT_BAD_HASH: the line to blame is the previous good one
	 * (it does not hash to what this line recorded). */
	bool blame_prev;
	char detail[256];			/* after a bad line */
};

/* 0, or -EIO when SHA-256 is unavailable. */
int audit_verify_init(struct audit_verify *v);
/*
 * One line, its '\n' included when it has one. AUDIT_OK, or what is
 * wrong (v->detail says more). A chain's first line must have seq 1 and
 * chain to the genesis, or name a prev_file. The verifier keeps its state
 * after a bad line only for reporting: stop at the first.
 */
enum audit_bad audit_verify_line(struct audit_verify *v, const char *buf, size_t len);
/* "hash mismatch", "sequence gap", "not JSON", ... */
const char *audit_bad_name(enum audit_bad bad);

#endif /* TOLLGATE_AUDIT_H */
