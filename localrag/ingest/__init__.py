"""Ingest: turn a source file into chunks and figures. One entry point, one parser per type."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from localrag.errors import IngestError
from localrag.ingest.base import Chunk, Figure, ParsedDocument, content_id
from localrag.ingest.images import open_image, parse_image
from localrag.ingest.pdf import stream_pdf
from localrag.ingest.text import parse_text

Parser = Callable[[Path, str], Iterator[ParsedDocument]]
PAGES_PER_PART = 16  # pages whose images are held at once: enough to batch embeddings, bounded


def _whole(parse: Callable[[Path, str], ParsedDocument]) -> Parser:
    """A parser that returns the whole document, as a stream of one part."""

    def stream(path: Path, file_sha: str) -> Iterator[ParsedDocument]:
        yield parse(path, file_sha)

    return stream


PARSERS: dict[str, Parser] = {
    ".pdf": stream_pdf,
    ".txt": _whole(parse_text),
    ".md": _whole(parse_text),
    ".markdown": _whole(parse_text),
    **{
        ext: _whole(parse_image)
        for ext in (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
    },
}

__all__ = [
    "PARSERS",
    "Chunk",
    "Figure",
    "ParsedDocument",
    "content_id",
    "discover",
    "file_sha256",
    "open_image",
    "parse_file",
    "parse_stream",
]


def file_sha256(path: Path) -> str:
    """Hash a source file; raises IngestError for unreadable or empty files."""
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise IngestError(path, "is a directory")
        if not stat.S_ISREG(st.st_mode):  # reading a FIFO or a device would block or never end
            raise IngestError(path, "not a regular file (a pipe, socket or device)")
        if st.st_size == 0:
            raise IngestError(path, "empty file")
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    except PermissionError as exc:
        raise IngestError(path, "permission denied (file is not readable)") from exc
    except IsADirectoryError as exc:
        raise IngestError(path, "is a directory") from exc
    except FileNotFoundError as exc:
        raise IngestError(path, "vanished before it could be read") from exc
    except OSError as exc:
        raise IngestError(path, f"cannot read ({exc.strerror or exc})") from exc
    return h.hexdigest()


def parse_stream(path: Path, file_sha: str, pages_per_part: int | None = None) -> Iterator[ParsedDocument]:
    """The document in parts of up to pages_per_part pages; failures come out as IngestError naming the file.

    Memory stays bounded by one part's images however long the document is. Figure numbers
    and chunk order run on across parts, exactly as in one whole document.
    """
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise IngestError(path, f"unsupported file type {path.suffix or '(none)'}")
    limit = pages_per_part or PAGES_PER_PART
    pending: ParsedDocument | None = None
    try:
        for part in parser(path, file_sha):
            if pending is None:
                pending = part
            else:
                merge(pending, part)
            if len(pending.page_images) >= limit:
                yield pending
                pending = None
        if pending is not None:
            yield pending
    except IngestError:
        raise
    except MemoryError as exc:
        raise IngestError(path, "out of memory while parsing") from exc
    except Exception as exc:  # a parser bug on one file must not stop the batch
        raise IngestError(path, f"{type(exc).__name__}: {exc}") from exc


def merge(into: ParsedDocument, part: ParsedDocument) -> None:
    """Append a later part of the same document."""
    into.pages = max(into.pages, part.pages)
    into.chunks.extend(part.chunks)
    into.figures.extend(part.figures)
    into.page_images.update(part.page_images)
    into.warnings.extend(part.warnings)


def parse_file(path: Path, file_sha: str) -> ParsedDocument:
    """The whole document at once (its page images all in memory: for small files and tests)."""
    parts = parse_stream(path, file_sha)
    doc = next(parts)
    for part in parts:
        merge(doc, part)
    return doc


def discover(paths: Iterable[Path], on_error: Callable[[IngestError], None]) -> Iterator[Path]:
    """Expand folders into supported files; report symlink loops and missing paths."""
    for root in paths:
        if root.is_symlink() or not root.exists():
            try:
                root.resolve(strict=True)
            except RuntimeError:
                on_error(IngestError(root, "symlink loop"))
                continue
            except OSError as exc:
                reason = "symlink loop" if exc.errno == 40 else "no such file or directory"
                on_error(IngestError(root, reason))
                continue
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames.sort()
                for name in sorted(filenames):
                    p = Path(dirpath) / name
                    if p.suffix.lower() in PARSERS or p.is_symlink():
                        yield from discover([p], on_error)
        elif root.suffix.lower() in PARSERS:
            yield root
        else:
            on_error(IngestError(root, f"unsupported file type {root.suffix or '(none)'}"))
