"""Describe and answer through real OpenAI-compatible llama.cpp servers (llama_cpp.server) on loopback."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SAMPLE, run
from services import free_port, llama_server_cmd, serving

from localrag.config import Settings
from localrag.engine import Engine
from localrag.indexer import ProgressSink
from localrag.state import State

FIGURES = 7  # in the sample manual


@pytest.fixture(scope="module")
def servers(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Two servers of the tiny VLM under one alias, and a third serving another alias."""
    root = tmp_path_factory.mktemp("llama-servers")
    model, mmproj = tiny_dir / "gemma-3-270m.gguf", tiny_dir / "tiny-mmproj.gguf"
    urls, procs = [], []
    with contextlib.ExitStack() as stack:
        for name, alias in (("a", "tiny-vlm"), ("b", "tiny-vlm"), ("c", "other-vlm")):
            port = free_port()
            cmd = llama_server_cmd(model, mmproj, port, alias)
            procs.append(stack.enter_context(serving(cmd, "/v1/models", root / f"{name}.log", port)))
            urls.append(f"http://127.0.0.1:{port}")
        yield {"urls": urls, "procs": procs}


def registry(tmp_path: Path, describer: list[str] | None, generator: list[str] | None = None) -> Path:
    """The default profile with a served describer and/or generator."""
    data = yaml.safe_load((ROOT / "models.yaml").read_text())
    params = {"max_tokens": 8, "concurrency": 1, "timeout_s": 60, "n_ctx": 1024, "image_tokens": 16}
    prof = dict(data["profiles"]["default"])
    if describer:
        data["models"]["served-vlm"] = {"role": "describer", "endpoints": describer, "params": params}
        prof["describer"] = "served-vlm"
    if generator:
        data["models"]["served-llm"] = {"role": "generator", "endpoints": generator, "params": params}
        prof["generator"] = "served-llm"
        prof["answer_mode"] = "generated"
    data["profiles"]["served"] = prof
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class KillAfter(ProgressSink):
    """Kills one server once n figures are described: mid-run, with requests in flight."""

    def __init__(self, proc, n: int) -> None:
        self.proc, self.n, self.done = proc, n, 0

    def figures(self, n: int) -> None:
        self.done += n
        if self.done == self.n:
            self.proc.kill()
            self.proc.wait()


def test_figures_spread_over_two_servers_survive_one_killed_mid_run(servers, tmp_path):
    a, b, _ = servers["urls"]
    settings = Settings(
        data_dir=tmp_path / "data", profile="served", registry_path=registry(tmp_path, [a, b])
    )
    engine = Engine(settings)
    summary = engine.index([SAMPLE], progress=KillAfter(servers["procs"][1], 2))
    assert summary.aborted is None and not summary.failed
    assert summary.figures == FIGURES
    assert summary.described == FIGURES  # each figure described once, none twice, none skipped
    vlm = engine.components.vlm
    served = {ep.url: ep.served for ep in vlm.endpoints}
    assert sum(served.values()) == FIGURES
    assert served[b + "/v1"] >= 1  # b took part before it was killed
    assert any(b in w and "skipped" in w for w in summary.warnings), summary.warnings

    state = State(settings.state_db, readonly=True)
    rows = state.db.execute("SELECT model_key, COUNT(*) FROM descriptions GROUP BY model_key").fetchall()
    assert rows == [("remote:tiny-vlm", FIGURES)]

    # the index is whole: a search finds the wiring figure; a re-run describes nothing again
    hits = engine.search("wiring schematic", k=3).hits
    assert hits[0].page == 4
    again = engine.index([SAMPLE], force=True)
    assert (again.described, again.cached_descriptions) == (0, FIGURES)


def test_every_server_down_is_one_line_and_keeps_the_index(servers, tmp_path):
    models = registry(tmp_path, [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"])
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("The pump runs on 12 V. Replace fuse F1 with a 2 A fuse.")
    assert run(tmp_path / "data", "--profile", "served", "index", str(docs), models=models).exit_code == 0
    shutil.copy(SAMPLE, docs)
    res = run(tmp_path / "data", "--profile", "served", "index", str(docs), models=models)
    assert res.exit_code == 3
    errors = [line for line in res.stderr.splitlines() if line.startswith("localrag: error")]
    assert len(errors) == 1 and "no model server answers" in errors[0]
    assert "Traceback" not in res.output
    status = run(tmp_path / "data", "--profile", "served", "status", "--json", models=models)
    assert [Path(s["source"]).name for s in yaml.safe_load(status.stdout)["sources"]] == ["notes.txt"]


def test_servers_of_different_models_are_refused(servers, tmp_path):
    a, _, c = servers["urls"]
    res = run(
        tmp_path / "data", "--profile", "served", "index", str(SAMPLE), models=registry(tmp_path, [a, c])
    )
    assert res.exit_code == 2
    assert "serve different models" in res.output


def test_the_cache_key_is_the_served_model(servers, tmp_path):
    a, _, c = servers["urls"]
    data, models = tmp_path / "data", registry(tmp_path, [a])

    def index_through(url: str, *flags: str) -> dict:
        res = run(
            data,
            "--describer",
            url,
            "--profile",
            "served",
            "index",
            "--json",
            *flags,
            str(SAMPLE),
            models=models,
        )
        assert res.exit_code == 0, res.output
        return yaml.safe_load(res.stdout)

    assert index_through(a)["described"] == FIGURES
    # the same figures through a server of another model are described again, not reused
    doc = index_through(c, "--force")
    assert (doc["described"], doc["cached_descriptions"]) == (FIGURES, 0)
    keys = (
        State(data / "state.sqlite", readonly=True)
        .db.execute("SELECT DISTINCT model_key FROM descriptions ORDER BY 1")
        .fetchall()
    )
    assert keys == [("remote:other-vlm",), ("remote:tiny-vlm",)]


def test_a_served_generator_answers_and_streams(servers, tmp_path):
    a, _, _ = servers["urls"]
    settings = Settings(
        data_dir=tmp_path / "data", profile="served", registry_path=registry(tmp_path, None, [a])
    )
    engine = Engine(settings)
    engine.index([SAMPLE])
    pieces: list[str] = []
    answer = engine.ask("What fuse does the unit use?", on_token=pieces.append)
    assert answer.model_output is not None  # the server's words reached the claim check
    assert "".join(pieces).strip() == answer.model_output.strip()
    assert engine.components.generator.endpoints[0].served == 1
    plain = engine.ask("What fuse does the unit use?")
    assert plain.model_output == answer.model_output  # temperature 0, same seed: same words


def test_doctor_and_verify_name_served_models(tmp_path):
    models = registry(tmp_path, ["http://127.0.0.1:9/v1"])
    res = run(tmp_path / "data", "--profile", "served", "models", "verify", models=models)
    assert "served by http://127.0.0.1:9/v1" in res.output
    doc = run(tmp_path / "data", "--profile", "served", "doctor", "--json", models=models)
    roles = {m["role"]: m for m in yaml.safe_load(doc.stdout)["models"]}
    assert roles["describer"]["offload"].startswith("remote:")
