"""Plain text and Markdown; a form feed starts a new page."""

from __future__ import annotations

from pathlib import Path

from localrag.errors import IngestError
from localrag.ingest.base import ParsedDocument
from localrag.ingest.chunking import chunk_page
from localrag.sources import printable


def parse_text(path: Path, file_sha: str) -> ParsedDocument:
    """Decode as UTF-8 (falling back to Latin-1) and chunk page by page."""
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise IngestError(path, "binary data in a text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    pages = text.split("\f")
    doc = ParsedDocument(source=printable(path), file_sha=file_sha, pages=len(pages))
    for i, page in enumerate(pages, start=1):
        doc.chunks.extend(chunk_page(i, page))
    if not doc.chunks:
        raise IngestError(path, "no text in file")
    return doc
