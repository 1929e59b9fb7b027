"""One frozen settings object, and where each value came from.

Sources, highest first: command-line options, the real environment, the
dotenv file (`.env` in the working directory or `--env-file`), then the
secrets file `~/.007`. The dotenv file is the stack's: `.env` in
--stack-dir / OPSCTL_STACK_DIR when one is given, else in the working
directory. Like LiteLLM (`litellm/__init__.py` loads dotenv only
while `LITELLM_MODE` is unset or exactly `DEV`), `LITELLM_MODE=PRODUCTION`
turns dotenv loading off; `~/.007` is still read (it is the operator's
secrets file, not the project's).

A DATABASE_URL read from a dotenv file that names the compose stack's own
Postgres service (host `postgres`, the in-container URL `opsctl init`
writes) is turned into the host-side URL: same user, password, database and
options, host 127.0.0.1 and the port compose publishes
(POSTGRES_HOST_PORT, default 15432). `opsctl config show` says so.

Values are checked where they are used, so a bad proxy URL does not stop
`opsctl db status`: `http_url` and `database_url_problem` say what is wrong
with a URL without ever repeating it (it may hold a password).
"""

from __future__ import annotations

import math
import os
import re
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit, urlunsplit

from opsctl.errors import ExitCode, OpsctlError

DEFAULT_PROXY_URL = "http://127.0.0.1:4000"
DEFAULT_DEADLINE = "120"  # seconds an HTTP command may take in all
MAX_DEADLINE = 86400.0
MAX_DOTENV_BYTES = 1024 * 1024

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
    "deadline": ("OPSCTL_DEADLINE", DEFAULT_DEADLINE, False),
    "replicas": ("OPSCTL_REPLICAS", None, False),  # the stack's proxy replicas behind its LB (init --replicas N)
}

SECRETS_FILE_NAME = ".007"
ENV_FILE_NAME = ".env"

# The reference stack's Postgres: its compose service name, and where compose publishes it
# (opsctl/stack/template/docker-compose.yml: "127.0.0.1:${POSTGRES_HOST_PORT:-15432}:5432").
COMPOSE_DB_SERVICE = "postgres"
COMPOSE_DB_PORT = 5432
DB_HOST_PORT_VAR = "POSTGRES_HOST_PORT"
DEFAULT_DB_HOST_PORT = "15432"  # not 5432, so it never clashes with a Postgres on the host


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
    deadline: str = DEFAULT_DEADLINE  # seconds every HTTP command may take, retries included
    replicas: str | None = None  # OPSCTL_REPLICAS, as the stack's .env records it; None or "1": one proxy
    started_at: float = field(default_factory=time.monotonic, compare=False)  # when the command began
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    notes: Mapping[str, str] = field(default_factory=dict, compare=False)  # why a value differs from its source's
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
        problem = database_url_problem(self.database_url)
        if problem:
            raise OpsctlError(f"{self.named('database_url')} is not a valid Postgres URL: {problem}", ExitCode.USAGE)
        return self.database_url

    def named(self, name: str) -> str:
        """How the user set a setting, for messages: `--proxy-url`, or `LITELLM_PROXY_URL (from .env)`."""
        env_var = FIELDS[name][0]
        source = self.source_of(name)
        if source == "option":
            return "--" + name.replace("_", "-")
        return env_var if source in ("environment", "default") else f"{env_var} (from {source})"

    def proxy_base_url(self) -> str:
        """The proxy URL, checked: a USAGE error that does not repeat it when it is not usable."""
        return http_url(self.proxy_url, self.named("proxy_url"))

    def deadline_seconds(self) -> float:
        try:
            seconds = float(self.deadline)
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and 0 < seconds <= MAX_DEADLINE):
            raise OpsctlError(f"{self.named('deadline')} must be a number of seconds from 0 to {MAX_DEADLINE:.0f}",
                              ExitCode.USAGE)
        return seconds

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
                    # A proxy URL may carry user:password too.
                    "value": (mask_url(value) if name == "database_url" else mask(value)) if secret else
                             (mask_url(value) if value and "@" in value else value),
                    "source": self.source_of(name),
                    "note": self.notes.get(name),
                }
            )
        return rows


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x21 or 0x7F <= ord(ch) <= 0x9F for ch in text)


def http_url(url: str, name: str) -> str:
    """`url` if it is an http(s) URL with a host and a valid port; else a USAGE error that does not echo it."""
    def refuse(why: str) -> OpsctlError:
        return OpsctlError(f"{name} is not a usable proxy URL: {why} (expected e.g. {DEFAULT_PROXY_URL})", ExitCode.USAGE)

    if _has_control(url):
        raise refuse("it contains spaces or control characters")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as error:
        why = "its [IPv6] host is not closed" if "IPv6" in str(error) else "its port is not a number from 1 to 65535"
        raise refuse(why) from None
    if parts.scheme not in ("http", "https"):
        raise refuse("it must start with http:// or https://")
    if not host:
        raise refuse("it has no host")
    if port == 0:
        raise refuse("its port is not a number from 1 to 65535")
    return url


def database_url_problem(url: str) -> str | None:
    """What is wrong with a DATABASE_URL, in words that never quote it; None when it looks usable.

    A key=value DSN is left to libpq; a URL must be postgresql:// or postgres://
    with a closed [IPv6] host and a port from 1 to 65535.
    """
    if "\x00" in url or "\n" in url or "\r" in url:
        return "it contains control characters"
    if "://" not in url:
        return None if "=" in url else "expected postgresql://user:password@host:port/dbname"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as error:
        return "its [IPv6] host is not closed" if "IPv6" in str(error) else "its port is not a number from 1 to 65535"
    if parts.scheme not in ("postgresql", "postgres"):
        return "it must start with postgresql:// or postgres://"
    if parts.port == 0:
        return "its port is not a number from 1 to 65535"
    try:
        unquote_to_bytes(url).decode("utf-8")  # libpq decodes them; psycopg then fails on anything else
    except UnicodeDecodeError:
        return "a %-escape in it is not UTF-8 text"
    return None


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
        # No password as urlsplit reads it; an "@" past the host may still end one libpq would read.
        return mask(url) if "@" in url.split("://", 1)[1].replace(parts.netloc, "", 1) else url
    shown = urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{password}@", ":****@", 1)))
    # A password urlsplit reads differently from libpq (a "/" or "@" in it) must not survive in part.
    return mask(url) if password in shown or shown.count("@") != 1 else shown


# A line python-dotenv reads as exactly KEY and the text after "=": no quotes, spaces, "#", "$" or escapes.
_PLAIN_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_./:@%+,=-]*")


def plain_dotenv_values(text: str) -> dict[str, str] | None:
    """The values of a dotenv file made only of plain KEY=value lines, `#` comment lines and blank
    lines (what `opsctl init` writes), split as python-dotenv reads them; None for any other file.

    Importing python-dotenv (logging, tempfile, ...) is a sixth of `opsctl status`'s time
    (bench/status.py); every file with a line not this plain is read by python-dotenv itself.
    tests/test_settings.py checks the two agree on every plain file."""
    text = text.replace("\r\n", "\n")
    if not text.isascii() or "\r" in text:  # python-dotenv ends a line at a lone \r too
        return None
    values = {}
    for line in text.split("\n"):
        if not line.strip(" \t") or line.lstrip(" \t").startswith("#"):
            continue
        if not _PLAIN_LINE.fullmatch(line):
            return None
        key, _, value = line.partition("=")
        values[key] = value
    return values


def _read_dotenv(path: Path) -> dict[str, str]:
    """A dotenv file's values: a regular file of at most 1 MiB of UTF-8, or a USAGE error."""
    from opsctl.files import read_regular

    data = read_regular(path, MAX_DOTENV_BYTES, "env file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise OpsctlError(f"env file {path} is not UTF-8 text (byte {error.start})", ExitCode.USAGE) from None
    plain = plain_dotenv_values(text)
    if plain is not None:
        return plain
    import io

    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


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
        if not path.exists():
            raise OpsctlError(f"env file not found: {path}", ExitCode.USAGE)
        if production:
            warnings.append(f"LITELLM_MODE={mode}: ignoring {path}")
        else:
            layers.append((str(path), _read_dotenv(path)))
    elif not production:
        # The stack's .env: where --stack-dir / OPSCTL_STACK_DIR points, else here.
        stack = options.get("stack_dir") or environ.get(FIELDS["stack_dir"][0])
        dotenv = (cwd / stack if stack else cwd) / ENV_FILE_NAME
        if dotenv.is_file():
            layers.append((f"{Path(stack) / ENV_FILE_NAME}" if stack else ENV_FILE_NAME, _read_dotenv(dotenv)))

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
    notes: dict[str, str] = {}
    dotenv_labels = {label for label, _layer in layers if label not in ("environment", "~/.007")}
    if sources.get("database_url") in dotenv_labels and names_compose_db(values["database_url"]):
        port, port_source = _db_host_port(layers)
        said = f"{sources['database_url']} names the compose service {COMPOSE_DB_SERVICE!r}"
        if port.isdigit() and 0 < int(port) < 65536:
            values["database_url"] = host_side_database_url(values["database_url"], int(port))
            notes["database_url"] = (f"{said}: using the port compose publishes on the host, 127.0.0.1:{int(port)} "
                                     f"({DB_HOST_PORT_VAR} from {port_source})")
        else:
            notes["database_url"] = f"{said}, but {DB_HOST_PORT_VAR} (from {port_source}) is not a port: used as written"
    read_from = ("option", *(label for label, _layer in layers))
    return Settings(**values, sources=sources, notes=notes, warnings=tuple(warnings), read_from=read_from)


def _db_host_port(layers: list[tuple[str, Mapping[str, str]]]) -> tuple[str, str]:
    """POSTGRES_HOST_PORT as compose interpolates it (the shell over .env), and where it came from."""
    for label, layer in layers:
        if label != "~/.007" and layer.get(DB_HOST_PORT_VAR):  # compose never reads ~/.007
            return layer[DB_HOST_PORT_VAR], label
    return DEFAULT_DB_HOST_PORT, "default"


def names_compose_db(url: str) -> bool:
    """True for the in-container URL of the compose stack's Postgres: host `postgres`, Postgres's own port."""
    try:
        parts = urlsplit(url)
        return (parts.scheme in ("postgresql", "postgres") and parts.hostname == COMPOSE_DB_SERVICE
                and parts.port in (None, COMPOSE_DB_PORT))
    except ValueError:
        return False


def host_side_database_url(url: str, host_port: int) -> str:
    """The same URL (user, password, database, options as written) with host 127.0.0.1 and the published port."""
    parts = urlsplit(url)
    userinfo, at, _host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}127.0.0.1:{host_port}"))
