"""Reading the live gateway: every key, team and DB model in a few list requests.

Keys come from `/key/list` (100 a page, the same paging as `keys list`),
teams from `/team/list` (one answer), models from `/model/info` (one answer).
Each object becomes the same set of fields a state file resolves to, so the
diff compares like with like.

What `/model/info` cannot tell (litellm 1.108.7): it never returns api_key
and masks other secret-named params, so a model's secrets are known only as
the `os.environ/` references opsctl recorded in its model_info when it wrote
them; and it mixes LiteLLM's cost-map fields into model_info, so the keys a
file set are known only from opsctl's record too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opsctl.admin.client import ProxyClient
from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import safe_text
from opsctl.state.document import ENV_REFS, INFO_KEYS, MARKER, OPSCTL_KEYS, RESERVED_INFO
from opsctl.state.secret_params import ENV_REF, is_secret_param


@dataclass
class LiveObject:
    name: str
    fields: dict
    managed: bool
    token: str | None = None  # keys: the sha256 hash, the handle for update and delete
    info_keys: list[str] | None = None  # models: the model_info keys opsctl recorded
    unknown_secrets: bool = False  # models: secrets may exist that opsctl did not set


@dataclass
class Snapshot:
    """The gateway as the state file sees it, plus what it cannot describe."""

    teams: dict[str, LiveObject] = field(default_factory=dict)
    keys: dict[str, LiveObject] = field(default_factory=dict)  # by alias; keys without one are in `unnamed`
    models: dict[str, LiveObject] = field(default_factory=dict)
    unnamed_keys: list[LiveObject] = field(default_factory=list)  # named "(no alias) <hash prefix>"
    config_models: int = 0  # from config.yaml: not the state file's business
    team_models: list[str] = field(default_factory=list)  # team-scoped DB models: not supported

    def of(self, kind: str) -> dict[str, LiveObject]:
        return getattr(self, kind)


class _Shape(Exception):
    pass


def _text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _Shape(name)
    return value


def _required(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise _Shape(name)
    return value


def _number(value: Any, name: str) -> int | float | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise _Shape(name)
    return value


def _names(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Shape(name)
    return sorted(set(value))


def _dict(value: Any, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Shape(name)
    return value


def _limits(row: dict) -> dict:
    return {
        "max_budget": _number(row.get("max_budget"), "max_budget"),
        "budget_duration": _text(row.get("budget_duration"), "budget_duration"),
        "rpm_limit": _number(row.get("rpm_limit"), "rpm_limit"),
        "tpm_limit": _number(row.get("tpm_limit"), "tpm_limit"),
    }


def _split_metadata(row: dict) -> tuple[dict, bool]:
    metadata = dict(_dict(row.get("metadata"), "metadata"))
    managed = metadata.pop(MARKER, None) is True
    return metadata, managed


def team_object(row: dict) -> LiveObject:
    metadata, managed = _split_metadata(row)
    fields = {"team_alias": _text(row.get("team_alias"), "team_alias"),
              "models": _names(row.get("models"), "models"), **_limits(row), "metadata": metadata}
    return LiveObject(_required(row.get("team_id"), "team_id"), fields, managed)


def key_object(row: dict) -> LiveObject:
    metadata, managed = _split_metadata(row)
    fields = {"team_id": _text(row.get("team_id"), "team_id"),
              "models": _names(row.get("models"), "models"), **_limits(row), "metadata": metadata}
    token = _required(row.get("token"), "token")
    alias = _text(row.get("key_alias"), "key_alias")
    return LiveObject(alias or f"(no alias) {token[:12]}…", fields, managed, token=token)


def model_object(row: dict) -> LiveObject:
    info = dict(_dict(row.get("model_info"), "model_info"))
    params = dict(_dict(row.get("litellm_params"), "litellm_params"))
    refs = _dict(info.get(ENV_REFS), ENV_REFS)
    recorded = info.get(INFO_KEYS)
    info_keys = sorted(recorded) if isinstance(recorded, list) and all(isinstance(k, str) for k in recorded) else None
    # Secrets as opsctl recorded them; what /model/info shows of them is masked or nothing.
    visible = {name: value for name, value in params.items() if not is_secret_param(name)}
    secrets = {name: ref for name, ref in refs.items() if is_secret_param(name) and isinstance(ref, str) and ENV_REF.match(ref)}
    model_info = {name: value for name, value in info.items() if name not in RESERVED_INFO and name not in OPSCTL_KEYS}
    fields = {"model_name": _text(row.get("model_name"), "model_name"),
              "litellm_params": {**visible, **secrets}, "model_info": model_info}
    managed = info.get(MARKER) is True
    return LiveObject(_required(info.get("id"), "model_info.id"), fields, managed, info_keys=info_keys, unknown_secrets=not managed)


def _build(kind: str, row: Any, maker, url: str) -> LiveObject:
    """One object from a list answer, or a one-line error naming what was malformed."""
    try:
        if not isinstance(row, dict):
            raise _Shape("entry")
        return maker(row)
    except _Shape as error:
        what = error.args[0]
        raise OpsctlError(f"the proxy at {url} listed a {kind} with a malformed {what}", ExitCode.FAILED) from None


def fetch(proxy: ProxyClient) -> Snapshot:
    """Everything the state file can describe, read through the admin API."""
    from opsctl.admin.keys import list_keys
    from opsctl.admin.models import list_deployments
    from opsctl.admin.teams import list_teams

    snapshot = Snapshot()
    for row in list_teams(proxy):
        team = _build("team", row, team_object, proxy.url)
        snapshot.teams[team.name] = team
    for row in list_keys(proxy):
        key = _build("key", row, key_object, proxy.url)
        if not row.get("key_alias"):
            snapshot.unnamed_keys.append(key)
        elif key.name in snapshot.keys:
            alias = safe_text(key.name, limit=80)
            raise OpsctlError(f"two keys on the gateway have the alias {alias!r}; opsctl names keys by alias: "
                              f"revoke one (opsctl keys revoke HASH)", ExitCode.FAILED)
        else:
            snapshot.keys[key.name] = key
    for row in list_deployments(proxy):
        info = row.get("model_info") if isinstance(row.get("model_info"), dict) else {}
        if info.get("db_model") is not True:
            snapshot.config_models += 1
        elif info.get("team_id"):
            snapshot.team_models.append(str(info.get("id")))
        else:
            model = _build("model", row, model_object, proxy.url)
            snapshot.models[model.name] = model
    return snapshot
