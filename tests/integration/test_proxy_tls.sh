#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# TLS through the proxy with real clients. Termination: curl (--cacert) and
# Node's https module against an ECDSA and an RSA listener certificate,
# TLS 1.2 and 1.3, ALPN http/1.1 (chosen even when h2 is offered), session
# resumption (openssl s_client -sess_out/-sess_in says "Reused"), a 16 KB
# body, a 500-event SSE stream and a 512 KB upload through the record
# layer, plain HTTP on the TLS port refused without harm. Upstream TLS: an
# nginx upstream speaking https verified against a CA file works; one with
# an expired certificate and one for another host name are refused (502).
#
# PROXY_UNDER_TEST=nginx runs it against nginx. Prints
# "N passed, N failed, N skipped" last.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/integration/proxy_lib.sh
source tests/integration/proxy_lib.sh
pl_init tls

pl_certs || { fail "certificates generated"; pl_summary; exit 1; }
C=$PL_CERTS
pl_upstream_nginx || { fail "nginx upstream starts"; pl_summary; exit 1; }
plain_port=$UP_PORT direct=http://127.0.0.1:$UP_PORT
pl_upstream_nginx "$C/ecdsa.pem" "$C/ecdsa.key" && good_port=$UP_PORT
pl_upstream_nginx "$C/expired.pem" "$C/expired.key" && expired_port=$UP_PORT
pl_upstream_nginx "$C/wronghost.pem" "$C/wronghost.key" && wrong_port=$UP_PORT

pl_route /tls-good "127.0.0.1:$good_port" tls "$C/ca.pem" localhost
pl_route /tls-expired "127.0.0.1:$expired_port" tls "$C/ca.pem" localhost
pl_route /tls-wronghost "127.0.0.1:$wrong_port" tls "$C/ca.pem" localhost
# The control: the same expired upstream with verification off is served,
# so the refusal above is the verification's doing.
pl_route /tls-noverify "127.0.0.1:$expired_port" tls "$C/ca.pem" localhost noverify
pl_route / "127.0.0.1:$plain_port"

cat >"$PL_TMP/client.js" <<'EOF'
// Node's https client: GET, a POST with a body and a keep-alive reuse.
const https = require('https');
const fs = require('fs');
const [port, ca] = process.argv.slice(2);
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
function req(method, path, body) {
  return new Promise((resolve, reject) => {
    const r = https.request({ host: '127.0.0.1', servername: 'localhost', port, method, path,
      ca: fs.readFileSync(ca), agent, ALPNProtocols: ['http/1.1'],
      headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} },
      (res) => {
        const chunks = [];
        // Read off the socket now: keep-alive detaches it at the end.
        const alpn = res.socket.alpnProtocol, proto = res.socket.getProtocol();
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(),
          alpn, proto, reused: r.reusedSocket }));
      });
    r.on('error', reject);
    if (body) r.write(body);
    r.end();
  });
}
(async () => {
  const a = await req('GET', '/node-get');
  const b = await req('POST', '/node-post', JSON.stringify({ prompt: 'x'.repeat(1200) }));
  const ok = a.status === 200 && b.status === 200 && a.body.includes('bench-upstream') &&
    b.body.includes('bench-upstream') && b.reused && a.alpn === 'http/1.1';
  console.log(JSON.stringify({ ok, get: a.status, post: b.status, reused: b.reused, alpn: a.alpn, proto: a.proto }));
  agent.destroy();
  process.exit(ok ? 0 : 1);
})().catch((e) => { console.log(JSON.stringify({ ok: false, error: String(e) })); process.exit(1); });
EOF

# tls_suite KIND [KEYKIND]: the termination checks against the listener just started.
tls_suite() {
	local kind=$1 keykind=${2:-$1} port=$PROXY_PORT url="https://localhost:$PROXY_PORT"
	local curl_tls=(curl -s --max-time 5 --cacert "$C/ca.pem" --resolve "localhost:$port:127.0.0.1")
	local out code

	out=$("${curl_tls[@]}" "$url/")
	check "$kind: curl GET through TLS gets the upstream's answer" \
		[ "$out" = "$(curl -s --max-time 5 "$direct/")" ]
	local keytype
	keytype=$(timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -text 2>/dev/null | grep -m1 -oE 'id-ecPublicKey|rsaEncryption')
	check "$kind: the listener presents its $keykind certificate ($keytype)" \
		[ "$keytype" = "$([ "$keykind" = ecdsa ] && echo id-ecPublicKey || echo rsaEncryption)" ]
	for v in 1.2 1.3; do
		code=$("${curl_tls[@]}" -o /dev/null -w '%{http_code}' --tlsv$v --tls-max $v "$url/healthz")
		check "$kind: TLS $v handshake and request ($code)" [ "$code" = 200 ]
	done
	out=$(timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername localhost -alpn h2,http/1.1 </dev/null 2>/dev/null |
		grep -m1 -E '^ALPN protocol|No ALPN')
	check "$kind: ALPN picks http/1.1 when h2 is offered too ($out)" [ "$out" = "ALPN protocol: http/1.1" ]

	out=$("${curl_tls[@]}" "$url/big" | wc -c)
	check "$kind: a 16 KB answer arrives whole ($out bytes)" [ "$out" -eq 16384 ]
	"${curl_tls[@]}" "$url/sse" -o "$PL_TMP/sse.tls"
	curl -s --max-time 5 "$direct/sse" -o "$PL_TMP/sse.direct"
	check "$kind: the 500-event SSE stream arrives byte for byte" \
		cmp -s "$PL_TMP/sse.tls" "$PL_TMP/sse.direct"
	head -c 524288 /dev/urandom | base64 -w0 >"$PL_TMP/upload.b64"
	truncate -s 524288 "$PL_TMP/upload.b64"
	code=$("${curl_tls[@]}" -o /dev/null -w '%{http_code}' --data-binary "@$PL_TMP/upload.b64" "$url/upload")
	check "$kind: a 512 KB upload ($code)" [ "$code" = 200 ]

	local node_out
	node_out=$(timeout 15 node "$PL_TMP/client.js" "$port" "$C/ca.pem" 2>&1)
	SHOW=/dev/null check "$kind: Node https GET, POST and keep-alive reuse: $node_out" \
		grep -q '"ok":true' <<<"$node_out"

	for v in 1.2 1.3; do
		rm -f "$PL_TMP/sess"
		printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
			timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername localhost -tls${v/./_} \
				-CAfile "$C/ca.pem" -sess_out "$PL_TMP/sess" -ign_eof >/dev/null 2>&1
		out=$(printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
			timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername localhost -tls${v/./_} \
				-CAfile "$C/ca.pem" -sess_in "$PL_TMP/sess" -ign_eof 2>/dev/null | grep -m1 -E '^(Reused|New),')
		check "$kind: TLS $v session resumption (${out:-no session line})" grep -q '^Reused' <<<"$out"
	done

	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$port/")
	check "$kind: plain HTTP on the TLS port gets no 200 ($code)" [ "$code" != 200 ]
	code=$("${curl_tls[@]}" -o /dev/null -w '%{http_code}' "$url/healthz")
	check "$kind: still serving TLS afterwards ($code)" [ "$code" = 200 ]
}

# A hung upstream handshake shows as a 504 after 2 s, not a 5 s curl timeout.
PL_FIRST_BYTE=2s
PL_TLS_CERT=$C/ecdsa.pem PL_TLS_KEY=$C/ecdsa.key
if pl_proxy_start; then
	tls_suite ecdsa
	curl_tls=(curl -s --max-time 5 --cacert "$C/ca.pem" --resolve "localhost:$PROXY_PORT:127.0.0.1")
	url=https://localhost:$PROXY_PORT
	out=$("${curl_tls[@]}" "$url/tls-good")
	check "upstream TLS verified against the CA file: the answer comes through" \
		[ "$out" = "$(curl -s --max-time 5 "$direct/")" ]
	code=$("${curl_tls[@]}" -o /dev/null -w '%{http_code}' "$url/tls-expired")
	check "upstream with an expired certificate refused ($code)" [ "$code" = 502 ]
	code=$("${curl_tls[@]}" -o /dev/null -w '%{http_code}' "$url/tls-wronghost")
	check "upstream with a certificate for another host refused ($code)" [ "$code" = 502 ]
	code=$("${curl_tls[@]}" -o /dev/null -w '%{http_code}' "$url/tls-noverify")
	check "control: the expired upstream with verify off is served ($code)" [ "$code" = 200 ]
	out=$("${curl_tls[@]}" "$url/tls-good")
	check "the verified upstream still serves after the refusals" \
		[ "$out" = "$(curl -s --max-time 5 "$direct/")" ]
	if pl_is_tollgated; then
		# Whether the kernel can take TLS records (TCP_ULP "tls" on a
		# connected socket), probed independently of the daemon: where it
		# cannot, as here, every check above ran the user-space path.
		ktls=$(python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    s.setsockopt(socket.IPPROTO_TCP, 31, b"tls")
    print(1)
except OSError:
    print(0)' "$plain_port")
		metrics=$("${curl_tls[@]}" "$url/metrics")
		gauge=$(awk '/^tollgate_tls_ktls\{listener="edge"\}/ {print $2}' <<<"$metrics")
		hs=$(awk '/^tollgate_tls_handshakes_total/ {print $2}' <<<"$metrics")
		check "kTLS metric $gauge matches the kernel's kTLS support ($ktls)" [ "${gauge:-x}" = "$ktls" ]
		check "handshakes are counted (${hs:-none})" [ "${hs:-0}" -ge 10 ]
	fi
	first_pid=$PROXY_PID
else
	fail "proxy starts with an ECDSA certificate" "$PROXY_LOG"
fi

PL_TLS_CERT=$C/rsa.pem PL_TLS_KEY=$C/rsa.key
if pl_proxy_start; then
	tls_suite rsa
else
	fail "proxy starts with an RSA certificate" "$PROXY_LOG"
fi
# Socket mode: OpenSSL on the socket itself, the path kTLS engages on.
# This kernel may have no kTLS; TOLLGATE_TLS_SOCKET=1 takes the path anyway
# (every direction through SSL_read/SSL_write on the fd, driven by io_poll).
PL_TLS_CERT=$C/ecdsa.pem PL_TLS_KEY=$C/ecdsa.key
if TOLLGATE_TLS_SOCKET=1 pl_proxy_start; then
	tls_suite socket-mode ecdsa
else
	fail "proxy starts in TLS socket mode" "$PROXY_LOG"
fi
[ -n "${first_pid-}" ] && check "the ECDSA proxy survived the whole run" kill -0 "$first_pid"
pl_finish
