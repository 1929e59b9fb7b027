"""Rolling restart vs restart-all-at-once of 3 DB-backed LiteLLM replicas behind HAProxy.

Both under the same steady load through the LB (4 clients, back to back, a fake
upstream), in one run: the rolling restart (opsctl.replicas.rolling) must fail 0
requests out of at least 1,000; the plain restart (stop all, start all: what
`docker compose restart` does) is the baseline. Prints request count, failures
and latency percentiles for both. Needs scripts/setup/haproxy.sh and
scripts/setup/prisma.sh. Run: .venv/bin/python bench/rolling.py [REPLICAS]
"""

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsctl.replicas.lbconfig import BACKEND  # noqa: E402
from opsctl.replicas.rolling import rolling_restart  # noqa: E402
from tests.support.litellm_db import create_litellm_database, drop_database, unique_name  # noqa: E402
from tests.support.proxy import TEST_MASTER_KEY  # noqa: E402
from tests.support.replicas import run_cluster, run_redis, steady_load  # noqa: E402
from tests.support.upstream import run_upstream  # noqa: E402

MIN_REQUESTS = 1000


def main(count: int) -> int:
    name = unique_name("bench_rolling")
    database_url = create_litellm_database(name)
    try:
        with run_upstream() as upstream, run_redis() as redis, run_cluster(count, upstream.url, redis, database_url) as cluster:
            with steady_load(cluster.lb_url, TEST_MASTER_KEY) as rolling:
                rolling_restart(cluster.runtime, BACKEND, cluster.targets(), cluster.restart, progress=print)
                while len(rolling.statuses) < MIN_REQUESTS:  # at least 1,000 counted, bounded by steady_load
                    time.sleep(0.5)
            print("rolling   :", rolling.summary())
            cluster.wait_all_up()
            with steady_load(cluster.lb_url, TEST_MASTER_KEY) as plain:
                time.sleep(2)
                for replica in cluster.replicas:
                    cluster.stop(replica)
                with ThreadPoolExecutor(count) as pool:
                    list(pool.map(cluster.start, cluster.replicas))
                cluster.wait_all_up(timeout=60)
                while len(plain.statuses) < MIN_REQUESTS:
                    time.sleep(0.5)
            print("all-at-once:", plain.summary())
    finally:
        drop_database(name)
    ok = rolling.failed == 0 and len(rolling.statuses) >= MIN_REQUESTS
    print("PASS" if ok else "FAIL", f"rolling failed {rolling.failed}/{len(rolling.statuses)}, all-at-once failed {plain.failed}/{len(plain.statuses)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
