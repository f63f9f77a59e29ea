"""Figure crops, page renders and their features, stored by key under the data dir.

Writes go to a temporary file that is renamed into place, so a kill or a full disk never
leaves a truncated blob under a real name; an existing blob is verified before it is reused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image

from localrag.embed.orb import Features, features_path, save_features
from localrag.errors import DiskFullError, StoreError
from localrag.ingest.base import content_id

TMP_MARK = ".tmp-"


def key_for(name: str, suffix: str = ".png") -> str:
    """The relative key of a blob named by a content id, sharded by its first two characters."""
    return f"{name[:2]}/{name}{suffix}"


def page_key(file_sha: str, page: int) -> str:
    """The key of a page render: named by the file's content, so the server can find it too."""
    return key_for(content_id(file_sha, "page", page))


def features_key(image_key: str) -> str:
    """Where the ORB features of a stored figure live: the key of the file beside its PNG."""
    return features_path(Path(image_key)).as_posix()


def write_failed(path: Path, exc: OSError) -> StoreError:
    """A write error as the store error a user can act on."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"{path.parent}: no space left on device; free some space and run again")
    if exc.errno == errno.EROFS:
        return StoreError(f"{path.parent}: the index is on a read-only file system")
    return StoreError(f"{path}: cannot write ({exc.strerror or exc})")


class Blobs:
    """The blob folder of one data dir."""

    def __init__(self, root: Path) -> None:
        """Nothing is created until the first write."""
        self.root = root

    def path(self, key: str) -> Path:
        """Absolute path of a key; absolute keys (older indexes) pass through."""
        p = Path(key)
        return p if p.is_absolute() else self.root / key

    def key(self, path: Path | str) -> str:
        """The key of a path under root (absolute paths from older indexes map back)."""
        p = Path(path)
        try:
            return str(p.relative_to(self.root))
        except ValueError:
            return str(p)

    def put_png(self, key: str, img: Image.Image, force: bool = False) -> str:
        """Write a PNG atomically unless a valid one is already there; returns the key."""
        dst = self.path(key)
        if not force and self.valid(key):
            return key
        self._atomic(dst, lambda tmp: img.save(tmp, "PNG", optimize=False, compress_level=3))
        return key

    def put_features(self, key: str, feats: Features, force: bool = False) -> str:
        """Write ORB features atomically unless they are already there and readable."""
        dst = self.path(key)
        if not force and dst.exists() and _npz_ok(dst):
            return key
        self._atomic(dst, lambda tmp: save_features(feats, tmp))
        return key

    def _atomic(self, dst: Path, write: Callable[[Path], object]) -> None:
        # per thread too: the indexer writes figures from several threads at once
        tmp = dst.with_name(f"{dst.name}{TMP_MARK}{os.getpid()}-{threading.get_ident()}{dst.suffix}")
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            write(tmp)
            tmp.replace(dst)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise write_failed(dst, exc) from exc

    def valid(self, key: str) -> bool:
        """Whether a blob exists and is intact (PNG chunks and CRCs, or a readable archive)."""
        p = self.path(key)
        if not p.is_file():
            return False
        if p.suffix == ".npz":
            return _npz_ok(p)
        try:
            with Image.open(p) as im:
                im.verify()
        except Exception:  # any decoder complaint means the blob cannot be served
            return False
        return True

    def files(self) -> Iterator[str]:
        """Every file under root, as keys."""
        if not self.root.is_dir():
            return
        for dirpath, _, names in os.walk(self.root):
            for name in names:
                yield str((Path(dirpath) / name).relative_to(self.root))

    def remove(self, key: str) -> None:
        """Delete a blob; a missing one is fine."""
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def collect(self, referenced: set[str]) -> list[str]:
        """Delete every file that no record references (and stray temporaries); returns their keys."""
        gone = [k for k in self.files() if k not in referenced]
        for k in gone:
            self.remove(k)
        return gone


def _npz_ok(path: Path) -> bool:
    import numpy as np

    try:
        with np.load(path) as z:
            _ = z["descriptors"], z["points"], z["size"]
    except Exception:  # truncated or foreign archives raise several unrelated types
        return False
    return True


__all__ = ["TMP_MARK", "Blobs", "features_key", "key_for", "write_failed"]
