"""How custom_callbacks.py reads its settings, loaded the way the proxy loads it
(a fresh module from the file, with litellm.callback_settings already set)."""

import ast
import importlib.util
import sys

import litellm
import litellm.router
import pytest
import yaml

from tests.callbacks.conftest import CUSTOM_CALLBACKS

REFERENCE_CONFIG = CUSTOM_CALLBACKS.parent / "config.yaml"


@pytest.fixture
def load(monkeypatch):
    """Load custom_callbacks.py with these callback_settings; LiteLLM's globals come back afterwards."""
    monkeypatch.setattr(litellm.router, "_aread_first_chunk", litellm.router._aread_first_chunk)
    for var in ("TOOL_CHOICE_GUARD_MODELS", "EARLY_CHUNK_MODELS", "STREAM_GUARD_MODELS", "STREAM_GUARD_IDLE_GAP_SECONDS"):
        monkeypatch.delenv(var, raising=False)

    def loader(callback_settings: dict):
        monkeypatch.setattr(litellm, "callback_settings", callback_settings)
        spec = importlib.util.spec_from_file_location("custom_callbacks", CUSTOM_CALLBACKS)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return loader


def test_defaults(load):
    module = load({})

    assert module.tool_choice_guard.patterns == module.DEFAULT_LOCAL_MODELS
    assert module.early_chunk.patterns == ()
    assert type(module.stream_guard) is module.StreamGuard
    # The empty StreamGuard overrides no LiteLLM hook, so the proxy never routes a stream through it.
    assert "async_post_call_streaming_iterator_hook" not in vars(module.StreamGuard)


def test_stream_guard_rules_from_the_config(load):
    module = load({"stream_guard": {"idle_gap_seconds": 20, "models": ["*-cloud", {"pattern": "deepseek-*", "idle_gap_seconds": 90}]}})

    assert type(module.stream_guard) is module.ArmedStreamGuard
    assert module.stream_guard.rules == (module.StreamRule("*-cloud", 20.0), module.StreamRule("deepseek-*", 90.0))


def test_environment_wins_over_the_config(load, monkeypatch):
    monkeypatch.setenv("TOOL_CHOICE_GUARD_MODELS", "box-*, rack-*")
    monkeypatch.setenv("EARLY_CHUNK_MODELS", "")
    monkeypatch.setenv("STREAM_GUARD_MODELS", "*-cloud")
    monkeypatch.setenv("STREAM_GUARD_IDLE_GAP_SECONDS", "5")

    module = load({"tool_choice_guard": {"models": ["x"]}, "early_chunk": {"models": ["y"]}})

    assert module.tool_choice_guard.patterns == ("box-*", "rack-*")
    assert module.early_chunk.patterns == ()
    assert module.stream_guard.rules == (module.StreamRule("*-cloud", 5.0),)


@pytest.mark.parametrize(("settings", "message"), [
    ({"stream_guard": {"models": [{"idle_gap_seconds": 3}]}},
     "callback_settings.stream_guard.models: bad entry {'idle_gap_seconds': 3} (a pattern or {pattern, idle_gap_seconds})"),
    ({"stream_guard": {"models": ["a"], "idle_gap_seconds": 0}},
     "callback_settings.stream_guard: idle_gap_seconds must be > 0 for 'a'"),
    ({"early_chunk": {"models": "*-cloud"}}, "callback_settings.early_chunk.models must be a list"),
    ({"tool_choice_guard": ["*vllm*"]}, "callback_settings.tool_choice_guard must be a mapping, got list"),
])
def test_bad_settings_stop_the_proxy_with_one_clear_line(load, settings, message):
    with pytest.raises(ValueError) as raised:
        load(settings)
    assert str(raised.value) == message


def test_reference_config_registers_and_configures_the_callbacks(load):
    config = yaml.safe_load(REFERENCE_CONFIG.read_text())

    assert {"custom_callbacks.tool_choice_guard", "custom_callbacks.early_chunk", "custom_callbacks.stream_guard",
            "dynamic_rate_limiter_v3"} <= set(config["litellm_settings"]["callbacks"])
    module = load(config["callback_settings"])
    assert module.tool_choice_guard.patterns == module.DEFAULT_LOCAL_MODELS
    assert module.early_chunk.patterns == ("*-cloud", "chat-default")
    assert type(module.stream_guard) is module.StreamGuard  # the runbook's empty list


def test_imports_only_litellm_and_the_standard_library():
    tree = ast.parse(CUSTOM_CALLBACKS.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}

    outside = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] != "litellm"}
    assert outside == set()


def test_early_chunk_replaces_the_first_chunk_read_once(load):
    """LiteLLM executes the file once per entry: the read is wrapped once, around LiteLLM's own."""
    original = litellm.router._aread_first_chunk
    for _ in range(3):
        module = load({"early_chunk": {"models": ["*-cloud"]}})

    assert module.early_chunk.patterns == ("*-cloud",)
    assert litellm.router._aread_first_chunk is not original
    assert litellm.router._aread_first_chunk.early_chunk_original is original


async def _read_with_options(stream, options):
    return None


class _NotFirstChunk:
    pass


async def _acompletion_without_the_read(self, *args, **kwargs):
    return None


@pytest.mark.parametrize(("owner", "name", "changed", "reason"), [
    (litellm.router, "_aread_first_chunk", _read_with_options,
     "litellm.router._aread_first_chunk(stream, options) is not (stream)"),
    (litellm.router, "_FirstChunk", _NotFirstChunk, "litellm.router._FirstChunk is not (chunk, rest)"),
    (litellm.router.Router, "_acompletion", _acompletion_without_the_read,
     "Router._acompletion no longer calls litellm.router._aread_first_chunk"),
])
def test_early_chunk_stays_off_when_litellm_changes_what_it_replaces(load, monkeypatch, caplog, owner, name, changed, reason):
    monkeypatch.setattr(owner, name, changed)
    before = litellm.router._aread_first_chunk

    module = load({"early_chunk": {"models": ["*-cloud"]}})

    assert litellm.router._aread_first_chunk is before  # nothing replaced
    assert module.early_chunk.patterns == ()  # and the log says it is off
    assert f"custom_callbacks: EarlyChunk is off: {reason}" in caplog.text
