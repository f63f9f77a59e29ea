"""Facts about this machine and the configured models, for `localrag doctor`."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from localrag.config import Settings
from localrag.registry import ModelSpec, verify_spec

if TYPE_CHECKING:
    from localrag.llm import LlamaModel


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


def backend() -> dict[str, Any]:
    """llama-cpp-python's version and whether its build can offload to a GPU."""
    import llama_cpp

    return {
        "version": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
    }


def vram_budget_mib(settings: Settings) -> int | None:
    """$LOCALRAG_VRAM_BUDGET_MIB, models.yaml settings.vram_budget_mib, else free VRAM measured."""
    env = os.environ.get("LOCALRAG_VRAM_BUDGET_MIB")
    if env:
        return int(env)
    if settings.registry.options.get("vram_budget_mib"):
        return int(settings.registry.options["vram_budget_mib"])
    found = gpus()
    return found[0]["memory_free_mib"] if found else None


def fits_together(a: LlamaModel, b: LlamaModel, budget_mib: int | None) -> bool:
    """Whether two models may stay loaded at once (always, when nothing is offloaded)."""
    offloaded = [m for m in (a, b) if int(m.spec.params.get("n_gpu_layers", 0)) != 0]
    if not offloaded:
        return True
    if budget_mib is None:
        return False
    return sum(m.expected_mib() for m in offloaded) <= budget_mib


def offload_plan(spec: ModelSpec, gpu_offload: bool, free_mib: int | None, n_threads: int) -> dict[str, Any]:
    """Expected VRAM and whether all layers will be on the GPU."""
    from localrag.gguf_info import block_count
    from localrag.llm import LlamaModel

    model = LlamaModel(spec, n_threads)
    ngl = int(spec.params.get("n_gpu_layers", 0))
    path = spec.path()
    layers = block_count(path) if path is not None and path.exists() else None
    all_layers = ngl < 0 or (layers is not None and ngl >= layers)
    expected = model.expected_mib()
    full = bool(gpu_offload and all_layers and (free_mib is None or expected <= free_mib))
    if not gpu_offload:
        text = "cpu (this llama.cpp build has no GPU offload)"
    elif ngl == 0:
        text = "cpu (n_gpu_layers=0)"
    elif full:
        text = f"full GPU offload, ~{expected} MiB"
    elif all_layers:
        text = f"will NOT fit: needs ~{expected} MiB, {free_mib} MiB free"
    else:
        text = f"partial: {ngl}/{layers} layers on GPU"
    return {
        "expected_vram_mib": expected,
        "layers": layers,
        "n_gpu_layers": ngl,
        "fully_offloaded": full,
        "text": text,
    }


def _status(checks: list[Any]) -> str:
    states = {c.status for c in checks}
    if states <= {"ok", "builtin"}:
        return "ok"
    for bad, word in (("missing", "missing"), ("mismatch", "TAMPERED")):
        if bad in states:
            return word
    return "unpinned"


def report(settings: Settings) -> dict[str, Any]:
    """Everything doctor prints."""
    be = backend()
    found = gpus()
    free = found[0]["memory_free_mib"] if found else None
    reg = settings.registry
    models = []
    for role, mid in reg.profile(settings.profile).roles.items():
        if not mid:
            continue
        spec = reg.model(mid)
        checks = verify_spec(spec)
        status = _status(checks)
        plan = None
        offload = "cpu"
        if role in ("generator", "describer") and status != "missing":
            plan = offload_plan(spec, be["gpu_offload"], free, settings.n_threads)
            offload = plan["text"]
        models.append(
            {
                "role": role,
                "id": mid,
                "status": status,
                "offload": offload,
                "plan": plan,
                "checks": [vars(c) for c in checks],
            }
        )
    return {
        "backend": be,
        "gpu": found,
        "threads": settings.n_threads,
        "data_dir": str(settings.data_dir),
        "profile": settings.profile,
        "models": models,
    }
