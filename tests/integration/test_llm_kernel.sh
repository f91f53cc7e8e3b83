#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Budgets enforced down to the kernel, end to end: two network namespaces (a
# client and a gateway) joined by a veth pair, the XDP datapath attached on
# the gateway's end by `tollctl attach` with the policy's tenants, and
# tollgated serving the LLM front door there with the datapath's pins.
#
#   - a tenant that spends its daily token budget (action: block) is flagged
#     in the kernel: its next connection is dropped at XDP (tollctl stats:
#     tenant_blocked), while another tenant is still served;
#   - a source that presents bad keys kernel.penalty.auth_failures times
#     goes into the penalty box (tollctl penalty list) and its next
#     connection is dropped (penalty_box).
#
# Needs root, network namespaces, veth with native XDP and bpffs; without
# them every case is counted as skipped. Everything made here goes in an
# EXIT trap. Commands run in a namespace through `nsenter --net`, so the
# bpffs the pins live in stays visible.
#
#   BUILD=build bash tests/integration/test_llm_kernel.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOLLCTL=$(realpath -m "${TOLLCTL:-$BUILD/tollctl}")
TGD=$(realpath -m "${TGD:-$BUILD/tollgated}")
# shellcheck source=tests/integration/kern_lib.sh
. tests/integration/kern_lib.sh

passed=0 failed=0 skipped=0
CASES=(attach gateway_serves budget_spent_by_second_call kernel_flags_tenant xdp_drops_blocked_tenant
       stats_count_tenant_blocked other_tenant_served penalty_after_bad_keys
       penalty_listed xdp_drops_boxed_source stats_count_penalty)

skip_all() {
	local c
	for c in "${CASES[@]}"; do echo "SKIP $c: $1"; skipped=$((skipped + 1)); done
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 0
}
ok() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: ${2-}"; failed=$((failed + 1)); }
check() { local n=$1; shift; if "$@"; then ok "$n"; else fail "$n" "${why-}"; fi; }

for b in "$TOLLCTL" "$TGD"; do
	[ -x "$b" ] || { echo "FAIL $b is not built"; echo "0 passed, 1 failed"; exit 1; }
done
reason=$(kern_unavailable)
[ -z "$reason" ] || skip_all "$reason"
for tool in ip nsenter curl python3; do
	command -v "$tool" >/dev/null 2>&1 || skip_all "$tool is not installed"
done

id=$$
NSC=tglc$id NSG=tglg$id VC=tglc$id VG=tglg$id
PIN=/sys/fs/bpf/tg-test-llm-$id
oct=$((id % 200 + 20))
NET=10.$((oct + 1))
GW_IP=$NET.0.1 SRC_A=$NET.1.2 SRC_B=$NET.2.2
PORT=18443
tmp=$(mktemp -d)
gw_pid=

cleanup() {
	[ -n "$gw_pid" ] && kill -KILL "$gw_pid" 2>/dev/null
	[ -n "$gw_pid" ] && wait "$gw_pid" 2>/dev/null
	ip netns del "$NSC" 2>/dev/null
	ip netns del "$NSG" 2>/dev/null
	rm -rf "$PIN" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_c() { nsenter --net="/run/netns/$NSC" "$@"; }
in_g() { nsenter --net="/run/netns/$NSG" "$@"; }
tctl() {
	in_g "$TOLLCTL" "$@" --pin-dir "$PIN" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
}
jq_() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }

ip netns add "$NSC" 2>/dev/null || skip_all "cannot create a network namespace"
ip netns add "$NSG" 2>/dev/null || skip_all "cannot create a network namespace"
ip link add "$VC" netns "$NSC" type veth peer name "$VG" netns "$NSG" 2>/dev/null ||
	skip_all "cannot create a veth pair"
in_c ip addr add "$SRC_A/16" dev "$VC"
in_c ip addr add "$SRC_B/16" dev "$VC"
in_c ip link set "$VC" up
in_c ip link set lo up
in_g ip addr add "$GW_IP/16" dev "$VG"
in_g ip link set "$VG" up
in_g ip link set lo up

keyA=tg-kernel-a-$id keyB=tg-kernel-b-$id
hA=$(printf %s "$keyA" | "$TOLLCTL" key hash)
hB=$(printf %s "$keyB" | "$TOLLCTL" key hash)
cat >"$tmp/policy.yaml" <<POLICY
version: 1
server: {workers: 1}
listeners:
  - {name: api, address: $GW_IP:$PORT, endpoints: [llm, health]}
tenants:
  - name: spender
    prefixes: [$SRC_A/32]
    budgets: [{period: day, tokens: 38, action: block}]
    keys: [{name: a, hash: "$hA"}]
  - name: other
    prefixes: [$SRC_B/32]
    keys: [{name: b, hash: "$hB"}]
providers:
  - {name: echo, type: echo}
models:
  - {name: echo, provider: echo}
kernel:
  enabled: true
  interfaces: [$VG]
  pin_path: $PIN
  penalty: {auth_failures: 3, window: 1m, duration: 5m}
POLICY

tctl -j attach "$VG" -c "$tmp/policy.yaml"
if [ "$rc" -ne 0 ]; then
	if grep -qiE "native XDP|not supported|operation not permitted" "$tmp/out" "$tmp/err"; then
		skip_all "native XDP on veth unavailable: $(cat "$tmp/err")"
	fi
	fail attach "$(cat "$tmp/out" "$tmp/err")"
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 1
fi
ok attach

# nsenter execs the daemon (no --fork), so $! is the daemon itself.
nsenter --net="/run/netns/$NSG" "$TGD" -c "$tmp/policy.yaml" >/dev/null 2>"$tmp/gw.log" &
gw_pid=$!
for _ in $(seq 50); do
	in_c curl -s -o /dev/null --interface "$SRC_B" "http://$GW_IP:$PORT/healthz" && break
	sleep 0.1
done
why=$(tail -5 "$tmp/gw.log")
check gateway_serves in_c curl -sf -o /dev/null --interface "$SRC_B" "http://$GW_IP:$PORT/healthz"

# The echo provider's usage is exact: each call below is estimated at 15
# input tokens and uses 20 (15 in, 5 out). With 38 tokens a day the second
# call is admitted (20 + 15 <= 38) and spends the budget (40 >= 38), which
# is what blocks the tenant in the kernel; the third is refused.

# call SRC KEY -> $code
call() {
	code=$(in_c curl -s -o "$tmp/body" -w '%{http_code}' --connect-timeout 1 --max-time 3 \
		--interface "$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
		-d '{"model":"echo","messages":[{"role":"user","content":"spend some tokens please"}]}' \
		"http://$GW_IP:$PORT/v1/chat/completions")
}
codes=
for _ in 1 2; do
	call "$SRC_A" "$keyA"
	codes="$codes $code"
done
why="codes:$codes; $(grep -i budget "$tmp/gw.log" | tail -2)"
check budget_spent_by_second_call bash -c "test '$codes' = ' 200 200' &&
	grep -q 'tenant spender spent a blocking budget' '$tmp/gw.log'"

tctl -j tenants
blocked=$(jq_ "$out" '[t["blocked"] for t in j if t["tenant"] == "spender"][0]')
why="tenants: $out"
check kernel_flags_tenant test "$blocked" = True

call "$SRC_A" "$keyA"
why="code $code"
check xdp_drops_blocked_tenant test "$code" = 000

tctl -j stats
n=$(jq_ "$out" 'sum(r["packets"] for r in j["reasons"] if r["reason"] == "tenant_blocked")')
why="stats: $out"
check stats_count_tenant_blocked test "${n:-0}" -gt 0

call "$SRC_B" "$keyB"
why="code $code $(cat "$tmp/body")"
check other_tenant_served test "$code" = 200

for _ in 1 2 3; do call "$SRC_B" "wrong-key-$id"; done
why=$(grep -i 'authentication' "$tmp/gw.log" | tail -2)
check penalty_after_bad_keys grep -q "source $SRC_B failed authentication repeatedly: in the penalty box" "$tmp/gw.log"

tctl -j penalty list
why="penalty: $out"
check penalty_listed grep -q "$SRC_B" "$tmp/out"

call "$SRC_B" "$keyB"
why="code $code"
check xdp_drops_boxed_source test "$code" = 000

tctl -j stats
n=$(jq_ "$out" 'sum(r["packets"] for r in j["reasons"] if r["reason"] == "penalty_box")')
why="stats: $out"
check stats_count_penalty test "${n:-0}" -gt 0

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
