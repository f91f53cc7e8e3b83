// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl export: the kernel counters in the Prometheus text format, for
 * node_exporter's textfile collector (--textfile) or scraped directly
 * (--listen). The maps are opened afresh for every write or scrape, so a
 * detach and re-attach under a running exporter is picked up.
 *
 * --textfile writes DIR/tollgate.prom atomically: a temporary file in the
 * same directory (node_exporter reads only *.prom, so it never sees the
 * temporary), fsync, rename over the old file, fsync the directory.
 *
 * --listen serves GET /metrics over HTTP/1.1 (RFC 9112), one connection at
 * a time, one request per connection ("Connection: close"), with a bounded
 * request head and socket timeouts so a slow client cannot hold it long.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "inspect.h"
#include "kern/kern.h"
#include "kern/maps.h"
#include "obs/metrics.h"
#include "tollctl.h"

#define EXPORT_FILE_NAME	"tollgate.prom"
#define EXPORT_DEFAULT_INTERVAL_NS	(15ull * 1000000000ull)
/* A request head larger than this is refused (431). A scrape's is a few
 * hundred bytes. */
#define EXPORT_REQUEST_MAX	8192
#define EXPORT_IO_TIMEOUT_S	5

static volatile sig_atomic_t export_stop;

static int export_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl export --textfile DIR [--interval S] [--once]\n"
	       "                      [--pin-dir DIR] [-c POLICY]\n"
	       "       tollctl export --listen ADDR [--pin-dir DIR] [-c POLICY]\n"
	       "       tollctl export help\n"
	       "\n"
	       "  The kernel's counters as Prometheus metrics (tollgate_kern_*,\n"
	       "  tollgate_tenant_*; labels reason, hook and tenant only).\n"
	       "  --textfile DIR  write DIR/" EXPORT_FILE_NAME " for node_exporter's\n"
	       "                  textfile collector, atomically, every interval\n"
	       "  --interval S    seconds between writes (default 15; 500ms, 1m)\n"
	       "  --once          write once and exit (exit 1 when no maps are pinned)\n"
	       "  --listen ADDR   serve GET /metrics on ADDR: HOST:PORT, [V6]:PORT,\n"
	       "                  :PORT (every address); port 0 picks one\n"
	       CTL_INSPECT_USAGE
	       "  Tenants are labelled by name with -c POLICY, by id otherwise.\n"
	       "  With --listen and -j: {\"listen\": \"HOST:PORT\"} once bound.\n");
	return CTL_EXIT_OK;
}

static void export_on_signal(int sig)
{
	(void)sig;
	export_stop = 1;
}

static const char *export_tenant_name(void *ctx, uint32_t id, char *buf,
				      size_t size)
{
	return ctl_tenant_label(ctx, id, buf, size);
}

/*
 * The whole exposition, into a new buffer the caller frees. Returns 0 with
 * the maps read (tollgate_kern_up 1), 0 with only tollgate_kern_up 0 when
 * no maps are pinned (the reason in `why`), or -errno.
 */
static int export_render(struct ctl_inspect *ci, char **out, size_t *len,
			 bool *up, char *why, size_t why_size)
{
	struct kern_snapshot snap;
	struct kern_maps *m;
	FILE *f;
	int ret = 0;

	*out = NULL;
	*len = 0;
	*up = false;
	f = open_memstream(out, len);
	if (!f)
		return -errno;

	m = kern_maps_open(ci->pin_dir, why, why_size);
	metrics_family(f, "tollgate_kern_up", METRICS_GAUGE,
		       "1 when the exporter could read the pinned tollgate maps.");
	metrics_sample(f, "tollgate_kern_up", NULL, 0, m ? 1 : 0);
	if (m) {
		/* For tenant names the loader recorded (without -c). */
		ci->maps = m;
		ret = kern_snapshot_read(m, &snap);
		if (!ret)
			ret = metrics_write_kern(f, &snap, export_tenant_name, ci);
		else
			snprintf(why, why_size, "reading the maps: %s", strerror(-ret));
		kern_snapshot_fini(&snap);
		ci->maps = NULL;
		kern_maps_close(m);
		*up = !ret;
	}
	if (fclose(f) && !ret)
		ret = -errno;
	if (ret) {
		free(*out);
		*out = NULL;
		*len = 0;
	}
	return ret;
}

static int export_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replaces DIR/tollgate.prom with `buf`, atomically and durably. */
static int export_textfile_write(const char *dir, const char *buf, size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd, dfd, ret;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/." EXPORT_FILE_NAME ".XXXXXX", dir) >= sizeof(tmp) ||
	    (size_t)snprintf(dst, sizeof(dst), "%s/" EXPORT_FILE_NAME, dir) >= sizeof(dst))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = export_write_all(fd, buf, len);
	/* mkstemp makes 0600; node_exporter may run as another user. */
	if (!ret && fchmod(fd, 0644))
		ret = -errno;
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, dst))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return ret;
	}
	/* The rename itself is durable once the directory is. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd))
		ret = -errno;
	close(dfd);
	return ret;
}

static void export_sleep(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000ull),
		.tv_nsec = (long)(ns % 1000000000ull),
	};

	while (!export_stop && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int export_textfile(struct ctl_inspect *ci, const char *dir,
			   uint64_t interval, bool once)
{
	char why[512] = "";
	struct stat st;
	size_t len;
	char *buf;
	bool up;
	int ret;

	if (stat(dir, &st))
		return ctl_error("export: %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ctl_error("export: %s: not a directory", dir);
	for (;;) {
		ret = export_render(ci, &buf, &len, &up, why, sizeof(why));
		if (ret)
			return ctl_error("export: %s", strerror(-ret));
		if (!up && once) {
			free(buf);
			return ctl_error("export: %s", why);
		}
		if (!up)
			log_warn("export: %s", why);
		ret = export_textfile_write(dir, buf, len);
		free(buf);
		if (ret && once)
			return ctl_error("export: writing %s/%s: %s", dir,
					 EXPORT_FILE_NAME, strerror(-ret));
		if (ret)
			log_warn("export: writing %s/%s: %s", dir, EXPORT_FILE_NAME,
				 strerror(-ret));
		else
			log_debug("export: wrote %s/%s (%zu bytes)", dir,
				  EXPORT_FILE_NAME, len);
		if (once || export_stop)
			break;
		export_sleep(interval);
		if (export_stop)
			break;
	}
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_name(ctl_jw, "file");
		jsonw_stringf(ctl_jw, "%s/%s", dir, EXPORT_FILE_NAME);
		jsonw_end_object(ctl_jw);
	}
	return CTL_EXIT_OK;
}

/* ---- HTTP ------------------------------------------------------------------ */

/* Splits "host:port", "[v6]:port" or ":port" and binds a listening socket.
 * Returns the fd or -errno; `err` says what failed. */
static int export_listen_open(const char *addr, char *bound, size_t bound_size,
			      char *err, size_t err_size)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	char host[256], serv[NI_MAXSERV], h[NI_MAXHOST];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *colon, *hs = addr;
	size_t hlen;
	int fd = -1, one = 1, ret;

	colon = strrchr(addr, ':');
	if (!colon || !colon[1]) {
		snprintf(err, err_size, "'%s' is not HOST:PORT", addr);
		return -EINVAL;
	}
	hlen = (size_t)(colon - addr);
	if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
		hs = addr + 1;
		hlen -= 2;
	} else if (memchr(addr, ':', hlen)) {
		snprintf(err, err_size, "'%s': write an IPv6 address in brackets, [::1]:9100",
			 addr);
		return -EINVAL;
	}
	if (hlen >= sizeof(host)) {
		snprintf(err, err_size, "'%s': host too long", addr);
		return -EINVAL;
	}
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	snprintf(serv, sizeof(serv), "%s", colon + 1);

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	ret = getaddrinfo(hlen ? host : NULL, serv, &hints, &res);
	if (ret) {
		snprintf(err, err_size, "'%s': %s", addr, gai_strerror(ret));
		return -EINVAL;
	}
	ret = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 16))
			break;
		ret = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, err_size, "listening on %s: %s", addr, strerror(-ret));
		return ret;
	}
	if (!getsockname(fd, (struct sockaddr *)&ss, &sl) &&
	    !getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), serv, sizeof(serv),
			 NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(bound, bound_size, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
			 h, serv);
	else
		snprintf(bound, bound_size, "%s", addr);
	return fd;
}

static void export_send(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR && !export_stop)
				continue;
			return;		/* the client went away: its problem */
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void export_respond(int fd, const char *status, const char *extra,
			   const char *type, const char *body, size_t len,
			   bool head_only)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "%s"
		     "Cache-Control: no-store\r\n"
		     "Connection: close\r\n"
		     "\r\n", status, type, len, extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	export_send(fd, head, (size_t)n);
	if (!head_only)
		export_send(fd, body, len);
}

static void export_respond_text(int fd, const char *status, const char *extra,
				const char *text, bool head_only)
{
	export_respond(fd, status, extra, "text/plain; charset=utf-8", text,
		       strlen(text), head_only);
}

/* Reads one request head and answers it. Bad requests get a response, never
 * an error: the exporter keeps serving. */
static void export_serve_one(struct ctl_inspect *ci, int fd)
{
	struct timeval tv = { .tv_sec = EXPORT_IO_TIMEOUT_S };
	char req[EXPORT_REQUEST_MAX + 1], why[512];
	char *eol, *sp1, *sp2, *body = NULL;
	bool head, up;
	size_t got = 0, len;
	ssize_t n;
	int ret;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (;;) {
		if (got == EXPORT_REQUEST_MAX) {
			export_respond_text(fd, "431 Request Header Fields Too Large",
					    NULL, "request head too large\n", false);
			return;
		}
		n = recv(fd, req + got, EXPORT_REQUEST_MAX - got, 0);
		if (n < 0 && errno == EINTR && !export_stop)
			continue;
		if (n <= 0)
			return;		/* closed, timed out, or stopping */
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}

	/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3) */
	eol = strpbrk(req, "\r\n");
	*eol = '\0';
	sp1 = strchr(req, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7)) {
		export_respond_text(fd, "400 Bad Request", NULL, "bad request line\n",
				    false);
		return;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	head = !strcmp(req, "HEAD");
	if (strcmp(req, "GET") && !head) {
		export_respond_text(fd, "405 Method Not Allowed", "Allow: GET, HEAD\r\n",
				    "only GET and HEAD\n", false);
		return;
	}
	if (strcmp(sp1 + 1, "/metrics") && strncmp(sp1 + 1, "/metrics?", 9)) {
		export_respond_text(fd, "404 Not Found", NULL,
				    "not found: the metrics are at /metrics\n", head);
		return;
	}
	ret = export_render(ci, &body, &len, &up, why, sizeof(why));
	if (ret) {
		log_warn("export: %s", strerror(-ret));
		export_respond_text(fd, "500 Internal Server Error", NULL,
				    "could not read the counters\n", head);
		return;
	}
	if (!up)
		log_warn("export: %s", why);
	export_respond(fd, "200 OK", NULL, METRICS_CONTENT_TYPE, body, len, head);
	free(body);
}

/*
 * Closing a socket with unread input sends a reset, which can destroy the
 * response before the client reads it (an oversized head, a request body
 * we never read). So: end our side, then read and drop what the client
 * still sends, bounded in bytes and by the socket timeout.
 */
static void export_linger(int fd)
{
	struct timeval tv = { .tv_sec = 1 };
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	if (shutdown(fd, SHUT_WR))
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (total < (64u << 10)) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

static int export_listen(struct ctl_inspect *ci, const char *addr)
{
	char bound[300], err[400];
	int lfd, cfd, ret = CTL_EXIT_OK;

	lfd = export_listen_open(addr, bound, sizeof(bound), err, sizeof(err));
	if (lfd < 0)
		return ctl_error("export: %s", err);
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "listen", bound);
		jsonw_end_object(ctl_jw);
		jsonw_flush(ctl_jw);
	} else {
		printf("serving http://%s/metrics\n", bound);
		fflush(stdout);
	}
	while (!export_stop) {
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("export: accept: %s", strerror(errno));
				export_sleep(100000000ull);
				continue;
			}
			ret = ctl_error("export: accept: %s", strerror(errno));
			break;
		}
		export_serve_one(ci, cfd);
		export_linger(cfd);
		close(cfd);
	}
	close(lfd);
	return ret;
}

int ctl_do_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "textfile",	required_argument, NULL, 'T' },
		{ "listen",	required_argument, NULL, 'L' },
		{ "interval",	required_argument, NULL, 'i' },
		{ "once",	no_argument,	   NULL, '1' },
		{ "help",	no_argument,	   NULL, 'h' },
		CTL_INSPECT_LONGOPTS,
		{ NULL,		0,		   NULL, 0 },
	};
	struct ctl_inspect ci = { 0 };
	const char *textfile = NULL, *listen_addr = NULL;
	uint64_t interval = EXPORT_DEFAULT_INTERVAL_NS;
	struct sigaction sa, old_int, old_term;
	bool once = false, has_interval = false;
	int opt, ret;

	if (argc >= 2 && !strcmp(argv[1], "help"))
		return export_help(0, NULL);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h" CTL_INSPECT_SHORTOPTS, opts,
				  NULL)) != -1) {
		if (ctl_inspect_opt(&ci, opt, optarg))
			continue;
		switch (opt) {
		case 'T':
			textfile = optarg;
			break;
		case 'L':
			listen_addr = optarg;
			break;
		case 'i':
			if (ctl_parse_duration_ns(optarg, &interval) || interval < 100000000ull)
				return ctl_usage_error("export: --interval takes a duration of 100ms or more, such as 15 or 1m, not '%s'",
						       optarg);
			has_interval = true;
			break;
		case '1':
			once = true;
			break;
		case 'h':
			return export_help(0, NULL);
		default:
			return ctl_usage_error("export: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind < argc)
		return ctl_usage_error("export: unexpected argument '%s'", argv[optind]);
	if (!textfile == !listen_addr)
		return ctl_usage_error("export: give one of --textfile DIR or --listen ADDR");
	if (listen_addr && (once || has_interval))
		return ctl_usage_error("export: --once and --interval go with --textfile");

	ret = ctl_inspect_load_policy(&ci, "export");
	if (ret)
		goto out;
	kern_log_init();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = export_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (textfile)
		ret = export_textfile(&ci, textfile, interval, once);
	else
		ret = export_listen(&ci, listen_addr);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
out:
	ctl_inspect_close(&ci);
	export_stop = 0;
	return ret;
}
