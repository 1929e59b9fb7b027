"""Small helpers the file checks share: one setting, one environment variable of each proxy, and SKIP when an input is missing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from opsctl.audit.compose_resolve import EnvVar
from opsctl.audit.registry import Evidence, Result, Status, failed, passed, warned, worst
from opsctl.audit.services import Service
from opsctl.audit.stackfiles import StackFiles

OS_ENVIRON = "os.environ/"
SEE = "see stack-files"


def skipped(text: str) -> Result:
    return Result(Status.SKIP, (Evidence(f"{text} ({SEE})"),))


def needs_config(files: StackFiles) -> Result | None:
    """SKIP when there is no config to check (stack-files FAILs once, naming why)."""
    return None if files.config is not None else skipped("the proxy's config was not read")


def needs_compose(files: StackFiles) -> Result | None:
    if files.compose is None:
        return skipped("no compose file")
    return None if files.compose.resolved else skipped("Compose refuses the project")


def needs_proxy(files: StackFiles) -> Result | None:
    return needs_compose(files) or (None if files.proxies else skipped("no service runs the LiteLLM proxy"))


def shown(value: Any) -> str:
    """A value as it is written in YAML (true, not True)."""
    return json.dumps(value) if isinstance(value, (bool, type(None))) else str(value)


def same(value: Any, expected: Any) -> bool:
    """Equal, and of the kind LiteLLM compares with (`is True`, not the string "true")."""
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected
    return type(value) in (int, float, str) and value == expected


def setting_fix(files: StackFiles, section: str, key: str, expected: Any) -> str:
    """The edit that sets section.key, at the line that holds the wrong value, or where the section is."""
    value = shown(expected)
    settings = files.settings(section)
    if key in settings:
        rel, line = files.config.where(section, key)
        return f"set {key}: {value} at {rel}:{line} (it is {shown(settings[key])})"
    if section in (files.config.data if files.config else {}):
        rel, line = files.config.where(section)
        return f"add {key}: {value} under {section}: ({rel}:{line})"
    return f"add {section}: {{{key}: {value}}} to {files.config.rel}"


def expect_setting(files: StackFiles, section: str, key: str, expected: Any, default: Any = None) -> Result:
    """`section.key` in the effective config is `expected`; evidence at the line that sets it (maybe an include)."""
    missing = needs_config(files)
    if missing:
        return missing
    settings = files.settings(section)
    rel, line = files.config.where(section, key)
    if key not in settings:
        if default is not None and same(default, expected):
            return warned(Evidence(f"{section}.{key} is not set: relies on LiteLLM's default {shown(default)}", rel, line),
                          fix=f"pin it: {setting_fix(files, section, key, expected)}")
        return failed(Evidence(f"{section}.{key} is not set (LiteLLM's default: {shown(default)})", rel, line),
                      fix=setting_fix(files, section, key, expected))
    value = settings[key]
    if same(value, expected):
        return passed(Evidence(f"{section}.{key}: {shown(value)}", rel, line))
    return failed(Evidence(f"{section}.{key} is {shown(value)}, not {shown(expected)}", rel, line),
                  fix=setting_fix(files, section, key, expected))


def var_evidence(service: Service, name: str, shown_value: str | None = None) -> Evidence:
    """Where a service's variable is set (or where its environment is, when it is not); values are never shown for secrets."""
    var = service.env.get(name)
    if var is None:
        rel, line = service.where("environment")
        return Evidence(f"{name} is not set on service {service.name}", rel, line)
    text = shown_value if shown_value is not None else ("<set>" if var.value else "<empty>")
    via = _via(var)
    return Evidence(f"{name}={text} on service {service.name}{via}", var.path, var.line)


def _via(var: EnvVar) -> str:
    names = sorted(n for n in var.used if n != "")
    return f" (from ${{{', '.join(names)}}})" if names else ""


def env_fix(files: StackFiles, service: Service, name: str, value: str) -> str:
    """The edit that gives `service` NAME=value: at the line that sets it, or under its environment."""
    var = service.env.get(name)
    compose_rels = set(files.compose.files) | {doc.rel for doc in files.compose.docs} if files.compose else set()
    if var is not None and var.path in compose_rels:
        return f'set {name}: "{value}" at {var.path}:{var.line}'
    if var is not None and var.line is not None:
        return f"set {name}={value} at {var.path}:{var.line}, then opsctl --stack-dir {files.dir} up {service.name}"
    rel, line = service.where("environment")
    at = f" ({rel}:{line})" if line else f" in {rel}"
    return f'add {name}: "{value}" under services.{service.name}.environment{at}'


def each_proxy(files: StackFiles, judge: Callable[[Service], tuple[list[tuple[Status, Evidence]], list[str]]]) -> Result:
    """Run `judge` on every proxy service; the worst finding wins, with every fix."""
    missing = needs_proxy(files)
    if missing:
        return missing
    findings, fixes = [], []
    for proxy in files.proxies:
        found, fix = judge(proxy)
        findings += found
        fixes += fix
    return worst(findings, fix="; ".join(dict.fromkeys(fixes)) or None)


def expect_env(files: StackFiles, name: str, holds: Callable[[str | None], bool], wanted: str,
               shown_value: bool = True) -> Result:
    """Every proxy's NAME, as the container receives it, satisfies `holds` (LiteLLM's own reading of it)."""

    def judge(proxy: Service):
        var = proxy.env.get(name)
        value = var.value if var else None
        evidence = var_evidence(proxy, name, value if shown_value and value is not None else None)
        if holds(value):
            return [(Status.PASS, evidence)], []
        text = evidence.text + ("" if var is None else f", not {wanted}")
        return [(Status.FAIL, Evidence(text, evidence.path, evidence.line))], [env_fix(files, proxy, name, wanted)]

    return each_proxy(files, judge)


def load_balancer(files: StackFiles) -> tuple[Service, Path, str] | None:
    """(service, host file, stack-relative name) of the service that mounts a haproxy.cfg, if any."""
    for service in files.compose.services:
        for mount in service.mounts:
            if mount.bind and mount.source and os.path.basename(mount.target) == "haproxy.cfg":
                host = Path(mount.source)
                host = host if host.is_absolute() else files.dir / host
                try:
                    rel = str(host.resolve().relative_to(files.dir.resolve()))
                except (ValueError, OSError):
                    rel = str(host)
                return service, host, rel
    return None
