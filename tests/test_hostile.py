"""Malformed and hostile inputs in one folder: each has its outcome, no traceback, the rest indexed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from badfiles import bomb_png, corrupt_pdf, encrypted_pdf, good_text, symlink_loop, text_as_png
from conftest import SAMPLE, run, run_json
from PIL import Image, ImageDraw

from localrag.store.blobs import Blobs


def _drawing(size: tuple[int, int] = (200, 160), mode: str = "RGB", color: object = "black") -> Image.Image:
    img = Image.new(mode, size, "white" if mode in ("RGB", "CMYK") else 0)
    d = ImageDraw.Draw(img)
    for i in range(0, size[0], 20):
        d.line([(i, 0), (size[0] - i, size[1] - 1)], fill=color, width=3)
    return img


def zero_pages(p: Path) -> None:
    pdfium.PdfDocument.new().save(p)


def huge_page(p: Path) -> None:
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(20000, 20000)
    pdf.save(p)


def big_scan_pdf(p: Path) -> None:
    """A page holding one 3000 x 3000 px scan: stored, described and embedded at 2048 px at most."""
    from fpdf import FPDF

    scan = p.with_suffix(".scan.jpg")
    _drawing((3000, 3000)).save(scan, quality=60)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(scan), x=10, y=10, w=180)
    pdf.output(str(p))
    scan.unlink()


def truncated_pdf(p: Path) -> None:
    raw = SAMPLE.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])


def truncated_png(p: Path) -> None:
    _drawing().save(p)
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])


def alpha_only(p: Path) -> None:
    """A drawing that lives only in the alpha channel: RGB all black, as icon exporters write."""
    mask = _drawing(mode="L", color=255)
    img = Image.new("RGBA", mask.size, (0, 0, 0, 0))
    img.putalpha(mask)
    img.save(p)


def tiny(p: Path) -> None:
    Image.new("RGB", (1, 1), "red").save(p)


def animated_gif(p: Path) -> None:
    frames = [_drawing().rotate(a) for a in (0, 30, 60)]
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)


def multipage_tiff(p: Path) -> None:
    pages = [_drawing().rotate(a) for a in (0, 90, 180)]
    pages[0].save(p, save_all=True, append_images=pages[1:])


def fifo(p: Path) -> None:
    os.mkfifo(p)


def binary_txt(p: Path) -> None:
    p.write_bytes(b"\x00\x01\x02 binary \x00" * 100)


def latin1_txt(p: Path) -> None:
    p.write_bytes("Entkalken: 20 Minuten einwirken lassen, dann gr\xfcndlich sp\xfclen.".encode("latin-1"))


def blank_md(p: Path) -> None:
    p.write_text("   \n\n\t\n")


def dangling(p: Path) -> None:
    p.symlink_to(p.parent / "does-not-exist.pdf")


def png_named_pdf(p: Path) -> None:
    _drawing().save(p, format="PNG")


def pdf_named_png(p: Path) -> None:
    shutil.copy(SAMPLE, p)


def long_line_md(p: Path) -> None:
    p.write_text("x" * 300_000 + " the end of a very long line\n")


def cmyk_jpeg(p: Path) -> None:
    _drawing(mode="CMYK", color=(0, 0, 0, 255)).save(p, "JPEG")


def sixteen_bit_png(p: Path) -> None:
    Image.new("I;16", (120, 90), 40000).save(p)


def palette_transparent_gif(p: Path) -> None:
    img = _drawing().convert("P")
    img.save(p, transparency=0)


def bad_name(p: Path) -> None:
    good_text(p)


NON_UTF8 = os.fsdecode(b"manual-\xe9t\xe9.txt")

# name -> (builder, outcome, words the outcome line must hold)
#   failed: one "failed: PATH: reason" line;  warning: indexed, with one "warning:" line;  indexed: silent
CASES: dict[str, tuple[Callable[[Path], object], str, str]] = {
    "corrupt.pdf": (corrupt_pdf, "failed", "not a readable PDF"),
    "encrypted.pdf": (encrypted_pdf, "failed", "encrypted PDF"),
    "empty.pdf": (lambda p: p.write_bytes(b""), "failed", "empty file"),
    "zero-pages.pdf": (zero_pages, "failed", "PDF has no pages"),
    "truncated.pdf": (truncated_pdf, "failed", "not a readable PDF"),
    "png-named.pdf": (png_named_pdf, "failed", "not a readable PDF"),
    "huge-page.pdf": (huge_page, "warning", "rendered at"),
    "big-scan.pdf": (big_scan_pdf, "indexed", ""),
    "fake.png": (text_as_png, "failed", "not an image"),
    "bomb.png": (bomb_png, "failed", "decompression bomb"),
    "truncated.png": (truncated_png, "failed", "damaged image"),
    "pdf-named.png": (pdf_named_png, "failed", "not an image"),
    "alpha-only.png": (alpha_only, "indexed", ""),
    "tiny.png": (tiny, "warning", "too small to be a figure"),
    "animated.gif": (animated_gif, "warning", "only the first frame"),
    "palette-transparent.gif": (palette_transparent_gif, "indexed", ""),
    "pages.tif": (multipage_tiff, "indexed", ""),
    "cmyk.jpg": (cmyk_jpeg, "indexed", ""),
    "sixteen-bit.png": (sixteen_bit_png, "indexed", ""),
    "pipe.pdf": (fifo, "failed", "not a regular file"),
    "dangling.pdf": (dangling, "failed", "no such file"),
    "binary.txt": (binary_txt, "failed", "binary data"),
    "latin1.txt": (latin1_txt, "indexed", ""),
    "blank.md": (blank_md, "failed", "no text in file"),
    "long-line.md": (long_line_md, "indexed", ""),
    NON_UTF8: (bad_name, "indexed", ""),
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every case in one folder with a good manual, indexed once, then indexed again."""
    root = tmp_path_factory.mktemp("hostile")
    docs = root / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / SAMPLE.name)
    for name, (build, _, _) in CASES.items():
        build(docs / name)
    loop = symlink_loop(docs)
    data = root / "data"
    first = run(data, "index", str(docs))
    second = run(data, "index", str(docs))
    status = {s["source"]: s for s in run_json(data, "status")["sources"]}
    return {"docs": docs, "data": data, "first": first, "second": second, "status": status, "loop": loop}


def _shown(docs: Path, name: str) -> str:
    return os.fsencode(docs / name).decode("utf-8", "backslashreplace")


@pytest.mark.parametrize("name", list(CASES), ids=[n.encode("ascii", "replace").decode() for n in CASES])
def test_each_hostile_input_has_its_outcome(batch, name):
    _, outcome, words = CASES[name]
    res, docs = batch["first"], batch["docs"]
    path = _shown(docs, name)
    failed = [ln for ln in res.stderr.splitlines() if ln.startswith(f"failed: {path}: ")]
    warned = [ln for ln in res.stderr.splitlines() if ln.startswith(f"warning: {path}: ")]
    if outcome == "failed":
        assert len(failed) == 1 and words in failed[0], res.stderr
        assert path not in batch["status"]
    else:
        assert failed == [], failed
        assert path in batch["status"], sorted(batch["status"])
        assert batch["status"][path]["state"] == "indexed"
    if outcome == "warning":
        assert len(warned) == 1 and words in warned[0], res.stderr


def test_the_batch_has_no_traceback_and_the_good_manual_is_indexed(batch):
    for res in (batch["first"], batch["second"]):
        assert res.exit_code == 1
        assert "Traceback" not in res.output and "Traceback" not in res.stderr
    assert str(batch["loop"]) in batch["first"].stderr
    good = batch["status"][str(batch["docs"] / SAMPLE.name)]
    assert good["records"]["text"] == good["chunks"] > 0 and good["records"]["figures"] == 7
    hit = run_json(batch["data"], "search", "wiring schematic fuse", "-k", "1")["hits"][0]
    assert hit["source"] == str(batch["docs"] / SAMPLE.name)
    assert run(batch["data"], "check").exit_code == 0


def test_a_rerun_skips_everything_and_fails_the_same_files(batch):
    again = run_json_allow_fail(batch["data"], "index", str(batch["docs"]))
    assert again["indexed"] == [] and again["pruned"] == []
    first_failed = [ln for ln in batch["first"].stderr.splitlines() if ln.startswith("failed: ")]
    assert len(again["failed"]) == len(first_failed)


def run_json_allow_fail(data: Path, *args: str) -> dict:
    import json

    res = run(data, *args, "--json")
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.stdout)


def test_alpha_only_drawing_is_stored_on_white(batch):
    src = batch["status"][_shown(batch["docs"], "alpha-only.png")]
    assert src["records"]["figures"] == 1
    hit = next(
        h
        for h in run_json(batch["data"], "search", "alpha-only", "-k", "40")["hits"]
        if h["source"].endswith("alpha-only.png")
    )
    with Image.open(hit["image"]) as im:
        import numpy as np

        gray = np.asarray(im.convert("L"))
        assert gray.mean() > 128 and gray.min() < 64  # mostly white paper, black lines


def test_every_tiff_page_is_a_figure_and_the_huge_page_render_is_capped(batch):
    tif = batch["status"][_shown(batch["docs"], "pages.tif")]
    assert tif["pages"] == 3 and tif["records"]["figures"] == 3
    assert batch["status"][_shown(batch["docs"], "tiny.png")]["records"]["figures"] == 0
    assert batch["status"][_shown(batch["docs"], "big-scan.pdf")]["records"]["figures"] == 1
    blobs = Blobs(batch["data"] / "blobs")
    for key in blobs.files():
        if key.endswith(".png"):
            with Image.open(blobs.path(key)) as im:
                assert im.width * im.height <= 2048 * 2048 and max(im.size) <= 2048
