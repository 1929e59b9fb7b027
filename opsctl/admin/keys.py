"""Virtual keys through the LiteLLM admin API: create (one or many), list, info, revoke.

Creating is idempotent by alias: an alias that exists is reported and
skipped, unless `rotate` asks to revoke it and mint a new key. Bulk runs
go through the same path with bounded concurrency; a row that failed is
created by the next run, and rows that succeeded are skipped then.

A plaintext key exists only in a KeyResult's `key` field (kept out of its
repr) and wherever the caller prints or writes it, once.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from opsctl.errors import ExitCode, OpsctlError
from opsctl.files import open_private_append
from opsctl.admin.drift import KEY_FIELDS, FieldChange, compare
from opsctl.admin.client import (MAX_PAGES, AsyncProxyClient, ProxyClient, ProxyError, bad_field, list_of, object_with,
                                 optional, text, whole_number)
from opsctl.settings import Settings

PAGE_SIZE = 100  # the most /key/list serves per page
HASH = re.compile(r"^[0-9a-f]{64}$")
MINTED_KEY = re.compile(r"^sk-[A-Za-z0-9_\-]{8,200}$")
ALIAS_TAKEN = "already exists"
# What `keys list` and `keys info` show of a key row: never key_name (a key fragment).
LIST_FIELDS = ("token", "key_alias", "team_id", "models", "rpm_limit", "tpm_limit",
               "max_budget", "budget_duration", "spend", "expires", "blocked", "metadata", "created_at")


# The fields of a /key/list or /key/info row that opsctl computes with; the rest is only shown.
KEY_ROW = {"token": text, "key_alias": optional(text), "team_id": optional(text), "models": optional(list_of(text))}
KEY_PAGE = {"keys": list_of(object_with(KEY_ROW)), "total_pages": optional(whole_number(0, MAX_PAGES))}


def checked_page(proxy, answer: Any) -> dict:
    """A /key/list answer whose keys and total_pages opsctl can rely on."""
    why = bad_field(answer, KEY_PAGE)
    if why:
        if isinstance(answer, dict) and isinstance(answer.get("total_pages"), int) and answer["total_pages"] > MAX_PAGES:
            why = f"total_pages {answer['total_pages']} (opsctl reads at most {MAX_PAGES} pages)"
        raise proxy.wrong_shape("GET", "/key/list", why)
    return answer


def key_hash(key_or_hash: str) -> str:
    """The sha256 hex that LiteLLM stores for a key; a hash is returned as it is."""
    value = key_or_hash.strip()
    if value.startswith("sk-"):
        return hashlib.sha256(value.encode()).hexdigest()
    if HASH.match(value):
        return value
    raise OpsctlError("expected an sk- key or its 64-character sha256 hash", ExitCode.USAGE)


def public_row(row: dict) -> dict:
    return {name: row.get(name) for name in LIST_FIELDS}


@dataclass(frozen=True)
class KeySpec:
    where: str  # "option" or "FILE:line" for messages
    request: dict  # the /key/generate body; holds no secret

    @property
    def alias(self) -> str | None:
        return self.request.get("key_alias")


@dataclass
class KeyResult:
    where: str
    alias: str | None
    status: str  # created | rotated | exists | would-create | would-rotate | failed | unknown
    token_id: str | None = None
    drift: list[FieldChange] | None = None  # exists: what differs from what was asked (never written)
    error: str | None = None
    exit_code: ExitCode = ExitCode.FAILED  # of the error, for a single key's exit status
    key: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "unknown")

    def public(self) -> dict:
        """Everything but the plaintext key."""
        out = {"where": self.where, "alias": self.alias, "status": self.status, "token_id": self.token_id, "error": self.error}
        if self.drift is not None:
            out["drift"] = [change.to_json("asked") for change in self.drift]
        return out


class KeyFile:
    """`--output FILE`: CSV rows alias,key,token_id appended as each key is minted, mode 0600.

    Created without following a symlink; an existing file is trusted only when
    it is a regular file we own with mode 0600 (opsctl.files.open_private_append).
    """

    HEADER = ("alias", "key", "token_id")

    def __init__(self, path: str | Path):
        self.path = Path(path)
        binary, created = open_private_append(self.path, "key file")
        self._handle = io.TextIOWrapper(binary, encoding="utf-8", newline="", write_through=True)
        self._writer = csv.writer(self._handle)
        if created or os.fstat(binary.fileno()).st_size == 0:
            self._writer.writerow(self.HEADER)

    def write(self, result: KeyResult) -> None:
        self._writer.writerow((result.alias or "", result.key, result.token_id))
        self._handle.flush()  # a key minted is a key written, even if the run dies next

    def close(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()


def check_teams(proxy: ProxyClient, team_ids: set[str]) -> None:
    """Fail before anything is minted if a team does not exist (LiteLLM would mint anyway)."""
    from opsctl.admin.teams import get_team

    for team_id in sorted(team_ids):
        if get_team(proxy, team_id) is None:
            raise OpsctlError(
                f"team {team_id!r} does not exist; create it first: opsctl teams create --team-id {team_id}",
                ExitCode.USAGE,
            )


async def _gather_bounded(limit: int, jobs) -> list:
    semaphore = asyncio.Semaphore(limit)

    async def run(job):
        async with semaphore:
            return await job

    return await asyncio.gather(*(run(job) for job in jobs))


async def existing_aliases(proxy: AsyncProxyClient, aliases: list[str], concurrency: int) -> dict[str, dict]:
    """alias -> the key's row (public_row) for the aliases that exist already.

    One page tells how many keys the proxy holds: when scanning them all
    takes fewer requests than asking alias by alias, scan; otherwise ask.
    """
    wanted = set(aliases)
    if not wanted:
        return {}
    params = {"size": PAGE_SIZE, "return_full_object": "true"}

    async def page(extra: dict) -> dict:
        return checked_page(proxy, await proxy.get("/key/list", {**params, **extra}))

    first = await page({"page": 1})
    total = first.get("total_pages") or 1
    if total - 1 <= len(wanted):
        pages = [first, *await _gather_bounded(concurrency, (page({"page": n}) for n in range(2, total + 1)))]
    else:
        pages = await _gather_bounded(concurrency, (page({"page": 1, "key_alias": a}) for a in sorted(wanted)))
    found = {}
    for answer in pages:
        for row in answer["keys"]:
            if row.get("key_alias") in wanted:
                found[row["key_alias"]] = public_row(row)
    return found


# LiteLLM mints "sk-" + secrets.token_urlsafe(16); anything else (ESC sequences included) is not a key we print.
GENERATED = {"key": lambda value: isinstance(value, str) and MINTED_KEY.match(value) is not None, "token_id": optional(text)}


async def _revoke_hashes(proxy: AsyncProxyClient, hashes: list[str]) -> None:
    try:
        await proxy.post("/key/delete", {"keys": hashes}, idempotent=True)
    except ProxyError as error:
        if error.status != 404:  # already gone is what we wanted
            raise


async def _mint(proxy: AsyncProxyClient, spec: KeySpec, existing: dict[str, dict], rotate: bool, dry_run: bool) -> KeyResult:
    alias = spec.alias
    row = existing.get(alias) if alias else None
    old = row["token"] if row else None
    if row and not rotate:
        return KeyResult(spec.where, alias, "exists", token_id=old, drift=compare(row, spec.request, KEY_FIELDS))
    if dry_run:
        return KeyResult(spec.where, alias, "would-rotate" if old else "would-create", token_id=old)
    try:
        if old:
            await _revoke_hashes(proxy, [old])
        answer = await proxy.post("/key/generate", spec.request, idempotent=False)
        why = bad_field(answer, GENERATED)
        if why:
            raise proxy.wrong_shape("POST", "/key/generate", why, ambiguous=True)
    except ProxyError as error:
        if error.status == 400 and ALIAS_TAKEN in error.detail:  # created meanwhile by someone else
            return KeyResult(spec.where, alias, "exists")
        if error.ambiguous:
            hint = "; check `opsctl keys list --alias` and re-run with --rotate if it exists" if alias else ""
            return KeyResult(spec.where, alias, "unknown", error=error.message + hint, exit_code=error.exit_code)
        return KeyResult(spec.where, alias, "failed", error=error.message, exit_code=error.exit_code)
    return KeyResult(spec.where, alias, "rotated" if old else "created", token_id=answer.get("token_id"), key=answer.get("key"))


async def _create_all(settings, specs, rotate, dry_run, concurrency, on_result) -> list[KeyResult]:
    async with AsyncProxyClient(settings, max_connections=concurrency) as proxy:
        aliases = [spec.alias for spec in specs if spec.alias]
        existing = await existing_aliases(proxy, aliases, concurrency)

        async def one(spec: KeySpec) -> KeyResult:
            result = await _mint(proxy, spec, existing, rotate, dry_run)
            on_result(result)
            return result

        return await _gather_bounded(concurrency, (one(spec) for spec in specs))


def create_keys(
    settings: Settings,
    specs: list[KeySpec],
    *,
    rotate: bool = False,
    dry_run: bool = False,
    concurrency: int = 16,
    on_result: Callable[[KeyResult], None] = lambda result: None,
) -> list[KeyResult]:
    """Create every spec (teams checked first); one KeyResult per spec, in order."""
    teams = {spec.request["team_id"] for spec in specs if spec.request.get("team_id")}
    if teams:
        with ProxyClient(settings) as proxy:
            check_teams(proxy, teams)
    return asyncio.run(_create_all(settings, specs, rotate, dry_run, concurrency, on_result))


def list_keys(proxy: ProxyClient, team: str | None = None, alias: str | None = None) -> list[dict]:
    """Every key (page by page), filtered by team and/or alias."""
    params: dict[str, Any] = {"size": PAGE_SIZE, "return_full_object": "true"}
    if team:
        params["team_id"] = team
    if alias:
        params["key_alias"] = alias
    rows = []
    for page in range(1, MAX_PAGES + 1):
        answer = checked_page(proxy, proxy.get("/key/list", {**params, "page": page}))
        rows += [public_row(row) for row in answer["keys"]]
        if page >= (answer.get("total_pages") or 0) or not answer["keys"]:
            break
    return rows


def get_key(proxy: ProxyClient, token: str) -> dict | None:
    """The key's row by hash (so a plaintext key never goes on the wire), or None."""
    try:
        answer = proxy.get("/key/info", {"key": token})
    except ProxyError as error:
        if error.status == 404:
            return None
        raise
    why = bad_field(answer, {"info": object_with({name: check for name, check in KEY_ROW.items() if name != "token"})})
    if why:
        raise proxy.wrong_shape("GET", "/key/info", why)
    info = answer["info"]
    if info.get("status") == "deleted":  # LiteLLM answers revoked keys from its archive
        return None
    return {"token": token, **{name: info.get(name) for name in LIST_FIELDS if name != "token"}, "status": info.get("status")}


def key_info(proxy: ProxyClient, key_or_hash: str) -> dict:
    token = key_hash(key_or_hash)
    row = get_key(proxy, token)
    if row is None:
        raise OpsctlError(f"no key with hash {token[:12]}…", ExitCode.FAILED)
    return row


def find_targets(proxy: ProxyClient, keys: list[str], aliases: list[str]) -> tuple[list[dict], list[str]]:
    """Rows to revoke, and the targets that matched nothing (shown as hash prefix or alias)."""
    found, missing = [], []
    for token in (key_hash(key) for key in keys):
        row = get_key(proxy, token)
        if row is None:
            missing.append(f"{token[:12]}…")
        else:
            found.append(row)
    for alias in aliases:
        rows = list_keys(proxy, alias=alias)
        if rows:
            found += rows
        else:
            missing.append(alias)
    unique = {row["token"]: row for row in found}
    return list(unique.values()), missing


def update_key(proxy: ProxyClient, token: str, fields: dict) -> None:
    """POST /key/update by hash: a merge patch (a field left out keeps its value,
    an explicit null clears it; `metadata` replaces the stored metadata)."""
    proxy.post("/key/update", {"key": token, **fields}, idempotent=True)


def revoke(proxy: ProxyClient, rows: list[dict]) -> None:
    """Delete by hash; a key that is already gone counts as revoked."""
    try:
        proxy.post("/key/delete", {"keys": [row["token"] for row in rows]}, idempotent=True)
    except ProxyError as error:
        if error.status != 404:
            raise
