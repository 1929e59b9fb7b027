"""pgtools: which pg_dump/pg_restore runs, and a tool run beside the caller's work."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, unquote

import psycopg
import pytest
from hypothesis import given, settings, strategies as st

from opsctl.backup import pgtools
from opsctl.db.connection import naive_password
from opsctl.db.prisma_url import libpq_url
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


def _split_by_libpq(url: str) -> tuple[dict, dict]:
    """The reference split_password's fast path must agree with: libpq's own reading (through psycopg)."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    password = params.pop("password", None)
    return params, ({"PGPASSWORD": password} if password else {})


URL_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=12)
RAW_TEXT = st.text(st.sampled_from("ab9:@/?#%&=+ ~-_."), max_size=8)


@settings(max_examples=400, deadline=None)
@given(user=st.one_of(URL_TEXT.map(quote), RAW_TEXT), password=st.one_of(URL_TEXT.map(quote), RAW_TEXT),
       colon=st.booleans(), host=st.sampled_from(["127.0.0.1:5432", "db", "h1:1,h2:2", "[::1]:6543", ""]),
       tail=st.sampled_from(["/litellm", "/litellm?sslmode=disable", "?dbname=x", "/d?password=other", "", "/a%2Fb"]))
def test_the_password_split_without_psycopg_reads_every_url_as_libpq_does(user, password, colon, host, tail):
    url = f"postgresql://{user}{':' + password if colon else ''}@{host}{tail}"
    try:
        expected = _split_by_libpq(libpq_url(url))  # split_password reads the URL as libpq_url hands it on
    except (psycopg.ProgrammingError, UnicodeDecodeError):  # refused: so must split_password be, or what it hands on
        try:
            stripped, _ = pgtools.split_password(url)
        except OpsctlError as refused:  # one line, the password never quoted
            assert refused.exit_code == ExitCode.USAGE and (len(password) < 4 or password not in refused.message)
            return
        with pytest.raises((psycopg.ProgrammingError, UnicodeDecodeError)):
            psycopg.conninfo.conninfo_to_dict(stripped)
        return
    try:
        stripped, env = pgtools.split_password(url)
    except OpsctlError as refused:  # only where libpq would put what reads as the password elsewhere (argv)
        naive = naive_password(url)
        assert refused.exit_code == ExitCode.USAGE and naive and unquote(naive) != expected[1].get("PGPASSWORD", "")
        return
    assert (psycopg.conninfo.conninfo_to_dict(stripped), env) == expected


def test_the_plain_url_is_split_without_importing_psycopg():
    script = ("import sys; from opsctl.backup import pgtools;"
              " print(pgtools.split_password('postgresql://u:p%40ss@127.0.0.1:5432/db?schema=public'),"
              " 'psycopg' in sys.modules)")
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert printed.split()[-1] == "False"
    assert "'PGPASSWORD': 'p@ss'" in printed and "u@127.0.0.1:5432/db" in printed


@pytest.mark.parametrize("url", ["postgresql://litellm:s3cret/x@db:5432/litellm",  # libpq: port "s3cret"
                                 "postgresql://litellm:s3c@ret@db/litellm",  # libpq: password "s3c", host "ret@db"
                                 "postgresql://litellm:s3cret@db/litellm?password=other"])
def test_a_password_libpq_would_read_otherwise_is_refused_before_it_reaches_argv(url):
    with pytest.raises(OpsctlError) as refused:
        pgtools.split_password(url)
    assert refused.value.exit_code == ExitCode.USAGE and "s3c" not in refused.value.message
    assert "percent-encode" in refused.value.message
