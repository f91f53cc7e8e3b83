#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Reliability of LLM calls end to end, with two provider simulators behind
# tollgated: weighted and least-latency balancing between the targets of a
# model, retries after a jittered backoff, Retry-After waited for or passed
# on, and the retry budget.
#
#   BUILD=build bash tests/integration/test_llm_balance.sh
set -uo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
. tests/integration/llm_lib.sh
llm_lib_init llm-bal

start_sim A
start_sim B

new_key key
hash=$key_hash
port=$(free_port)
cat >"$tmp/policy.yaml" <<POLICY
version: 1
server:
  workers: 2
  timeouts: {upstream_first_byte: 2s}
listeners:
  - {name: api, address: 127.0.0.1:$port, auth: api_key, endpoints: [llm, health]}
tenants:
  - name: acme
    keys: [{name: ci, hash: "$hash"}]
providers:
  - {name: pa, type: openai_compatible, base_url: "$A_URL/v1", api_key: "\${env:SIM_KEY}", retries: 0}
  - {name: pb, type: openai_compatible, base_url: "$B_URL/v1", api_key: "\${env:SIM_KEY}", retries: 0}
  - {name: pr, type: openai_compatible, base_url: "$A_URL/v1", api_key: "\${env:SIM_KEY}", retries: 2,
     backoff: {base: 50ms, max: 200ms}, circuit: {fail_threshold: 100}}
  - {name: pbud, type: openai_compatible, base_url: "$B_URL/v1", api_key: "\${env:SIM_KEY}", retries: 3,
     backoff: {base: 1ms, max: 1ms, budget_min: 2, budget_ratio: 0}, circuit: {fail_threshold: 100}}
  - {name: popt-off, type: openai_compatible, base_url: "$A_URL/v1", api_key: "\${env:TG_TEST_KEY_NOT_SET}", optional: true}
  - {name: popt-on, type: openai_compatible, base_url: "$A_URL/v1", api_key: "\${env:SIM_KEY}", optional: true}
  - {name: echo, type: echo}
models:
  - {name: off, provider: popt-off, upstream: gpt-4o-mini, fallback: [echo-m]}
  - {name: on, provider: popt-on, upstream: gpt-4o-mini, fallback: [echo-m]}
  - {name: lonely, provider: popt-off, upstream: gpt-4o-mini}
  - {name: echo-m, provider: echo}
  - {name: w, provider: pa, upstream: gpt-4o-mini, weight: 3, targets: [{provider: pb, weight: 1}]}
  - {name: ll, provider: pa, upstream: gpt-4o-mini, balance: least_latency, targets: [{provider: pb}]}
  - {name: r, provider: pr, upstream: gpt-4o-mini}
  - {name: bud, provider: pbud, upstream: gpt-4o-mini}
POLICY
env -u TG_TEST_KEY_NOT_SET SIM_KEY=sk-sim-openai "$TGD" -c "$tmp/policy.yaml" 2>"$tmp/gw.log" &
pids+=($!)
wait_listening "$tmp/gw.log"
GW=http://127.0.0.1:$port
check "tollgated starts with targets, balance and backoff in the policy" grep -q "listening on" "$tmp/gw.log"

# One call; prints "status provider ms".
call() {
	local t0 t1
	t0=$(date +%s%N)
	curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' -H "Authorization: Bearer $key" \
		-H 'content-type: application/json' \
		-d "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
		"$GW/v1/chat/completions" >"$tmp/code"
	t1=$(date +%s%N)
	echo "$(cat "$tmp/code") $(tr -d '\r' <"$tmp/head" | awk -F': ' 'tolower($1) == "x-tollgate-provider" { print $2 }') $(((t1 - t0) / 1000000))"
}
fault() {	# URL MODE COUNT [RETRY_AFTER]
	curl -s -o /dev/null -X POST -H 'content-type: application/json' \
		-d "{\"provider\":\"openai\",\"mode\":\"$2\",\"count\":$3${4:+,\"retry_after\":$4}}" "$1/_sim/faults"
}
sim_calls() { curl -s "$1/_sim/log" | grep -c '"path":"/v1/chat/completions"'; }

# ---- weighted ---------------------------------------------------------------------------------
for _ in $(seq 200); do call w; done >"$tmp/w.txt"
na=$(grep -c '^200 pa ' "$tmp/w.txt")
nb=$(grep -c '^200 pb ' "$tmp/w.txt")
check "weighted 3:1 — all 200 calls answered ($na by pa, $nb by pb)" test $((na + nb)) -eq 200
check "weighted 3:1 — pa's share is 3/4 within ±10% ($na of 200)" test "$na" -ge 130 -a "$na" -le 170

# ---- least latency ----------------------------------------------------------------------------
fault "$A_URL" slow:150 1000
for _ in $(seq 20); do call ll; done >/dev/null	# both get measured
for _ in $(seq 60); do call ll; done >"$tmp/ll.txt"
nb=$(grep -c '^200 pb ' "$tmp/ll.txt")
na=$(grep -c '^200 pa ' "$tmp/ll.txt")
check "least_latency — the fast target takes most calls ($nb of 60 to pb, $na to the slow pa)" \
	test "$nb" -ge 48 -a $((na + nb)) -eq 60
curl -s -o /dev/null -X DELETE "$A_URL/_sim/faults"

# ---- retries with backoff -----------------------------------------------------------------------
before=$(sim_calls "$A_URL")
fault "$A_URL" 500 2
read -r code prov ms <<<"$(call r)"
after=$(sim_calls "$A_URL")
check "two 500s then an answer: retried twice after a backoff ($code by $prov in $ms ms, $((after - before)) calls)" \
	test "$code" = 200 -a $((after - before)) -eq 3 -a "$ms" -lt 1500

fault "$A_URL" 429 1 1
read -r code prov ms <<<"$(call r)"
check "a 429 with Retry-After: 1 and no fallback is waited out, then answered ($code in $ms ms)" \
	test "$code" = 200 -a "$ms" -ge 950
fault "$A_URL" 429 1 30
read -r code prov ms <<<"$(call r)"
check "a 429 asking for 30 s (over retry_after_max) goes to the caller at once ($code in $ms ms)" \
	test "$code" = 429 -a "$ms" -lt 900
check "... with the provider's Retry-After" grep -qi '^retry-after: 30' "$tmp/head"
curl -s -o /dev/null -X DELETE "$A_URL/_sim/faults"

# ---- the retry budget -------------------------------------------------------------------------
before=$(sim_calls "$B_URL")
fault "$B_URL" 500 100
read -r code1 _ _ <<<"$(call bud)"
mid=$(sim_calls "$B_URL")
read -r code2 _ _ <<<"$(call bud)"
after=$(sim_calls "$B_URL")
check "the retry budget (2, earning nothing) allows 2 retries: the first call asks 3 times ($((mid - before)))" \
	test $((mid - before)) -eq 3 -a "$code1" = 500
check "... and the next call, the budget spent, asks once ($((after - mid)))" \
	test $((after - mid)) -eq 1 -a "$code2" = 500
curl -s -o /dev/null -X DELETE "$B_URL/_sim/faults"

# ---- optional providers ------------------------------------------------------------------------
read -r code prov _ <<<"$(call off)"
check "an optional provider whose key is not set is off: its model answers from the fallback ($code by $prov)" \
	test "$code" = 200 -a "$prov" = echo
read -r code prov _ <<<"$(call on)"
check "an optional provider whose key is set serves ($code by $prov)" test "$code" = 200 -a "$prov" = popt-on
read -r code _ _ <<<"$(call lonely)"
check "a model nothing can serve is 503 ($code)" test "$code" = 503
curl -s -H "Authorization: Bearer $key" "$GW/v1/models" >"$tmp/models"
check "/v1/models lists the model with a fallback and leaves out the one nothing serves" \
	bash -c "grep -q '\"id\":\"off\"' '$tmp/models' && ! grep -q '\"id\":\"lonely\"' '$tmp/models'"
check "the gateway logged the provider as off" grep -q "provider popt-off: its credentials are not set: off" "$tmp/gw.log"

check "no crash or sanitizer report in the gateway's log" no_sanitizer_report "$tmp/gw.log"
finish
