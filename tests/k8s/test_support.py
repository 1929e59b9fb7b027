"""tests/support/kube.py's own logic: what a missing tool does, and the wait for
scripts/setup/k8s.sh's background build (a real flock(1) holder plays the build)."""

import os
import signal
import subprocess
import time

import pytest

from tests.support import kube

VERSION = "1.20.5+really1.20.2-1.1+deb12u1"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(kube, "CACHE", tmp_path / "cache")
    build = tmp_path / "cache" / "apiserver" / VERSION
    build.mkdir(parents=True)
    (tmp_path / "cache" / "bin").mkdir()
    (tmp_path / "cache" / "apiserver" / "current").write_text(VERSION + "\n")
    return tmp_path / "cache"


def fake_build(cache, script: str) -> subprocess.Popen:
    """flock(1) on the build's lock, as k8s.sh --build holds it, running `script`."""
    build = cache / "apiserver" / VERSION
    process = subprocess.Popen(["flock", str(build / "lock"), "sh", "-c", script], cwd=build, start_new_session=True)
    deadline = time.monotonic() + 5
    while not kube._build_running(build / "lock"):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    return process


def test_missing_tools_are_named(cache):
    with pytest.raises(kube.ToolsMissing) as missing:
        kube.find_tools("kubectl", "helm")
    assert str(missing.value) == (f"missing {cache}/bin/kubectl, {cache}/bin/helm: "
                                  "run `bash scripts/setup/k8s.sh` as root")


def test_missing_tools_skip_on_a_developer_machine_and_fail_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="^missing x$"):
        kube.skip_or_fail("missing x")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^missing x \(CI must run the Kubernetes tests\)$"):
        kube.skip_or_fail("missing x")


def test_no_binary_and_no_build(cache):
    with pytest.raises(kube.ToolsMissing, match="kube-apiserver \\(no build running\\)"):
        kube.wait_for_apiserver_build(timeout=1)


def test_waits_for_a_running_build(cache):
    said = []
    builder = fake_build(cache, f"sleep 1; touch kube-apiserver; chmod +x kube-apiserver; "
                                f"ln -s ../apiserver/{VERSION}/kube-apiserver ../../bin/kube-apiserver")
    started = time.monotonic()
    try:
        binary = kube.wait_for_apiserver_build(timeout=30, say=said.append)
    finally:
        builder.wait(10)
    assert binary == cache / "bin" / "kube-apiserver" and binary.resolve().is_file()
    assert time.monotonic() - started >= 0.5
    assert said == [f"waiting up to 30 s for the background kube-apiserver build "
                    f"(log: {cache}/apiserver/{VERSION}/build.log)"]


def test_a_failed_build_is_an_error_with_its_log(cache):
    (cache / "apiserver" / VERSION / "build.log").write_text("go: compile error in pkg/foo\n")
    (cache / "apiserver" / VERSION / "build.rc").write_text("2\n")
    with pytest.raises(RuntimeError, match="build failed (?s:.*)go: compile error in pkg/foo"):
        kube.wait_for_apiserver_build(timeout=1)


def test_the_wait_is_bounded(cache):
    (cache / "apiserver" / VERSION / "build.log").write_text("+++ Building go targets\n")
    builder = fake_build(cache, "sleep 20")
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="still running after 1 s (?s:.*)Building go targets"):
            kube.wait_for_apiserver_build(timeout=1, say=lambda line: None)
    finally:
        os.killpg(builder.pid, signal.SIGTERM)  # flock and its sh: the lock goes with them
        builder.wait(10)
    assert time.monotonic() - started < 5
