#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# JWT bearer tokens as an alternative to API keys: a JWKS with RS256, ES256
# and HS256 keys and tokens signed by Node's crypto (tests/interop/
# jwt-tokens.mjs), tollgated verifying them (user/llm/jwt.c): good tokens
# let their tenant in, with its limits; expired, mis-addressed, tampered,
# unsigned or unknown-tenant tokens are 401; `auth: jwt` refuses API keys.
#
#   BUILD=build bash tests/integration/test_llm_jwt.sh
set -uo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
. tests/integration/llm_lib.sh
llm_lib_init llm-jwt

node tests/interop/jwt-tokens.mjs "$tmp" "$(date +%s)" 2>"$tmp/tokens.err" ||
	{ fail "tokens are made" "$tmp/tokens.err"; finish; }
new_key key
port=$(free_port)
port2=$(free_port)
cat >"$tmp/policy.yaml" <<POLICY
version: 1
server:
  workers: 2
listeners:
  - {name: api, address: 127.0.0.1:$port, auth: api_key, endpoints: [llm, health]}
  - {name: jwt-only, address: 127.0.0.1:$port2, auth: jwt, endpoints: [llm]}
jwt:
  jwks_file: $tmp/jwks.json
  issuer: https://idp.test
  audience: tollgate
tenants:
  - name: acme
    keys: [{name: ci, hash: "$key_hash"}]
  - name: tight
    limits: {requests_per_minute: 1}
providers:
  - {name: echo, type: echo}
models:
  - {name: echo-1, provider: echo}
telemetry:
  access_log: {enabled: true, path: $tmp/access.log}
POLICY
"$TGD" -c "$tmp/policy.yaml" 2>"$tmp/gw.log" &
pids+=($!)
wait_listening "$tmp/gw.log"
check "tollgated starts with a jwt section" grep -q "listening on" "$tmp/gw.log"

call() {	# PORT CREDENTIAL: sets $code
	code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $2" \
		-H 'content-type: application/json' \
		-d '{"model":"echo-1","messages":[{"role":"user","content":"hi"}]}' \
		"http://127.0.0.1:$1/v1/chat/completions")
}
tok() { cat "$tmp/$1.jwt"; }

for alg in rs256 es256 hs256; do
	call "$port" "$(tok $alg)"
	check "a good $alg token is let in ($code)" test "$code" = 200
done
call "$port" "$key"
check "API keys still work beside JWTs ($code)" test "$code" = 200
sleep 0.3
check "the access log names the JWT subject as the caller" grep -q '"key":"jwt:alice"' "$tmp/access.log"
check "... with the tenant from its claim" \
	grep -q '"tenant":"acme","key":"jwt:bob"' "$tmp/access.log"

for bad in expired wrong_aud wrong_iss no_tenant unknown_tenant alg_none wrong_kid tampered; do
	call "$port" "$(tok $bad)"
	check "a token that is $bad is 401 ($code)" test "$code" = 401
done
check "the 401 says nothing of why" bash -c "! grep -qi 'expired\|audience\|issuer\|tenant' '$tmp/body'"
check "the log says why, never the token" \
	bash -c "grep -q 'jwt refused' '$tmp/gw.log' && ! grep -qF '$(tok expired | cut -d. -f2)' '$tmp/gw.log'"

call "$port" "$(tok tight)"
c1=$code
call "$port" "$(tok tight)"
check "the token's tenant's limits apply (requests_per_minute 1: $c1 then $code)" \
	test "$c1" = 200 -a "$code" = 429

call "$port2" "$(tok rs256)"
check "an auth: jwt listener takes a token ($code)" test "$code" = 200
call "$port2" "$key"
check "... and refuses an API key ($code)" test "$code" = 401

check "no crash or sanitizer report in the gateway's log" no_sanitizer_report "$tmp/gw.log"
finish
