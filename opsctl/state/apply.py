"""Carrying out a plan: creates in dependency order, only the differing fields, deletes last.

Order: teams, then models, then keys (a key names its team and models),
then deletes the other way round (keys, models, teams). Every write says
which object it is for; the first failure stops the run, and the result
tells what was done, what failed and what was not attempted. Running the
same apply again plans from the gateway as it now is, so it completes the
rest and repeats nothing.

New keys are minted through `keys.create_keys` (the same concurrent,
alias-idempotent path as `keys create --from`); their plaintext is written
once, to the keys file (CSV alias,key,token_id, mode 0600), even when a
later step fails.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from opsctl.admin.client import ProxyClient, ProxyError
from opsctl.errors import ExitCode, OpsctlError
from opsctl.files import check_new_file, undo_path, write_atomic  # noqa: F401 (check_new_file: for the command)
from opsctl.settings import Settings
from opsctl.state.diff import Change, Plan
from opsctl.state.document import ENV_REFS, INFO_KEYS, MARKER, render
from opsctl.state.export import export_document
from opsctl.state.live import Snapshot
from opsctl.state.secret_params import is_secret_param

KEY_CONCURRENCY = 16
RACED = "created by someone else since the plan; run apply again to reconcile it"


@dataclass
class Outcome:
    change: Change
    status: str = "not-attempted"  # done | failed | not-attempted
    error: str | None = None

    def to_json(self) -> dict:
        return {**self.change.to_json(), "status": self.status, **({"error": self.error} if self.error else {})}


@dataclass
class ApplyResult:
    outcomes: list[Outcome]
    exit_code: ExitCode = ExitCode.OK
    keys_written: int = 0
    minted: list = field(default_factory=list, repr=False)  # KeyResults holding plaintext keys

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]

    def to_json(self) -> dict:
        return {"done": self.count("done"), "failed": self.count("failed"), "not_attempted": self.count("not-attempted"),
                "keys_written": self.keys_written, "objects": [outcome.to_json() for outcome in self.outcomes]}


# -- request bodies -----------------------------------------------------------

def _metadata(fields: dict) -> dict:
    return {**fields["metadata"], MARKER: True}


def _touched(change: Change) -> set[str]:
    """The top-level fields a change touches ("metadata.owner" -> "metadata")."""
    return {item.field.split(".", 1)[0] for item in change.fields}


def team_request(team_id: str, fields: dict) -> dict:
    return {"team_id": team_id, **fields, "metadata": _metadata(fields)}


def key_request(alias: str, fields: dict) -> dict:
    return {"key_alias": alias, **fields, "metadata": _metadata(fields)}


def record_patch(change: Change) -> dict:
    """The /team/update or /key/update fields: only what differs; metadata whole, with the marker."""
    fields = change.desired
    return {name: _metadata(fields) if name == "metadata" else fields[name] for name in sorted(_touched(change))}


def _model_info(model_id: str, fields: dict) -> dict:
    refs = {name: value for name, value in fields["litellm_params"].items() if is_secret_param(name)}
    # `id` always: LiteLLM's ModelInfo invents a random one when it is missing (litellm 1.108.7
    # types/router.py ModelInfo.__init__), and /model/{id}/update would store that.
    return {"id": model_id, MARKER: True, INFO_KEYS: sorted(fields["model_info"]), ENV_REFS: refs}


def model_request(model_id: str, fields: dict) -> dict:
    return {"model_name": fields["model_name"], "litellm_params": fields["litellm_params"],
            "model_info": {**fields["model_info"], **_model_info(model_id, fields)}}


def model_patch(change: Change) -> dict:
    """The PATCH /model/{id}/update body: changed params and model_info keys, opsctl's record always."""
    fields = change.desired
    params = {item.field.split(".", 1)[1] for item in change.fields if item.field.startswith("litellm_params.")}
    info = {item.field.split(".", 1)[1] for item in change.fields if item.field.startswith("model_info.")}
    patch: dict = {}
    if "model_name" in _touched(change):
        patch["model_name"] = fields["model_name"]
    if params:
        patch["litellm_params"] = {name: fields["litellm_params"][name] for name in sorted(params)}
    patch["model_info"] = {**{name: fields["model_info"][name] for name in sorted(info) if name in fields["model_info"]},
                           **_model_info(change.name, fields)}
    return patch


# -- files ------------------------------------------------------------------

def default_backup_path(now: datetime | None = None) -> Path:
    return undo_path("state-before", ".yaml", now)


def before_state(live: Snapshot, plan: Plan) -> tuple[str, list[str]]:
    """The undo file: every managed object and every object the plan writes, as they are now.
    Applying it with --prune puts them back (a deleted key comes back as a new key)."""
    only = {(change.kind, change.name) for change in plan.changes
            if change.live is not None and (change.live.managed or change.action in ("update", "replace", "delete"))}
    document, warnings = export_document(live, only)
    return render(document), warnings


def write_keys_file(path: Path, minted: list) -> int:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("alias", "key", "token_id"))
    for result in minted:
        writer.writerow((result.alias, result.key, result.token_id))
    write_atomic(path, buffer.getvalue(), 0o600, exclusive=True, what="the new keys")
    return len(minted)


# -- the run ------------------------------------------------------------------

class _Stop(Exception):
    def __init__(self, exit_code: ExitCode):
        self.exit_code = exit_code


def _phases(plan: Plan) -> list[tuple[str, list[Change]]]:
    def pick(kind: str, *actions: str) -> list[Change]:
        return [c for c in plan.changes if c.kind == kind and c.action in actions]

    return [
        ("teams", pick("teams", "create", "update")),
        ("models", pick("models", "create", "update", "replace")),
        ("new keys", pick("keys", "create")),
        ("keys", pick("keys", "update")),
        ("deleted keys", pick("keys", "delete")),
        ("deleted models", pick("models", "delete")),
        ("deleted teams", pick("teams", "delete")),
    ]


def apply_plan(settings: Settings, plan: Plan, keys_file: Path | None = None,
               on_progress: Callable[[Outcome], None] = lambda outcome: None) -> ApplyResult:
    """Do every write of the plan; a ProxyError stops the run (the result says where)."""
    if keys_file is None and any(c.kind == "keys" and c.action == "create" for c in plan.changes):
        raise OpsctlError("the plan creates keys: give --keys-output FILE for their plaintext; nothing was changed", ExitCode.USAGE)
    phases = _phases(plan)
    outcomes = {id(change): Outcome(change) for _name, changes in phases for change in changes}
    assert len(outcomes) == len(plan.writes), "every write of the plan belongs to a phase"
    result = ApplyResult([outcomes[id(change)] for _name, changes in phases for change in changes])

    def finish(change: Change, error: ProxyError | None = None, message: str | None = None) -> None:
        outcome = outcomes[id(change)]
        outcome.status = "failed" if error or message else "done"
        outcome.error = message or (error.message if error else None)
        on_progress(outcome)
        if error is not None:
            raise _Stop(error.exit_code)

    try:
        with ProxyClient(settings) as proxy:
            for name, changes in phases:
                if name == "new keys":
                    _mint(settings, changes, result, finish)
                    continue
                for change in changes:
                    try:
                        raced = _write(proxy, name, change)
                    except ProxyError as error:
                        finish(change, error)
                    else:
                        finish(change, message=RACED if raced else None)
                        if raced:
                            raise _Stop(ExitCode.CONFLICT)
    except _Stop as stop:
        result.exit_code = stop.exit_code
    finally:
        if keys_file is not None and result.minted:
            result.keys_written = write_keys_file(keys_file, result.minted)
    return result


def _write(proxy: ProxyClient, phase: str, change: Change) -> bool:
    """One write; True when the object appeared since the plan (a team someone else created)."""
    from opsctl.admin import keys, models, teams

    if phase == "teams":
        if change.action == "create":
            return teams.create_team(proxy, team_request(change.name, change.desired)).status == "exists"
        else:
            teams.update_team(proxy, change.name, record_patch(change))
    elif phase == "models":
        if change.action == "update":
            models.update_model(proxy, change.name, model_patch(change))
        else:
            if change.action == "replace":
                models.delete_model(proxy, change.name)
            models.create_model(proxy, model_request(change.name, change.desired))
    elif phase == "keys":
        keys.update_key(proxy, change.live.token, record_patch(change))
    elif phase == "deleted keys":
        keys.revoke(proxy, [{"token": change.live.token}])
    elif phase == "deleted models":
        models.delete_model(proxy, change.name)
    elif phase == "deleted teams":
        teams.delete_teams(proxy, [change.name])
    return False


def _mint(settings: Settings, changes: list[Change], result: ApplyResult, finish) -> None:
    """Create the new keys concurrently; their plaintext goes to result.minted."""
    from opsctl.admin.keys import KeySpec, create_keys

    if not changes:
        return
    by_alias = {change.name: change for change in changes}
    specs = [KeySpec(f"key {change.name!r}", key_request(change.name, change.desired)) for change in changes]
    failed: ExitCode | None = None
    try:
        outcomes = create_keys(settings, specs, concurrency=KEY_CONCURRENCY)
    except OpsctlError as error:  # checking the teams or listing the aliases failed: nothing minted
        for change in changes:
            finish(change, message=error.message)
        raise _Stop(error.exit_code) from None
    for outcome in outcomes:
        change = by_alias[outcome.alias]
        if outcome.status == "created":
            result.minted.append(outcome)
            finish(change)
        else:
            failed = failed or (outcome.exit_code if outcome.error else ExitCode.CONFLICT)
            finish(change, message=outcome.error or RACED)
    if failed is not None:
        raise _Stop(failed)
