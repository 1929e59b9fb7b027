"""Before-image files and `opsctl db restore`."""

from __future__ import annotations

import json
import os
import stat

import psycopg
import pytest

from tests.support.litellm_db import raw_rows


def apply(run, url, *extra):
    result = run("--database-url", url, "db", "apply-overrides", "--yes", "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["backup"]


def test_backup_is_private_and_restore_puts_rows_back_exactly(seeded, run, isolated_env):
    backup = apply(run, seeded.url)
    assert backup.startswith(str(isolated_env / ".local" / "state" / "opsctl" / "db-overrides-"))
    mode = stat.S_IMODE(os.stat(backup).st_mode)
    assert mode == 0o600

    dry = run("--database-url", seeded.url, "db", "restore", backup, "--dry-run", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["restored"] == 0
    assert len(json.loads(dry.stdout)["plan"]["restore"]) == 5
    assert raw_rows(seeded.url) != seeded.before

    result = run("--database-url", seeded.url, "db", "restore", backup, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "Restored 5 deployments." in result.stderr
    assert raw_rows(seeded.url) == seeded.before  # params, updated_at and updated_by, byte for byte

    again = run("--database-url", seeded.url, "db", "restore", backup, "--yes", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["restored"] == 0
    assert len(json.loads(again.stdout)["plan"]["already_restored"]) == 5


def test_restore_refuses_to_overwrite_a_later_edit(seeded, run, tmp_path):
    backup = apply(run, seeded.url, "--backup", "undo.json")
    assert backup == "undo.json" and (tmp_path / "undo.json").is_file()
    with psycopg.connect(seeded.url) as connection:
        connection.execute(
            """UPDATE "LiteLLM_ProxyModelTable" SET litellm_params = litellm_params || '{"timeout": 45}'
               WHERE model_id = %s""",
            (seeded.ids["chat-a"],),
        )
    edited = raw_rows(seeded.url)
    result = run("--database-url", seeded.url, "db", "restore", "undo.json", "--yes")
    assert result.exit_code == 7
    assert result.stderr.splitlines()[-1] == (
        "Error: 1 deployments were edited after the apply; restoring would overwrite those edits, so nothing was changed"
    )
    assert raw_rows(seeded.url) == edited


def test_existing_backup_file_is_refused_before_any_write(seeded, run, tmp_path):
    (tmp_path / "taken.json").write_text("{}")
    result = run("--database-url", seeded.url, "db", "apply-overrides", "--yes", "--backup", "taken.json")
    assert result.exit_code == 2
    assert result.stderr == "Error: backup file already exists: taken.json\n"
    assert raw_rows(seeded.url) == seeded.before


def test_backup_that_cannot_be_written_rolls_the_apply_back(seeded, run, tmp_path):
    (tmp_path / "afile").write_text("")
    result = run("--database-url", seeded.url, "db", "apply-overrides", "--yes", "--backup", "afile/undo.json")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: cannot write backup file afile/undo.json: File exists; nothing was changed"
    assert raw_rows(seeded.url) == seeded.before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"rows": []}', "x.json: not an opsctl backup file (expected format opsctl-db-backup/1)"),
        ('{"format": "opsctl-db-backup/1"}', "x.json: damaged opsctl backup file (rows are missing fields)"),
        ('{"format": "opsctl-db-backup/1", "rows": [{"model_id": "id-chat-a"}]}',
         "x.json: damaged opsctl backup file (rows are missing fields)"),
        ("[1,\n", "x.json:2: not an opsctl backup file (invalid JSON)"),
    ],
)
def test_restore_rejects_a_file_that_is_not_a_backup(seeded, run, tmp_path, text, message):
    (tmp_path / "x.json").write_text(text)
    result = run("--database-url", seeded.url, "db", "restore", "x.json", "--yes")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert raw_rows(seeded.url) == seeded.before
