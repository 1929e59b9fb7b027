"""snapshot.held: the exported snapshot pg_dump and the manifest's counts share, held by the host's
psql or, without one, by psycopg; on the real Postgres with LiteLLM's schema."""

from __future__ import annotations

import os
import socket
import threading
import time

import psycopg
import pytest

from opsctl.backup import snapshot
from opsctl.db.connection import connect
from opsctl.errors import ExitCode, OpsctlError
from tests.support.litellm_db import unique_name

HOLDERS = ["psql", "psycopg"]


@pytest.fixture(params=HOLDERS)
def holder(request, monkeypatch, tmp_path):
    if request.param == "psycopg":  # a host without psql
        monkeypatch.setattr(snapshot.pgtools, "host_tool", lambda tool: None)
    else:
        assert snapshot.pgtools.host_tool("psql") is not None, "psql is missing: install postgresql-client"
    return request.param


def spend_rows(connection) -> int:
    return connection.execute('SELECT count(*) FROM "LiteLLM_SpendLogs"').fetchone()[0]


def add_spend_row(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("""INSERT INTO "LiteLLM_SpendLogs" (request_id, call_type, api_key, spend, "startTime",
                              "endTime") VALUES (%s, 'acompletion', 'k', 0.01, now(), now())""", (unique_name("r"),))


def test_a_connection_importing_the_snapshot_sees_the_state_at_the_export(litellm_db, holder):
    add_spend_row(litellm_db)
    with snapshot.held(litellm_db) as held:
        assert importable(litellm_db, held.id)
        add_spend_row(litellm_db)  # committed after the export: not in the snapshot
        with connect(litellm_db, snapshot=held.id) as connection:
            assert spend_rows(connection) == 1
            add_spend_row(litellm_db)
            assert spend_rows(connection) == 1
    assert held.server_major == 15
    with psycopg.connect(litellm_db) as connection:
        assert spend_rows(connection) == 3
    assert eventually(lambda: not importable(litellm_db, held.id))  # the exporting transaction ended with the block


def test_the_holder_ends_when_the_block_fails(litellm_db, holder):
    with pytest.raises(ZeroDivisionError):
        with snapshot.held(litellm_db) as held:
            1 / 0
    assert eventually(lambda: not importable(litellm_db, held.id))


def importable(url: str, snapshot_id: str) -> bool:
    """Whether a transaction may still import the snapshot: its exporting transaction is open."""
    with psycopg.connect(url) as connection:
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        try:
            connection.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
        except psycopg.errors.InvalidParameterValue:  # "invalid snapshot identifier"
            return False
        return True


def eventually(predicate, seconds: float = 5) -> bool:
    """The server ends a session a moment after its client has gone."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def role(litellm_db):
    name, password = unique_name("opsctl_snap"), "pw-Snapshot-" + os.urandom(6).hex()
    with psycopg.connect(litellm_db, autocommit=True) as connection:
        # NOLOGIN: this Postgres trusts every login, so the refusal is "not permitted to log in".
        connection.execute(f"CREATE ROLE {name} NOLOGIN PASSWORD '{password}'")
    yield name, password
    with psycopg.connect(litellm_db, autocommit=True) as connection:
        connection.execute(f"DROP ROLE {name}")


def test_failures_are_the_one_line_errors_every_command_gives(litellm_db, empty_database, role, holder):
    """What psql could not do is reported as psycopg's connect reports it: same message, same exit code."""
    name, password = role
    host = litellm_db.split("@", 1)[1]
    cases = {
        f"postgresql://postgres@127.0.0.1:{_unused_port()}/litellm": ExitCode.UNREACHABLE,
        f"postgresql://{name}:{password}@{host}": ExitCode.AUTH,
        litellm_db.rsplit("/", 1)[0] + "/no_such_database": ExitCode.NOT_LITELLM,
        empty_database: ExitCode.NOT_LITELLM,
        # URLs libpq refuses: its text quotes the password, which must not come out (nor a traceback).
        f"postgresql://{name}:{password}%zz@{host}": ExitCode.USAGE,
        f"postgresql://{name}:{password} x@{host}": ExitCode.USAGE,
    }
    for url, code in cases.items():
        with pytest.raises(OpsctlError) as raised, snapshot.held(url) as held, connect(url, snapshot=held.id):
            pass
        with pytest.raises(OpsctlError) as direct, connect(url):
            pass
        assert (raised.value.exit_code, raised.value.message) == (code, direct.value.message), url
        assert password not in raised.value.message and "\n" not in raised.value.message


def test_a_server_that_never_answers_is_given_up_on(holder):
    """A listener that accepts and says nothing: bounded by the connect timeouts, not hung."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(OpsctlError) as raised, snapshot.held(
                f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/litellm"):
            pass
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()
    assert raised.value.exit_code == ExitCode.UNREACHABLE and "timeout" in raised.value.message
    assert time.monotonic() - started < 2 * snapshot.ANSWER_SECONDS
