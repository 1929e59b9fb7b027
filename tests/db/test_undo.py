"""Before-image files and `opsctl db undo`."""

from __future__ import annotations

import json
import os
import stat

import psycopg
import pytest

from tests.db.conftest import stored_params
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

    dry = run("--database-url", seeded.url, "db", "undo", backup, "--dry-run", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["restored"] == 0
    assert len(json.loads(dry.stdout)["plan"]["restore"]) == 5
    assert raw_rows(seeded.url) != seeded.before

    result = run("--database-url", seeded.url, "db", "undo", backup, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "Restored 5 deployments." in result.stderr
    assert raw_rows(seeded.url) == seeded.before  # params, updated_at and updated_by, byte for byte

    again = run("--database-url", seeded.url, "db", "undo", backup, "--yes", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["restored"] == 0
    assert len(json.loads(again.stdout)["plan"]["already_restored"]) == 5


def test_db_restore_is_a_hidden_alias_of_db_undo(seeded, run):
    """The old name still undoes an apply, but --help lists only `undo` ("restore" means a backup)."""
    from click.testing import CliRunner

    from opsctl.cli import cli

    backup = apply(run, seeded.url)
    listed = CliRunner().invoke(cli, ["db", "--help"])
    assert "undo" in listed.output and "restore" not in listed.output
    result = run("--database-url", seeded.url, "db", "restore", backup, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "Restored 5 deployments." in result.stderr
    assert raw_rows(seeded.url) == seeded.before


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
    result = run("--database-url", seeded.url, "db", "undo", "undo.json", "--yes")
    assert result.exit_code == 7
    assert result.stderr.splitlines()[-1] == (
        "Error: 1 deployments were edited after the apply; restoring would overwrite those edits, so nothing was changed"
        " (--skip-edited restores the others)"
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


def edit_backup(path, change) -> None:
    """Rewrite a backup as someone with write access to it would (it stays ours and 0600)."""
    document = json.loads(open(path).read())
    change(document)
    with open(path, "w") as handle:
        handle.write(json.dumps(document))
    os.chmod(path, 0o600)


def test_an_edited_backup_restores_only_timeout_and_num_retries(seeded, run):
    """Before: an edited backup put an attacker's api_base and plaintext api_key into every row."""
    backup = apply(run, seeded.url)
    applied = stored_params(seeded.url)

    def plant(document):
        for row in document["rows"]:
            row["litellm_params"] = json.dumps({"api_base": "https://evil.example", "api_key": "sk-attacker"})

    original = open(backup).read()
    edit_backup(backup, plant)
    result = run("--database-url", seeded.url, "db", "undo", backup, "--yes")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {backup}: damaged opsctl backup file (row 1: missing or unknown fields)\n"

    # The values themselves are all an edit can change, and only those two keys move.
    open(backup, "w").write(original)

    def retime(document):
        for row in document["rows"]:
            row["timeout"] = "7"

    edit_backup(backup, retime)
    assert run("--database-url", seeded.url, "db", "undo", backup, "--yes").exit_code == 0
    restored = stored_params(seeded.url)
    for label in ("chat-a", "chat-b", "qwen-cloud", "deepseek", "embeddings"):
        model_id = seeded.ids[label]
        assert restored[model_id]["timeout"] == 7
        rest = {k: v for k, v in restored[model_id].items() if k not in ("timeout", "num_retries")}
        assert rest == {k: v for k, v in applied[model_id].items() if k not in ("timeout", "num_retries")}
        assert "evil" not in json.dumps(restored[model_id])


def test_dry_run_shows_the_values_it_would_put_back(seeded, run):
    backup = apply(run, seeded.url)
    result = run("--database-url", seeded.url, "db", "undo", backup, "--dry-run")
    assert result.exit_code == 0, result.stderr
    lines = {line.split("│")[2].strip(): line for line in result.stdout.splitlines() if line.count("│") == 6}
    # chat-a had timeout 10 and no num_retries; embeddings had the broken string "30".
    assert "90 -> 10" in lines[seeded.ids["chat-a"]] and "2 -> unset" in lines[seeded.ids["chat-a"]]
    assert '30 -> "30"' in lines[seeded.ids["embeddings"]]
    report = json.loads(run("--database-url", seeded.url, "db", "undo", backup, "--dry-run", "--json").stdout)
    chat_a = next(r for r in report["plan"]["restore"] if r["model_id"] == seeded.ids["chat-a"])
    assert chat_a["timeout"] == {"current": 90, "restored": 10}
    assert chat_a["num_retries"] == {"current": 2, "restored": None}
    assert raw_rows(seeded.url) != seeded.before


def test_skip_edited_restores_the_others(seeded, run):
    backup = apply(run, seeded.url)
    with psycopg.connect(seeded.url) as connection:
        connection.execute("""UPDATE "LiteLLM_ProxyModelTable" SET litellm_params = litellm_params || '{"timeout": 45}'
                              WHERE model_id = %s""", (seeded.ids["chat-a"],))
    edited = raw_rows(seeded.url)[seeded.ids["chat-a"]]
    result = run("--database-url", seeded.url, "db", "undo", backup, "--skip-edited", "--yes")
    assert result.exit_code == 0, result.stderr
    assert f"Warning: deployment chat-default ({seeded.ids['chat-a']}) was edited after the apply: skipped" in result.stderr
    assert "Restored 4 deployments; skipped 1 edited since the apply." in result.stderr
    rows = raw_rows(seeded.url)
    assert rows[seeded.ids["chat-a"]] == edited
    assert {k: v for k, v in rows.items() if k != seeded.ids["chat-a"]} == {
        k: v for k, v in seeded.before.items() if k != seeded.ids["chat-a"]}


def test_a_backup_of_another_database_is_refused(seeded, run, litellm_template):
    from tests.db.conftest import seed
    from tests.support.litellm_db import create_database, drop_database, unique_name

    backup = apply(run, seeded.url)
    other_name = unique_name("opsctl_other")
    other = seed(create_database(other_name, template=litellm_template))  # the same rows, the same model_ids
    try:
        assert run("--database-url", other.url, "db", "apply-overrides", "--yes").exit_code == 0
        after = raw_rows(other.url)
        result = run("--database-url", other.url, "db", "undo", backup, "--yes")
        assert result.exit_code == 2
        written_for = seeded.url.rsplit("/", 1)[1]
        assert result.stderr.startswith(f"Error: {backup} was written for database '{written_for}' of cluster ")
        assert result.stderr.endswith(f", not postgres@127.0.0.1:5432/{other_name}: refusing to restore it\n")
        assert raw_rows(other.url) == after

        def other_cluster(document):
            document["database"]["system_identifier"] = "1234567890"

        edit_backup(backup, other_cluster)
        refused = run("--database-url", seeded.url, "db", "undo", backup, "--yes")
        assert refused.exit_code == 2 and "of cluster 1234567890, not postgres@" in refused.stderr
    finally:
        drop_database(other_name)


def test_a_backup_whose_apply_never_committed_is_void(seeded, run):
    backup = apply(run, seeded.url)
    with psycopg.connect(seeded.url) as connection:  # a transaction that rolls back, as a killed apply's does
        aborted = connection.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        connection.rollback()

    def void(document):
        document["transaction"] = aborted

    edit_backup(backup, void)
    result = run("--database-url", seeded.url, "db", "undo", backup, "--yes")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {backup} is void: the apply that wrote it never committed (transaction {aborted} "
                             "was rolled back); there is nothing to restore\n")


def write_private(path, data: bytes):
    path.write_bytes(data)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"rows": []}', "x.json: not an opsctl backup file (expected format opsctl-db-backup/2)"),
        (b'{"format": "opsctl-db-backup/1", "rows": []}',
         "x.json: written by an older opsctl (opsctl-db-backup/1, no database identity); restore it with that version"),
        (b'{"format": "opsctl-db-backup/2"}', "x.json: damaged opsctl backup file (no database identity)"),
        (b'{"format": "opsctl-db-backup/2", "database": {"name": "x"}, "rows": [{"model_id": "id-chat-a"}]}',
         "x.json: damaged opsctl backup file (row 1: missing or unknown fields)"),
        (b"[1,\n", "x.json: not an opsctl backup file (invalid JSON at line 2, column 1)"),
        (b'{"format": "opsctl-db-backup/2", "x": "\x00"}', "x.json: not an opsctl backup file (invalid JSON at line 1, column 40)"),
        (b'{"format": "opsctl-db-backup/2", "x": "\\u0000"}', "x.json: not an opsctl backup file (a NUL character in a string)"),
        (b'{"format": "opsctl-db-backup/2", "x": "\\ud800"}',
         "x.json: not an opsctl backup file (a lone surrogate (\\ud800-\\udfff) in a string)"),
        (b'{"format": "caf\xe9"}', "x.json: not an opsctl backup file (not UTF-8 (byte 15))"),
        (b"[" * 100_000 + b"]" * 100_000, "x.json: not an opsctl backup file (nesting deeper than 64 levels)"),
        (b'{"n": 1' + b"0" * 5000 + b"}", "x.json: not an opsctl backup file (a number of 5001 digits)"),
        (b'{"n": NaN}', "x.json: not an opsctl backup file (NaN, which is not JSON)"),
    ],
)
def test_restore_rejects_a_file_that_is_not_a_backup(seeded, run, tmp_path, data, message):
    write_private(tmp_path / "x.json", data)
    result = run("--database-url", seeded.url, "db", "undo", "x.json", "--yes")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert raw_rows(seeded.url) == seeded.before


def test_restore_refuses_a_backup_it_cannot_trust(seeded, run, tmp_path):
    backup = tmp_path / "undo.json"
    write_private(backup, b"{}")
    (tmp_path / "link.json").symlink_to(backup)
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "open.json").write_bytes(b"{}")
    (tmp_path / "open.json").chmod(0o644)
    theirs = write_private(tmp_path / "theirs.json", b"{}")
    os.chown(theirs, 65534, 65534)
    huge = write_private(tmp_path / "huge.json", b"")
    os.truncate(huge, 65 * 1024 * 1024)  # sparse: no disk used
    cases = {
        "link.json": "Error: backup file link.json is a symlink: refusing to read it\n",
        "fifo.json": "Error: backup file fifo.json is not a regular file\n",
        "open.json": "Error: backup file open.json is readable or writable by others (mode 0644); it must be 0600: "
                     "chmod 600 open.json\n",
        "theirs.json": "Error: backup file theirs.json is owned by another user: refusing to trust it\n",
        "huge.json": "Error: backup file huge.json is larger than 67108864 bytes\n",
    }
    for name, message in cases.items():
        result = run("--database-url", seeded.url, "db", "undo", name, "--yes")
        assert (result.exit_code, result.stderr) == (2, message), name
    assert raw_rows(seeded.url) == seeded.before


def test_a_full_disk_for_the_backup_is_one_line_and_rolls_back(seeded, run, tmp_path):
    """Before: ENOSPC while writing the backup was a traceback."""
    import subprocess

    disk = tmp_path / "tiny"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)  # fill it up to the last page
        try:
            while os.write(filler, b"x" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(filler)
        result = run("--database-url", seeded.url, "db", "apply-overrides", "--yes", "--backup", str(disk / "undo.json"))
        assert result.exit_code == 1
        assert result.stderr.splitlines()[-1] == (
            f"Error: cannot write {disk / 'undo.json'}: no space left on device; nothing was changed")
        assert raw_rows(seeded.url) == seeded.before
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)
