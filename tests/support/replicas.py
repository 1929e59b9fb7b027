"""Real parts for the replica tests: a private password-protected redis-server,
a haproxy process on a config rendered by opsctl.replicas.lbconfig, and N
DB-backed LiteLLM proxies (tests/support/db_proxy.py) sharing one database and
that Redis, each restartable on its own port. Needs scripts/setup/haproxy.sh."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from opsctl.replicas.haproxy import HAProxyRuntime
from opsctl.replicas.lbconfig import BACKEND, Replica, render_haproxy_cfg
from opsctl.replicas.rolling import Target
from tests.support.db_proxy import FAKE_CHAT_MODEL, start_db_proxy
from tests.support.proxy import free_port, stop_process

REDIS_PASSWORD = "opsctl-test-redis-password"


@dataclass
class Redis:
    port: int
    password: str


@contextmanager
def run_redis() -> Iterator[Redis]:
    assert shutil.which("redis-server"), "redis-server is missing: run scripts/setup/haproxy.sh"
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="opsctl-redis-")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", REDIS_PASSWORD,
         "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, 10)
        yield Redis(port, REDIS_PASSWORD)
    finally:
        stop_process(process)


def _wait_port(port: int, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def replica_config(upstream_url: str, redis: Redis) -> str:
    """Multi-instance settings as litellm 1.108.7 reads them (docs/replicas.md)."""
    return textwrap.dedent(f"""\
        model_list:
          - model_name: {FAKE_CHAT_MODEL}
            litellm_params:
              model: openai/{FAKE_CHAT_MODEL}
              api_base: {upstream_url}/v1
              api_key: sk-fake-upstream
        router_settings:
          redis_host: 127.0.0.1
          redis_port: {redis.port}
          redis_password: {redis.password}
        general_settings:
          coordination_redis:
            host: 127.0.0.1
            port: {redis.port}
            password: {redis.password}
        """)


@dataclass
class Cluster:
    lb_url: str
    runtime: HAProxyRuntime
    replicas: list[Replica]
    config_path: Path
    database_url: str
    _stacks: dict = field(default_factory=dict)

    def targets(self) -> list[Target]:
        return [Target(r.name, f"http://127.0.0.1:{r.port}") for r in self.replicas]

    def start(self, replica: Replica) -> None:
        stack = ExitStack()
        stack.enter_context(start_db_proxy(self.config_path, self.database_url, port=replica.port, timeout=300))
        self._stacks[replica.name] = stack

    def stop(self, replica: Replica) -> None:
        self._stacks.pop(replica.name).close()

    def restart(self, target: Target) -> None:
        replica = next(r for r in self.replicas if r.name == target.name)
        self.stop(replica)
        self.start(replica)

    def served(self) -> dict[str, int]:
        return {s.name: s.total for s in self.runtime.stats() if s.backend == BACKEND}

    def wait_all_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [s.status for s in self.runtime.stats() if s.backend == BACKEND]
            if states and all(state == "UP" for state in states):
                return
            time.sleep(0.2)
        raise RuntimeError(f"HAProxy servers not all UP after {timeout}s: {self.runtime.stats()}")


@contextmanager
def run_cluster(count: int, upstream_url: str, redis: Redis, database_url: str) -> Iterator[Cluster]:
    assert shutil.which("haproxy"), "haproxy is missing: run scripts/setup/haproxy.sh"
    workdir = Path(tempfile.mkdtemp(prefix="opsctl-lb-"))
    config_path = workdir / "litellm.yaml"
    config_path.write_text(replica_config(upstream_url, redis))
    replicas = [Replica(f"litellm-{i}", "127.0.0.1", free_port()) for i in range(1, count + 1)]
    lb_port = free_port()
    socket_path = str(workdir / "haproxy.sock")
    (workdir / "haproxy.cfg").write_text(render_haproxy_cfg(replicas, f"127.0.0.1:{lb_port}", socket_path))
    cluster = Cluster(f"http://127.0.0.1:{lb_port}", HAProxyRuntime(socket_path), replicas, config_path, database_url)
    lb = subprocess.Popen(["haproxy", "-W", "-db", "-f", str(workdir / "haproxy.cfg")],
                          stdout=open(workdir / "haproxy.log", "wb"), stderr=subprocess.STDOUT)
    try:
        _wait_port(lb_port, 10)
        # Boots in parallel: each is ~15 s of mostly waiting on its database and imports.
        with ThreadPoolExecutor(len(replicas)) as pool:
            list(pool.map(cluster.start, replicas))
        cluster.wait_all_up()
        yield cluster
    finally:
        for name in list(cluster._stacks):
            cluster._stacks.pop(name).close()
        stop_process(lb)


@dataclass
class LoadResult:
    statuses: list = field(default_factory=list)  # int status, or the transport error's class name
    latencies: list = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for status in self.statuses if status != 200)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0

    def summary(self) -> str:
        return (f"{len(self.statuses)} requests, {self.failed} failed, "
                f"p50 {self.percentile(50) * 1000:.0f} ms, p99 {self.percentile(99) * 1000:.0f} ms, "
                f"max {max(self.latencies, default=0) * 1000:.0f} ms")


def chat(client, url: str, key: str, model: str = FAKE_CHAT_MODEL):
    return client.post(url + "/chat/completions", headers={"Authorization": f"Bearer {key}"},
                       json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


@contextmanager
def steady_load(url: str, key: str, clients: int = 4, max_seconds: float = 600,
                model: str = FAKE_CHAT_MODEL) -> Iterator[LoadResult]:
    """`clients` threads sending chat requests back to back until the block ends (bounded)."""
    import threading

    import httpx

    result = LoadResult()
    stop = threading.Event()
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    status = chat(client, url, key, model).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                with lock:
                    result.statuses.append(status)
                    result.latencies.append(time.monotonic() - started)
                if status != 200:
                    time.sleep(0.05)  # a failing LB answers at once: do not spin the 2 cores the proxies boot on

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield result
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=40)
