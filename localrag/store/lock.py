"""One writer per data dir: two `index` runs at once would interleave their deletes and adds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from localrag.errors import IndexBusyError
from localrag.store.blobs import write_failed


@contextmanager
def writer_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data dir's write lock; refuse at once when another process holds it.

    The lock is an OS file lock, so a killed writer releases it with its last breath.
    """
    lock = FileLock(str(data_dir / "index.lock"), timeout=0)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout as exc:
        raise IndexBusyError(
            f"{data_dir}: another localrag process is writing to this index; wait for it to finish"
        ) from exc
    except OSError as exc:
        raise write_failed(data_dir / "index.lock", exc) from exc
    try:
        yield
    finally:
        lock.release()
