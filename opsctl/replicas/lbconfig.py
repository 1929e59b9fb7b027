"""haproxy.cfg for N proxy replicas: health-checked on /health/readiness, drainable at run time."""

from __future__ import annotations

from dataclasses import dataclass

BACKEND = "litellm"
HEALTH_BACKEND = "litellm-health"


@dataclass(frozen=True)
class Replica:
    name: str  # the server name in HAProxy's backend, e.g. litellm-1
    host: str
    port: int


def render_haproxy_cfg(replicas: list[Replica], bind: str, stats_socket: str, check_interval_ms: int = 1000,
                       health: tuple[str, int] | None = None, resolve_at_run_time: bool = False,
                       maxconn: int | None = 4096) -> str:
    """The whole haproxy.cfg. `bind` is "127.0.0.1:PORT" (or ":PORT" inside a container published on loopback).

    Why these settings:
    - `option httpchk GET /health/readiness` + `expect status 200`: a replica whose
      DB is not connected yet gets no traffic (liveliness answers before that).
    - `stats socket ... level admin`: drain/maint/ready without a reload.
    - `retry-on conn-failure empty-response` + `option redispatch`: a request that
      races a replica going away is resent to another one before any byte was
      answered (POSTs included: HAProxy only retries when the server sent nothing).
    - long server timeout: streaming completions.
    - `health` = (bind, port): a second frontend for each replica's separate health
      app on `port`; its servers `track` the API servers, so a drained or
      maintained replica leaves both.
    - `resolve_at_run_time`: replicas are compose service names; HAProxy starts
      even while one is not resolvable yet (init-addr none) and follows its address
      through the container's resolv.conf when a restart gives it a new one.
    - `maxconn` None: HAProxy derives it from the file limit it is given (containers).
    """
    resolving = " resolvers stack init-addr libc,none" if resolve_at_run_time else ""
    servers = "\n".join(
        f"    server {r.name} {r.host}:{r.port} check inter {check_interval_ms} fall 2 rise 2{resolving}" for r in replicas
    )
    pinning = _pinning(replicas)
    limit = f"    maxconn {maxconn}\n" if maxconn else ""
    resolvers = "\nresolvers stack\n    parse-resolv-conf\n    hold valid 1s\n" if resolve_at_run_time else ""
    text = f"""\
global
    stats socket {stats_socket} mode 600 level admin
    stats timeout 10s
{limit}{resolvers}
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
{pinning}
{servers}
"""
    if health is None:
        return text
    health_bind, health_port = health
    tracked = "\n".join(
        f"    server {r.name} {r.host}:{health_port} track {BACKEND}/{r.name}{resolving}" for r in replicas
    )
    return text + f"""
frontend health
    bind {health_bind}
    default_backend {HEALTH_BACKEND}

backend {HEALTH_BACKEND}
    balance roundrobin
{pinning}
{tracked}
"""


PIN_HEADER = "x-opsctl-replica"  # opsctl smoke's per-replica checks (opsctl/smoke/replicas.py)


def _pinning(replicas: list[Replica]) -> str:
    """A request naming a replica in PIN_HEADER goes to it, even when it is down (force-persist:
    smoke must see a sick replica, not its healthy neighbour), and every answer names its server."""
    lines = [f"    force-persist if {{ req.hdr({PIN_HEADER}) -m found }}"]
    lines += [f"    use-server {r.name} if {{ req.hdr({PIN_HEADER}) -m str {r.name} }}" for r in replicas]
    lines.append(f"    http-response set-header {PIN_HEADER} %s")
    return "\n".join(lines)


@dataclass(frozen=True)
class CfgLine:
    line: int  # 1-based
    words: tuple[str, ...]


@dataclass(frozen=True)
class CfgSection:
    kind: str  # global, defaults, frontend, backend, listen, resolvers, ...
    name: str
    line: int
    body: tuple[CfgLine, ...]

    def directives(self, *head: str) -> list[CfgLine]:
        """The lines of this section that start with the words `head`."""
        return [d for d in self.body if d.words[: len(head)] == head]


SECTION_KEYWORDS = {"global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist",
                    "mailers", "program", "http-errors", "ring", "cache"}


def parse_haproxy_cfg(text: str) -> list[CfgSection]:
    """haproxy.cfg as sections of word lists, with line numbers (comments dropped; enough for the audit)."""
    sections: list[CfgSection] = []
    kind, name, start, body = None, "", 0, []
    for number, raw in enumerate(text.splitlines(), 1):
        words = tuple(raw.split("#", 1)[0].split())
        if not words:
            continue
        if words[0] in SECTION_KEYWORDS and not raw[:1].isspace():
            if kind is not None:
                sections.append(CfgSection(kind, name, start, tuple(body)))
            kind, name, start, body = words[0], (words[1] if len(words) > 1 else ""), number, []
        elif kind is not None:
            body.append(CfgLine(number, words))
    if kind is not None:
        sections.append(CfgSection(kind, name, start, tuple(body)))
    return sections
