"""A proxy that behaves as badly as a server can, written at the wire (raw
HTTP/1.1 on asyncio streams, so every byte and every pause is ours).

`GET /model/info` lists one model group per misbehaviour, each with one
deployment `dep-<group>`; a request for the group or its deployment gets:

    drip          200 SSE headers, then one byte a second, forever
    silent        200 SSE headers and one content chunk, then nothing, never closing
    endless       200 SSE, 60 KB chunks without content as fast as the socket takes them, forever
    huge          200 with a 10 MB JSON body (Content-Length says so)
    huge-error    500 with a 10 MB body that starts with the master key and ANSI escapes
    echo-error    500, LiteLLM's error shape, the message full of ANSI escapes, the master
                  key (raw and JSON-escaped), a URL password and a plaintext sk- key
    stream-error  200 SSE, an error event carrying the same
    unreadable    200 SSE, a chunk that is not JSON, carrying the same

`GET /health/liveliness` drips too (for `smoke health`); anything else is 404.
"""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import contextmanager

from tests.support.proxy import free_port

MODES = {"drip": "chat", "silent": "chat", "endless": "chat", "huge": "embedding", "huge-error": "chat",
         "echo-error": "chat", "stream-error": "chat", "unreadable": "chat"}
URL_PASSWORD = "hunter2-url-password"
MINTED_KEY = "sk-minted0123456789abcdef"
ESCAPES = "\x1b[31m\x1b]0;pwned\x07\x1b[2J\x9b"


def poison(master_key: str) -> str:
    """Text a hostile server echoes: every secret opsctl must never print, and terminal escapes."""
    return (f"{ESCAPES}boom {master_key} escaped={json.dumps(master_key)[1:-1]} "
            f"db=postgresql://litellm:{URL_PASSWORD}@db:5432/x minted={MINTED_KEY}\x1b[0m")


class HostileProxy:
    def __init__(self, master_key: str):
        self.master_key = master_key
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[str] = []  # the `model` of every POST

    def model_info(self) -> dict:
        return {"data": [{"model_name": group, "litellm_params": {"model": f"openai/{group}",
                                                                  "api_base": f"https://u:{URL_PASSWORD}@upstream.test/v1"},
                          "model_info": {"id": f"dep-{group}", "mode": mode}} for group, mode in MODES.items()]}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
            length = int(headers.get("content-length") or headers.get("Content-Length") or 0)
            body = json.loads(await reader.readexactly(length)) if length else {}
            await self.answer(method, path.split("?")[0], body, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:  # the server is stopping; this handler is the top of its task
            pass
        finally:
            writer.close()

    async def answer(self, method: str, path: str, body: dict, writer: asyncio.StreamWriter) -> None:
        if method == "GET" and path == "/model/info":
            return await self.send(writer, 200, json.dumps(self.model_info()).encode())
        if method == "GET" and path == "/health/liveliness":
            return await self.drip(writer, {"content-type": "application/json"})
        if method != "POST":
            return await self.send(writer, 404, b'{"detail":"Not Found"}')
        model = str(body.get("model", ""))
        self.requests.append(model)
        group = model.removeprefix("dep-")
        ident = {"x-litellm-model-id": f"dep-{group}", "x-litellm-model-group": group}
        sse = {"content-type": "text/event-stream", **ident}
        poisoned = poison(self.master_key)
        chunk = b'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n'
        if group == "drip":
            return await self.drip(writer, sse)
        if group == "silent":
            await self.start(writer, 200, sse)
            writer.write(chunk)
            await writer.drain()
            return await asyncio.sleep(3600)
        if group == "endless":
            await self.start(writer, 200, sse)
            line = b'data: {"choices": [], "pad": "' + b"x" * 60000 + b'"}\n\n'
            while True:
                writer.write(line)
                await writer.drain()
        if group == "huge":
            return await self.send(writer, 200, b'{"data": [' + b"0.1, " * (2 * 1024 * 1024) + b"0.1]}", ident)
        if group == "huge-error":
            return await self.send(writer, 500, (poisoned + " ").encode() + b"x" * (10 * 1024 * 1024), ident)
        if group == "echo-error":
            error = {"error": {"message": poisoned, "type": "internal_server_error", "code": "500"}}
            return await self.send(writer, 500, json.dumps(error).encode(), ident)
        if group == "stream-error":
            await self.start(writer, 200, sse)
            writer.write(b"data: " + json.dumps({"error": {"message": poisoned}}).encode() + b"\n\n")
            return await writer.drain()
        if group == "unreadable":
            await self.start(writer, 200, sse)
            writer.write(b"data: " + poisoned.encode() + b" {not json\n\n")
            return await writer.drain()
        return await self.send(writer, 404, b'{"detail":"Not Found"}')

    @staticmethod
    async def start(writer, status: int, headers: dict) -> None:
        """Response headers with no length: the body ends when the connection does (HTTP/1.1 allows it)."""
        lines = [f"HTTP/1.1 {status} X", "connection: close", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()

    @staticmethod
    async def send(writer, status: int, body: bytes, headers: dict | None = None) -> None:
        lines = [f"HTTP/1.1 {status} X", "content-type: application/json", f"content-length: {len(body)}",
                 "connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()

    async def drip(self, writer, headers: dict) -> None:
        await self.start(writer, 200, headers)
        for byte in b"data: " * 100000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1)


@contextmanager
def run_hostile_proxy(master_key: str):
    proxy = HostileProxy(master_key)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server_box = {}

    async def serve():
        server_box["server"] = await asyncio.start_server(proxy.handle, "127.0.0.1", proxy.port)
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the hostile proxy did not start")
    try:
        yield proxy
    finally:
        async def stop():
            server_box["server"].close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
