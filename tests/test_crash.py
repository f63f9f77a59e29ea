"""The crash test, short form: ten seeded SIGKILLs of `localrag index`, each re-run and checked."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_index_survives_sigkill_at_ten_seeded_moments():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "crash_test.py"), "--kills", "10", "--seed", "11"],
        capture_output=True,
        text=True,
        check=False,
        timeout=840,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "10/10 kills consistent" in out.stdout
