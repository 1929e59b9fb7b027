"""The one crash window of a rotation (the .env written, the commit not done) and how it settles."""

from __future__ import annotations

import json

from opsctl.errors import ExitCode, OpsctlError
from opsctl.secrets import salt
from opsctl.secrets.stackenv import SALT, save_before
from opsctl.settings import load_settings
from tests.secrets.estate import expected, raw_columns, seed_estate
from tests.support.litellm_db import TEST_SALT_KEY
from tests.support.proxy import free_port


def settings_for(stack, database_url=None):
    return load_settings({"stack_dir": str(stack.directory), "database_url": database_url or stack.database_url},
                         environ={})


def interrupted_after_env_write(stack) -> salt.SaltSwitch:
    """What a kill -9 between the .env write and the commit leaves: the saved file, the new .env, the old database."""
    switch = salt.plan_rotate(settings_for(stack), None)
    switch.saved = save_before(switch.env, switch.what, (SALT,))
    switch.env.write(switch.env_values)
    return switch


def test_status_points_at_the_saved_file_and_undo_puts_the_env_back(make_stack):
    stack = make_stack()
    estate = seed_estate(stack.database_url)
    original, before = stack.env_path.read_bytes(), raw_columns(stack.database_url)
    switch = interrupted_after_env_write(stack)

    status = stack.run("secrets", "status", "--json")
    assert status.exit_code == 1
    assert json.loads(status.stdout)["by_key"] == {"salt_key": 0, "master_key": 0, "none": 16}
    assert (f"Warning: if a rotation was interrupted, the values may be under the key it saved: "
            f"opsctl secrets undo {switch.saved} --dry-run") in status.stderr

    dry = stack.run("secrets", "undo", str(switch.saved), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert (json.loads(dry.stdout)["plan"]["reencrypted"], json.loads(dry.stdout)["plan"]["already_under_target"]) == (0, 16)
    result = stack.run("secrets", "undo", str(switch.saved), "--yes", "--no-restart")
    assert result.exit_code == 0, result.output
    assert stack.env_path.read_bytes() == original
    assert raw_columns(stack.database_url) == before
    assert estate.read(salt=TEST_SALT_KEY) == expected()


def test_settle_after_a_failed_commit_makes_the_env_agree_with_the_database(make_stack):
    stack = make_stack()
    seed_estate(stack.database_url)
    original = stack.env_path.read_bytes()
    lost = OpsctlError("lost the database at postgres@127.0.0.1:5432/x: server closed the connection", ExitCode.UNREACHABLE)

    # Not committed: every value is under the old key, so the .env goes back.
    switch = interrupted_after_env_write(stack)
    error = salt._settle(stack.database_url, switch, lost)
    assert error.message == (f"{lost.message}; the rotation did not commit: every value is under the old key and "
                             f"{stack.env_path} was put back")
    assert stack.env_path.read_bytes() == original

    # Committed: the values are under the new key, so the new .env stays.
    switch = interrupted_after_env_write(stack)
    new_env = stack.env_path.read_bytes()
    from opsctl.db.connection import connect
    from opsctl.secrets.rotate import reencrypt

    with connect(stack.database_url) as connection:
        reencrypt(connection, (switch.source,), switch.target)
    error = salt._settle(stack.database_url, switch, lost)
    assert "the rotation did commit" in error.message
    assert stack.env_path.read_bytes() == new_env

    # The database cannot be asked: nothing is guessed; the error says what to run.
    switch.saved = stack.saved_files()[-1]
    gone = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    error = salt._settle(gone, switch, lost)
    assert error.message.endswith(f"when it is back, run `opsctl secrets undo {switch.saved}` (it works either way)")
    assert stack.env_path.read_bytes() == new_env
