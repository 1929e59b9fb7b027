"""Output helpers: data on stdout, status on stderr, `--json` defined once.

Names are data: a model name, alias or team id that holds rich markup
(`chat[/bold]-x`) or terminal control characters prints as it is stored.
`print_table` makes every str cell a rich Text (never parsed as markup) with
control characters shown as escapes (opsctl.redact.visible); callers that
want style pass a Text themselves. `status` and `warn` do the same for their
one line.

rich is imported only when something is actually rendered, and click only
by what needs it (an option, a prompt): lines are written to sys.stdout /
sys.stderr directly, which is what click.echo does with text and what
click's test runner captures, so `opsctl status` can run without click
(opsctl.__main__).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence

from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import visible


def json_option(func: Callable) -> Callable:
    """Add `--json` (as the `as_json` parameter) to a reporting command."""
    import click

    return click.option(
        "--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout."
    )(func)


def _line(stream, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


def emit_json(data: object) -> None:
    _line(sys.stdout, json.dumps(data, indent=2, default=str))


@functools.cache
def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@functools.cache
def stdout_console():
    from rich.console import Console

    # Piped or captured output (CI logs, `| less`) gets a wide table, not rich's 80 columns.
    width = None if sys.stdout.isatty() else 160
    return Console(soft_wrap=False, width=width)


def status(message: str) -> None:
    """A status line for people, on stderr."""
    _line(sys.stderr, visible(message))


def warn(message: str) -> None:
    _line(sys.stderr, f"Warning: {visible(message)}")


def cell(value: object):
    """A table cell: None as '-', a rich renderable as given, anything else literal text."""
    from rich.text import Text

    if value is None:
        return "-"
    if isinstance(value, Text):
        return value
    return Text(visible(value, keep_newlines=True))


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    title: str | None = None,
) -> None:
    """A rich table on stdout; cells are literal text (see `cell`), None as '-'."""
    from rich.table import Table

    table = Table(title=None if title is None else visible(title), show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")  # ids must stay whole when piped
    for row in rows:
        table.add_row(*(cell(value) for value in row))
    stdout_console().print(table)


class ProgressBar:
    """A progress bar on stderr for long runs; `for_terminal` gives None when stderr is not a terminal."""

    @classmethod
    def for_terminal(cls, total: int, label: str) -> "ProgressBar | None":
        return cls(stderr_console(), total, label) if stderr_console().is_terminal else None

    def __init__(self, console, total: int, label: str):
        from rich.progress import Progress

        self._progress = Progress(console=console, transient=True)
        self._task = self._progress.add_task(label, total=total)
        self._progress.start()

    def advance(self, *_done: object) -> None:
        self._progress.advance(self._task)

    def stop(self) -> None:
        self._progress.stop()


def is_interactive() -> bool:
    return sys.stdin.isatty()


def confirm_write(yes: bool, question: str, nothing_done: str = "nothing was changed") -> None:
    """Go ahead with a write only after --yes or a "y" on a terminal; otherwise exit 9 (REFUSED)."""
    if yes:
        return
    if not is_interactive():
        raise OpsctlError(f"refusing to write without --yes in a non-interactive shell; {nothing_done}", ExitCode.REFUSED)
    import click

    if not click.confirm(question, err=True):
        raise OpsctlError(f"declined; {nothing_done}", ExitCode.REFUSED)
