#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The proxy's limits and timeouts, each answered with its status and
# counted in /metrics (tollgate_http_errors_total{cause=...}):
# - upstream first-byte timeout: 504; the late answer is never handed to
#   the next request (the timed-out upstream connection is not reused);
# - request body timeout: 408; keep-alive idle timeout: connection closed;
# - a chunked body past body_bytes: 413, nothing complete upstream;
# - connections past the limit: 503 (or closed), served again once below;
# - an upstream that refuses connections: 502, and after fail_threshold
#   failures the server is ejected;
# - malformed upstream responses (CL+TE, duplicate CL, bad status line,
#   bad chunk size, obs-fold, NUL): 502, never relayed;
# - a connection that ends after its answer (Connection: close, a 400)
#   gets its FIN right after the answer, not at the worker's next tick;
# - /metrics: tollgate_io_quiet_sends agrees with the start-up line, and
#   the requests went out through quiet sends when they are on.
# - the worker threads are named (tg-worker-N).
#
# PROXY_UNDER_TEST=nginx runs it against nginx (the metric checks and
# tollgated-only statuses are skipped). Prints "N passed, N failed,
# N skipped" last.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/integration/proxy_lib.sh
source tests/integration/proxy_lib.sh
pl_init limits

pl_upstream_rec || { fail "recording upstream starts"; pl_summary; exit 1; }
closed_port=$(pl_free_port)
pl_route /dead "127.0.0.1:$closed_port"
pl_route / "127.0.0.1:$REC_PORT"
PL_FIRST_BYTE=1s PL_BODY_TIMEOUT=1s PL_IDLE_TIMEOUT=2s PL_BODY_BYTES=1KiB PL_CONNECTIONS=20
if ! pl_proxy_start; then
	fail "proxy starts" "$PROXY_LOG"
	pl_summary
	exit 1
fi

python3 - "$PROXY_PORT" "$REC_LOG" "$PROXY_UNDER_TEST" >"$PL_TMP/driver.out" 2>&1 <<'EOF'
import json, re, socket, sys, time

port, reclog, under_test = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tollgated = under_test == "tollgated"


def say(verdict, name, why=""):
    print("%s %s%s" % (verdict, name, (": " + why) if why else ""), flush=True)


def check(name, cond, why=""):
    say("ok" if cond else "FAIL", name, "" if cond else why)


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_until(s, buf, done):
    """Reads into buf until done(buf), EOF, a reset or the timeout; returns
    (buf, whether done)."""
    try:
        while not done(buf):
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except (ConnectionResetError, socket.timeout):
        pass
    return buf, done(buf)


def read_response(s):
    """(status, body) of one response, or (None, b"") when the connection
    closes first."""
    buf, ok = recv_until(s, b"", lambda b: b"\r\n\r\n" in b)
    if not ok:
        return None, b""
    head, body = buf.split(b"\r\n\r\n", 1)
    try:
        status = int(head.split(b" ")[1])
    except (IndexError, ValueError):
        return -1, buf  # a status line no proxy should have relayed
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    n = int(m.group(1)) if m else 0
    body, _ = recv_until(s, body, lambda b: len(b) >= n)
    return status, body


def request(raw):
    s = connect()
    s.sendall(raw)
    r = read_response(s)
    s.close()
    return r


def get(path):
    return request(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())


def metrics():
    st, body = get("/metrics")
    out = {}
    for m in re.finditer(rb'^tollgate_http_errors_total\{cause="([a-z_]+)"\} (\d+)$', body, re.M):
        out[m.group(1).decode()] = int(m.group(2))
    for m in re.finditer(rb"^(tollgate_upstream_ejections_total) (\d+)$", body, re.M):
        out[m.group(1).decode()] = int(m.group(2))
    return out


def counted(before, cause, name):
    if not tollgated:
        say("skip", name + " counted (tollgated metric)")
        return
    after = metrics()
    check(name + " counted as %s" % cause, after.get(cause, 0) > before.get(cause, 0),
          "%s: %s -> %s" % (cause, before.get(cause), after.get(cause)))


def rec_lines():
    with open(reclog, encoding="ascii") as f:
        return [json.loads(l) for l in f if l.strip()]


# Upstream first-byte timeout, and no stale answer afterwards.
m0 = metrics()
t0 = time.monotonic()
st, _ = get("/slow/2500")
dt = time.monotonic() - t0
check("first-byte timeout: 504 after %.1f s (timeout 1 s)" % dt, st == 504 and 0.8 <= dt < 2.4,
      "status %s after %.1f s" % (st, dt))
counted(m0, "timeout_upstream_first_byte", "first-byte timeout")
time.sleep(2)  # the slow answer has now arrived on the old upstream connection
answers = [get("/next-%d" % i) for i in range(3)]
targets = [json.loads(b).get("target") if s == 200 else s for s, b in answers]
check("after the timeout each request gets its own answer, not the late one",
      targets == ["/next-0", "/next-1", "/next-2"], repr(targets))

# Request body timeout.
m0 = metrics()
s = connect()
s.sendall(b"POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
t0 = time.monotonic()
st, _ = read_response(s)
dt = time.monotonic() - t0
s.close()
if tollgated:
    check("body timeout: 408 after %.1f s (timeout 1 s)" % dt, st == 408 and 0.8 <= dt < 2.5,
          "status %s after %.1f s" % (st, dt))
else:
    check("body timeout: answered or closed after %.1f s" % dt, 0.8 <= dt < 2.5, "%.1f s" % dt)
counted(m0, "timeout_body", "body timeout")

# Keep-alive idle timeout.
s = connect()
s.sendall(b"GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
st, _ = read_response(s)
t0 = time.monotonic()
try:
    d = s.recv(1)
except (ConnectionResetError, socket.timeout):
    d = b""
dt = time.monotonic() - t0
s.close()
check("idle keep-alive connection closed after %.1f s (timeout 2 s)" % dt,
      st == 200 and d == b"" and 1.7 <= dt < 3.5, "status %s, %r after %.1f s" % (st, d, dt))

# A chunked body past body_bytes (1 KiB).
m0 = metrics()
before = len(rec_lines())
chunk = b"x" * 600
st, _ = request(b"POST /big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                + (b"258\r\n" + chunk + b"\r\n") * 3 + b"0\r\n\r\n")
time.sleep(0.1)
complete = [x for x in rec_lines()[before:] if "error" not in x]
check("chunked body past body_bytes: 413 (%s), nothing complete upstream (%d)" % (st, len(complete)),
      st == 413 and not complete)
counted(m0, "body_too_large", "oversized chunked body")

# Connections past the limit (20, the one asking for /metrics included).
m0 = metrics()
held = []
for i in range(20):
    s = connect()
    s.sendall(b"GET /held-%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
    st, _ = read_response(s)
    if st != 200:
        s.close()
        break
    held.append(s)
extra = connect()
extra.sendall(b"GET /over HTTP/1.1\r\nHost: a\r\n\r\n")
st, _ = read_response(extra)
extra.close()
check("past the connection limit: 503 or closed (%s) with %d held" % (st, len(held)),
      len(held) >= 19 and st in (503, None), "status %s" % st)
for s in held:
    s.close()
time.sleep(0.2)
st, _ = get("/below")
check("served again once below the limit (%s)" % st, st == 200)
counted(m0, "connection_limit", "connection limit")

# An upstream that refuses connections: 502, then ejected.
m0 = metrics()
codes = [get("/dead/%d" % i)[0] for i in range(4)]
check("refusing upstream: 502 each time %s" % codes, all(c == 502 for c in codes) if tollgated
      else all(c in (502, 503) for c in codes))
counted(m0, "upstream_connect", "refused upstream connection")
counted(m0, "tollgate_upstream_ejections_total", "ejection after 3 failures")

# Malformed upstream responses. A bad head is answered 502; a bad chunk
# comes after the head went out, so the client's response is cut short
# instead (the connection closes with no last chunk), never completed.
def raw_exchange(path):
    s = connect()
    s.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())
    buf, _ = recv_until(s, b"", lambda b: False)
    s.close()
    return buf


m0 = metrics()
for name in ("cl-te", "cl-dup", "status", "obs-fold", "nul"):
    st, body = get("/bad/" + name)
    check("malformed upstream response head %s: 502, not relayed (%s)" % (name, st),
          st == 502 and b"SMUGGLED" not in body and b"hello" not in body)
raw = raw_exchange("/bad/chunk")
cut = raw.startswith(b"HTTP/1.1 200") and b"\r\n0\r\n\r\n" not in raw and b"hello" not in raw
check("malformed upstream chunk: 502 or the answer cut short, not completed",
      raw.startswith(b"HTTP/1.1 502") or cut, repr(raw[:200]))
counted(m0, "upstream_bad_response", "malformed upstream responses")
st, body = get("/after-bad")
check("a clean request after them gets its own answer (%s)" % st,
      st == 200 and json.loads(body).get("target") == "/after-bad")


# A connection that ends after its answer ends right after it: the close
# waits on the answer's send, which must be reported at once (with quiet
# sends, io_conn_prompt) and not with the worker's next 50 ms tick.
def eof_delay(raw):
    """Seconds from the answer's last byte to the proxy's FIN."""
    s = connect()
    s.sendall(raw)
    st, _ = read_response(s)
    t1 = time.monotonic()
    buf, _ = recv_until(s, b"", lambda b: False)
    dt = time.monotonic() - t1
    s.close()
    return st, dt


for name, raw in (("Connection: close", b"GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
                  ("400 for a bad request", b"GET /c HTTP/1.1\r\nHost : a\r\n\r\n")):
    res = [eof_delay(raw) for _ in range(15)]
    delays = sorted(d for _, d in res)
    check("%s: the FIN follows the answer at once (median %.1f ms, max %.1f ms)"
          % (name, delays[7] * 1e3, delays[-1] * 1e3),
          all(st in (200, 400) for st, _ in res) and delays[7] < 0.010,
          "statuses %s" % [st for st, _ in res])
EOF
rc=$?
pl_verdicts "$PL_TMP/driver.out"
[ "$rc" -eq 0 ] || fail "driver exited $rc"
if pl_is_tollgated; then
	# Quiet sends: the gauge says what the start-up line says, and with
	# them on, the requests above went out through them.
	metrics=$(curl -s --max-time 5 "http://127.0.0.1:$PROXY_PORT/metrics")
	gauge=$(awk '/^tollgate_io_quiet_sends / {print $2}' <<<"$metrics")
	full=$(awk '/^tollgate_io_quiet_sends_total\{result="full"\}/ {print $2}' <<<"$metrics")
	want=0
	grep -q 'io_uring (quiet sends)' "$PROXY_LOG" && want=1
	check "tollgate_io_quiet_sends ${gauge:-none} matches the start-up line ($want)" \
		[ "${gauge:-x}" = "$want" ]
	if [ "$want" = 1 ]; then
		check "quiet sends counted (${full:-none} sent in full)" [ "${full:-0}" -gt 10 ]
	fi
	# Threads carry names for top -H and perf.
	names=$(cat /proc/"$PROXY_PID"/task/*/comm 2>/dev/null | sort | tr '\n' ' ')
	check "threads named (${names})" grep -q "tg-worker-0" <<<"$names"
fi
check "proxy still running" kill -0 "$PROXY_PID"
pl_finish
