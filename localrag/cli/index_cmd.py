"""`localrag index`, `status`, `check` and `remove`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from localrag.cli.common import echo_json, engine_of
from localrag.cli.group import cli
from localrag.indexer import ProgressSink, Summary
from localrag.sources import shown


class TqdmSink(ProgressSink):
    """Files as the bar, pages and figures as its postfix; on stderr, off when not a TTY."""

    def __init__(self, disable: bool | None) -> None:
        """disable=None lets tqdm decide from the terminal."""
        self.disable = disable
        self.bar: tqdm | None = None
        self.rebar: tqdm | None = None
        self.pages = 0
        self.figs = 0

    def start(self, total_files: int) -> None:
        """Open the bar."""
        self.bar = self._bar(total_files, "file", "indexing")

    def _bar(self, total: int, unit: str, desc: str) -> tqdm:
        return tqdm(
            total=total, unit=unit, desc=desc, file=sys.stderr, disable=self.disable, dynamic_ncols=True
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

    def reembedded(self, done: int, total: int) -> None:
        """A bar of its own for the stored figures being re-embedded."""
        if self.rebar is None:
            self.rebar = self._bar(total, "figure", "re-embedding")
        self.rebar.update(done - self.rebar.n)
        if done >= total:
            self.rebar.close()

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()


def _print_summary(s: Summary) -> None:
    click.echo(
        f"indexed {len(s.indexed)} file(s): {s.pages} pages, {s.figures} figures, {s.chunks} chunks "
        f"({s.described} figures described, {s.cached_descriptions} from cache) in {s.seconds:.1f} s"
    )
    if s.reembedded:
        click.echo(f"re-embedded {s.reembedded} stored figure(s) with the profile's image embedder")
    click.echo(f"skipped {len(s.skipped)} unchanged file(s); pruned {len(s.pruned)}; failed {len(s.failed)}")
    for src in s.indexed:
        click.echo(f"  indexed  {shown(src)}")
    for src in s.pruned:
        click.echo(f"  pruned   {shown(src)}")
    for w in s.warnings:
        click.echo(f"warning: {w}", err=True)
    for path, reason in s.failed:
        click.echo(f"failed: {path}: {reason}", err=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Remove indexed files that are gone or no longer under PATHS.")
@click.option("--force", is_flag=True, help="Re-index files even when unchanged (descriptions stay cached).")
@click.option(
    "--reembed-images",
    is_flag=True,
    help="First give the stored figures this profile's image vectors, when another image "
    "embedder built them (after an upgrade, or a new image_embedder in the profile). "
    "Nothing is parsed or described again.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--progress/--no-progress", default=None, help="Force the progress bar on or off.")
@click.pass_context
def index(
    ctx: click.Context,
    paths: tuple[Path, ...],
    prune: bool,
    force: bool,
    reembed_images: bool,
    as_json: bool,
    progress: bool | None,
) -> None:
    """Sync the index with PATHS (files or folders of PDFs, images, text, Markdown).

    Unchanged files are skipped, changed ones replaced; --prune drops vanished ones.
    Files are identified by their absolute path, so `docs` and `/home/me/docs` are the same.
    A file that cannot be read is reported with the reason; the rest is still indexed,
    and the exit status is 1 when anything failed. A full disk stops the run with the
    index consistent: run it again once there is space.
    """
    sink = TqdmSink(None if progress is None else not progress)
    summary = engine_of(ctx).index(
        list(paths), prune=prune, force=force, progress=sink, reembed_images=reembed_images
    )
    if as_json:
        echo_json(summary.as_json())
    else:
        _print_summary(summary)
    if summary.aborted is not None:
        raise summary.aborted
    if summary.failed:
        ctx.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print each source with its record counts as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """List indexed files with their record counts, and the models that built the index."""
    doc = engine_of(ctx).status()
    sources = doc["sources"]
    if as_json:
        echo_json(doc)
        return
    click.echo(f"data dir: {doc['data_dir']}")
    for src in sources:
        rec = src["records"]
        flag = "  (interrupted: run `localrag index` again)" if src["state"] == "interrupted" else ""
        click.echo(
            f"  {shown(str(src['source']))}  pages={src['pages']} chunks={rec['text']} "
            f"figures={rec['figures']}{flag}"
        )
    if not sources:
        click.echo("  (nothing indexed yet: run `localrag index PATH`)")
    for name, col in sorted(doc["collections"].items()):
        if col["model"]:
            click.echo(f"  collection {name}: built with {col['model']} ({col['count']} records)")


@cli.command()
@click.option("--repair", is_flag=True, help="Fix what can be fixed: drop orphans, re-index damaged files.")
@click.option("--json", "as_json", is_flag=True, help="Print the violations as JSON.")
@click.option("--progress/--no-progress", default=None, help="Force the progress bar on or off.")
@click.pass_context
def check(ctx: click.Context, repair: bool, as_json: bool, progress: bool | None) -> None:
    """Verify the index: record counts per file, orphan records and blobs, damaged blobs.

    Exits 0 when the index is consistent, 1 with one line per violation otherwise.
    --repair removes orphans and re-indexes files whose records or blobs are damaged
    (or drops them when the file is gone), then checks again.
    """
    sink = TqdmSink(None if progress is None else not progress)
    report, notes = engine_of(ctx).check(repair=repair, progress=sink)
    if as_json:
        echo_json(
            {
                "ok": report.ok,
                "repaired": notes,
                "violations": [vars(v) for v in report.violations],
                "blobs": report.blobs,
            }
        )
    else:
        for note in notes:
            click.echo(f"repair: {note}")
        for v in report.violations:
            click.echo(v.line())
        if report.ok:
            click.echo(f"ok: {len(report.records)} source(s), {report.blobs} blob(s), no violations")
    if not report.ok:
        ctx.exit(1)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
@click.pass_context
def remove(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Remove files (or every file under a folder) from the index; the files are left alone.

    Exits 1 when a PATH matches nothing that is indexed.
    """
    removed, unknown = engine_of(ctx).remove(list(paths))
    if as_json:
        echo_json({"removed": removed, "not_indexed": unknown})
    else:
        for src in removed:
            click.echo(f"  removed  {shown(src)}")
        for path in unknown:
            click.echo(f"not indexed: {path}", err=True)
    if unknown:
        ctx.exit(1)
