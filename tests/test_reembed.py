"""`index --reembed-images`: an index another image embedder built gets this profile's vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import QUERY_PHOTO, ROOT, SAMPLE, run

from localrag.embed.orb import read_features
from localrag.store.blobs import Blobs
from localrag.store.chroma import REBUILDING, Record, Store


def old_profile(tmp_path: Path) -> Path:
    """models.yaml with a profile `old`: the default one on the previous builtin image embedder."""
    reg = yaml.safe_load((ROOT / "models.yaml").read_text())
    reg["profiles"]["old"] = {**reg["profiles"]["default"], "image_embedder": "orb-bovw-edge-v1"}
    out = tmp_path / "models.yaml"
    out.write_text(yaml.safe_dump(reg))
    return out


def test_an_index_of_the_previous_image_embedder_is_reembedded_in_place(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs)
    data, models = tmp_path / "data", old_profile(tmp_path)
    assert run(data, "--profile", "old", "index", str(docs), models=models).exit_code == 0
    before = json.loads(run(data, "--profile", "old", "status", "--json", models=models).stdout)

    for args in (("search", "--image", str(QUERY_PHOTO)), ("index", str(docs))):
        res = run(data, *args, models=models)
        assert res.exit_code == 4, res.output
        assert "built with orb-bovw-edge-v1" in res.output and "--reembed-images" in res.output
        assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1

    res = run(data, "index", "--reembed-images", "--json", str(docs), models=models)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["images_reembedded"] == 7
    assert summary["indexed"] == [] and len(summary["skipped"]) == 1  # nothing parsed again

    after = json.loads(run(data, "status", "--json", models=models).stdout)
    cols = after["collections"]
    assert cols["figure_images"]["model"].startswith("orb-bovw-edge-tone-v1@")
    assert {n: c["count"] for n, c in cols.items()} == {
        n: c["count"] for n, c in before["collections"].items()
    }
    assert not any(REBUILDING in n for n in cols)
    # each figure's view windows were computed again by the new embedder
    views = [read_features(p) for p in (data / "blobs").rglob("*.orb.npz")]
    assert len(views) == 7 and all(f.views_model == cols["figure_images"]["model"] for f in views)

    hits = json.loads(run(data, "search", "--json", "--image", str(QUERY_PHOTO), models=models).stdout)
    assert hits["hits"][0]["page"] == 4 and hits["visual_match"]
    assert run(data, "check", models=models).exit_code == 0
    again = run(data, "index", "--reembed-images", "--json", str(docs), models=models)
    assert json.loads(again.stdout)["images_reembedded"] == 0  # already this profile's
    refused = run(data, "--profile", "old", "search", "--image", str(QUERY_PHOTO), models=models)
    assert refused.exit_code == 4 and "built with orb-bovw-edge-tone-v1" in refused.output


def _store(path: Path, model: str) -> Store:
    fps = {"text_embedder": "t@1", "image_embedder": model}
    return Store(path / "chroma", fps, Blobs(path / "blobs"))


def _filled(path: Path, n: int = 10) -> None:
    st = _store(path, "old@1")
    recs = [Record(f"r{i}", np.eye(n, dtype=np.float32)[i], f"doc {i}", {"source": "s"}) for i in range(n)]
    st.add("figure_images", recs)


def test_an_interrupted_rebuild_leaves_the_old_vectors_whole(tmp_path, monkeypatch):
    monkeypatch.setattr("localrag.store.chroma.REBUILD_BATCH", 3)
    _filled(tmp_path)
    calls = []

    def failing(recs: list[Record]) -> list[np.ndarray]:
        calls.append(len(recs))
        if len(calls) == 2:
            raise OSError("disk gone")
        return [np.ones(4, np.float32)] * len(recs)

    with pytest.raises(OSError):
        _store(tmp_path, "new@1").rebuild("figure_images", failing)
    old = _store(tmp_path, "old@1")  # still searchable by the model that built it
    assert old.count("figure_images") == 10
    assert old.query("figure_images", np.eye(10, dtype=np.float32)[4], 1)[0].id == "r4"

    done: list[tuple[int, int]] = []
    n = _store(tmp_path, "new@1").rebuild("figure_images", _ones, progress=lambda d, t: done.append((d, t)))
    assert n == 9 and done == [(0, 10), (3, 10), (6, 10), (9, 10), (10, 10)]
    new = _store(tmp_path, "new@1")
    assert new.count("figure_images") == 9 and sorted(new.models()) == ["figure_images"]
    assert new.records("figure_images", ["r7"])[0].document == "doc 7"


def _ones(recs: list[Record]) -> list[np.ndarray | None]:
    # a record whose image is lost comes back as None and is dropped
    return [None if r.id == "r0" else np.ones(4, np.float32) for r in recs]


def test_a_rebuild_stopped_between_its_two_renames_is_finished_by_the_next_writer(tmp_path):
    _filled(tmp_path)
    st = _store(tmp_path, "new@1")
    side = st.client.create_collection(
        "figure_images" + REBUILDING, embedding_function=None, metadata={"embedder": "new@1"}
    )
    side.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["x", "y"])
    st.client.delete_collection("figure_images")  # the old one went; the side one kept its name
    st = _store(tmp_path, "new@1")
    assert st.count("figure_images") == 2
    assert sorted(st.models()) == ["figure_images"]
