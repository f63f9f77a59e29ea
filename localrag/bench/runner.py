"""`localrag bench`: every pipeline stage timed on one machine, with the record of that machine."""

from __future__ import annotations

import random
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image

from localrag.bench import stages
from localrag.bench.bare import BareLlama, LlamaParams, system_info
from localrag.bench.hardware import PeakMonitor, hardware, sha256, software
from localrag.bench.report import SCHEMA_VERSION, Metric, validate
from localrag.bench.synthetic import figure as synthetic_figure
from localrag.bench.weights import CHAT_TEMPLATE, TEXT_SHAPES, VISION_SHAPES, WeightCache
from localrag.config import Settings
from localrag.describe.vlm import DESCRIBE_PROMPT, VlmDescriber
from localrag.engine import Engine
from localrag.errors import ConfigError, LocalragError
from localrag.evaluation.perturb import crop, jpeg
from localrag.ingest import discover
from localrag.ingest.base import Figure
from localrag.llm import LlamaModel
from localrag.registry import ModelSpec
from localrag.registry.spec import model_spec

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "aquapure-300-manual.pdf"
GEN_PROMPT = (
    "You are reading a water filter manual. List, one per line and numbered from 1 to 200, every step "
    "a technician might take to service the filter, the pump and the valves, in order:"
)
OVERHEAD_ROUNDS = 5  # a ratio of two noisy rates needs more rounds than one rate
SWEEPABLE = ("n_gpu_layers", "n_batch", "n_ubatch", "n_ctx", "threads")
STAGES = ("parse", "ocr", "embed", "store", "index", "query", "generate", "describe")
# Peak memory bandwidth (GB/s) of common GPUs, by a substring of nvidia-smi's name: the ceiling
# that decode speed is judged against (model bytes x tokens/s / peak bandwidth).
PEAK_BANDWIDTH_GBPS = {
    "H200": 4800.0,
    "H100 NVL": 3900.0,
    "H100 PCIe": 2000.0,
    "H100": 3350.0,
    "A100-SXM4-80GB": 2039.0,
    "A100": 1555.0,
    "L40S": 864.0,
    "L4": 300.0,
    "RTX 4090": 1008.0,
    "RTX 3090": 936.0,
}


@dataclass
class Sizes:
    """How much work each stage does: the default run and the --quick run differ only here."""

    runs: int
    figures: int
    texts: int
    store_records: int
    queries: int
    n_prompt: int
    n_gen: int
    describe_tokens: int


DEFAULT = Sizes(
    runs=3, figures=12, texts=256, store_records=5000, queries=20, n_prompt=512, n_gen=128, describe_tokens=32
)
QUICK = Sizes(
    runs=2, figures=3, texts=32, store_records=500, queries=5, n_prompt=64, n_gen=16, describe_tokens=8
)


@dataclass
class BenchOptions:
    """What to run; lists sweep one llama.cpp setting at a time."""

    corpus: list[Path] = field(default_factory=lambda: [SAMPLE])
    quick: bool = False
    runs: int | None = None
    synthetic: bool = False
    sizes: list[str] = field(default_factory=list)
    quants: list[str] = field(default_factory=list)
    vision: str = ""
    n_gpu_layers: int | None = None
    sweeps: dict[str, list[int]] = field(default_factory=dict)
    cache_dir: Path = Path()
    keep: bool = True
    only: list[str] = field(default_factory=list)  # empty: every stage

    def wants(self, stage: str) -> bool:
        """Whether the stage runs (search needs the index, so query brings index along)."""
        chosen = set(self.only or STAGES)
        if "query" in chosen:
            chosen.add("index")
        return stage in chosen


def has_gpu() -> bool:
    """llama.cpp was built with a GPU backend and nvidia-smi sees a device."""
    info = system_info()
    from localrag.gpu import gpus

    return bool(info["gpu_offload"] and gpus())


def peak_bandwidth(gpu_names: list[str]) -> float | None:
    """The first GPU's peak memory bandwidth in GB/s, where its name is known."""
    for name in gpu_names:
        for key, gbps in PEAK_BANDWIDTH_GBPS.items():
            if key in name:
                return gbps
    return None


class Bench:
    """Runs the stages in order, collecting metrics, models and notes into one report."""

    def __init__(self, settings: Settings, options: BenchOptions, step: Callable[[str], None]) -> None:
        """step(label) is called as each stage starts (the CLI's progress display)."""
        self.settings = settings
        self.opt = options
        self.size = QUICK if options.quick else DEFAULT
        if options.runs:
            self.size = Sizes(**{**self.size.__dict__, "runs": options.runs})
        self.step = step
        self.gpu = has_gpu()
        self.ngl = options.n_gpu_layers if options.n_gpu_layers is not None else (-1 if self.gpu else 0)
        self.stages: dict[str, dict[str, Metric]] = {}
        self.models: list[dict[str, Any]] = []
        self.sweeps: list[dict[str, Any]] = []
        self.skipped: dict[str, str] = {}
        self.notes: list[str] = []
        self.monitor = PeakMonitor(gpu=self.gpu)
        self.weights = WeightCache(options.cache_dir)

    def plan(self) -> list[str]:
        """Stage labels in run order (the progress display's total)."""
        steps = [s for s in STAGES[:6] if self.opt.wants(s)]
        if self.opt.wants("generate"):
            synth = [f"generate {s}-{q}" for s in self._sizes() for q in self._quants()]
            steps += synth if self.opt.synthetic else ["generate"]
        if self.opt.wants("describe"):
            steps.append("describe")
        return steps + [f"sweep {k}" for k in self.opt.sweeps]

    def _sizes(self) -> list[str]:
        return self.opt.sizes or (["0.5b", "1b", "3b"] if self.gpu else ["0.5b"])

    def _quants(self) -> list[str]:
        if self.opt.quants:
            return self.opt.quants
        if self.gpu:
            return ["f16", "q8_0", "q4_k_m"]
        return ["q8_0"] if self.opt.quick else ["q8_0", "q4_k_m"]

    def _record(self, stage: str, metrics: dict[str, Metric]) -> None:
        metrics = dict(metrics)
        metrics["peak_rss_mib"] = Metric.of([round(self.monitor.rss_peak, 1)], "MiB")
        if self.monitor.vram_peak is not None:
            metrics["peak_vram_mib"] = Metric.of([self.monitor.vram_peak], "MiB")
        self.stages[stage] = metrics

    def _stage(self, label: str, fn: Callable[[], dict[str, Metric] | None]) -> None:
        if not self.opt.wants(label.split(maxsplit=1)[0]):
            return
        self.step(label)
        self.monitor.reset()
        try:
            out = fn()
        except LocalragError as exc:
            self.skipped[label] = str(exc)
            return
        if out:
            self._record(label, out)

    def _model(
        self, spec_or_path: ModelSpec | Path, role: str, random_weights: bool, offload: Any = None
    ) -> None:
        if isinstance(spec_or_path, ModelSpec):
            mid, path = spec_or_path.id, spec_or_path.path()
        else:
            mid, path = spec_or_path.stem, spec_or_path
        if any(m["id"] == mid and m["role"] == role for m in self.models):
            return
        exists = path is not None and path.is_file()
        self.models.append(
            {
                "id": mid,
                "role": role,
                "path": str(path) if path is not None else None,
                "bytes": path.stat().st_size if exists and path else None,
                "sha256": sha256(path) if exists and path else None,
                "random_weights": random_weights,
                "offloaded_layers": list(offload) if offload else None,
            }
        )

    def run(self) -> dict[str, Any]:
        """Every stage; returns the report (already validated against the schema)."""
        t0 = time.perf_counter()
        files = list(discover(self.opt.corpus, lambda e: self.notes.append(f"skipped input: {e}")))
        if not files:
            raise ConfigError("bench: no PDF, image or text file in the corpus given")
        with tempfile.TemporaryDirectory(prefix="localrag-bench-") as tmp:
            settings = Settings(
                data_dir=Path(tmp) / "data",
                profile=self.settings.profile,
                registry_path=self.settings.registry_path,
                n_threads=self.settings.n_threads,
                _registry=self.settings._registry,
            )
            engine = Engine(settings)
            try:
                self._pipeline(engine, files)
                if self.opt.wants("generate"):
                    self._generation(engine)
                if self.opt.wants("describe"):
                    self._describe(engine)
                self._sweeps(engine)
            finally:
                engine.components.unload()
                self.monitor.close()
        whole = {
            "peak_rss_mib": Metric.of(
                [round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)], "MiB"
            ),
            "wall_s": Metric.of([round(time.perf_counter() - t0, 1)], "s"),
        }
        if self.monitor.vram_max is not None:
            whole["peak_vram_mib"] = Metric.of([self.monitor.vram_max], "MiB")
        self.stages["process"] = whole
        hw = hardware(self.settings.n_threads)
        self._bandwidth([g["name"] for g in hw["gpus"]])
        doc = {
            "schema_version": SCHEMA_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "mode": "quick" if self.opt.quick else "default",
            "synthetic": self.opt.synthetic,
            "corpus": [str(p) for p in files],
            "hardware": hw,
            "software": software(system_info()),
            "models": self.models,
            "stages": {s: {k: m.as_json() for k, m in ms.items()} for s, ms in self.stages.items()},
            "sweeps": self.sweeps,
            "skipped": self.skipped,
            "notes": [*self.notes, f"wall time {time.perf_counter() - t0:.0f} s; nothing left this machine"],
        }
        if any(m["random_weights"] for m in self.models):
            doc["notes"].insert(
                0,
                "models marked random_weights have random weights of standard shapes: speed does not "
                "depend on weight values, and output quality is not measured",
            )
        validate(doc)
        return doc

    # -- stages ---------------------------------------------------------------------------

    def _pipeline(self, engine: Engine, files: list[Path]) -> None:
        comps, n = engine.components, self.size
        if not any(self.opt.wants(s) for s in STAGES[:6]):
            return
        pdfs = [f for f in files if f.suffix.lower() == ".pdf"] or files
        corpus = stages.Parsed()

        def parse() -> dict[str, Metric]:
            nonlocal corpus
            metrics, corpus = stages.parse(pdfs, n.runs, n.figures)
            return metrics

        if self.opt.wants("parse"):
            self._stage("parse", parse)
        else:  # later stages take their inputs from one untimed parse
            corpus = stages.parse(pdfs, 1, n.figures)[1]
        figures = corpus.figures or [
            Figure(page=1, index=1, kind="image", image=Image.new("RGB", (256, 256), "white"))
        ]
        texts = corpus.texts or ["empty corpus"]
        texts = (texts * (n.texts // len(texts) + 1))[: n.texts]
        images = [f.image for f in figures]
        ocr = comps.ocr
        if ocr is None:
            if self.opt.wants("ocr"):
                self.skipped["ocr"] = f"profile {self.settings.profile!r} has no OCR model"
                self.step("ocr")
        elif self.opt.wants("ocr"):
            self._model(ocr.spec, "ocr", False)
            self._stage("ocr", lambda: stages.ocr(ocr, images, n.runs))
        if self.opt.wants("embed"):
            self._model(comps.spec("text_embedder"), "text_embedder", False)  # type: ignore[arg-type]
        self._stage(
            "embed", lambda: stages.embed(comps.text_embedder, comps.image_embedder, texts, images, n.runs)
        )
        if self.opt.wants("store"):
            dim = int(comps.text_embedder.embed_texts(["dim"]).shape[1])
            self._stage("store", lambda: stages.store(comps.fingerprints(), dim, n.store_records, n.runs))

        def index() -> dict[str, Metric]:
            t = time.perf_counter()
            s = engine.index(files)
            sec = time.perf_counter() - t
            if s.failed:
                self.notes += [f"index: {p}: {r}" for p, r in s.failed]
            pages = s.pages or len(files)
            return {
                "pages_per_s": Metric.of([pages / sec], "pages/s"),
                "seconds": Metric.of([sec], "s"),
            }

        self._stage("index", index)
        rng = random.Random(0)
        words = [t.split() for t in texts if len(t.split()) >= 6]
        queries = [" ".join(w[: rng.randint(4, 8)]) for w in words[: n.queries]] or [
            "how do I replace the filter"
        ]
        photos = [jpeg(crop(im, 0.85, rng), 70) for im in (images * n.queries)[: n.queries]]

        def query() -> dict[str, Metric]:
            out = {}
            cases: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
                "text": (lambda q: engine.search(q, None), queries),
                "image": (lambda p: engine.search("", p), photos),
                "hybrid": (lambda qp: engine.search(qp[0], qp[1]), list(zip(queries, photos, strict=False))),
            }
            for kind, (fn, inputs) in cases.items():
                for k, m in stages.latencies(fn, inputs, n.runs).items():
                    out[f"{kind}_{k}"] = m
            return out

        self._stage("query", query)
        comps.unload()  # a photo query may have loaded the profile's VLM: later stages load their own

    def _llama_spec(
        self, mid: str, path: Path, mmproj: Path | None = None, template: str | None = None
    ) -> ModelSpec:
        n = self.size
        params: dict[str, Any] = {
            "n_ctx": 2048,
            "n_batch": 512,
            # the describer generates what the bare libmtmd loop generates
            "max_tokens": n.describe_tokens if mmproj else n.n_gen,
            "temperature": 0.0,
            "repeat_penalty": 1.0,
            "n_gpu_layers": self.ngl,
        }
        if template:
            params["chat_template"] = template
        raw: dict[str, Any] = {"role": "describer" if mmproj else "generator", "source": {"path": str(path)}}
        if mmproj:
            raw["mmproj"] = {"path": str(mmproj)}
        raw["params"] = params
        return model_spec(mid, raw, Path("bench"))

    def _params(self, spec: ModelSpec, random_weights: bool, **over: int) -> LlamaParams:
        """The spec's own llama.cpp settings, so the bare loop runs what localrag runs."""
        p = spec.llama
        base: dict[str, Any] = {
            "n_ctx": p.n_ctx,
            "n_batch": p.n_batch,
            "n_ubatch": p.ubatch,
            "n_threads": p.n_threads or self.settings.n_threads,
            "n_gpu_layers": self.ngl if random_weights else p.n_gpu_layers,
            "flash_attn": p.flash_attn,
        }
        base.update(over)
        return LlamaParams(**base)

    def _generation_targets(self, engine: Engine) -> list[tuple[str, ModelSpec, bool]]:
        if not self.opt.synthetic:
            spec = engine.components.spec("generator")
            if spec is None:
                return []
            return [("generate", spec, False)]
        out = []
        for size in self._sizes():
            for q in self._quants():
                if not self.weights.has_text_model(size, q):
                    self.step(f"writing synthetic {size} {q}")
                path = self.weights.text_model(size, q, self.settings.n_threads)
                out.append((f"generate {size}-{q}", self._llama_spec(f"synthetic-{size}-{q}", path), True))
        return out

    def _generation(self, engine: Engine) -> None:
        n = self.size
        targets = self._generation_targets(engine)
        if not targets:
            self.skipped["generate"] = f"profile {self.settings.profile!r} has no generator"
        for label, spec, random_weights in targets:

            def one(spec: ModelSpec = spec, random_weights: bool = random_weights) -> dict[str, Metric]:
                path = spec.require_path()
                bare = BareLlama(path, self._params(spec, random_weights))
                try:
                    self._model(spec, "generator", random_weights, bare.offload)
                    metrics = stages.bare_generate(bare, n.n_prompt, n.n_gen, n.runs)
                    ours = LlamaModel(spec, self.settings.n_threads)
                    try:
                        rounds = n.runs if self.opt.quick else max(n.runs, OVERHEAD_ROUNDS)
                        metrics.update(stages.generate_overhead(bare, ours, GEN_PROMPT, n.n_gen, rounds))
                    finally:
                        ours.close()
                finally:
                    bare.close()
                metrics["model_mib"] = Metric.of([round(path.stat().st_size / (1 << 20), 1)], "MiB")
                return metrics

            self._stage(label, one)

    def _vlm(self, engine: Engine) -> tuple[ModelSpec, bool] | None:
        spec = engine.components.spec("describer")
        if spec is not None and spec.mmproj is not None and spec.path() is not None and spec.path().exists():
            return spec, False
        if not self.opt.synthetic:
            return None
        size = self._sizes()[0]
        vision = self.opt.vision or ("siglip-so400m-896" if self.gpu else "siglip-base-224")
        quant = self._quants()[0]
        self.step(f"writing synthetic projector {vision}")
        text = self.weights.text_model(size, quant, self.settings.n_threads)
        mmproj = self.weights.projector(vision, TEXT_SHAPES[size].n_embd)
        self._model(mmproj, "projector", True)
        n_img = VISION_SHAPES[vision].image_tokens()
        self.notes.append(
            f"synthetic VLM: {vision} projector ({n_img} tokens per image) on the {size}-{quant} model"
        )
        return self._llama_spec(f"synthetic-vlm-{size}-{quant}", text, mmproj, CHAT_TEMPLATE), True

    def _describe(self, engine: Engine) -> None:
        n = self.size
        found = self._vlm(engine)
        if found is None:
            self.step("describe")
            self.skipped["describe"] = (
                f"profile {self.settings.profile!r} has no VLM (figures are described by OCR: see the ocr "
                "stage); --synthetic measures a random-weight VLM"
            )
            return
        spec, random_weights = found
        figures = [
            Figure(page=1, index=i + 1, kind="image", image=synthetic_figure(500 + i))
            for i in range(min(n.figures, 6))
        ]

        def run() -> dict[str, Metric]:
            path, mmproj = spec.require_path(), spec.mmproj.resolve() if spec.mmproj else None
            bare = BareLlama(path, self._params(spec, random_weights), mmproj)
            ours = LlamaModel(spec, self.settings.n_threads)
            try:
                self._model(spec, "describer", random_weights, bare.offload)
                return stages.describe(
                    bare, VlmDescriber(ours, None), figures, DESCRIBE_PROMPT, spec.llama.max_tokens, n.runs
                )
            finally:
                ours.close()
                bare.close()

        self._stage("describe", run)

    def _sweeps(self, engine: Engine) -> None:
        if not self.opt.sweeps:
            return
        targets = self._generation_targets(engine)
        if not targets:
            return
        _, spec, random_weights = targets[0]
        n = self.size
        for param, values in self.opt.sweeps.items():
            self.step(f"sweep {param}")
            for v in values:
                key = "n_threads" if param == "threads" else param
                over = {key: v}
                if param == "n_batch":
                    over["n_ubatch"] = min(v, 512)
                if param == "n_ctx" and v < n.n_prompt + n.n_gen + 8:
                    self.notes.append(f"sweep n_ctx={v}: below prompt + generation; skipped")
                    continue
                try:
                    bare = BareLlama(spec.require_path(), self._params(spec, random_weights, **over))
                except LocalragError as exc:
                    self.notes.append(f"sweep {param}={v}: {exc}")
                    continue
                try:
                    metrics = stages.bare_generate(bare, n.n_prompt, n.n_gen, n.runs)
                finally:
                    bare.close()
                self.sweeps.append(
                    {
                        "model": spec.id,
                        "parameter": param,
                        "value": v,
                        "metrics": {k: m.as_json() for k, m in metrics.items()},
                    }
                )

    def _bandwidth(self, gpu_names: list[str]) -> None:
        """Decode's effective memory bandwidth, and its share of the GPU's peak where that is known."""
        peak = peak_bandwidth(gpu_names) if self.gpu else None
        for label, metrics in self.stages.items():
            if not label.startswith("generate") or "generation_tokens_per_s" not in metrics:
                continue
            mib = metrics["model_mib"].median
            gbps = metrics["generation_tokens_per_s"].scaled(mib * (1 << 20) / 1e9, "GB/s")
            metrics["decode_bandwidth_gb_per_s"] = gbps
            if peak:
                metrics["bandwidth_of_peak"] = gbps.scaled(1 / peak, "ratio")
        if peak:
            self.notes.append(
                f"bandwidth_of_peak: model bytes x tokens/s / {peak:.0f} GB/s peak of {gpu_names[0]}"
            )
