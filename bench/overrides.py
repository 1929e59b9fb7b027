"""Benchmark: `db apply-overrides` on 10,000 deployments vs a naive one-UPDATE-per-row loop.

Builds a scratch database with LiteLLM's real schema (migrations from
litellm-proxy-extras), seeds 10,000 deployments through LiteLLM's own
encryption, clones it twice, and times on identical data:
  - opsctl's apply (lock + before-images + one set-based UPDATE + backup file, one transaction)
  - a naive loop: one guarded UPDATE per row, one transaction
  - the floor: the same merge as one bare UPDATE (no guard, lock, before-images
    or backup), to show what the safety costs
Fails (exit 1) if opsctl's apply takes 2 s or more.

    .venv/bin/python bench/overrides.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support holds the schema/seed helpers

import psycopg  # noqa: E402

from opsctl.db.overrides import APPLY_SQL, UPDATED_BY, as_json_number, apply_plan, load_plan  # noqa: E402
from opsctl.policy import load_policy  # noqa: E402
from tests.support.litellm_db import (  # noqa: E402
    create_database,
    create_litellm_database,
    drop_database,
    raw_rows,
    seed_deployments,
    unique_name,
)

DEPLOYMENTS = 10_000
LIMIT_SECONDS = 2.0
NAMES = ["chat-default", "deepseek-chat", "qwen3-coder-480b-cloud", "llamacpp-local", "local-embeddings",
         "gemma3-1b-local", "embeddings-default", "tenant-{i}-cloud", "unmanaged-{i}"]


def rows() -> list[dict]:
    return [
        {
            "model_name": NAMES[i % len(NAMES)].format(i=i),
            "litellm_params": {"model": f"openai/model-{i}", "api_key": f"sk-bench-{i}",
                               "api_base": f"https://upstream-{i % 7}.example/v1", "timeout": 600},
        }
        for i in range(DEPLOYMENTS)
    ]


def naive_apply(database_url: str, plan) -> None:
    """The same guarded change, one statement and one round trip per row."""
    with psycopg.connect(database_url) as connection:
        for change in plan.changes:
            connection.execute(
                APPLY_SQL,
                (UPDATED_BY, [change.model_id], [as_json_number(change.new_timeout)], [change.new_num_retries],
                 [change.deployment.updated_at], [change.deployment.digest]),
            )


BARE_SQL = """
UPDATE "LiteLLM_ProxyModelTable" AS t
SET litellm_params = t.litellm_params || jsonb_build_object('timeout', p.timeout, 'num_retries', p.num_retries),
    updated_at = now() AT TIME ZONE 'UTC', updated_by = %s
FROM unnest(%s::text[], %s::numeric[], %s::int[]) AS p(model_id, timeout, num_retries)
WHERE t.model_id = p.model_id
"""


def bare_update(database_url: str, plan) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute(BARE_SQL, (UPDATED_BY, [c.model_id for c in plan.changes],
                                      [as_json_number(c.new_timeout) for c in plan.changes],
                                      [c.new_num_retries for c in plan.changes]))


def main() -> int:
    base, fast, slow = unique_name("opsctl_bench"), unique_name("opsctl_bench_set"), unique_name("opsctl_bench_naive")
    floor_db = unique_name("opsctl_bench_floor")
    policy = load_policy(None)
    try:
        started = time.perf_counter()
        url = create_litellm_database(base)
        seed_deployments(url, rows())
        print(f"setup: schema + {DEPLOYMENTS} seeded deployments in {time.perf_counter() - started:.1f} s")
        fast_url, slow_url = create_database(fast, template=base), create_database(slow, template=base)
        floor_url = create_database(floor_db, template=base)

        plan = load_plan(fast_url, policy)
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = apply_plan(fast_url, plan, Path(tmp) / "backup.json")
            set_based = time.perf_counter() - started

        naive_plan = load_plan(slow_url, policy)
        started = time.perf_counter()
        naive_apply(slow_url, naive_plan)
        naive = time.perf_counter() - started

        floor_plan = load_plan(floor_url, policy)
        started = time.perf_counter()
        bare_update(floor_url, floor_plan)
        floor = time.perf_counter() - started

        same = {k: v[0] for k, v in raw_rows(fast_url).items()} == {k: v[0] for k, v in raw_rows(slow_url).items()}
        print(f"deployments changed:           {result.updated} of {DEPLOYMENTS}")
        print(f"opsctl apply (set-based):      {set_based:.3f} s  (limit {LIMIT_SECONDS:.1f} s)")
        print(f"naive loop (UPDATE per row):   {naive:.3f} s")
        print(f"bare UPDATE (no guard/backup): {floor:.3f} s  (the floor; opsctl = {set_based / floor:.1f}x floor)")
        print(f"ratio naive / opsctl:          {naive / set_based:.1f}x")
        print(f"same litellm_params afterwards: {same}")
        return 0 if set_based < LIMIT_SECONDS and same else 1
    finally:
        for name in (fast, slow, floor_db, base):
            drop_database(name)


if __name__ == "__main__":
    sys.exit(main())
