#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# SigV4 signing and the AWS event-stream decoder (user/llm/sigv4.c,
# user/llm/evstream.c) against independent implementations:
# - the provider simulator (tests/sim/provider-sim.mjs), which verifies
#   SigV4 on its Bedrock routes: Converse requests signed by our signer
#   (driver: build/tests/test_sigv4 sign ...) and sent with curl must get
#   200; a tampered signature, a body changed after signing and a wrong
#   secret must get 403; a ConverseStream answer captured with curl is
#   decoded by our decoder (driver: build/tests/test_evstream decode) into
#   messageStart ... metadata, with the simulator's usage exactly (and the
#   usage of a Converse answer read the same way);
# - the AWS SDK's own signer (@smithy/signature-v4) and event-stream codec
#   (@smithy/core/event-streams) from tests/interop/node_modules, when
#   installed: same Authorization header for the same request, and a
#   message of every header type encoded by the SDK decoded the same.
#
# Prints "N passed, N failed, N skipped" last; non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
SIGN=$BUILD/tests/test_sigv4
DECODE=$BUILD/tests/test_evstream
SIM=tests/sim/provider-sim.mjs
NODE_MODULES=$PWD/tests/interop/node_modules
KEY_ID=AKIASIMULATOR0000000
SECRET=sim/aws/secret/access/key
MODEL=anthropic.claude-3-5-sonnet-20240620-v1:0
# The model id as it goes into the path: ':' percent-encoded.
MODEL_PATH=anthropic.claude-3-5-sonnet-20240620-v1%3A0

passed=0 failed=0 skipped=0
sim_pid=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigv4-sim.XXXXXX")

cleanup() {
	if [ -n "$sim_pid" ]; then
		kill -TERM "$sim_pid" 2>/dev/null
		wait "$sim_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}

# fail DESCRIPTION [FILE TO SHOW]
fail() {
	failed=$((failed + 1))
	echo "FAIL - $1"
	if [ -n "${2-}" ] && [ -f "$2" ]; then
		sed 's/^/    | /' "$2" | tail -30
	fi
}

skip() {
	skipped=$((skipped + 1))
	echo "skip - $1"
}

finish() {
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
	exit
}

for b in "$SIGN" "$DECODE"; do
	if [ ! -x "$b" ]; then
		fail "$b is not built (make $b)"
		finish
	fi
done
if ! command -v node >/dev/null || ! command -v curl >/dev/null; then
	skip "node or curl missing"
	finish
fi

node "$SIM" --port 0 >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
port=
for _ in $(seq 50); do
	port=$(awk 'NR == 1 && $1 == "listening" { print $2 }' "$tmp/sim.out")
	[ -n "$port" ] && break
	kill -0 "$sim_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$port" ]; then
	fail "simulator did not start" "$tmp/sim.err"
	finish
fi
host=127.0.0.1:$port

# sign NAME PATH BODY_FILE [SECRET]: signs a POST with our signer; leaves
# the header lines in $tmp/NAME.hdrs (one per line).
sign() {
	"$SIGN" sign "$KEY_ID" "${4:-$SECRET}" us-east-1 bedrock POST "$host" "$2" "" \
		application/json <"$3" >"$tmp/$1.hdrs" 2>"$tmp/$1.sign.err"
}

# send NAME PATH BODY_FILE: sends the request signed as $tmp/NAME.hdrs;
# leaves the status in code, the body in $tmp/NAME.body, headers in
# $tmp/NAME.resp.
send() {
	local args=() line
	while IFS= read -r line; do
		args+=(-H "$line")
	done <"$tmp/$1.hdrs"
	code=$(curl -s -o "$tmp/$1.body" -D "$tmp/$1.resp" -w '%{http_code}' \
		-H 'Content-Type: application/json' "${args[@]}" \
		--data-binary @"$3" "http://$host$2")
}

body=$tmp/body.json
printf '{"messages":[{"role":"user","content":[{"text":"hello there world"}]}]}' >"$body"
converse=/model/$MODEL_PATH/converse
stream=/model/$MODEL_PATH/converse-stream

# ---- Converse signed by us: 200
if sign ok "$converse" "$body"; then
	send ok "$converse" "$body"
	if [ "$code" = 200 ] && grep -q '"text":"echo: hello there world"' "$tmp/ok.body" &&
		grep -q '"usage":{"inputTokens":7,"outputTokens":4,"totalTokens":11}' "$tmp/ok.body"; then
		ok "Converse signed with sigv4_sign(): 200 and the answer"
	else
		fail "Converse signed with sigv4_sign(): status $code" "$tmp/ok.body"
	fi
else
	fail "sigv4 driver failed" "$tmp/ok.sign.err"
fi
if [ "$("$DECODE" usage "$tmp/ok.body")" = "usage 7 4" ]; then
	ok "evstream_bedrock_usage_json() reads 7 in, 4 out from the Converse answer"
else
	fail "usage from the Converse answer" "$tmp/ok.body"
fi
if curl -s "http://$host/_sim/log?provider=bedrock" | grep -q '"path":"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"'; then
	ok "the model id went out as %3A (the simulator logs the path as received)"
else
	fail "the simulator did not log the %3A path"
fi

# ---- the same request tampered with: 403
# The signature's last hex digit changed.
last=$(sed -n 's/^Authorization: .*\(.\)$/\1/p' "$tmp/ok.hdrs")
[ "$last" = 0 ] && new=1 || new=0
sed "/^Authorization: /s/.\$/$new/" "$tmp/ok.hdrs" >"$tmp/tampered.hdrs"
send tampered "$converse" "$body"
if [ "$code" = 403 ] && grep -qi '^x-amzn-errortype: InvalidSignatureException' "$tmp/tampered.resp"; then
	ok "a tampered signature: 403 InvalidSignatureException"
else
	fail "a tampered signature: status $code" "$tmp/tampered.resp"
fi

printf '{"messages":[{"role":"user","content":[{"text":"hello there WORLD"}]}]}' >"$tmp/body2.json"
cp "$tmp/ok.hdrs" "$tmp/changed.hdrs"
send changed "$converse" "$tmp/body2.json"
if [ "$code" = 403 ] && grep -qi '^x-amzn-errortype: InvalidSignatureException' "$tmp/changed.resp"; then
	ok "a body changed after signing: 403"
else
	fail "a body changed after signing: status $code" "$tmp/changed.resp"
fi

sign wrong "$converse" "$body" "not/the/secret"
send wrong "$converse" "$body"
if [ "$code" = 403 ]; then
	ok "a wrong secret: 403"
else
	fail "a wrong secret: status $code" "$tmp/wrong.body"
fi

# ---- a session token is signed and sent (x-amz-security-token)
AWS_SESSION_TOKEN='FwoGZXIvYXdzEXAMPLE//token+with/odd=chars' sign token "$converse" "$body"
send token "$converse" "$body"
if [ "$code" = 200 ] && grep -q '^X-Amz-Security-Token: FwoG' "$tmp/token.hdrs" &&
	grep -q 'SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,' "$tmp/token.hdrs"; then
	ok "a session token signed and sent: 200"
else
	fail "a session token: status $code" "$tmp/token.hdrs"
fi

# ---- X-Amz-Content-Sha256 signed and sent
SIGV4_CONTENT_SHA256=1 sign sha "$converse" "$body"
send sha "$converse" "$body"
if [ "$code" = 200 ] && grep -q "^X-Amz-Content-Sha256: $(sha256sum <"$body" | cut -c1-64)\$" "$tmp/sha.hdrs"; then
	ok "X-Amz-Content-Sha256 signed and sent: 200"
else
	fail "X-Amz-Content-Sha256: status $code" "$tmp/sha.hdrs"
fi

# ---- ConverseStream: captured, decoded, usage equal to the simulator's
curl -s "http://$host/_sim/reset" -X POST >/dev/null
sign stream "$stream" "$body"
send stream "$stream" "$body"
if [ "$code" = 200 ] && grep -qi '^content-type: application/vnd.amazon.eventstream' "$tmp/stream.resp"; then
	ok "ConverseStream signed with sigv4_sign(): 200, application/vnd.amazon.eventstream"
else
	fail "ConverseStream: status $code" "$tmp/stream.resp"
fi
if "$DECODE" decode "$tmp/stream.body" >"$tmp/stream.dec" 2>"$tmp/stream.dec.err"; then
	seq=$(awk '$1 != "usage" { print $2 }' "$tmp/stream.dec" | uniq | tr '\n' ' ')
	if [ "$seq" = "messageStart contentBlockDelta contentBlockStop messageStop metadata " ] &&
		[ "$(grep -c '^event contentBlockDelta ' "$tmp/stream.dec")" = 4 ] &&
		awk '$1 != "usage" && $1 != "event" { bad = 1 } END { exit bad }' "$tmp/stream.dec"; then
		ok "the captured stream decodes to messageStart, 4 deltas, contentBlockStop, messageStop, metadata"
	else
		fail "unexpected event sequence: $seq" "$tmp/stream.dec"
	fi
	sim_usage=$(curl -s "http://$host/_sim/log?provider=bedrock" | tail -1 |
		sed -nE 's/.*"usage":\{"prompt_tokens":([0-9]+),"completion_tokens":([0-9]+).*/\1 \2/p')
	our_usage=$(awk '$1 == "usage" { print $2, $3 }' "$tmp/stream.dec")
	if [ -n "$our_usage" ] && [ "$our_usage" = "$sim_usage" ]; then
		ok "usage from the metadata event ($our_usage) equals the simulator's"
	else
		fail "usage: ours '$our_usage', simulator's '$sim_usage'" "$tmp/stream.dec"
	fi
else
	fail "decoding the captured stream" "$tmp/stream.dec.err"
fi

# ---- a stream that fails midway: an exception message
sign exc "$stream" "$body"
echo "x-sim-fault: error-after:2" >>"$tmp/exc.hdrs"
send exc "$stream" "$body"
if "$DECODE" decode "$tmp/exc.body" >"$tmp/exc.dec" 2>"$tmp/exc.dec.err" &&
	[ "$(tail -1 "$tmp/exc.dec" | cut -d' ' -f1-2)" = "exception internalServerException" ] &&
	[ "$(wc -l <"$tmp/exc.dec")" = 3 ]; then
	ok "error-after:2: two events then an exception message (internalServerException)"
else
	fail "error-after:2 stream" "$tmp/exc.dec"
fi

# ---- a stream cut inside a message: truncated, never a message more
head -c $(($(stat -c %s "$tmp/stream.body") - 5)) "$tmp/stream.body" >"$tmp/short.bin"
if ! "$DECODE" decode "$tmp/short.bin" >"$tmp/short.dec" 2>"$tmp/short.err" &&
	grep -q 'ended inside a message' "$tmp/short.err" &&
	! grep -q ' metadata ' "$tmp/short.dec"; then
	ok "a capture cut 5 bytes short: every whole message, then 'ended inside a message'"
else
	fail "a cut capture" "$tmp/short.err"
fi

# ---- the AWS SDK's signer and codec, when tests/interop is installed
if [ -d "$NODE_MODULES/@smithy/signature-v4" ] && [ -d "$NODE_MODULES/@smithy/core" ]; then
	cat >"$tmp/sdk.cjs" <<'EOF'
const crypto = require('crypto');
const fs = require('fs');
const { SignatureV4 } = require('@smithy/signature-v4');
const { EventStreamCodec, Int64 } = require('@smithy/core/event-streams');
class Sha256 {
	constructor(secret) { this.h = secret ? crypto.createHmac('sha256', secret) : crypto.createHash('sha256'); }
	update(d) { this.h.update(d); }
	async digest() { return new Uint8Array(this.h.digest()); }
}
const [mode, ...a] = process.argv.slice(2);
(async () => {
	if (mode === 'sign') {
		const [keyId, secret, region, host, path, bodyFile, when, token, sha] = a;
		const signer = new SignatureV4({ credentials: { accessKeyId: keyId, secretAccessKey: secret,
			sessionToken: token || undefined }, region, service: 'bedrock', sha256: Sha256,
			applyChecksum: sha === '1' });
		const req = { method: 'POST', protocol: 'http:', hostname: host.split(':')[0],
			port: Number(host.split(':')[1]), path, query: {},
			headers: { host, 'content-type': 'application/json' }, body: fs.readFileSync(bodyFile) };
		const s = await signer.sign(req, { signingDate: new Date(Number(when) * 1000) });
		console.log(s.headers.authorization);
	} else {
		const codec = new EventStreamCodec((b) => Buffer.from(b).toString('utf8'), (s) => new Uint8Array(Buffer.from(s)));
		const msg = codec.encode({ headers: {
			t: { type: 'boolean', value: true }, f: { type: 'boolean', value: false },
			b: { type: 'byte', value: -5 }, s: { type: 'short', value: -300 },
			i: { type: 'integer', value: 70000 }, l: { type: 'long', value: Int64.fromNumber(-1099511627776) },
			by: { type: 'binary', value: new Uint8Array([0, 255, 16]) },
			':event-type': { type: 'string', value: 'metadata' },
			ts: { type: 'timestamp', value: new Date(1700000000123) },
			u: { type: 'uuid', value: '12345678-9abc-def0-0fed-cba987654321' },
		}, body: Buffer.from('{"usage":{"inputTokens":3,"outputTokens":9}}') });
		fs.writeFileSync(a[0], msg);
	}
})().catch((e) => { console.error(e); process.exit(1); });
EOF
	when=$(date +%s)
	for variant in plain token sha; do
		tok= sha=
		[ $variant = token ] && tok='FwoGZXIvYXdzEXAMPLE//token'
		[ $variant = sha ] && sha=1
		ours=$(AWS_SESSION_TOKEN=$tok SIGV4_CONTENT_SHA256=$sha "$SIGN" sign "$KEY_ID" "$SECRET" us-east-1 bedrock POST \
			"$host" "$converse" "" application/json "$when" <"$body" | sed -n 's/^Authorization: //p')
		theirs=$(NODE_PATH=$NODE_MODULES node "$tmp/sdk.cjs" sign "$KEY_ID" "$SECRET" us-east-1 "$host" \
			"$converse" "$body" "$when" "$tok" "$sha" 2>"$tmp/sdk.err")
		if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
			ok "Authorization equals the AWS SDK signer's ($variant)"
		else
			echo "ours:   $ours" >"$tmp/cmp"; echo "theirs: $theirs" >>"$tmp/cmp"
			cat "$tmp/sdk.err" >>"$tmp/cmp"
			fail "Authorization differs from the AWS SDK signer's ($variant)" "$tmp/cmp"
		fi
	done
	if NODE_PATH=$NODE_MODULES node "$tmp/sdk.cjs" encode "$tmp/sdk.bin" 2>"$tmp/sdk.err" &&
		"$DECODE" decode -v "$tmp/sdk.bin" >"$tmp/sdk.dec" 2>>"$tmp/sdk.err"; then
		cat >"$tmp/sdk.want" <<'EOF'
  t 0 1
  f 1 0
  b 2 -5
  s 3 -300
  i 4 70000
  l 5 -1099511627776
  by 6 00ff10
  :event-type 7 metadata
  ts 8 1700000000123
  u 9 123456789abcdef00fedcba987654321
- metadata {"usage":{"inputTokens":3,"outputTokens":9}}
usage 3 9
EOF
		if diff -u "$tmp/sdk.want" "$tmp/sdk.dec" >"$tmp/sdk.diff"; then
			ok "a message of every header type encoded by the AWS SDK codec decodes the same"
		else
			fail "the AWS SDK codec's message decodes differently" "$tmp/sdk.diff"
		fi
	else
		fail "AWS SDK codec round" "$tmp/sdk.err"
	fi
else
	skip "tests/interop/node_modules not installed: no AWS SDK cross-check"
fi

finish
