"""One probe request through the proxy, and what its answer proves.

Every request bypasses LiteLLM's response cache with its per-request cache
controls, `"cache": {"no-cache": true, "no-store": true}` in the body (read
as the `cache` kwarg: litellm/caching/caching_handler.py skips the lookup on
no-cache and the write on no-store; the proxy passes body fields through).
An answer that still carries `x-litellm-cache-key` (set only on a cache hit)
is a failure. A request pinned to a deployment also sends
`disable_fallbacks: true`, and its answer must name that deployment in
`x-litellm-model-id`. Line numbers: docs/smoke.md.

Everything taken from the answer and shown to people goes through
opsctl.redact.safe_text.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

import httpx

from opsctl.redact import redact, safe_text
from opsctl.smoke.wire import MAX_ERROR, TooLarge, read_body, read_prefix, sse_data

CACHE_BYPASS = {"no-cache": True, "no-store": True}
CACHE_HIT_HEADER = "x-litellm-cache-key"
# mode -> (route, the smallest real request but the model)
REQUESTS = {
    "chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Reply with: ok"}], "max_tokens": 4, "stream": True}),
    "embedding": ("/v1/embeddings", {"input": "ok"}),
    "rerank": ("/v1/rerank", {"query": "Which says ok?", "documents": ["ok", "not this one"]}),
}
MAX_ERROR_TEXT = 200
# "litellm.InternalServerError: InternalServerError: OpenAIException - boom LiteLLM: model group 'x' failed ..."
ERROR_PREFIXES = re.compile(r"^(?:litellm\.\w+: )?(?:\w+Error: )?")
LITELLM_ADVICE = re.compile(r" LiteLLM: model group ")


@dataclass
class Answer:
    error: str | None = None  # None: the answer proves the deployment (or group) works
    latency_ms: float | None = None
    ttft_ms: float | None = None  # chat: time to the first content chunk
    model_id: str | None = None  # x-litellm-model-id: the deployment that answered (raw)
    model_group: str | None = None  # x-litellm-model-group: the group that served it (raw)
    attempted_fallbacks: int = 0


class Requester:
    """Sends probe requests on one HTTP client; `secrets` are redacted from all server text."""

    def __init__(self, http: httpx.AsyncClient, secrets: tuple[str, ...]):
        self.http = http
        self.secrets = secrets

    def clean(self, text: object) -> str:
        """Server text on one line: redacted, without control sequences, LiteLLM's prefixes and advice."""
        text = " ".join(safe_text(text, self.secrets).split())
        text = LITELLM_ADVICE.split(text, maxsplit=1)[0]
        text = ERROR_PREFIXES.sub("", text)
        return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"

    async def send(self, mode: str, model: str, *, pinned: bool) -> Answer:
        """POST the probe for `mode` to `model` (a deployment id when `pinned`, else a group name)."""
        path, body = REQUESTS[mode]
        payload = {**body, "model": model, "cache": CACHE_BYPASS}
        if pinned:
            payload["disable_fallbacks"] = True
        answer = Answer()
        started = time.perf_counter()
        try:
            async with self.http.stream("POST", path, json=payload) as response:
                answer.error = await self._read(mode, model, pinned, response, answer, started)
        except TooLarge as error:
            answer.error = str(error)
        except httpx.TimeoutException as error:
            answer.error = f"the proxy did not answer in time ({type(error).__name__})"
        except httpx.TransportError as error:
            answer.error = f"the connection to the proxy failed ({type(error).__name__})"
        answer.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return answer

    async def _read(self, mode: str, model: str, pinned: bool, response: httpx.Response, answer: Answer, started: float) -> str | None:
        headers = response.headers
        answer.model_id = headers.get("x-litellm-model-id")
        answer.model_group = headers.get("x-litellm-model-group")
        try:
            answer.attempted_fallbacks = int(headers.get("x-litellm-attempted-fallbacks", "0"))
        except ValueError:
            pass
        if not 200 <= response.status_code < 300:
            return f"HTTP {response.status_code}: {self.clean(self._error_message(await read_prefix(response, MAX_ERROR)))}"
        if headers.get(CACHE_HIT_HEADER):
            return f"answered from LiteLLM's cache ({CACHE_HIT_HEADER} is set), not by the deployment"
        if pinned and answer.model_id != model:
            who = self.clean(answer.model_id) if answer.model_id else "no deployment id"
            return f"answered by {who}, not by the deployment probed"
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding != "identity":
            return f"the answer is compressed ({self.clean(encoding)}) though the probe asked for identity"
        if mode == "chat":
            return await self._read_chat_stream(response, answer, started)
        return self._check_body(mode, await read_body(response))

    def _error_message(self, raw: bytes) -> str:
        """LiteLLM's error text: `{"error": {"message": ...}}`, `{"detail": ...}`, or the text itself.
        Secrets are masked before parsing, so a cut or a JSON escape cannot split one."""
        text = redact(raw.decode("utf-8", "replace"), self.secrets)
        try:
            body = json.loads(text)
        except ValueError:
            return text
        if isinstance(body, dict):
            error = body.get("error", body.get("detail", body))
            if isinstance(error, dict):
                error = error.get("message", error)
            return str(error)
        return text

    async def _read_chat_stream(self, response: httpx.Response, answer: Answer, started: float) -> str | None:
        """Read the SSE stream to [DONE]: an error event, an unreadable chunk or no content is a failure."""
        async for data in sse_data(response):
            if data == "[DONE]":
                return None if answer.ttft_ms is not None else "the stream carried no content"
            try:
                chunk = json.loads(data)
            except ValueError:
                return f"unreadable stream chunk: {self.clean(data)}"
            if not isinstance(chunk, dict):
                return f"unreadable stream chunk: {self.clean(data)}"
            if "error" in chunk:
                error = chunk["error"]
                message = error.get("message", error) if isinstance(error, dict) else error
                return f"stream error: {self.clean(message)}"
            for choice in chunk.get("choices") or []:
                delta = (choice.get("delta") if isinstance(choice, dict) else None) or {}
                if answer.ttft_ms is None and isinstance(delta, dict) and (
                        delta.get("content") or delta.get("reasoning_content") or delta.get("tool_calls")):
                    answer.ttft_ms = round((time.perf_counter() - started) * 1000, 1)
        return "the stream ended without [DONE]"

    @staticmethod
    def _check_body(mode: str, raw: bytes) -> str | None:
        try:
            body = json.loads(raw)
        except ValueError:
            return "the answer is not JSON"
        key = "data" if mode == "embedding" else "results"
        return None if isinstance(body, dict) and isinstance(body.get(key), list) and body[key] else f"the answer has no {key}"
