// SPDX-License-Identifier: Apache-2.0
/*
 * docs/policy-reference.md, generated from the schema tables so the
 * reference always says what the loader does (`make docs`; the tests fail
 * when the committed file is stale).
 */
#include <stdio.h>
#include <string.h>

#include "policy/scalar.h"
#include "policy/schema.h"

#define MAX_SCHEMAS 96

struct seen {
	const struct pschema *s[MAX_SCHEMAS];
	char path[MAX_SCHEMAS][128];
	unsigned n;
};

static const char *seen_path(const struct seen *v, const struct pschema *s)
{
	for (unsigned i = 0; i < v->n; i++) {
		if (v->s[i] == s)
			return v->path[i];
	}
	return NULL;
}

void policy_format_range(const struct pfield *f, char *lo, char *hi, size_t len)
{
	switch (f->type) {
	case PT_DURATION:
		policy_format_duration((uint64_t)f->min, lo, len);
		policy_format_duration((uint64_t)f->max, hi, len);
		break;
	case PT_SIZE:
		policy_format_size((uint64_t)f->min, lo, len);
		policy_format_size((uint64_t)f->max, hi, len);
		break;
	case PT_RATE:
		snprintf(lo, len, "%.15g/s", f->min);
		snprintf(hi, len, "%.15g/s", f->max);
		break;
	default:
		snprintf(lo, len, "%.15g", f->min);
		snprintf(hi, len, "%.15g", f->max);
	}
}

static void names_list(FILE *out, const char *const *names, const char *sep)
{
	for (unsigned i = 0; names[i]; i++)
		fprintf(out, "%s`%s`", i ? sep : "", names[i]);
}

static void type_text(FILE *out, const struct pfield *f, const struct seen *v,
		      const char *child_path)
{
	const struct pfield *e = f->elem;

	switch (f->type) {
	case PT_STR: fputs("string", out); break;
	case PT_TEXT: fputs("text", out); break;
	case PT_NAME: fputs("name", out); break;
	case PT_PATH: fputs("file path", out); break;
	case PT_URLPATH: fputs("HTTP path", out); break;
	case PT_BOOL: fputs("bool", out); break;
	case PT_U32: case PT_U64: fputs("integer", out); break;
	case PT_F64: fputs("number", out); break;
	case PT_DURATION: fputs("duration", out); break;
	case PT_SIZE: fputs("size", out); break;
	case PT_RATE: fputs("rate", out); break;
	case PT_ENUM: fputs("one of ", out); names_list(out, f->names, ", "); break;
	case PT_FLAGS: fputs("list of ", out); names_list(out, f->names, ", "); break;
	case PT_CIDR: fputs("CIDR", out); break;
	case PT_SOCKADDR: fputs("address:port", out); break;
	case PT_HOSTPORT: fputs("host:port", out); break;
	case PT_URL: fprintf(out, "URL (%s)", f->schemes); break;
	case PT_SECRET: fputs("secret reference", out); break;
	case PT_KEYHASH: fputs("key hash", out); break;
	case PT_JSON: fputs("any (kept as JSON)", out); break;
	case PT_OBJECT:
	case PT_OBJECT_OPT: {
		const char *p = seen_path(v, f->schema);

		fprintf(out, "mapping, see `%s`", p ? p : child_path);
		break;
	}
	case PT_LIST:
		if (e->type == PT_OBJECT) {
			const char *p = seen_path(v, e->schema);

			fprintf(out, "list of mappings, see `%s`", p ? p : child_path);
		} else {
			struct pfield tmp = *e;

			fputs("list of ", out);
			type_text(out, &tmp, v, child_path);
		}
		if (e->refs)
			fputs(" (names)", out);
		break;
	}
}

static void escape_cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

static void section(FILE *out, const struct pschema *s, const char *path, struct seen *v);

static void child_path(char *buf, size_t len, const char *path, const struct pfield *f)
{
	bool list = f->type == PT_LIST;

	if (!strcmp(path, "(top level)"))
		snprintf(buf, len, "%s%s", f->key, list ? "[]" : "");
	else
		snprintf(buf, len, "%s.%s%s", path, f->key, list ? "[]" : "");
}

static void section(FILE *out, const struct pschema *s, const char *path, struct seen *v)
{
	if (v->n < MAX_SCHEMAS) {
		v->s[v->n] = s;
		snprintf(v->path[v->n], sizeof(v->path[0]), "%s", path);
		v->n++;
	}
	fprintf(out, "## `%s`\n\n%s\n\n", path, s->doc ? s->doc : "");
	fputs("| key | type | default | range | meaning |\n", out);
	fputs("|---|---|---|---|---|\n", out);
	for (const struct pfield *f = s->fields; f->key; f++) {
		char cp[128], lo[32], hi[32];

		child_path(cp, sizeof(cp), path, f);
		fprintf(out, "| `%s` | ", f->key);
		type_text(out, f, v, cp);
		fputs(" | ", out);
		if (f->required)
			fputs("**required**", out);
		else if (f->def && f->type == PT_FLAGS)
			fprintf(out, "`[%s]`", f->def);
		else if (f->def && f->type == PT_STR && !*f->def)
			fputs("`\"\"`", out);
		else if (f->def)
			fprintf(out, "`%s`", f->def);
		else if (f->type == PT_OBJECT)
			fputs("(defaults below)", out);
		else if (f->type == PT_LIST)
			fputs("`[]`", out);
		else
			fputs("unset", out);
		fputs(" | ", out);
		if (f->ranged) {
			policy_format_range(f, lo, hi, sizeof(lo));
			if (f->min == f->max)
				fprintf(out, "%s", lo);
			else
				fprintf(out, "%s – %s", lo, hi);
		} else if (f->type == PT_LIST) {
			fprintf(out, "≤ %u entries", f->max_items);
		}
		fputs(" | ", out);
		escape_cell(out, f->doc ? f->doc : "");
		if (f->refs || (f->elem && f->elem->refs)) {
			static const char *const what[NS__COUNT] = {
				[NS_LISTENER] = "listener", [NS_UPSTREAM] = "upstream",
				[NS_TENANT] = "tenant", [NS_KEY] = "key",
				[NS_PROVIDER] = "provider", [NS_MODEL] = "model",
				[NS_SEMROUTE] = "semantic route", [NS_GUARD] = "guard",
				[NS_MCP] = "MCP server", [NS_AGENT] = "agent",
			};
			enum pns ns = f->refs ? f->refs : f->elem->refs;

			fprintf(out, " Must name a defined %s.", what[ns]);
		}
		fputs(" |\n", out);
	}
	fputs("\n", out);
	for (const struct pfield *f = s->fields; f->key; f++) {
		const struct pschema *c = f->schema;
		char cp[128];

		if (!c && f->elem)
			c = f->elem->schema;
		if (!c || seen_path(v, c))
			continue;
		child_path(cp, sizeof(cp), path, f);
		section(out, c, cp, v);
	}
}

void policy_schema_markdown(FILE *out)
{
	struct seen v = { .n = 0 };

	fputs("<!-- Generated by `tollctl policy schema` from user/policy/schema.c; "
	      "edit the schema, then run `make docs`. -->\n"
	      "# Policy reference\n\n"
	      "Every key of the policy language, its type, default and range. "
	      "See [policy.md](policy.md) for the guide and examples.\n\n"
	      "Types: *duration* is a whole number and a unit (`500ms`, `30s`, `5m`, `1h`, `7d`); "
	      "*size* is bytes, optionally with `B`, `KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB`; "
	      "*rate* is a count per unit (`100/s`, `6000/min`, `10/h`, `1000/day`); "
	      "*name* is 1–64 letters, digits, `_ . : / -`, starting with a letter or digit; "
	      "*secret reference* is `${env:NAME}` or `${file:/absolute/path}` (literal secrets are refused); "
	      "*key hash* is `sha256:` and 64 hex digits; *CIDR* is an IPv4 or IPv6 prefix with no host bits set. "
	      "Integers and numbers are written plain (a quoted `\"5\"` is a string). "
	      "Unknown keys, duplicate keys and duplicate names are errors.\n\n", out);
	section(out, &policy_root_schema, "(top level)", &v);
}
