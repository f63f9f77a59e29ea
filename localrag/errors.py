"""One error hierarchy; only the CLI (and a server) translate these into user output."""

from __future__ import annotations

from pathlib import Path

from localrag.sources import printable


class LocalragError(Exception):
    """Base of every error localrag raises on purpose."""

    exit_code = 1


class ConfigError(LocalragError):
    """The configuration or the model registry is wrong."""

    exit_code = 2


class ModelError(LocalragError):
    """A model file is missing, tampered with, or cannot be loaded."""

    exit_code = 3


class ContextOverflowError(ModelError):
    """A prompt does not fit the model's context window."""


class ModelServerError(ModelError):
    """No configured model server answers, or a request failed on every one."""


class IngestError(LocalragError):
    """One input file cannot be read; names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        """Keep the path and reason separately so summaries can list them."""
        self.path = printable(path)  # a name that is not UTF-8 must not break the message
        super().__init__(f"{self.path}: {reason}")
        self.reason = reason


class StoreError(LocalragError):
    """The index cannot be used as asked (e.g. built by another model)."""

    exit_code = 4


class ModelMismatchError(StoreError):
    """The index was built by a different model than the one configured."""


class DiskFullError(StoreError):
    """A write to the data directory failed for lack of space."""


class IndexBusyError(StoreError):
    """Another process is writing to the same index."""
