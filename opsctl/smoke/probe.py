"""The probe half of `opsctl smoke`: every deployment of every model group
gets the smallest real request its mode allows, by its deployment id.

The deployments come from `/model/info` (master key). Each deployment is
probed alone (opsctl.smoke.inventory says how), bypassing LiteLLM's cache
(opsctl.smoke.request), at most `concurrency` at a time, each attempt within
`timeout` and the whole run within the deadline. A group none of whose
deployments answered gets one more request by its name, to see whether a
fallback serves it (opsctl.smoke.verdict).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

import httpx

from opsctl.admin.client import AsyncProxyClient, RetryPolicy
from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import safe_text
from opsctl.settings import Settings
from opsctl.smoke.deadline import Deadline
from opsctl.smoke.inventory import Deployment, ModelGroup, model_groups, select_groups, skip_reason, url_passwords
from opsctl.smoke.request import REQUESTS, Answer, Requester
from opsctl.smoke.verdict import DeploymentResult, GroupResult, ProbeReport

DEFAULT_CONCURRENCY = 64
DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 90.0
LIST_TIMEOUT = 10.0  # GET /model/info

Update = Callable[[GroupResult], None]


def settings_secrets(settings: Settings) -> list[str]:
    """The secrets opsctl knows before it asks the proxy anything."""
    from urllib.parse import urlsplit

    secrets = [settings.master_key or ""]
    for url in (settings.proxy_url, settings.health_url):
        try:
            secrets.append((urlsplit(url).password or "") if url else "")
        except ValueError:
            pass
    return [s for s in secrets if s]


class Prober:
    """Probes the deployments of the given groups; `on_update` sees every change of a group."""

    def __init__(self, requester: Requester, groups: list[ModelGroup], *, concurrency: int, timeout: float,
                 retries: int, rule: str, deadline: Deadline, on_update: Update | None = None):
        self.requester = requester
        self.groups = groups
        shown = lambda text: safe_text(text, requester.secrets) if text is not None else None  # noqa: E731
        self.results = [
            GroupResult(shown(g.name), g.probe_mode,
                        [DeploymentResult(shown(d.id), shown(d.model), shown(d.api_host)) for d in g.deployments])
            for g in groups
        ]
        self.semaphore = asyncio.Semaphore(concurrency)
        self.timeout = timeout
        self.retries = retries
        self.rule = rule
        self.deadline = deadline
        self.on_update = on_update or (lambda result: None)

    async def run(self) -> list[GroupResult]:
        await asyncio.gather(*(self._probe_group(g, r) for g, r in zip(self.groups, self.results)))
        return self.results

    async def _probe_group(self, group: ModelGroup, result: GroupResult) -> None:
        reason = skip_reason(group, REQUESTS)
        if reason:
            result.skip(reason)
            self.on_update(result)
            return
        result.status = "running"
        await asyncio.gather(*(self._probe_deployment(group, d, r, result)
                               for d, r in zip(group.deployments, result.deployments)))
        if not any(d.ok for d in result.deployments) and not self.deadline.passed:
            await self._check_fallback(group, result)
        result.settle(self.rule)
        self.on_update(result)

    async def _slot(self) -> bool:
        """A place among the `concurrency` requests in flight, unless the deadline passes first."""
        try:
            async with asyncio.timeout_at(self.deadline.at):
                await self.semaphore.acquire()
            return True
        except TimeoutError:
            return False

    async def _send(self, mode: str, model: str, pinned: bool) -> tuple[Answer | None, str | None]:
        """One request within the timeout and the deadline: (answer, None) or (None, why it timed out)."""
        ends_at, by_deadline = self.deadline.limit(self.timeout)
        try:
            async with asyncio.timeout_at(ends_at):
                return await self.requester.send(mode, model, pinned=pinned), None
        except TimeoutError:
            return None, self.deadline.reason if by_deadline else f"no complete answer in {self.timeout:g}s"

    async def _probe_deployment(self, group: ModelGroup, deployment: Deployment, result: DeploymentResult,
                                group_result: GroupResult) -> None:
        if not await self._slot():
            result.status, result.error = "not probed", self.deadline.reason
            return
        try:
            for _attempt in range(1 + self.retries):
                if self.deadline.passed:
                    break
                result.attempts += 1
                result.status, result.error, result.ttft_ms = "running", None, None
                self.on_update(group_result)
                started = time.perf_counter()
                answer, timed_out = await self._send(group.probe_mode, deployment.id, pinned=True)
                if answer is None:
                    result.status, result.error = "timeout", timed_out
                    result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
                    continue
                result.latency_ms, result.ttft_ms = answer.latency_ms, answer.ttft_ms
                result.status, result.error = ("failed", answer.error) if answer.error else ("ok", None)
                if result.ok:
                    break
        finally:
            self.semaphore.release()
        self.on_update(group_result)

    async def _check_fallback(self, group: ModelGroup, result: GroupResult) -> None:
        """Ask for the group by name: with its own deployments down, only a fallback can answer."""
        if not await self._slot():
            return
        try:
            answer, _timed_out = await self._send(group.probe_mode, group.name, pinned=False)
        finally:
            self.semaphore.release()
        if answer is None or answer.error:
            return
        served_by = answer.model_group
        if answer.attempted_fallbacks > 0 or (served_by and served_by != group.name):
            result.fallback = safe_text(served_by or "a fallback", self.requester.secrets)
            result.fallback_deployment = safe_text(answer.model_id, self.requester.secrets) if answer.model_id else None


async def _list_models(client: AsyncProxyClient, deadline: Deadline) -> dict:
    ends_at, by_deadline = deadline.limit(LIST_TIMEOUT)
    try:
        async with asyncio.timeout_at(ends_at):
            return await client.get("/model/info")
    except TimeoutError:
        when = f"before {deadline.reason}" if by_deadline else f"in {LIST_TIMEOUT:g}s"
        raise OpsctlError(f"the proxy at {client.url} did not list its models (GET /model/info) {when}",
                          ExitCode.UNREACHABLE) from None


def _http_client(settings: Settings, timeout: float, transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {settings.require_master_key()}", "Accept-Encoding": "identity"}
    # The per-request timeout and the deadline are enforced around each request; httpx's only backs them up.
    return httpx.AsyncClient(base_url=settings.proxy_url.rstrip("/"), headers=headers, transport=transport,
                             timeout=httpx.Timeout(timeout + 5, connect=min(timeout, 5.0)))


async def run_probe(settings: Settings, *, models: Iterable[str] = (), mode: str | None = None,
                    concurrency: int = DEFAULT_CONCURRENCY, timeout: float = DEFAULT_TIMEOUT, retries: int = 0,
                    rule: str = "all", deadline: Deadline | float = DEFAULT_DEADLINE,
                    on_start: Callable[[list[GroupResult]], None] | None = None, on_update: Update | None = None,
                    transport: httpx.AsyncBaseTransport | None = None) -> ProbeReport:
    """List the deployments, then probe every deployment of the selected groups."""
    started = time.perf_counter()
    if not isinstance(deadline, Deadline):
        deadline = Deadline(deadline)
    settings.require_master_key()
    # One connection pool (and one TLS context: building one costs tens of milliseconds) for both clients.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport = transport or httpx.AsyncHTTPTransport(limits=limits)
    list_timeout = httpx.Timeout(LIST_TIMEOUT, connect=min(LIST_TIMEOUT, 5.0))
    async with AsyncProxyClient(settings, timeout=list_timeout, retry=RetryPolicy(retries=0), transport=transport) as admin, \
            _http_client(settings, timeout, transport) as http:
        model_info = await _list_models(admin, deadline)
        groups = model_groups(model_info)
        if not groups:
            raise OpsctlError(f"the proxy at {admin.url} lists no models (/model/info is empty)", ExitCode.FAILED)
        selected = select_groups(groups, models, mode)
        secrets = tuple(settings_secrets(settings) + url_passwords(model_info))
        prober = Prober(Requester(http, secrets), selected, concurrency=concurrency, timeout=timeout,
                        retries=retries, rule=rule, deadline=deadline, on_update=on_update)
        if on_start:
            on_start(prober.results)
        results = await prober.run()
    cut = any(d.error == deadline.reason for group in results for d in group.deployments)
    return ProbeReport(results, round((time.perf_counter() - started) * 1000, 1), concurrency, timeout,
                       deadline.configured, rule, cut, deadline.name)
