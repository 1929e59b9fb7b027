"""Benchmark: `opsctl smoke probe` on 40 deployments whose upstream answers in 300 ms,
beside LiteLLM's own authenticated GET /health on the same proxy.

Starts a real LiteLLM proxy (the pinned package, no database), twice: without
a cache (as the issue measured) and with the reference stack's cache (a
private password-protected redis-server), in front of the wire-level fake
upstream, in a process of its own as a real server would be: 16 chat groups of two deployments, 4 embedding and 4 rerank groups
(40 deployments), 300 ms before each answer.
After a warm-up, ROUNDS rounds alternate, in one run:
  - opsctl's probe (every deployment by id, cache bypassed, default concurrency)
  - LiteLLM's GET /health (it calls every deployment, all at once)
and the medians are compared, in wall time and in the CPU time the proxy
process spent (from /proc: unlike wall time, it does not depend on what
else the machine is running); each round also checks that both found the
same 40 deployments healthy. Also shown: the probe at concurrency 8.
Fails (exit 1) if the probe's median wall time is over 1.2x /health's in either.

    .venv/bin/python bench/probe.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support runs the proxy and the upstream

import httpx  # noqa: E402
import yaml  # noqa: E402

from opsctl.settings import Settings  # noqa: E402
from opsctl.smoke.probe import DEFAULT_CONCURRENCY, run_probe  # noqa: E402
from tests.smoke.conftest import PROXY_ENV  # noqa: E402
from tests.smoke.redis_server import start_redis  # noqa: E402
from tests.smoke.stack import proxy_config  # noqa: E402
from tests.support.proxy import free_port, start_proxy, stop_process  # noqa: E402

UPSTREAM_LATENCY = 0.3
TARGET_RATIO = 1.2
ROUNDS = 7
GROUPS = {
    **{f"chat-{i:02}": [(f"openai/chat-{i:02}-{j}", "chat", "main") for j in (1, 2)] for i in range(16)},
    **{f"embed-{i:02}": [(f"openai/embed-{i:02}", "embedding", "main")] for i in range(4)},
    **{f"rerank-{i:02}": [(f"cohere/rerank-{i:02}", "rerank", "main")] for i in range(4)},
}
DEPLOYMENTS = sum(len(d) for d in GROUPS.values())
REPO = Path(__file__).resolve().parents[1]
UPSTREAM = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.support.upstream import Behavior, run_upstream
with run_upstream(port={port}) as upstream:
    upstream.default = Behavior(latency={latency})
    print("ready", flush=True)
    time.sleep(3600)
"""


@contextmanager
def upstream_process():
    """The fake upstream in its own process: its work does not share the probe's interpreter."""
    port = free_port()
    code = UPSTREAM.format(repo=str(REPO), port=port, latency=UPSTREAM_LATENCY)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        if process.stdout.readline().strip() != "ready":
            sys.exit("the fake upstream did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


def timed_probe(settings: Settings, concurrency: int) -> tuple[float, set[str]]:
    started = time.perf_counter()
    report = asyncio.run(run_probe(settings, concurrency=concurrency, timeout=30))
    elapsed = time.perf_counter() - started
    for group in report.models:
        for deployment in group.deployments:
            if not deployment.ok:
                print(f"  probe: {group.model} {deployment.id[:12]}: {deployment.status}: {deployment.error}")
    return elapsed, {d.id for group in report.models for d in group.deployments if d.ok}


def timed_litellm_health(client: httpx.Client) -> tuple[float, set[str]]:
    """One GET /health on a client made beforehand (its TLS context is not counted; the probe's is)."""
    started = time.perf_counter()
    response = client.get("/health")
    elapsed = time.perf_counter() - started
    body = response.json()
    if response.status_code != 200:
        sys.exit(f"LiteLLM /health: HTTP {response.status_code}")
    return elapsed, {endpoint["model_id"] for endpoint in body["healthy_endpoints"]}


def proxy_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, run) -> tuple[float, float, set[str]]:
    """(wall seconds, the proxy's CPU seconds, healthy ids) of one run."""
    cpu_before = proxy_cpu_seconds(pid)
    wall, healthy = run()
    return wall, proxy_cpu_seconds(pid) - cpu_before, healthy


def compare(upstream_url: str, redis, cache: bool) -> float:
    """Alternating rounds on one proxy; prints the table and returns the probe's wall-time ratio to /health."""
    config_path = Path(tempfile.mkdtemp(prefix="opsctl-bench-")) / "config.yaml"
    config_path.write_text(yaml.safe_dump(proxy_config({"main": upstream_url}, None, groups=GROUPS, fallbacks=[], cache=cache)))
    print(f"\n{DEPLOYMENTS} deployments in {len(GROUPS)} groups, upstream answering in {UPSTREAM_LATENCY * 1000:.0f} ms, "
          + ("the reference Redis cache:" if cache else "no cache (as the issue measured):"))
    with start_proxy(config_path, env={**redis.env, **PROXY_ENV}) as proxy:
        settings = Settings(proxy_url=proxy.url, master_key=proxy.master_key)
        health_client = httpx.Client(base_url=proxy.url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=120)
        timed_probe(settings, DEFAULT_CONCURRENCY), timed_litellm_health(health_client)  # warm-up: one-off costs
        pid = proxy.process.pid
        probes, healths = [], []
        for _round in range(ROUNDS):
            probe_run = measured(pid, lambda: timed_probe(settings, DEFAULT_CONCURRENCY))
            health_run = measured(pid, lambda: timed_litellm_health(health_client))
            if probe_run[2] != health_run[2] or len(probe_run[2]) != DEPLOYMENTS:
                sys.exit(f"verdicts differ: probe found {len(probe_run[2])} healthy, /health {len(health_run[2])}, "
                         f"{len(probe_run[2] ^ health_run[2])} disagree")
            probes.append(probe_run[:2])
            healths.append(health_run[:2])
        probe_8 = measured(pid, lambda: timed_probe(settings, 8))[:2]

    probe = [statistics.median(run[i] for run in probes) for i in (0, 1)]
    health = [statistics.median(run[i] for run in healths) for i in (0, 1)]
    print(f"{'what (median of ' + str(ROUNDS) + ' alternating rounds)':<50}{'wall s':>8}{'vs /health':>12}"
          f"{'proxy CPU s':>13}{'vs /health':>12}")
    for label, (wall, cpu) in (
        (f"opsctl smoke probe, concurrency {DEFAULT_CONCURRENCY} (default)", probe),
        ("LiteLLM GET /health (authenticated)", health),
        ("opsctl smoke probe, concurrency 8 (one run)", probe_8),
    ):
        print(f"{label:<50}{wall:>8.2f}{wall / health[0]:>11.2f}x{cpu:>13.2f}{cpu / health[1]:>11.2f}x")
    print(f"rounds, wall s: probe {', '.join(f'{w:.2f}' for w, _ in probes)}; /health {', '.join(f'{w:.2f}' for w, _ in healths)}")
    print(f"same {DEPLOYMENTS} deployments healthy in every round")
    return probe[0] / health[0]


def main() -> int:
    with start_redis() as redis, upstream_process() as upstream_url:
        ratios = {"no cache": compare(upstream_url, redis, cache=False), "Redis cache": compare(upstream_url, redis, cache=True)}
    verdict = "PASS" if all(ratio <= TARGET_RATIO for ratio in ratios.values()) else "FAIL"
    shown = ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items())
    print(f"\nprobe / /health wall time: {shown}; target <= {TARGET_RATIO}x: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
