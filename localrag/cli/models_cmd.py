"""`localrag models list|verify`."""

from __future__ import annotations

import click

from localrag.cli.common import echo_json, settings_of
from localrag.cli.group import cli
from localrag.registry import VerifyResult, verify_spec


@cli.group()
def models() -> None:
    """Inspect and verify the model registry (models.yaml)."""


def _profile_roles(ctx: click.Context) -> dict[str, list[str]]:
    reg = settings_of(ctx).registry
    used: dict[str, list[str]] = {}
    for prof in reg.profiles.values():
        for role, mid in prof.roles.items():
            if mid:
                used.setdefault(mid, []).append(f"{prof.name}:{role}")
    return used


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def list_models(ctx: click.Context, as_json: bool) -> None:
    """List registered models, their role, source, licence and whether the file is present."""
    reg = settings_of(ctx).registry
    used = _profile_roles(ctx)
    rows = []
    for spec in reg.models.values():
        try:
            path = None if spec.remote else spec.path()
            present = "remote" if spec.remote else "builtin" if path is None else (
                "present" if path.exists() else "missing"
            )
        except Exception as exc:  # a missing package is "missing", not a crash
            path, present = None, f"missing ({exc})"
        rows.append(
            {
                "id": spec.id,
                "role": spec.role,
                "present": present,
                "path": str(path) if path else None,
                "sha256": spec.sha256,
                "size": spec.size,
                "license": spec.license,
                "url": spec.source.url,
                "profiles": used.get(spec.id, []),
            }
        )
    if as_json:
        echo_json({"registry": str(reg.path), "models": rows})
        return
    click.echo(f"registry: {reg.path}")
    for r in rows:
        click.echo(f"  {r['id']:<24} {r['role']:<15} {r['present']:<8} {', '.join(r['profiles'])}")


def _line(r: VerifyResult) -> str:
    mark = {
        "ok": "ok",
        "builtin": "ok",
        "unpinned": "??",
        "remote": "remote",
        "missing": "MISSING",
        "mismatch": "TAMPERED",
    }
    return f"  [{mark[r.status]:>8}] {r.model_id} ({r.what}): {r.message}"


@models.command("verify")
@click.option("--all", "all_models", is_flag=True, help="Verify every model, not only the profile's.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def verify(ctx: click.Context, all_models: bool, as_json: bool) -> None:
    """Check presence and sha256 of the profile's model files; exit 1 if any is bad."""
    settings = settings_of(ctx)
    reg = settings.registry
    if all_models:
        specs = list(reg.models.values())
    else:
        ids = {m for m in reg.profile(settings.profile).roles.values() if m}
        specs = [reg.models[m] for m in sorted(ids)]
    results = [r for s in specs for r in verify_spec(s)]
    if as_json:
        echo_json([vars(r) for r in results])
    else:
        click.echo(
            f"registry: {reg.path} (profile {settings.profile})"
            if not all_models
            else f"registry: {reg.path}"
        )
        for r in results:
            click.echo(_line(r))
    if not all(r.ok for r in results):
        ctx.exit(1)
