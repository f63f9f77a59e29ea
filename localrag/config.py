"""Runtime settings: where the index lives, which profile, how many threads."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from localrag.registry import Registry, load_registry
from localrag.store.location import StoreLocation


def default_data_dir() -> Path:
    """$LOCALRAG_HOME, else the platform's per-user data folder."""
    env = os.environ.get("LOCALRAG_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "localrag"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "localrag"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "localrag"


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/localrag: files that can be made again (exported graphs, corpora, weights)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "localrag"


def default_threads() -> int:
    """Physical-ish core count: llama.cpp gets slower, not faster, on hyperthreads."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, n if n <= 4 else n // 2)


@dataclass
class Settings:
    """Everything a pipeline run needs to know, resolved once."""

    data_dir: Path = field(default_factory=default_data_dir)
    profile: str = field(default_factory=lambda: os.environ.get("LOCALRAG_PROFILE", "default"))
    registry_path: Path | None = None
    n_threads: int = field(default_factory=default_threads)
    store: str | None = field(default_factory=lambda: os.environ.get("LOCALRAG_STORE") or None)
    describer_urls: tuple[str, ...] = ()  # OpenAI-compatible servers that describe figures
    _registry: Registry | None = field(default=None, repr=False)

    @property
    def registry(self) -> Registry:
        """The parsed models.yaml (read once)."""
        if self._registry is None:
            self._registry = load_registry(self.registry_path)
        return self._registry

    @property
    def chroma_dir(self) -> Path:
        """Chroma's persistent folder."""
        return self.data_dir / "chroma"

    @property
    def store_location(self) -> StoreLocation:
        """--store / $LOCALRAG_STORE: the embedded folder by default, or a Chroma server."""
        return StoreLocation.parse(self.store, self.chroma_dir)

    @property
    def blobs_dir(self) -> Path:
        """Figure crops and page renders, by content id."""
        return self.data_dir / "blobs"

    @property
    def state_db(self) -> Path:
        """SQLite file for the file manifest and the description cache."""
        return self.data_dir / "state.sqlite"
