"""The benchmark report: a versioned JSON document, its Markdown table, and side-by-side compares."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from localrag.errors import ConfigError

SCHEMA_VERSION = 1
# Units where a larger number is better; every other unit (ms, MiB, s) is better smaller.
HIGHER_IS_BETTER = {"pages/s", "figures/s", "texts/s", "images/s", "records/s", "tokens/s", "ratio"}


@dataclass(frozen=True)
class Metric:
    """One figure: the median of its runs, with their spread."""

    median: float
    min: float
    max: float
    runs: int
    unit: str

    @classmethod
    def of(cls, samples: list[float], unit: str) -> Metric:
        """The summary of samples (one per run)."""
        if not samples:
            raise ValueError("a metric needs at least one sample")
        return cls(
            round(statistics.median(samples), 4),
            round(min(samples), 4),
            round(max(samples), 4),
            len(samples),
            unit,
        )

    def scaled(self, factor: float, unit: str) -> Metric:
        """The same runs in another unit (median, min and max times factor)."""
        return Metric(
            round(self.median * factor, 4),
            round(self.min * factor, 4),
            round(self.max * factor, 4),
            self.runs,
            unit,
        )

    def as_json(self) -> dict[str, Any]:
        """The schema's metric object."""
        return {"median": self.median, "min": self.min, "max": self.max, "runs": self.runs, "unit": self.unit}


def schema() -> dict[str, Any]:
    """The JSON Schema every report validates against (shipped in the package)."""
    return json.loads(resources.files("localrag.bench").joinpath("schema.json").read_text())


def validate(doc: dict[str, Any]) -> None:
    """Raise ConfigError naming the first violation of the schema."""
    import jsonschema

    try:
        jsonschema.validate(doc, schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        raise ConfigError(
            f"report does not match schema v{SCHEMA_VERSION} at {where}: {exc.message}"
        ) from None


def load(path: Path) -> dict[str, Any]:
    """A report from disk, checked against the schema."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read a bench report ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(f"{path}: not a bench report of schema version {SCHEMA_VERSION}")
    validate(doc)
    return doc


def _num(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def _hardware_line(doc: dict[str, Any]) -> str:
    hw = doc["hardware"]
    cpu = hw["cpu"]
    gpus = ", ".join(f"{g['name']} ({g['memory_total_mib']} MiB)" for g in hw.get("gpus", [])) or "no GPU"
    return (
        f"{cpu['model']}, {cpu['logical_cores']} logical cores, "
        f"{hw['memory_total_mib'] / 1024:.1f} GiB RAM; {gpus}; "
        f"llama.cpp backend {doc['software']['llama_cpp']['backend']}"
    )


def markdown(doc: dict[str, Any]) -> str:
    """Every stage's metrics as one table, then the sweeps."""
    lines = [
        f"localrag bench ({doc['mode']}), {doc['created']}",
        "",
        _hardware_line(doc),
        "",
        "| stage | metric | median | min | max | runs | unit |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for stage, metrics in doc["stages"].items():
        for name, m in metrics.items():
            lines.append(
                f"| {stage} | {name} | {_num(m['median'])} | {_num(m['min'])} | {_num(m['max'])} "
                f"| {m['runs']} | {m['unit']} |"
            )
    if doc.get("sweeps"):
        lines += [
            "",
            "| model | parameter | value | metric | median | runs | unit |",
            "|---|---|---:|---|---:|---:|---|",
        ]
        for s in doc["sweeps"]:
            for name, m in s["metrics"].items():
                lines.append(
                    f"| {s['model']} | {s['parameter']} | {s['value']} | {name} | {_num(m['median'])} "
                    f"| {m['runs']} | {m['unit']} |"
                )
    for note in doc.get("notes", []):
        lines += ["", f"- {note}"]
    return "\n".join(lines) + "\n"


def compare(
    a: dict[str, Any], b: dict[str, Any]
) -> list[tuple[str, str, float | None, float | None, str, float | None]]:
    """(stage, metric, a, b, unit, b/a) for every metric in either report."""
    rows = []
    keys: list[tuple[str, str]] = []
    for doc in (a, b):
        for stage, metrics in doc["stages"].items():
            keys += [(stage, name) for name in metrics if (stage, name) not in keys]
    for stage, name in keys:
        ma = a["stages"].get(stage, {}).get(name)
        mb = b["stages"].get(stage, {}).get(name)
        va = ma["median"] if ma else None
        vb = mb["median"] if mb else None
        unit = (ma or mb)["unit"]
        ratio = round(vb / va, 3) if va and vb is not None else None
        rows.append((stage, name, va, vb, unit, ratio))
    return rows


def compare_table(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str]) -> str:
    """The compare rows as Markdown; the ratio is B / A, so > 1 means B is larger."""
    lines = [
        f"A: {names[0]} ({_hardware_line(a)})",
        f"B: {names[1]} ({_hardware_line(b)})",
        "",
        "| stage | metric | A | B | unit | B/A | better |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for stage, name, va, vb, unit, ratio in compare(a, b):
        better = ""
        if ratio is not None and ratio != 1:
            b_wins = (ratio > 1) == (unit in HIGHER_IS_BETTER)
            better = "B" if b_wins else "A"
        fa = _num(va) if va is not None else "-"
        fb = _num(vb) if vb is not None else "-"
        lines.append(
            f"| {stage} | {name} | {fa} | {fb} | {unit} | {ratio if ratio is not None else '-'} | {better} |"
        )
    return "\n".join(lines) + "\n"
