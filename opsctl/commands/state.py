"""`opsctl state export|diff|apply`: thin glue over opsctl.state."""

from pathlib import Path

import click

from opsctl.cli import pass_settings
from opsctl.errors import ExitCode, OpsctlError
from opsctl.output import ProgressBar, confirm_write, emit_json, json_option, print_table, status, warn

FILE = click.Path(dir_okay=False, path_type=Path)


@click.group()
def state():
    """Keep teams, virtual keys and DB models in a reviewed file: export, diff, apply."""


def _load(settings, path):
    from opsctl.policy import load_policy
    from opsctl.state.document import load_state

    policy = load_policy(settings.policy_file)
    return load_state(path, policy.key_defaults, policy.team_defaults)


def _fetch(settings):
    from opsctl.admin.client import ProxyClient
    from opsctl.state.live import fetch

    with ProxyClient(settings) as proxy:
        return fetch(proxy)


def _plan(settings, path, prune, prune_unmanaged):
    import hashlib

    from opsctl.state.diff import build_plan

    desired = _load(settings, path)  # a bad file fails before any request
    live = _fetch(settings)
    master = hashlib.sha256(settings.require_master_key().encode()).hexdigest()
    return live, build_plan(desired, live, prune=prune, prune_unmanaged=prune_unmanaged, master_token=master)


def _cell(value):
    import json

    from opsctl.state.diff import ABSENT, shown

    if value is ABSENT:
        return "(absent)"
    value = shown(value)
    return value if isinstance(value, str) else json.dumps(value)


def _show_plan(plan):
    rows = []
    for change in plan.changes:
        if change.action == "unchanged":
            continue
        head = [change.kind[:-1], _cell(change.name), change.action]
        if not change.fields:
            rows.append([*head, change.reason, None, None])
        for index, item in enumerate(change.fields):
            rows.append([*(head if index == 0 else ["", "", ""]), item.field, _cell(item.live), _cell(item.desired)])
    if rows:
        print_table(["kind", "name", "action", "field", "live", "desired"], rows)


def _report(plan):
    for note in plan.notes:
        status(f"Note: {note}")
    status(plan.summary() or "nothing on either side")


@state.command(name="export")
@click.option("-o", "--output", type=FILE, help="Write the file here (atomically, mode 0600) instead of stdout.")
@json_option
@pass_settings
def state_export(settings, output, as_json):
    """Write the live gateway as a state file: teams, keys by alias, DB models.

    Stable order, limits always written, secrets only as os.environ/
    references: applying the export to an empty gateway and diffing again
    shows no difference. What the admin API cannot show (keys without an
    alias, the secrets of models opsctl did not apply) is reported on stderr,
    never guessed. --json writes the same document as JSON.

    \b
    Examples:
      opsctl state export -o gateway.yaml
      opsctl state export --json | jq '.keys | length'
    """
    from opsctl.files import write_atomic
    from opsctl.state.document import render
    from opsctl.state.export import export_document

    document, warnings = export_document(_fetch(settings))
    for warning in warnings:
        warn(warning)
    text = render(document, as_json=as_json)
    if output is None:
        click.echo(text, nl=False)
        return
    write_atomic(output, text, 0o600, what="the state file")
    status(f"wrote {len(document['teams'])} team(s), {len(document['keys'])} key(s), {len(document['models'])} model(s) to {output}")


@state.command(name="diff")
@click.argument("file", type=FILE)
@json_option
@pass_settings
@click.pass_context
def state_diff(ctx, settings, file, as_json):
    """Show what differs between FILE and the gateway, object by object and field by field.

    Compares as `apply --prune` would: an object opsctl manages that the
    file no longer names is a difference; objects opsctl does not manage are
    listed, not counted. Exit 0 when in sync, 1 when not (a CI drift gate).

    \b
    Examples:
      opsctl state diff gateway.yaml
      opsctl state diff gateway.yaml --json | jq '.objects[] | select(.action != "unchanged")'
    """
    _live, plan = _plan(settings, file, prune=True, prune_unmanaged=False)
    if as_json:
        emit_json(plan.to_json())
    else:
        _show_plan(plan)
    _report(plan)
    status("in sync" if plan.in_sync else f"differs from {file}")
    ctx.exit(0 if plan.in_sync else 1)


@state.command(name="apply")
@click.argument("file", type=FILE)
@click.option("--dry-run", is_flag=True, help="Show the plan; write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Write without asking (needed when not interactive).")
@click.option("--prune", is_flag=True, help="Delete objects opsctl manages that FILE no longer names.")
@click.option("--prune-unmanaged", is_flag=True, help="Also delete objects opsctl does not manage (implies --prune).")
@click.option("--keys-output", type=FILE, help="Write new keys here: CSV alias,key,token_id, mode 0600, must not exist. "
                                              "Needed when the plan creates keys.")
@click.option("--backup", type=FILE, help="Save the before-state here. [default: ~/.local/state/opsctl/state-before-<time>.yaml]")
@json_option
@pass_settings
def state_apply(settings, file, dry_run, yes, prune, prune_unmanaged, keys_output, backup, as_json):
    """Make the gateway match FILE: plan, confirm, then only the writes that differ.

    Creates teams, then models, then keys; updates only the fields that
    differ; deletes nothing unless --prune, and then only objects opsctl
    marked as managed (unless --prune-unmanaged). A second apply changes
    nothing. A failure stops the run and says what was done; running the
    same command again completes it. The before-state is saved first;
    `opsctl state apply BACKUP --prune` undoes the run (a deleted key comes
    back as a new key).

    \b
    Examples:
      opsctl state apply gateway.yaml --dry-run
      opsctl state apply gateway.yaml --keys-output new-keys.csv --yes
      opsctl state apply gateway.yaml --prune --yes --json
    """
    from opsctl.files import write_atomic
    from opsctl.state.apply import apply_plan, before_state, check_new_file, default_backup_path

    live, plan = _plan(settings, file, prune=prune, prune_unmanaged=prune_unmanaged)
    if not as_json:
        _show_plan(plan)
    _report(plan)
    writes = plan.writes
    report = {"dry_run": dry_run, "plan": plan.to_json(), "backup": None, "result": None}
    if not writes or dry_run:
        status("Nothing to change." if not writes else "Dry run: nothing was written.")
        if as_json:
            emit_json(report)
        return

    new_keys = sum(change.kind == "keys" and change.action == "create" for change in writes)
    if new_keys and keys_output is None:
        raise OpsctlError(f"the plan creates {new_keys} key(s): give --keys-output FILE for their plaintext; "
                          "nothing was changed", ExitCode.USAGE)
    if keys_output is not None:
        check_new_file(keys_output, "keys file")
    backup = backup or default_backup_path()
    check_new_file(backup, "backup file")
    from opsctl.admin.client import display_url

    deletes = sum(change.action == "delete" for change in writes)
    confirm_write(yes, f"Apply {len(writes)} change(s){f' ({deletes} deletes)' if deletes else ''} to {display_url(settings.proxy_url)}?")

    text, warnings = before_state(live, plan)
    for warning in warnings:
        warn(f"before-state: {warning}")
    write_atomic(backup, text, 0o600, exclusive=True, what="the before-state")
    report["backup"] = str(backup)
    progress = ProgressBar.for_terminal(len(writes), "apply")
    try:
        result = apply_plan(settings, plan, keys_output, on_progress=progress.advance if progress else lambda _outcome: None)
    finally:
        if progress:
            progress.stop()
    report["result"] = result.to_json()
    if as_json:
        emit_json(report)
    done = f"{result.count('done')} of {len(writes)} change(s) done"
    if result.keys_written:
        status(f"{result.keys_written} new key(s) written to {keys_output}")
    status(f"undo: opsctl state apply {backup} --prune")
    if result.failed:
        first = result.failed[0]
        raise OpsctlError(f"{first.change.label}: {first.error}; {done}, {len(result.failed)} failed, "
                          f"{result.count('not-attempted')} not attempted; run the same command again to complete it",
                          result.exit_code)
    status(f"applied: {done}")

