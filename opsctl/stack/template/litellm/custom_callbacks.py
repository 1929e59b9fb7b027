"""Callbacks the reference LiteLLM proxy loads from config.yaml.

    litellm_settings:
      callbacks: ["custom_callbacks.tool_choice_guard", "custom_callbacks.early_chunk",
                  "custom_callbacks.stream_guard", "dynamic_rate_limiter_v3"]

LiteLLM imports this file from the directory of config.yaml and uses the three
module-level instances. It runs inside the proxy container, so it imports only
litellm and the standard library (never opsctl).

Settings live in config.yaml under the top-level `callback_settings` block,
keyed by instance name; LiteLLM sets that block before it imports callbacks and
keeps it as `litellm.callback_settings`. Environment variables override it.
docs/callbacks.md describes every setting.
"""

import asyncio
import dataclasses
import fnmatch
import inspect
import os
import time
from typing import NamedTuple

import litellm
from litellm._logging import verbose_proxy_logger as log
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException
from litellm.types.utils import CallTypes, Delta, ModelResponseStream, StreamingChoices

# Servers that reject tool_choice="required" (or only honour it with extra flags).
DEFAULT_LOCAL_MODELS = ("*vllm*", "*llamacpp*", "*llama.cpp*", "*llama_cpp*", "*tgi*", "*gemma*",
                        "*qwen*local*", "local*qwen*")
DEFAULT_IDLE_GAP_SECONDS = 60.0
CHAT_CALL_TYPES = (CallTypes.acompletion, CallTypes.completion)
EARLY_CHUNK_MARK = "opsctl_early_chunk"  # hidden param on EarlyChunk's own chunk


def _section(name: str) -> dict:
    section = (getattr(litellm, "callback_settings", None) or {}).get(name) or {}
    if not isinstance(section, dict):
        raise ValueError(f"callback_settings.{name} must be a mapping, got {type(section).__name__}")
    return section


def _env_list(var: str) -> list[str] | None:
    """A comma-separated environment override; set but empty means an empty list."""
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _model_entries(name: str, default) -> list:
    env = _env_list(f"{name.upper()}_MODELS")
    entries = env if env is not None else _section(name).get("models", list(default))
    if not isinstance(entries, list):
        raise ValueError(f"callback_settings.{name}.models must be a list")
    return entries


def _first_match(patterns, names) -> str | None:
    """The first pattern (fnmatch, case-insensitive) matching any of the names."""
    lowered = [n.lower() for n in names if isinstance(n, str) and n]
    for pattern in patterns:
        if any(fnmatch.fnmatchcase(n, pattern.lower()) for n in lowered):
            return pattern
    return None


def _request_model_names(request_data: dict, response=None) -> list[str]:
    """Public model name and, when known, the serving deployment's LiteLLM model."""
    hidden = getattr(response, "_hidden_params", None) or {}
    metadata = request_data.get("metadata") or {}
    return [request_data.get("model"), metadata.get("model_group"), hidden.get("litellm_model_name")]


class PatternCallback(CustomLogger):
    """A callback that acts on the models matching its list of patterns."""

    def __init__(self, patterns):
        super().__init__()
        self.patterns = tuple(patterns)

    def describe(self) -> str:
        return f"models={list(self.patterns)}"


class ToolChoiceGuard(PatternCallback):
    """Coerces tool_choice "required" to "auto" for deployments that cannot honour it,
    and drops tool_choice when the request sends no tools. Runs per deployment
    attempt (after routing, fallbacks included), so it sees the real deployment."""

    label = "ToolChoiceGuard"

    async def async_pre_call_deployment_hook(self, kwargs: dict, call_type):
        choice = kwargs.get("tool_choice")
        if call_type not in CHAT_CALL_TYPES or choice is None:
            return None
        metadata = kwargs.get("metadata") if isinstance(kwargs.get("metadata"), dict) else {}
        deployment = kwargs.get("model")
        if not kwargs.get("tools"):
            rewrite = {"action": "dropped", "tool_choice": choice, "reason": "request has no tools"}
            updated = {k: v for k, v in kwargs.items() if k != "tool_choice"}
        else:
            pattern = _first_match(self.patterns, [metadata.get("model_group"), deployment])
            if pattern is None or choice not in ("required", {"type": "required"}):
                return None
            rewrite = {"action": "coerced", "from": "required", "to": "auto", "pattern": pattern}
            updated = {**kwargs, "tool_choice": "auto"}
        rewrite["deployment"] = deployment
        self._record(metadata, rewrite)
        updated.setdefault("metadata", metadata)
        return updated

    @staticmethod
    def _record(metadata: dict, rewrite: dict) -> None:
        # spend_logs_metadata is the metadata key LiteLLM keeps in its standard
        # logging payload and spend logs, so the rewrite shows wherever requests are logged.
        previous = metadata.get("spend_logs_metadata")
        logged = dict(previous) if isinstance(previous, dict) else {}
        logged["tool_choice_guard"] = [*logged.get("tool_choice_guard", []), rewrite]
        metadata["spend_logs_metadata"] = logged


class EarlyChunk(PatternCallback):
    """For the configured models, a streamed chat response starts with a role-only
    delta as soon as the upstream has answered with headers, not at its first token.

    The proxy sends no response headers before the stream's first chunk, and the
    Router reads that first chunk itself (Router._acompletion calls
    litellm.router._aread_first_chunk, so a failure before any token can still be
    retried), all before any streaming-iterator hook runs. So EarlyChunk replaces
    that one read: for its models the "first chunk" is the role-only delta, and the
    upstream's chunks follow it unchanged."""

    label = "EarlyChunk"

    def early_first_chunk(self, stream) -> ModelResponseStream | None:
        """The role-only chunk for a chat stream of a configured model, else None."""
        logging_obj = getattr(stream, "logging_obj", None)
        if getattr(logging_obj, "call_type", None) != "acompletion":
            return None
        details = getattr(logging_obj, "model_call_details", None) or {}
        params = details.get("litellm_params") or {}
        metadata = params.get("metadata") or {}
        url = (params.get("proxy_server_request") or {}).get("url") or ""
        if not url.rstrip("/").endswith("chat/completions"):
            return None  # other proxy routes translate chat chunks into their own protocol
        names = [metadata.get("model_group"), details.get("model"), getattr(stream, "model", None)]
        if _first_match(self.patterns, names) is None:
            return None
        chunk = ModelResponseStream(
            model=metadata.get("model_group") or getattr(stream, "model", None),
            choices=[StreamingChoices(index=0, delta=Delta(role="assistant", content=""), finish_reason=None)],
        )
        chunk._hidden_params = {**(getattr(stream, "_hidden_params", None) or {}), EARLY_CHUNK_MARK: True}
        return chunk


def _early_first_chunk_unsupported(router) -> str | None:
    """Why this LiteLLM's first-chunk read cannot be replaced safely (None: it can).

    The replacement relies on three private details of LiteLLM 1.108.7; if an
    upgrade changes any of them, EarlyChunk stays off instead of breaking streams."""
    original = getattr(router, "_aread_first_chunk", None)
    first_chunk = getattr(router, "_FirstChunk", None)
    if original is None or first_chunk is None:
        return "litellm.router has no _aread_first_chunk/_FirstChunk"
    original = getattr(original, "early_chunk_original", original)
    if list(inspect.signature(original).parameters) != ["stream"]:
        return f"litellm.router._aread_first_chunk{inspect.signature(original)} is not (stream)"
    if not dataclasses.is_dataclass(first_chunk) or [f.name for f in dataclasses.fields(first_chunk)] != ["chunk", "rest"]:
        return "litellm.router._FirstChunk is not (chunk, rest)"
    # The Router must look the function up by its module-level name, or replacing it does nothing.
    acompletion = getattr(getattr(router, "Router", None), "_acompletion", None)
    if "_aread_first_chunk" not in getattr(getattr(acompletion, "__code__", None), "co_names", ()):
        return "Router._acompletion no longer calls litellm.router._aread_first_chunk"
    return None


def _install_early_first_chunk() -> str | None:
    """Route the Router's first-chunk read through the registered EarlyChunk.
    Returns why it could not (EarlyChunk then stays off), else None."""
    import litellm.router as router

    problem = _early_first_chunk_unsupported(router)
    if problem or hasattr(router._aread_first_chunk, "early_chunk_original"):
        return problem  # or installed by an earlier run of this file (LiteLLM runs it once per entry)
    original, first_chunk = router._aread_first_chunk, router._FirstChunk

    async def read_first_chunk(stream):
        for callback in litellm.callbacks:
            make = getattr(callback, "early_first_chunk", None)
            chunk = make(stream) if make is not None else None
            if chunk is not None:
                return first_chunk(chunk=chunk, rest=stream.__aiter__())
        return await original(stream)

    read_first_chunk.early_chunk_original = original
    router._aread_first_chunk = read_first_chunk
    return None


class StreamRule(NamedTuple):
    pattern: str
    idle_gap_seconds: float


class StreamGuardError(ProxyException):
    """Raised into the proxy's stream: LiteLLM logs it as a failure and sends it to the
    client as one `data: {"error": ...}` event before closing the response normally."""

    def __init__(self, message: str, error_type: str, status_code: int):
        super().__init__(message=message, type=error_type, param=None, code=status_code)
        self.status_code = status_code  # the proxy reads the SSE error code from here


class StreamGuard(CustomLogger):
    """With no rules this class overrides no hook, so LiteLLM never wraps a stream
    through it: the empty default is a strict no-op. See ArmedStreamGuard."""

    label = "StreamGuard"

    def __init__(self, rules=()):
        super().__init__()
        self.rules = tuple(rules)

    def describe(self) -> str:
        if not self.rules:
            return "no models (strict no-op)"
        return ", ".join(f"{r.pattern} idle_gap_seconds={r.idle_gap_seconds:g}" for r in self.rules)


class ArmedStreamGuard(StreamGuard):
    """Per model pattern: an idle-gap limit between upstream chunks, and a typed
    terminal error event (never a cut connection) when the upstream stream fails."""

    def rule_for(self, names) -> StreamRule | None:
        for rule in self.rules:
            if _first_match([rule.pattern], names):
                return rule
        return None

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data: dict):
        rule = self.rule_for(_request_model_names(request_data, response))
        if rule is None:
            async for chunk in response:
                yield chunk
            return
        upstream = response.__aiter__()
        received = 0  # upstream chunks, EarlyChunk's role chunk not counted
        while True:
            # The idle clock starts with the upstream's first real chunk: time to first token is the router's business.
            timeout = rule.idle_gap_seconds if received else None
            try:
                chunk = await asyncio.wait_for(upstream.__anext__(), timeout)
            except StopAsyncIteration:
                return
            except asyncio.TimeoutError:
                await _close(upstream)
                raise StreamGuardError(
                    f"upstream sent nothing for {rule.idle_gap_seconds:g}s after {_chunks(received)}; stream closed by StreamGuard",
                    "stream_idle_timeout", 504) from None
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as e:
                raise StreamGuardError(
                    f"upstream stream failed after {_chunks(received)}: {type(e).__name__}: {getattr(e, 'message', e)}",
                    "upstream_stream_error", 502) from e
            if not (getattr(chunk, "_hidden_params", None) or {}).get(EARLY_CHUNK_MARK):
                received += 1
            yield chunk


def _chunks(count: int) -> str:
    return f"{count} chunk" if count == 1 else f"{count} chunks"


async def _close(iterator) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception as e:  # noqa: BLE001 - the stream is being abandoned; its close error must not mask why
            log.debug("closing an idle upstream stream failed: %s", e)


def _stream_rules() -> list[StreamRule]:
    section = _section("stream_guard")
    env_gap = os.environ.get("STREAM_GUARD_IDLE_GAP_SECONDS")
    default_gap = float(env_gap if env_gap else section.get("idle_gap_seconds", DEFAULT_IDLE_GAP_SECONDS))
    rules = []
    for entry in _model_entries("stream_guard", ()):
        if isinstance(entry, str):
            rules.append(StreamRule(entry, default_gap))
        elif isinstance(entry, dict) and isinstance(entry.get("pattern"), str):
            rules.append(StreamRule(entry["pattern"], float(entry.get("idle_gap_seconds", default_gap))))
        else:
            raise ValueError(f"callback_settings.stream_guard.models: bad entry {entry!r} (a pattern or {{pattern, idle_gap_seconds}})")
        if rules[-1].idle_gap_seconds <= 0:
            raise ValueError(f"callback_settings.stream_guard: idle_gap_seconds must be > 0 for {rules[-1].pattern!r}")
    return rules


def _patterns(name: str, default) -> list[str]:
    entries = _model_entries(name, default)
    if not all(isinstance(e, str) for e in entries):
        raise ValueError(f"callback_settings.{name}.models must be a list of model-name patterns")
    return entries


def _report_when_started(own) -> None:
    """Log this file's callbacks once the proxy's startup has turned named callbacks
    (such as dynamic_rate_limiter_v3) into instances, so the log shows what really runs.

    LiteLLM executes this file once per `custom_callbacks.<name>` entry and keeps one
    instance from each run; each run reports only its own instance that was kept, and
    the run that owns the first of them also logs the full list."""

    async def report(deadline: float) -> None:
        while time.monotonic() < deadline and any(isinstance(cb, str) for cb in litellm.callbacks):
            await asyncio.sleep(0.2)
        kept = [cb for cb in litellm.callbacks if any(cb is instance for instance in own)]
        for callback in kept:
            log.info("custom_callbacks: %s active: %s", callback.label, callback.describe())
        ours = [cb for cb in litellm.callbacks if type(cb).__module__ == __name__]
        if kept and ours and ours[0] is kept[0]:
            names = [cb if isinstance(cb, str) else getattr(cb, "label", type(cb).__name__) for cb in litellm.callbacks]
            log.info("custom_callbacks: active proxy callbacks: %s", ", ".join(names))

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # a plain import outside the proxy's startup: nothing to report
    loop.create_task(report(time.monotonic() + 60))


tool_choice_guard = ToolChoiceGuard(_patterns("tool_choice_guard", DEFAULT_LOCAL_MODELS))
early_chunk = EarlyChunk(_patterns("early_chunk", ()))
_early_chunk_problem = _install_early_first_chunk() if early_chunk.patterns else None
if _early_chunk_problem:
    early_chunk = EarlyChunk(())  # off: the log line below says so, and why
    log.warning("custom_callbacks: EarlyChunk is off: %s", _early_chunk_problem)
_rules = _stream_rules()
stream_guard = ArmedStreamGuard(_rules) if _rules else StreamGuard()
_report_when_started((tool_choice_guard, early_chunk, stream_guard))
