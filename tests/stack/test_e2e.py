"""The operator's whole flow, end to end, on the stack's real images.

The compose file is the one `opsctl init` writes and users run; .env is
edited only as an operator would: the `*_IMAGE` variables point at the local
builds (scripts/images/build.sh), the llama.cpp upstream at a wire-fake LLM
server on "this host", and HOST_GATEWAY at that host's address (Podman 4.3
has no `host-gateway`). Every step is the installed `opsctl` run in the stack
directory from a fresh shell, as the README says, with DOCKER_HOST pointing at
podman's Docker API.

"This host" is a network namespace of its own: the podman API service of
this module runs in it (with its own store), so the stack publishes the ports
users get (4000, 4001, 15432) without clashing with anything else on a
shared machine, and the test (its upstream thread and every opsctl it runs)
enters that namespace. The upstream listens on an address of the
namespace's loopback, which the containers reach through their gateway.

Podman runs no healthchecks without systemd: the image engine's ticker
(tests/stack/conftest.py) runs `podman healthcheck run` in the background,
playing the systemd timer's part; opsctl itself only reads the engine's
health status, as it does on Docker.

Marked `e2e` (about 5 minutes): CI runs it; `-m "not e2e"` skips it locally.
On a failure the containers' last log lines are printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import httpx
import psycopg
import pytest
from dotenv import dotenv_values

from tests.stack.conftest import import_stack_images, podman_engine, wait_until
from tests.support.litellm_db import migration_files
from tests.support.upstream import Behavior, run_upstream

pytestmark = pytest.mark.e2e

PROXY = "http://127.0.0.1:4000"  # the reference compose file publishes the proxy here, and opsctl's default
UPSTREAM_KEY = "sk-no-key-required"  # .env's LLAMACPP_API_KEY, as init writes it
DB_MODEL = "deepseek-e2e"  # a DB-stored deployment; the policy's cloud tier: timeout 90, num_retries 2
UP_TIMEOUT = 480  # seconds: the first up initialises Postgres and applies every migration


HOST_ADDRESS = "198.18.0.1"  # the namespace's own address for its containers (a benchmarking range, RFC 2544)
CLONE_NEWNET = 0x40000000


def _setns(path: str) -> None:
    import ctypes

    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


@contextmanager
def inside(netns: str):
    """This thread (and the threads and processes it starts) in the network namespace `netns`."""
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(netns)
        yield
    finally:
        _setns(f"/proc/self/fd/{original}")
        os.close(original)


@pytest.fixture(scope="module")
def isolated_engine(tmp_path_factory):
    """A podman API service with its own store, in network and mount namespaces of its own.

    The mount namespace gives it its own /run/containers/networks: netavark
    keeps one aardvark-dns per that directory, and one started by an engine in
    the host's network namespace would answer no container here (compose
    service names would not resolve). Every podman command, the healthcheck
    ticker's too, runs inside (nsenter)."""
    work = tmp_path_factory.mktemp("isolated")
    script = (f"mkdir -p /run/containers/networks && mount -t tmpfs tmpfs /run/containers/networks && "
              f"ip link set lo up && ip addr add {HOST_ADDRESS}/32 dev lo && exec sleep infinity")
    holder = subprocess.Popen(["unshare", "--net", "--mount", "sh", "-c", script],
                              env={**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, stdout=subprocess.DEVNULL)
    wrap = ("nsenter", "-t", str(holder.pid), "--net", "--mount")
    try:
        wait_until(lambda: HOST_ADDRESS in subprocess.run([*wrap, "ip", "-4", "addr", "show", "lo"], capture_output=True,
                                                        text=True).stdout, 20, "the namespaces", interval=0.1)
        with podman_engine(work, storage_driver="overlay", wrap=wrap) as engine:
            try:
                yield engine, import_stack_images(engine), f"/proc/{holder.pid}/ns/net"
            finally:
                subprocess.run(engine.podman + ["rmi", "--all", "--force"], env=engine.env, capture_output=True, timeout=300)
    finally:
        holder.terminate()
        holder.wait(10)


class Operator:
    """The installed opsctl, run in the stack directory from a fresh shell (no venv on PATH)."""

    def __init__(self, stack, docker_host: str, home) -> None:
        self.stack = stack
        self.opsctl = os.path.join(os.path.dirname(sys.executable), "opsctl")
        self.env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
                    "DOCKER_HOST": docker_host, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}

    def __call__(self, *args: str, expect: int = 0, timeout: float = 180) -> subprocess.CompletedProcess:
        started = time.monotonic()
        ran = subprocess.run([self.opsctl, *args], cwd=self.stack, env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        shown = " ".join("sk-****" if arg.startswith("sk-") else arg for arg in args)  # no key in the test log
        print(f"$ opsctl {shown}  -> {ran.returncode} in {time.monotonic() - started:.1f} s")
        assert ran.returncode == expect, f"opsctl {shown}: exit {ran.returncode}\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
        assert "Traceback" not in ran.stderr, ran.stderr
        return ran

    def json(self, *args: str, **kwargs):
        return json.loads(self(*args, "--json", **kwargs).stdout)


def configure(stack, images: dict[str, str], upstream_port: int) -> dict[str, str]:
    """Edit .env as an operator would (the rest stays as init wrote it); returns the new values."""
    text = (stack / ".env").read_text()
    values = {
        **{f"{name.upper()}_IMAGE": tag for name, tag in images.items()},
        "LLAMACPP_API_BASE": f"http://host.docker.internal:{upstream_port}/v1",
        # Podman 4.3 writes `host-gateway` into /etc/hosts literally: give it the host's address instead.
        "HOST_GATEWAY": HOST_ADDRESS,
    }
    lines = [line for line in text.splitlines() if line.split("=", 1)[0] not in values]
    (stack / ".env").write_text("\n".join(lines + [f"{k}={v}" for k, v in values.items()]) + "\n")
    return values


def migrations(db_url: str) -> list[tuple]:
    with psycopg.connect(db_url, connect_timeout=5) as connection:
        return connection.execute(
            "SELECT migration_name, started_at, finished_at IS NOT NULL, applied_steps_count FROM _prisma_migrations"
            " ORDER BY migration_name").fetchall()


def db_model_params(db_url: str) -> list[dict]:
    with psycopg.connect(db_url, connect_timeout=5) as connection:
        return [row[0] for row in connection.execute(
            'SELECT litellm_params FROM "LiteLLM_ProxyModelTable" WHERE model_name = %s', (DB_MODEL,))]


def served_policy(master_key: str) -> tuple | None:
    """(timeout, num_retries) /model/info serves for the DB model."""
    info = httpx.get(f"{PROXY}/model/info", headers={"Authorization": f"Bearer {master_key}"}, timeout=20).json()
    for model in info["data"]:
        if model["model_name"] == DB_MODEL:
            return model["litellm_params"].get("timeout"), model["litellm_params"].get("num_retries")
    return None


def chat(key: str, model: str) -> httpx.Response:
    return httpx.post(f"{PROXY}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=60,
                      json={"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 5})


def dump_logs(engine, project: str) -> None:
    listed = subprocess.run(engine.podman + ["ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                                             "--format", "{{.Names}} {{.Status}}"],
                            env=engine.env, capture_output=True, text=True, timeout=60)
    for line in listed.stdout.splitlines():
        name = line.split()[0]
        logs = subprocess.run(engine.podman + ["logs", "--tail", "40", name], env=engine.env, capture_output=True,
                              text=True, timeout=60)
        print(f"--- {line} ---\n{logs.stdout[-6000:]}{logs.stderr[-6000:]}")


def remove_stack(docker_host: str, stack, project: str) -> None:
    """The project's containers, network and volumes (the Postgres data), whatever state the test left."""
    from opsctl.stack.compose import compose_command

    subprocess.run([*compose_command(), "-p", project, "down", "--volumes", "--timeout", "5"], cwd=stack,
                   env={**os.environ, "DOCKER_HOST": docker_host}, capture_output=True, timeout=180)


def test_the_operators_flow_on_the_real_images(isolated_engine, tmp_path):
    engine, stack_images, netns = isolated_engine
    images = {name: stack_images(name) for name in ("postgres", "redis", "litellm")}
    with inside(netns):
        operators_flow(engine, engine.docker_host, images, tmp_path)


def operators_flow(engine, docker_host: str, images: dict[str, str], tmp_path) -> None:
    project = f"e2e{uuid.uuid4().hex[:8]}"
    stack = tmp_path / project  # compose names the project after the directory
    opsctl = Operator(stack, docker_host, tmp_path)

    stack.mkdir()
    opsctl("init")  # into the working directory, the stack dir's default
    db_port = 15432  # the default: nothing else publishes in this namespace
    with run_upstream(host=HOST_ADDRESS) as upstream:
        upstream.behave("llamacpp-local", Behavior(api_key=UPSTREAM_KEY, text="from the host"))
        upstream.behave(DB_MODEL, Behavior(api_key=UPSTREAM_KEY))
        upstream_port = int(upstream.url.rsplit(":", 1)[1])
        configure(stack, images, upstream_port)
        env = dotenv_values(stack / ".env")
        master_key = env["LITELLM_MASTER_KEY"]
        db_url = f"postgresql://litellm:{env['POSTGRES_PASSWORD']}@127.0.0.1:{db_port}/litellm"
        try:
            # Up: every container healthy, migrate exited 0, readiness healthy with the DB connected.
            opsctl("up", "--timeout", str(UP_TIMEOUT), timeout=UP_TIMEOUT + 300)
            states = {s["service"]: s for s in opsctl.json("status")}
            assert set(states) == {"postgres", "redis", "migrate", "litellm"}
            assert (states["migrate"]["state"], states["migrate"]["exit_code"]) == ("exited", 0)
            assert all(states[name]["health"] == "healthy" for name in ("postgres", "redis", "litellm")), states
            readiness = httpx.get(f"{PROXY}/health/readiness", timeout=10).json()
            assert (readiness["status"], readiness["db"]) == ("healthy", "connected")
            applied = migrations(db_url)
            assert [row[0] for row in applied] == [path.parent.name for path in migration_files()]
            assert all(done and steps == 1 for _name, _started, done, steps in applied)

            # The database from the host, through the published port and .env's in-container URL.
            shown = {row["name"]: row for row in opsctl.json("config", "show")}
            assert shown["database_url"]["value"] == f"postgresql://litellm:****@127.0.0.1:{db_port}/litellm"
            assert "compose service 'postgres'" in shown["database_url"]["note"]
            opsctl("db", "status")

            # A DB-stored deployment off policy; apply-overrides from the host; the proxy serves the new values.
            created = httpx.post(f"{PROXY}/model/new", headers={"Authorization": f"Bearer {master_key}"}, timeout=60, json={
                "model_name": DB_MODEL,
                "litellm_params": {"model": f"openai/{DB_MODEL}", "api_base": f"http://host.docker.internal:{upstream_port}/v1",
                                   "api_key": UPSTREAM_KEY, "timeout": 600, "num_retries": 0}})
            assert created.status_code == 200, created.text
            wait_until(lambda: served_policy(master_key) == (600, 0), 90, "the new DB model on /model/info")
            applied_plan = opsctl.json("db", "apply-overrides", "--yes")
            assert applied_plan["applied"] == 1, applied_plan
            assert [(c["model_name"], c["timeout"], c["num_retries"]) for c in applied_plan["plan"]["changes"]] == [
                (DB_MODEL, {"current": 600, "new": 90}, {"current": 0, "new": 2})]
            assert [(p["timeout"], p["num_retries"]) for p in db_model_params(db_url)] == [(90, 2)]
            # proxy_config_reload_interval_seconds: 30 by default
            wait_until(lambda: served_policy(master_key) == (90, 2), 120, "the override on /model/info")

            # A key with the policy defaults, and a chat request with it through the proxy to the host upstream.
            [minted] = opsctl.json("keys", "create", "--alias", "e2e-operator", "--model", "llamacpp-local", "--model", DB_MODEL)
            key = minted["key"]
            answer = chat(key, "llamacpp-local")
            assert answer.status_code == 200, answer.text
            assert answer.json()["choices"][0]["message"]["content"] == "from the host"
            assert upstream.keys_seen("llamacpp-local")[-1] == UPSTREAM_KEY  # .env's key reached the upstream

            smoke = opsctl.json("smoke", "--model", "llamacpp-local", "--model", DB_MODEL)
            assert {m["model"]: m["healthy"] for m in smoke["probe"]["models"]} == {"llamacpp-local": True, DB_MODEL: True}
        except BaseException:
            dump_logs(engine, project)
            remove_stack(docker_host, stack, project)
            raise

    try:
        # The upstream is gone: smoke fails (exit 1), naming it.
        failed = opsctl("smoke", "--model", "llamacpp-local", "--deadline", "30", "--timeout", "10", "--json", expect=1)
        assert {m["model"]: m["healthy"] for m in json.loads(failed.stdout)["probe"]["models"]} == {"llamacpp-local": False}

        audit = opsctl.json("audit", "--live")
        assert audit["summary"]["FAIL"] == 0 and audit["unreachable"] == []
        checks = {c["check"]: c for c in audit["checks"]}
        assert checks["model-timeouts"]["status"] == checks["public-routes"]["status"] == "PASS"
        assert any(f"127.0.0.1:{db_port}" in e["text"] for e in checks["ports-loopback"]["evidence"]), checks["ports-loopback"]

        opsctl("restart", "litellm", "--timeout", "300", timeout=360)
        # 403: the key still authenticates and its model list holds (an unknown key is 401).
        assert chat(key, "nobody-may-call-this").status_code == 403

        opsctl("down", timeout=300)
        assert opsctl.json("status") == []
        opsctl("up", "--timeout", str(UP_TIMEOUT), timeout=UP_TIMEOUT + 300)
        # The volume kept everything: migrations applied once (the second migrate found none pending), the key, the override.
        assert migrations(db_url) == applied
        models = httpx.get(f"{PROXY}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert models.status_code == 200, models.text
        assert {m["id"] for m in models.json()["data"]} == {"llamacpp-local", DB_MODEL}
        wait_until(lambda: served_policy(master_key) == (90, 2), 90, "the override after down and up")
        assert opsctl.json("keys", "info", key)["key_alias"] == "e2e-operator"
        opsctl("down", timeout=300)
    except BaseException:
        dump_logs(engine, project)
        raise
    finally:
        remove_stack(docker_host, stack, project)
