"""Find the printed page in a query photo and undo its tilt.

A phone shot of a printed figure shows the table around the paper and a page seen at an
angle. Left as they are, the paper's outline is a frame that every such photo shares, the
table widens the content box the global vector is laid out on, and the tilt bends the layout.
When a darker surround is found on every side of one bright, convex, four-cornered region,
that region is warped back to a rectangle. Anything less clear leaves the photo untouched:
a clean render, a screenshot with a dark title bar, or a vignetted corner is never cut.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

DETECT_SIDE = 400  # the outline is found on a copy this size; the warp uses the full photo
MIN_STEP = 20  # grey levels a surround region must be darker than what borders it
FLOOD_DIFF = 3  # neighbouring pixels within this many grey levels belong to one region
MIN_SOLIDITY = 0.93  # the paper must fill its convex hull: a leak into the drawing is not a page
INSET = 3  # pixels at DETECT_SIDE the corners move inward: the dilated outline lies on the edge
MAX_ROUNDING = 0.02  # of the shorter side: how far a page's corner may lie from its outline
MIN_PAPER = 0.08  # share of the photo the paper must cover (a page shot from afar is still found)


def find_paper(img: Image.Image) -> np.ndarray | None:
    """The paper's corners (top-left, top-right, bottom-right, bottom-left) in img's pixels."""
    g = np.asarray(img.convert("L"), dtype=np.uint8)
    h, w = g.shape
    s = min(1.0, DETECT_SIDE / max(h, w))
    if s < 1:
        g = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    if min(g.shape) < 24:
        return None
    g = cv2.GaussianBlur(g, (0, 0), 1.5)  # sensor noise and JPEG blocks would split regions
    h, w = g.shape
    if np.median(g[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]) < 110:
        g = 255 - g  # dark mode or a negative; the middle decides, since a dark table may be most of it
    quad = _paper_on_table(g)
    return None if quad is None else quad / s


def _paper_on_table(g: np.ndarray) -> np.ndarray | None:
    """The corners of a bright page whose every side borders a darker surround, in g's pixels."""
    edges = cv2.dilate(cv2.Canny(g, 15, 40), np.ones((3, 3), np.uint8)) > 0
    flooded, surround = _border_regions(g, edges)
    if surround.mean() < 0.01 or flooded.mean() > 1 - MIN_PAPER:
        return None
    ring = np.concatenate([flooded[0], flooded[-1], flooded[:, 0], flooded[:, -1]])
    if ring.mean() < 0.9:  # the paper runs off the photo somewhere: its outline is unknown
        return None
    return _paper_quad(~flooded)


def _border_regions(g: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regions flooded from the photo's border (edges are barriers), and those darker than their rim."""
    sh, sw = g.shape
    mask = np.zeros((sh + 2, sw + 2), np.uint8)
    mask[1:-1, 1:-1] = edges
    step = max(1, min(sh, sw) // 48)
    seeds = (
        [(x, 0) for x in range(0, sw, step)]
        + [(x, sh - 1) for x in range(0, sw, step)]
        + [(0, y) for y in range(0, sh, step)]
        + [(sw - 1, y) for y in range(0, sh, step)]
    )
    label = 1  # mask value 1 marks the edges
    for x, y in seeds:
        if mask[y + 1, x + 1] or label == 255:
            continue
        label += 1
        flags = 4 | cv2.FLOODFILL_MASK_ONLY | (label << 8)
        cv2.floodFill(g, mask, (x, y), 0, FLOOD_DIFF, FLOOD_DIFF, flags)
    labels = mask[1:-1, 1:-1]
    flooded = labels >= 2
    surround = np.zeros_like(flooded)
    rim_kernel = np.ones((15, 15), np.uint8)
    areas = np.bincount(labels.ravel(), minlength=label + 1)
    for lab in np.flatnonzero(areas >= 0.002 * sh * sw):
        if lab < 2:
            continue
        region = labels == lab
        rim = cv2.dilate(region.astype(np.uint8), rim_kernel).astype(bool) & ~flooded & ~edges
        if rim.any() and float(np.median(g[rim])) - float(np.median(g[region])) >= MIN_STEP:
            surround |= region  # a table: darker than the paper it borders
    return flooded, surround


def _paper_quad(inside: np.ndarray) -> np.ndarray | None:
    """Four corners of the largest region not reached from the border, when it is a convex quad."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inside.astype(np.uint8), connectivity=4)
    if n < 2:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    paper = (labels == k).astype(np.uint8)
    area = float(paper.sum())
    if area < MIN_PAPER * paper.size:
        return None
    contours, _ = cv2.findContours(paper, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    hull = cv2.convexHull(outline)
    if area < MIN_SOLIDITY * cv2.contourArea(hull):
        return None
    perimeter = cv2.arcLength(hull, True)
    fits = (cv2.approxPolyDP(hull, eps * perimeter, True) for eps in (0.01, 0.02, 0.03, 0.05))
    quad = next((q for q in fits if len(q) == 4), None)
    if quad is None or not 0.9 < cv2.contourArea(quad) / area < 1.1:
        return None
    pts = quad.reshape(4, 2).astype(np.float32)
    centre = pts.mean(0)
    pts = pts[np.argsort(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0]))]  # tl, tr, br, bl
    if not _sharp_cornered(pts, outline.reshape(-1, 2).astype(np.float32)):
        return None
    toward = centre - pts
    return pts + INSET * toward / np.maximum(np.linalg.norm(toward, axis=1, keepdims=True), 1e-6)


def _sharp_cornered(quad: np.ndarray, outline: np.ndarray) -> bool:
    """Whether the outline's straight sides meet at its corners, as a sheet of paper's do.

    A product photographed on a backdrop (a rounded housing, a bottle) also gives a bright
    convex region; its sides' lines cross well outside its rounded outline.
    """
    lines = []
    for a, b in zip(quad, np.roll(quad, -1, axis=0), strict=True):
        side, rel = b - a, outline - a
        length = max(float(np.linalg.norm(side)), 1e-6)
        t = rel @ side / (length * length)
        dist = np.abs(side[0] * rel[:, 1] - side[1] * rel[:, 0]) / length
        near = outline[(t > 0.2) & (t < 0.8) & (dist < 4)]  # the side's middle, clear of the corners
        if len(near) < 2:
            return False
        vx, vy, x0, y0 = cv2.fitLine(near, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append(np.cross([x0, y0, 1.0], [x0 + vx, y0 + vy, 1.0]))  # the line, homogeneous
    reach = max(3.0, MAX_ROUNDING * min(np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)))
    for l1, l2 in zip(lines, lines[1:] + lines[:1], strict=True):
        x, y, z = np.cross(l1, l2)  # where neighbouring sides meet
        if abs(z) < 1e-9:
            return False
        if np.linalg.norm(outline - np.float32([x / z, y / z]), axis=1).min() > reach:
            return False
    return True


def rectify(img: Image.Image) -> Image.Image:
    """The paper warped to a rectangle when a photo shows one on a darker surround; else img itself."""
    quad = find_paper(img)
    if quad is None:
        return img
    tl, tr, br, bl = quad
    width = round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
    height = round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
    if min(width, height) < 16:
        return img
    target = np.float32([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])
    warp = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    rgb = np.asarray(img.convert("RGB"))
    out = cv2.warpPerspective(
        rgb, warp, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return Image.fromarray(out)
