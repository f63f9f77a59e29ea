"""Evaluate query-by-photo on an indexed collection.

    .venv/bin/python scripts/eval_visual.py --data-dir DIR [--limit N] [--json OUT]
    .venv/bin/python scripts/eval_visual.py --pdf FILE.pdf        # index into a temp dir first
    .venv/bin/python scripts/eval_visual.py --corpus sample|asymptote|gle|gnuplot|kicad [--seed N]
    .venv/bin/python scripts/eval_visual.py --corpus sample --scale 1000   # + synthetic figures
    .venv/bin/python scripts/eval_visual.py --corpus sample --fixed        # the fixed set

Every indexed figure becomes --per-figure query photos, each one to three perturbation
families whose parameters are drawn at random per query (crop 50-85% at a random position,
rotation up to 20 degrees, blur sigma 0.5-2.5, scale 0.3-3x, JPEG 25-80, perspective,
inversion, grayscale, uneven light, sensor noise). Synthetic figures that are not indexed
serve as out-of-corpus queries. Reports recall@1/@5 and MRR per family and overall, strict
and with near-duplicate figures grouped, out-of-corpus rejection and p50/p95 latency.
`--fixed` runs the older fixed set instead (phone photo, 60% crop, 7 and 15 degrees, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from localrag.bench.synthetic import figure as synthetic_figure
from localrag.bench.visual import evaluate
from localrag.components import Components
from localrag.config import Settings
from localrag.describe.caption import CaptionDescriber
from localrag.engine import Engine
from localrag.evaluation.corpus import asymptote_pdf, gle_pdf, gnuplot_pdf, kicad_screenshots
from localrag.evaluation.perturb import PERTURBATIONS
from localrag.indexer import Indexer

ROOT = Path(__file__).resolve().parents[1]
CORPORA = {
    "sample": lambda: ROOT / "localrag" / "data" / "aquapure-300-manual.pdf",
    "gnuplot": gnuplot_pdf,
    "asymptote": asymptote_pdf,
    "gle": gle_pdf,
    "kicad": kicad_screenshots,  # raster: a folder of UI screenshots
}


def add_synthetic(settings: Settings, comps: Components, n: int) -> None:
    """Index n synthetic figures as PNG files, through the same path real images take.

    Only the description step is cheaper (caption-only): OCR of 10k filler images would take
    hours on 2 cores and does not change what is measured, the visual query path.
    """
    folder = settings.data_dir / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    for i in tqdm(range(n), desc="synthetic figures", file=sys.stderr):
        p = folder / f"synthetic-{i:05d}.png"
        if not p.exists():
            synthetic_figure(i).save(p)
    Indexer.of(settings, comps, describer=CaptionDescriber()).sync([folder])


def main(argv: list[str] | None = None) -> int:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data-dir", type=Path, help="an existing localrag data dir")
    src.add_argument("--pdf", type=Path, help="index this PDF into a temporary data dir first")
    src.add_argument("--corpus", choices=sorted(CORPORA), help="a known corpus (Debian docs are fetched)")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--scale", type=int, default=0, help="also index this many synthetic figures")
    ap.add_argument("--limit", type=int, default=None, help="evaluate at most this many figures")
    ap.add_argument("--ooc", type=int, default=40, help="out-of-corpus queries")
    ap.add_argument("--per-figure", type=int, default=8, help="randomised queries per figure")
    ap.add_argument("--fixed", action="store_true", help="the fixed perturbation set instead")
    ap.add_argument("--perturbations", default=",".join(sorted(PERTURBATIONS)), help="with --fixed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--photo-text",
        choices=["auto", "always", "never"],
        default="auto",
        help="when to OCR the query photo (see `localrag search --help`)",
    )
    ap.add_argument("--json", type=Path, help="write the report here too")
    args = ap.parse_args(argv)

    tmp = None
    if args.data_dir:
        data_dir = args.data_dir
    else:
        tmp = tempfile.TemporaryDirectory()
        data_dir = Path(tmp.name)
    settings = Settings(data_dir=data_dir, profile=args.profile)
    engine = Engine(settings)
    if not args.data_dir:
        engine.index([args.pdf or CORPORA[args.corpus]()])
    if args.scale:
        add_synthetic(settings, engine.components, args.scale)
    retriever = engine.retriever(args.photo_text)
    names = args.perturbations.split(",") if args.fixed else None
    n_figs = retriever.store.count("figures")
    n_real = n_figs - args.scale
    total = min(n_real, args.limit or n_real) * (len(names) if names else args.per_figure) + args.ooc
    with tqdm(total=total, desc="queries", file=sys.stderr) as bar:
        exclude = "/synthetic/" if args.scale else None  # filler is not a query target
        report = evaluate(
            retriever, names, args.limit, args.ooc, args.seed, bar.update, exclude, args.per_figure
        )
    report["collection_figures"] = n_figs
    report["mode"] = "fixed" if names else f"random x{args.per_figure}, seed {args.seed}"
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
