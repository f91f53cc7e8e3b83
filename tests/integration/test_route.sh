#!/usr/bin/env bash
# `tollctl route classify` as built: JSON lines in, a decision per line out
# (plain and -j/-p), bad lines reported by number while the rest are still
# classified (exit 1), usage errors (exit 2), policies without a router, the
# built-in domains on the held-out corpus (accuracy printed, >= 90%), and
# the same output from two runs (the model is trained afresh each time).
#
#   BUILD=build bash tests/integration/test_route.sh
#   (TOLLCTL=/path/to/tollctl overrides the binary)
#
# Conditions are single-quoted on purpose: check() evaluates them later.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOLLCTL=${TOLLCTL:-$BUILD/tollctl}
DOMAINS=tests/data/route/domains.yaml
HELDOUT=tests/data/route/heldout.jsonl

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

# py EXPR: the Python EXPR on the last stdout read as JSON lines (`d`, a
# list of objects).
py() {
	python3 -c 'import json, sys; d = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print(eval(sys.argv[2]))' \
		"$tmp/out" "$1" 2>/dev/null
}

# ---- help and usage ------------------------------------------------------------

tc route help
check "route help names classify" eval '[ $rc -eq 0 ] && grep -q "route classify -c POLICY" <<<"$out"'
tc route classify
check "classify without -c is a usage error" eval '[ $rc -eq 2 ] && grep -q "no policy given" <<<"$err"'
tc route classify -c "$DOMAINS" extra
check "classify with an argument is a usage error" eval '[ $rc -eq 2 ] && grep -q "unexpected argument" <<<"$err"'
tc route classify -x
check "an unknown option is a usage error naming it" eval '[ $rc -eq 2 ] && grep -q "'"'"'-x'"'"'" <<<"$err"'
tc -j route classify -c "$tmp/nosuch.yaml"
check "a missing policy is an error, JSON with -j" eval '[ $rc -eq 1 ] && [ "$(py "d[0][\"error\"] != \"\"")" = True ]'

cat >"$tmp/norouter.yaml" <<'EOF'
version: 1
listeners:
  - name: local
    address: 127.0.0.1:1
EOF
tc route classify -c "$tmp/norouter.yaml"
check "a policy without a router is an error" eval '[ $rc -eq 1 ] && grep -q "has no router" <<<"$err"'

# ---- classify ----------------------------------------------------------------

IN='{"text": "write a python function that merges two sorted lists"}
{"text": "translate good morning into spanish"}

{"text": "what is the derivative of sin(x) * x^2"}
'
tc -j route classify -c "$DOMAINS"
check "-j: one object per non-blank line, exit 0" eval '[ $rc -eq 0 ] && [ "$(py "len(d)")" = 3 ]'
check "-j: routes and models" \
	eval '[ "$(py "[(o[\"route\"], o[\"model\"]) for o in d]")" = "[('"'"'code'"'"', '"'"'coder'"'"'), ('"'"'translation'"'"', '"'"'small'"'"'), ('"'"'math'"'"', '"'"'reasoner'"'"')]" ]'
check "-j: scores name every route and sum to 1" \
	eval '[ "$(py "all(len(o[\"scores\"]) == 8 and abs(sum(o[\"scores\"].values()) - 1) < 1e-4 for o in d)")" = True ]'
check "-j: confidence is the best score" \
	eval '[ "$(py "all(o[\"confidence\"] == max(o[\"scores\"].values()) and o[\"best\"] == o[\"route\"] for o in d)")" = True ]'

cp "$tmp/out" "$tmp/first"
tc -j route classify -c "$DOMAINS"
check "two runs give the same output (deterministic training)" cmp -s "$tmp/first" "$tmp/out"

tc route classify -c "$DOMAINS"
check "plain: 'ROUTE MODEL CONFIDENCE' per line" \
	eval '[ $rc -eq 0 ] && [ "$(cut -d" " -f1,2 <<<"$out" | tr "\n" ,)" = "code coder,translation small,math reasoner," ]'

tc -p route classify -c "$DOMAINS"
check "-p: indented objects" eval '[ $rc -eq 0 ] && grep -q "^  \"route\": \"code\"" <<<"$out"'

IN='{"text": "summarize this transcript in three bullet points"}
not json at all
{"prompt": "no text member"}
["text"]
{"text": 42}
{"text": "tell me a joke"}'
tc -j route classify -c "$DOMAINS"
check "bad lines: exit 1 at the end" eval '[ $rc -eq 1 ]'
check "bad lines: each named by its number, the rest classified" \
	eval '[ "$(py "[o.get(\"route\") or o[\"line\"] for o in d]")" = "['"'"'summarization'"'"', 2, 3, 4, 5, '"'"'chat'"'"']" ]'
check "bad lines: not JSON says so" eval '[ "$(py "\"not JSON\" in d[1][\"error\"]")" = True ]'
tc route classify -c "$DOMAINS"
check "bad lines, plain: errors on stderr with line numbers" \
	eval '[ $rc -eq 1 ] && grep -q "^tollctl: line 2: not JSON" <<<"$err" && grep -q "^tollctl: line 5: " <<<"$err" && [ "$(wc -l <<<"$out")" = 2 ]'

# A prompt no route knows goes to the default route, with its best guess.
cat >"$tmp/strict.yaml" <<'EOF'
version: 1
listeners:
  - name: local
    address: 127.0.0.1:1
providers:
  - name: sim
    type: openai
    base_url: http://127.0.0.1:9/v1
models:
  - name: big
    provider: sim
  - name: small
    provider: sim
router:
  default_model: small
  threshold: 0.95
  routes:
    - { name: code, model: big, domain: code }
    - { name: math, model: big, domain: math }
EOF
IN='{"text": "qwzx plorb"}'
tc -j route classify -c "$tmp/strict.yaml"
check "low confidence: the default route and model, flagged" \
	eval '[ $rc -eq 0 ] && [ "$(py "(d[0][\"route\"], d[0][\"model\"], d[0][\"low_confidence\"], d[0][\"best\"] in (\"code\", \"math\"))")" = "('"'"'default'"'"', '"'"'small'"'"', True, True)" ]'

# ---- the held-out corpus through the command line ------------------------------

python3 -c 'import json, sys
for l in open(sys.argv[1]):
    print(json.dumps({"text": json.loads(l)["text"]}))' "$HELDOUT" >"$tmp/heldout-in"
"$TOLLCTL" -j route classify -c "$DOMAINS" <"$tmp/heldout-in" >"$tmp/out" 2>"$tmp/err"
rc=$?
acc=$(python3 -c 'import json, sys
lab = [json.loads(l)["label"] for l in open(sys.argv[1])]
out = [json.loads(l) for l in open(sys.argv[2])]
assert len(lab) == len(out)
print("%.1f" % (100 * sum(o["best"] == l for o, l in zip(out, lab)) / len(lab)))' "$HELDOUT" "$tmp/out")
echo "route: held-out accuracy through tollctl ${acc:-?}% ($(wc -l <"$HELDOUT") prompts)"
check "held-out accuracy >= 90%" eval '[ $rc -eq 0 ] && python3 -c "import sys; sys.exit(not float(sys.argv[1]) >= 90)" "${acc:-0}"'

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
