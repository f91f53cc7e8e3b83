# SPDX-License-Identifier: Apache-2.0
# Sourced by the LLM gateway tests that run tollgated in front of provider
# simulators: counters and checks, cleanup of what they start, a simulator,
# a key and its hash, waiting for the gateway. The caller sets BUILD.
#
#   . tests/integration/llm_lib.sh; llm_lib_init NAME

TGD=$BUILD/tollgated
TOLLCTL=$BUILD/tollctl
SIM=tests/sim/provider-sim.mjs
passed=0 failed=0
pids=()

llm_lib_init() {	# NAME: the temporary directory's prefix
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	trap llm_lib_cleanup EXIT
}

llm_lib_cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}

ok() { passed=$((passed + 1)); echo "ok - $1"; }
fail() {
	failed=$((failed + 1))
	echo "FAIL - $1"
	if [ -n "${2-}" ] && [ -f "$2" ]; then sed 's/^/    | /' "$2" | tail -30; fi
}
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what" "${SHOW-}"; fi; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_sim() {	# NAME: starts a provider simulator, sets ${NAME}_URL
	local out=$tmp/$1.out port=
	node "$SIM" --port 0 >"$out" 2>"$tmp/$1.err" &
	pids+=($!)
	for _ in $(seq 50); do
		port=$(awk 'NR == 1 && $1 == "listening" { print $2 }' "$out" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || { fail "simulator $1 starts" "$tmp/$1.err"; finish; }
	printf -v "${1}_URL" 'http://127.0.0.1:%s' "$port"
}

new_key() {	# VAR: a fresh API key in $VAR, its policy hash in ${VAR}_hash
	local k
	k=tg-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	printf -v "$1" '%s' "$k"
	printf -v "${1}_hash" '%s' "$(printf %s "$k" | "$TOLLCTL" key hash |
		grep -o 'sha256:[0-9a-f]*' | head -1)"
}

wait_listening() {	# LOG: until tollgated says where it listens
	for _ in $(seq 50); do
		grep -q "listening on" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

no_sanitizer_report() {	# LOG
	! grep -q 'AddressSanitizer\|runtime error' "$1"
}
