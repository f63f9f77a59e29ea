"""Factory: builds each stage's backend from the profile, lazily and once."""

from __future__ import annotations

import dataclasses
from functools import cached_property

from localrag.config import Settings
from localrag.describe.base import Describer
from localrag.describe.caption import CaptionDescriber
from localrag.describe.ocr import OcrDescriber, OcrEngine
from localrag.describe.photo import PhotoReader
from localrag.embed.base import ImageEmbedder, TextEmbedder
from localrag.embed.bovw import TONE_WEIGHT, HybridImageEmbedder
from localrag.embed.descriptor import EdgeDescriptorEmbedder
from localrag.embed.onnx_text import OnnxTextEmbedder
from localrag.embed.sbert import SentenceTransformerEmbedder
from localrag.errors import ConfigError
from localrag.gpu import fits_together, vram_budget_mib
from localrag.llm import ChatModel, LlamaModel
from localrag.registry import ModelSpec
from localrag.registry.spec import FileRef
from localrag.remote import RemoteModel


class Components:
    """The models of one profile; each is built on first access."""

    def __init__(self, settings: Settings, verbose: bool = False) -> None:
        """Nothing is loaded here."""
        self.settings = settings
        self.verbose = verbose

    def spec(self, role: str) -> ModelSpec | None:
        """The profile's model for a role."""
        return self.settings.registry.for_role(self.settings.profile, role)

    def _required(self, role: str) -> ModelSpec:
        spec = self.spec(role)
        if spec is None:
            raise ConfigError(f"profile {self.settings.profile!r} has no {role}")
        return spec

    def fingerprints(self) -> dict[str, str]:
        """Role -> model fingerprint, for the store's which-model-built-this check."""
        return {role: self._required(role).fingerprint for role in ("text_embedder", "image_embedder")}

    @cached_property
    def text_embedder(self) -> TextEmbedder:
        """Sentence-transformers text model, on torch or on ONNX Runtime."""
        spec = self._required("text_embedder")
        if spec.embedder.backend == "onnx":
            return OnnxTextEmbedder(spec, self.settings.n_threads)
        return SentenceTransformerEmbedder(spec, self.settings.n_threads)

    @cached_property
    def image_embedder(self) -> ImageEmbedder:
        """Builtin descriptor, or a CLIP model through sentence-transformers."""
        spec = self._required("image_embedder")
        if spec.source.builtin == "edge-descriptor-v1":
            return EdgeDescriptorEmbedder(spec.fingerprint)
        if spec.source.builtin == "orb-bovw-edge-v1":
            return HybridImageEmbedder(spec.fingerprint)
        if spec.source.builtin == "orb-bovw-edge-tone-v1":
            return HybridImageEmbedder(spec.fingerprint, tone_weight=TONE_WEIGHT)
        if spec.source.builtin:
            raise ConfigError(f"model {spec.id!r}: unknown builtin {spec.source.builtin!r}")
        return SentenceTransformerEmbedder(spec, self.settings.n_threads)

    @cached_property
    def ocr(self) -> OcrEngine | None:
        """RapidOCR, when the profile has an OCR model."""
        spec = self.spec("ocr")
        return OcrEngine(spec, self.settings.n_threads) if spec else None

    @cached_property
    def vlm(self) -> ChatModel | None:
        """The describer VLM, when one is configured: loaded here, or served (--describer URL)."""
        spec = self.spec("describer")
        urls = self.settings.describer_urls
        if urls:
            # the profile's describer settings (max_tokens, ...) apply to the served model too
            base = spec or ModelSpec(id="served-describer", role="describer", source=FileRef())
            return RemoteModel(dataclasses.replace(base, endpoints=tuple(urls)))
        return self._model(spec) if spec else None

    @cached_property
    def describer(self) -> Describer:
        """VLM describer when configured, else OCR + caption + context."""
        if self.vlm is not None:
            from localrag.describe.vlm import VlmDescriber

            return VlmDescriber(self.vlm, self.ocr)
        if self.ocr is None:
            return CaptionDescriber()
        return OcrDescriber(self.ocr)

    @cached_property
    def photo_reader(self) -> PhotoReader:
        """Reads query photos: OCR, plus the VLM when one is configured."""
        from localrag.describe.vlm import VlmDescriber

        return PhotoReader(self.ocr, VlmDescriber(self.vlm, None) if self.vlm is not None else None)

    @cached_property
    def generator(self) -> ChatModel:
        """The answering model; shares the loaded VLM when it is the same model."""
        spec = self._required("generator")
        if self.vlm is not None and self.vlm.spec == spec:
            return self.vlm
        return self._model(spec)

    def _model(self, spec: ModelSpec) -> ChatModel:
        if spec.remote:
            return RemoteModel(spec)
        model = LlamaModel(spec, self.settings.n_threads, self.verbose)
        model.before_load = self.make_room_for
        return model

    def unload(self) -> None:
        """Free the llama.cpp models that are loaded (they load again on next use)."""
        for name in ("vlm", "generator"):
            model = self.__dict__.get(name)
            if model is not None:
                model.close()

    def make_room_for(self, model: ChatModel) -> None:
        """Unload the other llama.cpp model unless both fit the VRAM budget together."""
        other = self.vlm if model is not self.vlm else self.__dict__.get("generator")
        if other is None or other is model or not other.loaded:
            return
        if not fits_together(model, other, vram_budget_mib(self.settings)):
            other.close()
