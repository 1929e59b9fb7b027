"""`opsctl init`: copy the reference stack, render config.yaml from the
policy file, and write a `.env` with fresh secrets.

Nothing is written until every file has been rendered and checked, and an
existing file is only replaced with `force`. An existing `.env` keeps its
values even then: new secrets would lock the stack out of its own Postgres
volume.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.policy import Policy

CONFIG = "litellm/config.yaml"
ENV_EXAMPLE = ".env.example"
ENV = ".env"
POLICY_MARK = "POLICY"
GENERATED = "GENERATED"

_MODEL_NAME = re.compile(r"^\s*-\s*model_name:\s*(\S+)\s*$")
_POLICY_FIELD = re.compile(rf"^(\s*)(timeout|num_retries):\s*{POLICY_MARK}\s*$")


@dataclass(frozen=True)
class PlannedFile:
    relative: str
    content: str
    mode: int
    action: str  # "create", "overwrite" or "keep"


def template_root():
    return resources.files("opsctl").joinpath("stack/template")


def template_files() -> dict[str, str]:
    """Every packaged template file, by path relative to the stack directory."""
    found: dict[str, str] = {}

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            relative = f"{prefix}{child.name}"
            if child.is_dir():
                if child.name != "__pycache__":
                    walk(child, relative + "/")
            elif not child.name.endswith(".pyc"):
                found[relative] = child.read_text()

    walk(template_root(), "")
    return found


def render_config(text: str, policy: Policy) -> str:
    """Replace each model's `timeout: POLICY` / `num_retries: POLICY` with the policy's value."""
    model, missing, lines = None, [], []
    for line in text.splitlines(keepends=True):
        name = _MODEL_NAME.match(line)
        if name:
            model = name.group(1)
        field = _POLICY_FIELD.match(line)
        if field:
            rule = policy.rule_for(model) if model else None
            if rule is None:
                missing.append(model or "?")
                lines.append(line)
                continue
            value = rule.timeout if field.group(2) == "timeout" else rule.num_retries
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            line = f"{field.group(1)}{field.group(2)}: {value}  # policy tier {rule.tier!r}\n"
        lines.append(line)
    if missing:
        names = ", ".join(sorted(set(missing)))
        raise OpsctlError(f"policy {policy.source} has no tier for model(s) {names}: add them to a [[tiers]] models list", ExitCode.USAGE)
    return "".join(lines)


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file (comments and blanks skipped)."""
    from dotenv import dotenv_values

    return {k: v or "" for k, v in dotenv_values(stream=io.StringIO(text)).items()}


def new_secret(name: str) -> str:
    # LiteLLM wants master keys to start with sk-; hex keeps passwords URL-safe.
    return "sk-" + secrets.token_urlsafe(32) if name == "LITELLM_MASTER_KEY" else secrets.token_hex(24)


def render_env(example: str, existing: dict[str, str]) -> str:
    """.env.example with existing values kept and every GENERATED value filled in."""
    values = parse_env(example)
    for name, value in values.items():
        if existing.get(name):
            values[name] = existing[name]
        elif value == GENERATED and name != "DATABASE_URL":
            values[name] = new_secret(name)
    if values.get("DATABASE_URL") == GENERATED:
        values["DATABASE_URL"] = (
            f"postgresql://{values['POSTGRES_USER']}:{values['POSTGRES_PASSWORD']}@postgres:5432/{values['POSTGRES_DB']}"
        )
    lines = ["# Written by opsctl init: secrets. Keep this file mode 0600 and out of version control.\n"]
    lines += [f"{name}={value}\n" for name, value in values.items()]
    lines += [f"{name}={value}\n" for name, value in existing.items() if name not in values]
    return "".join(lines)


def plan_init(directory: Path, policy: Policy, force: bool = False) -> list[PlannedFile]:
    """Everything `opsctl init` would write, rendered and checked; raises before any write."""
    files = template_files()
    files[CONFIG] = render_config(files[CONFIG], policy)
    env_path = directory / ENV
    existing_env = parse_env(env_path.read_text()) if env_path.is_file() else {}
    files[ENV] = render_env(files[ENV_EXAMPLE], existing_env)

    plan = []
    for relative, content in sorted(files.items()):
        exists = (directory / relative).exists()
        if exists and (directory / relative).read_text() == content:
            action = "keep"
        else:
            action = "overwrite" if exists else "create"
        mode = 0o600 if relative == ENV else 0o644
        plan.append(PlannedFile(relative, content, mode, action))

    clashes = [p.relative for p in plan if p.action == "overwrite"]
    if clashes and not force:
        raise OpsctlError(
            f"refusing to overwrite {', '.join(clashes)} in {directory} (use --force; .env keeps its values)",
            ExitCode.REFUSED,
        )
    return plan


def write_plan(directory: Path, plan: list[PlannedFile]) -> None:
    """Write each file through a temporary file and a rename, with its mode set before the rename."""
    for planned in plan:
        target = directory / planned.relative
        if planned.action == "keep":
            os.chmod(target, planned.mode)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.opsctl-tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, planned.mode)
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), planned.mode)
            handle.write(planned.content)
        os.replace(temporary, target)
