"""Chroma, embedded or a server: text chunks, figure descriptions and figure image vectors."""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from localrag.errors import DiskFullError, LocalragError, ModelMismatchError, StoreError
from localrag.state import writable
from localrag.store.blobs import Blobs
from localrag.store.location import StoreLocation

T = TypeVar("T")

# collection name -> the role of the model that fills it
COLLECTIONS = {
    "text": "text_embedder",
    "figures": "text_embedder",
    "figure_images": "image_embedder",
}
_BATCH = 1000
REBUILDING = "__rebuilding"  # suffix of a collection being re-embedded (Store.rebuild)
REBUILD_BATCH = 64  # records re-embedded per write: progress moves every few seconds
# HNSW build and search settings for new collections: Chroma's search_ef default of 10 misses
# true neighbours (chroma#1205). scripts/bench_scale.py measures recall@10 against exact search
# at a million chunks: 0.970 at search_ef 128, 0.985 at 256, for 4 ms a query either way.
SEARCH_EF = 256
HNSW = {"hnsw:construction_ef": 128, "hnsw:search_ef": SEARCH_EF, "hnsw:M": 16}
LOCKED_TRIES = 6  # waits of 20, 40, ... 320 ms: 0.6 s in all before a lock is reported


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


def _reading(fn: Callable[..., T]) -> Callable[..., T]:
    """Make a read fault one StoreError, after one retry on a private copy when reading only."""

    @functools.wraps(fn)
    def read(self: Store, *args: Any, **kwargs: Any) -> T:
        try:
            return fn(self, *args, **kwargs)
        except LocalragError:
            raise
        except Exception as exc:
            if self._fall_back_to_copy(exc):
                return read(self, *args, **kwargs)
            raise StoreError(f"{self.label}: cannot read the vector store ({_reason(exc)})") from exc

    return read


class Store:
    """The three collections of one data directory."""

    def __init__(
        self,
        location: StoreLocation | Path,
        fingerprints: dict[str, str],
        blobs: Blobs | None = None,
        readonly: bool = False,
        owner: str | None = None,
    ) -> None:
        """Open the store; fingerprints maps role -> the configured model.

        location: the embedded Chroma folder, or a Chroma server (`--store http://HOST:PORT`).
        readonly: for commands that only read. Collections are never created, and an index on
        a read-only file system is searched from a private temporary copy, because Chroma
        writes its own bookkeeping even to answer a query.
        owner: the data dir's index id. A server's collections record it, so two data dirs
        pointed at one Chroma database are refused instead of mixing their documents.
        """
        self.location = location if isinstance(location, StoreLocation) else StoreLocation(path=location)
        self.dir = self.location.path  # None for a server
        self.label = self.location.label
        self.fingerprints = fingerprints
        data_dir = self.dir.parent if self.dir is not None else None
        if blobs is None and data_dir is None:
            raise StoreError(f"{self.label}: a server store needs the data dir's blob folder")
        self.blobs = blobs or Blobs(data_dir / "blobs")  # type: ignore[operator]
        self.readonly = readonly
        self.owner = owner
        self.notice = ""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._copying = False  # reading a private copy after a fault in place
        self._stale = False  # a write failed and this process's Chroma system was dropped
        self._cols: dict[str, Any] = {}
        self._open()

    def _open(self) -> None:
        if self.dir is None:
            self.client = self._server_client()
            return
        import chromadb
        from chromadb.config import Settings

        path = self.dir
        if self.readonly and (self._copying or not self.dir.exists() or not writable(self.dir)):
            self._tmp = self._tmp or tempfile.TemporaryDirectory(prefix="localrag-ro-")
            path = Path(self._tmp.name) / "chroma"
            if path.exists():  # a reopen takes a fresh copy: the original may have changed
                shutil.rmtree(path)
            if self.dir.exists():
                shutil.copytree(self.dir, path)
                self.notice = self.notice or f"{self.dir} is read-only: searching a temporary copy of it"
        elif self.readonly:
            self._tmp = None  # the index exists now (or is writable again): read it in place
            self.notice = ""
        else:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.dir}: cannot create the index folder ({exc.strerror})") from exc
        try:
            self.client = chromadb.PersistentClient(
                path=str(path), settings=Settings(anonymized_telemetry=False, allow_reset=False)
            )
        except Exception as exc:
            raise StoreError(f"{self.dir}: cannot open the Chroma store ({_reason(exc)})") from exc

    def _server_client(self) -> Any:
        """An HttpClient on the location's database, created first when writing."""
        import chromadb
        from chromadb.config import Settings

        loc = self.location
        headers = {"Authorization": f"Bearer {loc.token}"} if loc.token else None
        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        try:
            if not self.readonly:
                admin = chromadb.AdminClient(
                    Settings(
                        chroma_api_impl="chromadb.api.fastapi.FastAPI",
                        chroma_server_host=loc.host,
                        chroma_server_http_port=loc.port,
                        chroma_server_ssl_enabled=loc.ssl,
                        chroma_server_headers=headers,
                        anonymized_telemetry=False,
                    )
                )
                try:
                    admin.get_database(loc.database)
                except Exception:  # not there yet: a first index creates it
                    admin.create_database(loc.database)
            return chromadb.HttpClient(
                host=loc.host,
                port=loc.port,
                ssl=loc.ssl,
                headers=headers,
                settings=settings,
                database=loc.database,
            )
        except Exception as exc:
            raise StoreError(f"{self.label}: cannot reach the Chroma server ({_reason(exc)})") from exc

    def reopen(self) -> None:
        """Drop everything cached in this process (HNSW segments included) and open again.

        Another process that re-indexed leaves this process's in-memory vector index
        pointing at deleted records; a fresh client reads the current files. A reader that
        fell back to a copy tries in place again.
        """
        self._cols.clear()
        if self.dir is not None:
            self.client.close()
        self._copying = False
        self._open()

    def _fall_back_to_copy(self, exc: Exception) -> bool:
        """A reader whose store cannot be read in place (a full disk) retries on a private copy."""
        if not self.readonly or self._tmp is not None or self.dir is None or not self.dir.exists():
            return False
        self._cols.clear()
        self.client.close()
        self._copying = True
        try:
            self._open()
        except (OSError, StoreError):  # no room for the copy either: stay where we were
            self._copying, self._tmp = False, None
            self._open()
            return False
        self.notice = f"{self.dir} cannot be read in place ({_reason(exc)}): searching a temporary copy"
        return True

    def collection(self, name: str) -> Any:
        """Get (creating it when writing) a collection, refusing one built by another model."""
        if self._stale:  # a write failed: open a fresh client before anything else
            self._stale = False
            self._open()
        if name in self._cols:
            return self._cols[name]
        want = self.fingerprints[COLLECTIONS[name]]
        self._finish_rebuild(name)
        if self.readonly:
            try:
                col = self.client.get_collection(name, embedding_function=None)
            except Exception:  # not created yet: nothing of this kind is indexed
                return None
        else:
            col = self._write(
                lambda: self.client.get_or_create_collection(
                    name,
                    embedding_function=None,  # localrag embeds; Chroma must never pick a default model
                    metadata=self._new_meta(name),
                )
            )
        have = (col.metadata or {}).get("embedder")
        if have != want:
            # image vectors can be computed again from the stored figures; text needs its files
            fix = (
                "run `localrag index --reembed-images PATHS` to re-embed its figures"
                if COLLECTIONS[name] == "image_embedder"
                else "use the profile that built it, or index into a new --data-dir"
            )
            raise ModelMismatchError(
                f"{self.label}: collection '{name}' was built with {have}, but the profile uses {want}: {fix}"
            )
        owner = (col.metadata or {}).get("localrag_index")
        if self.dir is None and self.owner and owner and owner != self.owner:
            raise StoreError(
                f"{self.label}: collection '{name}' belongs to another localrag data dir; give each "
                f"data dir its own Chroma database ({self.label.rstrip('/')}/NAME)"
            )
        if not self.readonly:
            _widen_search(col)
        self._cols[name] = col
        return col

    def _new_meta(self, name: str) -> dict[str, Any]:
        """A new collection's metadata: the model that fills it, and its HNSW settings."""
        want = self.fingerprints[COLLECTIONS[name]]
        meta: dict[str, Any] = {"embedder": want, "hnsw:space": "cosine", **HNSW}
        if self.dir is None and self.owner:
            meta["localrag_index"] = self.owner
        return meta

    def rebuild(
        self,
        name: str,
        vectors: Callable[[list[Record]], Sequence[np.ndarray | None]],
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Re-embed a collection that another model built; returns the records re-embedded.

        vectors(records) gives the profile's vector of each record of a batch, or None to drop
        it (records carry no vector; image paths are resolved). They fill a side collection that
        takes the old one's place only once complete, so an interruption leaves the old
        collection whole: run it again. progress(done, total) comes first, then after each batch.
        """
        self._finish_rebuild(name)
        try:
            old = self.client.get_collection(name, embedding_function=None)
        except Exception:  # nothing of this kind is indexed
            return 0
        if (old.metadata or {}).get("embedder") == self.fingerprints[COLLECTIONS[name]]:
            return 0
        side = name + REBUILDING
        self._drop(side)  # the remains of an interrupted run
        meta = self._new_meta(name)
        new = self._write(lambda: self.client.create_collection(side, embedding_function=None, metadata=meta))
        total, kept = old.count(), 0
        if progress:
            progress(0, total)
        for offset in range(0, total, REBUILD_BATCH):
            got = old.get(include=["documents", "metadatas"], limit=REBUILD_BATCH, offset=offset)
            recs = [
                Record(i, np.zeros(0, np.float32), d or "", self._meta(m or {}))
                for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
            ]
            rows = [(j, v) for j, v in enumerate(vectors(recs)) if v is not None]
            kept += len(rows)
            if rows:
                self._write(
                    lambda got=got, rows=rows: new.upsert(
                        ids=[got["ids"][j] for j, _ in rows],
                        embeddings=np.stack([v for _, v in rows]).astype(np.float32),
                        documents=[got["documents"][j] for j, _ in rows],
                        metadatas=[got["metadatas"][j] for j, _ in rows],
                    )
                )
            if progress:
                progress(min(offset + REBUILD_BATCH, total), total)
        self._write(lambda: self.client.delete_collection(name))
        self._finish_rebuild(name)
        self._cols.pop(name, None)
        return kept

    def _finish_rebuild(self, name: str) -> None:
        """Put a complete rebuilt collection in its place (a side collection alone is complete)."""
        if self.readonly:
            return
        try:
            side = self.client.get_collection(name + REBUILDING, embedding_function=None)
        except Exception:  # the usual case: no rebuild under way
            return
        try:
            self.client.get_collection(name, embedding_function=None)
        except Exception:  # the old one is gone, so the side one was filled: it takes the name
            self._write(lambda: side.modify(name=name))

    def _drop(self, name: str) -> None:
        try:
            self.client.get_collection(name, embedding_function=None)
        except Exception:
            return
        self._write(lambda: self.client.delete_collection(name))

    def _forget_system(self) -> None:
        """After a failed write, make this process's next client start a fresh Chroma system.

        Chroma keeps one system per path and process; one whose compaction failed (a full
        disk) blocks every later write from this process, even once there is room again.
        """
        self._cols.clear()
        if self.dir is None:  # a server keeps its own state: a new client is enough
            self._stale = True
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        systems = getattr(SharedSystemClient, "_identifier_to_system", {})
        counts = getattr(SharedSystemClient, "_identifier_to_refcount", {})
        for key in [k for k in systems if Path(k) == self.dir]:
            systems.pop(key, None)  # not stopped: a stop can wait on the stuck compaction
            counts.pop(key, None)
        self._cols.clear()
        self._stale = True

    def _write(self, fn: Callable[[], T]) -> T:
        """Run a Chroma write, turning its failures into one StoreError a user can act on."""
        try:
            return _retry_locked(fn)
        except StoreError:
            raise
        except Exception as exc:
            msg = _reason(exc)
            self._forget_system()
            if any(w in msg.lower() for w in ("disk", "space", "compaction", "i/o")):
                raise DiskFullError(
                    f"{self.label}: a write to the vector store failed ({msg}); "
                    "free some disk space and run again"
                ) from exc
            raise StoreError(f"{self.label}: a write to the vector store failed ({msg})") from exc

    @_reading
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
            self._write(
                lambda part=part: col.upsert(
                    ids=[r.id for r in part],
                    embeddings=np.stack([r.vector for r in part]).astype(np.float32),
                    documents=[r.document for r in part],
                    metadatas=[_flat(r.metadata) for r in part],
                )
            )

    def delete_source(self, source: str) -> None:
        """Remove everything that came from one source file."""
        for name in COLLECTIONS:
            col = self.collection(name)
            self._write(lambda col=col: col.delete(where={"source": source}))

    def delete_ids(self, name: str, ids: list[str]) -> None:
        """Remove records by id."""
        col = self.collection(name)
        for i in range(0, len(ids), _BATCH):
            self._write(lambda i=i: col.delete(ids=ids[i : i + _BATCH]))

    @_reading
    def ids_for_source(self, name: str, source: str) -> list[str]:
        """Ids of one source's records in a collection."""
        col = self.collection(name)
        return [] if col is None else list(col.get(where={"source": source}, include=[])["ids"])

    @_reading
    def count(self, name: str) -> int:
        """Records in a collection."""
        col = self.collection(name)
        return 0 if col is None else int(col.count())

    @_reading
    def metadatas(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """Every (id, raw metadata) of a collection; image keys stay as stored."""
        col = self.collection(name)
        out: list[tuple[str, dict[str, Any]]] = []
        if col is None:
            return out
        total = col.count()
        for offset in range(0, total, 5000):
            got = col.get(include=["metadatas"], limit=5000, offset=offset)
            out.extend((i, _unflat(m or {})) for i, m in zip(got["ids"], got["metadatas"], strict=True))
        return out

    @_reading
    def records(self, name: str, ids: list[str]) -> list[Record]:
        """Whole records (vector included) by id, as stored, for re-keying them."""
        col = self.collection(name)
        out: list[Record] = []
        for i in range(0, len(ids), _BATCH):
            got = col.get(ids=ids[i : i + _BATCH], include=["embeddings", "documents", "metadatas"])
            out.extend(
                Record(rid, np.asarray(v, np.float32), d or "", _unflat(m or {}))
                for rid, v, d, m in zip(
                    got["ids"], got["embeddings"], got["documents"], got["metadatas"], strict=True
                )
            )
        return out

    @_reading
    def query(
        self, name: str, vector: np.ndarray, k: int, where: dict[str, Any] | None = None
    ) -> list[SearchResult]:
        """K nearest neighbours by cosine similarity."""
        col = self.collection(name)
        if col is None or k <= 0:
            return []
        # no count() first: it is a scan of the collection (tens of ms at a million records),
        # and Chroma returns what there is when asked for more, or nothing when it is empty
        res = col.query(
            query_embeddings=[np.asarray(vector, np.float32)],
            n_results=k,
            where=where,
            include=["distances", "documents", "metadatas"],
        )
        # a record without metadata was deleted after this process loaded its vectors: skip it
        return [
            SearchResult(i, 1.0 - float(d), doc or "", self._meta(meta))
            for i, d, doc, meta in zip(
                res["ids"][0],
                res["distances"][0],
                res["documents"][0],
                res["metadatas"][0],
                strict=True,
            )
            if meta
        ]

    @_reading
    def get(self, name: str, ids: list[str]) -> list[SearchResult]:
        """Records by id (similarity 0: they were not found by this collection's vectors)."""
        col = self.collection(name)
        if col is None or not ids:
            return []
        got = col.get(ids=ids, include=["documents", "metadatas"])
        return [
            SearchResult(i, 0.0, d or "", self._meta(m))
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
            if m
        ]

    @_reading
    def all_vectors(self, name: str) -> tuple[list[str], np.ndarray]:
        """Every id and vector of a collection, for exact search."""
        col = self.collection(name)
        ids: list[str] = []
        vecs: list[np.ndarray] = []
        for offset in range(0, 0 if col is None else col.count(), 5000):
            got = col.get(include=["embeddings"], limit=5000, offset=offset)
            ids.extend(got["ids"])
            vecs.append(np.asarray(got["embeddings"], np.float32))
        return ids, (np.concatenate(vecs) if vecs else np.zeros((0, 0), np.float32))

    @_reading
    def all_documents(self, name: str) -> list[tuple[str, str, dict[str, Any]]]:
        """Every (id, document, metadata) of a collection, for keyword search."""
        col = self.collection(name)
        out = []
        total = 0 if col is None else col.count()
        for offset in range(0, total, 5000):
            got = col.get(include=["documents", "metadatas"], limit=5000, offset=offset)
            out.extend(
                (i, d or "", self._meta(m))
                for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
                if m
            )
        return out

    def _meta(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Stored metadata as callers want it: JSON decoded, image keys as absolute paths."""
        meta = _unflat(raw)
        if meta.get("image"):
            meta["image"] = str(self.blobs.path(str(meta["image"])))
        return meta


def _widen_search(col: Any) -> None:
    """Raise a collection built with a narrower HNSW search to SEARCH_EF (a setting Chroma lets change)."""
    try:
        have = (col.configuration or {}).get("hnsw", {}).get("ef_search")
        if have is not None and have < SEARCH_EF:
            _retry_locked(lambda: col.modify(configuration={"hnsw": {"ef_search": SEARCH_EF}}))
    except Exception:  # a Chroma without the call searches as the collection was built: still correct
        return


def _retry_locked(fn: Callable[[], T]) -> T:
    """Run a write, again after a short wait while SQLite reports the database locked.

    Embedded Chroma's SQLite answers "database is locked" at once, without waiting, when two of
    its own connections would otherwise deadlock (a reader upgrading to a writer beside another).
    SQLite rolled the statement back, and localrag's writes are upserts and deletes by key, so
    running it again is safe.
    """
    for attempt in range(LOCKED_TRIES - 1):
        try:
            return fn()
        except Exception as exc:
            if "database is locked" not in str(exc).lower():
                raise
            time.sleep(0.02 * 2**attempt)
    return fn()


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


def _reason(exc: Exception) -> str:
    """The first line of a Chroma error, without its Rust backtrace."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
