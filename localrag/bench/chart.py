"""The report as a PNG: per-stage throughput and latency, and tokens/s against each swept setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def chart(doc: dict[str, Any], out: Path) -> Path:
    """Write the chart; matplotlib renders off-screen (Agg), so no display is needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates, times = [], []
    for stage, metrics in doc["stages"].items():
        for name, m in metrics.items():
            label = f"{stage}: {name}"
            if m["unit"].endswith("/s"):
                rates.append((label, m))
            elif m["unit"] == "ms":
                times.append((label, m))
    params: dict[str, list[dict[str, Any]]] = {}
    for s in doc["sweeps"]:
        params.setdefault(s["parameter"], []).append(s)
    panels = 2 + len(params)
    fig, axes = plt.subplots(
        panels,
        1,
        figsize=(10, 3 + 0.28 * len(rates) + 0.28 * len(times) + 3 * len(params)),
        gridspec_kw={"height_ratios": [max(2, len(rates)), max(2, len(times))] + [6] * len(params)},
    )
    for ax, rows, title in (
        (axes[0], rates, "throughput (higher is better)"),
        (axes[1], times, "latency (lower is better)"),
    ):
        if not rows:
            ax.set_axis_off()
            continue
        labels = [f"{r[0]} [{r[1]['unit']}]" for r in rows]
        med = [r[1]["median"] for r in rows]
        lo = [r[1]["median"] - r[1]["min"] for r in rows]
        hi = [r[1]["max"] - r[1]["median"] for r in rows]
        ax.barh(labels, med, xerr=[lo, hi], color="#4477aa", capsize=2)
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="y", labelsize=7)
    for ax, (param, rows) in zip(axes[2:], params.items(), strict=False):
        for model in sorted({r["model"] for r in rows}):
            pts = sorted((r["value"], r["metrics"]) for r in rows if r["model"] == model)
            for metric, style in (("prompt_tokens_per_s", "o-"), ("generation_tokens_per_s", "s--")):
                xs = [v for v, ms in pts if metric in ms]
                ys = [ms[metric]["median"] for _, ms in pts if metric in ms]
                ax.plot(xs, ys, style, label=f"{model} {metric.split('_')[0]}")
        ax.set_xlabel(param)
        ax.set_ylabel("tokens/s")
        ax.set_title(f"tokens/s against {param}", fontsize=10)
        ax.legend(fontsize=7)
    hw = doc["hardware"]
    gpu = ", ".join(g["name"] for g in hw["gpus"]) or "no GPU"
    fig.suptitle(f"localrag bench ({doc['mode']}): {hw['cpu']['model']}, {gpu}", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
