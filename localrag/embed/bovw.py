"""Builtin image embedder: edge-orientation pyramid + ORB bag of visual words (+ tone), in one vector.

Each part is unit-norm and weighted, so the cosine of two vectors is the weighted sum of the
parts' similarities. The edge part is strong on scale, JPEG and blur; the visual words (local,
rotation-invariant features) on rotation, crops and phone photos; the tone part (embed/tone.py)
on what a heavy blur or sensor noise leaves of sparse line art. Measured in README.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from localrag.embed.base import l2norm
from localrag.embed.descriptor import DIM as EDGE_DIM
from localrag.embed.descriptor import describe
from localrag.embed.orb import Features, features
from localrag.embed.prepare import Recent
from localrag.embed.tone import DIM as TONE_DIM
from localrag.embed.tone import readings as tone_readings

VOCAB = Path(__file__).resolve().parents[1] / "data" / "orb-vocab-512.npz"
EDGE_WEIGHT = 0.4  # share of the cosine from the edge part (of what tone leaves)
# Share of the cosine from the tone part in orb-bovw-edge-tone-v1. Shortlist recall@5 on
# asymptote.pdf's randomised queries: 0.935 without, 0.954 at 0.1, 0.951 at 0.15, 0.945 at 0.2;
# more makes plots with the same layout (axes, one curve) look alike.
TONE_WEIGHT = 0.1
MAX_HAMMING = 70  # a descriptor farther than this from every word is noise
RECENT = 32  # images whose features are kept: one document's figures, or one query


@cache
def vocabulary() -> tuple[np.ndarray, np.ndarray]:
    """The visual words (k x 32 packed bits, as ORB descriptors are) and their idf."""
    with np.load(VOCAB) as z:
        return np.ascontiguousarray(z["words"]), z["idf"].astype(np.float32)


# OpenCV's popcount Hamming search: the nearest word of 1,500 descriptors in ~6 ms instead of
# ~14 for a float matrix product over unpacked bits, with the same word (the first of equally
# near ones, as argmin; checked on 215k descriptors, 17.6k of them with ties).
_nearest = cv2.BFMatcher(cv2.NORM_HAMMING)


def bag_of_words(f: Features) -> np.ndarray:
    """tf-idf histogram of nearest visual words, square-rooted and unit-norm."""
    words, idf = vocabulary()
    if f.descriptors is None or not len(f.descriptors):
        return np.zeros(len(words), np.float32)
    found = _nearest.match(f.descriptors, words)
    nearest = np.fromiter((m.trainIdx for m in found), np.int64, len(found))
    keep = np.fromiter((m.distance for m in found), np.float32, len(found)) < MAX_HAMMING
    hist = np.bincount(nearest[keep], minlength=len(words)).astype(np.float32) * idf
    return l2norm(np.sqrt(hist))


class HybridImageEmbedder:
    """The default image embedder: no learned weights, robust to what photos do to figures."""

    supports_text = False
    per_image = True

    def __init__(self, fingerprint: str, tone_weight: float = 0.0) -> None:
        """The fingerprint comes from the registry entry; tone_weight 0 leaves the tone part out."""
        self.fingerprint = fingerprint
        self.tone_weight = tone_weight
        self.dim = EDGE_DIM + len(vocabulary()[0]) + (TONE_DIM if tone_weight else 0)
        self._recent = Recent(features, RECENT)

    def features(self, img: Image.Image) -> Features:
        """ORB features, remembered for recent images so verification and indexing reuse them.

        The images themselves are held, not their ids: a freed image's id is soon reused.
        """
        return self._recent(img)

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """One vector per image."""
        if not images:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._vectors(im, both=False)[0] for im in images])

    def embed_query(self, image: Image.Image) -> np.ndarray:
        """The vectors a query photo searches with: two when its tone reads both ways."""
        return np.stack(self._vectors(image, both=True))

    def _vectors(self, im: Image.Image, both: bool) -> list[np.ndarray]:
        t = self.tone_weight
        a, b, c = np.sqrt((1 - t) * EDGE_WEIGHT), np.sqrt((1 - t) * (1 - EDGE_WEIGHT)), np.sqrt(t)
        parts = [a * describe(im), b * bag_of_words(self.features(im))]
        if not c:
            return [np.concatenate(parts).astype(np.float32)]
        # a figure without ORB corners (a gradient, a blank panel) has an empty word part:
        # re-normalised, so exact search scores it as Chroma's cosine does. v1 vectors stay
        # as they were, for the indexes they fill.
        return [l2norm(np.concatenate([*parts, c * tone])) for tone in tone_readings(im, both)]

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Not supported: no text side."""
        raise NotImplementedError("the builtin image embedder cannot embed text")
