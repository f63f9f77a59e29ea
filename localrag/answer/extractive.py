"""Extractive answers: quote the evidence sentences that hold the answer, each with its citation."""

from __future__ import annotations

from localrag.answer.claims import Sentence
from localrag.answer.focus import Focused
from localrag.answer.text import content_stems

MAX_UNITS = 2
SECOND_RATIO = 0.85  # a second sentence is quoted only when it scores nearly as well as the first
MIN_QUOTE_WORDS = 3  # shorter units are labels and line fragments


def extract(focused: Focused, allowed: set[int] | None = None) -> list[Sentence]:
    """The best-scoring evidence units (at most MAX_UNITS), quoted whole with their numbers."""
    out: list[Sentence] = []
    seen: list[set[str]] = []
    top = 0.0
    for s in focused.ranked:
        if allowed is not None and s.n not in allowed:
            continue
        if len(s.unit.split()) < MIN_QUOTE_WORDS:
            continue
        if out and s.score < SECOND_RATIO * top:
            break
        stems = set(content_stems(s.unit))
        if any(len(stems & prev) >= 0.7 * max(1, len(stems)) for prev in seen):
            continue  # the overlap of neighbouring chunks repeats a sentence
        top = top or s.score
        seen.append(stems)
        out.append(Sentence(s.unit, [s.n], supported=True, reason="quoted from the evidence"))
        if len(out) == MAX_UNITS:
            break
    return out
