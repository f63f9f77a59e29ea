"""Figure OCR: OpenVINO and ONNX Runtime read the same text; ONNX Runtime's sessions share one arena."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE

from localrag import ingest
from localrag.components import Components
from localrag.config import Settings
from localrag.describe import ocr_openvino
from localrag.describe.ocr import OcrEngine
from localrag.describe.ocr_openvino import OpenVinoSession


def _engine(runtime: str) -> OcrEngine:
    ocr = Components(Settings()).ocr
    assert ocr is not None
    spec = dataclasses.replace(ocr.spec, params={**ocr.spec.params, "runtime": runtime})
    return OcrEngine(spec, ocr.n_threads)


def _figures() -> list:
    doc = ingest.parse_file(SAMPLE, ingest.file_sha256(SAMPLE))
    assert len(doc.figures) == 7
    return [f.image for f in doc.figures]


def _models(engine: object) -> list:
    return [engine.text_det.infer, engine.text_cls.infer, engine.text_rec.session]  # type: ignore[attr-defined]


def _sessions(engine: object) -> list:
    return [engine.text_det.infer.session, engine.text_cls.infer.session, engine.text_rec.session.session]  # type: ignore[attr-defined]


def _arena(session: object) -> bool:
    opts = session.get_session_options()  # type: ignore[attr-defined]
    return opts.enable_cpu_mem_arena and opts.get_session_config_entry("session.use_env_allocators") == "1"


def test_ocr_sessions_share_a_memory_arena_and_read_the_same_text():
    from rapidocr_onnxruntime import RapidOCR

    ocr = _engine("onnxruntime")
    ours = ocr._new(1)
    plain = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)  # built after ours: the override is gone
    assert all(_arena(s) for s in _sessions(ours))
    assert not any(_arena(s) for s in _sessions(plain))
    assert all(_arena(s) for s in _sessions(ocr._new(2)))  # a second engine joins the same arena
    figures = _figures()
    texts = [ocr._read(ours, im) for im in figures]
    assert texts == [ocr._read(plain, im) for im in figures]
    assert sum(bool(t) for t in texts) >= 5  # the figures' labels are read, not nothing twice


def test_the_default_engine_runs_on_openvino_and_reads_what_onnx_runtime_reads():
    from rapidocr_onnxruntime import RapidOCR
    from rapidocr_onnxruntime.utils import OrtInferSession

    ocr = Components(Settings()).ocr
    assert ocr is not None and ocr.spec.ocr.runtime == "openvino"
    ours = ocr._new(1)
    plain = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)  # built after ours: names restored
    assert all(isinstance(m, OpenVinoSession) for m in _models(ours))
    assert all(isinstance(m, OrtInferSession) for m in _models(plain))
    assert ours.text_rec.postprocess_op.character == plain.text_rec.postprocess_op.character
    figures = _figures()
    texts = ocr.read_many(figures)  # the indexer's path: one engine per thread
    assert texts == [ocr._read(plain, im) for im in figures]
    assert sum(bool(t) for t in texts) >= 5


def test_a_model_openvino_cannot_compile_runs_on_onnx_runtime(monkeypatch: pytest.MonkeyPatch):
    from rapidocr_onnxruntime.utils import OrtInferSession

    def refuse(self: object, config: dict) -> None:
        raise RuntimeError("Exception from src/inference/src/cpp/core.cpp: unsupported operation")

    monkeypatch.setattr(OpenVinoSession, "__init__", refuse)
    ocr = _engine("openvino")
    engine = ocr._new(1)
    assert all(isinstance(m, OrtInferSession) for m in _models(engine))
    figures = _figures()
    assert [ocr._read(engine, im) for im in figures] == [_engine("onnxruntime").read(im) for im in figures]


def test_without_openvino_the_onnx_runtime_sessions_stand(monkeypatch: pytest.MonkeyPatch):
    from rapidocr_onnxruntime.utils import OrtInferSession

    def missing() -> None:
        raise ImportError("No module named 'openvino'")

    monkeypatch.setattr(ocr_openvino, "_core", missing)
    engine = _engine("openvino")._new(1)
    assert all(isinstance(m, OrtInferSession) for m in _models(engine))


def test_openvino_is_imported_without_its_telemetry(tmp_path: Path):
    # openvino's import sends a usage event and writes a client id under ~/intel unless told not to
    code = (
        "import sys\n"
        "from localrag.describe.ocr_openvino import _core, openvino_version\n"
        "assert openvino_version()\n"
        "_core()\n"
        "assert sys.modules.get('openvino_telemetry') is None, sys.modules.get('openvino_telemetry')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env["HOME"] = str(tmp_path)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "intel").exists()
