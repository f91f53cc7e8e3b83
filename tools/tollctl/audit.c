// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl audit: check the audit log's hash chain offline.
 *
 *   tollctl audit verify FILE...
 *
 * Files are one chain, given in order (rotated ones first: a shell glob
 * of FILE.* then FILE sorts them, their suffixes being UTC timestamps).
 * The chain rule is in docs/audit.md and user/obs/audit.h.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/audit.h"
#include "tollctl.h"

static int audit_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl audit verify FILE...\n"
	       "       tollctl audit help\n"
	       "\n"
	       "  verify  recompute the hash chain of the audit log FILE..., given in\n"
	       "          order (rotated files first: FILE.* FILE). Every line must be\n"
	       "          JSON with \"seq\" one more than the line before's and \"prev\" the\n"
	       "          hex SHA-256 of the line before (without its newline); the first\n"
	       "          line chains to the genesis (SHA-256 of \"" AUDIT_GENESIS "\") with\n"
	       "          seq 1, or names the rotated file it follows in \"prev_file\" when\n"
	       "          older files are not given. Prints \"ok: N lines\" and the last\n"
	       "          line's seq and hash (keep it elsewhere: it anchors the end), or\n"
	       "          the first bad line as FILE:LINE: hash mismatch | sequence gap |\n"
	       "          not JSON | not an audit line | cut line, and exits 1.\n"
	       "          With -j: {\"ok\", \"lines\", \"first_seq\", \"last_seq\", \"last_hash\",\n"
	       "          \"starts_after\"} or {\"ok\": false, \"lines\", \"file\", \"line\",\n"
	       "          \"error\", \"detail\"}.\n");
	return CTL_EXIT_OK;
}

/* Where a line of the chain is, for messages. */
struct pos {
	const char *file;
	unsigned long line;
};

static void verify_report(const struct audit_verify *v, enum audit_bad bad,
			  const struct pos *at)
{
	if (!ctl_jw) {
		if (bad) {
			printf("%s:%lu: %s: %s\n", at->file, at->line, audit_bad_name(bad),
			       v->detail);
			return;
		}
		printf("ok: %" PRIu64 " lines\n", v->lines);
		if (v->lines)
			printf("last: seq %" PRIu64 " sha256 %s\n", v->seq, v->hash);
		if (v->has_start_file)
			printf("starts after: %s (not given)\n", v->start_file);
		return;
	}
	jsonw_start_object(ctl_jw);
	jsonw_bool_field(ctl_jw, "ok", !bad);
	jsonw_uint_field(ctl_jw, "lines", v->lines);
	if (!bad) {
		if (v->lines) {
			jsonw_uint_field(ctl_jw, "first_seq", v->first_seq);
			jsonw_uint_field(ctl_jw, "last_seq", v->seq);
			jsonw_string_field(ctl_jw, "last_hash", v->hash);
		}
		jsonw_string_field(ctl_jw, "starts_after",
				   v->has_start_file ? v->start_file : NULL);
	} else {
		jsonw_string_field(ctl_jw, "file", at->file);
		jsonw_uint_field(ctl_jw, "line", at->line);
		jsonw_string_field(ctl_jw, "error", audit_bad_name(bad));
		jsonw_string_field(ctl_jw, "detail", v->detail);
	}
	jsonw_end_object(ctl_jw);
}

static int audit_verify_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 },
	};
	enum audit_bad bad = AUDIT_OK;
	struct audit_verify v;
	struct pos at = { 0 }, last = { 0 };
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int opt, i, ret;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return audit_help(0, NULL);
		default:
			return ctl_usage_error("audit verify: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind >= argc)
		return ctl_usage_error("audit verify: no file given");
	if (audit_verify_init(&v))
		return ctl_error("audit verify: SHA-256 is not available");

	for (i = optind; i < argc && !bad; i++) {
		FILE *f = fopen(argv[i], "r");

		if (!f) {
			ret = ctl_error("audit verify: %s: %s", argv[i], strerror(errno));
			goto out_free;
		}
		at.file = argv[i];
		at.line = 0;
		while (!bad && (n = getline(&buf, &cap, f)) >= 0) {
			at.line++;
			bad = audit_verify_line(&v, buf, (size_t)n);
			if (!bad)
				last = at;
		}
		if (ferror(f)) {
			ret = ctl_error("audit verify: %s: read error", argv[i]);
			fclose(f);
			goto out_free;
		}
		fclose(f);
	}
	verify_report(&v, bad, bad && v.blame_prev ? &last : &at);
	ret = bad ? CTL_EXIT_ERROR : CTL_EXIT_OK;
out_free:
	free(buf);
	return ret;
}

int ctl_do_audit(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "help",	audit_help },
		{ "verify",	audit_verify_cmd },
		{ NULL,		NULL },
	};

	return ctl_cmd_select(cmds, argc - 1, argv + 1, "audit");
}
