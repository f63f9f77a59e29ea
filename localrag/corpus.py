"""Public test corpora fetched from the OS package registry, never committed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE = Path.home() / ".cache" / "localrag" / "corpora"


def gnuplot_pdf() -> Path:
    """gnuplot.pdf (311 pages of vector plots) from Debian's gnuplot-doc, via apt-get download."""
    out = CACHE / "gnuplot.pdf"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "gnuplot-doc"], cwd=tmp, check=True, capture_output=True)
        deb = next(Path(tmp).glob("gnuplot-doc_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp + "/x"], check=True)
        shutil.copy(Path(tmp) / "x/usr/share/doc/gnuplot/gnuplot.pdf", out)
    return out
