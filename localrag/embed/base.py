"""The embed stage: text and images become vectors; each embedder names itself for the store."""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np
from PIL import Image

from localrag.embed.orb import Features
from localrag.embed.orb import features as orb_features
from localrag.registry import ModelSpec


class TextEmbedder(Protocol):
    """Embeds text into unit vectors."""

    fingerprint: str
    dim: int

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalised vectors."""
        ...


class ImageEmbedder(Protocol):
    """Embeds images (and, for CLIP-style models, text) into one space."""

    fingerprint: str
    dim: int
    supports_text: bool

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalised vectors."""
        ...

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Text in the image space (CLIP only)."""
        ...

    def features(self, img: Image.Image) -> Features:
        """Local features for geometric verification of a match."""
        ...


class OrbFeatures:
    """ORB features for verification, computed afresh (embedders that cache them override this)."""

    def features(self, img: Image.Image) -> Features:
        """ORB keypoints and descriptors of an image."""
        return orb_features(img)


class SpecEmbedder:
    """An embedder a registry spec describes; its model loads on first use, once."""

    def __init__(self, spec: ModelSpec, n_threads: int) -> None:
        """Remember the spec; nothing loads yet."""
        self.spec = spec
        self.fingerprint = spec.fingerprint
        self.dim = spec.embedder.dim
        self.batch_size = spec.embedder.batch_size
        self.n_threads = n_threads
        self._loading = threading.Lock()  # the indexer loads it in a thread while the parser starts


def l2norm(x: np.ndarray) -> np.ndarray:
    """Row-normalise, leaving zero rows at zero."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)
