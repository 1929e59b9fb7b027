"""`opsctl config show`."""

import click

from opsctl.cli import pass_settings
from opsctl.output import emit_json, json_option, print_table


@click.group()
def config():
    """Inspect opsctl's effective settings."""


@config.command(name="show")
@json_option
@pass_settings
def config_show(settings, as_json):
    """Print every effective setting, secrets masked, and where it came from.

    \b
    Example:
      opsctl config show --json
    """
    rows = settings.describe()
    if as_json:
        emit_json(rows)
        return
    print_table(["setting", "env", "value", "source"], [[r["name"], r["env"], r["value"], r["source"]] for r in rows])
