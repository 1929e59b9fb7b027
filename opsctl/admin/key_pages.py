"""Every key through /key/list: page 1 says how many pages there are, and the
rest are fetched concurrently (a bounded number at a time), in page order."""

from __future__ import annotations

import asyncio
from typing import Any

from opsctl.admin.client import AsyncProxyClient
from opsctl.admin.keys import PAGE_SIZE, _gather_bounded, public_row
from opsctl.settings import Settings

MAX_PAGES = 10_000  # a million keys; beyond that the proxy's answer is not believed


def _page_count(answer: Any) -> int:
    total = answer.get("total_pages") if isinstance(answer, dict) else None
    return min(total, MAX_PAGES) if isinstance(total, int) and total > 0 else 1


def _rows(answer: Any) -> list[dict]:
    keys = answer.get("keys") if isinstance(answer, dict) else None
    return [row for row in keys if isinstance(row, dict)] if isinstance(keys, list) else []


async def _all_pages(settings: Settings, params: dict, concurrency: int) -> list[Any]:
    async with AsyncProxyClient(settings, max_connections=concurrency) as proxy:
        first = await proxy.get("/key/list", {**params, "page": 1})
        rest = range(2, _page_count(first) + 1)
        return [first, *await _gather_bounded(concurrency, (proxy.get("/key/list", {**params, "page": n}) for n in rest))]


def list_keys_paged(settings: Settings, team: str | None = None, alias: str | None = None, concurrency: int = 16) -> list[dict]:
    """Every key, filtered by team and/or alias; a key on two pages (the list moved) once."""
    params: dict[str, Any] = {"size": PAGE_SIZE, "return_full_object": "true"}
    if team:
        params["team_id"] = team
    if alias:
        params["key_alias"] = alias
    seen, rows = set(), []
    for answer in asyncio.run(_all_pages(settings, params, concurrency)):
        for row in map(public_row, _rows(answer)):
            if row.get("token") not in seen:
                seen.add(row.get("token"))
                rows.append(row)
    return rows
