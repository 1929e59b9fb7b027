"""pg_dump and pg_restore, run so that no password reaches a command line.

The password travels in PGPASSWORD (the child's environment, readable only
by its user), never in argv where `ps` shows it. The host's tools are used
when their major version can read the server's; otherwise the dump is taken
through the stack's Postgres container (`docker compose exec -T`), whose tools
match its server by construction.

On Debian, /usr/bin/pg_dump and pg_restore are pg_wrapper, a perl script that
picks a cluster and execs /usr/lib/postgresql/N/bin/<tool>. opsctl runs that
binary itself (the newest N, as the wrapper does without a local cluster):
its directory names its major, so no `--version` run is needed, no perl is
paid, and the wrapper's local-cluster defaults (PGPORT of a cluster on this
host) cannot send pg_dump to another server than the one opsctl connected to.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import unquote, unquote_to_bytes

from opsctl.db.prisma_url import libpq_url
from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import safe_text

TOOL_TIMEOUT_SECONDS = 3600
DEBIAN_WRAPPER = "/usr/share/postgresql-common/pg_wrapper"
DEBIAN_BINROOT = Path("/usr/lib/postgresql")


@dataclass(frozen=True)
class Tool:
    path: str
    major: int | None  # None: `--version` printed no version


def split_password(database_url: str) -> tuple[str, dict[str, str]]:
    """(the libpq URL without its password, the environment that carries it)."""
    url = libpq_url(database_url)
    plain = _split_plain_uri(url)
    if plain is not None:
        return plain
    import psycopg  # anything else is split the way libpq reads it

    from opsctl.db.connection import connect_error, naive_password

    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:  # libpq's text may quote the password: never raised as is
        raise connect_error(error, database_url) from None
    except UnicodeDecodeError:
        raise OpsctlError("DATABASE_URL is not a valid Postgres URL: a %-escape in it is not UTF-8 text",
                          ExitCode.USAGE) from None
    password = params.pop("password", None)
    conninfo = psycopg.conninfo.make_conninfo(**params)
    naive = naive_password(database_url)
    if naive and unquote(naive) != (password or ""):
        # What reads as the password is not libpq's (a raw "/" or "@" in it, a `password` option): libpq
        # takes a piece of it as a port, host or database, which would go into argv where `ps` shows it.
        raise OpsctlError("DATABASE_URL is not a valid Postgres URL: libpq does not read the text after the user "
                          "name as its password (percent-encode / @ ? # and spaces in a password)", ExitCode.USAGE)
    return conninfo, ({"PGPASSWORD": password} if password else {})


# A password as RFC 3986 spells one: unreserved and sub-delimiter characters and %XX escapes (libpq
# trims or refuses raw spaces and reads a bare "%" as an error; such URLs go to libpq's own parser).
_URI_PASSWORD = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


def _split_plain_uri(url: str) -> tuple[str, dict[str, str]] | None:
    """split_password without psycopg (a tenth of a second to import) for the URL everyone writes,
    postgresql://user:password@host:port/db?options; None for anything libpq might read differently.
    libpq takes the user info up to the first "@" before a "/", splits it at the first ":" and
    percent-decodes it; a `password` option would override it."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in ("postgresql", "postgres"):
        return None
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if authority.count("@") != 1 or "password" in rest[len(authority):]:
        return None
    userinfo, _, hosts = authority.partition("@")
    user, colon, quoted = userinfo.partition(":")
    if not colon:
        return url, {}
    if not _URI_PASSWORD.fullmatch(quoted):
        return None
    try:
        password = unquote_to_bytes(quoted).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\0" in password:
        return None
    stripped = f"{scheme}://{user}@{hosts}{rest[len(authority):]}"
    return stripped, ({"PGPASSWORD": password} if password else {})


def _debian_binary(tool: str) -> Tool | None:
    """The newest /usr/lib/postgresql/N/bin/<tool>: what pg_wrapper would exec."""
    found = [(int(path.parents[1].name), path) for path in DEBIAN_BINROOT.glob(f"*/bin/{tool}")
             if path.parents[1].name.isdigit() and os.access(path, os.X_OK)]
    if not found:
        return None
    major, path = max(found)
    return Tool(str(path), major)


def host_tool(tool: str) -> Tool | None:
    """The host's pg_dump/pg_restore (the first on PATH) with its major version, or None when absent."""
    path = shutil.which(tool)
    if not path:
        return None
    if os.path.realpath(path) == DEBIAN_WRAPPER and (binary := _debian_binary(tool)):
        return binary
    result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    found = re.search(r"(\d+)(?:\.\d+)?", result.stdout)
    return Tool(path, int(found.group(1)) if found else None)


def require_host_tool(tool: str) -> Tool:
    found = host_tool(tool)
    if found is None:
        raise OpsctlError(f"{tool} not found: install postgresql-client", ExitCode.MISSING_TOOL)
    return found


@contextmanager
def _running(argv: list[str], env_extra: dict[str, str], secrets: list[str], *, stdout: BinaryIO | None = None,
             what: str) -> Iterator[None]:
    """The tool runs while the block does; when the block ends it is waited for and its failure raised
    (one line, secrets scrubbed). If the block raises, the tool is killed."""
    env = {**os.environ, **env_extra}
    with subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout if stdout else subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as process:  # on leaving: pipes closed, the process reaped
        try:
            yield
            # Wakes on the pipe's end when the tool exits (Popen.wait(timeout) polls, sleeping up to 50 ms).
            # Until then its stderr waits in the pipe; the block never waits for the tool, so nothing blocks.
            _, errors = process.communicate(timeout=TOOL_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise OpsctlError(f"{what} did not finish within {TOOL_TIMEOUT_SECONDS} s", ExitCode.TIMEOUT) from None
        finally:
            if process.poll() is None:
                process.kill()
    if process.returncode != 0:
        lines = [line for line in errors.decode(errors="replace").splitlines() if line.strip()]
        reason = safe_text(lines[-1] if lines else f"exit status {process.returncode}", secrets, limit=300)
        raise OpsctlError(f"{what} failed: {reason}", ExitCode.FAILED)


@contextmanager
def dumping(database_url: str, out: BinaryIO, tool: Tool | None = None, via_container: list[str] | None = None,
            snapshot: str | None = None) -> Iterator[None]:
    """pg_dump -Fc of the database into `out` while the block runs, with the host's `tool` (from
    `snapshot` when given) or through `via_container` (an exec argv prefix); checked when the block ends."""
    conninfo, env = split_password(database_url)
    secrets = list(env.values())
    if via_container is None:
        argv = [tool.path, "--format=custom", "--no-owner", "--no-privileges", f"--dbname={conninfo}"]
        if snapshot:
            argv.append(f"--snapshot={snapshot}")
        with _running(argv, env, secrets, stdout=out, what="pg_dump"):
            yield
    else:
        # Inside the container the server is local: its own user and database, no password needed.
        # The snapshot goes in as a positional argument ($1), never into the script's text.
        script = ('exec pg_dump --format=custom --no-owner --no-privileges -U "$POSTGRES_USER"'
                  + (' --snapshot="$1"' if snapshot else "") + ' "$POSTGRES_DB"')
        with _running([*via_container, "sh", "-c", script, "sh", *([snapshot] if snapshot else [])], {}, secrets,
                      stdout=out, what="pg_dump (in the postgres container)"):
            yield


def restore(database_url: str, dump_file: Path, clean: bool) -> None:
    """pg_restore of a custom-format dump in one transaction: all of it, or nothing."""
    conninfo, env = split_password(database_url)
    argv = [require_host_tool("pg_restore").path, "--no-owner", "--no-privileges", "--single-transaction",
            "--exit-on-error", f"--dbname={conninfo}"]
    if clean:
        argv += ["--clean", "--if-exists"]
    with _running([*argv, str(dump_file)], env, list(env.values()), what="pg_restore"):
        pass


def list_dump(dump_file: Path) -> int:
    """How many entries pg_restore finds in a dump's table of contents (it fails on a damaged one)."""
    result = subprocess.run([require_host_tool("pg_restore").path, "--list", str(dump_file)],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unreadable"])[-1]
        raise OpsctlError(f"the database dump is damaged: {safe_text(reason, limit=200)}", ExitCode.FAILED)
    return sum(1 for line in result.stdout.splitlines() if line and not line.startswith(";"))
