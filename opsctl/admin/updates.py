"""`keys update` / `teams update` and their undo: write only what drifted, keep the before-values.

A plan is one ObjectUpdate per key or team: the live row, what was asked
(the options over the policy defaults, built as `create` builds them) and
the drift between them (opsctl.admin.drift). Applying writes each object's
drift through /key/update or /team/update and nothing else; an object
without drift is not written, so a second run has nothing to do.

The undo file (JSON, format opsctl-admin-undo/1, mode 0600, written before
the first write) holds, for every object about to be written, the written
fields as they were (`before`) and as written (`after`). A restore is an
update whose asked values are `before`, made only where the object still
holds `after`: an edit made since the update is never silently overwritten.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from opsctl import jsonsafe
from opsctl.admin.client import AsyncProxyClient, ProxyClient, display_url
from opsctl.admin.drift import KEY_FIELDS, TEAM_FIELDS, FieldChange, compare, patch
from opsctl.errors import ExitCode, OpsctlError
from opsctl.files import read_private, write_atomic
from opsctl.redact import safe_text
from opsctl.settings import Settings

FORMAT = "opsctl-admin-undo/1"
MAX_UNDO_BYTES = 16 * 1024 * 1024
COMPARED = {"key": KEY_FIELDS, "team": TEAM_FIELDS}
IDENTITY = {"key": "token", "team": "team_id"}  # the handle /key/update and /team/update take


@dataclass
class ObjectUpdate:
    kind: str  # key | team
    name: str  # alias or team id, for messages
    ident: str  # the key's sha256 hash or the team id
    live: dict
    asked: dict
    whole_metadata: bool = False  # a restore puts the before-metadata back whole
    changes: list[FieldChange] = field(init=False)

    def __post_init__(self) -> None:
        self.changes = compare(self.live, self.asked, COMPARED[self.kind], whole_metadata=self.whole_metadata)

    @property
    def label(self) -> str:
        shown = f"{self.ident[:12]}…" if self.kind == "key" else self.ident
        return f"{self.kind} {safe_text(self.name)!r} ({IDENTITY[self.kind]} {safe_text(shown)})"

    @property
    def body(self) -> dict:
        """Only the fields that differ."""
        return patch(self.live, self.asked, self.changes, whole_metadata=self.whole_metadata)

    def before(self) -> dict:
        empty = {"models": [], "metadata": {}}
        return {name: self.live.get(name) if self.live.get(name) is not None else empty.get(name) for name in self.body}

    def to_json(self) -> dict:
        return {"kind": self.kind, "name": safe_text(self.name), IDENTITY[self.kind]: self.ident,
                "drift": [change.to_json("asked") for change in self.changes]}


# -- planning -------------------------------------------------------------------

def _asked(request: dict) -> dict:
    # A key's lifetime is set when it is minted: not compared, not updated.
    return {name: value for name, value in request.items() if name not in ("key_alias", "duration")}


async def _rows_by_alias(settings: Settings, aliases: list[str], concurrency: int) -> dict[str, dict]:
    from opsctl.admin.keys import existing_aliases

    async with AsyncProxyClient(settings, max_connections=concurrency) as proxy:
        return await existing_aliases(proxy, aliases, concurrency)


def plan_keys_by_alias(settings: Settings, requests: list[dict], concurrency: int = 16) -> tuple[list[ObjectUpdate], list[str]]:
    """One update per /key/generate-style request (each with its key_alias), and the aliases that do not exist."""
    rows = asyncio.run(_rows_by_alias(settings, [r["key_alias"] for r in requests], concurrency))
    updates, missing = [], []
    for request in requests:
        row = rows.get(request["key_alias"])
        if row is None:
            missing.append(request["key_alias"])
        else:
            updates.append(ObjectUpdate("key", request["key_alias"], row["token"], row, _asked(request)))
    return updates, missing


def plan_key_by_hash(proxy: ProxyClient, key_or_hash: str, request: dict) -> ObjectUpdate:
    from opsctl.admin.keys import key_info

    row = key_info(proxy, key_or_hash)
    return ObjectUpdate("key", row.get("key_alias") or "(no alias)", row["token"], row, _asked(request))


def plan_team(proxy: ProxyClient, request: dict) -> ObjectUpdate:
    from opsctl.admin.teams import get_team

    team_id = request["team_id"]
    found = get_team(proxy, team_id)
    if found is None:
        raise OpsctlError(f"no team with id {team_id!r}; create it: opsctl teams create --team-id {team_id}", ExitCode.FAILED)
    return ObjectUpdate("team", team_id, team_id, found["team_info"], {k: v for k, v in request.items() if k != "team_id"})


# -- writing ----------------------------------------------------------------

def write_undo(path: Path, settings: Settings, updates: list[ObjectUpdate]) -> None:
    """The before-values of every object about to be written, atomically, 0600, never over a file."""
    document = {"format": FORMAT, "proxy": display_url(settings.proxy_url),
                "objects": [{"kind": u.kind, "id": u.ident, "name": u.name, "before": u.before(), "after": u.body}
                            for u in updates if u.changes]}
    write_atomic(path, json.dumps(document, indent=2, sort_keys=True) + "\n", 0o600, exclusive=True, what="the undo file")


def apply_updates(proxy: ProxyClient, updates: list[ObjectUpdate], on_done: Callable[[ObjectUpdate], None] = lambda u: None) -> int:
    """Write each object's drift; the first failure stops the run, naming what was done."""
    from opsctl.admin.client import ProxyError
    from opsctl.admin.keys import update_key
    from opsctl.admin.teams import update_team

    writes = [u for u in updates if u.changes]
    for done, update in enumerate(writes):
        try:
            (update_key if update.kind == "key" else update_team)(proxy, update.ident, update.body)
        except ProxyError as error:
            raise OpsctlError(f"{update.label}: {error.message}; {done} of {len(writes)} updated before it",
                              error.exit_code) from None
        on_done(update)
    return len(writes)


# -- undo ---------------------------------------------------------------------

def _bad(path: Path, why: str) -> OpsctlError:
    return OpsctlError(f"{path}: not an opsctl undo file ({why})", ExitCode.USAGE)


def load_undo(path: Path, kind: str) -> list[dict]:
    """The objects of an undo file of `kind`, checked: only compared fields, ids as text."""
    try:
        document = jsonsafe.loads(read_private(path, MAX_UNDO_BYTES, "undo file"))
    except jsonsafe.JSONError as error:
        raise _bad(path, f"JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(document.get("objects"), list):
        raise _bad(path, f"format is not {FORMAT}")
    objects = document["objects"]
    for index, entry in enumerate(objects, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not isinstance(entry.get("name"), str):
            raise _bad(path, f"object {index}")
        if entry.get("kind") != kind:
            other = entry.get("kind")
            raise OpsctlError(f"{path}: object {index} is a {safe_text(str(other))}, not a {kind}: "
                              f"use opsctl {other}s restore", ExitCode.USAGE)
        for side in ("before", "after"):
            values = entry.get(side)
            if not isinstance(values, dict) or set(values) - set(COMPARED[kind]):
                raise _bad(path, f"object {index}: {side} may hold only {', '.join(COMPARED[kind])}")
    return objects


def plan_restore(proxy: ProxyClient, kind: str, objects: list[dict]) -> list[ObjectUpdate]:
    """Updates back to the before-values; refused whole when an object changed since (or is gone)."""
    from opsctl.admin.keys import get_key
    from opsctl.admin.teams import get_team

    updates = []
    for entry in objects:
        if kind == "key":
            live = get_key(proxy, entry["id"])
        else:
            found = get_team(proxy, entry["id"])
            live = found["team_info"] if found else None
        if live is None:
            raise OpsctlError(f"{kind} {safe_text(entry['name'])!r} no longer exists: nothing was restored", ExitCode.CONFLICT)
        update = ObjectUpdate(kind, entry["name"], entry["id"], live, entry["before"], whole_metadata=True)
        edited = compare(live, entry["after"], COMPARED[kind], whole_metadata=True)
        if update.changes and edited:
            raise OpsctlError(f"{update.label} changed since the update ({edited[0].field}): nothing was restored; "
                              f"`opsctl {kind}s update` can set the values you want", ExitCode.CONFLICT)
        updates.append(update)
    return updates

