#!/usr/bin/env bash
# `tollctl audit verify` as built, on an audit log written by the real
# writer (user/obs/audit.c, driven by `test_audit --write`: size rotations
# and a SIGHUP-style reopen) and on tampered copies of it: an edited value,
# a deleted line, two lines swapped, a cut last line, a rotated file left
# out or given out of order. Each must be named at the right FILE:LINE,
# exit 1; the untouched log passes, exit 0; usage errors exit 2.
#
#   BUILD=build bash tests/integration/test_audit.sh
#   (TOLLCTL=/path/to/tollctl overrides the binary)
#
# Conditions are single-quoted on purpose: check() evaluates them later.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOLLCTL=${TOLLCTL:-$BUILD/tollctl}
WRITER=$BUILD/tests/test_audit
N=3000

passed=0 failed=0 skipped=0

for b in "$TOLLCTL" "$WRITER"; do
	if [ ! -x "$b" ]; then
		echo "FAIL $b is not built"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=tests/integration/harness.sh
. "$(dirname "$0")/harness.sh"

# py EXPR: the Python EXPR on the last stdout read as JSON (`d`); a tuple
# is printed space-separated.
py() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
r = eval(sys.argv[2])
print(*(r if isinstance(r, tuple) else (r,)))' "$tmp/out" "$1" 2>/dev/null
}

# edit FILE PYTHON: runs PYTHON with `L`, the file's lines (bytes, each
# with its newline), then writes L back.
edit() {
	python3 -c 'import sys
L = open(sys.argv[1], "rb").read().splitlines(keepends=True)
exec(sys.argv[2])
open(sys.argv[1], "wb").write(b"".join(L))' "$1" "$2"
}

log=$tmp/log
mkdir "$log"
"$WRITER" --write "$log" "$N" >/dev/null
files=("$log"/audit.log.*)	# a glob sorts: the suffixes are UTC timestamps
files+=("$log/audit.log")
echo "audit: $N records in ${#files[@]} files"
check "the writer rotated (size and reopen)" test "${#files[@]}" -ge 3

tc audit verify "${files[@]}"
check "the real log verifies" eval '[ $rc -eq 0 ] && [ "$(head -1 <<<"$out")" = "ok: $N lines" ]'
check "the last seq and hash are printed" eval 'grep -Eq "^last: seq $N sha256 [0-9a-f]{64}$" <<<"$out"'

tc -j audit verify "${files[@]}"
check "-j: ok, lines, last_seq" eval '[ $rc -eq 0 ] && [ "$(py "d[\"ok\"], d[\"lines\"], d[\"first_seq\"], d[\"last_seq\"], d[\"starts_after\"]")" = "True $N 1 $N None" ]'

tc audit verify "$log/audit.log"
check "the newest file alone verifies and says where it starts" \
	eval '[ $rc -eq 0 ] && grep -q "^starts after: $(basename "${files[-2]}") (not given)$" <<<"$out"'

# copy: a fresh copy of the log in $tmp/t; sets cfiles to its files in order.
copy() {
	rm -rf "$tmp/t"
	cp -a "$log" "$tmp/t"
	cfiles=("${files[@]/#$log/$tmp/t}")
}

copy
edit "${cfiles[0]}" 'import re; L[41] = re.sub(rb"\"tokens_in\":(\d)", lambda m: b"\"tokens_in\":" + bytes([48 + (m.group(1)[0] - 47) % 10]), L[41], count=1)'
tc audit verify "${cfiles[@]}"
check "an edited value: hash mismatch at its line" \
	eval '[ $rc -eq 1 ] && grep -q "^${cfiles[0]}:42: hash mismatch" <<<"$out"'

copy
edit "${cfiles[1]}" 'del L[9]'
tc audit verify "${cfiles[@]}"
check "a deleted line: sequence gap where it was" \
	eval '[ $rc -eq 1 ] && grep -q "^${cfiles[1]}:10: sequence gap" <<<"$out"'

copy
edit "${cfiles[0]}" 'L[4], L[5] = L[5], L[4]'
tc audit verify "${cfiles[@]}"
check "two lines swapped: sequence gap at the first" \
	eval '[ $rc -eq 1 ] && grep -q "^${cfiles[0]}:5: sequence gap" <<<"$out"'

copy
edit "${cfiles[0]}" 'L[2] = L[2][:20] + b"X" + L[2][21:]'
tc audit verify "${cfiles[@]}"
check "a byte flipped in the chain prefix: not JSON or mismatch at line 3" \
	eval '[ $rc -eq 1 ] && grep -Eq "^${cfiles[0]}:3: (not JSON|not an audit line|hash mismatch)" <<<"$out"'

copy
truncate -s -25 "$tmp/t/audit.log"
last=$(wc -l <"$tmp/t/audit.log")
tc audit verify "${cfiles[@]}"
check "a cut last line is named" \
	eval '[ $rc -eq 1 ] && grep -q "^$tmp/t/audit.log:$((last + 1)): cut line" <<<"$out"'

copy
tc audit verify "${cfiles[0]}" "${cfiles[2]}" "${cfiles[@]:3}"
check "a rotated file left out: sequence gap at the next file's line 1" \
	eval '[ $rc -eq 1 ] && grep -q "^${cfiles[2]}:1: sequence gap" <<<"$out"'

tc audit verify "${cfiles[1]}" "${cfiles[0]}"
check "files out of order are refused" eval '[ $rc -eq 1 ]'

copy
edit "$tmp/t/audit.log" 'del L[-1]'
tc audit verify "${cfiles[@]}"
check "a cleanly removed last line shows only in the last seq" \
	eval '[ $rc -eq 0 ] && grep -q "^ok: $((N - 1)) lines$" <<<"$out"'

copy
edit "${cfiles[1]}" 'del L[9]'
tc -j audit verify "${cfiles[@]}"
check "-j on a bad log: ok false, file, line, error" \
	eval '[ $rc -eq 1 ] && [ "$(py "d[\"ok\"], d[\"file\"], d[\"line\"], d[\"error\"]")" = "False ${cfiles[1]} 10 sequence gap" ]'

tc audit verify
check "no file: usage error" eval '[ $rc -eq 2 ]'
tc audit verify "$tmp/nope"
check "a missing file: error" eval '[ $rc -eq 1 ] && grep -q "nope" <<<"$err"'
tc -j audit verify "$tmp/nope"
check "a missing file with -j: a JSON error" eval '[ $rc -eq 1 ] && [ -n "$(py "d[\"error\"]")" ]'

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
