#!/usr/bin/env bash
# tollctl attach / detach / status / policy apply against a real kernel:
# a network namespace and a veth pair made here, native XDP attached by
# tollctl on the namespace's end, real TCP traffic from outside to a server
# inside, the pinned maps read back, re-attach keeping counters, detach
# leaving the interface as it was, and foreign XDP programs and tc filters
# left alone.
#
#   BUILD=build bash tests/integration/test_attach.sh
#
# Needs root, network namespaces, veth with native XDP and bpffs. Without
# them every case is counted as skipped, never as passed. Everything made
# here (namespace, links, the private pin directory, servers) goes in an
# EXIT trap, also when a check fails.
#
# tollctl runs in the namespace through `nsenter --net` rather than
# `ip netns exec`: the latter remounts /sys, so /sys/fs/bpf would not be
# the bpffs the pins live in.
# shellcheck disable=SC2016
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOLLCTL=${TOLLCTL:-$BUILD/tollctl}
TOLLCTL=$(realpath -m "$TOLLCTL")
BPFTOOL=${BPFTOOL:-$(command -v bpftool || echo /usr/sbin/bpftool)}

passed=0 failed=0 skipped=0

CASES=(
	attach_refuses_unknown_interface
	attach_refuses_link_down
	native_never_falls_back_to_generic
	generic_only_when_asked
	attach_native_with_policy
	pacing_warns_without_fq
	pacing_quiet_with_fq
	status_json_shows_attachment
	bpftool_net_shows_programs
	tcp_traffic_passes
	pinned_counters_count_traffic
	flow_bytes_match_sockets
	policy_is_in_the_maps
	policy_limits_are_in_the_maps
	policy_apply_removes_stale_prefixes
	block_follows_tenant_across_reorder
	reattach_upgrades_in_place_and_keeps_counters
	reattach_without_policy_keeps_tenants
	mode_change_makes_a_new_link
	detach_restores_link_qdisc_and_filters
	foreign_xdp_refused_without_force
	foreign_xdp_replaced_with_force
	foreign_tc_filter_and_qdisc_kept
	abi_mismatch_refused_with_purge_hint
	abi_v2_migrated_on_attach_keeps_state
	purge_removes_pin_dir
	mounts_bpffs_when_missing
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
[ "$(id -u)" -eq 0 ] || skip_all "not root"
for tool in ip tc nsenter python3 clang "$BPFTOOL"; do
	command -v "$tool" >/dev/null 2>&1 || skip_all "$tool is not installed"
done
[ -e /sys/kernel/btf/vmlinux ] || skip_all "the kernel has no BTF"

id=$$
NS=tgns$id
VH=tgh$id			# host end
VN=tgn$id			# namespace end
DU=tgb$id			# a bridge in the namespace: no native XDP
PIN=/sys/fs/bpf/tg-test-$id
PIN2=/sys/fs/bpf/tg-test-$id-abi
oct=$((id % 200 + 20))
HOST_IP=10.201.$oct.1
NS_IP=10.201.$oct.2
PORT=18080
tmp=$(mktemp -d)
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$NS" 2>/dev/null
	ip link del "$VH" 2>/dev/null
	rm -rf "$PIN" "$PIN2" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

export TOLLGATE_PIN_DIR=$PIN

# in_ns CMD...: CMD in the namespace's network stack, the host's mounts.
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

# tctl ARGS...: tollctl in the namespace; rc, out, err as results.
tctl() {
	in_ns "$TOLLCTL" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

# jget EXPR: evaluates a Python expression on the JSON in $out (as `j`).
jget() {
	python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' \
		"$out" "$1" 2>/dev/null
}

# The interface as `ip link`, `tc qdisc` and `tc filter` describe it.
snapshot() {
	{
		in_ns ip link show dev "$VN" | sed 's/ state [A-Z]*//'
		in_ns tc qdisc show dev "$VN"
		in_ns tc filter show dev "$VN" ingress
		in_ns tc filter show dev "$VN" egress
	} 2>&1
}

# map_get MAP KEY EXPR: EXPR (Python, on the value as `v`) of the entry
# KEY (bytes, as bpftool takes them) of a pinned map, through its BTF.
map_get() {
	# shellcheck disable=SC2086
	"$BPFTOOL" -j map lookup pinned "$PIN/$1" key $2 2>/dev/null |
		python3 -c 'import json,sys; v=json.load(sys.stdin)["formatted"]["value"]; print(eval(sys.argv[1]))' "$3" 2>/dev/null
}

# Passed XDP packets in tg_stats (reason 0, hook 0), summed over CPUs.
xdp_pass_packets() {
	"$BPFTOOL" -j map lookup pinned "$PIN/tg_stats" key 0 0 0 0 2>/dev/null |
		python3 -c '
import json, sys
d = json.load(sys.stdin)
total = 0
for v in d.get("formatted", d).get("values", []):
    val = v["value"]
    if isinstance(val, dict):
        total += val["packets"][0]
    else:   # raw bytes: packets[0] is the first u64
        total += int.from_bytes(bytes(int(b, 16) for b in val[:8]), "little")
print(total)'
}

# One TCP exchange from the host to the server in the namespace: sends
# $1 bytes, expects them back. Prints the byte count received.
tcp_exchange() {
	python3 - "$NS_IP" "$PORT" "$1" <<'EOF'
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=5)
s.sendall(b"x" * n)
s.shutdown(socket.SHUT_WR)
got = 0
while True:
    b = s.recv(65536)
    if not b:
        break
    got += len(b)
print(got)
EOF
}

# ---- the namespace ------------------------------------------------------------

ip netns add "$NS" 2>/dev/null || skip_all "cannot create a network namespace"
if ! ip link add "$VH" type veth peer name "$VN" netns "$NS" 2>/dev/null; then
	skip_all "cannot create a veth pair"
fi
ip addr add "$HOST_IP/24" dev "$VH"
ip link set "$VH" up
in_ns ip addr add "$NS_IP/24" dev "$VN"
in_ns ip link set "$VN" up
in_ns ip link set lo up
in_ns ip link add "$DU" type bridge 2>/dev/null || skip_all "cannot create a bridge device"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null ||
	skip_all "no bpffs at /sys/fs/bpf"

# An echo server in the namespace: reads until EOF, writes it all back.
nsenter --net="/run/netns/$NS" python3 - "$NS_IP" "$PORT" <<'EOF' &
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(16)
while True:
    c, _ = srv.accept()
    data = b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        data += b
    c.sendall(data)
    c.close()
EOF
pids+=($!)
for _ in $(seq 50); do
	in_ns ss -ltn 2>/dev/null | grep -q ":$PORT " && break
	sleep 0.1
done

cat >"$tmp/p1.yaml" <<EOF
version: 1
listeners:
  - name: public
    address: 127.0.0.1:8443
tenants:
  - name: alpha
    prefixes: [10.201.0.0/16, "2001:db8:1::/48"]
    bytes_per_token: 4
    syn: {rate: 1000/s, burst: 100}
    egress_bytes_per_second: 1MiB
  - name: beta
    prefixes: [192.0.2.0/24, 198.51.100.0/24]
default_tenant: beta
kernel:
  enabled: true
  egress_pacing: true
  interfaces: [$VN]
  flow_table_size: 4096
  syn_per_prefix: {rate: 1000/s, burst: 200}
  flood_guard: 50000
EOF
# The same tenants, beta with one prefix less.
sed 's|\[192.0.2.0/24, 198.51.100.0/24\]|[192.0.2.0/24]|' "$tmp/p1.yaml" >"$tmp/p2.yaml"
# p2 with the tenants in the other order: alpha becomes id 2.
cat >"$tmp/p3.yaml" <<EOF
version: 1
listeners:
  - name: public
    address: 127.0.0.1:8443
tenants:
  - name: beta
    prefixes: [192.0.2.0/24]
  - name: alpha
    prefixes: [10.201.0.0/16, "2001:db8:1::/48"]
    bytes_per_token: 4
    syn: {rate: 1000/s, burst: 100}
kernel:
  enabled: true
  interfaces: [$VN]
EOF

before=$(snapshot)

# ---- errors before anything is attached -----------------------------------------

tctl attach nosuchdev$id
if [ "$rc" -eq 1 ] && grep -q "unknown interface" <<<"$err"; then
	ok attach_refuses_unknown_interface
else
	fail attach_refuses_unknown_interface "rc=$rc err=$err"
fi

in_ns ip link set "$DU" down
tctl attach "$DU"
if [ "$rc" -eq 1 ] && grep -q "is down" <<<"$err"; then
	ok attach_refuses_link_down
else
	fail attach_refuses_link_down "rc=$rc err=$err"
fi
in_ns ip link set "$DU" up

# A bridge has no native XDP: native must fail and say so, and leave
# no program behind.
tctl attach "$DU"
xdp_left=$(in_ns ip link show dev "$DU" | grep -c 'prog/xdp')
if [ "$rc" -eq 1 ] && grep -q "native XDP" <<<"$err" &&
   grep -q -- "--mode generic" <<<"$err" && [ "$xdp_left" -eq 0 ]; then
	ok native_never_falls_back_to_generic
else
	fail native_never_falls_back_to_generic "rc=$rc xdp_left=$xdp_left err=$err"
fi

tctl -j attach "$DU" --mode generic
mode=$(jget 'j["mode"]')
skb=$(in_ns ip link show dev "$DU" | grep -c 'xdpgeneric')
tctl detach "$DU"
drc=$rc
if [ "$mode" = generic ] && [ "$skb" -eq 1 ] && [ "$drc" -eq 0 ]; then
	ok generic_only_when_asked
else
	fail generic_only_when_asked "mode=$mode skb=$skb detach rc=$drc $err"
fi

# ---- attach ------------------------------------------------------------------------

tctl -j attach "$VN" -c "$tmp/p1.yaml" --pin-dir "$PIN"
if [ "$rc" -ne 0 ]; then
	fail attach_native_with_policy "rc=$rc out=$out err=$err"
	# Nothing below can work on an interface without the programs.
	if grep -qiE "not supported|operation not permitted" <<<"$out$err"; then
		for c in "${CASES[@]:5}"; do echo "SKIP $c: native XDP unavailable"; skipped=$((skipped + 1)); done
		echo "$passed passed, $failed failed, $skipped skipped"
		exit 1
	fi
else
	ok attach_native_with_policy
fi
xdp_id=$(jget 'j["xdp_prog_id"]')
tc_id=$(jget 'j["tc_prog_id"]')

# egress_pacing with the veth's default root qdisc (noqueue): said, not
# silently ignored; with fq at the root, nothing to say.
if [ "$(jget 'j.get("pacing_ignored_by_qdisc")')" = noqueue ] &&
   grep -q "egress_pacing needs fq" <<<"$err"; then
	ok pacing_warns_without_fq
else
	fail pacing_warns_without_fq "out=$out err=$err"
fi
if ! in_ns tc qdisc replace dev "$VN" root fq 2>/dev/null; then
	echo "SKIP pacing_quiet_with_fq: this kernel has no fq qdisc (CONFIG_NET_SCH_FQ)"
	skipped=$((skipped + 1))
else
	tctl -j attach "$VN" -c "$tmp/p1.yaml" --pin-dir "$PIN"
	if [ "$rc" -eq 0 ] && [ "$(jget 'j.get("pacing_ignored_by_qdisc")')" = None ] &&
	   ! grep -q "egress_pacing" <<<"$err"; then
		ok pacing_quiet_with_fq
	else
		fail pacing_quiet_with_fq "rc=$rc out=$out err=$err"
	fi
	in_ns tc qdisc del dev "$VN" root 2>/dev/null
	xdp_id=$(jget 'j["xdp_prog_id"]')
	tc_id=$(jget 'j["tc_prog_id"]')
fi

tctl -j status
if [ "$rc" -eq 0 ] && [ "$(jget 'j["pin_dir"]')" = "$PIN" ] &&
   [ "$(jget '[i["ifname"] for i in j["interfaces"]]')" = "['$VN']" ] &&
   [ "$(jget 'j["interfaces"][0]["xdp_mode"]')" = native ] &&
   [ "$(jget 'j["interfaces"][0]["xdp_attached"]')" = True ] &&
   [ "$(jget 'j["interfaces"][0]["xdp_prog_id"]')" = "$xdp_id" ] &&
   [ "$(jget 'j["interfaces"][0]["tc_prog_id"]')" = "$tc_id" ] &&
   [ "$(jget 'j["abi_version"] == j["abi_version_tollctl"]')" = True ]; then
	ok status_json_shows_attachment
else
	fail status_json_shows_attachment "rc=$rc out=$out err=$err"
fi

net=$(in_ns "$BPFTOOL" net show dev "$VN" 2>&1)
if grep -q "$VN.*driver id $xdp_id" <<<"$net" &&
   grep -q "$VN.*clsact/egress tg_tc_egress.*id $tc_id" <<<"$net"; then
	ok bpftool_net_shows_programs
else
	fail bpftool_net_shows_programs "$net (xdp $xdp_id, tc $tc_id)"
fi

# ---- traffic -------------------------------------------------------------------------

got=$(tcp_exchange 100000 2>&1)
if [ "$got" = 100000 ]; then
	ok tcp_traffic_passes
else
	fail tcp_traffic_passes "echoed $got of 100000 bytes"
fi

pass1=$(xdp_pass_packets)
if [ -n "$pass1" ] && [ "$pass1" -gt 0 ]; then
	ok pinned_counters_count_traffic
else
	fail pinned_counters_count_traffic "tg_stats pass packets: '$pass1'"
fi

# The connection's flow record: the payload both sockets sent, the
# tenant its source's prefix belongs to (alpha, id 1, 4 bytes per token).
tctl -j flows
flow=$(jget '[(f["payload_in"], f["payload_out"], f["tenant_id"], f["tokens_in"]) for f in j if f["dport"] == '"$PORT"' and f["src"] == "'"$HOST_IP"'"]')
if [ "$rc" -eq 0 ] && [ "$flow" = "[(100000, 100000, 1, 25000)]" ]; then
	ok flow_bytes_match_sockets
else
	fail flow_bytes_match_sockets "rc=$rc flows=$flow $err"
fi

# tg_lpm_v4 holds p1's three IPv4 prefixes.
lpm_count() {
	"$BPFTOOL" -j map dump pinned "$PIN/tg_lpm_v4" 2>/dev/null |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
names=$("$BPFTOOL" map dump pinned "$PIN/tg_tenant_names" 2>/dev/null | grep -c -E 'alpha|beta|61 6c 70 68 61|62 65 74 61')
n4=$(lpm_count)
if [ "$n4" = 3 ] && [ "$names" -ge 2 ]; then
	ok policy_is_in_the_maps
else
	fail policy_is_in_the_maps "tg_lpm_v4 entries '$n4' (want 3), tenant names $names"
fi

# alpha (id 1): 1000/s with burst 100 is T = 1 ms, tau = 99 ms.
t1=$(map_get tg_tenants "1 0 0 0" '(v["syn_interval_ns"], v["syn_burst_ns"], v["bytes_per_token"], v["flags"], v["egress_bytes_per_sec"])')
cfg=$(map_get tg_config "0 0 0 0" '(v["prefix_syn_interval_ns"], v["prefix_syn_burst_ns"], v["flood_flows_per_sec"], v["default_tenant_id"], v["clock_override_ns"], v["prefix_tat_shift"], v["prefix_hash_seed"] != 0)')
seed1=$(map_get tg_config "0 0 0 0" 'v["prefix_hash_seed"]')
gen1=$(map_get tg_config "0 0 0 0" 'v["lpm_gen"]')
if [ "$t1" = "(1000000, 99000000, 4, 0, 1048576)" ] && [ "$cfg" = "(1000000, 199000000, 50000, 2, 0, 6, True)" ]; then
	ok policy_limits_are_in_the_maps
else
	fail policy_limits_are_in_the_maps "tg_tenants[1]=$t1 tg_config=$cfg"
fi

tctl -j policy apply -c "$tmp/p2.yaml"
n4=$(lpm_count)
# The prefix limiter's hash seed outlives a policy push (a new one would
# put every source prefix back at rest).
seed2=$(map_get tg_config "0 0 0 0" 'v["prefix_hash_seed"]')
# ...while every push retires the tenants cached from the old tries.
gen2=$(map_get tg_config "0 0 0 0" 'v["lpm_gen"]')
if [ "$rc" -eq 0 ] && [ "$(jget 'j["prefixes_removed"]')" = 1 ] && [ "$n4" = 2 ] &&
   [ -n "$seed1" ] && [ "$seed1" = "$seed2" ] && [ "${gen1:-0}" -ge 1 ] &&
   [ "$gen2" = $((gen1 + 1)) ]; then
	ok policy_apply_removes_stale_prefixes
else
	fail policy_apply_removes_stale_prefixes "rc=$rc out=$out err=$err lpm=$n4 seed $seed1 -> $seed2 lpm_gen $gen1 -> $gen2"
fi

# The generation is 16 bits: at its wrap the push clears the tenant cache
# before it starts again at 1, so no entry 65535 pushes old comes back.
cfgv=$("$BPFTOOL" -j map lookup pinned "$PIN/tg_config" key 0 0 0 0 2>/dev/null |
	python3 -c 'import json,sys
v=[int(b,16) for b in json.load(sys.stdin)["value"]]
v[28:30]=(65535).to_bytes(2,"little")
print(" ".join(map(str,v)))' 2>/dev/null)
# shellcheck disable=SC2086
if [ -n "$cfgv" ] &&
   "$BPFTOOL" map update pinned "$PIN/tg_config" key 0 0 0 0 value $cfgv 2>/dev/null &&
   "$BPFTOOL" map update pinned "$PIN/tg_tenant_cache" key 5 0 0 0 value 1 0 0 0 0 0 0 0 2>/dev/null; then
	tctl policy apply -c "$tmp/p2.yaml"
	gen3=$(map_get tg_config "0 0 0 0" 'v["lpm_gen"]')
	slot5=$("$BPFTOOL" -j map lookup pinned "$PIN/tg_tenant_cache" key 5 0 0 0 2>/dev/null |
		python3 -c 'import json,sys; print(sum(int(b,16) for b in json.load(sys.stdin)["value"]))' 2>/dev/null)
	if [ "$rc" -eq 0 ] && [ "$gen3" = 1 ] && [ "$slot5" = 0 ]; then
		ok policy_apply_clears_tenant_cache_at_generation_wrap
	else
		fail policy_apply_clears_tenant_cache_at_generation_wrap "rc=$rc err=$err lpm_gen=$gen3 slot=$slot5"
	fi
else
	fail policy_apply_clears_tenant_cache_at_generation_wrap "set-up: cannot write tg_config or tg_tenant_cache"
fi

# A block set at run time stays with its tenant through re-syncs, also
# when the tenant's id changes.
tctl tenant block 1
brc=$rc
tctl policy apply -c "$tmp/p2.yaml"
same=$(map_get tg_tenants "1 0 0 0" 'v["flags"]')
tctl policy apply -c "$tmp/p3.yaml"
moved1=$(map_get tg_tenants "1 0 0 0" 'v["flags"]')
moved2=$(map_get tg_tenants "2 0 0 0" 'v["flags"]')
tctl policy apply -c "$tmp/p2.yaml"
arc=$rc
back=$(map_get tg_tenants "1 0 0 0" 'v["flags"]')
tctl tenant unblock 1
if [ "$brc" -eq 0 ] && [ "$same" = 1 ] && [ "$moved1" = 0 ] && [ "$moved2" = 1 ] &&
   [ "$arc" -eq 0 ] && [ "$back" = 1 ] && [ "$rc" -eq 0 ]; then
	ok block_follows_tenant_across_reorder
else
	fail block_follows_tenant_across_reorder "block rc=$brc same=$same reordered=$moved1/$moved2 back=$back $err"
fi

# ---- re-attach: new programs, the same maps --------------------------------------------

tctl -j attach "$VN" -c "$tmp/p2.yaml"
up=$(jget 'j["upgraded"]')
xdp_id2=$(jget 'j["xdp_prog_id"]')
pass2=$(xdp_pass_packets)
tcp_exchange 1000 >/dev/null 2>&1
pass3=$(xdp_pass_packets)
live=$(in_ns ip link show dev "$VN" | grep -o 'prog/xdp id [0-9]*' | grep -o '[0-9]*$')
if [ "$rc" -eq 0 ] && [ "$up" = True ] && [ "$xdp_id2" != "$xdp_id" ] &&
   [ "$live" = "$xdp_id2" ] && [ -n "$pass2" ] && [ "$pass2" -ge "$pass1" ] &&
   [ -n "$pass3" ] && [ "$pass3" -gt "$pass2" ]; then
	ok reattach_upgrades_in_place_and_keeps_counters
else
	fail reattach_upgrades_in_place_and_keeps_counters \
		"rc=$rc upgraded=$up prog $xdp_id -> $xdp_id2 (live $live) pass $pass1 -> $pass2 -> $pass3 $err"
fi

tctl -j attach "$VN"
synced=$(jget 'j["policy_synced"]')
n4=$(lpm_count)
if [ "$rc" -eq 0 ] && [ "$synced" = False ] && [ "$n4" = 2 ]; then
	ok reattach_without_policy_keeps_tenants
else
	fail reattach_without_policy_keeps_tenants "rc=$rc synced=$synced lpm=$n4 $err"
fi

# A link cannot change its mode: attach makes a new one, in the mode asked.
tctl -j attach "$VN" --mode generic
grc=$rc
gmode=$(in_ns ip -d link show dev "$VN" | grep -c 'xdpgeneric')
tctl -j status
smode=$(jget 'j["interfaces"][0]["xdp_mode"]')
tctl -j attach "$VN"
nrc=$rc
nmode=$(in_ns ip -d link show dev "$VN" | grep -c 'xdpgeneric')
nlive=$(in_ns ip link show dev "$VN" | grep -c 'prog/xdp')
pass4=$(xdp_pass_packets)
if [ "$grc" -eq 0 ] && [ "$gmode" -ge 1 ] && [ "$smode" = generic ] && [ "$nrc" -eq 0 ] &&
   [ "$nmode" -eq 0 ] && [ "$nlive" -eq 1 ] && [ -n "$pass4" ] && [ "$pass4" -ge "$pass3" ]; then
	ok mode_change_makes_a_new_link
else
	fail mode_change_makes_a_new_link "generic rc=$grc seen=$gmode status=$smode; native rc=$nrc generic left=$nmode xdp=$nlive pass $pass3 -> $pass4 $err"
fi

# ---- detach ----------------------------------------------------------------------------

tctl detach "$VN"
after=$(snapshot)
if [ "$rc" -eq 0 ] && [ "$before" = "$after" ] && [ -e "$PIN/tg_stats" ]; then
	ok detach_restores_link_qdisc_and_filters
else
	fail detach_restores_link_qdisc_and_filters "rc=$rc err=$err
--- before
$before
--- after
$after"
fi

# ---- foreign programs -------------------------------------------------------------------

cat >"$tmp/foreign.bpf.c" <<'EOF'
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int foreign_xdp(struct xdp_md *ctx) { return XDP_PASS; }
SEC("tc") int foreign_tc(struct __sk_buff *skb) { return 0; }
char LICENSE[] SEC("license") = "GPL";
EOF
if clang --target=bpf -O2 -g -I"/usr/include/$(gcc -print-multiarch 2>/dev/null)" \
	-c "$tmp/foreign.bpf.c" -o "$tmp/foreign.bpf.o" 2>"$tmp/cc" &&
   in_ns ip link set dev "$VN" xdpdrv obj "$tmp/foreign.bpf.o" sec xdp 2>"$tmp/iperr"; then
	fid=$(in_ns ip link show dev "$VN" | grep -o 'prog/xdp id [0-9]*' | grep -o '[0-9]*$')
	tctl attach "$VN"
	fid2=$(in_ns ip link show dev "$VN" | grep -o 'prog/xdp id [0-9]*' | grep -o '[0-9]*$')
	tcq=$(in_ns tc qdisc show dev "$VN" | grep -c clsact)
	if [ "$rc" -eq 1 ] && grep -q "already has an XDP program" <<<"$err" &&
	   grep -q -- "--force" <<<"$err" && [ -n "$fid" ] && [ "$fid2" = "$fid" ] &&
	   [ "$tcq" -eq 0 ]; then
		ok foreign_xdp_refused_without_force
	else
		fail foreign_xdp_refused_without_force "rc=$rc prog $fid -> $fid2 clsact=$tcq err=$err"
	fi

	tctl -j attach "$VN" --force
	rep=$(jget 'j["replaced_foreign"]')
	nid=$(jget 'j["xdp_prog_id"]')
	live=$(in_ns ip link show dev "$VN" | grep -o 'prog/xdp id [0-9]*' | grep -o '[0-9]*$')
	tctl detach "$VN"
	if [ "$rep" = True ] && [ -n "$nid" ] && [ "$live" = "$nid" ] && [ "$rc" -eq 0 ]; then
		ok foreign_xdp_replaced_with_force
	else
		fail foreign_xdp_replaced_with_force "replaced=$rep prog $nid live $live detach rc=$rc $err"
	fi
else
	echo "SKIP foreign_xdp_refused_without_force: cannot load a foreign XDP program: $(cat "$tmp/cc" "$tmp/iperr" 2>/dev/null)"
	echo "SKIP foreign_xdp_replaced_with_force: cannot load a foreign XDP program"
	skipped=$((skipped + 2))
	in_ns ip link set dev "$VN" xdp off 2>/dev/null
fi

# Someone else's clsact qdisc and egress filter: attach uses the qdisc,
# detach takes only our filter off it.
in_ns tc qdisc add dev "$VN" clsact
if [ -e "$tmp/foreign.bpf.o" ] &&
   in_ns tc filter add dev "$VN" egress prio 1 bpf da obj "$tmp/foreign.bpf.o" sec tc 2>"$tmp/tcerr"; then
	fbefore=$(snapshot)
	tctl -j attach "$VN"
	created=$(jget 'j["qdisc_created"]')
	arc=$rc
	got=$(tcp_exchange 5000 2>&1)
	tctl detach "$VN"
	fafter=$(snapshot)
	if [ "$arc" -eq 0 ] && [ "$created" = False ] && [ "$got" = 5000 ] && [ "$rc" -eq 0 ] &&
	   [ "$fbefore" = "$fafter" ] && grep -q "pref 1 " <<<"$fafter"; then
		ok foreign_tc_filter_and_qdisc_kept
	else
		fail foreign_tc_filter_and_qdisc_kept "attach rc=$arc created=$created echoed=$got detach rc=$rc
--- before
$fbefore
--- after
$fafter"
	fi
else
	echo "SKIP foreign_tc_filter_and_qdisc_kept: cannot add a foreign tc filter: $(cat "$tmp/tcerr" 2>/dev/null)"
	skipped=$((skipped + 1))
fi
in_ns tc qdisc del dev "$VN" clsact 2>/dev/null

# ---- ABI records -------------------------------------------------------------------------

# Maps pinned by a build of another ABI version: an ABI record saying 99.
mkdir -p "$PIN2"
abi_bytes=$(python3 -c 'print(" ".join(str(b) for b in (99).to_bytes(4, "little") + bytes(68)))')
abi_now=$(grep -o 'define TG_ABI_VERSION[[:space:]]*[0-9]*' include/tollgate/abi.h | grep -o '[0-9]*$')
# shellcheck disable=SC2086
if "$BPFTOOL" map create "$PIN2/tg_abi" type array key 4 value 72 entries 1 name tg_abi 2>/dev/null &&
   "$BPFTOOL" map update pinned "$PIN2/tg_abi" key 0 0 0 0 value $abi_bytes 2>/dev/null; then
	tctl attach "$VN" --pin-dir "$PIN2"
	arc=$rc aerr=$err
	xdp_after=$(in_ns ip link show dev "$VN" | grep -c 'prog/xdp')
	tctl detach --purge --pin-dir "$PIN2"
	if [ "$arc" -eq 1 ] && grep -q "ABI version 99" <<<"$aerr" &&
	   grep -q "ABI version $abi_now" <<<"$aerr" && grep -q "detach --purge" <<<"$aerr" &&
	   [ "$xdp_after" -eq 0 ] && [ "$rc" -eq 0 ] && [ ! -e "$PIN2" ]; then
		ok abi_mismatch_refused_with_purge_hint
	else
		fail abi_mismatch_refused_with_purge_hint "attach rc=$arc xdp=$xdp_after err=$aerr; purge rc=$rc $err"
	fi
else
	echo "SKIP abi_mismatch_refused_with_purge_hint: bpftool cannot create a map"
	skipped=$((skipped + 1))
fi

# Maps pinned by ABI version 2 (the per-prefix limiter was an LRU hash
# then): made here from a version-3 set by putting back the old record and
# the old tg_syn_prefix. The inspector reads them meanwhile, and the next
# attach migrates them, keeping every other map's state (here, a penalty).
MV=tgm$id
if in_ns ip link add "$MV" type veth peer name "${MV}p" 2>/dev/null &&
   in_ns ip link set "$MV" up && in_ns ip link set "${MV}p" up; then
	tctl attach "$MV" --pin-dir "$PIN2"
	m1=$rc m1err=$err
	tctl penalty add 192.0.2.77 --duration 1h --pin-dir "$PIN2"
	v2=$(in_ns "$BPFTOOL" -j map lookup pinned "$PIN2/tg_abi" key 0 0 0 0 2>/dev/null |
		python3 -c 'import json,sys
v=[int(b,16) for b in json.load(sys.stdin)["value"]]
v[0:4]=(2).to_bytes(4,"little"); v[40:44]=(24).to_bytes(4,"little")
print(" ".join(map(str,v)))' 2>/dev/null)
	rm -f "$PIN2/tg_abi" "$PIN2/tg_syn_prefix" "$PIN2/tg_penalty_hint" "$PIN2/tg_tenant_cache"
	# shellcheck disable=SC2086
	if [ "$m1" -eq 0 ] && [ -n "$v2" ] &&
	   "$BPFTOOL" map create "$PIN2/tg_abi" type array key 4 value 72 entries 1 name tg_abi 2>/dev/null &&
	   "$BPFTOOL" map update pinned "$PIN2/tg_abi" key 0 0 0 0 value $v2 2>/dev/null &&
	   "$BPFTOOL" map create "$PIN2/tg_syn_prefix" type lru_hash key 24 value 8 entries 262144 \
		name tg_syn_prefix 2>/dev/null; then
		tctl -j penalty list --pin-dir "$PIN2"
		read_rc=$rc read_out=$out
		tctl attach "$MV" --pin-dir "$PIN2"
		arc=$rc aerr=$err
		tctl -j status --pin-dir "$PIN2"
		ver=$(jget 'j["abi_version"]')
		ptype=$("$BPFTOOL" -j map show pinned "$PIN2/tg_syn_prefix" 2>/dev/null |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["type"])' 2>/dev/null)
		tctl -j penalty list --pin-dir "$PIN2"
		kept=$(jget '[e["address"] for e in j] == ["192.0.2.77"]')
		# Version 2 had no hint: the attach filled it from the box.
		hint=$("$BPFTOOL" -j map dump pinned "$PIN2/tg_penalty_hint" 2>/dev/null |
			python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if any(int(b,16) for b in e["value"])))' 2>/dev/null)
		cache=$([ -e "$PIN2/tg_tenant_cache" ] && echo pinned)
		if [ "$read_rc" -eq 0 ] && grep -q 192.0.2.77 <<<"$read_out" && [ "$arc" -eq 0 ] &&
		   grep -q "migrated" <<<"$aerr" && [ "$ver" = 3 ] && [ "$ptype" = array ] &&
		   [ "$kept" = True ] && [ "$hint" = 1 ] && [ "$cache" = pinned ]; then
			ok abi_v2_migrated_on_attach_keeps_state
		else
			fail abi_v2_migrated_on_attach_keeps_state "read rc=$read_rc out=$read_out; attach rc=$arc err=$aerr; version=$ver prefix map=$ptype kept=$kept hint words=$hint tenant cache=$cache"
		fi
	else
		fail abi_v2_migrated_on_attach_keeps_state "set-up: attach rc=$m1 $m1err; record=$v2"
	fi
	tctl detach "$MV" --purge --pin-dir "$PIN2"
	in_ns ip link del "$MV" 2>/dev/null
else
	echo "SKIP abi_v2_migrated_on_attach_keeps_state: cannot create a veth pair"
	skipped=$((skipped + 1))
fi

# ---- purge --------------------------------------------------------------------------------

tctl detach --purge
if [ "$rc" -eq 0 ] && [ ! -e "$PIN" ] && [ "$(snapshot)" = "$before" ]; then
	ok purge_removes_pin_dir
else
	fail purge_removes_pin_dir "rc=$rc err=$err; $(ls "$PIN" 2>&1)"
fi

# bpffs not mounted: attach mounts it. In a private mount namespace
# with /sys/fs/bpf unmounted, so nothing outside sees it; the pins die
# with that namespace, so it detaches and purges before it ends.
if unshare -m --propagation private true 2>/dev/null; then
	out=$(unshare -m --propagation private nsenter --net="/run/netns/$NS" bash -c '
		umount /sys/fs/bpf 2>/dev/null
		while mountpoint -q /sys/fs/bpf; do umount /sys/fs/bpf || exit 3; done
		"$1" attach "$2" --pin-dir /sys/fs/bpf/tg-mnt >/dev/null || exit 4
		mountpoint -q /sys/fs/bpf || exit 5
		[ "$(stat -f -c %T /sys/fs/bpf)" = bpf_fs ] || exit 6
		"$1" detach --purge --pin-dir /sys/fs/bpf/tg-mnt >/dev/null || exit 7
		echo done' _ "$TOLLCTL" "$VN" 2>&1)
	mrc=$?
	if [ "$mrc" -eq 0 ] && [ "$out" = "done" ] && [ "$(snapshot)" = "$before" ]; then
		ok mounts_bpffs_when_missing
	else
		fail mounts_bpffs_when_missing "rc=$mrc $out"
	fi
else
	echo "SKIP mounts_bpffs_when_missing: no mount namespaces (unshare -m)"
	skipped=$((skipped + 1))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
