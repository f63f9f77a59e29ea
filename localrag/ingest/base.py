"""What ingest produces: a parsed document made of text chunks and figures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from PIL import Image


def content_id(*parts: object) -> str:
    """A stable id derived from content, not from insertion order."""
    h = hashlib.sha256()
    for p in parts:
        h.update(str(p).encode())
        h.update(b"\x1f")
    return h.hexdigest()[:24]


@dataclass
class Figure:
    """One figure: an embedded raster image, a vector-drawing crop, or a standalone image."""

    page: int
    index: int  # 1-based figure number within the document, in reading order
    kind: str  # raster | vector | image | page
    image: Image.Image
    bbox: tuple[float, float, float, float] | None = None  # PDF points: left, bottom, right, top
    caption: str = ""
    context: str = ""
    image_sha: str = ""

    def __post_init__(self) -> None:
        """Hash the pixels so identical figures share ids and cached descriptions."""
        if not self.image_sha:
            img = self.image.convert("RGB")
            self.image_sha = hashlib.sha256(f"{img.size}".encode() + img.tobytes()).hexdigest()


@dataclass
class Chunk:
    """A span of text with the page it came from."""

    page: int
    text: str


@dataclass
class ParsedDocument:
    """Everything extracted from one source file."""

    source: str
    file_sha: str
    pages: int
    chunks: list[Chunk] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    page_images: dict[int, Image.Image] = field(default_factory=dict)
    page_blobs: dict[int, str] = field(default_factory=dict)  # page -> blob key, once written
    warnings: list[str] = field(default_factory=list)
