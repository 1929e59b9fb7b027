"""One real LiteLLM proxy for the whole smoke suite, in front of the fake
wire-level upstream and a real llama.cpp server with SmolLM2.

Every scenario owns its model group, so a test that makes one group fail
(500, hang, fallback) does not disturb the others; the upstream's behaviours
are reset after each test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import yaml

from tests.smoke.stack import proxy_config
from tests.support.llamacpp import start_llamacpp
from tests.support.proxy import RunningProxy, free_port, start_proxy
from tests.support.upstream import Upstream, run_upstream


@dataclass
class Stack:
    proxy: RunningProxy
    upstream: Upstream

    @property
    def env(self) -> dict:
        """The environment that points opsctl at this proxy."""
        return {"LITELLM_PROXY_URL": self.proxy.url, "LITELLM_MASTER_KEY": self.proxy.master_key}


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    config_path = tmp_path_factory.mktemp("smoke-proxy") / "config.yaml"
    upstream_port = free_port()
    with start_llamacpp() as llamacpp_url:
        config_path.write_text(yaml.safe_dump(proxy_config(f"http://127.0.0.1:{upstream_port}", llamacpp_url)))
        with start_proxy(config_path) as proxy:
            # The upstream stops first: requests it holds hung end, so the proxy shuts down at once.
            with run_upstream(port=upstream_port) as upstream:
                yield Stack(proxy, upstream)


@pytest.fixture
def fresh_stack(stack):
    """The shared stack, with every upstream model back to its default behaviour afterwards."""
    yield stack
    stack.upstream.behaviors.clear()
