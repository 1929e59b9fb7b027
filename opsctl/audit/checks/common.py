"""Small helpers the file checks share: one setting, one environment variable."""

from __future__ import annotations

import json
from typing import Any

from opsctl.audit.registry import Evidence, Result, failed, passed, warned
from opsctl.audit.stackfiles import StackFiles

OS_ENVIRON = "os.environ/"


def no_file(rel: str) -> Result:
    return failed(Evidence(f"{rel} not found", rel))


def shown(value: Any) -> str:
    """A value as it is written in YAML (true, not True)."""
    return json.dumps(value) if isinstance(value, (bool, type(None))) else str(value)


def same(value: Any, expected: Any) -> bool:
    """Equal, and of the kind LiteLLM compares with (`is True`, not the string "true")."""
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected
    return type(value) in (int, float, str) and value == expected


def expect_setting(files: StackFiles, section: str, key: str, expected: Any, default: Any = None) -> Result:
    """`section.key` in config.yaml is `expected`; evidence at its line (or the section's)."""
    if files.config is None:
        return no_file("litellm/config.yaml")
    settings = files.settings(section)
    rel, line = files.config.where(section, key)
    if key not in settings:
        if default is not None and same(default, expected):
            return warned(Evidence(f"{section}.{key} is not set: relies on LiteLLM's default {shown(default)}", rel, line),
                          fix=f"pin {section}.{key}: {shown(expected)} in litellm/config.yaml")
        return failed(Evidence(f"{section}.{key} is not set (LiteLLM's default: {shown(default)})", rel, line))
    value = settings[key]
    if same(value, expected):
        return passed(Evidence(f"{section}.{key}: {shown(value)}", rel, line))
    return failed(Evidence(f"{section}.{key} is {shown(value)}, not {shown(expected)}", rel, line))


def env_evidence(files: StackFiles, name: str) -> tuple[str | None, Evidence]:
    """The proxy's value of an environment variable and where it is set."""
    var = files.proxy_env.get(name)
    if var is not None:
        return var.value, Evidence(f"{name}={'<set>' if var.value else '<empty>'}", var.path, var.line)
    if files.compose is None:
        return None, Evidence(f"{name} is not set: docker-compose.yml not found", "docker-compose.yml")
    proxy = files.proxy
    if proxy is None:
        return None, Evidence("no litellm service in the compose file", files.compose.rel, files.compose.line("services"))
    rel, line = files.compose.where("services", proxy.name, "environment")
    return None, Evidence(f"{name} is not set on service {proxy.name}", rel, line)


def expect_env(files: StackFiles, name: str, expected: str) -> Result:
    value, evidence = env_evidence(files, name)
    if value is not None and value.strip().lower() == expected.lower():
        return passed(Evidence(f"{name}={value}", evidence.path, evidence.line))
    if value is not None:
        return failed(Evidence(f"{name}={value}, not {expected}", evidence.path, evidence.line))
    return failed(evidence)
