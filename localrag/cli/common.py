"""Helpers shared by the subcommands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from localrag.components import Components
from localrag.config import Settings
from localrag.ingest import open_image


def settings_of(ctx: click.Context) -> Settings:
    """The Settings built by the group."""
    return ctx.obj["settings"]


def components_of(ctx: click.Context) -> Components:
    """One Components per invocation."""
    if "components" not in ctx.obj:
        ctx.obj["components"] = Components(settings_of(ctx), verbose=ctx.obj["verbose"])
    return ctx.obj["components"]


def load_query_image(path: Path | None) -> Any:
    """Decode --image with the same safety checks as indexing."""
    return open_image(path) if path is not None else None


def echo_json(doc: Any) -> None:
    """Pretty, stable JSON on stdout."""
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
