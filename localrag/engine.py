"""The engine: one object that owns the models, the store and the state of one data dir.

The CLI drives it one command at a time; a long-lived process (a server, a benchmark)
keeps one and its models stay loaded. Stages are built on first use, so a command that
needs no model loads none.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image

from localrag.answer import Answer, Answerer, answerer_for
from localrag.check import Report, count_records, inspect
from localrag.check import repair as fix
from localrag.components import Components
from localrag.config import Settings
from localrag.indexer import Indexer, ProgressSink, Summary, root_key
from localrag.retrieve import Retriever
from localrag.retrieve.retriever import SearchResponse
from localrag.state import FORMAT, State
from localrag.store import COLLECTIONS, Store
from localrag.store.blobs import Blobs
from localrag.store.lock import writer_lock
from localrag.upgrade import upgrade


class Engine:
    """index, search, ask, status, check and remove over one data dir with one profile."""

    def __init__(self, settings: Settings, verbose: bool = False) -> None:
        """Nothing is opened or loaded here."""
        self.settings = settings
        self.components = Components(settings, verbose=verbose)
        self._retrievers: dict[str, Retriever] = {}
        self._answerers: dict[tuple[str, str | None], Answerer] = {}

    def warm(self) -> None:
        """Load what every query needs now, so the first request is as fast as the next."""
        reader = self.retriever()
        _ = self.components.text_embedder.embed_texts(["warm up"])
        _ = self.components.image_embedder
        reader.refresh()

    @cached_property
    def indexer(self) -> Indexer:
        """The writer; it takes the data dir's lock for each run."""
        return Indexer.of(self.settings, self.components)

    def retriever(self, photo_text: str = "auto") -> Retriever:
        """A reader (one per photo-text policy); it reloads by itself when the index changes."""
        if photo_text not in self._retrievers:
            self._retrievers[photo_text] = Retriever.of(self.settings, self.components, query_ocr=photo_text)
        return self._retrievers[photo_text]

    def answerer(self, photo_text: str = "auto", mode: str | None = None) -> Answerer:
        """An answerer in the profile's mode, or in `mode`."""
        key = (photo_text, mode)
        if key not in self._answerers:
            self._answerers[key] = answerer_for(self.settings, self.components, photo_text, mode)
        return self._answerers[key]

    def index(
        self,
        paths: list[Path],
        prune: bool = False,
        force: bool = False,
        progress: ProgressSink | None = None,
        reembed_images: bool = False,
    ) -> Summary:
        """Sync the index with paths (after re-embedding the stored figures, when asked)."""
        return self.indexer.sync(
            paths, prune=prune, progress=progress, force=force, reembed_images=reembed_images
        )

    def search(
        self, query: str = "", image: Image.Image | None = None, k: int = 5, photo_text: str = "auto"
    ) -> SearchResponse:
        """Fused hits for text, a photo, or both."""
        return self.retriever(photo_text).search(query, image, k=k)

    def ask(
        self,
        question: str = "",
        image: Image.Image | None = None,
        mode: str | None = None,
        photo_text: str = "auto",
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """A checked, cited answer, or a refusal."""
        return self.answerer(photo_text, mode).ask(question, image, on_token=on_token)

    def notices(self) -> list[str]:
        """What the readers had to do that a user should know (reading a copy of the index)."""
        stores = [r.__dict__["store"] for r in self._retrievers.values() if "store" in r.__dict__]
        readers = [a.retriever for a in self._answerers.values()]
        stores += [r.__dict__["store"] for r in readers if "store" in r.__dict__]
        return sorted({s.notice for s in stores if s.notice})

    def _reader(self) -> tuple[State, Store, Blobs]:
        blobs = Blobs(self.settings.blobs_dir)
        state = State(self.settings.state_db, readonly=True)
        loc, fingerprints = self.settings.store_location, self.components.fingerprints()
        store = Store(loc, fingerprints, blobs, readonly=True, owner=state.index_id())
        return state, store, blobs

    def status(self) -> dict[str, Any]:
        """Each source with its record counts, and each collection with its model (`status --json`)."""
        state, store, _ = self._reader()
        per, _ = count_records(store)
        models = store.models()
        zero = dict.fromkeys(COLLECTIONS, 0)
        return {
            "data_dir": str(self.settings.data_dir),
            "store": store.label,
            "format": state.format,
            "generation": state.generation(),
            "sources": [
                {
                    "source": r.source,
                    "sha256": r.sha256 or None,
                    "state": "interrupted" if r.pending else "indexed",
                    "pages": r.pages,
                    "chunks": r.chunks,
                    "figures": r.figures,
                    "records": per.get(r.source, zero),
                }
                for r in state.files()
            ],
            "collections": {n: {"model": models.get(n), "count": store.count(n)} for n in COLLECTIONS},
        }

    def check(self, repair: bool = False, progress: ProgressSink | None = None) -> tuple[Report, list[str]]:
        """Verify every invariant; with repair, fix what can be fixed and verify again."""
        report = inspect(*self._reader())
        notes: list[str] = []
        if not repair or report.ok:
            return report, notes
        indexer, blobs = self.indexer, Blobs(self.settings.blobs_dir)
        with writer_lock(self.settings.data_dir):
            if indexer.state.format < FORMAT:
                notes += upgrade(indexer.state, indexer.store, blobs)
                report = inspect(indexer.state, indexer.store, blobs)
            fixed, again = fix(report, indexer.state, indexer.store, blobs)
            notes += fixed
        if again:
            summary = indexer.sync(again, force=True, progress=progress)
            notes += [f"failed: {p}: {r}" for p, r in summary.failed]
            if summary.aborted is not None:
                raise summary.aborted
        return inspect(indexer.state, indexer.store, blobs), notes

    def remove(self, paths: list[Path]) -> tuple[list[str], list[str]]:
        """Drop files from the index (the files themselves are left alone); returns (removed, unknown)."""
        wanted = {root_key(p): p for p in paths}
        removed, unknown = self.indexer.remove(list(wanted))
        return removed, [str(wanted[s]) for s in unknown]


__all__ = ["Engine"]
