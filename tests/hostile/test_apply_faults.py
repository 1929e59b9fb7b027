"""`db apply-overrides` stopped at known points: kill -9, Ctrl-C (SIGINT) and a Postgres restart.

After each, the database is wholly old or wholly new, and a valid backup file
exists if and only if the apply committed ("valid": `db undo --dry-run`
accepts it; a file a kill -9 leaves between write and commit is reported
void). The points are reached with real waits, not hooks in opsctl:

- at the row lock, before the backup: the test holds one of the rows FOR UPDATE;
- inside the COMMIT, after the backup and before the commit record: a deferred
  constraint trigger (created in this private database only) waits for an
  advisory lock the test holds;
- inside the COMMIT, after the commit record: synchronous_standby_names names
  a standby that never comes, so the COMMIT waits for it (SyncRep);
- during the backup write: a large plan, and the kill as soon as the backup's
  temporary file appears.

Everything runs on a private cluster (tests/support/private_pg.py), so it can
be restarted without disturbing the shared server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.hostile.conftest import ROOT
from tests.support.private_pg import PrivatePostgres

ROWS = 40
PARK_LOCK = 4242


@pytest.fixture(scope="module")
def pg():
    cluster = PrivatePostgres()
    cluster.create_litellm_database("tmpl")
    seed(cluster, "tmpl", ROWS)
    cluster.create_litellm_database("big")
    seed(cluster, "big", 10_000, params_size=300)
    yield cluster
    cluster.stop()


def seed(cluster, database: str, count: int, params_size: int = 20) -> None:
    # Opaque strings stand in for LiteLLM's ciphertext: what the apply must keep byte for byte.
    cluster.execute(
        """INSERT INTO "LiteLLM_ProxyModelTable" (model_id, model_name, litellm_params, created_by, updated_by, updated_at)
           SELECT 'id-' || i, 'm-' || i || '-cloud',
                  jsonb_build_object('model', repeat('c', %s), 'api_key', md5(i::text), 'timeout', 10),
                  'seed', 'seed', now() AT TIME ZONE 'UTC'
           FROM generate_series(1, %s) AS i""", database, (params_size, count))


def rows(cluster, database: str) -> dict:
    return dict(cluster.execute('SELECT model_id, litellm_params::text || updated_by FROM "LiteLLM_ProxyModelTable"',
                                database))


def state(cluster, database: str, before: dict) -> str:
    now = rows(cluster, database)
    if now == before:
        return "old"
    params = cluster.execute('SELECT litellm_params, updated_by FROM "LiteLLM_ProxyModelTable"', database)
    if all(p["timeout"] == 90 and p["num_retries"] == 2 and by == "opsctl" for p, by in params):
        return "new"
    return "torn"


@pytest.fixture
def db(pg, tmp_path):
    name = f"t_{uuid.uuid4().hex[:10]}"
    pg.clone("tmpl", name)
    return name


@pytest.fixture(autouse=True)
def interruptible():
    """SIGINT delivered as Ctrl-C delivers it to a command run from a terminal. A test run started in
    the background without job control (`cmd &` in a script, nohup) ignores SIGINT, and an ignored
    signal stays ignored across exec: the apply would never see it. A handler does not carry over."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def start_apply(cluster, database: str, backup: Path, home: Path) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(ROOT)}
    # --json: no plan table (10,000 rows of it would take longer than the apply); stdout is not read.
    return subprocess.Popen(
        [sys.executable, "-m", "opsctl", "--database-url", cluster.url(database), "db", "apply-overrides", "--yes",
         "--json", "--backup", str(backup)],
        env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def wait_for(condition, what: str, timeout: float = 20.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def parked(cluster, database: str, wait_event: str):
    """The apply's backend, once it waits on `wait_event` ('Lock' for a row or advisory lock, 'SyncRep')."""
    def check():
        found = cluster.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND (wait_event_type = %s "
                                "OR wait_event = %s)", params=(database, wait_event, wait_event))
        return found[0][0] if found else None
    return wait_for(check, f"the apply to wait on {wait_event}")


def finish(process: subprocess.Popen) -> tuple[int, str]:
    _out, err = process.communicate(timeout=30)
    return process.returncode, err


def restore_says(cluster, database: str, backup: Path, home: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "opsctl", "--database-url", cluster.url(database), "db", "undo",
                           str(backup), "--dry-run", "--json"], env=env, cwd=home, capture_output=True, text=True,
                          timeout=60)


def assert_consistent(cluster, database: str, before: dict, backup: Path, home: Path) -> str:
    """Wholly old or wholly new; a valid backup exactly when new. Returns the state."""
    found = state(cluster, database, before)
    assert found in ("old", "new")
    if backup.exists():
        checked = restore_says(cluster, database, backup, home)
        valid = checked.returncode == 0
        if not valid:
            assert checked.returncode == 2 and "is void: the apply that wrote it never committed" in checked.stderr
        else:
            assert len(json.loads(checked.stdout)["plan"]["restore"]) == ROWS
    else:
        valid = False
    assert valid == (found == "new"), (found, backup.exists())
    return found


class RowLock:
    """Holds one planned row FOR UPDATE: the apply parks at its own lock, before any backup."""

    def __init__(self, cluster, database):
        self.connection = psycopg.connect(cluster.url(database), options="-c synchronous_commit=local")
        self.connection.execute("""SELECT 1 FROM "LiteLLM_ProxyModelTable" WHERE model_id = 'id-1' FOR UPDATE""")

    def release(self):
        self.connection.rollback()
        self.connection.close()


@pytest.mark.parametrize("fault", ["kill -9", "SIGINT", "postgres restart"])
def test_stopped_at_the_row_lock(pg, db, tmp_path, fault):
    before = rows(pg, db)
    backup = tmp_path / "undo.json"
    lock = RowLock(pg, db)
    process = start_apply(pg, db, backup, tmp_path)
    try:
        parked(pg, db, "Lock")
        if fault == "kill -9":
            process.kill()
        elif fault == "SIGINT":
            process.send_signal(signal.SIGINT)
        else:
            pg.restart()
        code, err = finish(process)
    finally:
        if fault != "postgres restart":
            lock.release()
    expected = {"kill -9": -9, "SIGINT": 1, "postgres restart": 3}[fault]
    assert code == expected, err
    if fault == "SIGINT":
        assert err.splitlines()[-1] == "Error: interrupted: the apply was rolled back; nothing was changed"
    if fault == "postgres restart":
        assert err.splitlines()[-1].startswith("Error: lost the database at postgres@127.0.0.1:")
    assert "Traceback" not in err
    assert not backup.exists() and list(tmp_path.glob(".undo.json*")) == []
    assert assert_consistent(pg, db, before, backup, tmp_path) == "old"


def park_in_commit(cluster, database: str) -> None:
    """A deferred trigger that makes COMMIT wait for advisory lock PARK_LOCK before the commit record."""
    cluster.execute(f"""
        CREATE FUNCTION opsctl_test_park() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_advisory_xact_lock_shared({PARK_LOCK}); RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER opsctl_test_park AFTER UPDATE ON "LiteLLM_ProxyModelTable"
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION opsctl_test_park();""", database)


@pytest.mark.parametrize("fault", ["kill -9, then the commit goes through", "kill -9, then the backend dies",
                                   "SIGINT", "postgres restart"])
def test_stopped_after_the_backup_write_before_the_commit(pg, db, tmp_path, fault):
    park_in_commit(pg, db)
    before = rows(pg, db)
    backup = tmp_path / "undo.json"
    holder = psycopg.connect(pg.url(db), autocommit=True, options="-c synchronous_commit=local")
    holder.execute("SELECT pg_advisory_lock(%s)", (PARK_LOCK,))
    process = start_apply(pg, db, backup, tmp_path)
    try:
        backend = parked(pg, db, "Lock")
        assert backup.exists()  # written, durably, before the COMMIT
        if fault.startswith("kill -9"):
            process.kill()
            finish(process)
            if fault.endswith("goes through"):
                holder.execute("SELECT pg_advisory_unlock(%s)", (PARK_LOCK,))
                wait_for(lambda: state(pg, db, before) == "new", "the orphaned commit")
            else:
                pg.execute("SELECT pg_terminate_backend(%s)", params=(backend,))
                wait_for(lambda: not pg.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", params=(backend,)),
                         "the backend to end")
        elif fault == "SIGINT":
            process.send_signal(signal.SIGINT)
            code, err = finish(process)
            assert code == 1, err
            assert err.splitlines()[-1] == ("Error: interrupted: the apply was rolled back and its backup removed; "
                                            "nothing was changed")
            assert not backup.exists()
        else:
            pg.restart()
            code, err = finish(process)
            assert code in (1, 3), err
            assert "Traceback" not in err
    finally:
        holder.close() if not holder.closed else None
    found = assert_consistent(pg, db, before, backup, tmp_path)
    assert found == ("new" if fault.endswith("goes through") else "old")


@pytest.fixture
def sync_rep_waits(pg):
    """Every commit with synchronous_commit=on waits for a standby that never connects."""
    pg.execute("ALTER SYSTEM SET synchronous_standby_names = 'opsctl_never'")
    pg.execute("SELECT pg_reload_conf()")
    yield
    pg.execute("ALTER SYSTEM RESET synchronous_standby_names")
    pg.execute("SELECT pg_reload_conf()")


@pytest.mark.parametrize("fault", ["kill -9", "SIGINT", "postgres restart"])
def test_stopped_after_the_commit_record(pg, db, tmp_path, sync_rep_waits, fault):
    """The commit is durable but its answer never arrives: the backup must exist, and be valid."""
    before = rows(pg, db)
    backup = tmp_path / "undo.json"
    process = start_apply(pg, db, backup, tmp_path)
    parked(pg, db, "SyncRep")
    if fault == "kill -9":
        process.kill()
        finish(process)
    elif fault == "SIGINT":
        process.send_signal(signal.SIGINT)  # psycopg cancels the wait; the server says it committed locally
        code, err = finish(process)
        assert code == 0, err
        assert "Warning: the apply committed before it was stopped (interrupted)" in err
        assert f"Undo: opsctl db undo {backup}" in err
    else:
        pg.restart()
        code, err = finish(process)
        assert "Traceback" not in err
        if code == 3:  # the server was not back in time to say: the file is kept, and says so
            assert f"`opsctl db undo {backup} --dry-run` tells whether the apply committed" in err
        else:
            assert code == 0 and "Warning: the apply committed before it was stopped" in err, err
    pg.execute("ALTER SYSTEM RESET synchronous_standby_names")
    pg.execute("SELECT pg_reload_conf()")
    assert assert_consistent(pg, db, before, backup, tmp_path) == "new"


def test_kill_during_the_backup_write(pg, tmp_path):
    """Before: 26 of 40 kills timed to the backup write left an empty backup, 4 a truncated one."""
    outcomes = []
    # The write takes milliseconds on a quiet machine: keep trying (3 runs at least) until a kill lands inside it.
    for attempt in range(15):
        if attempt >= 3 and any(in_write for in_write, _ in outcomes):
            break
        name = f"big_{uuid.uuid4().hex[:8]}"
        pg.clone("big", name)
        before = rows(pg, name)
        home = tmp_path / f"run{attempt}"
        home.mkdir()
        backup = home / "undo.json"
        process = start_apply(pg, name, backup, home)
        wait_for(lambda: any(home.glob(".undo.json.*.tmp")) or backup.exists() or process.poll() is not None,
                 "the backup write", timeout=60, interval=0.001)
        in_write = not backup.exists()
        process.kill()
        finish(process)
        if backup.exists():  # the write finished first: a whole file, valid exactly when committed
            json.loads(backup.read_text())
        found = state(pg, name, before)
        assert found in ("old", "new")
        assert backup.exists() or found == "old"
        outcomes.append((in_write, found))
        pg.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    assert any(in_write for in_write, _ in outcomes), outcomes  # the kill did land inside the write
    assert all(found == "old" for in_write, found in outcomes if in_write)
