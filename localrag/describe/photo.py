"""What a user's photo says: its OCR text, and a VLM's description when one is configured."""

from __future__ import annotations

from PIL import Image

from localrag.describe.ocr import OcrEngine
from localrag.describe.vlm import VlmDescriber


class PhotoReader:
    """Reads a query photo with the same models that described the indexed figures."""

    def __init__(self, ocr: OcrEngine | None, vlm: VlmDescriber | None) -> None:
        """Either may be absent; with neither, a photo says nothing."""
        self.ocr = ocr
        self.vlm = vlm

    def read(self, image: Image.Image) -> str:
        """The photo's text, for the text search."""
        parts = []
        if self.ocr is not None:
            parts.append(self.ocr.read_photo(image))
        if self.vlm is not None:
            parts.append(self.vlm.describe_one(image))
        return " ".join(p for p in parts if p).strip()
