"""The smoke suite's proxy config (also used by bench/probe.py)."""

from __future__ import annotations

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
