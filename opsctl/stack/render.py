"""`opsctl init`: copy the reference stack, render config.yaml from the
policy file, and write a `.env` with fresh secrets.

Nothing is written until every file has been rendered and checked, and an
existing file is only replaced with `force`. An existing `.env` keeps its
values even then: new secrets would lock the stack out of its own Postgres
volume. Every file is written with opsctl.files.write_atomic (never through a
planted symlink or temporary name, never into another user's file); a
symlink, FIFO or foreign file where a stack file goes is refused before
anything is written. A kept .env value is written back so that python-dotenv
and Compose both read it as it was (quoted when needed), or init refuses.
"""

from __future__ import annotations

import functools
import io
import os
import re
import secrets
import stat
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

MAX_STACK_FILE = 1024 * 1024
# Values python-dotenv and Compose read alike when unquoted; single quotes are literal to both.
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_\-.:/@%+=,~?&]*$")
_QUOTABLE_VALUE = re.compile(r"^[^'\\\x00-\x1f\x7f]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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
    """Every packaged template file, by path relative to the stack directory (a fresh dict each call)."""
    return dict(_read_templates())


@functools.cache  # the package's files do not change while opsctl runs
def _read_templates() -> dict[str, str]:
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


def env_line(name: str, value: str) -> str:
    """`NAME=value` that python-dotenv and Compose both read back as `value`; USAGE error if none does."""
    if not _ENV_NAME.match(name):
        raise OpsctlError(f"{ENV}: cannot keep a variable named {name[:40]!r}: edit {ENV} by hand or remove it", ExitCode.USAGE)
    if _PLAIN_VALUE.match(value):
        return f"{name}={value}\n"
    if _QUOTABLE_VALUE.match(value):
        return f"{name}='{value}'\n"
    raise OpsctlError(f"{ENV}: the value of {name} holds a quote, backslash or control character that Compose and "
                      f"python-dotenv read differently: edit {ENV} by hand", ExitCode.USAGE)


def new_secret(name: str) -> str:
    # LiteLLM wants master keys to start with sk-; hex keeps passwords URL-safe.
    return "sk-" + secrets.token_urlsafe(32) if name == "LITELLM_MASTER_KEY" else secrets.token_hex(24)


def render_env(example: str, existing: dict[str, str], computed: dict[str, str] | None = None,
               forced: dict[str, str] | None = None) -> str:
    """.env.example with existing values kept and every GENERATED value filled in.

    `computed`: GENERATED values that are not secrets (the LB's uid:gid); `forced`:
    values that win over existing ones (the replica count init was asked for).
    """
    computed, forced = computed or {}, forced or {}
    values = parse_env(example)
    existing = {**existing, **{name: value for name, value in forced.items() if name in existing}}
    for name, value in values.items():
        if name in forced:
            values[name] = forced[name]
        elif existing.get(name):
            values[name] = existing[name]
        elif value == GENERATED and name in computed:
            values[name] = computed[name]
        elif value == GENERATED and name != "DATABASE_URL":
            values[name] = new_secret(name)
    if values.get("DATABASE_URL") == GENERATED:
        values["DATABASE_URL"] = (
            f"postgresql://{values['POSTGRES_USER']}:{values['POSTGRES_PASSWORD']}@postgres:5432/{values['POSTGRES_DB']}"
        )
    lines = ["# Written by opsctl init: secrets. Keep this file mode 0600 and out of version control.\n"]
    lines += [env_line(name, value) for name, value in values.items()]
    lines += [env_line(name, value) for name, value in existing.items() if name not in values]
    return "".join(lines)


def _existing(directory: Path, relative: str) -> str | None:
    """The text of a stack file already there (None when absent), refusing what init must not write over."""
    from opsctl.files import read_regular

    parts = Path(relative).parts
    for depth in range(1, len(parts) + 1):
        path = directory.joinpath(*parts[:depth])
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        last = depth == len(parts)
        if stat.S_ISLNK(info.st_mode):
            raise OpsctlError(f"{path} is a symlink: refusing to write the stack through it", ExitCode.REFUSED)
        if (not last and not stat.S_ISDIR(info.st_mode)) or (last and not stat.S_ISREG(info.st_mode)):
            raise OpsctlError(f"{path} is not a {'directory' if not last else 'regular file'}: refusing to write there",
                              ExitCode.REFUSED)
        if last and info.st_uid != os.geteuid():
            raise OpsctlError(f"{path} is owned by another user: refusing to write the stack into it", ExitCode.REFUSED)
    data = read_regular(directory / relative, MAX_STACK_FILE, "stack file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if relative == ENV:
            raise OpsctlError(f"{directory / ENV} is not UTF-8 text: fix or remove it", ExitCode.USAGE) from None
        return ""  # differs from anything we would write


def plan_init(directory: Path, policy: Policy, force: bool = False, replicas: int | None = None) -> list[PlannedFile]:
    """Everything `opsctl init` would write, rendered and checked; raises before any write.

    `replicas` None: the count the stack's .env records (OPSCTL_REPLICAS), else 1.
    """
    from opsctl.replicas import stack as replica_stack

    files = template_files()
    files[CONFIG] = render_config(files[CONFIG], policy)
    env_text = _existing(directory, ENV)
    existing_env = parse_env(env_text) if env_text is not None else {}
    count = replicas if replicas is not None else replica_stack.recorded_count(existing_env)
    files = replica_stack.scale_files(files, count)
    current = {relative: _existing(directory, relative) for relative in sorted({*files, ENV})}
    forced = {replica_stack.REPLICAS_VAR: str(count)}  # written when N > 1, or when .env has it already
    computed = {replica_stack.LB_USER_VAR: replica_stack.lb_user()}
    files[ENV] = render_env(files[ENV_EXAMPLE], existing_env, computed, forced)

    plan = []
    for relative, content in sorted(files.items()):
        exists = current[relative] is not None
        if exists and current[relative] == content:
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
    """Write each file atomically with its mode (opsctl.files.write_atomic); a kept file only gets its mode."""
    from opsctl.files import write_atomic

    for planned in plan:
        target = directory / planned.relative
        if planned.action == "keep":
            _set_mode(target, planned.mode)
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OpsctlError(f"cannot create {target.parent}: {error.strerror}", ExitCode.FAILED) from None
        write_atomic(target, planned.content, planned.mode, what="the stack")


def _set_mode(target: Path, mode: int) -> None:
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # chmod() would follow a symlink
    except OSError as error:
        raise OpsctlError(f"cannot set the mode of {target}: {error.strerror}", ExitCode.REFUSED) from None
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
