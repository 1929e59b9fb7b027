"""Each proxy replica behind the stack's load balancer, checked on its own.

The replicas are not published (only the LB is), so opsctl reaches each one
through the LB: the reference HAProxy config (opsctl/replicas/lbconfig.py)
sends a request carrying `X-Opsctl-Replica: NAME` to that server even when
HAProxy has marked it down (`force-persist`), and names the server that
answered in the same response header. An answer from any other server (a
redispatch after a failed connection, an LB without that config) is a
failure, never a pass: it proves nothing about the replica asked for.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from opsctl.redact import safe_text
from opsctl.settings import Settings
from opsctl.smoke.deadline import Deadline
from opsctl.smoke.health import REQUEST_SECONDS, REQUEST_TIMEOUT, RouteCheck, readiness_problem

REPLICA_HEADER = "X-Opsctl-Replica"
ROUTES = {"/health/liveliness": "liveness", "/health/readiness": "readiness"}
MAX_BODY = 64 * 1024  # a health answer is a few hundred bytes


class _Cut(Exception):
    """No answer from the replica that counts."""


async def _answer(http: httpx.AsyncClient, name: str, route: str, deadline: Deadline) -> tuple[int, bytes]:
    ends_at, by_deadline = deadline.limit(REQUEST_SECONDS)
    try:
        async with asyncio.timeout_at(ends_at):
            async with http.stream("GET", route, headers={REPLICA_HEADER: name}) as response:
                served = response.headers.get(REPLICA_HEADER)
                if served != name:
                    who = f"server {safe_text(served, limit=40)!r}" if served else "no named server"
                    raise _Cut(f"the LB answered from {who}, not {name} (is it the config `opsctl init --replicas` writes?)")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise _Cut(f"answer larger than {MAX_BODY} bytes")
                return response.status_code, body
    except TimeoutError:
        raise _Cut(deadline.reason if by_deadline else f"no complete answer in {REQUEST_SECONDS:g}s") from None
    except httpx.HTTPError as error:
        raise _Cut(f"cannot reach the LB ({type(error).__name__})") from None


async def _check(http: httpx.AsyncClient, name: str, route: str, kind: str, expect_db: bool,
                 deadline: Deadline) -> RouteCheck:
    started = time.perf_counter()
    check = RouteCheck(f"replica {name}", route, kind, "ok", True)
    try:
        check.status, body = await _answer(http, name, route, deadline)
    except _Cut as error:
        check.outcome, check.passed, check.detail = "failed", False, str(error)
    else:
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        problem = "" if check.status == 200 else f"HTTP {check.status}"
        problem = problem or (readiness_problem(parsed, expect_db) if kind == "readiness" else "")
        if problem:
            check.outcome, check.passed, check.detail = "failed", False, problem
        elif isinstance(parsed, dict) and "db" in parsed:
            check.detail = f"database {safe_text(parsed['db'], limit=40)}"
    check.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return check


async def check_replicas(settings: Settings, names: list[str], expect_db: bool, deadline: Deadline,
                         transport: httpx.AsyncBaseTransport | None = None) -> list[RouteCheck]:
    """Liveness and readiness of every replica, all at once, one attempt each."""
    base = settings.proxy_base_url()
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT, transport=transport, follow_redirects=False,
                                 verify=not base.startswith("http://"), trust_env=False) as http:
        return list(await asyncio.gather(
            *(_check(http, name, route, kind, expect_db, deadline) for name in names for route, kind in ROUTES.items())))
