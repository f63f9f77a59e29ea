"""Build the visual-word vocabulary of the builtin image embedder (reproducible, no downloads).

    .venv/bin/python scripts/build_vocabulary.py   # writes localrag/data/orb-vocab-512.npz

ORB descriptors of seeded synthetic line drawings and photos are clustered (k-means on their
bits) into 512 binary words; idf weights come from the same sample. Line-drawing patches
(corners, line ends, arrow heads, glyph strokes) are generic, so the vocabulary does not need
the user's manuals.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from localrag.bench.synthetic import figure
from localrag.embed.orb import features

OUT = Path(__file__).resolve().parents[1] / "localrag" / "data" / "orb-vocab-512.npz"
K = 512


def build(k: int = K, n_images: int = 300, sample: int = 80_000) -> tuple[np.ndarray, np.ndarray]:
    """Packed binary words (k x 32 bytes) and their idf weights."""
    descs = [d for i in range(n_images) if (d := features(figure(50_000 + i)).descriptors) is not None]
    all_desc = np.concatenate(descs)
    rng = np.random.default_rng(0)
    all_desc = all_desc[rng.choice(len(all_desc), min(len(all_desc), sample), replace=False)]
    bits = np.unpackbits(all_desc, axis=1).astype(np.float32)
    cv2.setRNGSeed(0)
    crit = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 15, 0.01)
    _, labels, centers = cv2.kmeans(bits, k, None, crit, 1, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.ravel(), minlength=k)
    idf = np.log((len(labels) + 1) / (counts + 1)).astype(np.float32)
    return np.packbits(centers > 0.5, axis=1), idf


def main() -> int:
    """Write the vocabulary file."""
    words, idf = build()
    np.savez_compressed(OUT, words=words, idf=idf)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
