"""Invariants of an index, checked and (where possible) repaired.

An index is consistent when every file in the state DB has exactly the records it was
indexed with, every record belongs to such a file, every blob a record shows exists and
decodes, and no blob is left that nothing references.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localrag.sources import exists
from localrag.state import FORMAT, FileRow, State
from localrag.store import COLLECTIONS, Store
from localrag.store.blobs import TMP_MARK, Blobs, features_key


@dataclass(frozen=True)
class Violation:
    """One broken invariant."""

    kind: str
    subject: str
    detail: str

    def line(self) -> str:
        """One line for the terminal."""
        return f"{self.kind}: {self.subject}: {self.detail}"


@dataclass
class Report:
    """What a check found, and per-source counts for `status --json`."""

    violations: list[Violation] = field(default_factory=list)
    records: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> collection -> n
    blobs: int = 0
    format: int = FORMAT

    def add(self, kind: str, subject: str, detail: str) -> None:
        """Record a violation."""
        self.violations.append(Violation(kind, subject, detail))

    def sources(self, *kinds: str) -> set[str]:
        """Sources with violations of these kinds."""
        return {v.subject for v in self.violations if v.kind in kinds}

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.violations


# violations that make a source's records untrustworthy: re-index it (or drop it when gone)
SOURCE_KINDS = ("interrupted", "record-count", "missing-blob", "damaged-blob", "unowned-blob")


def count_records(store: Store) -> tuple[dict[str, dict[str, int]], dict[str, list[dict[str, Any]]]]:
    """Per-source record counts per collection, and every record's metadata by collection."""
    per: dict[str, dict[str, int]] = {}
    metas: dict[str, list[dict[str, Any]]] = {}
    for name in COLLECTIONS:
        rows = store.metadatas(name)
        metas[name] = [{"id": i, **m} for i, m in rows]
        for source, n in Counter(str(m.get("source", "")) for _, m in rows).items():
            per.setdefault(source, {c: 0 for c in COLLECTIONS})[name] = n
    return per, metas


def inspect(state: State, store: Store, blobs: Blobs) -> Report:
    """Check every invariant; nothing is changed."""
    report = Report(format=state.format)
    if state.format < FORMAT:
        report.add(
            "format",
            str(state.path.parent),
            f"made by an older localrag (format {state.format}); "
            "`localrag check --repair` or `localrag index` upgrades it",
        )
        return report
    rows = {r.source: r for r in state.files()}
    report.records, metas = count_records(store)
    for row in rows.values():
        _check_counts(row, report.records.get(row.source, {}), report)
    for source, counts in sorted(report.records.items()):
        if source not in rows:
            n = sum(counts.values())
            report.add("orphan-records", source or "(no source)", f"{n} record(s) of a file not in the index")
    fig_ids = {m["id"]: m for m in metas["figures"]}
    img_ids = {m["id"]: m for m in metas["figure_images"]}
    for rid in sorted(fig_ids.keys() ^ img_ids.keys()):
        source = str((fig_ids.get(rid) or img_ids[rid]).get("source", ""))
        if source in rows:
            report.add("record-count", source, f"figure {rid} lacks its description or its image vector")
    _check_blobs(state, blobs, metas, rows, report)
    return report


def _check_counts(row: FileRow, have: dict[str, int], report: Report) -> None:
    if row.pending:
        report.add("interrupted", row.source, "an index run stopped while replacing its records")
        return
    want = {"text": row.chunks, "figures": row.figures, "figure_images": row.figures}
    wrong = [f"{name} {have.get(name, 0)}/{n}" for name, n in want.items() if have.get(name, 0) != n]
    if wrong:
        report.add("record-count", row.source, "records found/expected: " + ", ".join(wrong))


def _check_blobs(
    state: State,
    blobs: Blobs,
    metas: dict[str, list[dict[str, Any]]],
    rows: dict[str, FileRow],
    report: Report,
) -> None:
    owners = state.blob_owners()
    used: dict[str, set[str]] = {}  # blob key -> sources whose records show it
    for name in COLLECTIONS:
        for m in metas[name]:
            if m.get("image") and m.get("source") in rows:
                key = blobs.key(str(m["image"]))
                used.setdefault(key, set()).add(str(m["source"]))
                if m.get("kind") == "figure":
                    used.setdefault(features_key(key), set()).add(str(m["source"]))
    files = set(blobs.files())
    report.blobs = len(files)
    damaged: set[str] = set()
    for key, sources in sorted(used.items()):
        for source in sorted(sources - owners.get(key, set())):
            report.add("unowned-blob", source, f"shows {key}, which the state DB does not list for it")
        if key not in files:
            for source in sorted(sources):
                report.add("missing-blob", source, f"{key} does not exist")
        elif not blobs.valid(key):
            damaged.add(key)
            for source in sorted(sources):
                report.add("damaged-blob", source, f"{key} is truncated or corrupt")
    for key in sorted(files - set(owners)):
        what = "a temporary file left by an interrupted write" if TMP_MARK in key else "nothing references it"
        report.add("orphan-blob", key, what)
    for key in sorted(set(owners) - files - set(used)):
        for source in sorted(owners[key]):
            report.add("missing-blob", source, f"{key} does not exist")


def repair(report: Report, state: State, store: Store, blobs: Blobs) -> tuple[list[str], list[Path]]:
    """Remove what cannot be trusted; returns notes and the files to index again.

    Orphan records and blobs are deleted. A source with wrong counts or damaged blobs loses
    its records and its damaged blobs; the caller re-indexes it when the file still exists.
    """
    notes: list[str] = []
    orphans = {v.subject for v in report.violations if v.kind == "orphan-records"}
    for name in COLLECTIONS:
        ids = [
            i for i, m in store.metadatas(name) if str(m.get("source", "")) in orphans or not m.get("source")
        ]
        store.delete_ids(name, ids)
    notes.extend(f"removed the orphan records of {s}" for s in sorted(orphans))
    for v in report.violations:
        if v.kind == "damaged-blob":
            blobs.remove(v.detail.split(" ", 1)[0])
    rows = {r.source: r for r in state.files()}
    again: list[Path] = []
    for source in sorted(report.sources(*SOURCE_KINDS)):
        row = rows.get(source)
        state.mark_pending(source)
        store.delete_source(source)
        if row is not None and exists(source, row.path):
            again.append(Path(os.fsdecode(row.path) if row.path else source))
            notes.append(f"re-indexing {source}")
        else:
            state.drop_file(source)
            notes.append(f"removed {source}: the file is gone")
    gone = blobs.collect(state.blob_keys())
    if gone:
        notes.append(f"deleted {len(gone)} blob(s) that nothing referenced")
    return notes, again


__all__ = ["SOURCE_KINDS", "Report", "Violation", "count_records", "inspect", "repair"]
