"""Split page text into overlapping, sentence-aligned chunks that keep their page."""

from __future__ import annotations

import re

from localrag.ingest.base import Chunk

_SENT = re.compile(r"(?<=[.!?:;])\s+|\n{2,}")


def normalize(text: str) -> str:
    """Collapse whitespace and drop PDF soft hyphens and NULs."""
    text = text.replace("\x00", "").replace("\u00ad", "").replace("\r", "\n")
    text = re.sub(r"[ \t\f\v]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def chunk_page(page: int, text: str, max_chars: int = 700, overlap: int = 1) -> list[Chunk]:
    """Pack sentences into chunks of at most ~max_chars, repeating `overlap` sentences."""
    text = normalize(text)
    if not text:
        return []
    sentences = [s.strip() for s in _SENT.split(text) if s and s.strip()]
    chunks: list[Chunk] = []
    cur: list[str] = []
    size = 0
    for s in sentences:
        if cur and size + len(s) > max_chars:
            chunks.append(Chunk(page, " ".join(cur)))
            cur = cur[-overlap:] if overlap else []
            size = sum(len(c) + 1 for c in cur)
        cur.append(s)
        size += len(s) + 1
    if cur:
        chunks.append(Chunk(page, " ".join(cur)))
    return chunks
