"""Spatial verification: ORB features matched under a RANSAC homography."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from localrag.embed.orb import Features, features, load_features, save_features

MIN_INLIERS = 25
MIN_INLIER_RATIO = 0.3  # of ratio-test survivors: repeated corners in line art fool counts alone
SURE_INLIERS = 50  # this many agreeing points is a match whatever the ratio (large crops)


@dataclass(frozen=True)
class Match:
    """A verified match: inliers and the region of the figure the query covers."""

    inliers: int
    region: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the figure


_matcher = cv2.BFMatcher(cv2.NORM_HAMMING)


def verify(query: Features, cand: Features) -> Match | None:
    """Match query to candidate; a homography with enough inliers is a verified match."""
    if query.descriptors is None or cand.descriptors is None:
        return None
    if len(query.descriptors) < 8 or len(cand.descriptors) < 8:
        return None
    pairs = _matcher.knnMatch(query.descriptors, cand.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None
    src = query.points[[m.queryIdx for m in good]]
    dst = cand.points[[m.trainIdx for m in good]]
    hom, mask = cv2.findHomography(src, dst, cv2.RANSAC, 6.0)
    if hom is None or mask is None:
        return None
    inl = int(mask.sum())
    if inl < MIN_INLIERS or (inl < SURE_INLIERS and inl < MIN_INLIER_RATIO * len(good)):
        return None
    if not _plausible(hom):
        return None
    pts = dst[mask.ravel().astype(bool)]
    w, h = cand.size
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    return Match(inl, (float(x0 / w), float(y0 / h), float(x1 / w), float(y1 / h)))


def _plausible(hom: np.ndarray) -> bool:
    """Reject mirrored, collapsed or wildly projective homographies."""
    a = hom[:2, :2] / hom[2, 2]
    det = float(np.linalg.det(a))
    return 0.01 < det < 100 and abs(hom[2, 0] / hom[2, 2]) < 0.005 and abs(hom[2, 1] / hom[2, 2]) < 0.005


__all__ = ["MIN_INLIERS", "Features", "Match", "features", "load_features", "save_features", "verify"]
