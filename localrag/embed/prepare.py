"""Shared photo normalisation: what a phone, a scanner or dark mode does to a figure, undone."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

WORK_SIDE = 800  # enough for ORB and edges; bigger photos only cost time


def ink_gray(img: Image.Image) -> np.ndarray:
    """uint8 grayscale with dark ink on white: lighting flattened, dark surround removed."""
    g = np.asarray(img.convert("L"), dtype=np.float32)
    h, w = g.shape
    s = WORK_SIDE / max(h, w)
    if s < 1:
        g = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    if np.median(g) < 110:  # dark mode or a negative
        g = 255.0 - g
    if np.percentile(g, 75) > 240:  # a clean render or scan: nothing to undo
        return np.clip(g, 0, 255).astype(np.uint8)
    # flat field: divide by the local background so vignetting and tint vanish
    sigma = max(g.shape) / 16
    bg = cv2.GaussianBlur(cv2.dilate(g, np.ones((7, 7), np.uint8)), (0, 0), sigma)
    g = np.clip(g / np.maximum(bg, 1.0) * 255.0, 0, 255).astype(np.uint8)
    return _drop_surround(g)


def _drop_surround(g: np.ndarray) -> np.ndarray:
    """Paint white any large dark region touching the border (table or floor around the paper)."""
    dark = (g < 90).astype(np.uint8)
    if (
        dark[0, :].mean() < 0.5
        and dark[-1, :].mean() < 0.5
        and dark[:, 0].mean() < 0.5
        and dark[:, -1].mean() < 0.5
    ):
        return g
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=4)
    h, w = g.shape
    out = g.copy()
    for k in range(1, n):
        x, y, bw, bh, area = stats[k]
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        solid = area > 0.12 * bw * bh  # a surround is a filled band; axes and wires are thin
        if touches and solid and area > 0.05 * h * w:
            out[labels == k] = 255
    return out
