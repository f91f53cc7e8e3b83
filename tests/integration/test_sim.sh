#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The LLM provider simulator (tests/sim/provider-sim.mjs), run for real: it
# starts on the machine's nodejs on a kernel-chosen port, then the official
# SDKs (tests/interop/sim-sdk.test.mjs: openai, AzureOpenAI, @anthropic-ai/sdk,
# @google/genai, @aws-sdk/client-bedrock-runtime) talk to it directly; the
# node test runner's counts are added to this script's. Also: HTTPS with
# HTTP/2 by ALPN, HTTP/2 in clear text, a bad option, and SIGTERM with a
# stalled exchange open.
#
# Prints "N passed, N failed" last and exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

SIM=tests/sim/provider-sim.mjs
# The SDKs want Node 22 (openai, @google/genai); tests/interop installs it
# from the npm registry as the `node` package. The simulator itself runs on
# the system's nodejs, as the gateway tests will.
# SIM_NODE: the node that runs the simulator (e.g. a Node 18 to check
# Debian 12's nodejs).
SIM_NODE=${SIM_NODE:-node}

passed=0 failed=0
pids=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sim-test.XXXXXX")

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
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
		sed 's/^/    | /' "$2" | tail -40
	fi
}

# start_sim NAME ARGS...: starts the simulator; leaves its pid in sim_pid
# and its port in sim_port; non-zero if it did not say "listening" in 5 s.
. tests/integration/node_lib.sh

start_sim() {
	local name=$1 i
	shift
	: >"$tmp/$name.out"
	"$SIM_NODE" "$SIM" --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	sim_pid=$!
	pids+=("$sim_pid")
	for i in $(seq 50); do
		sim_port=$(awk 'NR == 1 && $1 == "listening" { print $2 }' "$tmp/$name.out")
		[ -n "$sim_port" ] && return 0
		kill -0 "$sim_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

chat='{"model":"gpt-4o","messages":[{"role":"user","content":"over tls"}]}'

# ---- the simulator on the system's nodejs, and the SDKs against it
if start_sim main; then
	ok "simulator starts on $("$SIM_NODE" --version) and prints 'listening $sim_port'"
else
	fail "simulator did not start" "$tmp/main.err"
	echo "$passed passed, $failed failed"
	exit 1
fi
main_pid=$sim_pid
main_port=$sim_port

node_tests "$tmp/sdk.out" sim-sdk.test.mjs SIM_URL="http://127.0.0.1:$main_port"

v=$(curl -s --http2-prior-knowledge -o "$tmp/h2c.json" -w '%{http_version}' \
	-H 'authorization: Bearer sk-sim-openai' "http://127.0.0.1:$main_port/v1/models")
if [ "$v" = 2 ] && grep -q '"gpt-4o"' "$tmp/h2c.json"; then
	ok "h2c: /v1/models over HTTP/2 prior knowledge"
else
	fail "h2c: http_version '$v'" "$tmp/h2c.json"
fi

# ---- Gemini's key as a query parameter; the raw SSE framing (CRLF CRLF)
curl -s -o "$tmp/gem.sse" -d '{"contents":[{"role":"user","parts":[{"text":"a b"}]}]}' \
	"http://127.0.0.1:$main_port/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=sim-gemini-key"
if [ "$(grep -c $'^data: {.*}\r$' "$tmp/gem.sse")" -eq 3 ] &&
   tail -c 200 "$tmp/gem.sse" | grep -q '"candidatesTokenCount":3,"totalTokenCount":9'; then
	ok "gemini: ?key= accepted, 3 SSE events, final usage 6 + 3"
else
	fail "gemini: ?key= stream" "$tmp/gem.sse"
fi

# ---- a bad option is a usage error (exit 2)
"$SIM_NODE" "$SIM" --port 70000 >/dev/null 2>"$tmp/bad.err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q 'port' "$tmp/bad.err"; then
	ok "--port 70000 refused with exit 2"
else
	fail "--port 70000: exit $rc" "$tmp/bad.err"
fi

# ---- HTTPS: HTTP/1.1 and HTTP/2 by ALPN, checked against the CA
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj '/CN=127.0.0.1' -addext 'subjectAltName=IP:127.0.0.1' \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 &&
	start_sim tls --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem"; then
	for h in http1.1 http2; do
		v=$(curl -s --$h --cacert "$tmp/cert.pem" -o "$tmp/tls.json" -w '%{http_version}' \
			-H 'authorization: Bearer sk-sim-openai' -d "$chat" \
			"https://127.0.0.1:$sim_port/v1/chat/completions")
		if grep -q '"content":"echo: over tls"' "$tmp/tls.json" &&
		   [ "$v" = "${h#http}" ]; then
			ok "https --$h: chat completion (HTTP $v)"
		else
			fail "https --$h: HTTP '$v'" "$tmp/tls.json"
		fi
	done
	# plain HTTP on the TLS port is not answered as HTTP
	code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$sim_port/_sim/health")
	if [ "$code" != 200 ]; then
		ok "plain HTTP to the TLS port is refused"
	else
		fail "plain HTTP to the TLS port answered 200"
	fi
else
	fail "TLS simulator did not start" "$tmp/tls.err"
fi

# ---- SIGTERM ends it at once, even with a stalled exchange open
curl -s -m 20 -H 'authorization: Bearer sk-sim-openai' -H 'x-sim-fault: stall' -d "$chat" \
	"http://127.0.0.1:$main_port/v1/chat/completions" >/dev/null 2>&1 &
curl_pid=$!
pids+=("$curl_pid")
for i in $(seq 50); do
	curl -s "http://127.0.0.1:$main_port/_sim/log" | grep -q '"stalled":true' && break
	sleep 0.1
done
kill -TERM "$main_pid"
start=$(date +%s%N)
wait "$main_pid"
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
wait "$curl_pid" 2>/dev/null
if [ "$rc" -eq 0 ] && [ "$ms" -lt 2000 ]; then
	ok "SIGTERM with a stalled exchange: exit 0 in $ms ms"
else
	fail "SIGTERM: exit $rc after $ms ms" "$tmp/main.err"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
