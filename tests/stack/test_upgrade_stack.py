"""`opsctl upgrade` on the compose stack of the real local images (scripts/images/build.sh),
through podman's Docker API: ONE stack boot for both scenarios.

1. Success: the "new version" is the local litellm image under a second tag (the
   same LiteLLM: nothing to migrate). Preflight, backup, pin, migrate, restart,
   smoke all pass; .env pins the new tag; the proxy runs it; a key made before works.
2. Failure mid-upgrade: a derived image (a container of the local image with two
   extra migrations, committed through the engine API) whose migrate applies the
   first and fails on the second. The preflight lists exactly those two; the
   migrate fails; the rollback puts the previous tag back in .env, restores the
   database (the probe table and the ledger rows gone), and the proxy serves
   again on the previous image with the key from before.

The test stack is `opsctl init`'s, edited only where this machine needs it:
ports chosen free, Postgres published on 127.0.0.1 (DATABASE_URL from the
host), LiteLLM's bundled cost map (no internet), the local images in .env.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import time

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.secrets import envfile
from opsctl.settings import load_settings
from opsctl.stack.compose import Compose
from tests.stack.conftest import wait_until
from tests.stack.test_images import free_port
from tests.support.litellm_db import seed_credentials, seed_deployments
from tests.support.upstream import Behavior, run_upstream

PROBE_TABLE = "OpsctlUpgradeProbe"
BROKEN_MIGRATIONS = {
    "29990101000000_opsctl_probe_table": f'CREATE TABLE "{PROBE_TABLE}" (id INTEGER);\n',
    "29990101000001_opsctl_fails": "SELECT 1 / 0;\n",
}


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def edit_stack(directory, api: int, health: int, images: dict[str, str]) -> None:
    compose = directory / "docker-compose.yml"
    text = compose.read_text()
    text = text.replace('"127.0.0.1:4000:4000"', f'"127.0.0.1:{api}:4000"').replace('"127.0.0.1:4001:4001"', f'"127.0.0.1:{health}:4001"')
    compose.write_text(text)
    env = directory / ".env"
    body = envfile.read_text(env)
    for name, value in images.items():
        body = envfile.with_value(body, name, value, env)
    envfile.write_text(env, body)


def host_address() -> str:
    """The host's address as containers reach it (podman 4.3 has no host-gateway): the default route's source."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        return probe.getsockname()[0]


def broken_image(client, base: str, tag: str) -> None:
    """`base` with BROKEN_MIGRATIONS added to litellm_proxy_extras/migrations, its entrypoint and command kept."""
    config = client.images.get(base).attrs["Config"]
    script = ["d=$(python -c 'import importlib.util as u; print(list(u.find_spec(\"litellm_proxy_extras\")"
              ".submodule_search_locations)[0])')/migrations"]
    for name, sql in BROKEN_MIGRATIONS.items():
        script.append(f"mkdir -p $d/{name} && printf '%s' '{sql}' > $d/{name}/migration.sql")
    container = client.containers.run(base, entrypoint=["sh", "-c", " && ".join(script)], detach=True)
    try:
        assert container.wait(timeout=120)["StatusCode"] == 0, container.logs().decode()
        repository, _, version = tag.rpartition(":")
        container.commit(repository, version, changes=[f"ENTRYPOINT {json.dumps(config['Entrypoint'])}",
                                                       f"CMD {json.dumps(config['Cmd'])}"])
    finally:
        container.remove(force=True)
    committed = client.images.get(tag).attrs["Config"]
    assert (committed["Entrypoint"], committed["Cmd"]) == (config["Entrypoint"], config["Cmd"])


@pytest.fixture
def client(image_engine):
    import docker

    api = docker.DockerClient(base_url=image_engine.docker_host, timeout=600)
    yield api
    api.close()


@pytest.fixture
def stack(tmp_path, image_engine, stack_images, client, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", image_engine.docker_host)
    base = stack_images("litellm")
    # A project (and network) name of its own: aardvark-dns keeps one file per network name for every engine here.
    directory = tmp_path / f"gw{secrets.token_hex(4)}"
    assert run("init", str(directory)).exit_code == 0
    api, health, pg = free_port(), free_port(), free_port()
    # The template publishes Postgres on 127.0.0.1:${POSTGRES_HOST_PORT}; opsctl derives the host-side URL from it.
    edit_stack(directory, api, health, {"LITELLM_IMAGE": base, "POSTGRES_IMAGE": stack_images("postgres"),
                                        "REDIS_IMAGE": stack_images("redis"), "POSTGRES_HOST_PORT": str(pg),
                                        "HOST_GATEWAY": host_address()})
    values = envfile.parse(envfile.read_text(directory / ".env"))
    options = ("--stack-dir", str(directory), "--proxy-url", f"http://127.0.0.1:{api}",
               "--database-url", f"postgresql://litellm:{values['POSTGRES_PASSWORD']}@127.0.0.1:{pg}/litellm")
    try:
        started = run(*options, "up", "--timeout", "900")
        assert started.exit_code == 0, started.output[-2000:] + service_logs(client, "migrate")
        yield directory, options, values, base
    finally:
        run("--stack-dir", str(directory), "down")


def service_logs(client, service: str) -> str:
    found = client.containers.list(all=True, filters={"label": f"com.docker.compose.service={service}"})
    return "".join(f"\n--- {c.name} ---\n" + c.logs(tail=40).decode(errors="replace") for c in found)


def pinned(directory) -> str | None:
    return envfile.parse(envfile.read_text(directory / ".env")).get("LITELLM_IMAGE")


def key_works(proxy_url: str, key: str) -> bool:
    answer = httpx.get(proxy_url + "/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return answer.status_code == 200


def upgrade(options, image: str, *extra: str):
    result = run(*options, "upgrade", "--image", image, "--json", *extra)
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def test_upgrade_then_a_failed_upgrade_rolls_back_then_a_restore_into_a_new_directory_serves(stack, client, tmp_path):
    directory, options, values, base = stack
    proxy_url, database_url = options[3], options[5]
    created = httpx.post(proxy_url + "/key/generate", headers={"Authorization": f"Bearer {values['LITELLM_MASTER_KEY']}"},
                         json={"key_alias": "from-before"}, timeout=60)
    assert created.status_code == 200, created.text
    key = created.json()["key"]
    timings = {}

    # 1. Success: the same LiteLLM under a second tag.
    nxt = base.rsplit(":", 1)[0] + ":upgrade-next-" + secrets.token_hex(3)
    client.images.get(base).tag(*nxt.rsplit(":", 1))
    checked, plan = upgrade(options, nxt, "--check")
    assert checked.exit_code == 1, checked.output[-2000:]
    assert plan["preflight"]["current_image"] == base and plan["preflight"]["migrations"]["to_apply"] == []
    started = time.monotonic()
    done, report = upgrade(options, nxt, "--yes", "--backup", str(tmp_path / "first.tar"))
    timings["success"] = time.monotonic() - started
    assert done.exit_code == 0, done.output[-3000:]
    assert [(s["name"], s["status"]) for s in report["steps"]] == [
        ("backup", "ok"), ("pin", "ok"), ("migrate", "ok"), ("restart", "ok"), ("smoke", "ok")]
    assert report["outcome"] == "upgraded" and pinned(directory) == nxt
    assert key_works(proxy_url, key)
    again, _ = upgrade(options, nxt, "--check")
    assert again.exit_code == 0, again.output[-2000:]  # nothing left to change

    # 2. A target whose migrate moves the schema and then fails.
    broken = base.rsplit(":", 1)[0] + ":upgrade-broken-" + secrets.token_hex(3)
    broken_image(client, base, broken)
    with psycopg.connect(database_url) as connection:
        ledger_before = connection.execute("SELECT id, finished_at FROM _prisma_migrations ORDER BY id").fetchall()
    dry, plan = upgrade(options, broken, "--dry-run")
    assert dry.exit_code == 0, dry.output[-2000:]
    assert plan["preflight"]["migrations"]["to_apply"] == sorted(BROKEN_MIGRATIONS)
    started = time.monotonic()
    failed, report = upgrade(options, broken, "--yes", "--backup", str(tmp_path / "second.tar"))
    timings["rollback"] = time.monotonic() - started
    print(f"upgrade timings (s): {timings}")
    assert failed.exit_code == 1, failed.output[-3000:]
    assert failed.stderr.splitlines()[-1].startswith(f"Error: the upgrade to {broken} failed (the migrate service exited ")
    # The line names the migration and the database's error, not the last line LiteLLM logged.
    assert f": migration {sorted(BROKEN_MIGRATIONS)[-1]} failed: " in failed.stderr.splitlines()[-1], failed.stderr[-3000:]
    assert "division by zero" in failed.stderr.splitlines()[-1]
    assert failed.stderr.splitlines()[-1].endswith(f"rolled back to {nxt}, which serves again")
    steps = [(s["name"], s["status"]) for s in report["steps"]]
    assert steps == [("backup", "ok"), ("pin", "ok"), ("migrate", "failed"), ("rollback: pin", "ok"),
                     ("rollback: database", "ok"), ("rollback: proxy", "ok")], steps
    assert report["outcome"] == "rolled back" and report["steps"][4]["detail"].startswith("restored from ")
    assert pinned(directory) == nxt
    with psycopg.connect(database_url) as connection:
        assert connection.execute("SELECT to_regclass(%s)", (f'"{PROBE_TABLE}"',)).fetchone()[0] is None
        assert connection.execute("SELECT id, finished_at FROM _prisma_migrations ORDER BY id").fetchall() == ledger_before
        assert connection.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'opsctl_failed_upgrade_%'").fetchone()[0] == 0
    readiness = httpx.get(proxy_url + "/health/readiness", timeout=10).json()
    assert (readiness["status"], readiness["db"]) == ("healthy", "connected")
    assert wait_until(lambda: key_works(proxy_url, key), 60, "the key from before")
    states = json.loads(run(*options, "status", "--json").stdout)
    assert {s["service"]: s["image"] for s in states}["litellm"] == nxt

    # 3. The same gateway backed up, destroyed (down -v) and restored into a new empty directory.
    restore_into_a_new_directory(directory, options, values, key, tmp_path)


CREDENTIAL_KEY = "sk-upstream-stack-restore-credential-456"


def compose_down(directory, *args: str) -> None:
    Compose(load_settings({"stack_dir": str(directory)})).run("down", *args)


def restore_into_a_new_directory(directory, options, values, key, tmp_path):
    proxy_url, database_url = options[3], options[5]
    with run_upstream(host="0.0.0.0") as upstream:
        # A DB model whose upstream key is a stored credential, encrypted with the stack's salt key by LiteLLM's helper.
        upstream.behave("restored-upstream", Behavior(api_key=CREDENTIAL_KEY))
        port = upstream.url.rsplit(":", 1)[1]
        salt = {"salt": values["LITELLM_SALT_KEY"]}
        seed_credentials(database_url, [{"credential_name": "cred-restored", "credential_values": {"api_key": CREDENTIAL_KEY},
                                         "credential_info": {"custom_llm_provider": "openai"}}], **salt)
        seed_deployments(database_url, [{"model_name": "db-restored", "litellm_params": {
            "model": "openai/restored-upstream", "api_base": f"http://host.docker.internal:{port}/v1",
            "litellm_credential_name": "cred-restored"}}], **salt)
        with psycopg.connect(database_url) as connection:
            ledger = connection.execute("SELECT id, finished_at FROM _prisma_migrations ORDER BY id").fetchall()
        archive = tmp_path / "whole.tar"
        created = run(*options, "backup", "create", "-o", str(archive), "--json")
        assert created.exit_code == 0, created.output[-2000:]
        manifest = json.loads(created.stdout)["manifest"]
        assert manifest["row_counts"]["LiteLLM_CredentialsTable"] == 1 and manifest["row_counts"]["LiteLLM_ProxyModelTable"] == 1

        compose_down(directory, "-v")  # the gateway is gone, its database volume with it
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(database_url, connect_timeout=3)

        target = tmp_path / f"rs{secrets.token_hex(4)}"  # a project of its own
        key_file = tmp_path / "key"
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        try:
            started = time.monotonic()
            restored = run("--proxy-url", proxy_url, "backup", "restore", str(archive), str(target),
                           "--check-key-file", str(key_file), "--timeout", "900", "--yes", "--json")
            print(f"restore into a new directory: {time.monotonic() - started:.0f} s")
            assert restored.exit_code == 0, restored.output[-3000:]
            report = json.loads(restored.stdout)
            assert [(s["name"], s["status"]) for s in report["steps"]] == [
                ("verify", "ok"), ("write", "ok"), ("postgres", "ok"), ("database", "ok"), ("up", "ok"),
                ("check: readiness", "ok"), ("check: encrypted values", "ok"), ("check: key from before", "ok")]
            stored = re.match(r"(\d+) stored value\(s\), 0 unreadable, 0 ", report["steps"][6]["detail"])
            assert stored and int(stored.group(1)) >= 4, report["steps"][6]  # the credential's key, the model's params
            assert report["row_counts"] == manifest["row_counts"]
            assert (target / ".env").read_bytes() == (directory / ".env").read_bytes()
            assert oct((target / ".env").stat().st_mode & 0o777) == "0o600"
            with psycopg.connect(database_url) as connection:  # the same published port, the new project's Postgres
                assert connection.execute("SELECT id, finished_at FROM _prisma_migrations ORDER BY id").fetchall() == ledger
                assert connection.execute('SELECT count(*) FROM "LiteLLM_VerificationToken"').fetchone()[0] == \
                    manifest["row_counts"]["LiteLLM_VerificationToken"]
            readiness = httpx.get(proxy_url + "/health/readiness", timeout=10).json()
            assert (readiness["status"], readiness["db"]) == ("healthy", "connected")
            assert key_works(proxy_url, key)
            # The credential decrypts with the restored salt key: the fake upstream accepts only its key.
            answer = wait_until(lambda: chat_answer(proxy_url, key, "db-restored"), 120, "the DB model answering")
            assert answer.status_code == 200, answer.text
            assert upstream.keys_seen("restored-upstream")[-1] == CREDENTIAL_KEY
        finally:
            if (target / "docker-compose.yml").is_file():
                compose_down(target, "-v")


def chat_answer(proxy_url: str, key: str, model: str):
    answer = httpx.post(proxy_url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}, timeout=60)
    return answer if answer.status_code == 200 else None
