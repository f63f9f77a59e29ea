"""Describe throughput: localrag's VLM describer against a bare llama-cpp-python loop.

    .venv/bin/python scripts/bench_describe.py [--figures 24] [--rounds 3] [--model M --mmproj P]

Both sides load the model once and describe the same figures with the same prompt, handler,
threads and sampling; rounds alternate (bare, localrag, bare, ...) so drift hits both.
Reports figures/s (median over rounds) and the ratio localrag / bare. Without --model it
uses the tiny projector + Gemma 3 270M built by scripts/make_tiny_models.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from localrag.bench.synthetic import figure as synthetic_figure
from localrag.config import default_threads
from localrag.describe.vlm import DESCRIBE_PROMPT, VlmDescriber
from localrag.ingest import Figure, file_sha256, parse_file
from localrag.llm import LlamaModel, image_url
from localrag.registry.spec import model_spec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_tiny_models as tiny  # noqa: E402


def figures(n: int) -> list[Figure]:
    """The sample manual's figures, topped up with synthetic ones."""
    pdf = ROOT / "localrag" / "data" / "aquapure-300-manual.pdf"
    out = parse_file(pdf, file_sha256(pdf)).figures
    i = 0
    while len(out) < n:
        out.append(Figure(page=1, index=len(out) + 1, kind="image", image=synthetic_figure(900 + i)))
        i += 1
    return out[:n]


def main() -> int:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--figures", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--mmproj", type=Path)
    ap.add_argument("--handler", default="mtmd")
    ap.add_argument("--n-gpu-layers", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    params = {
        "chat_handler": args.handler,
        "n_ctx": 2048,
        "n_batch": 512,
        "n_ubatch": 512,
        "max_tokens": args.max_tokens,
        "temperature": 0.0,
        "n_gpu_layers": args.n_gpu_layers,
    }
    if args.model is None:
        d = Path(tmp.name)
        model, mmproj = tiny.gemma_270m(d), tiny.tiny_mmproj(d / "tiny-mmproj.gguf")
        params["chat_template"] = tiny.GEMMA_TEMPLATE
    else:
        model, mmproj = args.model, args.mmproj
    spec = model_spec(
        "bench-vlm",
        {
            "role": "describer",
            "source": {"path": str(model)},
            "mmproj": {"path": str(mmproj)},
            "params": params,
        },
        Path("bench"),
    )
    figs = figures(args.figures)
    threads = default_threads()

    bare_model = LlamaModel(spec, threads)  # same loader, so handler and settings match
    t = time.perf_counter()
    bare = bare_model.llm
    bare_load = time.perf_counter() - t
    p = spec.llama

    def bare_loop() -> float:
        start = time.perf_counter()
        for f in figs:
            bare.create_chat_completion(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": image_url(f.image)}},
                            {
                                "type": "text",
                                "text": DESCRIBE_PROMPT
                                + (f" Its caption is: {f.caption}." if f.caption else ""),
                            },
                        ],
                    }
                ],
                max_tokens=p.max_tokens,
                temperature=0.0,
                repeat_penalty=1.1,
            )
        return len(figs) / (time.perf_counter() - start)

    ours_model = LlamaModel(spec, threads)
    describer = VlmDescriber(ours_model, None)
    t = time.perf_counter()
    _ = ours_model.llm
    ours_load = time.perf_counter() - t

    def ours_loop() -> float:
        start = time.perf_counter()
        describer.describe(figs)
        return len(figs) / (time.perf_counter() - start)

    bare_loop()  # warm both once: first-call allocations are not throughput
    ours_loop()
    bare_fps, ours_fps = [], []
    for _ in range(args.rounds):
        bare_fps.append(bare_loop())
        ours_fps.append(ours_loop())
    result = {
        "figures": len(figs),
        "rounds": args.rounds,
        "threads": threads,
        "model_load_s": {"bare": round(bare_load, 2), "localrag": round(ours_load, 2)},
        "bare_figures_per_s": round(statistics.median(bare_fps), 3),
        "localrag_figures_per_s": round(statistics.median(ours_fps), 3),
        "ratio": round(statistics.median(ours_fps) / statistics.median(bare_fps), 3),
        "per_round": {"bare": [round(x, 3) for x in bare_fps], "localrag": [round(x, 3) for x in ours_fps]},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    bare_model.close()
    ours_model.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
