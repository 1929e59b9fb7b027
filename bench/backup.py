"""Benchmark: `opsctl backup create` / `backup restore` beside bare pg_dump / pg_restore.

A scratch database with LiteLLM's real schema, 100,000 spend-log rows and
10,000 keys. Times, on the same database in the same run:
  - bare `pg_dump -Fc` to a file, and `opsctl backup create` (snapshot, counts,
    dump, checksums, the tar, fsync);
  - bare `pg_restore --single-transaction` into an empty database, and
    `opsctl backup restore` (verify, extract, restore, count check).
Target: opsctl's overhead <= 20 % on each, over the tool a user runs by name
(`pg_dump` on PATH). Where that is Debian's pg_wrapper (a perl script), the
binary it execs (which opsctl runs itself) is timed too and the overhead over
it printed beside. Prints the ratios, each command's client CPU time (which
moves little with the machine's load, unlike wall time) and opsctl's fixed
start-up cost (the interpreter, click, psycopg); exit 1 when over.

    .venv/bin/python bench/backup.py

opsctl runs as `python -m opsctl` with this checkout first on PYTHONPATH, so
the numbers are the tree's the bench lives in, not the venv's installed copy.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.support.litellm_db import create_database, create_litellm_database, drop_database, unique_name  # noqa: E402

SPEND_LOGS, KEYS, RUNS = 100_000, 10_000, 7
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


def timed(argv, env=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child and what it waited for: user + system)."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, **(env or {})})
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def best(samples) -> tuple[float, float]:
    """The fastest wall time, and the least CPU time (CPU barely moves with the machine's load)."""
    return min(wall for wall, _ in samples), min(cpu for _, cpu in samples)


def check_tree(env: dict) -> None:
    """The child imports opsctl from this checkout (not the venv's editable copy of another one)."""
    found = subprocess.run([sys.executable, "-c", "import opsctl; print(opsctl.__file__)"], check=True,
                           capture_output=True, text=True, env={**os.environ, **env}).stdout.strip()
    if not Path(found).resolve().is_relative_to(ROOT):
        raise SystemExit(f"the child imports opsctl from {found}, not from {ROOT}")


def bare_tools(tool: str) -> dict[str, str]:
    """label -> argv[0]: the tool on PATH and, when that is Debian's perl pg_wrapper, the binary opsctl runs."""
    from opsctl.backup import pgtools

    found = {f"bare {tool}": tool}
    host = pgtools.host_tool(tool)
    if host and host.path != shutil.which(tool):
        found[f"bare {host.path}"] = host.path
    return found


def restore_into(samples: list, kind: str, argv: list[str], targets: list[str], env=None) -> None:
    name = unique_name(f"bench_restore_{kind}")
    url = create_database(name)
    targets.append(name)
    samples.append(timed([arg.replace("{url}", url) for arg in argv], env))


def report(label: str, ours: tuple[float, float], bare: dict[str, tuple[float, float]]) -> bool:
    """Prints the bare times and ours with its overhead over each; True when within target over the first."""
    for name, (wall, cpu) in bare.items():
        print(f"{name:<44}: {wall:6.2f} s  (client CPU {cpu:5.2f} s)")
    first, *others = bare
    overhead = ours[0] / bare[first][0] - 1
    extra = "".join(f", {ours[0] / bare[name][0] - 1:+.0%} over {name}" for name in others)
    print(f"{label:<44}: {ours[0]:6.2f} s  (client CPU {ours[1]:5.2f} s)   overhead {overhead:+.0%} over {first} "
          f"(target <= +{TARGET_OVERHEAD:.0%}){extra}")
    return overhead <= TARGET_OVERHEAD


def main() -> int:
    source_name = unique_name("bench_backup")
    source = create_litellm_database(source_name)
    targets = []
    opsctl = [sys.executable, "-m", "opsctl"]
    dumps, restores = bare_tools("pg_dump"), bare_tools("pg_restore")
    try:
        seed(source)
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            home = {"HOME": str(work), "XDG_STATE_HOME": str(work / "state"),
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
            check_tree(home)
            bare_dump = {label: [] for label in dumps}
            bare_restore = {label: [] for label in restores}
            create_times, ours_restore = [], []
            floors = {"python -m opsctl --help": ([*opsctl, "--help"], []),
                      "python -m opsctl --help, psycopg imported": (
                          [sys.executable, "-c", "import psycopg; from opsctl.cli import main; main()", "--help"], [])}
            for run in range(RUNS):  # side by side in each run, so load on the machine hits all alike
                dump_file, archive = work / f"bare-{run}.dump", work / f"ours-{run}.tar"
                for label, tool in dumps.items():
                    dump_file.unlink(missing_ok=True)
                    bare_dump[label].append(timed([tool, "--format=custom", "--no-owner", "--no-privileges",
                                                   f"--dbname={source}", "-f", str(dump_file)]))
                create_times.append(timed([*opsctl, "--database-url", source, "backup", "create", "--no-stack",
                                           "-o", str(archive)], home))
                for label, tool in restores.items():
                    restore_into(bare_restore[label], "bare", [tool, "--no-owner", "--no-privileges",
                                                               "--single-transaction", "--exit-on-error",
                                                               "--dbname={url}", str(dump_file)], targets)
                restore_into(ours_restore, "ours", [*opsctl, "--database-url", "{url}", "backup", "restore",
                                                    str(archive), "--yes"], targets, home)
                for argv, samples in floors.values():
                    samples.append(timed(argv, home))
            size = archive.stat().st_size
    finally:
        for name in [source_name, *targets]:
            drop_database(name)
    print(f"{SPEND_LOGS:,} spend logs, {KEYS:,} keys; archive {size / 1e6:.1f} MB; best of {RUNS} runs")
    create_ok = report("opsctl backup create", best(create_times),
                       {label.replace("pg_dump", "pg_dump -Fc", 1): best(t) for label, t in bare_dump.items()})
    restore_ok = report("opsctl backup restore", best(ours_restore), {k: best(t) for k, t in bare_restore.items()})
    print("opsctl's fixed start-up cost, in both (the interpreter, click and opsctl's root group; psycopg):")
    for label, (_argv, samples) in floors.items():
        wall, cpu = best(samples)
        print(f"  {label:<42}: {wall:6.2f} s  (client CPU {cpu:5.2f} s)")
    return 0 if create_ok and restore_ok else 1


if __name__ == "__main__":
    sys.exit(main())
