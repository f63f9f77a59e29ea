"""Figure descriptions from a local VLM through llama.cpp's multimodal (libmtmd) path."""

from __future__ import annotations

from PIL import Image

from localrag.describe.base import Description, Progress, prompt_hash
from localrag.describe.ocr import OcrEngine
from localrag.ingest.base import Figure
from localrag.llm import LlamaModel, image_url

DESCRIBE_PROMPT = (
    "This figure is from a product manual. Describe it for search: say what kind of figure it "
    "is (exploded view, wiring diagram, flow chart, photo, table, ...), name every part, label, "
    "callout letter or number, arrow and step shown, and copy any text in it exactly. "
    "Be factual and concise; do not guess what is not visible."
)


class VlmDescriber:
    """One loaded VLM describes every figure in turn; OCR text is kept beside it."""

    prompt_key = prompt_hash(DESCRIBE_PROMPT)

    def __init__(self, model: LlamaModel, ocr: OcrEngine | None) -> None:
        """The model loads on the first figure, once for the whole batch."""
        self.model = model
        self.ocr = ocr
        self.model_key = model.spec.fingerprint

    def describe_one(self, image: Image.Image, hint: str = "") -> str:
        """The model's description of one image."""
        return self.model.chat(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": image_url(image)}},
                        {"type": "text", "text": DESCRIBE_PROMPT + hint},
                    ],
                }
            ]
        )

    def describe(self, figures: list[Figure], progress: Progress | None = None) -> list[Description]:
        """Describe each figure; the KV cache is reset per figure by llama-cpp-python."""
        out = []
        for fig in figures:
            hint = f" Its caption is: {fig.caption}." if fig.caption else ""
            body = self.describe_one(fig.image, hint)
            ocr = self.ocr.read(fig.image) if self.ocr else ""
            out.append(Description(body=body, ocr_text=ocr))
            if progress:
                progress(1)
        return out
