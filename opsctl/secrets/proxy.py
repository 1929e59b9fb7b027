"""After a secret changed in the stack's .env: recreate the proxy and prove it works.

The proxy container is recreated with `compose up -d --no-deps litellm`, the
way `opsctl up` starts services (a `restart` would keep the container's old
environment; without --no-deps compose would also recreate Postgres and
Redis, whose `env_file: .env` changed too). Then: readiness, and one real
request to a model stored in the database (its upstream key is one of the
re-encrypted values), and, after a master key rotation, the new key accepted
and the old one refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass

from opsctl.errors import ExitCode, OpsctlError
from opsctl.settings import Settings
from opsctl.stack.readiness import PROXY_SERVICE

AUTH_CHECK_ROUTE = "/model/info"  # needs the master key; answers with and without a database
AUTH_SETTLE_SECONDS = 10.0  # a just-ready proxy may still be loading its keys


def recreate(settings: Settings, service: str, timeout: float, saved=None) -> None:
    """`compose up -d --no-deps SERVICE` and wait for it (and, for the proxy, its readiness)."""
    from opsctl.stack.lifecycle import bring_up

    try:
        bring_up(settings, ("up", "-d", "--no-deps", service), (service,), timeout)
    except OpsctlError as error:
        if saved is None:
            raise
        raise OpsctlError(f"{error.message} (the new values are in place; undo: opsctl secrets undo {saved})",
                          error.exit_code) from None


def recreate_proxy(settings: Settings, timeout: float, saved=None) -> None:
    recreate(settings, PROXY_SERVICE, timeout, saved)


@dataclass(frozen=True)
class Probe:
    model: str | None  # None: the database holds no model to probe
    passed: bool
    detail: str

    def to_json(self) -> dict:
        return {"model": self.model, "passed": self.passed, "detail": self.detail}


def db_model_groups(model_info: dict) -> list[str]:
    """Model groups with a deployment stored in the database (model_info.db_model), chat first."""
    groups: dict[str, str | None] = {}
    for entry in model_info.get("data", []):
        info = entry.get("model_info") or {}
        if info.get("db_model") and entry.get("model_name"):
            groups.setdefault(entry["model_name"], info.get("mode"))
    return sorted(groups, key=lambda name: groups[name] not in (None, "chat"))


def probe_db_model(settings: Settings, model: str | None = None, timeout: float = 30.0) -> Probe:
    """One real request to a DB-stored model (the first chat one, or `model`)."""
    from opsctl.admin.client import ProxyClient
    from opsctl.smoke.probe import run_probe

    if model is None:
        with ProxyClient(settings) as client:
            names = db_model_groups(client.get("/model/info"))
        if not names:
            return Probe(None, True, "no model is stored in the database: nothing to probe")
        model = names[0]
    report = asyncio.run(run_probe(settings, models=[model], timeout=timeout))
    probe = report.models[0]
    detail = probe.status if probe.healthy else f"{probe.status}: {probe.error}"
    return Probe(model, probe.healthy, detail)


def check_master_keys(settings: Settings, new_key: str, old_key: str) -> None:
    """The proxy accepts new_key and refuses old_key, or OpsctlError."""
    from opsctl.admin.client import ProxyClient, ProxyError, RetryPolicy

    def answer(key: str) -> ProxyError | None:
        with ProxyClient(dataclasses.replace(settings, master_key=key), retry=RetryPolicy(retries=2)) as client:
            try:
                client.get(AUTH_CHECK_ROUTE)
            except ProxyError as error:
                return error
        return None

    deadline = time.monotonic() + AUTH_SETTLE_SECONDS
    while True:
        refused = answer(new_key)
        if refused is None:
            break
        if refused.exit_code != ExitCode.AUTH or time.monotonic() >= deadline:
            raise OpsctlError(f"the proxy does not accept the new master key: {refused.message}", refused.exit_code)
        time.sleep(1)
    old = answer(old_key)
    if old is None:
        raise OpsctlError("the proxy still accepts the old master key", ExitCode.FAILED)
    if old.exit_code != ExitCode.AUTH:
        raise OpsctlError(f"could not check that the old master key is refused: {old.message}", old.exit_code)
