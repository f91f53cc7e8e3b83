#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Format translation end to end: the official OpenAI and Anthropic SDKs in
# front of tollgated (tests/interop/gateway-xlate.test.mjs), the provider
# simulator behind it speaking OpenAI, Azure OpenAI, Anthropic, Gemini and
# Bedrock (SigV4 checked by the simulator), and the request-side refusals
# with curl.
#
#   BUILD=build bash tests/integration/test_llm_xlate.sh
set -uo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
. tests/integration/llm_lib.sh
. tests/integration/node_lib.sh
llm_lib_init llm-xlate

start_sim SIM

new_key key
hash=$key_hash
port=$(free_port)
cat >"$tmp/policy.yaml" <<POLICY
version: 1
server:
  workers: 2
listeners:
  - {name: api, address: 127.0.0.1:$port, auth: api_key, endpoints: [llm, health]}
tenants:
  - name: acme
    keys: [{name: ci, hash: "$hash"}]
providers:
  - {name: p-openai, type: openai_compatible, base_url: "$SIM_URL/v1", api_key: "\${env:SIM_OPENAI_KEY}", retries: 0}
  - {name: p-azure, type: azure_openai, base_url: "$SIM_URL", api_version: "2024-10-21",
     api_key: "\${env:SIM_AZURE_KEY}", retries: 0}
  - {name: p-anthropic, type: anthropic, base_url: "$SIM_URL/v1", api_key: "\${env:SIM_ANT_KEY}", retries: 0}
  - {name: p-gemini, type: gemini, base_url: "$SIM_URL/v1beta", api_key: "\${env:SIM_GEMINI_KEY}", retries: 0}
  - {name: p-bedrock, type: bedrock, region: us-east-1, base_url: "$SIM_URL",
     access_key_id: "\${env:SIM_AWS_ID}", secret_access_key: "\${env:SIM_AWS_SECRET}", retries: 0}
models:
  - {name: gpt-x, provider: p-openai, upstream: gpt-4o-mini}
  - {name: az-x, provider: p-azure, upstream: gpt-4o-mini}
  - {name: claude-x, provider: p-anthropic, upstream: claude-3-5-haiku-20241022}
  - {name: gem-x, provider: p-gemini, upstream: gemini-2.0-flash}
  - {name: br-x, provider: p-bedrock, upstream: "anthropic.claude-3-5-sonnet-20240620-v1:0"}
telemetry:
  access_log: {enabled: true, path: $tmp/access.log}
  audit: {enabled: true, path: $tmp/audit.jsonl, fsync: batch}
POLICY
SIM_OPENAI_KEY=sk-sim-openai SIM_AZURE_KEY=sim-azure-key SIM_ANT_KEY=sk-ant-sim SIM_GEMINI_KEY=sim-gemini-key \
SIM_AWS_ID=AKIASIMULATOR0000000 SIM_AWS_SECRET=sim/aws/secret/access/key \
	"$TGD" -c "$tmp/policy.yaml" 2>"$tmp/gw.log" &
pids+=($!)
wait_listening "$tmp/gw.log"
GW=http://127.0.0.1:$port
check "tollgated starts with openai, anthropic, gemini and bedrock providers" grep -q "listening on" "$tmp/gw.log"

node_tests "$tmp/sdk.out" gateway-xlate.test.mjs GATEWAY_URL="$GW" GATEWAY_KEY="$key" \
	SIM_URL="$SIM_URL" ACCESS_LOG="$tmp/access.log" AUDIT_LOG="$tmp/audit.jsonl"

post() {	# PATH BODY [curl args]: sets $code, body in $tmp/body
	local path=$1 body=$2
	shift 2
	code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $key" \
		-H 'content-type: application/json' "$@" -d "$body" "$GW$path")
}

post /v1/chat/completions '{"model":"br-x","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}'
check "a remote image URL for Bedrock (which needs the bytes) is 400 saying why ($code)" \
	test "$code" = 400
check "... in OpenAI's error format, naming the image" grep -q '"error":{"message":"[^"]*image' "$tmp/body"
post /v1/chat/completions '{"model":"claude-x","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{not json"}}]}]}'
check "tool-call arguments that are not JSON are 400 before any provider is asked ($code)" test "$code" = 400
post /v1/messages '{"model":"gem-x","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"n":2}' \
	-H 'anthropic-version: 2023-06-01'
check "unknown fields of the caller's format are dropped, not errors ($code)" test "$code" = 200
check "the Bedrock calls were signed: the simulator refused none" \
	bash -c "! curl -s '$SIM_URL/_sim/log?provider=bedrock' | grep -q '\"status\":403'"
check "tollctl audit verify passes on the translated calls' audit log" \
	"$TOLLCTL" audit verify "$tmp/audit.jsonl"
check "no crash or sanitizer report in the gateway's log" \
	no_sanitizer_report "$tmp/gw.log"
finish
