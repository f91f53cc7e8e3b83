// SPDX-License-Identifier: Apache-2.0
/*
 * Loading a policy: YAML files (with includes) → the typed structs of
 * policy.h, driven by the schema tables of schema.c.
 *
 * The loader never stops at the first error. It decodes everything it can,
 * records each problem as file:line:col: message, and only then decides:
 * any error, and no policy is returned. Errors are collected up to
 * TG_POLICY_ERRORS_MAX; the walk is bounded in depth and in node visits, so
 * no input — aliases included — makes it run away.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/sha256.h"
#include "policy/policy.h"
#include "policy/scalar.h"
#include "policy/schema.h"
#include "tollgate/limits.h"

struct pfile {
	const char *name;	/* as shown in errors; arena */
	const char *from;	/* the file that included it first; NULL: top */
	char *real;		/* realpath, for include cycles; malloc */
	yaml_document_t doc;
	bool has_doc;
};

struct pname {
	enum pns ns;
	const char *name;
	struct policy_loc loc;
	const char *what;	/* "provider" — for messages */
	uint32_t seq;		/* order of reading, across files */
};

struct pctx {
	struct policy *p;
	struct policy_diags *diags;
	unsigned flags;
	struct pfile *files[TG_POLICY_FILES_MAX];
	uint32_t n_files;
	struct pfile *cur;
	uint32_t nodes;
	uint32_t depth;
	bool node_limit_hit;
	struct pname *defs;
	uint32_t n_defs, cap_defs;
	struct pname *refs;
	uint32_t n_refs, cap_refs;
	/* top-level keys seen, for "set in two files" errors */
	struct policy_loc top_seen[TG_SCHEMA_FIELDS_MAX];
	const char *include_stack[TG_POLICY_INCLUDE_DEPTH + 1];
	uint32_t include_depth;
	bool oom;
	uint64_t bytes;		/* read so far, all files */
	bool unreadable;	/* a file failed to read or parse */
	uint32_t errors;	/* every error, also past TG_POLICY_ERRORS_MAX */
	int bad_defaults;	/* schema defaults that did not parse: a bug */
};

static const char *const ns_what[NS__COUNT] = {
	[NS_LISTENER] = "listener",	[NS_UPSTREAM] = "upstream",
	[NS_TENANT] = "tenant",		[NS_KEY] = "key",
	[NS_PROVIDER] = "provider",	[NS_MODEL] = "model",
	[NS_SEMROUTE] = "semantic route", [NS_GUARD] = "guard",
	[NS_MCP] = "MCP server or bridge", [NS_AGENT] = "agent",
};

/* ---- diagnostics ---------------------------------------------------------- */

void policy_diags_init(struct policy_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void policy_diags_fini(struct policy_diags *d)
{
	for (uint32_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

void policy_diags_print(const struct policy_diags *d, FILE *out)
{
	for (uint32_t i = 0; i < d->n; i++) {
		const struct policy_diag *e = &d->v[i];

		if (e->line)
			fprintf(out, "%s:%u:%u: %s\n", e->file, e->line, e->col, e->msg);
		else
			fprintf(out, "%s: %s\n", e->file, e->msg);
	}
	if (d->truncated)
		fprintf(out, "too many errors; stopped after %u\n", d->n);
}

static void diag_add(struct pctx *ctx, const char *file, uint32_t line,
		     uint32_t col, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

static void diag_add(struct pctx *ctx, const char *file, uint32_t line,
		     uint32_t col, const char *fmt, va_list ap)
{
	struct policy_diags *d = ctx->diags;
	struct policy_diag *e;
	char *msg;

	ctx->errors++;
	if (!d)
		return;
	if (d->n >= TG_POLICY_ERRORS_MAX) {
		d->truncated = true;
		return;
	}
	if (d->n == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 16;
		struct policy_diag *v = realloc(d->v, cap * sizeof(*v));

		if (!v) {
			ctx->oom = true;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	if (vasprintf(&msg, fmt, ap) < 0) {
		ctx->oom = true;
		return;
	}
	e = &d->v[d->n];
	e->file = strdup(file ? file : "<policy>");
	if (!e->file) {
		free(msg);
		ctx->oom = true;
		return;
	}
	e->line = line;
	e->col = col;
	e->msg = msg;
	d->n++;
}

/* Grows with every error, also once the list is full: validators rely on
 * it to skip objects that did not decode. */
static uint32_t ctx_errors(struct pctx *ctx)
{
	return ctx->errors;
}

static void error_at(struct pctx *ctx, const char *file, uint32_t line,
		     uint32_t col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void error_at(struct pctx *ctx, const char *file, uint32_t line,
		     uint32_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(ctx, file, line, col, fmt, ap);
	va_end(ap);
}

void policy_ctx_error(struct pctx *ctx, const yaml_node_t *node, const char *fmt, ...)
{
	const char *file = ctx->cur ? ctx->cur->name : ctx->p->path;
	va_list ap;

	va_start(ap, fmt);
	if (node)
		diag_add(ctx, file, (uint32_t)node->start_mark.line + 1,
			 (uint32_t)node->start_mark.column + 1, fmt, ap);
	else
		diag_add(ctx, file, 0, 0, fmt, ap);
	va_end(ap);
}

void policy_error_at(struct pctx *ctx, const struct policy_loc *loc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(ctx, loc->file ? loc->file : ctx->p->path, loc->line, loc->col, fmt, ap);
	va_end(ap);
}

void policy_ctx_set_url(struct pctx *ctx, struct policy_url *u, const char *text)
{
	char hint[192];

	if (policy_parse_url(text, strlen(text), "https http", &ctx->p->arena, u,
			     hint, sizeof(hint)))
		error_at(ctx, ctx->p->path, 0, 0, "internal error: bad default URL '%s'", text);
}

void *policy_ctx_alloc(struct pctx *ctx, size_t size)
{
	void *p = arena_zalloc(&ctx->p->arena, size);

	if (!p)
		ctx->oom = true;
	return p;
}

struct policy_loc policy_node_loc(struct pctx *ctx, const yaml_node_t *node)
{
	struct policy_loc loc = { .file = ctx->cur ? ctx->cur->name : NULL };

	if (node) {
		loc.line = (uint32_t)node->start_mark.line + 1;
		loc.col = (uint32_t)node->start_mark.column + 1;
	}
	return loc;
}

/* ---- YAML helpers ------------------------------------------------------------ */

static yaml_node_t *node_at(struct pctx *ctx, int index)
{
	return yaml_document_get_node(&ctx->cur->doc, index);
}

static const char *scalar_text(const yaml_node_t *n, size_t *len)
{
	*len = n->data.scalar.length;
	return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
	size_t len;
	const char *s;

	if (n->type != YAML_SCALAR_NODE || !is_plain(n))
		return false;
	s = scalar_text(n, &len);
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
			     !memcmp(s, "NULL", 4)));
}

/* "a mapping", "a list", "null", "the string 'abc'" — what was found. */
static const char *node_kind(const yaml_node_t *n, char *buf, size_t len)
{
	size_t sl;
	const char *s;

	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		if (is_null(n))
			return "nothing (null)";
		s = scalar_text(n, &sl);
		snprintf(buf, len, "'%.*s%s'", sl > 40 ? 40 : (int)sl, s, sl > 40 ? "..." : "");
		for (char *c = buf; *c; c++) {
			if ((unsigned char)*c < 0x20)
				*c = '?';
		}
		return buf;
	default:
		return "nothing";
	}
}

/* The loader is single-threaded per call; validators reach the document
 * through this while a load runs. Thread-local so that concurrent loads
 * (a reload while tollctl checks, tests in threads) stay apart. */
static _Thread_local struct pctx *pctx_current;

/* Only valid for the current document: validators call this on the node
 * they were handed, which belongs to it. */
const yaml_node_t *policy_node_get(const yaml_node_t *node, const char *key)
{
	struct pctx *ctx = pctx_current;

	if (!ctx || !node || node->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
	     pr < node->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node_at(ctx, pr->key);
		size_t len;
		const char *s;

		if (!k || k->type != YAML_SCALAR_NODE)
			continue;
		s = scalar_text(k, &len);
		if (len == strlen(key) && !memcmp(s, key, len))
			return node_at(ctx, pr->value);
	}
	return NULL;
}

const yaml_node_t *policy_node_item(const yaml_node_t *node, uint32_t i)
{
	struct pctx *ctx = pctx_current;

	if (!ctx || !node || node->type != YAML_SEQUENCE_NODE ||
	    i >= (uint32_t)(node->data.sequence.items.top - node->data.sequence.items.start))
		return node;
	return node_at(ctx, node->data.sequence.items.start[i]);
}

/* ---- names and references -------------------------------------------------- */

static void name_push(struct pctx *ctx, struct pname **v, uint32_t *n, uint32_t *cap,
		      enum pns ns, const char *name, struct policy_loc loc,
		      const char *what)
{
	if (*n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 64;
		struct pname *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv) {
			ctx->oom = true;
			return;
		}
		*v = nv;
		*cap = nc;
	}
	(*v)[*n] = (struct pname){ ns, name, loc, what, *n };
	(*n)++;
}

static int pname_cmp(const void *a, const void *b)
{
	const struct pname *x = a, *y = b;
	int c;

	if (x->ns != y->ns)
		return x->ns < y->ns ? -1 : 1;
	c = strcmp(x->name, y->name);
	if (c)
		return c;
	/* in reading order, so the first definition is reported as first */
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* Sorted by (ns, name): the first definition of `name` in `ns`, or NULL. */
static const struct pname *pname_find(const struct pname *d, uint32_t nd, enum pns ns,
				      const char *name)
{
	uint32_t lo = 0, hi = nd;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = d[mid].ns != ns ? (d[mid].ns < ns ? -1 : 1) : strcmp(d[mid].name, name);

		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nd && d[lo].ns == ns && !strcmp(d[lo].name, name) ? &d[lo] : NULL;
}

static void check_names(struct pctx *ctx)
{
	struct pname *d = ctx->defs;
	uint32_t nd = ctx->n_defs;

	if (nd > 1)
		qsort(d, nd, sizeof(*d), pname_cmp);
	for (uint32_t i = 1; i < nd; i++) {
		struct pname *first = &d[i - 1], *dup = &d[i];

		if (first->ns != dup->ns || strcmp(first->name, dup->name))
			continue;
		/* report against the first one, in reading order */
		while (first > d && first[-1].ns == dup->ns && !strcmp(first[-1].name, dup->name))
			first--;
		error_at(ctx, dup->loc.file, dup->loc.line, dup->loc.col,
			 "duplicate %s name '%s'; it is already defined at %s:%u:%u",
			 ns_what[dup->ns], dup->name, first->loc.file,
			 first->loc.line, first->loc.col);
	}
	for (uint32_t i = 0; i < ctx->n_refs; i++) {
		struct pname *r = &ctx->refs[i];
		const char *best = NULL;
		unsigned best_d = 3;
		char defined[256];
		size_t dl = 0;
		uint32_t shown = 0, total = 0;

		if (pname_find(d, nd, r->ns, r->name))
			continue;
		/* Past the error cap nobody reads the hint: skip the search. */
		if (ctx->diags && ctx->diags->truncated) {
			ctx->errors++;
			continue;
		}
		defined[0] = '\0';
		for (uint32_t j = 0; j < nd; j++) {
			unsigned dist;

			if (d[j].ns != r->ns || (j && d[j - 1].ns == r->ns &&
						 !strcmp(d[j - 1].name, d[j].name)))
				continue;
			total++;
			dist = policy_edit_distance(r->name, d[j].name);
			if (dist < best_d) {
				best_d = dist;
				best = d[j].name;
			}
			if (shown < 8 && dl < sizeof(defined) - 80) {
				dl += (size_t)snprintf(defined + dl, sizeof(defined) - dl,
						       "%s%s", shown ? ", " : "", d[j].name);
				shown++;
			}
		}
		if (total > shown && dl < sizeof(defined) - 8)
			snprintf(defined + dl, sizeof(defined) - dl, ", ...");
		if (best)
			error_at(ctx, r->loc.file, r->loc.line, r->loc.col,
				 "%s '%s' is not defined (did you mean '%s'?)",
				 ns_what[r->ns], r->name, best);
		else if (total)
			error_at(ctx, r->loc.file, r->loc.line, r->loc.col,
				 "%s '%s' is not defined; defined %ss: %s",
				 ns_what[r->ns], r->name, ns_what[r->ns], defined);
		else
			error_at(ctx, r->loc.file, r->loc.line, r->loc.col,
				 "%s '%s' is not defined; this policy defines no %ss",
				 ns_what[r->ns], r->name, ns_what[r->ns]);
	}
}

/* ---- decoding ----------------------------------------------------------------- */

static void apply_defaults(struct pctx *ctx, const struct pschema *s, void *obj);
static void decode_mapping(struct pctx *ctx, const struct pschema *s,
			   const yaml_node_t *n, void *obj);

static const char *type_expect(const struct pfield *f)
{
	switch (f->type) {
	case PT_BOOL: return "true or false";
	case PT_U32: case PT_U64: return "a whole number";
	case PT_F64: return "a number";
	case PT_OBJECT: case PT_OBJECT_OPT: return "a mapping of keys";
	case PT_LIST: case PT_FLAGS: return "a list";
	case PT_JSON: return "a value";
	default: return "a string";
	}
}

static void type_error(struct pctx *ctx, const struct pfield *f, const yaml_node_t *n)
{
	char buf[64];

	policy_ctx_error(ctx, n, "'%s' must be %s, found %s", f->key, type_expect(f),
		   node_kind(n, buf, sizeof(buf)));
}

/* "expected one of: a, b, c (did you mean 'b'?)" into buf. */
static const char *expected_names(const char *const *names, const char *got,
				  char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "expected one of: ");
	const char *best = NULL;
	unsigned best_d = 3;

	for (size_t i = 0; names[i] && off < len; i++) {
		unsigned d = got ? policy_edit_distance(got, names[i]) : 99;

		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", names[i]);
		if (d < best_d) {
			best_d = d;
			best = names[i];
		}
	}
	if (best && off < len)
		snprintf(buf + off, len - off, " (did you mean '%s'?)", best);
	return buf;
}

static int enum_index(const char *const *names, const char *s, size_t len)
{
	for (int i = 0; names[i]; i++) {
		if (strlen(names[i]) == len && !memcmp(names[i], s, len))
			return i;
	}
	return -1;
}

static void range_error(struct pctx *ctx, const struct pfield *f,
			const yaml_node_t *n, const char *got)
{
	char lo[32], hi[32];

	policy_format_range(f, lo, hi, sizeof(lo));
	if (f->min == f->max)
		policy_ctx_error(ctx, n, "'%s' is %s; expected %s", f->key, got, lo);
	else
		policy_ctx_error(ctx, n, "'%s' is %s, out of range; expected %s to %s",
			   f->key, got, lo, hi);
}

/* True when `v` is within the field's range; otherwise reports it (file
 * values only: `n` NULL is a schema default). */
static bool check_range(struct pctx *ctx, const struct pfield *f,
			const yaml_node_t *n, double v, const char *shown)
{
	if (!f->ranged || (v >= f->min && v <= f->max))
		return true;
	if (n)
		range_error(ctx, f, n, shown);
	return false;
}

/* Parses one scalar text into `slot`. Used for file values (node set) and
 * for schema defaults (node NULL; failures only counted). Returns false on
 * error. */
static bool decode_scalar(struct pctx *ctx, const struct pfield *f,
			  const yaml_node_t *n, const char *s, size_t len,
			  bool plain, void *slot)
{
	struct arena *ar = &ctx->p->arena;
	const char *err = NULL;
	char hint[192], shown[64];
	uint64_t u = 0;
	double d = 0;

	snprintf(shown, sizeof(shown), "%.*s%s", len > 40 ? 40 : (int)len, s,
		 len > 40 ? "..." : "");
	/* Echoed values must not carry terminal escapes or line breaks. */
	for (char *c = shown; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	}

	switch (f->type) {
	case PT_STR:
	case PT_TEXT:
	case PT_PATH:
	case PT_URLPATH:
	case PT_NAME: {
		char *copy;

		err = policy_check_text(s, len, f->type == PT_TEXT);
		if (err)
			break;
		if (f->type == PT_NAME && !policy_is_name(s, len)) {
			err = "expected a name: 1 to 64 letters, digits, '_', '.', ':', '/' or '-', starting with a letter or digit";
			break;
		}
		if (f->type == PT_PATH && (len == 0 || memchr(s, '\n', len))) {
			err = "expected a file path";
			break;
		}
		if (f->type == PT_URLPATH && (len == 0 || s[0] != '/' ||
					      memchr(s, ' ', len) || memchr(s, '\n', len) ||
					      memchr(s, '\t', len))) {
			err = "expected an HTTP path starting with '/', without spaces";
			break;
		}
		if ((f->type == PT_STR || f->type == PT_TEXT) && f->required && len == 0) {
			err = "must not be empty";
			break;
		}
		copy = arena_strndup(ar, s, len);
		if (!copy) {
			ctx->oom = true;
			return false;
		}
		*(const char **)slot = copy;
		if (n && f->defines)
			name_push(ctx, &ctx->defs, &ctx->n_defs, &ctx->cap_defs,
				  f->defines, copy, policy_node_loc(ctx, n), NULL);
		if (n && f->refs)
			name_push(ctx, &ctx->refs, &ctx->n_refs, &ctx->cap_refs,
				  f->refs, copy, policy_node_loc(ctx, n), f->key);
		return true;
	}
	case PT_BOOL:
		if (plain && len == 4 && !memcmp(s, "true", 4))
			*(bool *)slot = true;
		else if (plain && len == 5 && !memcmp(s, "false", 5))
			*(bool *)slot = false;
		else if (!plain && ((len == 4 && !memcmp(s, "true", 4)) ||
				    (len == 5 && !memcmp(s, "false", 5))))
			err = "expected true or false without quotes (a quoted value is a string)";
		else
			err = "expected true or false";
		break;
	case PT_U32:
	case PT_U64:
		if (!plain) {
			err = "expected a whole number, not a quoted string";
			break;
		}
		err = policy_parse_uint(s, len, &u);
		if (err && len && strspn(s, "0123456789") == len)
			err = "number is too large";
		if (err)
			break;
		if (!check_range(ctx, f, n, (double)u, shown))
			return false;
		if (f->type == PT_U32 && u > UINT32_MAX) {
			if (n)
				policy_ctx_error(ctx, n, "'%s' is %s; at most %u", f->key, shown, UINT32_MAX);
			return false;
		}
		if (f->type == PT_U32)
			*(uint32_t *)slot = (uint32_t)u;
		else
			*(uint64_t *)slot = u;
		return true;
	case PT_F64:
		if (!plain) {
			err = "expected a number, not a quoted string";
			break;
		}
		err = policy_parse_f64(s, len, &d);
		if (err)
			break;
		if (!check_range(ctx, f, n, d, shown))
			return false;
		*(double *)slot = d;
		return true;
	case PT_DURATION:
	case PT_SIZE:
		err = f->type == PT_DURATION ? policy_parse_duration(s, len, &u)
					     : policy_parse_size(s, len, &u);
		if (err)
			break;
		if (!check_range(ctx, f, n, (double)u, shown))
			return false;
		*(uint64_t *)slot = u;
		return true;
	case PT_RATE: {
		struct policy_rate r;

		err = policy_parse_rate(s, len, &r);
		if (err)
			break;
		/* ranges of rates are in events per second */
		if (!check_range(ctx, f, n, (double)r.count * 1000.0 / (double)r.period_ms, shown))
			return false;
		*(struct policy_rate *)slot = r;
		return true;
	}
	case PT_ENUM: {
		int i = enum_index(f->names, s, len);

		if (i < 0) {
			char *got = arena_strndup(ar, s, len);

			err = expected_names(f->names, got, hint, sizeof(hint));
			break;
		}
		*(int *)slot = i;
		return true;
	}
	case PT_CIDR:
		err = policy_parse_cidr(s, len, slot, hint, sizeof(hint));
		break;
	case PT_SOCKADDR:
		err = policy_parse_sockaddr(s, len, slot);
		if (!err) {
			((struct policy_sockaddr *)slot)->text = arena_strndup(ar, s, len);
			if (!((struct policy_sockaddr *)slot)->text)
				ctx->oom = true;
		}
		break;
	case PT_HOSTPORT:
		err = policy_parse_hostport(s, len, ar, slot);
		break;
	case PT_URL:
		err = policy_parse_url(s, len, f->schemes, ar, slot, hint, sizeof(hint));
		break;
	case PT_KEYHASH:
		err = policy_parse_keyhash(s, len, slot);
		break;
	case PT_SECRET: {
		enum policy_secret_kind kind;
		const char *ref;
		size_t rl;
		struct policy_secret *sec;

		err = policy_parse_secret_ref(s, len, &kind, &ref, &rl);
		if (!err)
			err = policy_check_text(ref, rl, false);
		if (err)
			break;
		sec = arena_zalloc(ar, sizeof(*sec));
		if (!sec || !(sec->ref = arena_strndup(ar, ref, rl))) {
			ctx->oom = true;
			return false;
		}
		sec->kind = kind;
		sec->loc = policy_node_loc(ctx, n);
		*(struct policy_secret **)slot = sec;
		if (ctx->p->n_secrets % 16 == 0) {
			struct policy_secret **v =
				arena_calloc(ar, ctx->p->n_secrets + 16, sizeof(*v));

			if (!v) {
				ctx->oom = true;
				return false;
			}
			if (ctx->p->n_secrets)
				memcpy(v, ctx->p->secrets, ctx->p->n_secrets * sizeof(*v));
			ctx->p->secrets = v;
		}
		ctx->p->secrets[ctx->p->n_secrets++] = sec;
		return true;
	}
	default:
		err = "internal error: not a scalar type";
	}
	if (err) {
		if (n) {
			/* Never echo what may be a secret: a literal key where a
			 * reference belongs, a key pasted as its hash, a URL with
			 * a password in it. */
			if (f->type == PT_SECRET || f->type == PT_KEYHASH || f->type == PT_URL)
				policy_ctx_error(ctx, n, "'%s': %s", f->key, err);
			else
				policy_ctx_error(ctx, n, "'%s' is '%s': %s", f->key, shown, err);
		}
		return false;
	}
	return true;
}

static json_t *yaml_to_json(struct pctx *ctx, const yaml_node_t *n)
{
	json_t *j = NULL;

	if (++ctx->nodes > TG_POLICY_NODES_MAX || ctx->depth >= TG_POLICY_DEPTH_MAX) {
		if (!ctx->node_limit_hit)
			policy_ctx_error(ctx, n, "document is too large or too deeply nested (at most %u nodes, %u levels)",
				   TG_POLICY_NODES_MAX, TG_POLICY_DEPTH_MAX);
		ctx->node_limit_hit = true;
		return NULL;
	}
	ctx->depth++;
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		size_t len;
		const char *s = scalar_text(n, &len);
		uint64_t u;
		double d;

		if (is_null(n))
			j = json_null();
		else if (is_plain(n) && len == 4 && !memcmp(s, "true", 4))
			j = json_true();
		else if (is_plain(n) && len == 5 && !memcmp(s, "false", 5))
			j = json_false();
		else if (is_plain(n) && !policy_parse_uint(s, len, &u) && u <= INT64_MAX)
			j = json_integer((json_int_t)u);
		else if (is_plain(n) && !policy_parse_f64(s, len, &d))
			j = json_real(d);
		else
			j = json_stringn_nocheck(s, len);
		break;
	}
	case YAML_SEQUENCE_NODE:
		j = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     j && it < n->data.sequence.items.top; it++) {
			json_t *v = yaml_to_json(ctx, node_at(ctx, *it));

			if (!v || json_array_append_new(j, v)) {
				json_decref(j);
				j = NULL;
			}
		}
		break;
	case YAML_MAPPING_NODE:
		j = json_object();
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
		     j && pr < n->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = node_at(ctx, pr->key);
			json_t *v;
			char key[256];
			size_t kl;
			const char *ks;

			if (!k || k->type != YAML_SCALAR_NODE) {
				policy_ctx_error(ctx, k, "mapping keys must be strings");
				json_decref(j);
				j = NULL;
				break;
			}
			ks = scalar_text(k, &kl);
			if (kl >= sizeof(key) || memchr(ks, '\0', kl)) {
				policy_ctx_error(ctx, k, "mapping key is too long (at most 255 bytes) or holds a NUL byte");
				json_decref(j);
				j = NULL;
				break;
			}
			memcpy(key, ks, kl);
			key[kl] = '\0';
			if (json_object_get(j, key)) {
				policy_ctx_error(ctx, k, "duplicate key '%s'", key);
				json_decref(j);
				j = NULL;
				break;
			}
			v = yaml_to_json(ctx, node_at(ctx, pr->value));
			if (!v || json_object_set_new_nocheck(j, key, v)) {
				json_decref(j);
				j = NULL;
			}
		}
		break;
	default:
		break;
	}
	ctx->depth--;
	return j;
}

static void decode_field(struct pctx *ctx, const struct pfield *f,
			 const yaml_node_t *n, void *base);

static void decode_list(struct pctx *ctx, const struct pfield *f,
			const yaml_node_t *n, void *base)
{
	void **arrp = (void **)((char *)base + f->off);
	uint32_t *countp = (uint32_t *)((char *)base + f->count_off);
	size_t items = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	size_t old = *countp;
	char *arr;

	if (old + items > f->max_items) {
		policy_ctx_error(ctx, n, "'%s' has %zu entries; at most %u are allowed",
			   f->key, old + items, f->max_items);
		return;
	}
	if (!items)
		return;
	/* Top-level lists from several files are concatenated. */
	arr = arena_calloc(&ctx->p->arena, old + items, f->elem_size);
	if (!arr) {
		ctx->oom = true;
		return;
	}
	if (old)
		memcpy(arr, *arrp, old * f->elem_size);
	*arrp = arr;
	*countp = (uint32_t)(old + items);
	for (size_t i = 0; i < items; i++) {
		yaml_node_t *it = node_at(ctx, n->data.sequence.items.start[i]);
		struct pfield elem = *f->elem;

		if (!it)
			continue;
		/* Messages name the list's key for its elements. */
		elem.key = f->key;
		if (elem.type == PT_OBJECT)
			apply_defaults(ctx, elem.schema, arr + (old + i) * f->elem_size);
		decode_field(ctx, &elem, it, arr + (old + i) * f->elem_size);
	}
}

static void decode_flags(struct pctx *ctx, const struct pfield *f,
			 const yaml_node_t *n, uint32_t *bits)
{
	*bits = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = node_at(ctx, *it);
		char hint[256], buf[64];
		size_t len;
		const char *s;
		int i;

		if (!e)
			continue;
		if (e->type != YAML_SCALAR_NODE || is_null(e)) {
			policy_ctx_error(ctx, e, "'%s' entries must be names; found %s; %s",
				   f->key, node_kind(e, buf, sizeof(buf)),
				   expected_names(f->names, NULL, hint, sizeof(hint)));
			continue;
		}
		s = scalar_text(e, &len);
		i = enum_index(f->names, s, len);
		if (i < 0) {
			char *got = arena_strndup(&ctx->p->arena, s, len);

			char b[64];

			policy_ctx_error(ctx, e, "'%s' has unknown entry %s; %s", f->key,
				   node_kind(e, b, sizeof(b)),
				   expected_names(f->names, got, hint, sizeof(hint)));
			continue;
		}
		if (*bits & (1u << i)) {
			policy_ctx_error(ctx, e, "'%s' lists '%s' twice", f->key, f->names[i]);
			continue;
		}
		*bits |= 1u << i;
	}
}

static void decode_field(struct pctx *ctx, const struct pfield *f,
			 const yaml_node_t *n, void *base)
{
	void *slot = (char *)base + f->off;

	if (++ctx->nodes > TG_POLICY_NODES_MAX || ctx->depth >= TG_POLICY_DEPTH_MAX) {
		if (!ctx->node_limit_hit)
			policy_ctx_error(ctx, n, "document is too large or too deeply nested (at most %u nodes, %u levels)",
				   TG_POLICY_NODES_MAX, TG_POLICY_DEPTH_MAX);
		ctx->node_limit_hit = true;
		return;
	}
	ctx->depth++;
	switch (f->type) {
	case PT_OBJECT:
		if (n->type != YAML_MAPPING_NODE) {
			type_error(ctx, f, n);
			break;
		}
		decode_mapping(ctx, f->schema, n, slot);
		break;
	case PT_OBJECT_OPT: {
		void *obj;

		if (n->type != YAML_MAPPING_NODE) {
			type_error(ctx, f, n);
			break;
		}
		obj = arena_zalloc(&ctx->p->arena, f->schema->size);
		if (!obj) {
			ctx->oom = true;
			break;
		}
		apply_defaults(ctx, f->schema, obj);
		*(void **)slot = obj;
		decode_mapping(ctx, f->schema, n, obj);
		break;
	}
	case PT_LIST:
		if (n->type != YAML_SEQUENCE_NODE) {
			type_error(ctx, f, n);
			break;
		}
		decode_list(ctx, f, n, base);
		break;
	case PT_FLAGS:
		if (n->type != YAML_SEQUENCE_NODE) {
			type_error(ctx, f, n);
			break;
		}
		decode_flags(ctx, f, n, slot);
		break;
	case PT_JSON: {
		json_t *j = yaml_to_json(ctx, n);
		char *text;

		if (!j)
			break;
		text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
		if (!text || !(*(const char **)slot = arena_strdup(&ctx->p->arena, text)))
			ctx->oom = true;
		free(text);
		break;
	}
	default: {
		size_t len;
		const char *s;

		if (n->type != YAML_SCALAR_NODE || is_null(n)) {
			type_error(ctx, f, n);
			break;
		}
		s = scalar_text(n, &len);
		decode_scalar(ctx, f, n, s, len, is_plain(n), slot);
	}
	}
	ctx->depth--;
}

static const struct pfield *field_find(const struct pschema *s, const char *key, size_t len)
{
	for (const struct pfield *f = s->fields; f->key; f++) {
		if (strlen(f->key) == len && !memcmp(f->key, key, len))
			return f;
	}
	return NULL;
}

static void unknown_key(struct pctx *ctx, const struct pschema *s,
			const yaml_node_t *k, const char *key, size_t len)
{
	char list[512], got[TG_NAME_MAX + 1];
	const char *best = NULL;
	unsigned best_d = 3;
	size_t off = 0;

	snprintf(got, sizeof(got), "%.*s", (int)(len > TG_NAME_MAX ? TG_NAME_MAX : len), key);
	for (const struct pfield *f = s->fields; f->key && off < sizeof(list); f++) {
		unsigned d = policy_edit_distance(got, f->key);

		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
					f == s->fields ? "" : ", ", f->key);
		if (d < best_d) {
			best_d = d;
			best = f->key;
		}
	}
	for (char *c = got; *c; c++) {
		if ((unsigned char)*c < 0x20)
			*c = '?';
	}
	if (best)
		policy_ctx_error(ctx, k, "unknown key '%s' in %s (did you mean '%s'?); expected one of: %s",
			   got, s->name, best, list);
	else
		policy_ctx_error(ctx, k, "unknown key '%s' in %s; expected one of: %s",
			   got, s->name, list);
}

static bool is_root(const struct pschema *s)
{
	return s == &policy_root_schema;
}

static void decode_mapping(struct pctx *ctx, const struct pschema *s,
			   const yaml_node_t *n, void *obj)
{
	const yaml_node_t *seen[TG_SCHEMA_FIELDS_MAX] = { 0 };
	uint32_t before = ctx_errors(ctx);
	size_t nfields = 0;

	while (s->fields[nfields].key)
		nfields++;

	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node_at(ctx, pr->key), *v = node_at(ctx, pr->value);
		const struct pfield *f;
		size_t len, idx;
		const char *key;

		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			policy_ctx_error(ctx, k, "keys of %s must be plain names, found %s",
				   s->name, k->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
			continue;
		}
		key = scalar_text(k, &len);
		f = field_find(s, key, len);
		if (!f) {
			unknown_key(ctx, s, k, key, len);
			continue;
		}
		idx = (size_t)(f - s->fields);
		if (idx < TG_SCHEMA_FIELDS_MAX && seen[idx]) {
			policy_ctx_error(ctx, k, "duplicate key '%s'; it is already set at line %zu",
				   f->key, seen[idx]->start_mark.line + 1);
			continue;
		}
		if (idx < TG_SCHEMA_FIELDS_MAX)
			seen[idx] = k;
		if (is_root(s) && idx < TG_SCHEMA_FIELDS_MAX) {
			/* Across files: lists concatenate, anything else may be
			 * set in one file only. */
			struct policy_loc *first = &ctx->top_seen[idx];

			if (first->file && f->type != PT_LIST) {
				policy_ctx_error(ctx, k, "'%s' is already set at %s:%u:%u; a section may be set in one file only (lists such as tenants may be split across files)",
					   f->key, first->file, first->line, first->col);
				continue;
			}
			if (!first->file)
				*first = policy_node_loc(ctx, k);
		}
		decode_field(ctx, f, v, obj);
	}
	/* Required keys (the root's are checked once all files are read). */
	if (!is_root(s)) {
		for (size_t i = 0; i < nfields && i < TG_SCHEMA_FIELDS_MAX; i++) {
			if (s->fields[i].required && !seen[i])
				policy_ctx_error(ctx, n, "%s is missing required key '%s'",
					   s->name, s->fields[i].key);
		}
	}
	/* The root's checks span every file: load() runs them at the end. */
	if (s->validate && !is_root(s) && ctx_errors(ctx) == before)
		s->validate(ctx, n, obj);
}

static void apply_defaults(struct pctx *ctx, const struct pschema *s, void *obj)
{
	for (const struct pfield *f = s->fields; f->key; f++) {
		void *slot = (char *)obj + f->off;

		if (f->type == PT_OBJECT) {
			apply_defaults(ctx, f->schema, slot);
			continue;
		}
		if (!f->def)
			continue;
		if (f->type == PT_FLAGS) {
			/* default: comma-separated names */
			uint32_t bits = 0;
			const char *p = f->def;

			while (*p) {
				size_t l = strcspn(p, ",");
				int i = enum_index(f->names, p, l);

				if (i < 0)
					ctx->bad_defaults++;
				else
					bits |= 1u << i;
				p += l;
				if (*p == ',')
					p++;
			}
			*(uint32_t *)slot = bits;
			continue;
		}
		if (!decode_scalar(ctx, f, NULL, f->def, strlen(f->def), true, slot))
			ctx->bad_defaults++;
	}
}

/* ---- files and includes ------------------------------------------------------- */

static void parse_error(struct pctx *ctx, struct pfile *pf, yaml_parser_t *yp,
			const char *buf, size_t len)
{
	const yaml_mark_t *m = &yp->problem_mark;
	const char *what = yp->problem ? yp->problem : "malformed YAML";

	ctx->unreadable = true;

	if (yp->error == YAML_MEMORY_ERROR) {
		ctx->oom = true;
		return;
	}
	if (yp->error == YAML_READER_ERROR) {
		/* Encoding errors carry a byte offset, not a mark. */
		uint32_t line = 1, col = 1;

		for (size_t i = 0; i < yp->problem_offset && i < len; i++) {
			if (buf[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		error_at(ctx, pf->name, line, col, "YAML syntax error: %s (the file must be UTF-8 text)", what);
		return;
	}
	if (yp->context)
		error_at(ctx, pf->name, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
			 "YAML syntax error: %s %s (started at line %zu)", what,
			 yp->context, yp->context_mark.line + 1);
	else
		error_at(ctx, pf->name, (uint32_t)m->line + 1, (uint32_t)m->column + 1,
			 "YAML syntax error: %s", what);
}

static struct pfile *pfile_new(struct pctx *ctx, const char *name, const char *real,
			       const yaml_node_t *from)
{
	struct pfile *pf;

	if (ctx->n_files >= TG_POLICY_FILES_MAX) {
		policy_ctx_error(ctx, from, "too many policy files (at most %u, includes included)",
			   TG_POLICY_FILES_MAX);
		return NULL;
	}
	pf = calloc(1, sizeof(*pf));
	if (!pf || !(pf->name = arena_strdup(&ctx->p->arena, name))) {
		free(pf);
		ctx->oom = true;
		return NULL;
	}
	pf->real = real ? strdup(real) : NULL;
	ctx->files[ctx->n_files++] = pf;
	return pf;
}

static void load_doc(struct pctx *ctx, struct pfile *pf, const char *buf, size_t len,
		     const char *dir);

static void load_path(struct pctx *ctx, const char *path, const char *shown,
		      const yaml_node_t *from, const char *from_file)
{
	char real[PATH_MAX], *buf = NULL, *dcopy = NULL;
	struct pfile *pf;
	struct stat st;
	ssize_t got;
	size_t off = 0;
	int fd, err;

	/* O_NONBLOCK: a FIFO named as a policy must not hang the loader; the
	 * regular-file check below then refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		err = errno;
		ctx->unreadable = true;
		if (from)
			policy_ctx_error(ctx, from, "cannot read included file '%s': %s", shown, strerror(err));
		else
			error_at(ctx, shown, 0, 0, "cannot read policy: %s", strerror(err));
		return;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		ctx->unreadable = true;
		if (from)
			policy_ctx_error(ctx, from, "included '%s' is not a regular file", shown);
		else
			error_at(ctx, shown, 0, 0, "policy is not a regular file");
		goto out_close_fd;
	}
	if ((uint64_t)st.st_size > TG_POLICY_FILE_MAX) {
		ctx->unreadable = true;
		if (from)
			policy_ctx_error(ctx, from, "included '%s' is larger than %u bytes", shown, TG_POLICY_FILE_MAX);
		else
			error_at(ctx, shown, 0, 0, "policy is larger than %u bytes", TG_POLICY_FILE_MAX);
		goto out_close_fd;
	}
	if (ctx->bytes + (uint64_t)st.st_size > TG_POLICY_TOTAL_MAX) {
		ctx->unreadable = true;
		if (from)
			policy_ctx_error(ctx, from, "including '%s' takes the policy past %u bytes in all", shown,
				   TG_POLICY_TOTAL_MAX);
		else
			error_at(ctx, shown, 0, 0, "policy is larger than %u bytes", TG_POLICY_TOTAL_MAX);
		goto out_close_fd;
	}
	ctx->bytes += (uint64_t)st.st_size;
	if (!realpath(path, real))
		snprintf(real, sizeof(real), "%s", path);
	for (uint32_t i = 0; i < ctx->n_files; i++) {
		if (ctx->files[i]->real && !strcmp(ctx->files[i]->real, real)) {
			bool cycle = false;

			for (uint32_t j = 0; j < ctx->include_depth; j++)
				cycle |= !strcmp(ctx->include_stack[j], real);
			if (cycle)
				policy_ctx_error(ctx, from, "include cycle: '%s' includes itself through %s",
					   shown, from_file);
			else
				policy_ctx_error(ctx, from, "'%s' is already included (from %s); a file may be included once",
					   shown, ctx->files[i]->from ? ctx->files[i]->from : "the top file");
			goto out_close_fd;
		}
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ctx->oom = true;
		goto out_close_fd;
	}
	while (off < (size_t)st.st_size) {
		got = read(fd, buf + off, (size_t)st.st_size - off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		off += (size_t)got;
	}
	pf = pfile_new(ctx, shown, real, from);
	if (!pf)
		goto out_free_buf;
	pf->from = from_file;
	dcopy = strdup(path);
	if (!dcopy) {
		ctx->oom = true;
		goto out_free_buf;
	}
	load_doc(ctx, pf, buf, off, dirname(dcopy));
	free(dcopy);
out_free_buf:
	free(buf);
out_close_fd:
	close(fd);
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* "dir/pattern" with dir's own pattern characters escaped. Returns the
 * length written, or -1 when it does not fit. */
static int glob_join(char *out, size_t len, const char *dir, const char *pattern)
{
	size_t o = 0;
	int w;

	for (const char *c = dir; *c; c++) {
		if (strchr("*?[]\\", *c)) {
			if (o + 1 >= len)
				return -1;
			out[o++] = '\\';
		}
		if (o + 1 >= len)
			return -1;
		out[o++] = *c;
	}
	w = snprintf(out + o, len - o, "/%s", pattern);
	return w < 0 || (size_t)w >= len - o ? -1 : (int)(o + (size_t)w);
}

/* include: [a.yaml, "tenants/<glob>.yaml"]: paths relative to the including
 * file; shell patterns expand in sorted order. */
static void do_includes(struct pctx *ctx, struct pfile *pf, const yaml_node_t *inc,
			const char *dir)
{
	if (ctx->flags & POLICY_LOAD_NO_INCLUDE) {
		policy_ctx_error(ctx, inc, "'include' is not allowed in this policy (it has no directory to include from)");
		return;
	}
	/* Shape errors were reported when 'include' was decoded. */
	if (inc->type != YAML_SEQUENCE_NODE)
		return;
	if (ctx->include_depth >= TG_POLICY_INCLUDE_DEPTH) {
		policy_ctx_error(ctx, inc, "includes nest deeper than %u levels", TG_POLICY_INCLUDE_DEPTH);
		return;
	}
	ctx->include_stack[ctx->include_depth++] = pf->real ? pf->real : pf->name;
	for (yaml_node_item_t *it = inc->data.sequence.items.start;
	     it < inc->data.sequence.items.top; it++) {
		struct pfile *saved = ctx->cur;
		yaml_node_t *e = node_at(ctx, *it);
		char path[PATH_MAX];
		size_t len;
		const char *s;

		if (!e)
			continue;
		if (e->type != YAML_SCALAR_NODE || is_null(e))
			continue;	/* reported when decoded */
		s = scalar_text(e, &len);
		if (len == 0 || memchr(s, '\n', len))
			continue;	/* reported when decoded */
		if (memchr(s, '\0', len) || len >= PATH_MAX / 2) {
			policy_ctx_error(ctx, e, "'include' entry must be a file path");
			continue;
		}
		{
			char entry[PATH_MAX];
			bool pattern;
			int w;

			snprintf(entry, sizeof(entry), "%.*s", (int)len, s);
			pattern = has_glob(entry);
			/* The directory is taken literally, even when its name
			 * holds pattern characters. */
			w = s[0] == '/' ? snprintf(path, sizeof(path), "%s", entry)
					: pattern ? glob_join(path, sizeof(path), dir, entry)
						  : snprintf(path, sizeof(path), "%s/%s", dir, entry);
			if (w < 0 || (size_t)w >= sizeof(path)) {
				policy_ctx_error(ctx, e, "include path is too long");
				continue;
			}
			if (!pattern) {
				load_path(ctx, path, path, e, saved->name);
				ctx->cur = saved;
				continue;
			}
		}
		{
			glob_t g;
			int rc = glob(path, GLOB_ERR, NULL, &g);

			if (rc == 0) {
				for (size_t i = 0; i < g.gl_pathc; i++) {
					load_path(ctx, g.gl_pathv[i], g.gl_pathv[i], e, saved->name);
					ctx->cur = saved;
				}
			} else if (rc != GLOB_NOMATCH) {
				policy_ctx_error(ctx, e, "cannot expand include pattern '%.*s'", (int)len, s);
			}
			globfree(&g);
		}
	}
	ctx->include_depth--;
}

/* A pass over the events that stops at the first nesting deeper than
 * TG_POLICY_DEPTH_MAX, so the document loader never builds (nor spends
 * time on) absurdly deep input. Syntax errors are left to the loader. */
static bool depth_ok(struct pctx *ctx, struct pfile *pf, const char *buf, size_t len)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	uint32_t depth = 0, nodes = 0;
	bool ok = true;

	if (!yaml_parser_initialize(&yp)) {
		ctx->oom = true;
		return false;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
	while (yaml_parser_parse(&yp, &ev)) {
		yaml_event_type_t t = ev.type;

		if ((t == YAML_SCALAR_EVENT || t == YAML_ALIAS_EVENT ||
		     t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) &&
		    ++nodes > TG_POLICY_NODES_MAX) {
			ctx->unreadable = true;
			error_at(ctx, pf->name, (uint32_t)ev.start_mark.line + 1,
				 (uint32_t)ev.start_mark.column + 1,
				 "file holds more than %u YAML nodes", TG_POLICY_NODES_MAX);
			ok = false;
		} else if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
			if (++depth > TG_POLICY_DEPTH_MAX) {
				ctx->unreadable = true;
				error_at(ctx, pf->name, (uint32_t)ev.start_mark.line + 1,
					 (uint32_t)ev.start_mark.column + 1,
					 "nesting is deeper than %u levels", TG_POLICY_DEPTH_MAX);
				ok = false;
			}
		} else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		yaml_event_delete(&ev);
		if (!ok || t == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&yp);
	return ok;
}

static void load_doc(struct pctx *ctx, struct pfile *pf, const char *buf, size_t len,
		     const char *dir)
{
	yaml_parser_t yp;
	yaml_node_t *root;
	const yaml_node_t *inc;

	ctx->cur = pf;
	if (!depth_ok(ctx, pf, buf, len))
		return;
	if (!yaml_parser_initialize(&yp)) {
		ctx->oom = true;
		return;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&yp, &pf->doc)) {
		parse_error(ctx, pf, &yp, buf, len);
		yaml_parser_delete(&yp);
		return;
	}
	pf->has_doc = true;
	if (yp.encoding != YAML_UTF8_ENCODING) {
		ctx->unreadable = true;
		error_at(ctx, pf->name, 0, 0, "policy must be UTF-8 text (this file is UTF-16)");
		yaml_parser_delete(&yp);
		return;
	}
	/* One document per file: a second one is almost always a stray
	 * '---' that would silently be ignored. */
	{
		yaml_document_t extra;

		if (yaml_parser_load(&yp, &extra)) {
			yaml_node_t *r2 = yaml_document_get_root_node(&extra);

			if (r2)
				error_at(ctx, pf->name, (uint32_t)r2->start_mark.line + 1,
					 (uint32_t)r2->start_mark.column + 1,
					 "a policy file holds one YAML document; found a second one here");
			yaml_document_delete(&extra);
		} else {
			parse_error(ctx, pf, &yp, buf, len);
		}
	}
	yaml_parser_delete(&yp);

	root = yaml_document_get_root_node(&pf->doc);
	if (!root) {
		/* An empty file is a valid, empty fragment. */
		return;
	}
	if (root->type != YAML_MAPPING_NODE) {
		char b[64];

		policy_ctx_error(ctx, root, "a policy must be a mapping of sections (server, listeners, tenants, ...), found %s",
			   node_kind(root, b, sizeof(b)));
		ctx->unreadable = true;	/* nothing else to say of it */
		return;
	}
	decode_mapping(ctx, &policy_root_schema, root, ctx->p);
	inc = policy_node_get(root, "include");
	if (inc)
		do_includes(ctx, pf, inc, dir);
}

/* ---- the policy object ------------------------------------------------------ */

static struct policy *policy_alloc(const char *path)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	atomic_init(&p->refs, 1);
	arena_init(&p->arena, 64u << 10, 0);
	p->path = arena_strdup(&p->arena, path);
	if (!p->path) {
		arena_fini(&p->arena);
		free(p);
		return NULL;
	}
	return p;
}

static void policy_free(struct policy *p)
{
	for (uint32_t i = 0; i < p->n_secrets; i++) {
		struct policy_secret *s = p->secrets[i];

		if (s->value) {
			OPENSSL_cleanse(s->value, s->len);
			free(s->value);
			s->value = NULL;
		}
	}
	arena_fini(&p->arena);
	free(p);
}

struct policy *policy_ref(struct policy *p)
{
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	return p;
}

void policy_unref(struct policy *p)
{
	if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
		policy_free(p);
}

static void ctx_fini(struct pctx *ctx)
{
	for (uint32_t i = 0; i < ctx->n_files; i++) {
		if (ctx->files[i]->has_doc)
			yaml_document_delete(&ctx->files[i]->doc);
		free(ctx->files[i]->real);
		free(ctx->files[i]);
	}
	free(ctx->defs);
	free(ctx->refs);
	pctx_current = NULL;
}

/* Root keys that must appear somewhere in the policy (any file). */
static void check_root_required(struct pctx *ctx)
{
	const struct pschema *s = &policy_root_schema;

	/* A file that could not be read says all there is to say. */
	if (ctx->unreadable)
		return;
	for (size_t i = 0; s->fields[i].key && i < TG_SCHEMA_FIELDS_MAX; i++) {
		if (s->fields[i].required && !ctx->top_seen[i].file)
			error_at(ctx, ctx->p->path, 0, 0,
				 "policy is missing required key '%s'", s->fields[i].key);
	}
}

static struct policy *load(const char *path, const char *buf, size_t len,
			   unsigned flags, struct policy_diags *diags)
{
	struct pctx ctx = { .diags = diags, .flags = flags };
	struct policy_diags local;
	struct policy *p;

	if (!diags) {
		policy_diags_init(&local);
		ctx.diags = &local;
	}
	p = policy_alloc(path);
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	ctx.p = p;
	pctx_current = &ctx;
	apply_defaults(&ctx, &policy_root_schema, p);

	if (buf) {
		struct pfile *pf = pfile_new(&ctx, path, NULL, NULL);

		if (len > TG_POLICY_FILE_MAX) {
			ctx.unreadable = true;
			error_at(&ctx, path, 0, 0, "policy is larger than %u bytes", TG_POLICY_FILE_MAX);
		}
		else if (pf)
			load_doc(&ctx, pf, buf, len, ".");
	} else {
		load_path(&ctx, path, path, NULL, NULL);
	}
	ctx.cur = NULL;
	/* Names and references are recorded only where they decoded cleanly,
	 * so these checks are sound even when other errors were found. */
	check_root_required(&ctx);
	/* With semantic routing on, the router's alias is a model name
	 * clients may ask for (and tenants may be allowed). */
	if (ctx.p->router.default_model && ctx.p->router.alias) {
		for (uint32_t i = 0; policy_root_schema.fields[i].key; i++) {
			if (!strcmp(policy_root_schema.fields[i].key, "router"))
				name_push(&ctx, &ctx.defs, &ctx.n_defs, &ctx.cap_defs, NS_MODEL,
					  ctx.p->router.alias, ctx.top_seen[i], NULL);
		}
	}
	check_names(&ctx);
	{
		if (policy_root_schema.validate && !ctx_errors(&ctx)) {
			ctx.cur = ctx.n_files ? ctx.files[0] : NULL;
			policy_root_schema.validate(&ctx, NULL, p);
		}
	}
	if (!ctx_errors(&ctx) && (flags & POLICY_LOAD_RESOLVE_SECRETS))
		policy_resolve_secrets(p, ctx.diags);

	p->files = arena_calloc(&p->arena, ctx.n_files ? ctx.n_files : 1, sizeof(*p->files));
	if (p->files) {
		for (uint32_t i = 0; i < ctx.n_files; i++)
			p->files[i] = ctx.files[i]->name;
		p->n_files = ctx.n_files;
	} else {
		ctx.oom = true;
	}
	if (ctx.oom && ctx.diags->n == 0)
		error_at(&ctx, path, 0, 0, "out of memory while loading the policy");
	ctx_fini(&ctx);

	if (ctx.diags->n || ctx.diags->truncated || ctx.oom) {
		if (!diags)
			policy_diags_fini(&local);
		policy_unref(p);
		errno = ctx.oom ? ENOMEM : EINVAL;
		return NULL;
	}
	if (!diags)
		policy_diags_fini(&local);
	return p;
}

struct policy *policy_load_file(const char *path, unsigned flags,
				struct policy_diags *diags)
{
	return load(path, NULL, 0, flags, diags);
}

struct policy *policy_load_buffer(const char *name, const char *buf, size_t len,
				  unsigned flags, struct policy_diags *diags)
{
	return load(name, buf, len, flags, diags);
}

/* ---- secrets ----------------------------------------------------------------- */

static int read_secret_file(const char *path, char **out, size_t *len)
{
	char *buf;
	ssize_t n;
	size_t off = 0;
	int fd, err;

	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	buf = malloc(TG_SECRET_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		n = read(fd, buf + off, TG_SECRET_MAX + 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out_free_buf;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > TG_SECRET_MAX) {
			err = -EFBIG;
			goto out_free_buf;
		}
	}
	close(fd);
	/* One trailing newline is what editors and `echo` leave behind. */
	if (off && buf[off - 1] == '\n')
		off--;
	if (off && buf[off - 1] == '\r')
		off--;
	buf[off] = '\0';
	*out = buf;
	*len = off;
	return 0;
out_free_buf:
	OPENSSL_cleanse(buf, TG_SECRET_MAX + 1);
	free(buf);
	close(fd);
	return err;
}

bool policy_provider_available(const struct policy_provider *pv)
{
	const struct policy_secret *sec[] = { pv->api_key, pv->access_key_id,
					      pv->secret_access_key };

	for (size_t i = 0; i < sizeof(sec) / sizeof(sec[0]); i++)
		if (sec[i] && !sec[i]->value)
			return false;
	return true;
}

int policy_resolve_secrets(struct policy *p, struct policy_diags *diags)
{
	struct pctx ctx = { .p = p, .diags = diags };
	int rc = 0;

	for (uint32_t i = 0; i < p->n_secrets; i++) {
		struct policy_secret *s = p->secrets[i];
		const struct policy_loc *l = &s->loc;
		char *v = NULL;
		size_t len = 0;
		int err;

		if (s->value)
			continue;
		if (s->kind == POLICY_SECRET_ENV) {
			const char *e = getenv(s->ref);

			if ((!e || !*e) && s->optional)
				continue;
			if (!e) {
				error_at(&ctx, l->file, l->line, l->col,
					 "secret ${env:%s}: environment variable %s is not set",
					 s->ref, s->ref);
				rc = -EINVAL;
				continue;
			}
			len = strlen(e);
			v = strdup(e);
			if (!v) {
				error_at(&ctx, l->file, l->line, l->col, "out of memory reading a secret");
				rc = -ENOMEM;
				continue;
			}
		} else {
			err = read_secret_file(s->ref, &v, &len);
			if (err == -ENOENT && s->optional)
				continue;
			if (err) {
				error_at(&ctx, l->file, l->line, l->col,
					 "secret ${file:%s}: cannot read it: %s", s->ref,
					 err == -EFBIG ? "larger than 8 KiB" :
					 err == -EINVAL ? "not a regular file" : strerror(-err));
				rc = -EINVAL;
				continue;
			}
		}
		if (len == 0 && s->optional) {
			free(v);
			continue;
		}
		if (len == 0) {
			error_at(&ctx, l->file, l->line, l->col, "secret %s%s%s is empty",
				 s->kind == POLICY_SECRET_ENV ? "${env:" : "${file:", s->ref, "}");
			OPENSSL_cleanse(v, len);
			free(v);
			rc = -EINVAL;
			continue;
		}
		s->value = v;
		s->len = len;
	}
	return rc;
}

/* ---- keys ----------------------------------------------------------------------- */

void policy_key_hash(const char *key, size_t len, char out[72])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[TG_SHA256_LEN];

	if (tg_sha256(key, len, md)) {
		/* Never a hash of nothing: an impossible value that matches no key. */
		snprintf(out, 72, "sha256:digest-unavailable");
		return;
	}
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[71] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
}

/* API keys are random and long, so an unsalted SHA-256 stands in for them
 * safely; what matters is comparing without leaking timing. */
bool policy_key_matches(const struct policy_key *k, const char *key, size_t len)
{
	unsigned char md[TG_SHA256_LEN];
	bool ok;

	if (tg_sha256(key, len, md))
		return false;
	ok = CRYPTO_memcmp(md, k->sha256, sizeof(md)) == 0;
	OPENSSL_cleanse(md, sizeof(md));
	return ok;
}

/* ---- lookups -------------------------------------------------------------------- */

#define DEFINE_FIND(fn, type, list, count)					\
	const struct type *fn(const struct policy *p, const char *name)	\
	{									\
		for (uint32_t i = 0; i < p->count; i++) {			\
			if (!strcmp(p->list[i].name, name))			\
				return &p->list[i];				\
		}								\
		return NULL;							\
	}

DEFINE_FIND(policy_tenant_find, policy_tenant, tenants, n_tenants)
DEFINE_FIND(policy_provider_find, policy_provider, providers, n_providers)
DEFINE_FIND(policy_model_find, policy_model, models, n_models)
DEFINE_FIND(policy_upstream_find, policy_upstream, upstreams, n_upstreams)
DEFINE_FIND(policy_guard_find, policy_guard, guards, n_guards)

int policy_schema_self_check(void)
{
	struct pctx ctx = { 0 };
	struct policy *p = policy_alloc("<schema>");
	int bad = 0;

	if (!p)
		return -ENOMEM;
	ctx.p = p;
	apply_defaults(&ctx, &policy_root_schema, p);
	/* Defaults of objects that only appear inside lists or optionally. */
	{
		const struct pschema *stack[64];
		size_t sp = 0;

		stack[sp++] = &policy_root_schema;
		while (sp) {
			const struct pschema *s = stack[--sp];

			for (const struct pfield *f = s->fields; f->key; f++) {
				const struct pschema *c = f->schema;

				if (!c && f->elem)
					c = f->elem->schema;
				if (c && sp < 64) {
					void *obj = arena_zalloc(&p->arena, c->size);

					if (obj)
						apply_defaults(&ctx, c, obj);
					stack[sp++] = c;
				}
			}
		}
	}
	bad = ctx.bad_defaults;
	policy_unref(p);
	return bad;
}
