#!/usr/bin/env bash
# make bench-synflood: a SYN flood through a veth pair, tollgate's XDP SYN
# limiter against an nftables rule doing the same job, both measured in one
# run at the same offered load. Root; never part of make test; figures in
# docs/benchmarks.md.
#
#   BUILD=build bash tests/bench/syn_flood.sh
#   OFFERED=250000 SECS=4 ROUNDS=5 BUILD=build bash tests/bench/syn_flood.sh
#
# Two namespaces made here: a sender and a receiver joined by a veth pair.
# The generator (tests/bench/synflood.c, $BUILD/bench/synflood) sends SYNs
# from one source at OFFERED packets per second for SECS seconds, pinned to
# CPU 0. The receiver's filter is, by phase:
#
#   xdp  tollgate: `tollctl attach` (native XDP) with a tenant for the
#        source's prefix, `syn: {rate: 100/s, burst: 20}`; no nftables.
#   nft  XDP detached; an nftables table in the receiver's namespace:
#          prerouting, priority raw (-300, the earliest IP hook):
#          tcp flags & (syn|ack) == syn limit rate 100/second burst 20 packets accept
#          tcp flags & (syn|ack) == syn drop
#
#   floor  a reference, not a contender: an XDP program that only returns
#          XDP_DROP, attached native by `ip link`. What any XDP filter
#          pays on veth before its first instruction (see below).
#
# Phases alternate (xdp, nft, floor, xdp, nft, floor ... ROUNDS times
# each); the summary gives each column's median over the rounds and its
# range, since a VM's run-to-run spread is of the order of the differences
# measured. Per phase:
#   dropped/s    the filter's own drop count (tollgate's limiter counters,
#                the nft drop rule's counter) over the generator's span
#   CPU ns/pkt   the generator's CPU time (getrusage: the scheduler's
#                runtime) plus the ksoftirqd threads' over the phase,
#                divided by the packets sent. On veth the receive path (veth
#                rx, the filter, the drop) runs in the NET_RX softirq that
#                the sender's transmit raises on its own CPU, on return from
#                the send, and is charged to the sender's task (or to
#                ksoftirqd when it is deferred): so this is send + receive +
#                filter per packet, the send part the same in every phase,
#                and other processes on the machine do not leak into it.
#   softirq      /proc/stat's softirq time, all CPUs, per packet sent: the
#   ns/pkt       receive side alone, but tick-sampled (no
#                IRQ_TIME_ACCOUNTING here, CONFIG_HZ ticks landing in
#                softirq) and machine-wide, so noisier; shown as a cross-check.
# Hardware counters (perf stat -e instructions/cycles) are not available on
# this VM, so no cycle counts.
#
# veth and native XDP: the sender's packets reach the receiving veth as
# skbs, and veth runs XDP on them by converting each skb into an XDP buffer,
# copying it into a page when its headroom is under XDP_PACKET_HEADROOM
# (packet-socket skbs always are). So on veth XDP does not save the skb
# allocation it saves on a NIC driver; the floor phase measures that.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOLLCTL=$(realpath -m "${TOLLCTL:-$BUILD/tollctl}")
GEN=$(realpath -m "${SYNFLOOD:-$BUILD/bench/synflood}")
OFFERED=${OFFERED:-250000}
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-5}

die() { echo "bench-synflood: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root"
[ -x "$TOLLCTL" ] || die "$TOLLCTL is not built"
[ -x "$GEN" ] || die "$GEN is not built (make $BUILD/bench/synflood)"
for tool in ip nsenter nft python3 taskset clang; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done

id=$$
NSS=tgbs$id NSR=tgbr$id VS=tgbs$id VR=tgbr$id
PIN=/sys/fs/bpf/tg-bench-syn-$id
RECV_IP=10.199.0.1 SRC=10.199.1.2
tmp=$(mktemp -d)

cleanup() {
	ip netns del "$NSS" 2>/dev/null
	ip netns del "$NSR" 2>/dev/null
	rm -rf "$PIN" "$tmp" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_s() { nsenter --net="/run/netns/$NSS" "$@"; }
in_r() { nsenter --net="/run/netns/$NSR" "$@"; }

ip netns add "$NSS" || die "cannot create a namespace"
ip netns add "$NSR" || die "cannot create a namespace"
ip link add "$VS" netns "$NSS" type veth peer name "$VR" netns "$NSR" || die "cannot create a veth pair"
in_s ip addr add "$SRC/16" dev "$VS"
in_s ip link set "$VS" up
in_r ip addr add "$RECV_IP/16" dev "$VR"
in_r ip link set "$VR" up
MAC=$(in_r ip -br link show dev "$VR" | awk '{print $3}')

cat >"$tmp/policy.yaml" <<EOF
version: 1
listeners:
  - name: public
    address: 127.0.0.1:8443
tenants:
  - name: flood
    prefixes: [10.199.1.0/24]
    syn: {rate: 100/s, burst: 20}
kernel:
  enabled: true
  interfaces: [$VR]
EOF

cat >"$tmp/nft.conf" <<'EOF'
table inet tgbench {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		tcp flags & (syn | ack) == syn limit rate 100/second burst 20 packets counter accept
		tcp flags & (syn | ack) == syn counter drop
	}
}
EOF

cat >"$tmp/drop.bpf.c" <<'EOF'
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int drop_all(struct xdp_md *ctx) { return XDP_DROP; }
char LICENSE[] SEC("license") = "GPL";
EOF
clang --target=bpf -O2 -I"/usr/include/$(gcc -print-multiarch 2>/dev/null)" \
	-c "$tmp/drop.bpf.c" -o "$tmp/drop.bpf.o" || die "cannot compile the floor program"

# Each phase: set the filter up, measure, take it down. The measurement
# and the arithmetic are in Python; the set-up and tear-down are here.
phase_up() {
	case $1 in
	xdp) in_r "$TOLLCTL" attach "$VR" -c "$tmp/policy.yaml" --pin-dir "$PIN" >/dev/null ;;
	nft) in_r nft -f "$tmp/nft.conf" ;;
	floor) in_r ip link set dev "$VR" xdpdrv obj "$tmp/drop.bpf.o" sec xdp ;;
	esac
}
phase_down() {
	case $1 in
	xdp) in_r "$TOLLCTL" detach "$VR" --pin-dir "$PIN" >/dev/null ;;
	nft) in_r nft delete table inet tgbench ;;
	floor) in_r ip link set dev "$VR" xdpdrv off ;;
	esac
}
# The filter's counters: "admitted dropped".
phase_counts() {
	case $1 in
	xdp) in_r "$TOLLCTL" -j tenants --pin-dir "$PIN" | python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin) if t["tenant"] == "flood"][0]
print(t["syn_passed"], t["syn_tenant_limited"] + t["syn_prefix_limited"])' ;;
	nft) in_r nft list table inet tgbench | python3 -c '
import re, sys
c = [int(x) for x in re.findall(r"counter packets (\d+)", sys.stdin.read())]
print(c[0], c[1])' ;;
	floor) echo 0 0 ;;	# no counters: it drops everything
	esac
}
cpustat() { head -1 /proc/stat; }

# run_gen ARGS...: the generator in the sender's namespace on CPU 0; its
# JSON with the CPU time it used (rusage: the sched runtime, so exact in
# total) and the ksoftirqd threads' CPU time over the same span added.
run_gen() {
	python3 - nsenter --net="/run/netns/$NSS" taskset -c 0 "$GEN" "$@" <<'EOF'
import json, os, resource, subprocess, sys
def ksoftirqd():
    t = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            st = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        if "(ksoftirqd/" in st:
            f = st.rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])      # utime, stime
    return t / os.sysconf("SC_CLK_TCK")
k0 = ksoftirqd()
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, check=True)
k1 = ksoftirqd()
u = resource.getrusage(resource.RUSAGE_CHILDREN)
j = json.loads(r.stdout)
j["task_cpu_s"] = u.ru_utime + u.ru_stime
j["ksoftirqd_cpu_s"] = k1 - k0
print(json.dumps(j))
EOF
}

results=$tmp/results
: >"$results"
for round in $(seq "$ROUNDS"); do
	for ph in xdp nft floor; do
		phase_up "$ph" || die "cannot set up the $ph phase"
		sleep 0.5
		read -r a0 d0 <<<"$(phase_counts "$ph")"
		s0=$(cpustat)
		gen=$(run_gen -i "$VS" -m "$MAC" -d "$RECV_IP" -p 9 -t "$SECS" -s "$SRC:$OFFERED") ||
			die "the generator failed"
		s1=$(cpustat)
		sleep 0.2
		read -r a1 d1 <<<"$(phase_counts "$ph")"
		phase_down "$ph"
		echo "$round $ph $((a1 - a0)) $((d1 - d0)) $s0 | $s1 | $gen" >>"$results"
	done
done

echo "$(uname -r), $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); $(nft --version)"
python3 - "$results" "$OFFERED" "$SECS" "$(getconf CLK_TCK)" <<'EOF'
import json, sys
path, offered, secs, hz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
tick_ns = 1e9 / hz
NAMES = {"xdp": "tollgate", "nft": "nftables", "floor": "xdp-drop"}
rows = []
for line in open(path):
    head, s1, gen = line.split(" | ", 2)
    rnd, ph, adm, drop = head.split()[:4]
    c0 = [int(x) for x in head.split()[5:]]
    c1 = [int(x) for x in s1.split()[1:]]
    g = json.loads(gen)
    # /proc/stat cpu: user nice system idle iowait irq softirq steal ...
    d = [b - a for a, b in zip(c0, c1)]
    sent = g["streams"][0]["sent"]
    el = g["elapsed_s"]
    if ph == "floor":
        drop = sent
    rows.append(dict(round=int(rnd), ph=ph, adm=int(adm), drop=int(drop), sent=sent,
                     errors=g["streams"][0]["errors"], el=el,
                     task=(g["task_cpu_s"] + g["ksoftirqd_cpu_s"]) * 1e9 / sent,
                     sirq=d[6] * tick_ns / sent))

print(f"offered {offered} SYN/s for {secs:g} s per phase, one source, limit 100/s burst 20")
print(f"{'round':>5} {'filter':>8} {'sent':>9} {'sent/s':>8} {'admitted':>8} {'dropped':>9} "
      f"{'dropped/s':>9} {'CPU ns/pkt':>10} {'softirq ns/pkt':>14}")
for r in rows:
    print(f"{r['round']:>5} {NAMES[r['ph']]:>8} {r['sent']:>9} {r['sent'] / r['el']:>8.0f} {r['adm']:>8} "
          f"{r['drop']:>9} {r['drop'] / r['el']:>9.0f} {r['task']:>10.1f} {r['sirq']:>14.1f}")
    if r["errors"] or r["sent"] / r["el"] < 0.95 * offered or r["adm"] + r["drop"] != r["sent"]:
        print(f"      warning: {r['errors']} send errors, {r['sent'] / r['el']:.0f}/s offered, "
              f"{r['sent'] - r['adm'] - r['drop']} packets the filter did not see")

def vals(ph, k):
    return sorted(r[k] if k != "dps" else r["drop"] / r["el"] for r in rows if r["ph"] == ph)

def med(ph, k):
    v = vals(ph, k)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2

print()
print(f"{'median':>6} {'filter':>8} {'dropped/s':>9} {'CPU ns/pkt':>10} {'(min-max)':>15} "
      f"{'softirq ns/pkt':>14} {'(min-max)':>11}")
for ph, name in NAMES.items():
    t, q = vals(ph, "task"), vals(ph, "sirq")
    print(f"{'':>6} {name:>8} {med(ph, 'dps'):>9.0f} {med(ph, 'task'):>10.1f} "
          f"{f'({t[0]:.0f}-{t[-1]:.0f})':>15} {med(ph, 'sirq'):>14.1f} {f'({q[0]:.0f}-{q[-1]:.0f})':>11}")
print()
print(f"ratio tollgate/nftables (medians): dropped/s {med('xdp', 'dps') / med('nft', 'dps'):.3f}, "
      f"CPU ns/pkt {med('xdp', 'task') / med('nft', 'task'):.3f}, "
      f"softirq ns/pkt {med('xdp', 'sirq') / med('nft', 'sirq'):.3f}")
print(f"above the xdp-drop floor (medians): tollgate {med('xdp', 'task') - med('floor', 'task'):.1f} CPU ns/pkt, "
      f"nftables {med('nft', 'task') - med('floor', 'task'):.1f} CPU ns/pkt")
EOF
