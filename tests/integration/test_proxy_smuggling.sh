#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Request smuggling and bad input, end to end: every case of
# tests/data/http/smuggle/ is sent through the proxy on a fresh connection,
# followed by an innocent request on the same connection. Each must be
# answered with its expected status, the connection closed (the innocent
# request never answered), and the recording upstream (upstream_rec.py)
# must receive no complete request from it -- least of all the /SMUGGLED
# request hidden behind the bad framing. Then the valid cases: keep-alive
# reuse, pipelining, a chunked body with extensions and trailers,
# Expect: 100-continue, hop-by-hop removal; each reaches the upstream once,
# intact, with framing the proxy regenerated.
#
# PROXY_UNDER_TEST=nginx runs it against nginx (see proxy_lib.sh); BUILD
# names the build directory. Prints "N passed, N failed, N skipped" last.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/integration/proxy_lib.sh
source tests/integration/proxy_lib.sh
pl_init smuggle

pl_upstream_rec || { fail "recording upstream starts"; pl_summary; exit 1; }
pl_route / "127.0.0.1:$REC_PORT"
if ! pl_proxy_start; then
	fail "proxy starts" "$PROXY_LOG"
	pl_summary
	exit 1
fi

python3 - "$PROXY_PORT" "$REC_LOG" tests/data/http/smuggle "$PROXY_UNDER_TEST" \
	>"$PL_TMP/driver.out" 2>&1 <<'EOF'
import glob, hashlib, json, os, re, socket, sys, time

port, reclog, corpus, under_test = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
INNOCENT = b"GET /innocent HTTP/1.1\r\nHost: a\r\n\r\n"


def say(verdict, name, why=""):
    print("%s %s%s" % (verdict, name, (": " + why) if why else ""), flush=True)


def decode(text):
    text = re.sub(r"\{\{(\d+)\*(.*?)\}\}",
                  lambda m: m.group(2) * int(m.group(1)), text, flags=re.S)
    out, i = bytearray(), 0
    esc = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}
    while i < len(text):
        c = text[i]
        if c == "\\" and text[i + 1] in esc:
            out += esc[text[i + 1]]
            i += 2
        elif c == "\\" and text[i + 1] == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            out += c.encode("latin-1")
            i += 1
    return bytes(out)


def load(path):
    expect, body, head = None, [], True
    for ln in open(path, encoding="latin-1").read().split("\n"):
        if head and ln.startswith("#"):
            m = re.match(r"#\s*expect:\s*(.*)", ln)
            if m:
                expect = {int(x) for x in m.group(1).split(",")}
            continue
        head = False
        body.append(ln)
    return expect, decode("".join(body))


def rec_lines():
    with open(reclog, encoding="ascii") as f:
        return [json.loads(ln) for ln in f if ln.strip()]


class Reader:
    """Reads HTTP/1.1 responses off a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def response(self, want_interim=False):
        while True:
            while b"\r\n\r\n" not in self.buf:
                self.fill()
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            hdrs = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                hdrs.setdefault(k.strip().lower(), []).append(v.strip())
            if 100 <= status < 200:
                if want_interim:
                    return status, hdrs, b""
                continue
            break
        body = b""
        if "transfer-encoding" in hdrs:
            while True:
                while b"\r\n" not in self.buf:
                    self.fill()
                ln, self.buf = self.buf.split(b"\r\n", 1)
                n = int(ln.split(b";")[0], 16)
                while len(self.buf) < n + 2:
                    self.fill()
                body += self.buf[:n]
                self.buf = self.buf[n + 2:]
                if n == 0:
                    break
        elif "content-length" in hdrs:
            n = int(hdrs["content-length"][0])
            while len(self.buf) < n:
                self.fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        else:
            try:
                while True:
                    self.fill()
            except EOFError:
                pass
            body, self.buf = self.buf, b""
        return status, hdrs, body

    def closed(self, secs):
        """True when the peer closes (FIN or RST) within secs with nothing
        more sent; the extra bytes otherwise."""
        self.sock.settimeout(secs)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True, self.buf
                self.buf += d
        except (ConnectionResetError, BrokenPipeError):
            return True, self.buf
        except socket.timeout:
            return False, self.buf


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def bad_case(path):
    name = "reject " + os.path.basename(path)[:-4]
    expect, payload = load(path)
    before = len(rec_lines())
    s = connect()
    r = Reader(s)
    problems = []
    try:
        s.sendall(payload)
        status, _, _ = r.response()
        if status not in expect:
            problems.append("status %d, want %s" % (status, "/".join(map(str, sorted(expect)))))
    except EOFError:
        problems.append("closed without a response")
    except ConnectionResetError:
        problems.append("reset without a response")
    except socket.timeout:
        problems.append("no response within 3 s")
    try:
        s.sendall(INNOCENT)
    except OSError:
        pass
    closed, extra = r.closed(2)
    if not closed:
        problems.append("connection left open")
    if b"HTTP/1." in extra:
        problems.append("answered again after the refusal: %r" % extra[:60])
    s.close()
    time.sleep(0.05)
    seen = rec_lines()[before:]
    complete = [x for x in seen if "error" not in x]
    if complete:
        problems.append("upstream received %s" % [x["target"] for x in complete])
    if any("SMUGGLED" in x.get("raw", "") or "innocent" in x.get("raw", "") for x in seen):
        problems.append("upstream saw smuggled/innocent bytes")
    say("FAIL" if problems else "ok", name, "; ".join(problems))


for path in sorted(glob.glob(os.path.join(corpus, "*.txt"))):
    bad_case(path)


def answered(r, problems, target, body_len=None):
    """Reads one response: 200 from the upstream for target (and
    body_len bytes of body when given)."""
    st, _, body = r.response()
    j = json.loads(body) if st == 200 else {}
    if st != 200 or j.get("target") != target or \
            (body_len is not None and j.get("body_len") != body_len):
        problems.append("%s answered %d %r" % (target, st, body[:100]))
    return j


def valid(name, targets, send, after=None):
    """One valid exchange on a fresh connection: send(sock, reader,
    problems) talks to the proxy; then the upstream must have received
    exactly targets, in order, each cleanly framed; after(records,
    problems) checks what it received."""
    before = len(rec_lines())
    problems = []
    s = connect()
    try:
        send(s, Reader(s), problems)
    except (OSError, EOFError, ValueError) as e:
        problems.append("%s: %s" % (type(e).__name__, e))
    finally:
        s.close()
    time.sleep(0.05)
    seen = rec_lines()[before:]
    got = [x.get("target", "ERROR:" + x.get("error", "")) for x in seen]
    if got != targets:
        problems.append("upstream saw %s, want %s" % (got, targets))
    problems += ["%s reached the upstream with %s" % (x.get("target"), x["anomalies"])
                 for x in seen if x.get("anomalies")]
    if after and seen:
        after(seen, problems)
    say("FAIL" if problems else "ok", "valid " + name, "; ".join(problems))


def t_keepalive(s, r, problems):
    for t in ("/ka1", "/ka2", "/ka3"):
        s.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % t.encode())
        answered(r, problems, t)


def t_pipeline(s, r, problems):
    s.sendall(b"GET /p1 HTTP/1.1\r\nHost: a\r\n\r\n"
              b"POST /p2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
              b"GET /p3 HTTP/1.1\r\nHost: a\r\n\r\n")
    for t, n in (("/p1", 0), ("/p2", 5), ("/p3", 0)):
        answered(r, problems, t, n)


def t_chunked(s, r, problems):
    s.sendall(b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5;ext=secret\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
              b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
    j = answered(r, problems, "/chunked", 11)
    if j and j.get("body_sha256") != hashlib.sha256(b"hello world").hexdigest():
        problems.append("the chunked body changed on the way")
    answered(r, problems, "/after")


def chunked_regenerated(seen, problems):
    if "ext=secret" in seen[0].get("raw", ""):
        problems.append("chunk framing forwarded raw (extension reached the upstream)")


def t_expect(s, r, problems):
    s.sendall(b"POST /expect HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
              b"Expect: 100-continue\r\n\r\n")
    st, _, _ = r.response(want_interim=True)
    if st != 100:
        problems.append("first answer %d, want 100 Continue" % st)
        return
    s.sendall(b"hello")
    answered(r, problems, "/expect", 5)


def t_close(s, r, problems):
    # Whatever follows a request that closes the connection is not read.
    s.sendall(b"GET /close HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
              b"GET /SMUGGLED HTTP/1.1\r\nHost: a\r\n\r\n")
    answered(r, problems, "/close")
    if not r.closed(2)[0]:
        problems.append("connection left open after Connection: close")


def t_hop_by_hop(s, r, problems):
    s.sendall(b"GET /hop HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\n"
              b"X-Hop: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
              b"X-End: kept\r\n\r\n")
    answered(r, problems, "/hop")


def hop_removed(seen, problems):
    names = {h[0].lower(): h[1] for h in seen[0].get("headers", [])}
    problems += ["hop-by-hop %s forwarded" % h for h in ("x-hop", "keep-alive", "te") if h in names]
    if names.get("x-end") != "kept":
        problems.append("end-to-end X-End lost")
    if "x-forwarded-for" not in names or "via" not in names:
        problems.append("no X-Forwarded-For/Via added: %s" % sorted(names))


valid("keep-alive reuse (3 requests, one connection)", ["/ka1", "/ka2", "/ka3"], t_keepalive)
valid("pipelining (GET, POST with body, GET in one write)", ["/p1", "/p2", "/p3"], t_pipeline)
valid("chunked body with extension and trailer, then a pipelined GET",
      ["/chunked", "/after"], t_chunked, chunked_regenerated)
valid("Expect: 100-continue", ["/expect"], t_expect)
valid("Connection: close (a request pipelined after it is dropped)", ["/close"], t_close)
if under_test == "tollgated":
    valid("hop-by-hop fields removed, X-Forwarded-For and Via added", ["/hop"],
          t_hop_by_hop, hop_removed)
else:
    say("skip", "hop-by-hop removal (tollgated only: nginx forwards fields named in Connection)")

all_seen = rec_lines()
bad = [x for x in all_seen if "SMUGGLED" in x.get("raw", "")]
say("FAIL" if bad else "ok", "upstream never saw /SMUGGLED over %d records" % len(all_seen),
    repr(bad[:1]) if bad else "")
EOF
rc=$?
pl_verdicts "$PL_TMP/driver.out"
[ "$rc" -eq 0 ] || fail "driver exited $rc"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$PROXY_URL/healthz")
check "proxy still serves /healthz after the corpus ($code)" [ "$code" = 200 ]
check "proxy still running" kill -0 "$PROXY_PID"
pl_finish
