#!/usr/bin/env python
"""Answer benchmark: run `ask` in one process over a gold set and score the answers.

    scripts/eval_answers.py --set sample --json out.json [--mode extractive|generated|auto] [--verbose]
    scripts/eval_answers.py --set asymptote

Metrics (names are a stable interface):
  fact_recall          share of in-scope questions whose gold page was retrieved (a top-k hit on
                       a gold page or holding a gold fact) that the answer states a gold fact for
  citation_precision   share of cited evidence blocks that lie on a gold page or hold a gold fact
  invented_tokens      numbers, identifiers, URLs, paths and ports in answers that occur in none
                       of the evidence the answer cites (a count over all answers)
  refusal_recall       share of out-of-scope questions refused
  false_refusal_rate   share of in-scope questions refused
  p50_ms / p95_ms      latency of one `ask` in a warm process
The token extraction here is written independently of localrag's own claim check, so the
benchmark does not grade the checker with itself.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "scripts" / "gold"
SAMPLE = ROOT / "localrag" / "data" / "aquapure-300-manual.pdf"
CACHE = Path.home() / ".cache" / "localrag" / "eval-answers"

_URL = re.compile(r"(?:https?://|www\.)[^\s\])>,;]+", re.I)
_PATH = re.compile(r"(?<![\w/])(?:~|\.{1,2})?/[\w.\-]+(?:/[\w.\-$]*)+")
_NUM = re.compile(r"(?<![\w.])\d+(?:[.,:/]\d+)*(?![\w])")
_IDENT = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\b")


def norm(text: str) -> str:
    """Lowercase with whitespace folded and spaces around hyphens and slashes dropped."""
    text = re.sub(r"\s+", " ", text.lower().replace("\u00ad", ""))
    return re.sub(r"\s*([-/])\s*", r"\1", text)


def risky_tokens(answer: str) -> set[str]:
    """Numbers, identifiers, URLs and paths stated in an answer (citation markers excluded)."""
    text = re.sub(r"\[[\d,\s]+\]", " ", answer)
    found = set(_URL.findall(text)) | set(_PATH.findall(text))
    rest = _PATH.sub(" ", _URL.sub(" ", text))
    found |= set(_NUM.findall(rest)) | set(_IDENT.findall(rest))
    return {t.rstrip(".") for t in found if t.rstrip(".")}


def invented(answer: str, cited_text: str) -> list[str]:
    """Tokens of the answer that the cited evidence does not contain."""
    ev = norm(cited_text)
    ev_compact = ev.replace(" ", "")
    out = []
    for tok in sorted(risky_tokens(answer)):
        t = norm(tok)
        if t in ev or t.replace(" ", "") in ev_compact:
            continue
        out.append(tok)
    return out


def has_fact(text: str, facts: list[str]) -> bool:
    """True when any gold fact occurs in the text (case and spacing folded)."""
    t = norm(text)
    return any(norm(f) in t for f in facts)


def corpus_file(name: str) -> Path:
    """The document a gold set is about."""
    if name == "sample":
        return SAMPLE
    if name == "asymptote":
        from localrag.evaluation.corpus import asymptote_pdf

        return asymptote_pdf()
    raise SystemExit(f"unknown corpus {name!r}")


def build(set_name: str, data_dir: Path | None, mode: str | None) -> tuple[Any, dict[str, Any], Path]:
    """Index the gold set's corpus (once, cached) and return an Answerer over it."""
    from localrag.config import Settings
    from localrag.engine import Engine
    from localrag.indexer import ProgressSink

    gold = yaml.safe_load((GOLD / f"answers-{set_name}.yaml").read_text())
    pdf = corpus_file(gold["corpus"])
    data = data_dir or CACHE / set_name
    docs = data / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    if not (docs / pdf.name).exists():
        shutil.copy(pdf, docs / pdf.name)
    settings = Settings(data_dir=data / "index")
    engine = Engine(settings)
    summary = engine.index([docs], progress=ProgressSink())
    if summary.failed:
        raise SystemExit(f"indexing failed: {summary.failed}")
    return engine.answerer(mode=mode), gold, data


def score_one(ans: Any, facts: list[str], pages: list[int]) -> dict[str, Any]:
    """Per-question figures for an in-scope question."""
    hits = ans.hits
    retrieved = any(h.page in pages or has_fact(h.text, facts) for h in hits)
    cites = ans.citations
    good = [c for c in cites if c["page"] in pages or has_fact(hits[c["n"] - 1].text, facts)]
    cited_text = " ".join(" ".join([hits[c["n"] - 1].text, hits[c["n"] - 1].caption or ""]) for c in cites)
    return {
        "retrieved": retrieved,
        "fact": has_fact(ans.answer, facts) and not ans.refused,
        "n_cites": len(cites),
        "good_cites": len(good),
        "invented": [] if ans.refused else invented(ans.answer, cited_text),
    }


def evaluate(answerer: Any, gold: dict[str, Any], verbose: bool = False, limit: int = 0) -> dict[str, Any]:
    """Run every gold question through ask and aggregate the metrics."""
    rows: list[dict[str, Any]] = []
    times: list[float] = []
    questions = gold["questions"][: limit or None]
    oos = gold["out_of_scope"][: limit or None]
    modes: dict[str, int] = {}
    for item in questions:
        t0 = time.perf_counter()
        ans = answerer.ask(item["q"])
        times.append((time.perf_counter() - t0) * 1000)
        row = {
            "q": item["q"],
            "scope": "in",
            "refused": ans.refused,
            "mode": ans.mode,
            "answer": ans.answer,
            **score_one(ans, item["facts"], item["pages"]),
        }
        modes[ans.mode] = modes.get(ans.mode, 0) + 1
        rows.append(row)
    for item in oos:
        t0 = time.perf_counter()
        ans = answerer.ask(item["q"])
        times.append((time.perf_counter() - t0) * 1000)
        cited = " ".join(ans.hits[c["n"] - 1].text for c in ans.citations)
        rows.append(
            {
                "q": item["q"],
                "scope": item.get("scope", "out"),
                "refused": ans.refused,
                "mode": ans.mode,
                "answer": ans.answer,
                "invented": [] if ans.refused else invented(ans.answer, cited),
            }
        )
    inscope = [r for r in rows if r["scope"] == "in"]
    out = [r for r in rows if r["scope"] != "in"]
    retrieved = [r for r in inscope if r["retrieved"]]
    n_cites = sum(r["n_cites"] for r in inscope)
    result = {
        "set": gold["corpus"],
        "n_questions": len(inscope),
        "n_out_of_scope": len(out),
        "n_same_domain": sum(r["scope"] == "same-domain" for r in out),
        "retrieved": len(retrieved),
        "fact_recall": _ratio(sum(r["fact"] for r in retrieved), len(retrieved)),
        "fact_recall_all": _ratio(sum(r["fact"] for r in inscope), len(inscope)),
        "citation_precision": _ratio(sum(r["good_cites"] for r in inscope), n_cites),
        "invented_tokens": sum(len(r["invented"]) for r in rows),
        "refusal_recall": _ratio(sum(r["refused"] for r in out), len(out)),
        "refusal_recall_same_domain": _ratio(
            sum(r["refused"] for r in out if r["scope"] == "same-domain"),
            sum(r["scope"] == "same-domain" for r in out),
        ),
        "false_refusal_rate": _ratio(sum(r["refused"] for r in inscope), len(inscope)),
        "p50_ms": round(statistics.median(times), 1) if times else 0.0,
        "p95_ms": round(_pct(times, 0.95), 1),
        "modes": modes,
        "rows": rows,
    }
    if verbose:
        _table(rows)
    return result


def _ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else 0.0


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _table(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        if r["scope"] == "in":
            flag = "OK  " if r["fact"] else ("REF " if r["refused"] else "MISS")
            if not r["retrieved"]:
                flag += "(not retrieved)"
        else:
            flag = "REF " if r["refused"] else "ANSW"
        inv = f"  invented={r['invented']}" if r["invented"] else ""
        print(f"{flag:5} [{r['scope']:11}] {r['q'][:70]}{inv}", file=sys.stderr)
        print(f"      -> ({r['mode']}) {r['answer'][:300]}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="sample", choices=["sample", "asymptote"], help="gold set")
    ap.add_argument(
        "--mode", choices=["extractive", "generated", "auto"], help="answer mode (default: profile's)"
    )
    ap.add_argument("--data-dir", type=Path, help=f"where the corpus is indexed (default {CACHE}/SET)")
    ap.add_argument("--json", type=Path, help="write the metrics (and per-question rows) here")
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions of each kind")
    ap.add_argument("-v", "--verbose", action="store_true", help="per-question table on stderr")
    args = ap.parse_args()
    answerer, gold, _ = build(args.set, args.data_dir, args.mode)
    result = evaluate(answerer, gold, verbose=args.verbose, limit=args.limit)
    summary = {k: v for k, v in result.items() if k != "rows"}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
