/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every size and count bound of tollgate, in one place. Compiled by both the
 * BPF programs and user space, so it holds integer constants only.
 *
 * Policy values that are configurable are still bounded here: the policy
 * validator rejects anything outside [MIN, MAX] with a file:line:col error.
 */
#ifndef TOLLGATE_LIMITS_H
#define TOLLGATE_LIMITS_H

/* ---- policy files ------------------------------------------------------ */

/* A policy file larger than this is refused before it is parsed. */
#define TG_POLICY_FILE_MAX		(4u << 20)
/* include: nesting, and files in one policy (includes included). */
#define TG_POLICY_INCLUDE_DEPTH		8
#define TG_POLICY_FILES_MAX		64
/* Bytes of all files of one policy together. */
#define TG_POLICY_TOTAL_MAX		(16u << 20)
/* YAML nesting and node visits; the visit bound also defeats alias bombs. */
#define TG_POLICY_DEPTH_MAX		32
#define TG_POLICY_NODES_MAX		200000
/* Keys of one mapping in the schema (the decoder tracks them in a bitmap). */
#define TG_SCHEMA_FIELDS_MAX		64
/* Errors collected in one run before the loader stops adding them. */
#define TG_POLICY_ERRORS_MAX		100
/* Names of tenants, providers, models, ...: [A-Za-z0-9_.-], this long. */
#define TG_NAME_MAX			64
/* Any other string scalar in a policy. */
#define TG_POLICY_STRING_MAX		4096
/* A secret read through ${file:...}. */
#define TG_SECRET_MAX			8192

/* ---- objects in a policy ------------------------------------------------- */

#define TG_LISTENERS_MAX		16
#define TG_ROUTES_PER_LISTENER_MAX	256
#define TG_UPSTREAMS_MAX		256
#define TG_UPSTREAM_SERVERS_MAX		64
#define TG_TENANTS_MAX			4096
#define TG_KEYS_PER_TENANT_MAX		256
#define TG_PREFIXES_PER_TENANT_MAX	256
#define TG_BUDGETS_PER_SCOPE_MAX	8
#define TG_PROVIDERS_MAX		64
#define TG_MODELS_MAX			1024
#define TG_FALLBACKS_MAX		8
/* Extra deployments (targets) of one model. */
#define TG_TARGETS_MAX			8
#define TG_SEMANTIC_ROUTES_MAX		256	/* CLINC150 needs one per intent */
#define TG_ROUTE_EXAMPLES_MAX		256
/* The semantic router reads at most TG_ROUTE_TEXT_MAX bytes of a prompt
 * (the head and the tail), counts at most TG_ROUTE_FEATURES_MAX distinct
 * features of one training example, and matches keywords of up to
 * TG_ROUTE_KEYWORD_WORDS words. Its weight matrix (features x routes
 * floats) is kept under TG_ROUTE_WEIGHTS_MAX floats (16 MiB, so it stays
 * in a server's last-level cache) by hashing into fewer dimensions when
 * there are many routes, down to 2^15 (past 32 routes or so). */
#define TG_ROUTE_TEXT_MAX		4096
#define TG_ROUTE_FEATURES_MAX		32768
#define TG_ROUTE_KEYWORD_WORDS		4
#define TG_ROUTE_WEIGHTS_MAX		(1u << 22)
#define TG_GUARDS_MAX			64
#define TG_GUARD_PATTERNS_MAX		256
/* Guard streams: bytes always held back (longest look-behind of a detector:
 * an email's 64-byte local part), and the longest match (a PEM key block). */
#define TG_GUARD_STREAM_HOLD		96
#define TG_GUARD_MATCH_MAX		8192
#define TG_MCP_SERVERS_MAX		64
#define TG_MCP_BRIDGES_MAX		64
#define TG_MCP_TOOLS_PER_BRIDGE_MAX	256
#define TG_A2A_AGENTS_MAX		256
#define TG_ALLOW_RULES_MAX		1024
#define TG_INTERFACES_MAX		16

/* ---- proxy ----------------------------------------------------------------- */

#define TG_WORKERS_MAX			64
#define TG_HEADER_BYTES_MIN		1024
#define TG_HEADER_BYTES_MAX		(1u << 20)
#define TG_HEADER_COUNT_MAX		1024
#define TG_BODY_BYTES_MAX		(1ull << 30)
#define TG_CONNECTIONS_MAX		1000000
#define TG_CONN_MEMORY_MIN		(16u << 10)
#define TG_CONN_MEMORY_MAX		(64u << 20)
#define TG_TIMEOUT_MS_MAX		(24ull * 3600 * 1000)
#define TG_REQUEST_ID_MAX		64
/* Nesting of JSON written by jsonw (tollctl, logs, access log). */
#define TG_JSON_DEPTH_MAX		64

/* ---- kernel ---------------------------------------------------------------- */

#define TG_FLOW_TABLE_MIN		1024
#define TG_FLOW_TABLE_MAX		(16u << 20)
/* tg_flows' size in the objects; the loader resizes it before load. */
#define TG_FLOW_TABLE_DEFAULT		65536
#define TG_KERN_TENANTS_MAX		TG_TENANTS_MAX
/* Entries of the arrays indexed by tenant id: ids 1..TG_KERN_TENANTS_MAX
 * and slot 0 for unmatched sources. */
#define TG_KERN_TENANT_SLOTS		(TG_KERN_TENANTS_MAX + 1)
#define TG_LPM_V4_MAX			65536
#define TG_LPM_V6_MAX			65536
#define TG_PENALTY_MAX			65536
/* Words of tg_penalty_hint (a power of two): 2^20 bits in 128 KiB, so that
 * even a full box (TG_PENALTY_MAX) leaves most lookups of strangers out. */
#define TG_PENALTY_HINT_WORDS		16384
/* Slots of tg_tenant_cache (a power of two): the tenants of 16384 recent
 * IPv4 sources in 128 KiB, so that their new connections skip the LPM. */
#define TG_TENANT_CACHE_SLOTS		16384
/* Sets of TG_PREFIX_WAYS slots in tg_syn_prefix (a power of two): 262144
 * source prefixes with their SYN limiter state, in 2 MiB. */
#define TG_SYN_PREFIX_SETS		65536
#define TG_RINGBUF_BYTES		(256u << 10)
#define TG_VLAN_MAX			2
#define TG_IPV6_EXT_MAX			6
#define TG_BYTES_PER_TOKEN_MAX		64
/* Source prefix lengths of the per-prefix SYN limiter when tg_config
 * leaves them 0. */
#define TG_SYN_PREFIX_V4_DEFAULT	24
#define TG_SYN_PREFIX_V6_DEFAULT	56
/* Compare-and-swap attempts of one GCRA or pacing update before giving up
 * (the SYN is then refused; pacing leaves the packet unpaced). Each failure
 * means another CPU advanced the state, so a handful is plenty. */
#define TG_GCRA_CAS_TRIES		8
/* Ring buffer events when tg_config leaves them 0: one in this many
 * candidates per CPU, and at most this many per CPU per second. */
#define TG_EVENT_SAMPLE_DEFAULT		64
#define TG_EVENTS_PER_SEC_DEFAULT	1000
/* The flood guard's and the event cap's window. */
#define TG_FLOOD_WINDOW_NS		1000000000ull
/* Egress pacing never schedules a packet further ahead than this: beyond
 * it, fq's horizon would drop it; it leaves now + horizon instead. */
#define TG_PACE_HORIZON_NS		2000000000ull
/* Header bytes TC egress pulls into the skb's linear area when its first
 * parse runs past it: Ethernet, two VLAN tags, IPv6 and a few extension
 * headers fit. */
#define TG_TC_PULL_BYTES		256
/* One libbpf message as logged (a verifier log is one message); longer
 * ones are cut. */
#define TG_LIBBPF_MSG_MAX		(1u << 20)

/* ---- io -------------------------------------------------------------------- */

/* Receive buffers of one worker (the provided buffer ring / epoll pool): a
 * power of two; while all are held by the caller, receiving pauses. */
#define TG_IO_BUF_ENTRIES_DEFAULT	1024
#define TG_IO_BUF_ENTRIES_MAX		32768
/* Bytes of one receive buffer. */
#define TG_IO_BUF_SIZE_DEFAULT		4096
#define TG_IO_BUF_SIZE_MIN		512
#define TG_IO_BUF_SIZE_MAX		(64u << 10)
/* Connections and listeners of one worker's loop. */
#define TG_IO_CONNS_DEFAULT		16384
#define TG_IO_CONNS_MAX			(1u << 20)
/* Submission queue entries of one ring; completions queue is 4x. */
#define TG_IO_SQ_ENTRIES		1024
/* Accepting pauses this long after EMFILE/ENFILE/ENOBUFS/ENOMEM rather
 * than spinning on an error that will not go away at once. */
#define TG_IO_ACCEPT_PAUSE_MS		100
/* accept4()/read() calls per ready fd per wake in the epoll backend. */
#define TG_IO_EPOLL_BATCH		64

/* ---- json (hot-path scanner, user/core/json.h) ---------------------------- */

/* Nesting of JSON read on the hot path. Request bodies nest a few levels
 * (tool schemas a few more); deeper input is refused, not recursed into. */
#define TG_JSON_SCAN_DEPTH_MAX		64
/* Keys of all objects open at once (an object's keys are held until it
 * closes, to find duplicates); one object with more members is refused. */
#define TG_JSON_KEYS_MAX		4096
/* Top-level members indexed by json_parse() for json_find(); past this
 * json_find() walks the object instead. */
#define TG_JSON_TOP_MAX			64
/* Edits in one json_rewrite() call, and members of one merged object. */
#define TG_JSON_EDITS_MAX		16
/* Keys in objects open at once in one edit's value (they are validated
 * with scratch on the stack; edit values are small, written by us). */
#define TG_JSON_EDIT_KEYS_MAX		64
/* Bytes of a number json_get_double() converts (longer: -ERANGE). */
#define TG_JSON_NUMBER_MAX		512

/* ---- proxy engine ---------------------------------------------------------- */

/* Bytes queued towards one peer before receiving from the other side of the
 * relay pauses (backpressure). */
#define TG_PROXY_OUT_HIGH		(256u << 10)
/* Bytes of a pipelined request accepted while the previous one is served. */
#define TG_PROXY_PIPE_MAX		(64u << 10)
/* Bytes of an upstream response head. */
#define TG_PROXY_RESP_HEAD_MAX		(64u << 10)
/* Header fields of an upstream response. */
#define TG_PROXY_RESP_FIELDS_MAX	256
/* Chunk extension bytes accepted (and dropped) on one chunk-size line. */
#define TG_PROXY_CHUNK_EXT_MAX		1024
/* Trailer section bytes of a chunked message (trailers are validated and
 * dropped: the regenerated framing carries none). */
#define TG_PROXY_TRAILER_MAX		(16u << 10)
/* After an error answer the connection is closed for writing and what the
 * client still sends is read and dropped for up to this long, so that the
 * answer is not destroyed by a reset (RFC 9112 §9.6). */
#define TG_PROXY_LINGER_MS		2000
/* How long a worker waits for events before looking at timers, reloads
 * and the access log. Timeouts fire up to this late. */
#define TG_PROXY_TICK_MS		50
/* The access log: a worker hands its chunk to the writer when it holds
 * this much, or is this old. */
#define TG_ACCESS_CHUNK_BYTES		(64u << 10)
#define TG_ACCESS_FLUSH_MS		200
/* Chunks queued for the writer before further ones are dropped (counted). */
#define TG_ACCESS_QUEUE_MAX		256
/* One access log line. */
#define TG_ACCESS_LINE_MAX		2048

/* Each thread keeps freed buffers of 1 KiB << k (k < TG_BUF_POOL_CLASSES)
 * for reuse, up to TG_BUF_POOL_BLOCKS of a size and TG_BUF_POOL_BYTES in
 * all (user/core/buf.c): a request's buffers then come from the thread's
 * cache instead of malloc, and an idle connection still holds none. */
#define TG_BUF_POOL_CLASSES		7
#define TG_BUF_POOL_BLOCKS		256
#define TG_BUF_POOL_BYTES		(2u << 20)

/* ---- bedrock (SigV4 signing, AWS event-stream framing) ------------------- */

/* SigV4 credentials, copied into the signer (user/llm/sigv4.h). AWS key ids
 * are 16-128 chars and secrets 40; an STS session token runs to ~1-2 KB. */
#define TG_SIGV4_KEY_ID_MAX		128
#define TG_SIGV4_SECRET_MAX		256
#define TG_SIGV4_TOKEN_MAX		4096
/* Region and service names of the credential scope. */
#define TG_SIGV4_SCOPE_PART_MAX		64
/* Headers signed besides host, content-type and the x-amz-* ones. */
#define TG_SIGV4_HEADERS_MAX		16
/* Path segments kept while normalizing the canonical URI. */
#define TG_SIGV4_PATH_SEGMENTS_MAX	64
/* Query string bytes and parameters signed (Bedrock sends none). */
#define TG_SIGV4_QUERY_MAX		2048
#define TG_SIGV4_QUERY_PARAMS_MAX	64
/* One event-stream message (application/vnd.amazon.eventstream): the
 * format's own maximum is 16 MiB; Bedrock's stream events are a few KB. */
#define TG_EVSTREAM_MSG_MAX		(16u << 20)
/* Its headers section (the format's maximum, 128 KiB) and header count. */
#define TG_EVSTREAM_HEADERS_BYTES_MAX	(128u << 10)
#define TG_EVSTREAM_HEADERS_MAX		32
/* The message buffer a Bedrock ConverseStream relay gives the decoder. */
#define TG_BEDROCK_EVENT_MAX		(1u << 20)

/* ---- audit log (user/obs/audit.[ch]) ---- */
/* One audit line, the hash chain's prefix included. Every field below is
 * bounded so that a record always fits: 16 strings of TG_AUDIT_FIELD_MAX,
 * the prompt and the guard verdicts, each byte escaped to at most 6. */
#define TG_AUDIT_LINE_MAX		(192u << 10)
/* Bytes of one string field kept (model, tenant, request id, ...); longer
 * values are cut (at a byte; a split character becomes U+FFFD). */
#define TG_AUDIT_FIELD_MAX		256
/* Bytes of prompt text kept when the policy asks for prompts. */
#define TG_AUDIT_PROMPT_MAX		(8u << 10)
/* Guard verdicts per record. */
#define TG_AUDIT_GUARDS_MAX		16
/* Lines are appended to chunks of this size; the writer takes whole chunks. */
#define TG_AUDIT_CHUNK_BYTES		(256u << 10)
/* Chunks waiting for the writer before audit_write() starts to wait. */
#define TG_AUDIT_QUEUE_CHUNKS		64
/* How long audit_write() waits for room before the record is lost
 * (counted, and announced by the next line's "lost"). */
#define TG_AUDIT_FULL_WAIT_MS		100
/* How long lines wait in a chunk that is not full before the writer
 * takes them: one wake-up per interval under load, not one per line. */
#define TG_AUDIT_COALESCE_MS		25
/* fsync: batch syncs at most this often. */
#define TG_AUDIT_FSYNC_MS		100
/* Bytes read from the end of an existing log to continue its chain. */
#define TG_AUDIT_TAIL_MAX		(TG_AUDIT_LINE_MAX + 2)

/* ---- budgets (user/llm/budget.h) -------------------------------------------- */

/* Tenants plus keys the budget engine tracks. Entries of tenants and keys a
 * reload removed stay (empty) until restart, so that a request still holding
 * one can finish; a reload that would pass this is refused. */
#define TG_BUDGET_SCOPES_MAX		(1u << 21)
/* Sources whose failed authentications are counted at once (a power of
 * two), in TG_BUDGET_AUTH_STRIPES locked stripes; past it the source with
 * the oldest window in the stripe's probe range is forgotten. */
#define TG_BUDGET_AUTH_SOURCES		65536
#define TG_BUDGET_AUTH_STRIPES		64
#define TG_BUDGET_AUTH_PROBE		8
/* How often the daemon saves budget counters: a crash loses at most this
 * much accounting. */
#define TG_BUDGET_PERSIST_MS		5000
/* One line of the budget state file. */
#define TG_BUDGET_STATE_LINE_MAX	512
/* Retry-After for a request refused for want of a concurrency slot: when
 * one frees is unknown. */
#define TG_BUDGET_CONCURRENT_RETRY_S	1

/* ---- LLM front doors --------------------------------------------------------- */

/* A provider's non-streamed answer, read whole for its usage. */
#define TG_LLM_RESP_MAX			(16u << 20)
/* One streamed event (raw bytes, and its joined data) of a provider. */
#define TG_LLM_SSE_EVENT_MAX		(256u << 10)
/* LLM metric series (operation, tenant, model, provider) per worker; more
 * are counted under "other". */
#define TG_GENAI_SERIES_MAX		512
/* The router's remote embeddings: dimensions of a vector, bytes of an
 * answer (the load-time one embeds every example at once). */
#define TG_EMBED_DIM_MAX		8192
#define TG_EMBED_RESP_MAX		(64u << 20)
/* A stream's budget is checked every this many text deltas. */
#define TG_LLM_STREAM_CHECK_EVERY	8

/* ---- response cache (user/llm/cache.h) --------------------------------------- */

/* Longest content type a cached response keeps; a longer one is not stored. */
#define TG_LLM_CACHE_CTYPE_MAX		127
/* The table starts with a bucket per this many bytes of the cache's bound
 * (so a typical fill never rehashes), at least TG_LLM_CACHE_BUCKETS_MIN and
 * at most TG_LLM_CACHE_BUCKETS_START_MAX; it doubles when entries outnumber
 * buckets, which the byte bound caps. */
#define TG_LLM_CACHE_BYTES_PER_BUCKET	4096
#define TG_LLM_CACHE_BUCKETS_MIN	64
#define TG_LLM_CACHE_BUCKETS_START_MAX	(1u << 20)

/* ---- JWT bearer tokens (user/llm/jwt.h) ---------------------------------- */

/* A bearer token longer than this is refused before it is decoded; IdP
 * access tokens are 1-2 KB. */
#define TG_JWT_TOKEN_MAX		(8u << 10)
/* Bytes of the sub claim and of a key id (header kid, JWKS kid) kept;
 * longer ones are refused. The tenant claim is bounded by TG_NAME_MAX. */
#define TG_JWT_CLAIM_MAX		256
#define TG_JWT_KID_MAX			256
/* A JWKS file, its entries, and the keys kept from it. Without a kid a
 * token is tried against every key of its alg, so the kept keys also bound
 * the work one forged token costs. */
#define TG_JWKS_FILE_MAX		(1u << 20)
#define TG_JWKS_ENTRIES_MAX		256
#define TG_JWT_KEYS_MAX			32
/* RSA moduli (bits) and HMAC secrets (bytes) accepted; RFC 7518 §3.3 and
 * §3.2 set the minimums, the maximums bound the cost of one verification. */
#define TG_JWT_RSA_BITS_MIN		2048
#define TG_JWT_RSA_BITS_MAX		8192
#define TG_JWT_HMAC_KEY_MIN		32
#define TG_JWT_HMAC_KEY_MAX		512

#endif /* TOLLGATE_LIMITS_H */
