"""The schema upgrade the migrate service performs, on the real Postgres: an older
litellm-proxy-extras' migrations (from PyPI), real rows, then the pinned
migrations applied the way the litellm image's migrate applies them (its
`prisma` shim, scripts/images/litellm/prisma_shim.py). The upgrade's preflight
must name exactly the migrations in between, and the data must survive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from opsctl.db.connection import connect
from opsctl.upgrade.ledger import read_ledger, schema_state
from opsctl.upgrade.plan import compare
from opsctl.upgrade.target import LIST_SCRIPT, MARK
from tests.support.litellm_db import load_credentials, load_deployments, seed_credentials, seed_deployments
from tests.support.older_extras import OLDER_VERSION, older_extras

SHIM = Path(__file__).resolve().parents[2] / "scripts" / "images" / "litellm" / "prisma_shim.py"
OLD_IMAGE, NEW_IMAGE = "litellm:old", "litellm:new"


def deploy(url: str, package: Path) -> subprocess.CompletedProcess:
    """`prisma migrate deploy` as the image's migrate runs it: from the package directory, LiteLLM's URL dialect."""
    env = {**os.environ, "DATABASE_URL": url + "?connection_limit=5&schema=public"}
    return subprocess.run([sys.executable, str(SHIM), "migrate", "deploy"], cwd=package, env=env,
                          capture_output=True, text=True, timeout=300)


def names(package: Path) -> tuple[str, ...]:
    root = package / "migrations"
    return tuple(sorted(n for n in os.listdir(root) if (root / n / "migration.sql").is_file()))


def preflight(url: str, carried: tuple[str, ...]):
    with connect(url) as connection:
        return compare(OLD_IMAGE, NEW_IMAGE, carried, read_ledger(connection), 1, 10**12)


@pytest.fixture(scope="module")
def packages():
    import litellm_proxy_extras

    return older_extras(), Path(litellm_proxy_extras.__file__).parent


def test_the_image_listing_script_names_the_packages_migrations(packages):
    """The lines the preflight runs inside the target image, run by this venv's Python on the pinned package."""
    result = subprocess.run([sys.executable, "-c", LIST_SCRIPT], capture_output=True, text=True, timeout=60, check=True)
    import json

    facts = json.loads(result.stdout.strip().removeprefix(MARK))
    assert facts["litellm_proxy_extras"] == "0.4.110"
    assert tuple(facts["migrations"]) == names(packages[1])


def test_older_schema_upgrades_to_the_pinned_one_with_its_data(empty_database, packages):
    old, new = packages
    first = deploy(empty_database, old)
    assert first.returncode == 0, first.stderr
    seed_deployments(empty_database, [{"model_name": "chat-default",
                                 "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-upstream-before"}}])
    seed_credentials(empty_database, [{"credential_name": "openai-prod", "credential_values": {"api_key": "sk-cred-before"}}])
    with psycopg.connect(empty_database) as connection:
        connection.execute("""INSERT INTO "LiteLLM_TeamTable" (team_id, rpm_limit, updated_at, created_at)
                              VALUES ('team-before', 120, now(), now())""")
        connection.execute("""INSERT INTO "LiteLLM_VerificationToken" (token, key_alias, team_id, rpm_limit)
                              SELECT md5(i::text), 'k' || i, 'team-before', 120 FROM generate_series(1, 30) i""")

    plan = preflight(empty_database, names(new))
    between = tuple(sorted(set(names(new)) - set(names(old))))
    assert len(between) > 10, f"{OLDER_VERSION} is not older enough to test an upgrade"
    assert plan.to_apply == between and plan.applied == names(old)
    assert (plan.blocked, plan.unknown, plan.changes) == (False, (), True)

    second = deploy(empty_database, new)
    assert second.returncode == 0, second.stderr
    assert second.stdout.rstrip().endswith("All migrations have been successfully applied.")
    with connect(empty_database) as connection:
        after = read_ledger(connection)
    assert after.applied == names(new) and after.problems == {}
    assert preflight(empty_database, names(new)).to_apply == ()
    with psycopg.connect(empty_database) as connection:
        assert connection.execute('SELECT count(*) FROM "LiteLLM_VerificationToken" WHERE team_id = %s',
                                  ("team-before",)).fetchone()[0] == 30
    assert [p["api_key"] for p in load_deployments(empty_database).values()] == ["sk-upstream-before"]
    assert load_credentials(empty_database)["openai-prod"]["api_key"] == "sk-cred-before"


def _ledger_row(url: str, name: str, finished: bool, logs: str | None, rolled_back: bool = False) -> None:
    with psycopg.connect(url) as connection:
        connection.execute(
            "INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, started_at, finished_at,"
            " rolled_back_at, applied_steps_count) VALUES (md5(random()::text), 'x', %s, %s, now(),"
            " CASE WHEN %s THEN now() END, CASE WHEN %s THEN now() END, 0)", (name, logs, finished, rolled_back))


def test_failed_half_applied_rolled_back_and_downgrades_block(empty_database, packages):
    old, new = packages
    assert deploy(empty_database, old).returncode == 0
    pending = sorted(set(names(new)) - set(names(old)))
    _ledger_row(empty_database, pending[0], finished=False, logs="ERROR: column \"x\" already exists")
    _ledger_row(empty_database, pending[1], finished=False, logs=None)
    _ledger_row(empty_database, pending[2], finished=False, logs=None, rolled_back=True)
    plan = preflight(empty_database, names(new))
    assert plan.blocked and plan.problems == {
        pending[0]: 'failed (ERROR: column "x" already exists)',
        pending[1]: "half-applied (started, never finished)",
        pending[2]: "rolled back and never re-applied",
    }
    assert "3 unfinished migration(s)" in plan.blocking[0]

    with psycopg.connect(empty_database) as connection:
        connection.execute("DELETE FROM _prisma_migrations WHERE finished_at IS NULL")
    downgrade = preflight(empty_database, names(old)[:-2])
    assert downgrade.unknown == names(old)[-2:] and "downgrade" in downgrade.blocking[0]
    assert not preflight(empty_database, names(old)).blocked

    tight = compare(OLD_IMAGE, NEW_IMAGE, names(old), read_ledger_of(empty_database), 10**9, 10**6)
    assert tight.blocked and tight.blocking[0].startswith("only 1 MB free for the backup")


def read_ledger_of(url: str):
    with connect(url) as connection:
        return read_ledger(connection)


def test_schema_state_tells_a_moved_schema(empty_database, packages):
    old, new = packages
    assert deploy(empty_database, old).returncode == 0
    with connect(empty_database) as connection:
        before = schema_state(connection)
    with connect(empty_database) as connection:
        assert not schema_state(connection).moved_since(before)
        connection.execute('ALTER TABLE "LiteLLM_TeamTable" ADD COLUMN opsctl_probe int')
        assert schema_state(connection).moved_since(before)
