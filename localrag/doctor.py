"""Facts about this machine and the configured models, for `localrag doctor`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from localrag.config import Settings
from localrag.errors import LocalragError
from localrag.gpu import gpus
from localrag.registry import verify_spec

if TYPE_CHECKING:
    from localrag.llm import LlamaModel


def backend() -> dict[str, Any]:
    """llama-cpp-python's version and whether its build can offload to a GPU."""
    import llama_cpp

    return {
        "version": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
    }


def offload_plan(model: LlamaModel, gpu_offload: bool, free_mib: int | None) -> dict[str, Any]:
    """Expected VRAM and whether all layers will be on the GPU."""
    from localrag.gguf_info import block_count

    spec = model.spec
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


# A prompt and a few tokens, decoded by a child process: a llama.cpp built for instructions
# this CPU does not run (AVX-512 or AMX from a native build, possibly made on another host)
# dies with SIGILL, which no Python code can catch, so doctor tries it where a crash is only
# a finding. The prompt is long enough for batched matrix products, where AMX code lives.
_DECODE = """
import json, sys
from llama_cpp import Llama
llm = Llama(**json.loads(sys.argv[1]))
llm.create_completion("The quick brown fox jumps over the lazy dog. " * 8, max_tokens=4, temperature=0.0)
"""
REBUILD = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --force-reinstall --no-cache-dir --no-deps llama-cpp-python'
)


def llama_runs(kwargs: dict[str, Any], timeout_s: float = 300.0) -> dict[str, Any]:
    """Whether llama.cpp loads the model and decodes a few tokens here, tried in a child process."""
    args = {**kwargs, "n_ctx": min(kwargs["n_ctx"], 512), "verbose": False}
    return child_runs([sys.executable, "-c", _DECODE, json.dumps(args)], timeout_s)


def child_runs(cmd: list[str], timeout_s: float) -> dict[str, Any]:
    """Run a check in a child process; a crash becomes a finding with its cause and cure."""
    t = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "text": f"no result in {timeout_s:.0f} s"}
    secs = round(time.perf_counter() - t, 2)
    if res.returncode == 0:
        return {"ok": True, "text": f"ok, decodes ({secs:.1f} s with loading)", "seconds": secs}
    return {"ok": False, "text": crash_text(res.returncode, res.stderr), "seconds": secs}


def crash_text(returncode: int, stderr: str) -> str:
    """One line for a child that failed: the signal that killed it, or its last error line."""
    if returncode == -signal.SIGILL:
        return (
            "crashed with SIGILL (Illegal instruction): this llama.cpp build uses CPU instructions "
            f"this machine does not run; rebuild it without them: {REBUILD}"
        )
    if returncode < 0:
        try:
            return f"crashed with {signal.Signals(-returncode).name}"
        except ValueError:
            return f"crashed with signal {-returncode}"
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return f"failed (exit {returncode}): {lines[-1][:300] if lines else 'no message'}"


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


def report(settings: Settings, decode: bool = True) -> dict[str, Any]:
    """Everything doctor prints; decode: also try each local llama.cpp model in a child process."""
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
        runs = None
        offload = "cpu"
        if spec.remote:
            offload = "remote: " + ", ".join(spec.endpoints)
        elif role == "ocr":
            from localrag.describe.ocr_openvino import runtime_text

            offload = f"cpu ({runtime_text(spec.ocr.runtime)})"
        elif role in ("generator", "describer") and status != "missing":
            from localrag.llm import LlamaModel

            model = LlamaModel(spec, settings.n_threads)
            try:
                plan = offload_plan(model, be["gpu_offload"], free)
                offload = plan["text"]
            except LocalragError as exc:  # one unreadable model is a finding, not the end of the report
                offload, runs = "unreadable", {"ok": False, "text": str(exc)}
            if plan is not None and decode and status != "TAMPERED":
                runs = llama_runs(model.load_kwargs(spec.require_path()))
        models.append(
            {
                "role": role,
                "id": mid,
                "status": status,
                "offload": offload,
                "plan": plan,
                "runs": runs,
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
