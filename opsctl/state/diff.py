"""The difference between a state file and the gateway, object by object and field by field.

Every object gets one action:

    create       in the file, not on the gateway
    update       on both, some fields differ (only those are written)
    replace      a model whose stored params must lose a key: LiteLLM can set
                 a param but not remove one, so apply deletes and re-creates it
    unchanged    on both, the same
    delete       not in the file: marked as managed (with --prune), or any
                 object (with --prune-unmanaged)
    kept         would be deleted, but must not be (a team that still holds
                 keys that stay: LiteLLM deletes a team's keys with it; the
                 master key's own row)
    not-in-file  marked as managed, not in the file, and no --prune
    not-managed  not marked, not in the file: left alone

The gateway is in sync when nothing would be created, updated, replaced,
deleted or kept, as `apply --prune` sees it.

Compared fields: for teams and keys every field of the file format (models
as sets, metadata key by key); for models the model name, every
litellm_param (a param only the gateway has counts unless it is false or
null: LiteLLM stores its boolean defaults with every model), the model_info
keys the file names (LiteLLM mixes its cost map into model_info), and
secrets as the references opsctl recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opsctl.admin.drift import ABSENT, FieldChange, compare, same, shown
from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import safe_text
from opsctl.state.document import FIELDS, INFO_KEYS, KINDS, MARKER, SINGULAR, State
from opsctl.state.live import LiveObject, Snapshot
from opsctl.state.secret_params import is_secret_param

WRITES = ("create", "update", "replace", "delete")
DRIFT = (*WRITES, "kept")
ACTIONS = ("create", "update", "replace", "unchanged", "delete", "kept", "not-in-file", "not-managed")


@dataclass
class Change:
    kind: str  # teams | keys | models
    name: str
    action: str
    fields: list[FieldChange] = field(default_factory=list)
    reason: str | None = None
    desired: dict | None = None  # the file's fields (create, update, replace)
    live: LiveObject | None = None

    @property
    def label(self) -> str:
        return f"{SINGULAR[self.kind]} {safe_text(self.name)!r}"

    def to_json(self) -> dict:
        out = {"kind": SINGULAR[self.kind], "name": shown(self.name), "action": self.action}
        if self.fields:
            out["fields"] = [change.to_json() for change in self.fields]
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class Plan:
    changes: list[Change]
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {action: 0 for action in ACTIONS}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    @property
    def in_sync(self) -> bool:
        return not any(change.action in DRIFT for change in self.changes)

    @property
    def writes(self) -> list[Change]:
        return [change for change in self.changes if change.action in WRITES]

    def summary(self) -> str:
        return ", ".join(f"{n} {action}" for action, n in self.counts().items() if n)

    def to_json(self) -> dict:
        return {"in_sync": self.in_sync, "counts": self.counts(),
                "objects": [change.to_json() for change in self.changes], "notes": self.notes}


def _record_changes(kind: str, live: LiveObject, desired: dict) -> list[FieldChange]:
    """Teams and keys: every field, metadata key by key (the file names all of it), and the marker."""
    changes = compare(live.fields, desired, FIELDS[kind], whole_metadata=True)
    if not live.managed:
        changes.append(FieldChange(f"metadata.{MARKER}", ABSENT, True))
    return changes


def _model_changes(live: LiveObject, desired: dict) -> list[FieldChange]:
    changes = []
    if not same(live.fields["model_name"], desired["model_name"]):
        changes.append(FieldChange("model_name", live.fields["model_name"], desired["model_name"]))
    have, want = live.fields["litellm_params"], desired["litellm_params"]
    for name in sorted(set(have) | set(want)):
        before, after = have.get(name, ABSENT), want.get(name, ABSENT)
        if after is ABSENT and not is_secret_param(name) and (before is False or before is None):
            continue  # LiteLLM's own defaults, stored with every model
        if before is ABSENT or after is ABSENT or not same(before, after):
            changes.append(FieldChange(f"litellm_params.{name}", before, after))
    have, want = live.fields["model_info"], desired["model_info"]
    recorded = live.info_keys or []
    for name in sorted(set(want) | (set(recorded) & set(have))):
        before, after = have.get(name, ABSENT), want.get(name, ABSENT)
        if before is ABSENT or after is ABSENT or not same(before, after):
            changes.append(FieldChange(f"model_info.{name}", before, after))
    if not live.managed:
        changes.append(FieldChange(f"model_info.{MARKER}", ABSENT, True))
    elif recorded != sorted(want):  # opsctl's record of what the file set: export reads it
        changes.append(FieldChange(f"model_info.{INFO_KEYS}", recorded, sorted(want)))
    return changes


def _new_fields(desired: dict) -> list[FieldChange]:
    """What a create sets, field by field (mappings key by key), for review."""
    fields = []
    for name, value in desired.items():
        if isinstance(value, dict):
            fields += [FieldChange(f"{name}.{key}", ABSENT, item) for key, item in value.items()]
        elif value is not None and value != []:
            fields.append(FieldChange(name, ABSENT, value))
    return fields


def _compare(kind: str, name: str, desired: dict, live: LiveObject | None) -> Change:
    if live is None:
        return Change(kind, name, "create", _new_fields(desired), desired=desired)
    fields = _model_changes(live, desired) if kind == "models" else _record_changes(kind, live, desired)
    if not fields:
        return Change(kind, name, "unchanged", desired=desired, live=live)
    # Only a model's params and model_info are merged on update; a key's or team's metadata is replaced whole.
    action = "replace" if kind == "models" and any(change.removes for change in fields) else "update"
    return Change(kind, name, action, fields, desired=desired, live=live)


def _leftover(kind: str, live: LiveObject, prune: bool, prune_unmanaged: bool) -> Change:
    if live.managed:
        action = "delete" if prune else "not-in-file"
    else:
        action = "delete" if prune_unmanaged else "not-managed"
    return Change(kind, live.name, action, live=live)


def _check_references(desired: State, live: Snapshot) -> None:
    for alias, fields in desired.keys.items():
        team = fields["team_id"]
        if team and team not in desired.teams and team not in live.teams:
            where = desired.where.get(("keys", alias), "the file")
            raise OpsctlError(f"{where}: key {alias!r}: team {team!r} is neither in the file nor on the gateway", ExitCode.USAGE)


def build_plan(desired: State, live: Snapshot, *, prune: bool = False, prune_unmanaged: bool = False,
               master_token: str | None = None) -> Plan:
    """What apply would do, in apply's order: teams, then models, then keys (deletes go the other way)."""
    _check_references(desired, live)
    prune = prune or prune_unmanaged
    by_kind: dict[str, list[Change]] = {}
    for kind in KINDS:
        present = live.of(kind)
        changes = [_compare(kind, name, fields, present.get(name)) for name, fields in sorted(desired.of(kind).items())]
        rest = [obj for name, obj in sorted(present.items()) if name not in desired.of(kind)]
        if kind == "keys":
            rest += live.unnamed_keys
        changes += [_leftover(kind, obj, prune, prune_unmanaged) for obj in rest]
        by_kind[kind] = changes
    for change in by_kind["keys"]:
        if change.action == "delete" and master_token and change.live.token == master_token:
            change.action, change.reason = "kept", "the master key's own row"
    _guard_teams(by_kind)
    plan = Plan(by_kind["teams"] + by_kind["models"] + by_kind["keys"])
    plan.notes = _notes(live, by_kind["models"])
    return plan


def _guard_teams(by_kind: dict[str, list[Change]]) -> None:
    """Never delete a team whose keys stay: LiteLLM's /team/delete deletes them too."""
    staying: dict[str, list[str]] = {}
    for change in by_kind["keys"]:
        # Teams are deleted last, after keys moved to the team the file gives them.
        team = change.desired["team_id"] if change.desired is not None else change.live.fields["team_id"]
        if change.action != "delete" and team:
            staying.setdefault(team, []).append(change.name)
    for change in by_kind["teams"]:
        keys = sorted(staying.get(change.name, ()))
        if change.action == "delete" and keys:
            shown_keys = ", ".join(safe_text(k) for k in keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            change.action = "kept"
            change.reason = f"it holds keys that stay ({shown_keys}); LiteLLM deletes a team's keys with it"


def _notes(live: Snapshot, models: list[Change]) -> list[str]:
    notes = []
    if live.config_models:
        notes.append(f"{live.config_models} model(s) from config.yaml: not managed by state files")
    if live.team_models:
        notes.append(f"{len(live.team_models)} team-scoped DB model(s) left alone (not supported): "
                     + ", ".join(safe_text(m) for m in sorted(live.team_models)[:5]))
    blind = [c.name for c in models if c.live is not None and c.live.unknown_secrets and c.desired is not None]
    if blind:
        notes.append(f"{len(blind)} model(s) not yet applied by opsctl: their stored secrets cannot be read "
                     "through the admin API, so only the references in the file are compared")
    return notes
