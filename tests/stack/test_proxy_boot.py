"""The generated config boots a real LiteLLM proxy (PyPI package, no database)
with its callbacks and no warning about a setting in its log, and answers a
repeated request from its password-protected Redis cache."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time

import httpx
import pytest
from click.testing import CliRunner
from dotenv import dotenv_values

from opsctl.cli import cli
from tests.support.proxy import free_port, start_proxy
from tests.support.upstream import run_upstream


@pytest.fixture
def private_redis(tmp_path):
    """A password-protected redis-server of our own on a free loopback port."""
    assert shutil.which("redis-server"), "redis-server is missing: run scripts/setup/stack.sh as root"
    password, port = secrets.token_hex(16), free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password,
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(port), "--no-auth-warning", "-a", password, "ping"],
                         capture_output=True, text=True).stdout.strip() != "PONG":
        assert time.monotonic() < deadline and server.poll() is None
        time.sleep(0.1)
    yield port, password
    server.terminate()
    server.wait(10)


def redis_keys(port: int, password: str) -> list[str]:
    listed = subprocess.run(["redis-cli", "-p", str(port), "--no-auth-warning", "-a", password, "--scan"],
                            capture_output=True, text=True, check=True)
    return listed.stdout.split()


def test_generated_config_boots_a_real_proxy_without_setting_warnings(tmp_path, private_redis):
    redis_port, redis_password = private_redis
    assert CliRunner().invoke(cli, ["init", "stack"]).exit_code == 0
    stack_env = dotenv_values(tmp_path / "stack" / ".env")
    unused = "http://127.0.0.1:9"  # upstreams are not called while booting
    with run_upstream() as upstream:
        env = {
            "LITELLM_MASTER_KEY": stack_env["LITELLM_MASTER_KEY"],
            "LITELLM_SALT_KEY": stack_env["LITELLM_SALT_KEY"],
            "LITELLM_MODE": "PRODUCTION",
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(redis_port),
            "REDIS_PASSWORD": redis_password,
            **{name: unused for name in ("OLLAMA_API_BASE", "OLLAMA_LOCAL_API_BASE", "VLLM_API_BASE", "LOCAL_RERANK_API_BASE")},
            "LLAMACPP_API_BASE": upstream.url + "/v1",
            "LLAMACPP_API_KEY": "sk-no-key-required",
            "OPENAI_API_KEY": "sk-unused",
            "COHERE_API_KEY": "unused",
        }
        with start_proxy(tmp_path / "stack" / "litellm" / "config.yaml", env=env) as proxy:
            readiness = httpx.get(proxy.url + "/health/readiness", timeout=10).json()
            key = {"Authorization": f"Bearer {stack_env['LITELLM_MASTER_KEY']}"}
            models = httpx.get(proxy.url + "/v1/models", headers=key, timeout=10).json()
            request = {"model": "llamacpp-local", "messages": [{"role": "user", "content": "cache me"}]}
            answers = [httpx.post(proxy.url + "/v1/chat/completions", headers=key, json=request, timeout=30) for _ in range(2)]
            log = proxy.log_text()

    assert readiness["status"] == "healthy"
    assert '"level": "ERROR"' not in log
    assert len(models["data"]) == 11
    warnings = [line for line in log.splitlines() if re.search(r"\bWARNING\b|\"level\": \"WARNING\"|Ignoring|unknown|not recognized", line, re.I)]
    assert warnings == []

    # The second answer came from Redis: the upstream saw one request, Redis holds the entry.
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[1].json()["choices"][0]["message"]["content"] == "ok"
    assert len(upstream.requests_for("llamacpp-local")) == 1
    assert answers[1].headers["x-litellm-cache-key"] in redis_keys(redis_port, redis_password)
