"""ORB local features of the normalised figure, cached beside each stored crop.

The same file also holds the figure's view vectors: the global image vector of a few
sub-windows, so a photo of part of a figure can be shortlisted by the part it shows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from localrag.embed.prepare import ink_gray

MAX_SIDE = 640


@dataclass
class Features:
    """Keypoints and descriptors of one image, at the scale they were found."""

    points: np.ndarray
    descriptors: np.ndarray | None
    size: tuple[int, int]
    views: np.ndarray | None = None  # (n, dim) image vectors of sub-windows; None when not computed
    views_model: str = ""  # fingerprint of the image embedder that computed the views
    # perceptual hash of the figure, kept here so flagging near-duplicate hits never decodes
    # a stored PNG at query time (20-90 ms each); None in files written before it was kept
    phash: int | None = None


_local = threading.local()  # one detector per thread: the indexer finds features in several at once


def _orb() -> cv2.ORB:
    if not hasattr(_local, "orb"):
        _local.orb = cv2.ORB_create(nfeatures=1500, fastThreshold=12)
    return _local.orb


def features(img: Image.Image) -> Features:
    """ORB features of the normalised grayscale, scaled so the longer side is MAX_SIDE."""
    g = ink_gray(img)
    h, w = g.shape
    s = MAX_SIDE / max(h, w)
    # small query photos are upsampled too: ORB finds almost nothing below ~300 px
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    g8 = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)
    kps, desc = _orb().detectAndCompute(g8, None)
    pts = np.array([k.pt for k in kps], np.float32).reshape(-1, 2)
    return Features(pts, desc, (g8.shape[1], g8.shape[0]))


def save_features(f: Features, path: Path) -> None:
    """Cache features beside the figure so queries never recompute them."""
    desc = f.descriptors if f.descriptors is not None else np.zeros((0, 32), np.uint8)
    extra = (
        {}
        if f.views is None
        else {"views": f.views.astype(np.float32), "views_model": np.array(f.views_model)}
    )
    if f.phash is not None:
        extra["phash"] = np.array(f.phash, np.uint64)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, points=f.points, descriptors=desc, size=np.array(f.size), **extra)
    tmp.replace(path)


def load_features(image_path: Path, save: bool = True) -> Features:
    """Cached features of a stored figure; computed on a miss, and saved only when save is set."""
    cache = features_path(image_path)
    cached = read_features(cache)
    if cached is not None:
        return cached
    with Image.open(image_path) as im:
        f = features(im)
    if save:
        save_features(f, cache)
    return f


def features_path(image_path: Path) -> Path:
    """Where a stored figure's feature file lives, beside its PNG."""
    return image_path.with_suffix(".orb.npz")


def read_features(path: Path) -> Features | None:
    """A feature file's contents, or None when there is none; a damaged file raises."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    return _read(str(path), stamp)


@lru_cache(maxsize=1024)  # ~75 KB each: every figure of a 1k-figure index
def _read(path: str, stamp: int) -> Features:
    """One feature file, kept in memory: a warm process verifies the same figures again and again.

    Keyed by modification time too, so a file rewritten by a re-index is read afresh.
    """
    with np.load(path) as z:
        desc = z["descriptors"]
        views = z["views"] if "views" in z.files else None
        model = str(z["views_model"]) if "views_model" in z.files else ""
        size = (int(z["size"][0]), int(z["size"][1]))
        ph = int(z["phash"]) if "phash" in z.files else None
        return Features(z["points"], desc if len(desc) else None, size, views, model, ph)
