"""Real servers that tests start on loopback: `chroma run` and `python -m llama_cpp.server`."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    """Poll url until it answers 200; fail with the server's log if it dies or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as res:
                if res.status == 200:
                    return
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"server did not answer {url} in {seconds} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def serving(cmd: list[str], health: str, log: Path, port: int) -> Iterator[subprocess.Popen]:
    """Run a server until the block ends; yields the process (tests may kill it)."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}{health}", proc, log)
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def chroma_cmd(path: Path, port: int) -> list[str]:
    """`chroma run` from this environment's chromadb, on loopback."""
    exe = Path(sys.executable).with_name("chroma")
    chroma = str(exe) if exe.exists() else shutil.which("chroma")
    if chroma is None:
        pytest.fail("the chroma command is not installed (chromadb provides it)")
    return [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]


def llama_server_cmd(model: Path, mmproj: Path, port: int, alias: str, n_ctx: int = 1024) -> list[str]:
    """llama-cpp-python's OpenAI-compatible server with a libmtmd projector, on loopback."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--clip_model_path",
        str(mmproj),
        "--chat_format",
        "llava-1-5",  # carries its own template; the tiny Gemma's own one answers with newlines
        "--model_alias",
        alias,
        "--n_ctx",
        str(n_ctx),
        "--n_batch",
        "64",
        "--n_ubatch",
        "64",
        "--n_threads",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
