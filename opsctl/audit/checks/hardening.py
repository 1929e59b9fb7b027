"""Container hardening: what every service's container may do, beyond the runbook (each check says why).

FAIL where any image allows it (no-new-privileges, dropped capabilities, a
read-only root or a written reason why not); WARN where it is a
recommendation whose numbers depend on the machine (pids and memory limits,
log rotation).
"""

from __future__ import annotations

from opsctl.audit.checks.common import needs_compose
from opsctl.audit.registry import Evidence, Result, Status, check, passed, worst
from opsctl.audit.services import Service
from opsctl.audit.stackfiles import StackFiles

SECTION = "Container hardening"
WRITABLE_ROOT = "x-writable-root"  # a service-level extension field: why this service cannot run read-only
# Capabilities that undo the point of dropping the rest (each is root on the host in practice).
DANGEROUS_CAPABILITIES = {"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "NET_ADMIN", "DAC_READ_SEARCH",
                          "SYS_BOOT", "SYS_TIME", "MAC_ADMIN", "MAC_OVERRIDE", "BPF", "PERFMON"}
ROTATING_DRIVERS = {"local", "journald", "syslog", "gelf", "fluentd", "awslogs", "splunk", "gcplogs", "none"}


def _items(service: Service, key: str) -> list[str]:
    value = service.spec.get(key)
    return [str(v) for v in value] if isinstance(value, list) else [value] if isinstance(value, str) else []


def _capability(name: str) -> str:
    name = name.strip().upper()
    return name[4:] if name.startswith("CAP_") else name


def _each_service(files: StackFiles, judge) -> Result:
    missing = needs_compose(files)
    if missing:
        return missing
    findings, fixes = [], []
    for service in files.compose.services:
        found, fix = judge(service)
        findings += found
        fixes += fix
    if not findings:
        return passed(Evidence("no service", files.compose.rel))
    return worst(findings, fix="; ".join(dict.fromkeys(fixes)) or None)


def _no_new_privileges(option: str) -> bool | None:
    """True/False for a no-new-privileges security_opt (bare, :true, =true), None for another option."""
    name, _, value = option.replace("=", ":", 1).partition(":")
    if name.strip() != "no-new-privileges":
        return None
    return value.strip().lower() in ("", "true", "1")


@check("no-new-privileges", section=SECTION,
       runbook=("(hardening) security_opt: no-new-privileges:true on every service, so no process in a container can "
                "gain privileges through a setuid binary or file capabilities."),
       fix='add security_opt: ["no-new-privileges:true"] to the service')
def no_new_privileges(files: StackFiles) -> Result:
    def judge(service: Service):
        options = _items(service, "security_opt")
        values = [v for v in map(_no_new_privileges, options) if v is not None]
        if values and values[-1]:
            rel, line = service.list_item_where("security_opt", lambda o: _no_new_privileges(o) is True)
            return [(Status.PASS, Evidence(f"{service.name}: no-new-privileges", rel, line))], []
        rel, line = service.where("security_opt") if options else service.defined_at()
        state = "is off" if values else "is not set"
        return ([(Status.FAIL, Evidence(f"{service.name}: no-new-privileges {state}", rel, line))],
                [f'add security_opt: ["no-new-privileges:true"] to service {service.name} ({rel}:{line})'])

    return _each_service(files, judge)


@check("cap-drop", section=SECTION,
       runbook=("(hardening) cap_drop: [ALL] on every service, adding back (cap_add) only what its image needs, none of "
                "them host-level (SYS_ADMIN, NET_ADMIN, ...), and never privileged: true."),
       fix="add cap_drop: [ALL] to the service (and cap_add: only what its image needs)")
def cap_drop(files: StackFiles) -> Result:
    def judge(service: Service):
        findings, fixes = [], []
        if service.spec.get("privileged") is True:
            rel, line = service.where("privileged")
            findings.append((Status.FAIL, Evidence(f"{service.name} runs privileged (every capability, every device)", rel, line)))
            fixes.append(f"remove privileged: true at {rel}:{line}")
        dropped = {_capability(c) for c in _items(service, "cap_drop")}
        if "ALL" in dropped:
            rel, line = service.list_item_where("cap_drop", lambda c: _capability(c) == "ALL")
            findings.append((Status.PASS, Evidence(f"{service.name}: cap_drop ALL", rel, line)))
        else:
            rel, line = service.where("cap_drop") if dropped else service.defined_at()
            findings.append((Status.FAIL, Evidence(f"{service.name} keeps the engine's default capabilities (no cap_drop: [ALL])",
                                                   rel, line)))
            fixes.append(f"add cap_drop: [ALL] to service {service.name} ({rel}:{line})")
        for added in _items(service, "cap_add"):
            if _capability(str(added)) in DANGEROUS_CAPABILITIES:
                rel, line = service.list_item_where("cap_add", lambda c, a=str(added): c == a)
                findings.append((Status.FAIL, Evidence(f"{service.name} adds {added}", rel, line)))
                fixes.append(f"remove {added} at {rel}:{line}")
        return findings, fixes

    return _each_service(files, judge)


@check("read-only-root", section=SECTION,
       runbook=("(hardening) read_only: true (with tmpfs: for the paths the program writes), or the reason the "
                f"image cannot run that way written next to it as {WRITABLE_ROOT}: \"...\"."),
       fix=f'set read_only: true (tmpfs: [/tmp]) on the service, or say why not with {WRITABLE_ROOT}: "..."')
def read_only_root(files: StackFiles) -> Result:
    def judge(service: Service):
        if service.spec.get("read_only") is True:
            rel, line = service.where("read_only")
            return [(Status.PASS, Evidence(f"{service.name}: read-only root", rel, line))], []
        reason = service.spec.get(WRITABLE_ROOT)
        if isinstance(reason, str) and reason.strip():
            rel, line = service.where(WRITABLE_ROOT)
            return [(Status.PASS, Evidence(f"{service.name}: writable root, because {reason.strip()}", rel, line))], []
        rel, line = service.where("read_only") if "read_only" in service.spec else service.defined_at()
        return ([(Status.FAIL, Evidence(f"{service.name} can write anywhere in its image (no read_only: true, no {WRITABLE_ROOT})",
                                        rel, line))],
                [f'set read_only: true on service {service.name} ({rel}:{line}), or add {WRITABLE_ROOT}: "why it must write"'])

    return _each_service(files, judge)


def _limit(service: Service, flat: str, nested: str) -> tuple[object, tuple]:
    if service.spec.get(flat) not in (None, "", 0, "0", -1):
        return service.spec[flat], service.where(flat)
    limits = ((service.spec.get("deploy") or {}).get("resources") or {}).get("limits") \
        if isinstance(service.spec.get("deploy"), dict) else None
    if isinstance(limits, dict) and limits.get(nested) not in (None, "", 0, "0", -1):
        return limits[nested], service.where("deploy", "resources", "limits", nested)
    return None, service.defined_at()


@check("resource-limits", section=SECTION,
       runbook=("(hardening, recommended) pids_limit and mem_limit (or deploy.resources.limits) on every service, so "
                "a fork bomb or a leak in one container cannot take the host down."),
       fix="add pids_limit: and mem_limit: to the service (the reference stack's values are a start)")
def resource_limits(files: StackFiles) -> Result:
    def judge(service: Service):
        findings, fixes = [], []
        for flat, nested, what in (("pids_limit", "pids", "processes"), ("mem_limit", "memory", "memory")):
            value, (rel, line) = _limit(service, flat, nested)
            if value is None:
                findings.append((Status.WARN, Evidence(f"{service.name} has no {what} limit ({flat})", rel, line)))
                fixes.append(f"add {flat}: to service {service.name} ({rel}:{line})")
            else:
                findings.append((Status.PASS, Evidence(f"{service.name}: {flat} {value}", rel, line)))
        return findings, fixes

    return _each_service(files, judge)


@check("log-rotation", section=SECTION,
       runbook=("(hardening, recommended) logging with rotation on every service (json-file with max-size, or the "
                "local driver), so logs cannot fill the disk the database lives on."),
       fix='add logging: {driver: json-file, options: {max-size: "10m", max-file: "3"}} to the service')
def log_rotation(files: StackFiles) -> Result:
    def judge(service: Service):
        logging = service.spec.get("logging") if isinstance(service.spec.get("logging"), dict) else {}
        driver = str(logging.get("driver") or "json-file")
        options = logging.get("options") if isinstance(logging.get("options"), dict) else {}
        if driver in ROTATING_DRIVERS or (driver == "json-file" and options.get("max-size")):
            rel, line = service.where("logging")
            detail = f" max-size {options['max-size']}" if options.get("max-size") else ""
            return [(Status.PASS, Evidence(f"{service.name}: logging {driver}{detail}", rel, line))], []
        rel, line = service.where("logging") if logging else service.defined_at()
        what = "no logging: (the engine's default json-file keeps every line)" if not logging else f"{driver} without max-size"
        return ([(Status.WARN, Evidence(f"{service.name}: {what}", rel, line))],
                [f'add logging: {{driver: json-file, options: {{max-size: "10m", max-file: "3"}}}} to service {service.name} '
                 f"({rel}:{line})"])

    return _each_service(files, judge)
