"""The persistent keyword index: written with each file, the same BM25 ranking, nothing built at start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SAMPLE, run

from localrag.config import Settings
from localrag.engine import Engine
from localrag.retrieve.keyword import KeywordIndex, PersistentKeyword, keyword_row
from localrag.state import LENGTH_MASK, State

QUERIES = [
    "how do I replace the filter cartridge",
    "error code E3 blinking light",
    "wiring diagram relay pump motor",
    "descale the tank with citric acid",
    "the",
    "warranty",
    "zzzq xqxqx",
    "inlet valve solenoid 24 V",
]


def _keyword(home: Path) -> tuple[KeywordIndex, PersistentKeyword, list[tuple[str, str]]]:
    reader = Engine(Settings(data_dir=home)).retriever()
    docs = [(i, d) for name in ("text", "figures") for i, d, _ in reader.store.all_documents(name)]
    assert isinstance(reader.keyword, PersistentKeyword)
    return KeywordIndex(docs), reader.keyword, docs


def test_persistent_ranking_equals_in_memory_bm25(indexed_home: Path) -> None:
    memory, persistent, docs = _keyword(indexed_home / "data")
    assert persistent.lengths  # a new index ranks from its posting lists
    by_fts5 = PersistentKeyword(persistent.db)
    queries = QUERIES + [d[:60] for _, d in docs]
    for q in queries:
        a, b = memory.search(q, 40), persistent.search(q, 40)
        assert [round(s, 9) for _, s in a] == [round(s, 9) for _, s in b], q
        assert {i for i, _ in a} == {i for i, _ in b}, q
        assert _same(by_fts5.search(q, 40), b), q
    assert persistent.search("zzzq xqxqx", 5) == []
    # the answerer weighs question words with the same idf
    assert dict(persistent.idf) == pytest.approx(memory.idf)
    assert persistent.max_idf == pytest.approx(memory.max_idf)
    assert "zzzq" not in persistent.idf and persistent.idf.get("zzzq") is None


def test_keyword_rows_follow_reindex_remove_and_prune(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    note = docs / "note.md"
    note.write_text("# Pump\n\nThe peristaltic pump needs a new tube every 900 hours.\n")
    shutil.copy(SAMPLE, docs / SAMPLE.name)
    home = tmp_path / "data"
    assert run(home, "index", str(docs)).exit_code == 0

    def hits(q: str) -> list[str]:
        state = State(home / "state.sqlite", readonly=True)
        return [i for i, _ in PersistentKeyword(state.db).search(q, 10)]

    assert len(hits("peristaltic tube")) == 1
    note.write_text("# Pump\n\nThe diaphragm pump is sealed for life.\n")
    assert run(home, "index", str(docs)).exit_code == 0
    assert hits("peristaltic tube") == [] and len(hits("diaphragm")) == 1
    assert run(home, "remove", str(note)).exit_code == 0
    assert hits("diaphragm") == []
    (docs / SAMPLE.name).unlink()
    assert hits("cartridge")
    assert run(home, "index", "--prune", str(docs)).exit_code == 0
    assert hits("cartridge") == []
    assert len(hits("diaphragm")) == 1  # the note, removed from the index but not from disk, is back
    state = State(home / "state.sqlite", readonly=True)
    assert state.db.execute("SELECT count(*) FROM keyword_docs").fetchone()[0] == 1


def test_an_index_without_the_table_is_searched_then_filled_by_the_next_run(fresh_copy: Path) -> None:
    home = fresh_copy / "data"
    state = State(home / "state.sqlite")
    with state.db:  # what an index written before the keyword table looks like
        state.db.execute("DELETE FROM keyword")
        state.db.execute("DELETE FROM keyword_docs")
        state.db.execute("DELETE FROM meta WHERE key='keyword'")
    state.close()
    reader = Engine(Settings(data_dir=home)).retriever()
    assert isinstance(reader.keyword, KeywordIndex)
    before = reader.keyword.search("replace the filter cartridge", 10)
    assert before
    res = run(home, "index", str(fresh_copy / "docs"))  # a copy: a new source, and the rebuild
    assert res.exit_code == 0, res.output
    memory, persistent, docs = _keyword(home)
    n_rows = State(home / "state.sqlite", readonly=True).db.execute("SELECT count(*) FROM keyword_docs")
    assert n_rows.fetchone()[0] == len(docs)
    for q in QUERIES:
        assert [round(s, 9) for _, s in persistent.search(q, 10)] == [
            round(s, 9) for _, s in memory.search(q, 10)
        ]


def _state_with(tmp_path: Path, texts: list[str]) -> State:
    """A state DB whose keyword table holds these texts, one file each."""
    state = State(tmp_path / "state.sqlite")
    for i, text in enumerate(texts):
        rid = f"r{i:04d}"
        state.commit_file(f"s{i}", f"sha{i}", (1, 1, 0), None, [], [keyword_row(rid, text)])
    return state


@pytest.mark.parametrize("lengths", [False, True], ids=["fts5-rank", "postings"])
def test_common_terms_only_score_documents_found_by_rarer_ones(tmp_path: Path, lengths: bool) -> None:
    filler = " ".join(f"w{j}" for j in range(30))
    texts = [f"fuse {'unit ' if i < 5 else ''}{filler}" for i in range(20)]  # long: "fuse" weighs less
    texts += ["unit unit unit short" for _ in range(150)]  # short, "unit" three times
    texts += [f"word{i} other" for i in range(830)]
    state = _state_with(tmp_path, texts)
    memory = KeywordIndex([(f"r{i:04d}", t) for i, t in enumerate(texts)])
    exact = PersistentKeyword(state.db, lengths=lengths)
    # "unit" (in 155) is common, "fuse" (in 20) is not
    pruned = PersistentKeyword(state.db, common=100, lengths=lengths)

    def fuse(rid: str) -> bool:
        return "fuse" in texts[int(rid[1:])]

    full = memory.search("fuse unit", 1000)
    assert not all(fuse(i) for i, _ in full[:20])  # short "unit" documents outrank some "fuse" ones
    # below the threshold nothing changes
    assert [round(s, 9) for _, s in exact.search("fuse unit", 20)] == [round(s, 9) for _, s in full[:20]]
    # the common term still scores, but only the documents that "fuse" finds
    got = pruned.search("fuse unit", 20)
    assert [round(s, 9) for _, s in got] == [round(s, 9) for i, s in full if fuse(i)][:20]
    assert all(fuse(i) for i, _ in got) and len(got) == 20
    assert {i for i, _ in got[:5]} == {f"r{i:04d}" for i in range(5)}  # "unit" lifted those holding both
    # a query of common terms alone searches them all
    assert [round(s, 9) for _, s in pruned.search("unit", 200)] == [
        round(s, 9) for _, s in memory.search("unit", 200)
    ]


def _same(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    """The same scores in order and the same ids (ties may come in either order)."""
    scores = [round(s, 9) for _, s in a] == [round(s, 9) for _, s in b]
    return scores and {i for i, _ in a} == {i for i, _ in b}


def _unkeyed(state: State) -> None:
    """Give the keyword rows plain sequential rowids, as an index made before lengths were in them."""
    with state.db:
        rows = state.db.execute(
            "SELECT d.id, d.source, k.body, d.ntok FROM keyword_docs d JOIN keyword k ON k.rowid = d.rowid "
            "ORDER BY d.rowid"
        ).fetchall()
        state.db.execute("DELETE FROM keyword")
        state.db.execute("DELETE FROM keyword_docs")
        for n, (rid, source, body, ntok) in enumerate(rows, start=1):
            state.db.execute("INSERT INTO keyword_docs VALUES (?,?,?,?)", (n, rid, source, ntok))
            state.db.execute("INSERT INTO keyword (rowid, body) VALUES (?,?)", (n, body))
        state.db.execute("DELETE FROM meta WHERE key='keyword_rowids'")


def test_rowids_carry_lengths_and_rank_a_long_document_exactly(tmp_path: Path) -> None:
    texts = [f"fuse {'w ' * i}" for i in range(40)] + ["fuse " + "pad " * 5000, "unit fuse", "other"]
    state = _state_with(tmp_path, texts)
    got = state.db.execute("SELECT rowid, ntok FROM keyword_docs").fetchall()
    assert all(r & LENGTH_MASK == min(n, LENGTH_MASK) for r, n in got)
    assert max(n for _, n in got) > LENGTH_MASK  # the padded one is capped
    memory = KeywordIndex([(f"r{i:04d}", t) for i, t in enumerate(texts)])
    want = memory.search("fuse unit", 50)
    ranked = PersistentKeyword(state.db, lengths=True, pool=10)  # a pool smaller than the matches
    assert [round(s, 9) for _, s in ranked.search("fuse unit", 5)] == [round(s, 9) for _, s in want[:5]]
    everything = PersistentKeyword(state.db, lengths=True)
    # the 5,001-token document is read as 4,095 tokens long only to choose the pool
    assert _same(everything.search("fuse unit", 50), want)


def test_an_older_index_is_searched_by_fts5_then_rekeyed_by_the_next_run(fresh_copy: Path) -> None:
    home = fresh_copy / "data"
    state = State(home / "state.sqlite")
    _unkeyed(state)
    state.close()
    reader = Engine(Settings(data_dir=home)).retriever()
    assert isinstance(reader.keyword, PersistentKeyword) and not reader.keyword.lengths
    before = {q: reader.keyword.search(q, 20) for q in QUERIES}
    n_before = State(home / "state.sqlite", readonly=True).db.execute("SELECT count(*) FROM keyword")
    n_before = n_before.fetchone()
    indexed = State(home / "state.sqlite", readonly=True).sources()
    res = run(home, "index", *indexed)  # the same files, unchanged: only the rekeying
    assert res.exit_code == 0, res.output
    state = State(home / "state.sqlite", readonly=True)
    assert state.keyword_lengths()
    assert state.db.execute("SELECT count(*) FROM keyword").fetchone() == n_before
    got = state.db.execute("SELECT rowid, ntok FROM keyword_docs").fetchall()
    assert all(r & LENGTH_MASK == n for r, n in got)
    reader = Engine(Settings(data_dir=home)).retriever()
    assert reader.keyword.lengths
    for q in QUERIES:
        assert _same(reader.keyword.search(q, 20), before[q]), q
