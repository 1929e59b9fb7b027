"""ToolChoiceGuard in a real proxy: asserted on what the upstream received and
on what LiteLLM's loggers were given."""

import pytest

from tests.callbacks.conftest import DEPLOYMENTS

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
LITELLM_MODEL = dict(DEPLOYMENTS)

LOCAL_FAMILIES = [
    ("vllm-qwen2.5-0.5b-instruct", "*vllm*"),
    ("llamacpp-local", "*llamacpp*"),
    ("gemma3-1b-local", "*gemma*"),
    ("tgi-mistral", "*tgi*"),
    ("qwen2.5-7b-local", "*qwen*local*"),
    ("llama3.2-1b-local", "*vllm*"),  # matched by its deployment (hosted_vllm/...), not its public name
]
ELSEWHERE = ["qwen3-coder-480b-cloud", "deepseek-v3.1-671b-cloud", "team-box"]


@pytest.mark.parametrize(("model", "pattern"), LOCAL_FAMILIES)
def test_required_becomes_auto_for_the_default_local_families(default_proxy, model, pattern):
    response = default_proxy.chat(model, tools=TOOLS, tool_choice="required")

    assert response.status_code == 200
    sent = default_proxy.upstream_body(LITELLM_MODEL[model])
    assert sent["tool_choice"] == "auto"
    assert sent["tools"] == TOOLS
    logged = default_proxy.logged(response.headers["x-litellm-call-id"])
    assert logged["spend_logs_metadata"]["tool_choice_guard"] == [
        {"action": "coerced", "from": "required", "to": "auto", "pattern": pattern, "deployment": LITELLM_MODEL[model]}
    ]


@pytest.mark.parametrize("model", ELSEWHERE)
def test_required_is_untouched_elsewhere(default_proxy, model):
    response = default_proxy.chat(model, tools=TOOLS, tool_choice="required")

    assert response.status_code == 200
    assert default_proxy.upstream_body(LITELLM_MODEL[model])["tool_choice"] == "required"
    assert "tool_choice_guard" not in (default_proxy.logged(response.headers["x-litellm-call-id"])["spend_logs_metadata"] or {})


@pytest.mark.parametrize("choice", ["auto", "none", {"type": "function", "function": {"name": "lookup"}}])
def test_other_values_are_untouched_on_local_models(default_proxy, choice):
    response = default_proxy.chat("vllm-qwen2.5-0.5b-instruct", tools=TOOLS, tool_choice=choice)

    assert response.status_code == 200
    assert default_proxy.upstream_body(LITELLM_MODEL["vllm-qwen2.5-0.5b-instruct"])["tool_choice"] == choice


@pytest.mark.parametrize("model", ["vllm-qwen2.5-0.5b-instruct", "qwen3-coder-480b-cloud"])
def test_tool_choice_without_tools_is_dropped_and_logged(default_proxy, model):
    response = default_proxy.chat(model, tool_choice="required", metadata={"spend_logs_metadata": {"team": "red"}})

    assert response.status_code == 200
    sent = default_proxy.upstream_body(LITELLM_MODEL[model])
    assert "tool_choice" not in sent and "tools" not in sent
    logged = default_proxy.logged(response.headers["x-litellm-call-id"])
    assert logged["spend_logs_metadata"] == {
        "team": "red",  # the caller's own spend_logs_metadata is kept
        "tool_choice_guard": [{"action": "dropped", "tool_choice": "required", "reason": "request has no tools",
                               "deployment": LITELLM_MODEL[model]}],
    }


def test_a_fallback_to_a_local_model_is_coerced_on_that_attempt(default_proxy):
    """The guard runs per deployment attempt: the cloud attempt keeps "required",
    the local fallback gets "auto"."""
    response = default_proxy.chat("cloud-down", tools=TOOLS, tool_choice="required")

    assert response.status_code == 200
    assert default_proxy.upstream_body("openai/cloud-down")["tool_choice"] == "required"
    assert default_proxy.upstream_body(LITELLM_MODEL["vllm-qwen2.5-0.5b-instruct"])["tool_choice"] == "auto"


def test_configured_patterns_replace_the_defaults(tuned_proxy):
    coerced = tuned_proxy.chat("team-box", tools=TOOLS, tool_choice="required")
    untouched = tuned_proxy.chat("vllm-qwen2.5-0.5b-instruct", tools=TOOLS, tool_choice="required")

    assert coerced.status_code == untouched.status_code == 200
    assert tuned_proxy.upstream_body("openai/team-box")["tool_choice"] == "auto"
    assert tuned_proxy.upstream_body(LITELLM_MODEL["vllm-qwen2.5-0.5b-instruct"])["tool_choice"] == "required"
