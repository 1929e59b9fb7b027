"""HAProxy's runtime API over its unix stats socket (one command per connection).

Only what a rolling restart needs: a server's state (drain, maint, ready) and
its counters from `show stat`. Every call is bounded by `timeout`.
"""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass

from opsctl.errors import ExitCode, OpsctlError

STATES = ("ready", "drain", "maint")


@dataclass(frozen=True)
class ServerStat:
    backend: str
    name: str
    status: str  # UP, DOWN, DRAIN, MAINT, "UP 1/2", ...
    scur: int  # sessions in flight on this server now
    total: int  # sessions served since HAProxy started


class HAProxyRuntime:
    def __init__(self, socket_path: str, timeout: float = 5.0):
        self.socket_path = socket_path
        self.timeout = timeout

    def command(self, line: str) -> str:
        """Send one command, return HAProxy's whole answer."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.socket_path)
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except (OSError, socket.timeout) as error:
            raise OpsctlError(f"HAProxy runtime API at {self.socket_path}: {error}", ExitCode.UNREACHABLE) from None
        return b"".join(chunks).decode(errors="replace")

    def set_state(self, backend: str, server: str, state: str) -> None:
        if state not in STATES:
            raise OpsctlError(f"unknown server state {state!r} (one of {', '.join(STATES)})", ExitCode.USAGE)
        answer = self.command(f"set server {backend}/{server} state {state}").strip()
        if answer:  # success is an empty answer; anything else is HAProxy's complaint
            raise OpsctlError(f"HAProxy refused {state} for {backend}/{server}: {answer[:200]}")

    def stats(self) -> list[ServerStat]:
        """Every server of every backend (not the FRONTEND/BACKEND summary rows)."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return [
            ServerStat(row["pxname"], row["svname"], row["status"], int(row["scur"] or 0), int(row["stot"] or 0))
            for row in rows
            if row.get("svname") not in (None, "FRONTEND", "BACKEND")
        ]

    def server(self, backend: str, name: str) -> ServerStat:
        for stat in self.stats():
            if stat.backend == backend and stat.name == name:
                return stat
        raise OpsctlError(f"HAProxy has no server {backend}/{name}", ExitCode.USAGE)
