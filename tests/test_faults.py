"""Faults of the machine: a full disk, a read-only index, a write that fails halfway, an old index."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run, run_json
from test_integrity import MANUAL, drawing, make_docs

from localrag.components import Components
from localrag.config import Settings
from localrag.errors import DiskFullError
from localrag.indexer import Indexer
from localrag.state import State
from localrag.store import Store


def _mount(args: list[str], where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.skip(f"cannot mount here ({out.stderr.strip() or out.returncode}); needs root")


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.parametrize("preflight", [True, False], ids=["room-check", "chroma-write-fails"])
def test_a_full_disk_stops_with_one_line_and_search_still_works(tmp_path, monkeypatch, preflight):
    """With the room check a file is never started; without it Chroma's own write fails halfway."""
    import localrag.indexer

    if not preflight:
        monkeypatch.setattr(localrag.indexer, "ROOM_FACTOR", 0)
        monkeypatch.setattr(localrag.indexer, "ROOM_MARGIN", 0)
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(16):
        lines = (f"Section {k}: pump {k * i} runs at {k + i} bar; valve {k * 7 + i}. " * 5 for k in range(60))
        (docs / f"notes{i}.md").write_text("\n\n".join(lines))
    drawing(docs / "part.png", 3)
    disk = tmp_path / "disk"
    _mount(["-t", "tmpfs", "-o", "size=3m", "tmpfs"], disk)
    try:
        data = disk / "data"
        res = run(data, "index", str(docs))
        assert res.exit_code == 4, res.output
        errors = [ln for ln in res.stderr.splitlines() if ln.startswith("localrag: error:")]
        assert len(errors) == 1 and "free some disk space" in errors[0], res.stderr
        assert "Traceback" not in res.output
        hits = run_json(data, "search", "pump bar valve", "-k", "3")["hits"]
        assert hits  # reading works while the disk is full
        done = run_json(data, "status")["sources"]
        assert 0 < len(done) < 17
        checked = run(data, "check")
        if preflight:
            assert checked.exit_code == 0, checked.output  # nothing was started that did not finish
        else:  # at most the file being written is left pending, and says so
            bad = [ln for ln in checked.output.splitlines() if ":" in ln and not ln.startswith("ok")]
            assert all(ln.startswith("interrupted: ") for ln in bad) and len(bad) <= 1, checked.output
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        again = run_json(data, "index", str(docs))
        assert len(again["indexed"]) + len(again["skipped"]) == 17
        assert run(data, "check").exit_code == 0
    finally:
        _umount(disk)


def test_a_write_that_fails_halfway_rolls_back_to_the_old_records(tmp_path, monkeypatch):
    docs = make_docs(tmp_path / "docs", 1)
    data = tmp_path / "data"
    run_json(data, "index", str(docs))
    before = run_json(data, "status")["sources"]
    (docs / "kettle-0.md").write_text(MANUAL.format(minutes=99, part=999) + "\n\nA new paragraph.\n" * 3)
    calls = {"n": 0}
    real_add = Store.add

    def flaky(self, name, records):
        calls["n"] += 1
        if calls["n"] == 2:  # the second collection of the file: the first is already written
            raise DiskFullError("disk full (injected)")
        return real_add(self, name, records)

    monkeypatch.setattr(Store, "add", flaky)
    settings = Settings(data_dir=data)
    summary = Indexer.of(settings, Components(settings)).sync([docs])
    assert isinstance(summary.aborted, DiskFullError)
    monkeypatch.setattr(Store, "add", real_add)
    assert run_json(data, "status")["sources"] == before  # the old version, whole
    assert run(data, "check").exit_code == 0
    hit = run_json(data, "search", "descaling citric acid minutes", "-k", "1")["hits"][0]
    assert "leave it for 20 minutes" in hit["text"]
    assert run_json(data, "index", str(docs))["indexed"] == [str(docs / "kettle-0.md")]
    assert run(data, "check").exit_code == 0


def test_a_read_only_index_is_searched_and_checked(tmp_path):
    docs = make_docs(tmp_path / "docs", 2)
    data = tmp_path / "data"
    run_json(data, "index", str(docs))
    ro = tmp_path / "ro"
    _mount(["--bind", str(data)], ro)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
        assert subprocess.run(["touch", str(ro / "x")], check=False, capture_output=True).returncode != 0
        hits = run_json(ro, "search", "citric acid descaling", "-k", "2")["hits"]
        assert hits and hits[0]["source"].startswith(str(docs))
        ans = run_json(ro, "ask", "How long should the citric acid solution stay in the kettle?")
        assert not ans["refused"] and ("20" in ans["answer"] or "21" in ans["answer"])
        assert run_json(ro, "status")["sources"]
        assert run(ro, "check").exit_code == 0
        res = run(ro, "index", str(docs))
        assert res.exit_code == 4 and "read-only" in res.stderr and "Traceback" not in res.output
    finally:
        _umount(ro)


def test_an_index_of_the_previous_format_is_upgraded_in_place(tmp_path, monkeypatch):
    """Format 1: sources as typed, ids without the source, absolute blob paths, no blob table."""
    from localrag.ingest import content_id
    from localrag.store import COLLECTIONS

    docs = make_docs(tmp_path / "docs", 2)
    shutil.copy(docs / "kettle-0.md", docs / "same.md")
    data = tmp_path / "data"
    run_json(data, "index", str(docs))
    settings = Settings(data_dir=data)
    store = Store(settings.chroma_dir, Components(settings).fingerprints())
    monkeypatch.chdir(tmp_path)
    for name in COLLECTIONS:  # rewrite every record the way format 1 stored it
        metas = store.metadatas(name)
        recs = store.records(name, [i for i, _ in metas])
        for r in recs:
            r.metadata["source"] = str(Path(r.metadata["source"]).relative_to(tmp_path))
            if r.metadata.get("image"):
                r.metadata["image"] = str(settings.blobs_dir / r.metadata["image"])
            # no source in the id: identical files collapse into one record, labelled by the last
            r.id = content_id("v1", r.document, r.metadata["page"], r.metadata.get("figure"))
        store.delete_ids(name, [i for i, _ in metas])
        store.add(name, list({r.id: r for r in recs}.values()))
    state = State(settings.state_db)
    with state.db:
        state.db.execute("DROP TABLE meta")
        state.db.execute("DELETE FROM blobs")
        state.db.execute("UPDATE files SET source = substr(source, ?)", (len(str(tmp_path)) + 2,))
    state.close()
    stray = settings.blobs_dir / "ab" / "abandoned-render.png"  # an earlier version's page render
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"\x89PNG old")
    old = run(data, "check")
    assert old.exit_code == 1 and "older localrag (format 1)" in old.output
    assert run_json(data, "search", "citric acid", "-k", "1")["hits"]  # readable before the upgrade

    res = run_json(data, "index", "docs")
    assert res["warnings"][0].startswith("upgraded the index")
    st = {s["source"]: s for s in run_json(data, "status")["sources"]}
    assert set(st) == {str(docs / n) for n in ("kettle-0.md", "kettle-1.md", "same.md", "part.png")}
    assert all(s["records"]["text"] == s["chunks"] for s in st.values())
    assert not stray.exists()
    assert run(data, "check").exit_code == 0
