"""Never lose or mix up a document: identity, blobs, stale readers, faults, `check`, `status --json`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE, run, run_json

from localrag.bench.synthetic import diagram
from localrag.check import inspect
from localrag.components import Components
from localrag.config import Settings
from localrag.state import State
from localrag.store import COLLECTIONS, Record, Store
from localrag.store.blobs import Blobs

MANUAL = """Descaling the kettle

Fill the kettle with a 1:4 citric acid solution, boil once and leave it for {minutes} minutes.
Rinse three times with clean water before use. The limescale filter is part KF-{part}.
"""


def drawing(path: Path, seed: int) -> Path:
    """A line drawing that no other test figure resembles."""
    diagram(seed, (320, 240)).save(path)
    return path


def make_docs(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"kettle-{i}.md").write_text(MANUAL.format(minutes=20 + i, part=100 + i))
    drawing(folder / "part.png", 7)
    return folder


def status(data: Path) -> dict[str, dict]:
    return {s["source"]: s for s in run_json(data, "status")["sources"]}


def check(data: Path) -> tuple[int, str]:
    res = run(data, "check")
    return res.exit_code, res.output


def test_identical_files_at_two_paths_stay_two_documents(tmp_path):
    docs = make_docs(tmp_path / "docs", 1)
    shutil.copy(docs / "kettle-0.md", docs / "copy.md")
    shutil.copy(docs / "part.png", docs / "part-copy.png")
    data = tmp_path / "data"
    assert run(data, "index", str(docs)).exit_code == 0
    st = status(data)
    a, b = str(docs / "kettle-0.md"), str(docs / "copy.md")
    assert st[a]["records"]["text"] == st[b]["records"]["text"] == st[a]["chunks"] > 0
    assert st[str(docs / "part.png")]["records"]["figures"] == 1
    assert st[str(docs / "part-copy.png")]["records"]["figure_images"] == 1
    assert check(data)[0] == 0

    (docs / "copy.md").unlink()
    (docs / "part-copy.png").unlink()
    pruned = run_json(data, "index", "--prune", str(docs))
    assert sorted(pruned["pruned"]) == sorted([b, str(docs / "part-copy.png")])
    st = status(data)
    assert st[a]["records"]["text"] == st[a]["chunks"] > 0  # the original keeps its records
    assert st[str(docs / "part.png")]["records"]["figures"] == 1
    hits = run_json(data, "search", "citric acid descaling")["hits"]
    assert hits and hits[0]["source"] == a
    again = run_json(data, "index", str(docs))
    assert set(again["skipped"]) == {a, str(docs / "part.png")}
    assert check(data)[0] == 0


def test_relative_and_absolute_paths_are_one_source(tmp_path, monkeypatch):
    docs = make_docs(tmp_path / "docs", 2)
    data = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    first = run_json(data, "index", "docs")
    assert len(first["indexed"]) == 3 and all(Path(s).is_absolute() for s in first["indexed"])
    second = run_json(data, "index", str(docs.resolve()))
    assert second["indexed"] == [] and len(second["skipped"]) == 3
    other = tmp_path / "other"
    make_docs(other, 1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    third = run_json(data, "index", "--prune", str(other))
    assert third["pruned"] == []  # docs/ still exists: another root does not prune it
    assert len(status(data)) == 5
    monkeypatch.chdir(tmp_path)
    assert "\n  docs/kettle-0.md  " in run(data, "status").output  # shown relative where shorter


def test_replaced_and_pruned_files_leave_no_orphan_blobs(tmp_path):
    docs = make_docs(tmp_path / "docs", 1)
    data = tmp_path / "data"
    run_json(data, "index", str(docs))
    blobs = Blobs(data / "blobs")
    before = set(blobs.files())
    for seed in (11, 12, 13):  # a new drawing each time: new figure blobs, the old ones must go
        drawing(docs / "part.png", seed)
        run_json(data, "index", str(docs))
        assert len(set(blobs.files())) == len(before)
        assert check(data)[0] == 0
    (docs / "part.png").unlink()
    run_json(data, "index", "--prune", str(docs))
    assert len(set(blobs.files())) < len(before)
    assert check(data)[0] == 0
    state = State(data / "state.sqlite", readonly=True)
    assert set(blobs.files()) == state.blob_keys()


def test_truncated_blob_is_found_and_rewritten(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / SAMPLE.name)
    data = tmp_path / "data"
    run_json(data, "index", str(docs))
    blobs = Blobs(data / "blobs")
    page = next(k for k in blobs.files() if k.endswith(".png"))
    raw = blobs.path(page).read_bytes()
    blobs.path(page).write_bytes(raw[: len(raw) // 3])  # what a full disk leaves behind
    code, out = check(data)
    assert code == 1 and "damaged-blob" in out and page in out
    run_json(data, "index", "--force", str(docs))
    assert blobs.valid(page)
    assert check(data)[0] == 0


def test_threads_writing_one_blob_at_once_leave_it_whole(tmp_path):
    import threading

    blobs = Blobs(tmp_path / "blobs")
    img = diagram(7)
    start, errors = threading.Barrier(4), []

    def write() -> None:
        start.wait()
        for _ in range(10):
            try:
                blobs.put_png("ab/cd.png", img, force=True)
            except Exception as exc:  # reported below: a thread's exception is otherwise lost
                errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and list(blobs.files()) == ["ab/cd.png"] and blobs.valid("ab/cd.png")


def test_non_utf8_file_name_is_indexed(tmp_path):
    if sys.platform == "darwin":
        pytest.skip("macOS file systems refuse names that are not UTF-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    name = os.fsdecode(b"K\xfchlschrank.md")  # Latin-1 bytes, as old archives and SMB shares have
    (docs / name).write_text(MANUAL.format(minutes=5, part=7))
    (docs / "plain.md").write_text(MANUAL.format(minutes=6, part=8))
    data = tmp_path / "data"
    res = run(data, "index", str(docs))
    assert res.exit_code == 0, res.output
    sources = status(data)
    assert str(docs / "K\\xfchlschrank.md") in sources and len(sources) == 2
    assert run_json(data, "index", str(docs))["indexed"] == []
    assert run_json(data, "index", "--prune", str(docs))["pruned"] == []  # it still exists
    (docs / name).unlink()
    assert run_json(data, "index", "--prune", str(docs))["pruned"] == [str(docs / "K\\xfchlschrank.md")]
    assert check(data)[0] == 0


def test_check_finds_each_injected_corruption_and_repair_fixes_it(tmp_path):
    docs = make_docs(tmp_path / "docs", 2)
    data = tmp_path / "data"
    run_json(data, "index", str(docs))
    assert check(data)[0] == 0
    settings = Settings(data_dir=data)
    store = Store(settings.chroma_dir, Components(settings).fingerprints())
    blobs = Blobs(settings.blobs_dir)
    state = State(settings.state_db)
    md0, md1 = str(docs / "kettle-0.md"), str(docs / "kettle-1.md")
    png = str(docs / "part.png")
    import numpy as np

    # orphan records, a lost record, an interrupted file, an orphan blob, a missing blob
    vec = np.ones(384, np.float32) / np.sqrt(384)
    store.add("text", [Record("ghost", vec, "ghost text", {"source": "/nowhere/ghost.md", "page": 1})])
    store.delete_ids("text", store.ids_for_source("text", md0)[:1])
    state.mark_pending(md1)
    (settings.blobs_dir / "zz").mkdir(parents=True, exist_ok=True)
    (settings.blobs_dir / "zz" / "stray.png").write_bytes(b"not a png")
    fig_key = next(k for k in state.blob_keys(png) if k.endswith(".png"))
    blobs.remove(fig_key)
    report = inspect(State(settings.state_db, readonly=True), store, blobs)
    kinds = {(v.kind, v.subject) for v in report.violations}
    assert ("orphan-records", "/nowhere/ghost.md") in kinds
    assert ("record-count", md0) in kinds
    assert ("interrupted", md1) in kinds
    assert ("orphan-blob", "zz/stray.png") in kinds
    assert ("missing-blob", png) in kinds
    code, out = check(data)
    assert code == 1 and len(out.strip().splitlines()) == len(report.violations)

    res = run(data, "check", "--repair")
    assert res.exit_code == 0, res.output
    assert "re-indexing" in res.output
    assert check(data)[0] == 0
    st = status(data)
    assert set(st) == {md0, md1, png} and all(s["state"] == "indexed" for s in st.values())


def test_status_json_lists_each_source_with_its_record_counts(indexed_home):
    doc = run_json(indexed_home / "data", "status")
    assert doc["format"] == 2 and doc["generation"] > 0
    (src,) = doc["sources"]
    assert src["source"] == str(indexed_home / "docs" / SAMPLE.name)
    want = {"text": src["chunks"], "figures": src["figures"], "figure_images": src["figures"]}
    assert src["records"] == want
    assert src["pages"] == 9 and src["state"] == "indexed"
    assert set(doc["collections"]) == set(COLLECTIONS)


def test_a_second_writer_is_refused_with_one_line(tmp_path):
    from localrag.store.lock import writer_lock

    docs = make_docs(tmp_path / "docs", 1)
    data = tmp_path / "data"
    with writer_lock(data):
        res = run(data, "index", str(docs))
    assert res.exit_code == 4
    assert res.stderr.strip().count("\n") == 0 and "another localrag process" in res.stderr


READER = """
import json, sys
from pathlib import Path
from localrag.components import Components
from localrag.config import Settings
from localrag.retrieve import Retriever

settings = Settings(data_dir=Path(sys.argv[1]))
retriever = Retriever.of(settings, Components(settings))
retriever.search("limescale filter", k=1)  # loaded before the first re-index
errors, reloads = 0, 0
for line in sys.stdin:
    want = line.strip()
    try:
        reloads += retriever.refresh()
        hits = retriever.search(f"limescale filter part KF-{want}", k=3).hits
        ok = hits and want in hits[0].text
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        ok = False
    errors += not ok
    print(json.dumps({"ok": bool(ok), "errors": errors, "reloads": reloads}), flush=True)
"""


def test_a_long_lived_reader_survives_ten_reindexes(tmp_path):
    """One process keeps the Python API open while another re-indexes ten times."""
    docs = tmp_path / "docs"
    docs.mkdir()
    data = tmp_path / "data"
    (docs / "kettle.md").write_text(MANUAL.format(minutes=1, part=1000))
    run_json(data, "index", str(docs))
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert reader.stdin and reader.stdout
    results = []
    try:
        for i in range(1, 11):
            part = 1000 + i
            (docs / "kettle.md").write_text(MANUAL.format(minutes=i, part=part))
            (docs / f"extra-{i}.md").write_text(f"Extra note {i} about the lid hinge.\n")
            writer = subprocess.run(
                [sys.executable, "-m", "localrag", "--data-dir", str(data), "index", "--prune", str(docs)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=False,
            )
            assert writer.returncode == 0, writer.stderr
            (docs / f"extra-{i}.md").unlink()
            reader.stdin.write(f"{part}\n")
            reader.stdin.flush()
            results.append(json.loads(reader.stdout.readline()))
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)
    assert [r["ok"] for r in results] == [True] * 10
    assert results[-1]["errors"] == 0 and results[-1]["reloads"] == 10


def test_a_reader_opened_before_the_first_index_sees_it(tmp_path):
    from localrag.retrieve import Retriever

    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    retriever = Retriever.of(settings, Components(settings))
    assert retriever.search("citric acid", k=2).hits == []
    assert not data.exists()  # a reader writes nothing
    run_json(data, "index", str(make_docs(tmp_path / "docs", 1)))
    hits = retriever.search("citric acid descaling", k=2).hits
    assert hits and hits[0].source == str(tmp_path / "docs" / "kettle-0.md")


def test_remove_drops_files_and_their_blobs_and_nothing_else(tmp_path):
    docs = make_docs(tmp_path / "docs", 2)
    data = tmp_path / "data"
    run_json(data, "index", str(docs))
    gone = run_json(data, "remove", str(docs / "kettle-0.md"))
    assert gone == {"removed": [str(docs / "kettle-0.md")], "not_indexed": []}
    assert set(status(data)) == {str(docs / "kettle-1.md"), str(docs / "part.png")}
    assert (docs / "kettle-0.md").exists()  # the file itself is left alone
    assert check(data)[0] == 0
    missing = run(data, "remove", str(docs / "kettle-0.md"))
    assert missing.exit_code == 1 and "not indexed" in missing.stderr
    assert len(run_json(data, "remove", str(docs))["removed"]) == 2  # a folder: everything under it
    assert status(data) == {} and list(Blobs(data / "blobs").files()) == []
    assert check(data)[0] == 0


def test_one_engine_indexes_and_searches_warm(tmp_path):
    """The object every shell drives: its reader follows its own writer without reloading models."""
    from localrag.engine import Engine

    docs = make_docs(tmp_path / "docs", 1)
    engine = Engine(Settings(data_dir=tmp_path / "data"))
    assert engine.index([docs]).indexed
    first = engine.search("citric acid descaling", k=1).hits[0]
    assert "20 minutes" in first.text
    model = engine.components.text_embedder
    (docs / "kettle-0.md").write_text(MANUAL.format(minutes=45, part=100))
    assert engine.index([docs]).indexed == [str(docs / "kettle-0.md")]
    hit = engine.search("citric acid descaling", k=1).hits[0]
    assert "45 minutes" in hit.text and engine.components.text_embedder is model
    ans = engine.ask("How long should the citric acid solution stay in the kettle?")
    assert not ans.refused and "45" in ans.answer
    assert engine.status()["sources"][0]["records"]["text"] == engine.status()["sources"][0]["chunks"]
    report, _ = engine.check()
    assert report.ok


def test_an_unexpected_error_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    from localrag.engine import Engine

    def broken(self):
        raise RuntimeError("boom\nwith a second line")

    monkeypatch.setattr(Engine, "status", broken)
    res = run(tmp_path / "data", "status")
    assert res.exit_code == 70
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "internal error: RuntimeError: boom at test_integrity.py:" in res.stderr
    assert "LOCALRAG_DEBUG" in res.stderr
