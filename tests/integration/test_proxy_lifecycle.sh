#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The proxy's lifecycle under load, on each I/O backend (the default and
# TOLLGATE_IO=epoll):
# - an upstream killed mid-response: the client gets a 502 or a transfer
#   cut short (never a complete-looking answer), promptly; the next request
#   is served, and the restarted upstream too;
# - SIGHUP every 100 ms for 5 s under wrk load (the policy rewritten each
#   time, one of them broken): zero non-2xx answers and zero socket errors;
# - SIGTERM with slow requests in flight: they all complete with 200, new
#   connections are refused, the process exits within server.drain;
#   with a 1 s drain and a 6 s request it exits within the bound anyway;
# - the access log: one JSON line per request with every field.
#
# PROXY_UNDER_TEST=nginx runs the same against nginx (one backend).
# Prints "N passed, N failed, N skipped" last.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/integration/proxy_lib.sh
source tests/integration/proxy_lib.sh
pl_init lifecycle

pl_upstream_nginx || { fail "nginx upstream starts"; pl_summary; exit 1; }
direct=http://127.0.0.1:$UP_PORT
pl_upstream_rec || { fail "recording upstream starts"; pl_summary; exit 1; }
rec_port=$REC_PORT

# now_ms: milliseconds since the epoch.
now_ms() { date +%s%3N; }

# lifecycle BACKEND: the whole sequence on one proxy instance.
lifecycle() {
	local be=$1 out code rc t0 t1 i
	pl_routes_clear
	pl_route /half "127.0.0.1:$rec_port"
	pl_route /slow "127.0.0.1:$rec_port"
	pl_route /rec "127.0.0.1:$rec_port"
	pl_route / "127.0.0.1:$UP_PORT"
	PL_DRAIN=5s PL_IDLE_TIMEOUT=75s
	if ! pl_proxy_start; then
		fail "$be: proxy starts" "$PROXY_LOG"
		return
	fi
	if pl_is_tollgated; then
		SHOW=$PROXY_LOG check "$be: the daemon runs on the $be backend" \
			grep -qE "worker\(s\) on $be" "$PROXY_LOG"
	fi

	# An upstream that dies half way through its answer.
	t0=$(now_ms)
	code=$(curl -s -o "$PL_TMP/half.body" -w '%{http_code}' --max-time 5 "$PROXY_URL/half")
	rc=$? t1=$(now_ms)
	echo "     upstream died mid-answer: curl exit $rc, status $code, $(wc -c <"$PL_TMP/half.body") bytes, $((t1 - t0)) ms"
	check "$be: killed upstream -> 502 or a cut-short transfer, not a whole answer" \
		[ "$code" = 502 -o "$rc" = 18 -o "$rc" = 56 ]
	check "$be: ... and promptly ($((t1 - t0)) ms < 3000)" [ $((t1 - t0)) -lt 3000 ]
	out=$(curl -s --max-time 3 "$PROXY_URL/")
	check "$be: the next request is served" [ "$out" = "$(curl -s --max-time 3 "$direct/")" ]
	pl_upstream_rec "$rec_port" || fail "$be: upstream restarted on its port"
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$PROXY_URL/rec/back")
	check "$be: the restarted upstream is served again ($code)" [ "$code" = 200 ]

	# SIGHUP in a loop under load.
	pl_spawn "wrk-hup-$be" wrk -t1 -c16 -d5s --timeout 2s "$PROXY_URL/"
	local wrk_pid=$PL_LAST_PID good_conf=$PROXY_CONF.good
	cp "$PROXY_CONF" "$good_conf"
	for ((i = 0; i < 48; i++)); do
		if [ "$i" -eq 20 ]; then
			echo "this is: [not a policy" >"$PROXY_CONF.new" && mv -f "$PROXY_CONF.new" "$PROXY_CONF"
		else
			# Alternate a setting so each reload loads something new.
			PL_IDLE_TIMEOUT=$((70 + i % 2 * 5))s pl_proxy_rewrite
		fi
		kill -HUP "$PROXY_PID"
		sleep 0.1
	done
	PL_IDLE_TIMEOUT=75s pl_proxy_rewrite
	for ((i = 0; i < 100; i++)); do
		kill -0 "$wrk_pid" 2>/dev/null || break
		sleep 0.1
	done
	local wout=$PL_TMP/wrk-hup-$be.out reqs
	reqs=$(awk '/requests in/ {print $1}' "$wout")
	echo "     wrk during 48 SIGHUPs: ${reqs:-?} requests; $(grep -E 'Non-2xx|Socket errors' "$wout" | tr '\n' ' ')"
	SHOW=$wout check "$be: wrk completed requests under SIGHUP (${reqs:-0})" [ "${reqs:-0}" -gt 100 ]
	SHOW=$wout check "$be: zero non-2xx answers and socket errors under SIGHUP" \
		bash -c "! grep -qE 'Non-2xx|Socket errors' '$wout'"
	check "$be: still running after the reloads" kill -0 "$PROXY_PID"
	if pl_is_tollgated; then
		local reloaded refused
		reloaded=$(grep -c 'policy reloaded' "$PROXY_LOG")
		refused=$(grep -c 'reload failed; keeping the running policy' "$PROXY_LOG")
		check "$be: 47 good policies reloaded ($reloaded), the broken one refused ($refused)" \
			[ "$reloaded" -ge 40 -a "$refused" -eq 1 ]
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$PROXY_URL/")
	check "$be: serving after the reload storm ($code)" [ "$code" = 200 ]

	# SIGTERM with requests in flight.
	local curls=()
	for i in 1 2 3 4 5 6; do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 8 "$PROXY_URL/slow/1500" >"$PL_TMP/inflight-$be-$i" &
		curls+=($!)
	done
	sleep 0.4
	t0=$(now_ms)
	kill "-$(pl_drain_signal)" "$PROXY_PID"
	sleep 0.2
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$PROXY_URL/healthz")
	check "$be: no new request served once draining ($code)" [ "$code" != 200 ]
	pl_wait_exit "$PROXY_PID" 10
	t1=$(now_ms)
	wait "${curls[@]}"
	local done200
	done200=$(cat "$PL_TMP"/inflight-"$be"-* | grep -c '^200$')
	check "$be: the 6 in-flight requests completed with 200 ($done200)" [ "$done200" -eq 6 ]
	check "$be: exited $((t1 - t0)) ms after SIGTERM (after the in-flight ones, within drain 5 s)" \
		[ $((t1 - t0)) -ge 900 -a $((t1 - t0)) -le 6000 ]
	pl_is_tollgated && check "$be: exit status 0 (${PROXY_STATUS:-?})" [ "${PROXY_STATUS:-1}" = 0 ]

	# The access log, written (and flushed) by now.
	local al=$PROXY_ACCESS_LOG
	SHOW="" check "$be: access log: a JSON line per request, every field" python3 - "$al" "$PROXY_UNDER_TEST" "${reqs:-0}" <<-'EOF'
		import json, sys
		keys = {"time", "request_id", "listener", "client", "method", "path", "status",
		        "bytes_in", "bytes_out", "upstream", "duration_us"}
		lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
		slow = [l for l in lines if l["path"] == "/slow/1500"]
		bad = []
		if not lines:
		    bad.append("no lines")
		bad += ["missing %s: %s" % (sorted(keys - set(l)), l) for l in lines if not keys <= set(l)][:3]
		if len(slow) != 6 or not all(l["status"] == 200 and l["upstream"] for l in slow):
		    bad.append("the 6 /slow/1500 lines: %s" % slow)
		if len(lines) < int(sys.argv[3]):
		    bad.append("fewer lines than wrk's %s requests" % sys.argv[3])
		if len({l["request_id"] for l in lines}) != len(lines):
		    bad.append("request_id not unique")
		if sys.argv[2] == "tollgated":
		    bad += ["/slow/1500 took %s us" % l["duration_us"] for l in slow
		            if not 1_400_000 <= l["duration_us"] < 5_000_000][:3]
		    odd = [l for l in lines if not 0 <= l["duration_us"] < 60_000_000]
		    if odd:
		        bad.append("%d lines with duration_us out of range, e.g. %s" % (len(odd), odd[0]))
		print("%d lines, %d for /slow/1500%s" % (len(lines), len(slow), "".join("\n     " + b for b in bad)))
		sys.exit(1 if bad else 0)
	EOF

	# The drain bound: a request longer than drain does not hold the exit.
	PL_DRAIN=1s
	if pl_proxy_start; then
		curl -s -o /dev/null --max-time 8 "$PROXY_URL/slow/6000" &
		curls=($!)
		sleep 0.3
		t0=$(now_ms)
		kill "-$(pl_drain_signal)" "$PROXY_PID"
		pl_wait_exit "$PROXY_PID" 8
		t1=$(now_ms)
		check "$be: with drain 1s and a 6 s request, exited after $((t1 - t0)) ms (<= 2000)" \
			[ $((t1 - t0)) -le 2000 ]
		wait "${curls[@]}"
	else
		fail "$be: proxy with drain 1s starts" "$PROXY_LOG"
	fi
	PL_DRAIN=5s
}

if pl_is_tollgated; then
	lifecycle io_uring
	TOLLGATE_IO=epoll lifecycle epoll
else
	lifecycle nginx
fi
pl_finish
