// SPDX-License-Identifier: Apache-2.0
#include "core/jsonw.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct jsonw_level {
	bool is_object;
	uint32_t count;		/* members or elements begun */
};

struct jsonw {
	FILE *out;
	bool pretty;
	bool has_name;		/* a member's name is out, its value is not */
	int err;		/* sticky: 0, -EINVAL or -ENOMEM */
	unsigned int depth;
	struct jsonw_level stack[JSONW_DEPTH_MAX];
};

struct jsonw *jsonw_new(FILE *out)
{
	struct jsonw *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->out = out;
	return w;
}

void jsonw_free(struct jsonw *w)
{
	free(w);
}

void jsonw_pretty(struct jsonw *w, bool on)
{
	w->pretty = on;
}

int jsonw_error(const struct jsonw *w)
{
	if (w->err)
		return w->err;
	if (ferror(w->out))
		return -EIO;
	return 0;
}

int jsonw_flush(struct jsonw *w)
{
	if (fflush(w->out))
		return -errno;
	return jsonw_error(w);
}

unsigned int jsonw_depth(const struct jsonw *w)
{
	return w->depth;
}

bool jsonw_is_in_object(const struct jsonw *w)
{
	return w->depth && w->stack[w->depth - 1].is_object;
}

static void jsonw_fail(struct jsonw *w)
{
	w->err = -EINVAL;
}

static void jsonw_indent(struct jsonw *w)
{
	unsigned int i;

	putc('\n', w->out);
	for (i = 0; i < w->depth; i++)
		fputs("  ", w->out);
}

/* Comma and, when pretty, the line break before a member or element. */
static void jsonw_separate(struct jsonw *w)
{
	struct jsonw_level *l = &w->stack[w->depth - 1];

	if (l->count++)
		putc(',', w->out);
	if (w->pretty)
		jsonw_indent(w);
}

/* Called before any value; false when nothing may be written. */
static bool jsonw_begin_value(struct jsonw *w)
{
	if (w->err)
		return false;
	if (!w->depth)
		return true;
	if (w->stack[w->depth - 1].is_object) {
		/* jsonw_name() has written the separator already. */
		if (!w->has_name) {
			jsonw_fail(w);
			return false;
		}
		w->has_name = false;
		return true;
	}
	jsonw_separate(w);
	return true;
}

static void jsonw_end_value(struct jsonw *w)
{
	if (!w->depth)
		putc('\n', w->out);
}

static void jsonw_start(struct jsonw *w, bool is_object)
{
	if (!jsonw_begin_value(w))
		return;
	if (w->depth == JSONW_DEPTH_MAX) {
		jsonw_fail(w);
		return;
	}
	w->stack[w->depth].is_object = is_object;
	w->stack[w->depth].count = 0;
	w->depth++;
	putc(is_object ? '{' : '[', w->out);
}

static void jsonw_end(struct jsonw *w, bool is_object)
{
	struct jsonw_level *l;

	if (w->err)
		return;
	if (!w->depth || w->has_name) {
		jsonw_fail(w);
		return;
	}
	l = &w->stack[w->depth - 1];
	if (l->is_object != is_object) {
		jsonw_fail(w);
		return;
	}
	w->depth--;
	if (l->count && w->pretty)
		jsonw_indent(w);
	putc(is_object ? '}' : ']', w->out);
	jsonw_end_value(w);
}

void jsonw_start_object(struct jsonw *w)
{
	jsonw_start(w, true);
}

void jsonw_end_object(struct jsonw *w)
{
	jsonw_end(w, true);
}

void jsonw_start_array(struct jsonw *w)
{
	jsonw_start(w, false);
}

void jsonw_end_array(struct jsonw *w)
{
	jsonw_end(w, false);
}

/*
 * Length of the UTF-8 sequence at `s` (RFC 3629 §4; Unicode 15 table 3-7).
 * Sets `*valid` when it is a well-formed character. Otherwise the return
 * value is the length of the maximal subpart of an ill-formed sequence
 * (Unicode §3.9, "U+FFFD substitution of maximal subparts"): at least 1,
 * and never past a byte that could start a new sequence. Reads no further
 * than `len` bytes.
 */
static size_t jsonw_utf8_seq(const unsigned char *s, size_t len, bool *valid)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	*valid = false;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong below U+0800 */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates U+D800..U+DFFF */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong below U+10000 */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else {
		/* A stray continuation byte, C0/C1 (overlong ASCII) or
		 * F5..FF (beyond Unicode). */
		return 1;
	}
	for (i = 1; i < need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi)
			return i;
		lo = 0x80;
		hi = 0xbf;
	}
	*valid = true;
	return need;
}

static void jsonw_write_escape(FILE *out, unsigned char c)
{
	switch (c) {
	case '"':
		fputs("\\\"", out);
		break;
	case '\\':
		fputs("\\\\", out);
		break;
	case '\b':
		fputs("\\b", out);
		break;
	case '\f':
		fputs("\\f", out);
		break;
	case '\n':
		fputs("\\n", out);
		break;
	case '\r':
		fputs("\\r", out);
		break;
	case '\t':
		fputs("\\t", out);
		break;
	default:
		fprintf(out, "\\u%04x", c);
		break;
	}
}

/* Writes `len` bytes as a JSON string (RFC 8259 §7). Runs of bytes that
 * need no escaping go out in one fwrite. */
static void jsonw_write_string(struct jsonw *w, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	FILE *out = w->out;
	size_t i = 0, run = 0;

	putc('"', out);
	while (i < len) {
		unsigned char c = s[i];
		bool valid;
		size_t n;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80) {
			n = jsonw_utf8_seq(s + i, len - i, &valid);
			if (valid) {
				i += n;
				continue;
			}
		} else {
			n = 1;
		}
		fwrite(s + run, 1, i - run, out);
		if (c >= 0x80)
			fputs("\\ufffd", out);
		else
			jsonw_write_escape(out, c);
		i += n;
		run = i;
	}
	fwrite(s + run, 1, i - run, out);
	putc('"', out);
}

void jsonw_name(struct jsonw *w, const char *name)
{
	if (w->err)
		return;
	if (!jsonw_is_in_object(w) || w->has_name) {
		jsonw_fail(w);
		return;
	}
	jsonw_separate(w);
	jsonw_write_string(w, name, strlen(name));
	fputs(w->pretty ? ": " : ":", w->out);
	w->has_name = true;
}

void jsonw_string_len(struct jsonw *w, const char *s, size_t len)
{
	if (!jsonw_begin_value(w))
		return;
	jsonw_write_string(w, s, len);
	jsonw_end_value(w);
}

void jsonw_string(struct jsonw *w, const char *s)
{
	if (!s) {
		jsonw_null(w);
		return;
	}
	jsonw_string_len(w, s, strlen(s));
}

void jsonw_vstringf(struct jsonw *w, const char *fmt, va_list ap)
{
	char *s;
	int n;

	if (w->err)
		return;
	n = vasprintf(&s, fmt, ap);
	if (n < 0) {
		w->err = -ENOMEM;
		return;
	}
	jsonw_string_len(w, s, (size_t)n);
	free(s);
}

void jsonw_stringf(struct jsonw *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	jsonw_vstringf(w, fmt, ap);
	va_end(ap);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	if (!jsonw_begin_value(w))
		return;
	fprintf(w->out, "%lld", (long long)v);
	jsonw_end_value(w);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	if (!jsonw_begin_value(w))
		return;
	fprintf(w->out, "%llu", (unsigned long long)v);
	jsonw_end_value(w);
}

/* The fewest significant digits that read back to `v`: %.17g always
 * does, but writes 0.1 as 0.10000000000000001. */
void jsonw_double(struct jsonw *w, double v)
{
	char buf[40];
	int prec;

	if (!isfinite(v)) {
		jsonw_null(w);
		return;
	}
	if (!jsonw_begin_value(w))
		return;
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (prec == 17)
		snprintf(buf, sizeof(buf), "%.17g", v);
	fputs(buf, w->out);
	if (!strpbrk(buf, ".e"))
		fputs(".0", w->out);
	jsonw_end_value(w);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	if (!jsonw_begin_value(w))
		return;
	fputs(v ? "true" : "false", w->out);
	jsonw_end_value(w);
}

void jsonw_null(struct jsonw *w)
{
	if (!jsonw_begin_value(w))
		return;
	fputs("null", w->out);
	jsonw_end_value(w);
}

void jsonw_string_field(struct jsonw *w, const char *name, const char *s)
{
	jsonw_name(w, name);
	jsonw_string(w, s);
}

void jsonw_int_field(struct jsonw *w, const char *name, int64_t v)
{
	jsonw_name(w, name);
	jsonw_int(w, v);
}

void jsonw_uint_field(struct jsonw *w, const char *name, uint64_t v)
{
	jsonw_name(w, name);
	jsonw_uint(w, v);
}

void jsonw_double_field(struct jsonw *w, const char *name, double v)
{
	jsonw_name(w, name);
	jsonw_double(w, v);
}

void jsonw_bool_field(struct jsonw *w, const char *name, bool v)
{
	jsonw_name(w, name);
	jsonw_bool(w, v);
}

void jsonw_null_field(struct jsonw *w, const char *name)
{
	jsonw_name(w, name);
	jsonw_null(w);
}
