"""Figure descriptions from a local VLM through llama.cpp's multimodal (libmtmd) path."""

from __future__ import annotations

from PIL import Image

from localrag.describe.base import Description, Progress, prompt_hash
from localrag.describe.ocr import OcrEngine
from localrag.ingest.base import Figure
from localrag.llm import ChatModel, image_url

DESCRIBE_PROMPT = (
    "This figure is from a product manual. Describe it for search: say what kind of figure it "
    "is (exploded view, wiring diagram, flow chart, photo, table, ...), name every part, label, "
    "callout letter or number, arrow and step shown, and copy any text in it exactly. "
    "Be factual and concise; do not guess what is not visible."
)


def describe_messages(image: Image.Image, hint: str = "") -> list[dict[str, object]]:
    """The one-turn conversation that asks for a figure's description."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": image_url(image)}},
                {"type": "text", "text": DESCRIBE_PROMPT + hint},
            ],
        }
    ]


class VlmDescriber:
    """A VLM, loaded here or served, describes every figure; OCR text is kept beside it."""

    prompt_key = prompt_hash(DESCRIBE_PROMPT)

    def __init__(self, model: ChatModel, ocr: OcrEngine | None) -> None:
        """A local model loads on the first figure; a served one is asked its identity then."""
        self.model = model
        self.ocr = ocr

    @property
    def model_key(self) -> str:
        """The model's identity: a served model's id comes from its servers."""
        return self.model.fingerprint

    @property
    def cpu_bound(self) -> bool:
        """A VLM on this machine's CPU is; one on a GPU or a server leaves the cores to the embedder."""
        return self.model.cpu_bound

    def describe_one(self, image: Image.Image, hint: str = "") -> str:
        """The model's description of one image."""
        return self.model.chat(describe_messages(image, hint))  # type: ignore[arg-type]

    def describe(self, figures: list[Figure], progress: Progress | None = None) -> list[Description]:
        """Describe the figures as one batch (spread over servers when served), then OCR them."""
        hints = [f" Its caption is: {f.caption}." if f.caption else "" for f in figures]
        batch = [describe_messages(f.image, h) for f, h in zip(figures, hints, strict=True)]
        bodies = self.model.chat_batch(batch, progress)  # type: ignore[arg-type]
        return [
            Description(body=body, ocr_text=self.ocr.read(f.image) if self.ocr else "")
            for f, body in zip(figures, bodies, strict=True)
        ]

    def take_warnings(self) -> list[str]:
        """Model servers skipped while describing."""
        return self.model.take_warnings()
