"""`opsctl keys create|update|restore|list|info|revoke`."""

import click

from opsctl.cli import pass_settings
from opsctl.errors import OpsctlError
from opsctl.commands.updating import drift_line, field_options, restore_command, run_updates, undo_option
from opsctl.output import ProgressBar, confirm_write, emit_json, json_option, print_table, status, warn


@click.group()
def keys():
    """Mint, list, inspect and revoke virtual keys (policy defaults applied)."""


def _short(token):
    return f"{token[:12]}…" if token else None


_field_options = field_options(click.option("--team", help="Team id the key belongs to (must exist)."))


def _requests(settings, options, from_file):
    """(where, /key/generate-style request) per key: the options, or each row of FILE over them."""
    from opsctl.admin.key_rows import build_request, load_rows, normalize, parse_metadata
    from opsctl.policy import load_policy

    if from_file and options.get("alias"):
        raise click.UsageError("--alias names one key; with --from, every row has its own alias")
    try:
        options["metadata"] = parse_metadata(options["metadata"])
        given = normalize(options)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    defaults = load_policy(settings.policy_file).key_defaults
    rows = [(where, {**given, **row}) for where, row in load_rows(from_file)] if from_file else [("options", given)]
    return [(where, build_request(defaults, row)) for where, row in rows]


@keys.command(name="create")
@click.option("--alias", help="Key alias; an alias that exists is skipped, its drift shown (see --rotate).")
@_field_options
@click.option("--duration", help="Key lifetime, e.g. 30d or 1mo (default: no expiry).")
@click.option("--from", "from_file", type=click.Path(dir_okay=False), help="Create one key per row of a CSV or YAML file.")
@click.option("--output", type=click.Path(dir_okay=False), help="Append alias,key,token_id to this CSV file (mode 0600) instead of printing keys.")
@click.option("--rotate", is_flag=True, help="Revoke an existing key with the same alias and mint a new one.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=16, show_default=True, help="Requests in flight for --from.")
@click.option("--dry-run", is_flag=True, help="Show what would be created; change nothing.")
@json_option
@pass_settings
def keys_create(settings, from_file, output, rotate, concurrency, dry_run, as_json, **options):
    """Create a key with the policy's rate limits, or one per row of --from FILE.

    The plaintext key is printed once on stdout (or only written to
    --output). Re-running is safe: aliases that exist are skipped, and a
    bulk run that partly failed is completed by running it again. Options
    given with --from are defaults for every row; row values win. A key
    that exists and differs from what was asked (rpm, tpm, budget, models,
    team, metadata) has its drift shown (`drift` in --json), never
    written: `opsctl keys update` writes it.

    \b
    Examples:
      opsctl keys create --alias ci-bot --team platform --model chat-default
      opsctl keys create --alias ci-bot --rotate --output ci-bot.csv
      opsctl keys create --from keys.csv --output minted.csv --json
    \b
    keys.csv:  alias,team,models,rpm,tpm,metadata
               alice,platform,chat-default;embeddings-default,60,,owner=alice
    """
    from opsctl.admin import keys as keys_lib

    specs = [keys_lib.KeySpec(where, request) for where, request in _requests(settings, options, from_file)]
    bulk = from_file is not None

    key_file = keys_lib.KeyFile(output) if output and not dry_run else None
    progress = ProgressBar.for_terminal(len(specs), "keys") if bulk else None
    try:
        def on_result(result):
            if key_file and result.key:
                key_file.write(result)
            if progress:
                progress.advance()

        results = keys_lib.create_keys(
            settings, specs, rotate=rotate, dry_run=dry_run, concurrency=concurrency, on_result=on_result
        )
    finally:
        if progress:
            progress.stop()
        if key_file:
            key_file.close()

    show_keys = key_file is None
    if as_json:
        emit_json([{**r.public(), **({"key": r.key} if show_keys and r.key else {})} for r in results])
    elif bulk:
        from opsctl.admin.drift import describe

        drifted = any(r.drift for r in results)
        print_table(
            ["where", "alias", "status", "token", *(["key"] if show_keys else []), *(["drift (live -> asked)"] if drifted else []), "error"],
            [[r.where, r.alias, r.status, _short(r.token_id), *([r.key] if show_keys else []),
              *([describe(r.drift or [])] if drifted else []), r.error] for r in results],
        )
    else:
        _report_single(results[0], specs[0].request, show_keys, output)
    failed = [r for r in results if not r.ok]
    if failed:
        if bulk:
            unknown = sum(r.status == "unknown" for r in failed)
            maybe = f" ({unknown} marked unknown may exist already without their key: see their error)" if unknown else ""
            raise OpsctlError(f"{len(failed)} of {len(results)} rows failed; run the same command again to complete them{maybe}")
        raise OpsctlError(failed[0].error, failed[0].exit_code)
    if bulk:
        counts = {}
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        written = sum(1 for r in results if r.key)
        drifted = sum(1 for r in results if r.drift)
        if drifted:
            warn(f"{drifted} existing key(s) differ from {from_file} (see drift); nothing was written to them: "
                 f"opsctl keys update --from {from_file} writes it")
        status(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + (f"; {written} key(s) appended to {output}" if key_file and written else ""))


def _report_single(result, request, show_keys, output):
    from opsctl.admin.key_rows import describe_limits

    limits = describe_limits(request)
    name = f"key {result.alias!r}" if result.alias else "key"
    if result.status == "exists":
        status(f"{name} exists (token {_short(result.token_id)}): skipped; --rotate mints a new one")
        if result.drift:
            status(drift_line(name, result.drift, "opsctl keys update with the same options writes it"))
    elif result.status.startswith("would-"):
        status(f"dry run: would {result.status[6:]} {name} with {limits}")
    elif result.ok:
        status(f"{result.status} {name} (token {_short(result.token_id)}) with {limits}")
        if show_keys:
            click.echo(result.key)
        else:
            status(f"key appended to {output}")


@keys.command(name="update")
@click.argument("key_or_hash", required=False)
@click.option("--alias", help="The key with this alias.")
@_field_options
@click.option("--from", "from_file", type=click.Path(dir_okay=False), help="Update the key of every row of a CSV or YAML file (as for create).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=16, show_default=True, help="Lookups in flight for --from.")
@click.option("--dry-run", is_flag=True, help="Show what differs; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@undo_option
@json_option
@pass_settings
def keys_update(settings, key_or_hash, from_file, concurrency, dry_run, yes, undo_file, as_json, **options):
    """Make existing keys hold what was asked: write only the fields that differ.

    What is asked is what `keys create` would send: the options (or a row of
    --from FILE over them) over the policy defaults; a field neither given
    nor in the policy is left as it is. The plan (field, live -> asked) goes
    to stderr; asks first unless --yes. The before-values are saved first,
    and `opsctl keys restore FILE` puts them back. A second run has nothing
    to do. `-` reads KEY_OR_HASH from stdin.

    \b
    Examples:
      opsctl keys update --alias ci-bot --rpm 60 --dry-run
      opsctl keys update --alias ci-bot --rpm 60 --yes
      opsctl keys update --from keys.csv --yes --json
    """
    from opsctl.admin.client import ProxyClient
    from opsctl.admin.keys import check_teams
    from opsctl.admin.updates import plan_key_by_hash, plan_keys_by_alias

    if sum(bool(x) for x in (key_or_hash, options["alias"], from_file)) != 1:
        raise click.UsageError("give one of KEY_OR_HASH, --alias or --from")
    if key_or_hash == "-":
        key_or_hash = click.open_file("-").read().strip()
    requests = [request for _where, request in _requests(settings, options, from_file)]
    teams = {r["team_id"] for r in requests if r.get("team_id")}
    with ProxyClient(settings) as proxy:
        if teams:
            check_teams(proxy, teams)
        if key_or_hash:
            updates, missing = [plan_key_by_hash(proxy, key_or_hash, requests[0])], []
    if not key_or_hash:
        updates, missing = plan_keys_by_alias(settings, requests, concurrency)
    run_updates(settings, "key", updates, dry_run=dry_run, yes=yes, as_json=as_json, undo_file=undo_file, missing=missing)


keys_restore = restore_command(keys, "key")


@keys.command(name="list")
@click.option("--team", help="Only keys of this team id.")
@click.option("--alias", help="Only the key with this alias.")
@json_option
@pass_settings
def keys_list(settings, team, alias, as_json):
    """List keys (all pages), by hash and alias; plaintext keys are never shown.

    \b
    Examples:
      opsctl keys list --team platform
      opsctl keys list --json | jq -r '.[].key_alias'
    """
    from opsctl.admin.key_pages import list_keys_paged

    rows = list_keys_paged(settings, team=team, alias=alias)
    if as_json:
        emit_json(rows)
        return
    print_table(
        ["alias", "token", "team", "rpm", "tpm", "max budget", "models", "expires"],
        [[r["key_alias"], _short(r["token"]), r["team_id"], r["rpm_limit"], r["tpm_limit"], r["max_budget"],
          ",".join(r["models"] or []) or "all", r["expires"]] for r in rows],
    )


@keys.command(name="info")
@click.argument("key_or_hash")
@json_option
@pass_settings
def keys_info(settings, key_or_hash, as_json):
    """Show one key. Given an sk- key, only its sha256 hash is sent; `-` reads it from stdin.

    \b
    Examples:
      opsctl keys info 5e2b...c0de
      printf %s "$KEY" | opsctl keys info - --json
    """
    from opsctl.admin.keys import key_info
    from opsctl.admin.client import ProxyClient

    if key_or_hash == "-":
        key_or_hash = click.open_file("-").read().strip()
    with ProxyClient(settings) as proxy:
        row = key_info(proxy, key_or_hash)
    if as_json:
        emit_json(row)
        return
    print_table(["field", "value"], [[name, value] for name, value in row.items()])


@keys.command(name="revoke")
@click.argument("keys_or_hashes", nargs=-1)
@click.option("--alias", "aliases", multiple=True, help="Revoke the key with this alias (repeatable).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would be revoked; change nothing.")
@json_option
@pass_settings
def keys_revoke(settings, keys_or_hashes, aliases, yes, dry_run, as_json):
    """Revoke keys given as sk- key, sha256 hash or --alias. Asks first unless --yes.

    A key that is already gone is reported and skipped, so re-running is safe.

    \b
    Examples:
      opsctl keys revoke --alias ci-bot --dry-run
      opsctl keys revoke --alias ci-bot --yes
      opsctl keys revoke 5e2b...c0de --yes --json
    """
    from opsctl.admin.keys import find_targets, revoke
    from opsctl.admin.client import ProxyClient

    if not keys_or_hashes and not aliases:
        raise click.UsageError("give a key, a hash or --alias")
    with ProxyClient(settings) as proxy:
        rows, missing = find_targets(proxy, list(keys_or_hashes), list(aliases))
        for target in missing:
            warn(f"no key matches {target}: nothing to revoke")
        for r in rows:  # the plan goes to stderr, next to the prompt
            status(f"{'would revoke' if dry_run else 'revoke'}: alias {r['key_alias'] or '-'}, token {_short(r['token'])}, team {r['team_id'] or '-'}")
        done = bool(rows) and not dry_run
        if done:
            confirm_write(yes, f"Revoke {len(rows)} key(s)?", nothing_done="nothing revoked")
            revoke(proxy, rows)
    if as_json:
        emit_json({"would_revoke" if dry_run else "revoked": [{"alias": r["key_alias"], "token": r["token"]} for r in rows],
                   "missing": missing})
    elif done:
        status(f"revoked {len(rows)} key(s)")
