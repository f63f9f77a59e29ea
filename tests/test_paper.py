"""A photo of a printed page: the paper found on its table and straightened, and nothing else touched."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest
from conftest import SAMPLE, run_json
from PIL import Image, ImageOps

from localrag.embed.paper import find_paper, rectify
from localrag.evaluation.perturb import perspective, sensor_noise, uneven_light
from localrag.ingest import file_sha256, parse_file


@pytest.fixture(scope="module")
def figures():
    return parse_file(SAMPLE, file_sha256(SAMPLE)).figures


def on_table(img: Image.Image, rng: random.Random, grey: int = 110) -> tuple[Image.Image, np.ndarray]:
    """The figure warped onto a larger grey table; returns the photo and the paper's true corners."""
    w, h = img.size
    pad = int(0.25 * max(w, h))
    jitter = [(rng.uniform(-0.1, 0.1) * w, rng.uniform(-0.1, 0.1) * h) for _ in range(4)]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + pad + np.float32(jitter)
    warp = cv2.getPerspectiveTransform(src, dst)
    size = (w + 2 * pad, h + 2 * pad)
    out = cv2.warpPerspective(np.asarray(img.convert("RGB")), warp, size, borderValue=(grey, grey, grey))
    return Image.fromarray(out), dst


def gray(im: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Grey levels at a given size, flattened, to correlate two pictures of one figure."""
    return np.asarray(im.convert("L").resize(size), np.float32).ravel()


def test_the_paper_is_found_where_it_lies(figures):
    rng = random.Random(3)
    for fig in figures:
        photo, corners = on_table(fig.image, rng)
        found = find_paper(photo)
        assert found is not None, fig.caption
        err = np.linalg.norm(found - corners, axis=1).max()
        assert err < 0.03 * max(fig.image.size), (fig.caption, err)


def test_a_straightened_photo_looks_like_the_figure_again(figures):
    rng = random.Random(5)
    for fig in figures:
        photo, _ = on_table(fig.image, rng, grey=rng.randint(60, 170))
        photo = sensor_noise(uneven_light(photo, rng), rng)
        flat = rectify(photo)
        assert flat is not photo, fig.caption
        w, h = fig.image.size
        fw, fh = flat.size
        # corners moved at random are no true camera view: the aspect is recovered only roughly
        assert abs(fw / fh - w / h) < 0.2 * (w / h), (fig.caption, flat.size, fig.image.size)

        truth = gray(fig.image, (w, h))
        assert np.corrcoef(gray(flat, (w, h)), truth)[0, 1] > np.corrcoef(gray(photo, (w, h)), truth)[0, 1]


def test_dark_mode_photos_on_a_light_table_are_straightened(figures):
    fig = figures[0]
    photo, corners = on_table(ImageOps.invert(fig.image.convert("RGB")), random.Random(7), grey=180)
    found = find_paper(photo)
    assert found is not None
    assert np.linalg.norm(found - corners, axis=1).max() < 0.03 * max(fig.image.size)


def test_photos_without_a_table_are_left_alone(figures):
    rng = random.Random(9)
    for fig in figures:
        clean = fig.image.convert("RGB")
        lit = uneven_light(clean, rng)  # a vignette darkens the border, but it is no table
        for img in (clean, lit, ImageOps.invert(clean)):
            assert rectify(img) is img, fig.caption
    # a screenshot with a dark title bar along one side only: the bar is part of the figure
    shot = Image.new("RGB", (400, 300), "white")
    shot.paste((40, 40, 48), (0, 0, 400, 40))
    shot.paste((0, 0, 0), (50, 100, 350, 102))
    assert rectify(shot) is shot


def test_the_evaluations_tilted_photos_are_straightened(figures):
    rng = random.Random(11)
    found = sum(find_paper(perspective(f.image, rng)) is not None for f in figures for _ in range(4))
    assert found >= 0.75 * 4 * len(figures), found


def test_search_reports_a_straightened_photo(indexed_home, tmp_path, figures):
    wiring = next(f for f in figures if "Wiring" in f.caption)
    photo, _ = on_table(wiring.image, random.Random(13))
    tilted, plain = tmp_path / "tilted.jpg", tmp_path / "plain.png"
    photo.save(tilted)
    wiring.image.save(plain)
    found = run_json(indexed_home / "data", "search", "--image", str(tilted), "-k", "1")
    assert found["photo_rectified"] is True
    assert found["hits"][0]["caption"].startswith("Figure 3") and found["hits"][0]["match"]
    plain_found = run_json(indexed_home / "data", "search", "--image", str(plain), "-k", "1")
    assert plain_found["photo_rectified"] is False


def test_a_product_photo_on_a_backdrop_is_not_cut_to_the_product(indexed_home, tmp_path, figures):
    """The device on its grey backdrop is bright and convex, but its corners are round."""
    product = next(f for f in figures if "front view" in f.caption)
    assert rectify(product.image) is product.image
    photo = tmp_path / "product.png"
    product.image.save(photo)
    found = run_json(indexed_home / "data", "search", "--image", str(photo), "-k", "1")
    assert found["photo_rectified"] is False
    top = found["hits"][0]
    assert top["caption"].startswith("Figure 6") and top["match"]
