#!/usr/bin/env bash
# Runs inside the guest of test_debian_kernel.sh (Debian's 6.1 kernel, this
# machine's files read-only): each suite between markers the host reads.
#   debian_kernel_guest.sh REPO NAME:COMMAND...
set -u
cd "$1" || exit 1
shift
for s in "$@"; do
	name=${s%%:*}
	echo "TGVM-BEGIN $name"
	start=$SECONDS
	# shellcheck disable=SC2086
	timeout 600 ${s#*:} 2>&1
	echo "TGVM-END $name $? $((SECONDS - start))"
done
