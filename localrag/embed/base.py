"""The embed stage: text and images become vectors; each embedder names itself for the store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

import numpy as np
from PIL import Image

from localrag.embed.orb import Features
from localrag.embed.orb import features as orb_features
from localrag.registry import ModelSpec

# Padded positions per model call for text. Attention buffers grow with rows x length^2, so
# a batch of 32 texts at MiniLM's 256-token limit held 0.9 GB; under this budget long texts
# go 8 at a time (asymptote's 847 texts: peak RSS 1.23 -> 0.52 GB, as fast, the same
# vectors) and short ones still go batch_size at a time.
BATCH_TOKENS = 2048


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
    # True when each image is a single-core job in C that releases the GIL (the builtin
    # embedders): the indexer then embeds several figures at once, one per thread
    per_image: bool

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalised vectors."""
        ...

    def embed_query(self, image: Image.Image) -> np.ndarray:
        """The (n, dim) vectors a query photo is searched with: n readings of it, n >= 1."""
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


class OneQueryVector:
    """A query photo searched with its image vector alone (embedders with one reading of it)."""

    def embed_query(self, image: Image.Image) -> np.ndarray:
        """The photo's image vector, as a (1, dim) array."""
        return self.embed_images([image])  # type: ignore[attr-defined]


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

    def token_batches(self, lengths: list[int]) -> Iterator[list[int]]:
        """Text indices, longest first, in runs of at most batch_size within BATCH_TOKENS padded.

        Sorting by tokens rather than characters (as sentence-transformers does) pads a
        quarter fewer positions on manuals with code and formulas.
        """
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        start = 0
        while start < len(order):
            n = max(1, min(self.batch_size, BATCH_TOKENS // max(1, lengths[order[start]])))
            yield order[start : start + n]
            start += n


def l2norm(x: np.ndarray) -> np.ndarray:
    """Row-normalise, leaving zero rows at zero."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)
