"""`localrag bench`: the per-stage hardware report, and `bench compare` of two reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from localrag.bench.report import compare_table, load, markdown
from localrag.bench.runner import STAGES, SWEEPABLE, BenchOptions
from localrag.bench.weights import QUANTS, TEXT_SHAPES, VISION_SHAPES
from localrag.cli.common import settings_of
from localrag.cli.group import cli
from localrag.config import cache_dir


def default_cache() -> Path:
    """Where synthetic weights are kept between runs: $XDG_CACHE_HOME/localrag/bench."""
    return cache_dir() / "bench"


class IntList(click.ParamType):
    """A comma-separated list of integers: 0,16,99."""

    name = "N[,N...]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        """Parse, or fail with click's one-line usage error."""
        if isinstance(value, list):
            return value
        try:
            return [int(x) for x in str(value).split(",") if x.strip()]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers", param, ctx)


def choices(valid: tuple[str, ...] | list[str]) -> click.ParamType:
    """A comma-separated subset of valid names."""

    class Names(click.ParamType):
        name = ",".join(valid)

        def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
            if isinstance(value, list):
                return value
            names = [x.strip().lower() for x in str(value).split(",") if x.strip()]
            bad = [n for n in names if n not in valid]
            if bad:
                self.fail(f"unknown {', '.join(bad)} (choose from {', '.join(valid)})", param, ctx)
            return names

    return Names()


@cli.group(invoke_without_command=True)
@click.option(
    "--corpus",
    multiple=True,
    type=click.Path(path_type=Path, exists=True),
    help="File or folder to benchmark on (repeatable). Default: the bundled sample manual.",
)
@click.option(
    "--only",
    type=choices(STAGES),
    metavar="STAGE[,STAGE]",
    help=f"Run only these stages ({', '.join(STAGES)}).",
)
@click.option("--quick", is_flag=True, help="Small inputs and 2 runs: about a minute, for CI.")
@click.option("--runs", type=click.IntRange(1, 50), help="Repeats per figure (default 3; --quick 2).")
@click.option(
    "--synthetic",
    is_flag=True,
    help="Generate and decode with random-weight GGUFs of standard shapes (no download needed).",
)
@click.option(
    "--sizes",
    type=choices(list(TEXT_SHAPES)),
    metavar="0.5b,1b,3b",
    help="Synthetic model sizes (default: 0.5b; all on a GPU).",
)
@click.option(
    "--quants",
    type=choices(QUANTS),
    metavar="f16,q8_0,q4_k_m",
    help="Synthetic quantizations (default: q8_0,q4_k_m; all on a GPU).",
)
@click.option("--vision", type=click.Choice(list(VISION_SHAPES)), help="Synthetic projector shape.")
@click.option("--n-gpu-layers", "sweep_ngl", type=IntList(), help="Sweep n_gpu_layers, e.g. 0,8,99.")
@click.option("--n-batch", "sweep_batch", type=IntList(), help="Sweep n_batch, e.g. 128,512,2048.")
@click.option("--n-ubatch", "sweep_ubatch", type=IntList(), help="Sweep n_ubatch.")
@click.option("--n-ctx", "sweep_ctx", type=IntList(), help="Sweep the context size.")
@click.option("--threads", "sweep_threads", type=IntList(), help="Sweep llama.cpp's CPU threads, e.g. 1,2,4.")
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), help="Write the JSON report."
)
@click.option(
    "--markdown", "md_out", type=click.Path(path_type=Path, dir_okay=False), help="Write the Markdown table."
)
@click.option(
    "--chart", "chart_out", type=click.Path(path_type=Path, dir_okay=False), help="Write a PNG chart."
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=default_cache,
    show_default="$XDG_CACHE_HOME/localrag/bench",
    help="Where synthetic weights are written and reused.",
)
@click.option(
    "--keep/--clean", default=True, show_default=True, help="Keep synthetic weights for the next run."
)
@click.pass_context
def bench(
    ctx: click.Context,
    corpus: tuple[Path, ...],
    only: list[str] | None,
    quick: bool,
    runs: int | None,
    synthetic: bool,
    sizes: list[str] | None,
    quants: list[str] | None,
    vision: str | None,
    sweep_ngl: list[int] | None,
    sweep_batch: list[int] | None,
    sweep_ubatch: list[int] | None,
    sweep_ctx: list[int] | None,
    sweep_threads: list[int] | None,
    json_out: Path | None,
    md_out: Path | None,
    chart_out: Path | None,
    cache_dir: Path,
    keep: bool,
) -> None:
    """Time every stage on this machine: parse, OCR, VLM, embed, Chroma, search, generation.

    Each figure is a median over repeated runs, with its min, max and run count. The report
    records the CPU, RAM, GPU, driver, llama.cpp build, package versions and each model's
    sha256, and measures localrag's overhead against bare llama.cpp calls on the same model.
    Nothing leaves the machine.

    \b
    localrag bench --quick --json out.json --chart out.png
    localrag bench --synthetic --n-batch 128,512 --threads 1,2
    localrag bench compare a.json b.json
    """
    if ctx.invoked_subcommand is not None:
        return
    from localrag.bench.runner import Bench

    given = {
        "n_gpu_layers": sweep_ngl,
        "n_batch": sweep_batch,
        "n_ubatch": sweep_ubatch,
        "n_ctx": sweep_ctx,
        "threads": sweep_threads,
    }
    opt = BenchOptions(
        corpus=list(corpus) or BenchOptions().corpus,
        quick=quick,
        runs=runs,
        synthetic=synthetic,
        sizes=sizes or [],
        quants=quants or [],
        vision=vision or "",
        sweeps={k: v for k, v in given.items() if v and k in SWEEPABLE},
        cache_dir=cache_dir,
        keep=keep,
        only=only or [],
    )
    runner = Bench(settings_of(ctx), opt, lambda label: None)
    bar = tqdm(total=len(runner.plan()), desc="bench", unit="stage", leave=False, disable=None)

    def step(label: str) -> None:
        if not label.startswith("writing"):
            bar.update(1)
        bar.set_description(label)

    runner.step = step
    try:
        doc = runner.run()
    finally:
        bar.close()
        if not keep:
            runner.weights.clean()
    table = markdown(doc)
    click.echo(table, nl=False)
    for stage, reason in doc["skipped"].items():
        click.echo(f"skipped {stage}: {reason}", err=True)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2) + "\n")
    if md_out:
        md_out.parent.mkdir(parents=True, exist_ok=True)
        md_out.write_text(table)
    if chart_out:
        from localrag.bench.chart import chart

        chart(doc, chart_out)


@bench.command("compare")
@click.argument("a", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("b", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def compare_cmd(a: Path, b: Path) -> None:
    """Print each figure of two reports side by side, with the ratio B/A."""
    click.echo(compare_table(load(a), load(b), (str(a), str(b))), nl=False)
