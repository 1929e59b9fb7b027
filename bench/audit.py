"""Benchmark: `opsctl audit` on the reference stack, with the real compose and with our resolver alone, side by side.

Prints, from one run: the audit in-process (load + every check) with
`docker compose config` (the default when Compose v2 is installed) and with
our own resolver only (as without Compose); `docker compose config` alone
beside them (the subprocess the first one overlaps with its own work); and
the whole CLI (`python -m opsctl audit`, interpreter start included). Then
every hostile file of tests/audit/test_hostile_files.py in place of
docker-compose.yml, each refused in < 1 s. Exit 1 if a hostile file takes
1 s or more, or the reference stack does not pass.

    .venv/bin/python bench/audit.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = 15
HOSTILE_LIMIT = 1.0


def median_seconds(fn, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    from opsctl.audit import compose_cli
    from opsctl.audit.runner import run_checks
    from opsctl.audit.stackfiles import load_stack
    from opsctl.errors import OpsctlError
    from opsctl.policy import load_policy
    from opsctl.stack.compose import compose_command
    from tests.audit.test_hostile_files import HOSTILE

    work = Path(tempfile.mkdtemp(prefix="opsctl-bench-audit-"))
    stack, home = work / "stack", work / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "opsctl", "init", str(stack)], env=env, check=True, capture_output=True)
    policy = load_policy()

    report = run_checks(load_stack(stack, policy, home))
    if report.exit_code() != 0:
        print("the reference stack does not pass the audit")
        return 1
    with_compose = median_seconds(lambda: run_checks(load_stack(stack, policy, home)))
    builtin = median_seconds(lambda: run_checks(load_stack(stack, policy, home, use_compose=False)))
    compose_alone = median_seconds(lambda: subprocess.run(
        [*compose_command(), "--profile", "*", "config", "--format", "json"], cwd=stack,
        env=compose_cli.base_environment(home), capture_output=True, check=True))
    cli = median_seconds(lambda: subprocess.run([sys.executable, "-m", "opsctl", "audit", str(stack), "--json"],
                                                env=env, capture_output=True), runs=5)
    print(f"audit, in-process, with docker compose config:  {with_compose * 1000:7.1f} ms")
    print(f"audit, in-process, our resolver only:           {builtin * 1000:7.1f} ms")
    print(f"docker compose config alone (the subprocess):   {compose_alone * 1000:7.1f} ms")
    print(f"python -m opsctl audit --json (whole CLI):      {cli * 1000:7.1f} ms")
    print(f"ratio with compose / resolver only:             {with_compose / builtin:7.1f}x")

    worst = 0.0
    print("hostile docker-compose.yml: refused in-process, and by python -m opsctl audit (whole CLI):")
    for name, (make, _) in HOSTILE.items():
        case = work / f"hostile-{name}"
        subprocess.run(["cp", "-a", str(stack), str(case)], check=True)
        (case / "docker-compose.yml").unlink()
        make(case / "docker-compose.yml")
        started = time.perf_counter()
        try:
            load_stack(case, policy, home)
        except OpsctlError:
            pass
        in_process = time.perf_counter() - started
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "opsctl", "audit", str(case)], env=env, capture_output=True,
                              text=True, timeout=30)
        seconds = time.perf_counter() - started
        worst = max(worst, seconds)
        print(f"  {name:20} {in_process * 1000:5.1f} ms in-process, {seconds * 1000:4.0f} ms CLI, exit {done.returncode}: "
              f"{done.stderr.strip()[:80]}")
    subprocess.run(["rm", "-rf", str(work)])
    if worst >= HOSTILE_LIMIT:
        print(f"a hostile file took {worst:.2f} s (limit {HOSTILE_LIMIT} s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
