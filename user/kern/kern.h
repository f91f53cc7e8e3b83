/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's only libbpf user: the BPF programs and maps of
 * include/tollgate/abi.h, seen from user space. Nothing outside user/kern/
 * includes a libbpf header.
 */
#ifndef TOLLGATE_KERN_H
#define TOLLGATE_KERN_H

/*
 * Routes libbpf's messages into the log: libbpf's warnings, infos and
 * debug messages become log_warn/info/debug lines, one log line per line of
 * the message (a verifier log is many), each starting "libbpf: ". Call
 * before any other libbpf use; process-wide, idempotent.
 */
void kern_log_init(void);

/* The name of a verdict reason (enum tg_reason), as in metrics and
 * `tollctl stats`: "pass", "malformed", ... "unknown" when out of range.
 * Static storage, never NULL. */
const char *kern_reason_name(unsigned int reason);

#endif /* TOLLGATE_KERN_H */
