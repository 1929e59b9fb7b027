"""What `opsctl status` shows: each container of the project, from the engine API.

Imported by the click command and by the script's quick path (opsctl.__main__),
so it must not import click: the output helpers import it only when a message
needs it.
"""

from __future__ import annotations

from opsctl.output import emit_json, print_table, status as say, warn
from opsctl.settings import Settings


def uptime_text(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    seconds = int(seconds)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{days}d{hours}h" if days else f"{hours}h{minutes}m" if hours else f"{minutes}m{seconds}s"


def show_status(settings: Settings, as_json: bool) -> None:
    """The table (or JSON list) of containers; a warning for each port published beyond loopback."""
    from opsctl.replicas.stack import replica_number
    from opsctl.stack.compose import project_name
    from opsctl.stack.engine import connect, project_containers

    project = project_name(settings)
    states = project_containers(connect(ping=False), project)
    lb, lb_warning = None, None
    if any(replica_number(s.service) is not None for s in states):  # replicas: only then load the LB's modules
        from opsctl.stack.replicas import lb_column

        lb, lb_warning = lb_column(settings, [s.service for s in states])
    if lb_warning:
        warn(lb_warning)

    def in_lb(service: str):
        server = (lb or {}).get(service)
        return None if server is None else {"status": server.status, "sessions": server.scur, "served": server.total}

    if as_json:
        emit_json([{**s.as_dict(), **({"lb": in_lb(s.service)} if lb is not None else {})} for s in states])
    elif not states:
        say(f"project {project} has no containers (start it with `opsctl up`)")
    else:
        rows = [
            [s.service, s.state_label, s.health, s.image,
             uptime_text(s.uptime_seconds()), ", ".join(str(p) + ("" if p.loopback else " !") for p in s.ports) or None]
            + ([(in_lb(s.service) or {}).get("status")] if lb is not None else [])
            for s in states
        ]
        print_table(["service", "state", "health", "image", "uptime", "ports"] + (["lb"] if lb is not None else []),
                    rows, title=f"project {project}")
    for s in states:
        for port in s.ports:
            if not port.loopback:
                warn(f"{s.service} publishes {port} beyond loopback: bind it to 127.0.0.1")
