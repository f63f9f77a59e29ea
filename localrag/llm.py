"""llama.cpp through llama-cpp-python: one loader for text generators and VLMs."""

from __future__ import annotations

import base64
import contextlib
import io
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from localrag.errors import ConfigError, ContextOverflowError, ModelError
from localrag.registry import ModelSpec

IMAGE_MAX_SIDE = 896  # images are downscaled to this before they reach a VLM

HANDLERS = {
    "mtmd": "MTMDChatHandler",
    "llava15": "Llava15ChatHandler",
    "llava16": "Llava16ChatHandler",
    "qwen25vl": "Qwen25VLChatHandler",
    "minicpmv26": "MiniCPMv26ChatHandler",
    "moondream": "MoondreamChatHandler",
    "nanollava": "NanoLlavaChatHandler",
    "llama3vision": "Llama3VisionAlphaChatHandler",
    "gemma3": "MTMDChatHandler",
}


@contextlib.contextmanager
def _quiet_stderr(enabled: bool) -> Any:
    """llama.cpp's C code prints load logs straight to fd 2; keep the CLI readable."""
    if not enabled:
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class ChatModel(ABC):
    """A model the answerer and the describer chat with: loaded here (LlamaModel) or served (RemoteModel)."""

    spec: ModelSpec
    loaded: bool

    @property
    def n_ctx(self) -> int:
        """Context length in tokens (a server's is the one models.yaml gives: the API does not say)."""
        return self.spec.llama.n_ctx

    @property
    def max_tokens(self) -> int:
        """Tokens generated at most per answer."""
        return self.spec.llama.max_tokens

    @property
    def fingerprint(self) -> str:
        """The identity that keys the description cache: id plus pinned hash."""
        return self.spec.fingerprint

    @property
    @abstractmethod
    def cpu_bound(self) -> bool:
        """Whether it computes on this machine's CPU cores."""

    @property
    @abstractmethod
    def is_vision(self) -> bool:
        """Whether it takes images."""

    @abstractmethod
    def check_image_batch(self) -> int:
        """Tokens one image may become."""

    @abstractmethod
    def expected_mib(self) -> int:
        """Memory it needs on this machine."""

    @abstractmethod
    def chat(
        self,
        messages: list[dict[str, Any]],
        max_tokens: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> str:
        """One completion, streamed to on_token when given."""

    def chat_batch(
        self, batch: list[list[dict[str, Any]]], progress: Callable[[int], None] | None = None
    ) -> list[str]:
        """Completions for several conversations, in order: one after another unless served."""
        out = []
        for messages in batch:
            out.append(self.chat(messages))
            if progress is not None:
                progress(1)
        return out

    def take_warnings(self) -> list[str]:
        """What went wrong without stopping the work (a model server skipped); none here."""
        return []

    @abstractmethod
    def close(self) -> None:
        """Free what it holds."""


def image_url(img: Image.Image, max_side: int = IMAGE_MAX_SIDE) -> str:
    """A data: URL for llama-cpp-python's image_url content parts."""
    im = img.convert("RGB")
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def with_template(cls: type, template: str) -> type:
    """A libmtmd handler class that uses the registry's template when the GGUF carries none.

    Llava-1.5-style handlers carry their own template and are returned unchanged.
    """
    if not hasattr(cls, "_get_chat_template"):
        return cls

    class Templated(cls):  # type: ignore[misc, valid-type]
        def _get_chat_template(self, llama_model: Any) -> str:
            own = llama_model.metadata.get("tokenizer.chat_template")
            return own if isinstance(own, str) and own else template

    return Templated


class LlamaModel(ChatModel):
    """A lazily loaded llama.cpp model with explicit threads and offload settings."""

    def __init__(self, spec: ModelSpec, n_threads: int, verbose: bool = False) -> None:
        """Remember the spec; nothing is loaded until first use."""
        self.spec = spec
        self.n_threads = spec.llama.n_threads or n_threads
        self.n_threads_batch = spec.llama.n_threads_batch or self.n_threads
        self.verbose = verbose
        self._llm: Any = None
        self.before_load: Any = None  # set by Components: frees VRAM held by another model

    @property
    def loaded(self) -> bool:
        """True while the weights are in memory."""
        return self._llm is not None

    @property
    def cpu_bound(self) -> bool:
        """No layer offloaded, or a llama.cpp built without a GPU backend."""
        if self.spec.llama.n_gpu_layers == 0:
            return True
        import llama_cpp

        return not llama_cpp.llama_supports_gpu_offload()

    def expected_mib(self) -> int:
        """Weights + projector + KV cache, roughly what offloading all layers needs."""
        size = 0
        for ref in (self.spec.source, self.spec.mmproj):
            path = ref.resolve() if ref is not None else None
            if path is not None and path.exists():
                size += path.stat().st_size
        kv = self.n_ctx * 96 * 1024  # ~96 KiB per token: a 3-4B model's f16 KV cache with GQA
        return int((size * 1.1 + kv) / (1 << 20))

    @property
    def is_vision(self) -> bool:
        """True when an mmproj is configured."""
        return self.spec.mmproj is not None

    def _handler(self) -> Any:
        if self.spec.mmproj is None:
            return None
        import llama_cpp.llama_chat_format as fmt

        name = self.spec.llama.chat_handler
        cls_name = HANDLERS.get(name, name)
        cls = getattr(fmt, cls_name, None)
        if cls is None:
            raise ConfigError(f"model {self.spec.id!r}: unknown chat_handler {name!r}")
        mmproj = self.spec.mmproj.resolve()
        if mmproj is None or not mmproj.exists():
            raise ModelError(f"model {self.spec.id!r}: mmproj file not found: {mmproj}")
        template = self.spec.llama.chat_template
        if template:
            cls = with_template(cls, str(template))
        kwargs: dict[str, Any] = {"clip_model_path": str(mmproj), "verbose": self.verbose}
        if "use_gpu" in cls.__init__.__code__.co_varnames:
            kwargs["use_gpu"] = self.spec.llama.mmproj_use_gpu
        return cls(**kwargs)

    def check_image_batch(self) -> int:
        """Refuse n_batch/n_ubatch below one image's tokens: llama.cpp would abort the process."""
        if self.spec.mmproj is None:
            return 0
        from localrag.gguf_info import projector

        mmproj = self.spec.mmproj.resolve()
        if mmproj is None or not mmproj.exists():
            raise ModelError(f"model {self.spec.id!r}: mmproj file not found: {mmproj}")
        p = self.spec.llama
        tokens = p.image_tokens or projector(mmproj).max_image_tokens(IMAGE_MAX_SIDE)
        n_batch, n_ubatch = p.n_batch, p.ubatch
        if min(n_batch, n_ubatch) < tokens:
            raise ConfigError(
                f"model {self.spec.id!r}: n_batch={n_batch}, n_ubatch={n_ubatch} but one image "
                f"becomes up to {tokens} tokens; set both to at least {tokens} in models.yaml "
                "(llama.cpp would otherwise abort on the first image)"
            )
        return tokens

    @property
    def llm(self) -> Any:
        """The loaded llama_cpp.Llama."""
        if self._llm is None:
            path = self.spec.require_path()
            if self.before_load is not None:
                self.before_load(self)
            from llama_cpp import Llama

            kwargs = self.load_kwargs(path)
            self.check_image_batch()
            handler = self._handler()
            if handler is not None:
                kwargs["chat_handler"] = handler
            try:
                with _quiet_stderr(not self.verbose):
                    self._llm = Llama(**kwargs)
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"model {self.spec.id!r}: llama.cpp cannot load {path}: {exc}") from exc
        return self._llm

    def load_kwargs(self, path: Path) -> dict[str, Any]:
        """What llama_cpp.Llama gets for the text model (a chat handler aside): plain JSON values."""
        p = self.spec.llama
        kwargs: dict[str, Any] = {
            "model_path": str(path),
            "n_ctx": self.n_ctx,
            "n_batch": p.n_batch,
            "n_ubatch": p.ubatch,
            "n_threads": self.n_threads,
            "n_threads_batch": self.n_threads_batch,
            "n_gpu_layers": p.n_gpu_layers,
            "main_gpu": p.main_gpu,
            "seed": p.seed,
            "verbose": self.verbose,
        }
        if p.tensor_split:
            kwargs["tensor_split"] = list(p.tensor_split)
        if p.flash_attn:
            kwargs["flash_attn"] = True
        return kwargs

    def chat(
        self,
        messages: list[dict[str, Any]],
        max_tokens: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> str:
        """One chat completion at the configured temperature; on_token sees each piece as it comes."""
        p = self.spec.llama
        kwargs: dict[str, Any] = {
            "messages": messages,
            "max_tokens": int(max_tokens or self.max_tokens),
            "temperature": p.temperature,
            "repeat_penalty": p.repeat_penalty,
        }
        try:
            with _quiet_stderr(not self.verbose):
                if on_token is None:
                    out = self.llm.create_chat_completion(**kwargs)
                    return str(out["choices"][0]["message"]["content"] or "").strip()
                pieces = []
                for chunk in self.llm.create_chat_completion(stream=True, **kwargs):
                    piece = chunk["choices"][0]["delta"].get("content") or ""
                    if piece:
                        pieces.append(piece)
                        on_token(piece)
                return "".join(pieces).strip()
        except ValueError as exc:  # llama-cpp-python: "Requested tokens (...) exceed context window"
            raise ContextOverflowError(f"model {self.spec.id!r}: {exc}") from exc

    def close(self) -> None:
        """Free the model (and its VRAM)."""
        if self._llm is not None:
            self._llm.close()
            self._llm = None
