"""`index` as a sync: skip unchanged files, replace changed ones, prune vanished ones."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from localrag.components import Components
from localrag.config import Settings
from localrag.describe.base import Describer, Description, compose
from localrag.embed.orb import features, save_features
from localrag.errors import IngestError
from localrag.ingest import Figure, ParsedDocument, content_id, discover, file_sha256, parse_file
from localrag.state import State
from localrag.store import Record, Store


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
    warnings: list[str] = field(default_factory=list)
    pages: int = 0
    figures: int = 0
    chunks: int = 0
    described: int = 0
    cached_descriptions: int = 0
    seconds: float = 0.0
    times: StageTimes = field(default_factory=StageTimes)


class ProgressSink:
    """Receives progress; the CLI implements it with tqdm, tests with nothing."""

    def start(self, total_files: int) -> None:
        """Called once with the number of files found."""

    def file_done(self, source: str, pages: int, figures: int) -> None:
        """Called after each file, indexed, skipped or failed."""

    def figures(self, n: int) -> None:
        """Called as figures are described."""

    def close(self) -> None:
        """Called at the end."""


def blob_path(settings: Settings, key: str) -> Path:
    """Where a figure crop or page render is kept, sharded by id."""
    return settings.blobs_dir / key[:2] / f"{key}.png"


def _save(img: Image.Image, path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, "PNG", optimize=False, compress_level=3)
    return str(path)


class Indexer:
    """Runs ingest -> describe -> embed -> store for a set of paths."""

    def __init__(
        self, settings: Settings, components: Components, describer: Describer | None = None
    ) -> None:
        """Models load lazily, so an index run with nothing to do loads none."""
        self.settings = settings
        self.c = components
        self._describer = describer
        self.state = State(settings.state_db)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        """Opened on first need; refuses an index built by other models."""
        if self._store is None:
            self._store = Store(self.settings.chroma_dir, self.c.fingerprints())
            for name in ("text", "figures", "figure_images"):
                self._store.collection(name)
        return self._store

    def sync(
        self,
        paths: list[Path],
        prune: bool = False,
        progress: ProgressSink | None = None,
        force: bool = False,
    ) -> Summary:
        """Index what changed under paths; with prune, drop sources that have gone."""
        t0 = time.perf_counter()
        sink = progress or ProgressSink()
        summary = Summary()
        _ = self.store  # fail fast on a model mismatch before any work

        def failed(err: IngestError) -> None:
            summary.failed.append((err.path, err.reason))

        files = list(dict.fromkeys(discover(paths, failed)))
        sink.start(len(files))
        for path in files:
            source = str(path)
            try:
                sha = file_sha256(path)
                if not force and self.state.file_sha(source) == sha:
                    summary.skipped.append(source)
                    sink.file_done(source, 0, 0)
                    continue
                self._index_one(path, sha, summary, sink)
            except IngestError as err:
                failed(err)
                sink.file_done(source, 0, 0)
        if prune:
            self._prune(paths, {str(p) for p in files}, summary)
        sink.close()
        summary.seconds = time.perf_counter() - t0
        return summary

    def _index_one(self, path: Path, sha: str, summary: Summary, sink: ProgressSink) -> None:
        t = time.perf_counter()
        doc = parse_file(path, sha)
        summary.times.ingest += time.perf_counter() - t
        summary.warnings.extend(doc.warnings)

        t = time.perf_counter()
        descriptions = self._describe(doc.figures, summary, sink)
        summary.times.describe += time.perf_counter() - t

        t = time.perf_counter()
        records = self._records(doc, descriptions)
        summary.times.embed += time.perf_counter() - t

        # everything is computed before the old records go, so a failure above loses nothing
        t = time.perf_counter()
        self.store.delete_source(doc.source)
        for name, recs in records.items():
            if recs:
                self.store.add(name, recs)
        self.state.put_file(doc.source, sha, doc.pages, len(doc.chunks), len(doc.figures))
        summary.times.store += time.perf_counter() - t

        summary.indexed.append(doc.source)
        summary.pages += doc.pages
        summary.figures += len(doc.figures)
        summary.chunks += len(doc.chunks)
        sink.file_done(doc.source, doc.pages, len(doc.figures))

    def _describe(self, figures: list[Figure], summary: Summary, sink: ProgressSink) -> list[Description]:
        if not figures:
            return []
        d = self._describer or self.c.describer
        out: list[Description | None] = []
        todo: list[int] = []
        for i, fig in enumerate(figures):
            hit = self.state.cached(fig.image_sha, d.model_key, d.prompt_key)
            if hit is None:
                out.append(None)
                todo.append(i)
            else:
                out.append(Description(body=hit[0], ocr_text=hit[1]))
                summary.cached_descriptions += 1
                sink.figures(1)
        if todo:
            fresh = d.describe([figures[i] for i in todo], progress=sink.figures)
            for i, desc in zip(todo, fresh, strict=True):
                self.state.cache(figures[i].image_sha, d.model_key, d.prompt_key, desc.body, desc.ocr_text)
                out[i] = desc
            summary.described += len(todo)
        return [o for o in out if o is not None]

    def _records(self, doc: ParsedDocument, descs: list[Description]) -> dict[str, list[Record]]:
        fig_texts = [compose(f, d.body, d.ocr_text) for f, d in zip(doc.figures, descs, strict=True)]
        text_vecs = self.c.text_embedder.embed_texts([c.text for c in doc.chunks] + fig_texts)
        page_imgs = {
            p: _save(img, blob_path(self.settings, content_id(doc.file_sha, "page", p)))
            for p, img in doc.page_images.items()
        }
        text_recs = []
        for i, ch in enumerate(doc.chunks):
            meta = {
                "source": doc.source,
                "page": ch.page,
                "kind": "text",
                "image": page_imgs.get(ch.page),
            }
            text_recs.append(
                Record(content_id(doc.file_sha, ch.page, i, ch.text), text_vecs[i], ch.text, meta)
            )
        fig_recs, img_recs = [], []
        img_vecs = self.c.image_embedder.embed_images([f.image for f in doc.figures])
        for j, (fig, desc) in enumerate(zip(doc.figures, descs, strict=True)):
            fid = content_id(doc.file_sha, "figure", fig.index, fig.image_sha)
            meta = {
                "source": doc.source,
                "page": fig.page,
                "figure": fig.index,
                "kind": "figure",
                "figure_kind": fig.kind,
                "caption": fig.caption,
                "ocr": desc.ocr_text,
                "bbox": list(fig.bbox) if fig.bbox else None,
                "image": self._save_figure(fig),
            }
            fig_recs.append(Record(fid, text_vecs[len(doc.chunks) + j], fig_texts[j], meta))
            img_recs.append(Record(fid, img_vecs[j], fig_texts[j], meta))
        return {"text": text_recs, "figures": fig_recs, "figure_images": img_recs}

    def _save_figure(self, fig: Figure) -> str:
        """The crop for answers and VLMs, plus its ORB features for verification."""
        path = blob_path(self.settings, fig.image_sha)
        _save(fig.image, path)
        cache = path.with_suffix(".orb.npz")
        if not cache.exists():
            # the builtin embedder has just computed these for the vector; reuse them
            save_features(getattr(self.c.image_embedder, "features", features)(fig.image), cache)
        return str(path)

    def _prune(self, roots: list[Path], seen: set[str], summary: Summary) -> None:
        root_strs = [str(r) for r in roots]
        for source in self.state.sources():
            gone = not Path(source).exists()
            under_root = any(source == r or source.startswith(r.rstrip("/") + "/") for r in root_strs)
            if gone or (under_root and source not in seen):
                self.store.delete_source(source)
                self.state.drop_file(source)
                summary.pruned.append(source)


__all__ = ["Indexer", "ProgressSink", "Summary", "blob_path"]
