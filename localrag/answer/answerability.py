"""Answerability: whether the retrieved evidence covers what the question asks about."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from localrag.answer.focus import Focused
from localrag.answer.text import QUESTION_WORDS, content_stems, words

# A question word absent from the evidence still counts as covered when one evidence word is
# this close to it in the text embedder's space ("swap" ~ "replace", "thick" ~ "width").
SOFT_MATCH = 0.6
# Thresholds from scripts/calibrate_answerability.py over both gold sets (sample manual and
# asymptote.pdf, in-scope against out-of-scope, same-domain included); see the README.


@dataclass(frozen=True)
class Thresholds:
    """The calibrated rule: enough of the question covered, one close sentence, no rare gap."""

    min_coverage: float = 0.6
    min_sentence_sim: float = 0.4
    max_missing: float = 0.8  # refuse when a term this distinctive (0..1) is nowhere in the evidence

    def admits(self, coverage: float, best_sentence: float, max_missing: float) -> bool:
        """True when the signals say the evidence answers the question."""
        return (
            coverage >= self.min_coverage
            and best_sentence >= self.min_sentence_sim
            and max_missing < self.max_missing
        )


@dataclass
class Verdict:
    """The signals that decide whether to answer, and the decision."""

    coverage: float  # idf-weighted share of the question's terms that the evidence covers
    best_sentence: float  # best cosine between the question and one evidence sentence
    agreement: float  # share of the top hits that dense and keyword search both found
    max_missing: float = 0.0  # weight of the most distinctive question term the evidence lacks
    missing: list[str] = field(default_factory=list)  # the question's terms the evidence lacks
    answerable: bool = False

    def as_json(self) -> dict[str, Any]:
        """What `ask --json` reports under `answerability`."""
        return {
            "answerable": self.answerable,
            "coverage": round(self.coverage, 3),
            "best_sentence": round(self.best_sentence, 3),
            "agreement": round(self.agreement, 3),
            "max_missing": round(self.max_missing, 3),
            "missing_terms": self.missing,
        }


class Answerability:
    """Judges a question's evidence with calibrated thresholds."""

    def __init__(
        self,
        embed: Callable[[list[str]], np.ndarray],
        thresholds: Thresholds | None = None,
    ) -> None:
        """Word vectors are cached: the same evidence words recur across questions."""
        self.embed = embed
        self.thresholds = thresholds or Thresholds()
        self._word_vecs: dict[str, np.ndarray] = {}

    def _vectors(self, items: list[str]) -> np.ndarray:
        todo = [w for w in dict.fromkeys(items) if w not in self._word_vecs]
        if todo:
            for w, v in zip(todo, self.embed(todo), strict=True):
                self._word_vecs[w] = v
        return np.stack([self._word_vecs[w] for w in items]) if items else np.zeros((0, 1))

    def judge(self, focused: Focused, signals: list[dict[str, Any]]) -> Verdict:
        """Coverage of the question's distinctive terms, sentence similarity, ranking agreement."""
        terms = focused.terms
        ev_text = " ".join(u for ev in focused.evidence for u in ev.units)
        have = set(content_stems(ev_text))
        uncovered = [t for st, t in terms.items() if st not in have]
        soft: set[str] = set()
        if uncovered:
            # evidence words of 3+ letters: single letters ("W", "F") match anything
            ev_words = sorted({w for w in words(ev_text) if w not in QUESTION_WORDS and len(w) > 2})
            if ev_words:
                qv = self._vectors([t.word for t in uncovered])
                sims = qv @ self._vectors(ev_words).T
                soft = {
                    t.stem for t, row in zip(uncovered, sims, strict=True) if float(row.max()) >= SOFT_MATCH
                }
        total = sum(t.weight for t in terms.values())
        covered = sum(t.weight for st, t in terms.items() if st in have or st in soft)
        coverage = covered / total if total else 0.0
        both = [
            s
            for s in signals
            if any(k.endswith("_dense") for k in s) and any(k.endswith("keyword") for k in s)
        ]
        verdict = Verdict(
            coverage=coverage,
            best_sentence=focused.best_sim,
            agreement=len(both) / len(signals) if signals else 0.0,
            missing=[t.word for t in uncovered if t.stem not in soft],
            max_missing=max((t.weight for t in uncovered if t.stem not in soft), default=0.0),
        )
        verdict.answerable = self.thresholds.admits(
            verdict.coverage, verdict.best_sentence, verdict.max_missing
        )
        return verdict
