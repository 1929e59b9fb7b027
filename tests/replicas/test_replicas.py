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
