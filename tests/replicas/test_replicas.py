"""N real DB-backed LiteLLM proxies behind a real haproxy, sharing one Postgres
database and a password-protected Redis (tests/support/replicas.py)."""

import time

import httpx
import pytest

from opsctl.replicas.lbconfig import BACKEND
from opsctl.replicas.rolling import rolling_restart
from tests.support.litellm_db import create_database, drop_database, unique_name
from tests.support.replicas import chat, run_cluster, run_redis, steady_load
from tests.support.upstream import run_upstream

REPLICAS = 2  # each DB-backed boot is 15-95 s here (2 cores, shared): 3 would not fit a test run


@pytest.fixture(scope="module")
def cluster(litellm_template):
    name = unique_name("replicas")
    database_url = create_database(name, template=litellm_template)
    try:
        with run_upstream() as upstream, run_redis() as redis:
            with run_cluster(REPLICAS, upstream.url, redis, database_url) as cluster:
                yield cluster
    finally:
        drop_database(name)


def test_rpm_limit_holds_across_replicas(cluster):
    first = cluster.targets()[0]
    answer = httpx.post(first.url + "/key/generate", timeout=30,
                        headers={"Authorization": f"Bearer {cluster_master_key()}"}, json={"rpm_limit": 5})
    assert answer.status_code == 200, answer.text
    key = answer.json()["key"]
    before = cluster.served()
    with httpx.Client(timeout=30) as client:
        statuses = [chat(client, cluster.lb_url, key).status_code for _ in range(6)]
    after = cluster.served()
    spread = {name: after[name] - before[name] for name in after}
    print("requests per replica:", spread, "statuses:", statuses)
    assert statuses == [200] * 5 + [429]
    assert sum(1 for served in spread.values() if served > 0) == REPLICAS, spread  # round robin: every replica served


def smoke_health(url: str, replicas: int) -> tuple[int, dict]:
    import json

    from click.testing import CliRunner

    from opsctl.cli import cli

    result = CliRunner().invoke(cli, ["--proxy-url", url, "smoke", "health", "--json"],
                                env={"OPSCTL_REPLICAS": str(replicas), "DATABASE_URL": None, "OPSCTL_HEALTH_URL": None})
    return result.exit_code, {f"{c['target']} {c['route']}": c for c in json.loads(result.stdout)["health"]["checks"]}


def test_smoke_checks_each_replica_on_its_own_through_the_lb(cluster):
    code, checks = smoke_health(cluster.lb_url, REPLICAS)
    pinned = {name: check for name, check in checks.items() if name.startswith("replica ")}
    assert code == 0, checks
    assert sorted(pinned) == [f"replica litellm-{i} /health/{route}" for i in (1, 2) for route in ("liveliness", "readiness")]
    assert all(check["passed"] and check["status"] == 200 for check in pinned.values())

    # litellm-2's server now points at a port nothing listens on: HAProxy's own checks mark it
    # down and the round robin hides it; smoke, pinned to it, must not.
    dead = cluster.replicas[1]
    from tests.support.proxy import free_port

    cluster.runtime.command(f"set server {BACKEND}/{dead.name} addr 127.0.0.1 port {free_port()}")
    try:
        code, checks = smoke_health(cluster.lb_url, REPLICAS)
    finally:
        cluster.runtime.command(f"set server {BACKEND}/{dead.name} addr 127.0.0.1 port {dead.port}")
    assert code == 1, checks
    assert checks["proxy /health/readiness"]["passed"]  # through the LB, all looks well
    assert checks["replica litellm-1 /health/readiness"]["passed"]
    failed = checks["replica litellm-2 /health/readiness"]
    assert not failed["passed"] and "not litellm-2" in failed["detail"] or failed["detail"].startswith("HTTP 5"), failed

    # A proxy without the LB's config (no server names its answers) proves nothing about any replica.
    code, checks = smoke_health(cluster.targets()[0].url, REPLICAS)
    assert code == 1
    assert checks["replica litellm-1 /health/readiness"]["detail"].startswith("the LB answered from no named server, not litellm-1")
    cluster.wait_all_up()


def test_rolling_restart_under_load_fails_no_request(cluster):
    progress = []
    with steady_load(cluster.lb_url, cluster_master_key(), clients=4) as load:
        time.sleep(2)
        report = rolling_restart(cluster.runtime, BACKEND, cluster.targets(), cluster.restart, progress=progress.append)
        time.sleep(2)
    print("rolling restart under load:", load.summary(), "ready seconds:", report.ready_seconds)
    assert report.restarted == [t.name for t in cluster.targets()]
    assert len(load.statuses) > 50
    assert load.failed == 0, [s for s in load.statuses if s != 200][:10]
    cluster.wait_all_up()


def cluster_master_key() -> str:
    from tests.support.proxy import TEST_MASTER_KEY

    return TEST_MASTER_KEY
