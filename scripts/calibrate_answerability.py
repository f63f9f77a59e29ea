#!/usr/bin/env python
"""Calibrate the refusal thresholds on both answer gold sets: false refusals vs false answers.

    scripts/calibrate_answerability.py [--sets sample asymptote] [--json OUT]

For every gold question (in scope and out of scope) it retrieves the evidence as `ask` does and
records the answerability signals. It prints the table of false refusals (in-scope questions
refused) and false answers (out-of-scope questions answered) over a grid of thresholds, the
thresholds that minimise their sum on all sets together, and a leave-one-set-out check: the
thresholds chosen on one set, scored on the other.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_answers import build

from localrag.answer.answerability import Thresholds

COVERAGE = [round(0.3 + 0.05 * i, 2) for i in range(11)]  # 0.30 .. 0.80
SENTENCE = [round(0.2 + 0.05 * i, 2) for i in range(6)]  # 0.20 .. 0.45
MISSING = [0.6, 0.7, 0.8, 0.9, 1.01]  # 1.01: the rare-gap rule off
FALSE_ANSWER_COST = 1.0
GRID = list(itertools.product(COVERAGE, SENTENCE, MISSING))


def signals(set_name: str) -> list[dict[str, Any]]:
    """The answerability signals of every gold question of one set."""
    answerer, gold, _ = build(set_name, None, "extractive")
    rows = []
    items = [(q, True) for q in gold["questions"]] + [(q, False) for q in gold["out_of_scope"]]
    for item, in_scope in items:
        resp = answerer.retriever.search(item["q"], None, k=max(answerer.n_evidence, 5))
        _, v = answerer.assess(item["q"], resp.hits[: answerer.n_evidence])
        rows.append(
            {
                "set": set_name,
                "q": item["q"],
                "in_scope": in_scope,
                "coverage": v.coverage,
                "best_sentence": v.best_sentence,
                "max_missing": v.max_missing,
                "agreement": v.agreement,
                "missing": v.missing,
            }
        )
    return rows


def errors(rows: list[dict[str, Any]], cov: float, sent: float, miss: float) -> tuple[float, float]:
    """(false refusal rate, false answer rate) at the given thresholds."""
    ins = [r for r in rows if r["in_scope"]]
    outs = [r for r in rows if not r["in_scope"]]
    rule = Thresholds(cov, sent, miss)
    ok = [rule.admits(r["coverage"], r["best_sentence"], r["max_missing"]) for r in rows]
    fr = sum(not a for a, r in zip(ok, rows, strict=True) if r["in_scope"]) / max(1, len(ins))
    fa = sum(a for a, r in zip(ok, rows, strict=True) if not r["in_scope"]) / max(1, len(outs))
    return fr, fa


def cost(rows: list[dict[str, Any]], t: tuple[float, float, float]) -> float:
    """False refusals + false answers, each a rate over its own questions."""
    fr, fa = errors(rows, *t)
    return fr + FALSE_ANSWER_COST * fa


def best(rows: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Thresholds of least cost (ties: the loosest rule)."""
    return min(GRID, key=lambda t: (round(cost(rows, t), 6), t[0], t[1], -t[2]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["sample", "asymptote"])
    ap.add_argument("--json", type=Path, help="write every question's signals here")
    ap.add_argument("--all", action="store_true", help="print every grid row, not only the good ones")
    args = ap.parse_args()
    rows = [r for s in args.sets for r in signals(s)]
    print("coverage  sentence  missing  " + "  ".join(f"{s:>22}" for s in [*args.sets, "all"]))
    print(" " * 29 + "  ".join(f"{'false refusal/answer':>22}" for _ in [*args.sets, "all"]))
    for t in GRID:
        cells = []
        for s in [*args.sets, "all"]:
            fr, fa = errors([r for r in rows if s in ("all", r["set"])], *t)
            cells.append(f"{fr:>10.2f} / {fa:<9.2f}")
        if args.all or cost(rows, t) <= 0.5:
            print(f"{t[0]:8.2f}  {t[1]:8.2f}  {t[2]:7.2f}  " + "  ".join(cells))
    cov, sent, miss = best(rows)
    fr, fa = errors(rows, cov, sent, miss)
    print(
        f"\nchosen on all sets: coverage >= {cov}, best sentence >= {sent}, rarest missing < {miss}: "
        f"false refusals {fr:.2f}, false answers {fa:.2f}"
    )
    for train in args.sets:
        for test in args.sets:
            if test == train:
                continue
            t = best([r for r in rows if r["set"] == train])
            fr, fa = errors([r for r in rows if r["set"] == test], *t)
            print(
                f"held out: chosen on {train} {t} -> {test}: false refusals {fr:.2f}, false answers {fa:.2f}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
