"""The answer stage: answerability, extractive or checked generated answers, with citations."""

from __future__ import annotations

from localrag.answer.answerer import Answer, Answerer
from localrag.components import Components
from localrag.config import Settings
from localrag.retrieve import Retriever


def answerer_for(
    settings: Settings, components: Components, query_ocr: str = "auto", mode: str | None = None
) -> Answerer:
    """An Answerer with the profile's answer mode (or `mode`) over the profile's models."""
    mode = mode or settings.registry.profile(settings.profile).answer_mode
    return Answerer(
        Retriever.of(settings, components, query_ocr=query_ocr),
        components.generator if mode != "extractive" else None,
        components.text_embedder.embed_texts,
        mode=mode,
    )


__all__ = ["Answer", "Answerer", "answerer_for"]
