"""Standalone images and safe image decoding (bombs, fakes and truncations are refused)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from localrag.errors import IngestError
from localrag.ingest.base import Figure, ParsedDocument
from localrag.sources import printable

MAX_SIDE = 2048  # larger figures are downscaled: descriptors and VLMs gain nothing past it
MIN_FIGURE_PX = 32  # smaller images are icons, bullets or tracking pixels, not figures
MAX_FRAMES = 500  # pages of one TIFF: a fax-sized manual, not a decompression trick


def flatten(img: Image.Image) -> Image.Image:
    """RGB on white: transparency over black would turn a drawing in its alpha channel into a black box."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _fit(img: Image.Image) -> Image.Image:
    img = flatten(ImageOps.exif_transpose(img) or img)
    if max(img.size) > MAX_SIDE:
        img.thumbnail((MAX_SIDE, MAX_SIDE))
    return img


def _decode(path: Path, data: bytes | None = None) -> Iterator[tuple[Image.Image, int, str]]:
    """(frame, frame count, format) for each frame worth keeping; refusals become IngestError.

    data: the image's bytes when it did not come from a file (an upload); path names it.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data) if data is not None else path) as im:
                n = getattr(im, "n_frames", 1)
                fmt = im.format or ""
                # a TIFF's pages are pages of the manual; an animated GIF's frames are one picture moving
                frames = ImageSequence.Iterator(im) if fmt == "TIFF" else [im]
                for i, frame in enumerate(frames):
                    if i >= MAX_FRAMES:
                        break
                    frame.load()
                    yield _fit(frame.copy()), n, fmt
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise IngestError(path, f"image too large, refused as a decompression bomb ({exc})") from exc
    except FileNotFoundError as exc:
        raise IngestError(path, "no such file") from exc
    except IsADirectoryError as exc:
        raise IngestError(path, "is a folder, not an image") from exc
    except UnidentifiedImageError as exc:
        raise IngestError(path, "not an image Pillow can decode (wrong extension or corrupt)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise IngestError(path, f"damaged image ({exc})") from exc


def open_image(path: Path, data: bytes | None = None) -> Image.Image:
    """Decode an image fully (its first frame), turning every way it can be bad into one IngestError."""
    for img, _, _ in _decode(path, data):
        return img
    raise IngestError(path, "image has no frames")


def decode_bytes(data: bytes, name: str) -> Image.Image:
    """An image received as bytes (an upload), with the same limits as a file."""
    return open_image(Path(name), data)


def parse_image(path: Path, file_sha: str) -> ParsedDocument:
    """A standalone image is a document of one figure per page (TIFF pages), too-small ones skipped."""
    name = printable(path)
    doc = ParsedDocument(source=name, file_sha=file_sha, pages=0)
    for page, (img, n, fmt) in enumerate(_decode(path), start=1):
        doc.pages = page
        if page == 1 and n > 1 and fmt != "TIFF":
            doc.warnings.append(f"{name}: animated {fmt} of {n} frames: only the first frame is indexed")
        if page == 1 and n > MAX_FRAMES and fmt == "TIFF":
            doc.warnings.append(f"{name}: {n} pages: only the first {MAX_FRAMES} are indexed")
        if min(img.size) < MIN_FIGURE_PX:
            w, h = img.size
            doc.warnings.append(f"{name}: page {page}: {w}x{h} px is too small to be a figure; skipped")
            continue
        caption = path.stem if n == 1 or fmt != "TIFF" else f"{path.stem} page {page}"
        doc.figures.append(
            Figure(page=page, index=len(doc.figures) + 1, kind="image", image=img, caption=printable(caption))
        )
    return doc
