"""One frozen settings object, and where each value came from.

Sources, highest first: command-line options, the real environment, the
dotenv file (`.env` in the working directory or `--env-file`), then the
secrets file `~/.007`. Like LiteLLM (`litellm/__init__.py` loads dotenv only
while `LITELLM_MODE` is unset or exactly `DEV`), `LITELLM_MODE=PRODUCTION`
turns dotenv loading off; `~/.007` is still read (it is the operator's
secrets file, not the project's).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

from opsctl.errors import ExitCode, OpsctlError

DEFAULT_PROXY_URL = "http://127.0.0.1:4000"

# field name -> (environment variable, default, is secret)
FIELDS: dict[str, tuple[str, str | None, bool]] = {
    "proxy_url": ("LITELLM_PROXY_URL", DEFAULT_PROXY_URL, False),
    "master_key": ("LITELLM_MASTER_KEY", None, True),
    "database_url": ("DATABASE_URL", None, True),
    "health_url": ("OPSCTL_HEALTH_URL", None, False),
    "stack_dir": ("OPSCTL_STACK_DIR", ".", False),
    "compose_file": ("OPSCTL_COMPOSE_FILE", "docker-compose.yml", False),
    "compose_project": ("COMPOSE_PROJECT_NAME", None, False),
    "policy_file": ("OPSCTL_POLICY", None, False),
}

SECRETS_FILE_NAME = ".007"


@dataclass(frozen=True)
class Settings:
    proxy_url: str = DEFAULT_PROXY_URL
    master_key: str | None = None
    database_url: str | None = None
    health_url: str | None = None  # the separate health app, e.g. http://127.0.0.1:4001
    stack_dir: str = "."
    compose_file: str = "docker-compose.yml"  # relative to stack_dir unless absolute
    compose_project: str | None = None
    policy_file: str | None = None  # None: the packaged default policy
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    read_from: tuple[str, ...] = field(default=(), compare=False)  # the sources consulted, highest first

    def source_of(self, name: str) -> str:
        return self.sources.get(name, "default")

    def require_master_key(self) -> str:
        if not self.master_key:
            raise OpsctlError(
                "no master key: set LITELLM_MASTER_KEY (environment, .env or ~/.007) or pass --master-key",
                ExitCode.USAGE,
            )
        return self.master_key

    def require_database_url(self) -> str:
        if not self.database_url:
            raise OpsctlError(
                "no database: set DATABASE_URL (environment, .env or ~/.007) or pass --database-url",
                ExitCode.USAGE,
            )
        return self.database_url

    @property
    def compose_path(self) -> Path:
        path = Path(self.compose_file)
        return path if path.is_absolute() else Path(self.stack_dir) / path

    def describe(self) -> list[dict]:
        """Every effective setting, secrets masked, with its source."""
        rows = []
        for name, (env_var, _default, secret) in FIELDS.items():
            value = getattr(self, name)
            rows.append(
                {
                    "name": name,
                    "env": env_var,
                    "value": (mask_url(value) if name == "database_url" else mask(value)) if secret else value,
                    "source": self.source_of(name),
                }
            )
        return rows


def mask(value: str | None) -> str | None:
    """Show that a secret is set without showing it."""
    if not value:
        return value
    return "****" if len(value) < 12 else f"{value[:3]}****"


def mask_url(url: str | None) -> str | None:
    """A connection URL with its password masked, so which database it is stays visible.

    Anything else that could hold a password (a key=value DSN, a password in
    the query string, an unparsable URL) is masked whole.
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return mask(url)
    if "://" not in url or "password" in parts.query.lower():
        return mask(url)
    if password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{password}@", ":****@", 1)))


def _read_dotenv(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _secrets_file_warning(path: Path) -> str | None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} is readable by group or others (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
    return None


def load_settings(
    options: Mapping[str, str | None] | None = None,
    env_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Merge the sources, highest first: options, environment, dotenv, ~/.007."""
    options = {k: v for k, v in (options or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    cwd = Path.cwd() if cwd is None else cwd
    warnings: list[str] = []

    layers: list[tuple[str, Mapping[str, str]]] = [("environment", environ)]

    mode = environ.get("LITELLM_MODE", "DEV")
    production = mode != "DEV"  # exactly LiteLLM's test: any other value turns dotenv off
    if env_file is not None:
        path = Path(env_file)
        if not path.is_file():
            raise OpsctlError(f"env file not found: {path}", ExitCode.USAGE)
        if production:
            warnings.append(f"LITELLM_MODE={mode}: ignoring {path}")
        else:
            layers.append((str(path), _read_dotenv(path)))
    elif not production and (cwd / ".env").is_file():
        layers.append((".env", _read_dotenv(cwd / ".env")))

    secrets_path = home / SECRETS_FILE_NAME
    if secrets_path.is_file():
        warning = _secrets_file_warning(secrets_path)
        if warning:
            warnings.append(warning)
        layers.append(("~/.007", _read_dotenv(secrets_path)))

    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name, (env_var, default, _secret) in FIELDS.items():
        if name in options:
            values[name], sources[name] = options[name], "option"
            continue
        for label, layer in layers:
            if layer.get(env_var):
                values[name], sources[name] = layer[env_var], label
                break
        else:
            if default is not None:
                values[name], sources[name] = default, "default"
    read_from = ("option", *(label for label, _layer in layers))
    return Settings(**values, sources=sources, warnings=tuple(warnings), read_from=read_from)
