"""Typed, validated per-role model parameters: every default lives here and nowhere else."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from localrag.errors import ConfigError


class _Params(BaseModel):
    # an unknown key is a typo in models.yaml, refused at load rather than silently ignored
    model_config = ConfigDict(extra="forbid", frozen=True)


class LlamaParams(_Params):
    """llama.cpp settings of a generator or describer."""

    n_ctx: int = Field(4096, gt=0)
    max_tokens: int = Field(256, gt=0)
    n_batch: int = Field(512, gt=0)
    n_ubatch: int | None = Field(None, gt=0)  # default: n_batch
    n_threads: int | None = Field(None, gt=0)  # default: the machine's (--threads)
    n_threads_batch: int | None = Field(None, gt=0)  # default: n_threads
    n_gpu_layers: int = Field(0, ge=-1)
    main_gpu: int = Field(0, ge=0)
    tensor_split: list[float] | None = None
    flash_attn: bool = False
    seed: int = 1234
    temperature: float = Field(0.0, ge=0)
    repeat_penalty: float = Field(1.1, gt=0)
    chat_handler: str = "mtmd"  # a short name (llm.HANDLERS) or a llama_cpp chat handler class
    chat_template: str | None = None
    mmproj_use_gpu: bool = True
    image_tokens: int | None = Field(None, gt=0)
    # served models (`endpoints:` in models.yaml, or --describer URL)
    concurrency: int = Field(2, gt=0)  # requests in flight per endpoint
    timeout_s: float = Field(300.0, gt=0)  # one request, a slow CPU server's longest answer included
    vision: bool | None = None  # whether a served generator takes images (default: describers do)

    @property
    def ubatch(self) -> int:
        """n_ubatch, or n_batch when unset."""
        return self.n_ubatch or self.n_batch


class EmbedderParams(_Params):
    """A text or image embedder."""

    kind: Literal["sentence-transformers"] | None = None
    dim: int = Field(0, ge=0)
    batch_size: int = Field(32, gt=0)
    # onnx: the same vectors from ONNX Runtime, about twice as fast on a CPU (text models only)
    backend: Literal["torch", "onnx"] = "torch"


class OcrParams(_Params):
    """The OCR engine."""

    min_score: float = Field(0.5, ge=0, le=1)
    # openvino: the same text as ONNX Runtime in about half the CPU time; where OpenVINO is
    # missing or cannot compile a model, ONNX Runtime runs it
    runtime: Literal["openvino", "onnxruntime"] = "openvino"


BY_ROLE: dict[str, type[_Params]] = {
    "generator": LlamaParams,
    "describer": LlamaParams,
    "text_embedder": EmbedderParams,
    "image_embedder": EmbedderParams,
    "ocr": OcrParams,
}


def parse_params(role: str, raw: dict[str, Any], where: str) -> _Params:
    """Validate one model's params; the first problem becomes a one-line ConfigError."""
    try:
        return BY_ROLE[role](**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"{where}: params.{loc}: {err['msg']}") from exc


__all__ = ["BY_ROLE", "EmbedderParams", "LlamaParams", "OcrParams", "parse_params"]
