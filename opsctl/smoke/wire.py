"""Reading a probe's answer without trusting the server: every body is read
up to a cap, stream lines are cut at a length, and nothing is decompressed
(the probes ask for `Accept-Encoding: identity`). Time is bounded by the
caller (opsctl.smoke.probe wraps each request in its timeout and the run's
deadline); memory is bounded here."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

MAX_ANSWER = 1 << 20  # a probe's whole answer: a few tokens, one embedding, two scores
MAX_ERROR = 64 << 10  # of an error body, only this much is read (its first line is all we show)
MAX_LINE = 64 << 10  # one SSE line


class TooLarge(Exception):
    """The server sent more than the cap allows."""


def _declared_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers.get("content-length", ""))
    except ValueError:
        return None


async def read_body(response: httpx.Response, limit: int = MAX_ANSWER) -> bytes:
    """The whole body, or TooLarge as soon as it passes `limit` bytes."""
    declared = _declared_length(response)
    if declared is not None and declared > limit:
        raise TooLarge(f"the answer is {declared} bytes, over the {limit // 1024} KiB a probe reads")
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"the answer passed the {limit // 1024} KiB a probe reads")
    return bytes(body)


async def read_prefix(response: httpx.Response, limit: int = MAX_ERROR) -> bytes:
    """At most the first `limit` bytes; the rest is never read (the connection is dropped on close)."""
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) >= limit:
            return bytes(body[:limit])
    return bytes(body)


async def sse_data(response: httpx.Response, limit: int = MAX_ANSWER, max_line: int = MAX_LINE) -> AsyncIterator[str]:
    """The payload of each `data:` line of a server-sent event stream, within the caps."""
    total = 0
    pending = b""
    async for chunk in response.aiter_raw():
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"the stream passed the {limit // 1024} KiB a probe reads")
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if len(pending) > max_line:
            raise TooLarge(f"a stream line passed {max_line // 1024} KiB")
        for line in lines:
            if len(line) > max_line:
                raise TooLarge(f"a stream line passed {max_line // 1024} KiB")
            if line.startswith(b"data:"):
                yield line[5:].strip().decode("utf-8", "replace")
    if pending.startswith(b"data:"):
        yield pending[5:].strip().decode("utf-8", "replace")
