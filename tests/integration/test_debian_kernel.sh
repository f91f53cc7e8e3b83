#!/usr/bin/env bash
# The kernel tests on Debian 12's stock kernel (6.1), whatever this machine
# runs: boots the kernel Debian ships (downloaded by scripts/deps.sh, never
# installed) under QEMU with this machine's file system shared read-only
# over 9p, and runs in it the BPF unit tests (both programs loaded by 6.1's
# verifier, the parser, tenants, limiters, flows and TC through
# prog_test_run) and the attach suite (native XDP on veth, TC, pins, policy
# push, migration; there the fq qdisc is a module, so the pacing case runs
# too).
#
# Each guest suite counts as its checks; the guest's output is shown
# indented. Needs root. Emulated (TCG): this machine, itself a VM, has no
# working nested KVM. Nothing is left behind: the guest's state is in its
# memory, the scratch directory is removed.
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
. tests/counts.sh
BUILD=${BUILD:-build}
KDIR=${TG_DEBIAN_KERNEL_DIR:-/var/cache/tollgate/debian-kernel}
# Guest suites: name and command line, run from the repository. Under
# emulation every load of tg_xdp_ingress takes seconds (6.1's verifier
# walks 2.5 times the instructions 6.18's does), so test_datapath runs the
# cases that cover each part of the program once; TG_DEBIAN_KERNEL_FULL=1
# runs all of it, and the inspector's suite too (about 8 minutes).
DATAPATH_CASES=test_verifier_instruction_counts,test_l4_malformed_headers_drop
DATAPATH_CASES+=,test_ipv6_extension_chains,test_lpm_classifies_tenants
DATAPATH_CASES+=,test_tenant_cache_follows_lpm_generation
DATAPATH_CASES+=,test_blocked_tenant_drops_syn_passes_established
DATAPATH_CASES+=,test_gcra_two_cpus_is_exact,test_flow_record_and_token_estimate
DATAPATH_CASES+=,test_tc_counts_responses_per_flow_and_tenant
SUITES=(
	"bpf/test_datapath:env TG_TEST_ONLY=$DATAPATH_CASES $BUILD/tests/test_datapath"
	"bpf/test_xdp:$BUILD/tests/test_xdp"
	"integration/test_attach:bash tests/integration/test_attach.sh"
)
if [ "${TG_DEBIAN_KERNEL_FULL:-0}" = 1 ]; then
	SUITES[0]="bpf/test_datapath:$BUILD/tests/test_datapath"
	SUITES+=("integration/test_inspect:bash tests/integration/test_inspect.sh")
fi
# Modules the guest loads, in this order: virtio and 9p to reach the host's
# files, veth and the qdiscs for the attach tests.
MODULES=(
	drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko
	drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci_legacy_dev.ko
	drivers/virtio/virtio_pci.ko
	fs/netfs/netfs.ko fs/fscache/fscache.ko
	net/9p/9pnet.ko net/9p/9pnet_virtio.ko fs/9p/9p.ko
	drivers/net/veth.ko net/sched/sch_ingress.ko net/sched/cls_bpf.ko
	net/sched/sch_fq.ko net/llc/llc.ko net/802/stp.ko net/bridge/bridge.ko
)

passed=0 failed=0 skipped=0
summary() { echo "$passed passed, $failed failed, $skipped skipped"; }
skip_all() {
	echo "SKIP debian_kernel: $1"
	skipped=$((skipped + 1))
	summary
	exit 0
}
fail_all() {
	echo "FAIL debian_kernel: $1"
	failed=$((failed + 1))
	summary
	exit 1
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
# The guest runs the plain build's binaries; under ASan it would check the
# same programs against the same kernel again, minutes slower.
case $BUILD in */asan) skip_all "runs once, in the plain build" ;; esac
command -v qemu-system-x86_64 >/dev/null || fail_all "qemu-system-x86_64 missing (run scripts/deps.sh)"
command -v busybox >/dev/null || fail_all "busybox missing (run scripts/deps.sh)"
deb=$(ls -t "$KDIR"/linux-image-*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail_all "no kernel package in $KDIR (run scripts/deps.sh)"
for s in "${SUITES[@]}"; do
	bin=${s#*:}
	bin=${bin##* }
	case $bin in *.sh) ;; *) [ -x "$bin" ] || fail_all "$bin is not built" ;; esac
done

tmp=$(mktemp -d)
qpid=
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# The kernel and the modules, from the package.
mkdir -p "$tmp/pkg" "$tmp/root/mod" "$tmp/root/bin"
members=(./boot/vmlinuz-*)
for m in "${MODULES[@]}"; do members+=("./lib/modules/*/kernel/$m"); done
dpkg-deb --fsys-tarfile "$deb" |
	tar -x -C "$tmp/pkg" --wildcards "${members[@]}" 2>"$tmp/tar.err" ||
	fail_all "extracting $(basename "$deb"): $(head -3 "$tmp/tar.err")"
kernel=$(ls "$tmp"/pkg/boot/vmlinuz-* | head -1)
kver=${kernel##*/vmlinuz-}
: >"$tmp/root/mod/order"
for m in "${MODULES[@]}"; do
	f=$tmp/pkg/lib/modules/$kver/kernel/$m
	[ -f "$f" ] || fail_all "$kver has no $m"
	cp "$f" "$tmp/root/mod/"
	basename "$m" >>"$tmp/root/mod/order"
done

# The guest's first process: load the modules, mount this machine's root
# read-only with fresh proc, sys, bpffs and scratch file systems over it,
# and run the suites in it.
cp "$(command -v busybox)" "$tmp/root/bin/busybox"
cat >"$tmp/root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in \$(cat /mod/order); do
	insmod /mod/\$m || echo "TGVM insmod \$m failed"
done
mkdir -p /host
if mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /host; then
	mount -t proc proc /host/proc
	mount -t sysfs sys /host/sys
	mount -t devtmpfs dev /host/dev
	mkdir -p /host/dev/pts /host/dev/shm
	mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
	mount -t tmpfs shm /host/dev/shm
	mount -t bpf bpf /host/sys/fs/bpf
	mount -t tmpfs tmp /host/tmp
	mount -t tmpfs run /host/run
	mount -t tmpfs vartmp /host/var/tmp
	mkdir -p /host$REPO
	mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 repo /host$REPO
	echo "TGVM-KERNEL \$(uname -r)"
	chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root BUILD=$BUILD /bin/bash $REPO/tests/integration/debian_kernel_guest.sh $REPO \
		$(printf '%q ' "${SUITES[@]}")
else
	echo "TGVM-FATAL cannot mount the host's root over 9p"
fi
echo "TGVM-EXIT"
poweroff -f
EOF
chmod +x "$tmp/root/init"
(cd "$tmp/root" && find . | cpio -o -H newc --quiet | gzip -1 >"$tmp/initrd") ||
	fail_all "building the initramfs"

echo "booting Debian's $kver under QEMU"
timeout 1200 qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 4096 \
	-nodefaults -display none -no-reboot -serial "file:$tmp/console" \
	-kernel "$kernel" -initrd "$tmp/initrd" \
	-append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" \
	</dev/null >"$tmp/qemu.out" 2>&1 &
qpid=$!
wait "$qpid"
qrc=$?
qpid=
tr -d '\r' <"$tmp/console" >"$tmp/log" 2>/dev/null
sed 's/^/    | /' "$tmp/log"
[ "$qrc" -eq 0 ] || fail_all "qemu exited with $qrc: $(head -5 "$tmp/qemu.out")"
got=$(sed -n 's/^TGVM-KERNEL //p' "$tmp/log")
[ -n "$got" ] || fail_all "the guest did not start the suites"
case $got in
6.1.*) echo "PASS boots_debian_kernel ($got)"; passed=$((passed + 1)) ;;
*) fail_all "the guest runs $got, not a 6.1 kernel" ;;
esac

# Each suite's own counts, read as tests/run.sh reads a runner's
# (tests/counts.sh); a suite that ended otherwise failed.
for s in "${SUITES[@]}"; do
	name=${s%%:*}
	sec=$(awk -v n="$name" '$0 == "TGVM-BEGIN " n {on=1; next} on && $1 == "TGVM-END" {exit} on' "$tmp/log")
	end=$(sed -n "s|^TGVM-END $name ||p" "$tmp/log")
	rc=${end%% *}
	printf '%s\n' "$sec" >"$tmp/suite.out"
	read -r p f k < <(suite_counts "$tmp/suite.out")
	if [ "$rc" = 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; then
		echo "PASS $name on $got: $p passed, $k skipped (${end#* } s)"
	else
		echo "FAIL $name on $got: exit ${rc:-none}, $p passed, $f failed"
		[ "$f" -gt 0 ] || f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + k))
done
summary
[ "$failed" -eq 0 ]
