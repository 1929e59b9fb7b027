"""up / restart / status / down against a real engine (podman's Docker API)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.stack.compose import GET_COMPOSE, PLUGIN_DIRS
from tests.support.proxy import free_port

# Busybox services. PID 1 ignores SIGTERM, so they stop with SIGKILL to keep tests fast.
PROJECT = """\
services:
  litellm:  # stands in for the proxy: httpd answering /health/readiness
    image: {image}
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: ["127.0.0.1:{port}:8080"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health/readiness"]
      interval: 1s
      retries: 3
    depends_on:
      migrate: {{condition: service_completed_successfully}}
      redis: {{condition: service_healthy}}
  redis:
    image: {image}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    healthcheck: {{test: ["CMD", "true"], interval: 1s, retries: 3}}
  migrate:  # one-shot
    image: {image}
    command: ["echo", "migrated"]
  extra:  # started only with --profile extra
    profiles: ["extra"]
    image: {image}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
"""

STUCK = """\
services:
  fine:
    image: {image}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
  stuck:
    image: {image}
    command: ["sh", "-c", "echo stuck-service-says-hello; echo waiting-for-nothing; exec sleep 3600"]
    stop_signal: SIGKILL
    healthcheck: {{test: ["CMD", "false"], interval: 1s, retries: 1}}
"""

FAILING_MIGRATE = """\
services:
  app:
    image: {image}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    depends_on:
      migrate: {{condition: service_completed_successfully}}
  migrate:
    image: {image}
    command: ["sh", "-c", "echo applying-0001; echo 'ERROR: relation already exists' >&2; exit 3"]
"""


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path, engine, docker_host, monkeypatch):
    """Write a compose project; `down` it afterwards whatever happened."""
    made = []

    def make(text: str, name: str, **values) -> str:
        directory = tmp_path / name
        directory.mkdir()
        (directory / "docker-compose.yml").write_text(text.format(image=engine.image, **values))
        made.append(directory)
        return name  # relative to the cwd (tmp_path), as an operator types it

    yield make
    for directory in made:
        run("--stack-dir", str(directory), "down")


def by_service(result) -> dict:
    return {row["service"]: row for row in json.loads(result.stdout)}


def test_up_restart_status_logs_down(project, capfd):
    port = free_port()
    stack = project(PROJECT, "lifecycle", port=port)
    base = ("--stack-dir", stack, "--proxy-url", f"http://127.0.0.1:{port}")

    result = run(*base, "restart")
    assert result.exit_code == 1
    assert result.stderr == "Error: service litellm has no container in project lifecycle: start it with `opsctl up`\n"

    result = run(*base, "up", "--timeout", "90")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == "lifecycle: ready"
    assert "readiness: http://127.0.0.1:%d/health/readiness: HTTP 200, status healthy" % port in result.stderr
    assert " Container lifecycle-migrate-1  Started" in result.stderr.splitlines()  # compose's progress

    rows = by_service(run(*base, "status", "--json"))
    assert {name: (r["state"], r["health"], r["exit_code"]) for name, r in rows.items()} == {
        "litellm": ("running", "healthy", 0),
        "redis": ("running", "healthy", 0),
        "migrate": ("exited", None, 0),
    }
    assert rows["litellm"]["ports"] == [
        {"host_ip": "127.0.0.1", "host_port": str(port), "container_port": "8080/tcp", "loopback": True}
    ]
    assert rows["litellm"]["image"] == "localhost/opsctl-test-busybox:1"
    started = datetime.fromisoformat(rows["litellm"]["started_at"])

    time.sleep(1.1)  # so the restart has a later start time at second precision
    result = run(*base, "restart", "--timeout", "60")
    assert result.exit_code == 0, result.output
    rows = by_service(run(*base, "status", "--json"))
    assert datetime.fromisoformat(rows["litellm"]["started_at"]) > started
    assert rows["litellm"]["health"] == "healthy"
    assert datetime.fromisoformat(rows["redis"]["started_at"]) < started  # only the proxy restarted

    table = run(*base, "status")
    assert table.exit_code == 0
    assert re.search(r"litellm\s+│\s+running\s+│\s+healthy\s+│", table.stdout)
    assert "127.0.0.1:" in table.stdout and str(port) in table.stdout  # the cell may wrap
    assert "Warning" not in table.stderr

    capfd.readouterr()
    logs = run(*base, "logs", "migrate")
    # compose writes the log lines itself, to our process's stdout (fd 1).
    assert (logs.exit_code, capfd.readouterr().out, logs.stderr) == (0, "migrate-1  | migrated\n", "")
    logs = run(*base, "logs", "nosuch")
    assert (logs.exit_code, logs.stderr) == (1, "Error: docker compose logs failed: no such service: nosuch\n")

    result = run(*base, "up", "--profile", "extra", "--timeout", "60")
    assert result.exit_code == 0, result.output
    assert by_service(run(*base, "status", "--json"))["extra"]["state"] == "running"

    result = run(*base, "down")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == "lifecycle: down"
    assert json.loads(run(*base, "status", "--json").stdout) == []  # the profile's container too
    assert run(*base, "status").stderr == "project lifecycle has no containers (start it with `opsctl up`)\n"


def test_up_times_out_naming_the_stuck_service_with_its_log_tail(project):
    stack = project(STUCK, "stuck")
    started = time.monotonic()
    result = run("--stack-dir", stack, "up", "--timeout", "4")
    assert time.monotonic() - started < 20
    assert result.exit_code == 6
    lines = result.stderr.splitlines()
    assert re.fullmatch(
        r"Error: timed out after 4s waiting for service stuck: running, (starting|unhealthy) \(its last log lines are above\)",
        lines[-1],
    )
    tail = lines[lines.index("--- last 20 log lines of stuck-stuck-1 ---") + 1 : -1]
    assert tail == ["stuck-service-says-hello", "waiting-for-nothing"]
    assert "fine: running" in result.stderr


def test_up_whose_dependency_fails_shows_that_services_log(project):
    """compose up itself fails ("service migrate didn't complete successfully"): the failed container's
    last lines are printed before the error, as on a timeout, so the operator sees why."""
    stack = project(FAILING_MIGRATE, "failing")
    result = run("--stack-dir", stack, "up", "--timeout", "60")
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("Error: docker compose up failed: "), lines[-1]
    tail = lines[lines.index("--- last 20 log lines of failing-migrate-1 (exited 3) ---") + 1: -1]
    assert tail == ["applying-0001", "ERROR: relation already exists"]


def test_no_engine_is_one_clear_line_fast(monkeypatch, tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/opsctl/podman.sock")
    for command in (["status"], ["up"], ["down"]):
        started = time.monotonic()
        result = run(*command)
        assert time.monotonic() - started < 2
        assert result.exit_code == 3
        assert result.stderr.startswith(
            "Error: cannot reach the container engine at unix:///nonexistent/opsctl/podman.sock: "
        )
        assert result.stderr.endswith(
            "(start Docker, or `podman system service --time=0 unix:///PATH/podman.sock` and set DOCKER_HOST)\n"
        )
        assert len(result.stderr.splitlines()) == 1


def test_no_compose_cli_is_one_clear_line(tmp_path):
    """Compose hidden for real: empty dirs mounted over the system plugin dirs in a
    private mount namespace, and DOCKER_CONFIG and PATH pointing at an empty dir."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    hide = "".join(f"{shutil.which('mount')} --bind {empty} {d} && " for d in PLUGIN_DIRS if Path(d).is_dir())
    for command in ("up", "restart", "down", "logs litellm"):
        script = f"{hide}DOCKER_CONFIG={empty} PATH={empty} exec {sys.executable} -m opsctl {command}"
        result = subprocess.run([shutil.which("unshare"), "--mount", "/bin/sh", "-c", script],
                                capture_output=True, text=True, timeout=30)
        assert (result.returncode, result.stdout, result.stderr) == (8, "", f"Error: {GET_COMPOSE}\n"), command


def test_rolling_restart_wants_replicas_and_says_so_in_one_line(project):
    stack = project(STUCK, "single")
    result = run("--stack-dir", stack, "restart", "redis", "--rolling")
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        2, "Error: --rolling restarts the proxy replicas: use it with SERVICE litellm")
    result = run("--stack-dir", stack, "restart", "--rolling")
    assert (result.exit_code, result.stderr) == (
        2, "Error: project single has no proxy replica(s) running: a rolling restart needs the stack "
           "`opsctl init --replicas N` writes (N > 1), brought up\n")
