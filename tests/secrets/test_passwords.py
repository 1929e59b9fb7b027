"""rotate-db-password against the real local Postgres (a scratch role) and
rotate-redis-password against a private redis-server, without a restart."""

from __future__ import annotations

import json

from opsctl.secrets.redis_wire import accepts
from tests.secrets.conftest import role_verifier, write_env
from tests.secrets.support import ArgvWatch, scram_matches


def stack_env(stack, role: str, db_password: str, redis_password: str = "old-redis-password-0123456789abcdef") -> bytes:
    text = (f"LITELLM_MASTER_KEY=sk-master-0123456789abcdef\nPOSTGRES_USER={role}\nPOSTGRES_PASSWORD={db_password}\n"
            f"POSTGRES_DB=litellm\nDATABASE_URL=postgresql://{role}:{db_password}@postgres:5432/litellm?connect_timeout=10\n"
            f"REDIS_PASSWORD={redis_password}\n# trailing comment\n")
    write_env(stack.directory, text)
    return text.encode()


def test_rotate_db_password_sets_a_scram_verifier_and_the_env_then_undo(make_stack, scratch_role):
    role, old = scratch_role
    stack = make_stack()
    original = stack_env(stack, role, old)
    assert scram_matches(role_verifier(role), old)

    with ArgvWatch(old) as argv:
        result = stack.run("secrets", "rotate-db-password", "--yes", "--no-restart", "--json")
    assert result.exit_code == 0, result.output
    env = stack.env()
    new = env["POSTGRES_PASSWORD"]
    assert new != old and len(new) >= 32
    assert env["DATABASE_URL"] == f"postgresql://{role}:{new}@postgres:5432/litellm?connect_timeout=10"
    assert stack.env_path.read_bytes() == original.replace(old.encode(), new.encode())
    verifier = role_verifier(role)
    assert scram_matches(verifier, new) and not scram_matches(verifier, old)
    assert new not in result.stdout + result.stderr and old not in result.stdout + result.stderr
    assert argv.seen == set()
    report = json.loads(result.stdout)
    assert (report["role"], report["env_changes"]) == (role, {"DATABASE_URL": "set", "POSTGRES_PASSWORD": "set"})

    [saved] = stack.saved_files()
    assert stack.run("secrets", "undo", str(saved), "--yes", "--no-restart").exit_code == 0
    assert stack.env_path.read_bytes() == original
    assert scram_matches(role_verifier(role), old)


def test_rotate_db_password_dry_run_changes_nothing_and_an_unknown_role_is_refused(make_stack, scratch_role):
    role, old = scratch_role
    stack = make_stack()
    original = stack_env(stack, role, old)
    verifier = role_verifier(role)
    result = stack.run("secrets", "rotate-db-password", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"ALTER ROLE {role} PASSWORD (a SCRAM verifier)" in result.stderr
    assert stack.env_path.read_bytes() == original and role_verifier(role) == verifier and stack.saved_files() == []

    stack_env(stack, "no_such_role_here", old)
    result = stack.run("secrets", "rotate-db-password", "--yes", "--no-restart")
    assert (result.exit_code, result.stderr) == (
        2, "Error: the database has no role no_such_role_here (the user of the stack's DATABASE_URL)\n")


def test_rotate_redis_password_keeps_both_until_the_restart_then_undo(make_stack, redis_server):
    server, old = redis_server
    stack = make_stack()
    original = stack_env(stack, "litellm", "pg-pass", old)
    with ArgvWatch(old) as argv:
        result = stack.run("secrets", "rotate-redis-password", "--redis-port", str(server.port), "--yes", "--no-restart",
                           "--json")
    assert result.exit_code == 0, result.output
    new = stack.env()["REDIS_PASSWORD"]
    assert new != old
    assert stack.env_path.read_bytes() == original.replace(old.encode(), new.encode())
    # No restart yet: the running proxy still logs in with the old password, so both work.
    assert accepts("127.0.0.1", server.port, new) and accepts("127.0.0.1", server.port, old)
    assert json.loads(result.stdout)["old_password_still_accepted"] is True
    assert argv.seen == set() and old not in result.stderr and new not in result.stderr + result.stdout


def test_rotate_redis_password_refuses_a_redis_that_does_not_take_the_env_password(make_stack, redis_server):
    server, _old = redis_server
    stack = make_stack()
    original = stack_env(stack, "litellm", "pg-pass", "not-the-password-of-this-redis-0123")
    result = stack.run("secrets", "rotate-redis-password", "--redis-port", str(server.port), "--yes", "--no-restart")
    assert result.exit_code == 4
    assert result.stderr == (f"Error: Redis at 127.0.0.1:{server.port} refuses the REDIS_PASSWORD of {stack.env_path}: "
                             "is it the stack's Redis?\n")
    assert stack.env_path.read_bytes() == original and stack.saved_files() == []
