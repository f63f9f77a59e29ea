"""Figure OCR: RapidOCR's sessions share one ONNX Runtime memory arena and read the same text."""

from __future__ import annotations

from conftest import SAMPLE

from localrag import ingest
from localrag.components import Components
from localrag.config import Settings


def _sessions(engine: object) -> list:
    return [engine.text_det.infer.session, engine.text_cls.infer.session, engine.text_rec.session.session]  # type: ignore[attr-defined]


def _arena(session: object) -> bool:
    opts = session.get_session_options()  # type: ignore[attr-defined]
    return opts.enable_cpu_mem_arena and opts.get_session_config_entry("session.use_env_allocators") == "1"


def test_ocr_sessions_share_a_memory_arena_and_read_the_same_text():
    from rapidocr_onnxruntime import RapidOCR

    ocr = Components(Settings()).ocr
    assert ocr is not None
    ours = ocr._new(1)
    plain = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)  # built after ours: the override is gone
    assert all(_arena(s) for s in _sessions(ours))
    assert not any(_arena(s) for s in _sessions(plain))
    assert all(_arena(s) for s in _sessions(ocr._new(2)))  # a second engine joins the same arena
    doc = ingest.parse_file(SAMPLE, ingest.file_sha256(SAMPLE))
    assert len(doc.figures) == 7
    texts = [ocr._read(ours, f.image) for f in doc.figures]
    assert texts == [ocr._read(plain, f.image) for f in doc.figures]
    assert sum(bool(t) for t in texts) >= 5  # the figures' labels are read, not nothing twice
