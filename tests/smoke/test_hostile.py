"""A proxy that drips, never closes, sends 10 MB and endless bodies, and
echoes secrets and terminal escapes (tests/smoke/hostile_proxy.py): the run
ends within --deadline, one reason per model, memory bounded, nothing secret
or escaping printed."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opsctl.smoke.codes import SmokeExit
from tests.smoke.hostile_proxy import MINTED_KEY, MODES, URL_PASSWORD, run_hostile_proxy

MASTER_KEY = "sk-hostile-master-7f3a9c2e1b"
REPO = Path(__file__).resolve().parents[2]
# opsctl in a child process that reports its own peak memory (KiB) on the last line of stderr: VmHWM,
# the high-water mark of this process's memory since exec (ru_maxrss may carry the parent's from the fork).
MEASURED = """
import re, sys
from opsctl.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="opsctl")
finally:
    status = open("/proc/self/status").read()
    print(re.search(r"VmHWM:\\s*(\\d+) kB", status).group(1), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def hostile():
    with run_hostile_proxy(MASTER_KEY) as proxy:
        yield proxy


def opsctl(args, proxy, tmp_path, timeout=60, env=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "LITELLM_PROXY_URL": proxy.url, "LITELLM_MASTER_KEY": MASTER_KEY, **(env or {})}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", MEASURED, *args], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=timeout)
    *stderr, peak_kib = result.stderr.splitlines()
    return result, "\n".join(stderr), int(peak_kib) / 1024, time.monotonic() - started


def assert_clean(text: str) -> None:
    for secret in (MASTER_KEY, MASTER_KEY[3:], URL_PASSWORD, MINTED_KEY):
        assert secret not in text
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "pwned" not in text


def test_the_run_ends_within_the_deadline_with_one_clean_reason_per_model(hostile, tmp_path):
    deadline = 6
    result, stderr, peak_mib, wall = opsctl(["smoke", "probe", "--json", "--deadline", str(deadline), "--timeout", "60"],
                                            hostile, tmp_path)
    assert wall < deadline + 3, wall  # the interpreter's start and exit included
    assert result.returncode == SmokeExit.FAILED, stderr
    report = json.loads(result.stdout)["probe"]
    assert report["deadline_passed"] is True
    errors = {group["model"]: group["error"] for group in report["models"]}
    assert set(errors) == set(MODES) and all(not g["healthy"] for g in report["models"])
    for group, error in errors.items():
        assert isinstance(error, str) and "\n" not in error and len(error) < 300, (group, error)
    cut = "the run's --deadline of 6s passed"
    assert (errors["drip"], errors["silent"]) == (cut, cut)
    assert errors["endless"] == "the stream passed the 1024 KiB a probe reads"
    assert errors["huge"] == "the answer is 10485775 bytes, over the 1024 KiB a probe reads"  # 10 MB, never read
    masked = "boom **** escaped=**** db=postgresql://litellm:****@db:5432/x minted=sk-****"
    assert errors["echo-error"] == f"HTTP 500: {masked}"
    assert errors["huge-error"].startswith(f"HTTP 500: {masked} xxxx") and errors["huge-error"].endswith("…")
    assert errors["stream-error"] == f"stream error: {masked}"
    assert errors["unreadable"] == f"unreadable stream chunk: {masked} {{not json"
    assert_clean(result.stdout + stderr)
    # Ten megabytes, and bodies without end, were not held: the whole run stayed small.
    assert peak_mib < 55, peak_mib  # opsctl alone: about 40 MiB; one 10 MB body read whole would pass this


def test_the_table_is_clean_too(hostile, tmp_path):
    result, stderr, _peak, wall = opsctl(["smoke", "probe", "--deadline", "4", "--timeout", "60"], hostile, tmp_path)
    assert result.returncode == SmokeExit.FAILED and wall < 7
    for group in MODES:
        assert f"│ {group} " in result.stdout
    assert_clean(result.stdout + stderr)
    assert stderr.splitlines()[-1] == "The --deadline of 4s passed before every deployment answered."


def test_a_dripping_health_route_ends_within_the_deadline(hostile, tmp_path):
    result, stderr, _peak, wall = opsctl(["smoke", "health", "--json", "--deadline", "3"], hostile, tmp_path)
    assert wall < 6, wall
    assert result.returncode == SmokeExit.UNREACHABLE
    checks = {c["route"]: c for c in json.loads(result.stdout)["health"]["checks"]}
    assert (checks["/health/liveliness"]["outcome"], checks["/health/liveliness"]["detail"]) == (
        "failed", "the run's --deadline of 3s passed")


def test_opsctls_own_deadline_ends_the_probe_when_it_is_shorter(hostile, tmp_path):
    env_deadline = {"OPSCTL_DEADLINE": "3"}
    result, stderr, _peak, wall = opsctl(["smoke", "probe", "--json", "--timeout", "60"], hostile, tmp_path, env=env_deadline)
    assert wall < 6, wall
    report = json.loads(result.stdout)["probe"]
    assert (report["deadline"], report["deadline_name"], report["deadline_passed"]) == (3, "OPSCTL_DEADLINE", True)
    errors = {group["model"]: group["error"] for group in report["models"]}
    assert errors["drip"] == "the run's OPSCTL_DEADLINE of 3s passed"
