"""The health half of `opsctl smoke`: public routes answer, readiness holds,
and routes that must not be public refuse a request without a key.

Checked on the proxy and, when `settings.health_url` is set, on the separate
health app (SEPARATE_HEALTH_APP=1, 127.0.0.1:4001). All requests run at once,
one attempt each, so a proxy that is down is reported in well under a second.
Each request ends after REQUEST_SECONDS in all (not per read: a server that
drips a byte a second would never trip a read timeout) or at the run's
deadline, whichever comes first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import asdict, dataclass, field

import httpx

from opsctl.admin.client import AsyncProxyClient, ProxyError, RetryPolicy
from opsctl.settings import Settings
from opsctl.smoke.codes import SmokeExit
from opsctl.smoke.deadline import Deadline

# The runbook's public routes: route -> what it proves.
PUBLIC_ROUTES = {
    "/healthz": "liveness",
    "/readyz": "readiness",
    "/health/liveliness": "liveness",
    "/health/readiness": "readiness",
}
# Routes that must refuse a request without a key: they list keys, deployments, or make model calls.
PROTECTED_ROUTES = ("/key/list", "/model/info", "/health")
REQUEST_SECONDS = 5.0
REQUEST_TIMEOUT = httpx.Timeout(REQUEST_SECONDS, connect=2.0)


@dataclass
class RouteCheck:
    target: str  # "proxy" or "health app"
    route: str
    kind: str  # liveness, readiness or protected
    outcome: str  # ok, not served, failed, unreachable, refused, open
    passed: bool
    status: int | None = None  # HTTP status; None when there was no answer
    detail: str = ""
    elapsed_ms: float = 0.0


@dataclass
class TargetHealth:
    name: str
    url: str
    ready: bool
    reason: str = ""  # why it is not ready


@dataclass
class HealthReport:
    expect_db: bool
    targets: list[TargetHealth] = field(default_factory=list)
    checks: list[RouteCheck] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(target.ready for target in self.targets)

    @property
    def proxy_ready(self) -> bool:
        """The proxy itself (not the health app) is ready: its models can be probed."""
        return all(target.ready for target in self.targets if target.name == "proxy")

    @property
    def exit_code(self) -> SmokeExit:
        if not self.ready:
            return SmokeExit.UNREACHABLE
        if not all(check.passed for check in self.checks):
            return SmokeExit.FAILED
        return SmokeExit.OK

    def to_dict(self) -> dict:
        return {
            "ready": self.ready,
            "expect_db": self.expect_db,
            "exit_code": int(self.exit_code),
            "targets": [asdict(target) for target in self.targets],
            "checks": [asdict(check) for check in self.checks],
        }


def _no_answer(client: AsyncProxyClient, error: ProxyError) -> str:
    """The error without the URL, which the target row already shows."""
    return error.message.replace(f"the proxy at {client.url}", "it")


def readiness_problem(body, expect_db: bool) -> str:
    """Why a 2xx readiness answer still means not ready ('' when it is ready)."""
    if not isinstance(body, dict):
        return ""
    if body.get("status") not in (None, "healthy"):
        return f"status {body.get('status')}"
    if expect_db and "db" in body and body["db"] != "connected":
        return f"database {body['db']}"
    return ""


class _NoAnswer(Exception):
    """The route gave no complete answer in time."""


async def _get(client: AsyncProxyClient, route: str, deadline: Deadline):
    ends_at, by_deadline = deadline.limit(REQUEST_SECONDS)
    try:
        async with asyncio.timeout_at(ends_at):
            return await client.get(route, auth=False)
    except TimeoutError:
        raise _NoAnswer(deadline.reason if by_deadline else f"no complete answer in {REQUEST_SECONDS:g}s") from None


async def _check_public(client: AsyncProxyClient, target: str, route: str, kind: str, expect_db: bool,
                        deadline: Deadline) -> RouteCheck:
    started = time.perf_counter()
    check = RouteCheck(target, route, kind, "ok", True)
    try:
        body = await _get(client, route, deadline)
    except _NoAnswer as error:
        check.outcome, check.passed, check.detail = "failed", False, str(error)
    except ProxyError as error:
        check.status = error.status
        if error.status == 404:
            check.outcome, check.detail = "not served", "HTTP 404"
        elif error.status is None:
            check.outcome, check.passed, check.detail = "unreachable", False, _no_answer(client, error)
        else:
            check.outcome, check.passed = "failed", False
            check.detail = f"HTTP {error.status}: {error.detail}" if error.detail else f"HTTP {error.status}"
    else:
        check.status = 200
        problem = readiness_problem(body, expect_db) if kind == "readiness" else ""
        if problem:
            check.outcome, check.passed, check.detail = "failed", False, problem
        elif isinstance(body, dict) and "db" in body:
            check.detail = f"database {body['db']}"
    check.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return check


async def _check_protected(client: AsyncProxyClient, target: str, route: str, deadline: Deadline) -> RouteCheck:
    """Any refusal passes (LiteLLM answers 401; 500 where its auth error handler
    itself fails); only an answer without a key is a hole, and no answer proves nothing."""
    started = time.perf_counter()
    check = RouteCheck(target, route, "protected", "refused", True)
    try:
        await _get(client, route, deadline)
    except _NoAnswer as error:
        check.outcome, check.passed, check.detail = "no answer", False, str(error)
    except ProxyError as error:
        check.status = error.status
        if error.status is None:
            check.outcome, check.passed, check.detail = "unreachable", False, _no_answer(client, error)
        elif error.status == 404:
            check.outcome, check.detail = "not served", "HTTP 404"
        else:
            check.detail = f"HTTP {error.status} without a key"
    else:
        check.status, check.outcome, check.passed = 200, "open", False
        check.detail = "answered without a key: it must not be public"
    check.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return check


def _target_health(name: str, url: str, checks: list[RouteCheck]) -> TargetHealth:
    served = {check.kind for check in checks if check.outcome != "not served"}
    broken = [check for check in checks if check.kind != "protected" and not check.passed]
    if any(check.outcome == "unreachable" for check in checks):
        return TargetHealth(name, url, False, f"cannot reach {url}")
    if broken:
        return TargetHealth(name, url, False, "; ".join(f"{check.route}: {check.detail}" for check in broken))
    for kind in ("liveness", "readiness"):
        if kind not in served:
            return TargetHealth(name, url, False, f"no {kind} route is served")
    return TargetHealth(name, url, True)


async def _check_target(settings: Settings, name: str, expect_db: bool, deadline: Deadline,
                        transport) -> tuple[TargetHealth, list[RouteCheck]]:
    async with AsyncProxyClient(settings, timeout=REQUEST_TIMEOUT, retry=RetryPolicy(retries=0), transport=transport) as client:
        checks = await asyncio.gather(
            *(_check_public(client, name, route, kind, expect_db, deadline) for route, kind in PUBLIC_ROUTES.items()),
            *(_check_protected(client, name, route, deadline) for route in PROTECTED_ROUTES),
        )
        return _target_health(name, client.url, list(checks)), list(checks)


async def check_health(settings: Settings, expect_db: bool, transport: httpx.AsyncBaseTransport | None = None,
                       deadline: Deadline | float = 60.0) -> HealthReport:
    """Check the proxy and, if configured, the health app, concurrently."""
    if not isinstance(deadline, Deadline):
        deadline = Deadline(deadline)
    targets = [("proxy", settings)]
    if settings.health_url:
        targets.append(("health app", dataclasses.replace(settings, proxy_url=settings.health_url)))
    results = await asyncio.gather(*(_check_target(s, name, expect_db, deadline, transport) for name, s in targets))
    report = HealthReport(expect_db=expect_db)
    for target, checks in results:
        report.targets.append(target)
        report.checks.extend(checks)
    return report

