// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl events: follows the tg_events ring buffer (sampled drops and
 * limiter trips) until interrupted, --count events or --timeout.
 *
 * A ring buffer has one consumer position: while tollctl follows it, the
 * daemon (if it reads events too) sees only what tollctl did not take.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>

#include "inspect.h"
#include "kern/kern.h"
#include "kern/maps.h"
#include "tollctl.h"

static volatile sig_atomic_t events_stop;

struct events_ctx {
	const struct ctl_inspect *ci;
	uint64_t seen;
	uint64_t count;		/* 0: no limit */
};

static int events_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl events [--count N] [--timeout S] [--pin-dir DIR]\n"
	       "                      [-c POLICY]\n"
	       "       tollctl events help\n"
	       "\n"
	       "  Follows the kernel's event ring buffer (sampled drops, limiter\n"
	       "  trips) until interrupted.\n"
	       "  --count N    stop after N events\n"
	       "  --timeout S  stop after S (90, 90s, 500ms, 5m) even without events\n"
	       CTL_INSPECT_USAGE
	       "  With -j: one JSON object per event and line: {\"ts_ns\", \"type\",\n"
	       "  \"reason\", \"hook\", \"tenant_id\", \"tenant\", \"ifindex\", \"pkt_len\",\n"
	       "  \"src\", \"sport\", \"dst\", \"dport\", \"proto\", \"family\"}.\n");
	return CTL_EXIT_OK;
}

static void events_on_signal(int sig)
{
	(void)sig;
	events_stop = 1;
}

static const char *events_type_name(unsigned int type)
{
	switch (type) {
	case TG_EVENT_DROP:
		return "drop";
	case TG_EVENT_LIMIT:
		return "limit";
	default:
		return "unknown";
	}
}

static int events_on_event(void *vctx, const struct tg_event *ev)
{
	struct events_ctx *ctx = vctx;
	struct kern_flow_entry e = { .key = ev->key };
	char a[64], p[8], ep[200], t[32];

	/* Stops the poll. libbpf has already consumed this record, so with
	 * --count one record past the count is taken from the ring unseen. */
	if (ctx->count && ctx->seen >= ctx->count)
		return -ECANCELED;
	ctx->seen++;
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_uint_field(ctl_jw, "ts_ns", ev->ts_ns);
		jsonw_string_field(ctl_jw, "type", events_type_name(ev->type));
		jsonw_string_field(ctl_jw, "reason", kern_reason_name(ev->reason));
		jsonw_string_field(ctl_jw, "hook", kern_hook_name(ev->hook));
		ctl_json_tenant(ctx->ci, ev->tenant_id);
		jsonw_uint_field(ctl_jw, "ifindex", ev->ifindex);
		jsonw_uint_field(ctl_jw, "pkt_len", ev->pkt_len);
		jsonw_string_field(ctl_jw, "src", kern_addr_format(ev->key.family,
					ev->key.saddr, a, sizeof(a)));
		jsonw_uint_field(ctl_jw, "sport", ntohs(ev->key.sport));
		jsonw_string_field(ctl_jw, "dst", kern_addr_format(ev->key.family,
					ev->key.daddr, a, sizeof(a)));
		jsonw_uint_field(ctl_jw, "dport", ntohs(ev->key.dport));
		jsonw_string_field(ctl_jw, "proto", ctl_proto_name(ev->key.proto, p,
								   sizeof(p)));
		jsonw_uint_field(ctl_jw, "family", ev->key.family);
		jsonw_end_object(ctl_jw);
		jsonw_flush(ctl_jw);
	} else {
		printf("%" PRIu64 ".%09" PRIu64 " %-5s %-16s %-11s tenant %s if %u len %u %s\n",
		       (uint64_t)(ev->ts_ns / 1000000000ull),
		       (uint64_t)(ev->ts_ns % 1000000000ull),
		       events_type_name(ev->type), kern_reason_name(ev->reason),
		       kern_hook_name(ev->hook),
		       ctl_tenant_label(ctx->ci, ev->tenant_id, t, sizeof(t)),
		       ev->ifindex, ev->pkt_len,
		       ctl_flow_endpoints(&e, ep, sizeof(ep)));
		fflush(stdout);
	}
	return 0;
}

int ctl_do_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count",	required_argument, NULL, 'n' },
		{ "timeout",	required_argument, NULL, 't' },
		{ "help",	no_argument,	   NULL, 'h' },
		CTL_INSPECT_LONGOPTS,
		{ NULL,		0,		   NULL, 0 },
	};
	struct ctl_inspect ci = { 0 };
	struct events_ctx ctx = { .ci = &ci };
	struct kern_events *ev = NULL;
	struct sigaction sa, old_int, old_term;
	uint64_t timeout_ns = 0, deadline = 0, now, left_ms;
	int opt, ret, n;

	if (argc >= 2 && !strcmp(argv[1], "help"))
		return events_help(0, NULL);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:t:h" CTL_INSPECT_SHORTOPTS, opts,
				  NULL)) != -1) {
		if (ctl_inspect_opt(&ci, opt, optarg))
			continue;
		switch (opt) {
		case 'n':
			if (ctl_parse_u64(optarg, UINT64_MAX, &ctx.count) || !ctx.count)
				return ctl_usage_error("events: --count takes a count above 0, not '%s'",
						       optarg);
			break;
		case 't':
			if (ctl_parse_duration_ns(optarg, &timeout_ns))
				return ctl_usage_error("events: --timeout takes a duration such as 5s, not '%s'",
						       optarg);
			break;
		case 'h':
			return events_help(0, NULL);
		default:
			return ctl_usage_error("events: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind < argc)
		return ctl_usage_error("events: unexpected argument '%s'", argv[optind]);

	ret = ctl_inspect_open(&ci, "events");
	if (ret)
		goto out;
	ev = kern_events_new(ci.maps, events_on_event, &ctx);
	if (!ev) {
		ret = ctl_error("events: %s/%s: %s", kern_maps_dir(ci.maps),
				TG_MAP_EVENTS, errno == ENOENT ? "not pinned" : strerror(errno));
		goto out;
	}

	/* No SA_RESTART: the poll returns EINTR and the loop ends cleanly. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = events_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	if (timeout_ns)
		deadline = kern_now_ns() + timeout_ns;
	ret = CTL_EXIT_OK;
	while (!events_stop && (!ctx.count || ctx.seen < ctx.count)) {
		left_ms = 1000;
		if (deadline) {
			now = kern_now_ns();
			if (now >= deadline)
				break;
			if ((deadline - now + 999999) / 1000000 < left_ms)
				left_ms = (deadline - now + 999999) / 1000000;
		}
		n = kern_events_poll(ev, (int)left_ms);
		if (n == -EINTR || n == -ECANCELED)
			continue;
		if (n < 0) {
			ret = ctl_error("events: polling %s: %s", TG_MAP_EVENTS,
					strerror(-n));
			break;
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (!ctl_jw && ret == CTL_EXIT_OK)
		fprintf(stderr, "tollctl: %" PRIu64 " event%s\n", ctx.seen,
			ctx.seen == 1 ? "" : "s");
out:
	kern_events_free(ev);
	ctl_inspect_close(&ci);
	events_stop = 0;
	return ret;
}
