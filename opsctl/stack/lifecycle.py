"""Bringing services up and waiting until they are really ready: what `opsctl up`
and `opsctl restart` do, for any caller (the commands, and `opsctl secrets`,
which recreates the proxy after changing its .env)."""

from __future__ import annotations

from opsctl.errors import ExitCode, OpsctlError
from opsctl.output import status
from opsctl.settings import Settings


def readiness_url(settings: Settings) -> str:
    return (settings.health_url or settings.proxy_url).rstrip("/") + "/health/readiness"


def bring_up(settings: Settings, compose_args: tuple[str, ...], services: tuple[str, ...], timeout: float,
             profiles: tuple[str, ...] = (), existing_only: bool = False, proxy_alias: bool = False) -> None:
    """Run a compose command (up, restart), then wait for `services` and the proxy's readiness.

    proxy_alias: `litellm` in `services` stands for every replica on a stack of replicas.
    """
    from opsctl.stack.compose import Compose, compose_command
    from opsctl.stack.engine import connect, project_containers
    from opsctl.stack.readiness import show_failed_logs, wait_until_ready
    from opsctl.stack.replicas import proxy_services

    compose_command()  # a missing tool is reported before anything starts
    client = connect()
    compose = Compose(settings, profiles)
    if proxy_alias:
        services = tuple(name for service in services for name in proxy_services(client, compose.project, service))
        compose_args = (compose_args[0], *services)
    if existing_only and not project_containers(client, compose.project, services):
        # compose would restart nothing and we would wait the whole timeout.
        raise OpsctlError(
            f"service {', '.join(services)} has no container in project {compose.project}: start it with `opsctl up`",
            ExitCode.FAILED,
        )
    try:
        compose.run(*compose_args)
    except OpsctlError:
        show_failed_logs(client, compose.project)  # e.g. a dependency that exited non-zero
        raise
    wait_until_ready(client, compose.project, services, readiness_url(settings), timeout)
    status(f"{compose.project}: ready")
