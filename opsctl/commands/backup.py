"""`opsctl backup`: archive the gateway (database, stack files, .env), verify, list, restore.

Thin glue over opsctl.backup; psycopg is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from opsctl.cli import pass_settings
from opsctl.output import confirm_write, emit_json, json_option, print_table, status as say

DEFAULT_LITELLM_IMAGE = "ghcr.io/berriai/litellm-database:main-v1.108.7"  # the template's default


@click.group()
def backup():
    """Back up and restore the whole gateway: LiteLLM's database and the stack.

    \b
    Examples:
      opsctl backup create && opsctl backup list
      opsctl backup verify FILE
    """


def _stack(settings) -> tuple[Path | None, str | None]:
    """The stack directory when it holds the compose file, and the LiteLLM image it runs."""
    from dotenv import dotenv_values

    if not settings.compose_path.is_file():
        return None, None
    env_file = Path(settings.stack_dir) / ".env"
    image = dotenv_values(env_file).get("LITELLM_IMAGE") if env_file.is_file() else None
    return Path(settings.stack_dir), image or DEFAULT_LITELLM_IMAGE


def _summary(manifest: dict) -> str:
    counts = manifest.get("row_counts") or {}
    keys, models = counts.get("LiteLLM_VerificationToken", 0), counts.get("LiteLLM_ProxyModelTable", 0)
    return f"{keys} keys, {counts.get('LiteLLM_TeamTable', 0)} teams, {models} DB models"


@backup.command(name="create")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Archive path. [default: ~/.local/state/opsctl/backups/litellm-backup-<UTC>.tar]")
@click.option("--no-stack", is_flag=True, help="Only the database: leave out the stack files and .env.")
@json_option
@pass_settings
def backup_create(settings, output, no_stack, as_json):
    """Write one archive of the gateway: a pg_dump of LiteLLM's database, the stack
    files and .env, and a manifest (versions, checksums, row counts).

    The archive holds secrets (.env: the salt key must travel with the dump, or
    every stored credential is lost): it is written mode 0600, atomically, and
    never over an existing file.

    \b
    Examples:
      opsctl backup create
      opsctl backup create -o /srv/backups/gw.tar --json
    """
    from opsctl.backup.archive import default_path
    from opsctl.backup.create import create_backup
    from opsctl.stack.compose import Compose

    stack_dir, image = (None, None) if no_stack else _stack(settings)
    container = Compose(settings).argv("exec", "-T", "postgres") if stack_dir else None
    target = output or default_path()
    say(f"backing up {'the database and ' + str(stack_dir) if stack_dir else 'the database'} ...")
    created = create_backup(settings.require_database_url(), target, stack_dir, image, container)
    if as_json:
        emit_json({"path": str(created.path), "manifest": created.manifest})
    else:
        click.echo(str(created.path))
    say(f"wrote {created.path} ({_summary(created.manifest)}; holds secrets: keep it 0600)")


@backup.command(name="verify")
@click.argument("archive_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def backup_verify(archive_file, as_json):
    """Check an archive: its manifest, every member's checksum, and that pg_restore
    can read the dump. Exit 1 when anything is wrong.

    \b
    Examples:
      opsctl backup verify ~/.local/state/opsctl/backups/litellm-backup-20261201T100000Z.tar
    """
    import tempfile

    from opsctl.backup.verify import verify_with_dump_check
    from opsctl.errors import ExitCode, OpsctlError

    scratch = Path(tempfile.mkdtemp(prefix="opsctl-verify-"))
    result = verify_with_dump_check(archive_file, scratch)
    if as_json:
        emit_json({"path": str(archive_file), "ok": result.ok, "problems": result.problems,
                   "dump_entries": result.dump_entries, "manifest": result.manifest})
    if not result.ok:
        raise OpsctlError(f"{archive_file}: {'; '.join(result.problems)}", ExitCode.FAILED)
    say(f"{archive_file}: ok ({len(result.manifest['files'])} members, {result.dump_entries} dump entries, "
        f"{_summary(result.manifest)})")


@backup.command(name="list")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Where to look. [default: ~/.local/state/opsctl/backups]")
@json_option
def backup_list(directory, as_json):
    """List the archives in the backup directory, newest first.

    \b
    Examples:
      opsctl backup list
      opsctl backup list --json | jq -r '.[0].path'
    """
    from opsctl.backup.archive import default_directory, read_manifest
    from opsctl.errors import OpsctlError

    directory = directory or default_directory()
    rows = []
    for path in sorted(directory.glob("*.tar"), reverse=True) if directory.is_dir() else []:
        try:
            manifest = read_manifest(path)
            rows.append({"path": str(path), "created_at": manifest.get("created_at"),
                         "size": path.stat().st_size, "litellm_image": manifest.get("litellm_image"),
                         "row_counts": manifest.get("row_counts"), "problem": None})
        except OpsctlError as error:
            rows.append({"path": str(path), "created_at": None, "size": path.stat().st_size,
                         "litellm_image": None, "row_counts": None, "problem": error.message})
    if as_json:
        emit_json(rows)
    elif not rows:
        say(f"no backups in {directory}")
    else:
        print_table(["archive", "created", "size", "litellm image", "contents"],
                    [[Path(r["path"]).name, r["created_at"], f"{r['size'] / 1e6:.1f} MB", r["litellm_image"],
                      r["problem"] or _summary({"row_counts": r["row_counts"]})] for r in rows],
                    title=str(directory))


@backup.command(name="restore")
@click.argument("archive_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Restore into a database or DIR that is not empty (replaces what the backup holds).")
@click.option("--check-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="With DIR: a file (0600) holding a virtual key from before the backup, checked against the restored proxy.")
@click.option("--timeout", default=900.0, show_default=True, type=click.FloatRange(min=0),
              help="With DIR: seconds to wait for Postgres, then for the whole stack.")
@click.option("--dry-run", is_flag=True, help="With DIR: say what would be written and started; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_settings
def backup_restore(settings, archive_file, directory, force, check_key_file, timeout, dry_run, yes, as_json):
    """Restore an archive: the whole stack into DIR, or only its database into
    DATABASE_URL (--database-url) when no DIR is given. The target must be empty
    unless --force. The archive is verified first; pg_restore runs in one
    transaction; the restored row counts must match the manifest.

    With DIR (empty or absent): the stack files and .env are written there
    (.env 0600), Postgres is started alone and the dump restored into it through
    the host-side URL the restored .env names, then the stack comes up, and the
    check that it serves: readiness with the database connected, every stored
    encrypted value decrypting with the restored salt key, and the key of
    --check-key-file answering (skipped without it). Exit 1 when a check fails.

    Without DIR it needs no container engine: the path for gateways not run by
    the reference stack.

    \b
    Examples:
      opsctl backup restore gw.tar /srv/gateway --check-key-file ~/key --yes
      opsctl backup restore gw.tar /srv/gateway --dry-run
      opsctl --database-url postgresql://litellm@db:5432/litellm_new backup restore gw.tar
    """
    if directory is not None:
        return _restore_stack(settings, archive_file, directory, force, check_key_file, timeout, dry_run, yes, as_json)
    if dry_run or check_key_file:
        raise click.UsageError("--dry-run and --check-key-file need DIR (a stack restore)")
    from opsctl.backup.restore import check_target, restore_database
    from opsctl.db.connection import describe_url

    database_url = settings.require_database_url()
    check_target(database_url, force)
    confirm_write(yes, f"Restore {archive_file} into {describe_url(database_url)}?")
    restored = restore_database(archive_file, database_url, force)
    if as_json:
        emit_json({"target": restored.target, "row_counts": restored.row_counts})
    say(f"restored {archive_file} into {restored.target} ({_summary({'row_counts': restored.row_counts})})")


def _restore_stack(settings, archive_file, directory, force, check_key_file, timeout, dry_run, yes, as_json):
    from opsctl.backup import stackrestore
    from opsctl.errors import ExitCode, OpsctlError

    stackrestore.check_directory(directory, force)
    key = stackrestore.read_check_key(check_key_file) if check_key_file else None
    restore = stackrestore.load(archive_file, directory)
    target = stackrestore.stack_settings(settings, restore)
    if dry_run:
        restore.steps += stackrestore.planned_steps(target, restore, key)
    else:
        confirm_write(yes, f"Restore {archive_file} into {directory} and start the stack?")
        try:
            stackrestore.run(target, restore, archive_file, force, key, timeout, progress=say)
        except OpsctlError:
            if as_json:  # the steps done and the one that failed, before the one-line error
                emit_json({**restore.to_json(), "dry_run": False})
            raise
    if as_json:
        emit_json({**restore.to_json(), "dry_run": dry_run})
    for step in restore.steps:
        say(f"{step.name}: {step.status}" + (f" ({step.detail})" if step.detail else ""))
    if dry_run:
        say("Dry run: nothing was written or started.")
    elif not restore.ok:
        failed = [s.name for s in restore.steps if s.status == "failed"]
        raise OpsctlError(f"restored into {directory}, but {', '.join(failed)} failed", ExitCode.FAILED)
    else:
        say(f"restored {archive_file} into {directory}: serving ({_summary({'row_counts': restore.row_counts})})")
