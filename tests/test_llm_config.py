"""llama.cpp settings reach the Llama constructor (threads pinned, offload passed through)."""

from __future__ import annotations

from dataclasses import replace

import llama_cpp
import pytest

from localrag.config import default_threads
from localrag.llm import LlamaModel
from localrag.registry import load_registry


class Captured(Exception):
    pass


def test_threads_and_offload_are_explicit(monkeypatch):
    seen: dict = {}

    def fake_llama(**kwargs):
        seen.update(kwargs)
        raise Captured

    monkeypatch.setattr(llama_cpp, "Llama", fake_llama)
    spec = load_registry().model("smollm2-135m-instruct")
    spec = replace(spec, params={**spec.params, "n_gpu_layers": -1, "flash_attn": True, "main_gpu": 0})
    with pytest.raises(Captured):
        _ = LlamaModel(spec, n_threads=3).llm
    assert seen["n_threads"] == 3 and seen["n_threads_batch"] == 3
    assert seen["n_gpu_layers"] == -1 and seen["flash_attn"] is True


def test_default_threads_is_bounded():
    assert 1 <= default_threads() <= 64


def test_real_smollm2_generates_with_pinned_threads():
    model = LlamaModel(load_registry().model("smollm2-135m-instruct"), n_threads=2)
    out = model.chat([{"role": "user", "content": "Say the word: filter"}], max_tokens=8)
    assert isinstance(out, str) and out
    assert model.llm.context_params.n_threads == 2
    assert model.llm.context_params.n_threads_batch == 2
    model.close()
