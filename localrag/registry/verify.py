"""Check that model files are present and match their pinned sha256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from localrag.errors import LocalragError
from localrag.registry.spec import FileRef, ModelSpec

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Stream a file through sha256."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking one file of one model."""

    model_id: str
    what: str
    path: str | None
    status: str  # ok | missing | mismatch | unpinned | builtin | remote
    message: str

    @property
    def ok(self) -> bool:
        """Usable: verified, builtin, or present but not pinned."""
        return self.status in ("ok", "builtin", "unpinned", "remote")


def _check(model_id: str, what: str, ref: FileRef, expected_size: int | None) -> VerifyResult:
    if ref.builtin and not ref.verify:
        return VerifyResult(model_id, what, None, "builtin", "built into localrag, nothing to verify")
    try:
        path = ref.verify_path()
    except LocalragError as exc:
        return VerifyResult(model_id, what, None, "missing", str(exc))
    assert path is not None
    if not path.exists():
        return VerifyResult(model_id, what, str(path), "missing", f"file not found: {path}")
    if not ref.sha256:
        return VerifyResult(model_id, what, str(path), "unpinned", "present, no sha256 pinned")
    if expected_size is not None and what == "weights" and path.stat().st_size != expected_size:
        return VerifyResult(
            model_id,
            what,
            str(path),
            "mismatch",
            f"size {path.stat().st_size} != expected {expected_size}: file is truncated or tampered",
        )
    actual = sha256_file(path)
    if actual != ref.sha256:
        return VerifyResult(
            model_id,
            what,
            str(path),
            "mismatch",
            f"sha256 {actual[:16]}… != expected {ref.sha256[:16]}…: file is tampered or corrupt",
        )
    return VerifyResult(model_id, what, str(path), "ok", "sha256 verified")


def verify_spec(spec: ModelSpec) -> list[VerifyResult]:
    """Verify a model's weights (and its mmproj, for VLMs)."""
    if spec.remote:
        where = ", ".join(spec.endpoints)
        return [VerifyResult(spec.id, "weights", None, "remote", f"served by {where}; not on this machine")]
    out = [_check(spec.id, "weights", spec.source, spec.size)]
    if spec.mmproj is not None:
        out.append(_check(spec.id, "mmproj", spec.mmproj, None))
    return out
