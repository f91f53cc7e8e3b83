# Sourced by the kernel inspector/exporter tests (test_inspect.sh,
# test_export.sh): a private pin directory holding the maps of the real XDP
# object, test packets run through the pinned program, and cleanup.
#
# The loader (tollctl attach) is not needed: `bpftool prog loadall ...
# pinmaps` pins the object's maps by name, the same names the loader pins,
# and `bpftool prog run` drives the pinned program with BPF_PROG_TEST_RUN.
# shellcheck shell=bash

BPFTOOL=${BPFTOOL:-$(command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)}
XDP_OBJ=${XDP_OBJ:-$BUILD/bpf/tg_xdp.bpf.o}

# Why the kernel cases cannot run here, or nothing when they can.
kern_unavailable() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "not root"
	elif [ ! -x "$BPFTOOL" ]; then
		echo "no bpftool"
	elif [ ! -f "$XDP_OBJ" ]; then
		echo "$XDP_OBJ is not built"
	elif ! mountpoint -q /sys/fs/bpf && ! mount -t bpf bpf /sys/fs/bpf 2>/dev/null; then
		echo "no bpffs at /sys/fs/bpf"
	fi
}

# kern_pin DIR: loads the XDP object and pins its maps under DIR, its
# program as DIR/progs/tg_xdp_ingress. Returns non-zero on failure with
# bpftool's complaint on stderr.
kern_pin() {
	mkdir -p "$1" &&
		"$BPFTOOL" prog loadall "$XDP_OBJ" "$1/progs" type xdp pinmaps "$1"
}

# kern_run DIR FILE [REPEAT]: runs the pinned program on the frame in FILE;
# prints its return value (1 XDP_DROP, 2 XDP_PASS).
kern_run() {
	"$BPFTOOL" prog run pinned "$1/progs/tg_xdp_ingress" data_in "$2" \
		repeat "${3:-1}" 2>&1 | sed -n 's/^Return value: \([0-9]*\).*/\1/p'
}

# mkpkt FILE SRC DST SPORT DPORT FLAGS PAYLOAD_LEN: an Ethernet/IPv4/TCP
# frame (FLAGS: syn, ack, psh-ack) written to FILE; prints its length.
mkpkt() {
	python3 - "$@" <<'PY'
import socket, struct, sys
out, src, dst, sport, dport, flags, plen = sys.argv[1:8]
fl = {"syn": 0x02, "ack": 0x10, "psh-ack": 0x18}[flags]
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
eth = bytes.fromhex("020000000002" "020000000001" "0800")
tcp = struct.pack("!HHIIBBHHH", int(sport), int(dport), 1, 0, 5 << 4, fl,
                  65535, 0, 0) + b"x" * int(plen)
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
frame = eth + ip + tcp
open(out, "wb").write(frame)
print(len(frame))
PY
}

# lpm4 DIR CIDR TENANT_ID: an IPv4 prefix of tg_lpm_v4 → tenant.
lpm4() {
	local addr=${2%/*} len=${2#*/}
	# shellcheck disable=SC2046,SC2086 # one word per byte
	"$BPFTOOL" map update pinned "$1/tg_lpm_v4" \
		key hex $(printf '%02x 00 00 00' "$len") $(printf '%02x ' ${addr//./ }) \
		value hex $(printf '%02x 00 00 00' "$3") >/dev/null
}

# The policy the -c cases use: alpha is tenant id 1, beta id 2.
write_tenant_policy() {
	cat >"$1" <<'YAML'
version: 1
listeners:
  - name: public
    address: 127.0.0.1:8443
tenants:
  - name: alpha
    prefixes: [10.1.0.0/16]
    keys:
      - name: alpha-ci
        hash: sha256:0704976b3e248ee901b45e18949c92289b1ae42a0140ea08a6c11d4886c658ac
  - name: beta
    prefixes: [10.0.0.0/24]
    keys:
      - name: beta-ci
        hash: sha256:91f0e4df5241f145824d85a7d2c3588f280c75a9fc40d151e6a2976aa3af75da
YAML
}
