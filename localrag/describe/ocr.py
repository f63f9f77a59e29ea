"""OCR with RapidOCR (ONNX models inside the wheel): labels and callouts in figures."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from localrag.describe.base import Description, LocalDescriber, Progress, prompt_hash
from localrag.errors import ModelError
from localrag.ingest.base import Figure
from localrag.registry import ModelSpec

OCR_PROMPT = "ocr:v1 caption+labels+context"


class OcrEngine:
    """Lazy RapidOCR wrapper returning the recognised text in reading order."""

    def __init__(self, spec: ModelSpec, n_threads: int) -> None:
        """Remember the spec; the ONNX sessions load on first use."""
        self.spec = spec
        self.n_threads = n_threads
        self.min_score = spec.ocr.min_score
        self._engine: object | None = None

    def _load(self) -> object:
        if self._engine is None:
            self.spec.require_path()
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise ModelError("rapidocr-onnxruntime is not installed") from exc
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)
            self._engine = RapidOCR(intra_op_num_threads=self.n_threads, inter_op_num_threads=1)
        return self._engine

    def read(self, image: Image.Image) -> str:
        """Return recognised lines joined top-to-bottom, left-to-right."""
        engine = self._load()
        img = image.convert("RGB")
        if max(img.size) > 1600:
            img.thumbnail((1600, 1600))
        result, _ = engine(np.asarray(img)[:, :, ::-1])  # type: ignore[operator]
        if not result:
            return ""
        lines = [(r[0][0][1], r[0][0][0], r[1]) for r in result if float(r[2]) >= self.min_score]
        lines.sort(key=lambda t: (round(t[0] / 12), t[1]))
        return " ".join(t[2].strip() for t in lines if t[2].strip())


class OcrDescriber(LocalDescriber):
    """Describes a figure from its OCR text, caption and surrounding text (no VLM)."""

    prompt_key = prompt_hash(OCR_PROMPT)

    def __init__(self, engine: OcrEngine) -> None:
        """Share one OCR engine with query-time OCR."""
        self.engine = engine
        self.model_key = engine.spec.fingerprint

    def describe(self, figures: list[Figure], progress: Progress | None = None) -> list[Description]:
        """OCR each figure and compose the searchable text."""
        out = []
        for fig in figures:
            ocr = self.engine.read(fig.image)
            out.append(Description(body="", ocr_text=ocr))
            if progress:
                progress(1)
        return out
