"""`localrag bench`: a real quick run validated against its schema, synthetic weights, sweeps, compare."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from PIL import Image

from localrag.bench.bare import BareLlama, LlamaParams
from localrag.bench.report import Metric, compare, load, schema, validate
from localrag.bench.weights import (
    TextShape,
    VisionShape,
    WeightCache,
    quantize,
    write_projector,
    write_text_model,
)
from localrag.cli import cli
from localrag.errors import ConfigError

GUARD = Path(__file__).with_name("offline_guard.py")
PIPELINE = ("parse", "ocr", "embed", "store", "index", "query", "generate")
# A llama-architecture model small enough to write and run in a second (widths of 256 so Q4_K applies).
TINY = TextShape("tiny", n_embd=256, n_layer=2, n_ff=512, n_head=4, n_head_kv=2, n_vocab=2000)


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """`localrag bench --quick` as a user runs it, with every outbound connection blocked."""
    out = tmp_path_factory.mktemp("bench")
    log = out / "network.log"
    proc = subprocess.run(
        [
            sys.executable,
            str(GUARD),
            str(log),
            "--",
            "--data-dir",
            str(out / "data"),
            "bench",
            "--quick",
            "--json",
            str(out / "report.json"),
            "--chart",
            str(out / "chart.png"),
            "--markdown",
            str(out / "report.md"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not log.exists() or not log.read_text().strip(), log.read_text()
    assert "Traceback" not in proc.stderr
    return json.loads((out / "report.json").read_text()), out


def test_quick_report_matches_the_schema_and_covers_every_stage(quick_report: tuple[dict, Path]) -> None:
    doc, out = quick_report
    jsonschema.validate(doc, schema())
    assert doc["schema_version"] == 1 and doc["mode"] == "quick"
    for stage in PIPELINE:
        assert stage in doc["stages"], stage
        for name, m in doc["stages"][stage].items():
            assert m["runs"] >= 1 and m["min"] <= m["median"] <= m["max"], (stage, name, m)
    assert doc["stages"]["parse"]["pages_per_s"]["runs"] == 2
    assert doc["stages"]["parse"]["pages_per_s"]["median"] > 0
    for kind in ("text", "image", "hybrid"):
        assert (
            doc["stages"]["query"][f"{kind}_p95_ms"]["median"]
            >= doc["stages"]["query"][f"{kind}_p50_ms"]["median"]
        )
    gen = doc["stages"]["generate"]
    assert (
        gen["generation_overhead_ratio"]["unit"] == "ratio"
        and gen["generation_overhead_ratio"]["median"] > 0.3
    )
    assert gen["prompt_tokens_per_s"]["median"] > 0 and gen["generation_tokens_per_s"]["median"] > 0
    assert "describe" in doc["skipped"]  # the default profile has no VLM, and says so
    hw, sw = doc["hardware"], doc["software"]
    assert hw["cpu"]["logical_cores"] >= 1 and hw["memory_total_mib"] > 0
    assert sw["packages"]["llama_cpp_python"] and sw["llama_cpp"]["backend"] in ("CPU", "CUDA", "Metal")
    assert {m["role"] for m in doc["models"]} >= {"generator", "text_embedder", "ocr"}
    gen_model = next(m for m in doc["models"] if m["role"] == "generator")
    assert len(gen_model["sha256"]) == 64 and gen_model["random_weights"] is False
    assert "| parse | pages_per_s |" in (out / "report.md").read_text()
    with Image.open(out / "chart.png") as im:
        assert im.format == "PNG" and im.size[0] > 500


def test_compare_prints_every_metric_with_its_ratio(quick_report: tuple[dict, Path], tmp_path: Path) -> None:
    doc, out = quick_report
    faster = copy.deepcopy(doc)
    faster["stages"]["parse"]["pages_per_s"]["median"] *= 2
    faster["stages"]["query"]["text_p50_ms"]["median"] /= 2
    (tmp_path / "b.json").write_text(json.dumps(faster))
    res = CliRunner().invoke(cli, ["bench", "compare", str(out / "report.json"), str(tmp_path / "b.json")])
    assert res.exit_code == 0, res.output
    assert "| parse | pages_per_s |" in res.output
    row = next(line for line in res.output.splitlines() if line.startswith("| parse | pages_per_s |"))
    assert row.rstrip().endswith("| 2.0 | B |")
    row = next(line for line in res.output.splitlines() if line.startswith("| query | text_p50_ms |"))
    assert row.rstrip().endswith("| 0.5 | B |")  # half the latency: B is better
    n_metrics = sum(len(ms) for ms in doc["stages"].values())
    assert len(compare(doc, faster)) == n_metrics


def test_compare_refuses_a_file_that_is_not_a_report(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "stages": {}}')
    res = CliRunner().invoke(cli, ["bench", "compare", str(bad), str(bad)])
    assert res.exit_code != 0
    assert res.output.count("\n") == 1 and "does not match schema" in res.output


def test_schema_rejects_a_metric_without_its_runs(quick_report: tuple[dict, Path]) -> None:
    doc = copy.deepcopy(quick_report[0])
    del doc["stages"]["parse"]["pages_per_s"]["runs"]
    with pytest.raises(ConfigError, match="stages/parse/pages_per_s"):
        validate(doc)


def test_metric_is_the_median_with_its_spread() -> None:
    m = Metric.of([3.0, 1.0, 2.0, 10.0], "ms")
    assert (m.median, m.min, m.max, m.runs, m.unit) == (2.5, 1.0, 10.0, 4, "ms")


def test_synthetic_text_models_load_generate_and_quantize(tmp_path: Path) -> None:
    f16 = write_text_model(tmp_path / "tiny-f16.gguf", TINY, "f16")
    q8 = write_text_model(tmp_path / "tiny-q8.gguf", TINY, "q8_0")
    q4 = quantize(f16, tmp_path / "tiny-q4.gguf", "q4_k_m")
    sizes = [p.stat().st_size for p in (f16, q8, q4)]
    assert sizes[0] > sizes[1] > sizes[2]
    for path in (f16, q8, q4):
        model = BareLlama(path, LlamaParams(n_ctx=256, n_batch=64, n_ubatch=64, n_threads=2))
        try:
            assert len(model.tokenize("the people and the world")) <= 7  # words are tokens, not bytes
            assert model.prompt(model.random_tokens(32)) > 0
            made, seconds, first = model.generate(8)
            assert made == 8 and seconds > 0 and first <= seconds
        finally:
            model.close()


def test_weight_cache_reuses_files_and_cleans_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        __import__("localrag.bench.weights", fromlist=["TEXT_SHAPES"]).TEXT_SHAPES, "tiny", TINY
    )
    cache = WeightCache(tmp_path / "cache")
    p = cache.text_model("tiny", "q4_k_m")
    stamp = p.stat().st_mtime_ns
    assert cache.text_model("tiny", "q4_k_m").stat().st_mtime_ns == stamp
    assert {x.name for x in (tmp_path / "cache").iterdir()} == {
        "synthetic-v1-tiny-f16.gguf",
        "synthetic-v1-tiny-q4_k_m.gguf",
    }
    assert cache.clean() > 0 and not list((tmp_path / "cache").iterdir())


def test_synthetic_projector_describes_through_libmtmd(tmp_path: Path) -> None:
    text = write_text_model(tmp_path / "tiny.gguf", TINY, "q8_0")
    vision = VisionShape(
        "tiny-vit", image_size=64, patch_size=8, n_embd=64, n_ff=128, n_layer=2, n_head=2, pool=2
    )
    mmproj = write_projector(tmp_path / "mmproj.gguf", vision, TINY.n_embd)
    model = BareLlama(text, LlamaParams(n_ctx=512, n_batch=128, n_ubatch=128, n_threads=2), mmproj)
    try:
        t = model.describe(Image.new("RGB", (120, 80), "white"), "Describe the figure.", 4)
        assert t.encode_s > 0 and t.prompt_tokens >= vision.image_tokens() and 1 <= t.tokens <= 4
    finally:
        model.close()


def test_synthetic_run_measures_describe_overhead_and_sweeps(tmp_path: Path) -> None:
    """--synthetic end to end on the real CLI: random-weight LLM and VLM, a sweep, the overhead ratios."""
    out = tmp_path / "syn.json"
    res = CliRunner().invoke(
        cli,
        [
            "--data-dir",
            str(tmp_path / "data"),
            "bench",
            "--quick",
            "--synthetic",
            "--only",
            "generate,describe",
            "--sizes",
            "0.5b",
            "--quants",
            "q8_0",
            "--n-batch",
            "32,128",
            "--runs",
            "1",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--clean",
            "--json",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    doc = load(out)
    assert set(doc["stages"]) == {"generate 0.5b-q8_0", "describe", "process"}
    assert doc["synthetic"] is True
    assert doc["stages"]["describe"]["describe_overhead_ratio"]["median"] > 0.3
    assert doc["stages"]["describe"]["image_encode_ms"]["median"] > 0
    assert [s["value"] for s in doc["sweeps"]] == [32, 128]
    assert all(s["parameter"] == "n_batch" for s in doc["sweeps"])
    roles = {m["role"]: m for m in doc["models"]}
    assert roles["generator"]["random_weights"] and roles["projector"]["random_weights"]
    assert "random weights" in doc["notes"][0] and "quality is not measured" in doc["notes"][0]
    assert not list((tmp_path / "cache").glob("synthetic-*"))  # --clean
