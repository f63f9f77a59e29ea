"""Standalone images and safe image decoding (bombs, fakes and truncations are refused)."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from localrag.errors import IngestError
from localrag.ingest.base import Figure, ParsedDocument

MAX_SIDE = 2048  # larger figures are downscaled: descriptors and VLMs gain nothing past it


def open_image(path: Path) -> Image.Image:
    """Decode an image fully, turning every way it can be bad into one IngestError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                img = ImageOps.exif_transpose(im).convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise IngestError(path, f"image too large, refused as a decompression bomb ({exc})") from exc
    except FileNotFoundError as exc:
        raise IngestError(path, "no such file") from exc
    except IsADirectoryError as exc:
        raise IngestError(path, "is a folder, not an image") from exc
    except UnidentifiedImageError as exc:
        raise IngestError(path, "not an image Pillow can decode (wrong extension or corrupt)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise IngestError(path, f"damaged image ({exc})") from exc
    if max(img.size) > MAX_SIDE:
        img.thumbnail((MAX_SIDE, MAX_SIDE))
    return img


def parse_image(path: Path, file_sha: str) -> ParsedDocument:
    """A standalone image is a one-page document with one figure."""
    img = open_image(path)
    doc = ParsedDocument(source=str(path), file_sha=file_sha, pages=1)
    doc.figures.append(Figure(page=1, index=1, kind="image", image=img, caption=path.stem))
    return doc
