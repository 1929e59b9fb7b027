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

from tests.support.llamacpp import start_llamacpp
from tests.support.proxy import RunningProxy, free_port, start_proxy
from tests.support.upstream import Upstream, run_upstream

# model group -> (litellm model, mode); the upstream sees the part after the provider prefix.
FAKE_GROUPS = {
    "chat-a": ("openai/chat-a", "chat"),
    "chat-broken": ("openai/chat-broken", "chat"),
    "chat-hang": ("openai/chat-hang", "chat"),
    "chat-primary": ("openai/chat-primary", "chat"),
    "chat-backup": ("openai/chat-backup", "chat"),
    "embed-a": ("openai/embed-a", "embedding"),
    "rerank-a": ("cohere/rerank-a", "rerank"),
    "image-a": ("openai/image-a", "image_generation"),
}
LLAMACPP_GROUP = "llamacpp-local"


def proxy_config(upstream_url: str, llamacpp_url: str | None, groups=FAKE_GROUPS, fallbacks=None) -> dict:
    """A proxy config in the runbook's shape: modes in model_info, fallbacks in router_settings."""
    model_list = []
    for group, (model, mode) in groups.items():
        api_base = upstream_url if model.startswith("cohere/") else upstream_url + "/v1"
        model_list.append({
            "model_name": group,
            "litellm_params": {"model": model, "api_base": api_base, "api_key": "fake-upstream-key"},
            "model_info": {"mode": mode},
        })
    if llamacpp_url:
        model_list.append({
            "model_name": LLAMACPP_GROUP,
            "litellm_params": {"model": "openai/smollm2", "api_base": llamacpp_url, "api_key": "none"},
            "model_info": {"mode": "chat"},
        })
    return {
        "model_list": model_list,
        "router_settings": {
            "routing_strategy": "simple-shuffle",
            "enable_pre_call_checks": True,
            "allowed_fails": 3,
            "cooldown_time": 30,
            "num_retries": 0,
            "fallbacks": fallbacks if fallbacks is not None else [{"chat-primary": ["chat-backup"]}],
        },
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }


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
