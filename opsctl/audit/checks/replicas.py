"""Replicas (issue 18): with more than one proxy service, the state the instances share
lives in Redis, and one load balancer that health-checks /health/readiness is the only
thing published. With one proxy each check passes: there is nothing to share.

The load balancer is the service that mounts a haproxy.cfg (opsctl init --replicas N
writes one); that file is read from the host through the service's bind mount.
"""

from __future__ import annotations

from opsctl.audit.checks.common import OS_ENVIRON, load_balancer, needs_config, needs_proxy
from opsctl.audit.registry import Evidence, Result, Status, check, failed, passed, worst
from opsctl.audit.stackfiles import StackFiles
from opsctl.audit.yamldoc import read_stack_text
from opsctl.replicas.lbconfig import CfgSection, parse_haproxy_cfg

SECTION = "Routing & Availability"
READINESS = "/health/readiness"
FIX_INIT = "opsctl init DIR --replicas N --force writes it (.env keeps its values)"


def _single(files: StackFiles) -> Result | None:
    """SKIP without a compose project; PASS with one proxy service; None when there are replicas to check."""
    missing = needs_proxy(files)
    if missing:
        return missing
    if len(files.proxies) > 1:
        return None
    only = files.proxies[0]
    return passed(Evidence(f"one proxy service ({only.name}): no replicas, nothing shared between instances",
                           *only.defined_at()))


def _names(files: StackFiles) -> str:
    return ", ".join(p.name for p in files.proxies)


# --- shared state in Redis


def _unset_on(files: StackFiles, value) -> list[str]:
    """The proxies that read `value` as nothing: an os.environ/NAME reference their environment leaves empty."""
    if value in (None, ""):
        return [p.name for p in files.proxies]
    if isinstance(value, str) and value.startswith(OS_ENVIRON):
        name = value[len(OS_ENVIRON):]
        return [p.name for p in files.proxies if not (p.env.get(name) and p.env[name].value)]
    return []


def _redis_block(files: StackFiles, section: str, settings: dict, keys: dict[str, str], what: str,
                 block: str | None = None) -> Result:
    """`keys` (role -> key: host, port, password, url) of a Redis target in `settings`, set for every proxy."""
    path = (section, block) if block else (section,)
    rel, line = files.config.where(*path, keys["url"]) if keys["url"] in settings else files.config.where(*path)
    shown = f"{section}.{block}" if block else section
    if keys["url"] in settings:
        unset = _unset_on(files, settings[keys["url"]])
        if unset:
            return failed(Evidence(f"{shown}.{keys['url']} is empty on {', '.join(unset)}: {what}", rel, line))
        return passed(Evidence(f"{shown}.{keys['url']}: {what} for {_names(files)} (its password is in the URL)", rel, line))
    findings = []
    for role in ("host", "port", "password"):
        key = keys[role]
        rel, line = files.config.where(*path, key) if key in settings else files.config.where(*path)
        unset = _unset_on(files, settings.get(key))
        if key not in settings:
            findings.append((Status.FAIL, Evidence(f"{shown}.{key} is not set: {what}", rel, line)))
        elif unset:
            findings.append((Status.FAIL, Evidence(f"{shown}.{key} ({settings[key]}) is empty on {', '.join(unset)}",
                                                   rel, line)))
        else:
            findings.append((Status.PASS, Evidence(f"{shown}.{key}: {settings[key]}", rel, line)))
    return worst(findings)


@check("replicas-rate-limits", section=SECTION,
       runbook=("(replicas) With more than one proxy, every key's rpm/tpm limit and usage counter must live in the "
                "stack's password-protected Redis: general_settings.coordination_redis (litellm/proxy/proxy_server.py, "
                "_init_coordination_redis). Without it each instance counts alone and a key gets N x its limit "
                "through the load balancer (BerriAI/litellm#27736)."),
       fix=("add general_settings.coordination_redis: {host: os.environ/REDIS_HOST, port: os.environ/REDIS_PORT, "
            "password: os.environ/REDIS_PASSWORD} (" + FIX_INIT + ")"))
def replicas_rate_limits(files: StackFiles) -> Result:
    single = _single(files) or needs_config(files)
    if single:
        return single
    block = files.settings("general_settings").get("coordination_redis")
    if not isinstance(block, dict):
        rel, line = files.config.where("general_settings")
        return failed(Evidence(f"general_settings.coordination_redis is not set: {len(files.proxies)} proxies "
                               f"({_names(files)}) each keep their own rate-limit counters", rel, line))
    keys = {"host": "host", "port": "port", "password": "password", "url": "url"}
    return _redis_block(files, "general_settings", block, keys, "rate limits shared", block="coordination_redis")


@check("replicas-router-state", section=SECTION,
       runbook=("(replicas) With more than one proxy, the router's cooldowns and usage-based routing state must be in "
                "the stack's password-protected Redis: router_settings.redis_host, redis_port and redis_password "
                "(litellm/router.py, Router.__init__), else a deployment cooled down on one instance still gets "
                "traffic from the others (BerriAI/litellm#40291)."),
       fix=("add router_settings.redis_host: os.environ/REDIS_HOST, redis_port: os.environ/REDIS_PORT, "
            "redis_password: os.environ/REDIS_PASSWORD (" + FIX_INIT + ")"))
def replicas_router_state(files: StackFiles) -> Result:
    single = _single(files) or needs_config(files)
    if single:
        return single
    keys = {"host": "redis_host", "port": "redis_port", "password": "redis_password", "url": "redis_url"}
    return _redis_block(files, "router_settings", files.settings("router_settings"), keys, "router state shared")


# --- the load balancer


def _no_lb(files: StackFiles) -> Result:
    rel, line = files.proxies[1].defined_at()
    return failed(Evidence(f"{len(files.proxies)} proxy services ({_names(files)}) and no service mounting a "
                           "haproxy.cfg in front of them", rel, line),
                  fix=f"add the lb service and haproxy/haproxy.cfg ({FIX_INIT})")


def _server_hosts(backend: CfgSection) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Address host of each `server` line -> (line, its words)."""
    found = {}
    for directive in backend.directives("server"):
        if len(directive.words) >= 3:
            found[directive.words[2].rsplit(":", 1)[0]] = (directive.line, directive.words)
    return found


def _checks_readiness(backend: CfgSection, defaults: list[CfgSection]) -> tuple[bool, int]:
    """Whether the backend's HTTP check asks for /health/readiness (and expects 200 if it says what it expects)."""
    scope = [*defaults, backend]
    httpchk = [d for s in scope for d in s.directives("option", "httpchk")]
    sends = [d for s in scope for d in s.directives("http-check", "send")]
    expects = [d for s in scope for d in s.directives("http-check", "expect")]
    line = (httpchk or sends or [backend])[-1].line
    uri = None
    if sends and "uri" in sends[-1].words:
        words = sends[-1].words
        uri = words[words.index("uri") + 1] if words.index("uri") + 1 < len(words) else None
    elif httpchk:
        words = httpchk[-1].words[2:]
        uri = words[1] if len(words) >= 2 else (words[0] if len(words) == 1 else None)
    expect_ok = not expects or expects[-1].words[2:] == ("status", "200")
    return bool(httpchk) and uri == READINESS and expect_ok, line


@check("replicas-lb-readiness", section=SECTION,
       runbook=("(replicas) The load balancer sends a replica traffic only while its /health/readiness answers 200 "
                "(the DB connected), checking every replica: liveliness answers before the proxy can serve keys, and "
                "an unchecked server gets requests while it restarts."),
       fix=f"in the backend of the replicas: option httpchk GET {READINESS}, http-check expect status 200, and "
           f"`check` on every server line ({FIX_INIT})")
def replicas_lb_readiness(files: StackFiles) -> Result:
    single = _single(files)
    if single:
        return single
    found = load_balancer(files)
    if found is None:
        return _no_lb(files)
    lb, host, rel = found
    text = read_stack_text(host, rel)
    if text is None:
        return failed(Evidence(f"{lb.name} mounts {rel}, which does not exist", *lb.where("volumes")))
    sections = parse_haproxy_cfg(text)
    defaults = [s for s in sections if s.kind == "defaults"]
    proxies = {p.name for p in files.proxies}
    backends = [s for s in sections if s.kind in ("backend", "listen") and proxies & set(_server_hosts(s))]
    if not backends:
        return failed(Evidence(f"no backend of {rel} has the proxy services ({_names(files)}) as servers", rel, 1))
    findings = []
    served = set()
    for backend in backends:
        servers = _server_hosts(backend)
        served |= proxies & set(servers)
        tracking = all("track" in words for host_name, (_, words) in servers.items() if host_name in proxies)
        if tracking:
            continue  # its servers follow another backend's checks (the health app's port)
        ok, line = _checks_readiness(backend, defaults)
        if ok:
            findings.append((Status.PASS, Evidence(f"backend {backend.name} checks GET {READINESS}, expects 200", rel, line)))
        else:
            findings.append((Status.FAIL, Evidence(f"backend {backend.name} does not health-check GET {READINESS} "
                                                   "expecting 200", rel, line)))
        for name, (server_line, words) in sorted(servers.items()):
            if name in proxies and "check" not in words and "track" not in words:
                findings.append((Status.FAIL, Evidence(f"server {words[1]} ({name}) of backend {backend.name} is not "
                                                       "health-checked (no `check`)", rel, server_line)))
    for name in sorted(proxies - served):
        findings.append((Status.FAIL, Evidence(f"proxy service {name} is not a server of the load balancer", rel, 1)))
    if not findings:
        findings.append((Status.FAIL, Evidence(f"every backend of {rel} only tracks another: nothing checks readiness",
                                               rel, backends[0].line)))
    return worst(findings)


@check("replicas-only-lb-published", section=SECTION,
       runbook=("(replicas) Only the load balancer is published: a replica published on its own is reached past the "
                "LB's readiness checks and drains, so a rolling restart fails the requests sent to it."),
       fix="remove the ports of the proxy services; publish 127.0.0.1:4000 and 4001 on the lb service only")
def replicas_only_lb_published(files: StackFiles) -> Result:
    single = _single(files)
    if single:
        return single
    findings = []
    for proxy in files.proxies:
        for port in proxy.ports:
            findings.append((Status.FAIL, Evidence(f"proxy service {proxy.name} publishes {port.text}", port.rel, port.line)))
    found = load_balancer(files)
    if found is None:
        return _no_lb(files) if not findings else worst(findings)
    lb = found[0]
    for port in lb.ports:
        findings.append((Status.PASS, Evidence(f"only {lb.name} publishes: {port.text}", port.rel, port.line)))
    if not lb.ports:
        findings.append((Status.FAIL, Evidence(f"{lb.name} publishes nothing: the gateway is unreachable",
                                               *lb.defined_at())))
    return worst(findings)
