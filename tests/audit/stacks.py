"""A reference stack written by `opsctl init`, and small edits that break one promise each.

Edits go through the parsed YAML (or .env), never through text the
template happens to contain, so the corpus follows the template. Where an
edit needs YAML that PyYAML cannot write (a key twice, a bare `yes`), the file
is first re-written from its parsed data and the edit is made in that text.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from opsctl.cli import cli


def init_stack(path: Path, replicas: int = 1) -> Path:
    """Run `opsctl init PATH [--replicas N]` as an operator would; the test fails if it does not succeed."""
    result = CliRunner().invoke(cli, ["init", str(path), "--replicas", str(replicas)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return path


def run_audit(*args: str, env: dict | None = None):
    """`opsctl [global options] audit ...` in-process; returns the result and the parsed JSON (if any)."""
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    data = json.loads(result.stdout) if result.stdout.startswith("{") else None
    return result, data


def statuses(data: dict) -> dict[str, str]:
    return {c["check"]: c["status"] for c in data["checks"]}


def failing(data: dict) -> set[str]:
    return {c["check"] for c in data["checks"] if c["status"] == "FAIL"}


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def edit_compose_text(stack: Path, change) -> None:
    """Re-write docker-compose.yml from its data, then edit that text (ours, not the template's)."""
    edit_compose(stack, lambda compose: None)
    path = stack / "docker-compose.yml"
    path.write_text(change(path.read_text()))


def write_file(stack: Path, rel: str, text: str) -> None:
    (stack / rel).parent.mkdir(parents=True, exist_ok=True)
    (stack / rel).write_text(text)


def edit_config(stack: Path, change) -> None:
    _edit(stack / "litellm" / "config.yaml", change)


def edit_compose(stack: Path, change) -> None:
    _edit(stack / "docker-compose.yml", change)


def service(compose: dict, word: str) -> dict:
    """The service named `word`, else the first whose image mentions it (as the audit finds it)."""
    services = compose["services"]
    if word in services:
        return services[word]
    return next(spec for spec in services.values() if word in str(spec.get("image", "")).lower())


def _set_in_environment(spec: dict, name: str, value: str | None) -> bool:
    environment = spec.get("environment")
    if isinstance(environment, dict) and name in environment:
        if value is None:
            del environment[name]
        else:
            environment[name] = value
        return True
    if isinstance(environment, list):
        for index, item in enumerate(environment):
            if str(item).partition("=")[0] == name:
                if value is None:
                    del environment[index]
                else:
                    environment[index] = f"{name}={value}"
                return True
    return False


def _dotenv_has(stack: Path, name: str) -> bool:
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(name)}\s*=", re.MULTILINE)
    return bool(pattern.search((stack / ".env").read_text()))


def set_dotenv(stack: Path, name: str, value: str | None) -> None:
    """Replace (or, with None, drop) NAME= in .env, keeping the file's mode."""
    path = stack / ".env"
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(name)}\s*=")
    kept = [line for line in path.read_text().splitlines() if not pattern.match(line)]
    if value is not None:
        kept.append(f"{name}={value}")
    mode = path.stat().st_mode
    path.write_text("\n".join(kept) + "\n")
    os.chmod(path, mode)


def set_proxy_env(stack: Path, name: str, value: str | None) -> None:
    """Set (None: remove) a variable of the litellm service where the stack defines it (compose wins over .env)."""
    in_dotenv = _dotenv_has(stack, name)
    state = {}

    def change(compose):
        spec = service(compose, "litellm")
        state["in_compose"] = _set_in_environment(spec, name, value)
        if not state["in_compose"] and not in_dotenv and value is not None:
            environment = spec.setdefault("environment", {})
            if isinstance(environment, list):
                environment.append(f"{name}={value}")
            else:
                environment[name] = value

    edit_compose(stack, change)
    if in_dotenv and (value is None or not state["in_compose"]):
        set_dotenv(stack, name, value)
