"""pgtools: which pg_dump/pg_restore runs, and a tool run beside the caller's work."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from opsctl.backup import pgtools
from opsctl.errors import ExitCode, OpsctlError

DEBIAN = Path(pgtools.DEBIAN_WRAPPER).is_file() and os.path.realpath(shutil.which("pg_dump") or "") == pgtools.DEBIAN_WRAPPER


def version_of(argv0: str) -> str:
    return subprocess.run([argv0, "--version"], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(not DEBIAN, reason="pg_dump on PATH is not Debian's pg_wrapper")
@pytest.mark.parametrize("name", ["pg_dump", "pg_restore"])
def test_debians_perl_wrapper_is_replaced_by_the_binary_it_runs(name):
    tool = pgtools.host_tool(name)
    assert tool.path != shutil.which(name) and Path(tool.path).parts[-2:] == ("bin", name)
    # The same program the wrapper execs, and the major its directory names.
    assert version_of(tool.path) == version_of(name)
    assert re.search(rf"\) {tool.major}\.", version_of(tool.path))


def test_a_tool_that_is_not_the_wrapper_runs_as_found_on_path(tmp_path, monkeypatch):
    shim = tmp_path / "pg_dump"
    shim.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 17.2'\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert pgtools.host_tool("pg_dump") == pgtools.Tool(str(shim), 17)


def test_a_missing_tool_is_exit_8(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pgtools.host_tool("pg_restore") is None
    with pytest.raises(OpsctlError) as raised:
        pgtools.restore("postgresql://postgres@127.0.0.1:5432/none", tmp_path / "x.dump", clean=False)
    assert raised.value.exit_code == ExitCode.MISSING_TOOL and "pg_restore not found" in raised.value.message


def test_the_tool_is_killed_when_the_callers_work_fails():
    started = time.monotonic()
    with pytest.raises(ZeroDivisionError):
        with pgtools._running(["sleep", "30"], {}, [], what="sleep"):
            1 / 0
    assert time.monotonic() - started < 5  # not waited for: killed


def test_a_failing_tool_is_one_line_without_the_secret():
    with pytest.raises(OpsctlError) as raised:
        with pgtools._running(["sh", "-c", "echo noise >&2; echo 'bad password s3cret-pw' >&2; exit 3"],
                              {}, ["s3cret-pw"], what="pg_dump"):
            pass
    assert raised.value.exit_code == ExitCode.FAILED
    assert raised.value.message.startswith("pg_dump failed: bad password ") and "s3cret-pw" not in raised.value.message
