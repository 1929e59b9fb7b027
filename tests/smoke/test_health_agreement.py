"""The probe's verdicts equal LiteLLM's own authenticated GET /health on the
same proxy, deployment for deployment, with healthy, failing (500), hanging,
mid-stream-dying and killed deployments, and the real SmolLM2."""

import json

import httpx
from click.testing import CliRunner

from opsctl.cli import cli
from tests.smoke.conftest import HEALTH_CHECK_TIMEOUT
from tests.support.upstream import Behavior

# A server that dies mid-answer: streamed after one chunk, not streamed halfway through the body.
DIES = Behavior(chunks=3, die_after_chunks=1, cut_body=True)


def litellm_health(stack) -> dict[str, bool]:
    headers = {"Authorization": f"Bearer {stack.proxy.master_key}"}
    body = httpx.get(stack.proxy.url + "/health", headers=headers, timeout=HEALTH_CHECK_TIMEOUT + 30).json()
    verdicts = {e["model_id"]: True for e in body["healthy_endpoints"]}
    verdicts.update({e["model_id"]: False for e in body["unhealthy_endpoints"]})
    assert len(verdicts) == body["healthy_count"] + body["unhealthy_count"]
    return verdicts


def test_verdicts_equal_litellms_own_health(spare_killed):
    stack = spare_killed
    stack.upstream.behave("chat-broken", Behavior(status=500))
    stack.upstream.behave("chat-hang", Behavior(hang=True))
    stack.upstream.behave("chat-primary", DIES)
    stack.upstream.behave("embed-a", DIES)

    result = CliRunner().invoke(cli, ["smoke", "probe", "--json", "--timeout", str(HEALTH_CHECK_TIMEOUT)], env=stack.env)
    groups = json.loads(result.stdout)["probe"]["models"]
    ours = {d["id"]: d["status"] == "ok" for g in groups if g["status"] != "skipped" for d in g["deployments"]}
    theirs = litellm_health(stack)

    assert ours == {deployment_id: theirs[deployment_id] for deployment_id in ours}
    # /health also calls the image model, which the probe skips (its mode is not probed).
    assert set(theirs) - set(ours) == set(stack.deployment_ids("image-a"))
    # Every kind of deployment was there, with the verdict it should have.
    expected = {"chat-a": [True], "chat-broken": [False], "chat-hang": [False], "chat-primary": [False], "embed-a": [False],
                "chat-mixed": [True, False], "chat-cached": [False], "embed-cached": [False], "llamacpp-local": [True],
                "chat-backup": [True], "rerank-a": [True]}
    errors = {g["model"]: g["error"] for g in groups}
    assert {name: [ours[i] for i in stack.deployment_ids(name)] for name in expected} == expected, errors
