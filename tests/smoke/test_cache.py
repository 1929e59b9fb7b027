"""The reference stack's cache (Redis, ttl 600 for acompletion/aembedding)
cannot make a probe pass: warm it, kill the upstream, and the probe fails,
while the cache still answers ordinary requests (what fooled the old probe).
A cache hit LiteLLM marks (x-litellm-cache-key) fails a probe even if the
request's cache controls were ignored."""

import asyncio
import json

import httpx
from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.settings import Settings
from opsctl.smoke.codes import SmokeExit
from opsctl.smoke.probe import run_probe
from opsctl.smoke.request import REQUESTS

CACHED = {"chat-cached": ("chat", "chat-cached"), "embed-cached": ("embedding", "embed-cached")}  # group -> (mode, upstream model)


def smoke(args, env):
    return CliRunner().invoke(cli, ["smoke", *args], env=env)


def ordinary(stack, mode: str, model: str) -> httpx.Response:
    """A client's request: the probe's body without its cache controls."""
    path, body = REQUESTS[mode]
    headers = {"Authorization": f"Bearer {stack.proxy.master_key}"}
    return httpx.post(stack.proxy.url + path, json={**body, "model": model}, headers=headers, timeout=30)


def probe(stack) -> dict:
    result = smoke(["probe", "--json", *(f"--model={g}" for g in CACHED)], stack.env)
    return result.exit_code, {m["model"]: m for m in json.loads(result.stdout)["probe"]["models"]}


def test_a_warm_cache_cannot_answer_a_probe_once_the_upstream_is_dead(fresh_stack):
    spare = fresh_stack.spare.upstream
    for group, (mode, _model) in CACHED.items():
        for _ in range(2):
            assert ordinary(fresh_stack, mode, group).status_code == 200
    # The second of each came from LiteLLM's cache, which lives in the private Redis.
    assert [len(spare.requests_for(model)) for _mode, model in CACHED.values()] == [1, 1]
    assert int(fresh_stack.redis.command("DBSIZE").lstrip(":")) >= 2

    # While the upstream lives, every probe reaches it: nothing came from the cache.
    for _run in range(2):
        code, groups = probe(fresh_stack)
        assert code == SmokeExit.OK, groups
    assert [len(spare.requests_for(model)) for _mode, model in CACHED.values()] == [3, 3]

    fresh_stack.spare.kill()
    # The cache still answers clients (what the old probe, one request per group by name, saw)...
    answer = ordinary(fresh_stack, "chat", "chat-cached")
    assert answer.status_code == 200 and answer.headers["x-litellm-cache-key"]
    assert ordinary(fresh_stack, "embedding", "embed-cached").status_code == 200
    # ...but the probe is not fooled, run after run.
    for _run in range(2):
        code, groups = probe(fresh_stack)
        assert code == SmokeExit.FAILED
        for group in CACHED:
            assert (groups[group]["status"], groups[group]["healthy"]) == ("failed", False), groups[group]
            assert groups[group]["error"] == "HTTP 500: OpenAIException - Connection error.", groups[group]


def test_an_answer_marked_as_a_cache_hit_fails_the_probe(fresh_stack):
    """The proxy's own cache-hit answer, recorded, then played to the probe at the wire."""
    for _ in range(2):
        hit = ordinary(fresh_stack, "chat", "chat-a")
    assert hit.headers.get("x-litellm-cache-key"), "the second request was a cache hit"
    model_info = httpx.get(fresh_stack.proxy.url + "/model/info", headers={"Authorization": f"Bearer {fresh_stack.proxy.master_key}"}).json()
    deployment_id = fresh_stack.deployment_ids("chat-a")[0]
    assert hit.headers["x-litellm-model-id"] == deployment_id  # the recorded answer names the probed deployment

    def replay(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json=model_info)
        assert json.loads(request.content)["cache"] == {"no-cache": True, "no-store": True}
        return httpx.Response(200, headers=[(k, v) for k, v in hit.headers.items() if k != "content-length"], content=hit.content)

    settings = Settings(proxy_url="http://proxy.test", master_key=fresh_stack.proxy.master_key)
    report = asyncio.run(run_probe(settings, models=["chat-a"], transport=httpx.MockTransport(replay)))
    group = report.models[0]
    assert (group.status, group.healthy, report.exit_code) == ("failed", False, SmokeExit.FAILED)
    assert group.error == "answered from LiteLLM's cache (x-litellm-cache-key is set), not by the deployment"
