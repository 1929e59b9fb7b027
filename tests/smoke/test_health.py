"""`opsctl smoke health` against the real proxy, and readiness/hardening
verdicts the test proxy cannot produce (a connected DB, an open route) at the
wire with httpx.MockTransport."""

import asyncio
import json

import httpx
from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.settings import Settings
from opsctl.smoke.codes import SmokeExit
from opsctl.smoke.health import check_health
from tests.support.proxy import free_port


def smoke(args, env):
    return CliRunner().invoke(cli, ["smoke", *args], env=env)


def by_route(report, target="proxy"):
    return {c["route"]: c for c in report["checks"] if c["target"] == target}


def test_live_proxy_is_healthy_and_needs_no_master_key(stack):
    result = smoke(["health", "--json"], {"LITELLM_PROXY_URL": stack.proxy.url})
    assert result.exit_code == SmokeExit.OK, result.output
    report = json.loads(result.stdout)["health"]
    assert report["targets"] == [{"name": "proxy", "url": stack.proxy.url, "ready": True, "reason": ""}]
    checks = by_route(report)
    # LiteLLM serves the /health/* pair; /healthz and /readyz are reported, not crashed on.
    assert (checks["/healthz"]["outcome"], checks["/readyz"]["outcome"]) == ("not served", "not served")
    assert checks["/health/liveliness"]["outcome"] == "ok"
    assert checks["/health/readiness"]["detail"] == "database Not connected"
    for route in ("/key/list", "/model/info", "/health"):
        assert checks[route]["outcome"] == "refused" and checks[route]["status"] >= 400, checks[route]


def test_table_output(stack):
    result = smoke(["health"], {"LITELLM_PROXY_URL": stack.proxy.url})
    assert result.exit_code == SmokeExit.OK
    assert "/health/readiness" in result.stdout and "not served" in result.stdout
    assert result.stderr == f"proxy {stack.proxy.url}: live and ready\n"


def test_readiness_must_show_the_database_when_the_stack_has_one(stack):
    for args, env in ((["--expect-db"], {}), ([], {"DATABASE_URL": "postgresql://litellm@127.0.0.1:5432/litellm"})):
        result = smoke(["health", "--json", *args], {"LITELLM_PROXY_URL": stack.proxy.url, **env})
        assert result.exit_code == SmokeExit.UNREACHABLE, (args, env, result.output)
        report = json.loads(result.stdout)["health"]
        assert report["expect_db"] is True
        assert report["targets"][0]["reason"] == "/health/readiness: database Not connected"


def test_health_app_is_checked_when_configured(stack):
    result = smoke(["health", "--json"], {"LITELLM_PROXY_URL": stack.proxy.url, "OPSCTL_HEALTH_URL": stack.proxy.url})
    assert result.exit_code == SmokeExit.OK, result.output
    assert [t["name"] for t in json.loads(result.stdout)["health"]["targets"]] == ["proxy", "health app"]

    down = f"http://127.0.0.1:{free_port()}"
    result = smoke(["health"], {"LITELLM_PROXY_URL": stack.proxy.url, "OPSCTL_HEALTH_URL": down})
    assert result.exit_code == SmokeExit.UNREACHABLE
    assert f"health app {down}: NOT READY: cannot reach {down}\n" in result.stderr

    # The proxy itself is ready, so its models are still probed; the run still exits 3.
    result = smoke(["--json", "--model", "chat-a"], {**stack.env, "OPSCTL_HEALTH_URL": down})
    assert result.exit_code == SmokeExit.UNREACHABLE
    report = json.loads(result.stdout)
    assert [t["ready"] for t in report["health"]["targets"]] == [True, False]
    assert [(m["model"], m["status"]) for m in report["probe"]["models"]] == [("chat-a", "ok")]


def fake_proxy(routes: dict):
    """A MockTransport answering path -> (status, json body); anything else 404."""
    def handle(request: httpx.Request) -> httpx.Response:
        status, body = routes.get(request.url.path, (404, {"detail": "Not Found"}))
        return httpx.Response(status, json=body)
    return httpx.MockTransport(handle)


HEALTHY = {
    "/health/liveliness": (200, "I'm alive!"),
    "/health/readiness": (200, {"status": "healthy", "db": "connected"}),
    "/key/list": (401, {"error": {"message": "Authentication Error, No api key passed in."}}),
    "/model/info": (401, {"error": {"message": "Authentication Error, No api key passed in."}}),
    "/health": (401, {"error": {"message": "Authentication Error, No api key passed in."}}),
}


def run_health(routes, expect_db=True):
    return asyncio.run(check_health(Settings(proxy_url="http://proxy.test"), expect_db, transport=fake_proxy(routes)))


def test_connected_database_is_ready():
    report = run_health(HEALTHY)
    assert report.exit_code == SmokeExit.OK
    assert {c.route: c.detail for c in report.checks}["/health/readiness"] == "database connected"
    assert {c.route: c.status for c in report.checks if c.kind == "protected"} == {"/key/list": 401, "/model/info": 401, "/health": 401}


def test_disconnected_database_is_not_ready():
    report = run_health({**HEALTHY, "/health/readiness": (503, {"status": "healthy", "db": "disconnected"})})
    assert report.exit_code == SmokeExit.UNREACHABLE
    assert report.targets[0].reason.startswith("/health/readiness: HTTP 503")


def test_an_open_protected_route_fails_hardening():
    report = run_health({**HEALTHY, "/key/list": (200, {"keys": []})})
    assert report.exit_code == SmokeExit.FAILED
    check = next(c for c in report.checks if c.route == "/key/list")
    assert (check.outcome, check.passed, check.detail) == ("open", False, "answered without a key: it must not be public")


def test_no_readiness_route_served_is_not_ready():
    routes = {k: v for k, v in HEALTHY.items() if k != "/health/readiness"}
    report = run_health(routes)
    assert report.exit_code == SmokeExit.UNREACHABLE
    assert report.targets[0].reason == "no readiness route is served"
