"""llama.cpp through its C API alone: the baseline that localrag's own overhead is measured against.

The loops here do what llama-bench does (random prompt tokens, one decode per generated
token, greedy sampling) with nothing of localrag or of llama-cpp-python's high-level API.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from localrag.errors import ModelError


@contextlib.contextmanager
def llama_log() -> Iterator[list[str]]:
    """Collect llama.cpp's log lines (offload counts, backends) instead of printing them."""
    import llama_cpp
    from llama_cpp import _logger

    lines: list[str] = []

    @llama_cpp.llama_log_callback  # type: ignore[misc]
    def keep(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        lines.append(text.decode("utf-8", "replace"))

    from llama_cpp import mtmd_cpp

    llama_cpp.llama_log_set(keep, ctypes.c_void_p(0))
    mtmd_cpp.mtmd_helper_log_set(keep, ctypes.c_void_p(0))
    try:
        yield lines
    finally:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
        mtmd_cpp.mtmd_helper_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


def offloaded_layers(log: list[str]) -> tuple[int, int] | None:
    """(offloaded, total) from llama.cpp's "offloaded X/Y layers to GPU" line."""
    m = re.search(r"offloaded (\d+)/(\d+) layers to GPU", "".join(log))
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True)
class LlamaParams:
    """The settings a run sweeps over."""

    n_ctx: int = 2048
    n_batch: int = 512
    n_ubatch: int = 512
    n_threads: int = 2
    n_gpu_layers: int = 0
    flash_attn: bool | None = None  # None: llama.cpp decides (its default)


@dataclass(frozen=True)
class DescribeTiming:
    """Seconds for one figure through libmtmd."""

    encode_s: float  # the image encoder alone
    prompt_s: float  # image + text prompt into the KV cache (the encoder runs again inside)
    prompt_tokens: int
    first_s: float  # sampling the first token
    tokens: int
    gen_s: float


class BareLlama:
    """One model and one context, driven with llama_decode and a greedy sampler."""

    def __init__(self, path: Path, params: LlamaParams, mmproj: Path | None = None) -> None:
        """Load the model (and projector); raises ModelError when llama.cpp cannot."""
        import llama_cpp

        self._c = llama_cpp
        self.params = params
        llama_cpp.llama_backend_init()
        mp = llama_cpp.llama_model_default_params()
        mp.n_gpu_layers = params.n_gpu_layers
        with llama_log() as log:
            self.model = llama_cpp.llama_model_load_from_file(str(path).encode(), mp)
            if not self.model:
                raise ModelError(f"llama.cpp cannot load {path}")
            cp = llama_cpp.llama_context_default_params()
            cp.n_ctx, cp.n_batch, cp.n_ubatch = params.n_ctx, params.n_batch, params.n_ubatch
            cp.n_threads = cp.n_threads_batch = params.n_threads
            if params.flash_attn is not None:
                cp.flash_attn_type = (
                    llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
                    if params.flash_attn
                    else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
                )
            self.ctx = llama_cpp.llama_init_from_model(self.model, cp)
            if not self.ctx:
                raise ModelError(f"llama.cpp cannot make a context for {path}")
            self.offload = offloaded_layers(log)
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        chain = llama_cpp.llama_sampler_chain_default_params()
        self.sampler = llama_cpp.llama_sampler_chain_init(chain)
        llama_cpp.llama_sampler_chain_add(self.sampler, llama_cpp.llama_sampler_init_greedy())
        self.mtmd: Any = None
        if mmproj is not None:
            self._init_mtmd(mmproj)

    def _init_mtmd(self, mmproj: Path) -> None:
        from llama_cpp import mtmd_cpp

        mp = mtmd_cpp.mtmd_context_params_default()
        mp.use_gpu = self.params.n_gpu_layers != 0
        mp.print_timings = False
        mp.n_threads = self.params.n_threads
        if self.params.flash_attn is not None:  # as llama-cpp-python's handler sets it
            mp.flash_attn_type = (
                self._c.LLAMA_FLASH_ATTN_TYPE_ENABLED
                if self.params.flash_attn
                else self._c.LLAMA_FLASH_ATTN_TYPE_DISABLED
            )
        with llama_log():
            self.mtmd = mtmd_cpp.mtmd_init_from_file(str(mmproj).encode(), self.model, mp)
        if not self.mtmd:
            raise ModelError(f"libmtmd cannot load {mmproj}")

    def close(self) -> None:
        """Free the C objects."""
        c = self._c
        if self.mtmd:
            from llama_cpp import mtmd_cpp

            mtmd_cpp.mtmd_free(self.mtmd)
            self.mtmd = None
        if self.sampler:
            c.llama_sampler_free(self.sampler)
            self.sampler = None
        if self.ctx:
            c.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            c.llama_model_free(self.model)
            self.model = None

    def clear(self) -> None:
        """Empty the KV cache."""
        self._c.llama_memory_clear(self._c.llama_get_memory(self.ctx), True)

    def _decode(self, tokens: list[int]) -> None:
        step = self.params.n_batch
        for i in range(0, len(tokens), step):
            part = tokens[i : i + step]
            arr = (self._c.llama_token * len(part))(*part)
            if self._c.llama_decode(self.ctx, self._c.llama_batch_get_one(arr, len(part))) != 0:
                raise ModelError("llama_decode failed (context full?)")

    def random_tokens(self, n: int, seed: int = 0) -> list[int]:
        """Prompt tokens drawn at random, as llama-bench does."""
        rng = random.Random(seed)
        return [rng.randrange(3, self.n_vocab) for _ in range(n)]

    def tokenize(self, text: str) -> list[int]:
        """The model's tokens for text, with its BOS."""
        raw = text.encode()
        buf = (self._c.llama_token * (len(raw) + 8))()
        n = self._c.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), True, True)
        return list(buf[:n])

    def prompt(self, tokens: list[int]) -> float:
        """Seconds to process a prompt from an empty cache."""
        self.clear()
        t = time.perf_counter()
        self._decode(tokens)
        self._c.llama_synchronize(self.ctx)
        return time.perf_counter() - t

    def generate(self, n: int, stop_at_eog: bool = False) -> tuple[int, float, float]:
        """(tokens, seconds, seconds to the first token) for n tokens after what is in the cache."""
        t = time.perf_counter()
        made, first = 0, 0.0
        for _ in range(n):
            tok = self._c.llama_sampler_sample(self.sampler, self.ctx, -1)
            if made == 0:
                first = time.perf_counter() - t
            made += 1
            if stop_at_eog and self._c.llama_vocab_is_eog(self.vocab, tok):
                break
            self._decode([tok])
        self._c.llama_synchronize(self.ctx)
        return made, time.perf_counter() - t, first

    def describe(self, image: Image.Image, prompt: str, max_tokens: int) -> DescribeTiming:
        """One figure through libmtmd: encode, prompt (image + text) and generation times."""
        from llama_cpp import mtmd_cpp

        if self.mtmd is None:
            raise ModelError("no projector loaded")
        buf = io.BytesIO()
        image.convert("RGB").save(buf, "PNG")
        data = buf.getvalue()
        bitmap = mtmd_cpp.mtmd_helper_bitmap_init_from_buf(
            self.mtmd, (ctypes.c_uint8 * len(data)).from_buffer(bytearray(data)), len(data), False
        )
        text = (mtmd_cpp.mtmd_default_marker().decode() + "\n" + prompt).encode()
        inp = mtmd_cpp.mtmd_input_text()
        inp.text, inp.text_len, inp.add_special, inp.parse_special = text, len(text), True, True
        chunks = mtmd_cpp.mtmd_input_chunks_init()
        try:
            arr = (mtmd_cpp.mtmd_bitmap_p_ctypes * 1)(bitmap)
            with llama_log():
                rc = mtmd_cpp.mtmd_tokenize(self.mtmd, chunks, ctypes.byref(inp), arr, 1)
            if rc != 0:
                raise ModelError(f"mtmd_tokenize failed ({rc})")
            encode = 0.0
            for i in range(mtmd_cpp.mtmd_input_chunks_size(chunks)):
                chunk = mtmd_cpp.mtmd_input_chunks_get(chunks, i)
                if mtmd_cpp.mtmd_input_chunk_get_type(chunk) == mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                    t = time.perf_counter()
                    with llama_log():
                        mtmd_cpp.mtmd_encode_chunk(self.mtmd, chunk)
                    encode += time.perf_counter() - t
            self.clear()
            t = time.perf_counter()
            past = self._c.llama_pos(0)
            with llama_log():
                rc = mtmd_cpp.mtmd_helper_eval_chunks(
                    self.mtmd, self.ctx, chunks, 0, 0, self.params.n_batch, True, ctypes.byref(past)
                )
            if rc != 0:
                raise ModelError(f"mtmd_helper_eval_chunks failed ({rc})")
            prompt_s = time.perf_counter() - t
            n_prompt = mtmd_cpp.mtmd_helper_get_n_tokens(chunks)
            made, gen_s, first_s = self.generate(max_tokens, stop_at_eog=True)
            return DescribeTiming(encode, prompt_s, n_prompt, first_s, made, gen_s)
        finally:
            mtmd_cpp.mtmd_input_chunks_free(chunks)
            mtmd_cpp.mtmd_bitmap_free(bitmap)


def system_info() -> dict[str, Any]:
    """llama.cpp's own system line, its backend and whether it can offload to a GPU."""
    import llama_cpp

    info = (llama_cpp.llama_print_system_info() or b"").decode().strip()
    return {
        "system_info": info,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "backend": "CUDA" if "CUDA" in info else ("Metal" if "METAL" in info.upper() else "CPU"),
    }
