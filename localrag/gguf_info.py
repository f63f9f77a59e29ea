"""Read what localrag needs from GGUF headers (no weights are loaded)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from localrag.errors import ModelError


@lru_cache(maxsize=16)
def metadata(path: Path) -> dict[str, Any]:
    """Scalar key/values of a GGUF file."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:
        raise ModelError(f"{path}: not a readable GGUF file ({exc})") from exc
    out: dict[str, Any] = {}
    for key, field in reader.fields.items():
        try:
            out[key] = field.contents()
        except Exception:  # unusual types are not needed here
            continue
    return out


@dataclass(frozen=True)
class Projector:
    """The facts of an mmproj that bound how many tokens one image becomes."""

    projector_type: str
    image_size: int
    patch_size: int
    merge: int

    def max_image_tokens(self, max_side: int) -> int:
        """Upper bound of the tokens one image of at most max_side pixels produces."""
        if self.projector_type in ("qwen2vl_merger", "qwen25vl", "qwen2.5vl", "qwen3vl_merger"):
            side = math.ceil(max_side / (self.patch_size * self.merge))
            return side * side
        grid = self.image_size // max(1, self.patch_size)
        return (grid // max(1, self.merge)) ** 2 + (
            1 if self.projector_type in ("mlp", "ldp", "ldpv2") else 0
        )


def projector(path: Path) -> Projector:
    """Projector facts from an mmproj GGUF."""
    md = metadata(path)
    ptype = str(md.get("clip.projector_type", "mlp"))
    merge = int(md.get("clip.vision.projector.scale_factor", md.get("clip.vision.spatial_merge_size", 1)))
    if ptype == "gemma3" and "clip.vision.projector.scale_factor" not in md:
        merge = 4  # llama.cpp's default pooling for Gemma 3: 64x64 patches -> 256 tokens
    return Projector(
        ptype, int(md.get("clip.vision.image_size", 224)), int(md.get("clip.vision.patch_size", 14)), merge
    )


def block_count(path: Path) -> int | None:
    """Transformer layers of a text GGUF (to tell full from partial offload)."""
    md = metadata(path)
    arch = md.get("general.architecture")
    value = md.get(f"{arch}.block_count")
    return int(value) if value is not None else None
