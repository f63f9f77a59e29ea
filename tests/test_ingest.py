"""Ingest on the real sample manual and on every kind of bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
from badfiles import bomb_png, corrupt_pdf, encrypted_pdf, good_text, symlink_loop, text_as_png, unprivileged
from conftest import SAMPLE

from localrag.errors import IngestError
from localrag.ingest import discover, file_sha256, open_image, parse_file
from localrag.ingest.chunking import chunk_page
from localrag.ingest.pdf import cluster_boxes, running_lines


@pytest.fixture(scope="module")
def sample_doc():
    return parse_file(SAMPLE, file_sha256(SAMPLE))


def test_sample_manual_pages_text_and_figures(sample_doc):
    assert sample_doc.pages == 9
    assert {c.page for c in sample_doc.chunks} >= set(range(1, 9))
    kinds = [f.kind for f in sample_doc.figures]
    assert kinds.count("vector") >= 4
    assert kinds.count("raster") == 2
    assert sorted(sample_doc.page_images) == list(range(1, 10))


def test_captions_are_attached_to_their_figures(sample_doc):
    by_caption = {f.caption.split(":")[0]: f for f in sample_doc.figures}
    assert set(by_caption) == {f"Figure {n}" for n in range(1, 8)}
    assert by_caption["Figure 3"].page == 4 and by_caption["Figure 3"].kind == "vector"
    assert by_caption["Figure 7"].kind == "raster"
    assert "O-ring" in by_caption["Figure 4"].context or "cartridge" in by_caption["Figure 4"].context


def test_ruled_table_is_not_a_figure(sample_doc):
    assert not [f for f in sample_doc.figures if f.page == 8]
    assert any("Fuse F1 blown" in c.text for c in sample_doc.chunks if c.page == 8)


def test_running_header_is_stripped(sample_doc):
    assert not any("Owner's Manual" in c.text for c in sample_doc.chunks if c.page > 1)
    assert running_lines(["Head\nA", "Head\nB", "Head\nC"]) == {"head"}


def test_ids_are_stable_across_parses(sample_doc):
    again = parse_file(SAMPLE, file_sha256(SAMPLE))
    assert [f.image_sha for f in again.figures] == [f.image_sha for f in sample_doc.figures]
    assert [c.text for c in again.chunks] == [c.text for c in sample_doc.chunks]


def test_cluster_boxes_groups_nearby_and_separates_far():
    boxes = [(0, 0, 10, 10), (12, 0, 20, 10), (200, 200, 210, 210)]
    groups = sorted(sorted(g) for g in cluster_boxes(boxes, gap=5))
    assert groups == [[0, 1], [2]]


def test_chunking_keeps_page_and_bounds_size():
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = chunk_page(7, text, max_chars=300)
    assert len(chunks) > 5
    assert all(c.page == 7 and len(c.text) <= 360 for c in chunks)


def test_text_and_markdown(tmp_path):
    md = good_text(tmp_path / "kettle.md")
    doc = parse_file(md, file_sha256(md))
    assert doc.chunks and doc.chunks[0].page == 1


@pytest.mark.parametrize(
    ("make", "name", "reason"),
    [
        (corrupt_pdf, "broken.pdf", "not a readable PDF"),
        (encrypted_pdf, "locked.pdf", "encrypted PDF"),
        (text_as_png, "fake.png", "not an image"),
        (bomb_png, "bomb.png", "decompression bomb"),
    ],
)
def test_bad_files_raise_a_named_reason(tmp_path, make, name, reason):
    path = make(tmp_path / name)
    with pytest.raises(IngestError) as err:
        parse_file(path, file_sha256(path))
    assert err.value.path == str(path)
    assert reason in err.value.reason


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(IngestError, match="empty file"):
        file_sha256(path)


def test_symlink_loop_is_reported(tmp_path):
    loop = symlink_loop(tmp_path)
    errors: list[IngestError] = []
    found = list(discover([tmp_path], errors.append))
    assert found == []
    assert {e.reason for e in errors} == {"symlink loop"}
    assert str(loop) in {e.path for e in errors}


def test_unreadable_file(tmp_path):
    path = good_text(tmp_path / "secret.txt")
    path.chmod(0)
    code = (
        "import sys; from pathlib import Path; from localrag.ingest import file_sha256\n"
        "from localrag.errors import IngestError\n"
        f"try:\n file_sha256(Path({str(path)!r}))\nexcept IngestError as e:\n print(e.reason); sys.exit(0)\n"
        "sys.exit(1)"
    )
    out = subprocess.run(
        [*unprivileged(), sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "permission denied" in out.stdout


def test_a_missing_image_is_named_as_missing(tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        open_image(tmp_path / "nope.jpg")
    with pytest.raises(IngestError, match="is a folder"):
        open_image(tmp_path)
