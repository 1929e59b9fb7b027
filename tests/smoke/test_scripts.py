"""bin/health_check.py and bin/probe_models.py run from a checkout without
opsctl installed: `python -S` with only the dependencies on PYTHONPATH (no
.pth processing, so the editable install is invisible) and cwd elsewhere."""

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from opsctl.smoke.codes import SmokeExit
from tests.support.proxy import free_port

BIN = Path(__file__).resolve().parents[2] / "bin"


def script(name, *args, tmp_path, env=None):
    full_env = {k: v for k, v in os.environ.items() if k not in ("LITELLM_PROXY_URL", "LITELLM_MASTER_KEY")}
    full_env.update({"PYTHONPATH": site.getsitepackages()[0], **(env or {})})
    return subprocess.run([sys.executable, "-S", str(BIN / name), *args], cwd=tmp_path, env=full_env,
                          capture_output=True, text=True, timeout=60)


def test_opsctl_is_not_importable_without_the_scripts_help(tmp_path):
    result = subprocess.run([sys.executable, "-S", "-c", "import opsctl"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": site.getsitepackages()[0]})
    assert "No module named 'opsctl'" in result.stderr


def test_health_check_script(stack, tmp_path):
    result = script("health_check.py", "--proxy-url", stack.proxy.url, "--json", tmp_path=tmp_path)
    assert result.returncode == SmokeExit.OK, result.stderr
    assert json.loads(result.stdout)["health"]["ready"] is True

    down = f"http://127.0.0.1:{free_port()}"
    result = script("health_check.py", f"--proxy-url={down}", tmp_path=tmp_path)
    assert result.returncode == SmokeExit.UNREACHABLE
    assert result.stderr == f"proxy {down}: NOT READY: cannot reach {down}\n"


def test_probe_models_script(stack, tmp_path):
    env = {"LITELLM_MASTER_KEY": stack.proxy.master_key}
    result = script("probe_models.py", "--model", "chat-a", "--proxy-url", stack.proxy.url, "--json", tmp_path=tmp_path, env=env)
    assert result.returncode == SmokeExit.OK, result.stderr
    assert [m["status"] for m in json.loads(result.stdout)["probe"]["models"]] == ["ok"]

    result = script("probe_models.py", "--proxy-url", stack.proxy.url, tmp_path=tmp_path)
    assert result.returncode == SmokeExit.USAGE
    assert result.stderr.startswith("Error: no master key")


def site_without(tmp_path, *hidden: str) -> Path:
    """A copy of site-packages (by symlinks) without the given top-level packages."""
    real = Path(site.getsitepackages()[0])
    fake = tmp_path / "site-packages"
    fake.mkdir()
    for entry in real.iterdir():
        if entry.name.split(".")[0].split("-")[0] not in hidden:
            (fake / entry.name).symlink_to(entry)
    return fake


@pytest.mark.parametrize("name", ["health_check.py", "probe_models.py"])
def test_without_httpx_one_line_says_what_to_install(tmp_path, name):
    work = tmp_path / "work"
    work.mkdir()
    env = {"PYTHONPATH": str(site_without(tmp_path, "httpx"))}
    result = script(name, "--proxy-url", "http://127.0.0.1:9", tmp_path=work, env=env)
    assert (result.returncode, result.stdout) == (SmokeExit.USAGE, "")
    assert result.stderr == f"Error: bin/{name} needs the Python package httpx: pip install httpx (or `pip install -e .` in the checkout)\n"

    # The copy is real: with nothing hidden, httpx imports from it.
    probe = subprocess.run([sys.executable, "-S", "-c", "import httpx"], env={**os.environ, "PYTHONPATH": str(site_without(work, "none"))},
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr


def test_several_missing_packages_are_named_together(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    result = script("probe_models.py", tmp_path=work, env={"PYTHONPATH": str(site_without(tmp_path, "httpx", "rich", "dotenv"))})
    assert result.returncode == SmokeExit.USAGE
    assert result.stderr == ("Error: bin/probe_models.py needs the Python packages httpx rich python-dotenv: "
                             "pip install httpx rich python-dotenv (or `pip install -e .` in the checkout)\n")
