"""`opsctl secrets`: status of LiteLLM's encrypted values; rotating the salt key,
the master key and the stack's passwords; undo.

Thin glue over opsctl.secrets, imported inside the commands so `opsctl --help`
loads neither psycopg nor the crypto libraries.
"""

from __future__ import annotations

from pathlib import Path

import click

from opsctl.cli import pass_settings
from opsctl.output import confirm_write, emit_json, json_option, print_table, status, warn

file_type = click.Path(dir_okay=False, path_type=Path)


def _write_options(func):
    """--dry-run, --yes, --no-restart, --timeout: shared by every rotation."""
    for option in reversed((
        click.option("--dry-run", is_flag=True, help="Show what would change; change nothing."),
        click.option("--yes", "-y", is_flag=True, help="Go ahead without asking (needed when not interactive)."),
        click.option("--no-restart", is_flag=True,
                     help="Change the server and the .env only; recreate the proxy yourself (opsctl up --no-deps litellm)."),
        click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(min=0),
                     help="Seconds to wait for the recreated proxy's readiness."),
    )):
        func = option(func)
    return func


redis_options = (
    click.option("--redis-host", default="127.0.0.1", show_default=True, help="Where opsctl reaches the stack's Redis."),
    click.option("--redis-port", default=6379, show_default=True, type=click.IntRange(1, 65535), help="Redis port."),
)


def _with(options):
    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


@click.group()
def secrets():
    """Inspect and rotate the stack's secrets: salt key, master key, passwords."""


def _show_status(report) -> None:
    names = report.key_names
    print_table(
        ["table", "column", "values", "nacl", "v2:gcm", *(n.replace("_", " ") for n in names), "none"],
        [[c.column.table, c.column.column, c.values if c.present else "no such column", c.formats["nacl"],
          c.formats["v2:gcm"], *(c.keys[n] for n in names), c.keys["none"]] for c in report.columns],
        title=f"Encrypted values (the proxy decrypts with the {report.current.replace('_', ' ')})",
    )


@secrets.command(name="status")
@json_option
@pass_settings
def secrets_status(settings, as_json):
    """Every encrypted value in LiteLLM's database: format, and which key opens it.

    Per table and column: how many values, how many in each format (nacl
    SecretBox, v2:gcm AES-GCM), and how many the salt key, the master key or
    neither decrypts. The keys are read from the stack's .env (--stack-dir).
    Exit 1 when any value is unreadable by the proxy: it opens with neither
    key (each one is named by table, primary key and JSON path), or only
    with the master key while a salt key is set.

    \b
    Examples:
      opsctl --stack-dir stack secrets status
      opsctl secrets status --json | jq '.unreadable'
    """
    from opsctl.errors import ExitCode, OpsctlError
    from opsctl.secrets.salt import stack_status
    from opsctl.secrets.stackenv import SALT, saved_files

    report, env = stack_status(settings)
    if env.get(SALT) == "":
        warn(f"{SALT} is set but empty in {env.path}: LiteLLM then encrypts with the empty string; rotate it")
    if as_json:
        emit_json(report.to_json())
    else:
        _show_status(report)
    for problem in report.unreadable:
        warn(f"unreadable: {problem.describe()}")
    if report.stale:
        warn(f"{report.stale} value(s) open only with a key the proxy does not decrypt with (the "
             f"{report.current.replace('_', ' ')} is used): the proxy cannot read them")
    status(f"{report.total} encrypted value(s); {len(report.unreadable)} unreadable, {report.stale} under the other key")
    if report.unreadable or report.stale:
        saved = saved_files(env)
        if saved:
            warn(f"if a rotation was interrupted, the values may be under the key it saved: "
                 f"opsctl secrets undo {saved[-1]} --dry-run")
        raise OpsctlError(f"{len(report.unreadable) + report.stale} value(s) the proxy cannot decrypt", ExitCode.FAILED)


def _show_plan(plan) -> None:
    from opsctl.secrets.masterkey import MasterSwap
    from opsctl.secrets.passwords import DbPasswordChange, RedisPasswordChange
    from opsctl.secrets.salt import SaltSwitch

    if isinstance(plan, SaltSwitch):
        columns = [c for c in plan.plan.columns if c.reencrypted or c.already]
        if columns:
            print_table(["table", "column", "rows", "to re-encrypt", "already under the target"],
                        [[c.column.table, c.column.column, c.rows, c.reencrypted, c.already] for c in columns],
                        title=f"{plan.source.name.replace('_', ' ')} -> {plan.target.name.replace('_', ' ')}")
        changes = ", ".join(f"{name} {'removed' if value is None else 'set'}" for name, value in plan.env_values.items())
        status(f"{plan.plan.reencrypted} value(s) to re-encrypt in one transaction; then {plan.env.path}: {changes}")
    elif isinstance(plan, MasterSwap):
        status(f"{plan.env.path}: LITELLM_MASTER_KEY replaced; the salt key encrypts the stored values, "
               "so none is re-encrypted")
        if plan.stale:
            warn(f"{plan.stale} stored value(s) are under the current master key, which the proxy does not decrypt "
                 "with while a salt key is set; the saved file keeps that key")
    elif isinstance(plan, DbPasswordChange):
        status(f"ALTER ROLE {plan.role} PASSWORD (a SCRAM verifier); then {plan.env.path}: {', '.join(plan.env_values)}")
    elif isinstance(plan, RedisPasswordChange):
        status(f"Redis at {plan.host}:{plan.port}: the new password added beside the old one; then {plan.env.path}: "
               "REDIS_PASSWORD; after the proxy is recreated the old one is removed and redis is recreated")


def _run(settings, plan, *, question: str, dry_run: bool, yes: bool, no_restart: bool, timeout: float, as_json: bool):
    """Show the plan, ask, apply, report: what every rotation command does."""
    from opsctl.secrets.undo import apply

    if not as_json:
        _show_plan(plan)
    if dry_run:
        status("Dry run: nothing was changed.")
    else:
        confirm_write(yes, question)
        apply(settings, plan, restart=not no_restart, timeout=timeout, progress=status)
        status(f"Done. Undo: opsctl secrets undo {plan.saved}")
        if no_restart:
            warn("the proxy still runs with the old value: recreate it now with `opsctl up --no-deps litellm`")
    if as_json:
        emit_json({"dry_run": dry_run, "restarted": not dry_run and not no_restart, **plan.to_json()})


@secrets.command(name="rotate-salt")
@click.option("--new-salt-file", type=file_type, help="Take the new salt key from this 0600 file. [default: generate one]")
@_write_options
@json_option
@pass_settings
def secrets_rotate_salt(settings, new_salt_file, dry_run, yes, no_restart, timeout, as_json):
    """Re-encrypt every stored value under a new LITELLM_SALT_KEY, then swap it in.

    One transaction: the rows are locked, every value is decrypted with the
    current key (the salt key, or the master key when none is set: this
    adopts a salt key) and encrypted with the new one in the same format,
    read back and checked, and the new key is written to the stack's .env
    just before the commit. If any value does not decrypt, nothing is
    written and the value is named. The old key goes to a dated 0600 file
    beside the .env first; `opsctl secrets undo FILE` goes back. Then the
    proxy is recreated (compose up -d --no-deps litellm), its readiness
    awaited and a DB-stored model probed.

    \b
    Examples:
      opsctl --stack-dir stack secrets rotate-salt --dry-run
      opsctl --stack-dir stack secrets rotate-salt --yes
      opsctl secrets rotate-salt --new-salt-file new-salt.txt --no-restart --json
    """
    from opsctl.secrets.salt import plan_rotate

    plan = plan_rotate(settings, new_salt_file)
    _run(settings, plan, question=f"Re-encrypt {plan.plan.reencrypted} value(s) and rotate the salt key?",
         dry_run=dry_run, yes=yes, no_restart=no_restart, timeout=timeout, as_json=as_json)


@secrets.command(name="rotate-master-key")
@click.option("--new-master-key-file", type=file_type, help="Take the new master key from this 0600 file. [default: generate one]")
@_write_options
@json_option
@pass_settings
def secrets_rotate_master_key(settings, new_master_key_file, dry_run, yes, no_restart, timeout, as_json):
    """Replace LITELLM_MASTER_KEY and prove the proxy takes the new one only.

    With a salt key set the master key encrypts nothing stored: the .env
    gets the new key, the proxy is recreated, and the new key must be
    accepted and the old one refused. Without a salt key the stored values
    are under the master key: this also adopts a new salt key, moving every
    value to it in one verified transaction (as rotate-salt), instead of
    LiteLLM's boot-time LITELLM_MIGRATE_FROM_MASTER_KEY migration. Virtual
    keys are hashes and keep working.

    \b
    Examples:
      opsctl --stack-dir stack secrets rotate-master-key --dry-run
      opsctl --stack-dir stack secrets rotate-master-key --yes
    """
    from opsctl.secrets.masterkey import plan_rotate

    plan = plan_rotate(settings, new_master_key_file)
    _run(settings, plan, question="Rotate the master key?", dry_run=dry_run, yes=yes, no_restart=no_restart,
         timeout=timeout, as_json=as_json)


@secrets.command(name="rotate-db-password")
@click.option("--new-password-file", type=file_type, help="Take the new password from this 0600 file. [default: generate one]")
@_write_options
@json_option
@pass_settings
def secrets_rotate_db_password(settings, new_password_file, dry_run, yes, no_restart, timeout, as_json):
    """Give the proxy's Postgres role a new password, then the .env, then the proxy.

    The role is the user of the stack's DATABASE_URL; opsctl connects with
    the global DATABASE_URL (which must reach the database and may change
    that role's password). ALTER ROLE gets a SCRAM verifier, never the
    password; DATABASE_URL and POSTGRES_PASSWORD in the .env are written
    before the commit. Open sessions stay logged in, so the proxy serves
    until it is recreated with the new URL.

    \b
    Examples:
      opsctl --stack-dir stack --database-url postgresql://admin@127.0.0.1:5432/litellm secrets rotate-db-password --dry-run
      opsctl --stack-dir stack secrets rotate-db-password --yes
    """
    from opsctl.secrets.passwords import plan_db

    plan = plan_db(settings, "rotate-db-password", new_password_file=new_password_file)
    _run(settings, plan, question=f"Change the password of role {plan.role}?", dry_run=dry_run, yes=yes,
         no_restart=no_restart, timeout=timeout, as_json=as_json)


@secrets.command(name="rotate-redis-password")
@click.option("--new-password-file", type=file_type, help="Take the new password from this 0600 file. [default: generate one]")
@_with(redis_options)
@_write_options
@json_option
@pass_settings
def secrets_rotate_redis_password(settings, new_password_file, redis_host, redis_port, dry_run, yes, no_restart,
                                  timeout, as_json):
    """Give Redis a new password without a moment where the proxy's is refused.

    The new password is added beside the old one (ACL SETUSER), the .env
    gets it, the proxy is recreated, then the old password is removed and
    redis is recreated with the new .env (its cache starts empty).

    \b
    Examples:
      opsctl --stack-dir stack secrets rotate-redis-password --redis-port 6379 --dry-run
      opsctl --stack-dir stack secrets rotate-redis-password --yes
    """
    from opsctl.secrets.passwords import plan_redis

    plan = plan_redis(settings, "rotate-redis-password", redis_host, redis_port, new_password_file=new_password_file)
    _run(settings, plan, question=f"Change the password of Redis at {redis_host}:{redis_port}?", dry_run=dry_run,
         yes=yes, no_restart=no_restart, timeout=timeout, as_json=as_json)


@secrets.command(name="undo")
@click.argument("saved_file", type=file_type)
@_with(redis_options)
@_write_options
@json_option
@pass_settings
def secrets_undo(settings, saved_file, redis_host, redis_port, dry_run, yes, no_restart, timeout, as_json):
    """Go back to the values a rotation saved in SAVED_FILE.

    Every rotation saves what it replaces to `.env.before-<rotation>-<time>`
    beside the .env (mode 0600). Undo runs the same rotation towards those
    values, with the same checks and restart, and saves what it replaces in
    turn. It also settles a rotation that was killed between writing the
    .env and its commit (values already under the saved key are left alone).

    \b
    Examples:
      opsctl --stack-dir stack secrets undo stack/.env.before-rotate-salt-20261201T101500123456Z --dry-run
      opsctl --stack-dir stack secrets undo stack/.env.before-rotate-master-key-20261201T101500123456Z --yes
    """
    from opsctl.secrets.undo import plan_undo

    plan = plan_undo(settings, saved_file, redis_host, redis_port)
    _run(settings, plan, question=f"Go back to the values saved in {saved_file}?", dry_run=dry_run, yes=yes,
         no_restart=no_restart, timeout=timeout, as_json=as_json)
