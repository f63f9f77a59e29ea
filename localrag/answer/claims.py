"""Claim check: each answer sentence is held against the evidence it cites, never the union."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from localrag.answer.focus import Evidence, Focused
from localrag.answer.text import INJECTION, content_stems, strip_markers

_UNIT = (
    r"%|°\s?[CF]\b|(?:mm|cm|km|kg|mg|ml|mA|mAh|kW|kWh|Hz|kHz|MHz|GHz|KB|MB|GB|TB|dpi|px|bp|pt|psi|bar|rpm"
    r"|[VWAgLlms]|C|F|h|in|inch(?:es)?|litres?|liters?|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?"
    r"|weeks?|months?|years?|degrees?|volts?|watts?|amps?|times|cycles?|turns?|percent|pixels?|points?)\b"
)
RISKY = {
    "url": re.compile(r"(?:https?://|www\.)[^\s\])>,;\"']+", re.I),
    "path": re.compile(r"(?<![\w/])(?:~|\.{1,2})?/[\w.\-$]+(?:/[\w.\-$]*)*|\b[A-Za-z]:\\[\w\\.\-]+"),
    "number": re.compile(rf"(?<![\w.])[-+]?\d+(?:[.,:/]\d+)*(?:\s?(?:{_UNIT}))?"),
    "identifier": re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*\b"),
    "quote": re.compile(r"\"([^\"]{2,80})\"|“([^”]{2,80})”"),
    "name": re.compile(r"(?<=[\w,;:)]\s)(?:[A-Z][\w\-]*[A-Za-z0-9])(?:\s[A-Z][\w\-]*[A-Za-z0-9])*"),
}
# A sentence must be backed lexically (share of its content stems in the cited evidence) and,
# when the wording differs, semantically (best cosine to one cited evidence sentence). Set from
# SmolLM2's answers on the gold sets: inventions that reuse the evidence's words ("every 6
# months or after a year of use, as recommended by the manufacturer's website") still bring
# a third of new words; faithful paraphrases bring at most one in four.
LEX_STRONG = 0.9
LEX_WEAK = 0.75
SIM_MIN = 0.55


@dataclass
class Sentence:
    """One answer sentence, the evidence numbers it cites, and the verdict of the check."""

    text: str
    cites: list[int]
    supported: bool = False
    reason: str = ""
    similarity: float = 0.0

    def rendered(self) -> str:
        """The sentence with its citation markers."""
        marks = "".join(f"[{n}]" for n in self.cites)
        body = self.text.rstrip()
        end = body[-1] if body[-1:] in ".!?" else ""
        return f"{body[: len(body) - len(end)].rstrip()} {marks}{end or '.'}" if marks else body

    def as_json(self) -> dict[str, Any]:
        """What `ask --json` reports for each sentence."""
        return {
            "text": self.text,
            "citations": self.cites,
            "supported": self.supported,
            "reason": self.reason,
        }


def split_answer(text: str, n_evidence: int) -> list[Sentence]:
    """Answer sentences with the citation numbers each carries (only numbers that exist)."""
    out: list[Sentence] = []
    for raw in re.split(r"(?<=[.!?])\s+|(?<=\])\s+(?=[A-Z])|\n+", text):
        nums = [
            int(t)
            for m in re.finditer(r"\[([\d,\s]+)\]", raw)
            for t in m.group(1).split(",")
            if t.strip().isdigit() and 1 <= int(t) <= n_evidence
        ]
        body = strip_markers(raw).strip()
        if body:
            out.append(Sentence(body, list(dict.fromkeys(nums))))
    return out


def risky_tokens(sentence: str) -> list[tuple[str, str]]:
    """(kind, token) for each number, identifier, URL, path, quoted or capitalised name."""
    found: list[tuple[str, str]] = []
    rest = sentence
    for kind in ("url", "path"):
        found += [(kind, m.group(0).rstrip(".")) for m in RISKY[kind].finditer(rest)]
        rest = RISKY[kind].sub(" ", rest)
    for kind in ("quote", "number", "identifier", "name"):
        for m in RISKY[kind].finditer(rest):
            tok = next((g for g in m.groups() if g), None) if m.groups() else m.group(0)
            if tok and tok.strip():
                found.append((kind, tok.strip()))
    return found


def _canon(text: str) -> str:
    """Lowercase, one space between words, none between a number and its unit or around - and /."""
    text = " ".join(text.lower().replace("\u00ad", "").split())
    text = re.sub(r"(?<=\d) (?=[a-z%°])", "", text)
    return re.sub(r" ?([-/]) ?", r"\1", text)


def occurs(token: str, evidence: str) -> bool:
    """True when the token occurs in the evidence as a whole word, spacing and case aside.

    '12V' matches '12 V', and '12' matches '12 V', but '12' does not match '120' and 'J3'
    does not match 'J30'.
    """
    tok = _canon(token)
    if not tok:
        return True
    pre = r"(?<![a-z0-9.])" if tok[0].isalnum() else ""
    post = r"(?![0-9])" if tok[-1].isdigit() else r"(?![a-z])" if tok[-1].isalpha() else ""
    return re.search(pre + re.escape(tok) + post, _canon(evidence)) is not None


class ClaimChecker:
    """Checks sentences against cited evidence: risky tokens must occur, content must be backed."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray]) -> None:
        """embed: the text embedder's batch function (unit vectors)."""
        self.embed = embed

    def check(self, sentences: list[Sentence], focused: Focused) -> list[Sentence]:
        """Mark each sentence supported or not, with the reason; uncited ones get their best block."""
        q_stems = set(content_stems(focused.question))
        vecs = self.embed([s.text for s in sentences]) if sentences else None
        for i, s in enumerate(sentences):
            sims = {
                n: block @ vecs[i] if vecs is not None and len(block) else np.zeros(0)
                for n, block in focused.unit_vecs.items()
            }
            self._judge(s, focused.evidence, sims, q_stems)
        return sentences

    def _judge(
        self, s: Sentence, evidence: list[Evidence], sims: dict[int, np.ndarray], q_stems: set[str]
    ) -> None:
        stems = content_stems(s.text)
        if not any(st.isalpha() for st in stems):
            s.reason = "says nothing"
            return
        if INJECTION.search(s.text):
            s.reason = "addresses the model, not the reader"
            return
        if not set(stems) - q_stems:
            s.reason = "restates the question"
            return
        by_n = {ev.n: ev for ev in evidence}
        cited = tuple(n for n in s.cites if n in by_n)
        best = {n: float(v.max()) if len(v) else 0.0 for n, v in sims.items()}
        # a cited sentence stands or falls with what it cites; an uncited one may earn one block
        groups = [cited] if cited else [(n,) for n in sorted(by_n, key=lambda n: -best.get(n, 0.0))]
        reasons: list[str] = []
        for group in groups:
            where = "".join(f"[{n}]" for n in group)
            unit, sim = self._backing(stems, group, by_n, sims)
            missing = [tok for _, tok in risky_tokens(s.text) if not occurs(tok, unit)]
            if missing:
                reasons.append(f"{where} does not state {', '.join(repr(t) for t in missing[:3])}")
                continue
            ev_stems = set(content_stems(unit))
            lex = sum(st in ev_stems for st in stems) / len(stems)
            if lex >= LEX_STRONG or (lex >= LEX_WEAK and sim >= SIM_MIN):
                s.supported, s.similarity = True, sim
                if not cited:
                    s.reason = f"citation {where} added: the sentence was uncited"
                    s.cites = list(group)
                return
            reasons.append(f"{where} does not back it (word overlap {lex:.2f}, similarity {sim:.2f})")
        s.reason = "; ".join(reasons[:2]) or "no evidence"

    @staticmethod
    def _backing(
        stems: list[str], group: tuple[int, ...], by_n: dict[int, Evidence], sims: dict[int, np.ndarray]
    ) -> tuple[str, float]:
        """The one evidence sentence of the group that best backs the claim, and its cosine.

        One sentence, not the whole block: a small model recombines true pieces of one block
        into a false claim ("the part number of the UV lamp module is 6").
        """
        want = set(stems)
        scored = [
            (len(want & set(content_stems(u))) / max(1, len(want)) + float(sims[n][i]), u, float(sims[n][i]))
            for n in group
            for i, u in enumerate(by_n[n].units)
            if i < len(sims.get(n, ()))
        ]
        if not scored:
            return "", 0.0
        _, unit, sim = max(scored)
        return unit, sim
