#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The policy acceptance corpus, run through `tollctl policy check`.
#
#   tests/data/policy/bad/*.yaml    must be refused: exit code exactly 1, and
#                                   exactly the errors their header announces
#   tests/data/policy/good/*.yaml   must be accepted (exit 0)
#   policies/*.yaml                 must be accepted (exit 0)
#
# Helper files under bad/inc/ and good/inc/ are only read through include:,
# never checked on their own.
#
# A bad file starts with comment lines; each `# expect:` line among them is
# one error the loader must report, in one of these forms:
#
#   # expect: LINE:COL: SUBSTRING            error at LINE:COL of this file
#   # expect: inc/x.yaml:LINE:COL: SUBSTRING  error in an included file, its
#                                            path relative to this file's dir
#   # expect: -: SUBSTRING                   error about the file as a whole
#
# Each must match its own output line: one that starts with exactly
# "PATH:LINE:COL: " (or "PATH: " for `-`) and contains SUBSTRING. The number
# of error lines must equal the number of expect lines, so an unexpected
# extra error fails the case too.
#
# A crash is not a refusal: exit codes of 128 and above (signals) and any
# sanitizer report fail the case whatever else was printed.
#
# BUILD names the build directory (default build; build/asan for ASan+UBSan).
# Prints one line per file, `ok FILE` or `FAIL FILE: reason`, then
# `N passed, N failed`; exits 1 when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BUILD=${BUILD:-build}
TOLLCTL=$BUILD/tollctl
# A hung loader must not hang the suite.
TIMEOUT=${POLICY_CHECK_TIMEOUT:-60}

if [ ! -x "$TOLLCTL" ]; then
	echo "FAIL $TOLLCTL: not built (run make, or make asan for BUILD=build/asan)"
	echo "0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/policy-corpus.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0 failed=0

ok() {
	echo "ok $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}

# Runs the checker on $1; sets rc, and leaves stdout/stderr in $tmp/out and
# $tmp/err. Sanitizers write to stderr and, with their default exitcode,
# exit 1 like a refusal would: hence the explicit search for their reports.
run_check() {
	# The outer redirection keeps bash's own "Segmentation fault" notice out
	# of the report; the exit code says it all.
	{ timeout "$TIMEOUT" "$TOLLCTL" policy check "$1" >"$tmp/out" 2>"$tmp/err"; } 2>/dev/null
	rc=$?
}

# Prints why the last run was a crash, or nothing.
crash_reason() {
	local what
	if [ "$rc" -eq 124 ]; then
		echo "timed out after ${TIMEOUT}s"
	elif [ "$rc" -ge 128 ]; then
		echo "exit code $rc (killed by signal $((rc - 128)))"
	elif what=$(grep -m1 -E 'ERROR: [A-Za-z]*Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' \
		"$tmp/err" "$tmp/out"); then
		echo "sanitizer report: ${what#*:}"
	fi
}

# The leading comment block's `# expect:` specs of file $1, one per line.
expect_lines() {
	awk '
		/^#/ || /^[ \t]*$/ {
			if (sub(/^# expect: /, "")) print
			next
		}
		{ exit }
	' "$1"
}

check_bad() {
	local f=$1 dir why spec loc sub prefix i n_exp n_err found
	local -a errs used exps
	dir=$(dirname "$f")

	mapfile -t exps < <(expect_lines "$f")
	if [ ${#exps[@]} -eq 0 ]; then
		fail "$f" "no '# expect:' lines in its header"
		return
	fi
	run_check "$f"
	why=$(crash_reason)
	if [ -n "$why" ]; then
		fail "$f" "$why"
		return
	fi
	if [ "$rc" -ne 1 ]; then
		fail "$f" "exit code $rc, expected 1"
		return
	fi
	mapfile -t errs < <(grep -v '^[[:space:]]*$' "$tmp/err")
	used=()
	for spec in "${exps[@]}"; do
		if [[ $spec != *": "* ]]; then
			fail "$f" "malformed expect line '$spec'"
			return
		fi
		loc=${spec%%: *}
		sub=${spec#*: }
		if [ "$loc" = "-" ]; then
			prefix="$f: "
		elif [[ $loc =~ ^[0-9]+:[0-9]+$ ]]; then
			prefix="$f:$loc: "
		elif [[ $loc =~ ^(.+):([0-9]+:[0-9]+)$ ]]; then
			prefix="$dir/${BASH_REMATCH[1]}:${BASH_REMATCH[2]}: "
		else
			fail "$f" "malformed location '$loc' in expect line '$spec'"
			return
		fi
		# Each expect line takes the first unused error line that fits,
		# so one error cannot satisfy two expectations.
		found=
		for i in "${!errs[@]}"; do
			[ -n "${used[$i]:-}" ] && continue
			if [[ ${errs[$i]} == "$prefix"* && ${errs[$i]#"$prefix"} == *"$sub"* ]]; then
				used[i]=1
				found=1
				break
			fi
		done
		if [ -z "$found" ]; then
			fail "$f" "no error '$prefix...$sub...'; got: $(paste -sd'|' "$tmp/err")"
			return
		fi
	done
	n_exp=${#exps[@]}
	n_err=${#errs[@]}
	if [ "$n_err" -ne "$n_exp" ]; then
		local extra=()
		for i in "${!errs[@]}"; do
			[ -z "${used[$i]:-}" ] && extra+=("${errs[$i]}")
		done
		fail "$f" "$n_err errors for $n_exp expected; unexpected: $(printf '%s|' "${extra[@]}")"
		return
	fi
	ok "$f"
}

check_good() {
	local f=$1 why
	run_check "$f"
	why=$(crash_reason)
	if [ -n "$why" ]; then
		fail "$f" "$why"
	elif [ "$rc" -ne 0 ]; then
		fail "$f" "exit code $rc, expected 0: $(paste -sd'|' "$tmp/err")"
	else
		ok "$f"
	fi
}

shopt -s nullglob
bad=(tests/data/policy/bad/*.yaml)
good=(tests/data/policy/good/*.yaml policies/*.yaml)

if [ ${#bad[@]} -eq 0 ]; then
	fail tests/data/policy/bad "no policies to check"
fi
if [ ${#good[@]} -eq 0 ]; then
	fail tests/data/policy/good "no policies to check"
fi
for f in "${bad[@]}"; do
	check_bad "$f"
done
for f in "${good[@]}"; do
	check_good "$f"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
