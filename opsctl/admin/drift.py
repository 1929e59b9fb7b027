"""What differs between a live key or team and what was asked, field by field.

One comparison for every caller: `keys create` / `teams create` report the
drift of an object that exists (and write nothing), `keys update` / `teams
update` write only the drifted fields, and `opsctl state diff` compares a
state file's objects with the same rules.

Rules: numbers by value (30 and 30.0 are the same, true and 1 are not),
model lists as sets, metadata key by key. A field that was not asked
(neither given nor a policy default) is not compared. For `create` and
`update` a metadata key that was not asked is not drift either; a state
file names an object's whole metadata, so there a live key it lacks is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from opsctl.redact import safe_text

LIMITS = ("max_budget", "budget_duration", "rpm_limit", "tpm_limit")
KEY_FIELDS = ("team_id", "models", *LIMITS, "metadata")  # /key/update fields opsctl compares
TEAM_FIELDS = ("team_alias", "models", *LIMITS, "metadata")  # /team/update fields opsctl compares


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


def shown(value: Any) -> Any:
    """A value fit to print or emit: strings redacted (sk- keys, URL passwords) and printable."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(k): shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(item) for item in value]
    return value


@dataclass(frozen=True)
class FieldChange:
    field: str  # "rpm_limit", "metadata.owner", "litellm_params.timeout"
    live: Any
    desired: Any

    @property
    def removes(self) -> bool:
        return self.desired is ABSENT

    def to_json(self, desired: str = "desired") -> dict:
        out: dict[str, Any] = {"field": self.field}
        if self.live is not ABSENT:
            out["live"] = shown(self.live)
        if self.desired is not ABSENT:
            out[desired] = shown(self.desired)
        return out


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 30 and 30.0 are the same, true and 1 are not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def mapping_changes(prefix: str, live: dict, desired: dict, *, whole: bool = True) -> list[FieldChange]:
    """Key by key; with `whole`, a key only `live` has is a change too (desired ABSENT)."""
    names = set(desired) | (set(live) if whole else set())
    changes = []
    for key in sorted(names):
        before, after = live.get(key, ABSENT), desired.get(key, ABSENT)
        if before is ABSENT or after is ABSENT or not same(before, after):
            changes.append(FieldChange(f"{prefix}.{key}", before, after))
    return changes


def _model_set(value: Any) -> list:
    return sorted(set(value or []))


def compare(live: dict, asked: dict, names: Iterable[str], *, whole_metadata: bool = False) -> list[FieldChange]:
    """The fields of `names` that `asked` holds and `live` does not hold the same way."""
    changes = []
    for name in names:
        if name not in asked:
            continue
        have, want = live.get(name), asked[name]
        if name == "metadata":
            changes += mapping_changes("metadata", have or {}, want or {}, whole=whole_metadata)
        elif name == "models":
            if _model_set(have) != _model_set(want):
                changes.append(FieldChange(name, have or [], want or []))
        elif not same(have, want):
            changes.append(FieldChange(name, have, want))
    return changes


def patch(live: dict, asked: dict, changes: list[FieldChange], *, whole_metadata: bool = False) -> dict:
    """The /key/update or /team/update fields that write `changes` and nothing else.

    LiteLLM replaces metadata whole, so a metadata change sends the live
    metadata with the asked keys merged in (or the asked metadata itself
    when it is `whole_metadata`, as an undo's before-value is).
    """
    body: dict[str, Any] = {}
    for change in changes:
        name = change.field.split(".", 1)[0]
        if name == "metadata":
            body[name] = dict(asked[name] or {}) if whole_metadata else {**(live.get(name) or {}), **(asked[name] or {})}
        else:
            body[name] = asked[name]
    return body


def describe(changes: list[FieldChange]) -> str:
    """`rpm_limit 60 -> 120, models [] -> ['a']` for one status line."""
    def value(item: Any) -> str:
        return "(absent)" if item is ABSENT else repr(shown(item))

    return ", ".join(f"{c.field} {value(c.live)} -> {value(c.desired)}" for c in changes)
