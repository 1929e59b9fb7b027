"""The stack's locally built images (scripts/images/build.sh, docs/images.md),
run through podman's Docker API: each keeps the contract of the official image
the reference compose file names, and the litellm image migrates the postgres
image's database and serves a DB-backed proxy from it, started the way the
compose file starts its services.

Skipped, with the reason, where podman or the built images are missing; the
tars in build.sh's cache are imported into the session's image engine
(tests/stack/conftest.py, shared with test_e2e.py).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import secrets
import socket
import time
import uuid
from contextlib import contextmanager

import httpx
import psycopg
import docker.errors
import pytest

from tests.stack.conftest import wait_until
from tests.support.litellm_db import migration_files

PORTS = range(43000, 44000)  # the port range these tests may publish on, on 127.0.0.1


def free_port() -> int:
    for port in (secrets.choice(PORTS) for _ in range(200)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 43000-43999")


@pytest.fixture
def client(image_engine):
    import docker

    api = docker.DockerClient(base_url=image_engine.docker_host, timeout=300)
    yield api
    api.close()


@contextmanager
def running(client, image: str, **options):
    container = client.containers.run(image, detach=True, **options)
    try:
        yield container
    finally:
        # podman 4.3 sometimes reports the container's shm still busy right after it stops;
        # the engine fixture removes whatever is left at the end of the session.
        for attempt in range(5):
            try:
                container.remove(force=True)
                break
            except docker.errors.APIError:
                time.sleep(1 + attempt)


def shell(container, script: str):
    """A compose CMD-SHELL check: the script run by the image's own sh."""
    return container.exec_run(["sh", "-c", script])


def pid1(container) -> tuple[str, str]:
    """(name, uid) of the container's PID 1."""
    status = dict(line.split(":\t", 1) for line in container.exec_run(["cat", "/proc/1/status"]).output.decode().splitlines())
    return status["Name"], status["Uid"].split("\t")[0]


def connect(url: str) -> psycopg.Connection:
    return wait_until(lambda: psycopg.connect(url, connect_timeout=3, autocommit=True), 90, f"postgres at {url}")


def test_postgres_image_initialises_from_the_environment_and_wants_the_password(client, stack_images):
    password, port = secrets.token_hex(16), free_port()
    env = {"POSTGRES_USER": "opsctl", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "gateway"}
    with running(client, stack_images("postgres"), environment=env, ports={"5432/tcp": ("127.0.0.1", port)}) as db:
        wait_until(lambda: shell(db, "pg_isready -U $POSTGRES_USER -d $POSTGRES_DB").exit_code == 0, 60, "the compose healthcheck")
        url = f"postgresql://opsctl:{password}@127.0.0.1:{port}/gateway"
        with connect(url) as connection:
            facts = connection.execute(
                "SELECT current_user, current_database(), current_setting('password_encryption'),"
                " current_setting('listen_addresses'), current_setting('server_version_num')::int / 10000,"
                " (SELECT rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = current_user)"
            ).fetchone()
            connection.execute("CREATE TABLE kept (x int)")
        assert facts == ("opsctl", "gateway", "scram-sha-256", "*", 15, True)
        with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "opsctl"'):
            psycopg.connect(url.replace(password, "not-the-password"), connect_timeout=5)

        uid = db.exec_run(["id", "-u", "postgres"]).output.decode().strip()
        assert pid1(db) == ("postgres", uid) and uid != "0"

        # SIGINT (the image's stop signal) is a fast shutdown; the data survives a restart.
        started = time.monotonic()
        db.stop(timeout=30)
        db.reload()
        assert (db.attrs["State"]["ExitCode"], time.monotonic() - started < 15) == (0, True)
        db.start()
        with connect(url) as connection:
            assert connection.execute("SELECT to_regclass('kept')::text").fetchone() == ("kept",)
        assert "Skipping initialization" in db.logs().decode()


def template_healthcheck(service: str) -> str:
    """The reference compose file's CMD-SHELL healthcheck of `service`, as the container's sh runs it."""
    import yaml

    from opsctl.stack.render import template_files

    kind, script = yaml.safe_load(template_files()["docker-compose.yml"])["services"][service]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    return script.replace("$$", "$")  # compose's escape for a literal $


def test_postgres_healthcheck_waits_out_the_init_phase_server(client, stack_images, tmp_path):
    """On a first start the entrypoint runs initdb's scripts against a server on the socket alone, then
    restarts it: a check that passes then lets the migrate service and `backup restore` race the restart
    (a restore once hit "Connection refused" right after "healthy"). The template's check must pass only
    once the server takes TCP connections, and then the host reaches it at once."""
    init = tmp_path / "initdb.d"
    init.mkdir(mode=0o755)
    (init / "slow.sh").write_text("touch /tmp/init-phase; sleep 8\n")
    (init / "slow.sh").chmod(0o644)
    password, port = secrets.token_hex(16), free_port()
    env = {"POSTGRES_USER": "opsctl", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "gateway"}
    check = template_healthcheck("postgres")
    with running(client, stack_images("postgres"), environment=env, ports={"5432/tcp": ("127.0.0.1", port)},
                 volumes={str(init): {"bind": "/docker-entrypoint-initdb.d", "mode": "ro"}}) as db:
        wait_until(lambda: shell(db, "test -e /tmp/init-phase").exit_code == 0, 60, "the init phase")
        # The hazard is real: the socket answers during the init phase...
        assert shell(db, "pg_isready -U $POSTGRES_USER -d $POSTGRES_DB").exit_code == 0
        # ...and the template's check does not.
        assert shell(db, check).exit_code != 0, check
        wait_until(lambda: shell(db, check).exit_code == 0, 60, "the template's healthcheck")
        with psycopg.connect(f"postgresql://opsctl:{password}@127.0.0.1:{port}/gateway", connect_timeout=5) as connection:
            assert connection.execute("SELECT current_database()").fetchone()[0] == "gateway"


def test_postgres_image_refuses_an_empty_database_without_a_password(client, stack_images):
    with running(client, stack_images("postgres"), environment={"POSTGRES_USER": "opsctl"}) as db:
        assert db.wait(timeout=60)["StatusCode"] == 1
        assert "superuser password is not specified" in db.logs().decode()


def test_redis_image_runs_the_compose_command_and_wants_its_password(client, stack_images):
    import redis

    password, port = secrets.token_hex(16), free_port()
    command = ["sh", "-c", "exec redis-server --requirepass $REDIS_PASSWORD --save '' --appendonly no"]
    with running(client, stack_images("redis"), command=command, environment={"REDIS_PASSWORD": password},
                 ports={"6379/tcp": ("127.0.0.1", port)}) as cache:
        wait_until(lambda: shell(cache, "REDISCLI_AUTH=$REDIS_PASSWORD redis-cli ping | grep -q PONG").exit_code == 0,
                   30, "the compose healthcheck")
        with pytest.raises(redis.AuthenticationError, match="Authentication required"):
            redis.Redis(port=port, protocol=2, socket_timeout=5).ping()
        with pytest.raises(redis.AuthenticationError, match="invalid username-password pair"):
            redis.Redis(port=port, password="not-the-password", protocol=2, socket_timeout=5).ping()
        assert redis.Redis(port=port, password=password, socket_timeout=5).ping() is True
        assert "v=7." in cache.exec_run(["redis-server", "--version"]).output.decode()


def test_redis_image_default_command_drops_root_and_leaves_protected_mode_off(client, stack_images):
    with running(client, stack_images("redis")) as cache:
        wait_until(lambda: cache.exec_run(["redis-cli", "ping"]).output == b"PONG\n", 30, "redis-server")
        uid = cache.exec_run(["id", "-u", "redis"]).output.decode().strip()
        assert pid1(cache) == ("redis-server", uid) and uid != "0"
        assert cache.exec_run(["redis-cli", "config", "get", "protected-mode"]).output.split() == [b"protected-mode", b"no"]
        assert cache.attrs["Config"]["WorkingDir"] == "/data"


def test_litellm_image_holds_the_pinned_packages(client, stack_images):
    pins = ("litellm", "litellm-proxy-extras", "prisma")  # pyproject.toml's test extra, as in this venv
    script = "import importlib.metadata as m, sys; print(*(m.version(p) for p in sys.argv[1:]))"
    with running(client, stack_images("litellm"), entrypoint=["python", "-c", script, *pins]) as proxy:
        assert proxy.wait(timeout=120)["StatusCode"] == 0
        assert proxy.logs().decode().split() == [importlib.metadata.version(pin) for pin in pins]


@pytest.fixture
def network(client):
    created = client.networks.create(f"opsctl-images-{uuid.uuid4().hex[:8]}")
    yield created.name
    created.remove()


def test_litellm_image_migrates_the_postgres_image_and_serves_a_db_backed_proxy(client, stack_images, network, tmp_path):
    password, db_port, api_port, health_port = secrets.token_hex(16), free_port(), free_port(), free_port()
    master_key, salt_key = f"sk-{secrets.token_hex(16)}", f"sk-{secrets.token_hex(16)}"
    db_name = f"db-{uuid.uuid4().hex[:8]}"
    # What `opsctl init` writes into .env, and the compose services' own environment.
    env = {
        "DATABASE_URL": f"postgresql://litellm:{password}@{db_name}:5432/litellm",
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_SALT_KEY": salt_key,
        "LITELLM_MODE": "PRODUCTION",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no internet here
    }
    (tmp_path / "config.yaml").write_text(
        "model_list:\n"
        "  - model_name: unused\n"
        "    litellm_params: {model: openai/unused, api_base: 'http://127.0.0.1:9/v1', api_key: sk-unused}\n"
    )
    db_env = {"POSTGRES_USER": "litellm", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "litellm"}
    with running(client, stack_images("postgres"), name=db_name, network=network, environment=db_env,
                 ports={"5432/tcp": ("127.0.0.1", db_port)}) as db:
        wait_until(lambda: shell(db, "pg_isready -U $POSTGRES_USER -d $POSTGRES_DB").exit_code == 0, 60, "postgres")
        admin_url = f"postgresql://litellm:{password}@127.0.0.1:{db_port}/litellm"
        connect(admin_url).close()

        def migrate() -> str:
            with running(client, stack_images("litellm"), network=network, entrypoint=["python", "-m", "litellm.proxy.prisma_migration"],
                         environment={**env, "DISABLE_SCHEMA_UPDATE": "false"}) as job:
                status = job.wait(timeout=600)["StatusCode"]
                log = job.logs().decode()
            assert status == 0, log[-4000:]
            return log

        assert "All migrations have been successfully applied." in migrate()
        assert "No pending migrations to apply." in migrate()
        with connect(admin_url) as connection:
            ledger = connection.execute(
                "SELECT migration_name, checksum FROM _prisma_migrations"
                " WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL AND applied_steps_count = 1 AND logs IS NULL"
            ).fetchall()
        # Prisma's ledger, as the official image's `prisma migrate deploy` writes it.
        expected = {path.parent.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in migration_files()}
        assert dict(ledger) == expected

        proxy_env = {**env, "DISABLE_SCHEMA_UPDATE": "true", "SEPARATE_HEALTH_APP": "1"}
        with running(client, stack_images("litellm"), network=network, command=["--config", "/app/config.yaml"], environment=proxy_env,
                     volumes={str(tmp_path / "config.yaml"): {"bind": "/app/config.yaml", "mode": "ro"}},
                     ports={"4000/tcp": ("127.0.0.1", api_port), "4001/tcp": ("127.0.0.1", health_port)}) as proxy:
            api, health = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{health_port}"
            readiness = wait_until(lambda: httpx.get(api + "/health/readiness", timeout=5).json(), 300, "the proxy's readiness")
            assert readiness == {"status": "healthy", "db": "connected"}
            liveliness = httpx.get(health + "/health/liveliness", timeout=10)
            assert (liveliness.status_code, liveliness.json()) == (200, "I'm alive!")
            compose_check = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4000/health/liveliness', timeout=5)"
            assert proxy.exec_run(["python", "-c", compose_check]).exit_code == 0

            created = httpx.post(api + "/key/generate", headers={"Authorization": f"Bearer {master_key}"},
                                 json={"key_alias": "images-smoke", "models": ["unused"]}, timeout=60)
            assert created.status_code == 200, created.text
            key = created.json()["key"]
            with connect(admin_url) as connection:
                stored = connection.execute(
                    'SELECT key_alias, models FROM "LiteLLM_VerificationToken" WHERE token = %s',
                    (hashlib.sha256(key.encode()).hexdigest(),),
                ).fetchone()
            assert stored == ("images-smoke", ["unused"])

            # A stop reaches both processes: the container is gone in seconds, not at the kill timeout.
            started = time.monotonic()
            proxy.stop(timeout=30)
            assert time.monotonic() - started < 20
