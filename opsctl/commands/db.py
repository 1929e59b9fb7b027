"""`opsctl db`: per-model timeout/retry overrides in LiteLLM's database.

Thin glue: planning and SQL live in opsctl.db.overrides and opsctl.db.undo,
imported inside the commands so `opsctl --help` does not load psycopg.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from opsctl.cli import pass_settings
from opsctl.output import confirm_write, emit_json, json_option, print_table, status, warn

policy_option = click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    help="Policy file (TOML). [default: the global --policy / OPSCTL_POLICY, else the packaged default]",
)


@click.group()
def db():
    """Apply and inspect the per-model timeout/retry policy in LiteLLM's database."""


def _policy(settings, policy_file):
    from opsctl.policy import load_policy

    return load_policy(policy_file or settings.policy_file)


def _value(value) -> str:
    # As JSON: a stored string "30" is shown quoted, it is not the number 30 (LiteLLM reads it as ciphertext).
    from opsctl.db.overrides import Unreadable

    if isinstance(value, Unreadable):
        return f"{value.text} (unreadable)"
    return "unset" if value is None else json.dumps(value)


def _arrow(current, new) -> str:
    return _value(current) if _value(current) == _value(new) else f"{_value(current)} -> {_value(new)}"


def _rule(rule) -> str:
    return f"{rule.pattern} ({rule.tier})"


def _policy_values(rule) -> str:
    return f"{rule['timeout']} s, {rule['num_retries']} {'retry' if rule['num_retries'] == 1 else 'retries'}"


def _show_plan(plan) -> None:
    if plan.changes:
        print_table(
            ["model_name", "model_id", "timeout", "num_retries", "rule"],
            [[a.model_name, a.model_id, _arrow(a.current_timeout, a.new_timeout),
              _arrow(a.current_num_retries, a.new_num_retries), _rule(a.rule)] for a in plan.changes],
            title="Deployments to change",
        )
    if plan.compliant:
        print_table(
            ["model_name", "model_id", "timeout", "num_retries", "rule"],
            [[a.model_name, a.model_id, _value(a.current_timeout), _value(a.current_num_retries), _rule(a.rule)]
             for a in plan.compliant],
            title="Already compliant",
        )
    if plan.uncovered:
        print_table(
            ["model_name", "model_id", "timeout", "num_retries"],
            [[d.model_name, d.model_id, _value(d.timeout), _value(d.num_retries)] for d in plan.uncovered],
            title="Not covered by any rule (left alone)",
        )
    if plan.not_objects:
        print_table(
            ["model_name", "model_id", "litellm_params"],
            [[d.model_name, d.model_id, f"a JSON {d.params_type}"] for d in plan.not_objects],
            title="litellm_params is not a JSON object (left alone)",
        )
    if plan.overlaps:
        print_table(
            ["model_name", "winning rule", "also matched"],
            [[o.model_name, _rule(o.winner), ", ".join(_rule(r) for r in o.rules[1:])] for o in plan.overlaps],
            title="Names matched by several rules",
        )


def _warn_unmatched(plan) -> None:
    from opsctl.db.overrides import Unreadable

    for rule in plan.unmatched_rules:
        warn(f"rule {rule.pattern!r} (tier {rule.tier}) matches no model in the database")
    for d in plan.not_objects:
        warn(f"deployment {d.model_name} ({d.model_id}): litellm_params is a JSON {d.params_type}, not an object; "
             "left alone (fix it in LiteLLM)")
    for a in plan.changes:
        for name, value in (("timeout", a.current_timeout), ("num_retries", a.current_num_retries)):
            if isinstance(value, Unreadable):
                warn(f"deployment {a.model_name} ({a.model_id}): {name} {value.text} is a number too large to "
                     "read; the policy value replaces it")


@db.command(name="apply-overrides")
@policy_option
@click.option("--dry-run", is_flag=True, help="Print the plan and write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Write without asking (needed when not interactive).")
@click.option(
    "--backup",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the before-images here. [default: ~/.local/state/opsctl/db-overrides-<time>.json]",
)
@json_option
@pass_settings
def db_apply_overrides(settings, policy_file, dry_run, yes, backup, as_json):
    """Set timeout and num_retries on LiteLLM's DB deployments from the policy.

    Plans first: deployments to change (current -> new), those already
    compliant, rules that match nothing (a warning), models no rule covers,
    and names several rules match (an exact name wins, then the pattern with
    more literal characters, then the earlier tier). One transaction; the
    before-images go to a 0600 file, and `opsctl db undo FILE` undoes it.
    A second run changes nothing.

    \b
    Examples:
      opsctl db apply-overrides --dry-run
      opsctl db apply-overrides --yes --json
      opsctl db apply-overrides --policy my-policy.toml --backup before.json
    """
    from opsctl.db.overrides import apply_plan, load_plan
    from opsctl.db.undo import check_backup_path, default_backup_path

    policy = _policy(settings, policy_file)
    database_url = settings.require_database_url()
    backup = backup or default_backup_path()
    if not dry_run:
        check_backup_path(backup)
    plan = load_plan(database_url, policy)
    if not as_json:
        _show_plan(plan)
    _warn_unmatched(plan)
    left = f", {len(plan.not_objects)} not a JSON object" if plan.not_objects else ""
    status(f"{len(plan.changes)} to change, {len(plan.compliant)} compliant, {len(plan.uncovered)} not covered{left}")

    result = None
    if plan.changes and not dry_run:
        confirm_write(yes, f"Update {len(plan.changes)} deployments?")
        result = apply_plan(database_url, plan, backup)
        if result.note:
            warn(result.note)
        status(f"Updated {result.updated} deployments. Undo: opsctl db undo {result.backup}")
    elif not plan.changes:
        status("Nothing to change.")
    else:
        status("Dry run: nothing was written.")

    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "applied": result.updated if result else 0,
                "backup": str(result.backup) if result else None,
                "plan": plan.to_json(),
            }
        )


@db.command(name="status")
@policy_option
@json_option
@pass_settings
def db_status(settings, policy_file, as_json):
    """List LiteLLM's DB deployments with timeout/num_retries and policy compliance.

    \b
    Examples:
      opsctl db status
      opsctl db status --json | jq '.[] | select(.status == "differs")'
    """
    from opsctl.db.overrides import load_plan, rule_json

    plan = load_plan(settings.require_database_url(), _policy(settings, policy_file))
    rows = [
        {**a.deployment.to_json(), "status": "differs", "rule": rule_json(a.rule)} for a in plan.changes
    ] + [
        {**a.deployment.to_json(), "status": "complies", "rule": rule_json(a.rule)} for a in plan.compliant
    ] + [{**d.to_json(), "status": "no rule", "rule": None} for d in plan.uncovered
    ] + [{**d.to_json(), "status": "not an object", "rule": None} for d in plan.not_objects]
    rows.sort(key=lambda row: (row["model_name"], row["model_id"]))
    if as_json:
        emit_json(rows)
        return
    print_table(
        ["model_name", "model_id", "timeout", "num_retries", "status", "policy"],
        [[r["model_name"], r["model_id"], _value(r["timeout"]), _value(r["num_retries"]), r["status"],
          _policy_values(r["rule"]) if r["rule"] else None] for r in rows],
    )


def _restore_value(text) -> str:
    from opsctl.db.overrides import stored_value

    return "unset" if text is None else _value(stored_value(text))


@db.command(name="undo")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would be restored, with the values, and write nothing.")
@click.option("--skip-edited", is_flag=True, help="Restore the other rows when some were edited after the apply.")
@click.option("--yes", "-y", is_flag=True, help="Write without asking (needed when not interactive).")
@json_option
@pass_settings
def db_undo(settings, backup, dry_run, skip_edited, yes, as_json):
    """Undo an apply-overrides run: put back the timeout and num_retries saved in BACKUP.

    Only those two keys are restored, only into rows that still hold what
    opsctl wrote, and only on the database the file was written for. If
    any row was edited since, nothing is changed (exit 7) unless
    --skip-edited, which restores the others and lists the ones skipped.
    BACKUP must be a regular file you own with mode 0600; a file whose
    apply never committed (a killed run) is void and refused.

    \b
    Examples:
      opsctl db undo ~/.local/state/opsctl/db-overrides-20261127T120000000000Z.json --dry-run
      opsctl db undo before.json --yes
      opsctl db undo before.json --skip-edited --yes
    """
    from opsctl.db.undo import apply_restore, load_restore_plan

    database_url = settings.require_database_url()
    source, plan = load_restore_plan(database_url, backup)
    if not as_json:
        groups = [("restore", plan.restore), ("already restored", plan.already),
                  ("skip: edited since the apply" if skip_edited else "edited since the apply", plan.modified),
                  ("deleted since the apply", plan.missing)]
        print_table(
            ["model_name", "model_id", "action", "timeout", "num_retries"],
            [[r.model_name, r.model_id, label,
              *(_arrow_text(r.current.get(key), r.restored[key], bool(r.current)) for key in ("timeout", "num_retries"))]
             for label, rows in groups for r in rows])
    for row in plan.missing:
        warn(f"deployment {row.model_name} ({row.model_id}) no longer exists; it cannot be restored")
    if skip_edited:
        for row in plan.modified:
            warn(f"deployment {row.model_name} ({row.model_id}) was edited after the apply: skipped")
    restored = 0
    if plan.modified and not (skip_edited or dry_run):
        apply_restore(database_url, source, plan)  # the one error for rows edited since the apply (exit 7)
    if plan.restore and not dry_run:
        confirm_write(yes, f"Restore {len(plan.restore)} deployments?")
        restored = apply_restore(database_url, source, plan, skip_edited=skip_edited)
        skipped = f"; skipped {len(plan.modified)} edited since the apply" if skip_edited and plan.modified else ""
        status(f"Restored {restored} deployments{skipped}.")
    elif not plan.restore:
        status("Nothing to restore.")
    else:
        status("Dry run: nothing was written.")
    if as_json:
        emit_json({"dry_run": dry_run, "restored": restored, "plan": plan.to_json()})


# The command's name before `opsctl backup restore` existed: it still works, unlisted, so
# "restore" in --help means one thing (a backup) and old scripts keep running.
db.add_command(click.Command(name="restore", callback=db_undo.callback, params=db_undo.params,
                             help=db_undo.help, hidden=True))


def _arrow_text(current, restored, exists: bool) -> str:
    if not exists:
        return f"-> {_restore_value(restored)}"
    now, then = _restore_value(current), _restore_value(restored)
    return now if now == then else f"{now} -> {then}"
