"""Chroma, embedded: text chunks, figure descriptions and figure image vectors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from localrag.errors import ModelMismatchError, StoreError

# collection name -> the role of the model that fills it
COLLECTIONS = {
    "text": "text_embedder",
    "figures": "text_embedder",
    "figure_images": "image_embedder",
}
_BATCH = 1000


@dataclass
class Record:
    """One vector with its document and metadata."""

    id: str
    vector: np.ndarray
    document: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    """One nearest neighbour: similarity is 1 - cosine distance."""

    id: str
    similarity: float
    document: str
    metadata: dict[str, Any]


class Store:
    """The three collections of one data directory."""

    def __init__(self, chroma_dir: Path, fingerprints: dict[str, str]) -> None:
        """Open (creating) the store; fingerprints maps role -> the configured model."""
        import chromadb
        from chromadb.config import Settings

        chroma_dir.mkdir(parents=True, exist_ok=True)
        self.dir = chroma_dir
        self.fingerprints = fingerprints
        try:
            self.client = chromadb.PersistentClient(
                path=str(chroma_dir),
                settings=Settings(anonymized_telemetry=False, allow_reset=False),
            )
        except Exception as exc:
            raise StoreError(f"{chroma_dir}: cannot open the Chroma store ({exc})") from exc
        self._cols: dict[str, Any] = {}

    def collection(self, name: str) -> Any:
        """Get or create a collection, refusing one built by another model."""
        if name in self._cols:
            return self._cols[name]
        want = self.fingerprints[COLLECTIONS[name]]
        col = self.client.get_or_create_collection(
            name,
            embedding_function=None,  # localrag embeds; Chroma must never pick a default model
            metadata={"embedder": want, "hnsw:space": "cosine"},
        )
        have = (col.metadata or {}).get("embedder")
        if have != want:
            raise ModelMismatchError(
                f"{self.dir}: collection '{name}' was built with {have}, but the profile uses "
                f"{want}. Use the profile that built it, or index into a new --data-dir."
            )
        self._cols[name] = col
        return col

    def models(self) -> dict[str, str | None]:
        """Which model built each existing collection."""
        out: dict[str, str | None] = {}
        for col in self.client.list_collections():
            name = col if isinstance(col, str) else col.name
            meta = self.client.get_collection(name, embedding_function=None).metadata or {}
            out[name] = meta.get("embedder")
        return out

    def add(self, name: str, records: list[Record]) -> None:
        """Upsert records (ids are content-derived, so re-adding is idempotent)."""
        col = self.collection(name)
        for i in range(0, len(records), _BATCH):
            part = records[i : i + _BATCH]
            col.upsert(
                ids=[r.id for r in part],
                embeddings=np.stack([r.vector for r in part]).astype(np.float32),
                documents=[r.document for r in part],
                metadatas=[_flat(r.metadata) for r in part],
            )

    def delete_source(self, source: str) -> None:
        """Remove everything that came from one source file."""
        for name in COLLECTIONS:
            self.collection(name).delete(where={"source": source})

    def ids_for_source(self, name: str, source: str) -> list[str]:
        """Ids of one source's records in a collection."""
        return list(self.collection(name).get(where={"source": source}, include=[])["ids"])

    def count(self, name: str) -> int:
        """Records in a collection."""
        return int(self.collection(name).count())

    def query(
        self, name: str, vector: np.ndarray, k: int, where: dict[str, Any] | None = None
    ) -> list[SearchResult]:
        """K nearest neighbours by cosine similarity."""
        col = self.collection(name)
        n = col.count()
        if n == 0 or k <= 0:
            return []
        res = col.query(
            query_embeddings=[np.asarray(vector, np.float32)],
            n_results=min(k, n),
            where=where,
            include=["distances", "documents", "metadatas"],
        )
        return [
            SearchResult(i, 1.0 - float(d), doc or "", _unflat(meta or {}))
            for i, d, doc, meta in zip(
                res["ids"][0],
                res["distances"][0],
                res["documents"][0],
                res["metadatas"][0],
                strict=True,
            )
        ]

    def get(self, name: str, ids: list[str]) -> list[SearchResult]:
        """Records by id (similarity 0: they were not found by this collection's vectors)."""
        got = self.collection(name).get(ids=ids, include=["documents", "metadatas"])
        return [
            SearchResult(i, 0.0, d or "", _unflat(m or {}))
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]

    def all_vectors(self, name: str) -> tuple[list[str], np.ndarray]:
        """Every id and vector of a collection, for exact search."""
        col = self.collection(name)
        ids: list[str] = []
        vecs: list[np.ndarray] = []
        for offset in range(0, col.count(), 5000):
            got = col.get(include=["embeddings"], limit=5000, offset=offset)
            ids.extend(got["ids"])
            vecs.append(np.asarray(got["embeddings"], np.float32))
        return ids, (np.concatenate(vecs) if vecs else np.zeros((0, 0), np.float32))

    def all_documents(self, name: str) -> list[tuple[str, str, dict[str, Any]]]:
        """Every (id, document, metadata) of a collection, for keyword search."""
        col = self.collection(name)
        out = []
        total = col.count()
        for offset in range(0, total, 5000):
            got = col.get(include=["documents", "metadatas"], limit=5000, offset=offset)
            out.extend(
                (i, d or "", _unflat(m or {}))
                for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
            )
        return out


def _flat(meta: dict[str, Any]) -> dict[str, Any]:
    """Chroma metadata holds scalars only: JSON-encode the rest, drop None."""
    out: dict[str, Any] = {}
    for k, v in meta.items():
        if v is None:
            continue
        out[k] = v if isinstance(v, str | int | float | bool) else "json:" + json.dumps(v)
    return out


def _unflat(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        k: json.loads(v[5:]) if isinstance(v, str) and v.startswith("json:") else v for k, v in meta.items()
    }
