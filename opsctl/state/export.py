"""The live gateway as a state file: stable order, secrets only as references.

Teams by team_id, keys by alias, models by model name then id; limits are
always written (null included: a limit left out would mean the policy
default), empty models/metadata/model_info are left out. What the admin API
cannot show is reported, never guessed:

- keys without an alias (a state file names keys by alias);
- a model opsctl did not apply: its secrets (`api_key`, ...) are never
  returned, so none are exported, and of its model_info only `mode` and
  `base_model` (the rest of what /model/info shows is LiteLLM's cost map);
- a text value that holds a plaintext `sk-` key: left out.

Applying an export to an empty gateway and diffing it again shows no
difference.
"""

from __future__ import annotations

import re
from typing import Any

from opsctl.redact import safe_text
from opsctl.state.document import LIMITS, VERSION
from opsctl.state.live import LiveObject, Snapshot

PLAINTEXT_KEY = re.compile(r"sk-[A-Za-z0-9_\-]{20,}")
UNMANAGED_INFO = ("mode", "base_model")  # model_info worth keeping from a model opsctl did not apply


def _holds_key(value: Any) -> bool:
    if isinstance(value, str):
        return bool(PLAINTEXT_KEY.search(value))
    if isinstance(value, dict):
        return any(_holds_key(k) or _holds_key(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_key(item) for item in value)
    return False


def _scrub(mapping: dict, label: str, prefix: str, warnings: list[str]) -> dict:
    kept = {}
    for name, value in mapping.items():
        if _holds_key(value):
            warnings.append(f"{label}: {prefix}.{safe_text(name)} holds a plaintext key: left out")
        else:
            kept[name] = value
    return kept


def _record(identity: str, obj: LiveObject, first: tuple[str, ...], label: str, warnings: list[str]) -> dict:
    fields = obj.fields
    entry: dict[str, Any] = {identity: obj.name}
    for name in first:
        if fields[name] is not None:
            entry[name] = fields[name]
    if fields["models"]:
        entry["models"] = sorted(fields["models"])
    for name in LIMITS:
        entry[name] = fields[name]
    metadata = _scrub(fields["metadata"], label, "metadata", warnings)
    if metadata:
        entry["metadata"] = metadata
    return entry


def _model(obj: LiveObject, warnings: list[str], blind: list[str]) -> dict:
    fields = obj.fields
    label = f"model {safe_text(obj.name)!r}"
    params = {name: value for name, value in fields["litellm_params"].items() if value is not False and value is not None}
    params = _scrub(params, label, "litellm_params", warnings)
    ordered = {"model": params.pop("model")} if "model" in params else {}
    ordered.update(sorted(params.items()))
    wanted = obj.info_keys if obj.managed and obj.info_keys is not None else UNMANAGED_INFO
    info = {name: fields["model_info"][name] for name in sorted(wanted)
            if fields["model_info"].get(name) is not None}
    info = _scrub(info, label, "model_info", warnings)
    if not obj.managed:
        blind.append(obj.name)
    entry: dict[str, Any] = {"id": obj.name, "model_name": fields["model_name"], "litellm_params": ordered}
    if info:
        entry["model_info"] = info
    return entry


def export_document(live: Snapshot, only: set[tuple[str, str]] | None = None) -> tuple[dict, list[str]]:
    """(the document, warnings). `only`: just these (kind, name) objects (the before-state of an apply)."""
    warnings: list[str] = []
    blind: list[str] = []

    def wanted(kind: str, name: str) -> bool:
        return only is None or (kind, name) in only

    teams = [_record("team_id", obj, ("team_alias",), f"team {safe_text(name)!r}", warnings)
             for name, obj in sorted(live.teams.items()) if wanted("teams", name)]
    keys = [_record("key_alias", obj, ("team_id",), f"key {safe_text(name)!r}", warnings)
            for name, obj in sorted(live.keys.items()) if wanted("keys", name)]
    models = [_model(obj, warnings, blind)
              for obj in sorted(live.models.values(), key=lambda o: (o.fields["model_name"] or "", o.name))
              if wanted("models", obj.name)]
    if live.unnamed_keys and only is None:
        warnings.append(f"{len(live.unnamed_keys)} key(s) without an alias: not exported (a state file names keys by alias)")
    if blind:
        names = ", ".join(safe_text(name) for name in sorted(blind)[:5]) + (" ..." if len(blind) > 5 else "")
        warnings.append(f"{len(blind)} model(s) not applied by opsctl ({names}): their secrets (api_key, ...) cannot be "
                        "read through the admin API and are not exported, nor model_info beyond mode and base_model; "
                        "add them to the file as os.environ/NAME references")
    document = {"version": VERSION, "teams": teams, "keys": keys, "models": models}
    return document, warnings
