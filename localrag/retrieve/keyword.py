"""Keyword search (BM25) over every indexed chunk and figure description."""

from __future__ import annotations

import re

from rank_bm25 import BM25Okapi

_TOKEN = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it of on or the this to what "
    "when where which with you your my me should".split()
)


def tokenize(text: str) -> list[str]:
    """Lowercase alphanumeric tokens without stop words."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS]


class KeywordIndex:
    """BM25 over (id, text) pairs; built once per retriever."""

    def __init__(self, docs: list[tuple[str, str]]) -> None:
        """Tokenise the corpus."""
        self.ids = [d[0] for d in docs]
        corpus = [tokenize(d[1]) for d in docs]
        self.bm25 = BM25Okapi(corpus) if corpus else None

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top-k ids with a positive BM25 score."""
        q = tokenize(query)
        if not q or self.bm25 is None:
            return []
        scores = self.bm25.get_scores(q)
        order = scores.argsort()[::-1][:k]
        return [(self.ids[i], float(scores[i])) for i in order if scores[i] > 0]
