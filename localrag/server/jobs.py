"""Index jobs: one worker thread writes the index while queries go on."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localrag.engine import Engine
from localrag.errors import LocalragError
from localrag.indexer import ProgressSink


@dataclass
class Job:
    """One index run as the API reports it."""

    id: str
    paths: list[str]
    prune: bool = False
    force: bool = False
    state: str = "queued"  # queued | running | done | failed
    files_total: int = 0
    files_done: int = 0
    pages: int = 0
    figures: int = 0
    summary: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        """The `GET /v1/jobs/{id}` document."""
        return {
            "id": self.id,
            "state": self.state,
            "paths": self.paths,
            "progress": {
                "files_total": self.files_total,
                "files_done": self.files_done,
                "pages": self.pages,
                "figures": self.figures,
            },
            "summary": self.summary,
            "error": self.error,
        }


class _Sink(ProgressSink):
    def __init__(self, job: Job) -> None:
        self.job = job

    def start(self, total_files: int) -> None:
        self.job.files_total = total_files

    def file_done(self, source: str, pages: int, figures: int) -> None:
        self.job.files_done += 1
        self.job.pages += pages

    def figures(self, n: int) -> None:
        self.job.figures += n


class Jobs:
    """A queue of index jobs and the one thread that runs them."""

    def __init__(self, engine: Engine) -> None:
        """The worker starts on the first job."""
        self.engine = engine
        self.jobs: dict[str, Job] = {}
        self.queue: queue.Queue[Job] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self.writing = threading.Lock()  # held by each job; other writes (a delete) wait for it

    def submit(self, paths: list[Path], prune: bool = False, force: bool = False) -> Job:
        """Queue a job; returns it at once."""
        job = Job(uuid.uuid4().hex[:12], [str(p) for p in paths], prune, force)
        self.jobs[job.id] = job
        self.queue.put(job)
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="localrag-index", daemon=True)
                self._worker.start()
        return job

    @property
    def depth(self) -> int:
        """Jobs waiting to run."""
        return self.queue.qsize()

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            job.state = "running"
            try:
                self.writing.acquire()
                s = self.engine.index([Path(p) for p in job.paths], job.prune, job.force, _Sink(job))
                job.summary = s.as_json()
                job.state = "failed" if s.aborted else "done"
                job.error = str(s.aborted) if s.aborted else None
            except LocalragError as exc:
                job.state, job.error = "failed", str(exc)
            except Exception as exc:  # a bug must fail the job, never the worker
                job.state, job.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
            finally:
                if self.writing.locked():
                    self.writing.release()
                self.queue.task_done()
