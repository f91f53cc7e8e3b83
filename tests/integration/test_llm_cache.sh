#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The exact-match response cache end to end (tollgated in front of the
# provider simulator): per tenant and opt-in, hits answered without asking
# the provider and without spending budget, Cache-Control honoured, TTL,
# errors and streams never stored, metrics.
#
#   BUILD=build bash tests/integration/test_llm_cache.sh
set -uo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
. tests/integration/llm_lib.sh
llm_lib_init llm-cache

start_sim SIM
new_key kc
new_key kc2
new_key kp
port=$(free_port)
cat >"$tmp/policy.yaml" <<POLICY
version: 1
server:
  workers: 2
listeners:
  - {name: api, address: 127.0.0.1:$port, auth: api_key, endpoints: [llm, health, metrics]}
tenants:
  - name: cached
    cache: true
    cache_ttl: 2s
    budgets: [{period: day, tokens: 100000}]
    keys: [{name: c1, hash: "$kc_hash"}]
  - name: cached2
    cache: true
    keys: [{name: c2, hash: "$kc2_hash"}]
  - name: plain
    keys: [{name: p1, hash: "$kp_hash"}]
providers:
  - {name: sim, type: openai_compatible, base_url: "$SIM_URL/v1", api_key: "\${env:SIM_KEY}", retries: 0}
models:
  - {name: m, provider: sim, upstream: gpt-4o-mini}
cache: {enabled: true, max_bytes: 1MiB, max_entry_bytes: 64KiB, max_entries: 100}
telemetry:
  access_log: {enabled: true, path: $tmp/access.log}
POLICY
SIM_KEY=sk-sim-openai "$TGD" -c "$tmp/policy.yaml" 2>"$tmp/gw.log" &
pids+=($!)
wait_listening "$tmp/gw.log"
GW=http://127.0.0.1:$port
check "tollgated starts with the cache enabled" grep -q "listening on" "$tmp/gw.log"

# call KEY TEXT [curl args]: sets $code, body in $tmp/body, head in $tmp/head
call() {
	local k=$1 text=$2
	shift 2
	code=$(curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' -H "Authorization: Bearer $k" \
		-H 'content-type: application/json' "$@" \
		-d "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"$text\"}]}" \
		"$GW/v1/chat/completions")
}
sim_calls() { curl -s "$SIM_URL/_sim/log" | grep -c '"path":"/v1/chat/completions"'; }
hdr() { tr -d '\r' <"$tmp/head" | awk -F': ' -v h="$1" 'tolower($1) == h { print $2 }'; }

n0=$(sim_calls)
call "$kc" "cache me please"
first=$(cat "$tmp/body")
rem1=$(hdr x-tollgate-tokens-remaining)
call "$kc" "cache me please"
check "the same call again is a hit ($code, x-tollgate-cache: $(hdr x-tollgate-cache))" \
	test "$code" = 200 -a "$(hdr x-tollgate-cache)" = hit
check "... with the same answer" test "$(cat "$tmp/body")" = "$first"
check "... and the provider was asked once ($(($(sim_calls) - n0)))" test $(($(sim_calls) - n0)) -eq 1
rem2=$(hdr x-tollgate-tokens-remaining)
call "$kc" "cache me please"
rem3=$(hdr x-tollgate-tokens-remaining)
check "a hit spends no budget (remaining $rem1 -> $rem2 -> $rem3)" test -n "$rem2" -a "$rem2" = "$rem3"
sleep 0.3
check "the access log marks the hit" grep -q '"cache":"hit"' "$tmp/access.log"

n0=$(sim_calls)
call "$kc" "something else"
check "another body is a miss" test -z "$(hdr x-tollgate-cache)" -a $(($(sim_calls) - n0)) -eq 1
n0=$(sim_calls)
call "$kc2" "cache me please"
check "another tenant's identical call is not served from the first's entries" \
	test -z "$(hdr x-tollgate-cache)" -a $(($(sim_calls) - n0)) -eq 1
n0=$(sim_calls)
call "$kp" "plain one"
call "$kp" "plain one"
check "a tenant that did not opt in is never cached ($(($(sim_calls) - n0)) calls)" \
	test $(($(sim_calls) - n0)) -eq 2

n0=$(sim_calls)
call "$kc" "cache me please" -H 'Cache-Control: no-cache'
check "Cache-Control: no-cache asks the provider" test $(($(sim_calls) - n0)) -eq 1
call "$kc" "do not keep" -H 'Cache-Control: no-store'
n0=$(sim_calls)
call "$kc" "do not keep"
check "Cache-Control: no-store keeps the answer out" test $(($(sim_calls) - n0)) -eq 1

curl -s -o /dev/null -X POST -H 'content-type: application/json' \
	-d '{"provider":"openai","mode":"500","count":1}' "$SIM_URL/_sim/faults"
call "$kc" "fails once"
c1=$code
n0=$(sim_calls)
call "$kc" "fails once"
check "an error answer is not stored ($c1, then $code from the provider)" \
	test "$c1" = 500 -a "$code" = 200 -a $(($(sim_calls) - n0)) -eq 1

n0=$(sim_calls)
for _ in 1 2; do
	curl -s -o /dev/null -H "Authorization: Bearer $kc" -H 'content-type: application/json' \
		-d '{"model":"m","stream":true,"messages":[{"role":"user","content":"a stream"}]}' \
		"$GW/v1/chat/completions"
done
check "streams are not cached" test $(($(sim_calls) - n0)) -eq 2

sleep 2.1
n0=$(sim_calls)
call "$kc" "cache me please"
check "after the tenant's cache_ttl (2 s) the entry is gone" \
	test -z "$(hdr x-tollgate-cache)" -a $(($(sim_calls) - n0)) -eq 1

curl -s "$GW/metrics" >"$tmp/metrics"
check "metrics count the hits" grep -qE '^tollgate_llm_cache_hits_total [1-9]' "$tmp/metrics"
check "metrics show the bytes held" grep -qE '^tollgate_llm_cache_bytes [1-9]' "$tmp/metrics"
check "no crash or sanitizer report in the gateway's log" no_sanitizer_report "$tmp/gw.log"
finish
