"""`opsctl config show`."""

import click

from opsctl.cli import pass_settings
from opsctl.output import emit_json, json_option, print_table, status


@click.group()
def config():
    """Inspect opsctl's effective settings."""


@config.command(name="show")
@json_option
@pass_settings
def config_show(settings, as_json):
    """Print every effective setting, secrets masked, and where it came from.

    Sources, highest first: option, environment, the dotenv file (./.env or
    --env-file; not read when LITELLM_MODE is set to anything but DEV, as in
    LiteLLM), ~/.007, default. The sources consulted are listed on stderr.
    A value opsctl adjusted says why in `note`: a DATABASE_URL from .env
    naming the compose service `postgres` is used host-side, as
    127.0.0.1:POSTGRES_HOST_PORT (the port the stack publishes).

    \b
    Example:
      opsctl config show --json
    """
    rows = settings.describe()
    status(f"Sources consulted, highest first: {', '.join(settings.read_from)}, default")
    if as_json:
        emit_json(rows)
        return
    columns = ["setting", "env", "value", "source"]
    noted = any(r["note"] for r in rows)  # e.g. the host-side DATABASE_URL of a compose stack
    print_table(columns + ["note"] * noted,
                [[r["name"], r["env"], r["value"], r["source"], *[r["note"]] * noted] for r in rows])
