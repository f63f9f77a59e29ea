"""`localrag doctor`: each local llama.cpp model decodes in a child process, and a crash is named."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from conftest import ROOT, run

from localrag.doctor import child_runs


def _generator(rep: dict) -> dict:
    return next(m for m in rep["models"] if m["role"] == "generator")


def test_doctor_decodes_with_the_generator_in_a_child_process(tmp_path: Path) -> None:
    res = run(tmp_path / "data", "doctor", "--json")
    assert res.exit_code == 0, res.output
    runs = _generator(json.loads(res.stdout))["runs"]
    assert runs["ok"] is True and runs["seconds"] > 0
    assert runs["text"].startswith("ok, decodes")


def test_doctor_can_skip_decoding(tmp_path: Path) -> None:
    res = run(tmp_path / "data", "doctor", "--json", "--no-decode")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert _generator(rep)["runs"] is None
    ocr = next(m for m in rep["models"] if m["role"] == "ocr")
    assert ocr["offload"].startswith("cpu (openvino 20")  # the OCR models' runtime is named


def _with_generator(tmp_path: Path, gguf_path: Path) -> Path:
    """The default registry with its generator read from another (unpinned) file."""
    data = yaml.safe_load((ROOT / "models.yaml").read_text())
    spec = {k: v for k, v in data["models"]["smollm2-135m-instruct"].items() if k not in ("sha256", "size")}
    data["models"]["other-llm"] = {**spec, "source": {"path": str(gguf_path)}}
    data["profiles"]["default"]["generator"] = "other-llm"
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump(data))
    return models


def _llama_line(output: str) -> str:
    assert "Traceback" not in output
    return next(ln for ln in output.splitlines() if "llama.cpp:" in ln)


def test_a_gguf_llama_cpp_cannot_load_fails_in_the_child_and_doctor_exits_1(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "no-tensors.gguf"
    w = gguf.GGUFWriter(str(path), "llama")  # readable metadata, none of the weights
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_feed_forward_length(8)
    w.add_head_count(1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    res = run(tmp_path / "data", "doctor", models=_with_generator(tmp_path, path))
    assert res.exit_code == 1
    assert "failed (exit 1): ValueError: Failed to load model" in _llama_line(res.output)
    assert "text_embedder" in res.output  # the rest of the report is still there


def test_an_unreadable_gguf_is_a_finding_not_the_end_of_the_report(tmp_path: Path) -> None:
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 4096)  # the magic, then nothing valid
    res = run(tmp_path / "data", "doctor", models=_with_generator(tmp_path, path))
    assert res.exit_code == 1
    assert "not a readable GGUF file" in _llama_line(res.output)
    assert "unreadable" in res.output and "text_embedder" in res.output


def test_a_child_killed_by_sigill_is_named_with_its_cure() -> None:
    # a real SIGILL, as a native llama.cpp build raises on a CPU without AVX-512 or AMX
    got = child_runs([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"], 60)
    assert got["ok"] is False
    assert "SIGILL (Illegal instruction)" in got["text"] and "-DGGML_NATIVE=OFF" in got["text"]
    other = child_runs([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"], 60)
    assert other == {"ok": False, "text": "crashed with SIGSEGV", "seconds": other["seconds"]}
