"""Benchmark: `opsctl --help` start-up vs LiteLLM's own CLI (`lite --help`), in one run.

Checks that `opsctl --help` (and `opsctl db --help`) import none of httpx,
rich, psycopg, docker, and prints wall times side by side with `lite --help`
(the console script litellm 1.108.7 ships, from the test extra). Target:
opsctl at least 20x faster. Exit 1 if a check fails.

    .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
FORBIDDEN = ("httpx", "rich", "psycopg", "docker")
ALSO_REPORTED = ("yaml", "litellm")
TARGET_RATIO = 20.0
OPSCTL_RUNS, LITE_RUNS = 7, 3
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # no cost-map download on import

# Runs the real entry point and lists the top-level packages it loaded.
PROBE = """
import json, sys
sys.argv = ["opsctl", *json.loads(sys.argv[1])]
from opsctl.cli import main
try:
    main()
except SystemExit as done:
    code = done.code
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}), file=sys.stderr)
"""


def loaded_modules(args: list[str]) -> tuple[int, set[str]]:
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return report["code"] or 0, set(report["modules"])


def wall_time(command: list[str], runs: int) -> float | None:
    """Median seconds of `runs` runs, or None if the command fails."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=ENV)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            print(f"  {' '.join(command)} failed (exit {result.returncode}): {result.stderr.strip().splitlines()[-1]}")
            return None
    return statistics.median(times)


def main() -> int:
    ok = True
    lite = wall_time([str(BIN / "lite"), "--help"], LITE_RUNS)
    print(f"lite --help:          {lite:.3f} s (median of {LITE_RUNS})" if lite else "lite --help: FAILED")
    for args in (["--help"], ["db", "--help"]):
        label = "opsctl " + " ".join(args)
        seconds = wall_time([str(BIN / "opsctl"), *args], OPSCTL_RUNS)
        if seconds is None or lite is None:
            print(f"{label}: cannot be measured yet")
            ok = False
            continue
        code, modules = loaded_modules(args)
        heavy = sorted(m for m in FORBIDDEN if m in modules)
        others = sorted(m for m in ALSO_REPORTED if m in modules)
        ratio = lite / seconds
        print(f"{label + ':':<22}{seconds:.3f} s (median of {OPSCTL_RUNS})  ratio {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x)")
        print(f"  heavy imports: {', '.join(heavy) or 'none'}; also loaded: {', '.join(others) or 'none'}")
        ok = ok and code == 0 and not heavy and ratio >= TARGET_RATIO
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
