"""Peak RSS of `localrag index` against the page count: memory must not grow with the pages.

    .venv/bin/python scripts/bench_memory.py [--pages 300 3000] [--figure-every 20]
                                             [--pdf FILE ...] [--baseline REV] [--json OUT]

Builds synthetic manuals (fpdf2: a heading and two paragraphs per page, and every
--figure-every pages a distinct raster diagram), indexes each one in a fresh data dir with
the default profile in a child process, and reports the child's peak RSS (from wait4), its
RSS over time, and pages/s. --pdf adds real files (e.g. asymptote.pdf, whose line art
makes OCR's working set the largest part); `--pages` with no number skips the synthetic
ones. --baseline REV runs the same indexing with the code of a git
revision (a temporary worktree), for a before/after in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "the pump valve filter cartridge housing seal ring gasket inlet outlet drain motor relay fuse "
    "switch panel bracket screw clamp hose tank lid sensor lamp heater timer press hold release "
    "replace remove install check clean rinse flush tighten loosen turn open close before after"
).split()


def synthetic_manual(path: Path, pages: int, figure_every: int = 20, seed: int = 0) -> Path:
    """A manual of `pages` pages; every figure_every-th page carries a distinct raster diagram."""
    from fpdf import FPDF

    sys.path.insert(0, str(ROOT))
    from localrag.bench.synthetic import figure

    rng = random.Random(seed)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    for p in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.cell(
            0,
            10,
            f"Section {p}: {rng.choice(WORDS)} {rng.choice(WORDS)} service",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("Helvetica", "", 10)
        for _ in range(2):
            text = " ".join(rng.choice(WORDS) for _ in range(70)).capitalize() + "."
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        if figure_every and p % figure_every == 0:
            buf = io.BytesIO()
            figure(seed * 100_000 + p).save(buf, "JPEG", quality=85)
            pdf.image(io.BytesIO(buf.getvalue()), x=20, y=120, w=160)
            pdf.set_xy(20, 230)
            pdf.cell(0, 6, f"Figure {p // figure_every}: diagram of page {p}")
    pdf.output(str(path))
    return path


@contextlib.contextmanager
def worktree(rev: str, where: Path) -> Iterator[Path]:
    """The code of a git revision in a temporary worktree, removed afterwards."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev],
        check=True,
        capture_output=True,
    )
    try:
        yield where
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)],
            check=False,
            capture_output=True,
        )


def page_count(pdf: Path) -> int:
    """Pages in a PDF."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        return len(doc)
    finally:
        doc.close()


def index_peak(pdf: Path, data_dir: Path, code: Path = ROOT) -> dict:
    """Index pdf in a child process running the code under `code`; its peak RSS and timings."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, "-m", "localrag", "--data-dir", str(data_dir), "index", str(pdf)]
    log = data_dir.with_suffix(".log")
    t = time.perf_counter()
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=code, stdout=subprocess.DEVNULL, stderr=err)
    timeline: list[tuple[float, float]] = []
    status = Path(f"/proc/{proc.pid}/status")
    while True:
        pid, wstatus, usage = os.wait4(proc.pid, os.WNOHANG)  # rusage of the child alone
        if pid:
            break
        try:
            rss = next(ln for ln in status.read_text().splitlines() if ln.startswith("VmRSS"))
            timeline.append((round(time.perf_counter() - t, 1), round(int(rss.split()[1]) / 1024, 1)))
        except (OSError, StopIteration):
            pass
        time.sleep(0.5)
    proc.returncode = os.waitstatus_to_exitcode(wstatus)
    seconds = time.perf_counter() - t
    peak = usage.ru_maxrss / 1024
    err_text = log.read_text(errors="replace")
    return {
        "exit": proc.returncode,
        "peak_rss_mib": round(peak, 1),
        "sampled_peak_rss_mib": max((r for _, r in timeline), default=0.0),
        "seconds": round(seconds, 1),
        "timeline": timeline[:: max(1, len(timeline) // 40)],
        "stderr_tail": err_text.strip().splitlines()[-2:],
    }


def main() -> int:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, nargs="*", default=[300, 3000])
    ap.add_argument("--pdf", type=Path, nargs="*", default=[], help="real PDFs to measure as well")
    ap.add_argument("--figure-every", type=int, default=20)
    ap.add_argument("--baseline", help="git revision to measure as well (e.g. HEAD~1)")
    ap.add_argument("--baseline-max-pages", type=int, default=300, help="skip larger PDFs for the baseline")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    results: dict = {"figure_every": args.figure_every, "runs": []}
    with tempfile.TemporaryDirectory(prefix="localrag-mem-") as tmp:
        base = Path(tmp)
        with contextlib.ExitStack() as stack:
            baseline = (
                stack.enter_context(worktree(args.baseline, base / "baseline")) if args.baseline else None
            )
            pdfs = [synthetic_manual(base / f"manual-{n}.pdf", n, args.figure_every) for n in args.pages]
            for pdf in [*pdfs, *(p.resolve() for p in args.pdf)]:
                n = page_count(pdf)
                codes = [("current", ROOT)]
                if baseline is not None and (n <= args.baseline_max_pages or pdf not in pdfs):
                    codes.append((f"baseline {args.baseline}", baseline))
                for label, code in codes:
                    r = index_peak(pdf, base / f"data-{pdf.stem}-{label.split()[0]}", code)
                    r.update(
                        {
                            "file": pdf.name,
                            "pages": n,
                            "code": label,
                            "pages_per_s": round(n / r["seconds"], 2),
                        }
                    )
                    results["runs"].append(r)
                    print(
                        f"{label:>22}: {pdf.name[:24]:>24} {n:5d} pages  "
                        f"peak RSS {r['peak_rss_mib']:7.1f} MiB  {r['seconds']:7.1f} s  "
                        f"({r['pages_per_s']} pages/s)  exit {r['exit']}",
                        flush=True,
                    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
