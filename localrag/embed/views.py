"""View vectors: the image vector of a figure's corners and centre, for photos of a part of it.

A photo that shows 50-85% of a figure moves its global vector far from the whole figure's
(the layout the descriptor encodes has shifted). Scoring a shortlisted figure by the best of
its whole and its windows recovers those photos (asymptote.pdf, random crops: 0.88 to 0.93
of targets in the verified shortlist). The vectors are computed at index time and stored in
the figure's feature file, so a query only reads them for the figures it shortlists.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from localrag.embed.base import ImageEmbedder
from localrag.embed.orb import Features
from localrag.embed.phash import phash

KEEP = 0.7  # each window keeps this share of each side


def windows(img: Image.Image, keep: float = KEEP) -> list[Image.Image]:
    """The four corner windows and the centre window of an image."""
    w, h = img.size
    cw, ch = max(1, int(w * keep)), max(1, int(h * keep))
    corners = ((0, 0), (w - cw, 0), (0, h - ch), (w - cw, h - ch), ((w - cw) // 2, (h - ch) // 2))
    return [img.crop((x, y, x + cw, y + ch)) for x, y in corners]


def figure_features(embedder: ImageEmbedder, img: Image.Image) -> Features:
    """A figure's local features, its view vectors (named by the embedder that made them) and its hash."""
    vecs = embedder.embed_images(windows(img))
    return replace(
        embedder.features(img),
        views=np.asarray(vecs, np.float32),
        views_model=embedder.fingerprint,
        phash=phash(img),
    )


def view_scores(feats: Features, vectors: np.ndarray, fingerprint: str) -> float | None:
    """The best similarity of a query vector (or rows of them) to a figure's windows.

    None without usable views.
    """
    v, q = feats.views, np.atleast_2d(vectors)
    if v is None or feats.views_model != fingerprint or v.ndim != 2 or v.shape[1] != q.shape[1]:
        return None
    return max(float((v @ row).max()) for row in q)
