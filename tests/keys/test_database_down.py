"""A real DB-backed proxy whose database goes away: every keys/teams command is one
line and exit 3, never a traceback, never a generic "HTTP 500".

The proxy runs on a scratch database of its own (not the session's proxy: its
database is cut here); the cut is Postgres refusing every connection to it
(ALLOW_CONNECTIONS false holds for superusers too) and its sessions terminated.
"""

import time

import httpx
import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from tests.support.db_proxy import db_proxy_config, start_db_proxy
from tests.support.litellm_db import _admin, create_database, drop_database, unique_name

COMMANDS = [
    ("keys", "list"),
    ("keys", "create", "--alias", "a"),
    ("keys", "info", "0" * 64),
    ("keys", "revoke", "--alias", "a", "--yes"),
    ("keys", "update", "--alias", "a", "--yes"),
    ("teams", "list"),
    ("teams", "info", "t1"),
    ("teams", "create", "--team-id", "t2"),
    ("teams", "update", "--team-id", "t1", "--rpm", "1", "--yes"),
]


@pytest.fixture(scope="module")
def proxy_without_its_database(litellm_template, tmp_path_factory):
    name = unique_name("opsctl_dbdown")
    url = create_database(name, template=litellm_template)
    config = tmp_path_factory.mktemp("dbdown") / "config.yaml"
    config.write_text(db_proxy_config("http://127.0.0.1:9"))  # no model is called
    try:
        with start_db_proxy(config, url) as proxy:
            env = {"LITELLM_PROXY_URL": proxy.url, "LITELLM_MASTER_KEY": proxy.master_key}
            made = CliRunner().invoke(cli, ["teams", "create", "--team-id", "t1"], env=env)
            assert made.exit_code == 0, made.stderr  # it worked while the database was there
            _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            yield proxy, env
    finally:
        _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        drop_database(name)


def _readiness(proxy) -> tuple[int, str]:
    answer = httpx.get(proxy.url + "/health/readiness", timeout=10)
    return answer.status_code, answer.json().get("db")


def _one_line_exit_3(proxy, env, commands):
    for args in commands:
        result = CliRunner().invoke(cli, list(args), env=env)
        assert result.exit_code == 3, (args, result.stderr)
        assert result.stdout == "" and result.stderr.count("\n") == 1, (args, result.stderr)
        assert result.stderr.startswith(f"Error: the proxy at {proxy.url} is up but cannot reach its database ("), result.stderr
        assert "needs it\n" in result.stderr and "Traceback" not in result.stderr


def test_commands_say_the_database_is_unreachable_in_one_line(proxy_without_its_database):
    proxy, env = proxy_without_its_database
    # At once, from LiteLLM's own words in its answers (readiness may say "connected" for up to 15 s
    # more); /team/info's 404 cannot tell those apart, so the commands that read a team wait below.
    _one_line_exit_3(proxy, env, [args for args in COMMANDS if args[0] == "keys" or args[1] == "list"])
    deadline = time.monotonic() + 60  # LiteLLM re-checks its database at most every 15 s
    while _readiness(proxy) != (503, "disconnected"):
        assert time.monotonic() < deadline, f"readiness never said the database is gone: {_readiness(proxy)}"
        time.sleep(1)
    _one_line_exit_3(proxy, env, COMMANDS)
