"""One real LiteLLM proxy for the whole smoke suite, with the reference
stack's cache (a private password-protected redis-server), in front of two
wire-level fake upstreams and a real llama.cpp server with SmolLM2.

Every scenario owns its model group, so a test that makes one group fail
(500, hang, fallback) does not disturb the others; the upstream's behaviours
are reset after each test. The "spare" upstream can be killed (`spare_killed`)
and is started again on the same port afterwards.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
import yaml

from tests.smoke.redis_server import RedisServer, start_redis
from tests.smoke.stack import proxy_config
from tests.support.llamacpp import start_llamacpp
from tests.support.proxy import RunningProxy, free_port, start_proxy
from tests.support.upstream import Upstream, run_upstream

# LiteLLM keeps idle upstream connections 15 s (AIOHTTP_KEEPALIVE_TIMEOUT, litellm/constants.py:358),
# uvicorn-based servers (the fake, vLLM, llama-cpp-python) close them after 5 s: a request that reuses
# one as it closes fails with "Connection error." and is not retried. Below 5 s, as docs/smoke.md advises.
PROXY_ENV = {"AIOHTTP_KEEPALIVE_TIMEOUT": "4"}
# LiteLLM's own /health waits this long for a deployment (its default is 60 s).
HEALTH_CHECK_TIMEOUT = 10  # long enough for SmolLM2 on a busy machine


class Spare:
    """A fake upstream on a fixed port that can be killed and started again."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._running: ExitStack | None = None
        self.upstream: Upstream | None = None

    def start(self) -> None:
        if self._running is None:
            self._running = ExitStack()
            self.upstream = self._running.enter_context(run_upstream(port=self.port))

    def kill(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = self.upstream = None


@dataclass
class Stack:
    proxy: RunningProxy
    upstream: Upstream
    spare: Spare
    redis: RedisServer

    @property
    def env(self) -> dict:
        """The environment that points opsctl at this proxy."""
        return {"LITELLM_PROXY_URL": self.proxy.url, "LITELLM_MASTER_KEY": self.proxy.master_key}

    def model_info(self) -> list[dict]:
        headers = {"Authorization": f"Bearer {self.proxy.master_key}"}
        return httpx.get(self.proxy.url + "/model/info", headers=headers, timeout=10).json()["data"]

    def deployment_ids(self, group: str) -> list[str]:
        return [d["model_info"]["id"] for d in self.model_info() if d["model_name"] == group]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    config_path = tmp_path_factory.mktemp("smoke-proxy") / "config.yaml"
    upstream_port = free_port()
    spare = Spare()
    with start_redis() as redis, start_llamacpp() as llamacpp_url:
        upstreams = {"main": f"http://127.0.0.1:{upstream_port}", "spare": spare.url}
        config_path.write_text(yaml.safe_dump(proxy_config(upstreams, llamacpp_url)))
        env = {**redis.env, **PROXY_ENV, "HEALTH_CHECK_TIMEOUT_SECONDS": str(HEALTH_CHECK_TIMEOUT)}
        with start_proxy(config_path, env=env) as proxy:
            # The upstreams stop first: requests they hold hung end, so the proxy shuts down at once.
            try:
                with run_upstream(port=upstream_port) as upstream:
                    spare.start()
                    yield Stack(proxy, upstream, spare, redis)
            finally:
                spare.kill()


@pytest.fixture
def fresh_stack(stack):
    """The shared stack, with every upstream model back to its default behaviour afterwards."""
    yield stack
    stack.upstream.behaviors.clear()
    stack.spare.start()
    stack.spare.upstream.behaviors.clear()


@pytest.fixture
def spare_killed(fresh_stack):
    """The stack with the spare upstream killed (chat-cached, embed-cached, one of chat-mixed's two)."""
    fresh_stack.spare.kill()
    yield fresh_stack
