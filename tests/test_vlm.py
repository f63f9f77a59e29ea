"""The real llama.cpp vision path with a tiny random projector and the real Gemma 3 270M."""

from __future__ import annotations

import base64
import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import QUERY_PHOTO, ROOT, SAMPLE, run_json
from PIL import Image

from localrag.answer import Answerer
from localrag.components import Components
from localrag.config import Settings
from localrag.errors import ConfigError
from localrag.llm import LlamaModel, image_url
from localrag.retrieve import Retriever
from localrag.state import State

sys.path.insert(0, str(ROOT / "scripts"))
import make_tiny_models as tiny


def vlm_entry(tiny_dir: Path, handler: str = "mtmd", **params) -> dict:
    return {
        "role": "describer",
        "source": {"path": str(tiny_dir / "gemma-3-270m.gguf")},
        "mmproj": {"path": str(tiny_dir / "tiny-mmproj.gguf")},
        "license": "Gemma Terms of Use (text model); random projector",
        "params": {
            "chat_handler": handler,
            "chat_template": tiny.GEMMA_TEMPLATE,
            "n_ctx": 1024,
            "n_batch": 64,
            "n_ubatch": 64,
            "max_tokens": 12,
            "temperature": 0.0,
            **params,
        },
    }


@pytest.fixture(scope="session")
def tiny_registry(tiny_dir: Path) -> Path:
    data = yaml.safe_load((ROOT / "models.yaml").read_text())
    data["models"]["tiny-vlm"] = vlm_entry(tiny_dir)
    data["profiles"]["tiny"] = {
        **data["profiles"]["default"],
        "describer": "tiny-vlm",
        "generator": "tiny-vlm",
    }
    path = tiny_dir / "models.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def spec_of(tiny_dir: Path, handler: str = "mtmd", **params):
    from localrag.registry.spec import model_spec

    return model_spec("tiny-vlm", vlm_entry(tiny_dir, handler, **params), Path("test"))


def ask_image(model: LlamaModel, img: Image.Image) -> str:
    parts = [
        {"type": "image_url", "image_url": {"url": image_url(img)}},
        {"type": "text", "text": "Describe."},
    ]
    return model.chat([{"role": "user", "content": parts}])


@pytest.mark.parametrize("handler", ["mtmd", "llava15"])
def test_pixels_reach_the_model(tiny_dir, handler):
    model = LlamaModel(spec_of(tiny_dir, handler, max_tokens=24), n_threads=2)
    # seeded: PIL's effect_noise differs per run, and some draws read like the plain images
    noise = Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    figs = [Image.open(QUERY_PHOTO), Image.new("RGB", (64, 64), "navy"), noise]
    first = [ask_image(model, im) for im in figs]
    again = ask_image(model, figs[0])
    model.close()
    assert len(set(first)) >= 2, first  # different pixels, different words at temperature 0
    assert again == first[0]  # and the same pixels, the same words


def test_ubatch_below_image_tokens_is_refused_before_llama_cpp(tiny_dir):
    model = LlamaModel(spec_of(tiny_dir, n_batch=8, n_ubatch=8), n_threads=2)
    with pytest.raises(ConfigError, match="one image becomes up to 16 tokens"):
        _ = model.llm
    assert model.check_image_batch.__self__ is model  # the process is still alive to get here


def test_vlm_describes_figures_and_the_cache_is_reused(tiny_registry, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs)
    data = tmp_path / "data"
    first = run_json(data, "--models", str(tiny_registry), "--profile", "tiny", "index", str(docs))
    assert first["described"] == first["figures"] >= 6
    settings = Settings(data_dir=data, profile="tiny", registry_path=tiny_registry)
    comps = Components(settings)
    d = comps.describer
    assert type(d).__name__ == "VlmDescriber"
    state = State(settings.state_db)
    rows = state.db.execute(
        "SELECT text FROM descriptions WHERE model_key=? AND prompt_key=?", (d.model_key, d.prompt_key)
    ).fetchall()
    assert len(rows) == first["figures"] and all(r[0] for r in rows)
    store_docs = [doc for _, doc, _ in Retriever.of(settings, comps).store.all_documents("figures")]
    assert any(rows[0][0] in doc for doc in store_docs)  # the VLM's words are what gets indexed
    again = run_json(data, "--models", str(tiny_registry), "--profile", "tiny", "index", "--force", str(docs))
    assert again["described"] == 0 and again["cached_descriptions"] == first["figures"]


def _decoded_sizes(messages: list[dict]) -> list[tuple[int, int]]:
    out = []
    for part in messages[-1]["content"]:
        if isinstance(part, dict) and part.get("type") == "image_url":
            raw = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
            out.append(Image.open(io.BytesIO(raw)).size)
    return out


def test_ask_passes_retrieved_figures_as_pixels(tiny_registry, indexed_home, tmp_path):
    home = tmp_path / "h"
    shutil.copytree(indexed_home, home)
    settings = Settings(data_dir=home / "data", profile="tiny", registry_path=tiny_registry)
    # the tiny profile shares the default embedders, so the default index serves it
    comps = Components(settings)
    sent: list[list[dict]] = []
    real_chat = comps.generator.chat

    def spy(messages, max_tokens=None, on_token=None):
        sent.append(messages)
        return real_chat(messages, max_tokens, on_token)

    comps.generator.chat = spy
    answerer = Answerer(
        Retriever.of(settings, comps), comps.generator, comps.text_embedder.embed_texts, mode="auto"
    )
    photo = Image.open(QUERY_PHOTO)
    ans = answerer.ask("Which fuse is this?", photo)
    sizes = _decoded_sizes(sent[-1])
    assert len(sizes) >= 2  # the user's photo and at least the matched figure
    matched = next(h for h in ans.hits if h.match)
    assert Image.open(matched.image).size in sizes or any(max(s) == 896 for s in sizes)
    assert ans.model_output
    # the VLM's words go through the same claim check as a text generator's
    considered = ans.sentences
    assert considered and all(s.reason for s in considered if not s.supported)
    kept = " ".join(s.rendered() for s in considered if s.supported)
    assert ans.answer == kept
    other = answerer.ask("Which fuse is this?", Image.new("RGB", (300, 200), "white"))
    assert other.refused or other.model_output != ans.model_output


@pytest.mark.parametrize(("budget", "both_loaded"), [("1", False), ("100000", True)])
def test_describer_and_generator_share_vram_by_budget(tiny_dir, tmp_path, monkeypatch, budget, both_loaded):
    data = yaml.safe_load((ROOT / "models.yaml").read_text())
    data["models"]["tiny-vlm"] = vlm_entry(tiny_dir, n_gpu_layers=-1)
    data["models"]["smollm2-135m-instruct"]["params"]["n_gpu_layers"] = -1
    data["profiles"]["split"] = {**data["profiles"]["default"], "describer": "tiny-vlm"}
    reg = tmp_path / "models.yaml"
    reg.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("LOCALRAG_VRAM_BUDGET_MIB", budget)
    comps = Components(Settings(data_dir=tmp_path / "d", profile="split", registry_path=reg))
    assert comps.vlm is not comps.generator
    ask_image(comps.vlm, Image.new("RGB", (64, 64), "red"))
    assert comps.vlm.loaded
    comps.generator.chat([{"role": "user", "content": "Say: ok"}], max_tokens=2)
    assert comps.generator.loaded
    assert comps.vlm.loaded is both_loaded
    comps.vlm.close()
    comps.generator.close()


def test_one_model_serves_both_roles(tiny_registry, tmp_path):
    comps = Components(Settings(data_dir=tmp_path, profile="tiny", registry_path=tiny_registry))
    assert comps.generator is comps.vlm
