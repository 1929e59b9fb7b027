"""A private, password-protected redis-server (Debian's), like the reference
stack's: `redis-server --requirepass $REDIS_PASSWORD --save '' --appendonly no`."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.proxy import free_port, stop_process


@dataclass
class RedisServer:
    host: str
    port: int
    password: str

    @property
    def env(self) -> dict:
        """What the reference stack's .env gives the proxy."""
        return {"REDIS_HOST": self.host, "REDIS_PORT": str(self.port), "REDIS_PASSWORD": self.password}

    def command(self, *args: str) -> str:
        """One command over RESP, e.g. command("DBSIZE") -> ":3"."""
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            for parts in (("AUTH", self.password), args):
                sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p.encode()), p.encode()) for p in parts))
                reply = sock.recv(65536).decode()
            return reply.strip()


@contextmanager
def start_redis(timeout: float = 10):
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server)")
    server = RedisServer("127.0.0.1", free_port(), "redis-" + secrets.token_hex(12))
    process = subprocess.Popen(
        [binary, "--bind", server.host, "--port", str(server.port), "--requirepass", server.password,
         "--save", "", "--appendonly", "no", "--dir", tempfile.mkdtemp(prefix="opsctl-redis-")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if server.command("PING") == "+PONG":
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start (exit {process.poll()})")
            time.sleep(0.05)
        yield server
    finally:
        stop_process(process)
