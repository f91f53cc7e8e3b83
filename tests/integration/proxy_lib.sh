# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
#
# Sourced by the proxy tests (tests/integration/test_proxy_*.sh) and by
# tests/bench/proxy_bench.sh: a scratch directory, ports from the kernel,
# nginx and recording upstreams, certificates, and the proxy under test,
# all torn down by an EXIT trap even when a test fails half way.
#
#   pl_init NAME              scratch dir $PL_TMP, counters, the trap
#   pl_free_port              prints a port the kernel just handed out
#   pl_spawn NAME CMD...      runs CMD in its own process group (killed on
#                             exit); pid in $PL_LAST_PID, output in
#                             $PL_TMP/NAME.out
#   pl_upstream_nginx [CERT KEY]   nginx serving the fixed JSON answer (GET
#                             and POST), /sse (500 events), /big (16 KB);
#                             sets UP_PORT, UP_PID, UP_DIR
#   pl_upstream_rec           tests/integration/upstream_rec.py; sets
#                             REC_PORT, REC_PID, REC_LOG
#   pl_certs                  CA and leaves under $PL_TMP/certs (below)
#   pl_route PATH HOST:PORT [tls CA_FILE SNI [noverify]]   a route for the
#                             next pl_proxy_start
#   pl_proxy_start            starts the proxy under test on the routes;
#                             sets PROXY_PID, PROXY_PORT, PROXY_URL,
#                             PROXY_LOG, PROXY_ACCESS_LOG
#   pl_proxy_stop [SIGNAL]    signals it and waits for it to exit
#   pl_proxy_rewrite          writes its configuration again (for SIGHUP)
#   pl_drain_signal           the signal that drains it (nginx: QUIT)
#   pl_proxy_workers          the pids doing the proxying (CPU, memory)
#   pl_rss_kb PID, pl_cpu_ticks PID...   VmRSS and utime+stime from /proc
#   ok, fail, skip, check, pl_summary    counting, as in harness.sh
#   pl_verdicts FILE          counts a driver's "ok/FAIL/skip NAME" lines
#   pl_finish                 stops the proxies, fails on sanitizer
#                             reports in their logs, pl_summary
#
# PROXY_UNDER_TEST picks the proxy: tollgated (default; $BUILD/tollgated)
# or nginx (the same routes as an nginx reverse proxy, to develop the tests
# against a known-good proxy). PL_* variables set before pl_proxy_start
# tune it: PL_TLS_CERT/PL_TLS_KEY (terminate TLS), PL_WORKERS (1),
# PL_DRAIN (5s), PL_HEADER_TIMEOUT (10s), PL_BODY_TIMEOUT (60s),
# PL_IDLE_TIMEOUT (75s), PL_FIRST_BYTE (5s), PL_HEADER_BYTES (16KiB),
# PL_HEADER_COUNT (100), PL_BODY_BYTES (1MiB), PL_CONNECTIONS (20000),
# PL_KEEPALIVE (32), PL_UP_MAX_CONNS (the daemon's default), PL_ACCESS_LOG
# (on).

PROXY_UNDER_TEST=${PROXY_UNDER_TEST:-tollgated}
PL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in
/*) PL_BUILD=$BUILD ;;
*) PL_BUILD=$PL_ROOT/$BUILD ;;
esac
PL_TOLLGATED=$PL_BUILD/tollgated
PL_PIDS=()
PL_PROXY_PIDS=()
PL_ROUTES=()
passed=0 failed=0 skipped=0

pl_cleanup() {
	local p i
	for p in "${PL_PIDS[@]}"; do
		kill -TERM -- "-$p" 2>/dev/null
	done
	for p in "${PL_PIDS[@]}"; do
		# A group that ignores TERM (or drains for long) is killed.
		for ((i = 0; i < 20; i++)); do
			kill -0 -- "-$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL -- "-$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ -n "${PL_TMP-}" ] && [ -z "${PL_KEEP-}" ] && rm -rf "$PL_TMP"
	return 0
}

pl_init() {
	PL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tg-$1.XXXXXX")
	trap pl_cleanup EXIT
	trap 'exit 130' INT TERM
}

ok() {
	passed=$((passed + 1))
	echo "ok   $1"
}

# fail DESCRIPTION [FILE TO SHOW]
fail() {
	failed=$((failed + 1))
	echo "FAIL $1"
	if [ -n "${2-}" ] && [ -f "$2" ]; then
		tail -n 30 "$2" | sed 's/^/     | /'
	fi
}

skip() {
	skipped=$((skipped + 1))
	echo "skip $1"
}

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds; on failure
# shows $SHOW when set.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc" "${SHOW-}"; fi
}

# pl_verdicts FILE: counts the "ok NAME", "FAIL NAME: why" and "skip NAME"
# lines a driver wrote to FILE (other lines are shown as they are).
pl_verdicts() {
	local verdict rest
	while read -r verdict rest; do
		case $verdict in
		ok) ok "$rest" ;;
		FAIL) fail "$rest" ;;
		skip) skip "$rest" ;;
		*) echo "     $verdict $rest" ;;
		esac
	done <"$1"
}

# Prints the closing count line and returns non-zero when anything failed.
pl_summary() {
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
}

# pl_finish: stops every proxy still running (the drain signal, as a
# daemon is stopped), fails the test on any sanitizer report in their logs
# (ASan and LSan speak at exit), then pl_summary.
pl_finish() {
	local p f
	for p in "${PL_PROXY_PIDS[@]}"; do
		kill "-$(pl_drain_signal)" "$p" 2>/dev/null && pl_wait_exit "$p" 10
	done
	for f in "$PL_TMP"/proxy*.out; do
		[ -f "$f" ] || continue
		if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$f"; then
			fail "sanitizer report in $(basename "$f")"
			grep -m5 -E 'AddressSanitizer|LeakSanitizer|runtime error:|^    #[0-9]' "$f" | sed 's/^/     | /'
		fi
	done
	pl_summary
}

pl_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# pl_wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
pl_wait_port() {
	local i
	for ((i = 0; i < ${2:-5} * 20; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

pl_spawn() {
	local name=$1
	shift
	setsid "$@" >"$PL_TMP/$name.out" 2>&1 &
	PL_LAST_PID=$!
	PL_PIDS+=("$PL_LAST_PID")
}

# pl_rss_kb PID: resident set in KiB (0 when gone).
pl_rss_kb() {
	awk '/^VmRSS:/ {print $2; f=1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0
}

# pl_cpu_ticks PID...: utime+stime in clock ticks, summed over PIDs.
pl_cpu_ticks() {
	local p t=0 v
	for p in "$@"; do
		# Fields 14 and 15, counted after the ")" that ends the name.
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# The fixed JSON answer of the nginx upstream (about 1 KB).
pl_json_answer() {
	python3 -c 'import json
items = [{"id": i, "name": "item-%03d" % i, "score": round(i * 1.37, 2)} for i in range(22)]
print(json.dumps({"object": "list", "model": "bench-upstream", "data": items}, separators=(",", ":")), end="")'
}

pl_upstream_nginx() {
	local d n port tls_listen="" tls_conf=""
	n=$(find "$PL_TMP" -maxdepth 1 -name 'up-nginx*' -type d | wc -l)
	d=$PL_TMP/up-nginx$n
	mkdir -p "$d/tmp"
	port=$(pl_free_port)
	if [ $# -ge 2 ]; then
		tls_listen=" ssl"
		tls_conf="ssl_certificate $1; ssl_certificate_key $2;"
	fi
	pl_json_answer >"$d/answer.json"
	python3 - "$d/events.sse" <<-'EOF'
		import sys
		with open(sys.argv[1], "w") as f:
		    for i in range(500):
		        f.write('id: %d\nevent: message\ndata: {"index":%d,"delta":"token-%d lorem ipsum dolor"}\n\n' % (i, i, i))
		EOF
	head -c 16384 /dev/zero | tr '\0' 'b' >"$d/big.txt"
	cat >"$d/nginx.conf" <<-EOF
		daemon off;
		master_process on;
		user root;
		worker_processes ${PL_UP_WORKERS:-1};
		worker_rlimit_nofile 20000;
		pid $d/nginx.pid;
		error_log $d/error.log warn;
		events { worker_connections 16384; }
		http {
		    access_log off;
		    client_body_temp_path $d/tmp/body;
		    proxy_temp_path $d/tmp/proxy;
		    fastcgi_temp_path $d/tmp/fcgi;
		    uwsgi_temp_path $d/tmp/uwsgi;
		    scgi_temp_path $d/tmp/scgi;
		    keepalive_requests 1000000;
		    keepalive_timeout 300s;
		    client_max_body_size 64m;
		    client_body_buffer_size 64k;
		    server {
		        listen 127.0.0.1:$port$tls_listen;
		        $tls_conf
		        location = /sse { default_type text/event-stream; alias $d/events.sse; }
		        location = /big { default_type text/plain; alias $d/big.txt; }
		        location / {
		            default_type application/json;
		            return 200 '$(cat "$d/answer.json")';
		        }
		    }
		}
	EOF
	pl_spawn "$(basename "$d")" nginx -e "$d/error.log" -c "$d/nginx.conf"
	UP_PID=$PL_LAST_PID UP_PORT=$port UP_DIR=$d
	pl_wait_port "$port" 5 || { echo "nginx upstream did not start" >&2; cat "$d/error.log" "$PL_TMP/$(basename "$d").out" >&2; return 1; }
}

pl_upstream_rec() {
	local n d
	n=$(find "$PL_TMP" -maxdepth 1 -name 'rec*.port' | wc -l)
	d=$PL_TMP/rec$n
	rm -f "$d.port"
	pl_spawn "rec$n" python3 "$PL_ROOT/tests/integration/upstream_rec.py" \
		--port "${1:-0}" --port-file "$d.port" --log "$d.log"
	REC_PID=$PL_LAST_PID REC_LOG=$d.log
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$d.port" ] && break
		sleep 0.05
	done
	REC_PORT=$(cat "$d.port" 2>/dev/null)
	[ -n "$REC_PORT" ] || { echo "upstream_rec did not start" >&2; cat "$PL_TMP/rec$n.out" >&2; return 1; }
}

# pl_certs: under $PL_TMP/certs, ca.pem (an ECDSA CA) and leaves it signed,
# each NAME.pem + NAME.key: ecdsa and rsa (localhost, 127.0.0.1), expired
# (localhost, valid in 2020 only), wronghost (wrong.example only).
pl_certs() {
	local c=$PL_TMP/certs
	PL_CERTS=$c
	[ -f "$c/ca.pem" ] && return 0
	mkdir -p "$c/new"
	: >"$c/index.txt"
	echo 1000 >"$c/serial"
	cat >"$c/ca.cnf" <<-EOF
		[ca]
		default_ca = tg
		[tg]
		database = $c/index.txt
		new_certs_dir = $c/new
		serial = $c/serial
		default_md = sha256
		policy = any
		copy_extensions = copy
		unique_subject = no
		[any]
		commonName = supplied
		[req]
		distinguished_name = dn
		[dn]
		[v3ca]
		basicConstraints = critical,CA:TRUE
		keyUsage = critical,keyCertSign,cRLSign
		subjectKeyIdentifier = hash
	EOF
	openssl ecparam -name prime256v1 -genkey -noout -out "$c/ca.key" 2>/dev/null || return 1
	openssl req -x509 -new -key "$c/ca.key" -subj "/CN=tollgate test CA" \
		-days 30 -config "$c/ca.cnf" -extensions v3ca -out "$c/ca.pem" 2>/dev/null || return 1
	local name alg cn san start end
	while read -r name alg cn san start end; do
		if [ "$alg" = ec ]; then
			openssl ecparam -name prime256v1 -genkey -noout -out "$c/$name.key.tmp" 2>/dev/null
		else
			openssl genrsa -out "$c/$name.key.tmp" 2048 2>/dev/null
		fi
		# PKCS#8, which every TLS library reads.
		openssl pkey -in "$c/$name.key.tmp" -out "$c/$name.key" && rm -f "$c/$name.key.tmp"
		openssl req -new -key "$c/$name.key" -subj "/CN=$cn" -config "$c/ca.cnf" \
			-addext "subjectAltName=$san" -addext "basicConstraints=CA:FALSE" \
			-addext "extendedKeyUsage=serverAuth" -out "$c/$name.csr" 2>/dev/null || return 1
		openssl ca -batch -config "$c/ca.cnf" -cert "$c/ca.pem" -keyfile "$c/ca.key" \
			-startdate "$start" -enddate "$end" -notext -in "$c/$name.csr" \
			-out "$c/$name.pem" >/dev/null 2>&1 || return 1
	done <<-EOF
		ecdsa ec localhost DNS:localhost,IP:127.0.0.1 $(date -u -d '-1 day' +%Y%m%d%H%M%SZ) $(date -u -d '+30 days' +%Y%m%d%H%M%SZ)
		rsa rsa localhost DNS:localhost,IP:127.0.0.1 $(date -u -d '-1 day' +%Y%m%d%H%M%SZ) $(date -u -d '+30 days' +%Y%m%d%H%M%SZ)
		expired ec localhost DNS:localhost,IP:127.0.0.1 20200101000000Z 20200201000000Z
		wronghost ec wrong.example DNS:wrong.example 20200101000000Z $(date -u -d '+30 days' +%Y%m%d%H%M%SZ)
	EOF
}

# pl_route PATH HOST:PORT [tls CA_FILE SNI [noverify]]
pl_route() {
	PL_ROUTES+=("$*")
}

pl_routes_clear() {
	PL_ROUTES=()
}

pl_write_policy() {
	local f=$1 r i=0 path server tls ca sni verify
	{
		echo "version: 1"
		echo "server:"
		echo "  workers: ${PL_WORKERS:-1}"
		echo "  drain: ${PL_DRAIN:-5s}"
		echo "  limits: {header_bytes: ${PL_HEADER_BYTES:-16KiB}, header_count: ${PL_HEADER_COUNT:-100}, body_bytes: ${PL_BODY_BYTES:-1MiB}, connections: ${PL_CONNECTIONS:-20000}}"
		echo "  timeouts: {header: ${PL_HEADER_TIMEOUT:-10s}, body: ${PL_BODY_TIMEOUT:-60s}, idle: ${PL_IDLE_TIMEOUT:-75s}, upstream_connect: 2s, upstream_first_byte: ${PL_FIRST_BYTE:-5s}, upstream_idle: 30s}"
		echo "listeners:"
		echo "  - name: edge"
		echo "    address: 127.0.0.1:$PROXY_PORT"
		echo "    auth: none"
		echo "    endpoints: [health, metrics]"
		[ -n "${PL_TLS_CERT-}" ] && echo "    tls: {cert: $PL_TLS_CERT, key: $PL_TLS_KEY}"
		echo "    routes:"
		for r in "${PL_ROUTES[@]}"; do
			read -r path _ <<<"$r"
			echo "      - {path: $path, upstream: u$i}"
			i=$((i + 1))
		done
		echo "upstreams:"
		i=0
		for r in "${PL_ROUTES[@]}"; do
			read -r path server tls ca sni verify <<<"$r"
			echo "  - name: u$i"
			echo "    servers: [$server]"
			echo "    keepalive: ${PL_KEEPALIVE:-32}"
			[ -n "${PL_UP_MAX_CONNS-}" ] && echo "    max_connections: $PL_UP_MAX_CONNS"
			if [ "${tls-}" = tls ]; then
				echo "    tls: true"
				echo "    tls_options: {verify: $([ "${verify-}" = noverify ] && echo false || echo true), ca_file: $ca, sni: $sni}"
			fi
			i=$((i + 1))
		done
		echo "telemetry:"
		echo "  access_log: {enabled: $([ "${PL_ACCESS_LOG:-on}" = on ] && echo true || echo false), path: $PROXY_ACCESS_LOG}"
	} >"$f"
}

# nginx spells sizes 16k / 1m, the policy 16KiB / 1MiB.
pl_nginx_size() {
	sed -E 's/KiB$|KB$/k/; s/MiB$|MB$/m/; s/GiB$|GB$/g/; s/B$//' <<<"$1"
}

pl_write_nginx_proxy() {
	local f=$1 d=$2 r i=0 path server tls ca sni verify listen_tls="" tls_conf=""
	if [ -n "${PL_TLS_CERT-}" ]; then
		listen_tls=" ssl"
		tls_conf="ssl_certificate $PL_TLS_CERT; ssl_certificate_key $PL_TLS_KEY; ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets on;"
	fi
	{
		cat <<-EOF
			daemon off;
			master_process on;
			user root;
			worker_processes ${PL_WORKERS:-1};
			worker_rlimit_nofile 20000;
			worker_shutdown_timeout ${PL_DRAIN:-5s};
			pid $d/nginx.pid;
			error_log $d/error.log warn;
			events { worker_connections ${PL_CONNECTIONS:-20000}; }
			http {
			    log_format tgjson escape=json '{"time":"\$time_iso8601","request_id":"\$request_id","listener":"edge","client":"\$remote_addr:\$remote_port","method":"\$request_method","path":"\$uri","status":\$status,"bytes_in":\$request_length,"bytes_out":\$bytes_sent,"upstream":"\$upstream_addr","duration_us":\$request_time}';
			    access_log $([ "${PL_ACCESS_LOG:-on}" = on ] && echo "$PROXY_ACCESS_LOG tgjson" || echo off);
			    client_body_temp_path $d/tmp/body;
			    proxy_temp_path $d/tmp/proxy;
			    fastcgi_temp_path $d/tmp/fcgi;
			    uwsgi_temp_path $d/tmp/uwsgi;
			    scgi_temp_path $d/tmp/scgi;
			    client_header_timeout ${PL_HEADER_TIMEOUT:-10s};
			    client_body_timeout ${PL_BODY_TIMEOUT:-60s};
			    keepalive_timeout ${PL_IDLE_TIMEOUT:-75s};
			    keepalive_requests 1000000;
			    large_client_header_buffers 4 $(pl_nginx_size "${PL_HEADER_BYTES:-16KiB}");
			    client_max_body_size $(pl_nginx_size "${PL_BODY_BYTES:-1MiB}");
			    proxy_connect_timeout 2s;
			    proxy_read_timeout ${PL_FIRST_BYTE:-5s};
			    proxy_http_version 1.1;
			    proxy_set_header Connection "";
			    proxy_buffering off;
			    proxy_request_buffering off;
		EOF
		for r in "${PL_ROUTES[@]}"; do
			read -r path server _ <<<"$r"
			echo "    upstream u$i { server $server; keepalive ${PL_KEEPALIVE:-32}; }"
			i=$((i + 1))
		done
		echo "    server {"
		echo "        listen 127.0.0.1:$PROXY_PORT$listen_tls;"
		echo "        $tls_conf"
		echo "        location = /healthz { default_type application/json; return 200 '{\"status\":\"ok\"}'; }"
		echo "        location = /readyz { default_type application/json; return 200 '{\"status\":\"ready\"}'; }"
		i=0
		for r in "${PL_ROUTES[@]}"; do
			read -r path server tls ca sni verify <<<"$r"
			echo "        location $path {"
			if [ "${tls-}" = tls ]; then
				echo "            proxy_pass https://u$i;"
				echo "            proxy_ssl_verify $([ "${verify-}" = noverify ] && echo off || echo on);"
				echo "            proxy_ssl_trusted_certificate $ca;"
				echo "            proxy_ssl_name $sni; proxy_ssl_server_name on;"
			else
				echo "            proxy_pass http://u$i;"
			fi
			echo "        }"
			i=$((i + 1))
		done
		echo "    }"
		echo "}"
	} >"$f"
}

# pl_proxy_start: starts $PROXY_UNDER_TEST on the routes given with
# pl_route, on a fresh port, and waits until it serves.
pl_proxy_start() {
	local n d i
	n=$(find "$PL_TMP" -maxdepth 1 -name 'proxy*' -type d | wc -l)
	d=$PL_TMP/proxy$n
	mkdir -p "$d/tmp"
	PROXY_DIR=$d
	PROXY_PORT=$(pl_free_port)
	PROXY_ACCESS_LOG=$d/access.log
	PROXY_LOG=$PL_TMP/proxy$n.out
	local scheme=http
	[ -n "${PL_TLS_CERT-}" ] && scheme=https
	PROXY_URL=$scheme://127.0.0.1:$PROXY_PORT
	case $PROXY_UNDER_TEST in
	tollgated)
		PROXY_CONF=$d/policy.yaml
		pl_write_policy "$PROXY_CONF"
		pl_spawn "proxy$n" "$PL_TOLLGATED" -c "$PROXY_CONF"
		PROXY_PID=$PL_LAST_PID
		PL_PROXY_PIDS+=("$PROXY_PID")
		for ((i = 0; i < 200; i++)); do
			grep -q "listening on $scheme://[^ ]*:$PROXY_PORT" "$PROXY_LOG" 2>/dev/null && return 0
			kill -0 "$PROXY_PID" 2>/dev/null || break
			sleep 0.05
		done
		echo "tollgated did not start serving; its log:" >&2
		tail -n 30 "$PROXY_LOG" >&2
		return 1
		;;
	nginx)
		PROXY_CONF=$d/nginx.conf
		pl_write_nginx_proxy "$PROXY_CONF" "$d"
		pl_spawn "proxy$n" nginx -e "$d/error.log" -c "$PROXY_CONF"
		PROXY_PID=$PL_LAST_PID
		PL_PROXY_PIDS+=("$PROXY_PID")
		PROXY_LOG=$d/error.log
		pl_wait_port "$PROXY_PORT" 5 && return 0
		echo "nginx proxy did not start; its log:" >&2
		cat "$d/error.log" "$PL_TMP/proxy$n.out" >&2
		return 1
		;;
	*)
		echo "PROXY_UNDER_TEST must be tollgated or nginx" >&2
		return 2
		;;
	esac
}

# pl_proxy_workers: the pids doing the proxying (tollgated itself; nginx's
# worker processes), for CPU and memory figures.
pl_proxy_workers() {
	if [ "$PROXY_UNDER_TEST" = nginx ]; then
		pgrep -P "$PROXY_PID"
	else
		echo "$PROXY_PID"
	fi
}

# pl_proxy_rewrite: writes the running proxy's configuration again from
# the routes and PL_* variables now set, replacing the file in one rename
# (a reload never reads half a file).
pl_proxy_rewrite() {
	if [ "$PROXY_UNDER_TEST" = nginx ]; then
		pl_write_nginx_proxy "$PROXY_CONF.new" "$PROXY_DIR"
	else
		pl_write_policy "$PROXY_CONF.new"
	fi
	mv -f "$PROXY_CONF.new" "$PROXY_CONF"
}

# pl_drain_signal: the signal that drains the proxy (nginx: QUIT, its
# graceful shutdown; TERM is its fast one).
pl_drain_signal() {
	if [ "$PROXY_UNDER_TEST" = nginx ]; then echo QUIT; else echo TERM; fi
}

# pl_wait_exit PID SECONDS: until PID (a child) exits; its exit status in
# PROXY_STATUS. Fails when it is still running after SECONDS.
pl_wait_exit() {
	local i
	PROXY_STATUS=
	for ((i = 0; i < $2 * 50; i++)); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1" 2>/dev/null
			PROXY_STATUS=$?
			return 0
		fi
		sleep 0.02
	done
	return 1
}

# pl_proxy_stop [SIGNAL [SECONDS]]: signals the proxy and waits up to
# SECONDS (default 10) for it to exit; its exit status in $PROXY_STATUS.
pl_proxy_stop() {
	kill "-${1:-TERM}" "$PROXY_PID" 2>/dev/null || return 1
	pl_wait_exit "$PROXY_PID" "${2:-10}"
}

# pl_is_tollgated: true when the proxy under test is tollgated (checks of
# tollgated-only behaviour are skipped against nginx).
pl_is_tollgated() {
	[ "$PROXY_UNDER_TEST" = tollgated ]
}
