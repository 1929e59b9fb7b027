"""Fixtures for `opsctl keys` / `opsctl teams`.

`target` runs a scenario against the wire-level fake (always) and against a
real DB-backed proxy when OPSCTL_E2E_PROXY_URL and LITELLM_MASTER_KEY are set
(read here at import, before the autouse fixture clears the environment).
"""

import json
import os
import secrets
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from tests.support.fake_admin import FakeAdmin

E2E_URL = os.environ.get("OPSCTL_E2E_PROXY_URL")
E2E_MASTER_KEY = os.environ.get("LITELLM_MASTER_KEY")


@dataclass
class Target:
    url: str
    master_key: str
    fake: FakeAdmin | None
    prefix: str  # unique per test, so runs against a real DB never collide

    def env(self, **extra):
        return {"LITELLM_PROXY_URL": self.url, "LITELLM_MASTER_KEY": self.master_key, **extra}

    def run(self, *args, input=None, **env):
        return CliRunner().invoke(cli, list(args), env=self.env(**env), input=input)

    def json(self, *args, **env):
        result = self.run(*args, "--json", **env)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def fake():
    with FakeAdmin() as server:
        yield server


@pytest.fixture
def fake_target(fake):
    return Target(fake.url, fake.master_key, fake, "t")


@pytest.fixture(params=["fake", pytest.param("e2e", marks=pytest.mark.e2e)])
def target(request):
    if request.param == "fake":
        with FakeAdmin() as server:
            yield Target(server.url, server.master_key, server, "t")
        return
    if not (E2E_URL and E2E_MASTER_KEY):
        pytest.skip("set OPSCTL_E2E_PROXY_URL and LITELLM_MASTER_KEY to run against a real proxy")
    target = Target(E2E_URL, E2E_MASTER_KEY, None, f"opsctl-e2e-{secrets.token_hex(4)}")
    yield target
    _cleanup(target)


def _cleanup(target: Target) -> None:
    """Revoke the keys and delete the teams this test made on the real proxy."""
    import httpx

    headers = {"Authorization": f"Bearer {target.master_key}"}
    with httpx.Client(base_url=target.url, headers=headers, timeout=30) as http:
        mine, page = [], 1
        while True:
            params = {"key_alias": target.prefix, "substring_matching": "true", "size": 100, "page": page, "return_full_object": "true"}
            answer = http.get("/key/list", params=params).json()
            mine += [k["token"] for k in answer.get("keys", []) if (k.get("key_alias") or "").startswith(target.prefix)]
            if page >= (answer.get("total_pages") or 0):
                break
            page += 1
        if mine:
            http.post("/key/delete", json={"keys": mine})
        teams = [t["team_id"] for t in http.get("/team/list").json() if t["team_id"].startswith(target.prefix)]
        if teams:
            http.post("/team/delete", json={"team_ids": teams})
