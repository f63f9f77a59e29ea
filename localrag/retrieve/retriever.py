"""Hybrid retrieval over the three collections, with spatial verification of figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from PIL import Image

from localrag.components import Components
from localrag.config import Settings
from localrag.errors import ConfigError
from localrag.retrieve import verify as sv
from localrag.retrieve.fusion import rrf
from localrag.retrieve.keyword import KeywordIndex
from localrag.store import SearchResult, Store

CANDIDATES = 20
VERIFY_TOP = 8


@dataclass
class Hit:
    """One fused search result; `figure` is None for text."""

    id: str
    score: float
    kind: str
    source: str
    page: int
    figure: int | None
    image: str | None
    text: str
    caption: str = ""
    signals: dict[str, dict[str, float]] = field(default_factory=dict)
    match: dict[str, Any] | None = None
    rank: int = 0

    def as_json(self) -> dict[str, Any]:
        """The stable JSON contract of a hit (extra keys explain the ranking)."""
        return {
            "rank": self.rank,
            "score": round(self.score, 5),
            "kind": self.kind,
            "source": self.source,
            "page": self.page,
            "figure": self.figure,
            "image": self.image,
            "text": self.text,
            "caption": self.caption or None,
            "signals": self.signals,
            "match": self.match,
        }


@dataclass
class SearchResponse:
    """Hits plus what the answerer needs to decide whether to refuse."""

    query: str
    hits: list[Hit]
    best_text_similarity: float
    query_ocr: str = ""
    visual_match: bool = False

    def as_json(self) -> dict[str, Any]:
        """The stable `search --json` document."""
        return {"query": self.query, "hits": [h.as_json() for h in self.hits]}


class Retriever:
    """Searches one store with the models of one profile."""

    def __init__(self, settings: Settings, components: Components) -> None:
        """Models and the keyword index load on first use."""
        self.settings = settings
        self.c = components

    @cached_property
    def store(self) -> Store:
        """The store, checked against the profile's models."""
        return Store(self.settings.chroma_dir, self.c.fingerprints())

    @cached_property
    def keyword(self) -> KeywordIndex:
        """BM25 over text chunks and figure descriptions."""
        docs = [(i, d) for name in ("text", "figures") for i, d, _ in self.store.all_documents(name)]
        return KeywordIndex(docs)

    def search(self, query: str = "", image: Image.Image | None = None, k: int = 5) -> SearchResponse:
        """Fused hits for a text query, an image query, or both."""
        if not query.strip() and image is None:
            raise ConfigError("give a question, an --image, or both")
        rankings: dict[str, list[tuple[str, float]]] = {}
        found: dict[str, SearchResult] = {}
        query_ocr = ""
        if image is not None and self.c.ocr is not None:
            query_ocr = self.c.ocr.read(image)
        text_query = " ".join(t for t in (query.strip(), query_ocr) if t)
        best_sim = 0.0
        if text_query:
            qv = self.c.text_embedder.embed_texts([text_query])[0]
            for signal, name in (("text_dense", "text"), ("figure_dense", "figures")):
                res = self.store.query(name, qv, CANDIDATES)
                rankings[signal] = [(r.id, r.similarity) for r in res]
                found.update({r.id: r for r in res})
                best_sim = max([best_sim, *(r.similarity for r in res)])
            kw = self.keyword.search(text_query, CANDIDATES)
            rankings["keyword"] = kw
            missing = [i for i, _ in kw if i not in found]
            if missing:
                found.update(self._fetch(missing))
        if query.strip() and self.c.image_embedder.supports_text and image is None:
            tv = self.c.image_embedder.embed_texts([query])[0]
            res = self.store.query("figure_images", tv, CANDIDATES)
            rankings["text_to_image"] = [(r.id, r.similarity) for r in res]
            found.update({r.id: r for r in res if r.id not in found})
        matches: dict[str, sv.Match] = {}
        if image is not None:
            iv = self.c.image_embedder.embed_images([image])[0]
            res = self.store.query("figure_images", iv, CANDIDATES)
            rankings["visual"] = [(r.id, r.similarity) for r in res]
            found.update({r.id: r for r in res if r.id not in found})
            matches = self._verify(image, [r for r in res[:VERIFY_TOP]] + self._figs(rankings, found))
            if matches:
                ranked = sorted(matches.items(), key=lambda kv: -kv[1].inliers)
                rankings["verified"] = [(i, float(m.inliers)) for i, m in ranked]
        fused, details = rrf(rankings, {"verified": 3.0, "visual": 1.5})
        for i, m in matches.items():
            fused[i] += 1.0 + m.inliers / 10000  # a geometric match outranks any unverified hit
        order = sorted(fused, key=lambda i: -fused[i])[:k]
        hits = []
        for rank, i in enumerate(order, start=1):
            r = found[i]
            md = r.metadata
            hit = Hit(
                id=i,
                score=fused[i],
                kind=str(md.get("kind", "text")),
                source=str(md["source"]),
                page=int(md["page"]),
                figure=md.get("figure"),
                image=md.get("image"),
                text=r.document,
                caption=str(md.get("caption", "")),
                signals=details.get(i, {}),
                rank=rank,
            )
            if i in matches:
                hit.match = {
                    "inliers": matches[i].inliers,
                    "region": [round(x, 3) for x in matches[i].region],
                }
            hits.append(hit)
        return SearchResponse(query, hits, best_sim, query_ocr, bool(matches))

    def _figs(
        self, rankings: dict[str, list[tuple[str, float]]], found: dict[str, SearchResult]
    ) -> list[SearchResult]:
        ids = [i for i, _ in rankings.get("figure_dense", [])[:4]]
        return [found[i] for i in ids if i in found]

    def _fetch(self, ids: list[str]) -> dict[str, SearchResult]:
        return {r.id: r for name in ("text", "figures") for r in self.store.get(name, ids)}

    def _verify(self, image: Image.Image, cands: list[SearchResult]) -> dict[str, sv.Match]:
        q = sv.features(image)
        out: dict[str, sv.Match] = {}
        for r in cands:
            if r.id in out or not r.metadata.get("image"):
                continue
            try:
                with Image.open(r.metadata["image"]) as im:
                    m = sv.verify(q, sv.features(im))
            except OSError:
                continue
            if m is not None:
                out[r.id] = m
        return out
