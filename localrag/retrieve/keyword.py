"""Keyword search (BM25) over every indexed chunk and figure description."""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Mapping

import numpy as np

from localrag.state import LENGTH_MASK

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
        self.max_idf = _idf(n, 1) if n else 1.0  # as PersistentKeyword: a term in one document

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


def _idf(n: int, df: int) -> float:
    """Lucene's non-negative BM25 idf of a term in df of n documents."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


class FtsIdf(Mapping[str, float]):
    """Term -> idf, looked up in the FTS5 vocabulary on demand (the answerer's focus weights)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, n: int) -> None:
        """n: the number of documents."""
        self.db, self.lock, self.n = db, lock, n
        self._cache: dict[str, float | None] = {}

    def __getitem__(self, term: str) -> float:
        """The term's idf; KeyError for a term in no document."""
        if term not in self._cache:
            with self.lock:
                row = self.db.execute("SELECT doc FROM keyword_terms WHERE term=?", (term,)).fetchone()
            self._cache[term] = _idf(self.n, row[0]) if row else None
        value = self._cache[term]
        if value is None:
            raise KeyError(term)
        return value

    def __iter__(self) -> Iterator[str]:
        """Every term (a scan of the vocabulary: for completeness, not for the query path)."""
        with self.lock:
            terms = [r[0] for r in self.db.execute("SELECT term FROM keyword_terms")]
        return iter(terms)

    def __len__(self) -> int:
        """The vocabulary size."""
        with self.lock:
            return int(self.db.execute("SELECT count(*) FROM keyword_terms").fetchone()[0])


# what the rescoring reads of a document: its id, its tokens and their count
_ROWS = "SELECT d.id, k.body, d.ntok FROM keyword k JOIN keyword_docs d ON d.rowid = k.rowid"


def keyword_row(rid: str, text: str) -> tuple[str, str, int]:
    """What the persistent index stores for one record: its tokens, space-joined, and their count."""
    tokens = tokenize(text)
    return rid, " ".join(tokens), len(tokens)


class PersistentKeyword:
    """The same Okapi BM25, over the state DB's FTS5 table: nothing to build at start.

    FTS5 finds the documents holding the query terms and ranks them with its own bm25()
    (whose idf differs from Lucene's only for terms in more than half the documents); the
    best `pool` of those are rescored here with exactly KeywordIndex's formula, so the
    ranking is KeywordIndex's whenever fewer than `pool` documents match.

    At a million chunks, ranking every document that holds a common word ("use", "under":
    tens of thousands) costs more than the rest of a search. So, as Elasticsearch's common
    terms query does, a term in more than `common` documents only scores documents found by
    the query's rarer terms (by its rarest term, when all are common). Two pools are ranked:
    the documents the rarer terms find, and those of them that also hold a common term (ranked
    with it), so the documents that the common terms lift are kept. No index of fewer than
    `common` documents is affected.

    Where keyword rowids carry their document's length (`lengths`), the first pool is ranked
    here instead of by FTS5: the rarer terms' posting lists (one row per occurrence) give each
    document's term counts and, from its rowid, its length, so BM25 is a few array operations.
    FTS5's bm25() looks each matching document's size up in a table, which at a million
    chunks cost 1-2 µs a document, most of a search's time.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        k1: float = 1.2,
        b: float = 0.75,
        pool: int = 400,
        common: int = 10_000,
        lengths: bool = False,
    ) -> None:
        """Corpus statistics are read once; a reader makes a new one when the index changes."""
        self.db, self.k1, self.b, self.pool, self.common = db, k1, b, pool, common
        self.lengths = lengths
        self._lock = threading.Lock()  # one connection, shared by a server's threads
        with self._lock:
            n, total = db.execute("SELECT count(*), coalesce(sum(ntok), 0) FROM keyword_docs").fetchone()
        self.n, self.avg = int(n), (total / n if n else 0.0)
        self.idf = FtsIdf(db, self._lock, self.n)
        # the weight of a term in one document: the most any term can have. Reading the true
        # rarest term would scan every posting list (a second at a million chunks).
        self.max_idf = _idf(self.n, 1) if self.n else 1.0

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top-k ids with a positive score."""
        terms = sorted(set(tokenize(query)))
        if not terms or not self.n:
            return []
        marks = ",".join("?" * len(terms))
        with self._lock:
            df = dict(self.db.execute(f"SELECT term, doc FROM keyword_terms WHERE term IN ({marks})", terms))
        if not df:
            return []
        present = sorted(df)
        finders = [t for t in present if df[t] <= self.common] or [min(present, key=df.__getitem__)]
        common = [t for t in present if t not in finders]
        idf = {t: _idf(self.n, df[t]) for t in present}
        found = " OR ".join(f'"{t}"' for t in finders)  # tokens are [a-z0-9]+: nothing to escape
        pools = [] if self.lengths else [found]
        if common:
            pools.append(f"({found}) AND (" + " OR ".join(f'"{t}"' for t in common) + ")")
        rows: dict[str, tuple[str, int]] = {}
        with self._lock:
            if self.lengths:
                best = self._ranked(finders, idf)
                marks = ",".join("?" * len(best))
                for rid, body, ntok in self.db.execute(f"{_ROWS} WHERE k.rowid IN ({marks})", best):
                    rows[rid] = (body, ntok)
            for match in pools:
                for rid, body, ntok in self.db.execute(
                    f"{_ROWS} WHERE keyword MATCH ? ORDER BY rank LIMIT ?", (match, self.pool)
                ):
                    rows[rid] = (body, ntok)
        scored = []
        for rid, (body, ntok) in rows.items():
            tf = Counter(body.split())
            norm_len = 1 - self.b + self.b * ntok / (self.avg or 1)
            score = 0.0
            for t, w in idf.items():  # every query term scores, the common ones included
                if tf[t]:
                    score += w * tf[t] * (self.k1 + 1) / (tf[t] + self.k1 * norm_len)
            scored.append((rid, score))
        scored.sort(key=lambda kv: -kv[1])
        return [(rid, s) for rid, s in scored[:k] if s > 0]

    def _ranked(self, terms: list[str], idf: dict[str, float]) -> list[int]:
        """Rowids of the best `pool` documents by BM25 over these terms, from their posting lists."""
        docs, weights = [], []
        for t in terms:
            occ = np.fromiter(
                (r[0] for r in self.db.execute("SELECT doc FROM keyword_postings WHERE term=?", (t,))),
                np.int64,
            )
            rowids, tf = np.unique(occ, return_counts=True)
            length = (rowids & LENGTH_MASK).astype(np.float64)
            norm = tf + self.k1 * (1 - self.b + self.b * length / (self.avg or 1))
            docs.append(rowids)
            weights.append(idf[t] * tf * (self.k1 + 1) / norm)
        rowids, at = np.unique(np.concatenate(docs), return_inverse=True)
        score = np.bincount(at, weights=np.concatenate(weights))
        if len(rowids) > self.pool:
            keep = np.argpartition(-score, self.pool - 1)[: self.pool]
            rowids = rowids[keep]
        return [int(r) for r in rowids]
