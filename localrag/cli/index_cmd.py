"""`localrag index` and `localrag status`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from localrag.cli import cli
from localrag.cli.common import components_of, echo_json, settings_of
from localrag.indexer import Indexer, ProgressSink, Summary
from localrag.state import State


class TqdmSink(ProgressSink):
    """Files as the bar, pages and figures as its postfix; on stderr, off when not a TTY."""

    def __init__(self, disable: bool | None) -> None:
        """disable=None lets tqdm decide from the terminal."""
        self.disable = disable
        self.bar: tqdm | None = None
        self.pages = 0
        self.figs = 0

    def start(self, total_files: int) -> None:
        """Open the bar."""
        self.bar = tqdm(
            total=total_files,
            unit="file",
            desc="indexing",
            file=sys.stderr,
            disable=self.disable,
            dynamic_ncols=True,
        )

    def file_done(self, source: str, pages: int, figures: int) -> None:
        """Advance by one file."""
        self.pages += pages
        if self.bar is not None:
            self.bar.set_postfix(pages=self.pages, figures=self.figs, file=Path(source).name[:30])
            self.bar.update(1)

    def figures(self, n: int) -> None:
        """Count described figures."""
        self.figs += n
        if self.bar is not None:
            self.bar.set_postfix(pages=self.pages, figures=self.figs)

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()


def _print_summary(s: Summary) -> None:
    click.echo(
        f"indexed {len(s.indexed)} file(s): {s.pages} pages, {s.figures} figures, {s.chunks} chunks "
        f"({s.described} figures described, {s.cached_descriptions} from cache) in {s.seconds:.1f} s"
    )
    click.echo(f"skipped {len(s.skipped)} unchanged file(s); pruned {len(s.pruned)}; failed {len(s.failed)}")
    for src in s.indexed:
        click.echo(f"  indexed  {src}")
    for src in s.pruned:
        click.echo(f"  pruned   {src}")
    for w in s.warnings:
        click.echo(f"warning: {w}", err=True)
    for path, reason in s.failed:
        click.echo(f"failed: {path}: {reason}", err=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Remove indexed files that are gone or no longer under PATHS.")
@click.option("--force", is_flag=True, help="Re-index files even when unchanged (descriptions stay cached).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--progress/--no-progress", default=None, help="Force the progress bar on or off.")
@click.pass_context
def index(
    ctx: click.Context,
    paths: tuple[Path, ...],
    prune: bool,
    force: bool,
    as_json: bool,
    progress: bool | None,
) -> None:
    """Sync the index with PATHS (files or folders of PDFs, images, text, Markdown).

    Unchanged files are skipped, changed ones replaced; --prune drops vanished ones.
    A file that cannot be read is reported with the reason; the rest is still indexed,
    and the exit status is 1 when anything failed.
    """
    indexer = Indexer(settings_of(ctx), components_of(ctx))
    sink = TqdmSink(None if progress is None else not progress)
    summary = indexer.sync(list(paths), prune=prune, progress=sink, force=force)
    if as_json:
        echo_json(
            {
                "indexed": summary.indexed,
                "skipped": summary.skipped,
                "pruned": summary.pruned,
                "failed": [{"source": p, "reason": r} for p, r in summary.failed],
                "warnings": summary.warnings,
                "pages": summary.pages,
                "figures": summary.figures,
                "chunks": summary.chunks,
                "described": summary.described,
                "cached_descriptions": summary.cached_descriptions,
                "seconds": round(summary.seconds, 3),
                "stage_seconds": summary.times.as_dict(),
            }
        )
    else:
        _print_summary(summary)
    if summary.failed:
        ctx.exit(1)


@cli.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """List indexed files and the models that built the index."""
    settings = settings_of(ctx)
    state = State(settings.state_db)
    rows = state.files()
    click.echo(f"data dir: {settings.data_dir}")
    for source, sha, pages, chunks, figures in rows:
        click.echo(f"  {source}  pages={pages} chunks={chunks} figures={figures} sha={sha[:12]}")
    if not rows:
        click.echo("  (nothing indexed yet: run `localrag index PATH`)")
    if settings.chroma_dir.exists():
        from localrag.store import Store

        store = Store(settings.chroma_dir, components_of(ctx).fingerprints())
        for name, model in sorted(store.models().items()):
            click.echo(f"  collection {name}: built with {model}")
