"""rotate-salt and undo on the real schema: values written by LiteLLM's helpers under
the old key, read back through LiteLLM's own readers under the new one."""

from __future__ import annotations

import json
import stat
import threading

import psycopg

from tests.secrets.conftest import TEST_MASTER_KEY
from tests.secrets.estate import expected, raw_columns, seed_estate
from tests.secrets.support import damaged, get_param, litellm_count, set_param
from tests.support.litellm_db import TEST_SALT_KEY


def rotate(stack, *args):
    return stack.run("secrets", "rotate-salt", "--yes", "--no-restart", *args)


def leaked(result, *secrets) -> list[str]:
    return [s for s in secrets if s and (s in result.stdout or s in result.stderr)]


def test_rotate_salt_moves_every_value_and_litellm_reads_them_with_the_new_key(make_stack):
    stack = make_stack()
    estate = seed_estate(stack.database_url)
    before = raw_columns(stack.database_url)

    result = rotate(stack, "--json")
    assert result.exit_code == 0, result.output
    new_salt = stack.env()["LITELLM_SALT_KEY"]
    assert new_salt != TEST_SALT_KEY and len(new_salt) >= 32
    assert leaked(result, TEST_SALT_KEY, new_salt, TEST_MASTER_KEY) == []

    assert estate.read(salt=new_salt) == expected()
    assert estate.read(salt=TEST_SALT_KEY) != expected()  # the old key opens nothing any more
    assert litellm_count(stack.database_url, new_salt) == 16
    assert litellm_count(stack.database_url, TEST_SALT_KEY) == 0

    report = json.loads(result.stdout)
    assert (report["dry_run"], report["restarted"], report["from_key"], report["to_key"]) == (False, False, "salt_key", "new_salt_key")
    assert report["applied"]["reencrypted"] == 16 and report["plan"]["reencrypted"] == 16
    assert report["env_changes"] == {"LITELLM_SALT_KEY": "set"}

    after = raw_columns(stack.database_url)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"LiteLLM_ProxyModelTable.litellm_params", "LiteLLM_CredentialsTable.credential_values",
                       "LiteLLM_Config.param_value", "LiteLLM_GuardrailsTable.litellm_params",
                       "LiteLLM_MCPServerTable.static_headers", "LiteLLM_MCPUserCredentials.credential_b64",
                       "LiteLLM_TeamTable.metadata"}
    config_rows = dict(after["LiteLLM_Config.param_value"])
    assert config_rows["general_settings"] == dict(before["LiteLLM_Config.param_value"])["general_settings"]
    assert dict(after["LiteLLM_TeamTable.metadata"])["team-plain"] == dict(before["LiteLLM_TeamTable.metadata"])["team-plain"]
    models = {i: json.loads(t) for i, t in after["LiteLLM_ProxyModelTable.litellm_params"]}
    assert models["dep-gcm"]["api_key"].startswith("v2:gcm:")  # each value keeps its format
    assert not models["dep-nacl"]["api_key"].startswith("v2:gcm:")
    assert '"input_cost_per_token": 0.0000025' in dict(after["LiteLLM_ProxyModelTable.litellm_params"])["dep-nacl"]
    team = json.loads(dict(after["LiteLLM_TeamTable.metadata"])["team-1"])
    assert team["logging"][0]["callback_vars"]["langfuse_secret_key"].startswith("litellm_enc::")  # marker kept
    assert team["logging"][0]["callback_vars"]["langfuse_host"] == "https://lf.example"

    status = stack.run("secrets", "status", "--json")
    assert status.exit_code == 0 and json.loads(status.stdout)["by_key"]["salt_key"] == 16


def test_the_old_key_is_saved_0600_beside_the_env_and_the_env_keeps_every_other_byte(make_stack):
    stack = make_stack()
    seed_estate(stack.database_url)
    original = stack.env_path.read_bytes()
    assert rotate(stack).exit_code == 0
    [saved] = stack.saved_files()
    assert saved.name.startswith(".env.before-rotate-salt-")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and stat.S_IMODE(stack.env_path.stat().st_mode) == 0o600
    assert f"LITELLM_SALT_KEY={TEST_SALT_KEY}\n" in saved.read_text()
    new_salt = stack.env()["LITELLM_SALT_KEY"]
    assert stack.env_path.read_bytes() == original.replace(TEST_SALT_KEY.encode(), new_salt.encode())


def test_undo_returns_to_the_old_salt_byte_for_byte(make_stack):
    stack = make_stack()
    estate = seed_estate(stack.database_url)
    original = stack.env_path.read_bytes()
    assert rotate(stack).exit_code == 0
    [saved] = stack.saved_files()

    result = stack.run("secrets", "undo", str(saved), "--yes", "--no-restart")
    assert result.exit_code == 0, result.output
    assert stack.env_path.read_bytes() == original
    assert estate.read(salt=TEST_SALT_KEY) == expected()
    assert len(stack.saved_files()) == 2  # the undo saved what it replaced: it can be undone too


def test_without_a_salt_key_rotation_adopts_one_and_undo_removes_it(make_stack):
    stack = make_stack(salt=None)
    estate = seed_estate(stack.database_url, salt=None, master=TEST_MASTER_KEY)
    original = stack.env_path.read_bytes()

    result = rotate(stack)
    assert result.exit_code == 0, result.output
    new_salt = stack.env()["LITELLM_SALT_KEY"]
    assert stack.env_path.read_bytes() == original + f"LITELLM_SALT_KEY={new_salt}\n".encode()
    assert estate.read(salt=new_salt, master=TEST_MASTER_KEY) == expected()
    [saved] = stack.saved_files()
    assert "# unset: LITELLM_SALT_KEY\n" in saved.read_text()

    assert stack.run("secrets", "undo", str(saved), "--yes", "--no-restart").exit_code == 0
    assert stack.env_path.read_bytes() == original
    assert estate.read(salt=None, master=TEST_MASTER_KEY) == expected()


def test_dry_run_and_a_refused_confirmation_change_nothing(make_stack):
    stack = make_stack()
    seed_estate(stack.database_url)
    before, env_before = raw_columns(stack.database_url), stack.env_path.read_bytes()

    dry = stack.run("secrets", "rotate-salt", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["plan"]["reencrypted"] == 16
    assert "Dry run: nothing was changed." in dry.stderr

    refused = stack.run("secrets", "rotate-salt")  # no terminal, no --yes
    assert refused.exit_code == 9
    assert refused.stderr.splitlines()[-1] == "Error: refusing to write without --yes in a non-interactive shell; nothing was changed"
    assert raw_columns(stack.database_url) == before and stack.env_path.read_bytes() == env_before
    assert stack.saved_files() == []


def test_a_value_that_does_not_decrypt_stops_the_rotation_before_anything_is_written(make_stack):
    stack = make_stack()
    seed_estate(stack.database_url)
    url = stack.database_url
    set_param(url, "dep-nacl", "api_key", damaged(get_param(url, "dep-nacl", "api_key")))
    before, env_before = raw_columns(url), stack.env_path.read_bytes()

    result = rotate(stack)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: 1 value(s) cannot be decrypted with the salt key or the new salt key, so nothing was written: "
        "LiteLLM_ProxyModelTable model_id=dep-nacl $.api_key (nacl): does not decrypt with the salt key or the new salt key\n")
    assert raw_columns(url) == before and stack.env_path.read_bytes() == env_before and stack.saved_files() == []


def test_new_salt_file_is_used_and_must_be_private(make_stack, tmp_path):
    stack = make_stack()
    estate = seed_estate(stack.database_url)
    key_file = tmp_path / "new-salt"
    key_file.write_text("opsctl-test-new-salt-key-0123456789abcdef\n")
    key_file.chmod(0o644)
    result = rotate(stack, "--new-salt-file", str(key_file))
    assert (result.exit_code, result.stderr) == (2, f"Error: new salt file {key_file} is readable or writable by others "
                                                    f"(mode 0644); it must be 0600: chmod 600 {key_file}\n")
    key_file.chmod(0o600)
    assert rotate(stack, "--new-salt-file", str(key_file)).exit_code == 0
    assert stack.env()["LITELLM_SALT_KEY"] == "opsctl-test-new-salt-key-0123456789abcdef"
    assert estate.read(salt="opsctl-test-new-salt-key-0123456789abcdef") == expected()

    short = tmp_path / "short"
    short.write_text("tooshort\n")
    short.chmod(0o600)
    result = rotate(stack, "--new-salt-file", str(short))
    assert result.exit_code == 2 and "the key must be at least 32 characters" in result.stderr


def test_a_writer_holding_a_row_makes_the_rotation_wait_and_its_value_is_rotated_too(make_stack):
    """LOCK TABLE waits for the proxy's open transaction; what it commits meanwhile is re-encrypted, not lost."""
    from litellm.proxy.common_utils.encrypt_decrypt_utils import encrypt_value_helper
    from tests.support.litellm_db import litellm_keys, load_deployments

    stack = make_stack()
    seed_estate(stack.database_url)
    with litellm_keys(TEST_SALT_KEY):
        edited = encrypt_value_helper("sk-edited-during-rotation")
    holder = psycopg.connect(stack.database_url)
    holder.execute("""UPDATE "LiteLLM_ProxyModelTable" SET litellm_params = litellm_params || jsonb_build_object('api_key', %s::text)
                      WHERE model_id = 'dep-nacl'""", (edited,))
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=rotate(stack)))
    worker.start()
    worker.join(timeout=1.5)
    assert worker.is_alive()  # waiting for the row, not racing past it
    holder.commit()
    holder.close()
    worker.join(timeout=30)
    assert outcome["result"].exit_code == 0, outcome["result"].output
    new_salt = stack.env()["LITELLM_SALT_KEY"]
    assert load_deployments(stack.database_url, salt=new_salt)["dep-nacl"]["api_key"] == "sk-edited-during-rotation"


def test_env_with_a_key_set_twice_is_refused_before_anything_happens(make_stack):
    stack = make_stack()
    seed_estate(stack.database_url)
    with open(stack.env_path, "a") as env:
        env.write("LITELLM_SALT_KEY=another\n")
    before = raw_columns(stack.database_url)
    result = rotate(stack)
    assert (result.exit_code, result.stderr) == (2, f"Error: {stack.env_path} sets LITELLM_SALT_KEY 2 times: keep one line and re-run\n")
    assert raw_columns(stack.database_url) == before
