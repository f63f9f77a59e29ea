"""`localrag serve`: the engine over HTTP, with the native API, an OpenAI-compatible one and a web page."""

from __future__ import annotations

import asyncio
import hmac
import json
import queue
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from PIL import Image
from starlette.datastructures import UploadFile

from localrag import __version__
from localrag.answer import Answer
from localrag.engine import Engine
from localrag.errors import ConfigError, IndexBusyError, IngestError, LocalragError, ModelError
from localrag.ingest import content_id
from localrag.ingest.images import decode_bytes
from localrag.retrieve.retriever import Hit
from localrag.server import openai_compat
from localrag.server.jobs import Jobs
from localrag.server.metrics import Metrics
from localrag.state import FileRow
from localrag.store.blobs import page_key

STATIC = Path(__file__).parent / "static"


@dataclass
class ServeOptions:
    """What `localrag serve` was asked for."""

    token: str | None = None
    max_upload_mb: int = 20
    allow_roots: list[Path] = field(default_factory=list)
    cors_origins: list[str] = field(default_factory=list)


class ApiError(Exception):
    """An HTTP error with a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        """Status code and message."""
        super().__init__(message)
        self.status = status


def _status_of(exc: LocalragError) -> int:
    if isinstance(exc, IndexBusyError):
        return 409
    if isinstance(exc, ConfigError | IngestError):
        return 400
    if isinstance(exc, ModelError):
        return 500
    return 503


def doc_id(source: str) -> str:
    """A document's id in URLs: derived from its source, never the path itself."""
    return content_id("doc", source)[:16]


def create_app(engine: Engine, options: ServeOptions | None = None) -> FastAPI:
    """The ASGI app over one engine."""
    opts = options or ServeOptions()
    # FastAPI's /docs pulls Swagger UI from a CDN: off, so the page never reaches the network
    app = FastAPI(title="localrag", version=__version__, docs_url=None, redoc_url=None)
    jobs = Jobs(engine)
    metrics = Metrics()
    generation = threading.Lock()  # one llama.cpp context: one answer at a time
    limit = opts.max_upload_mb * 1024 * 1024
    app.state.engine, app.state.jobs, app.state.metrics = engine, jobs, metrics

    if opts.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=opts.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        t0 = time.perf_counter()
        path = request.url.path
        route = "/" + "/".join(path.strip("/").split("/")[:2])
        try:
            if opts.token and (path.startswith("/v1/") or path == "/metrics"):
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {opts.token}".encode()):
                    raise ApiError(401, "missing or wrong bearer token")
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > limit:
                raise ApiError(413, f"request body over the {opts.max_upload_mb} MB limit")
            response = await call_next(request)
        except ApiError as exc:
            response = _error(exc.status, str(exc))
        metrics.observe(request.method, route, response.status_code, time.perf_counter() - t0)
        return response

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        return _error(exc.status, str(exc))

    @app.exception_handler(LocalragError)
    async def localrag_error(_: Request, exc: LocalragError) -> Response:
        return _error(_status_of(exc), str(exc))

    async def query_of(request: Request) -> tuple[dict[str, Any], Image.Image | None]:
        """JSON {"query", ...} or multipart with a `query` field and an `image` file."""
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            form = await request.form()
            body = {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
            upload = form.get("image")
            image = None
            if isinstance(upload, UploadFile):
                raw = await upload.read()
                if len(raw) > limit:
                    raise ApiError(413, f"image over the {opts.max_upload_mb} MB limit")
                image = await run_in_threadpool(decode_bytes, raw, upload.filename or "image")
            for key in ("k", "stream"):
                if key in body:
                    body[key] = json.loads(str(body[key]).lower())
            return body, image
        try:
            body = await request.json()
        except ValueError as exc:
            raise ApiError(400, "the body must be JSON or multipart/form-data") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body, None

    def urls(hit: Hit) -> dict[str, Any]:
        out = hit.as_json()
        out["document_id"] = doc_id(hit.source)
        out["figure_url"] = f"/v1/figures/{hit.id}" if hit.figure is not None else None
        out["page_url"] = f"/v1/pages/{doc_id(hit.source)}.{hit.page}"
        # the CLI's keys, but a server never shows its own file paths: the image is a URL
        out["image"] = out["figure_url"] or out["page_url"]
        return out

    def answer_json(ans: Answer) -> dict[str, Any]:
        doc = ans.as_json()
        doc["hits"] = [urls(h) for h in ans.hits]
        for c in doc["citations"]:
            hit, linked = ans.hits[c["n"] - 1], doc["hits"][c["n"] - 1]
            c.update(
                figure_url=linked["figure_url"],
                page_url=linked["page_url"],
                region=(hit.match or {}).get("region"),
                caption=hit.caption or None,
            )
        return doc

    def ask_sync(body: dict[str, Any], image: Image.Image | None, on_token: Any = None) -> Answer:
        question = str(body.get("query") or body.get("question") or "")
        mode, photo_text = body.get("mode"), body.get("photo_text", "auto")
        if engine.answerer(photo_text, mode).generator is None:  # quoting: no llama.cpp context to share
            return engine.ask(question, image, mode=mode, photo_text=photo_text, on_token=on_token)
        with generation:
            return engine.ask(question, image, mode=mode, photo_text=photo_text, on_token=on_token)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> str:
        loaded = [
            k
            for k in ("text_embedder", "image_embedder", "ocr", "generator")
            if k in engine.components.__dict__
        ]
        return metrics.render(queue_depth=jobs.depth, models_loaded=len(loaded))

    @app.post("/v1/search")
    async def search(request: Request) -> dict[str, Any]:
        body, image = await query_of(request)
        resp = await run_in_threadpool(
            engine.search,
            str(body.get("query", "")),
            image,
            int(body.get("k", 5)),
            body.get("photo_text", "auto"),
        )
        doc = resp.as_json()
        doc["hits"] = [urls(h) for h in resp.hits]
        return doc

    @app.post("/v1/ask", response_model=None)
    async def ask(request: Request) -> Any:
        body, image = await query_of(request)
        if not body.get("stream"):
            return answer_json(await run_in_threadpool(ask_sync, body, image))
        return StreamingResponse(_sse(ask_sync, body, image, answer_json), media_type="text/event-stream")

    @app.post("/v1/index")
    async def index(request: Request) -> JSONResponse:
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            form = await request.form()
            folder = engine.settings.data_dir / "uploads" / content_id(time.time())[:12]
            paths = []
            for up in form.getlist("files"):
                if isinstance(up, UploadFile):
                    name = Path(up.filename or "upload").name  # never a path from the client
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / name).write_bytes(await up.read())
                    paths.append(folder / name)
            if not paths:
                raise ApiError(400, "no files in the `files` field")
            job = jobs.submit(paths)
        else:
            body = await request.json()
            raw = body.get("paths") if isinstance(body, dict) else None
            if not isinstance(raw, list) or not raw:
                raise ApiError(400, 'give {"paths": [...]} under an allowed root, or upload `files`')
            job = jobs.submit(
                [confine(str(p), opts.allow_roots) for p in raw],
                bool(body.get("prune")),
                bool(body.get("force")),
            )
        return JSONResponse(job.as_json(), status_code=202)

    @app.get("/v1/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        if job_id not in jobs.jobs:
            raise ApiError(404, "no such job")
        return jobs.jobs[job_id].as_json()

    @app.get("/v1/documents")
    def documents() -> dict[str, Any]:
        doc = engine.status()
        for s in doc["sources"]:
            s["id"] = doc_id(s["source"])
        return doc

    @app.delete("/v1/documents/{document_id}")
    def delete_document(document_id: str) -> dict[str, Any]:
        source = _file_of(engine, document_id).source
        with jobs.writing:  # after the running index job, never beside it
            removed, _ = engine.remove([Path(source)])
        return {"removed": removed}

    @app.get("/v1/figures/{record_id}")
    def figure(record_id: str) -> FileResponse:
        store = engine.retriever().store
        found = store.get("figures", [record_id]) if record_id.isalnum() else []
        if not found or not found[0].metadata.get("image"):
            raise ApiError(404, "no such figure")
        return _blob(engine, Path(found[0].metadata["image"]))

    @app.get("/v1/pages/{page_id}")
    def page(page_id: str) -> FileResponse:
        document_id, _, number = page_id.partition(".")
        if not number.isdigit():
            raise ApiError(404, "no such page")
        row = _file_of(engine, document_id)
        return _blob(engine, engine.settings.blobs_dir / page_key(row.sha256, int(number)))

    @app.get("/v1/info")
    def info() -> dict[str, Any]:
        from localrag.doctor import backend
        from localrag.gpu import gpus

        return {
            "version": __version__,
            "profile": engine.settings.profile,
            "backend": backend(),
            "gpus": gpus(),
        }

    openai_compat.install(app, engine, ask_sync, answer_json, query_limit=limit)

    @app.get("/", response_class=FileResponse)
    def web() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise ApiError(404, "no such file")
        return FileResponse(path)

    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "status": status}}, status_code=status)


def _file_of(engine: Engine, document_id: str) -> FileRow:
    """The indexed file behind a document id, read the way searches read (never the writer's state)."""
    reader = engine.retriever()
    reader.refresh()  # a server started before the first index sees the files once they exist
    for row in reader.state.files():
        if doc_id(row.source) == document_id:
            return row
    raise ApiError(404, "no such document")


def _blob(engine: Engine, path: Path) -> FileResponse:
    """Serve a blob only from the blob folder, and only when it is intact."""
    root = engine.settings.blobs_dir.resolve()
    real = path.resolve()
    if not real.is_relative_to(root) or not real.is_file():
        raise ApiError(404, "no such image")
    return FileResponse(real, media_type="image/png")


def confine(raw: str, roots: list[Path]) -> Path:
    """A path to index, accepted only inside an allowed root once every link is resolved."""
    if not roots:
        raise ApiError(403, "indexing server-side paths is off: start the server with --allow-root DIR")
    real = Path(raw).expanduser().resolve()
    for root in roots:
        if real.is_relative_to(root.resolve()):
            return real
    raise ApiError(403, f"{raw}: outside the allowed roots")


async def _sse(
    ask_sync: Any, body: dict[str, Any], image: Image.Image | None, answer_json: Any
) -> AsyncIterator[str]:
    """Server-sent events: the generator's draft tokens as they come, then the checked answer."""
    tokens: queue.Queue[str | None] = queue.Queue()
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["answer"] = answer_json(ask_sync(body, image, on_token=tokens.put))
        except LocalragError as exc:
            result["error"] = {"message": str(exc), "status": _status_of(exc)}
        finally:
            tokens.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (piece := await asyncio.to_thread(tokens.get)) is not None:
        yield f"event: draft\ndata: {json.dumps({'token': piece})}\n\n"
    if "error" in result:
        yield f"event: error\ndata: {json.dumps(result['error'])}\n\n"
    else:
        yield f"event: answer\ndata: {json.dumps(result['answer'])}\n\n"


__all__ = ["ServeOptions", "confine", "create_app", "doc_id"]
