# SPDX-License-Identifier: Apache-2.0
# Sourced by tests that run node's test runner (tests/interop/*.test.mjs):
# runs one file with the Node from tests/interop/node_modules and folds its
# summary into the caller's passed/failed counts, printing an ok/FAIL line
# per test. The caller defines ok() and fail() and the counters.
#
#   node_tests OUTFILE FILE [VAR=value ...]

node_tests() {
	local out=$1 file=$2 rc p f c
	shift 2
	if [ ! -x tests/interop/node_modules/.bin/node ]; then
		fail "no tests/interop/node_modules/.bin/node: run scripts/deps.sh (npm ci in tests/interop)"
		return
	fi
	(cd tests/interop && env "$@" timeout 120 node_modules/.bin/node --test \
		--test-reporter=spec "$file") >"$out" 2>&1
	rc=$?
	p=$(sed -nE 's/^ℹ pass ([0-9]+)$/\1/p' "$out" | tail -1)
	f=$(sed -nE 's/^ℹ fail ([0-9]+)$/\1/p' "$out" | tail -1)
	c=$(sed -nE 's/^ℹ cancelled ([0-9]+)$/\1/p' "$out" | tail -1)
	sed '/^✖ failing tests:/,$d' "$out" | grep -E '^[✔✖] ' |
		sed -E 's/^✔ /ok - sdk: /; s/^✖ /FAIL - sdk: /'
	if [ -z "$p" ] || [ -z "$f" ]; then
		fail "$file: no summary from node --test (exit $rc)" "$out"
		return
	fi
	passed=$((passed + p))
	failed=$((failed + f + ${c:-0}))
	if [ "$f" -gt 0 ] || [ "${c:-0}" -gt 0 ] || [ "$rc" -ne 0 ]; then
		sed -n '/failing tests:/,$p' "$out" | grep -v '^ *at ' | head -80
		[ "$f" -gt 0 ] || [ "${c:-0}" -gt 0 ] || fail "$file exited $rc with no failure counted" "$out"
	fi
}
