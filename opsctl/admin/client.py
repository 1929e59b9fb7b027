"""A small JSON client for the LiteLLM proxy's HTTP API.

Every failure becomes one OpsctlError line (a ProxyError) that names the
proxy URL and never contains the master key or a plaintext `sk-` key.

Bounds, whatever the server does: each attempt has a total time limit (not
only a per-read one, which a server dripping a byte a second never trips),
every command has one overall deadline (OPSCTL_DEADLINE, retries included),
and no answer is read past MAX_RESPONSE_BYTES. Redirects are not followed
(the master key stays with the proxy it was meant for). Answers are decoded
with opsctl.jsonsafe and the master key is scrubbed from them, however the
server quoted it; `wrong_shape` is the one error for an answer that is JSON
but not what LiteLLM sends (the callers in keys/teams check what they read).

Retries: with backoff, only for connection failures and 502/503/504, and
only where a retry cannot do a write twice. Each call says whether it is
`idempotent`. A non-idempotent call (POST /key/generate) is retried only
when the request certainly never reached the server (the connection could
not be opened); a dropped connection or a 502/503/504 after it was sent is
reported as ambiguous instead, so the caller can check before it retries.

The blocking ProxyClient runs the same asyncio code on a private event loop,
so both clients share one implementation of these bounds.
"""

from __future__ import annotations

import ast
import asyncio
import random
import re
import time
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx

from opsctl import jsonsafe
from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import safe_text, scrub
from opsctl.settings import Settings

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
MAX_PAGES = 10_000  # of 100 keys: a million keys is more than any gateway; 10**12 is a hostile server
RETRY_STATUSES = frozenset({502, 503, 504})
# A request that failed with one of these was never sent: retrying cannot duplicate it.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Nor with these, but retrying will not help: the request could not be made at all.
NOT_MADE_ERRORS = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)
# LiteLLM words "no database" differently per route, and /team/list says it with a 400.
NO_DATABASE = re.compile(r"\b(db|database)\b[^.]*\bnot connected|not connected to (the )?db|no db connected", re.IGNORECASE)
# A database LiteLLM has but cannot reach, in its own words (litellm 1.108.7
# proxy/db/exception_handler.py:22-24, the 503 auth answer; :249-251, Prisma's P1001 text;
# httpx.ConnectError's text, which proxy/_types.py:4032 counts as a DB connection error:
# Prisma's client could not reach its query engine).
DB_UNREACHABLE = re.compile(r"database is temporarily unreachable|can'?t reach database server|cannot reach database server"
                            r"|all connection attempts failed", re.IGNORECASE)
# What /health/readiness says of such a database (proxy/health_endpoints/_health_endpoints.py:1941-1955);
# it re-checks at most every 15 s (:1615), so the words above catch the first seconds.
READINESS_DB_DOWN = frozenset({"disconnected", "stalled"})
DB_ROUTES = ("/key/", "/team/", "/model/")  # a 5xx here may be the database; elsewhere (a chat) it is not asked
MAX_DETAIL = 300
HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")  # what an Authorization header value may hold


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


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, read whole (within MAX_RESPONSE_BYTES)."""

    status: int
    body: bytes


def error_detail(body: bytes) -> str:
    """LiteLLM's own error text from a response body, as one line.

    LiteLLM answers `{"error": {"message": ...}}` (ProxyException), where the
    message is sometimes the repr of `{"error": "..."}`; FastAPI answers
    `{"detail": ...}`.
    """
    try:
        parsed = jsonsafe.loads(body)
    except jsonsafe.JSONError:
        return " ".join(body[: MAX_DETAIL * 4].decode("utf-8", "replace").split())[:MAX_DETAIL]
    detail: Any = parsed
    if isinstance(parsed, dict):
        if isinstance(parsed.get("error"), dict):
            detail = parsed["error"].get("message", parsed["error"])
        elif "error" in parsed:
            detail = parsed["error"]
        elif "detail" in parsed:
            detail = parsed["detail"]
    if isinstance(detail, str) and detail.startswith("{") and len(detail) <= MAX_DETAIL * 10:
        try:
            detail = ast.literal_eval(detail)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
    if isinstance(detail, dict) and len(detail) == 1:
        detail = next(iter(detail.values()))
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', ())[1:]) if isinstance(item.get('loc'), list) else ''}: {item.get('msg')}"
            if isinstance(item, dict) else str(item)
            for item in detail[:20]
        )
    return " ".join(str(detail)[: MAX_DETAIL * 4].split())[:MAX_DETAIL]


class _Deadline(Exception):
    """The command's overall deadline passed (not an attempt's own limit)."""


class _TooLarge(Exception):
    def __init__(self, status: int):
        self.status = status


class _Core:
    """What the sync and async clients share: URL, headers, bounds, retries, error mapping."""

    def __init__(self, settings: Settings, timeout: httpx.Timeout | float | None, retry: RetryPolicy | None):
        self.settings = settings
        self.base_url = settings.proxy_base_url().rstrip("/")  # a USAGE error for a URL that cannot work
        self.shown_url = display_url(self.base_url)
        self.timeout = httpx.Timeout(DEFAULT_TIMEOUT if timeout is None else timeout)
        self.retry = retry or RetryPolicy()
        self.deadline_seconds = settings.deadline_seconds()
        self.deadline = settings.started_at + self.deadline_seconds
        # One attempt may take as long as its slowest single read would be allowed to.
        self.attempt_seconds = max(t for t in (self.timeout.read, self.timeout.connect, 1.0) if t is not None)
        self.max_bytes = MAX_RESPONSE_BYTES

    def headers(self, auth: bool) -> dict[str, str]:
        headers = {"Accept-Encoding": "identity"}  # a compressed body could outgrow the size cap in one read
        if auth:
            key = self.settings.require_master_key()
            if not HEADER_SAFE.match(key):
                raise OpsctlError(
                    f"{self.settings.named('master_key')} holds characters an HTTP header cannot carry "
                    "(non-ASCII, spaces or control characters): check the key", ExitCode.USAGE)
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def wrong_shape(self, method: str, path: str, why: str, ambiguous: bool = False) -> ProxyError:
        message = f"the proxy at {self.shown_url} answered {method} {path} with {why}, not what LiteLLM sends"
        if ambiguous:
            message += "; it may have been applied"
        return ProxyError(message, ExitCode.FAILED, 200, ambiguous=ambiguous)

    def should_retry(self, outcome: Answer | httpx.TransportError, idempotent: bool, attempt: int) -> bool:
        if attempt >= self.retry.retries:
            return False
        if isinstance(outcome, Answer):
            return idempotent and outcome.status in RETRY_STATUSES
        if isinstance(outcome, NOT_SENT_ERRORS):
            return True
        return idempotent and isinstance(outcome, (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError))

    def transport_error(self, error: httpx.TransportError, method: str, path: str, idempotent: bool) -> ProxyError:
        where = f"{method} {path}"
        if isinstance(error, NOT_SENT_ERRORS):
            return ProxyError(f"cannot reach the proxy at {self.shown_url} ({type(error).__name__})", ExitCode.UNREACHABLE)
        if isinstance(error, NOT_MADE_ERRORS):
            return ProxyError(f"cannot send {where} to the proxy at {self.shown_url} ({type(error).__name__})", ExitCode.UNREACHABLE)
        if isinstance(error, httpx.TimeoutException):
            what = f"the proxy at {self.shown_url} did not answer {where} in time"
        else:
            what = f"the proxy at {self.shown_url} dropped the connection during {where}"
        if not idempotent:
            what += "; it may have been applied"
        return ProxyError(what, ExitCode.UNREACHABLE, ambiguous=not idempotent)

    def deadline_error(self, method: str, path: str, idempotent: bool, sent: bool) -> ProxyError:
        message = (f"the proxy at {self.shown_url} did not finish {method} {path} within the command's "
                   f"{self.deadline_seconds:g} s deadline (OPSCTL_DEADLINE)")
        ambiguous = sent and not idempotent
        if ambiguous:
            message += "; it may have been applied"
        return ProxyError(message, ExitCode.UNREACHABLE, ambiguous=ambiguous)

    def too_large(self, method: str, path: str, status: int) -> ProxyError:
        return ProxyError(f"the proxy at {self.shown_url} sent more than {self.max_bytes // (1024 * 1024)} MiB "
                          f"in answer to {method} {path} (HTTP {status}); opsctl stopped reading", ExitCode.FAILED, status)

    async def _exchange(self, http: httpx.AsyncClient, method: str, path: str, params, json, headers) -> Answer:
        async with http.stream(method, path, params=params, json=json, headers=headers) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and (len(declared) > 18 or int(declared) > self.max_bytes):
                raise _TooLarge(response.status_code)
            chunks, size = [], 0
            async with aclosing(response.aiter_bytes()) as body:  # closed here, not by a loop already gone
                async for chunk in body:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise _TooLarge(response.status_code)
                    chunks.append(chunk)
            return Answer(response.status_code, b"".join(chunks))

    async def send(self, http: httpx.AsyncClient, method: str, path: str, *, params=None, json=None,
                   auth: bool = True, idempotent: bool) -> Any:
        headers = self.headers(auth)
        attempt = 0
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise self.deadline_error(method, path, idempotent, sent=attempt > 0)
            limit = min(self.attempt_seconds, remaining)
            try:
                async with asyncio.timeout(limit):
                    outcome: Answer | httpx.TransportError = await self._exchange(http, method, path, params, json, headers)
            except TimeoutError:
                if limit == remaining:
                    raise self.deadline_error(method, path, idempotent, sent=True) from None
                outcome = httpx.ReadTimeout(f"no whole answer within {limit:g} s")
            except _TooLarge as error:
                raise self.too_large(method, path, error.status) from None
            except httpx.TransportError as error:
                outcome = error
            except httpx.InvalidURL:
                raise OpsctlError(f"{self.settings.named('proxy_url')} is not a usable proxy URL", ExitCode.USAGE) from None
            if not self.should_retry(outcome, idempotent, attempt):
                if isinstance(outcome, Answer):
                    try:
                        return self.result(outcome, method, path, idempotent)
                    except ProxyError as error:
                        if outcome.status >= 500 and error.exit_code == ExitCode.FAILED and path.startswith(DB_ROUTES):
                            raise await self._maybe_database_down(http, error, method, path) from None
                        raise
                raise self.transport_error(outcome, method, path, idempotent)
            delay = self.retry.delay(attempt)
            if time.monotonic() + delay >= self.deadline:
                raise self.deadline_error(method, path, idempotent, sent=not isinstance(outcome, NOT_SENT_ERRORS))
            await asyncio.sleep(delay)
            attempt += 1

    def database_down(self, why: str, error: ProxyError, method: str, path: str) -> ProxyError:
        message = f"the proxy at {self.shown_url} is up but cannot reach its database ({why}); {method} {path} needs it"
        return ProxyError(message, ExitCode.UNREACHABLE, error.status, error.detail, error.ambiguous)

    async def _maybe_database_down(self, http: httpx.AsyncClient, error: ProxyError, method: str, path: str) -> ProxyError:
        """A 5xx from a DB route: exit 3 (UNREACHABLE) when LiteLLM says its database is
        unreachable, in the answer or on /health/readiness; else the error as it was."""
        if DB_UNREACHABLE.search(error.detail):
            return self.database_down(f"LiteLLM: {error.detail}", error, method, path)
        state = await self.readiness_db(http)
        if state in READINESS_DB_DOWN:
            return self.database_down(f"/health/readiness: db {state}", error, method, path)
        return error

    async def readiness_db(self, http: httpx.AsyncClient) -> str | None:
        """What /health/readiness says of the database (one bounded try, no key sent), or None."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            async with asyncio.timeout(min(5.0, remaining)):
                answer = await self._exchange(http, "GET", "/health/readiness", None, None, self.headers(auth=False))
            state = jsonsafe.loads(answer.body).get("db")
        except (TimeoutError, _TooLarge, httpx.HTTPError, jsonsafe.JSONError, AttributeError):
            return None
        return state if isinstance(state, str) else None

    def result(self, answer: Answer, method: str, path: str, idempotent: bool) -> Any:
        """The decoded JSON of a 2xx answer (master key scrubbed), or the ProxyError for anything else."""
        status = answer.status
        if 200 <= status < 300:
            if not answer.body:
                return None
            try:
                return scrub(jsonsafe.loads(answer.body), (self.settings.master_key,), raw=answer.body)
            except jsonsafe.JSONError as error:
                raise ProxyError(f"the proxy at {self.shown_url} answered {method} {path} with something that is not "
                                 f"JSON ({error})" + ("" if idempotent else "; it may have been applied"),
                                 ExitCode.FAILED, status, ambiguous=not idempotent) from None
        detail = safe_text(error_detail(answer.body), (self.settings.master_key,))
        if 300 <= status < 400:
            message = (f"the proxy at {self.shown_url} answered {method} {path} with a redirect (HTTP {status}); "
                       "opsctl does not follow redirects, so the master key goes to no other server: check the proxy URL")
            raise ProxyError(message, ExitCode.FAILED, status, detail)
        if status in (401, 403):
            message = f"the proxy at {self.shown_url} rejected the master key (HTTP {status}): check LITELLM_MASTER_KEY"
            raise ProxyError(message, ExitCode.AUTH, status, detail)
        if detail.startswith("No connected db"):
            # LiteLLM's auth answer when the key is not the master key and there is no DB to look it up in.
            message = f"the proxy at {self.shown_url} has no database, so it accepts only its master key: check LITELLM_MASTER_KEY"
            raise ProxyError(message, ExitCode.AUTH, status, detail)
        if NO_DATABASE.search(detail):
            message = f"the proxy at {self.shown_url} has no database (set DATABASE_URL on the proxy); {method} {path} needs one"
            raise ProxyError(message, ExitCode.UNREACHABLE, status, detail)
        if status in (400, 422):
            raise ProxyError(f"the proxy rejected {method} {path}: {detail}", ExitCode.USAGE, status, detail)
        ambiguous = not idempotent and status in RETRY_STATUSES
        message = f"the proxy at {self.shown_url} answered HTTP {status} to {method} {path}: {detail}"
        if ambiguous:
            message += " (it may have been applied)"
        raise ProxyError(message, ExitCode.FAILED, status, detail, ambiguous)


def _http_client(core: _Core, transport, max_connections: int = 100) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    # A plain-http proxy never needs TLS (no redirects are followed, no environment proxies used), and
    # loading the CA bundle costs ~75 ms per client; https:// keeps full verification.
    plain = core.base_url.startswith("http://")
    return httpx.AsyncClient(base_url=core.base_url, timeout=core.timeout, transport=transport, limits=limits,
                             follow_redirects=False, verify=not plain)


class ProxyClient:
    """Blocking client: `with ProxyClient(settings) as proxy: proxy.get("/key/list")`.

    It drives the async implementation on its own event loop, so it must not
    be used from inside a running loop (use AsyncProxyClient there).
    """

    def __init__(self, settings: Settings, timeout=None, retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._core = _Core(settings, timeout, retry)
        self._loop = asyncio.new_event_loop()
        self._http = _http_client(self._core, transport)

    @property
    def url(self) -> str:
        return self._core.shown_url

    def wrong_shape(self, method: str, path: str, why: str, ambiguous: bool = False) -> ProxyError:
        return self._core.wrong_shape(method, path, why, ambiguous)

    def __enter__(self) -> "ProxyClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._http.aclose())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, auth: bool = True, idempotent: bool = True) -> Any:
        return self.request("GET", path, params=params, auth=auth, idempotent=idempotent)

    def post(self, path: str, body: Any = None, *, auth: bool = True, idempotent: bool = False) -> Any:
        return self.request("POST", path, json=body, auth=auth, idempotent=idempotent)

    def check_database(self, error: ProxyError, method: str, path: str) -> None:
        """Raise the exit-3 error when /health/readiness says the database is down: for the
        answers LiteLLM gives when a lookup failed, such as /team/info's 404
        (litellm 1.108.7 management_endpoints/team_endpoints.py:5101-5116 turns any DB error into one)."""
        state = self._loop.run_until_complete(self._core.readiness_db(self._http))
        if state in READINESS_DB_DOWN:
            raise self._core.database_down(f"/health/readiness: db {state}", error, method, path)

    def request(self, method: str, path: str, *, params=None, json=None, auth: bool = True, idempotent: bool) -> Any:
        return self._loop.run_until_complete(
            self._core.send(self._http, method, path, params=params, json=json, auth=auth, idempotent=idempotent))


class AsyncProxyClient:
    """The same client for asyncio (bulk work): `async with AsyncProxyClient(settings) as proxy: ...`."""

    def __init__(self, settings: Settings, timeout=None, retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, max_connections: int = 100):
        self._core = _Core(settings, timeout, retry)
        self._http = _http_client(self._core, transport, max_connections)

    @property
    def url(self) -> str:
        return self._core.shown_url

    def wrong_shape(self, method: str, path: str, why: str, ambiguous: bool = False) -> ProxyError:
        return self._core.wrong_shape(method, path, why, ambiguous)

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
        (SSE, or when headers matter); the caller bounds how long and how much it
        reads. A non-2xx answer, or a transport error while connecting or reading
        the body, raises ProxyError as request() does."""
        core = self._core
        headers = core.headers(auth)
        try:
            async with self._http.stream(method, path, json=json, headers=headers) as response:
                if not 200 <= response.status_code < 300:
                    body = b""
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_DETAIL * 100:
                            break
                    core.result(Answer(response.status_code, body), method, path, idempotent)
                yield response
        except httpx.TransportError as error:
            raise core.transport_error(error, method, path, idempotent) from None

    async def request(self, method: str, path: str, *, params=None, json=None, auth: bool = True, idempotent: bool) -> Any:
        return await self._core.send(self._http, method, path, params=params, json=json, auth=auth, idempotent=idempotent)


# What an answer's fields must be, for the fields opsctl computes with (the
# rest is only printed, and any JSON value prints).
Check = Callable[[Any], bool]


def text(value: Any) -> bool:
    return isinstance(value, str)


def optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def list_of(check: Check) -> Check:
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def whole_number(low: int, high: int) -> Check:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def object_with(fields: Mapping[str, Check]) -> Check:
    return lambda value: isinstance(value, dict) and bad_field(value, fields) is None


def bad_field(answer: Any, fields: Mapping[str, Check]) -> str | None:
    """Why `answer` is not an object whose `fields` pass their checks (a missing field is None); None if it is."""
    if not isinstance(answer, dict):
        return f"JSON {type(answer).__name__ if answer is not None else 'null'} instead of an object"
    for name, check in fields.items():
        if not check(answer.get(name)):
            return f"a bad or missing {name!r}"
    return None
