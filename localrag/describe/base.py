"""The describe stage: every figure gets searchable text."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from localrag.ingest.base import Figure

Progress = Callable[[int], None]


def prompt_hash(prompt: str) -> str:
    """Part of the description cache key."""
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Description:
    """What a describer says about one figure: the model's words and the OCR text, raw."""

    body: str
    ocr_text: str = ""


class Describer(Protocol):
    """Turns figures into descriptions; model_key and prompt_key key the cache."""

    model_key: str
    prompt_key: str
    # whether describing keeps this machine's cores busy (OCR, a VLM on the CPU); if so the
    # indexer lets it and the text embedder take turns rather than compete
    cpu_bound: bool

    def describe(self, figures: list[Figure], progress: Progress | None = None) -> list[Description]:
        """Describe figures in order."""
        ...

    def take_warnings(self) -> list[str]:
        """What went wrong since the last call without stopping the work (a model server skipped)."""
        ...


class LocalDescriber:
    """A describer that runs here and has nothing to warn about."""

    cpu_bound = True

    def take_warnings(self) -> list[str]:
        """Nothing goes wrong quietly here."""
        return []


def compose(figure: Figure, body: str, ocr_text: str) -> str:
    """Description text indexed for search: caption, what the model/OCR saw, context."""
    parts = []
    if figure.caption:
        parts.append(figure.caption.rstrip(".") + ".")
    if body:
        parts.append(body.strip())
    if ocr_text and ocr_text not in body:
        parts.append(f"Labels: {ocr_text}.")
    if figure.context:
        parts.append(f"Context: {figure.context}")
    return " ".join(parts) or f"{figure.kind} figure on page {figure.page}"
