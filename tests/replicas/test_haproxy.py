"""The runtime-API client and the rolling loop's failure path against a real haproxy
(servers on ports nothing listens on: their state is what is under test)."""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from opsctl.errors import ExitCode, OpsctlError
from opsctl.replicas.haproxy import HAProxyRuntime
from opsctl.replicas.lbconfig import BACKEND, Replica, render_haproxy_cfg
from opsctl.replicas.rolling import Target, rolling_restart
from tests.support.proxy import free_port, stop_process

pytestmark = pytest.mark.skipif(not shutil.which("haproxy"), reason="run scripts/setup/haproxy.sh")


@pytest.fixture
def runtime():
    workdir = Path(tempfile.mkdtemp(prefix="opsctl-lb-"))
    socket_path = str(workdir / "haproxy.sock")
    replicas = [Replica(f"litellm-{i}", "127.0.0.1", free_port()) for i in (1, 2)]
    (workdir / "haproxy.cfg").write_text(render_haproxy_cfg(replicas, f"127.0.0.1:{free_port()}", socket_path))
    lb = subprocess.Popen(["haproxy", "-db", "-f", str(workdir / "haproxy.cfg")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(socket_path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield HAProxyRuntime(socket_path)
    finally:
        stop_process(lb)


def test_states_round_trip_through_the_runtime_api(runtime):
    runtime.set_state(BACKEND, "litellm-1", "drain")
    assert runtime.server(BACKEND, "litellm-1").status == "DOWN"  # show stat puts a failed check before DRAIN
    runtime.set_state(BACKEND, "litellm-1", "maint")
    assert runtime.server(BACKEND, "litellm-1").status == "MAINT"
    runtime.set_state(BACKEND, "litellm-1", "ready")
    assert runtime.server(BACKEND, "litellm-1").status != "MAINT"
    assert runtime.server(BACKEND, "litellm-2").scur == 0


def test_unknown_server_and_dead_socket_are_one_line_errors(runtime):
    with pytest.raises(OpsctlError, match="refused"):
        runtime.set_state(BACKEND, "nope", "drain")
    with pytest.raises(OpsctlError) as error:
        HAProxyRuntime("/nonexistent/haproxy.sock", timeout=1).stats()
    assert error.value.exit_code == ExitCode.UNREACHABLE


def test_a_failed_restart_stops_the_loop_and_leaves_the_rest_in_service(runtime):
    restarted = []

    def restart(target):
        restarted.append(target.name)
        raise OpsctlError(f"{target.name} would not start")

    targets = [Target("litellm-1", "http://127.0.0.1:9"), Target("litellm-2", "http://127.0.0.1:9")]
    with pytest.raises(OpsctlError, match="litellm-1 would not start"):
        rolling_restart(runtime, BACKEND, targets, restart, drain_timeout=5)
    assert restarted == ["litellm-1"]
    assert runtime.server(BACKEND, "litellm-1").status == "MAINT"  # the failed one stays out
    assert runtime.server(BACKEND, "litellm-2").status != "MAINT"  # never touched
