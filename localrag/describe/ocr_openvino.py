"""RapidOCR's ONNX models run by OpenVINO's CPU plugin: the same text in about half the CPU time.

RapidOCR's text detector is a MobileNetV3 network of small and depthwise convolutions.
OpenVINO's CPU kernels run them about twice as fast as ONNX Runtime's on one thread
(asymptote.pdf's 71 figures: 20.7 s of CPU instead of 41 s), and in single precision they
read the same text. RapidOCR builds its sessions itself, so while it builds ours, the class
it looks up makes OpenVINO sessions; where OpenVINO is missing or cannot compile a model,
RapidOCR's own ONNX Runtime session is built instead.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

_MODULES = (  # where RapidOCR 1.x looks up the session class it builds
    "rapidocr_onnxruntime.ch_ppocr_det.text_detect",
    "rapidocr_onnxruntime.ch_ppocr_cls.text_cls",
    "rapidocr_onnxruntime.ch_ppocr_rec.text_recognize",
)
_NAME = "OrtInferSession"
_BUILD_LOCK = threading.Lock()


def _openvino() -> Any:
    """The openvino package, imported so that it cannot report its use over the network.

    Importing openvino sends a usage event to Google Analytics through openvino-telemetry
    (and writes a client id under ~/intel) unless a consent file declines it. With that module
    unimportable, openvino uses its own stub, which does nothing.
    """
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


@functools.cache
def _core() -> Any:
    """One OpenVINO runtime per process (it caches what every compiled model shares)."""
    return _openvino().Core()


def openvino_version() -> str | None:
    """The OpenVINO runtime's version, or None where it cannot be imported."""
    try:
        ov = _openvino()
    except ImportError:
        return None
    return str(ov.get_version()).split("-")[0]


def runtime_text(wanted: str) -> str:
    """Which runtime the OCR models get, for doctor: `openvino X`, or `onnxruntime` and why."""
    if wanted != "openvino":
        return "onnxruntime"
    version = openvino_version()
    return f"openvino {version}" if version else "onnxruntime; openvino is not installed"


class OpenVinoSession:
    """What RapidOCR asks of a session (call, have_key, get_character_list), run by OpenVINO."""

    def __init__(self, config: dict[str, Any]) -> None:
        """Compile the config's model for the CPU with its thread count."""
        core = _core()
        model = core.read_model(str(config["model_path"]))
        threads = int(config.get("intra_op_num_threads", -1))
        props: dict[str, object] = {
            # bf16 on a CPU with AMX would change the text and needs instructions not every
            # machine that advertises them runs; pinning would put every engine on one core
            "INFERENCE_PRECISION_HINT": "f32",
            "ENABLE_CPU_PINNING": False,
            "NUM_STREAMS": 1,
            # executors cached per input shape: every figure has its own shape, so they only grow
            "CPU_RUNTIME_CACHE_CAPACITY": 0,
        }
        if threads > 0:
            props["INFERENCE_NUM_THREADS"] = threads
        self._compiled = core.compile_model(model, "CPU", props)
        self._request = self._compiled.create_infer_request()
        self._outputs = list(self._compiled.outputs)
        self._lock = threading.Lock()  # one infer request: one image at a time per engine
        self._model = model

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        """The model's outputs for one input batch (copied out of the request's buffers)."""
        with self._lock:
            result = self._request.infer({0: batch})
            out = [result[o] for o in self._outputs]
            # the buffers of a page-wide figure are hundreds of MB; kept, each engine would
            # hold its largest figure's for good (2.9 GB peak indexing asymptote.pdf)
            self._compiled.release_memory()
            return out

    def have_key(self, key: str = "character") -> bool:
        """Whether the ONNX file's metadata has this key."""
        return bool(self._model.has_rt_info(["framework", key]))

    def get_character_list(self, key: str = "character") -> list[str]:
        """The recogniser's alphabet, one entry per line of the metadata value."""
        return str(self._model.get_rt_info(["framework", key]).astype(str)).splitlines()


@contextlib.contextmanager
def openvino_sessions() -> Iterator[None]:
    """RapidOCR engines built inside run their models on OpenVINO where it can.

    Where RapidOCR no longer builds its sessions by this name, nothing changes.
    """
    try:
        modules = [importlib.import_module(m) for m in _MODULES]
        builders = {m.__dict__[_NAME] for m in modules}
        _core()
    except Exception:  # OpenVINO or this RapidOCR layout missing: ONNX Runtime as before
        yield
        return

    if len(builders) != 1:
        yield
        return
    ort_session: Callable[[dict[str, Any]], object] = builders.pop()

    def build(config: dict[str, Any]) -> object:
        try:
            return OpenVinoSession(config)
        except Exception:  # a model OpenVINO cannot compile: ONNX Runtime runs it
            return ort_session(config)

    with _BUILD_LOCK:
        for m in modules:
            setattr(m, _NAME, build)
        try:
            yield
        finally:
            for m in modules:
                setattr(m, _NAME, ort_session)


__all__ = ["OpenVinoSession", "openvino_sessions", "openvino_version", "runtime_text"]
