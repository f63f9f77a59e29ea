"""Hybrid retrieval over the three collections, with spatial verification of figures."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from localrag.components import Components
from localrag.config import Settings
from localrag.describe.photo import PhotoReader
from localrag.embed import paper
from localrag.embed.base import ImageEmbedder, TextEmbedder
from localrag.embed.orb import features_path, read_features
from localrag.embed.phash import near_duplicate_groups, phash
from localrag.embed.views import view_scores
from localrag.errors import ConfigError
from localrag.retrieve import verify as sv
from localrag.retrieve.fusion import rrf
from localrag.retrieve.keyword import KeywordIndex, PersistentKeyword
from localrag.state import State
from localrag.store import SearchResult, Store
from localrag.store.blobs import Blobs

CANDIDATES = 20
# Figures re-scored by their view vectors (a photo of a part of a figure), then verified:
# both bounded, so a query's cost does not grow with the collection.
RESCORE = 50
VERIFY_TOP = 12
# A window must beat the whole figure's match by this much to lift it: each figure has five
# windows, five more chances to resemble a photo by accident, and the lifted figures pushed
# true matches out of the top 5 (asymptote.pdf's randomised queries, shortlist recall@5:
# 0.945 with no margin, 0.952 at 0.03, 0.958 at 0.05, 0.954 at 0.08; chosen on seed 0).
VIEW_MARGIN = 0.05
# Exact search below this many figures: HNSW loses outliers in collections dominated by one
# dense cluster of near-identical figures (measured: 3 of 7 unreachable among 10k), and a
# 50k x 744 matrix product still takes only milliseconds.
EXACT_MAX = 50_000
# A text query's keyword search (SQLite) and its two dense searches (Chroma's Rust core, or a
# server over HTTP) run outside the GIL, as does a photo's geometric verification (OpenCV):
# side by side, a query costs the slowest of them.
_SEARCHES = ThreadPoolExecutor(max_workers=3, thread_name_prefix="localrag-search")


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
    photo_text: str = ""
    visual_match: bool = False
    best_photo_similarity: float = 0.0
    near_duplicates: list[list[int]] = field(default_factory=list)
    photo_rectified: bool = False

    def as_json(self) -> dict[str, Any]:
        """The stable `search --json` document (plus what the photo matched, if one was given)."""
        return {
            "query": self.query,
            "hits": [h.as_json() for h in self.hits],
            "visual_match": self.visual_match,
            "photo_text": self.photo_text or None,
            "near_duplicates": self.near_duplicates,
            "photo_rectified": self.photo_rectified,
        }


@dataclass
class Signals:
    """Each retrieval signal's ranked (id, score) list, and every record any of them found."""

    rankings: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    found: dict[str, SearchResult] = field(default_factory=dict)

    def add(self, signal: str, results: list[SearchResult]) -> None:
        """Record one signal's results."""
        self.rankings[signal] = [(r.id, r.similarity) for r in results]
        for r in results:
            self.found.setdefault(r.id, r)

    def best(self, *signals: str) -> float:
        """The top similarity among the given signals (0 when none ran)."""
        return max((ranked[0][1] for s in signals if (ranked := self.rankings.get(s))), default=0.0)


class Retriever:
    """Searches one store with the models of one profile."""

    def __init__(
        self,
        settings: Settings,
        *,
        text_embedder: TextEmbedder,
        image_embedder: ImageEmbedder,
        photo_reader: PhotoReader,
        fingerprints: dict[str, str],
        query_ocr: str = "auto",
    ) -> None:
        """Models (lazy themselves) and the keyword index load on first use.

        query_ocr: "auto" reads the photo only when no figure verifies (it costs more than the
        whole visual path on a CPU), "always" or "never".
        """
        self.settings = settings
        self.text_embedder = text_embedder
        self.image_embedder = image_embedder
        self.photo_reader = photo_reader
        self.fingerprints = fingerprints
        self.query_ocr = query_ocr
        self._generation: int | None = None
        self._reload = threading.Lock()

    @classmethod
    def of(cls, settings: Settings, components: Components, query_ocr: str = "auto") -> Retriever:
        """A retriever over the profile's models."""
        return cls(
            settings,
            text_embedder=components.text_embedder,
            image_embedder=components.image_embedder,
            photo_reader=components.photo_reader,
            fingerprints=components.fingerprints(),
            query_ocr=query_ocr,
        )

    @cached_property
    def store(self) -> Store:
        """The store, opened for reading and checked against the profile's models."""
        return Store(
            self.settings.store_location,
            self.fingerprints,
            Blobs(self.settings.blobs_dir),
            readonly=True,
            owner=self.state.index_id(),
        )

    @cached_property
    def state(self) -> State:
        """The state DB, read-only: only its generation counter is consulted."""
        return State(self.settings.state_db, readonly=True)

    def refresh(self) -> bool:
        """Reload when another process has changed the index since this one read it.

        A long-lived reader (a server) would otherwise search vectors and keyword postings
        of records that no longer exist. Returns whether anything was reloaded.
        """
        gen = self.state.generation()
        if gen == self._generation:
            return False
        with self._reload:  # threads of a server: one reloads, the others see it done
            if gen == self._generation:
                return False
            stale = self._generation is not None
            if stale:
                self.store.reopen()
                for cached in ("keyword", "_image_matrix"):
                    self.__dict__.pop(cached, None)
            self._generation = gen
        return stale

    @cached_property
    def keyword(self) -> KeywordIndex | PersistentKeyword:
        """BM25 over text chunks and figure descriptions: the state DB's FTS5 table when it has one.

        An index written before that table existed is searched with postings built here from
        every document in the store (seconds at 100k chunks); its next `index` run fills the table.
        """
        if self.state.has_keywords():
            return PersistentKeyword(self.state.db, lengths=self.state.keyword_lengths())
        docs = [(i, d) for name in ("text", "figures") for i, d, _ in self.store.all_documents(name)]
        return KeywordIndex(docs)

    def search(self, query: str = "", image: Image.Image | None = None, k: int = 5) -> SearchResponse:
        """Fused hits for a text query, an image query, or both."""
        if not query.strip() and image is None:
            raise ConfigError("give a question, an --image, or both")
        self.refresh()
        sig = Signals()
        matches: dict[str, sv.Match] = {}
        rectified = False
        if image is not None:
            # a photo of a printed page: the table around it cut away and the tilt undone, so the
            # figure is compared, and read, as it was printed
            flat = paper.rectify(image)
            rectified, image = flat is not image, flat
            matches = self._visual(image, sig)
        if query.strip():
            self._text(query, sig)
            if self.image_embedder.supports_text and image is None:
                tv = self.image_embedder.embed_texts([query])[0]
                sig.add("text_to_image", self.store.query("figure_images", tv, CANDIDATES))
        photo_text = ""
        if image is not None and (self.query_ocr == "always" or (self.query_ocr == "auto" and not matches)):
            photo_text = self.photo_reader.read(image)
            if photo_text:
                self._text(photo_text, sig, prefix="photo_")
        hits = self._fuse(sig, matches, k)
        return SearchResponse(
            query,
            hits,
            photo_text,
            bool(matches),
            sig.best("photo_text_dense", "photo_figure_dense"),
            near_duplicate_ranks(hits),
            rectified,
        )

    def _text(self, text: str, sig: Signals, prefix: str = "") -> None:
        """Dense search over chunks and figure descriptions, and BM25 over both."""
        keyword = _SEARCHES.submit(self.keyword.search, text, CANDIDATES)
        qv = self.text_embedder.embed_texts([text])[0]
        dense = [_SEARCHES.submit(self.store.query, name, qv, CANDIDATES) for name in ("text", "figures")]
        sig.add(prefix + "text_dense", dense[0].result())
        sig.add(prefix + "figure_dense", dense[1].result())
        kw = sig.rankings[prefix + "keyword"] = keyword.result()
        missing = [i for i, _ in kw if i not in sig.found]
        if missing:
            sig.found.update(self._fetch(missing))

    def _visual(self, image: Image.Image, sig: Signals) -> dict[str, sv.Match]:
        """Global-vector shortlist re-scored by view vectors, then geometric verification.

        Returns the verified matches; weak ones only join the ranking, as the `local` signal.
        """
        qv = np.asarray(self.image_embedder.embed_query(image), np.float32)
        res = self._rescored(self.nearest_figures(qv, RESCORE), qv)[:CANDIDATES]
        sig.add("visual", res)
        found = self._verify(image, res[:VERIFY_TOP])
        matches = {i: m for i, m in found.items() if m.verified}
        weak = {i: m for i, m in found.items() if not m.verified}
        for name, group in (("verified", matches), ("local", weak)):
            if group:
                ranked = sorted(group.items(), key=lambda kv: -kv[1].inliers)
                sig.rankings[name] = [(i, float(m.inliers)) for i, m in ranked]
        return matches

    def _rescored(self, res: list[SearchResult], vectors: np.ndarray) -> list[SearchResult]:
        """Each figure scored by the best of its whole and its windows (a photo of a part)."""
        fp = self.image_embedder.fingerprint
        out = []
        for r in res:
            best = r.similarity
            feats = self._features(r)
            views = None if feats is None else view_scores(feats, vectors, fp)
            if views is not None:
                best = max(best, views - VIEW_MARGIN)
            out.append(SearchResult(r.id, best, r.document, r.metadata))
        return sorted(out, key=lambda r: -r.similarity)

    def _features(self, r: SearchResult) -> sv.Features | None:
        """A shortlisted figure's stored features; None when its blob is damaged or gone."""
        if not r.metadata.get("image"):
            return None
        try:
            # a query never writes: a missing feature file is computed in memory
            return sv.load_features(Path(r.metadata["image"]), save=False)
        except Exception:  # a damaged or vanished blob costs this candidate, never the search
            return None

    @cached_property
    def _image_matrix(self) -> tuple[list[str], np.ndarray] | None:
        if self.store.count("figure_images") > EXACT_MAX:
            return None
        return self.store.all_vectors("figure_images")

    def nearest_figures(self, vectors: np.ndarray, k: int) -> list[SearchResult]:
        """The k figures nearest a vector, or nearest any of several (rows): exact up to EXACT_MAX."""
        qs = np.atleast_2d(np.asarray(vectors, np.float32))
        exact = self._image_matrix
        if exact is None:
            best: dict[str, SearchResult] = {}
            for q in qs:
                for r in self.store.query("figure_images", q, k):
                    if r.id not in best or r.similarity > best[r.id].similarity:
                        best[r.id] = r
            return sorted(best.values(), key=lambda r: -r.similarity)[:k]
        ids, mat = exact
        if not ids:
            return []
        # one matrix-vector product per reading: a matrix product wakes BLAS threads that spin
        # on both cores while verification and OCR need them
        sims = np.max([mat @ q for q in qs], axis=0)
        top = np.argsort(-sims)[:k]
        by_id = {r.id: r for r in self.store.get("figure_images", [ids[i] for i in top])}
        return [
            SearchResult(ids[i], float(sims[i]), by_id[ids[i]].document, by_id[ids[i]].metadata)
            for i in top
            if ids[i] in by_id
        ]

    def _fuse(self, sig: Signals, matches: dict[str, sv.Match], k: int) -> list[Hit]:
        fused, details = rrf(sig.rankings, {"verified": 3.0, "local": 2.0, "visual": 1.5})
        found = sig.found
        for i, m in matches.items():
            fused[i] += 1.0 + m.inliers / 10000  # a geometric match outranks any unverified hit
        hits = []
        # an id whose record is gone (deleted by a concurrent re-index) is skipped, never fatal
        order = sorted(fused, key=lambda i: -fused[i])
        alive = [i for i in order if i in found and "source" in found[i].metadata]
        for rank, i in enumerate(alive[:k], start=1):
            md = found[i].metadata
            hit = Hit(
                id=i,
                score=fused[i],
                kind=str(md.get("kind", "text")),
                source=str(md["source"]),
                page=int(md["page"]),
                figure=md.get("figure"),
                image=md.get("image"),
                text=found[i].document,
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
        return hits

    def _fetch(self, ids: list[str]) -> dict[str, SearchResult]:
        got = [_SEARCHES.submit(self.store.get, name, ids) for name in ("text", "figures")]
        return {r.id: r for part in got for r in part.result()}

    def _verify(self, image: Image.Image, cands: list[SearchResult]) -> dict[str, sv.Match]:
        q = self.image_embedder.features(image)

        def one(r: SearchResult) -> sv.Match | None:
            feats = self._features(r)
            try:
                return None if feats is None else sv.match(q, feats)
            except Exception:  # a malformed feature file costs this candidate, never the search
                return None

        # OpenCV's matching and RANSAC run outside the GIL: candidates are verified side by side
        unique = list({r.id: r for r in cands}.values())  # one verification per figure
        found = _SEARCHES.map(one, unique)
        return {r.id: m for r, m in zip(unique, found, strict=True) if m is not None}


@lru_cache(maxsize=4096)
def _phash_of(path: str) -> int | None:
    """A figure's hash from its feature file; decoded from its PNG for files written without one."""
    try:
        feats = read_features(features_path(Path(path)))
        if feats is not None and feats.phash is not None:
            return feats.phash
        with Image.open(path) as im:
            return phash(im)
    except Exception:  # a vanished or damaged blob just cannot be compared
        return None


def near_duplicate_ranks(hits: list[Hit]) -> list[list[int]]:
    """Ranks of figure hits that show near-identical figures, grouped (repeated plots, revisions)."""
    figs = [h for h in hits if h.figure is not None and h.image]
    groups: dict[int, list[int]] = {}
    for h, g in zip(figs, near_duplicate_groups([_phash_of(h.image) for h in figs]), strict=True):
        groups.setdefault(g, []).append(h.rank)
    return [ranks for ranks in groups.values() if len(ranks) > 1]
