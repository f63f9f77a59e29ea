"""PDF ingest with pypdfium2: page text, embedded rasters, vector-drawn figures, page renders."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from localrag.errors import IngestError
from localrag.ingest.base import Figure, ParsedDocument
from localrag.ingest.chunking import chunk_page, normalize
from localrag.ingest.images import MAX_SIDE, MIN_FIGURE_PX, flatten
from localrag.sources import printable

Box = tuple[float, float, float, float]  # left, bottom, right, top in PDF points

CAPTION_RE = re.compile(r"^\s*(fig\.?|figure|abb\.?|diagram|illustration)\s*\d+", re.I)
RENDER_SCALE = 2.0  # 144 dpi: labels stay legible for OCR and VLMs
PAGE_SCALE = 1.0
# Renders are capped in pixels, not only in scale: a 20000 pt page at 1x is 400 Mpx (GBs of
# memory, and a PNG Pillow then refuses to open). 4 Mpx keeps an A3 page at 144 dpi.
MAX_RENDER_PX = 4_000_000
MIN_FIG_PT = 40.0  # figures smaller than this (points) are icons or rules
MIN_PATHS = 3
GAP_PT = 14.0  # drawing objects closer than this belong to the same figure


@dataclass(frozen=True)
class TextSpan:
    """A line-ish run of text with its box."""

    box: Box
    text: str


def _open(path: Path) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        msg = str(exc).lower()
        if "password" in msg or "security" in msg:
            raise IngestError(path, "encrypted PDF: a password is required") from exc
        # PDFium refuses an empty page tree without an error code of its own (it reports
        # "Success", or the previous document's error), so look for one
        if "success" in msg or _empty_page_tree(path):
            raise IngestError(path, "PDF has no pages") from exc
        detail = msg.split("pdfium:")[-1].strip(" .)") if "pdfium:" in msg else msg
        raise IngestError(path, f"not a readable PDF ({detail})") from exc


def _empty_page_tree(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return False
    return re.search(rb"/Count\s+0\b", head) is not None and re.search(rb"/Type\s*/Page\b", head) is None


def capped_scale(width_pt: float, height_pt: float, scale: float) -> float:
    """The render scale, lowered so the render stays within MAX_RENDER_PX."""
    area = max(1.0, width_pt * height_pt)
    return min(scale, (MAX_RENDER_PX / area) ** 0.5)


def _spans(textpage: pdfium.PdfTextPage) -> list[TextSpan]:
    out = []
    for i in range(textpage.count_rects()):
        box = textpage.get_rect(i)
        text = textpage.get_text_bounded(*box).strip()
        if text:
            out.append(TextSpan(box, text))
    return out


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def cluster_boxes(boxes: list[Box], gap: float) -> list[list[int]]:
    """Group boxes whose gap-expanded extents touch, transitively; returns index groups."""
    if not boxes:
        return []
    arr = np.asarray(boxes, dtype=np.float64)
    groups = [[i] for i in range(len(boxes))]
    ext = arr.copy()
    while True:
        e = ext
        touch = (
            (e[:, None, 0] - gap <= e[None, :, 2])
            & (e[None, :, 0] - gap <= e[:, None, 2])
            & (e[:, None, 1] - gap <= e[None, :, 3])
            & (e[None, :, 1] - gap <= e[:, None, 3])
        )
        seen = np.zeros(len(e), bool)
        new_groups: list[list[int]] = []
        new_ext: list[Box] = []
        for start in range(len(e)):
            if seen[start]:
                continue
            stack, comp = [start], []
            seen[start] = True
            while stack:
                k = stack.pop()
                comp.append(k)
                for j in np.flatnonzero(touch[k] & ~seen):
                    seen[j] = True
                    stack.append(int(j))
            members = [m for c in comp for m in groups[c]]
            box = tuple(e[comp[0]])
            for c in comp[1:]:
                box = _union(box, tuple(e[c]))
            new_groups.append(members)
            new_ext.append(box)  # type: ignore[arg-type]
        if len(new_groups) == len(groups):
            return new_groups
        groups, ext = new_groups, np.asarray(new_ext)


def _is_table(path_boxes: list[Box], box: Box) -> bool:
    """Ruled tables: full-width rules, a frame, and vertical rules on a few shared columns."""
    w, h = box[2] - box[0], box[3] - box[1]
    columns: set[int] = set()
    for b in path_boxes:
        bw, bh = b[2] - b[0], b[3] - b[1]
        if bh < 1.5 and bw >= 0.85 * w:
            continue
        if bw >= 0.97 * w and bh >= 0.6 * h:  # the frame drawn as one rectangle
            continue
        if bw < 1.5:  # vertical rules, often drawn row by row
            columns.add(round((b[0] + b[2]) / 4))  # 2-point buckets
            continue
        return False
    return len(columns) <= 8


def _near(a: Box, b: Box, gap: float) -> bool:
    return a[0] - gap <= b[2] and b[0] - gap <= a[2] and a[1] - gap <= b[3] and b[1] - gap <= a[3]


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def vector_regions(
    path_boxes: list[Box], spans: list[TextSpan], page_box: Box, forms: list[Box] | None = None
) -> list[Box]:
    """Find figure regions where drawing objects (and embedded forms) cluster, plus their labels."""
    pw, ph = page_box[2] - page_box[0], page_box[3] - page_box[1]
    boxes = [b for b in path_boxes if _area(b) < 0.6 * pw * ph]  # page frames, backgrounds
    n_paths = len(boxes)
    boxes += [b for b in forms or [] if _area(b) < 0.9 * pw * ph]  # included drawings
    regions = []
    for group in cluster_boxes(boxes, GAP_PT):
        members = [boxes[i] for i in group]
        has_form = any(i >= n_paths for i in group)
        box = members[0]
        for m in members[1:]:
            box = _union(box, m)
        if box[2] - box[0] < MIN_FIG_PT or box[3] - box[1] < MIN_FIG_PT * 0.6:
            continue
        if not has_form and (len(members) < MIN_PATHS or _is_table(members, box)):
            continue
        # labels are short single lines next to a stroke of the drawing (callouts, axis ticks)
        labels = [
            s.box
            for s in spans
            if (s.box[2] - s.box[0]) < 0.45 * pw
            and (s.box[3] - s.box[1]) < 20
            and not CAPTION_RE.match(s.text)
            and (_near(s.box, box, 0) or any(_near(s.box, m, GAP_PT / 2) for m in members))
        ]
        for lb in labels:
            box = _union(box, lb)
        inside = sum(_area(s.box) for s in spans if _near(s.box, box, -1))
        if inside > 0.45 * _area(box):  # mostly text: a framed listing or a text box
            continue
        regions.append(box)
    return regions


def find_caption(box: Box, spans: list[TextSpan], page_height: float) -> str:
    """The nearest 'Figure N ...' line below (or above) the figure, if within reach."""
    best, best_d = "", page_height * 0.12
    for s in spans:
        if not CAPTION_RE.match(s.text):
            continue
        if s.box[2] < box[0] or s.box[0] > box[2]:
            continue
        d = box[1] - s.box[3] if s.box[3] <= box[1] + 2 else s.box[1] - box[3]
        if -2 <= d < best_d:
            best, best_d = s.text, d
    return best


def context_text(box: Box, spans: list[TextSpan], limit: int = 400) -> str:
    """Text just above the figure: the paragraph that introduces it."""
    above = [s for s in spans if s.box[1] >= box[3] - 1 and s.box[1] - box[3] < 80]
    above.sort(key=lambda s: -s.box[1])
    return normalize(" ".join(s.text for s in reversed(above[:6])))[-limit:]


def _render_crop(page: pdfium.PdfPage, box: Box, margin: float = 4.0) -> Image.Image:
    pw, ph = page.get_size()
    left, bottom = max(0.0, box[0] - margin), max(0.0, box[1] - margin)
    right, top = min(pw, box[2] + margin), min(ph, box[3] + margin)
    crop = (left, bottom, pw - right, ph - top)
    scale = capped_scale(right - left, top - bottom, RENDER_SCALE)
    return flatten(page.render(scale=scale, crop=crop).to_pil())


def _raster(obj: pdfium.PdfObject, path: Path, page_no: int, warnings: list[str]) -> Image.Image | None:
    try:
        w, h = obj.get_px_size()
    except Exception:
        w = h = 0
    if w * h > (Image.MAX_IMAGE_PIXELS or 1 << 62):
        warnings.append(
            f"{printable(path)}: page {page_no}: embedded image of {w}x{h} px skipped (over the pixel limit)"
        )
        return None
    try:
        img = flatten(obj.get_bitmap(render=True).to_pil())
    except Exception as exc:  # one broken image must not sink the document
        warnings.append(f"{printable(path)}: page {page_no}: embedded image unreadable ({exc})")
        return None
    if max(img.size) > MAX_SIDE:  # a 150 Mpx scan is stored, described and embedded at 2048 px
        img.thumbnail((MAX_SIDE, MAX_SIDE))
    return img


def stream_pdf(path: Path, file_sha: str) -> Iterator[ParsedDocument]:
    """Chunks, figures and the page render of one PDF, one page at a time.

    Each part is one page (with `pages` the document's total); a caller that drops each part
    once used holds one page's images at a time, however long the document.
    """
    pdf = _open(path)
    try:
        n_pages = len(pdf)
        if n_pages == 0:
            raise IngestError(path, "PDF has no pages")
        source = printable(path)
        fig_no = 0
        texts = []
        for i in range(n_pages):  # running headers are found from every page's text first
            page = pdf[i]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        boiler = running_lines(texts)
        for i in range(n_pages):
            page_no = i + 1
            part = ParsedDocument(source=source, file_sha=file_sha, pages=n_pages)
            page = pdf[i]
            textpage = page.get_textpage()
            try:
                fig_no = _parse_page(path, page, textpage, page_no, texts[i], boiler, fig_no, part)
            finally:
                textpage.close()
                page.close()
            texts[i] = ""
            yield part
    except pdfium.PdfiumError as exc:
        raise IngestError(path, f"damaged PDF ({exc})") from exc
    finally:
        pdf.close()


def _parse_page(
    path: Path,
    page: pdfium.PdfPage,
    textpage: pdfium.PdfTextPage,
    page_no: int,
    text: str,
    boiler: set[str],
    fig_no: int,
    doc: ParsedDocument,
) -> int:
    """Fill doc with one page's chunks, figures and render; returns the last figure number."""
    pw, ph = page.get_size()
    body = "\n".join(ln for ln in text.splitlines() if _line_key(ln) not in boiler)
    doc.chunks.extend(chunk_page(page_no, body))
    spans = _spans(textpage)
    path_boxes: list[Box] = []
    rasters: list[tuple[Box, Image.Image]] = []
    forms: list[Box] = []
    # depth 1: objects nested in a Form XObject report bounds in the form's own space
    for obj in page.get_objects(max_depth=1):
        if obj.type in (pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_SHADING):
            path_boxes.append(obj.get_bounds())
        elif obj.type == pdfium_c.FPDF_PAGEOBJ_FORM:
            forms.append(obj.get_bounds())
        elif obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            box = obj.get_bounds()
            if box[2] - box[0] < MIN_FIG_PT / 2 or box[3] - box[1] < MIN_FIG_PT / 2:
                continue
            img = _raster(obj, path, page_no, doc.warnings)
            if img is not None and min(img.size) >= MIN_FIGURE_PX:
                rasters.append((box, img))
    found: list[tuple[Box, str, Image.Image]] = [(b, "raster", im) for b, im in rasters]
    for box in vector_regions(path_boxes, spans, (0.0, 0.0, pw, ph), forms):
        # a drawing that only frames an embedded raster is that raster
        if any(_inside(rb, box) for rb, _ in rasters):
            continue
        found.append((box, "vector", _render_crop(page, box)))
    found.sort(key=lambda f: (-f[0][3], f[0][0]))
    for box, kind, img in found:
        fig_no += 1
        doc.figures.append(
            Figure(
                page=page_no,
                index=fig_no,
                kind=kind,
                image=img,
                bbox=box,
                caption=find_caption(box, spans, ph),
                context=context_text(box, [sp for sp in spans if _line_key(sp.text) not in boiler]),
            )
        )
    scale = capped_scale(pw, ph, PAGE_SCALE)
    if scale < PAGE_SCALE:
        doc.warnings.append(
            f"{doc.source}: page {page_no} is {pw:.0f}x{ph:.0f} pt; rendered at {scale:.3f}x "
            f"to stay within {MAX_RENDER_PX // 1_000_000} Mpx"
        )
    bitmap = page.render(scale=scale)
    doc.page_images[page_no] = flatten(bitmap.to_pil())
    bitmap.close()
    return fig_no


def _line_key(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip().lower())


def running_lines(page_texts: list[str]) -> set[str]:
    """Headers and footers: lines (digits ignored) repeated on most pages of a long document."""
    if len(page_texts) < 3:
        return set()
    counts: dict[str, int] = {}
    for text in page_texts:
        for key in {_line_key(ln) for ln in text.splitlines() if ln.strip()}:
            counts[key] = counts.get(key, 0) + 1
    return {k for k, n in counts.items() if n >= 0.6 * len(page_texts) and len(k) < 120}


def _inside(inner: Box, outer: Box, tol: float = 6.0) -> bool:
    return (
        inner[0] >= outer[0] - tol
        and inner[1] >= outer[1] - tol
        and inner[2] <= outer[2] + tol
        and inner[3] <= outer[3] + tol
        and (outer[2] - outer[0]) * (outer[3] - outer[1])
        < 1.5 * (inner[2] - inner[0]) * (inner[3] - inner[1])
    )
