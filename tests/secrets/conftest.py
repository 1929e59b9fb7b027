"""A stack directory with a .env (as opsctl init writes it) over a scratch LiteLLM database."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.secrets import envfile
from tests.support.litellm_db import TEST_SALT_KEY

TEST_MASTER_KEY = "sk-opsctl-secrets-test-master-0123456789"


@dataclass
class Stack:
    directory: Path
    database_url: str

    @property
    def env_path(self) -> Path:
        return self.directory / ".env"

    def env(self) -> dict[str, str]:
        return envfile.parse(self.env_path.read_text())

    def saved_files(self) -> list[Path]:
        return sorted(self.directory.glob(".env.before-*"))

    def run(self, *args: str, input: str | None = None):
        """opsctl against this stack and database, in-process; stdout and stderr apart."""
        base = ["--stack-dir", str(self.directory), "--database-url", self.database_url]
        return CliRunner().invoke(cli, [*base, *args], input=input)


def write_env(directory: Path, text: str) -> Path:
    path = directory / ".env"
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def env_text(salt: str | None = TEST_SALT_KEY, master: str = TEST_MASTER_KEY) -> str:
    lines = ["# Written by opsctl init: secrets. Keep this file mode 0600 and out of version control.",
             f"LITELLM_MASTER_KEY={master}"]
    if salt is not None:
        lines.append(f"LITELLM_SALT_KEY={salt}")
    lines += ["POSTGRES_USER=litellm", "POSTGRES_DB=litellm", "OPENAI_API_KEY=", "REDIS_IMAGE=redis:7"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def make_stack(tmp_path, litellm_db):
    def make(salt: str | None = TEST_SALT_KEY, master: str = TEST_MASTER_KEY, name: str = "stack") -> Stack:
        directory = tmp_path / name
        directory.mkdir()
        write_env(directory, env_text(salt, master))
        return Stack(directory, litellm_db)

    return make


@pytest.fixture
def scratch_role():
    """A login role in the real local Postgres with a known password; dropped afterwards."""
    import uuid

    import psycopg
    from psycopg import sql

    from tests.support.litellm_db import ADMIN_URL

    name, password = f"opsctl_scratch_{uuid.uuid4().hex[:8]}", "old-scratch-password-0123456789abcdef"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
    yield name, password
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def role_verifier(role: str) -> str:
    import psycopg

    from tests.support.litellm_db import ADMIN_URL

    with psycopg.connect(ADMIN_URL) as connection:
        return connection.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()[0]


@dataclass
class RedisServer:
    port: int
    process: object


@pytest.fixture
def redis_server(tmp_path):
    """A private redis-server on a free port, its password in a 0600 config file (never on its command line)."""
    import subprocess
    import time

    from tests.support.proxy import free_port, stop_process

    password, port = "old-redis-password-0123456789abcdef", free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\nrequirepass {password}\nsave \"\"\nappendonly no\ndir {tmp_path}\n")
    conf.chmod(0o600)
    process = subprocess.Popen(["redis-server", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from opsctl.secrets.redis_wire import accepts

    deadline = time.monotonic() + 10
    while True:
        try:
            if accepts("127.0.0.1", port, password):
                break
        except Exception:  # noqa: BLE001  # not listening yet
            pass
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield RedisServer(port, process), password
    stop_process(process)


# A compose project of busybox stand-ins on a real engine (podman's Docker API):
# "litellm" answers /health/readiness and /model/info (no DB-stored model) from files.
COMPOSE = """\
services:
  litellm:
    image: {image}
    env_file: .env
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    volumes: ["./www-model:/www/model:ro"]
    ports: ["127.0.0.1:{port}:8080"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health/readiness"]
      interval: 1s
      retries: 3
    depends_on:
      redis: {{condition: service_healthy}}
  redis:
    image: {image}
    env_file: .env
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    healthcheck: {{test: ["CMD", "true"], interval: 1s, retries: 3}}
"""


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    from tests.stack.conftest import podman_engine

    with podman_engine(tmp_path_factory.mktemp("engine")) as running:
        yield running


@dataclass
class ComposeStack:
    stack: Stack
    port: int

    def run(self, *args: str):
        return self.stack.run("--proxy-url", f"http://127.0.0.1:{self.port}", *args)

    def containers(self) -> dict:
        """service -> (container id, its environment as a dict), from the engine API."""
        import docker

        from opsctl.stack.engine import connect, project_containers

        sdk = docker.DockerClient(base_url=os.environ["DOCKER_HOST"])
        out = {}
        for state in project_containers(connect(), self.stack.directory.name):
            env = sdk.containers.get(state.id).attrs["Config"]["Env"] or []
            out[state.service] = (state.id, dict(item.split("=", 1) for item in env))
        return out


@pytest.fixture
def compose_stack(make_stack, engine, monkeypatch):
    from tests.support.proxy import free_port

    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)
    made = []

    def make(env: str | None = None, **keys) -> ComposeStack:
        stack = make_stack(**keys)
        if env is not None:
            write_env(stack.directory, env)
        port = free_port()
        (stack.directory / "docker-compose.yml").write_text(COMPOSE.format(image=engine.image, port=port))
        (stack.directory / "www-model").mkdir()
        (stack.directory / "www-model" / "info").write_text('{"data": []}\n')
        composed = ComposeStack(stack, port)
        made.append(composed)
        result = composed.run("up", "--timeout", "90")
        assert result.exit_code == 0, result.output
        return composed

    yield make
    for composed in made:
        composed.run("down")
