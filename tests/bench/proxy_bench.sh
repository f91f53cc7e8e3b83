#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make bench-proxy: tollgated as a plain reverse proxy against nginx as a
# reverse proxy and against the upstream directly, in one run, on the same
# upstream (nginx, one worker, serving a fixed ~1 KB JSON answer) with the
# same pinning: the proxy and the upstream on CPU 0, wrk on CPU 1; one
# worker per proxy, keep-alive to the upstream.
#
#   - keep-alive POSTs of 1.3 KB and 16 KB at 1, 32 and 256 connections:
#     requests/s, p50/p99 latency (wrk --latency), CPU µs per request of the
#     proxy process (utime+stime from /proc/PID/stat around the run);
#   - an SSE answer of 500 events: time to first byte and total (curl,
#     median of 30, targets alternating);
#   - memory with 10,000 idle keep-alive connections (each has carried one
#     request): RSS growth of the proxy / connections.
#
# Prints one Markdown table per part with ratios against nginx, then the
# issue's targets and whether they were met.
#
#   BENCH_QUICK=1      one round of 2 s per load point, 10 SSE samples,
#                      2,000 idle connections (smoke run, ~1 min)
#   BENCH_TARGETS      which to measure, default "direct nginx tollgated"
#   BENCH_ROUNDS       rounds (default 3); each round runs every load point
#                      against every target in turn, and the tables give
#                      the median over rounds, so a burst of other work on
#                      the machine hits one sample, not one target
#   BENCH_SECONDS      seconds per load point (default 5)
#   BENCH_NICE         niceness of everything measured (default -10: other
#                      work on the machine disturbs the figures less)
#   BUILD              the build directory with tollgated (default build)
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/integration/proxy_lib.sh
source tests/integration/proxy_lib.sh
pl_init bench

QUICK=${BENCH_QUICK:-0}
TARGETS=${BENCH_TARGETS:-direct nginx tollgated}
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
SSE_N=30
IDLE_CONNS=10000
CONNS_LIST="1 32 256"
SIZES="1300 16384"
if [ "$QUICK" = 1 ]; then
	SECS=2 ROUNDS=1 SSE_N=10 IDLE_CONNS=2000
fi
PROXY_CPU=0 WRK_CPU=1
NICE=${BENCH_NICE:--10}
HZ=$(getconf CLK_TCK)
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

for tool in nginx wrk curl taskset python3; do
	command -v "$tool" >/dev/null || { echo "bench-proxy: $tool is missing (scripts/deps.sh)" >&2; exit 1; }
done

# pin CPU PID: every thread of PID and of its children onto CPU, at
# $NICE.
pin() {
	local p
	for p in "$2" $(pgrep -P "$2"); do
		taskset -a -cp "$1" "$p" >/dev/null
		renice -n "$NICE" -p "$p" >/dev/null
	done
}

# on_wrk_cpu CMD...: runs CMD on the load generator's CPU at $NICE.
on_wrk_cpu() {
	nice -n "$NICE" taskset -c "$WRK_CPU" "$@"
}

for size in $SIZES; do
	python3 - "$size" >"$PL_TMP/post-$size.lua" <<-'EOF'
		import sys
		size = int(sys.argv[1])
		head = '{"model":"bench","messages":[{"role":"user","content":"'
		tail = '"}],"stream":false}'
		body = head + "x" * (size - len(head) - len(tail)) + tail
		print('wrk.method = "POST"')
		print('wrk.headers["Content-Type"] = "application/json"')
		print("wrk.body = [[%s]]" % body)
	EOF
done

pl_upstream_nginx || { echo "bench-proxy: the nginx upstream did not start" >&2; exit 1; }
pin "$PROXY_CPU" "$UP_PID"
UP=127.0.0.1:$UP_PORT
# nginx as a proxy has no per-upstream connection cap; tollgated's default
# (256) would answer 503 at 256 client connections.
PL_CONNECTIONS=20000 PL_ACCESS_LOG=off PL_KEEPALIVE=64 PL_BODY_BYTES=1MiB PL_IDLE_TIMEOUT=300s
PL_UP_MAX_CONNS=1024
pl_route / "$UP"

# to_us VALUE: wrk's 52.10us / 1.20ms / 1.01s in microseconds.
to_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /s$/) m = 1000000; else m = 1
		printf "%.0f", n * m }'
}

declare -A RPS P50 P99 CPU ERR SSE_TTFB SSE_TOTAL MEM MEMTOT

# point TARGET SIZE CONNS ROUND: one wrk run against TARGET; appends its
# figures to the lists the medians are taken from.
point() {
	local t=$1 size=$2 c=$3 round=$4 k=$1,$2,$3 out c0 c1 reqs rps p50 p99 cpu err
	out=$PL_TMP/wrk-$t-$size-$c-$round.txt
	# shellcheck disable=SC2086
	c0=$(pl_cpu_ticks ${PIDS[$t]})
	on_wrk_cpu wrk -t1 -c"$c" -d"${SECS}s" --timeout 5s --latency \
		-s "$PL_TMP/post-$size.lua" "${URL[$t]}/v1/bench" >"$out" 2>&1
	# shellcheck disable=SC2086
	c1=$(pl_cpu_ticks ${PIDS[$t]})
	reqs=$(awk '/requests in/ {print $1}' "$out")
	rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$out")
	p50=$(to_us "$(awk '$1 == "50%" {print $2}' "$out")")
	p99=$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")
	cpu=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v r="${reqs:-0}" \
		'BEGIN { if (r > 0) printf "%.1f", d * 1000000 / hz / r }')
	err=$(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' \n' ' ')
	if [ -z "$rps" ] || [ "${reqs:-0}" -eq 0 ]; then
		# No figures (the target refused or died): an error, not a zero.
		err="no result: $(head -c 200 "$out" | tr '\n' ' ')"
	else
		RPS[$k]+=" $rps" P50[$k]+=" $p50" P99[$k]+=" $p99" CPU[$k]+=" $cpu"
	fi
	[ -n "$err" ] && ERR[$k,$round]=$err
	printf '  round %s %-9s %5s B c=%-3s %8s req/s  p50 %6s us  p99 %6s us  cpu %6s us/req %s\n' \
		"$round" "$t" "$size" "$c" "$rps" "$p50" "$p99" "${cpu:--}" "$err" >&2
}

# median LIST: the median of the numbers in LIST ("-" when empty).
median() {
	tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g |
		awk '{ a[NR] = $1 } END {
			if (NR == 0) print "-"
			else if (NR % 2) print a[(NR + 1) / 2]
			else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# sse_sample TARGET: one fetch of the 500-event answer, appended to
# $PL_TMP/sse-TARGET.txt as "ttfb total bytes" (seconds).
sse_sample() {
	on_wrk_cpu curl -s --max-time 10 -o /dev/null \
		-w '%{time_starttransfer} %{time_total} %{size_download}\n' "${URL[$1]}/sse" >>"$PL_TMP/sse-$1.txt"
}

# sse_median TARGET: sets SSE_TTFB and SSE_TOTAL (µs) from the samples;
# "-" when any sample came back short.
sse_median() {
	local t=$1
	read -r "SSE_TTFB[$t]" "SSE_TOTAL[$t]" < <(python3 -c '
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in rows if int(r[2]) > 40000]
if not ok or len(ok) != len(rows):
    print("- -"); sys.exit()
print("%.0f %.0f" % (statistics.median(float(r[0]) for r in ok) * 1e6,
                     statistics.median(float(r[1]) for r in ok) * 1e6))' "$PL_TMP/sse-$t.txt")
	echo "  $t SSE: ttfb ${SSE_TTFB[$t]} us, total ${SSE_TOTAL[$t]} us" >&2
}

# idle TARGET PORT PIDS: RSS growth per idle keep-alive connection.
idle() {
	local t=$1 port=$2 pids=$3 r0=0 r1=0 p
	for p in $pids; do r0=$((r0 + $(pl_rss_kb "$p"))); done
	rm -f "$PL_TMP/idle.ready"
	cat >"$PL_TMP/idle.py" <<-'EOF'
		import asyncio, sys, time
		port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
		REQ = b"GET /v1/idle HTTP/1.1\r\nHost: bench\r\n\r\n"
		async def one(sem, held):
		    async with sem:
		        r, w = await asyncio.open_connection("127.0.0.1", port)
		        w.write(REQ)
		        await w.drain()
		        head = await r.readuntil(b"\r\n\r\n")
		        n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
		        await r.readexactly(n)
		    held.append((r, w))
		async def main():
		    held = []
		    sem = asyncio.Semaphore(64)
		    await asyncio.gather(*[one(sem, held) for _ in range(n)])
		    open(ready, "w").write("%d\n" % len(held))
		    await asyncio.sleep(600)
		asyncio.run(main())
	EOF
	pl_spawn "idle-$t" nice -n "$NICE" taskset -c "$WRK_CPU" python3 "$PL_TMP/idle.py" "$port" "$IDLE_CONNS" "$PL_TMP/idle.ready"
	local idle_pid=$PL_LAST_PID i
	for ((i = 0; i < 1200; i++)); do
		[ -s "$PL_TMP/idle.ready" ] && break
		kill -0 "$idle_pid" 2>/dev/null || break
		sleep 0.05
	done
	sleep 1
	for p in $pids; do r1=$((r1 + $(pl_rss_kb "$p"))); done
	local held
	held=$(cat "$PL_TMP/idle.ready" 2>/dev/null)
	if [ "${held:-0}" -eq "$IDLE_CONNS" ]; then
		MEM[$t]=$(awk -v a="$r0" -v b="$r1" -v n="$IDLE_CONNS" 'BEGIN { printf "%.1f", (b - a) / n }')
		MEMTOT[$t]=$(awk -v b="$r1" -v n="$IDLE_CONNS" 'BEGIN { printf "%.1f", b / n }')
	else
		MEM[$t]="- (held ${held:-0})"
	fi
	echo "  $t idle: RSS $r0 -> $r1 KiB with ${held:-0} connections: +${MEM[$t]} KiB each, ${MEMTOT[$t]-?} KiB each in total" >&2
	kill -TERM -- "-$idle_pid" 2>/dev/null
	wait "$idle_pid" 2>/dev/null
}

# Start every target; all stay up, idle but for the one measured, so the
# rounds can alternate between them.
declare -A URL PIDS PORT
active=()
for t in $TARGETS; do
	case $t in
	direct)
		PIDS[$t]=$(pgrep -P "$UP_PID")
		URL[$t]=http://$UP PORT[$t]=$UP_PORT
		;;
	nginx | tollgated)
		PROXY_UNDER_TEST=$t
		if [ "$t" = tollgated ] && [ ! -x "$PL_TOLLGATED" ]; then
			echo "  $PL_TOLLGATED is not built; skipped" >&2
			continue
		fi
		if ! pl_proxy_start; then
			echo "  $t did not start; skipped" >&2
			continue
		fi
		pin "$PROXY_CPU" "$PROXY_PID"
		PIDS[$t]=$(pl_proxy_workers)
		URL[$t]=$PROXY_URL PORT[$t]=$PROXY_PORT
		;;
	*)
		echo "bench-proxy: unknown target $t" >&2
		exit 2
		;;
	esac
	active+=("$t")
	# Warm up: upstream keep-alive pool, caches, lazily built state.
	on_wrk_cpu wrk -t1 -c32 -d1s -s "$PL_TMP/post-1300.lua" "${URL[$t]}/v1/bench" >/dev/null 2>&1
done

for ((round = 1; round <= ROUNDS; round++)); do
	for size in $SIZES; do
		for c in $CONNS_LIST; do
			for t in "${active[@]}"; do
				point "$t" "$size" "$c" "$round"
			done
		done
	done
done
for ((i = 0; i < SSE_N; i++)); do
	for t in "${active[@]}"; do
		sse_sample "$t"
	done
done
for t in "${active[@]}"; do
	sse_median "$t"
	idle "$t" "${PORT[$t]}" "${PIDS[$t]}"
done

for k in "${!RPS[@]}"; do
	RPS[$k]=$(median "${RPS[$k]}") P50[$k]=$(median "${P50[$k]}")
	P99[$k]=$(median "${P99[$k]}") CPU[$k]=$(median "${CPU[$k]}")
done

# ratio A B: A/B to two decimals, "-" when either is missing.
ratio() {
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}

v() { echo "${1:--}"; }

echo
echo "### Proxy: keep-alive POSTs ($(nproc) CPUs; proxy and upstream on CPU $PROXY_CPU, wrk on CPU $WRK_CPU; median of $ROUNDS rounds of ${SECS} s per point)"
echo
echo "| body | conns | direct req/s | nginx req/s | tollgated req/s | tg/nginx | p50 direct / nginx / tg (µs) | p99 direct / nginx / tg (µs) | CPU µs/req nginx | CPU µs/req tg | tg/nginx CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for size in $SIZES; do
	for c in $CONNS_LIST; do
		k=$size,$c
		printf '| %s | %s | %s | %s | %s | %s | %s / %s / %s | %s / %s / %s | %s | %s | %s |\n' \
			"$([ "$size" = 1300 ] && echo 1.3 KB || echo 16 KB)" "$c" \
			"$(v "${RPS[direct,$k]-}")" "$(v "${RPS[nginx,$k]-}")" "$(v "${RPS[tollgated,$k]-}")" \
			"$(ratio "${RPS[tollgated,$k]-}" "${RPS[nginx,$k]-}")" \
			"$(v "${P50[direct,$k]-}")" "$(v "${P50[nginx,$k]-}")" "$(v "${P50[tollgated,$k]-}")" \
			"$(v "${P99[direct,$k]-}")" "$(v "${P99[nginx,$k]-}")" "$(v "${P99[tollgated,$k]-}")" \
			"$(v "${CPU[nginx,$k]-}")" "$(v "${CPU[tollgated,$k]-}")" \
			"$(ratio "${CPU[tollgated,$k]-}" "${CPU[nginx,$k]-}")"
	done
done
errs=
for k in "${!ERR[@]}"; do
	[ -n "${ERR[$k]}" ] && errs+="  $k: ${ERR[$k]}"$'\n'
done
[ -n "$errs" ] && printf '\nwrk reported errors:\n%s' "$errs"

echo
echo "### Proxy: SSE answer of 500 events (median of $SSE_N, µs)"
echo
echo "| | direct | nginx | tollgated | tg/nginx |"
echo "|---|---|---|---|---|"
echo "| time to first byte | $(v "${SSE_TTFB[direct]-}") | $(v "${SSE_TTFB[nginx]-}") | $(v "${SSE_TTFB[tollgated]-}") | $(ratio "${SSE_TTFB[tollgated]-}" "${SSE_TTFB[nginx]-}") |"
echo "| total | $(v "${SSE_TOTAL[direct]-}") | $(v "${SSE_TOTAL[nginx]-}") | $(v "${SSE_TOTAL[tollgated]-}") | $(ratio "${SSE_TOTAL[tollgated]-}" "${SSE_TOTAL[nginx]-}") |"

echo
echo "### Proxy: memory per idle keep-alive connection ($IDLE_CONNS connections, KiB of RSS)"
echo
echo "| | direct (nginx upstream) | nginx proxy | tollgated |"
echo "|---|---|---|---|"
echo "| growth / connections | $(v "${MEM[direct]-}") | $(v "${MEM[nginx]-}") | $(v "${MEM[tollgated]-}") |"
echo "| whole RSS / connections | $(v "${MEMTOT[direct]-}") | $(v "${MEMTOT[nginx]-}") | $(v "${MEMTOT[tollgated]-}") |"

echo
echo "### Targets"
met() { if [ "$1" = 1 ]; then echo met; else echo "NOT met"; fi; }
if [ -n "${RPS[tollgated,1300,1]-}" ] && [ -n "${RPS[nginx,1300,1]-}" ]; then
	rps_ok=1 cpu_ok=1
	for size in $SIZES; do
		for c in $CONNS_LIST; do
			k=$size,$c
			awk -v a="${RPS[tollgated,$k]:-0}" -v b="${RPS[nginx,$k]:-1}" 'BEGIN { exit !(a + 0 >= b + 0) }' || rps_ok=0
			awk -v a="${CPU[tollgated,$k]:-x}" -v b="${CPU[nginx,$k]:-0}" \
				'BEGIN { exit !(a ~ /^[0-9.]+$/ && a + 0 < b + 0) }' || cpu_ok=0
		done
	done
	d99=$(awk -v a="${P99[tollgated,1300,1]:-x}" -v b="${P99[direct,1300,1]:-x}" \
		'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%+.0f", a - b; else print "n/a" }')
	echo "- >= 1.0x nginx's requests/s at every point: $(met $rps_ok)"
	echo "- lower CPU per request than nginx at every point: $(met $cpu_ok)"
	echo "- p99 at 1 connection (1.3 KB) within 40 µs of direct: $d99 µs, $(met "$(awk -v d="$d99" 'BEGIN { print (d ~ /^[-+0-9]+$/ && d + 0 <= 40) ? 1 : 0 }')")"
	mem_ok=$(awk -v m="${MEM[tollgated]:-x}" 'BEGIN { print (m ~ /^-?[0-9.]+$/ && m + 0 <= 16) ? 1 : 0 }')
	echo "- <= 16 KB per idle connection: ${MEM[tollgated]-?} KiB, $(met "$mem_ok")"
else
	echo "- (tollgated or nginx not measured: no target verdicts)"
fi
