"""The `localrag` click group; errors become one line and an exit code here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from localrag import __version__
from localrag.config import Settings, default_threads
from localrag.errors import LocalragError


class LocalragGroup(click.Group):
    """Turns LocalragError into one line on stderr and the error's exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, translating localrag's errors."""
        try:
            return super().invoke(ctx)
        except LocalragError as exc:
            click.echo(f"localrag: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("localrag: interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:
            # a bug, not a user error: still one line, with the way to see the details
            if os.environ.get("LOCALRAG_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            click.echo(
                f"localrag: internal error: {type(exc).__name__}: {first}{_origin(exc)} "
                "(set LOCALRAG_DEBUG=1 for the traceback)",
                err=True,
            )
            ctx.exit(70)


@click.group(cls=LocalragGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="localrag")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="LOCALRAG_HOME",
    help="Where the index lives. Default: $LOCALRAG_HOME or ~/.local/share/localrag.",
)
@click.option(
    "--profile",
    default="default",
    envvar="LOCALRAG_PROFILE",
    show_default=True,
    help="Model profile from models.yaml (default: the small embedded models).",
)
@click.option(
    "--models",
    "models_path",
    type=click.Path(path_type=Path),
    envvar="LOCALRAG_MODELS",
    help="Path to models.yaml (default: the one shipped with localrag).",
)
@click.option(
    "--threads",
    type=int,
    default=None,
    help=f"CPU threads for llama.cpp, OCR and embedding (default here: {default_threads()}).",
)
@click.option(
    "--store",
    metavar="URL",
    envvar="LOCALRAG_STORE",
    help="Where the vectors live: unset (or a folder) for the embedded Chroma store in the data dir, "
    "or http://HOST:PORT[/DATABASE] for a Chroma server (`chroma run`). A server token goes in "
    "$LOCALRAG_STORE_TOKEN.",
)
@click.option(
    "--describer",
    "describers",
    metavar="URL",
    multiple=True,
    envvar="LOCALRAG_DESCRIBERS",
    help="An OpenAI-compatible VLM server (llama-server --mmproj, python -m llama_cpp.server) that "
    "describes figures instead of a model loaded here. Repeat it to spread figures over several "
    "servers; $LOCALRAG_DESCRIBERS takes a space-separated list.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show model loading logs.")
@click.pass_context
def cli(
    ctx: click.Context,
    data_dir: Path | None,
    profile: str,
    models_path: Path | None,
    threads: int | None,
    store: str | None,
    describers: tuple[str, ...],
    verbose: bool,
) -> None:
    """Local, offline RAG over product manuals: text, figures and photos, with citations.

    \b
    Typical use:
      localrag index manuals/            # sync the index with a folder
      localrag ask "How do I replace the filter?"
      localrag ask --image photo.jpg "What is this part?"
      localrag search --image photo.jpg --json
    """
    settings = Settings(profile=profile, registry_path=models_path, store=store, describer_urls=describers)
    if data_dir is not None:
        settings.data_dir = data_dir
    if threads:
        settings.n_threads = threads
    ctx.obj = {"settings": settings, "verbose": verbose}


def _origin(exc: BaseException) -> str:
    """' at file:line' of the innermost frame that raised, to make a bug report useful."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else ""


__all__ = ["cli"]
