#!/usr/bin/env bash
# Runs each libFuzzer target given for FUZZ_SECONDS (default 60), from the
# committed seeds plus the corpus kept in build/fuzz/corpus-<target>.
#   tests/fuzz/run.sh build/fuzz/fuzz_policy ...
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
passed=0 failed=0

seeds_for() {
	case $1 in
	fuzz_policy) echo "policies tests/data/policy/good tests/data/policy/bad" ;;
	fuzz_http1) echo "tests/data/http" ;;
	fuzz_sse) echo "tests/data/sse" ;;
	fuzz_json) echo "tests/data/json" ;;
	fuzz_evstream) echo "tests/data/evstream" ;;
	fuzz_xlate_req) echo "tests/data/xlate" ;;
	fuzz_xlate_stream) echo "tests/data/xlate_stream" ;;
	fuzz_jwt) echo "tests/data/jwt" ;;
	*) echo "" ;;
	esac
}

for bin in "$@"; do
	name=$(basename "$bin")
	corpus=build/fuzz/corpus-$name
	mkdir -p "$corpus" build/fuzz/artifacts
	seeds=()
	for d in $(seeds_for "$name"); do
		[ -d "$d" ] && seeds+=("$d")
	done
	dict=()
	[ -f "tests/fuzz/${name#fuzz_}.dict" ] && dict=(-dict="tests/fuzz/${name#fuzz_}.dict")
	echo "fuzz: $name for ${secs}s"
	log=$(mktemp)
	"$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/"$name"- \
		"${dict[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	grep -E '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' "$log"
	if [ $rc -eq 0 ]; then
		echo "ok $name"
		passed=$((passed + 1))
	else
		tail -40 "$log"
		echo "FAIL $name (exit $rc; crashing input under build/fuzz/artifacts/)"
		failed=$((failed + 1))
	fi
	rm -f "$log"
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
