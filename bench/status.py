"""`opsctl status` vs `docker compose ps` on a six-service project, same run.

Starts its own podman API service (as the tests do), brings up six busybox
services, then times each command over a few runs, and the parts of
opsctl's time (interpreter, CLI, docker SDK import: opsctl no longer pays it for
unix:// and tcp:// engines). Targets: opsctl < 0.5 s and within 2x of compose.
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
from opsctl.stack.compose import compose_command  # noqa: E402
from tests.stack.conftest import podman_engine  # noqa: E402

SERVICE = """\
  s{n}:
    image: {image}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    healthcheck: {{test: ["CMD", "true"], interval: 1s, retries: 3}}
"""
RUNS = 5


def median_ms(argv, env, cwd) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


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
            ours = median_ms(opsctl, env, project)
            theirs = median_ms([*compose, "ps", "--all"], env, project)
            # Where opsctl's time goes: the interpreter, the CLI (click), the docker SDK import.
            parts = {
                "python -c pass": median_ms([sys.executable, "-c", "pass"], env, project),
                "opsctl --help": median_ms([opsctl[0], "--help"], env, project),
                "python -c 'import docker'": median_ms([sys.executable, "-c", "import docker"], env, project),
            }
            subprocess.run([*compose, "down"], env=env, cwd=project, capture_output=True)
    print(f"six services, median of {RUNS} runs each")
    print(f"opsctl status --json : {ours:7.1f} ms  (target < 500 ms)")
    print(f"docker compose ps    : {theirs:7.1f} ms")
    print(f"ratio opsctl/compose : {ours / theirs:7.2f}  (target <= 2.0)")
    for name, ms in parts.items():
        print(f"  {name:<26}: {ms:7.1f} ms")


if __name__ == "__main__":
    main()
