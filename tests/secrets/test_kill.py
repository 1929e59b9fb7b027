"""kill -9 in the middle of rotate-salt: every value stays under the old key, the .env as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.secrets.support import ArgvWatch, litellm_count, many_credentials, many_deployments
from tests.support.litellm_db import TEST_SALT_KEY, load_credentials, load_deployments, raw_rows, seed_credentials, seed_deployments

ROOT = Path(__file__).resolve().parents[2]
WRITING = """SELECT l.pid FROM pg_locks l
             WHERE l.relation = '"LiteLLM_ProxyModelTable"'::regclass AND l.mode = 'RowExclusiveLock'
               AND l.granted AND l.pid <> pg_backend_pid()"""


def test_kill_9_while_writing_leaves_every_value_under_the_old_key(make_stack):
    stack = make_stack()
    url = stack.database_url
    seed_deployments(url, many_deployments(10_000))
    seed_credentials(url, many_credentials(1_000))
    before, env_before = raw_rows(url), stack.env_path.read_bytes()
    command = [sys.executable, "-m", "opsctl", "--stack-dir", str(stack.directory), "--database-url", url,
               "secrets", "rotate-salt", "--yes", "--no-restart"]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}

    with psycopg.connect(url, autocommit=True) as monitor, ArgvWatch(TEST_SALT_KEY) as argv:
        process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not monitor.execute(WRITING).fetchall():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the rotation never started writing"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)  # the UPDATE of 10,000 rows is running or just done; no commit yet
        process.wait(10)
        stderr = process.stderr.read().decode()
        deadline = time.monotonic() + 10
        while monitor.execute(WRITING).fetchall():  # the server notices the dead client and rolls back
            assert time.monotonic() < deadline
            time.sleep(0.05)

    assert process.returncode == -signal.SIGKILL, stderr
    assert "re-encrypted" not in stderr
    assert raw_rows(url) == before
    assert stack.env_path.read_bytes() == env_before
    assert litellm_count(url, TEST_SALT_KEY) == 10_000 * 3 + 1_000 * 2
    loaded = load_deployments(url)
    assert len(loaded) == 10_000 and {p["api_key"] for p in loaded.values()} == {f"sk-upstream-{i}" for i in range(10_000)}
    assert load_credentials(url)["cred-7"]["api_key"] == "sk-cred-7"
    assert argv.samples > 0 and argv.seen == set()

    # The saved file holds the current key; a re-run completes the rotation.
    result = stack.run("secrets", "rotate-salt", "--yes", "--no-restart")
    assert result.exit_code == 0, result.output
    assert litellm_count(url, stack.env()["LITELLM_SALT_KEY"]) == 32_000
