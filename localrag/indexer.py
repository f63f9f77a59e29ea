"""`index` as a sync: skip unchanged files, replace changed ones, prune vanished ones."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from localrag.components import Components
from localrag.config import Settings
from localrag.describe.base import Describer, Description, compose
from localrag.embed.base import ImageEmbedder, TextEmbedder
from localrag.embed.orb import read_features
from localrag.embed.views import figure_features
from localrag.errors import DiskFullError, IngestError, LocalragError, ModelServerError, StoreError
from localrag.ingest import Figure, ParsedDocument, content_id, discover, file_sha256, parse_stream
from localrag.pipeline import Prefetch
from localrag.retrieve.keyword import keyword_row
from localrag.sources import absolute_path, exists, printable, source_of
from localrag.state import FORMAT, Committed, FileRow, KeywordRow, State
from localrag.store import COLLECTIONS, Record, Store
from localrag.store.blobs import Blobs, features_key, key_for, page_key
from localrag.store.lock import writer_lock
from localrag.upgrade import upgrade

FLUSH_TEXTS = 256  # texts (chunks and figure descriptions) embedded in one call, across files
FLUSH_FILES = 32  # finished files written to the store together, at most
FLUSH_FIGURES = 32  # figure crops held for the embedder, at most (raster photos are large)
ROOM_FACTOR = 4  # free space wanted per byte of raw records before a file is written
ROOM_MARGIN = 1 << 20  # and this much on top, for the state DB and Chroma's bookkeeping


@dataclass
class StageTimes:
    """Seconds spent per pipeline stage, summed over files."""

    ingest: float = 0.0
    describe: float = 0.0
    embed: float = 0.0
    store: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """For JSON output and benchmarks."""
        return {k: round(v, 3) for k, v in vars(self).items()}


@dataclass
class Summary:
    """What one index run did."""

    indexed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    collected: int = 0  # blobs deleted because nothing referenced them any more
    aborted: LocalragError | None = None  # a fault that stopped the run (a full disk, no model server)

    def as_json(self) -> dict[str, Any]:
        """The `index --json` document (and an index job's summary)."""
        return {
            "indexed": self.indexed,
            "skipped": self.skipped,
            "pruned": self.pruned,
            "failed": [{"source": p, "reason": r} for p, r in self.failed],
            "warnings": self.warnings,
            "error": str(self.aborted) if self.aborted else None,
            "pages": self.pages,
            "figures": self.figures,
            "chunks": self.chunks,
            "described": self.described,
            "cached_descriptions": self.cached_descriptions,
            "blobs_collected": self.collected,
            "images_reembedded": self.reembedded,
            "seconds": round(self.seconds, 3),
            "stage_seconds": self.times.as_dict(),
        }

    warnings: list[str] = field(default_factory=list)
    reembedded: int = 0  # stored figures given new image vectors (index --reembed-images)
    pages: int = 0
    figures: int = 0
    chunks: int = 0
    described: int = 0
    cached_descriptions: int = 0
    seconds: float = 0.0
    times: StageTimes = field(default_factory=StageTimes)


@dataclass
class _Part:
    """One item of the parse stream: a part of file n, its end (part None), or its failure."""

    n: int
    part: ParsedDocument | None = None
    error: IngestError | None = None
    descriptions: list[Description] = field(default_factory=list)


@dataclass(eq=False)
class _FileWork:
    """The records of the file being indexed, gathered part by part until its end."""

    n: int
    path: Path
    source: str
    sha: str
    records: dict[str, list[Record]] = field(default_factory=lambda: {name: [] for name in COLLECTIONS})
    keys: set[str] = field(default_factory=set)
    pages: int = 0
    chunks: int = 0
    figures: int = 0
    failed: bool = False

    @property
    def counts(self) -> tuple[int, int, int]:
        """(pages, chunks, figures), as the state DB records them."""
        return self.pages, self.chunks, self.figures


@dataclass
class _Pending:
    """Parts waiting for the text embedder and files waiting for the store, across files."""

    parts: list[tuple[_FileWork, _Part, int]] = field(default_factory=list)  # with its first chunk
    done: list[_FileWork] = field(default_factory=list)

    @property
    def texts(self) -> int:
        """Chunks and figure descriptions waiting for the embedder."""
        return sum(len(it.part.chunks) + len(it.part.figures) for _, it, _ in self.parts if it.part)

    @property
    def figures(self) -> int:
        """Figure crops held until they are embedded."""
        return sum(len(it.part.figures) for _, it, _ in self.parts if it.part)

    def add(self, work: _FileWork, item: _Part, summary: Summary) -> None:
        """Queue a part; the file's counts move on now, so chunk ids number the whole document."""
        part = item.part
        assert part is not None
        summary.warnings.extend(part.warnings)
        self.parts.append((work, item, work.chunks))
        work.pages = part.pages
        work.chunks += len(part.chunks)
        work.figures += len(part.figures)

    def full(self) -> bool:
        """Enough to embed in one call, or enough files to write."""
        return self.texts >= FLUSH_TEXTS or self.figures >= FLUSH_FIGURES or len(self.done) >= FLUSH_FILES

    def forget(self, work: _FileWork) -> None:
        """Drop a failed file's queued parts."""
        self.parts = [p for p in self.parts if p[0] is not work]
        self.done = [w for w in self.done if w is not work]

    def take(self) -> tuple[list[tuple[_FileWork, _Part, int]], list[_FileWork]]:
        """Everything queued, leaving the queue empty."""
        parts, done = self.parts, self.done
        self.parts, self.done = [], []
        return parts, done


@dataclass(frozen=True)
class FileWrite:
    """One file's new records, as write_files replaces its old ones with them."""

    source: str
    raw: bytes  # the path as bytes, so that any file name round-trips
    sha: str
    counts: tuple[int, int, int]
    records: dict[str, list[Record]]
    keys: set[str]


class ProgressSink:
    """Receives progress; the CLI implements it with tqdm, tests with nothing."""

    def start(self, total_files: int) -> None:
        """Called once with the number of files found."""

    def file_done(self, source: str, pages: int, figures: int) -> None:
        """Called after each file, indexed, skipped or failed."""

    def figures(self, n: int) -> None:
        """Called as figures are described."""

    def reembedded(self, done: int, total: int) -> None:
        """Called as stored figures are re-embedded (index --reembed-images)."""

    def close(self) -> None:
        """Called at the end."""


class Indexer:
    """Runs ingest -> describe -> embed -> store for a set of paths."""

    def __init__(
        self,
        settings: Settings,
        *,
        describer: Describer,
        text_embedder: TextEmbedder,
        image_embedder: ImageEmbedder,
        fingerprints: dict[str, str],
    ) -> None:
        """Models load lazily, so an index run with nothing to do loads none."""
        self.settings = settings
        self.describer = describer
        self.text_embedder = text_embedder
        self.image_embedder = image_embedder
        self.fingerprints = fingerprints
        self.blobs = Blobs(settings.blobs_dir)
        self._state: State | None = None
        self._store: Store | None = None
        # taken by the stages that keep every core busy, so that they take turns
        self._cpu = threading.Lock()

    @classmethod
    def of(cls, settings: Settings, components: Components, describer: Describer | None = None) -> Indexer:
        """An indexer over the profile's models (or with another describer)."""
        return cls(
            settings,
            describer=describer or components.describer,
            text_embedder=components.text_embedder,
            image_embedder=components.image_embedder,
            fingerprints=components.fingerprints(),
        )

    @property
    def state(self) -> State:
        """The state DB, opened on first need."""
        if self._state is None:
            self._state = State(self.settings.state_db)
        return self._state

    @property
    def store(self) -> Store:
        """Opened on first need; refuses an index built by other models."""
        if self._store is None:
            self._store = self._open_store()
            for name in ("text", "figures", "figure_images"):
                self._store.collection(name)
        return self._store

    def _open_store(self) -> Store:
        return Store(self.settings.store_location, self.fingerprints, self.blobs, owner=self.state.index_id())

    def sync(
        self,
        paths: list[Path],
        prune: bool = False,
        progress: ProgressSink | None = None,
        force: bool = False,
        reembed_images: bool = False,
    ) -> Summary:
        """Index what changed under paths; with prune, drop sources that have gone.

        reembed_images: first give the stored figures this profile's image vectors, when
        another image embedder built them (an upgrade, or a profile's new image_embedder).
        """
        with writer_lock(self.settings.data_dir):
            sink = progress or ProgressSink()
            if reembed_images:
                t0 = time.perf_counter()
                summary = Summary()
                self._reembed_images(summary, sink)
                summary.seconds = time.perf_counter() - t0
                if summary.aborted is not None:
                    return summary
            merged = self._sync(paths, prune, sink, force)
            if reembed_images:
                merged.reembedded = summary.reembedded
                merged.warnings[:0] = summary.warnings
                merged.seconds += summary.seconds
            return merged

    def _reembed_images(self, summary: Summary, sink: ProgressSink) -> None:
        """Image vectors and view windows of every stored figure, from its stored crop."""

        def vectors(recs: list[Record]) -> list[np.ndarray | None]:
            out: list[np.ndarray | None] = []
            for r in recs:
                try:
                    with Image.open(str(r.metadata["image"])) as im:
                        img = im.convert("RGB")
                except Exception as exc:  # a lost crop: the record goes, `check --repair` restores it
                    summary.warnings.append(
                        f"{r.metadata.get('source')}: figure {r.metadata.get('figure')} has no readable "
                        f"image ({type(exc).__name__}); run `localrag check --repair`"
                    )
                    out.append(None)
                    continue
                out.append(self.image_embedder.embed_images([img])[0])
                fkey = features_key(self.blobs.key(str(r.metadata["image"])))
                if not self._has_views(fkey):
                    self.blobs.put_features(fkey, figure_features(self.image_embedder, img), force=True)
            return out

        try:
            store = self._open_store()
            for name in ("text", "figures"):  # never half-convert an index another profile built
                store.collection(name)
            summary.reembedded = store.rebuild("figure_images", vectors, sink.reembedded)
        except StoreError as err:
            summary.aborted = err
        self._store = None  # opened again, and checked, by the sync that follows

    def _sync(self, paths: list[Path], prune: bool, sink: ProgressSink, force: bool) -> Summary:
        t0 = time.perf_counter()
        summary = Summary()
        _ = self.store  # fail fast on a model mismatch before any work
        if self.state.format < FORMAT:
            summary.warnings.extend(upgrade(self.state, self.store, self.blobs))
        if not self.state.has_keywords():
            self._guarded(self._rebuild_keywords)
        elif not self.state.keyword_lengths():
            self._guarded(self.state.rekey_keywords)  # the faster keyword search needs them

        def failed(err: IngestError) -> None:
            summary.failed.append((err.path, err.reason))

        files = list(dict.fromkeys(discover(paths, failed)))
        sink.start(len(files))
        seen: set[str] = set()
        todo: list[tuple[Path, str, str]] = []
        for path in files:
            source = source_of(path)
            seen.add(source)
            try:
                sha = file_sha256(path)
            except IngestError as err:
                failed(err)
                sink.file_done(source, 0, 0)
                continue
            if not force and self.state.file_sha(source) == sha:
                summary.skipped.append(source)
                sink.file_done(source, 0, 0)
            else:
                todo.append((path, source, sha))
        try:
            self._index_files(todo, summary, sink)
        except (StoreError, ModelServerError) as err:
            # the disk, the store or the model servers are at fault: the other files would fail too
            summary.aborted = err
        try:
            if prune and summary.aborted is None:
                self._guarded(lambda: self._prune(paths, seen, summary))
            summary.collected = len(self.blobs.collect(self.state.blob_keys()))
        except StoreError as err:
            summary.aborted = summary.aborted or err
        summary.warnings.extend(self.describer.take_warnings())
        sink.close()
        summary.seconds = time.perf_counter() - t0
        return summary

    def _rebuild_keywords(self) -> None:
        """Fill the persistent keyword index from the store, once, for an index that predates it."""
        by_source: dict[str, list[KeywordRow]] = {}
        for name in ("text", "figures"):
            for rid, doc, meta in self.store.all_documents(name):
                by_source.setdefault(str(meta.get("source", "")), []).append(keyword_row(rid, doc))
        self.state.rebuild_keywords(by_source)

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run a step; a state DB that cannot be written becomes a StoreError."""
        try:
            step()
        except sqlite3.OperationalError as exc:
            if "full" in str(exc):
                raise DiskFullError(
                    f"{self.settings.state_db}: no space left on device; free some space and run again"
                ) from exc
            raise StoreError(f"{self.settings.state_db}: cannot write the index state ({exc})") from exc

    def _parsed(self, todo: list[tuple[Path, str, str]], times: StageTimes) -> Iterator[_Part]:
        """Each file's parts, page renders already written as blobs, then its end; runs ahead in a thread.

        A failure to read a file ends that file's stream with the error; the next file follows.
        """
        for n, (path, source, sha) in enumerate(todo):
            parts = parse_stream(path, sha)
            try:
                while True:
                    t = time.perf_counter()
                    part = next(parts, None)
                    if part is not None:
                        part.source = source
                        # PNG encoding of the renders happens here, beside the consumer's OCR and
                        # embedding; the renders are dropped before the part is handed over
                        renders, part.page_images = part.page_images, {}
                        part.page_blobs = {
                            p: self.blobs.put_png(page_key(sha, p), im) for p, im in renders.items()
                        }
                        del renders
                    times.ingest += time.perf_counter() - t
                    if part is None:
                        break
                    yield _Part(n, part)
            except IngestError as err:
                yield _Part(n, error=err)
                continue
            finally:
                parts.close()
            yield _Part(n)

    def _described(self, stream: Prefetch[_Part], summary: Summary, sink: ProgressSink) -> Iterator[_Part]:
        """Each part with its figures described; runs in a thread of its own, a part ahead of embedding.

        It reads and fills the description cache through a connection of its own, so its
        writes never join a transaction of the thread that commits files.
        """
        cache = State(self.settings.state_db)
        gate = self._cpu if self.describer.cpu_bound else contextlib.nullcontext()
        try:
            for item in stream:
                if item.part is not None:
                    t = time.perf_counter()
                    try:
                        with gate:
                            item.descriptions = self._describe(item.part.figures, summary, sink, cache)
                    except IngestError as err:
                        item.part, item.error = None, err
                    summary.times.describe += time.perf_counter() - t
                yield item
        finally:
            cache.close()

    def _index_files(self, todo: list[tuple[Path, str, str]], summary: Summary, sink: ProgressSink) -> None:
        """Parse -> describe -> embed -> store, each of the first two a thread one part ahead.

        A VLM on a GPU or a server describes a part while the text embedder embeds the one
        before and the parser renders the one after. Work that keeps every core busy (OCR,
        a VLM on the CPU, embedding) takes turns instead: on a small machine two such stages
        at once only slow each other down. Parts of several files are embedded in one call,
        and finished files are written to the store together, so small files do not pay a
        model call and a store transaction each. Each file's records reach the store only
        once its last part is in; memory holds a bounded number of parts' figures and one
        part's page renders, however long the file.
        """
        if not todo:
            return
        # the text embedder loads (seconds) while the first part is parsed and described
        threading.Thread(target=self._load_embedder, name="localrag-load", daemon=True).start()
        work: _FileWork | None = None
        pending = _Pending()
        parsed = Prefetch(self._parsed(todo, summary.times), depth=1)
        try:
            with parsed, Prefetch(self._described(parsed, summary, sink), depth=1) as stream:
                for item in stream:
                    path, source, sha = todo[item.n]
                    if work is None or work.n != item.n:
                        work = _FileWork(item.n, path, source, sha)
                    if work.failed:
                        continue
                    if item.error is not None:
                        self._fail(work, item.error, pending, summary, sink)
                    elif item.part is None:
                        pending.done.append(work)
                    else:
                        pending.add(work, item, summary)
                    if pending.full():
                        self._flush(pending, summary, sink)
        except (StoreError, ModelServerError):
            with contextlib.suppress(LocalragError):  # files finished before the fault are kept
                self._flush(pending, summary, sink)
            raise
        self._flush(pending, summary, sink)

    def _fail(
        self, work: _FileWork, err: IngestError, pending: _Pending, summary: Summary, sink: ProgressSink
    ) -> None:
        """One file cannot be read: drop what it had so far, say why, and go on with the next."""
        summary.failed.append((err.path, err.reason))
        sink.file_done(work.source, 0, 0)
        work.failed = True
        work.records = {}
        pending.forget(work)

    def _flush(self, pending: _Pending, summary: Summary, sink: ProgressSink) -> None:
        """Embed the waiting parts in one call, then write the finished files in one go."""
        parts, done = pending.take()
        if parts:
            t = time.perf_counter()
            with self._cpu:
                texts = [self._texts(item.part, item.descriptions) for _, item, _ in parts]
                flat = [x for ts in texts for x in ts]
                vecs = self.text_embedder.embed_texts(flat)
                images = self._figure_images([[] if w.failed else it.part.figures for w, it, _ in parts])
            at = 0
            for (work, item, first), ts, imgs in zip(parts, texts, images, strict=True):
                part_vecs, at = vecs[at : at + len(ts)], at + len(ts)
                if work.failed:
                    continue
                if isinstance(imgs, IngestError):
                    self._fail(work, imgs, pending, summary, sink)
                    continue
                recs, keys = self._records(item.part, item.descriptions, first, ts, part_vecs, imgs)
                for name, rs in recs.items():
                    work.records[name].extend(rs)
                work.keys |= keys
            summary.times.embed += time.perf_counter() - t
        done = [w for w in done if not w.failed]
        if not done:
            return
        t = time.perf_counter()
        files = [
            FileWrite(w.source, os.fsencode(absolute_path(w.path)), w.sha, w.counts, w.records, w.keys)
            for w in done
        ]
        try:
            try:
                self._guarded(lambda: self.write_files(files))
            except StoreError:
                if len(files) == 1:
                    raise
                # the batch was rolled back; one file at a time keeps every file that fits
                for w, f in zip(done, files, strict=True):
                    self._guarded(lambda f=f: self.write_files([f]))
                    self._written(w, summary, sink)
                return
            for w in done:
                self._written(w, summary, sink)
        finally:
            summary.times.store += time.perf_counter() - t

    @staticmethod
    def _written(w: _FileWork, summary: Summary, sink: ProgressSink) -> None:
        summary.indexed.append(w.source)
        summary.pages += w.pages
        summary.figures += w.figures
        summary.chunks += w.chunks
        sink.file_done(w.source, w.pages, w.figures)

    def _load_embedder(self) -> None:
        with contextlib.suppress(LocalragError):  # a model that cannot load says so when it is used
            self.text_embedder.embed_texts(["load"])

    def write_file(
        self,
        source: str,
        raw: bytes,
        sha: str,
        counts: tuple[int, int, int],
        records: dict[str, list[Record]],
        keys: set[str],
    ) -> None:
        """Replace one source's records with new ones, crash-safely (see write_files)."""
        self.write_files([FileWrite(source, raw, sha, counts, records, keys)])

    def write_files(self, files: list[FileWrite]) -> None:
        """Replace each file's records with new ones, crash-safely, in one store write per collection.

        Everything is computed and every blob written before this, so a failure earlier loses
        nothing. New records go in before the old ones go out; a fault (a full disk) rolls
        every file of the batch back to its old records, and a kill leaves them pending for
        the next run.
        """
        everything = {name: [r for f in files for r in f.records.get(name, [])] for name in COLLECTIONS}
        self._ensure_room(everything)
        names = [name for name in COLLECTIONS if any(name in f.records for f in files)]
        old = {f.source: (self.state.row(f.source), self.state.blob_keys(f.source)) for f in files}
        old_ids = {n: {i for f in files for i in self.store.ids_for_source(n, f.source)} for n in names}
        new_ids = {n: {r.id for r in everything[n]} for n in names}
        self.state.begin_files([(f.source, f.raw, f.keys) for f in files])
        try:
            for name in names:
                self.store.add(name, everything[name])
            for name in names:
                self.store.delete_ids(name, sorted(old_ids[name] - new_ids[name]))
        except (StoreError, sqlite3.Error):
            added = {n: new_ids[n] - old_ids[n] for n in names}
            self._roll_back([(f.source, *old[f.source]) for f in files], added)
            raise
        self.state.commit_files(
            Committed(
                f.source, f.sha, f.counts, f.raw, f.keys,
                [keyword_row(r.id, r.document) for n in ("text", "figures") for r in f.records.get(n, [])],
            )
            for f in files
        )  # fmt: skip

    def _ensure_room(self, records: dict[str, list[Record]]) -> None:
        """Stop before a file's records go in when the disk clearly cannot hold them.

        Chroma needs room for its log, its segments and compaction; running out halfway
        leaves a file pending, so a file is only started with a margin of several times
        its raw size (measured: 2.4 MiB of Chroma files for 0.55 MiB of MiniLM records).
        """
        need = sum(
            len(r.vector) * 4 + len(r.document.encode()) + 512 for recs in records.values() for r in recs
        )
        # a server's vectors take room on its machine; here the blobs and the state DB still do
        where = self.store.dir or self.settings.data_dir
        free = shutil.disk_usage(where).free
        if free < ROOM_FACTOR * need + ROOM_MARGIN:
            raise DiskFullError(
                f"{self.settings.data_dir}: only {free // 1024} KiB free, not enough for the next file's "
                f"records; free some disk space and run again"
            )

    def _roll_back(
        self, olds: list[tuple[str, FileRow | None, set[str]]], added: dict[str, set[str]]
    ) -> None:
        """Take out what a failed write added and put the files' old state back, if the disk lets us."""
        try:
            for name, ids in added.items():
                self.store.delete_ids(name, sorted(ids))
            for source, row, keys in olds:
                self.state.restore(source, row, keys)
        except (StoreError, sqlite3.Error):
            pass  # the files stay pending: the next run re-indexes them, and `check` says so

    def _describe(
        self, figures: list[Figure], summary: Summary, sink: ProgressSink, cache: State
    ) -> list[Description]:
        if not figures:
            return []
        d = self.describer
        out: list[Description | None] = []
        todo: list[int] = []
        for i, fig in enumerate(figures):
            hit = cache.cached(fig.image_sha, d.model_key, d.prompt_key)
            if hit is None:
                out.append(None)
                todo.append(i)
            else:
                out.append(Description(body=hit[0], ocr_text=hit[1]))
                summary.cached_descriptions += 1
                sink.figures(1)
        if todo:
            try:
                fresh = d.describe([figures[i] for i in todo], progress=sink.figures)
            finally:
                summary.warnings.extend(d.take_warnings())
            for i, desc in zip(todo, fresh, strict=True):
                cache.cache(figures[i].image_sha, d.model_key, d.prompt_key, desc.body, desc.ocr_text)
                out[i] = desc
            summary.described += len(todo)
        return [o for o in out if o is not None]

    @staticmethod
    def _texts(doc: ParsedDocument, descs: list[Description]) -> list[str]:
        """What the text embedder gets for a part: its chunks, then its figures' descriptions."""
        return [c.text for c in doc.chunks] + [
            compose(f, d.body, d.ocr_text) for f, d in zip(doc.figures, descs, strict=True)
        ]

    def _figure_images(self, parts: list[list[Figure]]) -> list[list[tuple[np.ndarray, str]] | IngestError]:
        """Per part, each figure's image vector and stored crop key; or why the part failed.

        The builtin image embedders, ORB and PNG encoding each keep one core busy, in C that
        releases the GIL, so they run a figure per thread. A model (CLIP) embeds a part per call.
        """
        emb = self.image_embedder

        def one(fig: Figure) -> tuple[np.ndarray, str] | IngestError:
            try:
                return emb.embed_images([fig.image])[0], self._save_figure(fig)
            except IngestError as err:
                return err

        def batch(figs: list[Figure]) -> list[tuple[np.ndarray, str]] | IngestError:
            try:
                vecs = emb.embed_images([f.image for f in figs])
                return [(v, self._save_figure(f)) for v, f in zip(vecs, figs, strict=True)]
            except IngestError as err:
                return err

        flat = [f for figs in parts for f in figs]
        threads = max(1, self.settings.n_threads)
        if not emb.per_image or threads == 1 or len(flat) <= 1:
            return [batch(figs) for figs in parts]
        with ThreadPoolExecutor(threads, thread_name_prefix="localrag-figures") as pool:
            done = iter(list(pool.map(one, flat)))
        out: list[list[tuple[np.ndarray, str]] | IngestError] = []
        for figs in parts:
            got = [next(done) for _ in figs]
            err = next((g for g in got if isinstance(g, IngestError)), None)
            out.append(err if err is not None else got)  # type: ignore[arg-type]
        return out

    def _records(
        self,
        doc: ParsedDocument,
        descs: list[Description],
        first_chunk: int,
        texts: list[str],
        text_vecs: np.ndarray,
        images: list[tuple[np.ndarray, str]],
    ) -> tuple[dict[str, list[Record]], set[str]]:
        """Every record of a document part, and the blob keys they use (written by now).

        first_chunk: how many chunks earlier parts had, so chunk ids number the whole document.
        texts, text_vecs: the part's texts (see _texts) and their vectors, embedded with other parts.
        images: each figure's image vector and crop key (see _figure_images).
        """
        fig_texts = texts[len(doc.chunks) :]
        keys: set[str] = set()
        page_imgs = dict(doc.page_blobs)  # written while the document was parsed
        for p, img in doc.page_images.items():  # a document parsed by a caller of its own
            page_imgs[p] = self.blobs.put_png(page_key(doc.file_sha, p), img)
        keys.update(page_imgs.values())
        text_recs = []
        for i, ch in enumerate(doc.chunks):
            meta = {"source": doc.source, "page": ch.page, "kind": "text", "image": page_imgs.get(ch.page)}
            # the source is part of every id: identical files at two paths are two documents
            rid = content_id(doc.source, doc.file_sha, ch.page, first_chunk + i, ch.text)
            text_recs.append(Record(rid, text_vecs[i], ch.text, meta))
        fig_recs, img_recs = [], []
        for j, (fig, desc, (img_vec, image_key)) in enumerate(zip(doc.figures, descs, images, strict=True)):
            fid = content_id(doc.source, "figure", fig.index, fig.image_sha)
            keys.update((image_key, features_key(image_key)))
            meta = {
                "source": doc.source,
                "page": fig.page,
                "figure": fig.index,
                "kind": "figure",
                "figure_kind": fig.kind,
                "caption": fig.caption,
                "ocr": desc.ocr_text,
                "bbox": list(fig.bbox) if fig.bbox else None,
                "image": image_key,
            }
            fig_recs.append(Record(fid, text_vecs[len(doc.chunks) + j], fig_texts[j], meta))
            img_recs.append(Record(fid, img_vec, fig_texts[j], meta))
        return {"text": text_recs, "figures": fig_recs, "figure_images": img_recs}, keys

    def _save_figure(self, fig: Figure) -> str:
        """The crop for answers and VLMs, plus its ORB features for verification."""
        key = self.blobs.put_png(key_for(fig.image_sha), fig.image)
        fkey = features_key(key)
        if not self._has_views(fkey):
            # the builtin embedder has just computed the ORB features for the vector, cached
            self.blobs.put_features(fkey, figure_features(self.image_embedder, fig.image), force=True)
        return key

    def _has_views(self, fkey: str) -> bool:
        """Whether a figure's feature file is intact and holds this embedder's view vectors."""
        if not self.blobs.valid(fkey):
            return False
        try:
            feats = read_features(self.blobs.path(fkey))
        except Exception:  # damaged: rewritten by the caller
            return False
        return (
            feats is not None
            and feats.views is not None
            and feats.views_model == self.image_embedder.fingerprint
        )

    def _prune(self, roots: list[Path], seen: set[str], summary: Summary) -> None:
        prefixes = [root_key(r) for r in roots]
        for row in self.state.files():
            gone = not exists(row.source, row.path)
            under = any(_under(row.source, r) for r in prefixes)
            if gone or (under and row.source not in seen):
                self._drop(row.source)
                summary.pruned.append(row.source)

    def _drop(self, source: str) -> None:
        self.state.mark_pending(source)  # a kill from here on leaves it pending, to be dropped again
        self.store.delete_source(source)
        self.state.drop_file(source)

    def remove(self, targets: list[str]) -> tuple[list[str], list[str]]:
        """Drop the sources equal to or under each target; returns (removed, targets matching none)."""
        with writer_lock(self.settings.data_dir):
            removed: list[str] = []
            hit: set[str] = set()
            for row in self.state.files():
                match = [t for t in targets if _under(row.source, t)]
                if match:
                    self._guarded(lambda source=row.source: self._drop(source))
                    removed.append(row.source)
                    hit.update(match)
            self.blobs.collect(self.state.blob_keys())
        return removed, [t for t in targets if t not in hit]


def _under(source: str, prefix: str) -> bool:
    return source == prefix or source.startswith(prefix.rstrip("/") + "/")


def root_key(path: Path) -> str:
    """A folder or file given to index, spelled as the sources under it are."""
    return printable(path.resolve()) if path.is_dir() else source_of(path)


__all__ = ["Indexer", "ProgressSink", "Summary", "root_key"]
