"""`opsctl backup` on the real Postgres with LiteLLM's schema: create, verify, list,
restore into a fresh database that the proxy's own decrypt path can read."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import threading
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.errors import ExitCode
from tests.support.litellm_db import load_deployments, seed_deployments, unique_name

PASSWORD = "pw-backup-Secret-93"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def gateway(litellm_db):
    """A LiteLLM database with keys, a team, DB models (encrypted) and spend logs."""
    seed_deployments(litellm_db, [
        {"model_name": "chat-default", "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-upstream-1"}},
        {"model_name": "llamacpp-local", "litellm_params": {"model": "openai/smollm2", "api_base": "http://h:8080/v1"}},
    ])
    with psycopg.connect(litellm_db) as connection:
        connection.execute("""INSERT INTO "LiteLLM_TeamTable" (team_id, rpm_limit, tpm_limit, updated_at, created_at)
                              VALUES ('team-a', 120, 60000, now(), now())""")
        connection.execute("""INSERT INTO "LiteLLM_VerificationToken" (token, key_alias, team_id, rpm_limit, tpm_limit)
                              SELECT md5(i::text), 'k' || i, 'team-a', 120, 60000 FROM generate_series(1, 25) i""")
        connection.execute("""INSERT INTO "LiteLLM_SpendLogs" (request_id, call_type, api_key, spend, "startTime", "endTime")
                              SELECT 'r' || i, 'acompletion', md5(i::text), 0.01, now(), now() FROM generate_series(1, 40) i""")
    return litellm_db


@pytest.fixture
def stack(tmp_path):
    directory = tmp_path / "stack"
    assert run("init", str(directory)).exit_code == 0
    return directory


def test_create_verify_list_restore_round_trip(gateway, stack, empty_database, tmp_path):
    archive = tmp_path / "gw.tar"
    created = run("--database-url", gateway, "--stack-dir", str(stack), "backup", "create", "-o", str(archive), "--json")
    assert created.exit_code == 0, created.stderr
    manifest = json.loads(created.stdout)["manifest"]
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert manifest["contains_secrets"] is True and manifest["opsctl_version"]
    assert manifest["litellm_image"] == "ghcr.io/berriai/litellm-database:main-v1.108.7"
    assert {k: manifest["row_counts"][k] for k in ("LiteLLM_VerificationToken", "LiteLLM_TeamTable",
                                                   "LiteLLM_ProxyModelTable", "LiteLLM_SpendLogs")} == {
        "LiteLLM_VerificationToken": 25, "LiteLLM_TeamTable": 1, "LiteLLM_ProxyModelTable": 2, "LiteLLM_SpendLogs": 40}
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        env_in_archive = tar.extractfile("stack/.env").read()
    assert names[:2] == ["MANIFEST.json", "database.dump"]
    assert {"stack/docker-compose.yml", "stack/litellm/config.yaml", "stack/.env"} <= set(names)
    assert env_in_archive == (stack / ".env").read_bytes()  # the salt key travels with the dump

    verified = run("backup", "verify", str(archive), "--json")
    assert verified.exit_code == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True and json.loads(verified.stdout)["dump_entries"] > 100

    restored = run("--database-url", empty_database, "backup", "restore", str(archive), "--yes", "--json")
    assert restored.exit_code == 0, restored.stderr
    assert json.loads(restored.stdout)["row_counts"] == manifest["row_counts"]
    # The restored models decrypt through LiteLLM's own path with the same salt key.
    params = sorted(p.get("api_key") or p.get("api_base") for p in load_deployments(empty_database).values())
    assert params == ["http://h:8080/v1", "sk-upstream-1"]


def _backup_through_the_container_route(gateway: str, archive: Path, monkeypatch) -> dict:
    """create_backup as `opsctl upgrade` calls it from a stack whose host has no pg_dump: the dump is taken
    by `sh -c 'exec pg_dump ...'` behind the exec prefix. Here the prefix is `env` with the postgres
    image's variables, so the "container" is this host's shell and its pg_dump, on the same server."""
    from urllib.parse import urlsplit

    from opsctl.backup import create, pgtools

    monkeypatch.setattr(pgtools, "host_tool", lambda tool: None)  # no client tools on this host
    parts = urlsplit(gateway)
    exec_prefix = ["env", f"POSTGRES_USER={parts.username}", f"POSTGRES_DB={parts.path.lstrip('/')}",
                   f"PGHOST={parts.hostname}", f"PGPORT={parts.port or 5432}"]
    return create.create_backup(gateway, archive, None, None, container_exec=exec_prefix).manifest


@pytest.mark.parametrize("route", ["host", "container"])
def test_the_manifest_counts_what_the_dump_holds_while_the_gateway_writes(gateway, empty_database, tmp_path, route,
                                                                          monkeypatch):
    """Spend logs committed one by one before, during and after the backup: the restore's count check
    (restored rows == manifest) passes only if the counts and pg_dump read one snapshot, on either route."""
    stop, written = threading.Event(), []

    def write():
        with psycopg.connect(gateway, autocommit=True) as connection:
            while not stop.is_set():
                connection.execute("""INSERT INTO "LiteLLM_SpendLogs" (request_id, call_type, api_key, spend,
                                      "startTime", "endTime") VALUES (%s, 'acompletion', 'k', 0.01, now(), now())""",
                                   (f"w{len(written)}",))
                written.append(1)

    writer = threading.Thread(target=write)
    writer.start()
    archive = tmp_path / "gw.tar"
    try:
        while len(written) < 20:
            stop.wait(0.01)
        if route == "host":
            created = run("--database-url", gateway, "backup", "create", "-o", str(archive), "--json")
            assert created.exit_code == 0, created.stderr
            manifest = json.loads(created.stdout)["manifest"]
        else:
            manifest = _backup_through_the_container_route(gateway, archive, monkeypatch)
        during = len(written)
        while len(written) < during + 20:
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join()
    backed_up = manifest["row_counts"]["LiteLLM_SpendLogs"]
    with psycopg.connect(gateway) as connection:
        now = connection.execute('SELECT count(*) FROM "LiteLLM_SpendLogs"').fetchone()[0]
    assert 40 + 20 <= backed_up < now  # rows came before the snapshot and after it
    monkeypatch.undo()  # the restore runs with this host's tools
    restored = run("--database-url", empty_database, "backup", "restore", str(archive), "--yes", "--json")
    assert restored.exit_code == 0, restored.stderr
    assert json.loads(restored.stdout)["row_counts"]["LiteLLM_SpendLogs"] == backed_up


def test_list_shows_the_default_directory(gateway, isolated_env):
    assert run("--database-url", gateway, "backup", "create").exit_code == 0
    listed = run("backup", "list", "--json")
    assert listed.exit_code == 0
    [row] = json.loads(listed.stdout)
    assert row["path"].startswith(str(isolated_env / ".local" / "state" / "opsctl" / "backups" / "litellm-backup-"))
    assert row["row_counts"]["LiteLLM_VerificationToken"] == 25 and row["problem"] is None


def test_restore_refuses_a_database_that_is_not_empty(gateway, tmp_path):
    archive = tmp_path / "gw.tar"
    assert run("--database-url", gateway, "backup", "create", "-o", str(archive)).exit_code == 0
    refused = run("--database-url", gateway, "backup", "restore", str(archive), "--yes")
    assert refused.exit_code == ExitCode.REFUSED
    assert "is not empty" in refused.stderr and "--force" in refused.stderr


def test_create_never_overwrites(gateway, tmp_path):
    archive = tmp_path / "gw.tar"
    archive.write_text("precious")
    result = run("--database-url", gateway, "backup", "create", "-o", str(archive))
    assert result.exit_code == ExitCode.REFUSED
    assert archive.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries left


def _rewrite(archive: Path, change) -> None:
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(archive, "w") as tar:
        for member, data in change(members):
            tar.addfile(member, io.BytesIO(data) if data is not None else None)


def test_a_tampered_or_hostile_archive_is_refused(gateway, empty_database, tmp_path):
    archive = tmp_path / "gw.tar"
    assert run("--database-url", gateway, "backup", "create", "-o", str(archive)).exit_code == 0

    def flip_dump(members):
        for member, data in members:
            if member.name == "database.dump":
                data = data[:-10] + bytes(b ^ 0xFF for b in data[-10:])
            yield member, data

    _rewrite(archive, flip_dump)
    tampered = run("backup", "verify", str(archive))
    assert tampered.exit_code == ExitCode.FAILED
    assert tampered.stderr.strip().endswith("database.dump: checksum differs from the manifest")
    assert run("--database-url", empty_database, "backup", "restore", str(archive), "--yes").exit_code == ExitCode.FAILED
    with psycopg.connect(empty_database) as connection:  # nothing was restored
        assert connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0

    def add_link(members):
        yield from members
        link = tarfile.TarInfo("stack/evil")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        yield link, None

    _rewrite(archive, add_link)
    assert "unexpected member 'stack/evil'" in run("backup", "verify", str(archive)).stderr

    os.chmod(archive, 0o644)
    shared = run("backup", "verify", str(archive))
    assert shared.exit_code == ExitCode.USAGE and "chmod 600" in shared.stderr

    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(4096))
    os.chmod(junk, 0o600)
    garbage = run("backup", "verify", str(junk))
    assert garbage.exit_code == ExitCode.USAGE and garbage.stderr.count("\n") == 1


def test_the_password_never_reaches_a_command_line(gateway, tmp_path, monkeypatch):
    """pg_dump and psql get the password in their environment; shims on PATH record their argv."""
    with psycopg.connect(gateway, autocommit=True) as connection:
        role = unique_name("opsctl_bk")
        connection.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
    try:
        shim = tmp_path / "bin"
        shim.mkdir()
        for tool in ("pg_dump", "psql"):  # psql holds the snapshot pg_dump reads
            (shim / tool).write_text(f'#!/bin/sh\necho {tool} "$@" >> {tmp_path}/argv\nexec /usr/bin/{tool} "$@"\n')
            (shim / tool).chmod(0o755)
        monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
        url = gateway.replace("postgres@", f"{role}:{PASSWORD}@")
        result = run("--database-url", url, "backup", "create", "-o", str(tmp_path / "gw.tar"))
        assert result.exit_code == 0, result.stderr
        argv = (tmp_path / "argv").read_text()
        assert "pg_dump --format=custom" in argv and "--snapshot=" in argv and "psql --no-psqlrc" in argv
        assert PASSWORD not in argv and PASSWORD not in result.output
    finally:
        with psycopg.connect(gateway, autocommit=True) as connection:
            connection.execute(f"DROP ROLE {role}")


def test_restore_into_a_stack_directory_refuses_a_non_empty_one_and_dry_runs(gateway, stack, tmp_path):
    archive = tmp_path / "gw.tar"
    assert run("--database-url", gateway, "--stack-dir", str(stack), "backup", "create", "-o", str(archive)).exit_code == 0
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    refused = run("backup", "restore", str(archive), str(busy), "--yes")
    assert refused.exit_code == ExitCode.REFUSED, refused.output
    assert f"{busy} is not empty (1 entries)" in refused.stderr and "--force" in refused.stderr
    assert [p.name for p in busy.iterdir()] == ["notes.txt"] and (busy / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nothing extracted beside it

    fresh = tmp_path / "fresh"
    dry = run("backup", "restore", str(archive), str(fresh), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert not fresh.exists() and plan["dry_run"] is True
    assert [(s["name"], s["status"]) for s in plan["steps"]] == [
        ("verify", "ok"), ("write", "planned"), ("postgres", "planned"), ("database", "planned"), ("up", "planned"),
        ("check: readiness", "planned"), ("check: encrypted values", "planned"), ("check: key from before", "skipped")]
    assert {".env", "docker-compose.yml", "litellm/config.yaml"} <= set(plan["files"])
    # The restored .env names the compose service; the dump goes in through the port compose publishes.
    assert "127.0.0.1:15432" in plan["steps"][3]["detail"] and PASSWORD not in dry.output

    loose_key = tmp_path / "key"
    loose_key.write_text("sk-a-virtual-key-from-before\n")
    loose_key.chmod(0o644)
    refused_key = run("backup", "restore", str(archive), str(fresh), "--check-key-file", str(loose_key), "--yes")
    assert refused_key.exit_code == ExitCode.USAGE and "chmod 600" in refused_key.stderr and not fresh.exists()

    # Another directory's COMPOSE_PROJECT_NAME (the operator's .env) never names the restored stack's project.
    from opsctl.backup import stackrestore
    from opsctl.settings import Settings

    loaded = stackrestore.load(archive, fresh)
    restored = stackrestore.stack_settings(Settings(compose_project="the-live-gateway", stack_dir=str(stack)), loaded)
    assert (restored.compose_project, restored.stack_dir) == (None, str(fresh)) and not fresh.exists()

    db_only = tmp_path / "db-only.tar"
    assert run("--database-url", gateway, "backup", "create", "--no-stack", "-o", str(db_only)).exit_code == 0
    no_stack = run("backup", "restore", str(db_only), str(fresh), "--yes")
    assert no_stack.exit_code == ExitCode.USAGE and "holds no stack" in no_stack.stderr
    assert not fresh.exists()
