"""Seeded perturbations that turn a figure into a realistic query photo (demo, tests, eval)."""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageFilter, ImageOps


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    """Re-encode as JPEG at a quality."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def crop(img: Image.Image, keep: float, rng: random.Random, keep_h: float | None = None) -> Image.Image:
    """Keep a random window of `keep` of the width and `keep_h` (default: the same) of the height."""
    w, h = img.size
    cw, ch = max(8, int(w * keep)), max(8, int(h * (keep if keep_h is None else keep_h)))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return img.crop((x, y, x + cw, y + ch))


def rotate(img: Image.Image, degrees: float) -> Image.Image:
    """Rotate on a white background, expanding the canvas."""
    return img.convert("RGB").rotate(degrees, resample=Image.BICUBIC, expand=True, fillcolor="white")


def scale(img: Image.Image, factor: float) -> Image.Image:
    """Resize by a factor."""
    w, h = img.size
    return img.resize((max(8, int(w * factor)), max(8, int(h * factor))), Image.LANCZOS)


def phone_photo(img: Image.Image, rng: random.Random) -> Image.Image:
    """Perspective, uneven light, blur and sensor noise: a phone shot of a printed page."""
    import cv2

    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    h, w = a.shape[:2]
    pad = int(0.08 * max(w, h))
    a = cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(235, 232, 225))
    h2, w2 = a.shape[:2]
    j = 0.06
    src = np.float32([[0, 0], [w2, 0], [w2, h2], [0, h2]])
    dst = np.float32(
        [
            [rng.uniform(0, j) * w2, rng.uniform(0, j) * h2],
            [w2 - rng.uniform(0, j) * w2, rng.uniform(0, j) * h2],
            [w2 - rng.uniform(0, j) * w2, h2 - rng.uniform(0, j) * h2],
            [rng.uniform(0, j) * w2, h2 - rng.uniform(0, j) * h2],
        ]
    )
    m = cv2.getPerspectiveTransform(src, dst)
    a = cv2.warpPerspective(a, m, (w2, h2), borderValue=(90, 90, 90))
    yy, xx = np.mgrid[0:h2, 0:w2].astype(np.float32)
    light = 0.75 + 0.25 * (xx / w2) * (1 - 0.4 * yy / h2)
    a = a * light[..., None] * np.array([1.0, 0.97, 0.9], np.float32)
    a = cv2.GaussianBlur(a, (0, 0), 1.1)
    nrng = np.random.default_rng(rng.randint(0, 1 << 30))
    a = a + nrng.normal(0, 4, a.shape)
    return jpeg(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), 80)


def demo_query(img: Image.Image, seed: int = 7) -> Image.Image:
    """The demo's photo: cropped, rotated 8 degrees, JPEG quality 40."""
    rng = random.Random(seed)
    return jpeg(rotate(crop(img, 0.8, rng), 8), 40)


PERTURBATIONS = {
    "phone_photo": phone_photo,
    "crop_60": lambda im, rng: crop(im, 0.6, rng),
    "rotate_15": lambda im, rng: rotate(im, rng.choice([-15, 15])),
    "rotate_7": lambda im, rng: rotate(im, rng.uniform(-7, 7)),
    "scale_0.3": lambda im, rng: scale(im, 0.3),
    "scale_3": lambda im, rng: scale(im, 3.0),
    "jpeg_30": lambda im, rng: jpeg(im, 30),
    "grayscale": lambda im, rng: ImageOps.grayscale(im).convert("RGB"),
    "inverted": lambda im, rng: ImageOps.invert(im.convert("RGB")),
    "blur": lambda im, rng: im.filter(ImageFilter.GaussianBlur(1.5)),
}


# Randomised queries: every parameter is drawn per query from a range, so no method can be
# tuned to a fixed set of values. Geometric changes come first, then light and colour, then
# the camera's blur, noise and JPEG, as a photo of a printed page would see them.
ORDER = ("crop", "perspective", "rotate", "scale", "light", "grayscale", "invert", "blur", "noise", "jpeg")
FAMILIES = tuple(sorted(ORDER))


def perspective(img: Image.Image, rng: random.Random, jitter: float = 0.12) -> Image.Image:
    """Tilt the page: each corner moves inward by up to `jitter` of a side."""
    import cv2

    a = np.asarray(img.convert("RGB"))
    h, w = a.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    sign = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    dst = src + sign * np.float32(
        [[rng.uniform(0, jitter) * w, rng.uniform(0, jitter) * h] for _ in range(4)]
    )
    m = cv2.getPerspectiveTransform(src, dst)
    grey = rng.randint(60, 200)  # the table around the paper
    return Image.fromarray(cv2.warpPerspective(a, m, (w, h), borderValue=(grey, grey, grey)))


def uneven_light(img: Image.Image, rng: random.Random) -> Image.Image:
    """A lamp off to one side, a vignette and a warm or cool tint."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    h, w = a.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(theta) * (xx / w - 0.5) + np.sin(theta) * (yy / h - 0.5)) + 0.5
    depth = rng.uniform(0.25, 0.55)
    r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2
    light = (1 - depth * (1 - ramp)) * (1 - rng.uniform(0, 0.3) * r2)
    tint = np.float32([1.0, rng.uniform(0.92, 1.0), rng.uniform(0.82, 1.0)])
    if rng.random() < 0.5:
        tint = tint[::-1].copy()
    return Image.fromarray(np.clip(a * light[..., None] * tint, 0, 255).astype(np.uint8))


def sensor_noise(img: Image.Image, rng: random.Random) -> Image.Image:
    """Gaussian sensor noise of a random strength."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    nrng = np.random.default_rng(rng.randint(0, 1 << 30))
    return Image.fromarray(np.clip(a + nrng.normal(0, rng.uniform(3, 12), a.shape), 0, 255).astype(np.uint8))


RANDOM = {
    "crop": lambda im, rng: crop(im, rng.uniform(0.5, 0.85), rng, rng.uniform(0.5, 0.85)),
    "perspective": perspective,
    "rotate": lambda im, rng: rotate(im, rng.uniform(-20, 20)),
    "scale": lambda im, rng: scale(im, float(np.exp(rng.uniform(np.log(0.3), np.log(3.0))))),
    "light": uneven_light,
    "grayscale": lambda im, rng: ImageOps.grayscale(im).convert("RGB"),
    "invert": lambda im, rng: ImageOps.invert(im.convert("RGB")),
    "blur": lambda im, rng: im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5))),
    "noise": sensor_noise,
    "jpeg": lambda im, rng: jpeg(im, rng.randint(25, 80)),
}


def random_query(img: Image.Image, rng: random.Random) -> tuple[tuple[str, ...], Image.Image]:
    """One, two or three perturbation families with random parameters, applied in camera order."""
    n = rng.choice((1, 2, 2, 3))
    chosen = set(rng.sample(FAMILIES, n))
    out = img.convert("RGB")
    for name in ORDER:
        if name in chosen:
            out = RANDOM[name](out, rng)
    return tuple(name for name in ORDER if name in chosen), out
