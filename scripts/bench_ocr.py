"""Figure OCR on OpenVINO and on ONNX Runtime (with and without its shared arena), on one PDF's figures.

    .venv/bin/python scripts/bench_ocr.py [--pdf FILE] [--runs 2] [--json OUT]

Each run is a child process: it parses the PDF's figures, warms the OCR engines on two of
them, then reads them all as the indexer does (`read_many`, one image per thread) and
reports wall time, user and system CPU, minor page faults, peak RSS and a hash of the
texts. The modes alternate: `openvino` is the default runtime, `shared` ONNX Runtime with
one memory arena for every session, `none` ONNX Runtime as RapidOCR builds it, without one.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = ("openvino", "shared", "none")


def child(pdf: Path, mode: str) -> dict:
    """One measured OCR pass in this process."""
    from localrag import ingest
    from localrag.allocator import limit_arenas
    from localrag.components import Components
    from localrag.config import Settings
    from localrag.describe import ocr as ocr_module

    limit_arenas()  # as the localrag command does
    if mode == "none":
        ocr_module._memory_arena = contextlib.nullcontext  # type: ignore[assignment]
    images = [f.image for f in ingest.parse_file(pdf, ingest.file_sha256(pdf)).figures]
    default = Components(Settings()).ocr
    assert default is not None
    runtime = "openvino" if mode == "openvino" else "onnxruntime"
    spec = dataclasses.replace(default.spec, params={**default.spec.params, "runtime": runtime})
    engine = ocr_module.OcrEngine(spec, default.n_threads)
    engine.read_many(images[:2])
    before, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    texts = engine.read_many(images)
    wall, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF)
    return {
        "mode": mode,
        "figures": len(images),
        "wall_s": round(wall, 2),
        "user_s": round(after.ru_utime - before.ru_utime, 2),
        "sys_s": round(after.ru_stime - before.ru_stime, 2),
        "minor_faults": after.ru_minflt - before.ru_minflt,
        "peak_rss_mib": round(after.ru_maxrss / 1024, 1),
        "texts_sha256": hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:16],
    }


def main() -> int:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdf", type=Path, help="default: asymptote.pdf")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pdf is None:
        from localrag.evaluation.corpus import asymptote_pdf

        args.pdf = asymptote_pdf()
    if args.child:
        print(json.dumps(child(args.pdf, args.child)))
        return 0
    runs: list[dict] = []
    for _ in range(args.runs):
        for mode in MODES:
            cmd = [sys.executable, __file__, "--pdf", str(args.pdf), "--child", mode]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(runs[-1]), file=sys.stderr)
    report: dict = {"pdf": args.pdf.name, "runs": runs, "median": {}}
    for mode in MODES:
        mine = [r for r in runs if r["mode"] == mode]
        report["median"][mode] = {
            k: round(statistics.median(r[k] for r in mine), 2)
            for k in ("wall_s", "user_s", "sys_s", "minor_faults", "peak_rss_mib")
        }
    report["same_text"] = len({r["texts_sha256"] for r in runs}) == 1
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print("| runtime | wall s | user s | sys s | minor faults | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode, m in report["median"].items():
        print(
            f"| {mode} | {m['wall_s']} | {m['user_s']} | {m['sys_s']} | {m['minor_faults']:,.0f} | "
            f"{m['peak_rss_mib']} |"
        )
    print(f"same text in every run: {report['same_text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
