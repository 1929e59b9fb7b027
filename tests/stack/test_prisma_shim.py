"""The litellm image's `prisma` (scripts/images/litellm/prisma_shim.py) on the
real Postgres: `migrate deploy` and `migrate resolve` keep Prisma's ledger the
way the official image's Prisma does, with the error codes LiteLLM's migration
resolver reads."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import psycopg

from tests.support.litellm_db import migration_files

SHIM = Path(__file__).resolve().parents[2] / "scripts" / "images" / "litellm" / "prisma_shim.py"
SCHEMA = 'datasource client {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n'


def prisma(url: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DATABASE_URL": url, **env}
    return subprocess.run([sys.executable, str(SHIM), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


def ledger(url: str) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT migration_name, checksum, applied_steps_count, logs, started_at, finished_at, rolled_back_at"
            " FROM _prisma_migrations ORDER BY started_at, migration_name"
        ).fetchall()


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        return {row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def project(tmp_path: Path, migrations: dict[str, str]) -> Path:
    (tmp_path / "schema.prisma").write_text(SCHEMA)
    for name, sql in migrations.items():
        (tmp_path / "migrations" / name).mkdir(parents=True, exist_ok=True)
        (tmp_path / "migrations" / name / "migration.sql").write_text(sql)
    return tmp_path


def test_deploy_builds_litellms_schema_and_prismas_ledger(empty_database, litellm_template):
    import litellm_proxy_extras

    package = Path(litellm_proxy_extras.__file__).parent  # LiteLLM runs Prisma from here
    url = empty_database + "?connection_limit=5&pool_timeout=30&schema=public"  # LiteLLM's URL dialect
    first = prisma(url, "migrate", "deploy", cwd=package, PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK="1")
    assert first.returncode == 0, first.stderr
    assert first.stdout.rstrip().endswith("All migrations have been successfully applied.")

    expected = {path.parent.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in migration_files()}
    rows = ledger(empty_database)
    assert {name: checksum for name, checksum, *_ in rows} == expected
    assert {(steps, logs, finished is not None, rolled_back) for _n, _c, steps, logs, _s, finished, rolled_back in rows} == {(1, None, True, None)}
    assert tables(empty_database) == tables(empty_database.rsplit("/", 1)[0] + "/" + litellm_template) | {"_prisma_migrations"}

    again = prisma(url, "migrate", "deploy", cwd=package)
    assert (again.returncode, again.stdout.splitlines()[-1]) == (0, "No pending migrations to apply.")
    assert len(ledger(empty_database)) == len(expected)


def test_a_failed_migration_is_recorded_rolled_back_whole_and_resolved(empty_database, tmp_path):
    work = project(tmp_path, {"1_ok": "CREATE TABLE t (x int);", "2_bad": "CREATE TABLE u (x int);\nSELECT 1 / 0;"})
    failed = prisma(empty_database, "migrate", "deploy", cwd=work)
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: P3018\n\nA migration failed to apply.")
    assert "Migration name: 2_bad\n\nDatabase error code: 22012\n\nDatabase error:\nERROR: division by zero" in failed.stderr
    (ok, bad) = ledger(empty_database)
    assert (ok[0], ok[2], ok[5] is not None) == ("1_ok", 1, True)
    assert (bad[0], bad[2], bad[5], bad[6]) == ("2_bad", 0, None, None)
    assert "division by zero" in bad[3]
    assert tables(empty_database) == {"_prisma_migrations", "t"}  # u went with the failed file's transaction

    # Refused until resolved; the start time printed is the ledger's, as LiteLLM matches it.
    blocked = prisma(empty_database, "migrate", "deploy", cwd=work)
    assert blocked.returncode == 1 and blocked.stderr.startswith("Error: P3009\n\nmigrate found failed migrations")
    printed = re.search(r"The `2_bad` migration started at ([^\r\n]+?) failed", blocked.stderr).group(1)
    with psycopg.connect(empty_database) as connection:
        assert connection.execute("SELECT %s::timestamptz", (printed,)).fetchone()[0] == bad[4]

    assert prisma(empty_database, "migrate", "resolve", "--rolled-back", "2_bad", cwd=work).stdout == "Migration 2_bad marked as rolled back.\n"
    (work / "migrations" / "2_bad" / "migration.sql").write_text("CREATE TABLE u (x int);")
    fixed = prisma(empty_database, "migrate", "deploy", cwd=work)
    assert fixed.returncode == 0, fixed.stderr
    assert [(row[0], row[2], row[6] is not None) for row in ledger(empty_database)] == [("1_ok", 1, False), ("2_bad", 0, True), ("2_bad", 1, False)]
    assert tables(empty_database) == {"_prisma_migrations", "t", "u"}


def test_resolve_applied_records_without_running_and_refuses_what_prisma_refuses(empty_database, tmp_path):
    work = project(tmp_path, {"1_ok": "CREATE TABLE t (x int);"})
    assert prisma(empty_database, "migrate", "resolve", "--applied", "1_ok", cwd=work).returncode == 0
    (row,) = ledger(empty_database)
    assert (row[0], row[2], row[5] is not None) == ("1_ok", 0, True)
    assert tables(empty_database) == {"_prisma_migrations"}
    assert prisma(empty_database, "migrate", "deploy", cwd=work).stdout.splitlines()[-1] == "No pending migrations to apply."

    refusals = {
        ("--applied", "1_ok"): "Error: P3008",
        ("--applied", "9_missing"): "Error: P3017",
        ("--rolled-back", "1_ok"): "Error: P3012",
        ("--rolled-back", "9_missing"): "Error: P3011",
    }
    for args, code in refusals.items():
        refused = prisma(empty_database, "migrate", "resolve", *args, cwd=work)
        assert (refused.returncode, refused.stderr.splitlines()[0]) == (1, code)


def test_deploy_refuses_tables_without_a_ledger(empty_database, tmp_path):
    with psycopg.connect(empty_database, autocommit=True) as connection:
        connection.execute("CREATE TABLE already_here (x int)")
    refused = prisma(empty_database, "migrate", "deploy", cwd=project(tmp_path, {"1_ok": "CREATE TABLE t (x int);"}))
    assert (refused.returncode, refused.stderr.splitlines()[0]) == (1, "Error: P3005")
    assert tables(empty_database) == {"already_here"}


def test_deploy_waits_for_prismas_advisory_lock_unless_told_it_is_held(empty_database, tmp_path):
    work = project(tmp_path, {"1_ok": "CREATE TABLE t (x int);"})
    with psycopg.connect(empty_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(72707369)")
        started = datetime.now()
        waited = prisma(empty_database, "migrate", "deploy", cwd=work)
        assert (datetime.now() - started).total_seconds() >= 10
        assert waited.returncode == 1 and waited.stderr.startswith("Error: P1002")
        assert "advisory lock" in waited.stderr
        # LiteLLM's resolver holds the lock itself and says so.
        held = prisma(empty_database, "migrate", "deploy", cwd=work, PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK="1")
        assert held.returncode == 0, held.stderr


def test_commands_needing_the_schema_engine_say_so(empty_database, tmp_path):
    work = project(tmp_path, {})
    for command in (["migrate", "diff", "--from-url", empty_database, "--to-schema-datamodel", "schema.prisma"], ["db", "push"]):
        refused = prisma(empty_database, *command, cwd=work)
        assert refused.returncode == 1
        assert refused.stderr.startswith(f"Error: `prisma {' '.join(command[:2])}` needs Prisma's schema engine")
