"""The model registry: parsing, profiles, sha256 verification, and the fetch script."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run

from localrag.errors import ConfigError
from localrag.registry import load_registry, verify_spec

sys.path.insert(0, str(ROOT / "scripts"))
import fetch_models


def test_default_profile_uses_the_embedded_models():
    reg = load_registry()
    prof = reg.profile("default")
    assert prof.roles["generator"] == "smollm2-135m-instruct"
    assert prof.roles["text_embedder"] == "all-minilm-l6-v2"
    assert prof.roles["ocr"] == "rapidocr-ppocrv4"
    assert prof.roles["describer"] is None


def test_gpu_profile_lists_a_vlm_with_mmproj_and_urls():
    reg = load_registry()
    vlm = reg.for_role("gpu", "describer")
    assert vlm is not None and vlm.mmproj is not None
    assert vlm.source.url.startswith("https://") and vlm.mmproj.url.startswith("https://")
    assert reg.for_role("gpu", "image_embedder").params["kind"] == "sentence-transformers"
    assert all(m.license for m in reg.models.values())


def test_default_models_verify_against_pinned_sha256():
    reg = load_registry()
    for role in ("generator", "text_embedder", "ocr", "image_embedder"):
        results = verify_spec(reg.for_role("default", role))
        assert all(r.status in ("ok", "builtin") for r in results), results


def _registry_with(tmp_path: Path, model_id: str, **source) -> Path:
    data = yaml.safe_load((ROOT / "models.yaml").read_text())
    data["models"][model_id]["source"] = source
    out = tmp_path / "models.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


def test_tampered_and_missing_files_are_reported(tmp_path):
    reg = load_registry()
    real = reg.model("smollm2-135m-instruct").path()
    fake = tmp_path / "smollm2.gguf"
    data = bytearray(real.read_bytes())
    data[1000] ^= 0xFF
    fake.write_bytes(bytes(data))
    tampered = load_registry(_registry_with(tmp_path, "smollm2-135m-instruct", path=str(fake)))
    [res] = verify_spec(tampered.model("smollm2-135m-instruct"))
    assert res.status == "mismatch" and "tampered" in res.message

    missing = _registry_with(tmp_path, "smollm2-135m-instruct", path=str(tmp_path / "gone.gguf"))
    out = run(tmp_path / "data", "models", "verify", models=missing)
    assert out.exit_code == 1
    assert "MISSING" in out.output and "gone.gguf" in out.output


def test_models_list_and_verify_cli(tmp_path):
    out = run(tmp_path, "models", "list")
    assert out.exit_code == 0 and "smollm2-135m-instruct" in out.output and "present" in out.output
    out = run(tmp_path, "models", "verify")
    assert out.exit_code == 0, out.output
    assert "sha256 verified" in out.output


def test_bad_registry_is_a_config_error(tmp_path):
    bad = tmp_path / "models.yaml"
    bad.write_text("models:\n  x:\n    role: wizard\n    source: {path: /x}\nprofiles: {}\n")
    with pytest.raises(ConfigError, match="role 'wizard'"):
        load_registry(bad)


def test_fetch_models_downloads_verifies_and_pins(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    weights, proj = src / "vlm.gguf", src / "mmproj.gguf"
    weights.write_bytes(b"weights" * 100)
    proj.write_bytes(b"projector" * 50)
    data = yaml.safe_load((ROOT / "models.yaml").read_text())
    vlm = data["models"]["qwen2.5-vl-3b-instruct"]
    vlm["source"] = {"path": str(tmp_path / "dl" / "vlm.gguf"), "url": weights.as_uri()}
    vlm["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    vlm["mmproj"] = {"path": str(tmp_path / "dl" / "mmproj.gguf"), "url": proj.as_uri(), "sha256": None}
    data["profiles"] = {"gpu": {"describer": "qwen2.5-vl-3b-instruct", "generator": None}}
    reg = tmp_path / "models.yaml"
    reg.write_text(yaml.safe_dump(data))

    assert fetch_models.main(["--profile", "gpu", "--models", str(reg)]) == 0
    assert (tmp_path / "dl" / "vlm.gguf").read_bytes() == weights.read_bytes()
    lock = yaml.safe_load((tmp_path / "models.lock.yaml").read_text())
    assert lock[proj.as_uri()] == hashlib.sha256(proj.read_bytes()).hexdigest()

    vlm["sha256"] = "0" * 64  # a pinned hash that the download does not match is rejected
    reg.write_text(yaml.safe_dump(data))
    (tmp_path / "dl" / "vlm.gguf").unlink()
    with pytest.raises(ValueError, match="rejected"):
        fetch_models.main(["--profile", "gpu", "--models", str(reg)])
    assert not (tmp_path / "dl" / "vlm.gguf").exists()


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("n_ctxx", 4096, "params.n_ctxx: Extra inputs are not permitted"),
        ("n_ctx", "big", "params.n_ctx: Input should be a valid integer"),
        ("n_ctx", 0, "params.n_ctx: Input should be greater than 0"),
        ("temperature", -1, "params.temperature"),
    ],
)
def test_model_params_are_typed_and_checked_at_load(tmp_path, key, value, words):
    data = yaml.safe_load((ROOT / "models.yaml").read_text())
    data["models"]["smollm2-135m-instruct"]["params"][key] = value
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_registry(path)
    assert "smollm2-135m-instruct" in str(err.value) and words in str(err.value)
    res = run(tmp_path / "data", "status", models=path)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1


def test_typed_params_have_one_default_each():
    spec = load_registry().models["smollm2-135m-instruct"]
    assert spec.llama.n_ctx == spec.params.get("n_ctx", 4096)
    assert load_registry().models["all-minilm-l6-v2"].embedder.batch_size > 0
    with pytest.raises(ConfigError):
        _ = spec.embedder  # a generator has no embedder params
