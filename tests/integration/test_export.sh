#!/usr/bin/env bash
# tollctl export: the node_exporter textfile (atomic, accepted by promtool,
# scraped by Debian's prometheus-node-exporter) and the /metrics listener
# (accepted by promtool, 404/405/431 for anything else, still serving
# afterwards), with values that match the traffic run through the real
# XDP program, and only reason/hook/tenant labels.
#
# Maps come from the real XDP object pinned into a private bpffs directory
# (see kern_lib.sh). Needs root; without it, or without promtool or
# prometheus-node-exporter, the cases that need them are counted as skipped.
#
#   BUILD=build bash tests/integration/test_export.sh
#
# Conditions are single-quoted on purpose: check() evaluates them later.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOLLCTL=${TOLLCTL:-$BUILD/tollctl}
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
PROMTOOL=${PROMTOOL:-$(command -v promtool 2>/dev/null || echo /usr/bin/promtool)}
# shellcheck source=tests/integration/kern_lib.sh
. tests/integration/kern_lib.sh

passed=0 failed=0 skipped=0
rc=0 out='' err=''
no_kern='' no_promtool='' no_node=''
pids=()

if [ ! -x "$TOLLCTL" ]; then
	echo "FAIL $TOLLCTL is not built"
	echo "0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d)
PIN=/sys/fs/bpf/tg-test-export-$$
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$PIN" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
unset TOLLGATE_PIN_DIR

# shellcheck source=tests/integration/harness.sh
. "$(dirname "$0")/harness.sh"

# needs WHAT... NAME CONDITION...: a check skipped (never passed) when one
# of the named prerequisites (kern, promtool, node) is missing.
needs() {
	local why='' w
	while [ $# -gt 0 ]; do
		case $1 in
		kern) w=$no_kern ;;
		promtool) w=$no_promtool ;;
		node) w=$no_node ;;
		*) break ;;
		esac
		[ -n "$w" ] && [ -z "$why" ] && why=$w
		shift
	done
	if [ -n "$why" ]; then
		skipped=$((skipped + 1))
		echo "skip $1: $why"
		return
	fi
	check "$@"
}

# http METHOD URL [RAW_REQUEST]: status on stdout, body in $tmp/body,
# Content-Type in $tmp/ctype. With RAW_REQUEST, sends those bytes as is.
http() {
	python3 - "$@" >"$tmp/status" 2>/dev/null <<'PY'
import socket, sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
tmp = __import__("os").environ["TMPD"]
if len(sys.argv) > 3:
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    print(data.split(b" ")[1].decode())
    sys.exit(0)
req = urllib.request.Request(url, method=method)
try:
    r = urllib.request.urlopen(req, timeout=10)
    code, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
except urllib.error.HTTPError as e:
    code, body, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
open(tmp + "/body", "wb").write(body)
open(tmp + "/ctype", "w").write(ctype)
print(code)
PY
	cat "$tmp/status"
}
export TMPD=$tmp

# wait_for CMD...: retries CMD for up to 5 s.
wait_for() {
	local i
	for i in $(seq 50); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# Label names used in a metrics file, one per line.
label_names() {
	python3 - "$1" <<'PY'
import re, sys
names = set()
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.startswith("tollgate_"):
        continue
    m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*\{(.*)\} ", line)
    if m:
        names.update(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(1)))
print("\n".join(sorted(names)))
PY
}

# Every tollgate_ family has HELP and TYPE, counters end in _total.
families_ok() {
	python3 - "$1" <<'PY'
import sys
help_, type_, seen = set(), {}, set()
for line in open(sys.argv[1]):
    p = line.split()
    if line.startswith("# HELP "):
        help_.add(p[2])
    elif line.startswith("# TYPE "):
        type_[p[2]] = p[3]
    elif line.startswith("tollgate_"):
        seen.add(line.split("{")[0].split(" ")[0])
bad = [f for f in seen if f not in help_ or f not in type_]
bad += [f for f, t in type_.items() if f.startswith("tollgate_") and t == "counter" and not f.endswith("_total")]
sys.exit(1 if bad or not seen else 0)
PY
}

# value FILE SERIES: the sample value of SERIES (name{labels} as written).
value() {
	grep -F "$2 " "$1" | grep -v '^#' | head -1 | awk '{print $NF}'
}

# ---- prerequisites ------------------------------------------------------------------

no_kern=$(kern_unavailable)
[ -x "$PROMTOOL" ] || no_promtool="no promtool (Debian package prometheus)"
[ -x "$NODE_EXPORTER" ] || no_node="no $NODE_EXPORTER (Debian package prometheus-node-exporter)"
if [ -z "$no_kern" ] && ! kern_pin "$PIN" 2>"$tmp/pin.err"; then
	echo "FAIL pinning $XDP_OBJ's maps under $PIN"
	sed 's/^/     /' "$tmp/pin.err" | tail -20
	failed=$((failed + 1))
	no_kern="the XDP object did not load"
fi
export TOLLGATE_PIN_DIR=$PIN
policy=$tmp/tenants.yaml
write_tenant_policy "$policy"
tf=$tmp/textfile
mkdir -p "$tf"

# ---- without maps -----------------------------------------------------------------------

tc -j export --textfile "$tf" --once --pin-dir "$tmp/nothing"
check "export --once without maps fails and writes nothing" eval \
	'[ $rc -eq 1 ] && grep -q "run tollctl attach" <<<"$out" && [ -z "$(ls -A "$tf")" ]'
tc export --textfile "$tmp/no-such-dir" --once
check "export to a missing directory is an error" eval '[ $rc -eq 1 ] && grep -q "no-such-dir" <<<"$err"'
tc export --once
check "export needs --textfile or --listen" eval '[ $rc -eq 2 ]'
tc export --textfile "$tf" --listen 127.0.0.1:0
check "export takes one of --textfile and --listen" eval '[ $rc -eq 2 ]'
tc export --listen 127.0.0.1:0 --once
check "--once goes with --textfile only" eval '[ $rc -eq 2 ]'
tc export --listen 127.0.0.1
check "--listen without a port is an error" eval '[ $rc -eq 1 ]'

# Running, the exporter keeps the file current even while nothing is
# attached: tollgate_kern_up 0 says so.
mkdir -p "$tmp/down"
"$TOLLCTL" export --textfile "$tmp/down" --interval 100ms --pin-dir "$tmp/nothing" \
	>/dev/null 2>"$tmp/down.err" &
down_pid=$!
pids+=("$down_pid")
wait_for test -s "$tmp/down/tollgate.prom"
kill -TERM "$down_pid"
wait "$down_pid"
down_rc=$?
check "without maps the running exporter writes tollgate_kern_up 0, and logs why" eval \
	'[ "$down_rc" = 0 ] && [ "$(value "$tmp/down/tollgate.prom" tollgate_kern_up)" = 0 ] &&
	 grep -q "run tollctl attach" "$tmp/down.err"'
needs promtool "promtool accepts the tollgate_kern_up 0 file" eval \
	'"$PROMTOOL" check metrics <"$tmp/down/tollgate.prom" >"$tmp/err" 2>&1'

# ---- traffic ------------------------------------------------------------------------------

if [ -z "$no_kern" ]; then
	lpm4 "$PIN" 10.0.0.0/24 2
	syn_len=$(mkpkt "$tmp/syn" 10.0.0.5 10.0.0.1 40000 8080 syn 0)
	data_len=$(mkpkt "$tmp/data" 10.0.0.5 10.0.0.1 40000 8080 psh-ack 300)
	kern_run "$PIN" "$tmp/syn" >/dev/null
	kern_run "$PIN" "$tmp/data" 4 >/dev/null
	"$TOLLCTL" penalty add 10.0.0.66 --duration 1h >/dev/null
	mkpkt "$tmp/pen" 10.0.0.66 10.0.0.1 40001 8080 syn 0 >/dev/null
	kern_run "$PIN" "$tmp/pen" 2 >/dev/null
	"$TOLLCTL" tenant block 1 >/dev/null
fi

# ---- textfile -----------------------------------------------------------------------------

tc export --textfile "$tf" --once -c "$policy"
prom=$tf/tollgate.prom
needs kern "export --textfile --once writes DIR/tollgate.prom and nothing else" eval \
	'[ $rc -eq 0 ] && [ "$(ls -A "$tf")" = tollgate.prom ]'
needs kern "the textfile is world-readable (node_exporter may be another user)" eval \
	'[ "$(stat -c %a "$prom")" = 644 ]'
needs kern promtool "promtool check metrics accepts the textfile" eval \
	'"$PROMTOOL" check metrics <"$prom" >"$tmp/err" 2>&1'
needs kern "every family has HELP and TYPE; counters end in _total" families_ok "$prom"
needs kern "labels are reason, hook and tenant only" eval \
	'[ "$(label_names "$prom" | tr "\n" " ")" = "hook reason tenant " ]'
needs kern "no per-flow or per-address label values" eval \
	'! grep -E "10\.0\.0\.|:8080|40000" "$prom"'
needs kern "verdict packets match the frames run" eval \
	'[ "$(value "$prom" "tollgate_kern_verdict_packets_total{hook=\"xdp_ingress\",reason=\"pass\"}")" = 5 ] &&
	 [ "$(value "$prom" "tollgate_kern_verdict_packets_total{hook=\"xdp_ingress\",reason=\"penalty_box\"}")" = 2 ]'
needs kern "verdict bytes match the frames run" eval \
	'[ "$(value "$prom" "tollgate_kern_verdict_bytes_total{hook=\"xdp_ingress\",reason=\"pass\"}")" = $((syn_len + 4 * data_len)) ]'
needs kern "program runs" eval \
	'[ "$(value "$prom" "tollgate_kern_program_runs_total{hook=\"xdp_ingress\"}")" = 7 ]'
needs kern "tenants are labelled by policy name with -c" eval \
	'[ "$(value "$prom" "tollgate_tenant_ingress_packets_total{tenant=\"beta\"}")" = 5 ] &&
	 [ "$(value "$prom" "tollgate_tenant_dropped_packets_total{tenant=\"beta\",reason=\"penalty_box\"}")" = 2 ]'
needs kern "a blocked tenant shows in tollgate_tenant_blocked" eval \
	'[ "$(value "$prom" "tollgate_tenant_blocked{tenant=\"alpha\"}")" = 1 ] &&
	 [ "$(value "$prom" "tollgate_tenant_blocked{tenant=\"beta\"}")" = 0 ]'
needs kern "flow table and penalty box gauges" eval \
	'[ "$(value "$prom" "tollgate_kern_flow_entries")" = 1 ] &&
	 [ "$(value "$prom" "tollgate_kern_penalty_sources")" = 1 ] &&
	 [ "$(value "$prom" "tollgate_kern_up")" = 1 ]'
tc export --textfile "$tf" --once
needs kern "without -c tenants are labelled by id" eval \
	'[ $rc -eq 0 ] && [ "$(value "$prom" "tollgate_tenant_ingress_packets_total{tenant=\"2\"}")" = 5 ]'

# Repeated writes: the file is replaced, never seen half-written.
if [ -z "$no_kern" ]; then
	"$TOLLCTL" export --textfile "$tf" --interval 100ms >"$tmp/loop.out" 2>&1 &
	loop_pid=$!
	pids+=("$loop_pid")
	sleep 0.3
	kern_run "$PIN" "$tmp/data" 3 >/dev/null
	wait_for eval '[ "$(value "$prom" "tollgate_kern_program_runs_total{hook=\"xdp_ingress\"}")" = 10 ]'
	updated=$?
	torn=0
	for i in $(seq 30); do
		[ "$(tail -c 1 "$prom" | od -An -c | tr -d ' ')" = '\n' ] || torn=1
		sleep 0.01
	done
	kill -TERM "$loop_pid"
	wait "$loop_pid"
	loop_rc=$?
	leftovers=$(find "$tf" -mindepth 1 ! -name tollgate.prom)
fi
needs kern "export --interval rewrites the file as counters change" eval '[ "$updated" = 0 ]'
needs kern "a reader never sees a partial file" eval '[ "$torn" = 0 ]'
needs kern "SIGTERM stops the textfile loop cleanly, no temporary files left" eval \
	'[ "$loop_rc" = 0 ] && [ -z "$leftovers" ]'

# node_exporter reads the directory.
if [ -z "$no_kern$no_node" ]; then
	nport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$TOLLCTL" export --textfile "$tf" --once -c "$policy"
	"$NODE_EXPORTER" --web.listen-address="127.0.0.1:$nport" \
		--collector.textfile.directory="$tf" >"$tmp/node.log" 2>&1 &
	pids+=("$!")
	wait_for eval '[ "$(http GET "http://127.0.0.1:$nport/metrics")" = 200 ]'
	cp "$tmp/body" "$tmp/node.metrics"
fi
needs kern node "node_exporter's /metrics carries the tollgate_ series" eval \
	'grep -q "^tollgate_kern_verdict_packets_total{hook=\"xdp_ingress\",reason=\"pass\"} 8$" "$tmp/node.metrics" &&
	 grep -q "^tollgate_tenant_ingress_bytes_total{tenant=\"beta\"} " "$tmp/node.metrics"'
needs kern node "node_exporter read the textfile without error" eval \
	'grep -q "^node_textfile_scrape_error 0$" "$tmp/node.metrics"'
needs kern node promtool "promtool accepts node_exporter's /metrics" eval \
	'"$PROMTOOL" check metrics <"$tmp/node.metrics" >"$tmp/err" 2>&1 || ! grep -q "^error\|tollgate" "$tmp/err"'

# ---- /metrics listener -----------------------------------------------------------------------

if [ -z "$no_kern" ]; then
	"$TOLLCTL" -j export --listen 127.0.0.1:0 -c "$policy" >"$tmp/listen.out" 2>"$tmp/listen.err" &
	lpid=$!
	pids+=("$lpid")
	wait_for grep -q listen "$tmp/listen.out"
	addr=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["listen"])' "$tmp/listen.out" 2>/dev/null)
	st=$(http GET "http://$addr/metrics")
	cp "$tmp/body" "$tmp/listen.metrics"
	ctype=$(cat "$tmp/ctype")
fi
needs kern "export --listen -j says where it listens" eval '[[ "$addr" == 127.0.0.1:* ]]'
needs kern "GET /metrics: 200 with the exposition content type" eval \
	'[ "$st" = 200 ] && [[ "$ctype" == "text/plain; version=0.0.4"* ]]'
needs kern promtool "promtool check metrics accepts /metrics" eval \
	'"$PROMTOOL" check metrics <"$tmp/listen.metrics" >"$tmp/err" 2>&1'
needs kern "/metrics has the counters now" eval \
	'[ "$(value "$tmp/listen.metrics" "tollgate_kern_program_runs_total{hook=\"xdp_ingress\"}")" = 10 ] &&
	 [ "$(value "$tmp/listen.metrics" "tollgate_tenant_ingress_packets_total{tenant=\"beta\"}")" = 8 ]'
needs kern "/metrics labels are reason, hook and tenant only" eval \
	'[ "$(label_names "$tmp/listen.metrics" | tr "\n" " ")" = "hook reason tenant " ]'
if [ -z "$no_kern" ]; then
	kern_run "$PIN" "$tmp/data" 1 >/dev/null
	http GET "http://$addr/metrics" >/dev/null
fi
needs kern "every scrape reads the maps afresh" eval \
	'[ "$(value "$tmp/body" "tollgate_kern_program_runs_total{hook=\"xdp_ingress\"}")" = 11 ]'
[ -z "$no_kern" ] && st=$(http GET "http://$addr/")
needs kern "GET / is 404" eval '[ "$st" = 404 ]'
[ -z "$no_kern" ] && st=$(http GET "http://$addr/metricsx")
needs kern "GET /metricsx is 404" eval '[ "$st" = 404 ]'
[ -z "$no_kern" ] && st=$(http POST "http://$addr/metrics")
needs kern "POST /metrics is 405" eval '[ "$st" = 405 ]'
[ -z "$no_kern" ] && st=$(http GET "http://$addr/metrics" "garbage\r\n\r\n")
needs kern "a malformed request line is 400" eval '[ "$st" = 400 ]'
if [ -z "$no_kern" ]; then
	big="GET /metrics HTTP/1.1\r\nX: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n"
	st=$(http GET "http://$addr/metrics" "$big")
fi
needs kern "a request head over 8 KiB is 431" eval '[ "$st" = 431 ]'
if [ -z "$no_kern" ]; then
	# A client that connects and says nothing must not stop the others
	# for long: the socket timeout ends it.
	python3 -c 'import socket, sys, time; s = socket.create_connection((sys.argv[1], int(sys.argv[2]))); time.sleep(8)' \
		"${addr%:*}" "${addr##*:}" &
	idle=$!
	pids+=("$idle")
	sleep 0.2
	t0=$(date +%s)
	st=$(http GET "http://$addr/metrics")
	t1=$(date +%s)
fi
needs kern "after bad requests and an idle client it still serves" eval \
	'[ "$st" = 200 ] && [ $((t1 - t0)) -le 7 ]'
if [ -z "$no_kern" ]; then
	kill -TERM "$lpid"
	wait "$lpid"
	lrc=$?
fi
needs kern "SIGTERM stops the listener cleanly" eval '[ "$lrc" = 0 ]'

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
