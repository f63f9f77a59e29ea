"""Helpers shared by the subcommands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from localrag.config import Settings
from localrag.engine import Engine
from localrag.ingest import open_image


def settings_of(ctx: click.Context) -> Settings:
    """The Settings built by the group."""
    return ctx.obj["settings"]


def engine_of(ctx: click.Context) -> Engine:
    """One engine per invocation: every command drives it."""
    if "engine" not in ctx.obj:
        ctx.obj["engine"] = Engine(settings_of(ctx), verbose=ctx.obj["verbose"])
    return ctx.obj["engine"]


def load_query_image(path: Path | None) -> Any:
    """Decode --image with the same safety checks as indexing."""
    return open_image(path) if path is not None else None


def echo_json(doc: Any) -> None:
    """Pretty, stable JSON on stdout."""
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
