"""Benchmark: `opsctl backup create` / `backup restore` beside bare pg_dump / pg_restore.

A scratch database with LiteLLM's real schema, 100,000 spend-log rows and
10,000 keys. Times, on the same database in the same run:
  - bare `pg_dump -Fc` to a file, and `opsctl backup create` (snapshot, counts,
    dump, checksums, the tar, fsync);
  - bare `pg_restore --single-transaction` into an empty database, and
    `opsctl backup restore` (verify, extract, restore, count check).
Target: opsctl's overhead <= 20 % on each. Prints the ratios; exit 1 when over.

    .venv/bin/python bench/backup.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from tests.support.litellm_db import create_database, create_litellm_database, drop_database, unique_name  # noqa: E402

SPEND_LOGS, KEYS, RUNS = 100_000, 10_000, 3
TARGET_OVERHEAD = 0.20


def seed(url: str) -> None:
    with psycopg.connect(url) as connection:
        connection.execute(
            """INSERT INTO "LiteLLM_VerificationToken" (token, key_alias, rpm_limit, tpm_limit, models, metadata)
               SELECT md5(i::text), 'key-' || i, 120, 60000, ARRAY['chat-default'], '{"team": "bench"}'
               FROM generate_series(1, %s) i""", (KEYS,))
        connection.execute(
            """INSERT INTO "LiteLLM_SpendLogs" (request_id, call_type, api_key, spend, total_tokens, "startTime",
                                                "endTime", model, messages, response)
               SELECT 'req-' || i, 'acompletion', md5((i %% %s)::text), 0.0001 * i, 42, now(), now(),
                      'chat-default', '{"role": "user"}', '{"ok": true}'
               FROM generate_series(1, %s) i""", (KEYS, SPEND_LOGS))


def timed(argv, env=None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - started


def best(samples) -> float:
    return min(samples)


def main() -> int:
    source_name = unique_name("bench_backup")
    source = create_litellm_database(source_name)
    targets = []
    opsctl = str(Path(sys.executable).parent / "opsctl")
    try:
        seed(source)
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            home = {"HOME": str(work), "XDG_STATE_HOME": str(work / "state")}
            dump_times, create_times, restore_times, ours_restore = [], [], [], []
            for run in range(RUNS):
                dump_file, archive = work / f"bare-{run}.dump", work / f"ours-{run}.tar"
                dump_times.append(timed(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                                         f"--dbname={source}", "-f", str(dump_file)]))
                create_times.append(timed([opsctl, "--database-url", source, "backup", "create", "--no-stack",
                                           "-o", str(archive)], home))
                for kind in ("bare", "ours"):
                    name = unique_name(f"bench_restore_{kind}")
                    url = create_database(name)
                    targets.append(name)
                    if kind == "bare":
                        restore_times.append(timed(["pg_restore", "--no-owner", "--no-privileges",
                                                    "--single-transaction", "--exit-on-error",
                                                    f"--dbname={url}", str(dump_file)]))
                    else:
                        ours_restore.append(timed([opsctl, "--database-url", url, "backup", "restore",
                                                   str(archive), "--yes"], home))
            size = archive.stat().st_size
    finally:
        for name in [source_name, *targets]:
            drop_database(name)
    dump, create = best(dump_times), best(create_times)
    restore, ours = best(restore_times), best(ours_restore)
    print(f"{SPEND_LOGS:,} spend logs, {KEYS:,} keys; archive {size / 1e6:.1f} MB; best of {RUNS} runs")
    print(f"bare pg_dump -Fc        : {dump:6.2f} s")
    print(f"opsctl backup create    : {create:6.2f} s   overhead {create / dump - 1:+.0%}  (target <= +20%)")
    print(f"bare pg_restore         : {restore:6.2f} s")
    print(f"opsctl backup restore   : {ours:6.2f} s   overhead {ours / restore - 1:+.0%}  (target <= +20%)")
    return 0 if create / dump - 1 <= TARGET_OVERHEAD and ours / restore - 1 <= TARGET_OVERHEAD else 1


if __name__ == "__main__":
    sys.exit(main())
