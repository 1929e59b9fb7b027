"""Rolling restart: one replica at a time, so the load balancer always has the others.

For each replica, in order:
  1. drain it in HAProxy (no new requests; in-flight ones go on),
  2. wait until HAProxy counts 0 sessions on it (bounded by `drain_timeout`),
  3. maint (out of the health checks too),
  4. restart it through the caller's callback (the proxy's own SIGTERM drain,
     LiteLLM's GracefulShutdownManager, finds nothing left in flight),
  5. wait until its own /health/readiness answers 200 (bounded by `ready_timeout`;
     `ready` says how: by default a GET on the replica's URL),
  6. ready (HAProxy puts it back once its health check passes), and wait for UP.
On a failure the loop stops: the replica that failed stays in maint, the ones
not reached yet were never touched, and the error says which one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from opsctl.errors import ExitCode, OpsctlError
from opsctl.replicas.haproxy import HAProxyRuntime


@dataclass(frozen=True)
class Target:
    name: str  # HAProxy server name
    url: str  # the replica itself, e.g. http://127.0.0.1:4001


@dataclass
class RollingReport:
    restarted: list[str] = field(default_factory=list)
    drain_seconds: dict[str, float] = field(default_factory=dict)
    ready_seconds: dict[str, float] = field(default_factory=dict)


def _wait(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise OpsctlError(f"{what}: gave up after {timeout:g}s", ExitCode.TIMEOUT)
        time.sleep(poll)
    return time.monotonic() - started


def is_ready(url: str, timeout: float = 3.0) -> bool:
    import httpx

    try:
        return httpx.get(url.rstrip("/") + "/health/readiness", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def rolling_restart(
    runtime: HAProxyRuntime,
    backend: str,
    targets: list[Target],
    restart: Callable[[Target], None],
    drain_timeout: float = 60.0,
    ready_timeout: float = 180.0,
    progress: Callable[[str], None] = lambda message: None,
    ready: Callable[[Target], bool] = lambda target: is_ready(target.url),
) -> RollingReport:
    report = RollingReport()
    for target in targets:
        progress(f"{target.name}: draining")
        runtime.set_state(backend, target.name, "drain")
        report.drain_seconds[target.name] = _wait(
            lambda: runtime.server(backend, target.name).scur == 0, drain_timeout, f"{target.name}: in-flight requests"
        )
        runtime.set_state(backend, target.name, "maint")
        progress(f"{target.name}: restarting")
        restart(target)
        report.ready_seconds[target.name] = _wait(
            lambda: ready(target), ready_timeout, f"{target.name}: /health/readiness", poll=0.5
        )
        runtime.set_state(backend, target.name, "ready")
        # Back in rotation only once HAProxy's own check says UP: then the next one may go.
        _wait(lambda: runtime.server(backend, target.name).status == "UP", ready_timeout, f"{target.name}: HAProxy UP")
        report.restarted.append(target.name)
        progress(f"{target.name}: back in service")
    return report
