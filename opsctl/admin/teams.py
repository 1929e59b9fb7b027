"""Teams through the LiteLLM admin API: create (with the policy's team defaults), list, info.

With a caller-chosen team id, creating is idempotent: an id that exists is
reported, not changed, and a retried POST cannot make a second team
because LiteLLM refuses a duplicate id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opsctl.errors import ExitCode, OpsctlError
from opsctl.admin.drift import TEAM_FIELDS, FieldChange, compare
from opsctl.admin.client import ProxyClient, ProxyError, bad_field, list_of, object_with, optional, text

# checked option (key_rows.normalize) -> /team/new field
REQUEST_FIELDS = {
    "alias": "team_alias",
    "models": "models",
    "max_budget": "max_budget",
    "budget_duration": "budget_duration",
    "rpm": "rpm_limit",
    "tpm": "tpm_limit",
    "metadata": "metadata",
}
SHOWN_FIELDS = ("team_id", "team_alias", "models", "rpm_limit", "tpm_limit", "max_budget",
                "budget_duration", "spend", "blocked", "metadata", "created_at")
ID_TAKEN = "already exists"
# The fields opsctl computes with; the rest of a team is only shown.
TEAM = {"team_id": text, "models": optional(list_of(text))}
TEAM_KEY = object_with({"key_alias": optional(text), "token": optional(text)})
TEAM_INFO = {"team_info": object_with(TEAM), "keys": optional(list_of(TEAM_KEY))}
LISTED_TEAM = {**TEAM, "keys": optional(lambda value: isinstance(value, list))}


def build_team_request(defaults: dict[str, Any], options: dict[str, Any], team_id: str | None = None) -> dict[str, Any]:
    """The /team/new body: the policy's team defaults, then the options that were given."""
    body = dict(defaults)
    if team_id:
        body["team_id"] = team_id
    for name, value in options.items():
        body[REQUEST_FIELDS[name]] = value
    return body


def shown(team: dict) -> dict:
    return {name: team.get(name) for name in SHOWN_FIELDS}


def get_team(proxy: ProxyClient, team_id: str) -> dict | None:
    """/team/info's answer for a team, or None when it does not exist."""
    try:
        answer = proxy.get("/team/info", {"team_id": team_id})
    except ProxyError as error:
        if error.status == 404:
            return None
        raise
    why = bad_field(answer, TEAM_INFO)
    if why:
        raise proxy.wrong_shape("GET", "/team/info", why)
    return answer


@dataclass(frozen=True)
class TeamResult:
    status: str  # created | exists | would-create
    team: dict
    request: dict
    drift: list[FieldChange] = field(default_factory=list)  # exists: what differs from the request (never written)

    def public(self) -> dict:
        out = {"status": self.status, "team": shown(self.team), "request": self.request}
        if self.status == "exists":
            out["drift"] = [change.to_json("asked") for change in self.drift]
        return out


def create_team(proxy: ProxyClient, request: dict, dry_run: bool = False) -> TeamResult:
    team_id = request.get("team_id")
    if team_id:
        found = get_team(proxy, team_id)
        if found is not None:
            return TeamResult("exists", found["team_info"], request, compare(found["team_info"], request, TEAM_FIELDS))
    if dry_run:
        return TeamResult("would-create", dict(request), request)
    try:
        # Safe to retry only with a fixed id: a duplicate id is refused, never a second team.
        team = proxy.post("/team/new", request, idempotent=bool(team_id))
    except ProxyError as error:
        if team_id and error.status == 400 and ID_TAKEN in error.detail:
            found = get_team(proxy, team_id)
            team = found["team_info"] if found else {}
            return TeamResult("exists", team, request, compare(team, request, TEAM_FIELDS) if found else [])
        raise
    why = bad_field(team, TEAM)
    if why:
        raise proxy.wrong_shape("POST", "/team/new", why, ambiguous=not team_id)
    return TeamResult("created", team, request)


def list_teams(proxy: ProxyClient) -> list[dict]:
    answer = proxy.get("/team/list")
    if not isinstance(answer, list):
        raise proxy.wrong_shape("GET", "/team/list", f"JSON {type(answer).__name__ if answer is not None else 'null'} instead of a list")
    for team in answer:
        why = bad_field(team, LISTED_TEAM)
        if why:
            raise proxy.wrong_shape("GET", "/team/list", f"a team with {why}" if isinstance(team, dict) else why)
    return [{**shown(team), "keys": len(team.get("keys") or [])} for team in answer]


def team_info(proxy: ProxyClient, team_id: str) -> dict:
    found = get_team(proxy, team_id)
    if found is None:
        raise OpsctlError(f"no team with id {team_id!r}", ExitCode.FAILED)
    keys = [{"key_alias": key.get("key_alias"), "token": key.get("token")} for key in found.get("keys") or []]
    return {**shown(found["team_info"]), "keys": keys}


def update_team(proxy: ProxyClient, team_id: str, fields: dict) -> None:
    """POST /team/update: a merge patch like /key/update (explicit null clears a field)."""
    proxy.post("/team/update", {"team_id": team_id, **fields}, idempotent=True)


def delete_teams(proxy: ProxyClient, team_ids: list[str]) -> None:
    """POST /team/delete. LiteLLM deletes the teams' keys with them: callers check first.
    A team that is already gone counts as deleted."""
    try:
        proxy.post("/team/delete", {"team_ids": team_ids}, idempotent=True)
    except ProxyError as error:
        if error.status != 404:
            raise
