"""Public test corpora fetched from the OS package registry, never committed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from localrag.config import cache_dir

CACHE = cache_dir() / "corpora"


def _unpack(package: str, copy: Callable[[Path], None]) -> None:
    """Fetch a Debian package with `apt-get download`, unpack it, and let copy take its files."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", package], cwd=tmp, check=True, capture_output=True)
        deb = next(Path(tmp).glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp + "/x"], check=True)
        copy(Path(tmp) / "x")


def debian_doc(package: str, member: str) -> Path:
    """A file from a Debian package, fetched and cached."""
    out = CACHE / Path(member).name
    if not out.exists():
        _unpack(package, lambda root: shutil.copy(root / member, out))
    return out


def gnuplot_pdf() -> Path:
    """gnuplot.pdf from gnuplot-doc: 311 pages, mostly text and ruled tables."""
    return debian_doc("gnuplot-doc", "usr/share/doc/gnuplot/gnuplot.pdf")


def asymptote_pdf() -> Path:
    """asymptote.pdf from asymptote-doc: 196 pages with ~70 vector plots and diagrams."""
    return debian_doc("asymptote-doc", "usr/share/doc/asymptote/asymptote.pdf")


def gle_pdf() -> Path:
    """gle-manual.pdf from gle-graphics-manual: 116 pages, ~140 plots, diagrams and samples."""
    return debian_doc("gle-graphics-manual", "usr/share/gle-graphics/doc/gle-manual.pdf")


# Screenshots smaller than this on their short side are toolbar icons and button strips,
# not figures a user would photograph.
KICAD_MIN_SIDE = 200


def kicad_screenshots() -> Path:
    """A folder of the KiCad 6 manual's screenshots (kicad-doc-en): ~370 raster PNG figures."""
    out = CACHE / "kicad-screenshots"
    if out.is_dir():
        return out

    def copy(root: Path) -> None:
        tmp_out = out.with_name(out.name + ".part")
        shutil.rmtree(tmp_out, ignore_errors=True)
        tmp_out.mkdir(parents=True)
        for png in sorted((root / "usr/share/doc/kicad/help/en/images").rglob("*.png")):
            with Image.open(png) as im:
                if min(im.size) < KICAD_MIN_SIDE:
                    continue
            # Two folders hold screenshots of the same name; the relative path keeps both.
            name = "-".join(png.relative_to(root / "usr/share/doc/kicad/help/en/images").parts)
            shutil.copy(png, tmp_out / name)
        tmp_out.rename(out)  # whole or absent: an interrupted fetch leaves only the .part

    _unpack("kicad-doc-en", copy)
    return out
