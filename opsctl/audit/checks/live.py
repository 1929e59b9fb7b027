"""Boundaries, live: without a key the running proxy answers only its public routes."""

from __future__ import annotations

from dataclasses import dataclass

from opsctl.audit.registry import Evidence, Needs, Result, Status, check, worst
from opsctl.audit.stackfiles import StackFiles

PUBLIC_ROUTES = ("/health/liveliness", "/health/readiness")
HEALTH_APP_ROUTES = ("/healthz", "/readyz")  # served by the separate health app (SEPARATE_HEALTH_APP=1)
# Routes that hand out keys, users, spend, models or real upstream calls: each must demand a key.
PROTECTED_ROUTES = ("/key/list", "/team/list", "/user/list", "/spend/logs", "/global/spend",
                    "/model/info", "/v1/models", "/health")


@dataclass(frozen=True)
class LiveTarget:
    files: StackFiles
    proxy: object  # opsctl.admin.client.ProxyClient
    health: object | None  # a ProxyClient for the separate health app, when OPSCTL_HEALTH_URL is set


ANSWERED = "2xx"  # the client hands back the body of any 2xx, not its exact status


def status_without_key(client, path: str) -> str:
    """What GET path with no Authorization header got: "2xx", the error status, or "no answer"."""
    from opsctl.admin.client import ProxyError

    try:
        client.get(path, auth=False)
    except ProxyError as error:
        if error.status is None:
            return "no answer"
        # A 2xx the client could not parse (HTML, text) still answered without a key.
        return ANSWERED if 200 <= error.status < 300 else str(error.status)
    return ANSWERED


def _protected(client, path: str) -> tuple[Status, Evidence]:
    """Any answer but a 2xx keeps the data in (401 normally; 500 from a proxy that lacks a module)."""
    seen = status_without_key(client, path)
    evidence = f"GET {client.url}{path} without a key -> {seen}"
    if seen == ANSWERED:
        return Status.FAIL, Evidence(evidence + " (answered)")
    return (Status.WARN if seen == "no answer" else Status.PASS), Evidence(evidence)


def _public(client, path: str) -> tuple[Status, Evidence]:
    seen = status_without_key(client, path)
    return (Status.PASS if seen == ANSWERED else Status.WARN), Evidence(f"GET {client.url}{path} without a key -> {seen}")


@check("public-routes", section="Boundaries", needs=Needs.LIVE,
       runbook="Public routes: `/healthz`, `/readyz`, `/health/liveliness`, `/health/readiness`; `ui_access_mode=admin_only`.",
       fix="set LITELLM_MASTER_KEY in the stack's .env, then opsctl up litellm (a proxy without a master key answers every route)")
def public_routes(target: LiveTarget) -> Result:
    findings = [_protected(target.proxy, path) for path in PROTECTED_ROUTES]
    findings += [_public(target.proxy, path) for path in PUBLIC_ROUTES]
    if target.health is not None:
        findings += [_public(target.health, path) for path in HEALTH_APP_ROUTES]
    return worst(findings)
