"""The pipelined indexer against a baseline revision's indexer, in the same run, on the same files.

    .venv/bin/python scripts/bench_pipeline.py --baseline REV [--runs 3]
        [--corpora sample,asymptote,synthetic,small] [--json OUT]

Each corpus is indexed cold (fresh data dir, every figure described) by the current code
and by REV's code (a temporary git worktree), alternating, each in a child process with
the default profile. Reports the median wall time of `index` (model loading included, as
a user waits for it) and of the indexing itself (the summary's seconds), the ratio
baseline / current, and whether both wrote the same records: ids, documents and metadata
in all three collections, and the same keyword rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_memory import synthetic_manual, worktree  # noqa: E402

from localrag.store.chroma import COLLECTIONS  # noqa: E402


def corpus(name: str, tmp: Path) -> list[Path]:
    """The files of one corpus."""
    if name == "sample":
        return [ROOT / "localrag" / "data" / "aquapure-300-manual.pdf"]
    if name == "asymptote":
        from localrag.evaluation.corpus import asymptote_pdf

        return [asymptote_pdf()]
    if name == "synthetic":  # many small figure-heavy manuals: a figure every other page
        folder = tmp / "synthetic"
        folder.mkdir(exist_ok=True)
        return [synthetic_manual(folder / f"m{i:02d}.pdf", 24, 2, seed=i + 1) for i in range(12)]
    if name == "small":  # many two-page notes without figures: per-file overhead dominates
        folder = tmp / "small"
        folder.mkdir(exist_ok=True)
        return [synthetic_manual(folder / f"s{i:03d}.pdf", 2, 0, seed=i + 1) for i in range(200)]
    raise SystemExit(f"unknown corpus {name!r}")


def index(files: list[Path], data: Path, code: Path) -> dict:
    """`localrag index --json` in a child process running the code under `code`."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, "-m", "localrag", "--data-dir", str(data), "index", "--json", *map(str, files)]
    t = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"{code}: index failed: {res.stderr.strip()[-500:]}")
    summary = json.loads(res.stdout)
    return {"wall_s": wall, "index_s": summary["seconds"], "stages": summary["stage_seconds"]}


def records(data: Path) -> dict:
    """Every record (id, document, metadata) of a data dir, and its keyword rows."""
    import sqlite3

    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(str(data / "chroma"), settings=Settings(anonymized_telemetry=False))
    out: dict = {}
    for name in COLLECTIONS:
        got = client.get_collection(name).get(include=["documents", "metadatas"])
        out[name] = sorted(
            zip(
                got["ids"],
                got["documents"],
                (json.dumps(m, sort_keys=True) for m in got["metadatas"]),
                strict=True,
            )
        )
    db = sqlite3.connect(data / "state.sqlite")
    out["keyword"] = sorted(
        db.execute("SELECT d.id, k.body FROM keyword k JOIN keyword_docs d ON d.rowid = k.rowid")
    )
    return out


def main() -> int:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, help="git revision of the indexer to compare with")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--corpora", default="sample,asymptote,synthetic")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report: dict = {"baseline": args.baseline, "cpu": os.cpu_count(), "corpora": []}
    with tempfile.TemporaryDirectory(prefix="localrag-pipe-") as tmp:
        base = Path(tmp)
        with worktree(args.baseline, base / "baseline") as baseline:
            for name in args.corpora.split(","):
                files = corpus(name, base)
                runs: dict[str, list[dict]] = {"baseline": [], "current": []}
                for r in range(args.runs):
                    for label, code in (("baseline", baseline), ("current", ROOT)):
                        data = base / f"{name}-{label}-{r}"
                        runs[label].append(index(files, data, code))
                        print(f"{name} {label} run {r}: {runs[label][-1]['wall_s']:.1f} s", file=sys.stderr)
                same = records(base / f"{name}-baseline-0") == records(base / f"{name}-current-0")
                row = {"corpus": name, "files": len(files), "same_records": same}
                for key in ("wall_s", "index_s"):
                    b = statistics.median(x[key] for x in runs["baseline"])
                    c = statistics.median(x[key] for x in runs["current"])
                    row[key] = {"baseline": round(b, 2), "current": round(c, 2), "speedup": round(b / c, 3)}
                row["stages_current"] = runs["current"][0]["stages"]
                row["stages_baseline"] = runs["baseline"][0]["stages"]
                report["corpora"].append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print("| corpus | files | baseline s | pipelined s | speed-up (index) | speed-up (wall) | same records |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in report["corpora"]:
        i, w = row["index_s"], row["wall_s"]
        print(
            f"| {row['corpus']} | {row['files']} | {i['baseline']} | {i['current']} | "
            f"{i['speedup']}x | {w['speedup']}x | {row['same_records']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
