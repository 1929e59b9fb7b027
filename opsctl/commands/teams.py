"""`opsctl teams create|list|info`."""

import click

from opsctl.cli import pass_settings
from opsctl.output import emit_json, json_option, print_table, status
from opsctl.redact import visible


@click.group()
def teams():
    """Create and inspect teams (policy defaults mirrored from keys)."""


@teams.command(name="create")
@click.option("--team-id", help="A stable team id; re-running with an existing id reports it (exit 0).")
@click.option("--alias", help="Team alias (a display name; not unique).")
@click.option("--model", "models", multiple=True, help="Model the team may call (repeatable; default: all).")
@click.option("--max-budget", type=float, help="Budget in USD (none unless given or in the policy).")
@click.option("--budget-duration", help="Budget reset period: 30s, 15m, 12h, 30d, 2w, 1mo, daily, weekly, monthly.")
@click.option("--rpm", type=click.IntRange(min=0), help="Requests per minute. [default: from the policy file]")
@click.option("--tpm", type=click.IntRange(min=0), help="Tokens per minute. [default: from the policy file]")
@click.option("--metadata", multiple=True, metavar="K=V", help="Metadata entry (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show the request; create nothing.")
@json_option
@pass_settings
def teams_create(settings, team_id, dry_run, as_json, **options):
    """Create a team with the policy's team limits (rpm/tpm mirror the key defaults).

    \b
    Examples:
      opsctl teams create --team-id platform --alias "Platform" --dry-run
      opsctl teams create --team-id platform --alias "Platform" --max-budget 50 --budget-duration 30d
    """
    from opsctl.admin.key_rows import describe_limits, normalize, parse_metadata
    from opsctl.policy import load_policy
    from opsctl.admin.client import ProxyClient
    from opsctl.admin.teams import build_team_request, create_team

    try:
        options["metadata"] = parse_metadata(options["metadata"])
        given = normalize(options)  # the same checks as `keys create`
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    request = build_team_request(load_policy(settings.policy_file).team_defaults, given, team_id)
    with ProxyClient(settings) as proxy:
        result = create_team(proxy, request, dry_run=dry_run)
    if as_json:
        emit_json(result.public())
        return
    team = result.team
    limits = describe_limits(request)
    if result.status == "exists":
        status(f"team {team.get('team_id')!r} exists: nothing changed")
    elif result.status == "would-create":
        status(f"dry run: would create team {request.get('team_id') or '(id chosen by the proxy)'} with {limits}")
    else:
        status(f"created team {team.get('team_id')!r} with {limits}")
        click.echo(visible(team.get("team_id")))


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
