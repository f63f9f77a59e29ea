"""The ONNX Runtime text embedder gives the torch model's vectors, from a cached export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from localrag.embed import base, onnx_text
from localrag.embed.onnx_text import Layout, OnnxTextEmbedder, onnx_cache
from localrag.embed.sbert import SentenceTransformerEmbedder
from localrag.errors import ConfigError, ModelError
from localrag.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "Replace the fuse F3 before reconnecting the 12 V supply.",
    "",
    "x",
    "Torque the M6 bolts to 9 N·m in a star pattern. " * 120,  # well past 256 tokens: truncated
    "Ünïcödé, tabs\tand\nnewlines; 日本語のテキスト.",
]


@pytest.fixture(scope="module")
def minilm():
    """The real MiniLM spec of the default profile."""
    return load_registry().model("all-minilm-l6-v2")


def test_default_profile_runs_minilm_on_onnx(minilm) -> None:
    assert minilm.embedder.backend == "onnx"


def test_onnx_vectors_match_sentence_transformers(minilm) -> None:
    fast = OnnxTextEmbedder(minilm, n_threads=2).embed_texts(TEXTS)
    ref = SentenceTransformerEmbedder(minilm, n_threads=2).embed_texts(TEXTS)
    assert fast.shape == ref.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert float((fast * ref).sum(axis=1).min()) > 0.99999
    assert OnnxTextEmbedder(minilm, n_threads=1).embed_texts([]).shape == (0, 384)


def test_long_texts_go_fewer_at_a_time_for_the_same_vectors(minilm, monkeypatch) -> None:
    lengths = [40, 300, 3, 256, 40, 1, 256, 40]
    embedder = OnnxTextEmbedder(minilm, n_threads=2)
    embedder.batch_size = 3
    batches = list(embedder.token_batches(lengths))
    assert sorted(i for b in batches for i in b) == list(range(8))  # each text once
    assert [lengths[b[0]] for b in batches] == sorted((lengths[b[0]] for b in batches), reverse=True)
    assert all(len(b) <= 3 and len(b) * max(lengths[i] for i in b) <= base.BATCH_TOKENS for b in batches)
    monkeypatch.setattr(base, "BATCH_TOKENS", 300)  # the 256-token texts one at a time
    assert [len(b) for b in embedder.token_batches(lengths)] == [1, 1, 1, 3, 2]
    texts = [t * k for t in TEXTS for k in (1, 7, 40)]  # lengths from 1 to 256 tokens
    for backend in (OnnxTextEmbedder, SentenceTransformerEmbedder):
        embedder = backend(minilm, n_threads=2)
        monkeypatch.setattr(base, "BATCH_TOKENS", 1 << 20)  # batch_size texts at a time
        whole = embedder.embed_texts(texts)
        monkeypatch.setattr(base, "BATCH_TOKENS", 1)  # every text alone, unpadded
        assert np.allclose(embedder.embed_texts(texts), whole, atol=1e-5)
    calls: list[int] = []  # torch: the model is called once per budgeted batch
    encode = embedder._encode
    monkeypatch.setattr(embedder, "_encode", lambda items: calls.append(len(items)) or encode(items))
    embedder.embed_texts(texts)
    assert calls == [1] * len(texts)


def test_export_is_cached_and_a_broken_file_is_made_again(minilm, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    graph = onnx_cache(minilm)
    assert graph.is_relative_to(tmp_path)
    first = OnnxTextEmbedder(minilm, n_threads=2).embed_texts(TEXTS[:1])
    assert graph.exists()
    stamp = graph.stat().st_mtime_ns

    def no_export(*_: object) -> None:
        raise AssertionError("exported again although the graph is cached")

    monkeypatch.setattr(onnx_text, "export", no_export)
    again = OnnxTextEmbedder(minilm, n_threads=2).embed_texts(TEXTS[:1])
    assert graph.stat().st_mtime_ns == stamp and np.allclose(first, again)

    graph.write_bytes(b"not an onnx graph")  # e.g. a disk that filled up mid-copy
    with pytest.raises(ModelError, match="cannot open"):
        OnnxTextEmbedder(minilm, n_threads=2).embed_texts(TEXTS[:1])
    assert not graph.exists()
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert np.allclose(OnnxTextEmbedder(minilm, n_threads=2).embed_texts(TEXTS[:1]), first, atol=1e-5)


def test_an_unwritable_cache_exports_for_the_process_only(minilm, tmp_path, monkeypatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # $XDG_CACHE_HOME is a file: nothing can be made under it
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    vec = OnnxTextEmbedder(minilm, n_threads=2).embed_texts(TEXTS[:1])
    assert vec.shape == (1, 384) and abs(float(np.linalg.norm(vec)) - 1) < 1e-5


def test_layout_reads_pooling_and_refuses_what_onnx_cannot_run(tmp_path) -> None:
    def folder(pool: dict, modules: list[str]) -> Path:
        d = tmp_path / str(len(list(tmp_path.iterdir())))
        (d / "1_Pooling").mkdir(parents=True)
        (d / "1_Pooling" / "config.json").write_text(json.dumps(pool))
        mods = [{"type": f"sentence_transformers.models.{m}", "path": "1_Pooling" if m == "Pooling" else ""}
                for m in modules]  # fmt: skip
        (d / "modules.json").write_text(json.dumps(mods))
        return d

    mean = Layout.read(folder({"pooling_mode_mean_tokens": True}, ["Transformer", "Pooling", "Normalize"]))
    assert (mean.pooling, mean.normalize, mean.max_length, mean.pad_token) == ("mean", True, 512, "[PAD]")
    assert Layout.read(folder({"pooling_mode_cls_token": True}, ["Transformer", "Pooling"])).pooling == "cls"
    with pytest.raises(ModelError, match="only mean or CLS pooling"):
        Layout.read(folder({"pooling_mode_max_tokens": True}, ["Transformer", "Pooling"]))
    with pytest.raises(ModelError, match="cannot run on onnx"):
        Layout.read(folder({"pooling_mode_mean_tokens": True}, ["Transformer", "Pooling", "Dense"]))
    with pytest.raises(ModelError, match="not a sentence-transformers folder"):
        Layout.read(tmp_path / "missing")


def test_unknown_backend_is_one_config_error(tmp_path) -> None:
    reg = yaml.safe_load((ROOT / "models.yaml").read_text())
    reg["models"]["all-minilm-l6-v2"]["params"]["backend"] = "tensorrt"
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(reg))
    with pytest.raises(ConfigError, match="backend"):
        load_registry(path)
