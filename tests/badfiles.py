"""Builders for the bad inputs a real folder of manuals contains."""

from __future__ import annotations

import os
from pathlib import Path

from fpdf import FPDF
from PIL import Image


def encrypted_pdf(path: Path) -> Path:
    """A PDF that needs a user password."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, "confidential service manual")
    pdf.set_encryption(owner_password="owner", user_password="user")
    pdf.output(str(path))
    return path


def corrupt_pdf(path: Path) -> Path:
    """A PDF header followed by garbage."""
    path.write_bytes(b"%PDF-1.7\n" + os.urandom(2048))
    return path


def bomb_png(path: Path) -> Path:
    """A tiny file that decodes to far more pixels than Pillow allows."""
    side = 20_000  # 400 Mpx: over twice Image.MAX_IMAGE_PIXELS
    Image.new("1", (side, side)).save(path, optimize=True)
    return path


def text_as_png(path: Path) -> Path:
    """Plain text with an image extension."""
    path.write_text("this is not an image\n")
    return path


def symlink_loop(folder: Path) -> Path:
    """Two links pointing at each other."""
    a, b = folder / "loop-a.pdf", folder / "loop-b.pdf"
    a.symlink_to(b)
    b.symlink_to(a)
    return a


def good_text(path: Path) -> Path:
    """A small valid manual in plain text."""
    path.write_text(
        "Descaling the kettle\n\nFill the kettle with a 1:4 citric acid solution, boil once and "
        "leave it for 20 minutes. Rinse three times with clean water before use.\n"
    )
    return path


def unprivileged() -> list[str]:
    """A command prefix under which root, too, obeys file modes (drops DAC override)."""
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]
