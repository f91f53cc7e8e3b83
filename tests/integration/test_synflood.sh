#!/usr/bin/env bash
# A SYN flood through a veth pair against tollgate's XDP SYN limiter:
# two network namespaces made here (a sender and a receiver), native XDP
# attached by `tollctl attach` on the receiver's end with a policy giving
# each of two tenants a prefix and `syn: {rate: 100/s, burst: 20}`, and a
# paced SYN generator (tests/bench/synflood.c, compiled here) in the
# sender's namespace: the flooding tenant at 20x its rate for a known time,
# the quiet tenant below its own rate at the same time.
#
#   BUILD=build bash tests/integration/test_synflood.sh
#
# Checks: every SYN sent is seen by XDP (admitted + limited = sent); the
# SYN limiter's reason counters in `tollctl -j stats` count the drops; the
# flooding tenant's admitted SYNs are rate x time + burst within 10% of
# rate x time plus the burst (the clock is real here, not injected: the
# exact figure is the prog_test_run tests' job); `tollctl -j tenants` agrees
# with the stats; the quiet tenant loses nothing.
#
# Needs root, network namespaces, veth with native XDP, bpffs and a C
# compiler. Without them every case is counted as skipped. Everything made
# here (namespaces, links, the private pin directory, the generator, temp
# files) goes in an EXIT trap, also when a check fails. tollctl runs in the
# namespace through `nsenter --net` (not `ip netns exec`, which remounts
# /sys and would hide the bpffs the pins live in).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOLLCTL=${TOLLCTL:-$BUILD/tollctl}
TOLLCTL=$(realpath -m "$TOLLCTL")
# shellcheck source=tests/integration/kern_lib.sh
. tests/integration/kern_lib.sh

passed=0 failed=0 skipped=0

# The flood: the flooding tenant at RATE_A SYNs/s for SECS seconds, the
# quiet tenant at RATE_B (below its limit) alongside.
SECS=${SYNFLOOD_SECS:-3}
RATE_A=2000
RATE_B=60
LIMIT=100
BURST=20

CASES=(
	attach_native_with_syn_policy
	flood_sent_at_the_offered_rate
	xdp_sees_every_syn
	stats_count_the_limited_syns
	admitted_is_rate_times_time_plus_burst
	tenants_agree_with_stats
	quiet_tenant_not_affected
)

skip_all() {
	local c
	for c in "${CASES[@]}"; do
		echo "SKIP $c: $1"
		skipped=$((skipped + 1))
	done
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 0
}

ok() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

if [ ! -x "$TOLLCTL" ]; then
	echo "FAIL $TOLLCTL is not built"
	echo "0 passed, 1 failed"
	exit 1
fi
why=$(kern_unavailable)
[ -z "$why" ] || skip_all "$why"
for tool in ip nsenter python3 cc; do
	command -v "$tool" >/dev/null 2>&1 || skip_all "$tool is not installed"
done
[ -e /sys/kernel/btf/vmlinux ] || skip_all "the kernel has no BTF"

id=$$
NSS=tgfs$id			# the sender's namespace
NSR=tgfr$id			# the receiver's namespace (XDP here)
VS=tgfs$id			# the sender's veth end
VR=tgfr$id			# the receiver's veth end
PIN=/sys/fs/bpf/tg-test-syn-$id
oct=$((id % 200 + 20))
NET=10.$oct
RECV_IP=$NET.0.1
SRC_A=$NET.1.2			# tenant "flood"
SRC_B=$NET.2.2			# tenant "quiet"
tmp=$(mktemp -d)
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$NSS" 2>/dev/null
	ip netns del "$NSR" 2>/dev/null
	rm -rf "$PIN" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_s() { nsenter --net="/run/netns/$NSS" "$@"; }
in_r() { nsenter --net="/run/netns/$NSR" "$@"; }

# tctl ARGS...: tollctl in the receiver's namespace; rc, out, err.
tctl() {
	in_r "$TOLLCTL" "$@" --pin-dir "$PIN" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

# jq_ JSON EXPR: a Python expression on JSON (as `j`).
jq_() {
	python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' \
		"$1" "$2" 2>/dev/null
}

# ---- the generator and the namespaces ----------------------------------------------

if ! cc -O2 -Wall -Werror -o "$tmp/synflood" tests/bench/synflood.c 2>"$tmp/cc"; then
	cat "$tmp/cc"
	echo "FAIL tests/bench/synflood.c does not compile"
	echo "0 passed, 1 failed"
	exit 1
fi
ip netns add "$NSS" 2>/dev/null || skip_all "cannot create a network namespace"
ip netns add "$NSR" 2>/dev/null || skip_all "cannot create a network namespace"
if ! ip link add "$VS" netns "$NSS" type veth peer name "$VR" netns "$NSR" 2>/dev/null; then
	skip_all "cannot create a veth pair"
fi
in_s ip addr add "$SRC_A/16" dev "$VS"
in_s ip addr add "$SRC_B/16" dev "$VS"
in_s ip link set "$VS" up
in_s ip link set lo up
in_r ip addr add "$RECV_IP/16" dev "$VR"
in_r ip link set "$VR" up
in_r ip link set lo up
MAC=$(in_r ip -br link show dev "$VR" | awk '{print $3}')

cat >"$tmp/policy.yaml" <<EOF
version: 1
listeners:
  - name: public
    address: 127.0.0.1:8443
tenants:
  - name: flood
    prefixes: [$NET.1.0/24]
    syn: {rate: $LIMIT/s, burst: $BURST}
  - name: quiet
    prefixes: [$NET.2.0/24]
    syn: {rate: $LIMIT/s, burst: $BURST}
kernel:
  enabled: true
  interfaces: [$VR]
EOF

# ---- attach ---------------------------------------------------------------------------

tctl -j attach "$VR" -c "$tmp/policy.yaml"
if [ "$rc" -eq 0 ] && [ "$(jq_ "$out" 'j["mode"]')" = native ]; then
	ok attach_native_with_syn_policy
else
	if grep -qiE "native XDP|not supported|operation not permitted" <<<"$out$err"; then
		for c in "${CASES[@]}"; do echo "SKIP $c: native XDP on veth unavailable: $err"; skipped=$((skipped + 1)); done
		echo "$passed passed, $failed failed, $skipped skipped"
		exit 0
	fi
	fail attach_native_with_syn_policy "rc=$rc out=$out err=$err"
	for c in "${CASES[@]:1}"; do echo "SKIP $c: not attached"; skipped=$((skipped + 1)); done
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 1
fi

# Counters before the flood (the attach itself may have seen a packet).
tctl -j tenants
t0=$out

# ---- the flood -------------------------------------------------------------------------

gen=$(in_s "$tmp/synflood" -i "$VS" -m "$MAC" -d "$RECV_IP" -p 9 -t "$SECS" \
	-s "$SRC_A:$RATE_A" -s "$SRC_B:$RATE_B" 2>&1)
grc=$?
# Let the last packets leave the veth ring and the counters settle.
sleep 0.2
elapsed=$(jq_ "$gen" 'j["elapsed_s"]')
sent_a=$(jq_ "$gen" 'j["streams"][0]["sent"]')
sent_b=$(jq_ "$gen" 'j["streams"][1]["sent"]')
errs=$(jq_ "$gen" 'j["streams"][0]["errors"] + j["streams"][1]["errors"]')
want_a=$((RATE_A * SECS))
want_b=$((RATE_B * SECS))
if [ "$grc" -eq 0 ] && [ "$sent_a" = "$want_a" ] && [ "$sent_b" = "$want_b" ] &&
   [ "$errs" = 0 ] && python3 -c "import sys; sys.exit(not abs($elapsed - $SECS) < 0.1 * $SECS)"; then
	ok flood_sent_at_the_offered_rate
else
	fail flood_sent_at_the_offered_rate "rc=$grc want $want_a + $want_b in ${SECS}s: $gen"
fi
[ -n "$elapsed" ] || elapsed=$SECS
[ -n "$sent_a" ] || sent_a=0
[ -n "$sent_b" ] || sent_b=0

tctl -j stats
stats=$out
tctl -j tenants
t1=$out

# Per tenant: (syn_passed, syn_tenant_limited, syn_prefix_limited) during
# the flood.
delta() {
	python3 - "$t0" "$t1" "$1" <<'EOF'
import json, sys
a = {t["tenant"]: t for t in json.loads(sys.argv[1])}
b = {t["tenant"]: t for t in json.loads(sys.argv[2])}
name = sys.argv[3]
f = ("syn_passed", "syn_tenant_limited", "syn_prefix_limited")
print(" ".join(str(b[name][k] - a[name][k]) for k in f))
EOF
}
read -r pass_a tlim_a plim_a <<<"$(delta flood)"
read -r pass_b tlim_b plim_b <<<"$(delta quiet)"
lim_a=$((tlim_a + plim_a))

if [ $((pass_a + lim_a)) -eq "$sent_a" ] && [ $((pass_b + tlim_b + plim_b)) -eq "$sent_b" ]; then
	ok xdp_sees_every_syn
else
	fail xdp_sees_every_syn "flood: $pass_a admitted + $lim_a limited of $sent_a sent; quiet: $pass_b + $((tlim_b + plim_b)) of $sent_b"
fi

# The drop reasons in `tollctl stats`: the SYN limiters (tenant or prefix)
# hold every limited SYN, nothing else dropped.
read -r s_tlim s_plim s_other <<<"$(jq_ "$stats" '" ".join(str(x) for x in (
	sum(r["packets"] for r in j["reasons"] if r["hook"] == "xdp_ingress" and r["reason"] == "syn_tenant_limit"),
	sum(r["packets"] for r in j["reasons"] if r["hook"] == "xdp_ingress" and r["reason"] == "syn_prefix_limit"),
	sum(r["packets"] for r in j["reasons"] if r["hook"] == "xdp_ingress" and r["reason"] in ("malformed", "penalty_box", "tenant_blocked"))))')"
s_lim=$(( ${s_tlim:-0} + ${s_plim:-0} ))
want_drops=$((sent_a - (LIMIT * SECS + BURST)))
if [ "$s_lim" -gt 0 ] && [ "$s_lim" -eq "$lim_a" ] && [ "${s_other:-1}" -eq 0 ] &&
   [ "$s_lim" -ge $((want_drops - LIMIT * SECS / 10 - BURST)) ]; then
	ok stats_count_the_limited_syns
else
	fail stats_count_the_limited_syns "stats syn_tenant_limit=$s_tlim syn_prefix_limit=$s_plim other drops=$s_other; tenants say $lim_a; about $want_drops expected"
fi

# rate x time + burst, with time the generator's first-to-last-packet span.
verdict=$(python3 -c "
exp = $LIMIT * $elapsed + $BURST
tol = 0.1 * $LIMIT * $elapsed + $BURST
print('ok' if abs($pass_a - exp) <= tol else 'bad', round(exp, 1), round(tol, 1))")
echo "# flood: $pass_a admitted, $lim_a limited of $sent_a sent in ${elapsed}s (expected admitted, tolerance: ${verdict#* }); quiet: $pass_b of $sent_b admitted"
if [ "${verdict%% *}" = ok ]; then
	ok admitted_is_rate_times_time_plus_burst
else
	fail admitted_is_rate_times_time_plus_burst "admitted $pass_a in ${elapsed}s; expected, tolerance: ${verdict#* }"
fi

# `tollctl tenants` and `tollctl stats` tell the same story: the limited
# SYNs of all tenants are the stats' limiter counts.
all_t=$(jq_ "$t1" 'sum(t["syn_tenant_limited"] for t in j)')
all_p=$(jq_ "$t1" 'sum(t["syn_prefix_limited"] for t in j)')
if [ "$all_t" = "$s_tlim" ] && [ "$all_p" = "$s_plim" ] &&
   [ "$(jq_ "$t1" '[t["syn_interval_ns"] for t in j if t["tenant"] == "flood"][0]')" = $((1000000000 / LIMIT)) ]; then
	ok tenants_agree_with_stats
else
	fail tenants_agree_with_stats "tenants: tenant-limited $all_t prefix-limited $all_p; stats: $s_tlim $s_plim"
fi

# The quiet tenant sent below its own limit while the other flooded:
# every one of its SYNs was admitted.
if [ "$sent_b" -gt 0 ] && [ "$pass_b" -eq "$sent_b" ] && [ $((tlim_b + plim_b)) -eq 0 ]; then
	ok quiet_tenant_not_affected
else
	fail quiet_tenant_not_affected "quiet: $pass_b admitted, $tlim_b + $plim_b limited of $sent_b sent"
fi

tctl detach "$VR" --purge

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
