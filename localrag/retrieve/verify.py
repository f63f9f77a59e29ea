"""Spatial verification: ORB features matched under a RANSAC homography."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from localrag.embed.orb import Features, features, load_features, save_features

MIN_INLIERS = 25
MIN_INLIER_RATIO = 0.3  # of ratio-test survivors: repeated corners in line art fool counts alone
SURE_INLIERS = 50  # this many agreeing points is a match whatever the ratio (large crops)
# A weaker geometric agreement still orders candidates when nothing verifies (a blurred or
# noisy photo of a sparse plot keeps 8-24 inliers), but never counts as "the manual shows this".
WEAK_INLIERS = 8
WEAK_RANSAC_ITERS = 200  # finds a 40%-inlier consensus among 8-24 matches 99% of the time
# Agreeing points bunched into a spot this small (a share of the figure's width and of its
# height) are one corner matched again and again at several ORB scales, not a view of the
# figure: such a spot, 0.9% x 2.6% of a wrong figure, verified it with 41 inliers.
MIN_SPREAD = 0.05


@dataclass(frozen=True)
class Match:
    """A geometric match: inliers, the region of the figure the query covers, and whether it verifies."""

    inliers: int
    region: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the figure
    verified: bool = True


_matcher = cv2.BFMatcher(cv2.NORM_HAMMING)


def verify(query: Features, cand: Features) -> Match | None:
    """Match query to candidate; a homography with enough inliers is a verified match."""
    m = match(query, cand)
    return m if m is not None and m.verified else None


def match(query: Features, cand: Features) -> Match | None:
    """The plausible homography between query and candidate, verified or weak; None when none."""
    if query.descriptors is None or cand.descriptors is None:
        return None
    if len(query.descriptors) < 8 or len(cand.descriptors) < 8:
        return None
    pairs = _matcher.knnMatch(query.descriptors, cand.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    if len(good) < WEAK_INLIERS:
        return None
    src = query.points[[m.queryIdx for m in good]]
    dst = cand.points[[m.trainIdx for m in good]]
    # Too few matches to verify: a short search, enough to order candidates.
    iters = 2000 if len(good) >= MIN_INLIERS else WEAK_RANSAC_ITERS
    # OpenCV's USAC (SPRT model checks, local optimisation) rather than its classic RANSAC:
    # nearly the same verifications (63 of its 66 among 593 pairs, and 5 more) at a 30th of
    # the cost. The classic one ran all 2,000 iterations whenever nearly every match was an
    # outlier, the usual case for a wrong candidate: 6.1 s against 0.2 s for the 593
    # homographies of 71 asymptote.pdf photo queries.
    hom, mask = cv2.findHomography(src, dst, cv2.USAC_DEFAULT, 6.0, maxIters=iters)
    if hom is None or mask is None:
        return None
    inl = int(mask.sum())
    if inl < WEAK_INLIERS or not _plausible(hom):
        return None
    verified = inl >= MIN_INLIERS and (inl >= SURE_INLIERS or inl >= MIN_INLIER_RATIO * len(good))
    pts = dst[mask.ravel().astype(bool)]
    w, h = cand.size
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    if max((x1 - x0) / w, (y1 - y0) / h) < MIN_SPREAD:
        return None
    return Match(inl, (float(x0 / w), float(y0 / h), float(x1 / w), float(y1 / h)), verified)


def _plausible(hom: np.ndarray) -> bool:
    """Reject mirrored, collapsed or wildly projective homographies."""
    a = hom[:2, :2] / hom[2, 2]
    det = float(np.linalg.det(a))
    return 0.01 < det < 100 and abs(hom[2, 0] / hom[2, 2]) < 0.005 and abs(hom[2, 1] / hom[2, 2]) < 0.005


__all__ = [
    "MIN_INLIERS",
    "WEAK_INLIERS",
    "Features",
    "Match",
    "features",
    "load_features",
    "match",
    "save_features",
    "verify",
]
