#!/usr/bin/env bash
# tollctl's kernel inspector against real pinned maps: flows, tenants,
# stats, top, penalty, tenant block/unblock and events, in plain and JSON
# output, plus the errors for no maps, a mismatched map and a foreign ABI.
#
# The maps are the real XDP object's, pinned into a private bpffs directory
# by bpftool (no loader, no interface); traffic is frames run through the
# pinned program with BPF_PROG_TEST_RUN, so every expected count is known.
# Needs root; without it (or bpftool, or the built object) the kernel cases
# are counted as skipped.
#
#   BUILD=build bash tests/integration/test_inspect.sh
#
# Conditions are single-quoted on purpose: check() evaluates them later.
# shellcheck disable=SC2016,SC2034,SC2046
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOLLCTL=${TOLLCTL:-$BUILD/tollctl}
# shellcheck source=tests/integration/kern_lib.sh
. tests/integration/kern_lib.sh

passed=0 failed=0 skipped=0
rc=0 out='' err=''
no_kern=

if [ ! -x "$TOLLCTL" ]; then
	echo "FAIL $TOLLCTL is not built"
	echo "0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d)
PIN=/sys/fs/bpf/tg-test-inspect-$$
cleanup() {
	rm -rf "$PIN" "$PIN-bad" "$PIN-abi" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
unset TOLLGATE_PIN_DIR

# shellcheck source=tests/integration/harness.sh
. "$(dirname "$0")/harness.sh"

# kcheck: a check that needs the kernel; skipped (never passed) without it.
kcheck() {
	if [ -n "$no_kern" ]; then
		skipped=$((skipped + 1))
		echo "skip $1: $no_kern"
		return
	fi
	check "$@"
}

j() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$tmp/out" "$@" 2>/dev/null
}

# zeros N: N hex zero bytes, for bpftool values.
zeros() {
	local i
	for ((i = 0; i < $1; i++)); do
		printf '00 '
	done
}

# ---- without maps: errors that say what to do ------------------------------

tc -j flows --pin-dir "$tmp/nothing"
check "-j flows without maps: JSON error naming the dir and 'tollctl attach'" eval \
	'[ $rc -eq 1 ] && [ "$(j "\"no tollgate maps pinned under $tmp/nothing\" in d[\"error\"] and \"tollctl attach\" in d[\"error\"]")" = True ]'
tc stats --pin-dir "$tmp/nothing"
check "plain stats without maps: message on stderr, nothing on stdout" eval \
	'[ $rc -eq 1 ] && [ -z "$out" ] && grep -q "no tollgate maps pinned under $tmp/nothing: run tollctl attach" <<<"$err"'
TOLLGATE_PIN_DIR=$tmp/from-env tc -j tenants
check "TOLLGATE_PIN_DIR is honoured" eval \
	'[ $rc -eq 1 ] && grep -q "$tmp/from-env" <<<"$out"'
mkdir -p "$tmp/empty"
tc -j penalty list --pin-dir "$tmp/empty"
check "an empty pin dir is 'not attached' too" eval \
	'[ $rc -eq 1 ] && grep -q "run tollctl attach" <<<"$out"'

# ---- usage errors -----------------------------------------------------------------

tc -j flows --sort nope --pin-dir "$tmp/nothing"
check "flows --sort with a bad key is a usage error" eval '[ $rc -eq 2 ] && grep -q error <<<"$out"'
tc penalty add not-an-address --pin-dir "$tmp/nothing"
check "penalty add with a bad address is a usage error" eval '[ $rc -eq 2 ]'
tc penalty add 10.0.0.0/24 --pin-dir "$tmp/nothing"
check "penalty add takes one address, not a prefix" eval '[ $rc -eq 2 ]'
tc penalty add 10.0.0.1 --duration forever --pin-dir "$tmp/nothing"
check "penalty add --duration with a bad value is a usage error" eval '[ $rc -eq 2 ]'
tc tenant block
check "tenant block without a tenant is a usage error" eval '[ $rc -eq 2 ]'
tc top --count 0
check "top --count 0 is a usage error" eval '[ $rc -eq 2 ]'
for noun in flows tenants stats top events export; do
	tc "$noun" help
	check "$noun help prints usage" eval '[ $rc -eq 0 ] && grep -q "^Usage: tollctl $noun" <<<"$out"'
done
tc penalty help
check "penalty help prints usage" eval '[ $rc -eq 0 ] && grep -q "penalty add ADDR" <<<"$out"'
tc tenant help
check "tenant help prints usage" eval '[ $rc -eq 0 ] && grep -q "tenant block T" <<<"$out"'

# ---- real maps ----------------------------------------------------------------------

no_kern=$(kern_unavailable)
if [ -z "$no_kern" ] && ! kern_pin "$PIN" 2>"$tmp/pin.err"; then
	echo "FAIL pinning $XDP_OBJ's maps under $PIN"
	sed 's/^/     /' "$tmp/pin.err" | tail -20
	failed=$((failed + 1))
	no_kern="the XDP object did not load"
fi
export TOLLGATE_PIN_DIR=$PIN
policy=$tmp/tenants.yaml
write_tenant_policy "$policy"

if [ -z "$no_kern" ]; then
	# 10.0.0.0/24 is tenant 2 (beta in the policy), 10.1.0.0/16 tenant 1.
	lpm4 "$PIN" 10.0.0.0/24 2
	lpm4 "$PIN" 10.1.0.0/16 1
fi

tc -j flows
kcheck "flows -j on fresh maps is an empty array" eval '[ $rc -eq 0 ] && [ "$out" = "[]" ]'
tc -j stats
kcheck "stats -j: every reason for every hook, all zero" eval \
	'[ $rc -eq 0 ] && [ "$(j "len(d[\"reasons\"]) == 20 and all(r[\"packets\"] == 0 for r in d[\"reasons\"]) and len(d[\"runs\"]) == 2")" = True ]'

if [ -z "$no_kern" ]; then
	syn_len=$(mkpkt "$tmp/syn" 10.0.0.5 10.0.0.1 40000 8080 syn 0)
	data_len=$(mkpkt "$tmp/data" 10.0.0.5 10.0.0.1 40000 8080 psh-ack 400)
	big_len=$(mkpkt "$tmp/big" 10.0.0.7 10.0.0.1 40002 8080 psh-ack 1200)
	alpha_len=$(mkpkt "$tmp/alpha" 10.1.2.3 10.0.0.1 50000 443 syn 0)
	v1=$(kern_run "$PIN" "$tmp/syn")
	v2=$(kern_run "$PIN" "$tmp/data" 3)
	sleep 0.05
	v3=$(kern_run "$PIN" "$tmp/big" 2)
	v4=$(kern_run "$PIN" "$tmp/alpha")
fi
kcheck "test frames pass the program" eval '[ "$v1$v2$v3$v4" = 2222 ]'

tc -j flows
kcheck "flows -j: three flows" eval '[ $rc -eq 0 ] && [ "$(j "len(d)")" = 3 ]'
f=$(j '[x for x in d if x["sport"] == 40000][0]')
kcheck "flows -j: the SYN+data flow has the frames' counts and bytes" eval \
	'[ "$(j "[(x[\"src\"], x[\"dst\"], x[\"dport\"], x[\"proto\"], x[\"family\"], x[\"packets_in\"], x[\"bytes_in\"], x[\"tenant_id\"], x[\"tenant\"]) for x in d if x[\"sport\"] == 40000][0]")" = "('"'"'10.0.0.5'"'"', '"'"'10.0.0.1'"'"', 8080, '"'"'tcp'"'"', 4, 4, $((syn_len + 3 * data_len)), 2, None)" ]'
kcheck "flows -j: payload bytes are the L4 payload" eval \
	'[ "$(j "[x[\"payload_in\"] for x in d if x[\"sport\"] == 40000][0]")" = 1200 ]'
tc -j flows --sort bytes --limit 1
kcheck "flows --sort bytes --limit 1: the biggest flow only" eval \
	'[ $rc -eq 0 ] && [ "$(j "[(x[\"sport\"], x[\"bytes_in\"]) for x in d]")" = "[(40002, $((2 * big_len)))]" ]'
tc -j flows --sort pkts
kcheck "flows --sort pkts: most packets first" eval \
	'[ "$(j "[x[\"sport\"] for x in d]")" = "[40000, 40002, 50000]" ]'
tc -j flows --sort age
kcheck "flows --sort age: oldest first" eval \
	'[ "$(j "[x[\"sport\"] for x in d][0]")" = 40000 ]'
tc -j flows --tenant 1
kcheck "flows --tenant ID filters by tenant" eval \
	'[ $rc -eq 0 ] && [ "$(j "[x[\"sport\"] for x in d]")" = "[50000]" ]'
tc -j flows --tenant beta -c "$policy"
kcheck "flows --tenant NAME -c POLICY: names from the policy" eval \
	'[ $rc -eq 0 ] && [ "$(j "sorted((x[\"sport\"], x[\"tenant\"]) for x in d)")" = "[(40000, '"'"'beta'"'"'), (40002, '"'"'beta'"'"')]" ]'
tc -j flows --tenant beta
kcheck "flows --tenant NAME without a policy is a usage error" eval '[ $rc -eq 2 ]'
tc flows -c "$policy"
kcheck "flows plain: a header and one line per flow" eval \
	'[ $rc -eq 0 ] && [ "$(grep -c . <<<"$out")" = 4 ] && grep -q "^10.0.0.5:40000 > 10.0.0.1:8080 tcp *beta" <<<"$out"'

tc -j stats
kcheck "stats -j: pass count and bytes at XDP match the frames run" eval \
	'[ "$(j "[(r[\"packets\"], r[\"bytes\"]) for r in d[\"reasons\"] if r[\"reason\"] == \"pass\" and r[\"hook\"] == \"xdp_ingress\"][0]")" = "(7, $((syn_len + 3 * data_len + 2 * big_len + alpha_len)))" ]'
kcheck "stats -j: program runs counted per hook" eval \
	'[ "$(j "[(r[\"hook\"], r[\"runs\"]) for r in d[\"runs\"]]")" = "[('"'"'xdp_ingress'"'"', 7), ('"'"'tc_egress'"'"', 0)]" ]'
tc stats
kcheck "stats plain: one line per reason and per program" eval \
	'[ $rc -eq 0 ] && grep -q "^pass  *7 " <<<"$out" && grep -q "^xdp_ingress  *7$" <<<"$out"'

tc -j tenants
kcheck "tenants -j: tenants with traffic, by id" eval \
	'[ $rc -eq 0 ] && [ "$(j "[(t[\"tenant_id\"], t[\"packets_in\"], t[\"flows_new\"]) for t in d]")" = "[(1, 1, 1), (2, 6, 2)]" ]'
tc -j tenants -c "$policy"
kcheck "tenants -j -c POLICY: every policy tenant, named" eval \
	'[ $rc -eq 0 ] && [ "$(j "[(t[\"tenant_id\"], t[\"tenant\"]) for t in d]")" = "[(0, '"'"'default'"'"'), (1, '"'"'alpha'"'"'), (2, '"'"'beta'"'"')]" ]'
tc tenants -c "$policy"
kcheck "tenants plain" eval '[ $rc -eq 0 ] && grep -q "^beta  *ok  *6 " <<<"$out"'

# Without -c, names come from the loader's record of the synced policy.
if [ -z "$no_kern" ]; then
	"$BPFTOOL" map create "$PIN/tg_tenant_names" type array key 4 value 64 \
		entries 8 name tg_tenant_names 2>/dev/null
	"$BPFTOOL" map update pinned "$PIN/tg_tenant_names" key 2 0 0 0 \
		value hex 62 65 74 61 $(zeros 60) 2>/dev/null
fi
tc -j flows --tenant beta
kcheck "without -c, tenant names come from tg_tenant_names" eval \
	'[ $rc -eq 0 ] && [ "$(j "sorted((x[\"sport\"], x[\"tenant\"]) for x in d)")" = "[(40000, '"'"'beta'"'"'), (40002, '"'"'beta'"'"')]" ]'
tc -j flows --tenant 1
kcheck "an id without a recorded name stays unnamed" eval \
	'[ "$(j "[x[\"tenant\"] for x in d]")" = "[None]" ]'
[ -z "$no_kern" ] && rm -f "$PIN/tg_tenant_names"

# ---- penalty box --------------------------------------------------------------------

tc -j penalty add 10.0.0.6 --duration 60s
kcheck "penalty add -j" eval \
	'[ $rc -eq 0 ] && [ "$(j "(d[\"address\"], d[\"family\"], d[\"expires_in_s\"])")" = "('"'"'10.0.0.6'"'"', 4, 60.0)" ]'
tc penalty add 2001:DB8:0::1
kcheck "penalty add IPv6 (plain)" eval '[ $rc -eq 0 ] && grep -q "^2001:db8::1: in the penalty box" <<<"$out"'
if [ -z "$no_kern" ]; then
	look=$("$BPFTOOL" -j map lookup pinned "$PIN/tg_penalty" key hex 0a 00 00 06 \
		00 00 00 00 00 00 00 00 00 00 00 00 04 00 00 00 2>/dev/null)
fi
kcheck "penalty add writes the zero-padded source key" eval '[ -n "$look" ]'
tc -j penalty list
kcheck "penalty list -j: both, with time left" eval \
	'[ $rc -eq 0 ] && [ "$(j "sorted((p[\"address\"], p[\"family\"], p[\"expired\"], 0 < p[\"expires_in_s\"] <= 600) for p in d)")" = "[('"'"'10.0.0.6'"'"', 4, False, True), ('"'"'2001:db8::1'"'"', 6, False, True)]" ]'
kcheck "penalty list -j: soonest expiry first" eval \
	'[ "$(j "d[0][\"address\"]")" = 10.0.0.6 ]'
if [ -z "$no_kern" ]; then
	mkpkt "$tmp/pen" 10.0.0.6 10.0.0.1 40010 8080 syn 0 >/dev/null
	v=$(kern_run "$PIN" "$tmp/pen")
fi
kcheck "a source in the penalty box drops" eval '[ "$v" = 1 ]'
tc -j events --count 1 --timeout 2s
kcheck "events -j: the penalty drop arrives as an event" eval \
	'[ $rc -eq 0 ] && [ "$(j "(d[\"type\"], d[\"reason\"], d[\"hook\"], d[\"src\"], d[\"sport\"], d[\"tenant_id\"])")" = "('"'"'drop'"'"', '"'"'penalty_box'"'"', '"'"'xdp_ingress'"'"', '"'"'10.0.0.6'"'"', 40010, 2)" ]'
tc -j events --timeout 300ms
kcheck "events --timeout ends quietly when nothing comes" eval '[ $rc -eq 0 ] && [ -z "$out" ]'
tc -j penalty del 10.0.0.6
kcheck "penalty del -j" eval '[ $rc -eq 0 ] && [ "$(j "d[\"deleted\"]")" = True ]'
tc -j penalty list
kcheck "penalty list after del: only the other one" eval \
	'[ "$(j "[p[\"address\"] for p in d]")" = "['"'"'2001:db8::1'"'"']" ]'
tc -j penalty del 10.0.0.6
kcheck "penalty del of an absent address is an error" eval \
	'[ $rc -eq 1 ] && grep -q "not in the penalty box" <<<"$out"'
[ -z "$no_kern" ] && v=$(kern_run "$PIN" "$tmp/pen")
kcheck "out of the box, the source passes again" eval '[ "$v" = 2 ]'
tc penalty add 10.0.0.9 --duration 1ms
sleep 0.05
tc -j penalty list
kcheck "penalty list marks an expired entry" eval \
	'[ "$(j "[p[\"expired\"] for p in d if p[\"address\"] == \"10.0.0.9\"]")" = "[True]" ]'

# ---- tenant block / unblock ---------------------------------------------------------

flags() {
	"$BPFTOOL" -j map lookup pinned "$PIN/tg_tenants" key "$1" 0 0 0 2>/dev/null |
		python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("formatted", d)["value"]["flags"])' 2>/dev/null
}
tc -j tenant block beta -c "$policy"
kcheck "tenant block NAME -c POLICY" eval \
	'[ $rc -eq 0 ] && [ "$(j "(d[\"tenant_id\"], d[\"tenant\"], d[\"blocked\"])")" = "(2, '"'"'beta'"'"', True)" ]'
[ -z "$no_kern" ] && fl=$(flags 2)
kcheck "tenant block sets TG_TENANT_F_BLOCKED in tg_tenants" eval '[ "$fl" = 1 ]'
if [ -z "$no_kern" ]; then
	mkpkt "$tmp/blk" 10.0.0.20 10.0.0.1 40020 8080 syn 0 >/dev/null
	v=$(kern_run "$PIN" "$tmp/blk")
fi
kcheck "a blocked tenant's new connection drops" eval '[ "$v" = 1 ]'
tc -j tenants
kcheck "tenants -j shows the block and the drop" eval \
	'[ "$(j "[(t[\"blocked\"], t[\"blocked_drops\"]) for t in d if t[\"tenant_id\"] == 2][0]")" = "(True, 1)" ]'
tc tenant unblock 2
kcheck "tenant unblock ID (plain)" eval '[ $rc -eq 0 ] && grep -q "tenant 2: unblocked" <<<"$out"'
[ -z "$no_kern" ] && fl=$(flags 2)
kcheck "tenant unblock clears the flag" eval '[ "$fl" = 0 ]'
tc -j tenant block 999999
kcheck "tenant block past the array is an error" eval '[ $rc -eq 1 ] && grep -q "past the" <<<"$out"'
tc -j tenant block gamma -c "$policy"
kcheck "tenant block of a name not in the policy is a usage error" eval '[ $rc -eq 2 ]'

# ---- top --------------------------------------------------------------------------

tc -j top --interval 100ms --count 2
kcheck "top -j --count 2: two frames, one JSON object per line" eval \
	'[ $rc -eq 0 ] && [ "$(grep -c . <<<"$out")" = 2 ] && head -1 "$tmp/out" | python3 -c "import json, sys; d = json.load(sys.stdin); assert len(d[\"flows\"]) > 0 and \"bytes_per_s\" in d[\"flows\"][0] and len(d[\"tenants\"]) == 2"'
if [ -z "$no_kern" ]; then
	# The frames cover about 0..2 s after the start; the traffic lands
	# inside that window, in one frame or the other.
	( sleep 0.8; kern_run "$PIN" "$tmp/big" 10 >/dev/null ) &
	tc -j top --interval 1s --count 2
	wait
fi
moved() {
	python3 -c 'import json, sys
print(round(sum(f["bytes_per_s"] * d["interval_s"] for d in map(json.loads, open(sys.argv[1]))
                for f in d["flows"] if f["sport"] == 40002)))' "$tmp/out" 2>/dev/null
}
kcheck "top -j: rates come from the traffic in the interval" eval \
	'[ $rc -eq 0 ] && [ "$(moved)" = $((10 * big_len)) ]'
tc top --interval 100ms --count 1
kcheck "top plain, not a terminal: no screen clearing" eval \
	'[ $rc -eq 0 ] && grep -q "^TENANT" <<<"$out" && ! grep -q $'"'"'\033'"'"' "$tmp/out"'

if [ -z "$no_kern" ]; then
	python3 - "$TOLLCTL" >"$tmp/out" 2>"$tmp/err" <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "top", "--interval", "100ms", "--count", "2"])
data = b""
while True:
    try:
        b = os.read(fd, 65536)
    except OSError:
        break
    if not b:
        break
    data += b
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), data.count(b"\033[H\033[2J"))
PY
fi
kcheck "top plain on a terminal redraws the screen each frame" eval '[ "$(cat "$tmp/out")" = "0 2" ]'

# ---- maps that do not match this build ------------------------------------------------

if [ -z "$no_kern" ]; then
	mkdir -p "$PIN-bad" "$PIN-abi"
	"$BPFTOOL" map create "$PIN-bad/tg_flows" type lru_hash key 40 value 8 \
		entries 16 name tg_flows 2>/dev/null
	"$BPFTOOL" map create "$PIN-abi/tg_stats" type percpu_array key 4 \
		value 32 entries 10 name tg_stats 2>/dev/null
	"$BPFTOOL" map create "$PIN-abi/tg_abi" type array key 4 value 72 \
		entries 1 name tg_abi 2>/dev/null
	"$BPFTOOL" map update pinned "$PIN-abi/tg_abi" key 0 0 0 0 \
		value hex 63 00 00 00 $(zeros 68) 2>/dev/null
fi
tc -j flows --pin-dir "$PIN-bad"
kcheck "a map whose layout differs from abi.h is refused" eval \
	'[ $rc -eq 1 ] && grep -q "tg_flows does not match this build" <<<"$out"'
tc -j stats --pin-dir "$PIN-abi"
kcheck "a pinned ABI record of another version is refused" eval \
	'[ $rc -eq 1 ] && grep -q "ABI version 99" <<<"$out"'

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
