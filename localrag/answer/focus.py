"""The evidence's sentences, scored against the question once per ask and shared by every step."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from localrag.answer.text import (
    INJECTION,
    QUESTION_WORDS,
    asks_quantity,
    content_stems,
    is_heading,
    stem,
    units,
)

SIM_WEIGHT = 0.6  # a unit's score: 0.6 x cosine to the question + 0.4 x idf-weighted keyword overlap
HEADING_PENALTY = 0.5  # a heading names the topic; the sentence under it holds the fact
QUANTITY_BONUS = 0.1  # "how long ...?" is answered by a sentence with a number in it
# English word frequency (Zipf scale) maps a word the corpus lacks to a weight: 3 or rarer
# ("fluoride", "decibels") weighs 1, 6 or commoner ("out", "come") weighs 0.
RARE_ZIPF = 6.0
ZIPF_SPAN = 3.0
_COMPOUND = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+|[a-z]+|[0-9]+")


def question_words(question: str, idf: Mapping[str, float]) -> list[str]:
    """Words of a question; a hyphenated compound the corpus does not know ("wi-fi") stays one word."""
    out: list[str] = []
    for w in _COMPOUND.findall(question.lower()):
        parts = w.split("-")
        out.extend(parts if len(parts) == 1 or all(p in idf for p in parts) else [w])
    return out


@dataclass
class Evidence:
    """One numbered evidence block, split once into units."""

    n: int
    units: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, n: int, text: str) -> Evidence:
        """Split into units, leaving out text that addresses a model rather than a reader."""
        return cls(n, [u for u in units(text) if not INJECTION.search(u)])


@dataclass(frozen=True)
class Term:
    """A content word of the question: its stem, its surface form and how distinctive it is."""

    stem: str
    word: str
    weight: float


@dataclass(frozen=True)
class Scored:
    """One evidence unit with its similarity to the question."""

    n: int
    unit: str
    sim: float
    overlap: float
    score: float


@dataclass
class Focused:
    """The evidence of one question: blocks, unit vectors and units ranked by score."""

    question: str
    terms: dict[str, Term]
    evidence: list[Evidence]
    unit_vecs: dict[int, np.ndarray]
    ranked: list[Scored] = field(default_factory=list)

    @property
    def best_sim(self) -> float:
        """The best cosine between the question and one evidence unit."""
        return max((s.sim for s in self.ranked), default=0.0)


class Focuser:
    """Splits evidence into units and scores them: embedder cosine plus idf-weighted overlap."""

    def __init__(
        self, embed: Callable[[list[str]], np.ndarray], idf: Mapping[str, float], max_idf: float | None = None
    ) -> None:
        """embed: the text embedder's batch function; idf: the keyword index's term weights."""
        self.embed = embed
        self.idf = idf
        self.max_idf = max_idf if max_idf is not None else max(idf.values(), default=1.0)

    def weight(self, word: str) -> float:
        """How distinctive a word is, 0..1: rare in this corpus and rare in English.

        A word rare in the corpus can still be everyday phrasing ("remember", "hosted"), and a
        word the corpus lacks is either phrasing ("heavy" for "weight") or a subject the manual
        does not cover ("fluoride"); general-English frequency tells them apart.
        """
        from wordfreq import zipf_frequency

        general = min(1.0, max(0.0, (RARE_ZIPF - zipf_frequency(word, "en")) / ZIPF_SPAN))
        idf = self.idf.get(word)
        return general if idf is None else min(general, idf / self.max_idf)

    def terms(self, question: str) -> dict[str, Term]:
        """The question's content words by stem, with their weights."""
        out: dict[str, Term] = {}
        for w in question_words(question, self.idf):
            if w in QUESTION_WORDS or (len(w) < 2 and not w.isdigit()):
                continue
            st = stem(w.replace("-", ""))
            weight = self.weight(w)
            if st not in out or out[st].weight < weight:
                out[st] = Term(st, w, weight)
        return out

    def focus(self, question: str, texts: list[str]) -> Focused:
        """Score every unit of the numbered evidence texts against the question."""
        evidence = [Evidence.of(n, t) for n, t in enumerate(texts, start=1)]
        terms = self.terms(question)
        all_units = [u for ev in evidence for u in ev.units]
        if not all_units:
            return Focused(question, terms, evidence, {})
        vecs = self.embed([question, *all_units])
        qv, uv = vecs[0], vecs[1:]
        quantity = asks_quantity(question)
        total = sum(t.weight for t in terms.values()) or 1.0
        unit_vecs: dict[int, np.ndarray] = {}
        ranked: list[Scored] = []
        start = 0
        for ev in evidence:
            block = uv[start : start + len(ev.units)]
            unit_vecs[ev.n] = block
            start += len(ev.units)
            for unit, vec in zip(ev.units, block, strict=True):
                sim = float(vec @ qv)
                have = set(content_stems(unit))
                overlap = sum(t.weight for st, t in terms.items() if st in have) / total
                score = SIM_WEIGHT * sim + (1 - SIM_WEIGHT) * overlap
                if quantity and any(ch.isdigit() for ch in unit):
                    score += QUANTITY_BONUS
                if is_heading(unit):
                    score *= HEADING_PENALTY
                ranked.append(Scored(ev.n, unit, sim, overlap, score))
        ranked.sort(key=lambda s: -s.score)
        return Focused(question, terms, evidence, unit_vecs, ranked)
