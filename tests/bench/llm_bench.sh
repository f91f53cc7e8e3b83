#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make bench-llm: what governance costs. In one run, the same upstream (nginx
# answering every POST with a fixed chat completion, usage included) behind:
#
#   direct      the upstream itself
#   nginx       nginx as a reverse proxy (one worker, keep-alive upstream)
#   plain       tollgated as a plain reverse proxy (one worker)
#   portkey     @portkey-ai/gateway (npm), the reference AI gateway, as an
#               OpenAI passthrough to the same upstream (x-portkey-custom-host),
#               installed on demand in tests/bench/portkey; left out (said
#               so) when it cannot be installed or started
#   governed    tollgated's OpenAI front door (one worker): API-key auth,
#               limits and a budget, the JSON scanner and rewrite, usage
#               accounting, the audit log (fsync batch) and the GenAI
#               metrics
#
# The access log (a proxy-core feature, not governance) is off in all
# three proxies, as nginx's is: the governed/plain ratio is then the cost
# of governance alone. (It used to be on in governed only, which charged
# governance about 0.6 µs a request for a log plain did not write.)
#
# Keep-alive POSTs of a ~1.3 KB chat request at 1 and 32 connections (wrk,
# pinned: the proxies and the upstream on CPU 0, wrk on CPU 1): requests/s,
# p50/p99 and CPU µs per request of the proxy, median of BENCH_ROUNDS rounds.
# Then the same request at fixed rates, open loop (build/bench/openloop,
# tests/bench/openloop.c: 32 connections, each of OPEN_RATES requests/s,
# latency from each request's scheduled time): p50/p99 below saturation. wrk's p99
# at 32 connections is queueing at saturation (a proxy on the upstream's
# core halves what the core serves), so the added-latency target is judged
# on the open-loop p99.
# Targets (issue 5): governed ≥ 0.90× plain's requests/s; governed's p99 at
# 32 connections ≤ 100 µs above direct's (open loop); governed's CPU per
# request below nginx's.
#
#   BENCH_ROUNDS (5: single runs vary by ±3% here) BENCH_SECONDS (5) BUILD (build)
#   OPEN_RATES ("5000 10000 20000": 10, 20 and 40% of what the governed
#   gateway serves here) OPEN_ROUNDS (3)
#   BENCH_TARGETS (all that run) BENCH_CONNS ("1 32"): a subset, for
#   profiling one target (the targets' lines then say only what was run)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
TGD=$(realpath "$BUILD/tollgated")
TOLLCTL=$(realpath "$BUILD/tollctl")
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-5}
HZ=$(getconf CLK_TCK)
OPEN_RATES=${OPEN_RATES:-5000 10000 20000}
OPEN_ROUNDS=${OPEN_ROUNDS:-3}
OPENLOOP=$(realpath "$BUILD/bench/openloop" 2>/dev/null)
for tool in nginx wrk taskset python3; do
	command -v "$tool" >/dev/null || { echo "bench-llm: $tool is missing (scripts/deps.sh)" >&2; exit 1; }
done
[ -x "$OPENLOOP" ] || { echo "bench-llm: $BUILD/bench/openloop is missing (make bench-llm builds it)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tg-llm-bench.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# Five distinct free ports: all bound at once, so the kernel cannot hand
# the same one out twice (one at a time, it did: a target then failed to
# bind and the bench measured whoever held its port).
read -r UP NG PL GV PK < <(python3 -c 'import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

answer='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog."},"finish_reason":"stop"}],"usage":{"prompt_tokens":321,"completion_tokens":11,"total_tokens":332}}'
common="worker_processes 1; daemon off; error_log $tmp/ng-err.log;
events { worker_connections 4096; }"
temps="client_body_temp_path $tmp; proxy_temp_path $tmp; fastcgi_temp_path $tmp; uwsgi_temp_path $tmp; scgi_temp_path $tmp;"
cat >"$tmp/up.conf" <<EOF
$common pid $tmp/up.pid;
http { access_log off; keepalive_requests 1000000; $temps
  server { listen 127.0.0.1:$UP; location / { client_body_buffer_size 64k;
    default_type application/json; return 200 '$answer'; } } }
EOF
cat >"$tmp/ng.conf" <<EOF
$common pid $tmp/ng.pid;
http { access_log off; keepalive_requests 1000000; $temps
  upstream app { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NG; location / { proxy_pass http://app;
    proxy_http_version 1.1; proxy_set_header Connection ""; } } }
EOF
key=tg-bench-key
hash=$(printf %s "$key" | "$TOLLCTL" key hash)
cat >"$tmp/plain.yaml" <<EOF
version: 1
server: {workers: 1, limits: {connections: 20000}}
listeners:
  - {name: plain, address: 127.0.0.1:$PL, auth: none, endpoints: [health], routes: [{path: /, upstream: app}]}
upstreams:
  - {name: app, servers: [127.0.0.1:$UP], keepalive: 64, max_connections: 1024}
telemetry: {access_log: {enabled: false}}
EOF
cat >"$tmp/gov.yaml" <<EOF
version: 1
server: {workers: 1, limits: {connections: 20000}, state_file: $tmp/budgets.state}
listeners:
  - {name: api, address: 127.0.0.1:$GV, endpoints: [llm, health, metrics]}
tenants:
  - name: bench
    limits: {requests_per_minute: 100000000, tokens_per_minute: 100000000000}
    budgets: [{period: day, tokens: 1000000000000, action: block}]
    keys: [{name: bench, hash: "$hash"}]
providers:
  - {name: up, type: openai_compatible, base_url: "http://127.0.0.1:$UP/v1", max_connections: 1024}
models:
  - {name: gpt-bench, provider: up, price: {input: 0.15, output: 0.6}}
telemetry:
  access_log: {enabled: false}
  audit: {enabled: true, path: $tmp/audit.jsonl, fsync: batch}
EOF

nginx -c "$tmp/up.conf" & pids+=($!)
nginx -c "$tmp/ng.conf" & pids+=($!)
"$TGD" -c "$tmp/plain.yaml" 2>"$tmp/plain.log" & pids+=($!); PLAIN_PID=$!
"$TGD" -c "$tmp/gov.yaml" 2>"$tmp/gov.log" & pids+=($!); GOV_PID=$!
# The reference AI gateway, when it can run here (npm ci on demand: the
# bench sets itself up; make test never installs it).
PK_PID=
PK_DIR=tests/bench/portkey
NODE=tests/interop/node_modules/.bin/node
[ -x "$NODE" ] || NODE=node
if [ -d "$PK_DIR/node_modules/@portkey-ai/gateway" ] ||
   (cd "$PK_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
	"$NODE" "$PK_DIR/node_modules/@portkey-ai/gateway/build/start-server.js" --port="$PK" \
		--headless >"$tmp/portkey.log" 2>&1 &
	pids+=($!); PK_PID=$!
else
	echo "bench-llm: @portkey-ai/gateway could not be installed: left out" >&2
fi
sleep 1
[ -n "$PK_PID" ] && sleep 2	# node starts slower
for t in plain:$PLAIN_PID gov:$GOV_PID; do
	if ! kill -0 "${t#*:}" 2>/dev/null; then
		echo "bench-llm: the ${t%%:*} tollgated is not running:" >&2
		tail -5 "$tmp/${t%%:*}.log" >&2
		exit 1
	fi
done
# nginx's worker processes do the work, not their masters.
UP_PID=$(pgrep -P "$(cat "$tmp/up.pid")" | head -1) NG_PID=$(pgrep -P "$(cat "$tmp/ng.pid")" | head -1)
for p in "$(cat "$tmp/up.pid")" "$UP_PID" "$(cat "$tmp/ng.pid")" "$NG_PID" "$PLAIN_PID" "$GOV_PID" $PK_PID; do
	taskset -a -cp 0 "$p" >/dev/null 2>&1
done

python3 - >"$tmp/post.lua" <<EOF
head = '{"model":"gpt-bench","messages":[{"role":"system","content":"You are brief."},{"role":"user","content":"'
tail = '"}],"temperature":0.2}'
body = head + "lorem ipsum " * ((1300 - len(head) - len(tail)) // 12) + tail
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/json"')
print('wrk.headers["Authorization"] = "Bearer $key"')
print("wrk.body = [[%s]]" % body)
EOF
code=$(curl -s -o "$tmp/check" -w '%{http_code}' -H "Authorization: Bearer $key" \
	-d @<(sed -n 's/^wrk.body = \[\[\(.*\)\]\]$/\1/p' "$tmp/post.lua") "http://127.0.0.1:$GV/v1/chat/completions")
if [ "$code" != 200 ]; then
	echo "bench-llm: the governed gateway answered $code: $(head -c 300 "$tmp/check")" >&2
	tail -5 "$tmp/gov.log" >&2
	exit 1
fi

# Portkey takes the provider and where it is from headers.
sed 's|^wrk.headers\["Authorization"\].*|&\nwrk.headers["x-portkey-provider"] = "openai"\nwrk.headers["x-portkey-custom-host"] = "http://127.0.0.1:'"$UP"'/v1"|' \
	"$tmp/post.lua" >"$tmp/post-portkey.lua"
TARGETS="direct nginx plain governed"
if [ -n "$PK_PID" ]; then
	code=$(curl -s -o "$tmp/check" -w '%{http_code}' -H "Authorization: Bearer $key" \
		-H 'Content-Type: application/json' -H 'x-portkey-provider: openai' \
		-H "x-portkey-custom-host: http://127.0.0.1:$UP/v1" \
		-d @<(sed -n 's/^wrk.body = \[\[\(.*\)\]\]$/\1/p' "$tmp/post.lua") "http://127.0.0.1:$PK/v1/chat/completions")
	if [ "$code" = 200 ]; then
		TARGETS="direct nginx plain portkey governed"
	else
		echo "bench-llm: portkey answered $code ($(head -c 200 "$tmp/check")): left out" >&2
	fi
fi
declare -A URL=([direct]="http://127.0.0.1:$UP" [nginx]="http://127.0.0.1:$NG"
	[plain]="http://127.0.0.1:$PL" [governed]="http://127.0.0.1:$GV" [portkey]="http://127.0.0.1:$PK")
declare -A PID=([direct]=$UP_PID [nginx]=$NG_PID [plain]=$PLAIN_PID [governed]=$GOV_PID [portkey]=$PK_PID)
declare -A LUA=([direct]=post.lua [nginx]=post.lua [plain]=post.lua [governed]=post.lua [portkey]=post-portkey.lua)
declare -A RPS P50 P99 CPU
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; m = v ~ /us$/ ? 1 : v ~ /ms$/ ? 1000 : 1000000; printf "%.0f", n * m }'; }
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : "-"}'; }

if [ -n "${BENCH_TARGETS:-}" ]; then
	for t in $BENCH_TARGETS; do
		[[ " $TARGETS " == *" $t "* ]] || { echo "bench-llm: no target $t (have: $TARGETS)" >&2; exit 1; }
	done
	TARGETS=$BENCH_TARGETS
fi
CONNS=${BENCH_CONNS:-1 32}

for round in $(seq "$ROUNDS"); do
	for c in $CONNS; do
		for t in $TARGETS; do
			k=$t,$c
			c0=$(ticks "${PID[$t]}")
			taskset -c 1 wrk -t1 -c"$c" -d"${SECS}s" --latency -s "$tmp/${LUA[$t]}" \
				"${URL[$t]}/v1/chat/completions" >"$tmp/wrk" 2>&1
			c1=$(ticks "${PID[$t]}")
			n=$(awk '/requests in/ {print $1}' "$tmp/wrk")
			RPS[$k]+=" $(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$tmp/wrk")"
			P50[$k]+=" $(to_us "$(awk '$1 == "50%" {print $2}' "$tmp/wrk")")"
			P99[$k]+=" $(to_us "$(awk '$1 == "99%" {print $2}' "$tmp/wrk")")"
			CPU[$k]+=" $(awk -v d=$((c1 - c0)) -v hz="$HZ" -v r="${n:-0}" 'BEGIN { if (r) printf "%.1f", d * 1e6 / hz / r }')"
			if grep -q 'Non-2xx' "$tmp/wrk"; then
				echo "bench-llm: $t at $c connections: $(grep 'Non-2xx' "$tmp/wrk")" >&2
			fi
		done
	done
done

# Open loop at 32 connections, every target but Portkey (it serves ~2k/s).
sed -n 's/^wrk.body = \[\[\(.*\)\]\]$/\1/p' "$tmp/post.lua" | tr -d '\n' >"$tmp/body"
declare -A OP50 OP99 OLATE
for round in $(seq "$OPEN_ROUNDS"); do
	for r in $OPEN_RATES; do
		for t in $TARGETS; do
			[ "$t" = portkey ] && continue
			taskset -c 1 "$OPENLOOP" -c 32 -r "$r" -d "$SECS" -w 1 -b "$tmp/body" \
				-H 'Content-Type: application/json' -H "Authorization: Bearer $key" \
				"${URL[$t]}/v1/chat/completions" >"$tmp/ol" 2>"$tmp/ol.err"
			OP50[$t,$r]+=" $(awk '$1 == "p50_us" {print $2}' "$tmp/ol")"
			OP99[$t,$r]+=" $(awk '$1 == "p99_us" {print $2}' "$tmp/ol")"
			OLATE[$t,$r]+=" $(awk '$1 == "late" {print $2}' "$tmp/ol")"
			e=$(awk '$1 == "errors" || $1 == "non2xx" {s += $2} END {print s + 0}' "$tmp/ol")
			[ "$e" = 0 ] || echo "bench-llm: open loop, $t at $r/s: $e errors or non-2xx answers" >&2
		done
	done
done

echo "### LLM gateway: governance vs plain proxy vs nginx vs direct (median of $ROUNDS rounds of $SECS s; ~1.3 KB chat request)"
echo
echo "| conns | target | req/s | p50 µs | p99 µs | CPU µs/req |"
echo "|---|---|---|---|---|---|"
for c in $CONNS; do
	for t in $TARGETS; do
		k=$t,$c
		echo "| $c | $t | $(median "${RPS[$k]}") | $(median "${P50[$k]}") | $(median "${P99[$k]}") | $([ "$t" = direct ] && echo "($(median "${CPU[$k]}") upstream)" || median "${CPU[$k]}") |"
	done
done
echo
echo "### Open loop: 32 connections at fixed rates (median of $OPEN_ROUNDS runs of $SECS s; latency from each request's scheduled time)"
echo
echo "| req/s | target | p50 µs | p99 µs | late |"
echo "|---|---|---|---|---|"
for r in $OPEN_RATES; do
	for t in $TARGETS; do
		[ "$t" = portkey ] && continue
		echo "| $r | $t | $(median "${OP50[$t,$r]}") | $(median "${OP99[$t,$r]}") | $(median "${OLATE[$t,$r]}") |"
	done
done
echo
if [[ " $TARGETS " != *" governed "* || " $TARGETS " != *" plain "* || " $TARGETS " != *" direct "* ||
      " $TARGETS " != *" nginx "* || " $CONNS " != *" 32 "* ]]; then
	echo "(a subset was run: the targets are judged on a full run)"
	exit 0
fi
g=$(median "${RPS[governed,32]}") p=$(median "${RPS[plain,32]}")
gc=$(median "${CPU[governed,32]}") nc=$(median "${CPU[nginx,32]}")
added=
for r in $OPEN_RATES; do
	added+=" $r:$(median "${OP99[governed,$r]}"):$(median "${OP99[direct,$r]}")"
done
python3 - "$g" "$p" "$gc" "$nc" "$added" <<'EOF'
import sys
g, p, gc, nc = map(float, sys.argv[1:5])
print("### Targets (32 connections)")
print("- governance costs <= 10%% of plain-proxy throughput: %.2fx, %s" % (g / p, "met" if g >= 0.9 * p else "NOT met"))
for item in sys.argv[5].split():
    r, gp99, dp99 = item.split(":")
    d = float(gp99) - float(dp99)
    print("- added p99 <= 100 us over direct, open loop at %s req/s: %+.0f us, %s" % (r, d, "met" if d <= 100 else "NOT met"))
print("- CPU per request below nginx's plain proxying: %.1f vs %.1f us, %s" % (gc, nc, "met" if gc < nc else "NOT met"))
EOF
# The log rotates (100 MB by default) during a run: count and verify every
# file of the chain, the rotated ones first (their names sort in time order).
shopt -s nullglob
audit_files=("$tmp"/audit.jsonl.* "$tmp/audit.jsonl")
shopt -u nullglob
lines=$(cat "${audit_files[@]}" | wc -l)
"$TOLLCTL" audit verify "${audit_files[@]}" >/dev/null &&
	echo "- audit log: $lines lines in ${#audit_files[@]} file(s) written and verified"
