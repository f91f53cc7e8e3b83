// SPDX-License-Identifier: Apache-2.0
/*
 * tollgated: arguments, signals and lifecycle. The work is done by the
 * modules; this file loads the policy, reacts to SIGHUP (reload) and
 * SIGTERM/SIGINT (stop), and exits.
 *
 * Signals are blocked and read from a signalfd so that the event loop can
 * wait on that fd alongside its other work instead of being interrupted.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "core/log.h"
#include "kern/kern.h"
#include "policy/policy.h"
#include "proxy/proxy.h"

/* user/default_policy.S: policies/default.yaml, NUL-terminated. */
extern const char tg_default_policy[], tg_default_policy_end[];

#define TGD_EMBEDDED_NAME	"<embedded>/policies/default.yaml"

enum tgd_exit {
	TGD_EXIT_OK = 0,
	TGD_EXIT_ERROR = 1,
	TGD_EXIT_USAGE = 2,
};

/* The daemon's lifecycle state. */
struct tgd {
	const char *config;	/* -c; NULL: the embedded default */
	int log_level;		/* -l; -1: the policy's server.log_level */
	bool check;		/* --check: validate and exit */
	struct policy *policy;	/* the running policy, one reference */
	struct proxy *proxy;	/* the workers serving it */
	int sig_fd;		/* signalfd for SIGHUP/SIGTERM/SIGINT; -1 */
};

/* getopt_long value of --check, which has no short form: above any char. */
#define TGD_OPT_CHECK	0x100

static const struct option tgd_options[] = {
	{ "config",	required_argument,	NULL, 'c' },
	{ "check",	no_argument,		NULL, TGD_OPT_CHECK },
	{ "log-level",	required_argument,	NULL, 'l' },
	{ "version",	no_argument,		NULL, 'V' },
	{ "help",	no_argument,		NULL, 'h' },
	{ NULL,		0,			NULL, 0 },
};

static void tgd_usage(FILE *out)
{
	fprintf(out,
		"Usage: tollgated [OPTION]...\n"
		"The tollgate AI gateway daemon.\n"
		"\n"
		"  -c, --config POLICY     run the policy in POLICY (default: the embedded\n"
		"                          policies/default.yaml)\n"
		"      --check             load and validate the policy and resolve its\n"
		"                          secrets; print each error as file:line:col: message\n"
		"                          or \"POLICY: ok\", and exit\n"
		"  -l, --log-level LEVEL   error, warn, info or debug; overrides the policy's\n"
		"                          server.log_level\n"
		"  -V, --version           print the version and exit\n"
		"  -h, --help              print this help and exit\n"
		"\n"
		"Signals: SIGHUP reloads POLICY (a policy with errors is refused and the\n"
		"running one kept; requests in flight finish on the old one); SIGTERM\n"
		"and SIGINT stop accepting, let requests in flight finish for up to\n"
		"server.drain, and exit.\n"
		"Exit status: 0 ok, 1 error, 2 usage.\n");
}

/* Returns 0 to go on, 1 when the request was answered (--help, --version),
 * -EINVAL on a usage error (already reported). */
static int tgd_parse_args(struct tgd *d, int argc, char **argv)
{
	int c;

	while ((c = getopt_long(argc, argv, "c:l:Vh", tgd_options, NULL)) != -1) {
		switch (c) {
		case 'c':
			d->config = optarg;
			break;
		case TGD_OPT_CHECK:
			d->check = true;
			break;
		case 'l':
			d->log_level = log_level_parse(optarg);
			if (d->log_level < 0) {
				fprintf(stderr, "tollgated: unknown log level '%s'\n", optarg);
				goto out_usage;
			}
			break;
		case 'V':
			printf("tollgated %s\n", TG_VERSION);
			return 1;
		case 'h':
			tgd_usage(stdout);
			return 1;
		default:
			/* getopt_long has said what was wrong. */
			goto out_usage;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tollgated: unexpected argument '%s'\n", argv[optind]);
		goto out_usage;
	}
	return 0;

out_usage:
	tgd_usage(stderr);
	return -EINVAL;
}

static const char *tgd_policy_name(const struct tgd *d)
{
	return d->config ? d->config : TGD_EMBEDDED_NAME;
}

/* Loads -c, or the embedded default. NULL with the errors in `diags`. */
static struct policy *tgd_load(const struct tgd *d, struct policy_diags *diags)
{
	if (d->config)
		return policy_load_file(d->config, POLICY_LOAD_RESOLVE_SECRETS, diags);
	return policy_load_buffer(TGD_EMBEDDED_NAME, tg_default_policy,
				  (size_t)(tg_default_policy_end - tg_default_policy),
				  POLICY_LOAD_RESOLVE_SECRETS | POLICY_LOAD_NO_INCLUDE, diags);
}

/* A failed load, to stderr: every diagnostic, or the errno when there is
 * none (out of memory). */
static void tgd_print_load_failure(const struct tgd *d, const struct policy_diags *diags,
				   int err)
{
	if (diags->n) {
		policy_diags_print(diags, stderr);
		return;
	}
	fprintf(stderr, "%s: %s\n", tgd_policy_name(d), strerror(err));
}

static void tgd_log_diags(const struct tgd *d, const struct policy_diags *diags, int err)
{
	uint32_t i;

	for (i = 0; i < diags->n; i++) {
		const struct policy_diag *e = &diags->v[i];

		if (e->line)
			log_error("%s:%u:%u: %s", e->file, e->line, e->col, e->msg);
		else
			log_error("%s: %s", e->file, e->msg);
	}
	if (diags->truncated)
		log_error("%s: too many errors; the rest were not reported", tgd_policy_name(d));
	if (!diags->n)
		log_error("%s: %s", tgd_policy_name(d), strerror(err));
}

/* -l wins; otherwise the policy says. */
static void tgd_apply_log_level(const struct tgd *d)
{
	enum log_level level;

	if (d->log_level >= 0) {
		log_set_level((enum log_level)d->log_level);
		return;
	}
	switch (d->policy->server.log_level) {
	case POLICY_LOG_ERROR:
		level = LOG_LEVEL_ERROR;
		break;
	case POLICY_LOG_WARN:
		level = LOG_LEVEL_WARN;
		break;
	case POLICY_LOG_DEBUG:
		level = LOG_LEVEL_DEBUG;
		break;
	case POLICY_LOG_INFO:
	default:
		level = LOG_LEVEL_INFO;
		break;
	}
	log_set_level(level);
}

static const char *tgd_auth_name(enum policy_auth auth)
{
	switch (auth) {
	case POLICY_AUTH_API_KEY:
		return "api_key";
	case POLICY_AUTH_NONE:
		return "none";
	case POLICY_AUTH_JWT:
		return "jwt";
	}
	return "unknown";
}

static void tgd_announce(const struct tgd *d)
{
	const struct policy *p = d->policy;
	uint32_t i;

	log_info("policy %s loaded: %u listener(s), %u worker(s) on %s",
		 tgd_policy_name(d), p->n_listeners, proxy_workers(d->proxy),
		 proxy_backend(d->proxy));
	for (i = 0; i < p->n_listeners; i++) {
		const struct policy_listener *l = &p->listeners[i];
		const char *a = l->address.text;

		log_info("listener %s: listening on %s://%s%s%s (auth %s)", l->name,
			 l->tls ? "https" : "http", l->address.family == 6 && a[0] != '[' ? "[" : "",
			 a, l->address.family == 6 && a[0] != '[' ? "]" : "",
			 tgd_auth_name(l->auth));
	}
}

/* Builds the workers' configuration from the loaded policy. NULL after
 * logging why. */
static struct proxy_cfg *tgd_proxy_cfg(const struct tgd *d, struct policy *p)
{
	char why[512] = "";
	struct proxy_cfg *cfg = proxy_cfg_new(p, why, sizeof(why));

	if (!cfg)
		log_error("%s: %s", tgd_policy_name(d), why);
	return cfg;
}

/* server.user: once every listener is bound, run as that user. */
static int tgd_drop_privileges(const struct tgd *d)
{
	const char *user = d->policy->server.user;
	struct passwd *pw;

	if (!user)
		return 0;
	pw = getpwnam(user);
	if (!pw) {
		log_error("server.user: no user '%s'", user);
		return -ENOENT;
	}
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		log_error("server.user: cannot become '%s': %s", user, strerror(errno));
		return -errno;
	}
	if (setuid(0) == 0) {
		log_error("server.user: privileges could not be dropped");
		return -EPERM;
	}
	log_info("running as %s (uid %u)", user, (unsigned)pw->pw_uid);
	return 0;
}

/* Blocks the signals the daemon handles, so that they queue on the signalfd
 * (a blocked signal is queued even when its disposition is SIG_IGN, as a
 * shell leaves SIGINT for background jobs), and ignores SIGPIPE: a peer that
 * goes away is an EPIPE. Done first, so a signal during startup is not fatal. */
static int tgd_signals_open(struct tgd *d)
{
	static const int handled[] = { SIGHUP, SIGTERM, SIGINT };
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigset_t mask;
	size_t i;
	int err;

	sigemptyset(&mask);
	for (i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		sigaddset(&mask, handled[i]);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGPIPE, &ign, NULL) < 0) {
		err = -errno;
		goto out_unblock;
	}
	d->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sig_fd < 0) {
		err = -errno;
		goto out_unblock;
	}
	return 0;

out_unblock:
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	return err;
}

static void tgd_signals_close(struct tgd *d)
{
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	d->sig_fd = -1;
}

/* SIGHUP: load the same policy again; keep the running one on any error. */
static void tgd_reload(struct tgd *d)
{
	struct policy_diags diags;
	struct policy *p;
	int err;

	log_info("SIGHUP: reloading %s", tgd_policy_name(d));
	policy_diags_init(&diags);
	p = tgd_load(d, &diags);
	if (!p) {
		err = errno ? errno : EINVAL;
		tgd_log_diags(d, &diags, err);
		log_error("reload failed; keeping the running policy");
		goto out_fini_diags;
	}
	if (d->proxy) {
		struct proxy_cfg *cfg = tgd_proxy_cfg(d, p);
		char why[512] = "";

		if (!cfg || proxy_reload(d->proxy, cfg, why, sizeof(why))) {
			if (cfg)
				log_error("%s: %s", tgd_policy_name(d), why);
			log_error("reload failed; keeping the running policy");
			policy_unref(p);
			goto out_fini_diags;
		}
	}
	policy_unref(d->policy);
	d->policy = p;
	tgd_apply_log_level(d);
	log_info("policy reloaded: %s", tgd_policy_name(d));

out_fini_diags:
	policy_diags_fini(&diags);
}

/* Waits on the signalfd until SIGTERM or SIGINT. Returns 0 then, or -errno
 * if the signalfd fails. The workers serve on their own threads. */
static int tgd_run(struct tgd *d)
{
	struct pollfd pfd = { .fd = d->sig_fd, .events = POLLIN };
	struct signalfd_siginfo si;
	ssize_t n;

	for (;;) {
		int ready = poll(&pfd, 1, 1000);

		if (ready < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (d->proxy)
			proxy_tick(d->proxy);
		if (ready == 0)
			continue;
		for (;;) {
			n = read(d->sig_fd, &si, sizeof(si));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n < 0)
				return -errno;
			if ((size_t)n != sizeof(si))
				return -EIO;
			switch (si.ssi_signo) {
			case SIGHUP:
				tgd_reload(d);
				break;
			case SIGTERM:
			case SIGINT:
				log_info("%s: shutting down",
					 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
				return 0;
			default:
				break;
			}
		}
	}
}

/* --check: errors to stderr, "POLICY: ok" to stdout. */
static int tgd_check(struct tgd *d)
{
	struct policy_diags diags;
	struct policy *p;
	int ret = TGD_EXIT_OK;

	policy_diags_init(&diags);
	p = tgd_load(d, &diags);
	if (!p) {
		tgd_print_load_failure(d, &diags, errno ? errno : EINVAL);
		ret = TGD_EXIT_ERROR;
		goto out_fini_diags;
	}
	printf("%s: ok\n", tgd_policy_name(d));
	policy_unref(p);

out_fini_diags:
	policy_diags_fini(&diags);
	return ret;
}

/* The policy the daemon starts with; errors go to stderr as with --check.
 * Returns 0 or -errno. */
static int tgd_load_initial(struct tgd *d)
{
	struct policy_diags diags;
	int err = 0;

	policy_diags_init(&diags);
	d->policy = tgd_load(d, &diags);
	if (!d->policy) {
		err = errno ? -errno : -EINVAL;
		tgd_print_load_failure(d, &diags, -err);
	}
	policy_diags_fini(&diags);
	return err;
}

/* Loads the policy and runs until told to stop. Returns an exit status. */
static int tgd_serve(struct tgd *d)
{
	int ret = TGD_EXIT_ERROR;
	int err;

	err = tgd_signals_open(d);
	if (err < 0) {
		log_error("signals: %s", strerror(-err));
		return TGD_EXIT_ERROR;
	}
	log_info("tollgated %s starting (pid %d)", TG_VERSION, (int)getpid());

	err = tgd_load_initial(d);
	if (err < 0)
		goto out_close_signals;
	tgd_apply_log_level(d);
	{
		struct proxy_cfg *cfg = tgd_proxy_cfg(d, d->policy);
		char why[512] = "";

		if (!cfg)
			goto out_unref_policy;
		d->proxy = proxy_start(cfg, why, sizeof(why));
		if (!d->proxy) {
			log_error("%s", why);
			goto out_unref_policy;
		}
	}
	tgd_announce(d);
	if (tgd_drop_privileges(d))
		goto out_stop_proxy;
	log_info("running; SIGHUP reloads the policy, SIGTERM or SIGINT drains and stops");

	err = tgd_run(d);
	if (err < 0)
		log_error("signalfd: %s", strerror(-err));
	else
		ret = TGD_EXIT_OK;
	log_info("draining: up to %llu ms for requests in flight",
		 (unsigned long long)d->policy->server.drain_ms);

out_stop_proxy:
	proxy_stop(d->proxy, d->policy->server.drain_ms);
	proxy_free(d->proxy);
	d->proxy = NULL;
	log_info("stopped");
out_unref_policy:
	policy_unref(d->policy);
	d->policy = NULL;
out_close_signals:
	tgd_signals_close(d);
	return ret;
}

int main(int argc, char **argv)
{
	struct tgd d = { .log_level = -1, .sig_fd = -1 };
	int r;

	r = tgd_parse_args(&d, argc, argv);
	if (r < 0)
		return TGD_EXIT_USAGE;
	if (r > 0)
		return TGD_EXIT_OK;
	/* Before anything can call into libbpf, so its output is log lines. */
	kern_log_init();
	if (d.check)
		return tgd_check(&d);
	if (d.log_level >= 0)
		log_set_level((enum log_level)d.log_level);
	return tgd_serve(&d);
}
