"""`localrag serve`: the engine, warm, over HTTP."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import click

from localrag.cli.common import engine_of
from localrag.cli.group import cli
from localrag.errors import ConfigError


def is_loopback(host: str) -> bool:
    """Whether binding host keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8765, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--token",
    envvar="LOCALRAG_TOKEN",
    help="Bearer token every API call must carry; required to bind a non-loopback address.",
)
@click.option(
    "--max-upload-mb", default=20, show_default=True, type=int, help="Largest request body (413 above)."
)
@click.option(
    "--allow-root",
    "allow_roots",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Folder whose files POST /v1/index may index by path (repeatable; none: uploads only).",
)
@click.option("--cors-origin", "cors_origins", multiple=True, help="Origin allowed by CORS (off by default).")
@click.option(
    "--preload/--lazy", default=True, show_default=True, help="Load the models at start, or on first use."
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    token: str | None,
    max_upload_mb: int,
    allow_roots: tuple[Path, ...],
    cors_origins: tuple[str, ...],
    preload: bool,
) -> None:
    """Serve the index: HTTP API, OpenAI-compatible chat, and a web page at http://HOST:PORT/.

    Models load once and stay warm. Generation runs one request at a time; searches and
    index jobs run alongside. GET /healthz answers 200 once the server is ready.
    """
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"binding {host} exposes the index to the network: give --token (or $LOCALRAG_TOKEN)"
        )
    import uvicorn

    from localrag.server.app import ServeOptions, create_app

    engine = engine_of(ctx)
    if preload:
        engine.warm()
    options = ServeOptions(token, max_upload_mb, list(allow_roots), list(cors_origins))
    click.echo(f"localrag: serving {engine.settings.data_dir} at http://{host}:{port}/", err=True)
    log_level = "info" if os.environ.get("LOCALRAG_DEBUG") else "warning"
    uvicorn.run(create_app(engine, options), host=host, port=port, log_level=log_level)
