"""Wait until a stack is really up: every container healthy (or, for one-shot
services, exited 0), then the proxy's /health/readiness answering healthy.

Progress goes to stderr: a live table on a terminal, one line per change
otherwise (CI logs). On timeout the error names the stuck service, after
printing its last log lines.
"""

from __future__ import annotations

import time
from collections import Counter

from opsctl.stack.engine import ContainerState, log_tail, project_containers
from opsctl.stack.replicas import is_gateway_service
from opsctl.errors import ExitCode, OpsctlError
from opsctl.output import status, stderr_console

PROXY_SERVICE = "litellm"  # the runbook's `docker-compose restart litellm`
LOG_TAIL_LINES = 20


def describe(state: ContainerState) -> str:
    return f"{state.state_label}, {state.health}" if state.health else state.state_label


def proxy_readiness(url: str) -> tuple[bool, str]:
    """(healthy?, what it answered) for GET /health/readiness."""
    import httpx

    try:
        response = httpx.get(url, timeout=3)
    except httpx.HTTPError as error:
        return False, f"{url}: {type(error).__name__}"
    try:
        body = response.json()
    except ValueError:
        body = None
    answer = body.get("status") if isinstance(body, dict) else None
    healthy = response.status_code == 200 and answer == "healthy"
    return healthy, f"{url}: HTTP {response.status_code}" + (f", status {answer}" if answer else "")


class Display:
    """A live table on a terminal; otherwise a line whenever something changes."""

    def __init__(self) -> None:
        self.console = stderr_console()
        self.live = None
        self.last: dict[str, str] = {}
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(console=self.console, transient=True, auto_refresh=False)
            self.live.start()

    def update(self, rows: dict[str, str]) -> None:
        if self.live is not None:
            from rich.table import Table

            table = Table("service", "state", title="waiting for the stack", title_justify="left")
            for name, text in rows.items():
                table.add_row(name, text)
            self.live.update(table, refresh=True)
            return
        for name, text in rows.items():
            if self.last.get(name) != text:
                status(f"{name}: {text}")
        self.last = dict(rows)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def show_log_tail(client, state: ContainerState, label: str = "") -> None:
    status(f"--- last {LOG_TAIL_LINES} log lines of {state.name}{label} ---")
    for line in log_tail(client, state.id, LOG_TAIL_LINES):
        status(line)


def show_failed_logs(client, project: str) -> None:
    """The last lines of every container of `project` that exited non-zero: why a compose command failed."""
    for state in project_containers(client, project, ()):
        if state.failed:
            show_log_tail(client, state, f" (exited {state.exit_code})" if state.state == "exited" else f" ({state.state})")


def _stuck(states: list[ContainerState]) -> ContainerState | None:
    waiting = [s for s in states if not s.ready]
    waiting.sort(key=lambda s: (not s.failed, s.health != "unhealthy"))
    return waiting[0] if waiting else None


def wait_until_ready(
    client,
    project: str,
    services: tuple[str, ...] = (),
    readiness_url: str | None = None,
    timeout: float = 300,
    interval: float = 1.0,
) -> list[ContainerState]:
    """Poll until ready; raise OpsctlError(TIMEOUT) naming the stuck service.

    readiness_url is checked only once every container is ready, and only
    when the proxy service (or a replica of it, or the LB) is among the containers waited for.
    """
    deadline = time.monotonic() + timeout
    display = Display()
    proxy_note = ""
    try:
        while True:
            states = project_containers(client, project, services)
            per_service = Counter(s.service for s in states)
            rows = {(s.service if per_service[s.service] == 1 else s.name): describe(s) for s in states}
            containers_ready = bool(states) and all(s.ready for s in states)
            check_proxy = readiness_url and any(is_gateway_service(s.service) for s in states)
            proxy_ok = True
            if containers_ready and check_proxy:
                proxy_ok, proxy_note = proxy_readiness(readiness_url)
                rows["readiness"] = proxy_note
            display.update(rows)
            if containers_ready and proxy_ok:
                return states
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
    finally:
        display.close()

    if not states:
        raise OpsctlError(f"timed out after {timeout:g}s: project {project} has no containers", ExitCode.TIMEOUT)
    stuck = _stuck(states)
    if stuck is None:  # every container is fine; the proxy is not ready
        stuck = next(s for s in states if is_gateway_service(s.service))
        why = f"readiness not healthy ({proxy_note})"
    else:
        why = describe(stuck)
    show_log_tail(client, stuck)
    raise OpsctlError(
        f"timed out after {timeout:g}s waiting for service {stuck.service}: {why} (its last log lines are above)",
        ExitCode.TIMEOUT,
    )
