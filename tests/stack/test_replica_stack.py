"""`opsctl init --replicas 2` on the compose stack of locally built images (build.sh),
through podman's Docker API: `opsctl up`, `opsctl status` showing each replica and
its LB state, and `opsctl restart litellm --rolling` under a steady load through
the LB failing no request. One stack boot for the module.

The upstream is the wire fake (tests/support/upstream.py) on the host, reached by
the replicas as host.docker.internal (HOST_GATEWAY: the host's address); the LB
and Postgres are published on free loopback ports (LB_PORT, LB_HEALTH_PORT,
POSTGRES_HOST_PORT), so nothing else on the machine is in the way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values

from opsctl.secrets import envfile
from tests.stack.test_images import free_port
from tests.support.replicas import chat, steady_load
from tests.support.upstream import run_upstream

REPO = Path(__file__).resolve().parents[2]
MODEL = "llamacpp-local"  # config.yaml's model on LLAMACPP_API_BASE


def host_address() -> str:
    """The address this host's traffic leaves from (no packet is sent: a UDP socket only picks the route)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return probe.getsockname()[0]


@pytest.fixture(scope="module")
def replica_stack(stack_images, image_engine, tmp_path_factory):
    images = {f"{name.upper()}_IMAGE": stack_images(name) for name in ("postgres", "redis", "litellm", "haproxy")}
    stack = tmp_path_factory.mktemp("replicas") / "stack"
    lb_port, health_port = free_port(), free_port()
    with run_upstream(host="0.0.0.0") as upstream:  # containers reach the host's address, not its loopback
        env = {
            **os.environ,
            "DOCKER_HOST": image_engine.docker_host, "CONTAINERS_CONF": image_engine.env["CONTAINERS_CONF"],
            "PYTHONPATH": str(REPO), "LB_PORT": str(lb_port), "LB_HEALTH_PORT": str(health_port),
            # podman 4.3 has no host-gateway: the host's own address for host.docker.internal.
            "HOST_GATEWAY": host_address(), "POSTGRES_HOST_PORT": str(free_port()),
            "LLAMACPP_API_BASE": f"http://host.docker.internal:{upstream.url.rsplit(':', 1)[1]}/v1",
            "LITELLM_PROXY_URL": f"http://127.0.0.1:{lb_port}", "OPSCTL_HEALTH_URL": f"http://127.0.0.1:{health_port}",
        }

        def opsctl(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "opsctl", "--stack-dir", str(stack), *args], env=env,
                                  capture_output=True, text=True, timeout=timeout)

        assert opsctl("init", str(stack), "--replicas", "2").returncode == 0
        # The images in .env, where an operator pins them (and `opsctl upgrade` refuses a LITELLM_IMAGE in the shell).
        text = envfile.read_text(stack / ".env")
        for name, image in images.items():
            text = envfile.with_value(text, name, image, stack / ".env")
        envfile.write_text(stack / ".env", text)
        started = time.monotonic()
        try:
            up = opsctl("up", "--timeout", "600")
            assert up.returncode == 0, up.stderr[-3000:]
            print(f"init --replicas 2 + up: {time.monotonic() - started:.0f} s")
            yield stack, opsctl, f"http://127.0.0.1:{lb_port}", dotenv_values(stack / ".env")["LITELLM_MASTER_KEY"]
        finally:
            opsctl("down", timeout=300)


def rows(opsctl) -> dict:
    result = opsctl("status", "--json")
    assert result.returncode == 0, result.stderr
    return {row["service"]: row for row in json.loads(result.stdout)}


def test_status_shows_each_replica_up_in_the_lb_and_no_replica_published(replica_stack):
    stack, opsctl, lb_url, master_key = replica_stack
    seen = rows(opsctl)
    assert {name: (seen[name]["state"], seen[name]["health"]) for name in ("litellm-1", "litellm-2", "lb")} == {
        "litellm-1": ("running", "healthy"), "litellm-2": ("running", "healthy"), "lb": ("running", "healthy")}
    assert {name: row["lb"]["status"] for name, row in seen.items() if row.get("lb")} == {"litellm-1": "UP", "litellm-2": "UP"}
    published = {name for name, row in seen.items() if row["ports"]}
    assert "lb" in published and published <= {"lb", "postgres"}  # postgres: opsctl's host-side DB access
    assert {p["host_ip"] for name in published for p in seen[name]["ports"]} == {"127.0.0.1"}
    table = opsctl("status")
    assert table.returncode == 0 and "lb" in table.stdout and "UP" in table.stdout, table.stdout
    with httpx.Client(timeout=30) as client:
        answer = chat(client, lb_url, master_key, MODEL)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "ok", answer.text


def test_rolling_restart_under_load_through_the_lb_fails_no_request(replica_stack):
    stack, opsctl, lb_url, master_key = replica_stack
    before = {name: datetime.fromisoformat(rows(opsctl)[name]["started_at"]) for name in ("litellm-1", "litellm-2")}
    with steady_load(lb_url, master_key, clients=4, model=MODEL) as load:
        time.sleep(2)
        started = time.monotonic()
        result = opsctl("restart", "litellm", "--rolling", "--timeout", "300")
        seconds = time.monotonic() - started
        time.sleep(2)
    print(f"rolling restart of 2 replicas in {seconds:.0f} s under load:", load.summary())
    assert result.returncode == 0, result.stderr[-3000:]
    progress = [line for line in result.stderr.splitlines() if line.startswith("litellm-")]
    assert progress == [f"litellm-{i}: {step}" for i in (1, 2) for step in ("draining", "restarting", "back in service")]
    assert len(load.statuses) > 100
    assert load.failed == 0, [s for s in load.statuses if s != 200][:10]
    after = rows(opsctl)
    for name, was in before.items():
        assert datetime.fromisoformat(after[name]["started_at"]) > was, name  # each really restarted
        assert (after[name]["health"], after[name]["lb"]["status"]) == ("healthy", "UP"), name


def test_upgrade_recreates_the_replicas_one_at_a_time_under_load(replica_stack, image_engine, tmp_path):
    """`opsctl upgrade` on a replicas stack: its restart is the rolling one, each replica recreated on the
    new image (a new container, so a new address the LB must follow), drained first; no request fails."""
    import secrets

    import docker

    stack, opsctl, lb_url, master_key = replica_stack
    base = dotenv_values(stack / ".env")["LITELLM_IMAGE"]
    target = base.rsplit(":", 1)[0] + ":replicas-next-" + secrets.token_hex(3)  # the same LiteLLM, a new tag
    api = docker.DockerClient(base_url=image_engine.docker_host, timeout=600)
    try:
        api.images.get(base).tag(*target.rsplit(":", 1))
    finally:
        api.close()
    before = {name: rows(opsctl)[name]["started_at"] for name in ("litellm-1", "litellm-2")}
    with steady_load(lb_url, master_key, clients=4, model=MODEL) as load:
        time.sleep(2)
        started = time.monotonic()
        result = opsctl("upgrade", "--image", target, "--yes", "--json", "--backup", str(tmp_path / "before.tar"))
        seconds = time.monotonic() - started
        time.sleep(2)
    report = json.loads(result.stdout) if result.stdout.strip() else {"steps": []}
    steps = {s["name"]: s["seconds"] for s in report["steps"]}
    print(f"upgrade of 2 replicas in {seconds:.0f} s {steps} under load:", load.summary())
    assert result.returncode == 0, result.stderr[-4000:]
    assert [(s["name"], s["status"]) for s in report["steps"]] == [
        ("backup", "ok"), ("pin", "ok"), ("migrate", "ok"), ("restart", "ok"), ("smoke", "ok")], report["steps"]
    assert f"2 replicas, one at a time, recreated on {target}" in report["steps"][3]["detail"]
    assert "2 replicas ready, db connected" in report["steps"][4]["detail"]
    progress = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("litellm-")]
    assert progress == [f"litellm-{i}: {step}" for i in (1, 2) for step in ("draining", "restarting", "back in service")]
    assert len(load.statuses) > 100
    assert load.failed == 0, [s for s in load.statuses if s != 200][:10]
    assert dotenv_values(stack / ".env")["LITELLM_IMAGE"] == target
    seen = rows(opsctl)
    for name, was in before.items():
        assert (seen[name]["image"], seen[name]["health"], seen[name]["lb"]["status"]) == (target, "healthy", "UP"), name
        assert datetime.fromisoformat(seen[name]["started_at"]) > datetime.fromisoformat(was), name  # a new container
