"""Connecting to LiteLLM's Postgres, with failures turned into one-line errors.

libpq reports every connect failure as one OperationalError without an
SQLSTATE, so the kind (unreachable, refused login, missing database) is read
from the server's FATAL text. Messages name the database as user@host:port/db
and never carry the password.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg import sql

from opsctl.db.prisma_url import libpq_url
from opsctl.errors import ExitCode, OpsctlError

CONNECT_TIMEOUT_SECONDS = 5
LOCK_TIMEOUT = "10s"  # waiting longer for rows another session holds is worse than re-running
MODEL_TABLE = '"LiteLLM_ProxyModelTable"'

# Server FATAL texts that mean "you may not log in" rather than "cannot reach".
_AUTH_FAILURES = re.compile(
    r"password authentication failed|authentication failed|role \".*\" does not exist"
    r"|is not permitted to log in|no pg_hba\.conf entry|password is required|no password supplied"
)
_MISSING_DATABASE = re.compile(r"database \".*\" does not exist")


def describe_url(database_url: str) -> str:
    """user@host:port/dbname: enough to recognise the database, no password."""
    from opsctl.redact import redact

    try:
        parts = psycopg.conninfo.conninfo_to_dict(libpq_url(database_url))
    except (psycopg.ProgrammingError, UnicodeDecodeError):  # a %-escape that is not UTF-8
        return "<unparsable DATABASE_URL>"
    user = parts.get("user") or "?"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    # A URL libpq splits where the user did not (a "/" in the password) must not show the password as a port.
    return redact(f"{user}@{host}:{port}/{parts.get('dbname') or user}", _password_candidates(database_url))


def _password_candidates(database_url: str) -> list[str]:
    """Every string that may be the password: libpq's reading, and the naive user:PASSWORD@ one."""
    return [c for c in (_password_of(database_url), naive_password(database_url)) if c]


def naive_password(database_url: str) -> str | None:
    """The text between user: and the last @, as a person reads the URL (still percent-encoded); libpq
    reads it otherwise when it holds a "/" or a second "@"."""
    authority = database_url.split("://", 1)[-1]
    if "@" in authority and ":" in authority.rsplit("@", 1)[0]:
        return authority.rsplit("@", 1)[0].split(":", 1)[1] or None
    return None


def _password_of(database_url: str) -> str | None:
    try:
        return psycopg.conninfo.conninfo_to_dict(libpq_url(database_url)).get("password") or None
    except (psycopg.ProgrammingError, UnicodeDecodeError):  # a %-escape that is not UTF-8
        return None


def _server_reason(error: psycopg.Error, password: str | None, database_url: str | None = None) -> str:
    """The last 'failed: ...' reason of a libpq message, first line, password and URL scrubbed."""
    from opsctl.redact import redact

    text = str(error).split("failed: ")[-1].splitlines()[0] if str(error) else type(error).__name__
    text = text.replace("FATAL:  ", "").strip()
    if isinstance(error, psycopg.ProgrammingError):
        # libpq quotes the piece it could not parse, which may be the whole URL or the password.
        text = re.sub(r'"[^"]*"?', '"…"', text)
    return redact(text, (password, database_url, *(_password_candidates(database_url) if database_url else ())))


def connect_error(error: psycopg.Error, database_url: str) -> OpsctlError:
    """Map a connect failure to the documented exit codes."""
    where = describe_url(database_url)
    reason = _server_reason(error, _password_of(database_url), database_url)
    if isinstance(error, psycopg.ProgrammingError):
        return OpsctlError(f"DATABASE_URL is not a valid Postgres URL: {reason}", ExitCode.USAGE)
    if _AUTH_FAILURES.search(reason):
        return OpsctlError(f"the database refused the login for {where}: {reason}", ExitCode.AUTH)
    if _MISSING_DATABASE.search(reason):
        return OpsctlError(f"not a LiteLLM database: {where}: {reason}", ExitCode.NOT_LITELLM)
    return OpsctlError(f"cannot reach the database at {where}: {reason}", ExitCode.UNREACHABLE)


@contextmanager
def connect(database_url: str, snapshot: bool | str = False) -> Iterator[psycopg.Connection]:
    """A connection to a database that has LiteLLM's model table; closed on exit.

    Not autocommit: the caller's writes form one transaction, committed when
    the block ends without an exception (psycopg's connection context).
    With `snapshot`, the transaction is READ ONLY and REPEATABLE READ: every
    query in it sees the same state (and pg_export_snapshot() can share it);
    a snapshot id (pg_export_snapshot()'s, from a transaction still open)
    makes that state the exporting transaction's.
    """
    try:
        connection = psycopg.connect(libpq_url(database_url), connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.Error as error:
        raise connect_error(error, database_url) from None
    if snapshot:
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
    where = describe_url(database_url)
    try:
        with connection:
            if isinstance(snapshot, str):  # before any other query of the transaction
                connection.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            _require_litellm_schema(connection, database_url)
            yield connection
    except psycopg.errors.InsufficientPrivilege as error:
        raise OpsctlError(
            f"the database refused access for {where}: {_server_reason(error, None)}; nothing was changed",
            ExitCode.AUTH,
        ) from None
    except psycopg.errors.LockNotAvailable:
        raise OpsctlError(
            f"rows on {where} are locked by another session; nothing was changed, re-run later",
            ExitCode.CONFLICT,
        ) from None
    except psycopg.OperationalError as error:
        reason = _server_reason(error, _password_of(database_url))
        raise OpsctlError(f"lost the database at {where}: {reason}", ExitCode.UNREACHABLE) from None


def _require_litellm_schema(connection: psycopg.Connection, database_url: str) -> None:
    found = connection.execute("SELECT to_regclass(%s)", (MODEL_TABLE,)).fetchone()[0]
    if found is None:
        raise OpsctlError(
            f"not a LiteLLM database: {describe_url(database_url)} has no {MODEL_TABLE} table",
            ExitCode.NOT_LITELLM,
        )
