"""Every key through /key/list: page 1 says how many pages there are, and the
rest are fetched concurrently (a bounded number at a time), in page order."""

from __future__ import annotations

import asyncio
from typing import Any

from opsctl.admin.client import AsyncProxyClient
from opsctl.admin.keys import PAGE_SIZE, _gather_bounded, checked_page, public_row
from opsctl.settings import Settings

def _page_count(answer: dict) -> int:
    return max(answer.get("total_pages") or 1, 1)  # checked_page: a whole number, at most MAX_PAGES


async def _all_pages(settings: Settings, params: dict, concurrency: int) -> list[Any]:
    async with AsyncProxyClient(settings, max_connections=concurrency) as proxy:
        async def page(number: int) -> dict:  # a wrong shape (or 10**12 pages) is one error, not silence
            return checked_page(proxy, await proxy.get("/key/list", {**params, "page": number}))

        first = await page(1)
        rest = range(2, _page_count(first) + 1)
        return [first, *await _gather_bounded(concurrency, (page(n) for n in rest))]


def list_keys_paged(settings: Settings, team: str | None = None, alias: str | None = None, concurrency: int = 16) -> list[dict]:
    """Every key, filtered by team and/or alias; a key on two pages (the list moved) once."""
    params: dict[str, Any] = {"size": PAGE_SIZE, "return_full_object": "true"}
    if team:
        params["team_id"] = team
    if alias:
        params["key_alias"] = alias
    seen, rows = set(), []
    for answer in asyncio.run(_all_pages(settings, params, concurrency)):
        for row in map(public_row, answer["keys"]):
            if row.get("token") not in seen:
                seen.add(row.get("token"))
                rows.append(row)
    return rows
