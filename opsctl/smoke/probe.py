"""The probe half of `opsctl smoke`: the smallest real request per model group.

The deployments come from `/model/info` (master key). Each model group gets
one request for its mode: chat (a few tokens, streamed: time to first token
and total), embedding (one short input), rerank (a query, two documents);
other modes are skipped with the reason. Who answered is read from the
headers LiteLLM sets on every response, streamed or not:
`x-litellm-model-id` (the deployment), `x-litellm-model-api-base`, and
`x-litellm-attempted-fallbacks` > 0 with `x-litellm-model-group` naming the
group that served it (litellm/router_utils/add_retry_fallback_headers.py).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import httpx

from opsctl.errors import ExitCode, OpsctlError
from opsctl.admin.client import AsyncProxyClient, ProxyError, RetryPolicy
from opsctl.settings import Settings
from opsctl.smoke.codes import SmokeExit

# mode -> (route, the smallest real request but the model)
REQUESTS = {
    "chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Reply with: ok"}], "max_tokens": 4, "stream": True}),
    "embedding": ("/v1/embeddings", {"input": "ok"}),
    "rerank": ("/v1/rerank", {"query": "Which says ok?", "documents": ["ok", "not this one"]}),
}
MAX_ERROR = 200
# "litellm.InternalServerError: InternalServerError: OpenAIException - boom LiteLLM: model group 'x' failed ..."
ERROR_PREFIXES = re.compile(r"^(?:litellm\.\w+: )?(?:\w+Error: )?")
LITELLM_ADVICE = re.compile(r" LiteLLM: model group ")


@dataclass
class Deployment:
    id: str
    model: str  # litellm_params.model, e.g. openai/qwen2.5
    api_base: str | None


@dataclass
class ModelGroup:
    name: str
    mode: str | None  # model_info.mode; None when neither config nor cost map says
    deployments: list[Deployment] = field(default_factory=list)

    @property
    def probe_mode(self) -> str:
        """LiteLLM's own /health treats a group without a mode as chat; so do we."""
        return self.mode or "chat"


@dataclass
class ModelProbe:
    model: str
    mode: str
    status: str = "pending"  # pending, running, ok, fallback, failed, timeout, skipped
    latency_ms: float | None = None
    ttft_ms: float | None = None  # chat only: time to the first content chunk
    deployment: str | None = None  # litellm model of the deployment that answered
    deployment_id: str | None = None
    api_base: str | None = None
    fallback: str | None = None  # the model group that served it, when a fallback did
    attempts: int = 0
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.status in ("ok", "fallback", "skipped")


@dataclass
class ProbeReport:
    models: list[ModelProbe]
    elapsed_ms: float
    concurrency: int
    timeout: float
    fail_on_fallback: bool = False  # a group served by a fallback fails the run too

    @property
    def exit_code(self) -> SmokeExit:
        failed = [p for p in self.models if not p.passed or (self.fail_on_fallback and p.status == "fallback")]
        return SmokeExit.FAILED if failed else SmokeExit.OK

    def to_dict(self) -> dict:
        return {
            "exit_code": int(self.exit_code),
            "elapsed_ms": self.elapsed_ms,
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "fail_on_fallback": self.fail_on_fallback,
            "models": [asdict(probe) for probe in self.models],
        }


def model_groups(model_info: dict) -> list[ModelGroup]:
    """Deployments from a /model/info answer, grouped by public name, in config order."""
    groups: dict[str, ModelGroup] = {}
    for entry in model_info.get("data", []):
        name = entry.get("model_name")
        if not name:
            continue
        info = entry.get("model_info") or {}
        params = entry.get("litellm_params") or {}
        group = groups.setdefault(name, ModelGroup(name, None))
        group.mode = group.mode or info.get("mode")
        group.deployments.append(Deployment(str(info.get("id", "")), str(params.get("model", "")), params.get("api_base")))
    return list(groups.values())


def select_groups(groups: list[ModelGroup], names: Iterable[str] = (), mode: str | None = None) -> list[ModelGroup]:
    """Narrow to --model names and --mode; an unknown name is a usage error."""
    names = list(dict.fromkeys(names))
    known = {group.name: group for group in groups}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise OpsctlError(
            f"unknown model group: {', '.join(unknown)} (the proxy serves: {', '.join(known) or 'none'})", ExitCode.USAGE
        )
    selected = [known[name] for name in names] if names else groups
    if mode:
        selected = [group for group in selected if group.probe_mode == mode]
        if not selected:
            raise OpsctlError(f"no model group of mode {mode} to probe", ExitCode.USAGE)
    return selected


def skip_reason(group: ModelGroup) -> str | None:
    if "*" in group.name:
        return "wildcard route: probe a concrete model name"
    if group.probe_mode not in REQUESTS:
        return f"not probed: mode {group.probe_mode}"
    return None


def _short(text: str) -> str:
    """LiteLLM's error without its class-name prefixes and its advice paragraph, on one line."""
    text = " ".join(text.split())
    text = LITELLM_ADVICE.split(text, maxsplit=1)[0]
    text = ERROR_PREFIXES.sub("", text)
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


class Prober:
    """Probes model groups with bounded concurrency; `on_update` sees every state change."""

    def __init__(self, client: AsyncProxyClient, groups: list[ModelGroup], deployments: dict[str, Deployment], *,
                 concurrency: int, timeout: float, retries: int, on_update: Callable[[ModelProbe], None] | None = None):
        self.client = client
        self.deployments = deployments  # every deployment by id: a fallback may be served from an unselected group
        self.groups = groups
        self.probes = [ModelProbe(group.name, group.probe_mode) for group in groups]
        self.semaphore = asyncio.Semaphore(concurrency)
        self.timeout = timeout
        self.retries = retries
        self.on_update = on_update or (lambda probe: None)

    async def run(self) -> list[ModelProbe]:
        await asyncio.gather(*(self._probe_group(group, probe) for group, probe in zip(self.groups, self.probes)))
        return self.probes

    async def _probe_group(self, group: ModelGroup, probe: ModelProbe) -> None:
        reason = skip_reason(group)
        if reason:
            probe.status, probe.error = "skipped", reason
            self.on_update(probe)
            return
        async with self.semaphore:
            for _attempt in range(1 + self.retries):
                probe.attempts += 1
                probe.status, probe.error = "running", None
                self.on_update(probe)
                await self._attempt(group, probe)
                if probe.passed:
                    break
            self.on_update(probe)

    async def _attempt(self, group: ModelGroup, probe: ModelProbe) -> None:
        started = time.perf_counter()
        probe.ttft_ms = probe.deployment = probe.deployment_id = probe.api_base = probe.fallback = None
        try:
            async with asyncio.timeout(self.timeout):
                path, body = REQUESTS[probe.mode]
                async with self.client.stream("POST", path, json={"model": group.name, **body}, idempotent=True) as response:
                    self._read_headers(group, probe, response.headers)
                    if probe.mode == "chat":
                        await self._read_chat_stream(probe, response, started)
                    else:
                        self._check_body(probe, await response.aread())
        except TimeoutError:
            probe.status, probe.error = "timeout", f"no complete answer in {self.timeout:g}s"
        except ProxyError as error:
            probe.status = "failed"
            probe.error = f"HTTP {error.status}: {_short(error.detail)}" if error.status else _short(error.message)
        probe.latency_ms = round((time.perf_counter() - started) * 1000, 1)

    def _read_headers(self, group: ModelGroup, probe: ModelProbe, headers: httpx.Headers) -> None:
        probe.deployment_id = headers.get("x-litellm-model-id")
        deployment = self.deployments.get(probe.deployment_id or "")
        probe.deployment = deployment.model if deployment else headers.get("x-litellm-model-name")
        probe.api_base = headers.get("x-litellm-model-api-base") or (deployment.api_base if deployment else None)
        served_by = headers.get("x-litellm-model-group")
        try:
            fallbacks = int(headers.get("x-litellm-attempted-fallbacks", "0"))
        except ValueError:
            fallbacks = 0
        probe.fallback = served_by if (fallbacks > 0 or (served_by and served_by != group.name)) else None

    def _finish(self, probe: ModelProbe, error: str | None) -> None:
        if error:
            probe.status, probe.error = "failed", _short(error)
        else:
            probe.status = "fallback" if probe.fallback else "ok"

    async def _read_chat_stream(self, probe: ModelProbe, response: httpx.Response, started: float) -> None:
        """Read the SSE stream to [DONE]: an error event or no content is a failure."""
        done = False
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                return self._finish(probe, f"unreadable stream chunk: {data}")
            if "error" in chunk:
                error = chunk["error"]
                message = error.get("message", error) if isinstance(error, dict) else error
                return self._finish(probe, f"stream error: {_short(str(message))}")
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if probe.ttft_ms is None and (delta.get("content") or delta.get("reasoning_content") or delta.get("tool_calls")):
                    probe.ttft_ms = round((time.perf_counter() - started) * 1000, 1)
        if not done:
            return self._finish(probe, "the stream ended without [DONE]")
        self._finish(probe, None if probe.ttft_ms is not None else "the stream carried no content")

    def _check_body(self, probe: ModelProbe, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            return self._finish(probe, "the answer is not JSON")
        key = "data" if probe.mode == "embedding" else "results"
        self._finish(probe, None if isinstance(body, dict) and body.get(key) else f"the answer has no {key}")


async def run_probe(settings: Settings, *, models: Iterable[str] = (), mode: str | None = None, concurrency: int = 8,
                    timeout: float = 30.0, retries: int = 0, fail_on_fallback: bool = False, on_start: Callable[[list[ModelProbe]], None] | None = None,
                    on_update: Callable[[ModelProbe], None] | None = None,
                    transport: httpx.AsyncBaseTransport | None = None) -> ProbeReport:
    """List the deployments, then probe the selected model groups."""
    started = time.perf_counter()
    # The per-model timeout is enforced around each whole probe; httpx's only backs it up.
    http_timeout = httpx.Timeout(timeout + 5, connect=min(timeout, 5.0))
    async with AsyncProxyClient(settings, timeout=http_timeout, retry=RetryPolicy(retries=0), transport=transport,
                                max_connections=concurrency) as client:
        groups = model_groups(await client.get("/model/info"))
        if not groups:
            raise OpsctlError(f"the proxy at {client.url} lists no models (/model/info is empty)", ExitCode.FAILED)
        deployments = {d.id: d for group in groups for d in group.deployments}
        prober = Prober(client, select_groups(groups, models, mode), deployments, concurrency=concurrency,
                        timeout=timeout, retries=retries, on_update=on_update)
        if on_start:
            on_start(prober.probes)
        probes = await prober.run()
    return ProbeReport(probes, round((time.perf_counter() - started) * 1000, 1), concurrency, timeout, fail_on_fallback)
