#!/usr/bin/env bash
# Installs every Debian package (and, once tests/interop/ exists, every npm
# package) that building, running and testing tollgate needs. Idempotent: a
# second run on a machine that has everything installs nothing and exits 0.
set -euo pipefail

DEBS=(
	# toolchain
	build-essential pkg-config make gcc
	clang llvm lld libclang-rt-14-dev
	# kernel side: libbpf, skeletons, vmlinux.h, attach and netns tests
	libbpf-dev bpftool libelf-dev zlib1g-dev iproute2 libnl-3-dev libnl-route-3-dev
	# proxy
	liburing-dev libssl-dev openssl
	# policy, JSON, pattern matching, hashing, cluster state
	libyaml-dev libjansson-dev libhyperscan-dev libxxhash-dev libhiredis-dev
	# the guard benchmark's reference (make bench-guard)
	libpcre2-dev
	# tests
	libcmocka-dev python3
	# proxy tests and make bench-proxy: upstream and comparison proxy, load, clients
	nginx wrk curl nodejs
	# kernel tests: the exporter scrape, promtool, the nftables comparison
	prometheus-node-exporter prometheus nftables
	# the kernel tests again on Debian 12's own kernel, booted under QEMU
	qemu-system-x86 busybox-static cpio
)
# npm: Debian's own package, unless the installed nodejs bundles it already.
command -v npm >/dev/null 2>&1 || DEBS+=(npm)

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

missing=()
for p in "${DEBS[@]}"; do
	# "install ok installed" is the only state that counts as present.
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
	echo "deps: all Debian packages present"
fi

# Debian 12's stock kernel (the one linux-image-amd64 depends on), for
# tests/integration/test_debian_kernel.sh, which boots it under QEMU: the
# package is downloaded, never installed. Kept until the archive moves on.
kdir=${TG_DEBIAN_KERNEL_DIR:-/var/cache/tollgate/debian-kernel}
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
if [ -z "$kpkg" ]; then
	echo "deps: no linux-image-amd64 in the package index; the Debian-kernel tests will say so"
elif ls "$kdir/${kpkg}"_*.deb >/dev/null 2>&1; then
	echo "deps: kernel package $kpkg present"
else
	echo "deps: downloading $kpkg (not installed) into $kdir"
	$SUDO mkdir -p "$kdir"
	ktmp=$($SUDO mktemp -d "$kdir/.dl.XXXXXX")
	# apt's download user must be able to write there.
	$SUDO chmod 755 "$ktmp"
	$SUDO chown _apt "$ktmp" 2>/dev/null || true
	(cd "$ktmp" && $SUDO apt-get download -qq "$kpkg")
	$SUDO mv "$ktmp"/"${kpkg}"_*.deb "$kdir"/
	$SUDO rm -rf "$ktmp"
fi

# npm packages for the interop tests live in tests/interop/package.json and
# are pinned by its lock file; installed only when the folder exists.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$here/tests/interop/package.json" ]; then
	# The stamp is written only after a complete npm ci, so an interrupted
	# install is redone.
	stamp="$here/tests/interop/node_modules/.deps-stamp"
	if [ ! -f "$stamp" ] || [ "$here/tests/interop/package-lock.json" -nt "$stamp" ] ||
	   [ "$here/tests/interop/package.json" -nt "$stamp" ]; then
		echo "deps: installing npm packages for tests/interop"
		(cd "$here/tests/interop" && npm ci --no-audit --no-fund --loglevel=error)
		touch "$stamp"
	else
		echo "deps: npm packages present"
	fi
fi
