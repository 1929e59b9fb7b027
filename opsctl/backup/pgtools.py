"""pg_dump and pg_restore, run so that no password reaches a command line.

The password travels in PGPASSWORD (the child's environment, readable only
by its user), never in argv where `ps` shows it. The host's tools are used
when their major version can read the server's; otherwise the dump is taken
through the stack's Postgres container (`docker compose exec -T`), whose tools
match its server by construction.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import BinaryIO

from opsctl.db.prisma_url import libpq_url
from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import safe_text

TOOL_TIMEOUT_SECONDS = 3600


def split_password(database_url: str) -> tuple[str, dict[str, str]]:
    """(the libpq URL without its password, the environment that carries it)."""
    import psycopg

    params = psycopg.conninfo.conninfo_to_dict(libpq_url(database_url))
    password = params.pop("password", None)
    env = {"PGPASSWORD": password} if password else {}
    return psycopg.conninfo.make_conninfo(**params), env


def host_tool_major(tool: str) -> int | None:
    """The major version of the host's pg_dump/pg_restore, or None when absent."""
    path = shutil.which(tool)
    if not path:
        return None
    result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    found = re.search(r"(\d+)(?:\.\d+)?", result.stdout)
    return int(found.group(1)) if found else None


def _run(argv: list[str], env_extra: dict[str, str], secrets: list[str], *, stdin: BinaryIO | None = None,
         stdout: BinaryIO | None = None, what: str) -> None:
    env = {**os.environ, **env_extra}
    try:
        result = subprocess.run(argv, env=env, stdin=stdin if stdin else subprocess.DEVNULL,
                                stdout=stdout if stdout else subprocess.DEVNULL, stderr=subprocess.PIPE,
                                timeout=TOOL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise OpsctlError(f"{what} did not finish within {TOOL_TIMEOUT_SECONDS} s", ExitCode.TIMEOUT) from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.decode(errors="replace").splitlines() if line.strip()]
        reason = safe_text(lines[-1] if lines else f"exit status {result.returncode}", secrets, limit=300)
        raise OpsctlError(f"{what} failed: {reason}", ExitCode.FAILED)


def dump(database_url: str, out: BinaryIO, via_container: list[str] | None = None,
         snapshot: str | None = None) -> None:
    """pg_dump -Fc of the database into `out`, on the host (from `snapshot` when given)
    or through `via_container` (an exec argv prefix)."""
    conninfo, env = split_password(database_url)
    secrets = list(env.values())
    if via_container is None:
        argv = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--dbname={conninfo}"]
        if snapshot:
            argv.append(f"--snapshot={snapshot}")
        _run(argv, env, secrets, stdout=out, what="pg_dump")
    else:
        # Inside the container the server is local: its own user and database, no password needed.
        _run([*via_container, "sh", "-c", 'exec pg_dump --format=custom --no-owner --no-privileges '
              '-U "$POSTGRES_USER" "$POSTGRES_DB"'], {}, secrets, stdout=out, what="pg_dump (in the postgres container)")


def restore(database_url: str, dump_file: Path, clean: bool) -> None:
    """pg_restore of a custom-format dump in one transaction: all of it, or nothing."""
    conninfo, env = split_password(database_url)
    argv = ["pg_restore", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
            f"--dbname={conninfo}"]
    if clean:
        argv += ["--clean", "--if-exists"]
    _run([*argv, str(dump_file)], env, list(env.values()), what="pg_restore")


def list_dump(dump_file: Path) -> int:
    """How many entries pg_restore finds in a dump's table of contents (it fails on a damaged one)."""
    try:
        result = subprocess.run(["pg_restore", "--list", str(dump_file)], capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise OpsctlError("pg_restore not found: install postgresql-client", ExitCode.MISSING_TOOL) from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unreadable"])[-1]
        raise OpsctlError(f"the database dump is damaged: {safe_text(reason, limit=200)}", ExitCode.FAILED)
    return sum(1 for line in result.stdout.splitlines() if line and not line.startswith(";"))
