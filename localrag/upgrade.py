"""Upgrade an index made by an older localrag (format 1) in place, without re-embedding anything.

Format 1 stored sources as typed (relative or absolute), record ids without the source,
and absolute blob paths. Format 2 keys every record by its absolute source and refers to
blobs by a key relative to the data dir, which the state DB tracks per source.
"""

from __future__ import annotations

from pathlib import Path

from localrag.ingest import content_id
from localrag.sources import source_of
from localrag.state import FORMAT, State
from localrag.store import COLLECTIONS, Store
from localrag.store.blobs import Blobs, features_key


def upgrade(state: State, store: Store, blobs: Blobs) -> list[str]:
    """Re-key every record by its resolved source; returns notes for the user.

    Relative sources are resolved against the working directory, as the command that
    indexed them would have. Safe to interrupt: a re-run finishes the job, since every
    step re-keys only what still carries the old spelling.
    """
    notes = []
    for row in state.files():
        new = source_of(Path(row.source))
        keys: set[str] = set()
        found = {}
        for name in COLLECTIONS:
            recs = store.records(name, store.ids_for_source(name, row.source))
            found[name] = len(recs)
            for r in recs:
                r.metadata["source"] = new
                if r.metadata.get("image"):
                    key = blobs.key(str(r.metadata["image"]))
                    r.metadata["image"] = key
                    keys.add(key)
                    if blobs.path(features_key(key)).exists():
                        keys.add(features_key(key))
            old_ids = [r.id for r in recs]
            for r in recs:
                r.id = content_id(new, r.id)
            if recs:
                store.add(name, recs)
                store.delete_ids(name, [i for i in old_ids if i not in {r.id for r in recs}])
        intact = found["text"] == row.chunks and found["figures"] == found["figure_images"] == row.figures
        # format 1 let identical files at two paths share records: whichever lost them is re-indexed
        sha = row.sha256 if intact else ""
        if new != row.source:
            state.drop_file(row.source)
        state.commit_file(new, sha, (row.pages, row.chunks, row.figures), row.path, keys)
        if not intact:
            state.mark_pending(new)
            notes.append(f"{new}: its records were mixed up by an older localrag; it will be re-indexed")
    state.set_meta("format", str(FORMAT))
    notes.insert(0, f"upgraded the index at {state.path.parent} to format {FORMAT}")
    return notes


__all__ = ["upgrade"]
