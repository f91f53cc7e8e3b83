# shellcheck shell=bash
# Sourced by tests/run.sh and tests/integration/test_debian_kernel.sh.
# suite_counts FILE: prints "passed failed skipped" from a runner's output:
# cmocka's "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)" /
# "[  SKIPPED ] N", plus the last of our scripts' "N passed, N failed[,
# N skipped]" (a "name: " prefix allowed).
suite_counts() {
	local out=$1 p f s line
	p=$(grep -oE '^\[  PASSED  \] [0-9]+' "$out" | awk '{s+=$NF} END {print s+0}')
	f=$(grep -oE '^\[  FAILED  \] [0-9]+' "$out" | awk '{s+=$NF} END {print s+0}')
	s=$(grep -oE '^\[  SKIPPED \] [0-9]+' "$out" | awk '{s+=$NF} END {print s+0}')
	if line=$(grep -E '^([a-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$out" | tail -1); then
		p=$((p + $(sed -E 's/^([a-z-]+: )?([0-9]+) passed.*/\2/' <<<"$line")))
		f=$((f + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
		if grep -q skipped <<<"$line"; then
			s=$((s + $(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")))
		fi
	fi
	echo "$p $f $s"
}
