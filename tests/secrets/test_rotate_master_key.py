"""rotate-master-key at the DB and .env level (the live proof is in test_live.py and test_restart.py)."""

from __future__ import annotations

import json

from tests.secrets.conftest import TEST_MASTER_KEY
from tests.secrets.estate import expected, raw_columns, seed_estate
from tests.support.litellm_db import TEST_SALT_KEY


def test_with_a_salt_key_only_the_env_line_changes(make_stack):
    stack = make_stack()
    seed_estate(stack.database_url)
    before, original = raw_columns(stack.database_url), stack.env_path.read_bytes()
    result = stack.run("secrets", "rotate-master-key", "--yes", "--no-restart", "--json")
    assert result.exit_code == 0, result.output
    new = stack.env()["LITELLM_MASTER_KEY"]
    assert new.startswith("sk-") and len(new) >= 40
    assert stack.env_path.read_bytes() == original.replace(TEST_MASTER_KEY.encode(), new.encode())
    assert raw_columns(stack.database_url) == before
    assert json.loads(result.stdout)["values_under_old_master_key"] == 0
    assert new not in result.stdout + result.stderr and TEST_MASTER_KEY not in result.stdout + result.stderr
    [saved] = stack.saved_files()
    assert saved.read_text().splitlines()[1:] == [f"LITELLM_MASTER_KEY={TEST_MASTER_KEY}"]
    assert stack.run("secrets", "undo", str(saved), "--yes", "--no-restart").exit_code == 0
    assert stack.env_path.read_bytes() == original


def test_without_a_salt_key_it_adopts_one_in_the_same_transaction_and_undo_returns(make_stack):
    stack = make_stack(salt=None)
    estate = seed_estate(stack.database_url, salt=None, master=TEST_MASTER_KEY)
    original = stack.env_path.read_bytes()
    result = stack.run("secrets", "rotate-master-key", "--yes", "--no-restart", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["from_key"], report["to_key"], report["applied"]["reencrypted"]) == ("master_key", "new_salt_key", 16)
    assert report["env_changes"] == {"LITELLM_MASTER_KEY": "set", "LITELLM_SALT_KEY": "set"}
    env = stack.env()
    assert env["LITELLM_MASTER_KEY"] != TEST_MASTER_KEY
    # The proxy after the restart: new master key, new salt key; every value opens.
    assert estate.read(salt=env["LITELLM_SALT_KEY"], master=env["LITELLM_MASTER_KEY"]) == expected()
    [saved] = stack.saved_files()
    assert saved.read_text().splitlines()[1:] == [f"LITELLM_MASTER_KEY={TEST_MASTER_KEY}", "# unset: LITELLM_SALT_KEY"]

    result = stack.run("secrets", "undo", str(saved), "--yes", "--no-restart")
    assert result.exit_code == 0, result.output
    assert stack.env_path.read_bytes() == original
    assert estate.read(salt=None, master=TEST_MASTER_KEY) == expected()


def test_values_left_under_the_master_key_are_warned_about(make_stack):
    stack = make_stack()
    seed_estate(stack.database_url, salt=None, master=TEST_MASTER_KEY)
    result = stack.run("secrets", "rotate-master-key", "--dry-run")
    assert result.exit_code == 0, result.output
    assert ("Warning: 16 stored value(s) are under the current master key, which the proxy does not decrypt with "
            "while a salt key is set; the saved file keeps that key") in result.stderr
    assert stack.env()["LITELLM_SALT_KEY"] == TEST_SALT_KEY and stack.saved_files() == []
