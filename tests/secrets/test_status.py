"""`secrets status` on the real schema, values encrypted by LiteLLM's own helpers."""

from __future__ import annotations

import json

import psycopg
import pytest

from opsctl.secrets.crypto import Key
from tests.secrets.conftest import TEST_MASTER_KEY
from tests.secrets.estate import seed_estate
from tests.secrets.support import damaged, get_param, litellm_count, set_param
from tests.support.litellm_db import TEST_SALT_KEY

PER_COLUMN = {  # table.column -> values in the estate
    "LiteLLM_ProxyModelTable.litellm_params": 7, "LiteLLM_CredentialsTable.credential_values": 2,
    "LiteLLM_Config.param_value": 2, "LiteLLM_GuardrailsTable.litellm_params": 1,
    "LiteLLM_MCPServerTable.static_headers": 1, "LiteLLM_MCPUserCredentials.credential_b64": 1,
    "LiteLLM_TeamTable.metadata": 2,
}


def by_column(report: dict, field: str = "values") -> dict:
    return {f"{c['table']}.{c['column']}": c[field] for c in report["columns"] if c["values"]}


def test_status_counts_every_value_by_column_format_and_key(make_stack):
    stack = make_stack()
    seed_estate(stack.database_url)
    result = stack.run("secrets", "status", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["current_key"] == "salt_key"
    assert by_column(report) == PER_COLUMN
    assert report["by_key"] == {"salt_key": 16, "master_key": 0, "none": 0}
    models = next(c for c in report["columns"] if c["table"] == "LiteLLM_ProxyModelTable")
    assert models["formats"] == {"nacl": 5, "v2:gcm": 2}
    assert models["rows"] == 3
    assert len(report["columns"]) == 21 and all(c["present"] for c in report["columns"])
    assert report["unreadable"] == []
    # LiteLLM's own migration counter finds the same values under the same key, and none under the other.
    assert litellm_count(stack.database_url, TEST_SALT_KEY) == 16
    assert litellm_count(stack.database_url, TEST_MASTER_KEY) == 0
    assert result.stderr == "16 encrypted value(s); 0 unreadable, 0 under the other key\n"

    table = stack.run("secrets", "status")
    assert table.exit_code == 0
    assert "LiteLLM_ProxyModelTable" in table.stdout and "salt key" in table.stdout and "master key" in table.stdout


def test_without_a_salt_key_the_values_are_under_the_master_key(make_stack):
    stack = make_stack(salt=None)
    seed_estate(stack.database_url, salt=None, master=TEST_MASTER_KEY)
    result = stack.run("secrets", "status", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["current_key"], report["by_key"]) == ("master_key", {"master_key": 16, "none": 0})
    assert litellm_count(stack.database_url, TEST_MASTER_KEY) == 16


def test_values_under_the_master_key_while_a_salt_key_is_set_are_unreadable_to_the_proxy(make_stack):
    """The state LiteLLM's docs warn about: a salt key added after values were stored."""
    stack = make_stack()
    seed_estate(stack.database_url, salt=None, master=TEST_MASTER_KEY)
    result = stack.run("secrets", "status", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["by_key"] == {"salt_key": 0, "master_key": 16, "none": 0}
    assert ("Warning: 16 value(s) open only with a key the proxy does not decrypt with (the salt key is used): "
            "the proxy cannot read them") in result.stderr
    assert result.stderr.endswith("Error: 16 value(s) the proxy cannot decrypt\n")


def test_damaged_and_foreign_values_are_named_by_table_primary_key_and_path(make_stack):
    stack = make_stack()
    estate = seed_estate(stack.database_url)
    url = stack.database_url
    set_param(url, "dep-nacl", "api_key", damaged(get_param(url, "dep-nacl", "api_key")))
    set_param(url, "dep-gcm", "api_key", Key("sk-a-foreign-stack-key").encrypt("sk-theirs", "v2:gcm"))
    set_param(url, "dep-env", "api_base", "http://10.0.0.9:8000/v1")  # a plaintext written by hand: not an error
    with psycopg.connect(url) as connection:  # a marked value that is no ciphertext at all
        connection.execute("""UPDATE "LiteLLM_TeamTable" SET metadata = jsonb_set(metadata,
                              '{logging,0,callback_vars,langfuse_secret_key}', '"litellm_enc::garbage"') WHERE team_id = 'team-1'""")
    result = stack.run("secrets", "status", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["by_key"] == {"salt_key": 13, "master_key": 0, "none": 3}
    assert report["unreadable"] == [
        {"table": "LiteLLM_ProxyModelTable", "primary_key": "model_id", "id": "dep-gcm", "path": "$.api_key",
         "format": "v2:gcm", "reason": "does not decrypt with the salt key or the master key"},
        {"table": "LiteLLM_ProxyModelTable", "primary_key": "model_id", "id": "dep-nacl", "path": "$.api_key",
         "format": "nacl", "reason": "does not decrypt with the salt key or the master key"},
        {"table": "LiteLLM_TeamTable", "primary_key": "team_id", "id": "team-1",
         "path": "$.logging[0].callback_vars.langfuse_secret_key", "format": "nacl",
         "reason": "does not decrypt with the salt key or the master key"},
    ]
    models = next(c for c in report["columns"] if c["table"] == "LiteLLM_ProxyModelTable")
    assert models["plaintext"] == 1
    assert ("Warning: unreadable: LiteLLM_ProxyModelTable model_id=dep-nacl $.api_key (nacl): "
            "does not decrypt with the salt key or the master key") in result.stderr
    # What LiteLLM does with such a value: sends the ciphertext upstream as the api key.
    assert estate.read()["deployments"]["dep-nacl"]["api_key"] == get_param(url, "dep-nacl", "api_key")


def test_an_empty_salt_key_is_a_key_as_in_litellm(make_stack):
    stack = make_stack(salt="")
    seed_estate(stack.database_url, salt="")
    result = stack.run("secrets", "status", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["by_key"]["salt_key"] == 16
    assert "Warning: LITELLM_SALT_KEY is set but empty" in result.stderr


@pytest.mark.parametrize("problem, message", [
    ("missing", "Error: no stack .env at {dir}/.env: point --stack-dir at the stack (opsctl init writes it)\n"),
    ("open", "Error: env file {dir}/.env is readable or writable by others (mode 0644); it must be 0600: chmod 600 {dir}/.env\n"),
    ("symlink", "Error: env file {dir}/.env is a symlink: refusing to read it\n"),
])
def test_a_stack_env_that_cannot_be_trusted_is_one_line(make_stack, tmp_path, problem, message):
    stack = make_stack()
    if problem == "missing":
        stack.env_path.unlink()
    elif problem == "open":
        stack.env_path.chmod(0o644)
    else:
        target = tmp_path / "elsewhere.env"
        stack.env_path.rename(target)
        stack.env_path.symlink_to(target)
    result = stack.run("secrets", "status")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message.format(dir=stack.directory))


def test_no_database_url_is_a_usage_error(make_stack):
    stack = make_stack()
    from click.testing import CliRunner
    from opsctl.cli import cli

    result = CliRunner().invoke(cli, ["--stack-dir", str(stack.directory), "secrets", "status"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no database: set DATABASE_URL")
