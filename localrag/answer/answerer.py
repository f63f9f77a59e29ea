"""Answer from numbered evidence; keep only citations that point at real evidence."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from localrag.llm import LlamaModel, image_url
from localrag.retrieve import Hit, Retriever, SearchResponse
from localrag.retrieve.keyword import STOP_WORDS as _STOP

REFUSAL = "Not found in the documents."
NO_MATCH = "The manuals do not show this: no indexed figure matches the photo."
MIN_PHOTO_TEXT_SIMILARITY = 0.45  # OCR text of a photo (a label, a part number) that clearly matches
# Calibrated on the sample manual with all-MiniLM-L6-v2: on-topic questions score 0.42-0.75,
# off-topic ones 0.02-0.22 (scripts/calibrate_refusal.py prints the table).
MIN_TEXT_SIMILARITY = 0.30

SYSTEM = (
    "You answer questions about a product manual using ONLY the numbered evidence. "
    "Cite the evidence you use with its number in square brackets, like [1]. "
    "If the evidence does not contain the answer, reply exactly: " + REFUSAL
)
MIN_WORDS = 1  # a kept sentence must say something: "1." or "[2]" alone do not
MIN_QUOTE_WORDS = 3  # quoted sentences shorter than this are line fragments
MIN_SUPPORT = 0.75  # share of a sentence's content words that must occur in the evidence


@dataclass
class Answer:
    """The answer text, its checked citations, and the evidence it drew on."""

    answer: str
    citations: list[dict[str, Any]]
    refused: bool
    hits: list[Hit] = field(default_factory=list)
    mode: str = "generated"  # generated | extractive | refused
    model_output: str | None = None  # the generator's raw words, before checking

    def as_json(self) -> dict[str, Any]:
        """The stable `ask --json` document."""
        return {
            "answer": self.answer,
            "citations": self.citations,
            "refused": self.refused,
            "mode": self.mode,
            "model_output": self.model_output,
            "hits": [h.as_json() for h in self.hits],
        }


def label(hit: Hit) -> str:
    """How evidence is named to the model and the user."""
    where = f"{hit.source}, page {hit.page}"
    if hit.figure is not None:
        where += f", {hit.caption}" if hit.caption else f", figure #{hit.figure}"
    return where


def focus(text: str, question: str, max_chars: int, skip: set[str] | None = None) -> str:
    """Keep the sentences that share most words with the question, in their original order.

    Sentences whose words are mostly in `skip` (already quoted) and fragments of fewer than
    MIN_QUOTE_WORDS words are left out.
    """
    text = " ".join(text.split())
    if len(text) <= max_chars and not skip:
        return text
    seen = skip or set()
    sents = [
        s
        for s in re.split(r"(?<=[.;:!?])\s+", text)
        if not (ws := set(_words(s))) or len(ws & seen) < 0.7 * len(ws)
    ]
    q = set(_words(question))
    useful = [i for i, s in enumerate(sents) if sum(w.isalpha() for w in _words(s)) >= MIN_QUOTE_WORDS]
    ranked = sorted(useful, key=lambda i: -len(q & set(_words(sents[i]))))
    keep: set[int] = set()
    size = 0
    for i in ranked:
        if size + len(sents[i]) > max_chars and keep:
            break
        keep.add(i)
        size += len(sents[i]) + 1
    return " ".join(sents[i] for i in sorted(keep))[:max_chars]


def evidence_block(hits: list[Hit], max_chars: int, question: str = "") -> str:
    """Numbered evidence, each focused on the question and trimmed to max_chars."""
    parts = []
    for n, h in enumerate(hits, start=1):
        parts.append(f"[{n}] ({label(h)}) {focus(h.text, question, max_chars)}")
    return "\n".join(parts)


def cited_numbers(text: str, n_evidence: int) -> list[int]:
    """Citation numbers in order of first use, only those that exist."""
    seen: list[int] = []
    for m in re.finditer(r"\[([\d,\s]+)\]", text):
        for raw in m.group(1).split(","):
            tok = raw.strip()
            if tok.isdigit() and 1 <= int(tok) <= n_evidence and int(tok) not in seen:
                seen.append(int(tok))
    return seen


def strip_bad_citations(text: str, n_evidence: int) -> str:
    """Remove citation markers that point at no evidence (small models invent them)."""

    def fix(m: re.Match[str]) -> str:
        keep = [t.strip() for t in m.group(1).split(",") if t.strip().isdigit() and 1 <= int(t) <= n_evidence]
        return f"[{', '.join(keep)}]" if keep else ""

    return re.sub(r"\[([\d,\s]+)\]", fix, text).strip()


def supported_sentences(text: str, evidence: str) -> str:
    """Drop sentences whose content words mostly do not occur in the evidence."""
    vocab = set(_words(evidence))
    kept: list[str] = []
    for sent in re.split(r"(?<=[.!?])\s+|\n+", text):
        words = _words(re.sub(r"\[[\d,\s]+\]", " ", sent))
        if sum(w.isalpha() for w in words) < MIN_WORDS or sent.strip() in kept:
            continue  # list markers and fragments say nothing
        if len(words) >= 8 and len(set(words)) < 0.5 * len(words):
            continue  # degenerate repetition, a failure mode of small models
        if sum(w in vocab for w in words) / len(words) >= MIN_SUPPORT:
            kept.append(sent.strip())
    return " ".join(kept)


def _words(text: str) -> list[str]:
    """Content words and numbers, with '2A' split as '2', 'a' so units match either spelling."""
    return [w for w in re.findall(r"[a-z]+|[0-9]+", text.lower()) if w not in _STOP]


class Answerer:
    """Retrieve, decide whether the evidence supports an answer, then generate."""

    def __init__(
        self,
        retriever: Retriever,
        generator: LlamaModel,
        n_evidence: int = 4,
        n_images: int = 2,
        evidence_chars: int = 300,
    ) -> None:
        """n_images figures go to a VLM generator as pixels."""
        self.retriever = retriever
        self.generator = generator
        self.n_evidence = n_evidence
        self.n_images = n_images
        self.evidence_chars = evidence_chars

    @staticmethod
    def supported(resp: SearchResponse, photo: bool) -> bool:
        """Calibrated refusal: a photo needs a verified figure (or clearly matching text on it)."""
        if not resp.hits:
            return False
        if photo:
            return resp.visual_match or resp.best_photo_similarity >= MIN_PHOTO_TEXT_SIMILARITY
        return resp.best_text_similarity >= MIN_TEXT_SIMILARITY

    def ask(self, question: str = "", image: Image.Image | None = None) -> Answer:
        """Answer a question (text, photo, or both) with citations."""
        resp = self.retriever.search(question, image, k=max(self.n_evidence, 5))
        hits = resp.hits[: self.n_evidence]
        if not self.supported(resp, image is not None):
            return self._refuse(resp, NO_MATCH if image is not None else REFUSAL)
        q = question.strip() or "What is shown in this picture, and what does the manual say about it?"
        if image is not None and resp.visual_match:
            m = next(h for h in hits if h.match) if any(h.match for h in hits) else None
            if m is not None:
                q += f" (The photo matches {label(m)}.)"
        evidence = evidence_block(hits, self.evidence_chars, q)
        user = f"Question: {q}\n\nEvidence:\n{evidence}\n\nQuestion: {q}\nAnswer briefly, with citations:"
        content: Any = self._vision_content(user, image, hits) if self.generator.is_vision else user
        raw = self.generator.chat(
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]
        )
        text = strip_bad_citations(raw, len(hits))
        if text.lower().startswith(REFUSAL.lower().rstrip(".")):
            ans = self._refuse(resp)
            ans.model_output = raw
            return ans
        support = " ".join([question, *(h.text for h in hits), *(h.caption for h in hits)])
        text = supported_sentences(text.replace(REFUSAL, " "), support)
        if not text:
            ans = self._extractive(q, hits, resp)
            ans.model_output = raw
            return ans
        nums = cited_numbers(text, len(hits))
        if not nums:
            # small models often drop the markers; the answer was still written from [1]
            nums = [1]
            text = f"{text} [1]"
        return Answer(text, _citations(hits, nums), False, resp.hits, model_output=raw)

    def image_budget(self, prompt_chars: int) -> int:
        """How many evidence figures fit in the context beside the text and the answer."""
        per_image = max(1, self.generator.check_image_batch())
        n_ctx = int(self.generator.spec.params.get("n_ctx", 4096))
        answer = int(self.generator.spec.params.get("max_tokens", 256))
        free = n_ctx - answer - prompt_chars // 3 - 64  # ~3 characters per token, plus the template
        return max(0, min(self.n_images, free // per_image))

    def _vision_content(self, user: str, image: Image.Image | None, hits: list[Hit]) -> list[dict[str, Any]]:
        """The user's photo and the top figures as pixels, each named by its evidence number."""
        parts: list[dict[str, Any]] = []
        budget = self.image_budget(len(user) + len(SYSTEM))
        if image is not None and budget > 0:
            parts.append({"type": "text", "text": "The user's photo:"})
            parts.append({"type": "image_url", "image_url": {"url": image_url(image)}})
            budget -= 1
        figures = [(n, h) for n, h in enumerate(hits, start=1) if h.figure is not None and h.image]
        for n, h in figures[:budget]:
            parts.append({"type": "text", "text": f"Evidence [{n}] figure:"})
            with Image.open(h.image) as im:
                parts.append({"type": "image_url", "image_url": {"url": image_url(im)}})
        parts.append({"type": "text", "text": user})
        return parts

    @staticmethod
    def _refuse(resp: SearchResponse, text: str = REFUSAL) -> Answer:
        return Answer(text, [], True, resp.hits, mode="refused")

    def _extractive(self, question: str, hits: list[Hit], resp: SearchResponse) -> Answer:
        """The generator's words were not supported: quote the manual instead of inventing."""
        quotes = []
        # with a verified photo match, quote the matched figure, never a loose visual neighbour
        usable = [
            (n, h)
            for n, h in enumerate(hits, start=1)
            if not resp.visual_match or h.match or h.figure is None
        ]
        quoted: set[str] = set()
        for n, h in usable:
            quote = focus(h.text, question, 220 if not quotes else 160, skip=quoted)
            if quote:
                quotes.append(f"{quote} [{n}]")
                quoted.update(_words(quote))
            if len(quotes) == 2:
                break
        if not quotes:
            return self._refuse(resp)
        text = "The manual says: " + " ".join(quotes)
        return Answer(
            text,
            _citations(hits, cited_numbers(text, len(hits))),
            False,
            resp.hits,
            mode="extractive",
        )


def _citations(hits: list[Hit], nums: list[int]) -> list[dict[str, Any]]:
    return [
        {
            "n": n,
            "source": hits[n - 1].source,
            "page": hits[n - 1].page,
            "figure": hits[n - 1].figure,
        }
        for n in nums
    ]
