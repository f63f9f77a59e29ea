"""SQLite state beside Chroma: which files are indexed, the blobs they own, the description cache.

Every change bumps a generation counter, so a long-lived reader can tell that another
process has re-indexed and reload instead of serving stale hits.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from localrag.errors import StoreError

FORMAT = 2  # 1: sources as typed and ids without the source; 2: absolute sources, ids per source
PENDING = ""  # the sha of a file whose records are being replaced: a re-run re-indexes it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    source TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    pages INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    figures INTEGER NOT NULL,
    indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS descriptions (
    image_sha TEXT NOT NULL,
    model_key TEXT NOT NULL,
    prompt_key TEXT NOT NULL,
    text TEXT NOT NULL,
    ocr_text TEXT NOT NULL,
    PRIMARY KEY (image_sha, model_key, prompt_key)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (source, key)
);
CREATE INDEX IF NOT EXISTS blobs_by_key ON blobs (key);
CREATE TABLE IF NOT EXISTS keyword_docs (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    source TEXT NOT NULL,
    ntok INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS keyword_docs_by_source ON keyword_docs (source);
CREATE VIRTUAL TABLE IF NOT EXISTS keyword USING fts5(body, tokenize='unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS keyword_terms USING fts5vocab(keyword, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS keyword_postings USING fts5vocab(keyword, 'instance');
"""
# keyword: SQLite FTS5 over every chunk and figure text, pre-tokenized by retrieve.keyword,
# written in the same transaction that commits a file, so it never disagrees with the files
# table; keyword_docs maps its rowids to record ids and sources (FTS5 cannot look up by source).
KeywordRow = tuple[str, str, int]  # record id, space-joined tokens, token count
# The low bits of a keyword rowid hold the document's token count (capped), so a search reads
# every length it needs from the posting lists alone; one lookup per matching document in a
# table of lengths cost more than FTS5's whole ranking. Set by the meta key "keyword_rowids".
LENGTH_BITS = 12
LENGTH_MASK = (1 << LENGTH_BITS) - 1


@dataclass(frozen=True)
class FileRow:
    """One indexed file as the state DB knows it."""

    source: str
    sha256: str
    pages: int
    chunks: int
    figures: int
    path: bytes | None

    @property
    def pending(self) -> bool:
        """True when a run stopped while replacing this file's records."""
        return self.sha256 == PENDING


@dataclass(frozen=True)
class Committed:
    """A file's row as commit_files writes it: counts are (pages, chunks, figures)."""

    source: str
    sha: str
    counts: tuple[int, int, int]
    path: bytes | None
    keys: Iterable[str]
    keywords: list[KeywordRow] | None = None


def writable(folder: Path) -> bool:
    """Whether localrag may write under folder (false on a read-only mount, even for root)."""
    probe = folder if folder.exists() else folder.parent
    return os.access(probe, os.W_OK)


class State:
    """Small transactional tables; one connection per process."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        """Open the database; readonly opens it without any write, for search on a read-only mount."""
        self.path = path
        self.readonly = readonly
        self._connect()

    def _connect(self) -> None:
        path, readonly = self.path, self.readonly
        try:
            self.placeholder = readonly and not path.exists()
            if self.placeholder:
                self.db = sqlite3.connect(":memory:", check_same_thread=False)  # nothing indexed yet
                self.db.executescript(_SCHEMA)
                self.format = FORMAT
                return
            if readonly:
                # immutable: no lock or journal files, which a read-only folder cannot hold
                flag = "mode=ro" if writable(path.parent) else "immutable=1"
                self.db = sqlite3.connect(f"file:{path}?{flag}", uri=True, check_same_thread=False)
                self.format = self._format()
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            # the indexer's describe thread has a connection of its own: wait for its short writes
            self.db = sqlite3.connect(str(path), check_same_thread=False, timeout=60)
            fresh = not self._has_table("files")
            self.db.executescript(_SCHEMA)
            self._upgrade_columns()
            if fresh:
                self.set_meta("format", str(FORMAT))
                self.set_meta("keyword", "1")  # empty and complete: every commit fills it
                with self.db:
                    self._mark_length_rowids()
            self.format = self._format()
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the index state ({exc})") from exc

    def _has_table(self, name: str) -> bool:
        row = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,))
        return row.fetchone() is not None

    def _upgrade_columns(self) -> None:
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(files)")}
        if "path" not in cols:
            with self.db:
                self.db.execute("ALTER TABLE files ADD COLUMN path BLOB")

    def _format(self) -> int:
        if not self._has_table("files"):
            return FORMAT
        if not self._has_table("meta"):
            return 1
        row = self.db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        if row is not None:
            return int(row[0])
        return 1 if self.db.execute("SELECT 1 FROM files LIMIT 1").fetchone() else FORMAT

    def meta(self, key: str) -> str | None:
        """A value from the meta table."""
        if not self._has_table("meta"):
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, value))
        if key == "format":
            self.format = int(value)

    def index_id(self) -> str | None:
        """The data dir's identity, made on first write: a Chroma server's collections record it."""
        got = self.meta("index_id")
        if got is None and not self.readonly:
            got = uuid.uuid4().hex
            self.set_meta("index_id", got)
        return got

    def generation(self) -> int:
        """A counter bumped by every change to the indexed files."""
        if self.placeholder and self.path.exists():
            self._connect()  # the first index run has created it
        try:
            return int(self.meta("generation") or 0)
        except sqlite3.Error:
            return -1  # unreadable now: treat as changed, the reader reloads and retries

    def _bump(self) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def file_sha(self, source: str) -> str | None:
        """The sha256 the file had when it was last indexed (PENDING when interrupted)."""
        row = self.db.execute("SELECT sha256 FROM files WHERE source=?", (source,)).fetchone()
        return row[0] if row else None

    def sources(self) -> list[str]:
        """Every indexed source."""
        return [r[0] for r in self.db.execute("SELECT source FROM files ORDER BY source")]

    def files(self) -> list[FileRow]:
        """Every indexed file."""
        return [
            FileRow(*row)
            for row in self.db.execute(
                "SELECT source, sha256, pages, chunks, figures, path FROM files ORDER BY source"
            )
        ]

    def row(self, source: str) -> FileRow | None:
        """One indexed file."""
        got = self.db.execute(
            "SELECT source, sha256, pages, chunks, figures, path FROM files WHERE source=?", (source,)
        ).fetchone()
        return FileRow(*got) if got else None

    def restore(self, source: str, old: FileRow | None, keys: Iterable[str]) -> None:
        """Undo begin_file: the file's row as it was (or no row), with the blobs it had."""
        with self.db:
            self.db.execute("DELETE FROM blobs WHERE source=?", (source,))
            if old is None:
                self.db.execute("DELETE FROM files WHERE source=?", (source,))
            else:
                self.db.execute(
                    "UPDATE files SET sha256=?, path=? WHERE source=?", (old.sha256, old.path, source)
                )
                self.db.executemany("INSERT OR IGNORE INTO blobs VALUES (?,?)", [(source, k) for k in keys])
            self._bump()

    def begin_file(self, source: str, path: bytes | None, keys: Iterable[str]) -> None:
        """Mark a file as being replaced, and claim the blobs its new records will use.

        Until commit_file, a kill leaves the file pending (re-indexed by the next run) and
        both its old and new blobs referenced (so garbage collection cannot take either).
        """
        self.begin_files([(source, path, keys)])

    def begin_files(self, files: Iterable[tuple[str, bytes | None, Iterable[str]]]) -> None:
        """begin_file for several files (source, path, keys) in one transaction."""
        with self.db:
            for source, path, keys in files:
                self.db.execute(
                    "INSERT INTO files VALUES (?,?,0,0,0,?,?) ON CONFLICT(source) DO UPDATE SET "
                    "sha256=excluded.sha256, path=excluded.path",
                    (source, PENDING, time.time(), path),
                )
                self.db.executemany("INSERT OR IGNORE INTO blobs VALUES (?,?)", [(source, k) for k in keys])
            self._bump()

    def commit_file(
        self,
        source: str,
        sha: str,
        counts: tuple[int, int, int],
        path: bytes | None,
        keys: Iterable[str],
        keywords: list[KeywordRow] | None = None,
    ) -> None:
        """Record a file as indexed with exactly these blobs (and these keyword rows)."""
        self.commit_files([Committed(source, sha, counts, path, keys, keywords)])

    def commit_files(self, files: Iterable[Committed]) -> None:
        """commit_file for several files in one transaction."""
        with self.db:
            for f in files:
                if f.keywords is not None:
                    self._drop_keywords(f.source)
                    self._add_keywords(f.source, f.keywords)
                self.db.execute(
                    "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)",
                    (f.source, f.sha, *f.counts, time.time(), f.path),
                )
                self.db.execute("DELETE FROM blobs WHERE source=?", (f.source,))
                rows = [(f.source, k) for k in f.keys]
                self.db.executemany("INSERT OR IGNORE INTO blobs VALUES (?,?)", rows)
            self._bump()

    def mark_pending(self, source: str) -> None:
        """Flag a file whose records are about to change outside begin/commit (prune, repair)."""
        with self.db:
            self.db.execute("UPDATE files SET sha256=? WHERE source=?", (PENDING, source))
            self._bump()

    def drop_file(self, source: str) -> None:
        """Forget a file and release its blobs."""
        with self.db:
            self._drop_keywords(source)
            self.db.execute("DELETE FROM files WHERE source=?", (source,))
            self.db.execute("DELETE FROM blobs WHERE source=?", (source,))
            self._bump()

    def _drop_keywords(self, source: str) -> None:
        rows = [r[0] for r in self.db.execute("SELECT rowid FROM keyword_docs WHERE source=?", (source,))]
        self.db.executemany("DELETE FROM keyword WHERE rowid=?", [(r,) for r in rows])
        self.db.execute("DELETE FROM keyword_docs WHERE source=?", (source,))

    def _add_keywords(self, source: str, rows: list[KeywordRow]) -> None:
        lengths = self.keyword_lengths()
        if lengths:
            top = self.db.execute("SELECT max(rowid) FROM keyword_docs").fetchone()[0] or 0
            seq = (top >> LENGTH_BITS) + 1
        for rid, body, ntok in rows:
            rowid = None
            if lengths:
                rowid, seq = (seq << LENGTH_BITS) | min(ntok, LENGTH_MASK), seq + 1
            cur = self.db.execute(
                "INSERT INTO keyword_docs (rowid, id, source, ntok) VALUES (?,?,?,?)",
                (rowid, rid, source, ntok),
            )
            self.db.execute("INSERT INTO keyword (rowid, body) VALUES (?,?)", (cur.lastrowid, body))

    def keyword_lengths(self) -> bool:
        """Whether keyword rowids carry their document's length (every index made since they do)."""
        return self.meta("keyword_rowids") == "length"

    def _mark_length_rowids(self) -> None:
        """Record, inside the caller's transaction, that keyword rowids carry lengths."""
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('keyword_rowids', 'length')")

    def rekey_keywords(self) -> None:
        """Give an older index's keyword rows length-carrying rowids, in one transaction.

        New rowids start above every old one, so the old rows are read in rowid order, written
        again under new rowids, and then deleted by range.
        """
        if self.keyword_lengths():
            return
        with self.db:
            self._mark_length_rowids()
            top = self.db.execute("SELECT max(rowid) FROM keyword_docs").fetchone()[0] or 0
            at = 0
            while True:
                got = self.db.execute(
                    "SELECT d.rowid, d.id, d.source, k.body, d.ntok FROM keyword_docs d "
                    "JOIN keyword k ON k.rowid = d.rowid WHERE d.rowid > ? AND d.rowid <= ? "
                    "ORDER BY d.rowid LIMIT 20000",
                    (at, top),
                ).fetchall()
                if not got:
                    break
                at = got[-1][0]
                # a file's rows are usually consecutive: about one call per file, not one per row
                for source, rows in groupby(got, key=lambda r: r[2]):
                    self._add_keywords(source, [(rid, body, ntok) for _, rid, _, body, ntok in rows])
            self.db.execute("DELETE FROM keyword WHERE rowid <= ?", (top,))
            self.db.execute("DELETE FROM keyword_docs WHERE rowid <= ?", (top,))
            self._bump()

    def has_keywords(self) -> bool:
        """Whether the keyword table covers every indexed file (false for indexes made before it)."""
        return self.meta("keyword") == "1" and self._has_table("keyword_docs")

    def rebuild_keywords(self, by_source: dict[str, list[KeywordRow]]) -> None:
        """Fill the keyword table for every file at once (an index that predates it)."""
        with self.db:
            self.db.execute("DELETE FROM keyword")
            self.db.execute("DELETE FROM keyword_docs")
            self._mark_length_rowids()
            for source, rows in by_source.items():
                self._add_keywords(source, rows)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('keyword', '1')")
            self._bump()

    def blob_keys(self, source: str | None = None) -> set[str]:
        """Blob keys referenced by one source, or by any."""
        if source is None:
            return {r[0] for r in self.db.execute("SELECT DISTINCT key FROM blobs")}
        return {r[0] for r in self.db.execute("SELECT key FROM blobs WHERE source=?", (source,))}

    def blob_owners(self) -> dict[str, set[str]]:
        """Blob key -> the sources that reference it."""
        out: dict[str, set[str]] = {}
        for source, key in self.db.execute("SELECT source, key FROM blobs"):
            out.setdefault(key, set()).add(source)
        return out

    def cached(self, image_sha: str, model_key: str, prompt_key: str) -> tuple[str, str] | None:
        """A cached (description, ocr_text), if this figure was described by this model+prompt."""
        row = self.db.execute(
            "SELECT text, ocr_text FROM descriptions WHERE image_sha=? AND model_key=? AND prompt_key=?",
            (image_sha, model_key, prompt_key),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def cache(self, image_sha: str, model_key: str, prompt_key: str, text: str, ocr: str) -> None:
        """Store a description."""
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO descriptions VALUES (?,?,?,?,?)",
                (image_sha, model_key, prompt_key, text, ocr),
            )

    def close(self) -> None:
        """Close the connection."""
        self.db.close()


__all__ = ["FORMAT", "PENDING", "FileRow", "KeywordRow", "State", "writable"]
