"""Streaming ingest: a long PDF goes through parse, describe and embed a few pages at a time."""

from __future__ import annotations

import sys
import weakref
from pathlib import Path

import pytest
from conftest import SAMPLE, run

import localrag.ingest as ingest
import localrag.ingest.pdf as pdf_mod
from localrag.config import Settings
from localrag.engine import Engine
from localrag.ingest import file_sha256, parse_file, parse_stream
from localrag.store import COLLECTIONS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_memory import synthetic_manual


@pytest.fixture(scope="module")
def long_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 96-page manual with a raster figure every 8 pages."""
    return synthetic_manual(tmp_path_factory.mktemp("long") / "long.pdf", 96, figure_every=8)


class PageImages:
    """Counts page renders alive at once (weak references: counting must not keep them alive)."""

    def __init__(self) -> None:
        self.alive: dict[int, weakref.ref] = {}  # PIL images are unhashable: keyed by id
        self.most = 0
        self.made = 0

    def wrap(self, flatten):
        def tracked(img):
            out = flatten(img)
            if img.size == (596, 842):  # an A4 page rendered at 1x; figures have other sizes
                key = id(out)
                self.alive[key] = weakref.ref(out, lambda _r, key=key: self.alive.pop(key, None))
                self.made += 1
                self.most = max(self.most, len(self.alive))
            return out

        return tracked


def test_parts_hold_a_bounded_number_of_pages(long_pdf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pages = PageImages()
    monkeypatch.setattr(pdf_mod, "flatten", pages.wrap(pdf_mod.flatten))
    sha = file_sha256(long_pdf)
    total_pages = total_figs = 0
    for part in parse_stream(long_pdf, sha, pages_per_part=4):
        assert len(part.page_images) <= 4 and part.pages == 96
        total_pages += len(part.page_images)
        total_figs += len(part.figures)
        del part
    assert (total_pages, total_figs, pages.made) == (96, 12, 96)
    assert pages.most <= 5  # one part, and the page being rendered


def test_parts_join_into_the_whole_document(long_pdf: Path) -> None:
    sha = file_sha256(long_pdf)
    whole = parse_file(long_pdf, sha)
    parts = list(parse_stream(long_pdf, sha, pages_per_part=7))
    assert len(parts) == 14  # ceil(96 / 7)
    assert [c.text for p in parts for c in p.chunks] == [c.text for c in whole.chunks]
    assert [(f.index, f.page, f.image_sha) for p in parts for f in p.figures] == [
        (f.index, f.page, f.image_sha) for f in whole.figures
    ]
    assert [f.index for f in whole.figures] == list(range(1, 13))


def test_indexing_releases_each_part_before_the_next(
    long_pdf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = PageImages()
    monkeypatch.setattr(pdf_mod, "flatten", pages.wrap(pdf_mod.flatten))
    monkeypatch.setattr(ingest, "PAGES_PER_PART", 8)
    summary = Engine(Settings(data_dir=tmp_path / "data")).index([long_pdf])
    assert not summary.failed and summary.pages == 96 and summary.figures == 12
    assert pages.made == 96 and pages.most <= 9


def test_streamed_index_has_the_same_records_as_one_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids, documents and metadata do not depend on how the document was cut into parts."""
    records = []
    for per_part in (1, 1000):
        monkeypatch.setattr(ingest, "PAGES_PER_PART", per_part)
        home = tmp_path / f"p{per_part}"
        res = run(home, "index", str(SAMPLE))
        assert res.exit_code == 0, res.output
        store = Engine(Settings(data_dir=home)).indexer.store
        records.append({name: sorted(store.metadatas(name), key=lambda x: x[0]) for name in COLLECTIONS})
    assert records[0] == records[1]
    assert len(records[0]["text"]) > 5 and len(records[0]["figures"]) == 7


def test_figures_waiting_for_the_embedder_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts wait to be embedded together, but never with more than FLUSH_FIGURES figure crops."""
    import gc

    import localrag.indexer as indexer

    manual = synthetic_manual(tmp_path / "figures.pdf", 64, figure_every=1)
    monkeypatch.setattr(ingest, "PAGES_PER_PART", 4)
    monkeypatch.setattr(indexer, "FLUSH_FIGURES", 8)
    alive: dict[int, weakref.ref] = {}
    most = [0]
    real_add = indexer._Pending.add

    def counting_add(self, work, item, summary):
        for fig in item.part.figures:
            key = id(fig)
            alive[key] = weakref.ref(fig, lambda _r, key=key: alive.pop(key, None))
        gc.collect()
        most[0] = max(most[0], len(alive))
        return real_add(self, work, item, summary)

    monkeypatch.setattr(indexer._Pending, "add", counting_add)
    summary = Engine(Settings(data_dir=tmp_path / "data")).index([manual])
    assert not summary.failed and summary.figures == 64
    # 8 waiting, the part just added, and the parts still in the parse and describe threads
    assert most[0] <= 8 + 4 + 4 * 4, most[0]
