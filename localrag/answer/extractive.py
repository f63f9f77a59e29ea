"""Extractive answers: quote the evidence sentences that hold the answer, each with its citation."""

from __future__ import annotations

from localrag.answer.claims import Sentence
from localrag.answer.focus import SIM_WEIGHT, Focused, Scored
from localrag.answer.text import asks_procedure, content_stems, is_step

MAX_UNITS = 2
SECOND_RATIO = 0.85  # a second sentence is quoted only when it scores nearly as well as the first
MIN_QUOTE_WORDS = 3  # shorter units are labels and line fragments


STEPS_RATIO = 0.8  # steps answer "how do I" when their hit holds a unit close to the best one
MAX_STEPS = 8


def extract(focused: Focused, allowed: set[int] | None = None) -> list[Sentence]:
    """The best-scoring evidence units (at most MAX_UNITS), quoted whole with their numbers.

    A "how do I ...?" question whose evidence has numbered steps close to it gets the steps.
    """
    ranked = [s for s in focused.ranked if allowed is None or s.n in allowed]
    if ranked and asks_procedure(focused.question):
        steps = procedure(focused, ranked)
        if steps:
            return steps
    out: list[Sentence] = []
    seen: list[set[str]] = []
    top = 0.0
    for s in ranked:
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


def procedure(focused: Focused, ranked: list[Scored]) -> list[Sentence]:
    """The numbered steps of the hit that best matches a "how do I" question, if it has any.

    A hit is judged by its best unit before the heading discount: for a procedure the section
    title ("5. Replacing the filter cartridge") is what says the steps below are the answer.
    """

    def raw(s: Scored) -> float:
        return SIM_WEIGHT * s.sim + (1 - SIM_WEIGHT) * s.overlap

    top = max(raw(s) for s in ranked)
    best: dict[int, float] = {}
    for s in ranked:
        best[s.n] = max(best.get(s.n, 0.0), raw(s))
    for n in sorted(best, key=lambda n: -best[n]):
        if best[n] < STEPS_RATIO * top:
            break
        steps = [u for ev in focused.evidence if ev.n == n for u in ev.units if is_step(u)]
        if len(steps) >= 2:
            return [
                Sentence(u, [n], supported=True, reason="quoted from the evidence") for u in steps[:MAX_STEPS]
            ]
    return []
