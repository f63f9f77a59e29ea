"""Offline is a feature: index and ask with the network blocked, in a clean environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import QUERY_PHOTO, SAMPLE

GUARD = Path(__file__).with_name("offline_guard.py")
# variables that would hide a hub lookup; localrag must set what it needs itself
SCRUB = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "ANONYMIZED_TELEMETRY",
    "HF_HUB_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
)


def _netns_prefix() -> list[str]:
    """An empty network namespace where the kernel allows one: native code cannot reach out either."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], check=False).returncode == 0:
        return [unshare, "-rn"]
    return []


def test_index_and_ask_with_network_blocked(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SCRUB}
    env["HOME"] = str(tmp_path / "home")  # no warm caches from the developer's home either
    log = tmp_path / "attempts.log"
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs)
    data = tmp_path / "data"

    def localrag(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*_netns_prefix(), sys.executable, str(GUARD), str(log), "--", "--data-dir", str(data), *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=600)

    idx = localrag("index", "--json", str(docs))
    assert idx.returncode == 0, idx.stderr
    assert json.loads(idx.stdout)["figures"] >= 6
    ans = localrag("ask", "--json", "--image", str(QUERY_PHOTO), "Which fuse protects this circuit?")
    assert ans.returncode == 0, ans.stderr
    doc = json.loads(ans.stdout)
    assert not doc["refused"] and doc["citations"]
    assert not log.exists(), log.read_text()


def test_guard_blocks_and_records(tmp_path):
    log = tmp_path / "attempts.log"
    res = subprocess.run([sys.executable, str(GUARD), str(log), "--", "--selftest"], check=False)
    assert res.returncode == 0
    assert "localrag-selftest.invalid" in log.read_text()
