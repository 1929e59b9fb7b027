"""Fixtures for `opsctl keys` / `opsctl teams`.

`target` is the session's real DB-backed LiteLLM proxy (tests/support/db_proxy.py):
every scenario a real proxy can play runs there and may read the DB rows
(`target.rows`). Names get a per-test prefix, since the proxy is shared.
`fake_target` is the wire-level fake, kept for what a real proxy cannot be made
to do (5xx, drops, hostile bodies) and for asserting on the exact requests sent.
"""

import json
import secrets
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from tests.support.fake_admin import FakeAdmin


@dataclass
class Target:
    url: str
    master_key: str
    fake: FakeAdmin | None
    prefix: str  # unique per test, so tests sharing the real proxy never collide
    proxy: object | None = None  # the DbProxy, for the DB rows

    def env(self, **extra):
        return {"LITELLM_PROXY_URL": self.url, "LITELLM_MASTER_KEY": self.master_key, **extra}

    def run(self, *args, input=None, **env):
        return CliRunner().invoke(cli, list(args), env=self.env(**env), input=input)

    def json(self, *args, **env):
        result = self.run(*args, "--json", **env)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    def rows(self, sql: str, *params) -> list[tuple]:
        """Rows from the real proxy's database."""
        with self.proxy.connect() as connection:
            return connection.execute(sql, params).fetchall()


@pytest.fixture
def fake():
    with FakeAdmin() as server:
        yield server


@pytest.fixture
def fake_target(fake):
    return Target(fake.url, fake.master_key, fake, "t")


@pytest.fixture
def target(db_proxy):
    return Target(db_proxy.url, db_proxy.master_key, None, f"k{secrets.token_hex(4)}", db_proxy)
