"""ORB local features of the normalised figure, cached beside each stored crop."""

from __future__ import annotations

from dataclasses import dataclass
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


_orb = cv2.ORB_create(nfeatures=1500, fastThreshold=12)


def features(img: Image.Image) -> Features:
    """ORB features of the normalised grayscale, scaled so the longer side is MAX_SIDE."""
    g = ink_gray(img)
    h, w = g.shape
    s = MAX_SIDE / max(h, w)
    # small query photos are upsampled too: ORB finds almost nothing below ~300 px
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    g8 = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)
    kps, desc = _orb.detectAndCompute(g8, None)
    pts = np.array([k.pt for k in kps], np.float32).reshape(-1, 2)
    return Features(pts, desc, (g8.shape[1], g8.shape[0]))


def save_features(f: Features, path: Path) -> None:
    """Cache features beside the figure so queries never recompute them."""
    desc = f.descriptors if f.descriptors is not None else np.zeros((0, 32), np.uint8)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, points=f.points, descriptors=desc, size=np.array(f.size))
    tmp.replace(path)


def load_features(image_path: Path, save: bool = True) -> Features:
    """Cached features of a stored figure; computed on a miss, and saved only when save is set."""
    cache = image_path.with_suffix(".orb.npz")
    if cache.exists():
        with np.load(cache) as z:
            desc = z["descriptors"]
            return Features(z["points"], desc if len(desc) else None, (int(z["size"][0]), int(z["size"][1])))
    with Image.open(image_path) as im:
        f = features(im)
    if save:
        save_features(f, cache)
    return f
