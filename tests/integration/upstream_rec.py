#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A raw TCP HTTP/1.1 upstream that records every request it receives.

Used by the proxy tests to prove what the upstream saw: each request it
frames is appended, byte-exact, as one JSON line to --log:

  {"conn": N, "seq": M, "method": ..., "target": ..., "headers": [[k, v]...],
   "body_len": ..., "raw": "<the request bytes, latin-1>",
   "anomalies": ["cl+te", ...]}

It frames requests the way a lenient back end would (Transfer-Encoding wins
over Content-Length, the first Content-Length counts), so bytes a proxy let
through unframed show up as an extra request here instead of being hidden.
Anything it cannot frame is logged as {"conn": N, "error": ..., "raw": ...}
and the connection is closed.

Each request is answered 200 with Content-Length and a small JSON body
naming what arrived. Special targets:
  /slow/MS   answer after MS milliseconds
  /half      send the head and half the announced body, then kill the
             whole process (an upstream dying mid-response)
  /bad/NAME  answer with the malformed response NAME (see BAD below) and
             close: what a proxy must refuse (502), never relay

  upstream_rec.py --port-file F --log F [--host 127.0.0.1] [--port 0]
The port actually bound is written to --port-file once it listens.
"""
import argparse
import hashlib
import json
import os
import socket
import threading
import time

log_lock = threading.Lock()
conn_ids = iter(range(1, 1 << 62))


# Malformed responses, each a framing a proxy must not trust.
BAD = {
    "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED",
    "cl-dup": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello",
    "status": b"HTTP/1.1 2x0 OK\r\nContent-Length: 5\r\n\r\nhello",
    "chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n c\r\n\r\nhello",
    "nul": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\x00c\r\n\r\nhello",
}


def record(log, obj):
    line = json.dumps(obj, ensure_ascii=True) + "\n"
    with log_lock:
        with open(log, "a", encoding="ascii") as f:
            f.write(line)


class Conn:
    def __init__(self, sock, log):
        self.sock = sock
        self.log = log
        self.buf = b""
        self.cid = next(conn_ids)

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def need(self, n):
        while len(self.buf) < n:
            self.fill()

    def line_end(self, start):
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                return i
            if len(self.buf) > 1 << 20:
                raise ValueError("line too long")
            self.fill()

    def read_request(self):
        """Returns (method, target, headers, body, raw, anomalies)."""
        anomalies = []
        # Head: up to the empty line.
        while True:
            i = self.buf.find(b"\r\n\r\n")
            j = self.buf.find(b"\n\n")
            if i >= 0 or j >= 0:
                break
            if len(self.buf) > 1 << 20:
                raise ValueError("head too long")
            self.fill()
        if i < 0 or (0 <= j < i):
            anomalies.append("bare-lf-head")
            end = j + 2
        else:
            end = i + 4
        head = self.buf[:end]
        lines = head.split(b"\n")
        reqline = lines[0].rstrip(b"\r")
        parts = reqline.split(b" ")
        if len(parts) != 3:
            anomalies.append("request-line")
        method = parts[0].decode("latin-1")
        target = parts[1].decode("latin-1") if len(parts) > 1 else ""
        headers = []
        for ln in lines[1:]:
            if not ln.endswith(b"\r") and ln:
                anomalies.append("bare-lf")
            ln = ln.rstrip(b"\r")
            if not ln:
                continue
            if ln[:1] in (b" ", b"\t"):
                anomalies.append("obs-fold")
                continue
            k, sep, v = ln.partition(b":")
            if not sep:
                anomalies.append("no-colon")
                continue
            if k != k.strip() or b" " in k:
                anomalies.append("space-in-name")
            for c in ln:
                if c < 0x20 and c != 0x09:
                    anomalies.append("ctl-byte")
                    break
            headers.append([k.strip().decode("latin-1"),
                            v.strip(b" \t").decode("latin-1")])
        pos = end
        names = [h[0].lower() for h in headers]
        te = [h[1].lower() for h in headers if h[0].lower() == "transfer-encoding"]
        cl = [h[1] for h in headers if h[0].lower() == "content-length"]
        if te and cl:
            anomalies.append("cl+te")
        if len(cl) > 1:
            anomalies.append("dup-cl")
        if names.count("host") != 1:
            anomalies.append("host-count")
        expect = any(h[0].lower() == "expect" for h in headers)
        body = b""
        if te:
            if te[-1] != "chunked":
                anomalies.append("te-not-chunked")
            if expect and len(self.buf) == pos:
                self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            # Chunked: size line, data, CRLF ... 0, trailers, CRLF.
            while True:
                e = self.line_end(pos)
                size_s = self.buf[pos:e].rstrip(b"\r").split(b";")[0].strip()
                size = int(size_s, 16)  # ValueError: logged as an error
                pos = e + 1
                if size == 0:
                    while True:
                        e = self.line_end(pos)
                        ln = self.buf[pos:e].rstrip(b"\r")
                        pos = e + 1
                        if not ln:
                            break
                    break
                self.need(pos + size + 2)
                body += self.buf[pos:pos + size]
                pos += size
                if self.buf[pos:pos + 2] != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
                pos += 2
        elif cl:
            n = int(cl[0])
            if expect and len(self.buf) == pos and n > 0:
                self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.need(pos + n)
            body = self.buf[pos:pos + n]
            pos += n
        raw = self.buf[:pos]
        self.buf = self.buf[pos:]
        return method, target, headers, body, raw, anomalies

    def serve(self):
        seq = 0
        try:
            while True:
                try:
                    (method, target, headers, body, raw,
                     anomalies) = self.read_request()
                except EOFError:
                    if self.buf:
                        record(self.log, {"conn": self.cid, "error": "eof in request",
                                          "raw": self.buf.decode("latin-1")})
                    return
                except (ValueError, IndexError) as e:
                    record(self.log, {"conn": self.cid, "error": str(e),
                                      "raw": self.buf.decode("latin-1")})
                    return
                seq += 1
                record(self.log, {
                    "conn": self.cid, "seq": seq, "method": method,
                    "target": target, "headers": headers,
                    "body_len": len(body), "raw": raw.decode("latin-1"),
                    "anomalies": sorted(set(anomalies))})
                if not self.answer(method, target, headers, body):
                    return
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def answer(self, method, target, headers, body):
        if target.startswith("/slow/"):
            try:
                time.sleep(int(target[6:].split("?")[0]) / 1000.0)
            except ValueError:
                pass
        out = json.dumps({"method": method, "target": target,
                          "body_len": len(body),
                          "body_sha256": hashlib.sha256(body).hexdigest(),
                          "conn": self.cid}).encode() + b"\n"
        close = any(h[0].lower() == "connection" and "close" in h[1].lower()
                    for h in headers)
        if target.startswith("/bad/") and target[5:] in BAD:
            self.sock.sendall(BAD[target[5:]])
            return False
        if target.startswith("/half"):
            full = out + b"x" * 2000
            self.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(full)
                              + full[:len(full) // 2])
            time.sleep(0.05)
            os._exit(3)
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n" % len(out))
        if close:
            head += b"Connection: close\r\n"
        self.sock.sendall(head + b"\r\n" + (b"" if method == "HEAD" else out))
        return not close


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.host, a.port))
    ls.listen(1024)
    open(a.log, "a").close()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, a.port_file)
    while True:
        s, _ = ls.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=Conn(s, a.log).serve, daemon=True).start()


if __name__ == "__main__":
    main()
