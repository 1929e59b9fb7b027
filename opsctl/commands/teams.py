"""`opsctl teams create|update|restore|list|info`."""

import click

from opsctl.cli import pass_settings
from opsctl.commands.updating import drift_line, field_options, restore_command, run_updates, undo_option
from opsctl.output import emit_json, json_option, print_table, status
from opsctl.redact import visible


@click.group()
def teams():
    """Create and inspect teams (policy defaults mirrored from keys)."""


_field_options = field_options(click.option("--alias", help="Team alias (a display name; not unique)."))


def _request(settings, team_id, options):
    """The /team/new body: the policy's team defaults, then the options (checked as `keys create` checks them)."""
    from opsctl.admin.key_rows import normalize, parse_metadata
    from opsctl.admin.teams import build_team_request
    from opsctl.policy import load_policy

    try:
        options["metadata"] = parse_metadata(options["metadata"])
        given = normalize(options)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return build_team_request(load_policy(settings.policy_file).team_defaults, given, team_id)


@teams.command(name="create")
@click.option("--team-id", help="A stable team id; re-running with an existing id reports it and its drift (exit 0).")
@_field_options
@click.option("--dry-run", is_flag=True, help="Show the request; create nothing.")
@json_option
@pass_settings
def teams_create(settings, team_id, dry_run, as_json, **options):
    """Create a team with the policy's team limits (rpm/tpm mirror the key defaults).

    \b
    Examples:
      opsctl teams create --team-id platform --alias "Platform" --dry-run
      opsctl teams create --team-id platform --alias "Platform" --max-budget 50 --budget-duration 30d

    A team that exists and differs from what was asked (rpm, tpm, budget,
    models, alias, metadata) has its drift shown (`drift` in --json), never
    written: `opsctl teams update` writes it.
    """
    from opsctl.admin.key_rows import describe_limits
    from opsctl.admin.client import ProxyClient
    from opsctl.admin.teams import create_team

    request = _request(settings, team_id, options)
    with ProxyClient(settings) as proxy:
        result = create_team(proxy, request, dry_run=dry_run)
    if as_json:
        emit_json(result.public())
        return
    team = result.team
    limits = describe_limits(request)
    if result.status == "exists":
        status(f"team {team.get('team_id')!r} exists: nothing changed")
        if result.drift:
            status(drift_line(f"team {team.get('team_id')!r}", result.drift, "opsctl teams update with the same options writes it"))
    elif result.status == "would-create":
        status(f"dry run: would create team {request.get('team_id') or '(id chosen by the proxy)'} with {limits}")
    else:
        status(f"created team {team.get('team_id')!r} with {limits}")
        click.echo(visible(team.get("team_id")))


@teams.command(name="update")
@click.option("--team-id", required=True, help="The team to update.")
@_field_options
@click.option("--dry-run", is_flag=True, help="Show what differs; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@undo_option
@json_option
@pass_settings
def teams_update(settings, team_id, dry_run, yes, undo_file, as_json, **options):
    """Make a team hold what was asked: write only the fields that differ.

    What is asked is what `teams create` would send (the options over the
    policy's team defaults); a field neither given nor in the policy is left
    as it is. Shows the plan, asks first unless --yes, saves the
    before-values (`opsctl teams restore FILE` puts them back). A second
    run has nothing to do.

    \b
    Examples:
      opsctl teams update --team-id platform --max-budget 80 --dry-run
      opsctl teams update --team-id platform --max-budget 80 --yes
    """
    from opsctl.admin.client import ProxyClient
    from opsctl.admin.updates import plan_team

    request = _request(settings, team_id, options)
    with ProxyClient(settings) as proxy:
        update = plan_team(proxy, request)
    run_updates(settings, "team", [update], dry_run=dry_run, yes=yes, as_json=as_json, undo_file=undo_file)


teams_restore = restore_command(teams, "team")


@teams.command(name="list")
@json_option
@pass_settings
def teams_list(settings, as_json):
    """List teams with their limits and how many keys they hold.

    \b
    Example:
      opsctl teams list --json | jq -r '.[].team_id'
    """
    from opsctl.admin.client import ProxyClient
    from opsctl.admin.teams import list_teams

    with ProxyClient(settings) as proxy:
        rows = list_teams(proxy)
    if as_json:
        emit_json(rows)
        return
    print_table(
        ["team id", "alias", "rpm", "tpm", "max budget", "models", "keys"],
        [[r["team_id"], r["team_alias"], r["rpm_limit"], r["tpm_limit"], r["max_budget"],
          ",".join(r["models"] or []) or "all", r["keys"]] for r in rows],
    )


@teams.command(name="info")
@click.argument("team_id")
@json_option
@pass_settings
def teams_info(settings, team_id, as_json):
    """Show one team and its keys (by alias and hash).

    \b
    Example:
      opsctl teams info platform --json
    """
    from opsctl.admin.client import ProxyClient
    from opsctl.admin.teams import team_info

    with ProxyClient(settings) as proxy:
        row = team_info(proxy, team_id)
    if as_json:
        emit_json(row)
        return
    keys = row.pop("keys")
    print_table(["field", "value"], [[name, value] for name, value in row.items()])
    print_table(["alias", "token"], [[k["key_alias"], f"{(k['token'] or '')[:12]}…"] for k in keys], title="keys")
