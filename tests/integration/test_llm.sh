#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tollgated's LLM front doors end to end: the provider simulator behind it,
# the official OpenAI and Anthropic SDKs in front (tests/interop/
# gateway-sdk.test.mjs), and the error paths with curl. Needs node_modules
# in tests/interop (scripts/deps.sh).
#
#   BUILD=build bash tests/integration/test_llm.sh
set -uo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
TGD=$BUILD/tollgated
TOLLCTL=$BUILD/tollctl
SIM=tests/sim/provider-sim.mjs

passed=0 failed=0
pids=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llm-test.XXXXXX")

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok - $1"; }
fail() {
	failed=$((failed + 1))
	echo "FAIL - $1"
	if [ -n "${2-}" ] && [ -f "$2" ]; then sed 's/^/    | /' "$2" | tail -30; fi
}
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what" "${SHOW-}"; fi; }
. tests/integration/node_lib.sh

finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- the simulator --------------------------------------------------------------

node "$SIM" --port 0 >"$tmp/sim.out" 2>"$tmp/sim.err" &
pids+=($!)
for _ in $(seq 50); do
	sim_port=$(awk 'NR == 1 && $1 == "listening" { print $2 }' "$tmp/sim.out")
	[ -n "$sim_port" ] && break
	sleep 0.1
done
if [ -z "${sim_port:-}" ]; then
	fail "the provider simulator starts" "$tmp/sim.err"
	finish
fi
SIM_URL=http://127.0.0.1:$sim_port

# ---- the gateway ------------------------------------------------------------------

key=tg-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
hash=$(printf %s "$key" | "$TOLLCTL" key hash | grep -o 'sha256:[0-9a-f]*' | head -1)
port=$(free_port)
cat >"$tmp/policy.yaml" <<POLICY
version: 1
server:
  workers: 2
  limits: {body_bytes: 64KiB}
  timeouts: {upstream_first_byte: 1s}
listeners:
  - {name: api, address: 127.0.0.1:$port, auth: api_key, endpoints: [llm, health, metrics]}
tenants:
  - name: acme
    keys:
      - {name: ci, hash: "$hash", models: [gpt-sim, echo-1, claude-sim]}
providers:
  - {name: sim-openai, type: openai_compatible, base_url: "$SIM_URL/v1", api_key: "\${env:SIM_OPENAI_KEY}"}
  - {name: sim-anthropic, type: anthropic, base_url: "$SIM_URL/v1", api_key: "\${env:SIM_ANT_KEY}"}
  - {name: echo, type: echo}
models:
  - {name: gpt-sim, provider: sim-openai, upstream: gpt-4o-mini}
  - {name: echo-1, provider: echo}
  - {name: claude-sim, provider: sim-anthropic, upstream: claude-3-5-haiku}
  - {name: hidden, provider: echo}
telemetry: {access_log: {enabled: true, path: $tmp/access.log}}
POLICY
SIM_OPENAI_KEY=sk-sim-openai SIM_ANT_KEY=sk-ant-sim "$TGD" -c "$tmp/policy.yaml" 2>"$tmp/gw.log" &
gw_pid=$!
pids+=($gw_pid)
GW=http://127.0.0.1:$port
for _ in $(seq 50); do curl -sf -o /dev/null "$GW/healthz" && break; sleep 0.1; done
SHOW=$tmp/gw.log check "tollgated serves the LLM listener" curl -sf -o /dev/null "$GW/healthz"

# ---- the SDKs -----------------------------------------------------------------------

node_tests "$tmp/sdk.out" gateway-sdk.test.mjs GATEWAY_URL="$GW" GATEWAY_KEY="$key" \
	SIM_URL="$SIM_URL" ACCESS_LOG="$tmp/access.log"

# ---- error paths with curl -------------------------------------------------------------

post() {	# post PATH BODY [curl args...] -> status in $code, body in $tmp/body
	local path=$1 body=$2
	shift 2
	code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $key" \
		-H 'Content-Type: application/json' --data-binary "$body" "$@" "$GW$path")
}

post /v1/chat/completions '{"model":"gpt-sim","model":"hidden","messages":[]}'
check "a second \"model\" key is refused (400), never routed" \
	test "$code" = 400 -a "$(grep -c 'duplicate key' "$tmp/body")" = 1
post /v1/chat/completions '{"model":"hidden","messages":[]}'
check "a model outside the key's allow-list is 404 in OpenAI format" \
	grep -q '"error":{"message":"The model' "$tmp/body"
post /v1/chat/completions '{"model":"echo-1","messages":[{"role":"user","content":"\xff"}]}'
check "invalid UTF-8 in the body is 400" test "$code" = 400
post /v1/chat/completions "{\"model\":\"echo-1\",\"pad\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}"
check "a body over server.limits.body_bytes is 413" test "$code" = 413
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $key" "$GW/v1/chat/completions")
check "GET on a POST endpoint is 405" test "$code" = 405
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$GW/v1/models")
check "no key is 401" test "$code" = 401
check "the 401 does not echo anything of the request" grep -q 'No API key provided' "$tmp/body"

curl -s -o /dev/null -X POST -H 'content-type: application/json' \
	-d '{"provider":"openai","mode":"stall","count":1}' "$SIM_URL/_sim/faults"
t0=$(date +%s%N)
post /v1/chat/completions '{"model":"gpt-sim","messages":[{"role":"user","content":"hi"}]}'
dt=$((($(date +%s%N) - t0) / 1000000))
check "a stalled provider is 504 after upstream_first_byte (took ${dt} ms)" \
	test "$code" = 504 -a "$dt" -lt 5000
check "the 504 is an OpenAI error object" grep -q '"type":"api_error"' "$tmp/body"
post /v1/chat/completions '{"model":"gpt-sim","messages":[{"role":"user","content":"after the stall"}]}'
check "the gateway serves the next call after a stall" test "$code" = 200

post /v1/messages '{"model":"claude-sim","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"stream":"yes"}' \
	-H 'anthropic-version: 2023-06-01'
check "a non-boolean stream is 400 in Anthropic format" \
	grep -q '"type":"error","error":{"type":"invalid_request_error"' "$tmp/body"

sleep 0.3
SHOW=$tmp/access.log check "every access log line is JSON; LLM calls carry tenant, key, model, tokens" \
	python3 - "$tmp/access.log" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
llm = [l for l in lines if 'model' in l]
assert len(llm) > 20, len(llm)
assert all('tokens_in' in l and 'tenant' in l and 'key' in l for l in llm), llm[:2]
assert all(l['tenant'] == 'acme' and l['key'] == 'ci' for l in llm if l['status'] == 200)
PY
check "no API key appears in the logs" bash -c "! grep -q -e '$key' -e sk-sim-openai -e sk-ant-sim '$tmp/access.log' '$tmp/gw.log'"
check "the gateway is still running" kill -0 "$gw_pid"
finish
