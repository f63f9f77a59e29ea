"""The command caps glibc's malloc arenas, so threads reuse each other's freed memory."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
import ctypes, sys, threading
from localrag.allocator import limit_arenas
print(limit_arenas() if sys.argv[1] == "1" else "unset", flush=True)
def work():
    blocks = [bytearray(1 << 16) for _ in range(200)]  # malloc'd by this thread's arena
    del blocks
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
ctypes.CDLL(None).malloc_stats()  # one "Arena N:" block per arena, on stderr
"""


def arenas(limit: bool, env: dict[str, str] | None = None) -> tuple[str, int]:
    """What limit_arenas returned in a child with 8 allocating threads, and its arena count."""
    res = subprocess.run(
        [sys.executable, "-c", CHILD, "1" if limit else "0"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return res.stdout.strip(), res.stderr.count("Arena ")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_threads_share_two_arenas_unless_the_user_chose(monkeypatch) -> None:
    said, n = arenas(limit=False)
    assert said == "unset" and n > 2  # glibc's default: an arena per allocating thread
    said, n = arenas(limit=True)
    assert said == "True" and n <= 2
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the user's own setting wins
    said, n = arenas(limit=True)
    assert said == "False" and 2 < n <= 4
