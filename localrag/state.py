"""SQLite state beside Chroma: which files are indexed, and the description cache."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

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
"""


class State:
    """Small transactional key-value tables; one connection per process."""

    def __init__(self, path: Path) -> None:
        """Open (creating) the database."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.executescript(_SCHEMA)

    def file_sha(self, source: str) -> str | None:
        """The sha256 the file had when it was last indexed."""
        row = self.db.execute("SELECT sha256 FROM files WHERE source=?", (source,)).fetchone()
        return row[0] if row else None

    def sources(self) -> list[str]:
        """Every indexed source."""
        return [r[0] for r in self.db.execute("SELECT source FROM files ORDER BY source")]

    def files(self) -> list[tuple[str, str, int, int, int]]:
        """(source, sha256, pages, chunks, figures) for every indexed file."""
        return list(
            self.db.execute("SELECT source, sha256, pages, chunks, figures FROM files ORDER BY source")
        )

    def put_file(self, source: str, sha: str, pages: int, chunks: int, figures: int) -> None:
        """Record a file as indexed."""
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?)",
                (source, sha, pages, chunks, figures, time.time()),
            )

    def drop_file(self, source: str) -> None:
        """Forget a file."""
        with self.db:
            self.db.execute("DELETE FROM files WHERE source=?", (source,))

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
