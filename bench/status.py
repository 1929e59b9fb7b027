"""`opsctl status` vs `docker compose ps` on a six-service project, same run.

Starts its own podman API service (as the tests do), brings up six busybox
services in a project directory with a `.env` (as every stack has), then times
each command over a few runs, and the parts of opsctl's time (interpreter,
the click path, docker SDK import: opsctl no longer pays it for unix:// and
tcp:// engines). `opsctl status` takes the quick path (opsctl.__main__, no
click); the same command through click is printed beside it.

Python's bytecode cache is on (PYTHONDONTWRITEBYTECODE is dropped for the
children, and one warm-up run writes it), as it is for an operator after the
first run. Targets: opsctl < 0.5 s and within 2x of compose.
Run: .venv/bin/python bench/status.py
"""

from __future__ import annotations

import json
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
    healthcheck: {{test: ["CMD", "true"], interval: {interval}, retries: 3}}
"""
# 5 s: the reference stack's shortest healthcheck interval. Each check takes the container's lock in
# podman, and a listing waits for it: 1 s checks on six containers made both tools' times bimodal.
STATUS_INTERVAL = "5s"
RUNS = 15


def six_services(directory: Path, image: str, interval: str) -> Path:
    """A compose project of six busybox services with healthchecks (this bench's and bench/up.py's)."""
    directory.mkdir()
    (directory / "docker-compose.yml").write_text(
        "services:\n" + "".join(SERVICE.format(n=n, image=image, interval=interval) for n in range(6)))
    return directory


def median_ms(commands: dict[str, list[str]], env, cwd) -> dict[str, float]:
    """Each command's median wall time; the commands take turns, so a busy moment hits them alike."""
    times = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, argv in commands.items():
            started = time.perf_counter()
            subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(samples) * 1000 for name, samples in times.items()}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="opsctl-bench-") as work:
        work = Path(work)
        with podman_engine(work) as engine:
            project = six_services(work / "benchsix", engine.image, STATUS_INTERVAL)
            (project / ".env").write_text("COMPOSE_PROJECT_NAME=benchsix\nPOSTGRES_HOST_PORT=15432\n")
            env = {**os.environ, "DOCKER_HOST": engine.docker_host, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            compose = [*compose_command(), "-p", "benchsix"]
            subprocess.run([*compose, "up", "-d"], env=env, cwd=project, check=True, capture_output=True)
            opsctl = [str(Path(sys.executable).parent / "opsctl"), "--stack-dir", str(project), "status", "--json"]
            while any(row["health"] != "healthy" for row in json.loads(  # the first run also writes the bytecode
                    subprocess.run(opsctl, env=env, cwd=project, check=True, capture_output=True).stdout)):
                time.sleep(0.5)
            # Where opsctl's time goes: the interpreter, the CLI (click), the docker SDK import.
            measured = median_ms({
                "opsctl": opsctl,
                "compose": [*compose, "ps", "--all"],
                "python -c pass": [sys.executable, "-c", "pass"],
                "opsctl --help": [opsctl[0], "--help"],
                "status through click": [sys.executable, "-c", "from opsctl.cli import main; main()", *opsctl[1:]],
                "python -c 'import docker'": [sys.executable, "-c", "import docker"],
            }, env, project)
            subprocess.run([*compose, "down"], env=env, cwd=project, capture_output=True)
    ours, theirs = measured.pop("opsctl"), measured.pop("compose")
    print(f"six services, median of {RUNS} runs each, taking turns")
    print(f"opsctl status --json : {ours:7.1f} ms  (target < 500 ms)")
    print(f"docker compose ps    : {theirs:7.1f} ms")
    print(f"ratio opsctl/compose : {ours / theirs:7.2f}  (target <= 2.0)")
    for name, ms in measured.items():
        print(f"  {name:<26}: {ms:7.1f} ms")


if __name__ == "__main__":
    main()
