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


def _fetch(package: str, out: Path, fill: Callable[[Path, Path], None]) -> Path:
    """out, made once from a Debian package: fill(unpacked root, destination) writes it.

    It is written under a `.part` name and renamed when whole, so an interrupted fetch never
    leaves a half-copied corpus that later runs would take as cached.
    """
    if out.exists():
        return out
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.unlink(missing_ok=True)
    part.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fill(_unpack(package, Path(tmp)), part)
    part.rename(out)
    return out


def _unpack(package: str, into: Path) -> Path:
    """Download a Debian package with `apt-get download` into a folder and unpack it there."""
    subprocess.run(["apt-get", "download", package], cwd=into, check=True, capture_output=True)
    deb = next(into.glob(f"{package}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(into / "x")], check=True)
    return into / "x"


def debian_doc(package: str, member: str) -> Path:
    """A file from a Debian package, fetched and cached."""
    return _fetch(package, CACHE / Path(member).name, lambda root, dst: shutil.copy(root / member, dst))


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


KICAD_IMAGES = "usr/share/doc/kicad/help/en/images"


def kicad_screenshots() -> Path:
    """A folder of the KiCad 6 manual's screenshots (kicad-doc-en): ~370 raster PNG figures."""

    def fill(root: Path, dst: Path) -> None:
        dst.mkdir()
        images = root / KICAD_IMAGES
        for png in sorted(images.rglob("*.png")):
            with Image.open(png) as im:
                if min(im.size) < KICAD_MIN_SIDE:
                    continue
            # Two folders hold screenshots of the same name; the relative path keeps both.
            shutil.copy(png, dst / "-".join(png.relative_to(images).parts))

    return _fetch("kicad-doc-en", CACHE / "kicad-screenshots", fill)
