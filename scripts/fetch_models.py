"""Download and verify a profile's model files on a connected machine.

    python scripts/fetch_models.py --profile gpu [--dest DIR] [--models models.yaml]

Files with a pinned sha256 are checked against it; unpinned ones are pinned on first
download into models.lock.yaml beside the registry, so later copies are verified.
Carry the files (and the lock file) to the offline machine afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

import yaml

from localrag.registry import load_registry, sha256_file
from localrag.registry.spec import FileRef, ModelSpec


def targets(spec: ModelSpec) -> list[tuple[str, FileRef]]:
    """The downloadable files of a model: weights, and the mmproj of a VLM."""
    out = [("weights", spec.source)]
    if spec.mmproj is not None:
        out.append(("mmproj", spec.mmproj))
    return [(what, ref) for what, ref in out if ref.url and not ref.package and not ref.builtin]


def download(url: str, dest: Path, expected: str | None) -> str:
    """Stream url to dest through a temporary file; verify sha256 before moving it in place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False, suffix=".part") as tmp:
        with urllib.request.urlopen(url) as resp:
            shutil.copyfileobj(resp, tmp, length=1 << 20)
        tmp_path = Path(tmp.name)
    actual = sha256_file(tmp_path)
    if expected and actual != expected:
        tmp_path.unlink()
        raise ValueError(f"{url}: sha256 {actual} != pinned {expected}; file rejected")
    tmp_path.replace(dest)
    return actual


def fetch(profile: str, registry_path: Path | None, dest: Path | None) -> dict[str, str]:
    """Fetch every file of a profile; returns {url: sha256} for the lock file."""
    reg = load_registry(registry_path)
    pinned: dict[str, str] = {}
    for role, model_id in reg.profile(profile).roles.items():
        if not model_id:
            continue
        for what, ref in targets(reg.model(model_id)):
            local = ref.resolve()
            assert local is not None and ref.url is not None
            path = dest / local.name if dest else local
            if path.exists() and ref.sha256 and sha256_file(path) == ref.sha256:
                print(f"ok       {model_id} {what}: {path}")
                continue
            print(f"fetching {model_id} {what} ({role}) <- {ref.url}")
            pinned[ref.url] = download(ref.url, path, ref.sha256)
            print(f"saved    {path} sha256={pinned[ref.url]}")
    return pinned


def main(argv: list[str] | None = None) -> int:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="gpu")
    ap.add_argument("--models", type=Path, default=None, help="models.yaml (default: the shipped one)")
    ap.add_argument("--dest", type=Path, default=None, help="download folder (default: each model's path)")
    args = ap.parse_args(argv)
    pinned = fetch(args.profile, args.models, args.dest)
    if pinned:
        reg_path = load_registry(args.models).path
        lock = reg_path.with_name("models.lock.yaml")
        old = yaml.safe_load(lock.read_text()) if lock.exists() else {}
        lock.write_text(yaml.safe_dump({**(old or {}), **pinned}, sort_keys=True))
        print(f"pinned {len(pinned)} file(s) in {lock}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
