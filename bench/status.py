"""`opsctl status` vs `docker compose ps` on a six-service project, same run.

Starts its own podman API service (as the tests do), brings up six busybox
services, then times each command over a few runs. Target: opsctl < 0.5 s.
Run: .venv/bin/python bench/status.py
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
from opsctl.compose import compose_command  # noqa: E402
from tests.stack.conftest import podman_engine  # noqa: E402

SERVICE = """\
  s{n}:
    image: {image}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    healthcheck: {{test: ["CMD", "true"], interval: 1s, retries: 3}}
"""
RUNS = 5


def timed(argv, env, cwd) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="opsctl-bench-") as work:
        work = Path(work)
        with podman_engine(work) as engine:
            project = work / "benchsix"
            project.mkdir()
            (project / "docker-compose.yml").write_text(
                "services:\n" + "".join(SERVICE.format(n=n, image=engine.image) for n in range(6))
            )
            env = {**os.environ, "DOCKER_HOST": engine.docker_host, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
            compose = [*compose_command(), "-p", "benchsix"]
            subprocess.run([*compose, "up", "-d"], env=env, cwd=project, check=True, capture_output=True)
            opsctl = [str(Path(sys.executable).parent / "opsctl"), "--stack-dir", str(project), "status", "--json"]
            ours = [timed(opsctl, env, project) for _ in range(RUNS)]
            theirs = [timed([*compose, "ps", "--all"], env, project) for _ in range(RUNS)]
            subprocess.run([*compose, "down"], env=env, cwd=project, capture_output=True)
    ours_ms, theirs_ms = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
    print(f"six services, median of {RUNS} runs each")
    print(f"opsctl status --json : {ours_ms:7.1f} ms  (target < 500 ms)")
    print(f"docker compose ps    : {theirs_ms:7.1f} ms")
    print(f"ratio opsctl/compose : {ours_ms / theirs_ms:7.2f}")


if __name__ == "__main__":
    main()
