#!/usr/bin/env python
"""Crash test: SIGKILL `localrag index` at seeded random moments, re-run it, check the index each time.

Each round changes the folder (one file rewritten, one replaced by another), starts
`index --force --prune` and kills it after a random delay within a measured run's length;
then runs `index` to completion and verifies, against counts parsed independently:
every file present with the right record counts, no duplicates, no record or blob of a
file the state DB does not list, and a search that finds the manual.

    .venv/bin/python scripts/crash_test.py --kills 20 --seed 7
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from localrag.bench.synthetic import diagram  # noqa: E402
from localrag.check import inspect  # noqa: E402
from localrag.components import Components  # noqa: E402
from localrag.config import Settings  # noqa: E402
from localrag.engine import Engine  # noqa: E402
from localrag.ingest import file_sha256, parse_file  # noqa: E402
from localrag.retrieve import Retriever  # noqa: E402
from localrag.sources import source_of  # noqa: E402
from localrag.state import State  # noqa: E402
from localrag.store import Store  # noqa: E402
from localrag.store.blobs import Blobs  # noqa: E402

SAMPLE = ROOT / "localrag" / "data" / "aquapure-300-manual.pdf"
NOTE = "Service note {n}: the {part} gasket is replaced every {months} months; torque {nm} Nm.\n\n"


def drawing(path: Path, seed: int) -> None:
    """A line drawing, different for each seed."""
    diagram(seed, (320, 240)).save(path)


def note(path: Path, n: int) -> None:
    """A text manual whose content depends on n."""
    parts = ["pump", "valve", "lid", "filter", "hose"]
    path.write_text(
        "".join(NOTE.format(n=n, part=parts[(n + i) % 5], months=6 + i, nm=n + i) * 3 for i in range(12))
    )


def corpus(docs: Path) -> None:
    """The sample manual, three notes and two drawings."""
    docs.mkdir(parents=True)
    shutil.copy(SAMPLE, docs / SAMPLE.name)
    for i in range(3):
        note(docs / f"note-{i}.md", i)
    drawing(docs / "part-a.png", 1)
    drawing(docs / "part-b.png", 2)


def change(docs: Path, rnd: random.Random, round_no: int) -> None:
    """Rewrite one note, swap one drawing for a new one."""
    note(docs / f"note-{rnd.randrange(3)}.md", 100 + round_no)
    for old in docs.glob("part-*.png"):
        if rnd.random() < 0.5:
            old.unlink()
            drawing(docs / f"part-{round_no}.png", 1000 + round_no)
            break


def expected(docs: Path) -> dict[str, tuple[int, int]]:
    """(chunks, figures) per file, parsed here without any model."""
    out = {}
    for p in sorted(docs.iterdir()):
        doc = parse_file(p, file_sha256(p))
        out[source_of(p)] = (len(doc.chunks), len(doc.figures))
    return out


def index(data: Path, docs: Path, *extra: str) -> subprocess.Popen[bytes]:
    """Start `localrag index` in its own process."""
    cmd = [sys.executable, "-m", "localrag", "--data-dir", str(data), "index", "--no-progress", *extra]
    cmd.append(str(docs))
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def verify(data: Path, docs: Path, retriever: Retriever) -> list[str]:
    """Every invariant, as lines; empty when the index is right."""
    settings = retriever.settings
    state = State(settings.state_db, readonly=True)
    store = Store(settings.chroma_dir, Components(settings).fingerprints(), readonly=True)
    report = inspect(state, store, Blobs(settings.blobs_dir))
    problems = [v.line() for v in report.violations]
    want = expected(docs)
    rows = {r.source: r for r in state.files()}
    if set(rows) != set(want):
        problems.append(f"sources differ: missing {set(want) - set(rows)}, extra {set(rows) - set(want)}")
    for source, (chunks, figures) in want.items():
        got = report.records.get(source, {})
        if (got.get("text"), got.get("figures"), got.get("figure_images")) != (chunks, figures, figures):
            problems.append(f"{source}: records {got}, expected {chunks} chunks and {figures} figures")
    hits = retriever.search("wiring schematic fuse", k=3).hits
    if not hits or not any(h.source == source_of(docs / SAMPLE.name) for h in hits):
        problems.append("search: the manual's wiring page was not found")
    state.close()
    return problems


def main() -> int:
    """Run the rounds; exit 1 if any round leaves a violation."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="Print the rounds as JSON.")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="localrag-crash-") as tmp:
        docs, data = Path(tmp) / "docs", Path(tmp) / "data"
        corpus(docs)
        first = index(data, docs)
        if first.wait() != 0:
            print(first.stderr.read().decode() if first.stderr else "", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        forced = index(data, docs, "--force")
        forced.wait()
        span = time.perf_counter() - t0  # a whole forced run, process start included
        settings = Settings(data_dir=data)
        retriever = Engine(settings).retriever()
        rounds: list[dict] = []
        i = 0
        # a round whose run finished before its kill is verified too, but does not count as a kill
        while sum(r["killed"] for r in rounds) < args.kills and i < 2 * args.kills:
            i += 1
            change(docs, rnd, i)
            # the first ~40% of a run is interpreter and model start-up: kill inside the work
            delay = rnd.uniform(0.35 * span, 0.9 * span)
            proc = index(data, docs, "--force", "--prune")
            time.sleep(delay)
            killed = proc.poll() is None
            if killed:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            rerun = index(data, docs, "--prune")
            rc = rerun.wait()
            err = rerun.stderr.read().decode().strip() if rerun.stderr else ""
            problems = verify(data, docs, retriever)
            if rc != 0:
                problems.append(f"re-run exited {rc}: {err.splitlines()[-1] if err else ''}")
            rounds.append({"round": i, "kill_at_s": round(delay, 2), "killed": killed, "problems": problems})
            if not args.json:
                state = "killed" if killed else "finished first"
                verdict = "ok" if not problems else "; ".join(problems)
                print(f"round {i:2d}: {state} at {delay:5.2f} s of {span:.1f} s -> {verdict}", flush=True)
        failed = [r for r in rounds if r["problems"]]
        kills = [r for r in rounds if r["killed"]]
        summary = {
            "kills": len(kills),
            "seed": args.seed,
            "run_seconds": round(span, 2),
            "kills_consistent": sum(not r["problems"] for r in kills),
            "rounds": len(rounds),
            "rounds_consistent": len(rounds) - len(failed),
            "rounds_detail": rounds,
        }
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            print(
                f"{summary['kills_consistent']}/{len(kills)} kills consistent; "
                f"{summary['rounds_consistent']}/{len(rounds)} rounds in all (seed {args.seed})"
            )
        return 1 if failed or len(kills) < args.kills else 0


if __name__ == "__main__":
    sys.exit(main())
