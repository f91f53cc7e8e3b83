#!/usr/bin/env bash
# Runs the test suites and prints each runner's summary, then a total.
#   tests/run.sh [unit|bpf|integration|fuzz ...]    (default: all of them)
# BUILD names the build directory (build, or build/asan under ASAN=1).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(unit bpf integration fuzz)

passed=0 failed=0 skipped=0 failed_runners=()

. tests/counts.sh

# Adds a runner's closing counts (tests/counts.sh) to the totals.
count() {
	local p f s
	read -r p f s < <(suite_counts "$1")
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

run() {
	local name=$1; shift
	local out rc
	out=$(mktemp)
	echo "=== $name"
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	local before=$failed
	count "$out"
	if [ "$rc" -ne 0 ]; then
		failed_runners+=("$name (exit $rc)")
		# A runner that failed without counting a failure (it crashed, or
		# died after its summary) still counts as one.
		[ "$failed" -gt "$before" ] || failed=$((failed + 1))
	fi
	rm -f "$out"
}

for suite in "${suites[@]}"; do
	case $suite in
	unit)
		for t in tests/unit/test_*.c; do
			b=$BUILD/tests/$(basename "$t" .c)
			run "unit/$(basename "$b")" "$b"
		done ;;
	bpf)
		for t in tests/bpf/test_*.c; do
			[ -e "$t" ] || continue
			b=$BUILD/tests/$(basename "$t" .c)
			run "bpf/$(basename "$b")" "$b"
		done ;;
	integration)
		for t in tests/integration/test_*.sh; do
			[ -e "$t" ] || continue
			run "integration/$(basename "$t" .sh)" bash "$t"
		done ;;
	fuzz)
		run "fuzz-smoke" make -s --no-print-directory fuzz-smoke NODEPS=1 ;;
	*)
		echo "tests/run.sh: unknown suite '$suite'" >&2; exit 2 ;;
	esac
done

echo
if [ ${#failed_runners[@]} -gt 0 ]; then
	printf 'failed runner: %s\n' "${failed_runners[@]}"
fi
echo "all: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#failed_runners[@]} -eq 0 ]
