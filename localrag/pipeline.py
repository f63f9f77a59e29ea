"""A bounded hand-off between two pipeline stages running in different threads."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


class Prefetch(Generic[T]):
    """Runs an iterator in a thread, at most `depth` items ahead of its consumer.

    The producer's work (parsing, rendering, PNG encoding: C code that releases the GIL)
    overlaps with the consumer's (OCR, embedding). An exception in the producer reaches the
    consumer at the point in the stream where it happened; `close()` stops the producer
    early, e.g. when the consumer aborts the run.
    """

    def __init__(self, items: Iterator[T], depth: int = 1) -> None:
        """Start producing at once."""
        self._items = items
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="localrag-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
        except BaseException as exc:  # delivered to the consumer, raised there
            self._put(_Raised(exc))
            return
        finally:
            close = getattr(self._items, "close", None)
            if close is not None and self._stop.is_set():
                close()
        self._put(_END)

    def __iter__(self) -> Iterator[T]:
        """Items in the producer's order."""
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop the producer and wait for it (it finishes the item in hand first)."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.1)
        self._thread.join()

    def __enter__(self) -> Prefetch[T]:
        """Use as a context manager so an abort always stops the producer."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the producer."""
        self.close()


class _Raised:
    """An exception crossing from the producer thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


__all__ = ["Prefetch"]
