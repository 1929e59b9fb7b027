"""`opsctl smoke`, `opsctl smoke health`, `opsctl smoke probe`."""

import click
from click.core import ParameterSource

from opsctl.cli import pass_settings
from opsctl.output import emit_json, json_option, status

MODES = ("chat", "embedding", "rerank")  # the modes opsctl.smoke.probe.REQUESTS knows (not imported: it loads httpx)

# The defaults of opsctl.smoke.probe (not imported: it loads httpx).
DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, DEFAULT_DEADLINE = 64, 30.0, 90.0

COMMON_OPTIONS = [
    click.option("--deadline", type=click.FloatRange(min=0.1), default=DEFAULT_DEADLINE, show_default=True,
                 help="Seconds allowed for the whole run: whatever has not answered by then is reported as cut off "
                      "(OPSCTL_DEADLINE, opsctl's limit for any command, ends it first when shorter)."),
]
HEALTH_OPTIONS = [
    click.option("--expect-db/--no-expect-db", default=None,
                 help="Require readiness to report the database connected.  [default: when DATABASE_URL is set]"),
]
PROBE_OPTIONS = [
    click.option("--model", "models", multiple=True, metavar="NAME", help="Probe only this model group (repeatable)."),
    click.option("--mode", type=click.Choice(MODES), help="Probe only model groups of this mode (a group without one counts as chat)."),
    click.option("--any", "any_deployment", is_flag=True,
                 help="A group is healthy when at least one of its deployments answers (by default: only when all do)."),
    click.option("--concurrency", type=click.IntRange(1, 256), default=DEFAULT_CONCURRENCY, show_default=True,
                 help="Requests in flight at once (one per deployment)."),
    click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT, show_default=True,
                 help="Seconds allowed per deployment and attempt."),
    click.option("--retries", type=click.IntRange(0, 5), default=0, show_default=True,
                 help="Extra attempts for a deployment that failed."),
    # Before every deployment was probed, a group its fallback served passed unless this was given;
    # now such a group always fails (its own deployments are down). Kept so old cron lines still run.
    click.option("--fail-on-fallback", is_flag=True, hidden=True),
]


def _options(options):
    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


def _replica_names(settings) -> list[str]:
    """The stack's proxy replicas (OPSCTL_REPLICAS, from its .env), each checked on its own; none on a one-proxy stack."""
    from opsctl.replicas.stack import configured_replicas

    return configured_replicas(settings.replicas)


def _execute(settings, as_json: bool, *, health: bool, probe: bool, deadline: float, expect_db=None,
             any_deployment: bool = False, fail_on_fallback: bool = False, **probe_options) -> None:
    import asyncio

    from opsctl.smoke.report import LiveProbeView, print_health, print_probe
    from opsctl.smoke.run import run_smoke

    if probe:
        probe_options.update(rule="any" if any_deployment else "all")
    with LiveProbeView() as view:
        if probe:
            probe_options.update(on_start=view.start, on_update=view.update)
        run = asyncio.run(run_smoke(settings, health=health, probe=probe, expect_db=expect_db, deadline=deadline,
                                    replicas=_replica_names(settings), **probe_options))
    if as_json:
        emit_json(run.to_dict())
    else:
        if run.health:
            print_health(run.health)
        if run.probe:
            print_probe(run.probe)
    if probe and run.probe is None:
        status("Models not probed: the proxy is not ready.")
    click.get_current_context().exit(int(run.exit_code))


def _pass_options_down(ctx: click.Context) -> None:
    """`opsctl smoke --json probe` means `opsctl smoke probe --json`."""
    given = {name: value for name, value in ctx.params.items()
             if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT}
    accepted = {param.name for param in smoke.commands[ctx.invoked_subcommand].params}
    misplaced = sorted(set(given) - accepted)
    if misplaced:
        names = ", ".join(param.opts[0] for param in ctx.command.params if param.name in misplaced)
        raise click.UsageError(f"{names} does not apply to `smoke {ctx.invoked_subcommand}`")
    ctx.default_map = {ctx.invoked_subcommand: given}


@click.group(invoke_without_command=True)
@_options(COMMON_OPTIONS + HEALTH_OPTIONS + PROBE_OPTIONS)
@json_option
@pass_settings
@click.pass_context
def smoke(ctx, settings, as_json, **options):
    """Check the running proxy: health and hardening, then one real request to
    every deployment of every model group, past LiteLLM's cache, all within
    --deadline.

    Alone it runs both halves; `smoke health` or `smoke probe` runs one.
    Exit codes: 0 all healthy, 1 a model group is unhealthy (a deployment
    failed, timed out or was cut off by --deadline; with --any: all of a
    group's did) or a protected route is open, 2 usage error (also: no
    master key; `smoke health` needs none), 3 proxy (or health app)
    unreachable or not ready, 4 master key rejected.

    \b
    Examples:
      opsctl smoke
      opsctl smoke --json | jq '.probe.models[] | select(.healthy | not)'
      opsctl smoke probe --mode chat --timeout 10 --retries 1
      opsctl smoke --deadline 60 --any           # cron: one answering deployment per group is enough
    """
    if ctx.invoked_subcommand is not None:
        _pass_options_down(ctx)
        return
    _execute(settings, as_json, health=True, probe=True, **options)


@smoke.command(name="health")
@_options(COMMON_OPTIONS + HEALTH_OPTIONS)
@json_option
@pass_settings
def smoke_health(settings, as_json, deadline, expect_db):
    """Check the public health routes on the proxy (and the health app, when
    OPSCTL_HEALTH_URL is set) and that protected routes refuse a request
    without a key. Needs no master key.

    \b
    Examples:
      opsctl smoke health
      OPSCTL_HEALTH_URL=http://127.0.0.1:4001 opsctl smoke health --expect-db --json
    """
    _execute(settings, as_json, health=True, probe=False, deadline=deadline, expect_db=expect_db)


@smoke.command(name="probe")
@_options(COMMON_OPTIONS + PROBE_OPTIONS)
@json_option
@pass_settings
def smoke_probe(settings, as_json, **options):
    """Send every deployment of every model group, by its deployment id, the
    smallest real request its mode allows, with LiteLLM's cache bypassed (an
    answer from the cache fails). A group is healthy when all its deployments
    answer (--any: at least one); one none of whose deployments answered is
    asked once more by name, to report the fallback that served it. Each row
    names the deployment (id, api_base host), its result, latency and time
    to first token. Needs the master key.

    \b
    Examples:
      opsctl smoke probe
      opsctl smoke probe --model chat-default --model embeddings-default --json
      opsctl smoke probe --any --deadline 30
    """
    _execute(settings, as_json, health=False, probe=True, **options)


def script_main(subcommand: str, argv: list[str]) -> None:
    """`bin/health_check.py` and `bin/probe_models.py`: `opsctl smoke SUBCOMMAND`,
    where opsctl's own options (--proxy-url URL, --env-file PATH, ...) may come anywhere."""
    from opsctl.cli import cli

    takes_value = {opt for param in cli.params if isinstance(param, click.Option) and not param.is_flag
                   for opt in param.opts}
    root, rest = [], []
    args = iter(argv)
    for arg in args:
        if arg.split("=", 1)[0] in takes_value:
            root.append(arg)
            if "=" not in arg:
                root.append(next(args, ""))
        else:
            rest.append(arg)
    cli.main(args=[*root, "smoke", subcommand, *rest], prog_name="opsctl")
