"""Evidence text as quotable units: PDF text repaired, numbered steps and table rows kept whole."""

from __future__ import annotations

import re

from localrag.retrieve.keyword import STOP_WORDS

# words that shape a question but say nothing about its subject
QUESTION_WORDS = STOP_WORDS | frozenset(
    "that these those am was were been being have has had did will would could may might must "
    "shall not no yes "
    "there here their them they its into about than then so if also just only any all some "
    "each other get got need needs make made take use used using give tell know see way much "
    "many often long why who whom whose which while does don't can't won't please manual "
    "document documents say says said".split()
)

_MARKER = re.compile(r"\[(?:\d+\s*,\s*)*\d+\]")
_LIST_LINE = re.compile(r"^\s*(?:[-•*▪◦–]\s+|#{1,6}\s|\(?\d{1,2}[.)]\s+|\(?[a-z][)]\s+)")
_INLINE_STEP = re.compile(r"(?:(?<=[;:.])|(?<=^))\s*(?=\(\d{1,2}\)\s)")
_MD_ITEM = re.compile(r"\s+(?=(?:[-*]|#{1,6})\s+\S)")
_BULLET = re.compile(r"\s+[•▪◦]\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
_CONTINUES = frozenset("the a an of to and or with for in on at by from as is are be".split())
_CAPTION = re.compile(r"^(?:fig\.?|figure|table|abb\.?)\s*\d+[:.]", re.I)
# questions that ask for a quantity, a time or a version: the answer holds a number
_QUANTITY = re.compile(
    r"\b(?:how (?:long|much|many|often|far|fast|heavy|big|large|hot|cold|warm|tall|wide|high|thick|"
    r"precise|accurate|old|soon)|what (?:size|temperature|voltage|weight|version|port|ratio|mix|"
    r"level|percentage|capacity|rate|speed|dimensions?|interval|current|power)|when|which "
    r"(?:version|port|year|size)|(?:model|part|serial|version) number)\b",
    re.I,
)
_SECTION_NO = re.compile(r"^\d+(?:\.\d+)*\.?$")
_WORD = re.compile(r"[a-z]+|[0-9]+")
# text that addresses a language model rather than a reader: never evidence, never an answer
INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s*(?:all\s*|any\s*|the\s*)?(?:previous|prior|above|earlier|"
    r"your|system)?\s*(?:instructions?|prompts?|rules|context)|\b(?:system prompt|you are now|act as an?|"
    r"jailbreak)\b|\b(?:answer|reply|respond|say)\s*(?:only|with|exactly|\d+\b)",
    re.I,
)


def repair(text: str) -> str:
    """Undo PDF line wrapping: join hyphenated words and wrapped lines; keep list and row breaks."""
    text = text.replace("\u00ad", "").replace("\r", "\n")
    text = re.sub(r"(?<=[a-z]{2})-\n(?=[a-z]{2})", "", text)  # "environ-\nment" -> "environment"
    lines = [ln.strip() for ln in text.split("\n")]
    out: list[str] = []
    for ln in lines:
        if not ln:
            if out and out[-1]:
                out.append("")
            continue
        if out and out[-1] and not _starts_unit(ln, out[-1]):
            out[-1] = f"{out[-1]} {ln}"
        else:
            out.append(ln)
    return "\n".join(s for s in out if s)


def _starts_unit(line: str, prev: str) -> bool:
    """True when a line begins a new unit (list item, heading, table row), not a wrapped one."""
    if _LIST_LINE.match(line) or is_heading(prev):
        return True
    # a table row: a short capitalised line with no final stop, after a line that ends neither a
    # clause nor on a word that needs a continuation
    last = prev.rsplit(" ", 1)[-1].lower()
    return (
        prev[-1:] not in ",;:-("
        and line[:1].isupper()
        and len(line) < 80
        and line[-1:] not in ".:;,"
        and last not in _CONTINUES
    )


def units(text: str) -> list[str]:
    """Sentences of repaired text; a numbered step or a table row is one unit, never cut."""
    out: list[str] = []
    for line in repair(text).split("\n"):
        # Markdown paragraphs reach here joined by spaces: "## Error codes - E1: ... - E2: ..."
        block = _MD_ITEM.sub("\n", line) if line.startswith(("#", "- ", "* ")) else line
        pieces = (p for row in block.split("\n") for p in _BULLET.split(row))
        for part in (p for piece in pieces for p in _INLINE_STEP.split(piece)):
            for sent in _SENTENCE_END.split(part):
                s = sent.strip().strip(";").strip()
                if not s:
                    continue
                if out and _SECTION_NO.match(out[-1]):
                    out[-1] = f"{out[-1]} {s}"  # "5." belongs to the heading after it
                else:
                    out.append(s)
    return out


def strip_markers(text: str) -> str:
    """Text without citation markers like [1] or [1, 2]."""
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(_MARKER.sub(" ", text).split()))


def words(text: str) -> list[str]:
    """Lowercase words and numbers ('2A' gives '2', 'a')."""
    return _WORD.findall(text.lower())


def stem(word: str) -> str:
    """A crude suffix stemmer: enough to match replace/replacing/replaced, filter/filters."""
    for suf in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s", "e"):
        if len(word) > len(suf) + 2 and word.endswith(suf):
            return word[: -len(suf)] + ("y" if suf == "ies" else "")
    return word


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning (no stop or question words)."""
    return [stem(w) for w in words(text) if w not in QUESTION_WORDS and (len(w) > 1 or w.isdigit())]


def is_heading(unit: str) -> bool:
    """A section title, a figure caption or a bare label: names a topic, states no fact itself."""
    bare = unit.strip()
    if bare.startswith("#"):
        return True
    if _CAPTION.match(bare) and len(bare.split()) <= 14:
        return True
    n = len(bare.split())
    if n <= 2:
        return True
    capitalised = sum(w[:1].isupper() for w in bare.split() if w.isalpha())
    if n <= 8 and bare[-1:] not in ".:;!?" and capitalised >= 0.6 * n:
        return True  # a title: "Countertop Water Purifier - Owner's Manual"
    return n <= 8 and bare[-1:] not in ".:;!?)" and re.match(r"^\d+(\.\d+)*\.?\s+[A-Z]", bare) is not None


def asks_quantity(question: str) -> bool:
    """True when the question asks how much, how long, when, or which version."""
    return _QUANTITY.search(question) is not None


_PROCEDURE = re.compile(r"^\s*(?:how (?:do|can|should|would|must) (?:i|you|we|one)|how to)\b", re.I)
_STEP = re.compile(r"^\(?\d{1,2}[.)]\s+\S")


def asks_procedure(question: str) -> bool:
    """True for "how do I ...?" questions, answered by a manual's numbered steps."""
    return _PROCEDURE.search(question) is not None


def is_step(unit: str) -> bool:
    """A numbered step: "(3) pull the old cartridge straight up" or "3. Pull ..."."""
    return _STEP.match(unit) is not None and (unit.startswith("(") or not is_heading(unit))
