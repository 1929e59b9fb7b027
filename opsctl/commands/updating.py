"""The glue `keys` and `teams` share: the field options of create/update, and for
update/restore showing the plan, dry run, confirmation, the undo file, the write
(logic in opsctl.admin.updates)."""

import click

from opsctl.output import confirm_write, emit_json, status, warn


def field_options(first):
    """The fields `create` and `update` take, after `first` (keys: --team, teams: --alias)."""
    def decorate(func):
        for option in reversed((
            first,
            click.option("--model", "models", multiple=True, help="Model it may call (repeatable; default: all)."),
            click.option("--max-budget", type=float, help="Budget in USD (none unless given or in the policy)."),
            click.option("--budget-duration", help="Budget reset period: 30s, 15m, 12h, 30d, 2w, 1mo, daily, weekly, monthly."),
            click.option("--metadata", multiple=True, metavar="K=V", help="Metadata entry (repeatable)."),
            click.option("--rpm", type=click.IntRange(min=0), help="Requests per minute. [default: from the policy file]"),
            click.option("--tpm", type=click.IntRange(min=0), help="Tokens per minute. [default: from the policy file]"),
        )):
            func = option(func)
        return func
    return decorate


def drift_line(noun, changes, hint):
    """The status line of an object that exists and differs from what was asked (nothing written)."""
    from opsctl.admin.drift import describe

    return f"{noun} differs from what was asked (live -> asked): {describe(changes)}; nothing was written ({hint})"


def undo_option(func):
    return click.option("--undo-file", type=click.Path(dir_okay=False), help=(
        "Save the before-values here (0600, must not exist). "
        "[default: ~/.local/state/opsctl/<keys|teams>-update-<time>.json]"))(func)


def run_updates(settings, kind, updates, *, dry_run, yes, as_json, undo_file=None, missing=(), restoring=False):
    """Plan on stderr (or --json), then write only the drifted fields; an undo file first unless restoring."""
    from pathlib import Path

    from opsctl.admin.client import ProxyClient, display_url
    from opsctl.admin.drift import describe
    from opsctl.admin.updates import apply_updates, write_undo
    from opsctl.errors import ExitCode, OpsctlError
    from opsctl.files import check_new_file, undo_path

    writes = [u for u in updates if u.changes]
    report = {"dry_run": dry_run, "objects": [u.to_json() for u in updates], "missing": list(missing),
              "undo": None, "updated": 0}
    for update in updates:
        status(f"{update.label}: {describe(update.changes) if update.changes else 'nothing to do'}")
    for name in missing:
        warn(f"no {kind} with alias {name!r}")
    if missing:  # refuse before any write: a half-applied file is harder to reason about than none
        raise OpsctlError(f"{len(missing)} {kind}(s) do not exist: create them first (opsctl {kind}s create); "
                          "nothing was changed", ExitCode.FAILED)
    if not writes or dry_run:
        status(f"nothing to do: every {kind} holds what was asked" if not writes else "dry run: nothing was written")
        if as_json:
            emit_json(report)
        return
    undo = None
    if not restoring:
        undo = Path(undo_file) if undo_file else undo_path(f"{kind}s-update", ".json")
        check_new_file(undo, "undo file")
    verb = "Restore" if restoring else "Update"
    confirm_write(yes, f"{verb} {len(writes)} {kind}(s) on {display_url(settings.proxy_url)}?")
    if undo is not None:
        write_undo(undo, settings, updates)
        report["undo"] = str(undo)
    with ProxyClient(settings) as proxy:
        report["updated"] = apply_updates(proxy, updates)
    if as_json:
        emit_json(report)
    status(f"{'restored' if restoring else 'updated'} {report['updated']} {kind}(s)"
           + (f"; undo: opsctl {kind}s restore {undo}" if undo else ""))


RESTORE_HELP = """Put back the values a `{kind}s update` saved in UNDO_FILE.

    Only into {kind}s that still hold what the update wrote: a {kind} edited
    since is refused (exit 7) and nothing is restored. Restoring twice has
    nothing to do the second time.

    \b
    Example:
      opsctl {kind}s restore ~/.local/state/opsctl/{kind}s-update-20260101T120000000000Z.json --yes
    """


def restore_command(group, kind):
    """`keys restore` / `teams restore`: the undo of an update, planned like one."""
    from opsctl.cli import pass_settings
    from opsctl.output import json_option

    @group.command(name="restore", help=RESTORE_HELP.format(kind=kind))
    @click.argument("undo_file", type=click.Path(dir_okay=False))
    @click.option("--dry-run", is_flag=True, help="Show what would be put back; change nothing.")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @json_option
    @pass_settings
    def restore(settings, undo_file, dry_run, yes, as_json):
        from pathlib import Path

        from opsctl.admin.client import ProxyClient
        from opsctl.admin.updates import load_undo, plan_restore

        objects = load_undo(Path(undo_file), kind)
        with ProxyClient(settings) as proxy:
            updates = plan_restore(proxy, kind, objects)
        run_updates(settings, kind, updates, dry_run=dry_run, yes=yes, as_json=as_json, restoring=True)

    return restore
