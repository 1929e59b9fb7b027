"""Fixtures for `opsctl state`: a gateway to run the CLI against and state files to feed it.

`gateway` is the wire-level fake of LiteLLM's admin routes
(tests/support/fake_admin.py); test_real_proxy.py runs the issue's scenarios
against a real DB-backed LiteLLM proxy.
"""

import json
import textwrap
from dataclasses import dataclass

import httpx
import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from tests.support.fake_admin import FakeAdmin


@dataclass
class Gateway:
    url: str
    master_key: str
    fake: FakeAdmin | None = None

    def env(self, **extra):
        return {"LITELLM_PROXY_URL": self.url, "LITELLM_MASTER_KEY": self.master_key, **extra}

    def run(self, *args, input=None, **env):
        return CliRunner().invoke(cli, ["state", *args], env=self.env(**env), input=input)

    def json(self, *args, expect=0, **env):
        result = self.run(*args, "--json", **env)
        assert result.exit_code == expect, result.stderr
        return json.loads(result.stdout)

    def api(self, method, path, **kwargs):
        """Talk to the admin API directly, as an operator's script or the UI would."""
        answer = httpx.request(method, self.url + path, headers={"Authorization": f"Bearer {self.master_key}"},
                               timeout=60, **kwargs)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def fake():
    with FakeAdmin() as server:
        yield server


@pytest.fixture
def gateway(fake):
    return Gateway(fake.url, fake.master_key, fake)


@pytest.fixture
def state_file(tmp_path):
    """write(text) -> the path of a state file holding the dedented text."""
    def write(text, name="gateway.yaml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


EXAMPLE = """
    version: 1
    teams:
      - team_id: platform
        team_alias: Platform
        models: [chat-default]
        max_budget: 50
        budget_duration: 30d
        metadata: {owner: platform}
    keys:
      - key_alias: ci-bot
        team_id: platform
        models: [chat-default]
        rpm_limit: 60
      - key_alias: loose
    models:
      - id: chat-default-1
        model_name: chat-default
        litellm_params:
          model: openai/gpt-4o-mini
          api_base: http://127.0.0.1:9/v1
          api_key: os.environ/OPENAI_API_KEY
          timeout: 90
        model_info: {mode: chat}
"""


@pytest.fixture
def example(state_file):
    return state_file(EXAMPLE)
