"""The root command group: global options, settings, and error handling.

Subcommand modules are imported lazily, and they import their heavy
libraries (httpx, rich, psycopg, docker) inside the commands, so
`opsctl --help` stays fast.
"""

from __future__ import annotations

import importlib

import click

from opsctl import __version__
from opsctl.errors import OpsctlError
from opsctl.output import warn
from opsctl.redact import visible
from opsctl.settings import Settings, load_settings

# command name -> "module:attribute"
SUBCOMMANDS = {
    "audit": "opsctl.commands.audit:audit",
    "backup": "opsctl.commands.backup:backup",
    "config": "opsctl.commands.config:config",
    "db": "opsctl.commands.db:db",
    "down": "opsctl.commands.stack:down",
    "init": "opsctl.commands.stack:init",
    "keys": "opsctl.commands.keys:keys",
    "logs": "opsctl.commands.stack:logs",
    "restart": "opsctl.commands.stack:restart",
    "secrets": "opsctl.commands.secrets:secrets",
    "smoke": "opsctl.commands.smoke:smoke",
    "state": "opsctl.commands.state:state",
    "status": "opsctl.commands.stack:status",
    "teams": "opsctl.commands.teams:teams",
    "up": "opsctl.commands.stack:up",
    "upgrade": "opsctl.commands.upgrade:upgrade",
}

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

pass_settings = click.make_pass_decorator(Settings)


class OpsctlGroup(click.Group):
    """Loads subcommands on demand and turns OpsctlError into `Error: ...`."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(SUBCOMMANDS))

    def get_command(self, ctx, name):
        if name in SUBCOMMANDS:
            module_name, attribute = SUBCOMMANDS[name].split(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OpsctlError as error:
            exception = click.ClickException(visible(error.message))  # one line, whatever it quotes
            exception.exit_code = int(error.exit_code)
            raise exception from None


@click.group(cls=OpsctlGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="opsctl")
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False),
    help="Read settings from this dotenv file instead of ./.env.",
)
@click.option("--proxy-url", help="LiteLLM proxy URL. [env: LITELLM_PROXY_URL; default http://127.0.0.1:4000]")
@click.option("--master-key", help="LiteLLM master key. [env: LITELLM_MASTER_KEY]")
@click.option("--database-url", help="LiteLLM's Postgres URL. [env: DATABASE_URL]")
@click.option("--stack-dir", help="Directory of the compose stack. [env: OPSCTL_STACK_DIR; default .]")
@click.option("--policy", "policy_file", help="Timeout/retry policy file. [env: OPSCTL_POLICY]")
@click.pass_context
def cli(ctx, env_file, **options):
    """Run a hardened self-hosted LiteLLM gateway.

    \b
    Examples:
      opsctl init stack && opsctl audit stack
      opsctl db apply-overrides --dry-run
      opsctl smoke --json
    """
    try:
        settings = load_settings(options, env_file=env_file)
    except OpsctlError as error:
        raise click.UsageError(visible(error.message)) from None
    for warning in settings.warnings:
        warn(warning)
    ctx.obj = settings


def settings_for_stack(ctx: click.Context, stack_dir: str) -> Settings:
    """The settings `--stack-dir STACK_DIR` would give: a command's DIR argument names the stack whose
    .env counts (its proxy URL, master key, database URL), wherever opsctl runs from. Options given on
    the command line, the environment and --env-file keep their precedence over that .env."""
    root = ctx.find_root()
    options = {name: value for name, value in root.params.items() if name != "env_file"}
    # An unreadable DIR/.env is a one-line error of the command's (its exit code), not a usage screen.
    return load_settings({**options, "stack_dir": stack_dir}, env_file=root.params.get("env_file"))


def main() -> None:
    cli(prog_name="opsctl")
