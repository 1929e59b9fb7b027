"""haproxy.cfg for N proxy replicas: health-checked on /health/readiness, drainable at run time."""

from __future__ import annotations

from dataclasses import dataclass

BACKEND = "litellm"


@dataclass(frozen=True)
class Replica:
    name: str  # the server name in HAProxy's backend, e.g. litellm-1
    host: str
    port: int


def render_haproxy_cfg(replicas: list[Replica], bind: str, stats_socket: str, check_interval_ms: int = 1000) -> str:
    """The whole haproxy.cfg. `bind` is "127.0.0.1:PORT": the only published address.

    Why these settings:
    - `option httpchk GET /health/readiness` + `expect status 200`: a replica whose
      DB is not connected yet gets no traffic (liveliness answers before that).
    - `stats socket ... level admin`: drain/maint/ready without a reload.
    - `retry-on conn-failure empty-response` + `option redispose`: a request that
      races a replica going away is resent to another one before any byte was
      answered (POSTs included: HAProxy only retries when the server sent nothing).
    - long server timeout: streaming completions.
    """
    servers = "\n".join(
        f"    server {r.name} {r.host}:{r.port} check inter {check_interval_ms} fall 2 rise 2" for r in replicas
    )
    return f"""\
global
    stats socket {stats_socket} mode 600 level admin
    stats timeout 10s
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 600s
    timeout server 600s
    timeout http-request 30s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout
    option http-server-close

frontend gateway
    bind {bind}
    default_backend {BACKEND}

backend {BACKEND}
    balance roundrobin
    option httpchk GET /health/readiness
    http-check expect status 200
    default-server slowstart 0s
{servers}
"""
