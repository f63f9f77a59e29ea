"""Facts about this machine and the configured models, for `localrag doctor`."""

from __future__ import annotations

from typing import Any

from localrag.config import Settings
from localrag.gpu import gpus
from localrag.registry import ModelSpec, verify_spec


def backend() -> dict[str, Any]:
    """llama-cpp-python's version and whether its build can offload to a GPU."""
    import llama_cpp

    return {
        "version": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
    }


def offload_plan(spec: ModelSpec, gpu_offload: bool, free_mib: int | None, n_threads: int) -> dict[str, Any]:
    """Expected VRAM and whether all layers will be on the GPU."""
    from localrag.gguf_info import block_count
    from localrag.llm import LlamaModel

    model = LlamaModel(spec, n_threads)
    ngl = spec.llama.n_gpu_layers
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
    if states == {"remote"}:
        return "remote"
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
        if spec.remote:
            offload = "remote: " + ", ".join(spec.endpoints)
        elif role in ("generator", "describer") and status != "missing":
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
