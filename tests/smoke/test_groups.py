"""A group with one live and one dead deployment (its server killed) is
unhealthy on every run, healthy with --any, and the report names both."""

import json

from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.smoke.codes import SmokeExit


def smoke(args, env):
    return CliRunner().invoke(cli, ["smoke", *args], env=env)


def test_one_live_one_dead_deployment_fails_the_group_every_run(spare_killed):
    stack = spare_killed
    live, dead = stack.deployment_ids("chat-mixed")
    hosts = [stack.upstream.url.removeprefix("http://"), stack.spare.url.removeprefix("http://")]
    for _run in range(4):  # one random deployment per run used to give ok, ok, failed, failed
        result = smoke(["probe", "--json", "--model", "chat-mixed"], stack.env)
        assert result.exit_code == SmokeExit.FAILED, result.output
        group = json.loads(result.stdout)["probe"]["models"][0]
        assert (group["status"], group["healthy"], group["fallback"]) == ("degraded", False, None)
        assert [(d["id"], d["api_host"], d["status"]) for d in group["deployments"]] == [
            (live, hosts[0], "ok"), (dead, hosts[1], "failed")]
        assert group["deployments"][1]["error"] == "HTTP 500: OpenAIException - Connection error."
        assert group["error"] == "1 of 2 deployments failed: HTTP 500: OpenAIException - Connection error."

    result = smoke(["probe", "--json", "--any", "--model", "chat-mixed"], stack.env)
    assert result.exit_code == SmokeExit.OK, result.output
    report = json.loads(result.stdout)["probe"]
    assert report["rule"] == "any"
    assert [(g["status"], g["healthy"]) for g in report["models"]] == [("degraded", True)]

    # The table names both deployments, each on its own row under the group.
    result = smoke(["probe", "--model", "chat-mixed"], stack.env)
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.stdout.splitlines() if "│ chat-mixed" in line]
    assert [row[:6] for row in rows] == [
        ["chat-mixed", "chat", "degraded", live[:12] + "…", hosts[0], "ok"],
        ["chat-mixed", "chat", "degraded", dead[:12] + "…", hosts[1], "failed"],
    ]
    assert result.stderr == "probed 1 model group (2 deployments) in " + result.stderr.split(" in ", 1)[1]
    assert result.stderr.endswith(": 1 degraded\n")


def test_a_group_all_of_whose_deployments_answer_is_healthy(fresh_stack):
    result = smoke(["probe", "--json", "--model", "chat-mixed"], fresh_stack.env)
    assert result.exit_code == SmokeExit.OK, result.output
    group = json.loads(result.stdout)["probe"]["models"][0]
    assert (group["status"], group["healthy"]) == ("ok", True)
    assert [d["status"] for d in group["deployments"]] == ["ok", "ok"]
