"""A private Postgres cluster for tests that restart or stall the server.

initdb in a temporary directory (as the `postgres` user: initdb refuses root),
pg_ctl start on a free port of 127.0.0.1, its socket in the same directory;
restart and stop it at will without touching the shared server on 5432 that
other tests use. LiteLLM's schema comes from the same migration SQL as
tests/support/litellm_db.py.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.support.litellm_db import migration_files
from tests.support.proxy import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + command, capture_output=True, text=True, timeout=60, **kwargs)


class PrivatePostgres:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="opsctl-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        done = _as_postgres([str(BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                             "--no-sync", "-E", "UTF8"])
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-1000:]}")
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        done = _as_postgres([str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                             "-o", options, *args])
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stderr[-1000:]}")

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """A fast restart: every session is terminated, in-flight transactions abort."""
        self._pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        self._pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __del__(self):  # never leave a cluster running behind a failed fixture
        if self.data.exists():
            _as_postgres([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-W", "stop"])

    def execute(self, sql: str, database: str = "postgres", params=None) -> list:
        # synchronous_commit=local: the test's own commits never wait for a standby (see the SyncRep tests).
        with psycopg.connect(self.url(database), autocommit=True, options="-c synchronous_commit=local") as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def create_litellm_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url(name)]
        for path in migration_files():
            command += ["-f", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"LiteLLM migrations failed: {done.stderr[-1000:]}")
        return self.url(name)

    def clone(self, template: str, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)
