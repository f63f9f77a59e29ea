"""Fuzzing: PDF and image loaders and the citation parser return a result or an IngestError, nothing else."""

from __future__ import annotations

import io
from pathlib import Path

from conftest import SAMPLE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from localrag.answer.claims import split_answer
from localrag.errors import IngestError
from localrag.ingest import ParsedDocument, parse_file

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
PDF = SAMPLE.read_bytes()


def _png() -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (64, 48), "white")
    img.paste((0, 0, 0), (10, 10, 50, 12))
    img.save(buf, "PNG")
    return buf.getvalue()


PNG = _png()


@st.composite
def mutated(draw: st.DrawFn, base: bytes, ops: tuple[str, ...] = ("cut", "flip", "dup", "zero")) -> bytes:
    """A file cut short, with bytes overwritten, or with a slice repeated: what disks and mailers do."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(ops))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "cut":
            del data[at:]
        elif op == "flip":
            data[at : at + 8] = draw(st.binary(min_size=1, max_size=8))
        elif op == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 4096))]
        else:
            data[at : at + 512] = bytes(min(512, len(data) - at))
        if not data:
            break
    return bytes(data)


def _parse(tmp: Path, name: str, raw: bytes) -> None:
    path = tmp / name
    path.write_bytes(raw)
    try:
        doc = parse_file(path, "0" * 64)
    except IngestError as err:
        assert err.reason and "\n" not in err.reason
        return
    assert isinstance(doc, ParsedDocument)


@FUZZ
@given(raw=st.one_of(mutated(PDF, ("flip", "zero")), mutated(PDF)))
def test_pdf_loader(tmp_path, raw):
    _parse(tmp_path, "m.pdf", raw)


@FUZZ
@given(raw=st.one_of(mutated(PNG), st.binary(max_size=2048)))
def test_image_loader(tmp_path, raw):
    _parse(tmp_path, "m.png", raw)


@FUZZ
@given(raw=st.binary(max_size=4096), suffix=st.sampled_from([".pdf", ".png", ".gif", ".tif", ".txt", ".md"]))
def test_any_bytes_under_any_name(tmp_path, raw, suffix):
    _parse(tmp_path, "x" + suffix, raw)


TOKENS = [*"[]0123456789, .!?\nAbc-", "[1]", "[2, 3]", "[1,1]", "[0]", "[99999999999999999999]", "Fuse F1 "]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(text=st.lists(st.sampled_from(TOKENS), max_size=60).map("".join), n=st.integers(0, 12))
def test_citation_parser(text, n):
    for s in split_answer(text, n):
        assert s.text.strip()
        assert all(1 <= c <= n for c in s.cites)
        assert len(set(s.cites)) == len(s.cites)
        s.rendered()
