"""End to end through the CLI: real SmolLM2 (llama.cpp), real MiniLM, real RapidOCR, real Chroma."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from badfiles import bomb_png, corrupt_pdf, encrypted_pdf, good_text, symlink_loop, text_as_png
from conftest import QUERY_PHOTO, ROOT, SAMPLE, run, run_json

from localrag.components import Components
from localrag.config import Settings
from localrag.store import COLLECTIONS, Store

HIT_KEYS = {"rank", "score", "kind", "source", "page", "figure", "image", "text"}


def counts(data: Path) -> dict[str, int]:
    settings = Settings(data_dir=data)
    store = Store(settings.chroma_dir, Components(settings).fingerprints())
    return {name: store.count(name) for name in COLLECTIONS}


def test_search_json_contract(indexed_home):
    doc = run_json(indexed_home / "data", "search", "how do I replace the filter cartridge", "-k", "6")
    assert doc["query"] == "how do I replace the filter cartridge"
    assert len(doc["hits"]) == 6
    for i, hit in enumerate(doc["hits"], start=1):
        assert set(hit) >= HIT_KEYS
        assert hit["rank"] == i and hit["kind"] in ("text", "figure")
        assert hit["source"] == str(indexed_home / "docs" / SAMPLE.name)
        assert 1 <= hit["page"] <= 9
        assert (hit["figure"] is None) == (hit["kind"] == "text")
        assert Path(hit["image"]).exists()
    assert {h["page"] for h in doc["hits"][:3]} & {5, 6}


def test_ask_cites_evidence_that_resolves(indexed_home):
    doc = run_json(indexed_home / "data", "ask", "What fuse does the unit use?")
    assert not doc["refused"]
    assert doc["citations"]
    for c in doc["citations"]:
        hit = doc["hits"][c["n"] - 1]
        assert (c["source"], c["page"], c["figure"]) == (hit["source"], hit["page"], hit["figure"])
        assert f"[{c['n']}]" in doc["answer"]
    assert any(c["page"] in (4, 8) for c in doc["citations"])


def test_ask_refuses_what_the_manual_does_not_cover(indexed_home):
    doc = run_json(indexed_home / "data", "ask", "What is the capital of France?")
    assert doc["refused"] and doc["citations"] == []
    assert doc["answer"] == "Not found in the documents."


def test_image_query_finds_the_figure_and_ask_cites_it(indexed_home):
    doc = run_json(indexed_home / "data", "search", "--image", str(QUERY_PHOTO), "-k", "3")
    top = doc["hits"][0]
    assert top["kind"] == "figure" and top["page"] == 4
    assert "Wiring" in top["caption"]
    assert top["match"]["inliers"] >= 25 and "verified" in top["signals"]
    ans = run_json(indexed_home / "data", "ask", "--image", str(QUERY_PHOTO), "Which fuse is this?")
    assert not ans["refused"]
    assert (4, top["figure"]) in {(c["page"], c["figure"]) for c in ans["citations"]}


def test_index_is_a_sync(tmp_path):
    data, docs = tmp_path / "data", tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / SAMPLE.name)
    first = run_json(data, "index", str(docs))
    assert first["figures"] >= 6 and first["described"] == first["figures"]
    before = counts(data)
    assert before["figures"] == before["figure_images"] == first["figures"]
    again = run_json(data, "index", str(docs))
    assert again["indexed"] == [] and again["skipped"] == [str(docs / SAMPLE.name)]

    note = good_text(docs / "kettle.md")
    added = run_json(data, "index", str(docs))
    assert added["indexed"] == [str(note)]
    grown = counts(data)
    assert grown["text"] == before["text"] + 1 and grown["figures"] == before["figures"]

    note.write_text("Kettle limescale: boil a 1:4 citric acid solution.\n")
    changed = run_json(data, "index", str(docs))
    assert changed["indexed"] == [str(note)]
    assert counts(data) == grown  # replaced, not duplicated

    forced = run_json(data, "index", "--force", str(docs))
    assert forced["described"] == 0 and forced["cached_descriptions"] == before["figures"]

    note.unlink()
    pruned = run_json(data, "index", "--prune", str(docs))
    assert pruned["pruned"] == [str(note)]
    assert counts(data) == before


def test_bad_batch_is_reported_and_the_rest_indexed(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / SAMPLE.name)
    good = good_text(docs / "kettle.txt")
    bad = {
        corrupt_pdf(docs / "corrupt.pdf"): "not a readable PDF",
        encrypted_pdf(docs / "encrypted.pdf"): "encrypted PDF",
        text_as_png(docs / "notes.png"): "not an image",
        bomb_png(docs / "bomb.png"): "decompression bomb",
        symlink_loop(docs): "symlink loop",
    }
    empty = docs / "empty.pdf"
    empty.write_bytes(b"")
    bad[empty] = "empty file"
    data = tmp_path / "data"
    res = run(data, "index", str(docs))
    assert res.exit_code == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("failed: ")]
    for path, reason in bad.items():
        assert any(str(path) in ln and reason in ln for ln in lines), (path, res.stderr)
    assert str(good) in res.stdout and str(docs / SAMPLE.name) in res.stdout
    first = counts(data)

    hit = run_json(data, "search", "citric acid kettle", "-k", "1")["hits"][0]
    assert hit["source"] == str(good)

    rerun = run(data, "index", "--json", str(docs))
    assert rerun.exit_code == 1
    assert counts(data) == first


def test_model_mismatch_is_refused(fresh_copy, tmp_path):
    reg = yaml.safe_load((ROOT / "models.yaml").read_text())
    reg["models"]["all-minilm-l6-v2-copy"] = dict(reg["models"]["all-minilm-l6-v2"])
    reg["models"]["all-minilm-l6-v2-copy"]["sha256"] = "f" * 64
    reg["profiles"]["other"] = {**reg["profiles"]["default"], "text_embedder": "all-minilm-l6-v2-copy"}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(reg))
    for args in (["search", "filter"], ["index", str(fresh_copy / "docs")]):
        res = run(fresh_copy / "data", "--profile", "other", *args, models=path)
        assert res.exit_code == 4, res.output
        assert "was built with all-minilm-l6-v2@" in res.stderr


def test_missing_model_file_is_named(indexed_home, tmp_path):
    reg = yaml.safe_load((ROOT / "models.yaml").read_text())
    missing = tmp_path / "nowhere" / "SmolLM2.gguf"
    reg["models"]["smollm2-135m-instruct"]["source"] = {"path": str(missing)}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(reg))
    q = "What fuse does the unit use?"
    res = run(indexed_home / "data", "ask", "--mode", "generated", q, models=path)
    assert res.exit_code == 3
    assert f"file not found: {missing}" in res.stderr


def test_progress_bar_shows_files_pages_and_figures(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs)
    res = run(tmp_path / "data", "index", "--progress", str(docs))
    assert res.exit_code == 0
    assert "indexing" in res.stderr and "pages=9" in res.stderr and "figures=" in res.stderr
