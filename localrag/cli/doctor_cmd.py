"""`localrag doctor`: what this machine can run, and what is offloaded."""

from __future__ import annotations

import click

from localrag.cli.common import echo_json, settings_of
from localrag.cli.group import cli
from localrag.doctor import report


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option(
    "--no-decode",
    is_flag=True,
    help="Skip decoding a few tokens with each local llama.cpp model (in a child process).",
)
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, no_decode: bool) -> None:
    """Report the llama.cpp backend, GPU, and each configured model's readiness.

    Each local llama.cpp model also decodes a few tokens in a child process, so a build that
    crashes on this CPU or GPU is found here, not in the middle of an answer. Exits 1 when
    one fails.
    """
    rep = report(settings_of(ctx), decode=not no_decode)
    failed = [m for m in rep["models"] if m["runs"] is not None and not m["runs"]["ok"]]
    if as_json:
        echo_json(rep)
        ctx.exit(1 if failed else 0)
    b = rep["backend"]
    click.echo(f"llama-cpp-python {b['version']}  GPU offload supported: {b['gpu_offload']}")
    click.echo(f"threads: {rep['threads']}  data dir: {rep['data_dir']}")
    gpu = rep["gpu"]
    if gpu:
        for g in gpu:
            click.echo(
                f"GPU {g['index']}: {g['name']}  {g['memory_total_mib']} MiB "
                f"(free {g['memory_free_mib']} MiB)  driver {g['driver']}  CUDA {g['cuda']}"
            )
    else:
        click.echo("GPU: none found (nvidia-smi absent or no device); everything runs on the CPU")
    click.echo(f"profile {rep['profile']}:")
    for m in rep["models"]:
        click.echo(f"  {m['role']:<15} {m['id']:<24} {m['status']:<9} {m['offload']}")
        if m["runs"] is not None:
            click.echo(f"  {'':<15} llama.cpp: {m['runs']['text']}")
    if failed:
        ctx.exit(1)
