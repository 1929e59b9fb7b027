"""`opsctl status` without click (opsctl.__main__): it must answer exactly as the click command does.

Both paths run as an operator runs them, as processes: the `opsctl` script
(the quick path) and the click group itself (`from opsctl.cli import main`),
on the same real engine and project.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from opsctl.__main__ import QUICK_OPTIONS, quick_status_request
from opsctl.cli import cli
from opsctl.stack.compose import compose_command
from tests.stack.conftest import wait_until
from tests.support.proxy import free_port

OPSCTL = str(Path(sys.executable).parent / "opsctl")
CLICK = [sys.executable, "-c", "from opsctl.cli import main; main()"]
PROJECT = """\
services:
  web:
    image: {image}
    command: ["sleep", "3600"]
    ports: ["127.0.0.1:{port}:8080"]
    stop_signal: SIGKILL
    healthcheck: {{test: ["CMD", "true"], interval: 1s, retries: 3}}
  once:
    image: {image}
    command: ["sh", "-c", "exit 3"]
    restart: "no"
"""
CLICK_MODULES = """\
import atexit, sys
atexit.register(lambda: sys.stderr.write("loaded: " + " ".join(sorted(
    m for m in ("click", "rich", "docker", "httpx", "psycopg") if m in sys.modules)) + "\\n"))
sys.argv[0] = "opsctl"
from opsctl.__main__ import main
main()
"""


@pytest.mark.parametrize("argv, expected", [
    (["status"], ({}, False)),
    (["status", "--json"], ({}, True)),
    (["--stack-dir", "s", "status", "--json"], ({"stack_dir": "s"}, True)),
    (["--stack-dir=s", "--policy", "p.yaml", "status"], ({"stack_dir": "s", "policy_file": "p.yaml"}, False)),
    (["--proxy-url=", "status"], ({"proxy_url": ""}, False)),  # click passes the empty value on too
])
def test_the_quick_parser_takes_only_the_plain_status_command_lines(argv, expected):
    options, as_json = expected
    assert quick_status_request(argv) == ({**dict.fromkeys(QUICK_OPTIONS.values()), **options}, as_json)


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["status", "--help"], ["status", "-h"], ["--version"], ["up"], ["status", "--json", "extra"],
    ["status", "--json", "--json"], ["--env-file", ".env", "status"],  # click checks the path: leave it to click
    ["--stack-dir", "a", "--stack-dir", "b", "status"], ["--stack-dir"], ["--stack-dir", "--json", "status"],
    ["--stack", "s", "status"], ["--", "status"], ["-x", "status"], ["status", "--jso"],
])
def test_anything_else_goes_to_click(argv):
    assert quick_status_request(argv) is None


def test_the_quick_options_are_the_root_groups_plain_string_options():
    """A root option added to the group but not here makes the quick parser refuse, never misread, the line."""
    by_flag = {flag: param for param in cli.params for flag in param.opts}
    for flag, key in QUICK_OPTIONS.items():
        param = by_flag[flag]
        assert (param.name, param.type, param.multiple, param.is_flag) == (key, click.STRING, False, False), flag


def run(argv, env, cwd):
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout, result.stderr


def without_uptime(text: str) -> str:
    return re.sub(r'"uptime_seconds": [0-9.]+|\b\d+[dhm]\d+[hms]\b', "UPTIME", text)


@pytest.fixture
def stack(tmp_path, engine):
    directory = tmp_path / "quick"
    directory.mkdir()
    (directory / "docker-compose.yml").write_text(PROJECT.format(image=engine.image, port=free_port()))
    (directory / ".env").write_text("COMPOSE_PROJECT_NAME=quickstatus\n")
    env = {**os.environ, "DOCKER_HOST": engine.docker_host}
    yield directory, env
    subprocess.run([*compose_command(), "down"], env=env, cwd=directory, capture_output=True)


def test_both_paths_answer_alike_on_a_real_engine(stack, tmp_path):
    directory, env = stack
    for args in (["status", "--json"], ["status"]):  # no containers yet
        assert run([OPSCTL, "--stack-dir", str(directory), *args], env, tmp_path) == \
            run([*CLICK, "--stack-dir", str(directory), *args], env, tmp_path)
    assert run([OPSCTL, "--stack-dir", str(directory), "status"], env, tmp_path)[2] == \
        "project quickstatus has no containers (start it with `opsctl up`)\n"

    subprocess.run([*compose_command(), "up", "-d"], env=env, cwd=directory, check=True, capture_output=True)
    wait_until(lambda: [row["health"] for row in json.loads(run(
        [OPSCTL, "--stack-dir", str(directory), "status", "--json"], env, tmp_path)[1])] == [None, "healthy"], 60, "web healthy")
    for args in (["status", "--json"], ["status"]):
        quick = run([OPSCTL, "--stack-dir", str(directory), *args], env, tmp_path)
        slow = run([*CLICK, "--stack-dir", str(directory), *args], env, tmp_path)
        assert quick[0] == slow[0] == 0
        assert without_uptime(quick[1]) == without_uptime(slow[1])
        assert quick[2] == slow[2]
    listed = run([OPSCTL, "--stack-dir", str(directory), "status", "--json"], env, tmp_path)[1]
    rows = {row["service"]: row for row in json.loads(listed)}
    assert {name: (row["state"], row["exit_code"]) for name, row in rows.items()} == {
        "web": ("running", 0), "once": ("exited", 3)}, listed

    # From inside the stack directory, as operators run it: the quick path, and it loads no click.
    code, out, stderr = run([sys.executable, "-c", CLICK_MODULES, "status", "--json"], env, directory)
    assert (code, json.loads(out)[0]["service"], stderr) == (0, "once", "loaded: \n")
    code, _, stderr = run([sys.executable, "-c", CLICK_MODULES, "--help"], env, directory)
    assert code == 0 and stderr == "loaded: click\n"  # anything else is click's


def test_errors_are_the_same_line_and_exit_code(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/opsctl/podman.sock"}
    quick = run([OPSCTL, "status", "--json"], env, tmp_path)
    assert quick == run([*CLICK, "status", "--json"], env, tmp_path)
    assert quick[0] == 3 and quick[2].startswith("Error: cannot reach the container engine at unix:///nonexistent")

    # Settings that do not load: the quick path hands the line to click, whose usage error it is.
    (tmp_path / ".env").write_bytes(b"KEY=\xff\n")
    quick = run([OPSCTL, "status"], env, tmp_path)
    assert quick == run([*CLICK, "status"], env, tmp_path)
    assert quick[0] == 2 and quick[2].endswith(f"Error: env file {tmp_path / '.env'} is not UTF-8 text (byte 4)\n"), quick


def test_a_closed_pipe_ends_it_quietly(stack, tmp_path):
    """`opsctl status --json | head -1`: exit 1 and no traceback, as click does."""
    directory, env = stack
    answers = []
    for argv in ([OPSCTL], CLICK):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before the first write
        try:
            result = subprocess.run([*argv, "--stack-dir", str(directory), "status", "--json"], env=env,
                                    stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
        finally:
            os.close(write_end)
        answers.append((result.returncode, result.stderr))
    assert answers[0] == answers[1] == (1, "")
