/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A streaming JSON writer to a FILE*, for tools and off-hot-path output
 * (tollctl -j, reports). Values are written as they are given; nothing is
 * buffered beyond stdio, so output of any size takes constant memory.
 *
 *   jsonw_start_object(w);
 *   jsonw_string_field(w, "file", path);
 *   jsonw_name(w, "errors");
 *   jsonw_start_array(w);
 *   ...
 *   jsonw_end_array(w);
 *   jsonw_end_object(w);
 *
 * Commas are placed automatically. Every top-level value is followed by a
 * newline, so a run of top-level values is JSON Lines.
 *
 * Compact output has no spaces: {"a":1,"b":[true,null]}. Pretty output
 * indents by two spaces per level and puts one member or element per line;
 * empty containers stay "{}" and "[]".
 *
 * Strings: '"' and '\\' are escaped, and so is every byte below 0x20 (\b \f
 * \n \r \t in their short forms, the rest as \u00XX) and 0x7f (\u007f).
 * Bytes from 0x80 up are copied when they form valid UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF); each maximal
 * invalid subpart is written as \ufffd, so the output is always valid JSON
 * whatever bytes come in.
 *
 * Numbers: signed and unsigned 64-bit integers exactly; doubles in the
 * shortest form that reads back to the same value, with ".0" added to
 * integral values so they stay doubles for typed readers. NaN and
 * infinities have no JSON form and are written as null. Doubles are
 * formatted with printf, so the C locale's decimal point is assumed.
 *
 * Misuse (a value in an object without a name, a name in an array, an end
 * that does not match its start, nesting past JSONW_DEPTH_MAX) makes the
 * writer fail: it writes nothing more and jsonw_error() returns -EINVAL.
 */
#ifndef TOLLGATE_JSONW_H
#define TOLLGATE_JSONW_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tollgate/limits.h"

/* Containers open at once. Output shape is chosen by the program, not by
 * input, so a small fixed bound serves every caller. */
#define JSONW_DEPTH_MAX		TG_JSON_DEPTH_MAX

struct jsonw;

/* Borrows `out`: the caller closes it after jsonw_free(). Returns NULL with
 * errno ENOMEM on allocation failure. */
struct jsonw *jsonw_new(FILE *out);
/* Does not flush or close the stream. NULL is a no-op. */
void jsonw_free(struct jsonw *w);

/* Off by default. Takes effect from the next value written. */
void jsonw_pretty(struct jsonw *w, bool on);

/* 0; -EINVAL after misuse; -ENOMEM when a formatted string could not be
 * allocated; -EIO when the stream has failed. */
int jsonw_error(const struct jsonw *w);
/* Flushes the stream. Returns 0, the flush's -errno, or jsonw_error(). */
int jsonw_flush(struct jsonw *w);

/* Containers open now: 0 between top-level values. */
unsigned int jsonw_depth(const struct jsonw *w);
/* True when the innermost open container is an object. */
bool jsonw_is_in_object(const struct jsonw *w);

void jsonw_start_object(struct jsonw *w);
void jsonw_end_object(struct jsonw *w);
void jsonw_start_array(struct jsonw *w);
void jsonw_end_array(struct jsonw *w);

/* The name of the next member; only inside an object, once per value. */
void jsonw_name(struct jsonw *w, const char *name);

/* NUL-terminated. NULL is written as null. */
void jsonw_string(struct jsonw *w, const char *s);
/* `len` bytes, NUL bytes included (written as \u0000). */
void jsonw_string_len(struct jsonw *w, const char *s, size_t len);
/* A string value formatted with printf. */
void jsonw_stringf(struct jsonw *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void jsonw_vstringf(struct jsonw *w, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_double(struct jsonw *w, double v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/* jsonw_name() followed by the value. */
void jsonw_string_field(struct jsonw *w, const char *name, const char *s);
void jsonw_int_field(struct jsonw *w, const char *name, int64_t v);
void jsonw_uint_field(struct jsonw *w, const char *name, uint64_t v);
void jsonw_double_field(struct jsonw *w, const char *name, double v);
void jsonw_bool_field(struct jsonw *w, const char *name, bool v);
void jsonw_null_field(struct jsonw *w, const char *name);

#endif /* TOLLGATE_JSONW_H */
