"""A snapshot of the database, exported and held open while pg_dump and the manifest's queries read it.

The host's psql holds the exporting transaction when it is there: a C client
has connected and exported the snapshot within tens of milliseconds, so
pg_dump starts at once and psycopg's import (a tenth of a second, about a
third of a small dump) runs beside the dump instead of before it. Without
psql a psycopg connection holds it. Either way the password travels in
PGPASSWORD, never in argv.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from opsctl.backup import pgtools
from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import safe_text

EXPORT = "SELECT pg_export_snapshot() || ' ' || current_setting('server_version_num')"
ANSWER = re.compile(rb"([0-9A-F]+-[0-9A-F]+-[0-9]+) ([0-9]+)\n")
ANSWER_SECONDS = 15  # connect (PGCONNECT_TIMEOUT 5 s) and one query: anything longer is a hung server
EXIT_SECONDS = 10


@dataclass(frozen=True)
class Snapshot:
    id: str
    server_major: int


@contextmanager
def held(database_url: str) -> Iterator[Snapshot]:
    """A REPEATABLE READ, READ ONLY transaction's exported snapshot, valid while the block runs."""
    psql = pgtools.host_tool("psql")
    if psql is None:
        with _held_by_psycopg(database_url) as snapshot:
            yield snapshot
        return
    conninfo, env = pgtools.split_password(database_url)
    argv = [psql.path, "--no-psqlrc", "--quiet", "--no-align", "--tuples-only", "--no-password",
            "--set=ON_ERROR_STOP=1", f"--dbname={conninfo}"]
    with subprocess.Popen(argv, env={**os.environ, "PGCONNECT_TIMEOUT": "5", **env}, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            try:
                process.stdin.write(f"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n{EXPORT};\n".encode())
                process.stdin.flush()
            except BrokenPipeError:  # psql has already given up: its stderr says why
                ready = []
            else:
                ready, _, _ = select.select([process.stdout], [], [], ANSWER_SECONDS)
            answer = ANSWER.fullmatch(process.stdout.readline(200)) if ready else None
            if answer is None:
                raise _failure(database_url, process, list(env.values()))
            yield Snapshot(answer.group(1).decode(), int(answer.group(2)) // 10000)
            # psql ends at the end of its input, the read-only transaction with it; communicate wakes on
            # the pipes' end (Popen.wait(timeout) polls, sleeping up to 50 ms).
            process.communicate(timeout=EXIT_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()


@contextmanager
def _held_by_psycopg(database_url: str) -> Iterator[Snapshot]:
    from opsctl.db.connection import connect

    with connect(database_url, snapshot=True) as connection:
        exported = connection.execute(EXPORT).fetchone()[0]
        answer = ANSWER.fullmatch(exported.encode() + b"\n")
        yield Snapshot(answer.group(1).decode(), int(answer.group(2)) // 10000)


def _failure(database_url: str, process: subprocess.Popen, secrets: list[str]) -> OpsctlError:
    """Why psql gave no snapshot: the connect failure psycopg reports for the same URL (one classified
    line and exit code, as every other command gives), else psql's own last line."""
    from opsctl.db.connection import connect

    process.kill()
    _, errors = process.communicate(timeout=EXIT_SECONDS)
    with connect(database_url):
        pass
    lines = [line for line in errors.decode(errors="replace").splitlines() if line.strip()]
    reason = safe_text(lines[-1] if lines else "no answer", secrets, limit=300)
    return OpsctlError(f"psql could not export a snapshot: {reason}", ExitCode.FAILED)
