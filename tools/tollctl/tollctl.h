/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tollctl: nouns, then verbs, from tables (bpftool style).
 *
 *   tollctl [OPTIONS] NOUN VERB [ARGS...]
 *
 * A command is a function called like main(): argv[0] is the word that
 * selected it, argv[1..] its arguments. It returns the process exit code.
 * Output goes to stdout; in JSON mode (-j, -p) through ctl_jw, and errors
 * too, as {"error": "..."}, so a script reads one JSON document whatever
 * happens. In plain mode errors go to stderr.
 *
 * Adding a noun: a file tools/tollctl/<noun>.c with a ctl_do_<noun>()
 * that dispatches its verbs with ctl_cmd_select(), its declaration here,
 * and one line in the noun table in main.c.
 */
#ifndef TOLLGATE_TOLLCTL_H
#define TOLLGATE_TOLLCTL_H

#include <stdbool.h>

#include "core/jsonw.h"

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ERROR = 1,	/* the command ran and failed */
	CTL_EXIT_USAGE = 2,	/* the command line was wrong */
};

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
};

/* Global options, set by main() before any command runs. */
extern bool ctl_json;		/* -j, or -p */
extern bool ctl_pretty;		/* -p */
/* The writer on stdout when ctl_json, else NULL. */
extern struct jsonw *ctl_jw;

/*
 * Runs the command named by argv[0] from `cmds` (ended by a NULL name),
 * with argc/argv starting at that word. An exact name wins; otherwise a
 * unique prefix selects; an ambiguous or unknown word is a usage error.
 * With no word at all, runs the table's "help". `parent` names the noun
 * whose verbs `cmds` holds, NULL for the table of nouns; it is used in
 * messages only.
 */
int ctl_cmd_select(const struct cmd *cmds, int argc, char **argv,
		   const char *parent);

/* Prints the message, printf-style: to stderr as "tollctl: message" in
 * plain mode, as a JSON error on stdout in JSON mode. Return
 * CTL_EXIT_ERROR and CTL_EXIT_USAGE, so commands can `return ctl_error(...)`. */
int ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* After getopt_long() (optstring starting with ':', opterr 0) returned '?'
 * or ':', says what was wrong with the option it stopped at:
 * "unknown option '-x'", "option '--name' needs an argument". The text is
 * valid until the next call. */
const char *ctl_opt_problem(int opt, char **argv);

/* Nouns. */
int ctl_do_audit(int argc, char **argv);
int ctl_do_key(int argc, char **argv);
int ctl_do_policy(int argc, char **argv);
int ctl_do_route(int argc, char **argv);
int ctl_do_guard(int argc, char **argv);
/* The datapath on interfaces (attach.c). */
int ctl_do_attach(int argc, char **argv);
int ctl_do_detach(int argc, char **argv);
int ctl_do_status(int argc, char **argv);
/* Loads a policy for a kernel command, reporting its errors through
 * ctl_error; NULL when it is invalid. */
struct policy;
struct policy *ctl_policy_load(const char *path);
/* --pin-dir `opt`, else $TOLLGATE_PIN_DIR, else the policy's
 * kernel.pin_path (p may be NULL), else TG_PIN_DIR. */
const char *ctl_pin_dir(const char *opt, const struct policy *p);
/* The kernel datapath's maps: inspector and exporter. */
int ctl_do_events(int argc, char **argv);
int ctl_do_export(int argc, char **argv);
int ctl_do_flows(int argc, char **argv);
int ctl_do_penalty(int argc, char **argv);
int ctl_do_stats(int argc, char **argv);
int ctl_do_tenant(int argc, char **argv);
int ctl_do_tenants(int argc, char **argv);
int ctl_do_top(int argc, char **argv);

#endif /* TOLLGATE_TOLLCTL_H */
