"""`localrag serve`: the native API, limits and security, through FastAPI's TestClient on the real engine."""

from __future__ import annotations

import io
import json
import time

import pytest
from conftest import QUERY_PHOTO, SAMPLE
from fastapi.testclient import TestClient
from PIL import Image

from localrag.config import Settings
from localrag.engine import Engine
from localrag.server.app import ServeOptions, create_app


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One warm engine over a fresh index of the sample manual, with an allowed root."""
    root = tmp_path_factory.mktemp("served")
    docs = root / "docs"
    docs.mkdir()
    (docs / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
    engine = Engine(Settings(data_dir=root / "data"))
    assert engine.index([docs]).indexed
    app = create_app(engine, ServeOptions(max_upload_mb=2, allow_roots=[root / "allowed"]))
    (root / "allowed").mkdir()
    return {"client": TestClient(app), "root": root, "docs": docs, "engine": engine}


def test_healthz_and_metrics(served):
    c = served["client"]
    assert c.get("/healthz").json()["status"] == "ok"
    c.post("/v1/search", json={"query": "fuse"})
    text = c.get("/metrics").text
    assert 'localrag_requests_total{method="POST",route="/v1/search",status="200"}' in text
    assert "localrag_index_queue_depth 0" in text and "localrag_request_seconds_bucket" in text


def test_search_json_and_multipart_image(served):
    c = served["client"]
    doc = c.post("/v1/search", json={"query": "how do I replace the filter cartridge", "k": 4}).json()
    assert len(doc["hits"]) == 4 and {"rank", "score", "source", "page", "page_url"} <= set(doc["hits"][0])
    assert all(h["image"].startswith("/v1/") for h in doc["hits"])  # a URL, never a server path
    with QUERY_PHOTO.open("rb") as fh:
        res = c.post("/v1/search", data={"query": "", "k": "3"}, files={"image": ("p.jpg", fh, "image/jpeg")})
    top = res.json()["hits"][0]
    assert top["kind"] == "figure" and top["page"] == 4 and top["figure_url"]
    img = c.get(top["figure_url"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    page = c.get(top["page_url"])
    assert page.status_code == 200 and Image.open(io.BytesIO(page.content)).width > 100


def test_ask_json_and_streamed(served):
    c = served["client"]
    doc = c.post("/v1/ask", json={"query": "What fuse does the unit use?"}).json()
    assert not doc["refused"] and doc["citations"]
    assert all(cite["page_url"].startswith("/v1/pages/") for cite in doc["citations"])
    with c.stream("POST", "/v1/ask", json={"query": "What fuse does the unit use?", "stream": True}) as res:
        body = "".join(res.iter_text())
    events = [blk for blk in body.split("\n\n") if blk.strip()]
    assert events[-1].startswith("event: answer")
    final = json.loads(events[-1].split("data: ", 1)[1])
    assert final["answer"] == doc["answer"]
    refused = c.post("/v1/ask", json={"query": "What is the capital of France?"}).json()
    assert refused["refused"] and refused["citations"] == []


def test_documents_index_jobs_and_delete(served):
    c, root = served["client"], served["root"]
    (root / "allowed" / "kettle.md").write_text("Descaling: leave the citric acid in for 20 minutes.\n")
    job = c.post("/v1/index", json={"paths": [str(root / "allowed")]})
    assert job.status_code == 202
    for _ in range(200):
        state = c.get(f"/v1/jobs/{job.json()['id']}").json()
        if state["state"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert state["state"] == "done" and state["progress"]["files_done"] == 1
    upload = c.post("/v1/index", files=[("files", ("note.txt", b"The lid hinge pin is 4 mm.", "text/plain"))])
    assert upload.status_code == 202
    docs = {d["source"]: d for d in c.get("/v1/documents").json()["sources"]}
    kettle = docs[str((root / "allowed" / "kettle.md").resolve())]
    assert c.delete(f"/v1/documents/{kettle['id']}").json()["removed"] == [kettle["source"]]
    assert c.delete(f"/v1/documents/{kettle['id']}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/v1/figures/..%2F..%2F..%2Fetc%2Fpasswd",
        "/v1/figures/../../etc/passwd",
        "/v1/pages/..%2Fstate.sqlite",
        "/v1/pages/0000000000000000.1",
        "/v1/documents/..%2F..",
        "/static/..%2F..%2Fengine.py",
        "/static/.hidden",
        "/v1/jobs/..%2F",
    ],
)
def test_no_path_traversal(served, path):
    res = served["client"].get(path)
    assert res.status_code in (404, 405) and b"root:" not in res.content


def test_index_paths_are_confined_to_allowed_roots(served):
    c, root = served["client"], served["root"]
    outside = c.post("/v1/index", json={"paths": [str(served["docs"])]})
    assert outside.status_code == 403
    link = root / "allowed" / "escape"
    link.symlink_to(served["docs"])
    assert c.post("/v1/index", json={"paths": [str(link)]}).status_code == 403  # links resolved first
    dotdot = c.post("/v1/index", json={"paths": [str(root / "allowed" / ".." / "docs")]})
    assert dotdot.status_code == 403


def test_upload_limits(served):
    c = served["client"]
    big = c.post("/v1/search", files={"image": ("big.png", b"\0" * (3 * 1024 * 1024), "image/png")})
    assert big.status_code == 413
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG", optimize=True)
    res = c.post("/v1/search", files={"image": ("bomb.png", bomb.getvalue(), "image/png")})
    assert res.status_code == 400 and "decompression bomb" in res.json()["error"]["message"]
    bad = c.post("/v1/search", files={"image": ("x.png", b"not an image", "image/png")})
    assert bad.status_code == 400


def test_cors_is_off_by_default(served):
    res = served["client"].options(
        "/v1/search", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in res.headers


def test_token_guards_every_api_route_but_healthz(served):
    app = create_app(served["engine"], ServeOptions(token="s3cret"))
    c = TestClient(app)
    assert c.get("/healthz").status_code == 200
    for method, path in [
        ("get", "/v1/documents"),
        ("post", "/v1/search"),
        ("get", "/metrics"),
        ("get", "/v1/models"),
    ]:
        assert getattr(c, method)(path).status_code == 401
        assert getattr(c, method)(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = c.post("/v1/search", json={"query": "fuse"}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


def test_docs_need_no_cdn(served):
    c = served["client"]
    assert c.get("/docs").status_code == 404
    page = c.get("/").text
    assert "http://" not in page and "https://" not in page
    assert c.get("/static/app.js").status_code == 200
