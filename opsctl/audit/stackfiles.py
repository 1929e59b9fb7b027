"""The stack's files, read once and shared by every check.

Layout (what `opsctl init DIR` writes): DIR/docker-compose.yml,
DIR/litellm/config.yaml, DIR/litellm/custom_callbacks.py, DIR/.env, and the
operator's ~/.007. The proxy's environment is worked out the way compose
does it: `env_file` entries, then `environment` (which wins), with
`${VAR}` interpolated from DIR/.env.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from opsctl.audit.yamldoc import YamlDoc, load_yaml, read_stack_text
from opsctl.errors import ExitCode, OpsctlError
from opsctl.policy import Policy

CONFIG_FILE = "litellm/config.yaml"
CALLBACKS_FILE = "litellm/custom_callbacks.py"
DOTENV_FILE = ".env"

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=")
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR, and $$ (a literal $)
_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class EnvVar:
    value: str
    path: str  # where it is set, as shown in evidence
    line: int


@dataclass(frozen=True)
class EnvFile:
    rel: str
    values: dict[str, EnvVar]


def read_env_file(path: Path, rel: str) -> EnvFile | None:
    """A dotenv file's values with their lines, or None when it does not exist."""
    from dotenv import dotenv_values

    text = read_stack_text(path, rel)
    if text is None:
        return None
    lines = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _ENV_LINE.match(line)
        if match:
            lines[match.group(1)] = number  # the last assignment wins, as in dotenv
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)  # the text already read
    return EnvFile(rel, {k: EnvVar(v or "", rel, lines.get(k, 1)) for k, v in values.items()})


def interpolate(value: str, env: dict[str, EnvVar]) -> str:
    """Compose's variable substitution, from the stack's .env."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, default = match.group(2), match.group(3) or ""
        current = env[name].value if name in env else None
        if operator == ":-" and not current:
            return default
        if operator == "-" and current is None:
            return default
        return current or ""

    return _INTERPOLATION.sub(replace, value)


def is_reference(value: str) -> bool:
    """True when a compose value only points at a variable (no literal text of its own)."""
    rest = _INTERPOLATION.sub(lambda m: "" if m.group(3) is None or m.group(2) in (":?", "?") else m.group(3), value)
    return rest.strip() == "" and "$" in value


@dataclass(frozen=True)
class Port:
    """One `ports:` entry as compose publishes it."""

    index: int
    host_ip: str | None  # None: every interface
    published: str | None  # None: a random host port
    target: str
    text: str


def parse_port(index: int, entry: Any, env: dict[str, EnvVar]) -> Port:
    """Short syntax ("[IP:][HOST:]CONTAINER[/proto]", "[::1]:H:C") or long syntax (a map)."""
    if isinstance(entry, dict):
        host_ip = interpolate(str(entry["host_ip"]), env) if entry.get("host_ip") else None
        published = str(entry["published"]) if entry.get("published") is not None else None
        target = str(entry.get("target"))
        return Port(index, host_ip, published, target, f"{host_ip or '0.0.0.0'}:{published or '<random>'}->{target}")
    text = interpolate(str(entry), env)
    host_ip = None
    rest = text.split("/")[0]
    if rest.startswith("["):
        host_ip, _, rest = rest[1:].partition("]:")
    parts = rest.split(":")
    if len(parts) == 3:
        host_ip = parts.pop(0)
    published = parts[0] if len(parts) == 2 else None
    return Port(index, host_ip, published, parts[-1], text)


@dataclass(frozen=True)
class Service:
    name: str
    spec: dict

    @property
    def image(self) -> str:
        return str(self.spec.get("image") or "")

    def ports(self, env: dict[str, EnvVar]) -> list[Port]:
        return [parse_port(index, entry, env) for index, entry in enumerate(as_list(self.spec.get("ports")))]


@dataclass(frozen=True)
class StackFiles:
    dir: Path
    compose: YamlDoc | None
    config: YamlDoc | None
    dotenv: EnvFile | None
    secrets_path: Path  # ~/.007
    callbacks_path: Path
    policy: Policy
    proxy_env: dict[str, EnvVar] = field(default_factory=dict)

    @property
    def services(self) -> list[Service]:
        services = self.compose.get("services", default={}) if self.compose else {}
        if not isinstance(services, dict):
            return []
        return [Service(str(name), spec if isinstance(spec, dict) else {}) for name, spec in services.items()]

    def service(self, word: str) -> Service | None:
        """The service named `word`, else the first whose image mentions it."""
        services = self.services
        for service in services:
            if service.name == word:
                return service
        return next((s for s in services if word in s.image.lower()), None)

    @property
    def proxy(self) -> Service | None:
        return self.service("litellm")

    def compose_env(self) -> dict[str, EnvVar]:
        """The variables compose interpolates with (the stack's .env)."""
        return self.dotenv.values if self.dotenv else {}

    def settings(self, section: str) -> dict:
        value = self.config.get(section, default={}) if self.config else {}
        return value if isinstance(value, dict) else {}

    def models(self) -> list[tuple[int, str, dict]]:
        """(index in model_list, model_name, litellm_params) of every well-formed entry."""
        models = as_list(self.config.get("model_list")) if self.config else []
        return [
            (index, m["model_name"], m.get("litellm_params") if isinstance(m.get("litellm_params"), dict) else {})
            for index, m in enumerate(models)
            if isinstance(m, dict) and isinstance(m.get("model_name"), str) and m["model_name"]
        ]

    def model_groups(self) -> set[str]:
        return {name for _, name, _ in self.models()}


def as_list(value: Any) -> list:
    """A YAML value that should be a list, read leniently (one item, or nothing)."""
    return value if isinstance(value, list) else [] if value is None else [value]


def _env_file_entries(spec: Any) -> list[str]:
    entries = [entry.get("path") if isinstance(entry, dict) else entry for entry in as_list(spec)]
    return [str(entry) for entry in entries if entry]


def _proxy_env(files: StackFiles) -> dict[str, EnvVar]:
    proxy, compose = files.proxy, files.compose
    if proxy is None or compose is None:
        return {}
    env: dict[str, EnvVar] = {}
    for entry in _env_file_entries(proxy.spec.get("env_file")):
        loaded = read_env_file(files.dir / entry, entry)
        if loaded:
            env.update(loaded.values)
    environment = proxy.spec.get("environment")
    environment = environment if isinstance(environment, dict) else as_list(environment)
    base = ("services", proxy.name, "environment")
    source = files.compose_env()
    if isinstance(environment, dict):
        items = [(name, value, compose.line(*base, name)) for name, value in environment.items()]
    else:
        items = []
        for index, item in enumerate(environment):
            name, _, value = str(item).partition("=")
            items.append((name, value if "=" in str(item) else None, compose.line(*base, index)))
    for name, value, line in items:
        if value is None:  # `- NAME` passes the variable through from the environment compose runs in
            resolved = source[name].value if name in source else ""
        else:
            resolved = interpolate(str(value), source)
        env[name] = EnvVar(resolved, compose.rel, line)
    return env


def load_stack(stack_dir: Path, policy: Policy, home: Path, compose_file: str = "docker-compose.yml") -> StackFiles:
    stack_dir = Path(stack_dir)
    if not stack_dir.is_dir():
        raise OpsctlError(f"no such stack directory: {stack_dir}", ExitCode.USAGE)
    compose_path = Path(compose_file) if Path(compose_file).is_absolute() else stack_dir / compose_file
    compose = load_yaml(compose_path, compose_file)
    config = load_yaml(stack_dir / CONFIG_FILE, CONFIG_FILE)
    if compose is None and config is None:
        raise OpsctlError(
            f"not a stack directory: {stack_dir} has neither {compose_file} nor {CONFIG_FILE} (create one: opsctl init {stack_dir})",
            ExitCode.USAGE,
        )
    files = StackFiles(
        dir=stack_dir,
        compose=compose,
        config=config,
        dotenv=read_env_file(stack_dir / DOTENV_FILE, DOTENV_FILE),
        secrets_path=home / ".007",
        callbacks_path=stack_dir / CALLBACKS_FILE,
        policy=policy,
    )
    return replace(files, proxy_env=_proxy_env(files))
