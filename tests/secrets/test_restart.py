"""The restart half of every rotation, on a real container engine (podman's Docker API)
with busybox stand-ins for the proxy and redis: the proxy container is recreated with the
new .env (a compose restart would keep the old one), redis is left alone, readiness is
awaited, and no secret is ever on a command line."""

from __future__ import annotations

from opsctl.secrets.redis_wire import accepts
from tests.secrets.conftest import TEST_MASTER_KEY
from tests.secrets.estate import expected, seed_estate
from tests.secrets.support import ArgvWatch
from tests.support.litellm_db import TEST_SALT_KEY

NEW_SALT = "opsctl-restart-test-new-salt-0123456789abcdef"


def key_file(tmp_path, name: str, key: str):
    path = tmp_path / name
    path.write_text(key + "\n")
    path.chmod(0o600)
    return path


def test_rotate_salt_recreates_only_the_proxy_with_the_new_env(compose_stack, tmp_path):
    composed = compose_stack()
    estate = seed_estate(composed.stack.database_url)
    before = composed.containers()
    assert before["litellm"][1]["LITELLM_SALT_KEY"] == TEST_SALT_KEY

    with ArgvWatch(TEST_SALT_KEY, NEW_SALT, TEST_MASTER_KEY) as argv:
        result = composed.run("secrets", "rotate-salt", "--yes", "--new-salt-file", str(key_file(tmp_path, "salt", NEW_SALT)))
    assert result.exit_code == 0, result.output
    after = composed.containers()
    assert after["litellm"][0] != before["litellm"][0]  # recreated, not restarted
    assert after["litellm"][1]["LITELLM_SALT_KEY"] == NEW_SALT
    assert after["redis"][0] == before["redis"][0]  # its env_file changed too, but it was left alone
    assert f"{composed.stack.directory.name}: ready" in result.stderr
    assert "no model is stored in the database: nothing to probe" in result.stderr
    assert estate.read(salt=NEW_SALT) == expected()
    assert argv.samples > 0 and argv.seen == set()
    assert NEW_SALT not in result.stdout + result.stderr and TEST_SALT_KEY not in result.stdout + result.stderr


def test_rotate_master_key_fails_when_the_old_key_is_still_accepted(compose_stack):
    """The stand-in takes any key: the proof step must notice, name the undo, and the undo must restore."""
    composed = compose_stack()
    original = composed.stack.env_path.read_bytes()
    result = composed.run("secrets", "rotate-master-key", "--yes")
    assert result.exit_code == 1
    [saved] = composed.stack.saved_files()
    assert result.stderr.splitlines()[-1] == f"Error: the proxy still accepts the old master key (undo: opsctl secrets undo {saved})"
    new_key = composed.stack.env()["LITELLM_MASTER_KEY"]
    assert new_key.startswith("sk-") and new_key != TEST_MASTER_KEY
    assert composed.containers()["litellm"][1]["LITELLM_MASTER_KEY"] == new_key

    result = composed.run("secrets", "undo", str(saved), "--yes", "--no-restart")
    assert result.exit_code == 0, result.output
    assert composed.stack.env_path.read_bytes() == original


def test_rotate_db_password_then_the_proxy_gets_the_new_url(compose_stack, scratch_role):
    from tests.secrets.conftest import role_verifier
    from tests.secrets.support import scram_matches
    from tests.secrets.test_passwords import stack_env

    role, old = scratch_role
    composed = compose_stack()
    stack_env(composed.stack, role, old)
    before = composed.containers()
    with ArgvWatch(old) as argv:
        result = composed.run("secrets", "rotate-db-password", "--yes")
    assert result.exit_code == 0, result.output
    new = composed.stack.env()["POSTGRES_PASSWORD"]
    after = composed.containers()
    assert after["litellm"][1]["DATABASE_URL"] == f"postgresql://{role}:{new}@postgres:5432/litellm?connect_timeout=10"
    assert after["redis"][0] == before["redis"][0]
    assert scram_matches(role_verifier(role), new)
    assert argv.seen == set()


def test_rotate_redis_password_moves_the_proxy_first_then_drops_the_old_one(compose_stack, redis_server):
    from tests.secrets.test_passwords import stack_env

    server, old = redis_server
    composed = compose_stack()
    stack_env(composed.stack, "litellm", "pg-pass", old)
    before = composed.containers()
    with ArgvWatch(old) as argv:
        result = composed.run("secrets", "rotate-redis-password", "--redis-port", str(server.port), "--yes")
    assert result.exit_code == 0, result.output
    new = composed.stack.env()["REDIS_PASSWORD"]
    after = composed.containers()
    assert after["litellm"][1]["REDIS_PASSWORD"] == new and after["redis"][1]["REDIS_PASSWORD"] == new
    assert after["litellm"][0] != before["litellm"][0] and after["redis"][0] != before["redis"][0]
    assert accepts("127.0.0.1", server.port, new) and not accepts("127.0.0.1", server.port, old)
    assert "Redis accepts only the new password" in result.stderr
    assert argv.seen == set()
