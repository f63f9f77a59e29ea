"""A 64-bit DCT perceptual hash of a figure's normalised drawing, to spot near-duplicates."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from localrag.embed.descriptor import normalize_gray

# Repeated plots in one manual (the same axes, a slightly different curve) differ by a few
# bits; unrelated line drawings by ~25-35 (measured on asymptote.pdf and the sample manual).
NEAR_DUPLICATE_BITS = 10


def phash(img: Image.Image) -> int:
    """Sign of the lowest 8x8 DCT coefficients (DC dropped) of a 32x32 normalised drawing."""
    g = normalize_gray(img, 32)
    low = cv2.dct(g.astype(np.float32))[:8, :8].ravel()[1:]
    bits = low > np.median(low)
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    """Bits that differ between two hashes."""
    return (a ^ b).bit_count()


def near_duplicate_groups(hashes: list[int | None], max_bits: int = NEAR_DUPLICATE_BITS) -> list[int]:
    """A group label per hash: hashes within max_bits share one, chained; None stays alone."""
    parent = list(range(len(hashes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, ha in enumerate(hashes):
        for b in range(a + 1, len(hashes)):
            hb = hashes[b]
            if ha is not None and hb is not None and hamming(ha, hb) <= max_bits:
                parent[root(a)] = root(b)
    return [root(i) for i in range(len(hashes))]
