"""Shared fixtures: the sample manual, isolated data dirs, and a CLI runner."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from localrag.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "localrag" / "data" / "aquapure-300-manual.pdf"
QUERY_PHOTO = ROOT / "localrag" / "data" / "query-wiring-photo.jpg"


def run(data_dir: Path, *args: str, models: Path | None = None) -> Result:
    """Invoke the real CLI in-process against one data dir."""
    argv = ["--data-dir", str(data_dir)]
    if models is not None:
        argv += ["--models", str(models)]
    return CliRunner().invoke(cli, [*argv, *args], catch_exceptions=False)


def run_json(data_dir: Path, *args: str) -> dict:
    """Invoke with --json and parse stdout."""
    res = run(data_dir, *args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random projector beside the real Gemma 3 270M (scripts/make_tiny_models.py)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_tiny_models as tiny

    out = tmp_path_factory.mktemp("tiny")
    tiny.tiny_mmproj(out / "tiny-mmproj.gguf")
    tiny.gemma_270m(out)
    return out


@pytest.fixture(scope="session")
def indexed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the sample manual indexed once for the whole session (read-only use)."""
    home = tmp_path_factory.mktemp("indexed")
    docs = home / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / SAMPLE.name)
    res = run(home / "data", "index", str(docs))
    assert res.exit_code == 0, res.output
    return home


@pytest.fixture
def fresh_copy(indexed_home: Path, tmp_path: Path) -> Path:
    """A private copy of the indexed data dir, for tests that change it."""
    dst = tmp_path / "home"
    shutil.copytree(indexed_home, dst)
    return dst
