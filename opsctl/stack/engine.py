"""Container state from the engine API (Docker or Podman via DOCKER_HOST),
found by the compose labels, never by parsing CLI output."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone

from opsctl.errors import ExitCode, OpsctlError

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class Port:
    host_ip: str
    host_port: str
    container_port: str  # "4000/tcp"

    @property
    def loopback(self) -> bool:
        return self.host_ip.startswith("127.") or self.host_ip in LOOPBACK

    def __str__(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip or "0.0.0.0"
        return f"{host}:{self.host_port}->{self.container_port}"


@dataclass(frozen=True)
class ContainerState:
    id: str
    name: str
    service: str
    state: str  # running, exited, created, restarting, paused, dead
    health: str | None  # healthy, unhealthy, starting; None: no healthcheck
    exit_code: int
    image: str
    started_at: datetime | None
    ports: tuple[Port, ...]

    @property
    def ready(self) -> bool:
        """Healthy (or running without a healthcheck), or a one-shot that completed."""
        if self.state == "running":
            return self.health in (None, "healthy")
        return self.state == "exited" and self.exit_code == 0

    @property
    def state_label(self) -> str:
        """The state, with the exit code of an exited container: "exited (1)"."""
        return f"exited ({self.exit_code})" if self.state == "exited" else self.state

    @property
    def failed(self) -> bool:
        return self.state in ("exited", "dead") and self.exit_code != 0

    def uptime_seconds(self, now: datetime | None = None) -> float | None:
        if self.state != "running" or self.started_at is None:
            return None
        return ((now or datetime.now(timezone.utc)) - self.started_at).total_seconds()

    def as_dict(self) -> dict:
        return {
            "service": self.service,
            "name": self.name,
            "state": self.state,
            "health": self.health,
            "exit_code": self.exit_code,
            "image": self.image,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "uptime_seconds": self.uptime_seconds(),
            "ports": [
                {"host_ip": p.host_ip, "host_port": p.host_port, "container_port": p.container_port, "loopback": p.loopback}
                for p in self.ports
            ],
        }


def connect(timeout: float = 10):
    """A docker SDK client for DOCKER_HOST (or the default socket), checked with a ping."""
    import docker
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    where = os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"
    try:
        # A fixed API version spares a /version round trip (slow on podman); 1.41 is served by
        # Docker Engine 20.10+ and podman 4+.
        client = docker.from_env(version="1.41", timeout=timeout)
        client.ping()
    except (DockerException, RequestException) as error:
        reason = type(error).__name__ if isinstance(error, RequestException) else str(error).splitlines()[0][:160]
        raise OpsctlError(
            f"cannot reach the container engine at {where}: {reason} "
            "(start Docker, or `podman system service --time=0 unix:///PATH/podman.sock` and set DOCKER_HOST)",
            ExitCode.UNREACHABLE,
        ) from None
    return client


def _timestamp(value: str | None) -> datetime | None:
    if not value or value.startswith("0001-"):
        return None
    # Engines give nanoseconds; datetime takes microseconds.
    head, _, rest = value.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6]
    stamp = datetime.fromisoformat(head + (f".{fraction}" if fraction else ""))
    return stamp.replace(tzinfo=timezone.utc)


def _ports(network_settings: dict) -> tuple[Port, ...]:
    found = []
    for container_port, bindings in sorted((network_settings.get("Ports") or {}).items()):
        for binding in bindings or []:
            found.append(Port(binding.get("HostIp") or "0.0.0.0", str(binding.get("HostPort", "")), container_port))
    return tuple(found)


def state_of(attrs: dict) -> ContainerState:
    """One container's state from its inspect document."""
    state = attrs.get("State") or {}
    health = (state.get("Health") or {}).get("Status") or None
    config = attrs.get("Config") or {}
    if not config.get("Healthcheck") or (config["Healthcheck"].get("Test") or ["NONE"])[0] == "NONE":
        health = None
    labels = config.get("Labels") or {}
    return ContainerState(
        id=attrs["Id"],
        name=attrs.get("Name", "").lstrip("/"),
        service=labels.get(SERVICE_LABEL, "?"),
        state=state.get("Status", "unknown"),
        health=health,
        exit_code=int(state.get("ExitCode") or 0),
        image=config.get("Image") or attrs.get("Image", ""),
        started_at=_timestamp(state.get("StartedAt")),
        ports=_ports(attrs.get("NetworkSettings") or {}),
    )


def project_containers(client, project: str, services: tuple[str, ...] = ()) -> list[ContainerState]:
    """Every container of a compose project (stopped ones too), sorted by service."""
    listed = client.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    states = [state_of(client.api.inspect_container(item["Id"])) for item in listed]
    if services:
        states = [s for s in states if s.service in services]
    return sorted(states, key=lambda s: (s.service, s.name))


def log_tail(client, container_id: str, lines: int = 20) -> list[str]:
    raw = client.api.logs(container_id, stdout=True, stderr=True, tail=lines)
    return raw.decode(errors="replace").splitlines()
