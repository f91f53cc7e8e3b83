#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Slowloris: 1,000 connections trickle header bytes (one every 300 ms,
# never finishing the head) while a normal client (curl with a 1 s
# deadline) is served. The trickling connections are answered 408 and
# closed at the header timeout (2 s here), not before 1.5 s and all by
# 5 s; the proxy's resident memory grows by at most 24 MiB while it holds
# them (24 KiB a connection).
#
# PROXY_UNDER_TEST=nginx runs it against nginx (which closes without a 408:
# that check is skipped). Prints "N passed, N failed, N skipped" last.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/integration/proxy_lib.sh
source tests/integration/proxy_lib.sh
pl_init slowloris

CONNS=${SLOWLORIS_CONNS:-1000}
RSS_BOUND_KB=$((24 * 1024))
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

pl_upstream_nginx || { fail "nginx upstream starts"; pl_summary; exit 1; }
pl_route / "127.0.0.1:$UP_PORT"
PL_HEADER_TIMEOUT=2s
if ! pl_proxy_start; then
	fail "proxy starts" "$PROXY_LOG"
	pl_summary
	exit 1
fi

# Warm up (first upstream connection, lazily built state), then the
# baseline memory.
for _ in 1 2 3; do curl -s -o /dev/null --max-time 2 "$PROXY_URL/"; done
rss_pids=$(pl_proxy_workers)
rss_sum() {
	local p t=0
	for p in $rss_pids; do t=$((t + $(pl_rss_kb "$p"))); done
	echo "$t"
}
rss0=$(rss_sum)

cat >"$PL_TMP/loris.py" <<'EOF'
import asyncio, json, sys, time

port, n, ready, result = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]


async def one(i, start, out, connected):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        out.append({"connect_error": str(e)})
        connected.append(False)
        return
    connected.append(True)
    got = b""
    w.write(b"GET /loris-%d HTTP/1.1\r\nHost: a\r\nX-Slow: " % i)
    try:
        await w.drain()
        reader = asyncio.ensure_future(r.read(4096))
        while True:
            done, _ = await asyncio.wait({reader}, timeout=0.3)
            if done:
                d = reader.result()
                if not d:
                    break
                got += d
                reader = asyncio.ensure_future(r.read(4096))
                continue
            if time.monotonic() - start > 8:
                reader.cancel()
                out.append({"open": True, "got": got[:12].decode("latin-1")})
                w.close()
                return
            w.write(b"a")
            await w.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    out.append({"closed_after": time.monotonic() - start,
                "got": got[:12].decode("latin-1")})
    w.close()


async def main():
    out, connected = [], []
    start = time.monotonic()
    tasks = [asyncio.ensure_future(one(i, start, out, connected)) for i in range(n)]
    while len(connected) < n:
        await asyncio.sleep(0.01)
    open(ready, "w").write("%d %f\n" % (sum(connected), time.monotonic() - start))
    await asyncio.gather(*tasks)
    json.dump(out, open(result, "w"))

asyncio.run(main())
EOF
pl_spawn loris python3 "$PL_TMP/loris.py" "$PROXY_PORT" "$CONNS" "$PL_TMP/loris.ready" "$PL_TMP/loris.json"
loris_pid=$PL_LAST_PID

for ((i = 0; i < 200; i++)); do
	[ -s "$PL_TMP/loris.ready" ] && break
	sleep 0.05
done
read -r nconn t_conn <"$PL_TMP/loris.ready" 2>/dev/null
check "$CONNS trickling connections opened (${nconn:-0} in ${t_conn:-?} s)" [ "${nconn:-0}" -eq "$CONNS" ]

# The normal client, while the trickling ones are held.
served=0
for _ in 1 2 3 4 5; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$PROXY_URL/normal")
	[ "$code" = 200 ] && served=$((served + 1))
done
rss1=$(rss_sum)
check "a normal client is served while they trickle ($served/5 within 1 s each)" [ "$served" -eq 5 ]
growth=$((rss1 - rss0))
echo "     RSS ${rss0} KiB before, ${rss1} KiB holding $CONNS trickling connections (+$growth KiB, $((growth * 1024 / CONNS)) B each)"
check "memory growth $growth KiB <= $RSS_BOUND_KB KiB" [ "$growth" -le "$RSS_BOUND_KB" ]

for ((i = 0; i < 200; i++)); do
	kill -0 "$loris_pid" 2>/dev/null || break
	sleep 0.05
done
if [ ! -s "$PL_TMP/loris.json" ]; then
	fail "slowloris client finished" "$PL_TMP/loris.out"
else
	read -r closed still_open n408 tmin tmax < <(python3 -c '
import json, sys
out = json.load(open(sys.argv[1]))
c = [o["closed_after"] for o in out if "closed_after" in o]
print(len(c), sum(1 for o in out if o.get("open")),
      sum(1 for o in out if o.get("got", "").startswith("HTTP/1.1 408")),
      "%.2f" % min(c or [0]), "%.2f" % max(c or [0]))' "$PL_TMP/loris.json")
	echo "     closed $closed, still open $still_open, answered 408: $n408, closed between ${tmin}s and ${tmax}s"
	check "every trickling connection closed by the proxy" [ "$closed" -eq "$CONNS" ]
	check "closed at the header timeout (first at ${tmin}s >= 1.5s, last at ${tmax}s <= 5s)" \
		python3 -c "import sys; sys.exit(not ($tmin >= 1.5 and $tmax <= 5))"
	if pl_is_tollgated; then
		check "each was answered 408 ($n408/$CONNS)" [ "$n408" -eq "$CONNS" ]
	else
		skip "408 answers (nginx closes without one)"
	fi
fi
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$PROXY_URL/after")
check "served after the storm ($code)" [ "$code" = 200 ]
pl_finish
