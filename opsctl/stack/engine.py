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
    """The few Engine API calls opsctl makes, as plain HTTP/1.0 GETs on a socket.

    `import docker` costs more than the whole `opsctl status` otherwise does (it
    pulls in requests and urllib3), so plain unix:// and tcp:// engines are
    spoken to directly; TLS and ssh:// hosts go through the docker SDK
    (SdkEngineClient) instead, which handles their certificates and tunnels.
    """

    API = "/v1.41"  # fixed: spares a /version round trip; Docker 20.10+ and podman 4+ serve it

    def __init__(self, host: str, timeout: float) -> None:
        self.host = host
        self.timeout = timeout

    def _socket(self):
        import socket

        if self.host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(self.host[len("unix://"):])
            return sock
        address = self.host.split("://", 1)[1].rstrip("/")
        name, _, port = address.rpartition(":")
        return socket.create_connection((name.strip("[]") or "localhost", int(port or 2375)), timeout=self.timeout)

    def _get(self, path: str, query: dict | None = None) -> bytes:
        """One GET as HTTP/1.0 on its own connection: the engine answers with Content-Length or
        closes (a chunked answer is decoded), so reading to the close is the whole answer (http.client alone
        costs more to import than this whole exchange takes)."""
        from urllib.parse import urlencode

        url = self.API + path + (f"?{urlencode(query)}" if query else "")
        try:
            with self._socket() as sock:
                sock.sendall(f"GET {url} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
                raw = _read_to_close(sock, MAX_RESPONSE_BYTES + 64 * 1024)
        except OSError as error:  # refused, missing socket, timeout, reset
            raise unreachable(error.strerror or type(error).__name__) from None
        head, separator, body = raw.partition(b"\r\n\r\n")
        try:
            code = int(head.split(b" ", 2)[1]) if separator else 0
        except (IndexError, ValueError):
            code = 0
        if not code:
            raise EngineError(f"GET {path}: not an HTTP answer")
        if b"\ntransfer-encoding: chunked" in head.lower():
            body = _dechunk(body)
        if code >= 400 or len(body) > MAX_RESPONSE_BYTES:
            raise EngineError(f"GET {path}: HTTP {code}")
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


def _read_to_close(sock, limit: int) -> bytes:
    chunks, size = [], 0
    while size <= limit:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _dechunk(body: bytes) -> bytes:
    """A chunked body (an engine that chunks even for HTTP/1.0) as its bytes."""
    out, offset = [], 0
    while True:
        line_end = body.find(b"\r\n", offset)
        if line_end < 0:
            break
        try:
            size = int(body[offset:line_end].split(b";")[0], 16)
        except ValueError:
            raise EngineError("a malformed chunked answer") from None
        if size == 0:
            break
        out.append(body[line_end + 2:line_end + 2 + size])
        offset = line_end + 2 + size + 2
    return b"".join(out)


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


def _inspect_all(client, ids: list[str]) -> list[dict]:
    """client.inspect of each id, all at once (threads: concurrent.futures costs its import)."""
    import threading

    found: list = [None] * len(ids)

    def inspect(index: int) -> None:
        try:
            found[index] = client.inspect(ids[index])
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            found[index] = error

    threads = [threading.Thread(target=inspect, args=(index,), daemon=True) for index in range(1, len(ids))]
    for thread in threads:
        thread.start()
    if ids:
        inspect(0)
    for thread in threads:
        thread.join()
    for item in found:
        if isinstance(item, BaseException):
            raise item
    return found


def project_containers(client, project: str, services: tuple[str, ...] = ()) -> list[ContainerState]:
    """Every container of a compose project (stopped ones too), sorted by service.

    The inspects run at once: each is a round trip the engine may take tens of
    milliseconds over (podman), and `opsctl status` would otherwise pay them in a row."""
    states = [state_of(item) for item in _inspect_all(client, client.containers(project))]
    if services:
        states = [s for s in states if s.service in services]
    return sorted(states, key=lambda s: (s.service, s.name))


def log_tail(client, container_id: str, lines: int = 20) -> list[str]:
    return client.logs(container_id, lines).decode(errors="replace").splitlines()
