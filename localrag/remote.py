"""OpenAI-compatible llama.cpp servers (`llama-server --mmproj`, `python -m llama_cpp.server`).

A RemoteModel stands where a LlamaModel would: the answerer and the describer call `chat`
and `chat_batch` on either. Several endpoints serve one model: a batch is spread over them
with bounded concurrency each; a failed request is retried on another endpoint, and an
endpoint that does not answer is skipped for the rest of the run with a warning.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from localrag.errors import ConfigError, ContextOverflowError, ModelError, ModelServerError
from localrag.llm import ChatModel
from localrag.registry import ModelSpec

Messages = list[dict[str, Any]]
DEFAULT_IMAGE_TOKENS = 256  # budget per image when the server's projector is unknown here
FAILURES_BEFORE_DOWN = 2  # failed requests in a row that take an endpoint out
RETRY_AFTER_S = 60.0  # a long-lived process (a server) tries a skipped endpoint again after this


def base_url(url: str) -> str:
    """`http://host:8080`, `.../v1` or `.../v1/` all name the same API root."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{url}: a model server URL starts with http:// or https://")
    return url if url.endswith("/v1") else url + "/v1"


class _Down(Exception):
    """The endpoint cannot be reached at all."""


class _Failed(Exception):
    """One request failed; another endpoint may succeed."""


@dataclass
class Endpoint:
    """One server: its API root and how many requests it is sent at once."""

    url: str
    concurrency: int = 1
    timeout_s: float = 300.0
    down_until: float = 0.0
    failures: int = 0
    served: int = 0  # requests answered in this process
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def down(self) -> bool:
        """Skipped for now: it did not answer a moment ago."""
        return time.monotonic() < self.down_until

    @property
    def client(self) -> httpx.Client:
        """One connection pool per endpoint; trust_env off so no proxy setting sends data away."""
        if self._client is None:
            timeout = httpx.Timeout(self.timeout_s, connect=5.0)
            self._client = httpx.Client(timeout=timeout, trust_env=False)
        return self._client

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            res = self.client.request(method, self.url + path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Down(f"{self.url}: cannot connect ({_why(exc)})") from exc
        except httpx.HTTPError as exc:  # reset mid-request, read timeout, server gone
            raise _Failed(f"{self.url}: request failed ({_why(exc)})") from exc
        if res.status_code >= 500:
            raise _Failed(f"{self.url}: HTTP {res.status_code} ({_detail(res)})")
        if res.status_code >= 400:
            raise _request_error(self.url, res)
        return res

    def model_id(self) -> str:
        """The id the server gives its model (`--model_alias`, or its file name)."""
        data = self._call("GET", "/models").json().get("data") or []
        if not data:
            raise ModelServerError(f"{self.url}: the server lists no model")
        return str(data[0].get("id"))

    def chat(self, body: dict[str, Any]) -> str:
        """One non-streaming completion."""
        out = self._call("POST", "/chat/completions", body).json()
        return str(out["choices"][0]["message"].get("content") or "").strip()

    def stream(self, body: dict[str, Any]) -> Iterator[str]:
        """Content pieces of a streaming completion (server-sent events)."""
        try:
            with self.client.stream("POST", self.url + "/chat/completions", json=body) as res:
                if res.status_code >= 400:
                    res.read()
                    if res.status_code >= 500:
                        raise _Failed(f"{self.url}: HTTP {res.status_code} ({_detail(res)})")
                    raise _request_error(self.url, res)
                for line in res.iter_lines():
                    if not line.startswith("data:") or line.strip() == "data: [DONE]":
                        continue
                    delta = json.loads(line[5:])["choices"][0].get("delta") or {}
                    if delta.get("content"):
                        yield str(delta["content"])
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Down(f"{self.url}: cannot connect ({_why(exc)})") from exc
        except httpx.HTTPError as exc:
            raise _Failed(f"{self.url}: request failed ({_why(exc)})") from exc

    def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None


class RemoteModel(ChatModel):
    """A generator or describer served by one or more OpenAI-compatible servers."""

    loaded = True  # nothing to load or free in this process

    def __init__(self, spec: ModelSpec, endpoints: list[str] | None = None) -> None:
        """Endpoints default to the spec's; nothing is contacted until first use."""
        self.spec = spec
        p = spec.llama
        urls = endpoints or list(spec.endpoints)
        if not urls:
            raise ConfigError(f"model {spec.id!r}: no endpoints")
        self.endpoints = [Endpoint(base_url(u), p.concurrency, p.timeout_s) for u in dict.fromkeys(urls)]
        self._identity: str | None = None
        self._warnings: list[str] = []
        self._lock = threading.RLock()  # identity() marks endpoints down while holding it

    @property
    def cpu_bound(self) -> bool:
        """The servers compute; this process waits on the network."""
        return False

    @property
    def is_vision(self) -> bool:
        """Describers take images; a generator only when its spec says `vision: true`."""
        p = self.spec.llama
        return p.vision if p.vision is not None else self.spec.role == "describer"

    def check_image_batch(self) -> int:
        """Tokens one image may become: the spec's image_tokens, else a safe budget."""
        return self.spec.llama.image_tokens or DEFAULT_IMAGE_TOKENS

    def expected_mib(self) -> int:
        """Nothing of it is held on this machine."""
        return 0

    @property
    def identity(self) -> str:
        """The served model's id, the same on every live endpoint: it keys the description cache.

        Endpoints that serve different models are refused, so a cache never mixes models.
        """
        with self._lock:
            if self._identity is None:
                seen: dict[str, str] = {}
                for ep in self._live():
                    try:
                        seen[ep.url] = ep.model_id()
                    except (_Down, _Failed) as exc:
                        self._mark_down(ep, str(exc))
                if not seen:
                    raise ModelServerError(self._none_left())
                if len(set(seen.values())) > 1:
                    listed = ", ".join(f"{u} serves {m!r}" for u, m in seen.items())
                    raise ConfigError(
                        f"model {self.spec.id!r}: the endpoints serve different models ({listed}); "
                        "one index's descriptions must come from one model (use the same --model_alias)"
                    )
                self._identity = f"remote:{next(iter(seen.values()))}"
            return self._identity

    @property
    def fingerprint(self) -> str:
        """Same as identity (LlamaModel's is the spec's fingerprint)."""
        return self.identity

    def take_warnings(self) -> list[str]:
        """Endpoints skipped since the last call, each said once."""
        with self._lock:
            out, self._warnings = self._warnings, []
        return out

    # -- requests -----------------------------------------------------------------------------
    def _body(self, messages: Messages, max_tokens: int | None, stream: bool = False) -> dict[str, Any]:
        p = self.spec.llama
        return {
            "model": self.spec.id,
            "messages": messages,
            "max_tokens": int(max_tokens or self.max_tokens),
            "temperature": p.temperature,
            "repeat_penalty": p.repeat_penalty,
            "seed": p.seed,
            "stream": stream,
        }

    def chat(
        self,
        messages: Messages,
        max_tokens: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> str:
        """One completion, streamed to on_token when given; tried on each live endpoint in turn."""
        errors: list[str] = []
        for ep in self._live():
            try:
                if on_token is None:
                    text = ep.chat(self._body(messages, max_tokens))
                else:  # pieces already shown cannot be taken back: a stream is not retried midway
                    pieces = []
                    for piece in ep.stream(self._body(messages, max_tokens, stream=True)):
                        pieces.append(piece)
                        on_token(piece)
                    text = "".join(pieces).strip()
                ep.served += 1
                ep.failures = 0
                return text
            except _Down as exc:
                self._mark_down(ep, str(exc))
            except _Failed as exc:
                errors.append(str(exc))
                if on_token is not None:
                    raise ModelServerError(str(exc)) from exc
        raise ModelServerError(errors[-1] if errors else self._none_left())

    def chat_batch(self, batch: list[Messages], progress: Callable[[int], None] | None = None) -> list[str]:
        """Completions for a batch, in order, spread over the live endpoints."""
        results: list[str | None] = [None] * len(batch)
        work: queue.Queue[tuple[int, int]] = queue.Queue()
        for i in range(len(batch)):
            work.put((i, 0))
        state = {"left": len(batch), "error": None}
        done = threading.Event()
        tries = len(self.endpoints) + 1  # each endpoint once, and one more

        def worker(ep: Endpoint) -> None:
            while not done.is_set() and not ep.down:
                try:
                    i, attempt = work.get(timeout=0.05)
                except queue.Empty:
                    continue
                try:
                    text = ep.chat(self._body(batch[i], None))
                except _Down as exc:
                    work.put((i, attempt))  # not the request's fault: it goes to another endpoint
                    self._mark_down(ep, str(exc))
                    return
                except _Failed as exc:
                    ep.failures += 1
                    if attempt + 1 >= tries:
                        state["error"] = exc
                        done.set()
                        return
                    work.put((i, attempt + 1))
                    if ep.failures >= FAILURES_BEFORE_DOWN:
                        self._mark_down(ep, str(exc))
                        return
                    continue
                except ModelError as exc:  # the server refused this request (4xx)
                    state["error"] = exc
                    done.set()
                    return
                ep.failures = 0
                with self._lock:  # progress too: a sink need not be thread-safe
                    ep.served += 1
                    results[i] = text
                    state["left"] -= 1
                    if state["left"] == 0:
                        done.set()
                    if progress is not None:
                        progress(1)

        if batch:
            threads = [
                threading.Thread(target=worker, args=(ep,), daemon=True)
                for ep in self._live()
                for _ in range(ep.concurrency)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        err = state["error"]
        if isinstance(err, ModelError):
            raise err
        if err is not None:
            raise ModelServerError(str(err))
        if state["left"]:
            raise ModelServerError(self._none_left())
        return [r or "" for r in results]

    def _live(self) -> list[Endpoint]:
        return [ep for ep in self.endpoints if not ep.down]

    def _mark_down(self, ep: Endpoint, why: str) -> None:
        with self._lock:
            if ep.down:
                return
            ep.down_until, ep.failures = time.monotonic() + RETRY_AFTER_S, 0
            left = len(self._live())
            self._warnings.append(f"model server {why}; skipped, {left} left")

    def _none_left(self) -> str:
        urls = ", ".join(ep.url for ep in self.endpoints)
        return f"model {self.spec.id!r}: no model server answers ({urls}); start one and run again"

    def close(self) -> None:
        """Close the connection pools."""
        for ep in self.endpoints:
            ep.close()


def _why(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200] or type(exc).__name__


def _detail(res: httpx.Response) -> str:
    try:
        err = res.json().get("error")
        msg = err.get("message") if isinstance(err, dict) else err or res.json().get("detail")
    except (ValueError, AttributeError):
        msg = res.text
    return str(msg or res.reason_phrase).strip().splitlines()[0][:200] if msg else res.reason_phrase


def _request_error(url: str, res: httpx.Response) -> ModelError:
    detail = _detail(res)
    if "context" in detail.lower() and ("exceed" in detail.lower() or "too long" in detail.lower()):
        return ContextOverflowError(f"{url}: {detail}")
    return ModelError(f"{url}: the server refused the request: HTTP {res.status_code} ({detail})")


__all__ = ["Endpoint", "RemoteModel", "base_url"]
