"""Start a real LiteLLM proxy process (the pinned PyPI package, no database).

    with start_proxy(config_path, env={"UPSTREAM": url}) as proxy:
        httpx.get(proxy.url + "/health/liveliness")
        assert "ERROR" not in proxy.log_text()
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx

TEST_MASTER_KEY = "sk-opsctl-test-4d1b2c9e7f3a"
LITELLM_BIN = Path(sys.executable).parent / "litellm"

# Settings of the caller's shell that would change what the proxy does.
_SCRUBBED = ("DATABASE_URL", "LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "LITELLM_MODE", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a server this harness started, killing it if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class RunningProxy:
    url: str
    port: int
    log_path: Path
    master_key: str
    process: subprocess.Popen

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def is_live(proxy: RunningProxy) -> bool:
    try:
        return httpx.get(proxy.url + "/health/liveliness", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _wait_until(proxy: RunningProxy, ready: Callable[[RunningProxy], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            raise RuntimeError(f"LiteLLM proxy exited with {proxy.process.returncode}:\n{proxy.log_text()[-4000:]}")
        if ready(proxy):
            return
        time.sleep(0.25)
    raise RuntimeError(f"LiteLLM proxy not ready after {timeout}s:\n{proxy.log_text()[-4000:]}")


@contextmanager
def start_proxy(
    config_path,
    env: dict | None = None,
    port: int | None = None,
    timeout: float = 120,
    ready: Callable[[RunningProxy], bool] = is_live,
):
    """Run `litellm --config` on 127.0.0.1 until the block ends; the log is kept for assertions.

    The block starts once `ready(proxy)` is true (by default: /health/liveliness answers).
    """
    port = port or free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="opsctl-proxy-"))
    log_path = log_dir / "proxy.log"
    full_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    full_env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_MASTER_KEY=TEST_MASTER_KEY,
        LITELLM_TELEMETRY="False",
        PYTHONUNBUFFERED="1",
    )
    full_env.update(env or {})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(LITELLM_BIN), "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=log_dir,
            env=full_env,
        )
    proxy = RunningProxy(f"http://127.0.0.1:{port}", port, log_path, full_env["LITELLM_MASTER_KEY"], process)
    try:
        _wait_until(proxy, ready, timeout)
        yield proxy
    finally:
        stop_process(process)
