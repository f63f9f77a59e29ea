"""Shared photo normalisation: what a phone, a scanner or dark mode does to a figure, undone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import cv2
import numpy as np
from PIL import Image

V = TypeVar("V")

WORK_SIDE = 800  # enough for ORB and edges; bigger photos only cost time
# Dark mode or a negative: a median grey below this is read as light ink on a dark ground,
# by every part of the image vector.
DARK_BELOW = 110
# The global vector, the ORB features and the hash of one image each start from its
# grayscale: indexing a figure and its five view windows, or one query photo, computes it once
# per image instead of two or three times. Images, not ids, are held: a freed id is reused.
RECENT = 8


class Recent(Generic[V]):
    """What a function gave for each thread's last few images, found by identity.

    Per thread: the indexer works on several figures at once, each with five view windows,
    and one shared list of 8 dropped a figure's result before its last use.
    """

    def __init__(self, make: Callable[[Image.Image], V], size: int = RECENT) -> None:
        """Remember make's results for the last `size` images of each thread."""
        self.make, self.size = make, size
        self._local = threading.local()

    def __call__(self, img: Image.Image) -> V:
        """make(img), computed once while img is among this thread's recent images."""
        seen: list[tuple[Image.Image, V]] = getattr(self._local, "items", [])
        for im, value in seen:
            if im is img:
                return value
        value = self.make(img)
        self._local.items = [*seen[-(self.size - 1) :], (img, value)]
        return value


def _shared_gray(img: Image.Image) -> np.ndarray:
    g = _ink_gray(img)
    g.setflags(write=False)  # shared by every caller of the same image
    return g


_recent_gray = Recent(_shared_gray)


def ink_gray(img: Image.Image) -> np.ndarray:
    """uint8 grayscale with dark ink on white (read-only; recent images are remembered)."""
    return _recent_gray(img)


def _ink_gray(img: Image.Image) -> np.ndarray:
    """Lighting flattened, dark mode undone, dark surround removed."""
    a = np.asarray(img.convert("L"))
    g = a.astype(np.float32)
    h, w = g.shape
    s = WORK_SIDE / max(h, w)
    cum = None if s < 1 else levels(a)  # whole grey levels: statistics from a histogram, no sort
    if s < 1:
        g = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    dark = (np.median(g) if cum is None else quantile(cum, 0.5)) < DARK_BELOW
    if dark:  # dark mode or a negative
        g = 255.0 - g
    if cum is None:
        q75 = np.percentile(g, 75)
    else:
        q75 = 255.0 - quantile(cum, 0.25) if dark else quantile(cum, 0.75)
    if q75 > 240:  # a clean render or scan: nothing to undo
        return np.clip(g, 0, 255).astype(np.uint8)
    # flat field: divide by the local background so vignetting and tint vanish
    sigma = max(g.shape) / 16
    bg = cv2.GaussianBlur(cv2.dilate(g, np.ones((7, 7), np.uint8)), (0, 0), sigma)
    g = np.clip(g / np.maximum(bg, 1.0) * 255.0, 0, 255).astype(np.uint8)
    return _drop_surround(g)


def levels(a: np.ndarray) -> np.ndarray:
    """Cumulative histogram of a uint8 image's grey levels."""
    return np.cumsum(np.bincount(a.ravel(), minlength=256))


def quantile(cum: np.ndarray, q: float) -> float:
    """np.quantile (linear) of the values a cumulative histogram counts: a sort-free median."""
    n = int(cum[-1])
    pos = q * (n - 1)
    k = int(pos)
    lo = int(np.searchsorted(cum, k, side="right"))
    hi = int(np.searchsorted(cum, min(k + 1, n - 1), side="right"))
    return lo + (hi - lo) * (pos - k)


def content_box(u8: np.ndarray, contrast: float = 40, min_ink: int = 20) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the pixels that differ from the median grey, the outer 0.5% dropped.

    The whole image when fewer than min_ink pixels differ (a blank or nearly blank photo).
    """
    ink = np.abs(u8.astype(np.float32) - np.float32(quantile(levels(u8), 0.5))) > contrast
    ys, xs = np.nonzero(ink)
    if ys.size <= min_ink:
        return 0, u8.shape[0], 0, u8.shape[1]
    y0, y1 = np.percentile(ys, [0.5, 99.5]).astype(int)
    x0, x1 = np.percentile(xs, [0.5, 99.5]).astype(int)
    return int(y0), int(y1) + 1, int(x0), int(x1) + 1


def pad_square(a: np.ndarray, fill: float | np.ndarray) -> np.ndarray:
    """The image (grey or colour) centred on a square canvas of fill, as wide as its longer side."""
    h, w = a.shape[:2]
    s = max(h, w)
    canvas = np.empty((s, s, *a.shape[2:]), a.dtype)
    canvas[...] = fill
    canvas[(s - h) // 2 : (s - h) // 2 + h, (s - w) // 2 : (s - w) // 2 + w] = a
    return canvas


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
