"""The minimal describer: caption and surrounding text only (no OCR, no VLM)."""

from __future__ import annotations

from localrag.describe.base import Description, LocalDescriber, Progress, prompt_hash
from localrag.ingest.base import Figure


class CaptionDescriber(LocalDescriber):
    """Used when a profile has neither OCR nor a VLM; compose() adds caption and context."""

    model_key = "caption-only"
    prompt_key = prompt_hash("caption:v1")

    def describe(self, figures: list[Figure], progress: Progress | None = None) -> list[Description]:
        """Nothing to read from the pixels."""
        if progress:
            progress(len(figures))
        return [Description(body="") for _ in figures]
