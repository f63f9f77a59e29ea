"""Evaluate query-by-photo: perturbed copies of indexed figures, and out-of-corpus photos."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from localrag.answer import Answerer
from localrag.bench.synthetic import figure as synthetic_figure
from localrag.embed.phash import near_duplicate_groups, phash
from localrag.evaluation.perturb import PERTURBATIONS, random_query
from localrag.retrieve import Retriever


@dataclass
class Outcome:
    """Ranks of the source figure and latencies, per perturbation."""

    ranks: dict[str, list[int | None]] = field(default_factory=dict)
    grouped: dict[str, list[int | None]] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    ooc_rejected: list[bool] = field(default_factory=list)
    ooc_refused: list[bool] = field(default_factory=list)
    ooc_latency_ms: list[float] = field(default_factory=list)


def indexed_figures(
    retriever: Retriever, limit: int | None, seed: int, exclude: str | None = None
) -> list[tuple[str, str, str]]:
    """(figure id, image path, key) of indexed figures, a seeded sample when limit is set.

    The key (file name, page, figure number) seeds each figure's queries: ids hash the
    source's full path, so seeding by id would draw other queries in another checkout.
    """
    figs = [
        (i, m["image"], f"{Path(str(m.get('source'))).name}:{m.get('page')}:{m.get('figure')}")
        for i, _, m in retriever.store.all_documents("figures")
        if m.get("image") and not (exclude and exclude in str(m.get("source")))
    ]
    figs.sort(key=lambda f: (f[2], f[0]))
    if limit is not None and len(figs) > limit:
        figs = random.Random(seed).sample(figs, limit)
    return figs


def _rank(hits: list[Any], targets: set[str]) -> int | None:
    """1-based rank of the first figure hit among targets."""
    figure_ids = [h.id for h in hits if h.figure is not None]
    return next((r for r, i in enumerate(figure_ids, start=1) if i in targets), None)


def duplicate_groups(figs: list[tuple[str, str, str]]) -> dict[str, set[str]]:
    """Each figure's near-duplicates (itself included), by perceptual hash."""
    hashes = []
    for _, path, _ in figs:
        with Image.open(path) as im:
            hashes.append(phash(im))
    labels = near_duplicate_groups(hashes)
    members: dict[int, set[str]] = {}
    for (fid, _, _), g in zip(figs, labels, strict=True):
        members.setdefault(g, set()).add(fid)
    return {fid: members[g] for (fid, _, _), g in zip(figs, labels, strict=True)}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))]


def _queries(
    src: Image.Image, key: str, seed: int, names: list[str] | None, per_figure: int
) -> list[tuple[tuple[str, ...], Image.Image]]:
    """The fixed set (one query per named perturbation) or per_figure randomised queries."""
    if names:
        return [((n,), PERTURBATIONS[n](src, random.Random(f"{seed}:{key}:{n}"))) for n in names]
    return [random_query(src, random.Random(f"{seed}:{key}:{j}")) for j in range(per_figure)]


def evaluate(
    retriever: Retriever,
    perturbations: list[str] | None = None,
    limit: int | None = None,
    n_ooc: int = 40,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    exclude: str | None = None,
    per_figure: int = 8,
) -> dict[str, Any]:
    """Run the perturbed queries of every indexed figure and the out-of-corpus queries.

    perturbations: names from the fixed set (one query each); None draws per_figure randomised
    queries per figure instead, each one to three families with parameters drawn from ranges.
    A query counts under every family it combines, and under `combo_N` for its N families.
    """
    names = perturbations
    out = Outcome()
    figs = indexed_figures(retriever, limit, seed, exclude)
    groups = duplicate_groups(indexed_figures(retriever, None, seed, exclude))
    # warm-up, untimed: model loads belong to start-up, not to query latency
    retriever.search("", synthetic_figure(1), k=5)
    if figs:
        with Image.open(figs[0][1]) as im:
            retriever.search("", im.convert("RGB"), k=5)
    for fid, path, key in figs:
        with Image.open(path) as im:
            src = im.convert("RGB")
        for families, query in _queries(src, key, seed, names, per_figure):
            t = time.perf_counter()
            resp = retriever.search("", query, k=5)
            out.latency_ms.append((time.perf_counter() - t) * 1000)
            strict, grouped = _rank(resp.hits, {fid}), _rank(resp.hits, groups.get(fid, {fid}))
            keys = list(families) if names else [*families, f"combo_{len(families)}"]
            for name in keys:
                out.ranks.setdefault(name, []).append(strict)
                out.grouped.setdefault(name, []).append(grouped)
            out.ranks.setdefault("_all", []).append(strict)
            out.grouped.setdefault("_all", []).append(grouped)
            if progress:
                progress(1)
    for j in range(n_ooc):
        rng = random.Random(f"ooc:{seed}:{j}")
        ooc = synthetic_figure(10_000_000 + j)
        query = PERTURBATIONS[rng.choice(names)](ooc, rng) if names else random_query(ooc, rng)[1]
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
    """recall@1, recall@5, MRR per family and overall, strict and with near-duplicates grouped."""

    def stats(ranks: list[int | None]) -> dict[str, float]:
        n = len(ranks) or 1
        return {
            "n": len(ranks),
            "recall@1": round(sum(r == 1 for r in ranks) / n, 4),
            "recall@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 4),
            "mrr": round(sum(1 / r for r in ranks if r) / n, 4),
        }

    lat = out.latency_ms + out.ooc_latency_ms
    return {
        "overall": stats(out.ranks.get("_all", [])),
        "overall_grouped": stats(out.grouped.get("_all", [])),
        "per_perturbation": {k: stats(v) for k, v in sorted(out.ranks.items()) if k != "_all"},
        "per_perturbation_grouped": {k: stats(v) for k, v in sorted(out.grouped.items()) if k != "_all"},
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
