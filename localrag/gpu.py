"""The GPU as llama.cpp sees it, and the policy for keeping two models loaded at once."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from localrag.config import Settings

if TYPE_CHECKING:
    from localrag.llm import ChatModel


def gpus() -> list[dict[str, Any]]:
    """GPUs as nvidia-smi reports them (empty without one)."""
    if not shutil.which("nvidia-smi"):
        return []
    q = "index,name,memory.total,memory.free,driver_version"
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        cuda = subprocess.run(["nvidia-smi"], check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    cuda_ver = ""
    if "CUDA Version:" in cuda:
        cuda_ver = cuda.split("CUDA Version:")[1].split()[0]
    rows = []
    for line in out.strip().splitlines():
        idx, name, total, free, driver = (x.strip() for x in line.split(","))
        rows.append(
            {
                "index": int(idx),
                "name": name,
                "memory_total_mib": int(total),
                "memory_free_mib": int(free),
                "driver": driver,
                "cuda": cuda_ver,
            }
        )
    return rows


def vram_budget_mib(settings: Settings) -> int | None:
    """$LOCALRAG_VRAM_BUDGET_MIB, models.yaml settings.vram_budget_mib, else free VRAM measured."""
    env = os.environ.get("LOCALRAG_VRAM_BUDGET_MIB")
    if env:
        return int(env)
    if settings.registry.options.get("vram_budget_mib"):
        return int(settings.registry.options["vram_budget_mib"])
    found = gpus()
    return found[0]["memory_free_mib"] if found else None


def fits_together(a: ChatModel, b: ChatModel, budget_mib: int | None) -> bool:
    """Whether two models may stay loaded at once (always, when nothing is offloaded)."""
    offloaded = [m for m in (a, b) if m.spec.llama.n_gpu_layers != 0]
    if not offloaded:
        return True
    if budget_mib is None:
        return False
    return sum(m.expected_mib() for m in offloaded) <= budget_mib
