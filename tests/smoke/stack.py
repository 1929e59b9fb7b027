"""The smoke suite's proxy config (also used by bench/probe.py).

The cache block is the reference stack's own (`litellm_settings.cache` and
`cache_params` of opsctl/stack/template/litellm/config.yaml: Redis with a
password, ttl 600 for acompletion/aembedding), so every probe runs against
the cache the issue was found with.
"""

from __future__ import annotations

from pathlib import Path

import yaml

import opsctl

TEMPLATE_CONFIG = Path(opsctl.__file__).parent / "stack" / "template" / "litellm" / "config.yaml"

# model group -> [(litellm model, mode, upstream)]; the upstream sees the part after the provider prefix.
# "main" is the suite's fake upstream; "spare" a second one that tests kill (and the suite restarts).
FAKE_GROUPS = {
    "chat-a": [("openai/chat-a", "chat", "main")],
    "chat-broken": [("openai/chat-broken", "chat", "main")],
    "chat-hang": [("openai/chat-hang", "chat", "main")],
    "chat-primary": [("openai/chat-primary", "chat", "main")],
    "chat-backup": [("openai/chat-backup", "chat", "main")],
    "chat-mixed": [("openai/chat-mixed-1", "chat", "main"), ("openai/chat-mixed-2", "chat", "spare")],
    "chat-cached": [("openai/chat-cached", "chat", "spare")],
    "embed-a": [("openai/embed-a", "embedding", "main")],
    "embed-cached": [("openai/embed-cached", "embedding", "spare")],
    "rerank-a": [("cohere/rerank-a", "rerank", "main")],
    "image-a": [("openai/image-a", "image_generation", "main")],
}
LLAMACPP_GROUP = "llamacpp-local"


def reference_cache_settings() -> dict:
    settings = yaml.safe_load(TEMPLATE_CONFIG.read_text())["litellm_settings"]
    return {"cache": settings["cache"], "cache_params": settings["cache_params"]}


def proxy_config(upstreams: dict[str, str], llamacpp_url: str | None, groups=FAKE_GROUPS, fallbacks=None,
                 cache: bool = True) -> dict:
    """A proxy config in the runbook's shape: modes in model_info, fallbacks in router_settings,
    the reference cache (it reads REDIS_HOST, REDIS_PORT and REDIS_PASSWORD from the environment)."""
    model_list = []
    for group, deployments in groups.items():
        for model, mode, upstream in deployments:
            url = upstreams[upstream]
            model_list.append({
                "model_name": group,
                "litellm_params": {"model": model, "api_base": url if model.startswith("cohere/") else url + "/v1",
                                   "api_key": "fake-upstream-key"},
                "model_info": {"mode": mode},
            })
    if llamacpp_url:
        model_list.append({
            "model_name": LLAMACPP_GROUP,
            "litellm_params": {"model": "openai/smollm2", "api_base": llamacpp_url, "api_key": "none"},
            "model_info": {"mode": "chat"},
        })
    config = {
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
    if cache:
        config["litellm_settings"] = reference_cache_settings()
    return config
