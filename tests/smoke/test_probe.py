"""`opsctl smoke` and `opsctl smoke probe` against the real proxy: fake
upstreams for chat/embedding/rerank, SmolLM2 on llama.cpp for llamacpp-local."""

import asyncio
import json
import time

import httpx
import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.admin.client import ProxyError
from opsctl.settings import Settings
from opsctl.smoke.probe import DEFAULT_CONCURRENCY, run_probe
from opsctl.smoke.codes import SmokeExit
from tests.smoke.stack import FAKE_GROUPS, LLAMACPP_GROUP
from tests.support.proxy import free_port
from tests.support.upstream import Behavior

PROBED = [g for g, deployments in FAKE_GROUPS.items() if deployments[0][1] != "image_generation"] + [LLAMACPP_GROUP]


def smoke(args, env):
    return CliRunner().invoke(cli, ["smoke", *args], env=env)


def models(result) -> dict:
    return {m["model"]: m for m in json.loads(result.stdout)["probe"]["models"]}


def only(group: dict) -> dict:
    """The one deployment of a one-deployment group."""
    assert len(group["deployments"]) == 1, group
    return group["deployments"][0]


def test_all_healthy(fresh_stack):
    result = smoke(["--json"], fresh_stack.env)
    assert result.exit_code == SmokeExit.OK, result.output
    report = json.loads(result.stdout)
    assert report["exit_code"] == 0 and report["health"]["ready"] is True
    probes = models(result)
    assert {name for name, p in probes.items() if p["status"] == "ok" and p["healthy"]} == set(PROBED)
    assert (probes["image-a"]["status"], probes["image-a"]["healthy"]) == ("skipped", True)
    assert probes["image-a"]["error"] == "not probed: mode image_generation"
    # Every deployment of every group, named by its id and api_base host, each answered once.
    listed = fresh_stack.model_info()
    for name in PROBED:
        ids = [d["model_info"]["id"] for d in listed if d["model_name"] == name]
        group = probes[name]
        assert [d["id"] for d in group["deployments"]] == ids, name
        assert group["fallback"] is None and group["error"] is None
        for deployment in group["deployments"]:
            assert (deployment["status"], deployment["attempts"]) == ("ok", 1), deployment
    for name, deployments in FAKE_GROUPS.items():
        if name != "image-a":
            upstream = {"main": fresh_stack.upstream.url, "spare": fresh_stack.spare.url}
            assert [(d["model"], "http://" + d["api_host"]) for d in probes[name]["deployments"]] == [
                (model, upstream[which]) for model, _mode, which in deployments]
    assert only(probes[LLAMACPP_GROUP])["model"] == "openai/smollm2"  # the real tiny model answered
    for name in ("chat-a", LLAMACPP_GROUP):
        deployment = only(probes[name])
        assert 0 < deployment["ttft_ms"] <= deployment["latency_ms"]
    assert only(probes["embed-a"])["ttft_ms"] is None
    # Both deployments of chat-mixed were asked, each on its own upstream.
    assert fresh_stack.upstream.requests_for("chat-mixed-1") and fresh_stack.spare.upstream.requests_for("chat-mixed-2")
    # The smallest real request per mode reached the upstream.
    chat = fresh_stack.upstream.requests_for("chat-a")[-1]
    assert chat.body["stream"] is True and chat.body["max_tokens"] == 4
    rerank = fresh_stack.upstream.requests_for("rerank-a")[-1]
    assert rerank.path.endswith("/rerank") and len(rerank.body["documents"]) == 2
    assert fresh_stack.upstream.requests_for("embed-a")[-1].body["input"] in ("ok", ["ok"])


def test_table_and_summary(fresh_stack):
    result = smoke(["probe", "--model", "chat-a", "--model", "embed-a"], fresh_stack.env)
    assert result.exit_code == SmokeExit.OK, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "model" in line and "status" in line)
    assert [cell.strip() for cell in header.split("┃")[1:4]] == ["model", "mode", "status"]
    row = [cell.strip() for cell in next(line for line in lines if "chat-a" in line).split("│")]
    assert row[2:5] == ["chat", "ok", fresh_stack.deployment_ids("chat-a")[0][:12] + "…"]
    assert row[5:7] == [fresh_stack.upstream.url.removeprefix("http://"), "ok"]
    assert result.stderr.startswith("probed 2 model groups (2 deployments) in ")
    assert result.stderr.endswith(f"(concurrency {DEFAULT_CONCURRENCY}): 2 ok\n")


def test_one_upstream_fails(fresh_stack):
    fresh_stack.upstream.behave("chat-broken", Behavior(status=500))
    result = smoke(["probe", "--json"], fresh_stack.env)
    assert result.exit_code == SmokeExit.FAILED, result.output
    probes = models(result)
    assert (probes["chat-broken"]["status"], probes["chat-broken"]["healthy"]) == ("failed", False)
    assert probes["chat-broken"]["error"] == "HTTP 500: OpenAIException - injected failure 500"
    assert only(probes["chat-broken"])["error"] == "HTTP 500: OpenAIException - injected failure 500"
    assert {name for name, p in probes.items() if p["status"] == "ok"} == set(PROBED) - {"chat-broken"}


def test_retries_only_when_asked(fresh_stack):
    fresh_stack.upstream.behave("chat-broken", Behavior(status=500))
    before = len(fresh_stack.upstream.requests_for("chat-broken"))
    result = smoke(["probe", "--json", "--model", "chat-broken", "--retries", "2"], fresh_stack.env)
    assert result.exit_code == SmokeExit.FAILED
    assert only(models(result)["chat-broken"])["attempts"] == 3
    # Three attempts on the deployment, then one request by name for a fallback (there is none).
    assert len(fresh_stack.upstream.requests_for("chat-broken")) - before == 4


def test_a_hung_model_times_out_and_the_others_finish_on_time(fresh_stack):
    fresh_stack.upstream.behave("chat-hang", Behavior(hang=True))
    started = time.monotonic()
    result = smoke(["probe", "--json", "--timeout", "2"], fresh_stack.env)
    wall = time.monotonic() - started
    assert result.exit_code == SmokeExit.FAILED, result.output
    probes = models(result)
    assert probes["chat-hang"]["status"] == "timeout"
    assert probes["chat-hang"]["error"] == "no complete answer in 2s"
    assert 2000 <= only(probes["chat-hang"])["latency_ms"] < 2500
    others = {name: p for name, p in probes.items() if name not in ("chat-hang", "image-a")}
    assert all(d["status"] == "ok" and d["latency_ms"] < 2000 for p in others.values() for d in p["deployments"]), others
    # Bounded by the timeout twice (the deployment, then the group's request for a fallback), not by timeout x models.
    assert wall < 5.5


def test_a_group_served_by_its_fallback_is_reported_and_unhealthy(fresh_stack):
    fresh_stack.upstream.behave("chat-primary", Behavior(status=500))
    result = smoke(["probe", "--json", "--model", "chat-primary", "--model", "chat-a"], fresh_stack.env)
    assert result.exit_code == SmokeExit.FAILED, result.output
    probes = models(result)
    probe = probes["chat-primary"]
    assert (probe["status"], probe["healthy"], probe["fallback"]) == ("fallback", False, "chat-backup")
    assert probe["fallback_deployment"] == fresh_stack.deployment_ids("chat-backup")[0]
    assert only(probe)["error"] == "HTTP 500: OpenAIException - injected failure 500"
    assert (probes["chat-a"]["status"], probes["chat-a"]["healthy"]) == ("ok", True)
    assert fresh_stack.upstream.requests_for("chat-backup"), "the fallback answered the group's request"

    # --fail-on-fallback (the old opt-in) is still accepted: it is what every run does now.
    result = smoke(["probe", "--json", "--model", "chat-primary", "--fail-on-fallback"], fresh_stack.env)
    assert result.exit_code == SmokeExit.FAILED, result.output
    assert models(result)["chat-primary"]["status"] == "fallback"


def test_narrowing_by_mode_and_model(fresh_stack):
    result = smoke(["probe", "--json", "--mode", "embedding"], fresh_stack.env)
    assert result.exit_code == SmokeExit.OK
    assert list(models(result)) == ["embed-a", "embed-cached"]

    result = smoke(["--json", "probe", "--model", "rerank-a"], fresh_stack.env)  # group options pass down
    assert result.exit_code == SmokeExit.OK
    assert list(models(result)) == ["rerank-a"]

    result = smoke(["probe", "--model", "nope"], fresh_stack.env)
    assert result.exit_code == SmokeExit.USAGE
    assert result.stderr.startswith("Error: unknown model group: nope (the proxy serves: chat-a, chat-broken,")


def test_probe_option_given_to_health_is_a_usage_error():
    result = smoke(["--model", "x", "health"], {})
    assert result.exit_code == SmokeExit.USAGE
    assert "Error: --model does not apply to `smoke health`" in result.stderr


def test_proxy_down_is_unreachable_fast():
    url = f"http://127.0.0.1:{free_port()}"
    env = {"LITELLM_PROXY_URL": url, "LITELLM_MASTER_KEY": "sk-anything-at-all"}
    started = time.monotonic()
    result = smoke(["--json"], env)
    assert time.monotonic() - started < 2.0
    assert result.exit_code == SmokeExit.UNREACHABLE
    report = json.loads(result.stdout)
    assert report["probe"] is None and report["health"]["targets"][0]["reason"] == f"cannot reach {url}"
    assert result.stderr == "Models not probed: the proxy is not ready.\n"

    started = time.monotonic()
    result = smoke(["probe"], env)
    assert time.monotonic() - started < 2.0
    assert result.exit_code == SmokeExit.UNREACHABLE
    assert result.stderr == f"Error: cannot reach the proxy at {url} (ConnectError)\n"


def test_no_master_key_is_a_clear_error_before_any_request():
    # Port 9 refuses connections: had a request been sent, the exit code would be 3.
    message = "Error: no master key: set LITELLM_MASTER_KEY (environment, .env or ~/.007) or pass --master-key"
    result = smoke(["probe"], {"LITELLM_PROXY_URL": "http://127.0.0.1:9"})
    assert (result.exit_code, result.stderr, result.stdout) == (SmokeExit.USAGE, message + "\n", "")

    result = smoke(["--json"], {"LITELLM_PROXY_URL": "http://127.0.0.1:9"})
    assert (result.exit_code, result.stdout) == (SmokeExit.USAGE, "")
    assert result.stderr == message + " (`opsctl smoke health` needs none)\n"


def test_concurrency_bounds_the_probes_in_flight(fresh_stack):
    for name in ("chat-a", "chat-backup"):
        fresh_stack.upstream.behave(name, Behavior(latency=0.5))
    elapsed = {}
    for concurrency in (1, 2):
        result = smoke(["probe", "--json", "--model", "chat-a", "--model", "chat-backup", "--concurrency", str(concurrency)],
                       fresh_stack.env)
        assert result.exit_code == SmokeExit.OK, result.output
        elapsed[concurrency] = json.loads(result.stdout)["probe"]["elapsed_ms"]
    assert elapsed[1] >= 1000 > elapsed[2], elapsed


def test_a_stream_cut_midway_fails(fresh_stack):
    fresh_stack.upstream.behave("chat-broken", Behavior(chunks=3, die_after_chunks=1))
    result = smoke(["probe", "--json", "--model", "chat-broken"], fresh_stack.env)
    assert result.exit_code == SmokeExit.FAILED, result.output
    probe = models(result)["chat-broken"]
    assert (probe["status"], probe["error"]) == ("failed", "stream error: OpenAIException - Connection error.")


def test_a_rejected_master_key_is_the_auth_exit_code():
    # The test proxy has no database, so it cannot check a key: LiteLLM's 401 is played at the wire.
    transport = httpx.MockTransport(lambda request: httpx.Response(401, json={"error": {"message": "Authentication Error, Invalid proxy server token passed."}}))
    with pytest.raises(ProxyError) as caught:
        asyncio.run(run_probe(Settings(proxy_url="http://proxy.test", master_key="sk-wrong"), transport=transport))
    assert caught.value.exit_code == SmokeExit.AUTH
    assert caught.value.message == "the proxy at http://proxy.test rejected the master key (HTTP 401): check LITELLM_MASTER_KEY"


def test_mode_choices_and_defaults_match_the_probe():
    from opsctl.commands import smoke as command
    from opsctl.smoke import probe

    assert set(command.MODES) == set(probe.REQUESTS)
    assert (command.DEFAULT_CONCURRENCY, command.DEFAULT_TIMEOUT, command.DEFAULT_DEADLINE) == (
        probe.DEFAULT_CONCURRENCY, probe.DEFAULT_TIMEOUT, probe.DEFAULT_DEADLINE)


def test_a_wrong_master_key_on_the_real_proxy_without_a_db_is_the_auth_exit_code(stack):
    # A proxy without a database cannot look up any key but its master key: LiteLLM answers 400 "No connected db.".
    result = smoke(["probe"], {**stack.env, "LITELLM_MASTER_KEY": "sk-not-the-master-key-123"})
    assert result.exit_code == SmokeExit.AUTH, result.output
    assert result.stderr.splitlines()[-1] == (
        f"Error: the proxy at {stack.proxy.url} has no database, so it accepts only its master key: check LITELLM_MASTER_KEY"
    )
    assert "sk-not-the-master-key-123" not in result.output
