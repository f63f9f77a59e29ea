"""One timing function per pipeline stage; each returns {metric: Metric} from repeated runs."""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from localrag.bench.bare import BareLlama
from localrag.bench.report import Metric
from localrag.describe.base import Describer
from localrag.describe.ocr import OcrEngine
from localrag.embed.base import ImageEmbedder, TextEmbedder
from localrag.ingest import file_sha256, parse_stream
from localrag.ingest.base import Figure
from localrag.llm import LlamaModel
from localrag.store import Record, Store

Metrics = dict[str, Metric]


def timed(fn: Callable[[], Any]) -> float:
    """Seconds fn takes."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def percentile(xs: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), as benchmark tools report it."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


@dataclass
class Parsed:
    """What later stages take from the corpus: its size, its chunk texts and some figures."""

    pages: int = 0
    texts: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


def parse(files: list[Path], runs: int, keep_figures: int) -> tuple[Metrics, Parsed]:
    """PDF pages/s parsed and rendered (text, figures and page images), per run over all files.

    Parts are dropped as they come, as the indexer does, so a large corpus fits in memory.
    """
    shas = {p: file_sha256(p) for p in files}
    rates, figs = [], []
    out = Parsed()
    for _ in range(runs):
        out = Parsed()
        n_figs = 0
        t = time.perf_counter()
        for p in files:
            pages = 0
            for part in parse_stream(p, shas[p]):
                pages = part.pages  # every part carries the document's page count, as the indexer reads it
                out.texts += [c.text for c in part.chunks]
                n_figs += len(part.figures)
                room = keep_figures - len(out.figures)
                out.figures += part.figures[: max(0, room)]
            out.pages += pages
        s = time.perf_counter() - t
        rates.append(max(out.pages, 1) / s)
        figs.append(n_figs / s)
    return {"pages_per_s": Metric.of(rates, "pages/s"), "figures_per_s": Metric.of(figs, "figures/s")}, out


def ocr(engine: OcrEngine, images: list[Image.Image], runs: int) -> Metrics:
    """Figures/s through OCR (the model is loaded before the first run)."""
    engine.read(images[0])
    rates = [len(images) / timed(lambda: [engine.read(im) for im in images]) for _ in range(runs)]
    return {"figures_per_s": Metric.of(rates, "figures/s")}


def embed(
    text: TextEmbedder, image: ImageEmbedder, texts: list[str], images: list[Image.Image], runs: int
) -> Metrics:
    """Text and image embeddings/s, in the batches the indexer uses."""
    text.embed_texts(texts[:2])
    image.embed_images(images[:1])
    t_rates = [len(texts) / timed(lambda: text.embed_texts(texts)) for _ in range(runs)]
    i_rates = [len(images) / timed(lambda: image.embed_images(images)) for _ in range(runs)]
    return {"text_per_s": Metric.of(t_rates, "texts/s"), "image_per_s": Metric.of(i_rates, "images/s")}


def store(fingerprints: dict[str, str], dim: int, n: int, runs: int) -> Metrics:
    """Chroma inserts/s through localrag's store, into a fresh persistent store per run."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rates = []
    for r in range(runs):
        records = [
            Record(
                f"bench-{r}-{i}",
                vectors[i],
                f"chunk {i} of a benchmark corpus",
                {"source": "bench", "page": i},
            )
            for i in range(n)
        ]
        with tempfile.TemporaryDirectory() as tmp:
            st = Store(Path(tmp) / "chroma", fingerprints)
            st.collection("text")  # creating the collection is not insert time
            rates.append(n / timed(lambda st=st, records=records: st.add("text", records)))
    return {"inserts_per_s": Metric.of(rates, "records/s")}


def latencies(fn: Callable[[Any], Any], inputs: list[Any], runs: int) -> Metrics:
    """p50 and p95 ms of fn over the inputs; each run's percentiles are one sample."""
    fn(inputs[0])  # warm: caches and lazily built indexes are not query time
    p50, p95 = [], []
    for _ in range(runs):
        ms = [timed(lambda x=x: fn(x)) * 1000 for x in inputs]
        p50.append(percentile(ms, 50))
        p95.append(percentile(ms, 95))
    return {"p50_ms": Metric.of(p50, "ms"), "p95_ms": Metric.of(p95, "ms")}


def bare_generate(model: BareLlama, n_prompt: int, n_gen: int, runs: int) -> Metrics:
    """llama-bench's figures: prompt tokens/s, generation tokens/s after that prompt, time to first token.

    The prompt is n_prompt random tokens, as llama-bench's pp test; generation follows it.
    """
    tokens = model.random_tokens(n_prompt)
    pp, tg, ttft = [], [], []
    model.prompt(tokens[:8])  # first-call allocations are not throughput
    for _ in range(runs):
        p_s = model.prompt(tokens)
        made, g_s, first_s = model.generate(n_gen)
        pp.append(n_prompt / p_s)
        tg.append(made / g_s)
        ttft.append((p_s + first_s) * 1000)
    return {
        "prompt_tokens_per_s": Metric.of(pp, "tokens/s"),
        "generation_tokens_per_s": Metric.of(tg, "tokens/s"),
        f"ttft_ms_{n_prompt}_tokens": Metric.of(ttft, "ms"),
    }


def localrag_generate(model: LlamaModel, prompt: str, n_gen: int) -> tuple[float, float]:
    """(time to first token s, generation tokens/s) through LlamaModel.chat, streaming."""
    llm = model.llm
    marks: list[tuple[float, int]] = []

    def on_token(_piece: str) -> None:
        if not marks:
            marks.append((time.perf_counter(), llm.n_tokens))

    start = time.perf_counter()
    model.chat([{"role": "user", "content": prompt}], max_tokens=n_gen, on_token=on_token)
    end = time.perf_counter()
    if not marks:
        return end - start, 0.0
    first, n_first = marks[0]
    made = llm.n_tokens - n_first  # tokens decoded after the first one was shown
    return first - start, made / (end - first) if end > first else 0.0


def generate_overhead(bare: BareLlama, ours: LlamaModel, prompt: str, n_gen: int, runs: int) -> Metrics:
    """Generation and time to first token through localrag against the bare loop, same prompt.

    Rounds alternate (bare, localrag, ...) so drift hits both; each round's prompt starts with a
    new number, so neither side reuses the previous round's KV cache.
    """
    localrag_generate(ours, "warm up", 4)
    b_tg, b_ttft, o_tg, o_ttft, ratios = [], [], [], [], []
    for r in range(runs):
        text = f"Round {r + 1}. {prompt}"
        p_s = bare.prompt(bare.tokenize(text))
        made, g_s, first_s = bare.generate(n_gen)
        ttft, tg = localrag_generate(ours, text, n_gen)
        b_tg.append(made / g_s)
        b_ttft.append((p_s + first_s) * 1000)
        o_tg.append(tg)
        o_ttft.append(ttft * 1000)
        ratios.append(tg / (made / g_s))
    return {
        "bare_generation_tokens_per_s": Metric.of(b_tg, "tokens/s"),
        "bare_ttft_ms": Metric.of(b_ttft, "ms"),
        "localrag_generation_tokens_per_s": Metric.of(o_tg, "tokens/s"),
        "localrag_ttft_ms": Metric.of(o_ttft, "ms"),
        "generation_overhead_ratio": Metric.of(ratios, "ratio"),
    }


def describe(
    bare: BareLlama, describer: Describer, figures: list[Figure], prompt: str, max_tokens: int, runs: int
) -> Metrics:
    """Figures through bare libmtmd calls and through localrag's describer, alternating per run."""
    images = [f.image for f in figures]
    bare.describe(images[0], prompt, 2)
    describer.describe(figures[:1])
    enc, pp, tg, ttft, bare_fps, ours_fps, ratios = [], [], [], [], [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        e_run, p_run, pp_run, g_tok, g_s, extra = [], [], [], 0, 0.0, 0.0
        for im in images:
            r = bare.describe(im, prompt, max_tokens)
            e_run.append(r.encode_s * 1000)
            extra += r.encode_s  # the separate encode that times the encoder is not describe time
            p_run.append((r.prompt_s + r.first_s) * 1000)
            pp_run.append(r.prompt_tokens / r.prompt_s)
            g_tok += r.tokens
            g_s += r.gen_s
        b = len(images) / (time.perf_counter() - t - extra)
        o = len(figures) / timed(lambda: describer.describe(figures))
        enc.append(statistics.median(e_run))
        pp.append(statistics.median(pp_run))
        ttft.append(statistics.median(p_run))
        tg.append(g_tok / g_s if g_s else 0.0)
        bare_fps.append(b)
        ours_fps.append(o)
        ratios.append(o / b)
    return {
        "image_encode_ms": Metric.of(enc, "ms"),
        "prompt_tokens_per_s_with_image": Metric.of(pp, "tokens/s"),
        "ttft_with_image_ms": Metric.of(ttft, "ms"),
        "generation_tokens_per_s": Metric.of(tg, "tokens/s"),
        "bare_figures_per_s": Metric.of(bare_fps, "figures/s"),
        "localrag_figures_per_s": Metric.of(ours_fps, "figures/s"),
        "describe_overhead_ratio": Metric.of(ratios, "ratio"),
    }
