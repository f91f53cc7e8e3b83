# shellcheck shell=bash
# Sourced by the tollctl integration tests: run tollctl and record what it
# said, and count checks. The sourcing script sets TOLLCTL and tmp (a
# scratch directory) and the counters passed, failed (and skipped).

# tc ARGS...: runs tollctl with stdin from /dev/null (or $IN when set);
# leaves the exit code in rc, stdout in out, stderr in err.
tc() {
	if [ -n "${IN+x}" ]; then
		printf %s "$IN" | "$TOLLCTL" "$@" >"$tmp/out" 2>"$tmp/err"
		rc=${PIPESTATUS[1]}
	else
		"$TOLLCTL" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
		rc=$?
	fi
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

# check NAME CONDITION...: passes when the condition (a command) succeeds;
# on failure shows what the last tollctl run said.
check() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name"
		echo "     rc=$rc"
		sed 's/^/     stdout: /' "$tmp/out" | head -20
		sed 's/^/     stderr: /' "$tmp/err" | head -20
	fi
}
