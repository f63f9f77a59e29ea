"""Reciprocal rank fusion, keeping each signal's rank and score for explanation."""

from __future__ import annotations

from collections import defaultdict

RRF_K = 60


def rrf(
    rankings: dict[str, list[tuple[str, float]]], weights: dict[str, float] | None = None
) -> tuple[dict[str, float], dict[str, dict[str, dict[str, float]]]]:
    """Fuse ranked (id, score) lists; returns fused scores and per-id signal details."""
    weights = weights or {}
    fused: dict[str, float] = defaultdict(float)
    details: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for signal, ranked in rankings.items():
        w = weights.get(signal, 1.0)
        for rank, (doc_id, score) in enumerate(ranked, start=1):
            fused[doc_id] += w / (RRF_K + rank)
            details[doc_id][signal] = {"rank": rank, "score": round(float(score), 4)}
    return dict(fused), dict(details)
