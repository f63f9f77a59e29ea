"""A sentence-transformers text model run by ONNX Runtime: the same vectors, twice as fast on a CPU.

The transformer is exported once from the model's own weights (torch.onnx, local files only) and
cached; pooling and normalisation follow the model's sentence-transformers config. Queries then
need neither torch nor sentence-transformers, which also shortens a cold start.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from localrag.embed.base import SpecEmbedder, l2norm
from localrag.errors import ModelError
from localrag.registry import ModelSpec

EXPORT_VERSION = 1  # bump when the exported graph changes, so stale files are not reused
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class Layout:
    """What sentence-transformers does around the transformer: truncation, pooling, normalising."""

    max_length: int
    pooling: str  # "mean" or "cls"
    normalize: bool
    pad_token: str

    @classmethod
    def read(cls, model_dir: Path) -> Layout:
        """Read modules.json and its configs; anything but mean/CLS pooling is refused."""
        try:
            modules = json.loads((model_dir / "modules.json").read_text())
            kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
            pool_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
            pool = json.loads((model_dir / pool_dir / "config.json").read_text())
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            raise ModelError(f"{model_dir}: not a sentence-transformers folder ({exc})") from exc
        if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
            raise ModelError(f"{model_dir}: modules {kinds} cannot run on onnx; use backend: torch")
        if pool.get("pooling_mode_mean_tokens"):
            pooling = "mean"
        elif pool.get("pooling_mode_cls_token"):
            pooling = "cls"
        else:
            raise ModelError(f"{model_dir}: only mean or CLS pooling runs on onnx; use backend: torch")
        st = _json_or_empty(model_dir / "sentence_bert_config.json")
        special = _json_or_empty(model_dir / "special_tokens_map.json")
        pad = special.get("pad_token", "[PAD]")
        return cls(
            max_length=int(st.get("max_seq_length") or 512),
            pooling=pooling,
            normalize="Normalize" in kinds,
            pad_token=pad["content"] if isinstance(pad, dict) else str(pad),
        )


def _json_or_empty(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def onnx_cache(spec: ModelSpec) -> Path:
    """Where the exported graph of this exact model file lives."""
    from localrag.config import cache_dir

    tag = (spec.sha256 or spec.fingerprint)[:16]
    return cache_dir() / "onnx" / f"{spec.id}-{tag}-v{EXPORT_VERSION}.onnx"


def export(model_dir: Path, out: Path) -> None:
    """Export the transformer's last hidden state with dynamic batch and length; written atomically."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise ModelError(f"cannot export {model_dir} to onnx: {exc}") from exc
    from localrag.embed.sbert import quiet_transformers

    quiet_transformers()
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    names = [n for n in _INPUTS if n in inspect.signature(model.forward).parameters]

    class Hidden(torch.nn.Module):
        """Positional inputs in, last hidden state out: what the exporter can trace."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, args, strict=True))).last_hidden_state

    dummy = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation notes are not the user's concern
            torch.onnx.export(
                Hidden(), dummy, str(tmp), input_names=names, output_names=["hidden"],
                dynamic_axes=axes, opset_version=17, dynamo=False,
            )  # fmt: skip
        tmp.replace(out)
    except Exception as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise ModelError(f"cannot export {model_dir} to onnx: {exc}; use backend: torch") from exc


class OnnxTextEmbedder(SpecEmbedder):
    """A text embedder whose transformer runs on ONNX Runtime; vectors match the torch model's."""

    supports_text = True

    def __init__(self, spec: ModelSpec, n_threads: int) -> None:
        """Remember the spec; export, tokenizer and session happen on first use."""
        super().__init__(spec, n_threads)
        self._loaded: tuple | None = None

    def _load(self) -> tuple:
        with self._loading:
            if self._loaded is None:
                self._loaded = self._open()
            return self._loaded

    def _open(self) -> tuple:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = self.spec.require_path()
        layout = Layout.read(model_dir)
        graph = onnx_cache(self.spec)
        if not graph.exists():
            try:
                export(model_dir, graph)
            except ModelError as exc:
                if not isinstance(exc.__cause__, OSError):
                    raise
                # a read-only or full cache: export for this process only
                scratch = Path(tempfile.mkdtemp(prefix="localrag-onnx-"))
                atexit.register(shutil.rmtree, scratch, ignore_errors=True)
                graph = scratch / graph.name
                export(model_dir, graph)
        tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tok.enable_truncation(max_length=layout.max_length)
        tok.no_padding()  # batches are padded here, after sorting by token count
        pad_id = tok.token_to_id(layout.pad_token)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.n_threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # waiting threads sleep instead of spinning: OCR, parsing and figure vectors need the cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a truncated or foreign file: export again next time
            graph.unlink(missing_ok=True)
            raise ModelError(f"model {self.spec.id!r}: cannot open {graph}: {exc}") from exc
        names = [i.name for i in session.get_inputs()]
        return tok, session, names, layout, 0 if pad_id is None else pad_id

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Embed text in batches of equal-ish token counts; the vectors do not depend on the batching."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        tok, session, names, layout, pad_id = self._load()
        encs = tok.encode_batch(texts)  # truncated to the model's length, not padded
        out: np.ndarray | None = None
        for idx in self.token_batches([len(e.ids) for e in encs]):
            arrays = _padded([encs[i] for i in idx], pad_id)
            hidden = session.run(None, {n: arrays[n] for n in names})[0]
            vecs = _pool(hidden, arrays["attention_mask"], layout.pooling)
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), np.float32)
            out[idx] = vecs
        assert out is not None
        return l2norm(out)  # the store keeps unit vectors whether or not the model normalises


def _padded(encs: list, pad_id: int) -> dict[str, np.ndarray]:
    """One batch's model inputs, padded to its longest text."""
    width = max(len(e.ids) for e in encs)
    ids = np.full((len(encs), width), pad_id, np.int64)
    mask = np.zeros((len(encs), width), np.int64)
    types = np.zeros((len(encs), width), np.int64)
    for row, e in enumerate(encs):
        n = len(e.ids)
        ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _pool(hidden: np.ndarray, mask: np.ndarray, how: str) -> np.ndarray:
    if how == "cls":
        return hidden[:, 0]
    m = mask[..., None].astype(np.float32)
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
