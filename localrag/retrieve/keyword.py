"""Keyword search (BM25) over every indexed chunk and figure description."""

from __future__ import annotations

import math
import re
from collections import Counter

_TOKEN = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it of on or the this to what "
    "when where which with you your my me should".split()
)


def tokenize(text: str) -> list[str]:
    """Lowercase alphanumeric tokens without stop words."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS]


class KeywordIndex:
    """Okapi BM25 with Lucene's non-negative idf, so tiny corpora still rank (k1=1.2, b=0.75)."""

    def __init__(self, docs: list[tuple[str, str]], k1: float = 1.2, b: float = 0.75) -> None:
        """Build postings for the corpus."""
        self.ids = [d[0] for d in docs]
        self.k1, self.b = k1, b
        self.tfs = [Counter(tokenize(d[1])) for d in docs]
        self.lens = [sum(tf.values()) for tf in self.tfs]
        self.avg = (sum(self.lens) / len(self.lens)) if self.lens else 0.0
        df: Counter[str] = Counter()
        self.postings: dict[str, list[int]] = {}
        for i, tf in enumerate(self.tfs):
            for term in tf:
                df[term] += 1
                self.postings.setdefault(term, []).append(i)
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top-k ids with a positive score."""
        scores: dict[int, float] = {}
        for term in set(tokenize(query)):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i in self.postings[term]:
                tf = self.tfs[i][term]
                norm = tf + self.k1 * (1 - self.b + self.b * self.lens[i] / (self.avg or 1))
                scores[i] = scores.get(i, 0.0) + idf * tf * (self.k1 + 1) / norm
        best = sorted(scores.items(), key=lambda kv: -kv[1])[:k]
        return [(self.ids[i], s) for i, s in best if s > 0]
