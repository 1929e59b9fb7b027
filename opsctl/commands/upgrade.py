"""`opsctl upgrade`: move the compose stack to another LiteLLM version. Thin glue over opsctl.upgrade."""

from __future__ import annotations

from pathlib import Path

import click

from opsctl.cli import pass_settings
from opsctl.output import confirm_write, emit_json, json_option, print_table, status as say


def _show(preflight, facts) -> None:
    say(f"image: {preflight.current_image} -> {preflight.target_image}"
        + ("" if preflight.image_changes else " (the same)"))
    say(f"target carries litellm {facts.litellm}, litellm-proxy-extras {facts.litellm_proxy_extras}, "
        f"{len(facts.migrations)} migrations; {len(preflight.applied)} applied, {len(preflight.to_apply)} to apply")
    if preflight.to_apply:
        print_table(["migration to apply"], [[name] for name in preflight.to_apply])
    say(f"disk: {preflight.free_bytes / 1e6:.0f} MB free for the backup, database {preflight.database_bytes / 1e6:.0f} MB")
    for reason in preflight.blocking:
        say(f"BLOCKED: {reason}")


@click.command(name="upgrade")
@click.option("--to", "version", metavar="VERSION",
              help="LiteLLM version: the image ghcr.io/berriai/litellm-database:main-vVERSION.")
@click.option("--image", metavar="REF", help="Upgrade to this image instead (a mirror, a local build).")
@click.option("--check", is_flag=True, help="List what would change and exit: 0 nothing, 1 changes.")
@click.option("--dry-run", is_flag=True, help="Run the preflight and show the steps; write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Upgrade without asking (needed when not interactive).")
@click.option("--backup", "backup_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Where the backup goes. [default: ~/.local/state/opsctl/backups/litellm-backup-<UTC>.tar]")
@click.option("--timeout", default=600.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds the migrate run, and each wait for the proxy's readiness, may take.")
@json_option
@pass_settings
def upgrade(settings, version, image, check, dry_run, yes, backup_file, timeout, as_json):
    """Upgrade the compose stack's LiteLLM: preflight, backup, pin the image in
    .env, run the migrate service once, restart the proxy, smoke-test it.

    The preflight compares the migrations the target image carries with
    Prisma's ledger (_prisma_migrations): a failed, half-applied or
    rolled-back migration, a downgrade, or too little disk for the backup
    blocks (exit 7) before anything is written. When a later step fails, the
    old image goes back in .env, the database is restored from the backup if
    the schema moved, and the proxy is restarted on the old image (exit 1);
    if that rollback fails too, exit 10. DATABASE_URL must reach the stack's
    Postgres from this host.

    \b
    Examples:
      opsctl upgrade --to 1.109.0 --check
      opsctl upgrade --to 1.109.0 --dry-run
      opsctl upgrade --to 1.109.0 --yes --json
      opsctl upgrade --image registry.example/litellm-database:1.109.0 --yes
    """
    from opsctl.backup.archive import default_path
    from opsctl.errors import ExitCode, OpsctlError
    from opsctl.stack.compose import compose_command
    from opsctl.upgrade.run import Report, preflight, upgrade as run_upgrade
    from opsctl.upgrade.target import image_for

    if check and dry_run:
        raise click.UsageError("--check and --dry-run exclude each other")
    target = image_for(version, image)
    database_url = settings.require_database_url()
    compose_command()
    backup_path = backup_file or default_path()
    say(f"preflight: {target} ...")
    plan, facts = preflight(settings, database_url, target, backup_path.parent)
    report = Report(plan, facts)
    if not as_json:
        _show(plan, facts)
    if plan.blocked or check or dry_run or not plan.changes:
        if as_json:
            emit_json(report.to_json())
        if plan.blocked:
            raise OpsctlError(f"the upgrade is blocked: {plan.blocking[0]}", ExitCode.CONFLICT)
        if not plan.changes:
            say("nothing to upgrade")
            return
        if check:
            raise OpsctlError(f"the upgrade to {target} would change the stack", ExitCode.FAILED)
        say("dry run: would back up, pin, migrate, restart and smoke-test; nothing was written")
        return
    confirm_write(yes, f"Upgrade {plan.current_image} -> {target} ({len(plan.to_apply)} migrations to apply)?")
    try:
        run_upgrade(settings, database_url, report, backup_path, timeout)
    finally:
        if as_json:
            emit_json(report.to_json())
    say(f"upgraded to {target} (backup {report.backup})")
