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


class EngineClient:
    """The few Engine API calls opsctl makes, over the standard library's HTTP client.

    `import docker` costs more than the whole `opsctl status` otherwise does (it
    pulls in requests and urllib3), so plain unix:// and tcp:// engines are
    spoken to directly; TLS and ssh:// hosts go through the docker SDK
    (SdkEngineClient) instead, which handles their certificates and tunnels.
    """

    API = "/v1.41"  # fixed: spares a /version round trip; Docker 20.10+ and podman 4+ serve it

    def __init__(self, host: str, timeout: float) -> None:
        self.host = host
        self.timeout = timeout

    def _connection(self):
        import http.client
        import socket

        if self.host.startswith("unix://"):
            path = self.host[len("unix://"):]

            class UnixConnection(http.client.HTTPConnection):
                def connect(self):
                    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.sock.settimeout(self.timeout)
                    self.sock.connect(path)

            return UnixConnection("localhost", timeout=self.timeout)
        address = self.host.split("://", 1)[1].rstrip("/")
        return http.client.HTTPConnection(address, timeout=self.timeout)

    def _get(self, path: str, query: dict | None = None) -> bytes:
        from urllib.parse import urlencode

        url = self.API + path + (f"?{urlencode(query)}" if query else "")
        connection = self._connection()
        try:
            connection.request("GET", url, headers={"Host": "docker"})
            response = connection.getresponse()
            body = response.read(MAX_RESPONSE_BYTES + 1)
        except OSError as error:  # refused, missing socket, timeout, reset
            raise unreachable(error.strerror or type(error).__name__) from None
        finally:
            connection.close()
        if response.status >= 400 or len(body) > MAX_RESPONSE_BYTES:
            raise EngineError(f"GET {path}: HTTP {response.status}")
        return body

    def _json(self, path: str, query: dict | None = None):
        import json

        try:
            return json.loads(self._get(path, query))
        except ValueError:
            raise EngineError(f"GET {path}: not JSON") from None

    def ping(self) -> None:
        self._get("/_ping")

    def containers(self, project: str) -> list[str]:
        import json

        listed = self._json("/containers/json", {"all": "1", "filters": json.dumps({"label": [f"{PROJECT_LABEL}={project}"]})})
        return [item["Id"] for item in listed]

    def inspect(self, container_id: str) -> dict:
        return self._json(f"/containers/{container_id}/json")

    def logs(self, container_id: str, lines: int) -> bytes:
        raw = self._get(f"/containers/{container_id}/logs", {"stdout": "1", "stderr": "1", "tail": str(lines)})
        return demultiplex(raw)


class SdkEngineClient:
    """The same calls through the docker SDK, for TLS and ssh:// engines."""

    def __init__(self, timeout: float) -> None:
        import docker

        self.api = docker.from_env(version="1.41", timeout=timeout).api

    def ping(self) -> None:
        self.api.ping()

    def containers(self, project: str) -> list[str]:
        return [item["Id"] for item in self.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})]

    def inspect(self, container_id: str) -> dict:
        return self.api.inspect_container(container_id)

    def logs(self, container_id: str, lines: int) -> bytes:
        return self.api.logs(container_id, stdout=True, stderr=True, tail=lines)


class EngineError(Exception):
    """The engine answered, but not with what was asked for."""


MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def demultiplex(raw: bytes) -> bytes:
    """A non-TTY container's log stream: 8-byte frame headers (stream, 0, 0, 0, size) then data."""
    if not raw or raw[0] not in (0, 1, 2) or raw[1:4] != b"\0\0\0":
        return raw  # a TTY container's log is plain bytes
    out, offset = [], 0
    while offset + 8 <= len(raw):
        size = int.from_bytes(raw[offset + 4:offset + 8], "big")
        out.append(raw[offset + 8:offset + 8 + size])
        offset += 8 + size
    return b"".join(out)


def _needs_sdk(host: str) -> bool:
    return not host.startswith(("unix://", "tcp://", "http://")) or bool(os.environ.get("DOCKER_TLS_VERIFY"))


def unreachable(reason: str) -> OpsctlError:
    where = os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"
    return OpsctlError(
        f"cannot reach the container engine at {where}: {reason} "
        "(start Docker, or `podman system service --time=0 unix:///PATH/podman.sock` and set DOCKER_HOST)",
        ExitCode.UNREACHABLE,
    )


def connect(timeout: float = 10, ping: bool = True):
    """An engine client for DOCKER_HOST (or the default socket), checked with a ping.

    Without `ping` the first real call is the check (one round trip less for
    `opsctl status`); its failure is the same one-line error.
    """
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        if _needs_sdk(host):
            from docker.errors import DockerException
            from requests.exceptions import RequestException

            try:
                client = SdkEngineClient(timeout)
                client.ping()
                return client
            except (DockerException, RequestException) as error:
                reason = type(error).__name__ if isinstance(error, RequestException) else str(error).splitlines()[0][:160]
                raise EngineError(reason) from None
        client = EngineClient(host, timeout)
        if ping:
            client.ping()
        return client
    except EngineError as error:
        raise unreachable(str(error)) from None


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
    states = [state_of(client.inspect(container_id)) for container_id in client.containers(project)]
    if services:
        states = [s for s in states if s.service in services]
    return sorted(states, key=lambda s: (s.service, s.name))


def log_tail(client, container_id: str, lines: int = 20) -> list[str]:
    return client.logs(container_id, lines).decode(errors="replace").splitlines()
