"""OpenAI-compatible `/v1/models` and `/v1/chat/completions` over the engine.

The reply's content is the checked answer with `[n]` markers and a Sources list, so any
chat client shows where it came from; the structured citations (source, page, figure,
figure URL, matched region) travel in a top-level `citations` field that clients ignore.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from PIL import Image

from localrag.answer import Answer
from localrag.engine import Engine
from localrag.errors import ConfigError
from localrag.ingest.images import decode_bytes

MODEL_ID = "localrag"


def user_turn(messages: Any, limit: int) -> tuple[str, Image.Image | None]:
    """The last user message's text and its (first) image, from a data URL."""
    if not isinstance(messages, list) or not messages:
        raise ConfigError("`messages` must be a non-empty list")
    user = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None)
    if user is None:
        raise ConfigError("no user message")
    content = user.get("content")
    if isinstance(content, str):
        return content, None
    texts, image = [], None
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url" and image is None:
            url = part.get("image_url", {})
            url = url.get("url", "") if isinstance(url, dict) else str(url)
            image = _data_url(url, limit)
    return " ".join(t for t in texts if t).strip(), image


def _data_url(url: str, limit: int) -> Image.Image:
    if not url.startswith("data:") or ";base64," not in url:
        raise ConfigError("image_url must be a base64 data URL: localrag fetches nothing from the network")
    payload = url.split(";base64,", 1)[1]
    if len(payload) * 3 // 4 > limit:
        raise ConfigError("the image is over the upload limit")
    try:
        raw = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("image_url holds no valid base64") from exc
    return decode_bytes(raw, "image_url")


def content_of(doc: dict[str, Any]) -> str:
    """The answer with its Sources list, as a chat client shows it."""
    lines = [doc["answer"]]
    if doc["citations"]:
        lines.append("\nSources:")
        for c in doc["citations"]:
            where = f"{c['source']}, page {c['page']}"
            if c.get("figure") is not None:
                where += f", {c.get('caption') or 'figure ' + str(c['figure'])}"
            lines.append(f"[{c['n']}] {where}")
    return "\n".join(lines)


def install(
    app: FastAPI,
    engine: Engine,
    ask_sync: Callable[..., Answer],
    answer_json: Callable[[Answer], dict[str, Any]],
    query_limit: int,
) -> None:
    """Add the two OpenAI routes to the app."""

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "localrag"}],
        }

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        body = await request.json()
        if not isinstance(body, dict):
            raise ConfigError("the body must be a JSON object")
        text, image = await run_in_threadpool(user_turn, body.get("messages"), query_limit)
        doc = answer_json(await run_in_threadpool(ask_sync, {"query": text}, image))
        cid, created, model = (
            f"chatcmpl-{uuid.uuid4().hex[:20]}",
            int(time.time()),
            str(body.get("model") or MODEL_ID),
        )
        content = content_of(doc)
        extra = {"citations": doc["citations"], "refused": doc["refused"]}
        if body.get("stream"):
            return StreamingResponse(
                _chunks(cid, created, model, content, extra), media_type="text/event-stream"
            )
        return JSONResponse(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                **extra,
            }
        )


def _chunks(cid: str, created: int, model: str, content: str, extra: dict[str, Any]) -> Iterator[str]:
    """The checked answer as chat.completion.chunk events: only checked text is ever streamed."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
        doc = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **more,
        }
        return f"data: {json.dumps(doc)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    words = content.split(" ")
    for i in range(0, len(words), 8):
        piece = " ".join(words[i : i + 8])
        yield chunk({"content": piece if i == 0 else " " + piece})
    yield chunk({}, "stop", **extra)
    yield "data: [DONE]\n\n"
