// SPDX-License-Identifier: Apache-2.0
/*
 * Audit log: formatting, the hash chain, the writer thread, rotation.
 * See audit.h and docs/audit.md.
 *
 * A line is {"seq":N,"prev":"<hex>"[,"prev_file":"..."][,"lost":N],<body>}
 * where the body (everything after the chain members) is formatted by the
 * calling thread with no lock held, and the chain prefix and the hash are
 * done under al->lock, which is what orders the chain. The lock is held
 * for a snprintf, a memcpy and one SHA-256 of the line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/jsonw.h"
#include "core/log.h"
#include "core/sha256.h"
#include "obs/audit.h"
#include "policy/policy.h"
#include "tollgate/limits.h"

/* Room for {"seq":N,"prev":"<64 hex>" and ,"lost":N around a body. */
#define AUDIT_PREFIX_MAX	160
/* Chunks kept for reuse rather than freed: allocating 256 KiB under the
 * lock can be an mmap. */
#define AUDIT_SPARE_MAX		4

struct achunk {
	struct achunk *next;
	/* A rotation to do before writing this chunk: rename the current
	 * file to rotate_to, then open new_path. Both NULL: none. */
	char *rotate_to;
	char *new_path;
	size_t len;
	char data[TG_AUDIT_CHUNK_BYTES];
};

struct audit_log {
	pthread_mutex_t lock;
	pthread_cond_t work;	/* to the writer: something to do */
	pthread_cond_t room;	/* from the writer: chunks were written */
	pthread_t thread;
	bool thread_started;

	/* Under lock: the chain. */
	uint64_t seq;
	char prev[AUDIT_HASH_HEX_LEN + 1];
	char *prev_file_frag;	/* ,"prev_file":"..." for the next line */
	uint64_t lost_pending;	/* to announce in the next line */
	bool need_newline;	/* the file ends in a cut line: end it first */

	/* Under lock: the queue. */
	struct achunk *cur;	/* lines are appended here */
	struct achunk *head, **tail;
	unsigned int queued;	/* chunks in head..tail, plus cur */
	struct achunk *spare;	/* recycled chunks, up to AUDIT_SPARE_MAX */
	unsigned int n_spare;
	char *path;		/* where lines now go (after queued rotations) */
	uint64_t file_bytes;	/* bytes given to the file at `path` */
	uint64_t rotate_bytes;
	int64_t last_rotation_us;
	bool include_prompts;
	enum policy_fsync fsync_mode;
	uint64_t chained_bytes, written_bytes, synced_bytes;
	unsigned int flush_waiters;
	bool io_error;
	bool stop;
	struct audit_stats st;

	/* The writer's own. */
	int fd;
	char *wpath;		/* the file fd is open on */
	bool dirty;		/* written since the last fsync */
	/* Under lock: when the first line not yet taken by the writer came. */
	struct timespec pending_since;
	struct timespec last_sync;
};

static const char hexdig[] = "0123456789abcdef";

static void hex_encode(const unsigned char *md, unsigned int n, char *out)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdig[md[i] >> 4];
		out[2 * i + 1] = hexdig[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The chain's hash, under al->lock for each line (core/sha256.h: no EVP
 * context set up per line), and tollctl audit verify's. */
int audit_hash_hex(const void *buf, size_t len, char *out)
{
	uint8_t md[TG_SHA256_LEN];

	if (tg_sha256(buf, len, md))
		return -EIO;
	hex_encode(md, TG_SHA256_LEN, out);
	return 0;
}

static int64_t now_us(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- formatting (no lock) ----------------------------------------------- */

/*
 * Each thread formats into its own line buffer, made once. Members are
 * written by hand: stdio and jsonw cost several microseconds a record,
 * most of it in printf. Strings that need no escaping (the usual model
 * names, tenants, ids) are copied as they are; any other string goes
 * through jsonw on a memory stream, which owns the escaping and UTF-8
 * rules (user/core/jsonw.h), so there is one implementation of them.
 */
struct afmt {
	char *line;		/* TG_AUDIT_LINE_MAX */
	size_t len;
	bool full;		/* something did not fit: the record is refused */
	char *esc;		/* TG_AUDIT_LINE_MAX, behind f */
	FILE *f;
	struct jsonw *w;
	time_t sec;		/* the second that `stamp` shows */
	char stamp[80];		/* "YYYY-MM-DDTHH:MM:SS." (room for any int) */
};

static pthread_key_t afmt_key;
static pthread_once_t afmt_once = PTHREAD_ONCE_INIT;
static int afmt_key_err;

static void afmt_free(void *p)
{
	struct afmt *fm = p;

	if (!fm)
		return;
	jsonw_free(fm->w);
	if (fm->f)
		fclose(fm->f);
	free(fm->esc);
	free(fm->line);
	free(fm);
}

static void afmt_key_init(void)
{
	afmt_key_err = pthread_key_create(&afmt_key, afmt_free);
}

static struct afmt *afmt_get(void)
{
	struct afmt *fm;

	if (pthread_once(&afmt_once, afmt_key_init) || afmt_key_err)
		return NULL;
	fm = pthread_getspecific(afmt_key);
	if (fm)
		return fm;
	fm = calloc(1, sizeof(*fm));
	if (!fm)
		return NULL;
	fm->sec = -1;
	fm->line = malloc(TG_AUDIT_LINE_MAX);
	fm->esc = malloc(TG_AUDIT_LINE_MAX);
	if (!fm->line || !fm->esc)
		goto out_free;
	fm->f = fmemopen(fm->esc, TG_AUDIT_LINE_MAX, "w");
	if (!fm->f)
		goto out_free;
	/* Only this thread uses the stream. */
	__fsetlocking(fm->f, FSETLOCKING_BYCALLER);
	if (pthread_setspecific(afmt_key, fm))
		goto out_free;
	return fm;

out_free:
	afmt_free(fm);
	return NULL;
}

static void lb_raw(struct afmt *fm, const char *s, size_t n)
{
	if (fm->full || TG_AUDIT_LINE_MAX - fm->len < n) {
		fm->full = true;
		return;
	}
	memcpy(fm->line + fm->len, s, n);
	fm->len += n;
}

/* ,"name": — the body's first member comes right after the chain's.
 * Inlined, as the field writers below are, so a literal name's strlen is
 * done by the compiler. */
static inline __attribute__((always_inline)) void lb_key(struct afmt *fm, const char *name)
{
	size_t n = strlen(name);
	char *p;

	if (fm->full || TG_AUDIT_LINE_MAX - fm->len < n + 4) {
		fm->full = true;
		return;
	}
	p = fm->line + fm->len;
	*p++ = ',';
	*p++ = '"';
	memcpy(p, name, n);
	p += n;
	*p++ = '"';
	*p++ = ':';
	fm->len = (size_t)(p - fm->line);
}

static void lb_str(struct afmt *fm, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	long end;
	size_t i;

	for (i = 0; i < n; i++)
		if (u[i] < 0x20 || u[i] >= 0x7f || u[i] == '"' || u[i] == '\\')
			break;
	if (i == n) {
		lb_raw(fm, "\"", 1);
		lb_raw(fm, s, n);
		lb_raw(fm, "\"", 1);
		return;
	}
	if (!fm->w)
		fm->w = jsonw_new(fm->f);
	if (!fm->w) {
		fm->full = true;
		return;
	}
	rewind(fm->f);
	clearerr(fm->f);
	jsonw_string_len(fm->w, s, n);
	end = ftell(fm->f);
	if (jsonw_flush(fm->w) || ferror(fm->f) || end < 3 || fm->esc[end - 1] != '\n') {
		/* A writer that failed stays failed: a new one next time. */
		jsonw_free(fm->w);
		fm->w = NULL;
		fm->full = true;
		return;
	}
	lb_raw(fm, fm->esc, (size_t)end - 1);	/* jsonw ends top-level values */
}

static inline __attribute__((always_inline)) void lb_str_field(struct afmt *fm, const char *name, const char *s, size_t max)
{
	if (!s)
		return;
	lb_key(fm, name);
	lb_str(fm, s, strnlen(s, max));
}

static void lb_u64(struct afmt *fm, uint64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	lb_raw(fm, p, (size_t)(tmp + sizeof(tmp) - p));
}

static inline __attribute__((always_inline)) void lb_u64_field(struct afmt *fm, const char *name, uint64_t v)
{
	lb_key(fm, name);
	lb_u64(fm, v);
}

static inline __attribute__((always_inline)) void lb_bool_field(struct afmt *fm, const char *name, bool v)
{
	lb_key(fm, name);
	lb_raw(fm, v ? "true" : "false", v ? 4 : 5);
}

/*
 * What "%.12g" makes of v, without printf, when v is k / 1e9 for an
 * integer k below 10^12 — a cost is an integer count of billionths
 * divided by 1e9 (llm_call_finish). The decimal k * 10^-9 has at most
 * twelve significant digits and the double is within 2^-53 of it
 * (relative), far inside the rounding to twelve digits, so %.12g shows
 * exactly that decimal: in %e style below 10^-4, else in %f style, with
 * trailing zeros removed. Returns the length, or -1 for any other value
 * (the caller then uses snprintf).
 */
static int nano_g12(double v, char *out)
{
	char dig[12], *p = out;
	uint64_t k, ip, fr;
	int nd, i, last;

	if (!(v >= 0) || signbit(v) || v >= 1000.0)
		return -1;
	k = (uint64_t)llround(v * 1e9);
	if (k >= 1000000000000ull || (double)k / 1e9 != v)
		return -1;
	if (!k) {
		*p = '0';
		return 1;
	}
	for (nd = 0, ip = k; ip; ip /= 10)
		dig[nd++] = (char)('0' + ip % 10);	/* least significant first */
	if (nd < 6) {
		/* The exponent, nd - 10, is below -4: d[.ddd]e-0X. */
		for (last = 0; dig[last] == '0'; last++)
			;
		*p++ = dig[nd - 1];
		if (last < nd - 1) {
			*p++ = '.';
			for (i = nd - 2; i >= last; i--)
				*p++ = dig[i];
		}
		*p++ = 'e';
		*p++ = '-';
		*p++ = '0';
		*p++ = (char)('0' + (10 - nd));
		return (int)(p - out);
	}
	ip = k / 1000000000u;
	fr = k % 1000000000u;
	if (ip >= 100)
		*p++ = (char)('0' + ip / 100);
	if (ip >= 10)
		*p++ = (char)('0' + ip / 10 % 10);
	*p++ = (char)('0' + ip % 10);
	if (fr) {
		char f[9];

		for (i = 8; i >= 0; i--, fr /= 10)
			f[i] = (char)('0' + fr % 10);
		for (last = 8; f[last] == '0'; last--)
			;
		*p++ = '.';
		memcpy(p, f, (size_t)last + 1);
		p += last + 1;
	}
	return (int)(p - out);
}

/* Twelve significant digits: far below a cent on any bill, and one
 * printf (or none, nano_g12) instead of jsonw's shortest-round-trip
 * search. */
static void lb_double_field(struct afmt *fm, const char *name, double v)
{
	char tmp[40];
	int n;

	lb_key(fm, name);
	if (!isfinite(v)) {
		lb_raw(fm, "null", 4);
		return;
	}
	n = nano_g12(v, tmp);
	if (n < 0)
		n = snprintf(tmp, sizeof(tmp), "%.12g", v);
	lb_raw(fm, tmp, (size_t)n);
}

static void put2(char *p, unsigned int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/* "time":"2026-11-24T06:14:12.123456Z" (UTC, microseconds); gmtime once
 * a second per thread. */
static void lb_time(struct afmt *fm, uint64_t ns)
{
	unsigned int us;
	struct tm tm;
	time_t sec;
	char t[40];

	if (!ns)
		ns = (uint64_t)now_us(CLOCK_REALTIME) * 1000u;
	sec = (time_t)(ns / 1000000000u);
	us = (unsigned int)(ns % 1000000000u / 1000u);
	if (sec != fm->sec) {
		gmtime_r(&sec, &tm);
		snprintf(fm->stamp, sizeof(fm->stamp), "%04d-%02d-%02dT%02d:%02d:%02d.",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		fm->sec = sec;
	}
	memcpy(t, fm->stamp, 20);
	put2(t + 20, us / 10000);
	put2(t + 22, us / 100);
	put2(t + 24, us);
	t[26] = 'Z';
	lb_key(fm, "time");
	lb_raw(fm, "\"", 1);
	lb_raw(fm, t, 27);
	lb_raw(fm, "\"", 1);
}

/*
 * The record's members as JSON text, each with its leading comma, and the
 * object's closing '}': what follows {"seq":N,"prev":"..." on the line.
 * Returns a pointer into the thread's buffer and its length, or NULL with
 * *err set.
 */
static const char *format_body(const struct audit_record *r, bool prompts, size_t *len,
			       int *err)
{
	struct afmt *fm = afmt_get();
	uint32_t i, ng;

	if (!fm) {
		*err = -ENOMEM;
		return NULL;
	}
	fm->len = 0;
	fm->full = false;
	lb_time(fm, r->time_ns);
	lb_str_field(fm, "kind", r->kind ? r->kind : "llm", TG_AUDIT_FIELD_MAX);
	lb_str_field(fm, "request_id", r->request_id, TG_AUDIT_FIELD_MAX);
	lb_str_field(fm, "tenant", r->tenant, TG_AUDIT_FIELD_MAX);
	lb_str_field(fm, "key_id", r->key_id, TG_AUDIT_FIELD_MAX);
	lb_str_field(fm, "operation", r->operation, TG_AUDIT_FIELD_MAX);
	lb_str_field(fm, "model_requested", r->model_requested, TG_AUDIT_FIELD_MAX);
	lb_str_field(fm, "model_used", r->model_used, TG_AUDIT_FIELD_MAX);
	lb_str_field(fm, "provider", r->provider, TG_AUDIT_FIELD_MAX);
	lb_str_field(fm, "route", r->route, TG_AUDIT_FIELD_MAX);
	lb_bool_field(fm, "stream", r->stream);
	lb_u64_field(fm, "tokens_in", r->tokens_in);
	lb_u64_field(fm, "tokens_out", r->tokens_out);
	lb_u64_field(fm, "tokens_cached", r->tokens_cached);
	if (r->has_cost)
		lb_double_field(fm, "cost", r->cost);
	lb_u64_field(fm, "latency_us", r->latency_us);
	if (r->has_ttft)
		lb_u64_field(fm, "ttft_us", r->ttft_us);
	lb_key(fm, "status");
	if (r->status < 0) {
		lb_raw(fm, "-", 1);
		lb_u64(fm, (uint64_t)-(int64_t)r->status);
	} else {
		lb_u64(fm, (uint64_t)r->status);
	}
	lb_str_field(fm, "error", r->error, TG_AUDIT_FIELD_MAX);
	if (r->n_guards && r->guards) {
		ng = r->n_guards < TG_AUDIT_GUARDS_MAX ? r->n_guards : TG_AUDIT_GUARDS_MAX;
		lb_key(fm, "guards");
		lb_raw(fm, "[", 1);
		for (i = 0; i < ng; i++) {
			lb_raw(fm, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
			lb_str(fm, r->guards[i].name ? r->guards[i].name : "",
			       strnlen(r->guards[i].name ? r->guards[i].name : "",
				       TG_AUDIT_FIELD_MAX));
			lb_str_field(fm, "verdict", r->guards[i].verdict, TG_AUDIT_FIELD_MAX);
			lb_raw(fm, "}", 1);
		}
		lb_raw(fm, "]", 1);
	}
	if (prompts && r->prompt) {
		lb_key(fm, "prompt");
		lb_str(fm, r->prompt, r->prompt_len < TG_AUDIT_PROMPT_MAX ?
				      r->prompt_len : TG_AUDIT_PROMPT_MAX);
		if (r->prompt_len > TG_AUDIT_PROMPT_MAX)
			lb_bool_field(fm, "prompt_truncated", true);
	}
	lb_raw(fm, "}", 1);
	if (fm->full) {
		/* Cannot happen within the field bounds; never write a cut line. */
		*err = -E2BIG;
		return NULL;
	}
	*len = fm->len;
	return fm->line;
}

/* ,"prev_file":"NAME" for the first line after a rotation; off the hot
 * path (once per rotation), so jsonw on a memstream is fine. */
static char *format_prev_file(const char *rotated)
{
	const char *base = strrchr(rotated, '/');
	char *out = NULL;
	size_t len = 0;
	struct jsonw *w;
	bool ok;
	FILE *f;

	base = base ? base + 1 : rotated;
	f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	fputs(",\"prev_file\":", f);
	w = jsonw_new(f);
	ok = w != NULL;
	if (w) {
		jsonw_string(w, base);
		ok = !jsonw_error(w);
		jsonw_free(w);
		w = NULL;
	}
	if (fclose(f) || !ok || !len) {
		free(out);
		return NULL;
	}
	if (out[len - 1] == '\n')	/* jsonw ends top-level values */
		out[len - 1] = '\0';
	return out;
}

/* ---- the queue ------------------------------------------------------------ */

static struct achunk *chunk_get(struct audit_log *al)
{
	struct achunk *c = al->spare;

	if (c) {
		al->spare = c->next;
		al->n_spare--;
	} else {
		c = malloc(sizeof(*c));
	}
	if (c) {
		c->next = NULL;
		c->rotate_to = NULL;
		c->new_path = NULL;
		c->len = 0;
	}
	return c;
}

static void chunk_put(struct audit_log *al, struct achunk *c)
{
	free(c->rotate_to);
	free(c->new_path);
	c->rotate_to = c->new_path = NULL;
	if (al->n_spare < AUDIT_SPARE_MAX) {
		c->next = al->spare;
		al->spare = c;
		al->n_spare++;
	} else {
		free(c);
	}
}

/* Under lock: moves cur to the queue. */
static void push_cur(struct audit_log *al)
{
	struct achunk *c = al->cur;

	if (!c)
		return;
	al->cur = NULL;
	*al->tail = c;
	al->tail = &c->next;
	pthread_cond_signal(&al->work);
}

/* Under lock: makes cur a chunk with at least `need` bytes free, waiting
 * for the writer up to TG_AUDIT_FULL_WAIT_MS. False: no room. */
static bool make_room(struct audit_log *al, size_t need)
{
	struct timespec dl;
	bool waited = false;

	if (al->cur && TG_AUDIT_CHUNK_BYTES - al->cur->len >= need)
		return true;
	if (al->cur)
		push_cur(al);
	while (al->queued >= TG_AUDIT_QUEUE_CHUNKS && !al->stop) {
		if (!waited) {
			waited = true;
			al->st.waits++;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += (long)TG_AUDIT_FULL_WAIT_MS * 1000000L;
			dl.tv_sec += dl.tv_nsec / 1000000000L;
			dl.tv_nsec %= 1000000000L;
		}
		if (pthread_cond_timedwait(&al->room, &al->lock, &dl) == ETIMEDOUT &&
		    al->queued >= TG_AUDIT_QUEUE_CHUNKS)
			return false;
	}
	/* Another caller may have made a chunk while we waited. */
	if (al->cur && TG_AUDIT_CHUNK_BYTES - al->cur->len >= need)
		return true;
	if (al->cur)
		push_cur(al);
	al->cur = chunk_get(al);
	if (!al->cur)
		return false;
	al->queued++;
	return true;
}

/* Under lock: the next line goes to a new file; the writer renames the
 * current one when it reaches this point of the queue. */
static int start_rotation(struct audit_log *al, const char *new_path)
{
	char *rot = NULL, *np = NULL, *frag = NULL;
	int64_t us = now_us(CLOCK_REALTIME);
	struct achunk *c;
	struct tm tm;
	time_t sec;
	size_t n;

	/* Names must be unique and sort in order: microseconds, forced to
	 * increase. */
	if (us <= al->last_rotation_us)
		us = al->last_rotation_us + 1;
	sec = (time_t)(us / 1000000);
	gmtime_r(&sec, &tm);
	n = strlen(al->path) + 32;
	rot = malloc(n);
	np = strdup(new_path ? new_path : al->path);
	if (!rot || !np)
		goto out_free;
	snprintf(rot, n, "%s.%04d%02d%02dT%02d%02d%02d.%06dZ", al->path, tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(us % 1000000));
	frag = format_prev_file(rot);
	/* Above the bound on purpose: a rotation is never refused. */
	c = frag ? chunk_get(al) : NULL;
	if (!c)
		goto out_free;
	push_cur(al);
	c->rotate_to = rot;
	c->new_path = np;
	al->cur = c;
	al->queued++;
	free(al->path);
	al->path = strdup(np);
	free(al->prev_file_frag);
	al->prev_file_frag = frag;
	al->file_bytes = 0;
	al->last_rotation_us = us;
	al->st.rotations++;
	pthread_cond_signal(&al->work);
	return al->path ? 0 : -ENOMEM;

out_free:
	free(frag);
	free(np);
	free(rot);
	return -ENOMEM;
}

/* The chain prefix's pieces: each returns the end of what it wrote. The
 * caller has made room (AUDIT_PREFIX_MAX). */
static char *put_lit_n(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}
#define put_lit(p, s) put_lit_n((p), (s), sizeof(s) - 1)

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20], *t = tmp + sizeof(tmp);
	size_t n;

	do {
		*--t = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, n);
	return p + n;
}

int audit_write(struct audit_log *al, const struct audit_record *r)
{
	const char *body;
	size_t blen, need, start;
	struct achunk *c;
	bool was_idle;
	char *p;
	int err = 0, n;

	if (!al)
		return 0;	/* audit off */
	body = format_body(r, al->include_prompts, &blen, &err);
	pthread_mutex_lock(&al->lock);
	if (!body)
		goto out_lost;
	if (al->rotate_bytes && al->file_bytes >= al->rotate_bytes)
		start_rotation(al, NULL);	/* no memory: rotate on a later line */
	need = AUDIT_PREFIX_MAX + blen + 2 +
	       (al->prev_file_frag ? strlen(al->prev_file_frag) : 0);
	if (!make_room(al, need)) {
		err = -ENOBUFS;
		goto out_lost;
	}
	c = al->cur;
	was_idle = !c->len && !al->head;
	if (al->need_newline) {
		c->data[c->len++] = '\n';
		al->chained_bytes++;
		al->need_newline = false;
	}
	start = c->len;
	p = c->data + start;
	/* By hand, not snprintf: this runs under the lock for every line. */
	n = (int)(put_u64(put_lit(p, "{\"seq\":"), al->seq + 1) - p);
	memcpy(p + n, ",\"prev\":\"", 9);
	memcpy(p + n + 9, al->prev, AUDIT_HASH_HEX_LEN);
	p[n + 9 + AUDIT_HASH_HEX_LEN] = '"';
	n += 10 + AUDIT_HASH_HEX_LEN;
	if (al->prev_file_frag) {
		memcpy(p + n, al->prev_file_frag, strlen(al->prev_file_frag));
		n += (int)strlen(al->prev_file_frag);
	}
	if (al->lost_pending)
		n = (int)(put_u64(put_lit(p + n, ",\"lost\":"), al->lost_pending) - p);
	memcpy(p + n, body, blen);
	n += (int)blen;
	if (audit_hash_hex(p, (size_t)n, al->prev)) {
		/* The chain is unchanged: this line never happened. */
		err = -EIO;
		goto out_lost;
	}
	p[n++] = '\n';
	c->len += (size_t)n;
	al->seq++;
	al->chained_bytes += (size_t)n;
	al->file_bytes += (size_t)n;
	al->st.lines++;
	al->lost_pending = 0;
	free(al->prev_file_frag);
	al->prev_file_frag = NULL;
	/* The writer is told of the first line of a batch (it then waits
	 * TG_AUDIT_COALESCE_MS for more) and of full chunks (push_cur);
	 * `always` wakes it for every line. */
	if (was_idle) {
		clock_gettime(CLOCK_MONOTONIC, &al->pending_since);
		pthread_cond_signal(&al->work);
	} else if (al->fsync_mode == POLICY_FSYNC_ALWAYS) {
		pthread_cond_signal(&al->work);
	}
	pthread_mutex_unlock(&al->lock);
	return 0;

out_lost:
	al->st.lost++;
	al->lost_pending++;
	pthread_mutex_unlock(&al->lock);
	return err;
}

/* ---- the writer thread -------------------------------------------------- */

static int open_append(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

	return fd < 0 ? -errno : fd;
}

/* Writer only. false on error (counted by the caller). */
static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static bool do_sync(struct audit_log *al)
{
	bool ok = true;

	if (al->dirty && al->fd >= 0)
		ok = fdatasync(al->fd) == 0;
	al->dirty = false;
	clock_gettime(CLOCK_MONOTONIC, &al->last_sync);
	return ok;
}

/* Writer only: rename the file, open the next. Errors leave lines going
 * to whichever file is open; the chain does not depend on file names. */
static bool do_rotate(struct audit_log *al, const char *rotate_to, const char *new_path)
{
	bool ok = true;
	int fd;

	if (al->fsync_mode != POLICY_FSYNC_NEVER && !do_sync(al))
		ok = false;
	/* Never over an older file (the clock went back): keep appending. */
	if (renameat2(AT_FDCWD, al->wpath, AT_FDCWD, rotate_to, RENAME_NOREPLACE)) {
		log_warn("audit log: rename %s to %s: %s", al->wpath, rotate_to, strerror(errno));
		return false;
	}
	fd = open_append(new_path);
	if (fd < 0) {
		log_warn("audit log: %s: %s; lines go to %s", new_path, strerror(-fd), rotate_to);
		return false;
	}
	if (al->fd >= 0)
		close(al->fd);
	al->fd = fd;
	free(al->wpath);
	al->wpath = strdup(new_path);
	return ok && al->wpath;
}

static struct timespec ts_after(struct timespec t, long ms)
{
	t.tv_nsec += ms * 1000000L;
	t.tv_sec += t.tv_nsec / 1000000000L;
	t.tv_nsec %= 1000000000L;
	return t;
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static bool sync_due(const struct audit_log *al)
{
	struct timespec now, due = ts_after(al->last_sync, TG_AUDIT_FSYNC_MS);

	clock_gettime(CLOCK_MONOTONIC, &now);
	return !ts_before(&now, &due);
}

/*
 * Under lock, in the writer: whether to work now. Otherwise *dl is when
 * to look again (*timed), or the writer sleeps until signalled. Lines in
 * a chunk that is not full wait up to TG_AUDIT_COALESCE_MS so that a busy
 * log costs one wake-up per interval rather than one per line.
 */
static bool has_work(const struct audit_log *al, struct timespec *dl, bool *timed)
{
	struct timespec now, due;

	*timed = false;
	if (al->head || al->stop || (al->cur && al->cur->rotate_to))
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (al->cur && al->cur->len) {
		due = ts_after(al->pending_since, TG_AUDIT_COALESCE_MS);
		if (al->flush_waiters || al->fsync_mode == POLICY_FSYNC_ALWAYS ||
		    !ts_before(&now, &due))
			return true;
		*dl = due;
		*timed = true;
	}
	if (!al->dirty || al->fsync_mode == POLICY_FSYNC_NEVER)
		return false;
	if (al->flush_waiters || al->fsync_mode == POLICY_FSYNC_ALWAYS)
		return true;
	due = ts_after(al->last_sync, TG_AUDIT_FSYNC_MS);
	if (!ts_before(&now, &due))
		return true;
	if (!*timed || ts_before(&due, dl))
		*dl = due;
	*timed = true;
	return false;
}

static void *writer_main(void *arg)
{
	struct audit_log *al = arg;
	struct achunk *list, *c;
	struct timespec dl;
	uint64_t upto;
	unsigned int n;
	bool ok, sync, last, timed;

	pthread_mutex_lock(&al->lock);
	for (;;) {
		while (!has_work(al, &dl, &timed)) {
			/* al->work runs on CLOCK_MONOTONIC: see audit_log_open. */
			if (timed)
				pthread_cond_timedwait(&al->work, &al->lock, &dl);
			else
				pthread_cond_wait(&al->work, &al->lock);
		}
		last = al->stop;
		if (al->cur && (last || al->cur->len || al->cur->rotate_to))
			push_cur(al);
		list = al->head;
		al->head = NULL;
		al->tail = &al->head;
		upto = al->chained_bytes;
		pthread_mutex_unlock(&al->lock);

		ok = true;
		n = 0;
		for (c = list; c; c = c->next, n++) {
			if (c->rotate_to && !do_rotate(al, c->rotate_to, c->new_path))
				ok = false;
			if (c->len && !write_all(al->fd, c->data, c->len))
				ok = false;
			al->dirty |= c->len > 0;
		}
		pthread_mutex_lock(&al->lock);
		sync = al->fsync_mode == POLICY_FSYNC_ALWAYS ||
		       (al->fsync_mode == POLICY_FSYNC_BATCH &&
			(al->flush_waiters || last || sync_due(al)));
		pthread_mutex_unlock(&al->lock);
		if (sync && al->dirty && !do_sync(al))
			ok = false;
		pthread_mutex_lock(&al->lock);
		while (list) {
			c = list;
			list = c->next;
			chunk_put(al, c);
		}
		al->queued -= n;
		al->written_bytes = upto;
		if (!al->dirty)
			al->synced_bytes = upto;
		if (!ok) {
			if (!al->io_error)
				log_warn("audit log %s: write failed: %s", al->wpath, strerror(errno));
			al->io_error = true;
			al->st.write_errors++;
		}
		pthread_cond_broadcast(&al->room);
		if (last && !al->head && !al->cur)
			break;
	}
	pthread_mutex_unlock(&al->lock);
	return NULL;
}

/* ---- open, reopen, flush, close ----------------------------------------- */

/*
 * Reads the end of `fd` (size bytes) to find the chain's last line: its
 * seq and hash. An empty file starts a fresh chain. A file that ends in a
 * cut line (a crash mid-write) chains to the last complete line and gets a
 * '\n' first; verify then names the cut line, which is the truth.
 */
static int read_tail(struct audit_log *al, int fd, uint64_t size)
{
	size_t want = size < TG_AUDIT_TAIL_MAX ? (size_t)size : TG_AUDIT_TAIL_MAX;
	off_t from = (off_t)(size - want);
	json_t *doc = NULL, *seq;
	char *buf, *end, *nl, *line;
	ssize_t got;
	size_t off = 0;
	int err = 0;

	if (!size)
		return audit_hash_hex(AUDIT_GENESIS, strlen(AUDIT_GENESIS), al->prev);
	buf = malloc(want + 1);
	if (!buf)
		return -ENOMEM;
	while (off < want) {
		got = pread(fd, buf + off, want - off, from + (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			err = got < 0 ? -errno : -EIO;
			goto out_free;
		}
		off += (size_t)got;
	}
	end = buf + want;
	if (end[-1] != '\n') {
		al->need_newline = true;
		log_warn("audit log %s: ends in a cut line; continuing after it", al->path);
		nl = memrchr(buf, '\n', want);
		if (!nl) {
			/* One cut line and nothing else: a fresh chain. */
			err = size > want ? -EBADMSG : audit_hash_hex(AUDIT_GENESIS,
								      strlen(AUDIT_GENESIS), al->prev);
			goto out_free;
		}
		end = nl + 1;
	}
	/* end[-1] is the last line's '\n'. */
	nl = end - 1 > buf ? memrchr(buf, '\n', (size_t)(end - 1 - buf)) : NULL;
	if (!nl && from > 0) {
		err = -EBADMSG;	/* longer than any line we write */
		goto out_free;
	}
	line = nl ? nl + 1 : buf;
	doc = json_loadb(line, (size_t)(end - 1 - line), 0, NULL);
	seq = json_is_object(doc) ? json_object_get(doc, "seq") : NULL;
	if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
		err = -EBADMSG;
		goto out_free;
	}
	al->seq = (uint64_t)json_integer_value(seq);
	err = audit_hash_hex(line, (size_t)(end - 1 - line), al->prev);
out_free:
	json_decref(doc);
	free(buf);
	return err;
}

struct audit_log *audit_log_open(const struct policy_audit *cfg)
{
	struct audit_log *al;
	pthread_condattr_t ca;
	struct stat sb;
	int err;

	if (!cfg || !cfg->path) {
		errno = EINVAL;
		return NULL;
	}
	al = calloc(1, sizeof(*al));
	if (!al)
		return NULL;
	al->fd = -1;
	al->tail = &al->head;
	al->fsync_mode = cfg->fsync;
	al->rotate_bytes = cfg->rotate_bytes;
	al->include_prompts = cfg->include_prompts;
	pthread_mutex_init(&al->lock, NULL);
	pthread_cond_init(&al->room, NULL);
	/* The writer's batch deadline is on the monotonic clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&al->work, &ca);
	pthread_condattr_destroy(&ca);
	clock_gettime(CLOCK_MONOTONIC, &al->last_sync);

	al->path = strdup(cfg->path);
	al->wpath = strdup(cfg->path);
	if (!al->path || !al->wpath) {
		err = ENOMEM;
		goto out_free;
	}
	/* O_RDWR: the tail is read through the same file we append to. */
	al->fd = open(cfg->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (al->fd < 0) {
		err = errno;
		goto out_free;
	}
	if (fstat(al->fd, &sb)) {
		err = errno;
		goto out_free;
	}
	err = -read_tail(al, al->fd, (uint64_t)sb.st_size);
	if (err)
		goto out_free;
	al->file_bytes = (uint64_t)sb.st_size;
	al->written_bytes = al->synced_bytes = al->chained_bytes = 0;
	al->st.seq = al->seq;
	err = pthread_create(&al->thread, NULL, writer_main, al);
	if (err)
		goto out_free;
	al->thread_started = true;
	pthread_setname_np(al->thread, "tg-audit");	/* top -H, perf; best effort */
	return al;

out_free:
	audit_log_close(al);
	errno = err;
	return NULL;
}

int audit_log_reopen(struct audit_log *al, const char *path)
{
	int err = 0;

	pthread_mutex_lock(&al->lock);
	/* Nothing written since the last rotation: no empty files. */
	if (al->file_bytes || (path && strcmp(path, al->path)))
		err = start_rotation(al, path);
	pthread_mutex_unlock(&al->lock);
	return err;
}

int audit_log_flush(struct audit_log *al)
{
	uint64_t target;
	int err = 0;

	pthread_mutex_lock(&al->lock);
	target = al->chained_bytes;
	al->flush_waiters++;
	pthread_cond_signal(&al->work);
	while ((al->fsync_mode == POLICY_FSYNC_NEVER ? al->written_bytes : al->synced_bytes) <
	       target) {
		/* The writer broadcasts room after every batch. */
		pthread_cond_wait(&al->room, &al->lock);
		pthread_cond_signal(&al->work);
	}
	al->flush_waiters--;
	if (al->io_error) {
		al->io_error = false;
		err = -EIO;
	}
	pthread_mutex_unlock(&al->lock);
	return err;
}

void audit_log_stats(struct audit_log *al, struct audit_stats *st)
{
	if (!al) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&al->lock);
	*st = al->st;
	st->seq = al->seq;
	pthread_mutex_unlock(&al->lock);
}

void audit_log_close(struct audit_log *al)
{
	struct achunk *c;

	if (!al)
		return;
	if (al->thread_started) {
		pthread_mutex_lock(&al->lock);
		al->stop = true;
		pthread_cond_signal(&al->work);
		pthread_cond_broadcast(&al->room);
		pthread_mutex_unlock(&al->lock);
		pthread_join(al->thread, NULL);
	}
	while ((c = al->head)) {
		al->head = c->next;
		free(c->rotate_to);
		free(c->new_path);
		free(c);
	}
	if (al->cur) {
		free(al->cur->rotate_to);
		free(al->cur->new_path);
		free(al->cur);
	}
	while ((c = al->spare)) {
		al->spare = c->next;
		free(c);
	}
	if (al->fd >= 0)
		close(al->fd);
	free(al->prev_file_frag);
	free(al->path);
	free(al->wpath);
	pthread_mutex_destroy(&al->lock);
	pthread_cond_destroy(&al->work);
	pthread_cond_destroy(&al->room);
	free(al);
}

/* ---- verification --------------------------------------------------------- */

static const char *const audit_bad_names[] = {
	[AUDIT_OK] = "ok",
	[AUDIT_BAD_CUT] = "cut line",
	[AUDIT_BAD_JSON] = "not JSON",
	[AUDIT_BAD_LINE] = "not an audit line",
	[AUDIT_BAD_SEQ] = "sequence gap",
	[AUDIT_BAD_HASH] = "hash mismatch",
};

const char *audit_bad_name(enum audit_bad bad)
{
	if ((unsigned int)bad >= sizeof(audit_bad_names) / sizeof(audit_bad_names[0]))
		return "?";
	return audit_bad_names[bad];
}

int audit_verify_init(struct audit_verify *v)
{
	memset(v, 0, sizeof(*v));
	return audit_hash_hex(AUDIT_GENESIS, strlen(AUDIT_GENESIS), v->genesis);
}

static bool is_hash_hex(const char *s)
{
	size_t i;

	for (i = 0; i < AUDIT_HASH_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

enum audit_bad audit_verify_line(struct audit_verify *v, const char *buf, size_t len)
{
	json_t *doc, *jseq, *jprev, *jfile;
	enum audit_bad bad = AUDIT_OK;
	json_error_t jerr;
	const char *prev;
	json_int_t seq;

	v->blame_prev = false;
	v->detail[0] = '\0';
	if (!len || buf[len - 1] != '\n') {
		snprintf(v->detail, sizeof(v->detail), "no newline at the end of the file");
		return AUDIT_BAD_CUT;
	}
	len--;
	/* Duplicates: a writer never makes them; a reader could take either. */
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!doc) {
		snprintf(v->detail, sizeof(v->detail), "%s (column %d)", jerr.text, jerr.column);
		return AUDIT_BAD_JSON;
	}
	jseq = json_is_object(doc) ? json_object_get(doc, "seq") : NULL;
	jprev = json_is_object(doc) ? json_object_get(doc, "prev") : NULL;
	jfile = json_is_object(doc) ? json_object_get(doc, "prev_file") : NULL;
	if (!json_is_integer(jseq) || json_integer_value(jseq) < 1 || !json_is_string(jprev) ||
	    !is_hash_hex(json_string_value(jprev))) {
		snprintf(v->detail, sizeof(v->detail),
			 "no integer \"seq\" >= 1 or no 64-hex-digit \"prev\"");
		bad = AUDIT_BAD_LINE;
		goto out_decref;
	}
	seq = json_integer_value(jseq);
	prev = json_string_value(jprev);
	if (!v->started) {
		if (!strcmp(prev, v->genesis)) {
			if (seq != 1) {
				snprintf(v->detail, sizeof(v->detail),
					 "the chain starts at seq %" PRId64 ", expected 1",
					 (int64_t)seq);
				bad = AUDIT_BAD_SEQ;
				goto out_decref;
			}
		} else if (json_is_string(jfile)) {
			/* Older files were not given: where it starts is taken
			 * on trust, and said. */
			v->has_start_file = true;
			snprintf(v->start_file, sizeof(v->start_file), "%s",
				 json_string_value(jfile));
		} else {
			snprintf(v->detail, sizeof(v->detail),
				 "the first line (seq %" PRId64 ") neither chains to the genesis nor names a prev_file",
				 (int64_t)seq);
			bad = seq == 1 ? AUDIT_BAD_HASH : AUDIT_BAD_SEQ;
			goto out_decref;
		}
	} else if ((uint64_t)seq != v->seq + 1) {
		snprintf(v->detail, sizeof(v->detail), "expected seq %" PRIu64 ", found %" PRId64,
			 v->seq + 1, (int64_t)seq);
		bad = AUDIT_BAD_SEQ;
		goto out_decref;
	} else if (strcmp(prev, v->hash)) {
		/* Either the line before was altered or this prev was; the
		 * likelier edit is to content, so the line before is named. */
		snprintf(v->detail, sizeof(v->detail),
			 "its SHA-256 is not the prev recorded by seq %" PRId64, (int64_t)seq);
		v->blame_prev = true;
		bad = AUDIT_BAD_HASH;
		goto out_decref;
	}
	if (audit_hash_hex(buf, len, v->hash)) {
		snprintf(v->detail, sizeof(v->detail), "SHA-256 failed");
		bad = AUDIT_BAD_HASH;
		goto out_decref;
	}
	if (!v->started)
		v->first_seq = (uint64_t)seq;
	v->started = true;
	v->seq = (uint64_t)seq;
	v->lines++;
out_decref:
	json_decref(doc);
	return bad;
}
