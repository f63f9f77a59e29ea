"""Source identity: one resolved absolute path per file, printable even when its name is not UTF-8."""

from __future__ import annotations

import os
from pathlib import Path


def printable(path: Path | str) -> str:
    """The path as text that UTF-8 can carry: undecodable name bytes appear as \\xNN escapes."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def source_of(path: Path) -> str:
    """The key a file is indexed under: its absolute path, symlinks in folders resolved.

    The file's own name is kept (not resolved) so that a link in a folder of manuals is
    listed under the name the user gave it; two links to one file are two sources.
    """
    absolute = absolute_path(path)
    return printable(absolute.parent.resolve() / absolute.name)


def absolute_path(path: Path) -> Path:
    """The path made absolute against the working directory, '..' folded, links kept."""
    return Path(os.path.normpath(Path.cwd() / path))


def exists(source: str, raw: bytes | None) -> bool:
    """Whether an indexed file is still there (raw: its path bytes, exact even when not UTF-8)."""
    return Path(os.fsdecode(raw) if raw else source).exists()


def shown(source: str, cwd: Path | None = None) -> str:
    """A source relative to the working directory where that is shorter, as users type paths."""
    base = str(cwd or Path.cwd())
    if source.startswith(base.rstrip("/") + "/"):
        rel = source[len(base.rstrip("/")) + 1 :]
        if len(rel) < len(source):
            return rel
    return source


__all__ = ["absolute_path", "exists", "printable", "shown", "source_of"]
