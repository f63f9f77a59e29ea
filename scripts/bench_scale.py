"""Scale benchmark: 100k figures and 1M text chunks in the embedded store and on `chroma run`.

    .venv/bin/python scripts/bench_scale.py [--chunks 1000000] [--figures 100000]
        [--stores embedded,server] [--queries 200] [--json OUT] [--keep DIR | --reuse DIR]

Loading a million chunks takes about half an hour on 2 cores. `--keep DIR` leaves the built
store (and the corpus vectors, for recall) in DIR; `--reuse DIR` measures queries and recall
on it again without loading, embedded or served by `chroma run --path DIR/data/chroma`, so
query-side changes are compared on one and the same index.

The bulk of the corpus is synthetic: vectors drawn around 2,000 cluster centres (as real
embeddings cluster by topic) and texts of Zipf-distributed English words (wordfreq), loaded
through localrag's own Store and state DB in the records' real layout. Indexing a million
chunks through MiniLM on 2 cores would take hours and measure the embedder, not the store.
Everything measured on top of that is the real code: the sample manual indexed by the real
pipeline, queries through the real Retriever (MiniLM, ORB, FTS5, fusion, spatial
verification) in a warm process, and a re-sync through the real indexer after 1% of the
source files on disk change.

Per store it reports insert throughput, query p50/p95 (text, hybrid, image), HNSW recall@10
against exact search, peak RSS, disk use and the re-sync time.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from localrag.config import Settings  # noqa: E402
from localrag.engine import Engine  # noqa: E402
from localrag.evaluation.perturb import phone_photo  # noqa: E402
from localrag.retrieve.keyword import keyword_row  # noqa: E402
from localrag.retrieve.retriever import CANDIDATES  # noqa: E402
from localrag.sources import source_of  # noqa: E402
from localrag.store import Record  # noqa: E402

SAMPLE = ROOT / "localrag" / "data" / "aquapure-300-manual.pdf"
CHUNKS_PER_FILE = 100
CENTRES = 2000
TEXT_QUERIES = [
    "How do I replace the filter cartridge?",
    "What fuse does the unit use?",
    "wiring schematic of the 12 V circuit",
    "flow rate of the pump",
    "Red LED flashes",
    "UV lamp replacement interval",
    "install the unit under the sink",
    "exploded view of the filter housing",
]


def rss_mib() -> float:
    """Peak RSS of this process."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_hwm_mib(pid: int) -> float:
    """Peak RSS of another process (the Chroma server)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def disk_mib(path: Path) -> float:
    """Bytes under a folder."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / (1 << 20)


def pct(xs: list[float], q: float) -> float:
    """A percentile by nearest rank."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


class Clusters:
    """Unit vectors around fixed centres: the same generator for the corpus and held-out queries.

    Signed for image vectors too: folding the noise to non-negative values (as BoVW histograms
    are) adds one common direction that makes every vector a near-duplicate of every other,
    and recall against exact search then measures ties, not the index.
    """

    def __init__(self, dim: int, seed: int, draws: int = 0) -> None:
        """Centres from seed; draws picks the noise stream (held-out queries use another one)."""
        rng = np.random.default_rng(seed)
        self.centres = rng.standard_normal((CENTRES, dim)).astype(np.float32)
        self.centres /= np.linalg.norm(self.centres, axis=1, keepdims=True)
        self.rng = rng if not draws else np.random.default_rng([seed, draws])
        self.dim = dim

    def draw(self, n: int) -> np.ndarray:
        idx = self.rng.integers(0, CENTRES, n)
        noise = self.rng.standard_normal((n, self.dim)).astype(np.float32) * 0.06
        v = self.centres[idx] + noise
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return v


def words(n_texts: int, seed: int) -> list[str]:
    """Texts of 30-70 Zipf-distributed English words."""
    from wordfreq import top_n_list

    vocab = np.array(top_n_list("en", 30000))
    ranks = np.arange(1, len(vocab) + 1, dtype=np.float64)
    p = 1 / ranks
    p /= p.sum()
    rng = np.random.default_rng(seed)
    lens = rng.integers(30, 70, n_texts)
    flat = rng.choice(len(vocab), int(lens.sum()), p=p)
    out, at = [], 0
    for n in lens:
        out.append(" ".join(vocab[flat[at : at + n]]))
        at += n
    return out


def load_synthetic(engine: Engine, docs: Path, n_chunks: int, n_figures: int, seed: int) -> dict:
    """Write the synthetic corpus through the Store and the state DB; one small file on disk per source."""
    indexer = engine.indexer
    store, state = indexer.store, indexer.state
    real_figs = store.metadatas("figure_images")
    blob_keys = [m["image"] for _, m in real_figs]  # synthetic figures verify against real features
    n_files = max(1, n_chunks // CHUNKS_PER_FILE)
    figs_per_file = max(1, n_figures // n_files)
    text_gen, img_gen = Clusters(384, seed), Clusters(indexer.image_embedder.dim, seed + 1)
    texts = words(n_chunks, seed)
    text_vecs = text_gen.draw(n_chunks)
    fig_vecs, img_vecs = text_gen.draw(n_files * figs_per_file), img_gen.draw(n_files * figs_per_file)
    docs.mkdir(parents=True, exist_ok=True)
    timings = {"text": 0.0, "figures": 0.0, "figure_images": 0.0, "state": 0.0}
    batch: dict[str, list[Record]] = {"text": [], "figures": [], "figure_images": []}

    def flush() -> None:
        for name, recs in batch.items():
            t = time.perf_counter()
            store.add(name, recs)
            timings[name] += time.perf_counter() - t
            recs.clear()

    t_all = time.perf_counter()
    ci = fi = 0
    text_ids: list[str] = []
    img_ids: list[str] = []
    for f in range(n_files):
        path = docs / f"manual-{f:05d}.txt"
        body = f"Synthetic manual {f}. " + texts[ci]
        path.write_text(body)
        source = source_of(path)
        sha = hashlib.sha256(body.encode()).hexdigest()
        words_rows = []
        for j in range(CHUNKS_PER_FILE if f < n_files - 1 else n_chunks - ci):
            rid = hashlib.sha256(f"{source}\x1f{ci}".encode()).hexdigest()[:24]
            meta = {"source": source, "page": 1 + j // 10, "kind": "text"}
            batch["text"].append(Record(rid, text_vecs[ci], texts[ci], meta))
            text_ids.append(rid)
            words_rows.append(keyword_row(rid, texts[ci]))
            ci += 1
        for j in range(figs_per_file):
            rid = hashlib.sha256(f"{source}\x1ffig{j}".encode()).hexdigest()[:24]
            doc = f"Figure {j + 1}: " + texts[(fi * 7) % n_chunks][:120]
            meta = {
                "source": source,
                "page": 1 + j,
                "figure": j + 1,
                "kind": "figure",
                "figure_kind": "vector",
                "caption": doc[:40],
                "image": blob_keys[fi % len(blob_keys)],
            }
            batch["figures"].append(Record(rid, fig_vecs[fi], doc, meta))
            batch["figure_images"].append(Record(rid, img_vecs[fi], doc, meta))
            img_ids.append(rid)
            words_rows.append(keyword_row(rid, doc))
            fi += 1
        t = time.perf_counter()
        raw = os.fsencode(str(path.resolve()))
        state.commit_file(source, sha, (1, CHUNKS_PER_FILE, figs_per_file), raw, [], words_rows)
        timings["state"] += time.perf_counter() - t
        if len(batch["text"]) >= 5000:
            flush()
        if f % 500 == 0:
            print(f"  loaded {ci:,} chunks, {fi:,} figures", file=sys.stderr, flush=True)
    flush()
    wall = time.perf_counter() - t_all

    records = ci + 2 * fi
    return {
        "files": n_files,
        "chunks": ci,
        "figures": fi,
        "insert_records_per_s": round(records / sum(timings[k] for k in batch), 1),
        "insert_text_per_s": round(ci / timings["text"], 1),
        "insert_figure_images_per_s": round(fi / max(timings["figure_images"], 1e-9), 1),
        "state_rows_per_s": round((ci + fi) / timings["state"], 1),
        "load_wall_s": round(wall, 1),
        "text_vectors": (text_ids, text_vecs),
        "image_vectors": (img_ids, img_vecs),
    }


def recall_at_10(
    engine: Engine, name: str, corpus: tuple[list[str], np.ndarray], gen: Clusters, n: int
) -> dict:
    """HNSW top-10 from the store against exact top-10 over every vector (synthetic and real)."""
    store = engine.retriever().store
    real = store.records(name, store.ids_for_source(name, source_of(SAMPLE)))
    ids = corpus[0] + [r.id for r in real]
    mat = np.concatenate([corpus[1], np.stack([r.vector for r in real])]) if real else corpus[1]
    queries = gen.draw(n)
    hits, lat = 0, []
    for q in queries:
        t = time.perf_counter()
        res = store.query(name, q, 10)
        lat.append((time.perf_counter() - t) * 1000)
        # exact top-10 of what the store holds now: a re-sync of a kept store replaced some vectors
        near = np.argpartition(-(mat @ q), 40)[:40]
        near = near[np.argsort(-(mat[near] @ q))]
        held = {r.id for r in store.get(name, [ids[i] for i in near])}
        exact = [ids[i] for i in near if ids[i] in held][:10]
        hits += len(set(exact) & {r.id for r in res})
    return {"recall_at_10": round(hits / (10 * n), 4), "knn_p50_ms": round(pct(lat, 0.5), 2)}


def query_latency(engine: Engine, photos: list, n: int) -> dict:
    """Warm-process latencies through the real Retriever, and the p50 of hybrid search's parts."""
    out: dict[str, list[float]] = {"text": [], "image": [], "image_no_photo_ocr": [], "hybrid": []}
    parts: dict[str, list[float]] = {"embed": [], "text_knn": [], "figure_knn": [], "keyword": []}
    engine.search(TEXT_QUERIES[0])  # warm
    engine.search(image=photos[0])
    retriever = engine.retriever()
    embedder, store = engine.components.text_embedder, retriever.store
    for i in range(n):
        q, photo = TEXT_QUERIES[i % len(TEXT_QUERIES)], photos[i % len(photos)]
        t = time.perf_counter()
        store.query("text", embedder.embed_texts([q])[0], 20)
        out["text"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine.search(q, k=5)
        out["hybrid"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine.search(image=photo, k=5)
        out["image"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()  # the store's share: no OCR of the photo when no figure verifies
        engine.search(image=photo, k=5, photo_text="never")
        out["image_no_photo_ocr"].append((time.perf_counter() - t) * 1000)
        t0 = time.perf_counter()  # where a hybrid query's time goes
        qv = embedder.embed_texts([q])[0]
        t1 = time.perf_counter()
        store.query("text", qv, CANDIDATES)
        t2 = time.perf_counter()
        store.query("figures", qv, CANDIDATES)
        t3 = time.perf_counter()
        retriever.keyword.search(q, CANDIDATES)
        t4 = time.perf_counter()
        for name, (a, b) in zip(parts, ((t0, t1), (t1, t2), (t2, t3), (t3, t4)), strict=True):
            parts[name].append((b - a) * 1000)
    got: dict = {
        f"{k}_{p}_ms": round(pct(v, q), 1) for k, v in out.items() for p, q in (("p50", 0.5), ("p95", 0.95))
    }
    got["hybrid_parts_p50_ms"] = {k: round(pct(v, 0.5), 1) for k, v in parts.items()}
    return got


def resync(engine: Engine, docs: Path, fraction: float) -> dict:
    """Change a fraction of the source files on disk and time the real `index` sync."""
    files = sorted(docs.glob("manual-*.txt"))
    changed = files[:: max(1, round(1 / fraction))]
    for f in changed:
        f.write_text(f.read_text() + " Revised: the fuse is now 3 A.")
    t = time.perf_counter()
    s = engine.index([docs])
    wall = time.perf_counter() - t
    assert not s.failed and len(s.indexed) == len(changed), (s.failed, len(s.indexed))
    return {"files": len(files), "changed": len(changed), "resync_s": round(wall, 2)}


def start_server(path: Path, port: int) -> subprocess.Popen:
    """`chroma run` on loopback."""
    exe = Path(sys.executable).with_name("chroma")
    log = (path.parent / "chroma.log").open("w")
    cmd = [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit("chroma run did not start")


def set_search_ef(settings: Settings, ef: int) -> None:
    """Change a built store's HNSW search breadth (Chroma lets ef_search change after creation)."""
    from localrag.store.chroma import COLLECTIONS

    store = Engine(settings).indexer.store
    for name in COLLECTIONS:
        col = store.collection(name)
        col.modify(configuration={"hnsw": {"ef_search": ef}})
    store.reopen()


def retriever_ef(engine: Engine) -> int:
    """The HNSW search breadth the text collection actually has (a kept store keeps its own)."""
    return int(engine.retriever().store.collection("text").configuration["hnsw"]["ef_search"])


def run_store(kind: str, args: argparse.Namespace, photos: list) -> dict:
    """Build (or reuse), measure and tear down one store."""
    kept = args.reuse or args.keep
    if kept:
        kept.mkdir(parents=True, exist_ok=True)
    room = contextlib.nullcontext(str(kept)) if kept else tempfile.TemporaryDirectory(prefix=f"scale-{kind}-")
    with room as tmp:
        tmp_path = Path(tmp)
        settings = Settings(data_dir=tmp_path / "data")
        vectors = tmp_path / "vectors.npz"
        server = None
        if kind == "server":
            from services import free_port

            port = free_port()
            served = tmp_path / "chroma-server"
            if args.reuse and not served.exists():  # an embedded build: the server opens its folder
                served = settings.chroma_dir
            server = start_server(served, port)
            settings.store = f"http://127.0.0.1:{port}"
        try:
            if args.reuse:
                saved = np.load(vectors)
                text_vecs = (list(saved["text_ids"]), saved["text"])
                img_vecs = (list(saved["image_ids"]), saved["image"])
                loaded: dict = {"reused": str(args.reuse)}
            else:
                engine = Engine(settings)
                t = time.perf_counter()
                engine.index([SAMPLE])
                sample_s = time.perf_counter() - t
                print(f"[{kind}] loading {args.chunks:,} chunks, {args.figures:,} figures", file=sys.stderr)
                loaded = load_synthetic(engine, tmp_path / "docs", args.chunks, args.figures, args.seed)
                loaded["sample_index_s"] = round(sample_s, 2)
                text_vecs, img_vecs = loaded.pop("text_vectors"), loaded.pop("image_vectors")
                if args.keep:
                    np.savez(
                        vectors,
                        text_ids=np.array(text_vecs[0]),
                        text=text_vecs[1],
                        image_ids=np.array(img_vecs[0]),
                        image=img_vecs[1],
                    )
            if args.search_ef:
                set_search_ef(settings, args.search_ef)
            engine = Engine(settings)  # a fresh reader, as a server process would have
            t = time.perf_counter()
            engine.warm()
            warm_s = time.perf_counter() - t
            print(f"[{kind}] queries", file=sys.stderr)
            lat = query_latency(engine, photos, args.queries)
            rec_text = recall_at_10(engine, "text", text_vecs, Clusters(384, args.seed, draws=1), args.recall)
            rec_img = recall_at_10(
                engine,
                "figure_images",
                img_vecs,
                Clusters(engine.components.image_embedder.dim, args.seed + 1, draws=1),
                args.recall,
            )
            del text_vecs, img_vecs
            out = {
                "store": kind,
                "search_ef": retriever_ef(engine),
                **loaded,
                "reader_open_s": round(warm_s, 2),
                **lat,
                "text_recall_at_10": rec_text["recall_at_10"],
                "text_knn_p50_ms": rec_text["knn_p50_ms"],
                "image_recall_at_10": rec_img["recall_at_10"],
                "image_knn_p50_ms": rec_img["knn_p50_ms"],
            }
            if not args.reuse:  # a re-sync changes the corpus: a reused store is measured as it was built
                print(f"[{kind}] re-sync", file=sys.stderr)
                out.update(resync(engine, tmp_path / "docs", 0.01))
            out["peak_rss_mib"] = round(rss_mib(), 1)
            out["disk_mib"] = round(disk_mib(tmp_path / "data"), 1)
            if server is not None:
                out["server_peak_rss_mib"] = round(proc_hwm_mib(server.pid), 1)
                out["server_disk_mib"] = round(disk_mib(served), 1)
            return out
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--figures", type=int, default=100_000)
    ap.add_argument("--stores", default="embedded,server")
    ap.add_argument("--queries", type=int, default=200, help="timed queries of each kind")
    ap.add_argument("--recall", type=int, default=200, help="held-out vectors for recall@10")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path)
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--keep", type=Path, help="build into this folder and leave it there")
    where.add_argument("--reuse", type=Path, help="measure a store left by --keep, without loading")
    ap.add_argument("--search-ef", type=int, help="set HNSW ef_search on the store before measuring")
    args = ap.parse_args()
    if args.keep and "," in args.stores:
        ap.error("--keep builds one store: give --stores embedded or --stores server")

    from localrag.ingest import parse_file

    doc = parse_file(SAMPLE, hashlib.sha256(SAMPLE.read_bytes()).hexdigest())
    rng = random.Random(args.seed)
    photos = [phone_photo(f.image, rng) for f in doc.figures]
    results = []
    for kind in args.stores.split(","):
        # each store in its own process: peak RSS is per store, not the larger of the two
        if len(args.stores.split(",")) > 1:
            cmd = [sys.executable, __file__, "--stores", kind, "--chunks", str(args.chunks)]
            cmd += ["--figures", str(args.figures), "--queries", str(args.queries)]
            cmd += ["--recall", str(args.recall), "--seed", str(args.seed)]
            if args.search_ef:
                cmd += ["--search-ef", str(args.search_ef)]
            if args.keep or args.reuse:
                cmd += ["--keep" if args.keep else "--reuse", str(args.keep or args.reuse)]
            with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
                subprocess.run([*cmd, "--json", tmp.name], check=True)
                results.extend(json.loads(Path(tmp.name).read_text())["results"])
            continue
        results.append(run_store(kind, args, photos))
    report = {
        "chunks": args.chunks,
        "figures": args.figures,
        "cpu": os.cpu_count(),
        "python": sys.version.split()[0],
        "results": results,
    }
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
