#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tollgated's arguments, signals and lifecycle, run for real: start the
# daemon on a policy in a temporary directory, break the policy and SIGHUP
# (the running policy is kept), fix it and SIGHUP (reloaded), SIGTERM (clean
# exit); and the one-shot modes: --version, --help, a bad option, --check.
#
# BUILD names the build directory (default: build). Prints "N passed,
# N failed" last and exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
TGD=$PWD/$BUILD/tollgated
case $BUILD in /*) TGD=$BUILD/tollgated ;; esac

passed=0 failed=0
pid=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tollgated-test.XXXXXX")

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}

# fail DESCRIPTION [FILE TO SHOW]
fail() {
	failed=$((failed + 1))
	echo "FAIL - $1"
	if [ -n "${2-}" ] && [ -f "$2" ]; then
		sed 's/^/    | /' "$2"
	fi
}

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc" "${SHOW-}"; fi
}

# wait_log PATTERN [SECONDS]: until the daemon's log has a line matching the
# extended regex PATTERN; fails at once if the daemon is gone.
wait_log() {
	local i
	for ((i = 0; i < ${2:-5} * 20; i++)); do
		grep -qE -- "$1" "$tmp/log" && return 0
		kill -0 "$pid" 2>/dev/null || { grep -qE -- "$1" "$tmp/log"; return; }
		sleep 0.05
	done
	return 1
}

# wait_exit [SECONDS]: until the daemon exits; its status in $status.
wait_exit() {
	local i
	status=
	for ((i = 0; i < ${1:-5} * 20; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			status=$?
			pid=
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# Counts lines matching PATTERN in the log.
log_count() {
	grep -cE -- "$1" "$tmp/log"
}

if [ ! -x "$TGD" ]; then
	fail "$TGD exists (run make first)"
	echo "$passed passed, $failed failed"
	exit 1
fi

# ---- one-shot modes --------------------------------------------------------

SHOW=$tmp/out
"$TGD" --version >"$tmp/out" 2>&1
check "--version exits 0" test $? -eq 0
check "--version prints 'tollgated VERSION'" grep -qE '^tollgated [^ ]+$' "$tmp/out"

"$TGD" --help >"$tmp/out" 2>&1
check "--help exits 0" test $? -eq 0
for opt in --config --check --log-level --version --help; do
	check "--help lists $opt" grep -q -- "$opt" "$tmp/out"
done

"$TGD" --no-such-option >"$tmp/out" 2>"$tmp/err"
check "a bad option exits 2" test $? -eq 2
SHOW=$tmp/err check "a bad option prints usage to stderr" grep -q '^Usage: tollgated' "$tmp/err"
check "a bad option prints nothing to stdout" test ! -s "$tmp/out"

"$TGD" --log-level loud >"$tmp/out" 2>&1
check "an unknown log level exits 2" test $? -eq 2

# The embedded default, checked from a directory with no policies/ in it:
# it is in the binary, not read from the tree.
(cd "$tmp" && "$TGD" --check) >"$tmp/out" 2>&1
check "--check without -c exits 0" test $? -eq 0
check "--check without -c checks the embedded default" \
	grep -qx '<embedded>/policies/default.yaml: ok' "$tmp/out"

# A valid policy to start from: the shipped default.
# Ports the kernel picks, so that the test runs next to anything on 8080.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
port2=$(free_port)
sed "s/127\.0\.0\.1:8080/127.0.0.1:$port/" policies/default.yaml >"$tmp/policy.yaml"
"$TGD" --check -c "$tmp/policy.yaml" >"$tmp/out" 2>&1
check "--check on a good file exits 0" test $? -eq 0
check "--check on a good file prints 'POLICY: ok'" grep -qx "$tmp/policy.yaml: ok" "$tmp/out"

# Broken on purpose: an unterminated flow sequence on the last line.
broken() {
	cat "$tmp/policy.yaml"
	printf '\nbroken: [unterminated\n'
}
broken >"$tmp/bad.yaml"
"$TGD" --check -c "$tmp/bad.yaml" >"$tmp/out" 2>"$tmp/err"
check "--check on a bad file exits 1" test $? -eq 1
SHOW=$tmp/err check "--check on a bad file prints file:line:col: message" \
	grep -qE "^$tmp/bad\.yaml:[0-9]+:[0-9]+: .+" "$tmp/err"

"$TGD" --check -c "$tmp/does-not-exist.yaml" >"$tmp/out" 2>"$tmp/err"
check "--check on a missing file exits 1" test $? -eq 1

# ---- the daemon: reload, bad reload, shutdown --------------------------------

SHOW=$tmp/log
"$TGD" -c "$tmp/policy.yaml" 2>"$tmp/log" &
pid=$!
check "the daemon starts and says it is running" wait_log 'info running;'
check "the daemon logs where it listens" \
	grep -qE " info listener local: listening on http://127\.0\.0\.1:$port \(auth none\)$" "$tmp/log"
check "the daemon answers /healthz" curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$port/healthz"
check "/readyz says ready" curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$port/readyz"
check "log lines carry a UTC timestamp and a level" \
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (error|warn|info|debug) ' "$tmp/log"

broken >"$tmp/policy.yaml"
kill -HUP "$pid"
check "a broken reload keeps the running policy" wait_log 'reload failed; keeping the running policy'
check "a broken reload logs file:line:col: message" \
	grep -qE " error $tmp/policy\.yaml:[0-9]+:[0-9]+: .+" "$tmp/log"
check "the daemon survives a broken reload" kill -0 "$pid"

# Valid and different: another port, or at least another byte.
sed "s/127\.0\.0\.1:8080/127.0.0.1:$port2/" policies/default.yaml >"$tmp/policy.yaml"
printf '# changed by %s\n' "$(basename "$0")" >>"$tmp/policy.yaml"
kill -HUP "$pid"
check "a valid reload is applied" wait_log 'policy reloaded'
check "one reload failed, one succeeded" \
	test "$(log_count 'keeping the running policy')" -eq 1 -a "$(log_count 'policy reloaded')" -eq 1
check "the reload opened the new listener" curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$port2/healthz"
check "the reload closed the old listener" \
	test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/healthz")" = 000

kill -TERM "$pid"
if wait_exit 5; then
	ok "SIGTERM stops the daemon within 5 s"
	check "SIGTERM exits 0" test "$status" -eq 0
	check "SIGTERM logs shutting down" grep -q 'shutting down' "$tmp/log"
else
	fail "SIGTERM stops the daemon within 5 s" "$tmp/log"
fi

# ---- -l overrides the policy's level; SIGINT stops too ------------------------

# At warn, info is dropped; a request to an upstream that is not there
# logs a warning.
: >"$tmp/log"
cat >"$tmp/warn.yaml" <<EOF
version: 1
listeners:
  - {name: local, address: 127.0.0.1:$port, auth: none, endpoints: [health],
     routes: [{path: /, upstream: gone}]}
upstreams:
  - {name: gone, servers: [127.0.0.1:$(free_port)]}
EOF
"$TGD" -l warn -c "$tmp/warn.yaml" 2>"$tmp/log" &
pid=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
check "an unreachable upstream is a 502" \
	test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/x")" = 502
check "-l warn still shows warnings" wait_log ' warn upstream .*connect'
check "-l warn drops info lines" test "$(log_count ' info ')" -eq 0
kill -INT "$pid"
if wait_exit 5; then
	check "SIGINT exits 0" test "$status" -eq 0
else
	fail "SIGINT stops the daemon within 5 s" "$tmp/log"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
