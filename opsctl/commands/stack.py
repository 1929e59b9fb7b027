"""`opsctl init`, `up`, `restart`, `down`, `status`, `logs`: the reference stack's lifecycle."""

from __future__ import annotations

from pathlib import Path

import click

from opsctl.cli import pass_settings
from opsctl.output import emit_json, json_option, status as say

timeout_option = click.option(
    "--timeout", default=300.0, show_default=True, type=click.FloatRange(min=0),
    help="Seconds to wait for every container and the proxy's readiness.",
)


@click.command(name="init")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--force", is_flag=True,
              help="Replace files that differ (copied to .opsctl-backups/ first; an existing .env keeps its values).")
@click.option("--diff", "show_diff", is_flag=True,
              help="Show, file by file, how the stack differs from what this opsctl writes; write nothing (exit 1 on drift).")
@click.option("--upgrade", is_flag=True,
              help="Bring template changes in with a three-way merge, keeping local edits; stop on conflicts (exit 7).")
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--target", type=click.Choice(["compose", "k8s"]), default="compose", show_default=True,
              help="compose: the docker compose stack; k8s: a kustomize base (docs/kubernetes.md).")
@click.option("--replicas", type=click.IntRange(min=1),
              help="Proxy replicas. compose: N > 1 writes litellm-1..N behind an HAProxy `lb` service, sharing "
                   "Redis (default: the OPSCTL_REPLICAS .env records, else 1); k8s: the Deployment's (default 2).")
@json_option
@pass_settings
def init(settings, directory, force, show_diff, upgrade, dry_run, target, replicas, as_json):
    """Write the hardened reference stack into DIRECTORY (default: the stack dir).

    docker-compose.yml, litellm/config.yaml (timeouts and retries rendered
    from the policy file), litellm/custom_callbacks.py, .env.example and a
    .env (mode 0600) with fresh secrets. Existing files that differ are left
    alone unless --force. What init wrote is recorded in .opsctl-template.lock,
    the base that --upgrade merges against.

    With --replicas N (N > 1) the proxy runs as services litellm-1..N, none
    published, behind an `lb` service (HAProxy, haproxy/haproxy.cfg) that is
    the only one published; .env records OPSCTL_REPLICAS=N, which later runs
    keep; change it with `--replicas M --force` (docs/replicas.md).

    \b
    Examples:
      opsctl init stack --dry-run
      opsctl init stack && opsctl audit stack
      opsctl init stack --diff
      opsctl init stack --upgrade --dry-run
      opsctl --policy my-policy.toml init stack --force
      opsctl init stack --replicas 3
      opsctl init gateway-k8s --target k8s --replicas 3
    """
    from opsctl.policy import load_policy
    from opsctl.stack import drift
    from opsctl.replicas import stack as replica_stack
    from opsctl.stack.render import plan_init, write_plan

    if sum((force, show_diff, upgrade)) > 1:
        raise click.UsageError("--force, --diff and --upgrade exclude each other")
    if target == "k8s":
        from opsctl.k8s.render import init_k8s

        return init_k8s(Path(directory or settings.stack_dir), load_policy(settings.policy_file), replicas or 2,
                        force=force, dry_run=dry_run, as_json=as_json, compose_only=show_diff or upgrade)
    target = Path(directory or settings.stack_dir)
    policy = load_policy(settings.policy_file)
    if show_diff or upgrade:
        _same_count(target, replicas)
        rendered = {p.relative: p.content for p in plan_init(target, policy, force=True)}
        if show_diff:
            _show_drift(target, drift.drift(target, rendered), as_json)
        else:
            _upgrade(target, rendered, dry_run, as_json)
        return
    plan = plan_init(target, policy, force=force, replicas=replicas)
    backup = None
    if not dry_run:
        if force:
            backup = drift.backup_files(target, [p.relative for p in plan if p.action == "overwrite"])
        write_plan(target, plan)
        if any(p.relative == replica_stack.HAPROXY_CFG for p in plan):
            replica_stack.ensure_runtime_dir(target)
        drift.write_lock(target, {p.relative: p.content for p in plan})
    if as_json:
        emit_json({"directory": str(target), "dry_run": dry_run, "backup": str(backup) if backup else None,
                   "files": [{"path": p.relative, "action": p.action, "mode": f"{p.mode:04o}"} for p in plan]})
        return
    done = {"create": "created", "overwrite": "overwrote", "keep": "unchanged"}
    if backup:
        say(f"saved the files it replaces in {backup}")
    for planned in plan:
        say(f"{'would ' + planned.action if dry_run else done[planned.action]}: {target / planned.relative}")
    if not dry_run:
        from opsctl.invocation import opsctl_command

        say(f"next: review {target / '.env'}, then `{opsctl_command()} --stack-dir {target} up`")


def _same_count(target: Path, replicas: int | None) -> None:
    """--diff and --upgrade compare with the count .env records; a new count is --force's job (.env changes too)."""
    from opsctl.errors import ExitCode, OpsctlError
    from opsctl.replicas.stack import recorded_count
    from opsctl.stack.render import ENV, parse_env

    env = target / ENV
    recorded = recorded_count(parse_env(env.read_text()) if env.is_file() else {})
    if replicas is not None and replicas != recorded:
        raise OpsctlError(f"{env} records {recorded} replica(s): change the count with `opsctl init {target} "
                          f"--replicas {replicas} --force` (.env keeps its secrets)", ExitCode.USAGE)


def _show_drift(target: Path, found, as_json: bool) -> None:
    from opsctl.errors import ExitCode, OpsctlError

    drifted = [d for d in found if d.state != "same"]
    if as_json:
        emit_json({"directory": str(target), "files": [{"path": d.relative, "state": d.state, "diff": d.diff}
                                                        for d in found]})
    else:
        for d in drifted:
            click.echo(d.diff, nl=False)
        for d in found:
            say(f"{d.state}: {target / d.relative}")
    if drifted:
        raise OpsctlError(f"{len(drifted)} file(s) differ from what this opsctl writes", ExitCode.FAILED)


def _upgrade(target: Path, rendered: dict, dry_run: bool, as_json: bool) -> None:
    from opsctl.errors import ExitCode, OpsctlError
    from opsctl.stack import drift

    plan = drift.plan_upgrade(target, rendered)
    if as_json:
        emit_json({"directory": str(target), "dry_run": dry_run, "write": sorted(plan.writes),
                   "merged": plan.merged, "kept": plan.kept, "conflicts": plan.conflicts})
    if plan.conflicts:
        for relative, hunks in plan.conflicts.items():
            say(f"conflict in {target / relative}:")
            for hunk in hunks:
                click.echo(hunk, err=True, nl=False)
        raise OpsctlError(
            f"template and local edits conflict in {', '.join(plan.conflicts)}; nothing was written "
            "(resolve by editing those lines, then re-run)", ExitCode.CONFLICT)
    for relative in sorted(plan.writes):
        verb = "merge" if relative in plan.merged else "update"
        say(f"{'would ' + verb if dry_run else verb + 'd'}: {target / relative}")
    for relative in plan.kept:
        say(f"kept local edit: {target / relative}")
    if not dry_run:
        drift.apply_upgrade(target, plan, rendered)
    if not plan.writes:
        say("nothing to upgrade")


@click.command(name="up")
@click.argument("services", nargs=-1)
@click.option("--profile", "profiles", multiple=True, help="Also start this compose profile (rerank, gpu). Repeatable.")
@click.option("--no-deps", is_flag=True, help="Start or recreate only SERVICES, not the services they depend on.")
@timeout_option
@pass_settings
def up(settings, services, profiles, no_deps, timeout):
    """Start the stack (or SERVICES) and wait until it is really ready.

    Ready means every container healthy, one-shot services (migrate) exited
    0, and the proxy's /health/readiness healthy. Exit code 6 on timeout,
    naming the stuck service and printing its last log lines.

    \b
    Examples:
      opsctl up
      opsctl up --profile rerank --timeout 600
      opsctl up redis postgres
      opsctl up --no-deps litellm    # after editing .env: recreate only the proxy
    """
    from opsctl.stack.lifecycle import bring_up

    if no_deps and not services:
        raise click.UsageError("--no-deps needs the SERVICES to start")
    args = ("up", "-d", *(["--no-deps"] if no_deps else []), *services)
    bring_up(settings, args, services, timeout, profiles)


@click.command(name="restart")
@click.argument("service", default="litellm")
@click.option("--rolling", is_flag=True,
              help="Replicas stack: restart litellm-1..N one at a time, each drained in the LB first, so the "
                   "gateway keeps serving (docs/replicas.md).")
@timeout_option
@pass_settings
def restart(settings, service, rolling, timeout):
    """Restart SERVICE (default: the proxy, litellm) and wait until ready again.

    On a stack of replicas (`opsctl init --replicas N`) `litellm` means every
    replica: all at once, the gateway down meanwhile; with --rolling one at a
    time: drained in the LB (no new requests, the ones in flight finish),
    restarted, waited for until its /health/readiness healthcheck passes,
    put back, and back UP in the LB before the next. A failure stops there:
    that replica stays out of the LB (maint), the others serve.

    A restart re-reads mounted files such as litellm/config.yaml but keeps the
    container's environment: after editing .env, run `opsctl up --no-deps
    SERVICE`, which recreates that container with the new values (without
    --no-deps compose also recreates every service it depends on whose
    env_file changed: Postgres and Redis).

    \b
    Examples:
      opsctl restart
      opsctl restart redis --timeout 60
      opsctl restart litellm --rolling
    """
    from opsctl.stack.lifecycle import bring_up

    if rolling:
        from opsctl.stack.replicas import rolling_restart_stack

        if service != "litellm":
            raise click.UsageError("--rolling restarts the proxy replicas: use it with SERVICE litellm")
        rolling_restart_stack(settings, timeout, progress=say)
        return
    bring_up(settings, ("restart", service), (service,), timeout, existing_only=True, proxy_alias=True)


@click.command(name="down")
@pass_settings
def down(settings):
    """Stop and remove the stack's containers, of every profile, and its network.

    Volumes (the Postgres data) are kept.

    \b
    Example:
      opsctl down
    """
    from opsctl.stack.compose import Compose, compose_command
    from opsctl.stack.engine import connect

    compose_command()
    connect()
    compose = Compose(settings, profiles=("*",))  # else containers of --profile services stay up
    compose.run("down")
    say(f"{compose.project}: down")


@click.command(name="logs")
@click.argument("service")
@click.option("--tail", "lines", default=100, show_default=True, type=click.IntRange(min=0), help="Lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@pass_settings
def logs(settings, service, lines, follow):
    """Print the last log lines of SERVICE.

    \b
    Examples:
      opsctl logs litellm --tail 50
      opsctl logs migrate
      opsctl logs litellm -f
    """
    from opsctl.stack.compose import Compose, compose_command
    from opsctl.stack.engine import connect

    compose_command()
    connect()
    Compose(settings).run("logs", "--no-color", "--tail", str(lines), *(["-f"] if follow else []), service, show_output=True)


@click.command(name="status")
@json_option
@pass_settings
def status(settings, as_json):
    """Show each container: service, state, health, image, uptime, published ports.

    On a stack of replicas, also each replica's state in the load balancer
    (UP, DRAIN, MAINT, DOWN; JSON: "lb" with its sessions in flight and served).

    A port published on anything but loopback is flagged with `!` (and
    `"loopback": false` in JSON): the runbook binds every port to 127.0.0.1.

    \b
    Examples:
      opsctl status
      opsctl status --json | jq '.[] | select(.health != "healthy")'
    """
    from opsctl.stack.status import show_status

    show_status(settings, as_json)
