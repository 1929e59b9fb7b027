"""The compose stack for N proxy replicas: the reference template's files, transformed.

`opsctl init --replicas 1` writes the template as it is. For N > 1 the one
`litellm` service becomes `litellm-1..N` (the first written out, the others
YAML aliases of it, so there is one definition to review), none of them
published; an `lb` HAProxy service is the only thing published (127.0.0.1:4000
and the health port 4001); config.yaml gets the Redis settings LiteLLM needs
to share limits and cooldowns between instances (docs/replicas.md); .env gets
the replica count, the LB's user and image. The template file itself is never
forked: these are transforms of its text, so a template change reaches both.

Imports: the base and `replicas.lbconfig` only.
"""

from __future__ import annotations

import re

from opsctl.errors import ExitCode, OpsctlError

PROXY = "litellm"
LB_SERVICE = "lb"
API_PORT = 4000
HEALTH_PORT = 4001
HAPROXY_CFG = "haproxy/haproxy.cfg"
RUNTIME_DIR = "haproxy/run"  # bind-mounted: the runtime socket is a file opsctl opens from the host
RUNTIME_SOCKET = f"{RUNTIME_DIR}/admin.sock"
CONTAINER_CFG = "/usr/local/etc/haproxy/haproxy.cfg"  # where the official haproxy image reads it
CONTAINER_RUN = "/run/haproxy"
REPLICAS_VAR = "OPSCTL_REPLICAS"
LB_USER_VAR = "LB_USER"
MAX_REPLICAS = 32
_REPLICA = re.compile(rf"^{PROXY}-([1-9][0-9]*)$")


def replica_names(count: int) -> list[str]:
    return [f"{PROXY}-{i}" for i in range(1, count + 1)]


def replica_number(service: str) -> int | None:
    """3 for `litellm-3`; None for any other service name."""
    match = _REPLICA.match(service)
    return int(match.group(1)) if match else None


def check_count(count: int) -> None:
    if not 1 <= count <= MAX_REPLICAS:
        raise OpsctlError(f"--replicas must be between 1 and {MAX_REPLICAS}, not {count}", ExitCode.USAGE)


def _service_block(lines: list[str], name: str) -> tuple[int, int]:
    """[start, end) of `  name:` in the compose text's lines, trailing blank lines left out."""
    try:
        start = lines.index(f"  {name}:\n")
    except ValueError:
        raise OpsctlError(f"the compose template has no service {name}: cannot render replicas") from None
    end = start + 1
    while end < len(lines) and not re.match(r"^ {0,2}\S", lines[end]):
        end += 1
    while lines[end - 1].strip() == "":
        end -= 1
    return start, end


def _without_ports(block: list[str]) -> list[str]:
    """The service's lines without its `ports:` list: only the LB is published."""
    out, skipping = [], False
    for line in block:
        if line.startswith("    ports:"):
            skipping = True
            continue
        if skipping and line.startswith("      "):
            continue
        skipping = False
        out.append(line)
    return out


_READINESS_TEST = ("      test: [\"CMD-SHELL\", \"python -c \\\"import urllib.request; "
                   "urllib.request.urlopen('http://127.0.0.1:4000/health/readiness', timeout=5)\\\"\"]\n")


def scale_compose(text: str, count: int) -> str:
    """docker-compose.yml with `litellm` as `litellm-1..count` behind the `lb` service."""
    lines = text.splitlines(keepends=True)
    start, end = _service_block(lines, PROXY)
    block = _without_ports(lines[start:end])
    # The engine's health of a replica is its readiness (DB connected): what a rolling restart waits for.
    # CMD-SHELL, one string: podman 4.3's Docker API splits a CMD list's words at spaces.
    block = [_READINESS_TEST if line.startswith("      test:") else line for line in block]
    first = [
        f"  # {count} proxy replicas (opsctl init --replicas {count}, docs/replicas.md): one definition, the\n",
        "  # others YAML aliases of it. None is published: clients reach them through the lb service.\n",
        f"  {PROXY}-1: &{PROXY}-replica\n",
        *block[1:],
    ]
    others = [f"  {name}: *{PROXY}-replica\n" for name in replica_names(count)[1:]]
    return "".join(lines[:start] + first + others + ["\n"] + _lb_service(count) + lines[end:])


def _lb_service(count: int) -> list[str]:
    depends = "".join(f"      {name}:\n        condition: service_started\n" for name in replica_names(count))
    probe = ("bash -c 'exec 3<>/dev/tcp/127.0.0.1/4000 && printf \\\"GET /health/readiness HTTP/1.0\\\\r\\\\n\\\\r\\\\n\\\" >&3 "
             "&& read -r -t 5 line <&3 && [[ $$line == *\\\" 200 \\\"* ]]'")
    return [f"""\
  # HAProxy in front of the replicas: the only service published. It health-checks
  # each replica's /health/readiness (haproxy/haproxy.cfg, rendered by opsctl), and
  # takes drain/maint/ready from `opsctl restart --rolling` through its runtime
  # socket in ./haproxy/run: a unix socket of mode 600 owned by LB_USER, so only
  # that user (and root) may use it; no TCP port, no password to leak.
  {LB_SERVICE}:
    <<: *hardening
    image: ${{HAPROXY_IMAGE:-haproxy:2.6}}
    user: ${{{LB_USER_VAR}:?set {LB_USER_VAR} in .env (opsctl init writes it)}}
    read_only: true  # HAProxy writes only its socket, in the mounted ./haproxy/run
    volumes:
      - ./{HAPROXY_CFG}:{CONTAINER_CFG}:ro
      - ./{RUNTIME_DIR}:{CONTAINER_RUN}
    ports:
      - "127.0.0.1:${{LB_PORT:-{API_PORT}}}:{API_PORT}"
      - "127.0.0.1:${{LB_HEALTH_PORT:-{HEALTH_PORT}}}:{HEALTH_PORT}"
    pids_limit: 64
    mem_limit: 256m
    healthcheck:  # readiness through the LB, at least one replica UP (bash's /dev/tcp: no curl in the image)
      test: ["CMD-SHELL", "{probe}"]
      interval: 5s
      timeout: 6s
      retries: 6
      start_period: 120s  # the replicas' boot (migrations done, DB connected)
    depends_on:
{depends}    restart: unless-stopped

"""]


_REDIS_ROUTER = """\
  # Shared by the replicas (opsctl init --replicas N): cooldowns and usage-based
  # routing state in the stack's Redis (litellm/router.py reads redis_*).
  redis_host: os.environ/REDIS_HOST
  redis_port: os.environ/REDIS_PORT
  redis_password: os.environ/REDIS_PASSWORD
"""
_REDIS_LIMITS = """\
  # Rate limits and usage counters shared by the replicas: without this every
  # key's rpm/tpm limit holds per instance (N x the limit through the LB).
  coordination_redis:
    host: os.environ/REDIS_HOST
    port: os.environ/REDIS_PORT
    password: os.environ/REDIS_PASSWORD
"""


def scale_config(text: str) -> str:
    """config.yaml with the router's and the rate limiter's state in Redis."""
    for section, addition in (("router_settings", _REDIS_ROUTER), ("general_settings", _REDIS_LIMITS)):
        head = f"\n{section}:\n"
        if text.count(head) != 1:
            raise OpsctlError(f"the config template has no single {section}: section: cannot render replicas")
        text = text.replace(head, head + addition)
    return text


def scale_env_example(text: str, count: int) -> str:
    return text + f"""
# --- replicas (opsctl init --replicas N, docs/replicas.md) ---
# The proxy replicas this stack was written for; `opsctl init DIR --force` keeps
# the count, `opsctl init DIR --replicas M --force` changes it.
{REPLICAS_VAR}={count}
# uid:gid the lb service runs as, and so the only user (with root) who may use its
# runtime socket haproxy/run/admin.sock: opsctl init writes its own. With a
# rootless engine, 0:0 (the engine's user on the host).
{LB_USER_VAR}=GENERATED
HAPROXY_IMAGE=haproxy:2.6
# Host ports the lb service publishes on 127.0.0.1 (the gateway and the health app).
LB_PORT=4000
LB_HEALTH_PORT=4001
"""


def haproxy_config(count: int) -> str:
    from opsctl.replicas.lbconfig import Replica, render_haproxy_cfg  # here: `opsctl status` needs only replica_number

    replicas = [Replica(name, name, API_PORT) for name in replica_names(count)]
    return render_haproxy_cfg(replicas, f":{API_PORT}", f"{CONTAINER_RUN}/admin.sock",
                              health=(f":{HEALTH_PORT}", HEALTH_PORT), resolve_at_run_time=True, maxconn=None)


def scale_files(files: dict[str, str], count: int) -> dict[str, str]:
    """The rendered template files (relative path -> text) for `count` replicas; count 1 is the template."""
    check_count(count)
    if count == 1:
        return files
    scaled = dict(files)
    scaled["docker-compose.yml"] = scale_compose(files["docker-compose.yml"], count)
    scaled["litellm/config.yaml"] = scale_config(files["litellm/config.yaml"])
    scaled[".env.example"] = scale_env_example(files[".env.example"], count)
    scaled[HAPROXY_CFG] = haproxy_config(count)
    return scaled


def recorded_count(env: dict[str, str]) -> int:
    """The replica count a stack's .env records (OPSCTL_REPLICAS), 1 when it records none."""
    value = env.get(REPLICAS_VAR, "").strip()
    if not value:
        return 1
    if not value.isdigit():
        raise OpsctlError(f".env: {REPLICAS_VAR}={value[:20]!r} is not a number of replicas", ExitCode.USAGE)
    count = int(value)
    check_count(count)
    return count


def configured_replicas(value: str | None) -> list[str]:
    """The replica services an OPSCTL_REPLICAS value (settings.replicas) names; none on a one-proxy stack."""
    count = recorded_count({REPLICAS_VAR: value or ""})
    return replica_names(count) if count > 1 else []


def lb_user() -> str:
    """The uid:gid of whoever runs opsctl init: the LB's socket is theirs alone."""
    import os

    return f"{os.getuid()}:{os.getgid()}"


def ensure_runtime_dir(directory) -> None:
    """haproxy/run, mode 0700, for the LB's socket; refused when it is a symlink or not a directory."""
    import os
    import stat
    from pathlib import Path

    path = Path(directory) / RUNTIME_DIR
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode):
            raise OpsctlError(f"{path} is not a directory: refusing to use it for the LB's socket",
                              ExitCode.REFUSED) from None
    except OSError as error:
        raise OpsctlError(f"cannot create {path}: {error.strerror}", ExitCode.FAILED) from None
