"""Benchmark: `opsctl smoke probe` on 40 model groups whose upstream answers in 300 ms.

Starts a real LiteLLM proxy (the pinned package, no database) in front of the
wire-level fake upstream (32 chat, 4 embedding, 4 rerank groups, 300 ms before
each answer), warms it up once, then times on the same proxy, in one run:
  - opsctl's probe at concurrency 8 (the default)
  - LiteLLM's own authenticated GET /health (it calls every deployment)
  - opsctl's probe one model at a time (concurrency 1)
Fails (exit 1) if the probe at concurrency 8 takes 2.5 s or more.

    .venv/bin/python bench/probe.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support runs the proxy and the upstream

import httpx  # noqa: E402
import yaml  # noqa: E402

from opsctl.settings import Settings  # noqa: E402
from opsctl.smoke.probe import run_probe  # noqa: E402
from tests.smoke.stack import proxy_config  # noqa: E402
from tests.support.proxy import start_proxy  # noqa: E402
from tests.support.upstream import Behavior, run_upstream  # noqa: E402

UPSTREAM_LATENCY = 0.3
LIMIT_SECONDS = 2.5
GROUPS = {
    **{f"chat-{i:02}": (f"openai/chat-{i:02}", "chat") for i in range(32)},
    **{f"embed-{i:02}": (f"openai/embed-{i:02}", "embedding") for i in range(4)},
    **{f"rerank-{i:02}": (f"cohere/rerank-{i:02}", "rerank") for i in range(4)},
}


def timed_probe(settings: Settings, concurrency: int) -> float:
    started = time.perf_counter()
    report = asyncio.run(run_probe(settings, concurrency=concurrency, timeout=30))
    elapsed = time.perf_counter() - started
    failed = [p for p in report.models if p.status != "ok"]
    if failed:
        sys.exit(f"probe failed: {failed[0]}")
    return elapsed


def timed_litellm_health(settings: Settings) -> float:
    started = time.perf_counter()
    response = httpx.get(settings.proxy_url + "/health", headers={"Authorization": f"Bearer {settings.master_key}"}, timeout=120)
    elapsed = time.perf_counter() - started
    body = response.json()
    if response.status_code != 200 or body.get("unhealthy_count"):
        sys.exit(f"LiteLLM /health: HTTP {response.status_code}, {body.get('unhealthy_count')} unhealthy")
    if body.get("healthy_count") != len(GROUPS):
        sys.exit(f"LiteLLM /health checked {body.get('healthy_count')} deployments, not {len(GROUPS)}")
    return elapsed


def main() -> int:
    config_path = Path(tempfile.mkdtemp(prefix="opsctl-bench-")) / "config.yaml"
    with run_upstream() as upstream:
        upstream.default = Behavior(latency=UPSTREAM_LATENCY)
        config_path.write_text(yaml.safe_dump(proxy_config(upstream.url, None, groups=GROUPS, fallbacks=[])))
        print(f"starting a LiteLLM proxy with {len(GROUPS)} model groups (upstream answers in {UPSTREAM_LATENCY * 1000:.0f} ms)...")
        with start_proxy(config_path) as proxy:
            settings = Settings(proxy_url=proxy.url, master_key=proxy.master_key)
            timed_probe(settings, concurrency=8)  # warm-up: the proxy's first requests pay one-off costs
            probe_8 = timed_probe(settings, concurrency=8)
            litellm_health = timed_litellm_health(settings)
            probe_1 = timed_probe(settings, concurrency=1)

    print(f"\n{'what':<44}{'seconds':>9}{'vs probe@8':>12}")
    for label, seconds in (
        ("opsctl smoke probe, concurrency 8", probe_8),
        ("LiteLLM GET /health (authenticated)", litellm_health),
        ("opsctl smoke probe, one at a time", probe_1),
    ):
        print(f"{label:<44}{seconds:>9.2f}{seconds / probe_8:>11.1f}x")
    verdict = "PASS" if probe_8 < LIMIT_SECONDS else "FAIL"
    print(f"\nprobe at concurrency 8: {probe_8:.2f} s, limit {LIMIT_SECONDS} s: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
