"""Random-weight GGUFs of standard shapes, so a machine with no model can still be benchmarked.

Speed depends on tensor shapes and types, not on weight values, so one seeded random block
is reused (as views) for every tensor: a 3B F16 file is written with ~200 MB of memory.
Outputs are gibberish; quality is never measured with these files.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from localrag.bench.bare import llama_log
from localrag.errors import ModelError

QUANTS = ("f16", "q8_0", "q4_k_m")
WRITER = "v1"  # in every cached file name: a change to what is written must not reuse old files
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}"
    "\n{% endfor %}{% if add_generation_prompt %}Answer:{% endif %}"
)


@dataclass(frozen=True)
class TextShape:
    """A llama-architecture decoder: the shapes that set its speed."""

    name: str
    n_embd: int
    n_layer: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int = 32000
    n_ctx_train: int = 8192

    def params(self) -> int:
        """Parameter count, embeddings and output head included."""
        kv = self.n_embd // self.n_head * self.n_head_kv
        block = 2 * self.n_embd * self.n_embd + 2 * self.n_embd * kv + 3 * self.n_embd * self.n_ff
        return self.n_layer * block + 2 * self.n_vocab * self.n_embd


@dataclass(frozen=True)
class VisionShape:
    """A ViT encoder with a gemma3-type projector (the projector libmtmd runs for Gemma 3)."""

    name: str
    image_size: int
    patch_size: int
    n_embd: int
    n_ff: int
    n_layer: int
    n_head: int
    pool: int

    def image_tokens(self) -> int:
        """Tokens one image becomes after pooling."""
        return (self.image_size // self.patch_size // self.pool) ** 2


# Shapes near Qwen2.5-0.5B (width rounded to 1024 so Q4_K applies), Llama 3.2 1B and 3B,
# each with a 32k SentencePiece vocabulary.
TEXT_SHAPES = {
    s.name: s
    for s in (
        TextShape("0.5b", n_embd=1024, n_layer=24, n_ff=4864, n_head=16, n_head_kv=2),
        TextShape("1b", n_embd=2048, n_layer=16, n_ff=8192, n_head=32, n_head_kv=8),
        TextShape("3b", n_embd=3072, n_layer=28, n_ff=8192, n_head=24, n_head_kv=8),
    )
}
# SigLIP-base at 224 px (quick on a CPU), and SigLIP-So400m at 896 px as in Gemma 3 (a GPU's load).
VISION_SHAPES = {
    s.name: s
    for s in (
        VisionShape("siglip-base-224", 224, 16, 768, 3072, 12, 12, pool=2),
        VisionShape("siglip-so400m-896", 896, 14, 1152, 4304, 27, 16, pool=4),
    )
}


class _Random:
    """One random block, handed out as views so that no tensor costs memory of its own."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.f32 = (rng.standard_normal(n, dtype=np.float32) * 0.02).astype(np.float32)
        self._cache: dict[str, np.ndarray] = {}

    def tensor(self, quant: str, *shape: int) -> np.ndarray:
        """A (rows, cols) tensor in the file's type: F16 values or Q8_0 blocks."""
        n = int(np.prod(shape))
        if quant == "f16":
            if "f16" not in self._cache:
                self._cache["f16"] = self.f32.astype(np.float16)
            return self._cache["f16"][:n].reshape(shape)
        import gguf

        if "q8_0" not in self._cache:
            self._cache["q8_0"] = gguf.quants.quantize(
                self.f32.reshape(-1, 32), gguf.GGMLQuantizationType.Q8_0
            ).reshape(-1)
        row = shape[-1] // 32 * 34  # Q8_0: 32 values in 34 bytes
        return self._cache["q8_0"][: n // 32 * 34].reshape(*shape[:-1], row)


def _vocab(n: int) -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style vocabulary: specials, the 256 byte tokens, then English words.

    Real words make prompts tokenize to about as many tokens as with a real 32k vocabulary.
    """
    from wordfreq import top_n_list

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    chars = [chr(c) for c in range(33, 127)]
    pieces = chars + ["\u2581" + c for c in chars] + ["\u2581"]
    seen = set(pieces)
    for word in top_n_list("en", n):
        # every prefix, so that SentencePiece's pairwise merges can reach the whole word
        for k in range(1, len(word) + 1):
            piece = "\u2581" + word[:k]
            if piece not in seen and len(pieces) < n - len(tokens):
                seen.add(piece)
                pieces.append(piece)
    i = 0
    while len(tokens) + len(pieces) < n:
        pieces.append(f"\u2581w{i}")
        i += 1
    tokens += pieces[: n - len(tokens)]
    types += [1] * (n - len(types))
    scores = [0.0] * 259 + [-float(i) for i in range(n - 259)]
    return tokens, scores, types


def write_text_model(path: Path, shape: TextShape, quant: str, seed: int = 0) -> Path:
    """A llama-architecture GGUF of the shape, in F16 or Q8_0."""
    import gguf

    if quant not in ("f16", "q8_0"):
        raise ValueError(f"write_text_model writes f16 or q8_0, not {quant}")
    qtype = gguf.GGMLQuantizationType.F16 if quant == "f16" else gguf.GGMLQuantizationType.Q8_0
    e, kv = shape.n_embd, shape.n_embd // shape.n_head * shape.n_head_kv
    rnd = _Random(max(shape.n_vocab * e, shape.n_ff * e), seed)
    tmp = path.with_suffix(".part")
    w = gguf.GGUFWriter(str(tmp), "llama")
    w.add_name(f"localrag-synthetic-{shape.name}")
    w.add_context_length(shape.n_ctx_train)
    w.add_embedding_length(e)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_rope_dimension_count(e // shape.n_head)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if quant == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
    tokens, scores, types = _vocab(shape.n_vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_chat_template(CHAT_TEMPLATE)

    def mat(name: str, rows: int, cols: int) -> None:
        data = rnd.tensor(quant, rows, cols)
        w.add_tensor(name, data, raw_dtype=qtype)

    def norm(name: str) -> None:
        w.add_tensor(name, np.ones(e, np.float32))

    mat("token_embd.weight", shape.n_vocab, e)
    for i in range(shape.n_layer):
        norm(f"blk.{i}.attn_norm.weight")
        mat(f"blk.{i}.attn_q.weight", e, e)
        mat(f"blk.{i}.attn_k.weight", kv, e)
        mat(f"blk.{i}.attn_v.weight", kv, e)
        mat(f"blk.{i}.attn_output.weight", e, e)
        norm(f"blk.{i}.ffn_norm.weight")
        mat(f"blk.{i}.ffn_gate.weight", shape.n_ff, e)
        mat(f"blk.{i}.ffn_up.weight", shape.n_ff, e)
        mat(f"blk.{i}.ffn_down.weight", e, shape.n_ff)
    norm("output_norm.weight")
    mat("output.weight", shape.n_vocab, e)
    return _finish(w, tmp, path)


def _finish(w: Any, tmp: Path, path: Path) -> Path:
    """Write the file under a temporary name and rename it: a cache never holds half a model."""
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(path)
    return path


def quantize(src: Path, dst: Path, ftype: str = "q4_k_m", threads: int = 0) -> Path:
    """Quantize with llama.cpp's own quantizer (the same code as llama-quantize)."""
    import llama_cpp

    types = {"q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = types[ftype]
    params.nthread = threads
    tmp = dst.with_suffix(".part")
    with llama_log():  # one line per tensor otherwise
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"llama.cpp could not quantize {src} to {ftype} (code {rc})")
    tmp.replace(dst)
    return dst


def write_projector(path: Path, shape: VisionShape, n_embd_text: int, seed: int = 0) -> Path:
    """A gemma3-type libmtmd projector of the shape, in F16, projecting to n_embd_text."""
    import gguf

    d, ff = shape.n_embd, shape.n_ff
    n_patches = (shape.image_size // shape.patch_size) ** 2
    rnd = _Random(max(d * ff, n_patches * d, d * n_embd_text, d * 3 * shape.patch_size**2), seed)
    tmp = path.with_suffix(".part")
    w = gguf.GGUFWriter(str(tmp), "clip")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "gemma3")
    w.add_uint32("clip.vision.image_size", shape.image_size)
    w.add_uint32("clip.vision.patch_size", shape.patch_size)
    w.add_uint32("clip.vision.embedding_length", d)
    w.add_uint32("clip.vision.feed_forward_length", ff)
    w.add_uint32("clip.vision.block_count", shape.n_layer)
    w.add_uint32("clip.vision.attention.head_count", shape.n_head)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_uint32("clip.vision.projection_dim", n_embd_text)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    w.add_uint32("clip.vision.projector.scale_factor", shape.pool)
    w.add_bool("clip.use_gelu", True)

    def f16(name: str, *dims: int) -> None:
        w.add_tensor(name, rnd.tensor("f16", *dims))

    def f32(name: str, n: int, value: float | None = None) -> None:
        data = np.full(n, value, np.float32) if value is not None else rnd.f32[:n].copy()
        w.add_tensor(name, data)

    f16("v.patch_embd.weight", d, 3, shape.patch_size, shape.patch_size)
    f32("v.patch_embd.bias", d)
    w.add_tensor("v.position_embd.weight", rnd.f32[: n_patches * d].reshape(n_patches, d).copy())
    for i in range(shape.n_layer):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            f16(f"v.blk.{i}.{name}.weight", d, d)
            f32(f"v.blk.{i}.{name}.bias", d)
        for name in ("ln1", "ln2"):
            f32(f"v.blk.{i}.{name}.weight", d, 1.0)
            f32(f"v.blk.{i}.{name}.bias", d, 0.0)
        f16(f"v.blk.{i}.ffn_up.weight", ff, d)
        f32(f"v.blk.{i}.ffn_up.bias", ff)
        f16(f"v.blk.{i}.ffn_down.weight", d, ff)
        f32(f"v.blk.{i}.ffn_down.bias", d)
    f32("v.post_ln.weight", d, 1.0)
    f32("v.post_ln.bias", d, 0.0)
    f16("mm.input_projection.weight", d, n_embd_text)
    f32("mm.soft_emb_norm.weight", d, 1.0)
    return _finish(w, tmp, path)


class WeightCache:
    """Synthetic files in one folder, written once and reused (`bench --keep`/`--clean`)."""

    def __init__(self, folder: Path) -> None:
        """Nothing is written until a file is asked for."""
        self.folder = folder

    def has_text_model(self, size: str, quant: str) -> bool:
        """True when the file is already in the cache."""
        return self._text_path(size, quant).exists()

    def _text_path(self, size: str, quant: str) -> Path:
        return self.folder / f"synthetic-{WRITER}-{size}-{quant}.gguf"

    def text_model(self, size: str, quant: str, threads: int = 0) -> Path:
        """The size's model in the quant; Q4_K_M is made from the F16 file by llama.cpp."""
        shape = TEXT_SHAPES[size]
        path = self._text_path(size, quant)
        if path.exists():
            return path
        self.folder.mkdir(parents=True, exist_ok=True)
        if quant == "q4_k_m":
            return quantize(self.text_model(size, "f16", threads), path, "q4_k_m", threads)
        return write_text_model(path, shape, quant)

    def projector(self, vision: str, n_embd_text: int) -> Path:
        """The vision shape's projector, for a text model of width n_embd_text."""
        path = self.folder / f"synthetic-{WRITER}-mmproj-{vision}-{n_embd_text}.gguf"
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            write_projector(path, VISION_SHAPES[vision], n_embd_text)
        return path

    def clean(self) -> int:
        """Delete every synthetic file; returns the bytes freed."""
        freed = 0
        for p in self.folder.glob("synthetic-*"):
            freed += p.stat().st_size
            p.unlink()
        return freed
