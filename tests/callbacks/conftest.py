"""Real LiteLLM proxies loading the reference custom_callbacks.py, in front of
the wire-level fake upstream. Three proxies for the whole package:

- `default_proxy`: the reference callback list, no callback_settings (the
  callbacks' own defaults: ToolChoiceGuard on the local families, EarlyChunk
  and StreamGuard empty);
- `no_stream_guard_proxy`: the same without StreamGuard, for byte comparisons;
- `tuned_proxy`: callback_settings that switch EarlyChunk and StreamGuard on
  for some models and give ToolChoiceGuard its own pattern list.

A recorder callback (a plain CustomLogger in the stack dir) writes what
LiteLLM's loggers receive, keyed by the `x-litellm-call-id` response header.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

import opsctl
from tests.support.proxy import RunningProxy, start_proxy
from tests.support.upstream import Behavior, Upstream, run_upstream

CUSTOM_CALLBACKS = Path(opsctl.__file__).parent / "stack" / "template" / "litellm" / "custom_callbacks.py"
REFERENCE_CALLBACKS = [
    "custom_callbacks.tool_choice_guard",
    "custom_callbacks.early_chunk",
    "custom_callbacks.stream_guard",
    "dynamic_rate_limiter_v3",
]

RECORDER = textwrap.dedent('''
    """Test-only logger: one JSON line per logged request, keyed by litellm_call_id."""
    import json
    import os

    from litellm.integrations.custom_logger import CustomLogger


    class Recorder(CustomLogger):
        def _write(self, kwargs, ok):
            payload = kwargs.get("standard_logging_object") or {}
            line = {"call_id": kwargs.get("litellm_call_id"), "ok": ok, "model_group": payload.get("model_group"),
                    "spend_logs_metadata": (payload.get("metadata") or {}).get("spend_logs_metadata"),
                    "error": payload.get("error_str")}
            with open(os.environ["CALLBACK_RECORD"], "a") as out:
                out.write(json.dumps(line, default=str) + "\\n")

        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            self._write(kwargs, True)

        async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
            self._write(kwargs, False)


    recorder = Recorder()
''')

# (public model name, LiteLLM model). The upstream sees the LiteLLM model
# without its provider prefix, and each one has its own behaviour.
DEPLOYMENTS = [
    ("vllm-qwen2.5-0.5b-instruct", "hosted_vllm/Qwen/Qwen2.5-0.5B-Instruct"),
    ("llamacpp-local", "openai/llamacpp-local"),
    ("gemma3-1b-local", "openai/gemma3-1b"),
    ("tgi-mistral", "openai/tgi-mistral-7b"),
    ("qwen2.5-7b-local", "openai/qwen2.5-7b"),
    ("llama3.2-1b-local", "hosted_vllm/meta-llama/Llama-3.2-1B"),  # vLLM behind a neutral public name
    ("qwen3-coder-480b-cloud", "openai/qwen3-coder-480b"),
    ("deepseek-v3.1-671b-cloud", "openai/deepseek-v3.1"),
    ("team-box", "openai/team-box"),
    ("cloud-down", "openai/cloud-down"),
    ("plain", "openai/plain"),
    ("dies", "openai/dies"),
    ("slow-cloud", "openai/slow-early"),
    ("slow-plain", "openai/slow-plain"),
    ("early-dies", "openai/early-dies"),
    ("guarded-dies", "openai/guarded-dies"),
    ("guarded-stall", "openai/guarded-stall"),
    ("guarded-slow-cloud", "openai/guarded-slow"),
]
BEHAVIORS = {
    "cloud-down": Behavior(status=500),
    "plain": Behavior(chunks=6, text="Hello"),
    "dies": Behavior(chunks=5, die_after_chunks=2),
    "slow-early": Behavior(first_token_delay=2.0),
    "slow-plain": Behavior(first_token_delay=2.0),
    "early-dies": Behavior(first_token_delay=0.3, die_after_chunks=0),  # headers, then death before any token
    "guarded-dies": Behavior(chunks=5, die_after_chunks=2),
    "guarded-stall": Behavior(chunks=3, chunk_interval=3.0),
    "guarded-slow": Behavior(first_token_delay=1.0, chunks=3, chunk_interval=0.1),
}
ROUTER_SETTINGS = {"num_retries": 0, "fallbacks": [{"cloud-down": ["vllm-qwen2.5-0.5b-instruct"]}, {"early-dies": ["plain"]}]}
TUNED_SETTINGS = {
    "tool_choice_guard": {"models": ["team-*"]},
    "early_chunk": {"models": ["slow-cloud", "early-dies", "guarded-slow-*"]},
    "stream_guard": {
        "idle_gap_seconds": 30,
        "models": ["guarded-dies", {"pattern": "guarded-st*", "idle_gap_seconds": 0.5}, {"pattern": "guarded-slow-*", "idle_gap_seconds": 0.5}],
    },
}


@dataclass
class CallbackProxy:
    proxy: RunningProxy
    upstream: Upstream
    record_path: Path

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.proxy.master_key}"}

    def chat(self, model: str, **body) -> httpx.Response:
        payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
        return httpx.post(self.proxy.url + "/v1/chat/completions", headers=self.headers, json=payload, timeout=30)

    def stream_bytes(self, model: str, **body) -> bytes:
        """The raw body of a streamed chat response, read to its clean end."""
        payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True, **body}
        with httpx.stream("POST", self.proxy.url + "/v1/chat/completions", headers=self.headers, json=payload, timeout=30) as response:
            assert response.status_code == 200
            return response.read()

    def upstream_body(self, litellm_model: str) -> dict:
        """The last request body the upstream received for a deployment."""
        upstream_name = litellm_model.split("/", 1)[1]
        return self.upstream.requests_for(upstream_name)[-1].body

    def logged(self, call_id: str, timeout: float = 10) -> dict:
        """What LiteLLM's loggers received for one request (logging runs after the response)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.record_path.exists():
                for line in self.record_path.read_text().splitlines():
                    record = json.loads(line)
                    if record["call_id"] == call_id:
                        return record
            time.sleep(0.1)
        raise AssertionError(f"no logged record for call {call_id}")


def _proxy_config(upstream_url: str, callbacks: list, callback_settings: dict | None) -> dict:
    config = {
        "model_list": [
            {"model_name": name, "litellm_params": {"model": model, "api_base": upstream_url + "/v1", "api_key": "sk-upstream"}}
            for name, model in DEPLOYMENTS
        ],
        "router_settings": ROUTER_SETTINGS,
        "litellm_settings": {"callbacks": [*callbacks, "recorder.recorder"]},
    }
    if callback_settings is not None:
        config["callback_settings"] = callback_settings
    return config


@contextmanager
def _callback_proxy(tmp_path_factory, upstream: Upstream, name: str, callbacks: list, callback_settings: dict | None = None):
    stack_dir = tmp_path_factory.mktemp(name)
    shutil.copy(CUSTOM_CALLBACKS, stack_dir / "custom_callbacks.py")
    (stack_dir / "recorder.py").write_text(RECORDER)
    config_path = stack_dir / "config.yaml"
    config_path.write_text(yaml.safe_dump(_proxy_config(upstream.url, callbacks, callback_settings)))
    record_path = stack_dir / "record.jsonl"
    # LITELLM_LOG=INFO: the callbacks' own load lines are INFO.
    with start_proxy(config_path, env={"LITELLM_LOG": "INFO", "CALLBACK_RECORD": str(record_path)}) as proxy:
        handle = CallbackProxy(proxy, upstream, record_path)
        # Pay the proxy's first-request import costs (plain and streamed) before any test times anything.
        assert handle.chat("plain").status_code == 200
        handle.stream_bytes("plain")
        yield handle


@pytest.fixture(scope="package")
def upstream():
    with run_upstream() as server:
        for name, behavior in BEHAVIORS.items():
            server.behave(name, behavior)
        yield server


@pytest.fixture(scope="package")
def default_proxy(tmp_path_factory, upstream):
    with _callback_proxy(tmp_path_factory, upstream, "default-stack", REFERENCE_CALLBACKS) as handle:
        yield handle


@pytest.fixture(scope="package")
def no_stream_guard_proxy(tmp_path_factory, upstream):
    callbacks = [cb for cb in REFERENCE_CALLBACKS if cb != "custom_callbacks.stream_guard"]
    with _callback_proxy(tmp_path_factory, upstream, "no-stream-guard-stack", callbacks) as handle:
        yield handle


@pytest.fixture(scope="package")
def tuned_proxy(tmp_path_factory, upstream):
    with _callback_proxy(tmp_path_factory, upstream, "tuned-stack", REFERENCE_CALLBACKS, TUNED_SETTINGS) as handle:
        yield handle
