"""Evaluate query-by-photo: perturbed copies of indexed figures, and out-of-corpus photos."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from localrag.answer import Answerer
from localrag.bench.synthetic import figure as synthetic_figure
from localrag.evaluation.perturb import PERTURBATIONS
from localrag.retrieve import Retriever


@dataclass
class Outcome:
    """Ranks of the source figure and latencies, per perturbation."""

    ranks: dict[str, list[int | None]] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    ooc_rejected: list[bool] = field(default_factory=list)
    ooc_refused: list[bool] = field(default_factory=list)
    ooc_latency_ms: list[float] = field(default_factory=list)


def indexed_figures(
    retriever: Retriever, limit: int | None, seed: int, exclude: str | None = None
) -> list[tuple[str, str]]:
    """(figure id, image path) of indexed figures, a seeded sample when limit is set."""
    figs = [
        (i, m["image"])
        for i, _, m in retriever.store.all_documents("figures")
        if m.get("image") and not (exclude and exclude in str(m.get("source")))
    ]
    figs.sort()
    if limit is not None and len(figs) > limit:
        figs = random.Random(seed).sample(figs, limit)
    return figs


def _rank(hits: list[Any], target: str) -> int | None:
    figure_ids = [h.id for h in hits if h.figure is not None]
    return figure_ids.index(target) + 1 if target in figure_ids else None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))]


def evaluate(
    retriever: Retriever,
    perturbations: list[str] | None = None,
    limit: int | None = None,
    n_ooc: int = 40,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    exclude: str | None = None,
) -> dict[str, Any]:
    """Run every (figure, perturbation) query and the out-of-corpus queries."""
    names = perturbations or sorted(PERTURBATIONS)
    out = Outcome()
    figs = indexed_figures(retriever, limit, seed, exclude)
    # warm-up, untimed: model loads belong to start-up, not to query latency
    retriever.search("", synthetic_figure(1), k=5)
    if figs:
        with Image.open(figs[0][1]) as im:
            retriever.search("", im.convert("RGB"), k=5)
    for fid, path in figs:
        with Image.open(path) as im:
            src = im.convert("RGB")
        for name in names:
            rng = random.Random(f"{seed}:{fid}:{name}")
            query = PERTURBATIONS[name](src, rng)
            t = time.perf_counter()
            resp = retriever.search("", query, k=5)
            out.latency_ms.append((time.perf_counter() - t) * 1000)
            out.ranks.setdefault(name, []).append(_rank(resp.hits, fid))
            if progress:
                progress(1)
    for j in range(n_ooc):
        rng = random.Random(f"ooc:{seed}:{j}")
        query = PERTURBATIONS[rng.choice(names)](synthetic_figure(10_000_000 + j), rng)
        t = time.perf_counter()
        resp = retriever.search("", query, k=5)
        out.ooc_latency_ms.append((time.perf_counter() - t) * 1000)
        out.ooc_rejected.append(not resp.visual_match)
        out.ooc_refused.append(not Answerer.photo_matches(resp))
        if progress:
            progress(1)
    return summarize(out)


def _lat(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "mean": round(statistics.fmean(values), 1) if values else None,
    }


def summarize(out: Outcome) -> dict[str, Any]:
    """recall@1, recall@5, MRR per perturbation and overall; rejection; p50/p95 latency."""

    def stats(ranks: list[int | None]) -> dict[str, float]:
        n = len(ranks) or 1
        return {
            "n": len(ranks),
            "recall@1": round(sum(r == 1 for r in ranks) / n, 4),
            "recall@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 4),
            "mrr": round(sum(1 / r for r in ranks if r) / n, 4),
        }

    every = [r for rs in out.ranks.values() for r in rs]
    lat = out.latency_ms + out.ooc_latency_ms
    return {
        "overall": stats(every),
        "per_perturbation": {k: stats(v) for k, v in sorted(out.ranks.items())},
        "ooc": {
            "n": len(out.ooc_rejected),
            "rejection_rate": round(sum(out.ooc_rejected) / (len(out.ooc_rejected) or 1), 4),
            "ask_refusal_rate": round(sum(out.ooc_refused) / (len(out.ooc_refused) or 1), 4),
        },
        "latency_ms": {
            "all": _lat(lat),
            "in_corpus": _lat(out.latency_ms),
            "out_of_corpus": _lat(out.ooc_latency_ms),
        },
    }
