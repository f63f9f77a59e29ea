"""Facts about this machine and the configured models, for `localrag doctor`."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from localrag.config import Settings
from localrag.registry import verify_spec


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


def report(settings: Settings) -> dict[str, Any]:
    """Everything doctor prints."""
    be = backend()
    reg = settings.registry
    models = []
    for role, mid in reg.profile(settings.profile).roles.items():
        if not mid:
            continue
        spec = reg.model(mid)
        checks = verify_spec(spec)
        status = (
            "ok"
            if all(c.status in ("ok", "builtin") for c in checks)
            else (
                "missing"
                if any(c.status == "missing" for c in checks)
                else "TAMPERED"
                if any(c.status == "mismatch" for c in checks)
                else "unpinned"
            )
        )
        ngl = int(spec.params.get("n_gpu_layers", 0)) if role in ("generator", "describer") else 0
        offload = "cpu"
        if role in ("generator", "describer"):
            offload = (
                "full GPU offload"
                if ngl < 0 and be["gpu_offload"]
                else (f"{ngl} layers on GPU" if ngl > 0 and be["gpu_offload"] else "cpu (no GPU offload)")
            )
        models.append(
            {
                "role": role,
                "id": mid,
                "status": status,
                "offload": offload,
                "checks": [vars(c) for c in checks],
            }
        )
    return {
        "backend": be,
        "gpu": gpus(),
        "threads": settings.n_threads,
        "data_dir": str(settings.data_dir),
        "profile": settings.profile,
        "models": models,
    }
