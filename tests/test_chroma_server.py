"""The store as a real Chroma server (`chroma run` on loopback): index, search, ask, prune, checks."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import QUERY_PHOTO, ROOT, SAMPLE, run
from services import chroma_cmd, free_port, serving

from localrag.store.blobs import Blobs
from localrag.store.chroma import LOCKED_TRIES, SEARCH_EF, Record, Store, _retry_locked
from localrag.store.location import StoreLocation

GUARD = Path(__file__).with_name("offline_guard.py")


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory):
    """A `chroma run` on a free loopback port, for the whole module."""
    root = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    with serving(chroma_cmd(root / "db", port), "/api/v2/heartbeat", root / "chroma.log", port):
        yield f"http://127.0.0.1:{port}"


def guarded(data: Path, store: str, *args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, every connection but loopback blocked and logged."""
    env = {**os.environ, "HOME": str(tmp / "home")}
    cmd = [sys.executable, str(GUARD), str(tmp / "attempts.log"), "--loopback", "--"]
    cmd += ["--data-dir", str(data), "--store", store, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=600, cwd=ROOT)


def test_index_search_ask_offline_against_a_server(chroma, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs)
    data, store = tmp_path / "data", f"{chroma}/offline"
    idx = guarded(data, store, "index", "--json", str(docs), tmp=tmp_path)
    assert idx.returncode == 0, idx.stderr
    summary = json.loads(idx.stdout)
    assert summary["figures"] == 7 and summary["chunks"] == 9
    assert not (data / "chroma").exists()  # the vectors went to the server, not the data dir

    hits = guarded(data, store, "search", "--json", "-k", "3", "wiring schematic fuse", tmp=tmp_path)
    assert hits.returncode == 0, hits.stderr
    assert json.loads(hits.stdout)["hits"][0]["page"] == 4
    photo = guarded(data, store, "search", "--json", "--image", str(QUERY_PHOTO), tmp=tmp_path)
    assert json.loads(photo.stdout)["hits"][0]["page"] == 4
    ans = guarded(data, store, "ask", "--json", "What fuse does the unit use?", tmp=tmp_path)
    assert ans.returncode == 0, ans.stderr
    doc = json.loads(ans.stdout)
    assert not doc["refused"] and "2 A" in doc["answer"]
    assert not (tmp_path / "attempts.log").exists(), (tmp_path / "attempts.log").read_text()


def test_status_check_prune_and_reindex(chroma, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs / "a.pdf")
    shutil.copy(SAMPLE, docs / "b.pdf")
    data, store = tmp_path / "data", f"{chroma}/prune"
    assert run(data, "--store", store, "index", str(docs)).exit_code == 0
    status = json.loads(run(data, "--store", store, "status", "--json").stdout)
    assert status["store"] == store
    assert status["collections"]["text"]["count"] == 18
    assert {s["records"]["figure_images"] for s in status["sources"]} == {7}

    # unchanged: nothing written; changed: replaced, not duplicated
    again = json.loads(run(data, "--store", store, "index", "--json", str(docs)).stdout)
    assert len(again["skipped"]) == 2
    (docs / "b.pdf").unlink()
    pruned = json.loads(run(data, "--store", store, "index", "--json", "--prune", str(docs)).stdout)
    assert [Path(p).name for p in pruned["pruned"]] == ["b.pdf"]
    status = json.loads(run(data, "--store", store, "status", "--json").stdout)
    assert status["collections"]["text"]["count"] == 9
    assert status["collections"]["figures"]["count"] == 7
    chk = run(data, "--store", store, "check")
    assert chk.exit_code == 0, chk.output
    assert "no violations" in chk.output


def test_a_model_mismatch_is_refused_then_reembedded(chroma, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs)
    data, store = tmp_path / "data", f"{chroma}/mismatch"
    assert run(data, "--store", store, "index", str(docs)).exit_code == 0
    reg = yaml.safe_load((ROOT / "models.yaml").read_text())
    reg["profiles"]["other"] = {**reg["profiles"]["default"], "image_embedder": "edge-descriptor-v1"}
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump(reg))
    for args in (("search", "--image", str(QUERY_PHOTO)), ("index", str(docs))):
        res = run(data, "--store", store, "--profile", "other", *args, models=models)
        assert res.exit_code == 4, res.output
        assert "was built with orb-bovw-edge-tone-v1" in res.output and "--reembed-images" in res.output
        assert "Traceback" not in res.output
    # the server's collection is rebuilt beside the old one, then renamed over the HTTP API
    res = run(
        data, "--store", store, "--profile", "other", "index", "--reembed-images", str(docs), models=models
    )
    assert res.exit_code == 0 and "re-embedded 7 stored figure(s)" in res.output, res.output
    hits = run(
        data,
        "--store",
        store,
        "--profile",
        "other",
        "search",
        "--json",
        "--image",
        str(QUERY_PHOTO),
        models=models,
    )
    assert json.loads(hits.stdout)["hits"][0]["page"] == 4


def test_two_data_dirs_on_one_database_are_refused(chroma, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLE, docs)
    store = f"{chroma}/shared"
    assert run(tmp_path / "one", "--store", store, "index", str(docs)).exit_code == 0
    res = run(tmp_path / "two", "--store", store, "index", str(docs))
    assert res.exit_code == 4
    assert "belongs to another localrag data dir" in res.output
    # the first data dir's documents are untouched
    status = json.loads(run(tmp_path / "one", "--store", store, "status", "--json").stdout)
    assert status["collections"]["text"]["count"] == 9
    assert run(tmp_path / "two", "--store", f"{chroma}/second", "index", str(docs)).exit_code == 0


def test_an_unreachable_server_is_one_line(tmp_path):
    res = run(tmp_path / "data", "--store", f"http://127.0.0.1:{free_port()}", "search", "fuse")
    assert res.exit_code == 4
    assert "cannot reach the Chroma server" in res.output
    assert len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://host", "expected a folder or http"),
        ("http://host:notaport", "the port is not a number"),
        ("http://user:secret@host:8000", "LOCALRAG_STORE_TOKEN"),
        ("http://host:8000/a/b", "one Chroma database"),
    ],
)
def test_bad_store_urls_are_one_line(tmp_path, url, why):
    res = run(tmp_path / "data", "--store", url, "search", "fuse")
    assert res.exit_code == 2
    assert why in res.output


def test_the_token_is_sent_as_a_bearer_header(tmp_path, monkeypatch):
    """A server behind auth sees `Authorization: Bearer`; its refusal is one line."""
    seen: list[str | None] = []

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            body = b'{"error": "Unauthorized", "message": "bad token"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("LOCALRAG_STORE_TOKEN", "s3cret")
    try:
        res = run(tmp_path / "data", "--store", f"http://127.0.0.1:{srv.server_port}", "index", str(SAMPLE))
    finally:
        srv.shutdown()
    assert seen and set(seen) == {"Bearer s3cret"}
    assert res.exit_code == 4
    assert "cannot reach the Chroma server" in res.output
    assert "s3cret" not in res.output


def test_store_urls_parse(tmp_path, monkeypatch):
    from localrag.store.location import StoreLocation

    monkeypatch.setenv("LOCALRAG_STORE_TOKEN", "s3cret")
    loc = StoreLocation.parse("https://chroma.lan/manuals", tmp_path)
    assert (loc.host, loc.port, loc.ssl, loc.database, loc.token) == (
        "chroma.lan",
        443,
        True,
        "manuals",
        "s3cret",
    )
    assert loc.label == "https://chroma.lan:443/manuals"
    assert StoreLocation.parse(str(tmp_path / "x"), tmp_path).path == tmp_path / "x"
    assert StoreLocation.parse(None, tmp_path / "chroma").path == tmp_path / "chroma"


@pytest.mark.parametrize("where", ["embedded", "server"])
def test_hnsw_search_breadth_of_new_and_older_collections(chroma, tmp_path, where):
    fps = {"text_embedder": "text-model", "image_embedder": "image-model"}
    if where == "embedded":
        loc = StoreLocation(path=tmp_path / "chroma")
    else:
        loc = StoreLocation.parse(f"{chroma}/hnsw", tmp_path / "unused")
    blobs = Blobs(tmp_path / "blobs")

    def ef(store: Store, name: str) -> int:
        return store.collection(name).configuration["hnsw"]["ef_search"]

    first = Store(loc, fps, blobs=blobs)
    for name in ("figures", "figure_images"):  # as an older localrag made them
        meta = {"embedder": "text-model" if name == "figures" else "image-model", "hnsw:search_ef": 128}
        first.client.create_collection(
            name, embedding_function=None, metadata={"hnsw:space": "cosine", **meta}
        )
    assert ef(Store(loc, fps, blobs=blobs, readonly=True), "figures") == 128  # a reader changes nothing
    writer = Store(loc, fps, blobs=blobs)
    assert ef(writer, "text") == SEARCH_EF  # created now
    assert ef(writer, "figures") == SEARCH_EF  # widened when a writer opens it
    reader = Store(loc, fps, blobs=blobs, readonly=True)
    assert ef(reader, "text") == ef(reader, "figures") == SEARCH_EF == 256
    assert ef(reader, "figure_images") == 128  # no writer opened it yet
    # a query asks for k without counting the collection first: empty, and fewer than k
    assert writer.query("text", np.ones(4, np.float32), 5) == []
    writer.add(
        "text",
        [Record(f"r{i}", np.eye(4, dtype=np.float32)[i], f"doc {i}", {"source": "s"}) for i in range(2)],
    )
    assert [r.id for r in writer.query("text", np.eye(4, dtype=np.float32)[1], 10)] == ["r1", "r0"]


# One process's loop of what a writer does to an index an older localrag made; prints how many
# collections stayed at their older, narrower HNSW search.
_OPEN_OLDER = """
import sys, tempfile
from pathlib import Path
from localrag.store.blobs import Blobs
from localrag.store.chroma import SEARCH_EF, Store
from localrag.store.location import StoreLocation

fps = {"text_embedder": "text-model", "image_embedder": "image-model"}
narrow = 0
for _ in range(int(sys.argv[1])):
    d = Path(tempfile.mkdtemp(dir=sys.argv[2]))
    loc, blobs = StoreLocation(path=d / "chroma"), Blobs(d / "blobs")
    old = Store(loc, fps, blobs=blobs)
    meta = {"hnsw:space": "cosine", "embedder": "text-model", "hnsw:search_ef": 128}
    old.client.create_collection("figures", embedding_function=None, metadata=meta)
    Store(loc, fps, blobs=blobs, readonly=True).collection("figures")
    writer = Store(loc, fps, blobs=blobs)
    writer.collection("text")
    narrow += writer.collection("figures").configuration["hnsw"]["ef_search"] != SEARCH_EF
print(narrow)
"""


@pytest.mark.slow
def test_older_collections_are_widened_by_writers_side_by_side(tmp_path):
    """Three processes at once, 60 openings each (by hand: pytest -m slow)."""
    cmd = [sys.executable, "-c", _OPEN_OLDER, "60", str(tmp_path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(3)]
    outs = [p.communicate(timeout=1200)[0] for p in procs]
    assert [int(o.split()[-1]) for o in outs] == [0, 0, 0]


def test_a_write_that_meets_a_locked_database_is_run_again(tmp_path, monkeypatch):
    from chromadb.api.models.Collection import Collection
    from chromadb.errors import InternalError

    fps = {"text_embedder": "text-model", "image_embedder": "image-model"}
    loc, blobs = StoreLocation(path=tmp_path / "chroma"), Blobs(tmp_path / "blobs")
    Store(loc, fps, blobs=blobs).client.create_collection(
        "figures",
        embedding_function=None,
        metadata={"hnsw:space": "cosine", "embedder": "text-model", "hnsw:search_ef": 128},
    )
    calls = {"modify": 0, "upsert": 0}

    def locked_twice(name: str, real):  # what embedded Chroma raises when two connections collide
        def call(self, *args, **kwargs):
            calls[name] += 1
            if calls[name] <= 2:
                raise InternalError("error returned from database: (code: 5) database is locked")
            return real(self, *args, **kwargs)

        return call

    monkeypatch.setattr(Collection, "modify", locked_twice("modify", Collection.modify))
    monkeypatch.setattr(Collection, "upsert", locked_twice("upsert", Collection.upsert))
    writer = Store(loc, fps, blobs=blobs)
    assert writer.collection("figures").configuration["hnsw"]["ef_search"] == SEARCH_EF
    writer.add("figures", [Record("f1", np.ones(4, np.float32), "a figure", {"source": "s"})])
    assert calls == {"modify": 3, "upsert": 3} and writer.count("figures") == 1

    always = {"n": 0}

    def never_free() -> None:
        always["n"] += 1
        raise InternalError("database is locked")

    with pytest.raises(InternalError):
        _retry_locked(never_free)
    assert always["n"] == LOCKED_TRIES  # it gives up, and the caller reports the lock
    with pytest.raises(ValueError):
        _retry_locked(lambda: (_ for _ in ()).throw(ValueError("bad id")))  # other errors: at once
