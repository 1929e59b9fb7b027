"""`opsctl up` to ready beside `docker compose up -d --wait` on the same stack, same run.

The stack is the six services bench/status.py uses (busybox, each with a
healthcheck), on a podman API service of its own (as the tests run it: its
healthchecks are driven by tests/stack/conftest.py, since podman runs none
without systemd). Each round brings the stack up from nothing (`down` before
each) with one tool, then with the other, alternating; medians are compared.
Both wait for the same thing: every container healthy. Target: opsctl's own
overhead <= 10 %.

    .venv/bin/python bench/up.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.status import six_services  # noqa: E402
from opsctl.stack.compose import compose_command  # noqa: E402
from tests.stack.conftest import podman_engine  # noqa: E402

ROUNDS = 5


def timed(argv, env, cwd) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="opsctl-bench-") as work:
        work = Path(work)
        with podman_engine(work) as engine:
            project = six_services(work / "benchup", engine.image, "1s")  # healthy soon: up waits for it
            env = {**os.environ, "DOCKER_HOST": engine.docker_host, "COMPOSE_PROJECT_NAME": "benchup"}
            compose = compose_command()
            opsctl = [str(Path(sys.executable).parent / "opsctl"), "--stack-dir", str(project), "up", "--timeout", "120"]
            down = [*compose, "down", "--timeout", "0"]
            ours, theirs = [], []
            for _ in range(ROUNDS):
                subprocess.run(down, env=env, cwd=project, capture_output=True)
                theirs.append(timed([*compose, "up", "-d", "--wait", "--wait-timeout", "120"], env, project))
                subprocess.run(down, env=env, cwd=project, capture_output=True)
                ours.append(timed(opsctl, env, project))
            subprocess.run(down, env=env, cwd=project, capture_output=True)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    overhead = ours_s / theirs_s - 1
    print(f"six services with healthchecks, from nothing to all healthy, median of {ROUNDS} alternating rounds")
    print(f"docker compose up -d --wait : {theirs_s:6.2f} s   ({', '.join(f'{t:.2f}' for t in theirs)})")
    print(f"opsctl up                   : {ours_s:6.2f} s   ({', '.join(f'{t:.2f}' for t in ours)})")
    print(f"opsctl overhead             : {overhead:+.0%}  (target <= +10%)   load average {os.getloadavg()[0]:.1f}")
    return 0 if overhead <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
