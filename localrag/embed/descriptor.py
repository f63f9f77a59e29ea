"""A weight-free global image descriptor for line drawings and photos of them.

Normalises away what a query photo changes (colour, dark mode, margins, scale), then
describes edge orientation on a spatial pyramid with soft orientation binning, so small
rotations move mass between neighbouring bins instead of breaking the match.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from localrag.embed.base import OneQueryVector, OrbFeatures, l2norm
from localrag.embed.prepare import ink_gray, levels, pad_square, quantile

SIDE = 160
BINS = 8
GRIDS = (1, 2, 4)
THUMB = 8
DIM = BINS * sum(g * g for g in GRIDS) + THUMB * THUMB


def normalize_gray(img: Image.Image, side: int = SIDE) -> np.ndarray:
    """Grayscale, ink-dark on light, cropped to content, padded square, resized."""
    u8 = ink_gray(img)
    g = u8.astype(np.float32)
    bg = np.float32(quantile(levels(u8), 0.5))  # np.median's value, from a histogram
    ink = np.abs(g - bg) > 40
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if rows.size and cols.size:
        g = g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return cv2.resize(pad_square(g, bg), (side, side), interpolation=cv2.INTER_AREA)


def describe(img: Image.Image) -> np.ndarray:
    """The DIM-long, L2-normalised descriptor of one image."""
    g = cv2.GaussianBlur(normalize_gray(img), (3, 3), 0.8)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    mag = mag / (mag.max() + 1e-6)
    ang = np.mod(np.arctan2(gy, gx), np.pi) / np.pi * BINS  # unsigned: inversion-proof
    lo = np.floor(ang).astype(int) % BINS
    frac = ang - np.floor(ang)
    feats = []
    for grid in GRIDS:
        cell = SIDE // grid
        for r in range(grid):
            for c in range(grid):
                sl = (slice(r * cell, (r + 1) * cell), slice(c * cell, (c + 1) * cell))
                m, lo_c, fr = mag[sl].ravel(), lo[sl].ravel(), frac[sl].ravel()
                hist = np.bincount(lo_c, m * (1 - fr), BINS) + np.bincount((lo_c + 1) % BINS, m * fr, BINS)
                feats.append(hist / (grid * grid))
    thumb = cv2.resize(mag, (THUMB, THUMB), interpolation=cv2.INTER_AREA).ravel()
    vec = np.concatenate([*feats, thumb * 0.5])
    return l2norm(np.sqrt(np.maximum(vec, 0)))  # Hellinger: tames dominant bins


class EdgeDescriptorEmbedder(OneQueryVector, OrbFeatures):
    """The builtin image embedder of the default profile (no weights, no text side)."""

    supports_text = False
    per_image = True
    dim = DIM

    def __init__(self, fingerprint: str) -> None:
        """The fingerprint comes from the registry entry."""
        self.fingerprint = fingerprint

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """Describe each image."""
        if not images:
            return np.zeros((0, DIM), np.float32)
        return np.stack([describe(im) for im in images])

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Not supported: this descriptor has no text side."""
        raise NotImplementedError("the edge descriptor cannot embed text")
