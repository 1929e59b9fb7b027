"""The CLI surface: help on every command, -h, --version, python -m, docs/cli.md in sync."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from opsctl import __version__
from opsctl.cli import cli
from opsctl.helpdoc import all_commands, render

REPO = Path(__file__).resolve().parent.parent
COMMANDS = all_commands()


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, command):
    assert command.help and command.help.strip(), f"{' '.join(path)} has no help text"
    if len(path) > 1 and not hasattr(command, "commands"):
        assert "opsctl" in command.help, f"{' '.join(path)} help has no example"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_short_help_flag(path):
    result = CliRunner().invoke(cli, [*path[1:], "-h"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"opsctl, version {__version__}"


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "opsctl", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in result.stdout


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output


def test_help_reference_in_docs_is_current():
    committed = (REPO / "docs" / "cli.md").read_text()
    assert committed == render(), "docs/cli.md is stale: run `python -m opsctl.helpdoc > docs/cli.md`"
