"""A small JSON client for the LiteLLM proxy's HTTP API.

Every failure becomes one OpsctlError line (a ProxyError) that names the
proxy URL and never contains the master key or a plaintext `sk-` key.

Retries: with backoff, only for connection failures and 502/503/504, and
only where a retry cannot do a write twice. Each call says whether it is
`idempotent`. A non-idempotent call (POST /key/generate) is retried only
when the request certainly never reached the server (the connection could
not be opened); a dropped connection or a 502/503/504 after it was sent is
reported as ambiguous instead, so the caller can check before it retries.
"""

from __future__ import annotations

import ast
import asyncio
import random
import re
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx

from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import safe_text
from opsctl.settings import Settings

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
RETRY_STATUSES = frozenset({502, 503, 504})
# A request that failed with one of these was never sent: retrying cannot duplicate it.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# LiteLLM words "no database" differently per route, and /team/list says it with a 400.
NO_DATABASE = re.compile(r"\b(db|database)\b[^.]*\bnot connected|not connected to (the )?db|no db connected", re.IGNORECASE)
MAX_DETAIL = 300


class ProxyError(OpsctlError):
    """A failed proxy call. `status` is the HTTP status (None: no answer);
    `ambiguous` means the server may have applied the request anyway."""

    def __init__(self, message: str, exit_code: ExitCode, status: int | None = None, detail: str = "", ambiguous: bool = False):
        super().__init__(message, exit_code)
        self.status = status
        self.detail = detail
        self.ambiguous = ambiguous


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3  # attempts after the first
    backoff: float = 0.25  # seconds; doubles each attempt, with jitter
    max_delay: float = 4.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_delay, self.backoff * (2**attempt))
        return base * (0.5 + random.random() / 2)


def display_url(url: str) -> str:
    """The URL without user:password, for messages."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def error_detail(response: httpx.Response) -> str:
    """LiteLLM's own error text from a response body, as one line.

    LiteLLM answers `{"error": {"message": ...}}` (ProxyException), where the
    message is sometimes the repr of `{"error": "..."}`; FastAPI answers
    `{"detail": ...}`.
    """
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:MAX_DETAIL]
    detail: Any = body
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):
            detail = body["error"].get("message", body["error"])
        elif "error" in body:
            detail = body["error"]
        elif "detail" in body:
            detail = body["detail"]
    if isinstance(detail, str) and detail.startswith("{"):
        try:
            detail = ast.literal_eval(detail)
        except (ValueError, SyntaxError):
            pass
    if isinstance(detail, dict) and len(detail) == 1:
        detail = next(iter(detail.values()))
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', ())[1:])}: {item.get('msg')}" if isinstance(item, dict) else str(item)
            for item in detail
        )
    return " ".join(str(detail).split())[:MAX_DETAIL]


class _Core:
    """What the sync and async clients share: URL, headers, error mapping."""

    def __init__(self, settings: Settings, timeout: httpx.Timeout | float | None, retry: RetryPolicy | None):
        self.settings = settings
        self.base_url = settings.proxy_url.rstrip("/")
        self.shown_url = display_url(settings.proxy_url)
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.retry = retry or RetryPolicy()

    def headers(self, auth: bool) -> dict[str, str]:
        if not auth:
            return {}
        return {"Authorization": f"Bearer {self.settings.require_master_key()}"}

    def should_retry(self, outcome: httpx.Response | httpx.TransportError, idempotent: bool, attempt: int) -> bool:
        if attempt >= self.retry.retries:
            return False
        if isinstance(outcome, httpx.Response):
            return idempotent and outcome.status_code in RETRY_STATUSES
        if isinstance(outcome, NOT_SENT_ERRORS):
            return True
        return idempotent and isinstance(outcome, (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError))

    def transport_error(self, error: httpx.TransportError, method: str, path: str, idempotent: bool) -> ProxyError:
        where = f"{method} {path}"
        if isinstance(error, NOT_SENT_ERRORS):
            return ProxyError(f"cannot reach the proxy at {self.shown_url} ({type(error).__name__})", ExitCode.UNREACHABLE)
        if isinstance(error, httpx.TimeoutException):
            what = f"the proxy at {self.shown_url} did not answer {where} in time"
        else:
            what = f"the proxy at {self.shown_url} dropped the connection during {where}"
        if not idempotent:
            what += "; it may have been applied"
        return ProxyError(what, ExitCode.UNREACHABLE, ambiguous=not idempotent)

    def result(self, response: httpx.Response, method: str, path: str, idempotent: bool) -> Any:
        """The JSON body of a 2xx answer, or the ProxyError for anything else."""
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise ProxyError(f"the proxy at {self.shown_url} answered {method} {path} with non-JSON", ExitCode.FAILED, status) from None
        detail = safe_text(error_detail(response), (self.settings.master_key,))
        if status in (401, 403):
            message = f"the proxy at {self.shown_url} rejected the master key (HTTP {status}): check LITELLM_MASTER_KEY"
            raise ProxyError(message, ExitCode.AUTH, status, detail)
        if detail.startswith("No connected db"):
            # LiteLLM's auth answer when the key is not the master key and there is no DB to look it up in.
            message = f"the proxy at {self.shown_url} has no database, so it accepts only its master key: check LITELLM_MASTER_KEY"
            raise ProxyError(message, ExitCode.AUTH, status, detail)
        if NO_DATABASE.search(detail):
            message = f"the proxy at {self.shown_url} has no database (set DATABASE_URL on the proxy); {method} {path} needs one"
            raise ProxyError(message, ExitCode.FAILED, status, detail)
        if status in (400, 422):
            raise ProxyError(f"the proxy rejected {method} {path}: {detail}", ExitCode.USAGE, status, detail)
        ambiguous = not idempotent and status in RETRY_STATUSES
        message = f"the proxy at {self.shown_url} answered HTTP {status} to {method} {path}: {detail}"
        if ambiguous:
            message += " (it may have been applied)"
        raise ProxyError(message, ExitCode.FAILED, status, detail, ambiguous)


class ProxyClient:
    """Blocking client: `with ProxyClient(settings) as proxy: proxy.get("/key/list")`."""

    def __init__(self, settings: Settings, timeout=None, retry: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None):
        self._core = _Core(settings, timeout, retry)
        self._http = httpx.Client(base_url=self._core.base_url, timeout=self._core.timeout, transport=transport)

    @property
    def url(self) -> str:
        return self._core.shown_url

    def __enter__(self) -> "ProxyClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, auth: bool = True, idempotent: bool = True) -> Any:
        return self.request("GET", path, params=params, auth=auth, idempotent=idempotent)

    def post(self, path: str, body: Any = None, *, auth: bool = True, idempotent: bool = False) -> Any:
        return self.request("POST", path, json=body, auth=auth, idempotent=idempotent)

    def request(self, method: str, path: str, *, params=None, json=None, auth: bool = True, idempotent: bool) -> Any:
        core = self._core
        headers = core.headers(auth)
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, params=params, json=json, headers=headers)
            except httpx.TransportError as error:
                if not core.should_retry(error, idempotent, attempt):
                    raise core.transport_error(error, method, path, idempotent) from None
            else:
                if not core.should_retry(response, idempotent, attempt):
                    return core.result(response, method, path, idempotent)
            time.sleep(core.retry.delay(attempt))
            attempt += 1


class AsyncProxyClient:
    """The same client for asyncio (bulk work): `async with AsyncProxyClient(settings) as proxy: ...`."""

    def __init__(self, settings: Settings, timeout=None, retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, max_connections: int = 100):
        self._core = _Core(settings, timeout, retry)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.AsyncClient(base_url=self._core.base_url, timeout=self._core.timeout, transport=transport, limits=limits)

    @property
    def url(self) -> str:
        return self._core.shown_url

    async def __aenter__(self) -> "AsyncProxyClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self._http.aclose()

    async def get(self, path: str, params: Mapping[str, Any] | None = None, *, auth: bool = True, idempotent: bool = True) -> Any:
        return await self.request("GET", path, params=params, auth=auth, idempotent=idempotent)

    async def post(self, path: str, body: Any = None, *, auth: bool = True, idempotent: bool = False) -> Any:
        return await self.request("POST", path, json=body, auth=auth, idempotent=idempotent)

    @asynccontextmanager
    async def stream(self, method: str, path: str, *, json=None, auth: bool = True, idempotent: bool = False) -> AsyncIterator[httpx.Response]:
        """One attempt, no retry: the 2xx response with its headers, body unread
        (SSE, or when headers matter). A non-2xx answer, or a transport error
        while connecting or reading the body, raises ProxyError as request() does."""
        core = self._core
        headers = core.headers(auth)
        try:
            async with self._http.stream(method, path, json=json, headers=headers) as response:
                if not 200 <= response.status_code < 300:
                    await response.aread()
                    core.result(response, method, path, idempotent)
                yield response
        except httpx.TransportError as error:
            raise core.transport_error(error, method, path, idempotent) from None

    async def request(self, method: str, path: str, *, params=None, json=None, auth: bool = True, idempotent: bool) -> Any:
        core = self._core
        headers = core.headers(auth)
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, params=params, json=json, headers=headers)
            except httpx.TransportError as error:
                if not core.should_retry(error, idempotent, attempt):
                    raise core.transport_error(error, method, path, idempotent) from None
            else:
                if not core.should_retry(response, idempotent, attempt):
                    return core.result(response, method, path, idempotent)
            await asyncio.sleep(core.retry.delay(attempt))
            attempt += 1
