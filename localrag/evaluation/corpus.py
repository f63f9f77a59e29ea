"""Public test corpora fetched from the OS package registry, never committed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from localrag.config import cache_dir

CACHE = cache_dir() / "corpora"


def debian_doc(package: str, member: str) -> Path:
    """A file from a Debian package, fetched with `apt-get download` and cached."""
    out = CACHE / Path(member).name
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", package], cwd=tmp, check=True, capture_output=True)
        deb = next(Path(tmp).glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp + "/x"], check=True)
        shutil.copy(Path(tmp) / "x" / member, out)
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
