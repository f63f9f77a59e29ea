"""Orchestration logic of retrieval and answering (no models needed)."""

from __future__ import annotations

from localrag.answer.answerer import (
    cited_numbers,
    focus,
    strip_bad_citations,
    supported_sentences,
)
from localrag.retrieve.fusion import rrf
from localrag.retrieve.keyword import KeywordIndex, tokenize


def test_rrf_rewards_agreement_and_keeps_signal_details():
    fused, details = rrf({"a": [("x", 0.9), ("y", 0.5)], "b": [("y", 3.0), ("z", 1.0)]})
    assert max(fused, key=fused.get) == "y"
    assert details["y"] == {"a": {"rank": 2, "score": 0.5}, "b": {"rank": 1, "score": 3.0}}


def test_keyword_index_finds_exact_part_numbers():
    idx = KeywordIndex([("1", "Replace fuse F1 with 2 A slow blow"), ("2", "Rinse the mesh")])
    assert idx.search("which fuse F1", 5)[0][0] == "1"
    assert "the" not in tokenize("the fuse")


def test_citations_keep_only_existing_evidence():
    assert cited_numbers("Do X [2]. Then Y [1, 2] and Z [9].", 3) == [2, 1]
    assert strip_bad_citations("Do X [7]. Then Y [1, 9].", 3) == "Do X . Then Y [1]."


def test_unsupported_and_degenerate_sentences_are_dropped():
    evidence = "Replace the CF-300 cartridge every 6 months. Fuse F1 is 2 A slow blow."
    answer = (
        "Replace the CF-300 cartridge every 6 months [1]. "
        "The warranty covers accidental damage worldwide. "
        "Fuse fuse fuse fuse fuse fuse fuse fuse fuse."
    )
    kept = supported_sentences(answer, evidence)
    assert kept == "Replace the CF-300 cartridge every 6 months [1]."
    assert supported_sentences("The fuse is 2A.", evidence) == "The fuse is 2A."
    assert supported_sentences("1. [1]", evidence) == ""


def test_focus_picks_the_relevant_sentences():
    text = "Intro words here. The fuse F1 is rated 2 A. Unrelated closing remark about colours."
    assert "fuse F1" in focus(text, "which fuse", 40)
