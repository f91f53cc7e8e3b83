#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Scores `tollctl -j guard scan` output against a labelled PII corpus.

    score.py CASES.jsonl OUTPUT.jsonl MIN

A finding is a true positive when its type and the exact text of its span
equal an expected {"type", "value"} of the same case (each expected value
matches once). Injection findings are not PII and are ignored. Prints
precision and recall per type and every miss; exits 1 when any type is
below MIN for either, or when the output does not line up with the cases.
"""
import json
import sys
from collections import defaultdict


def main():
    cases = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
    outs = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
    floor = float(sys.argv[3])
    if len(cases) != len(outs):
        print(f"score: {len(cases)} cases but {len(outs)} answers")
        return 1
    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    for case, out in zip(cases, outs):
        if "error" in out:
            print(f"score: line {out.get('line')}: {out['error']}")
            return 1
        raw = case["text"].encode("utf-8")
        want = [(e["type"], e["value"]) for e in case["expect"]]
        for f in out["findings"]:
            if f["type"] == "injection":
                continue
            got = (f["type"], raw[f["start"]:f["end"]].decode("utf-8"))
            if got in want:
                tp[got[0]] += 1
                want.remove(got)
            else:
                fp[got[0]] += 1
                print(f"  false positive {got!r} in {case['text'][:90]!r}")
        for w in want:
            fn[w[0]] += 1
            print(f"  missed {w!r} in {case['text'][:90]!r}")
    bad = 0
    for t in sorted(set(tp) | set(fp) | set(fn)):
        p = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 1.0
        r = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 1.0
        ok = p >= floor and r >= floor
        bad += not ok
        print(f"pii {t:7} precision {p:6.1%} recall {r:6.1%}  (tp {tp[t]}, fp {fp[t]}, fn {fn[t]})"
              f"{'' if ok else '  BELOW ' + format(floor, '.0%')}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
