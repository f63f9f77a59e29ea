"""Procedural figures: out-of-corpus queries and filler for scale runs (seeded, no weights)."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw, ImageFilter

WORDS = (
    "valve pump motor relay sensor inlet outlet drain fan belt gear shaft seal bolt nut cap "
    "spring lever panel switch fuse lamp heater coil filter tank hose clamp bracket housing"
).split()


def diagram(seed: int, size: tuple[int, int] = (640, 420)) -> Image.Image:
    """A schematic-like line drawing: boxes, circles, wires, arrows and labels."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    w, h = size
    nodes = []
    for _ in range(rng.randint(4, 9)):
        x, y = rng.randint(20, w - 120), rng.randint(20, h - 80)
        bw, bh = rng.randint(40, 110), rng.randint(25, 70)
        if rng.random() < 0.3:
            d.ellipse((x, y, x + bh, y + bh), outline="black", width=2)
        else:
            d.rectangle((x, y, x + bw, y + bh), outline="black", width=2)
        d.text((x + 4, y + 4), rng.choice(WORDS), fill="black")
        nodes.append((x + bw // 2, y + bh // 2))
    for _ in range(rng.randint(4, 10)):
        (x1, y1), (x2, y2) = rng.sample(nodes, 2)
        if rng.random() < 0.5:
            d.line((x1, y1, x2, y1, x2, y2), fill="black", width=2)
        else:
            d.line((x1, y1, x2, y2), fill="black", width=2)
    for _ in range(rng.randint(0, 30)):  # hatching and ticks
        x, y = rng.randint(0, w), rng.randint(0, h)
        d.line((x, y, x + rng.randint(-30, 30), y + rng.randint(-30, 30)), fill="black", width=1)
    return img


def photo(seed: int, size: tuple[int, int] = (560, 420)) -> Image.Image:
    """A photo-like image: shaded blobs and noise."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randint(120, 230) for _ in range(3)))
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 8)):
        x, y = rng.randint(0, size[0]), rng.randint(0, size[1])
        r = rng.randint(30, 160)
        d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randint(0, 255) for _ in range(3)))
    img = img.filter(ImageFilter.GaussianBlur(3))
    noise = Image.effect_noise(size, 25).convert("RGB")
    return Image.blend(img, noise, 0.15)


def figure(seed: int) -> Image.Image:
    """Mostly diagrams, sometimes photos, as in manuals."""
    return photo(seed) if seed % 5 == 4 else diagram(seed)
