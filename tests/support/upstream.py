"""A wire-level OpenAI- and Cohere-compatible upstream for the tests.

It stands in for the LLM servers (vLLM, llama.cpp, cloud APIs) that cannot
run here. Behaviour is chosen per upstream model name (the `model` field the
proxy sends), so one server can play many deployments:

    with run_upstream() as upstream:
        upstream.behave("slow-chat", Behavior(first_token_delay=2.0))
        ... point a proxy deployment at upstream.url + "/v1" ...
        upstream.requests  # every request received: Recorded(path, headers, body)
        upstream.behave("paid", Behavior(api_key="sk-..."))  # 401 as OpenAI answers, unless that key is sent
        upstream.keys_seen("paid")  # the bearer token of each request for that model
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn

from tests.support.proxy import free_port


@dataclass
class Behavior:
    latency: float = 0.0  # before the response headers
    first_token_delay: float = 0.0  # streaming: after the headers, before the first chunk
    chunk_interval: float = 0.0  # streaming: between later chunks
    chunks: int = 3  # streaming: content chunks before the final one
    status: int = 200  # non-200: an OpenAI-style error body with this status
    hang: bool = False  # never answer (until the server stops)
    die_after_chunks: int | None = None  # streaming: cut the connection after N chunks
    cut_body: bool = False  # not streaming: the headers (with the full Content-Length) and half the body, then the cut
    text: str = "ok"
    api_key: str | None = None  # when set, a request without `Authorization: Bearer <api_key>` gets OpenAI's 401


@dataclass
class Recorded:
    path: str
    headers: dict
    body: dict


@dataclass
class Upstream:
    url: str
    behaviors: dict = field(default_factory=dict)
    default: Behavior = field(default_factory=Behavior)
    requests: list = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def behave(self, model: str, behavior: Behavior) -> None:
        self.behaviors[model] = behavior

    def behavior_for(self, model: str) -> Behavior:
        return self.behaviors.get(model, self.default)

    def requests_for(self, model: str) -> list:
        return [r for r in self.requests if r.body.get("model") == model]

    def keys_seen(self, model: str) -> list[str | None]:
        """The bearer token of every request for `model`, in order (None: no Authorization header)."""
        return [bearer(r.headers) for r in self.requests_for(model)]


def bearer(headers: dict) -> str | None:
    value = headers.get("authorization")
    return value[len("Bearer "):] if value and value.startswith("Bearer ") else value


# What api.openai.com answers a wrong key with (HTTP 401); LiteLLM maps it to AuthenticationError.
def _invalid_key(key: str | None) -> dict:
    shown = f"{key[:3]}...{key[-4:]}" if key and len(key) > 8 else (key or "")
    return {"error": {"message": f"Incorrect API key provided: {shown}. You can find your API key at "
                                 "https://platform.openai.com/account/api-keys.",
                      "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}


async def _read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _send_json(send, status: int, payload: dict, cut: bool = False) -> None:
    data = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if cut:  # a server dying mid-answer: uvicorn drops the connection when the app raises
        await send({"type": "http.response.body", "body": data[: len(data) // 2], "more_body": True})
        raise ConnectionAbortedError("injected death mid-body")
    await send({"type": "http.response.body", "body": data})


def _chat_chunk(model: str, delta: dict, finish_reason=None) -> bytes:
    chunk = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _usage(prompt: int = 5, completion: int = 3) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class _App:
    def __init__(self, upstream: Upstream):
        self.upstream = upstream

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        raw = await _read_body(receive)
        body = json.loads(raw) if raw else {}
        path = scope["path"]
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.upstream.requests.append(Recorded(path, headers, body))
        model = body.get("model", "")
        behavior = self.upstream.behavior_for(model)

        if behavior.api_key is not None and bearer(headers) != behavior.api_key:
            await _send_json(send, 401, _invalid_key(bearer(headers)))
            return
        if behavior.hang:
            while not self.upstream._stopping.is_set():
                await asyncio.sleep(0.1)
            return
        await asyncio.sleep(behavior.latency)
        if behavior.status != 200:
            error = {"error": {"message": f"injected failure {behavior.status}", "type": "server_error", "code": behavior.status}}
            await _send_json(send, behavior.status, error)
            return
        if path.endswith("/chat/completions"):
            await self._chat(send, model, body, behavior)
        elif path.endswith("/completions"):
            await _send_json(send, 200, {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": model,
                                         "choices": [{"index": 0, "text": behavior.text, "finish_reason": "stop"}], "usage": _usage()},
                             behavior.cut_body)
        elif path.endswith("/embeddings"):
            inputs = body.get("input", [])
            inputs = [inputs] if isinstance(inputs, str) else inputs
            data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3, 0.4]} for i in range(len(inputs))]
            await _send_json(send, 200, {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 2, "total_tokens": 2}},
                             behavior.cut_body)
        elif path.endswith("/rerank"):
            documents = body.get("documents", [])
            results = [{"index": i, "relevance_score": round(1.0 - i / (len(documents) + 1), 3)} for i in range(len(documents))]
            await _send_json(send, 200, {"id": "rerank-fake", "results": results, "meta": {"billed_units": {"search_units": 1}}},
                             behavior.cut_body)
        elif path.endswith("/models"):
            await _send_json(send, 200, {"object": "list", "data": []})
        else:
            await _send_json(send, 404, {"error": {"message": f"no route {path}"}})

    async def _chat(self, send, model: str, body: dict, behavior: Behavior) -> None:
        if not body.get("stream"):
            await asyncio.sleep(behavior.first_token_delay)
            message = {"role": "assistant", "content": behavior.text}
            await _send_json(send, 200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": _usage(),
            }, behavior.cut_body)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        # An empty body message flushes the headers before the first token.
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await asyncio.sleep(behavior.first_token_delay)
        for index in range(behavior.chunks):
            if behavior.die_after_chunks is not None and index >= behavior.die_after_chunks:
                raise ConnectionAbortedError("injected mid-stream death")
            delta = {"role": "assistant", "content": behavior.text} if index == 0 else {"content": f" {index}"}
            await send({"type": "http.response.body", "body": _chat_chunk(model, delta), "more_body": True})
            if index + 1 < behavior.chunks:
                await asyncio.sleep(behavior.chunk_interval)
        final = _chat_chunk(model, {}, "stop") + b"data: [DONE]\n\n"
        await send({"type": "http.response.body", "body": final, "more_body": False})


@contextmanager
def run_upstream(port: int | None = None, host: str = "127.0.0.1"):
    """Serve the fake upstream on `host` (default loopback; 0.0.0.0 for containers) in a background thread."""
    port = port or free_port()
    upstream = Upstream(url=f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}")
    config = uvicorn.Config(_App(upstream), host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake upstream did not start")
        time.sleep(0.02)
    try:
        yield upstream
    finally:
        upstream._stopping.set()
        server.should_exit = True
        thread.join(timeout=10)
