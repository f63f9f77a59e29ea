#!/usr/bin/env python
"""Load on a live `localrag serve`: concurrent clients mixing text search, photo search and ask.

Indexes the sample manual into a temporary data dir, starts the server on loopback, runs
N clients for D seconds, and reports per-endpoint p50/p95 latency and errors. In the same
run it times a cold `localrag search` (a fresh process, as the CLI does) against the warm
server's text search, and reports the ratio of their medians.

    .venv/bin/python scripts/bench_serve.py --clients 8 --seconds 60 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "localrag" / "data" / "aquapure-300-manual.pdf"
PHOTO = ROOT / "localrag" / "data" / "query-wiring-photo.jpg"
QUESTIONS = [
    "How do I replace the filter cartridge?",
    "What fuse does the unit use?",
    "How often should the UV lamp be replaced?",
    "What does the red wire carry?",
    "What is the capital of France?",
]


def localrag(data: Path, *args: str) -> list[str]:
    """The CLI as a user runs it."""
    return [sys.executable, "-m", "localrag", "--data-dir", str(data), *args]


def pct(xs: list[float], q: float) -> float:
    """The q-quantile in milliseconds (nearest rank)."""
    xs = sorted(xs)
    return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 1) if xs else 0.0


def main() -> int:
    """Run the benchmark and print its report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--cold-runs", type=int, default=3, help="Cold CLI searches for the baseline.")
    ap.add_argument("--json", type=Path, help="Also write the report here.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="localrag-bench-serve-") as tmp:
        data, docs = Path(tmp) / "data", Path(tmp) / "docs"
        docs.mkdir()
        shutil.copy(SAMPLE, docs / SAMPLE.name)
        subprocess.run(localrag(data, "index", "--no-progress", str(docs)), check=True, capture_output=True)

        cold = []
        for _ in range(args.cold_runs):
            t = time.perf_counter()
            subprocess.run(localrag(data, "search", "--json", QUESTIONS[0]), check=True, capture_output=True)
            cold.append(time.perf_counter() - t)

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(localrag(data, "serve", "--port", str(port)), stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            report = load(url, args.clients, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
    warm = report["endpoints"]["search_text"]["p50_ms"]
    report["cold_cli_search_ms"] = [round(1000 * c, 1) for c in cold]
    report["cold_cli_search_p50_ms"] = round(1000 * statistics.median(cold), 1)
    report["cold_over_warm_search"] = round(report["cold_cli_search_p50_ms"] / warm, 1) if warm else None
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if report["errors"] else 0


def load(url: str, clients: int, seconds: float) -> dict:
    """Run the clients; latencies and errors per endpoint."""
    photo = PHOTO.read_bytes()
    lat: dict[str, list[float]] = {"search_text": [], "search_photo": [], "ask": []}
    errors: dict[str, int] = dict.fromkeys(lat, 0)
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(seed: int) -> None:
        rnd = random.Random(seed)
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.perf_counter() < stop:
                kind = rnd.choices(list(lat), weights=[5, 3, 2])[0]
                q = rnd.choice(QUESTIONS)
                t = time.perf_counter()
                try:
                    if kind == "search_text":
                        r = http.post("/v1/search", json={"query": q, "k": 5})
                    elif kind == "search_photo":
                        r = http.post("/v1/search", files={"image": ("p.jpg", photo, "image/jpeg")})
                    else:
                        r = http.post("/v1/ask", json={"query": q})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    if ok:
                        lat[kind].append(time.perf_counter() - t)
                    else:
                        errors[kind] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": sum(len(v) for v in lat.values()),
        "errors": sum(errors.values()),
        "endpoints": {
            k: {"n": len(v), "errors": errors[k], "p50_ms": pct(v, 0.5), "p95_ms": pct(v, 0.95)}
            for k, v in lat.items()
        },
    }


if __name__ == "__main__":
    sys.exit(main())
