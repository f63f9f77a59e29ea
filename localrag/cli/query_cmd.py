"""`localrag search` and `localrag ask`."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from localrag.answer.answerer import MODES, label
from localrag.cli.common import echo_json, engine_of, load_query_image
from localrag.cli.group import cli


def _image_opts(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--photo-text",
        type=click.Choice(["auto", "always", "never"]),
        default="auto",
        show_default=True,
        help="Read the photo's text (OCR, plus a VLM description when one is configured); "
        "auto: only when no figure matches the photo geometrically.",
    )(fn)
    return click.option(
        "--image",
        "image_path",
        type=click.Path(path_type=Path),
        help="A photo or screenshot to search by (a part, a diagram).",
    )(fn)


@cli.command()
@click.argument("query", required=False, default="")
@_image_opts
@click.option("-k", "k", default=5, show_default=True, help="Number of hits.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON (stable contract).")
@click.pass_context
def search(
    ctx: click.Context, query: str, image_path: Path | None, photo_text: str, k: int, as_json: bool
) -> None:
    """Find passages and figures for QUERY and/or --image, without generating."""
    engine = engine_of(ctx)
    resp = engine.search(query, load_query_image(image_path), k=k, photo_text=photo_text)
    for note in engine.notices():
        click.echo(f"note: {note}", err=True)
    if as_json:
        echo_json(resp.as_json())
        return
    if not resp.hits:
        click.echo("no hits (is anything indexed? run `localrag index PATH`)")
    if image_path is not None and not resp.visual_match:
        click.echo("no indexed figure matches the photo geometrically; hits below are loose")
    for h in resp.hits:
        tag = "figure" if h.figure is not None else "text"
        extra = ""
        if h.match:
            x0, y0, x1, y1 = h.match["region"]
            extra = (
                f"  [verified: {h.match['inliers']} inliers, region x {x0:.2f}-{x1:.2f} y {y0:.2f}-{y1:.2f}]"
            )
        click.echo(f"{h.rank}. [{tag}] {label(h)}  score={h.score:.4f}{extra}")
        click.echo(textwrap.indent(textwrap.shorten(h.text, 300), "   "))
    for group in resp.near_duplicates:
        ranks = ", ".join(map(str, group[:-1])) + f" and {group[-1]}"
        click.echo(f"note: hits {ranks} show near-identical figures; any of them may be the one pictured")


@cli.command()
@click.argument("question", required=False, default="")
@_image_opts
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=None,
    help="extractive: quote the manual; generated: the generator writes, every sentence checked; "
    "auto: generate, fall back to quoting. Default: the profile's answer_mode in models.yaml.",
)
@click.option(
    "--stream/--no-stream",
    default=None,
    help="Show the generator's draft as it is written (stderr), before the checked answer. "
    "Default: on when stderr is a terminal.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON (stable contract).")
@click.option("--verbose", "show_checks", is_flag=True, help="Also show the sentences the check dropped.")
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    image_path: Path | None,
    photo_text: str,
    mode: str | None,
    stream: bool | None,
    as_json: bool,
    show_checks: bool,
) -> None:
    """Answer QUESTION (and/or --image) from the indexed manuals, with citations.

    Questions the manuals do not cover are refused ("Not found in the documents.");
    every answer sentence is checked against the evidence it cites.
    """
    engine = engine_of(ctx)
    image = load_query_image(image_path)
    if stream is None:
        stream = not as_json and sys.stderr.isatty()
    on_token = None
    if stream and not as_json:

        def on_token(piece: str) -> None:
            click.echo(click.style(piece, dim=True), nl=False, err=True)

    ans = engine.ask(question, image, mode=mode, photo_text=photo_text, on_token=on_token)
    for note in engine.notices():
        click.echo(f"note: {note}", err=True)
    if as_json:
        echo_json(ans.as_json())
        return
    if on_token is not None and ans.model_output is not None:
        click.echo("\n(draft above; checked answer below)", err=True)
    for note in ans.notices:
        click.echo(f"note: {note}", err=True)
    click.echo(ans.answer)
    if ans.citations:
        click.echo("\nSources:")
        for cite in ans.citations:
            hit = ans.hits[cite["n"] - 1]
            click.echo(f"  [{cite['n']}] {label(hit)}")
    if show_checks:
        for s in ans.sentences:
            if not s.supported:
                click.echo(f"dropped: {s.text!r}: {s.reason}", err=True)
