"""The `opsctl` script and `python -m opsctl`.

`opsctl [GLOBAL OPTION VALUE]... status [--json]`, the command operators and
their scripts run most, is answered without importing click, whose import is
about a third of that command's time (bench/status.py). Every other command
line, and any this small parser is not sure of (`--help`, `--env-file`, a
repeated option, a value that looks like an option, bad settings), goes to the
click group in opsctl.cli unchanged, so click stays the one definition of the
interface; tests/stack/test_status_quick.py checks both paths answer alike.
"""

from __future__ import annotations

import gc
import os
import sys

# The root group's options that take a plain string (opsctl.cli): option -> load_settings key.
QUICK_OPTIONS = {
    "--proxy-url": "proxy_url",
    "--master-key": "master_key",
    "--database-url": "database_url",
    "--stack-dir": "stack_dir",
    "--policy": "policy_file",
}


def quick_status_request(argv: list[str]) -> tuple[dict[str, str | None], bool] | None:
    """(the root options, --json) when argv is exactly `[OPTION VALUE]... status [--json]`, else None."""
    options: dict[str, str | None] = dict.fromkeys(QUICK_OPTIONS.values())
    seen, rest = set(), list(argv)
    while rest and rest[0].startswith("-"):
        name, equals, value = rest.pop(0).partition("=")
        if name not in QUICK_OPTIONS or name in seen:
            return None
        if not equals:
            if not rest or rest[0].startswith("-"):
                return None
            value = rest.pop(0)
        seen.add(name)
        options[QUICK_OPTIONS[name]] = value
    if rest not in (["status"], ["status", "--json"]):
        return None
    return options, rest == ["status", "--json"]


def quick_status(options: dict[str, str | None], as_json: bool) -> int | None:
    """Run `status` as the click command would; None when the settings are bad (click then says why, as usage)."""
    from opsctl.errors import OpsctlError
    from opsctl.output import warn
    from opsctl.redact import visible
    from opsctl.settings import load_settings

    try:
        settings = load_settings(options, env_file=None)
    except OpsctlError:
        return None
    for warning in settings.warnings:
        warn(warning)
    from opsctl.stack.status import show_status

    try:
        show_status(settings, as_json)
    except OpsctlError as error:  # as click.ClickException shows it (opsctl.cli.OpsctlGroup)
        sys.stderr.write(f"Error: {visible(error.message)}\n")
        return int(error.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("\nAborted!\n")
        return 1
    return 0


def main() -> None:
    try:
        request = quick_status_request(sys.argv[1:])
        if request is not None:
            try:
                code = quick_status(*request)
            except BrokenPipeError:  # `opsctl status --json | head -1`: as click does, quietly
                sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (the interpreter is about to exit)
                code = 1
            if code is not None:
                sys.exit(code)
        from opsctl.cli import main as click_main

        click_main()
    finally:
        # The process ends here. Frozen, the objects of every imported module are skipped by the
        # shutdown's garbage collections, which otherwise walk them all: 12 ms of `opsctl status`'s
        # 80 ms of CPU (bench/status.py), more with psycopg loaded. Files are closed by their `with`
        # blocks; stdout/stderr are flushed and atexit handlers run as before.
        gc.freeze()


if __name__ == "__main__":
    main()
