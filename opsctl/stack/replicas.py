"""The compose stack's proxy replicas (`opsctl init --replicas N`): which services
they are, their state in the LB, and the rolling restart (replicas.rolling) with
`docker compose restart litellm-i` as the restart and the engine's health of
that container (its readiness healthcheck, after the restart) as ready.

The LB's runtime API is its unix socket in the stack directory
(haproxy/run/admin.sock, bind-mounted into the lb service).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from opsctl.errors import ExitCode, OpsctlError
from opsctl.replicas import stack as layout
from opsctl.replicas.haproxy import HAProxyRuntime, ServerStat
from opsctl.replicas.lbconfig import BACKEND
from opsctl.replicas.rolling import RollingReport, Target, rolling_restart
from opsctl.settings import Settings

# LiteLLM drains its own in-flight requests on SIGTERM for up to GRACEFUL_SHUTDOWN_TIMEOUT (default 30 s,
# litellm/proxy/shutdown/graceful_shutdown_manager.py): compose must not SIGKILL it before that.
STOP_TIMEOUT_SECONDS = 35


def is_gateway_service(service: str) -> bool:
    """The proxy (litellm), one of its replicas (litellm-N) or the LB in front of them."""
    return service in (layout.PROXY, layout.LB_SERVICE) or layout.replica_number(service) is not None


def replica_services(services) -> list[str]:
    """The replica service names among `services`, in replica order (litellm-2 before litellm-10)."""
    found = {name for name in services if layout.replica_number(name) is not None}
    return sorted(found, key=layout.replica_number)


def socket_path(settings: Settings) -> Path:
    return settings.compose_path.parent / layout.RUNTIME_SOCKET


def runtime(settings: Settings) -> HAProxyRuntime:
    return HAProxyRuntime(str(socket_path(settings)))


def lb_states(settings: Settings) -> dict[str, ServerStat] | None:
    """Each replica's server in the LB's API backend, by name; None when the stack has no LB socket."""
    if not socket_path(settings).exists():
        return None
    return {s.name: s for s in runtime(settings).stats() if s.backend == BACKEND}


def _ready_after(client, project: str, service: str, since: datetime) -> bool:
    """The service's container started after `since` and its (readiness) healthcheck says healthy."""
    from opsctl.stack.engine import project_containers

    states = project_containers(client, project, (service,))
    return bool(states) and all(s.state == "running" and s.health == "healthy" and s.started_at is not None
                                and s.started_at >= since for s in states)


def rolling_restart_stack(settings: Settings, timeout: float, progress: Callable[[str], None],
                          recreate: bool = False) -> RollingReport:
    """Restart litellm-1..N one at a time behind the LB; the others serve meanwhile.
    `recreate`: each on what the compose file and .env say now (`upgrade`'s new image), not as it was."""
    from opsctl.stack.compose import Compose, compose_command
    from opsctl.stack.engine import connect, project_containers

    compose_command()
    client = connect()
    compose = Compose(settings)
    names = replica_services(s.service for s in project_containers(client, compose.project))
    if len(names) < 2:
        raise OpsctlError(f"project {compose.project} has {len(names) or 'no'} proxy replica(s) running: a rolling "
                          "restart needs the stack `opsctl init --replicas N` writes (N > 1), brought up", ExitCode.USAGE)
    lb = runtime(settings)
    lb.stats()  # unreachable socket: one line, before anything is touched
    restarted_at: dict[str, datetime] = {}

    def restart(target: Target) -> None:
        # Engines give start times to the microsecond or second: compare with this second's start.
        restarted_at[target.name] = datetime.now(timezone.utc).replace(microsecond=0)
        if recreate:
            compose.run("up", "-d", "--no-deps", "--force-recreate", "--timeout", str(STOP_TIMEOUT_SECONDS), target.name)
        else:
            compose.run("restart", "--timeout", str(STOP_TIMEOUT_SECONDS), target.name)

    def ready(target: Target) -> bool:
        return _ready_after(client, compose.project, target.name, restarted_at[target.name])

    started = time.monotonic()
    report = rolling_restart(lb, BACKEND, [Target(name, name) for name in names], restart,
                             drain_timeout=min(60.0, timeout), ready_timeout=timeout, progress=progress, ready=ready)
    progress(f"{compose.project}: {len(names)} replicas {'recreated' if recreate else 'restarted'} one at a time in {time.monotonic() - started:.0f}s")
    return report


def proxy_services(client, project: str, service: str) -> tuple[str, ...]:
    """What `opsctl restart SERVICE` restarts: `litellm` on a replicas stack means every replica."""
    from opsctl.stack.engine import project_containers

    if service != layout.PROXY:
        return (service,)
    names = replica_services(s.service for s in project_containers(client, project))
    return tuple(names) or (service,)


def lb_column(settings: Settings, services) -> tuple[dict[str, ServerStat] | None, str | None]:
    """(each replica's LB server, a warning) for `opsctl status`; nothing to say on a one-proxy stack."""
    if not replica_services(services):
        return None, None
    try:
        states = lb_states(settings)
    except OpsctlError as error:
        return None, f"the LB's state is unknown: {error}"
    if states is None:
        return None, f"the LB's state is unknown: no runtime socket at {socket_path(settings)} (is lb up?)"
    return states, None
