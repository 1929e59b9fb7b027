"""Helpers for the secrets tests: LiteLLM's own migration counter over psycopg, and edits to stored values."""

from __future__ import annotations

import asyncio
import json

import psycopg


def _sql(query: str) -> str:
    """Prisma's $1.. placeholders as psycopg's %s (a literal % doubled)."""
    query = query.replace("%", "%%")
    for number in range(9, 0, -1):
        query = query.replace(f"${number}", "%s")
    return query


class RawQueries:
    """LiteLLM's SupportsRawQueries (what its master-key migration runs on) over a psycopg connection."""

    def __init__(self, url: str):
        self.url = url

    async def query_raw(self, query: str, *args):
        with psycopg.connect(self.url) as connection:
            cursor = connection.execute(_sql(query), args)
            names = [d.name for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    async def execute_raw(self, query: str, *args) -> int:
        with psycopg.connect(self.url) as connection:
            return connection.execute(_sql(query), args).rowcount


def litellm_count(url: str, key: str) -> int:
    """How many stored values LiteLLM's own migration finds encrypted with `key`."""
    from litellm.proxy.db.master_key_migration import count_values_encrypted_with

    return asyncio.run(count_values_encrypted_with(RawQueries(url), key))


def set_param(url: str, model_id: str, name: str, value: str) -> None:
    """Put a raw string into a deployment's litellm_params, as a hand-written SQL edit would."""
    with psycopg.connect(url) as connection:
        connection.execute("""UPDATE "LiteLLM_ProxyModelTable" SET litellm_params = litellm_params || %s::jsonb
                              WHERE model_id = %s""", (json.dumps({name: value}), model_id))


def get_param(url: str, model_id: str, name: str) -> str:
    with psycopg.connect(url) as connection:
        return connection.execute("""SELECT litellm_params->>%s FROM "LiteLLM_ProxyModelTable" WHERE model_id = %s""",
                                  (name, model_id)).fetchone()[0]


def damaged(value: str) -> str:
    middle = len(value) // 2
    return value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1:]
