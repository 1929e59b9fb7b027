"""What there is to probe: the deployments `/model/info` lists, by model group.

A deployment is reached alone by sending its `model_info.id` as the request's
`model` (litellm/router.py: `is_recognized_model` accepts an id, and
`_common_checks_available_deployment` returns that one deployment, before
any cooldown or pre-call filtering). Only names for display go through
opsctl.redact; the raw id and group name are what the requests carry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from opsctl.errors import ExitCode, OpsctlError


@dataclass
class Deployment:
    id: str  # model_info.id: sent as `model` to reach this deployment and no other
    model: str  # litellm_params.model, e.g. openai/qwen2.5
    api_host: str | None  # host[:port] of litellm_params.api_base; never the path, user or password


@dataclass
class ModelGroup:
    name: str
    mode: str | None  # model_info.mode; None when neither config nor cost map says
    deployments: list[Deployment] = field(default_factory=list)

    @property
    def probe_mode(self) -> str:
        """LiteLLM's own /health treats a deployment without a mode as chat; so do we."""
        return self.mode or "chat"


def api_host(api_base: object) -> str | None:
    """`https://user:pw@host:8443/v1` -> `host:8443`; None when there is no usable URL."""
    if not isinstance(api_base, str) or "://" not in api_base:
        return None
    try:
        parts = urlsplit(api_base)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return f"{host}:{port}" if port else host


def url_passwords(model_info: object) -> list[str]:
    """Passwords inside the deployments' api_base URLs: secrets to redact from server text."""
    passwords = []
    for entry in _entries(model_info):
        api_base = (entry.get("litellm_params") or {}).get("api_base")
        if isinstance(api_base, str):
            try:
                password = urlsplit(api_base).password
            except ValueError:
                continue
            if password:
                passwords.append(password)
    return passwords


def _entries(model_info: object) -> list[dict]:
    data = model_info.get("data") if isinstance(model_info, dict) else None
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []


def model_groups(model_info: object) -> list[ModelGroup]:
    """Deployments from a /model/info answer, grouped by public name, in config order."""
    if not isinstance(model_info, dict) or not isinstance(model_info.get("data"), list):
        raise OpsctlError("the proxy's /model/info answer is not a list of deployments", ExitCode.FAILED)
    groups: dict[str, ModelGroup] = {}
    for entry in _entries(model_info):
        name = entry.get("model_name")
        info = entry.get("model_info") if isinstance(entry.get("model_info"), dict) else {}
        params = entry.get("litellm_params") if isinstance(entry.get("litellm_params"), dict) else {}
        if not isinstance(name, str) or not name:
            continue
        group = groups.setdefault(name, ModelGroup(name, None))
        mode = info.get("mode")
        group.mode = group.mode or (mode if isinstance(mode, str) else None)
        group.deployments.append(Deployment(str(info.get("id") or ""), str(params.get("model") or ""), api_host(params.get("api_base"))))
    return list(groups.values())


def select_groups(groups: list[ModelGroup], names: Iterable[str] = (), mode: str | None = None) -> list[ModelGroup]:
    """Narrow to --model names and --mode; an unknown name is a usage error."""
    from opsctl.redact import safe_text

    names = list(dict.fromkeys(names))
    known = {group.name: group for group in groups}
    unknown = [name for name in names if name not in known]
    if unknown:
        served = safe_text(", ".join(known) or "none", limit=2000)
        raise OpsctlError(f"unknown model group: {', '.join(unknown)} (the proxy serves: {served})", ExitCode.USAGE)
    selected = [known[name] for name in names] if names else groups
    if mode:
        selected = [group for group in selected if group.probe_mode == mode]
        if not selected:
            raise OpsctlError(f"no model group of mode {mode} to probe", ExitCode.USAGE)
    return selected


def skip_reason(group: ModelGroup, probed_modes: Iterable[str]) -> str | None:
    """Why a group gets no request (a request by id cannot name a concrete model behind a wildcard)."""
    if "*" in group.name or any("*" in d.model for d in group.deployments):
        return "wildcard route: probe a concrete model name"
    if group.probe_mode not in probed_modes:
        return f"not probed: mode {group.probe_mode}"
    if not all(d.id for d in group.deployments):
        return "a deployment has no model_info.id to reach it by"
    return None
