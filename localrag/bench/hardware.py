"""What a report was measured on: CPU, RAM, GPUs, packages, llama.cpp's build, the models' hashes."""

from __future__ import annotations

import hashlib
import os
import platform
import resource
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from localrag.gpu import gpus

PACKAGES = (
    "localrag",
    "llama_cpp_python",
    "torch",
    "sentence-transformers",
    "chromadb",
    "onnxruntime",
    "rapidocr-onnxruntime",
    "pypdfium2",
    "opencv-python-headless",
    "numpy",
    "pillow",
    "gguf",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _physical_cores() -> int | None:
    """Distinct (package, core) pairs in /proc/cpuinfo; None where that file is absent."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores, phys = set(), "0"
    for line in text.splitlines():
        if line.startswith("physical id"):
            phys = line.split(":", 1)[1].strip()
        elif line.startswith("core id"):
            cores.add((phys, line.split(":", 1)[1].strip()))
    return len(cores) or None


def hardware(threads: int) -> dict[str, Any]:
    """CPU model and cores, RAM, and each GPU with its VRAM, driver and CUDA version."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {
        "cpu": {
            "model": _cpu_model(),
            "logical_cores": os.cpu_count() or 1,
            "physical_cores": _physical_cores(),
            "threads_used": threads,
        },
        "memory_total_mib": int(ram / (1 << 20)),
        "gpus": [{k: g[k] for k in ("name", "memory_total_mib", "driver", "cuda")} for g in gpus()],
    }


def git_revision() -> str | None:
    """The checkout's commit (with "-dirty" when it has changes); None outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def software(llama: dict[str, Any]) -> dict[str, Any]:
    """Python, OS, package versions, the git revision and llama.cpp's build."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "localrag": versions["localrag"] or "unknown",
        "git_revision": git_revision(),
        "packages": versions,
        "llama_cpp": llama,
    }


def sha256(path: Path) -> str:
    """The file's sha256, read in 8 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def _rss_mib() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _vram_used_mib() -> float | None:
    """Device memory in use on the GPUs, summed over all processes.

    nvidia-smi has no per-process view inside every container, so this is the device's total.
    """
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        return float(sum(int(x) for x in out.split()))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


class PeakMonitor:
    """Samples RSS (and VRAM where there is a GPU) in a thread; peaks are read per stage."""

    def __init__(self, interval_s: float = 0.05, gpu: bool = False) -> None:
        """Starts sampling at once."""
        self.interval_s = interval_s
        self.gpu = gpu
        self.rss_peak = _rss_mib()
        self.vram_peak: float | None = None  # this stage's
        self.vram_max: float | None = None  # the whole run's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self.interval_s):
            self.rss_peak = max(self.rss_peak, _rss_mib())
            n += 1
            if self.gpu and n % 10 == 0:  # nvidia-smi is slow; every 0.5 s is enough
                v = _vram_used_mib()
                if v is not None:
                    self.vram_peak = max(self.vram_peak or 0.0, v)
                    self.vram_max = max(self.vram_max or 0.0, v)

    def reset(self) -> None:
        """Start a new stage's peak from the current level."""
        self.rss_peak = _rss_mib()
        self.vram_peak = None

    def close(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=1)
