"""sentence-transformers models loaded from a local folder (text models and CLIP)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from localrag.embed.base import OneQueryVector, OrbFeatures, SpecEmbedder, l2norm
from localrag.errors import ModelError
from localrag.registry import ModelSpec


def quiet_transformers() -> None:
    """Weight-loading bars and deprecation chatter would drown the CLI's own output."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module="sentence_transformers")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


class SentenceTransformerEmbedder(OneQueryVector, OrbFeatures, SpecEmbedder):
    """One class for text embedders and CLIP image embedders: both load the same way."""

    def __init__(self, spec: ModelSpec, n_threads: int) -> None:
        """Remember the spec; the model loads on first use."""
        super().__init__(spec, n_threads)
        self.supports_text = True
        self.per_image = False  # a batch per call: a GPU (or torch's own threads) does better
        self._model: object | None = None

    @property
    def model(self) -> object:
        """The loaded SentenceTransformer (local files only, never a hub)."""
        with self._loading:
            return self._load()

    def _load(self) -> object:
        if self._model is None:
            path = self.spec.require_path()
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(self.n_threads)
            quiet_transformers()
            try:
                self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except Exception as exc:
                raise ModelError(f"model {self.spec.id!r}: cannot load {path}: {exc}") from exc
            get_dim = getattr(self._model, "get_embedding_dimension", None) or getattr(
                self._model, "get_sentence_embedding_dimension", None
            )
            self.dim = int(get_dim() or self.dim) if get_dim else self.dim
        return self._model

    def _encode(self, items: list) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), np.float32)
        vecs = self.model.encode(  # type: ignore[attr-defined]
            items, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return l2norm(vecs)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Embed text; a text model's batches stay within BATCH_TOKENS, as on ONNX."""
        if self.spec.role != "text_embedder" or len(texts) <= 1:  # CLIP embeds short queries
            return self._encode(texts)
        model = self.model
        ids = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]  # type: ignore[attr-defined]
        out = np.zeros((len(texts), self.dim), np.float32)
        for idx in self.token_batches([len(x) for x in ids]):
            out[idx] = self._encode([texts[i] for i in idx])
        return out

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """Embed images (CLIP-style models)."""
        return self._encode([im.convert("RGB") for im in images])
