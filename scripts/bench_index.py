"""Time `index` per stage on the sample manual, gnuplot.pdf (311 pages) and asymptote.pdf (196).

    .venv/bin/python scripts/bench_index.py [--no-large] [--json OUT]

Each corpus is indexed into a fresh data dir (cold: every figure described), then again with
--force (warm: descriptions come from the cache). Reports pages/s, figures/s and stage seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from localrag.config import Settings
from localrag.engine import Engine
from localrag.evaluation.corpus import asymptote_pdf, gnuplot_pdf

ROOT = Path(__file__).resolve().parents[1]


def bench(pdf: Path) -> dict:
    """Cold and warm index runs of one file."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        engine = Engine(settings)
        comps = engine.components
        t = time.perf_counter()
        _ = comps.text_embedder.model  # model load is reported apart from throughput
        if comps.ocr:
            comps.ocr._load()
        load = time.perf_counter() - t
        out = {"file": pdf.name, "model_load_s": round(load, 2)}
        for run, force in (("cold", False), ("warm", True)):
            s = engine.index([pdf], force=force)
            out[run] = {
                "seconds": round(s.seconds, 2),
                "pages": s.pages,
                "figures": s.figures,
                "chunks": s.chunks,
                "pages_per_s": round(s.pages / s.seconds, 2),
                "figures_per_s": round(s.figures / s.seconds, 2),
                "described": s.described,
                "cached": s.cached_descriptions,
                "stages_s": s.times.as_dict(),
            }
        return out


def main() -> int:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-large", action="store_true", help="skip gnuplot.pdf")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    files = [ROOT / "localrag" / "data" / "aquapure-300-manual.pdf"]
    if not args.no_large:
        files += [gnuplot_pdf(), asymptote_pdf()]
    results = {"machine": platform.processor() or platform.machine(), "runs": [bench(f) for f in files]}
    for r in results["runs"]:
        for run in ("cold", "warm"):
            x = r[run]
            print(
                f"{r['file']:<28} {run}: {x['pages']} pages, {x['figures']} figures in {x['seconds']} s "
                f"= {x['pages_per_s']} pages/s, {x['figures_per_s']} figures/s; stages {x['stages_s']}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
