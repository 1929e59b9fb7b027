"""A real Docker-API engine for the stack tests: podman's API service on a
private socket, with private storage and network config, and a local
busybox image (no registry is reachable here). scripts/setup/stack.sh
installs podman, runc, busybox-static and the Compose v2 plugin.

Podman runs healthchecks from systemd timers; this machine has no systemd,
so a ticker thread plays the timer's part (`podman healthcheck run` every
half second). Everything else is the engine's own behaviour.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"  # Debian's busybox-static
IMAGE = "localhost/opsctl-test-busybox:1"
READINESS_BODY = '{"status": "healthy", "db": "Not connected"}\n'
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
[network]
network_config_dir = "{networks}"
"""


def wait_until(check, timeout: float, what: str, interval: float = 0.5):
    """check()'s first truthy answer; exceptions count as not yet."""
    deadline = time.monotonic() + timeout
    error = None
    while time.monotonic() < deadline:
        try:
            answer = check()
            if answer:
                return answer
        except Exception as exc:  # noqa: BLE001 - anything short of an answer means "not yet"
            error = exc
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last error: {error!r})")


@dataclass
class Engine:
    docker_host: str
    podman: list[str]
    env: dict
    image: str = IMAGE


def _busybox_tar(work: Path) -> Path:
    """A root holding busybox, its applets as symlinks, and a readiness page for httpd."""
    root = work / "image-root"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "www" / "health").mkdir(parents=True)
    (root / "www" / "health" / "readiness").write_text(READINESS_BODY)
    (root / "tmp").mkdir()
    archive = work / "image.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=".")
    return archive


def _tick_healthchecks(podman: list[str], env: dict, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        listed = subprocess.run(podman + ["ps", "--format", "{{.ID}} {{.Status}}"], capture_output=True, text=True, env=env)
        for line in listed.stdout.splitlines():
            container_id, _, state = line.partition(" ")
            if "(" in state:  # "Up 3 seconds (starting)": it has a healthcheck
                subprocess.run(podman + ["healthcheck", "run", container_id], capture_output=True, env=env)


@contextmanager
def podman_engine(work: Path, storage_driver: str = "vfs", wrap: tuple[str, ...] = ()):
    """podman's Docker API on a private socket under `work`, with the test image imported.

    vfs copies an image whole for each container: right for busybox; the
    stack's real images (1 GB for litellm) want overlay. `wrap` prefixes every
    podman command (e.g. nsenter into namespaces of the engine's own)."""
    for tool in ("podman", "runc", BUSYBOX):
        assert shutil.which(tool), f"{tool} is missing: run scripts/setup/stack.sh as root"
    (work / "networks").mkdir()
    conf = work / "containers.conf"
    conf.write_text(CONTAINERS_CONF.format(networks=work / "networks"))
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    podman = [*wrap, "podman", "--root", str(work / "storage"), "--runroot", str(work / "run"), "--storage-driver", storage_driver]
    socket = work / "podman.sock"
    service = subprocess.Popen(
        podman + ["system", "service", "--time=0", f"unix://{socket}"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(work / "service.log", "wb"),
    )
    deadline = time.monotonic() + 20
    while not socket.exists():
        assert service.poll() is None and time.monotonic() < deadline, (work / "service.log").read_text()
        time.sleep(0.1)
    subprocess.run(podman + ["import", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/bin",
                             str(_busybox_tar(work)), IMAGE], env=env, check=True, capture_output=True)
    stop = threading.Event()
    ticker = threading.Thread(target=_tick_healthchecks, args=(podman, env, stop), daemon=True)
    ticker.start()
    try:
        yield Engine(docker_host=f"unix://{socket}", podman=podman, env=env)
    finally:
        stop.set()
        ticker.join(5)
        subprocess.run(podman + ["rm", "--all", "--force", "--time", "0"], env=env, capture_output=True)
        subprocess.run(podman + ["network", "prune", "--force"], env=env, capture_output=True)
        service.terminate()
        service.wait(10)


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    with podman_engine(tmp_path_factory.mktemp("engine")) as running:
        yield running


BUILD = Path(__file__).resolve().parents[2] / "scripts" / "images" / "build.sh"
STACK_IMAGES = ("postgres", "redis", "litellm", "haproxy")  # build.sh's images (haproxy: the replicas' LB)


@pytest.fixture(scope="session")
def image_engine(tmp_path_factory):
    """The engine test_images.py runs the stack's real images on; overlay storage (vfs would copy
    the 1 GB litellm image for every container)."""
    for tool in ("podman", "runc"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is missing: run scripts/setup/stack.sh as root")
    with podman_engine(tmp_path_factory.mktemp("images"), storage_driver="overlay") as engine:
        yield engine
        subprocess.run(engine.podman + ["rmi", "--all", "--force"], env=engine.env, capture_output=True, timeout=300)


def import_stack_images(engine: Engine):
    """image("postgres") -> its tag, imported from build.sh's cache into `engine` (a skip when not built).

    All of them are imported before the first container starts: podman's API
    service does not see images a podman command adds to the store after it
    has begun serving."""
    env = {**engine.env, "PODMAN": " ".join(engine.podman)}
    listed = subprocess.run([str(BUILD), "--print-env"], env=env, capture_output=True, text=True, check=True, timeout=60)
    tags = {key.removesuffix("_IMAGE").lower(): value for key, _, value in (line.partition("=") for line in listed.stdout.split())}
    missing = {}
    for name in STACK_IMAGES:
        result = subprocess.run([str(BUILD), "--import-only", name], env=env, capture_output=True, text=True, timeout=1800)
        if result.returncode == 3:
            missing[name] = result.stderr.strip().splitlines()[-1]
        else:
            assert result.returncode == 0, result.stderr

    def image(name: str) -> str:
        if name in missing:
            pytest.skip(missing[name])
        return tags[name]

    return image


@pytest.fixture(scope="session")
def stack_images(image_engine):
    """stack_images("postgres") -> its tag in the image engine."""
    return import_stack_images(image_engine)


@pytest.fixture
def docker_host(engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)
    return engine.docker_host


def pytest_collection_modifyitems(items):
    """Tests of the stack's real images run last, the end-to-end test last of all: on a fresh
    machine scripts/setup/images.sh is still building them in the background, so the rest of
    the suite overlaps the build and they wait only for what is left."""
    def last(item) -> tuple[bool, bool]:
        e2e = item.get_closest_marker("e2e") is not None
        return e2e or "stack_images" in getattr(item, "fixturenames", ()), e2e

    items.sort(key=last)  # stable
