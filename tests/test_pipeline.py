"""The pipelined indexer: stages in threads hand parts on in order, and faults stay where they happen."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from pathlib import Path

import pytest
from conftest import QUERY_PHOTO, SAMPLE

from localrag import ingest
from localrag.config import Settings
from localrag.engine import Engine
from localrag.errors import IngestError, ModelServerError
from localrag.pipeline import Prefetch
from localrag.store.chroma import COLLECTIONS


def test_prefetch_keeps_order_and_raises_where_the_producer_failed():
    def items():
        yield from range(5)
        raise ValueError("broken at 5")

    got = []
    with pytest.raises(ValueError, match="broken at 5"), Prefetch(items(), depth=2) as stream:
        got.extend(stream)
    assert got == [0, 1, 2, 3, 4]


def test_prefetch_runs_at_most_depth_ahead_and_close_stops_the_producer():
    made = itertools.count()
    produced = []

    def endless():
        while True:
            produced.append(next(made))
            yield produced[-1]

    stream = Prefetch(endless(), depth=2)
    it = iter(stream)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    time.sleep(0.3)
    assert len(produced) <= 3 + 2 + 1  # consumed, queued, and the one in the producer's hand
    stream.close()
    n = len(produced)
    time.sleep(0.2)
    assert len(produced) == n
    assert not any(t.name == "localrag-prefetch" and t.is_alive() for t in threading.enumerate())


def _records(data: Path) -> dict:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(
        str(data / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    out = {}
    for name in COLLECTIONS:
        got = client.get_collection(name).get(include=["documents", "metadatas"])
        out[name] = sorted(
            (i, d, tuple(sorted(m.items())))
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        )
    return out


def test_one_run_over_many_files_writes_what_runs_of_one_file_write(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / "a.pdf")
    for i in range(3):
        (docs / f"n{i}.txt").write_text(f"Note {i}. Replace fuse F{i} with a {i + 1} A fuse. " * 40)
    together = Engine(Settings(data_dir=tmp_path / "together")).index([docs])
    assert len(together.indexed) == 4 and not together.failed
    apart = Engine(Settings(data_dir=tmp_path / "apart"))
    for f in sorted(docs.iterdir()):
        apart.index([f])
    assert _records(tmp_path / "together") == _records(tmp_path / "apart")


def test_a_file_that_fails_midway_leaves_nothing_and_the_next_file_is_indexed(tmp_path, monkeypatch):
    real = ingest.PARSERS[".pdf"]

    def breaks_after_two_parts(path, sha):
        for n, part in enumerate(real(path, sha)):
            if path.name == "bad.pdf" and n == 2:
                raise IngestError(path, "damaged page 3")
            yield part

    monkeypatch.setitem(ingest.PARSERS, ".pdf", breaks_after_two_parts)
    monkeypatch.setattr(ingest, "PAGES_PER_PART", 1)
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / "bad.pdf")
    shutil.copy(SAMPLE, docs / "good.pdf")
    engine = Engine(Settings(data_dir=tmp_path / "data"))
    summary = engine.index([docs])
    assert [(Path(p).name, r) for p, r in summary.failed] == [("bad.pdf", "damaged page 3")]
    assert [Path(s).name for s in summary.indexed] == ["good.pdf"]
    status = engine.status()
    assert [Path(s["source"]).name for s in status["sources"]] == ["good.pdf"]
    assert status["collections"]["text"]["count"] == 9
    report, _ = engine.check()
    assert report.ok, report  # the page renders bad.pdf had written were collected


def test_a_describer_fault_stops_the_run_after_the_files_already_written(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / "a.pdf")
    shutil.copy(QUERY_PHOTO, docs / "b.jpg")  # a figure of its own, so it needs describing
    engine = Engine(Settings(data_dir=tmp_path / "data"))
    describer = engine.components.describer
    real, calls = describer.describe, []

    def fails_on_the_second_file(figures, progress=None):
        calls.append(len(figures))
        if len(calls) > 1:
            raise ModelServerError("model 'x': no model server answers (http://127.0.0.1:9/v1)")
        return real(figures, progress)

    monkeypatch.setattr(describer, "describe", fails_on_the_second_file)
    summary = engine.index([docs])
    assert isinstance(summary.aborted, ModelServerError)
    assert [Path(s).name for s in summary.indexed] == ["a.pdf"]
    report, _ = engine.check()
    assert report.ok, report
    # the fault gone, the next run completes the rest and describes only the new file's figures
    monkeypatch.setattr(describer, "describe", real)
    again = engine.index([docs])
    assert [Path(s).name for s in again.indexed] == ["b.jpg"] and again.aborted is None


def _notes(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"n{i:02d}.txt").write_text(
            f"Note {i}. Set valve V{i} to {i + 2} bar before the pump starts. " * 6
        )
    return folder


def test_small_files_share_embedding_calls_and_store_writes(tmp_path, monkeypatch):
    import localrag.indexer
    from localrag.store.chroma import Store

    monkeypatch.setattr(localrag.indexer, "FLUSH_FILES", 5)  # 12 files: batches of 5, 5 and 2
    docs = _notes(tmp_path / "docs", 12)
    shutil.copy(SAMPLE, docs / "manual.pdf")  # a long file between small ones
    engine = Engine(Settings(data_dir=tmp_path / "together"))
    embedder = engine.components.text_embedder
    calls: list[int] = []
    adds: list[int] = []
    real_embed, real_add = embedder.embed_texts, Store.add

    def counting_embed(texts):
        calls.append(len(texts))
        return real_embed(texts)

    def counting_add(self, name, records):
        if name == "text":
            adds.append(len({r.metadata["source"] for r in records}))
        return real_add(self, name, records)

    monkeypatch.setattr(embedder, "embed_texts", counting_embed)
    monkeypatch.setattr(Store, "add", counting_add)
    summary = engine.index([docs])
    assert len(summary.indexed) == 13 and not summary.failed
    work = [n for n in calls if n != 1]  # the load probe embeds one word
    assert sum(work) == summary.chunks + summary.figures
    assert len(work) < 13  # several files' texts per call, not a call per file
    assert max(adds) == 5 and len(adds) == 3  # three store writes for thirteen files
    monkeypatch.undo()
    apart = Engine(Settings(data_dir=tmp_path / "apart"))
    for f in sorted(docs.iterdir()):
        apart.index([f])
    assert _records(tmp_path / "together") == _records(tmp_path / "apart")
    assert engine.check()[0].ok


def test_a_batch_the_store_refuses_is_written_file_by_file(tmp_path, monkeypatch):
    from localrag.errors import StoreError
    from localrag.store.chroma import Store

    docs = _notes(tmp_path / "docs", 6)
    real_add = Store.add

    def refuses_n03(self, name, records):
        if any(r.metadata["source"].endswith("n03.txt") for r in records):
            raise StoreError("chroma: cannot write (simulated)")
        return real_add(self, name, records)

    monkeypatch.setattr(Store, "add", refuses_n03)
    engine = Engine(Settings(data_dir=tmp_path / "data"))
    summary = engine.index([docs])
    assert isinstance(summary.aborted, StoreError)
    # the batch was rolled back, then written one file at a time up to the one that fails
    assert [Path(s).name for s in summary.indexed] == ["n00.txt", "n01.txt", "n02.txt"]
    assert [Path(s["source"]).name for s in engine.status()["sources"]] == ["n00.txt", "n01.txt", "n02.txt"]
    assert engine.check()[0].ok
    monkeypatch.undo()
    again = engine.index([docs])
    assert [Path(s).name for s in again.indexed] == ["n03.txt", "n04.txt", "n05.txt"]
    assert engine.status()["collections"]["text"]["count"] == 6


def test_cpu_bound_describing_and_embedding_take_turns(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / "a.pdf")
    shutil.copy(QUERY_PHOTO, docs / "b.jpg")
    import localrag.indexer

    monkeypatch.setattr(ingest, "PAGES_PER_PART", 1)  # many parts, so the stages have room to overlap
    monkeypatch.setattr(localrag.indexer, "FLUSH_TEXTS", 1)  # and each part is embedded on arrival
    engine = Engine(Settings(data_dir=tmp_path / "data"))
    describer, embedder = engine.components.describer, engine.components.text_embedder
    assert describer.cpu_bound  # OCR
    busy: list[str] = []
    overlaps: list[str] = []
    real_describe, real_embed = describer.describe, embedder.embed_texts

    def timed(kind, fn):
        def run(*args, **kw):
            # the embedder's load probe runs beside the first part on purpose
            what = "load" if args and args[0] == ["load"] else kind
            if busy:
                overlaps.append(f"{what} while {busy[0]}")
            busy.append(what)
            try:
                time.sleep(0.02)  # long enough for the other stage to start, were it allowed to
                return fn(*args, **kw)
            finally:
                busy.remove(what)

        return run

    monkeypatch.setattr(describer, "describe", timed("describe", real_describe))
    monkeypatch.setattr(embedder, "embed_texts", timed("embed", real_embed))
    summary = engine.index([docs])
    assert len(summary.indexed) == 2 and summary.described >= 7
    assert not [o for o in overlaps if "load" not in o], overlaps


def _image_vectors_and_views(data: Path) -> dict:
    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings

    from localrag.embed.orb import features_path

    client = chromadb.PersistentClient(
        str(data / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    got = client.get_collection("figure_images").get(include=["embeddings", "metadatas"])
    out = {}
    for i, v, m in zip(got["ids"], got["embeddings"], got["metadatas"], strict=True):
        with np.load(features_path(data / "blobs" / str(m["image"]))) as z:
            views = z["views"].tobytes(), z["descriptors"].tobytes(), int(z["phash"])
        out[i] = (np.asarray(v, np.float32).tobytes(), views, m["image"])
    return out


def test_figures_embedded_in_threads_get_what_one_thread_gives(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / "a.pdf")
    shutil.copy(QUERY_PHOTO, docs / "b.jpg")
    one = Engine(Settings(data_dir=tmp_path / "one", n_threads=1)).index([docs])
    three = Engine(Settings(data_dir=tmp_path / "three", n_threads=3)).index([docs])
    assert one.figures == three.figures >= 7 and not one.failed and not three.failed
    assert _records(tmp_path / "one") == _records(tmp_path / "three")
    assert _image_vectors_and_views(tmp_path / "one") == _image_vectors_and_views(tmp_path / "three")


def test_a_figure_that_cannot_be_embedded_fails_its_own_file_only(tmp_path, monkeypatch):
    from PIL import Image

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / "a.pdf")
    shutil.copy(QUERY_PHOTO, docs / "b.jpg")
    with Image.open(QUERY_PHOTO) as im:
        bad_size = im.size
    engine = Engine(Settings(data_dir=tmp_path / "data", n_threads=2))
    embedder = engine.components.image_embedder
    assert embedder.per_image  # so figures of both files are embedded in one threaded batch
    real = embedder.embed_images

    def refuses_the_photo(images):
        if any(im.size == bad_size for im in images):
            raise IngestError(docs / "b.jpg", "cannot embed its image")
        return real(images)

    monkeypatch.setattr(embedder, "embed_images", refuses_the_photo)
    summary = engine.index([docs])
    assert [(Path(p).name, r) for p, r in summary.failed] == [("b.jpg", "cannot embed its image")]
    assert [Path(s).name for s in summary.indexed] == ["a.pdf"]
    report, _ = engine.check()
    assert report.ok, report


def test_figures_in_threads_compute_each_image_once(tmp_path, monkeypatch):
    """A figure and its five view windows: one grayscale and one ORB pass each, however many threads."""
    import localrag.embed.bovw
    import localrag.embed.prepare

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / "a.pdf")
    shutil.copy(QUERY_PHOTO, docs / "b.jpg")
    calls = {"gray": 0, "orb": 0}
    lock = threading.Lock()

    def counted(kind, fn):
        def run(img):
            with lock:
                calls[kind] += 1
            time.sleep(0.002)  # let the other thread's figure interleave with this one's
            return fn(img)

        return run

    prepare, bovw = localrag.embed.prepare, localrag.embed.bovw
    monkeypatch.setattr(prepare, "_ink_gray", counted("gray", prepare._ink_gray))
    monkeypatch.setattr(bovw, "features", counted("orb", bovw.features))
    summary = Engine(Settings(data_dir=tmp_path / "data", n_threads=2)).index([docs])
    assert summary.figures >= 7 and not summary.failed
    assert calls == {"gray": 6 * summary.figures, "orb": 6 * summary.figures}


def test_recent_results_are_kept_per_thread():
    from PIL import Image

    from localrag.embed.prepare import Recent

    made: list[int] = []
    recent = Recent(lambda im: made.append(id(im)) or im.size, size=6)
    both = threading.Barrier(2)

    def figure(n: int) -> None:
        images = [Image.new("L", (10 + n, 10 + i)) for i in range(6)]  # a figure and five windows
        for im in images:
            recent(im)
            both.wait()  # the other thread's images arrive in between
        for im in images:
            assert recent(im) == im.size

    threads = [threading.Thread(target=figure, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 12  # a list shared by both threads would have dropped and remade some
