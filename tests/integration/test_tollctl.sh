#!/usr/bin/env bash
# tollctl's command line, run as built: noun/verb dispatch with prefixes,
# help at every level, exit codes (0 ok, 1 error, 2 usage), JSON errors,
# keys and their hashes, and policy check on small files made here.
#
#   BUILD=build bash tests/integration/test_tollctl.sh
#   (TOLLCTL=/path/to/tollctl overrides the binary)
#
# Conditions are single-quoted on purpose: check() evaluates them later.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOLLCTL=${TOLLCTL:-$BUILD/tollctl}

passed=0 failed=0 skipped=0

if [ ! -x "$TOLLCTL" ]; then
	echo "FAIL $TOLLCTL is not built"
	echo "0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=tests/integration/harness.sh
. "$(dirname "$0")/harness.sh"

skip() {
	skipped=$((skipped + 1))
	echo "skip $1: $2"
}

# Whether the last stdout is one JSON document.
is_json() {
	python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/out" 2>/dev/null
}

# j EXPR [ARG...]: prints the Python EXPR evaluated on the last stdout
# parsed as JSON (`d`), with ARGs in sys.argv[3:]; nothing if not JSON.
j() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$tmp/out" "$@" 2>/dev/null
}

sha() {
	printf 'sha256:%s' "$(printf %s "$1" | sha256sum | cut -d' ' -f1)"
}

# ---- help at every level -----------------------------------------------

tc help
check "help lists the nouns" \
	eval '[ $rc -eq 0 ] && grep -q policy <<<"$out" && grep -q key <<<"$out" && grep -q version <<<"$out"'
tc
check "no noun prints help" eval '[ $rc -eq 0 ] && grep -q "^Usage: tollctl" <<<"$out"'
tc -h
check "-h prints help" eval '[ $rc -eq 0 ] && grep -q "^Usage: tollctl" <<<"$out"'
tc policy help
check "policy help lists the verbs" \
	eval '[ $rc -eq 0 ] && grep -q "policy check" <<<"$out" && grep -q "policy schema" <<<"$out"'
tc policy
check "policy alone prints its help" eval '[ $rc -eq 0 ] && grep -q "policy check" <<<"$out"'
tc key help
check "key help lists the verbs" \
	eval '[ $rc -eq 0 ] && grep -q "key new" <<<"$out" && grep -q "key hash" <<<"$out"'
tc key
check "key alone prints its help" eval '[ $rc -eq 0 ] && grep -q "key new" <<<"$out"'
tc help policy
check "help NOUN is NOUN help" eval '[ $rc -eq 0 ] && grep -q "policy check" <<<"$out"'
tc help help
check "help help ends" eval '[ $rc -eq 0 ] && grep -q "^Usage: tollctl" <<<"$out"'
tc policy --help
check "policy --help prints its help" eval '[ $rc -eq 0 ] && grep -q "policy check" <<<"$out"'

# ---- dispatch --------------------------------------------------------------

tc nosuch
check "unknown noun is a usage error naming it" \
	eval '[ $rc -eq 2 ] && grep -q "nosuch" <<<"$err" && [ -z "$out" ]'
tc policy nosuch
check "unknown verb is a usage error naming it" eval '[ $rc -eq 2 ] && grep -q "nosuch" <<<"$err"'
tc key h
check "ambiguous verb is a usage error naming the candidates" \
	eval '[ $rc -eq 2 ] && grep -q "ambiguous" <<<"$err" && grep -q "hash" <<<"$err" && grep -q "help" <<<"$err"'
tc ''
check "empty noun is a usage error" eval '[ $rc -eq 2 ]'
tc -x
check "unknown option is a usage error" eval '[ $rc -eq 2 ] && grep -q -- "-x" <<<"$err"'
tc --jsonx
check "unknown long option is a usage error" eval '[ $rc -eq 2 ] && grep -q -- "--jsonx" <<<"$err"'
tc --debug -xj help
check "an unknown option inside a cluster is the one named" \
	eval '[ $rc -eq 2 ] && grep -q "unknown option '"'"'-x'"'"'" <<<"$out" && ! grep -q -- "--debug" <<<"$out"'
tc ver
check "a unique prefix selects the noun" eval '[ $rc -eq 0 ] && grep -q "^tollctl " <<<"$out"'
tc -d pol help
check "-d logs how a prefix resolved" eval '[ $rc -eq 0 ] && grep -q "policy" <<<"$err"'

# An exact name wins over a longer name it prefixes (tenant, tenants).
tc help
if grep -qw tenant <<<"$out" && grep -qw tenants <<<"$out"; then
	tc tenant help
	check "exact noun wins over a longer one" eval '[ $rc -eq 0 ]'
else
	skip "exact noun wins over a longer one" "no such pair of nouns yet"
fi

# ---- version -------------------------------------------------------------

tc -V
v=$out
check "-V prints the version" eval '[ $rc -eq 0 ] && grep -qE "^tollctl .+" <<<"$out"'
tc version
check "version noun matches -V" eval '[ $rc -eq 0 ] && [ "$out" = "$v" ]'
tc version extra
check "version with arguments is a usage error" eval '[ $rc -eq 2 ]'
tc -j version
jv=$(j 'd["version"]')
check "-j version is JSON" eval '[ $rc -eq 0 ] && [ "tollctl $jv" = "$v" ]'
tc -p version
check "-p prints indented JSON" \
	eval '[ $rc -eq 0 ] && is_json && grep -q "^  \"version\": " <<<"$out"'

# ---- JSON errors -------------------------------------------------------------

tc -j nosuch
je=$(j 'd["error"]')
check "-j unknown noun: JSON error on stdout, exit 2" \
	eval '[ $rc -eq 2 ] && grep -q nosuch <<<"$je" && [ -z "$err" ]'
tc -x -j
je=$(j 'd["error"]')
check "-j after a bad option still gives a JSON error" eval '[ $rc -eq 2 ] && grep -q -- "-x" <<<"$je"'
tc -j key h
je=$(j 'd["error"]')
check "-j ambiguous verb: JSON error naming the candidates" \
	eval '[ $rc -eq 2 ] && grep -q hash <<<"$je" && grep -q help <<<"$je"'
tc -j policy check
je=$(j 'd["error"]')
check "-j policy check without FILE: JSON error, exit 2" eval '[ $rc -eq 2 ] && [ -n "$je" ]'
IN='' tc -j key hash
je=$(j 'd["error"]')
check "-j key hash of nothing: JSON error, exit 1" eval '[ $rc -eq 1 ] && [ -n "$je" ] && [ -z "$err" ]'

# ---- key hash -----------------------------------------------------------------

known=tg_Zm9yIHRlc3RzIG9ubHksIG5vdCBhIHJlYWwga2V5
IN=$known tc key hash
check "key hash of a known key gives its sha256" eval '[ $rc -eq 0 ] && [ "$out" = "$(sha "$known")" ]'
check "key hash does not echo the key" eval '! grep -q "$known" "$tmp/out" "$tmp/err"'
IN="$known
" tc key hash
check "key hash drops one trailing newline" eval '[ $rc -eq 0 ] && [ "$out" = "$(sha "$known")" ]'
IN="$known

" tc key hash
check "key hash drops only one newline" eval '[ $rc -eq 0 ] && [ "$out" = "$(sha "$known
")" ]'
IN=$known tc -j key hash
jh=$(j 'd["hash"]')
check "-j key hash gives {\"hash\"}" eval '[ $rc -eq 0 ] && [ "$jh" = "$(sha "$known")" ]'
IN='' tc key hash
check "key hash refuses an empty key" eval '[ $rc -eq 1 ] && [ -z "$out" ]'
IN='
' tc key hash
check "key hash refuses a lone newline" eval '[ $rc -eq 1 ] && [ -z "$out" ]'
tc key hash "$known"
check "key hash refuses a key on the command line without echoing it" \
	eval '[ $rc -eq 2 ] && ! grep -q "$known" "$tmp/out" "$tmp/err"'
IN=$(head -c 9000 /dev/zero | tr '\0' a) tc key hash
check "key hash refuses an overlong key" eval '[ $rc -eq 1 ] && [ -z "$out" ]'

# ---- key new --------------------------------------------------------------------

tc key new
key=$(sed -n 's/^key: *//p' "$tmp/out")
hash=$(sed -n 's/^hash: *//p' "$tmp/out")
check "key new prints a tg_ base64url key" eval '[ $rc -eq 0 ] && grep -qE "^tg_[A-Za-z0-9_-]{43}$" <<<"$key"'
check "key new prints the hash of its key" eval '[ -n "$hash" ] && [ "$hash" = "$(sha "$key")" ]'
check "key new prints the YAML to paste" \
	eval 'grep -qE "^- name: key-[0-9a-f]{8}$" <<<"$out" && grep -qxF "  hash: $hash" <<<"$out"'
check "key new shows the key once" eval '[ "$(grep -cF "$key" "$tmp/out")" -eq 1 ] && ! grep -qF "$key" "$tmp/err"'
IN=$key tc key hash
check "key hash agrees with key new" eval '[ -n "$hash" ] && [ "$out" = "$hash" ]'
first=$key
tc key new --name ci-runner.1
key=$(sed -n 's/^key: *//p' "$tmp/out")
check "key new --name names the YAML entry" eval '[ $rc -eq 0 ] && grep -qx -- "- name: ci-runner.1" <<<"$out"'
check "two keys differ" eval '[ -n "$key" ] && [ "$key" != "$first" ]'
tc -j key new --name ci
jk=$(j 'd["key"]') jh=$(j 'd["hash"]') jn=$(j 'd["name"]')
check "-j key new: key and hash agree" \
	eval '[ $rc -eq 0 ] && [ -n "$jk" ] && [ "$jh" = "$(sha "$jk")" ] && [ "$jn" = ci ]'
tc key new --name 'bad name'
check "key new refuses a name the policy would refuse" eval '[ $rc -eq 2 ]'
tc key new --name
check "key new --name without a value is a usage error" eval '[ $rc -eq 2 ] && grep -q -- "--name" <<<"$err"'
tc key new extra
check "key new with an argument is a usage error" eval '[ $rc -eq 2 ]'

# ---- policy check ---------------------------------------------------------------

bad=$tmp/bad.yaml
cat >"$bad" <<'EOF'
# a policy with a key no schema has
# (line 3, column 1)
bogus_top_level_key: 1
EOF

tc policy check
check "policy check without FILE: exit 2" eval '[ $rc -eq 2 ]'
tc policy check "$bad"
check "policy check of an unknown top-level key: exit 1" eval '[ $rc -eq 1 ]'
check "policy check prints file:line:col: at the key" \
	eval 'grep -qE "^$bad:3:1: .*bogus_top_level_key" <<<"$err"'
check "policy check prints no ok for an invalid file" eval '! grep -q ": ok$" <<<"$out"'
tc policy check "$tmp/missing.yaml"
check "policy check of a missing file: exit 1" eval '[ $rc -eq 1 ] && grep -q "missing.yaml" <<<"$err"'
tc policy check --no-such-option "$bad"
check "policy check with an unknown option: exit 2" eval '[ $rc -eq 2 ]'

good=policies/default.yaml
if [ -f "$good" ]; then
	tc policy check "$good"
	check "policy check of the default policy: exit 0, FILE: ok" \
		eval '[ $rc -eq 0 ] && [ "$out" = "$good: ok" ]'
	tc pol ch "$good"
	check "prefixes select noun and verb (pol ch)" eval '[ $rc -eq 0 ] && [ "$out" = "$good: ok" ]'
	tc policy check "$bad" "$good"
	check "policy check goes on past an invalid file, exit 1" \
		eval '[ $rc -eq 1 ] && [ "$out" = "$good: ok" ] && grep -q "^$bad:3:1: " <<<"$err"'
	tc -j policy check "$bad" "$good"
	shape=$(j '([(f["file"], f["ok"], bool(f["errors"])) for f in d]
		    == [(sys.argv[3], False, True), (sys.argv[4], True, False)])' "$bad" "$good")
	check "-j policy check: one array, a report per file" eval '[ $rc -eq 1 ] && [ "$shape" = True ]'
	at=$(j 'any(e["file"] == sys.argv[3] and (e["line"], e["col"]) == (3, 1)
		    and "bogus_top_level_key" in e["message"] for e in d[0]["errors"])' "$bad")
	check "-j policy check: errors carry file, line, col, message" eval '[ "$at" = True ]'
else
	for t in "policy check of the default policy" "prefixes select noun and verb (pol ch)" \
		 "policy check goes on past an invalid file" "-j policy check: a report per file"; do
		skip "$t" "no $good yet"
	done
	tc pol ch "$bad"
	check "prefixes select noun and verb (pol ch)" eval '[ $rc -eq 1 ] && grep -q "^$bad:3:1: " <<<"$err"'
fi
tc -j policy check "$bad" "$bad"
n=$(j 'len(d)')
check "-j policy check reports every file" eval '[ $rc -eq 1 ] && [ "$n" = 2 ] && [ -z "$err" ]'

# ---- policy schema ---------------------------------------------------------------

tc policy schema
check "policy schema prints Markdown" eval '[ $rc -eq 0 ] && grep -q "^#" <<<"$out"'
md=$out
tc -j policy schema
jm=$(j 'd["markdown"]')
check "-j policy schema wraps the same Markdown" eval '[ $rc -eq 0 ] && [ -n "$md" ] && [ "$jm" = "$md" ]'
tc policy schema extra
check "policy schema with an argument is a usage error" eval '[ $rc -eq 2 ]'

# ---- output that cannot be written --------------------------------------------------

if [ -w /dev/full ]; then
	"$TOLLCTL" help >/dev/full 2>"$tmp/err"
	rc=$?
	: >"$tmp/out"
	check "a failed write to stdout is an error" eval '[ $rc -eq 1 ] && [ -s "$tmp/err" ]'
else
	skip "a failed write to stdout is an error" "no /dev/full"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
