// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl top: the busiest flows and tenants, refreshed every interval.
 * Rates are the difference between two reads of the counters divided by
 * the time between them, so the first frame comes one interval after the
 * start.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inspect.h"
#include "kern/maps.h"
#include "tollctl.h"

#define TOP_DEFAULT_INTERVAL_NS	(1000000000ull)
#define TOP_DEFAULT_LIMIT	10
/* ANSI: cursor home, clear screen. */
#define TOP_CLEAR		"\033[H\033[2J"

static volatile sig_atomic_t top_stop;

struct top_flow {
	const struct kern_flow_entry *e;
	double bytes_per_s;
	double packets_per_s;
};

struct top_tenant {
	uint32_t id;
	uint64_t bytes, packets, flows;
	double bytes_per_s;
	double packets_per_s;
};

/* One read of the counters. */
struct top_sample {
	uint64_t t_ns;
	struct kern_flow_entry *flows;	/* sorted by key */
	size_t n_flows;
	struct tg_tenant_stats *tenants;	/* by id */
	uint32_t n_tenants;
};

static int top_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl top [--interval S] [--count N] [--limit N]\n"
	       "                   [--pin-dir DIR] [-c POLICY]\n"
	       "       tollctl top help\n"
	       "\n"
	       "  The busiest flows and tenants by bytes per second (in + out),\n"
	       "  refreshed every interval until interrupted. On a terminal the\n"
	       "  screen is redrawn; otherwise frames follow one another.\n"
	       "  --interval S  seconds between frames (default 1; 0.5, 250ms, 2s)\n"
	       "  --count N     stop after N frames\n"
	       "  --limit N     rows per table (default %d)\n"
	       CTL_INSPECT_USAGE
	       "  With -j: one JSON object per frame and line: {\"interval_s\",\n"
	       "  \"flows\": [{flow members as in 'flows -j', \"bytes_per_s\",\n"
	       "  \"packets_per_s\"}], \"tenants\": [{\"tenant_id\", \"tenant\",\n"
	       "  \"bytes_per_s\", \"packets_per_s\", \"bytes\", \"packets\",\n"
	       "  \"flows\"}]}.\n", TOP_DEFAULT_LIMIT);
	return CTL_EXIT_OK;
}

static void top_on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static int top_key_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct kern_flow_entry *)a)->key,
		      &((const struct kern_flow_entry *)b)->key,
		      sizeof(struct tg_flow_key));
}

static void top_sample_fini(struct top_sample *s)
{
	free(s->flows);
	s->flows = NULL;
	free(s->tenants);
	s->tenants = NULL;
	s->n_flows = 0;
	s->n_tenants = 0;
}

static int top_sample_read(struct kern_maps *m, struct top_sample *s)
{
	uint32_t id;
	int ret;

	memset(s, 0, sizeof(*s));
	s->t_ns = kern_now_ns();
	if (kern_maps_has(m, KERN_MAP_FLOWS)) {
		ret = kern_flows_read(m, &s->flows, &s->n_flows);
		if (ret)
			return ret;
		if (s->n_flows)
			qsort(s->flows, s->n_flows, sizeof(*s->flows), top_key_cmp);
	}
	if (kern_maps_has(m, KERN_MAP_TENANT_STATS)) {
		s->n_tenants = kern_maps_max_entries(m, KERN_MAP_TENANT_STATS);
		s->tenants = calloc(s->n_tenants ? s->n_tenants : 1, sizeof(*s->tenants));
		if (!s->tenants)
			return -ENOMEM;
		for (id = 0; id < s->n_tenants; id++) {
			ret = kern_tenant_stats_read(m, id, &s->tenants[id]);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static uint64_t top_delta(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : now;	/* a reset counter */
}

static int top_flow_cmp(const void *pa, const void *pb)
{
	const struct top_flow *a = pa, *b = pb;

	if (a->bytes_per_s != b->bytes_per_s)
		return a->bytes_per_s < b->bytes_per_s ? 1 : -1;
	return top_key_cmp(a->e, b->e);
}

static int top_tenant_cmp(const void *pa, const void *pb)
{
	const struct top_tenant *a = pa, *b = pb;

	if (a->bytes_per_s != b->bytes_per_s)
		return a->bytes_per_s < b->bytes_per_s ? 1 : -1;
	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? 1 : -1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static void top_frame(const struct ctl_inspect *ci, const struct top_sample *prev,
		      const struct top_sample *cur, size_t limit, bool tty)
{
	double secs = (double)(cur->t_ns - prev->t_ns) / 1e9;
	struct top_flow *fl = NULL;
	struct top_tenant *tn = NULL;
	size_t i, nf = 0, nt = 0;
	char ep[200], t[32], b1[24], b2[24];

	if (secs <= 0)
		secs = 1e-9;
	if (cur->n_flows)
		fl = calloc(cur->n_flows, sizeof(*fl));
	if (cur->n_tenants)
		tn = calloc(cur->n_tenants, sizeof(*tn));
	for (i = 0; fl && i < cur->n_flows; i++) {
		const struct kern_flow_entry *e = &cur->flows[i], *p = NULL;
		uint64_t b = e->flow.bytes_in + e->flow.bytes_out;
		uint64_t k = e->flow.packets_in + e->flow.packets_out;

		if (prev->n_flows)
			p = bsearch(e, prev->flows, prev->n_flows, sizeof(*e), top_key_cmp);
		if (p) {
			b = top_delta(b, p->flow.bytes_in + p->flow.bytes_out);
			k = top_delta(k, p->flow.packets_in + p->flow.packets_out);
		}
		fl[nf].e = e;
		fl[nf].bytes_per_s = (double)b / secs;
		fl[nf].packets_per_s = (double)k / secs;
		nf++;
	}
	for (i = 0; tn && i < cur->n_tenants; i++) {
		const struct tg_tenant_stats *s = &cur->tenants[i];
		uint64_t b = s->bytes_in + s->bytes_out, k = s->packets_in + s->packets_out;

		if (!b && !k && !s->flows_new)
			continue;
		tn[nt].id = (uint32_t)i;
		tn[nt].bytes = b;
		tn[nt].packets = k;
		tn[nt].flows = s->flows_new;
		if (i < prev->n_tenants) {
			const struct tg_tenant_stats *p = &prev->tenants[i];

			b = top_delta(b, p->bytes_in + p->bytes_out);
			k = top_delta(k, p->packets_in + p->packets_out);
		}
		tn[nt].bytes_per_s = (double)b / secs;
		tn[nt].packets_per_s = (double)k / secs;
		nt++;
	}
	if (nf)
		qsort(fl, nf, sizeof(*fl), top_flow_cmp);
	if (nt)
		qsort(tn, nt, sizeof(*tn), top_tenant_cmp);
	if (nf > limit)
		nf = limit;
	if (nt > limit)
		nt = limit;

	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_double_field(ctl_jw, "interval_s", secs);
		jsonw_name(ctl_jw, "flows");
		jsonw_start_array(ctl_jw);
		for (i = 0; i < nf; i++) {
			jsonw_start_object(ctl_jw);
			ctl_flow_json_fields(ci, fl[i].e, cur->t_ns);
			jsonw_double_field(ctl_jw, "bytes_per_s", fl[i].bytes_per_s);
			jsonw_double_field(ctl_jw, "packets_per_s", fl[i].packets_per_s);
			jsonw_end_object(ctl_jw);
		}
		jsonw_end_array(ctl_jw);
		jsonw_name(ctl_jw, "tenants");
		jsonw_start_array(ctl_jw);
		for (i = 0; i < nt; i++) {
			jsonw_start_object(ctl_jw);
			ctl_json_tenant(ci, tn[i].id);
			jsonw_double_field(ctl_jw, "bytes_per_s", tn[i].bytes_per_s);
			jsonw_double_field(ctl_jw, "packets_per_s", tn[i].packets_per_s);
			jsonw_uint_field(ctl_jw, "bytes", tn[i].bytes);
			jsonw_uint_field(ctl_jw, "packets", tn[i].packets);
			jsonw_uint_field(ctl_jw, "flows", tn[i].flows);
			jsonw_end_object(ctl_jw);
		}
		jsonw_end_array(ctl_jw);
		jsonw_end_object(ctl_jw);
		jsonw_flush(ctl_jw);
	} else {
		if (tty)
			fputs(TOP_CLEAR, stdout);
		printf("tollgate top: %zu flows, interval %.2f s\n\n", cur->n_flows, secs);
		printf("%-16s %12s %12s %12s %8s\n", "TENANT", "BYTES/S", "PKTS/S",
		       "BYTES", "FLOWS");
		for (i = 0; i < nt; i++)
			printf("%-16s %10s/s %12.1f %12s %8" PRIu64 "\n",
			       ctl_tenant_label(ci, tn[i].id, t, sizeof(t)),
			       ctl_human_bytes(tn[i].bytes_per_s, b1, sizeof(b1)),
			       tn[i].packets_per_s,
			       ctl_human_bytes((double)tn[i].bytes, b2, sizeof(b2)),
			       tn[i].flows);
		printf("\n%-52s %-10s %12s %12s\n", "FLOW", "TENANT", "BYTES/S", "PKTS/S");
		for (i = 0; i < nf; i++)
			printf("%-52s %-10s %10s/s %12.1f\n",
			       ctl_flow_endpoints(fl[i].e, ep, sizeof(ep)),
			       ctl_tenant_label(ci, fl[i].e->flow.tenant_id, t, sizeof(t)),
			       ctl_human_bytes(fl[i].bytes_per_s, b1, sizeof(b1)),
			       fl[i].packets_per_s);
		if (!tty)
			putchar('\n');
		fflush(stdout);
	}
	free(fl);
	free(tn);
}

/* Sleeps `ns` unless a signal stops top first. */
static void top_sleep(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000ull),
		.tv_nsec = (long)(ns % 1000000000ull),
	};

	while (!top_stop && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int ctl_do_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval",	required_argument, NULL, 'i' },
		{ "count",	required_argument, NULL, 'n' },
		{ "limit",	required_argument, NULL, 'l' },
		{ "help",	no_argument,	   NULL, 'h' },
		CTL_INSPECT_LONGOPTS,
		{ NULL,		0,		   NULL, 0 },
	};
	struct top_sample prev = { 0 }, cur = { 0 };
	struct ctl_inspect ci = { 0 };
	uint64_t interval = TOP_DEFAULT_INTERVAL_NS, count = 0, limit = TOP_DEFAULT_LIMIT;
	uint64_t frames = 0;
	struct sigaction sa, old_int, old_term;
	bool tty;
	int opt, ret;

	if (argc >= 2 && !strcmp(argv[1], "help"))
		return top_help(0, NULL);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":i:n:l:h" CTL_INSPECT_SHORTOPTS, opts,
				  NULL)) != -1) {
		if (ctl_inspect_opt(&ci, opt, optarg))
			continue;
		switch (opt) {
		case 'i':
			if (ctl_parse_duration_ns(optarg, &interval) || interval < 1000000)
				return ctl_usage_error("top: --interval takes a duration of 1ms or more, such as 1 or 500ms, not '%s'",
						       optarg);
			break;
		case 'n':
			if (ctl_parse_u64(optarg, UINT64_MAX, &count) || !count)
				return ctl_usage_error("top: --count takes a count above 0, not '%s'",
						       optarg);
			break;
		case 'l':
			if (ctl_parse_u64(optarg, SIZE_MAX, &limit) || !limit)
				return ctl_usage_error("top: --limit takes a count above 0, not '%s'",
						       optarg);
			break;
		case 'h':
			return top_help(0, NULL);
		default:
			return ctl_usage_error("top: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind < argc)
		return ctl_usage_error("top: unexpected argument '%s'", argv[optind]);

	ret = ctl_inspect_open(&ci, "top");
	if (ret)
		goto out;
	if (!kern_maps_has(ci.maps, KERN_MAP_FLOWS) &&
	    !kern_maps_has(ci.maps, KERN_MAP_TENANT_STATS)) {
		ret = ctl_error("top: neither %s nor %s is pinned under %s",
				TG_MAP_FLOWS, TG_MAP_TENANT_STATS, kern_maps_dir(ci.maps));
		goto out;
	}
	tty = !ctl_jw && isatty(STDOUT_FILENO);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = top_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	ret = top_sample_read(ci.maps, &prev);
	while (!ret && !top_stop && (!count || frames < count)) {
		top_sleep(interval);
		if (top_stop)
			break;
		ret = top_sample_read(ci.maps, &cur);
		if (ret)
			break;
		top_frame(&ci, &prev, &cur, (size_t)limit, tty);
		frames++;
		top_sample_fini(&prev);
		prev = cur;
		memset(&cur, 0, sizeof(cur));
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (ret)
		ret = ctl_error("top: reading the maps: %s", strerror(-ret));
	else
		ret = CTL_EXIT_OK;
out:
	top_sample_fini(&prev);
	top_sample_fini(&cur);
	ctl_inspect_close(&ci);
	top_stop = 0;
	return ret;
}
