"""Benchmark: rotating the salt key of 10,000 deployments and 1,000 credentials.

Builds a scratch database with LiteLLM's real schema, seeds it through LiteLLM's
own encryption (3 encrypted values per deployment, 2 per credential: 32,000),
clones it, and times on identical data, side by side:
  - opsctl's rotation (opsctl.secrets.rotate.reencrypt: table locks, every value
    re-encrypted, one set-based UPDATE per column, every row read back and
    checked under the new key, one transaction);
  - one row at a time: SELECT ... FOR UPDATE, decrypt, encrypt, UPDATE, per row,
    with the same crypto, one transaction;
  - LiteLLM's own boot-time master-key migration (reencrypt_stored_values,
    litellm/proxy/db/master_key_migration.py: one guarded UPDATE per row), on one
    psycopg connection.
Fails (exit 1) if opsctl's rotation takes 5 s or more, or any copy does not read
back under the new key through LiteLLM's own decrypt.

    .venv/bin/python bench/salt_rotation.py
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the stdlib's `secrets`: take bench/ off the path before anything imports it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support holds the schema/seed helpers

import psycopg  # noqa: E402

from opsctl.db.connection import connect  # noqa: E402
from opsctl.secrets.crypto import Key  # noqa: E402
from opsctl.secrets.rotate import reencrypt  # noqa: E402
from opsctl.secrets.scan import NamedKey  # noqa: E402
from tests.secrets.support import prisma_sql, litellm_count, many_credentials, many_deployments  # noqa: E402
from tests.support.litellm_db import (  # noqa: E402
    TEST_SALT_KEY,
    create_database,
    create_litellm_database,
    drop_database,
    seed_credentials,
    seed_deployments,
    unique_name,
)

DEPLOYMENTS, CREDENTIALS = 10_000, 1_000
VALUES = DEPLOYMENTS * 3 + CREDENTIALS * 2
LIMIT_SECONDS = 5.0
NEW_SALT = "bench-new-salt-key-0123456789abcdef0123456789"
TABLES = (("LiteLLM_ProxyModelTable", "model_id", "litellm_params"),
          ("LiteLLM_CredentialsTable", "credential_id", "credential_values"))


def opsctl_rotation(url: str) -> int:
    with connect(url) as connection:
        result = reencrypt(connection, (NamedKey("salt_key", Key(TEST_SALT_KEY)),), NamedKey("new_salt_key", Key(NEW_SALT)))
    return result.reencrypted


def row_at_a_time(url: str) -> int:
    """The same change, one row per round trip: read and lock it, re-encrypt its strings, write it."""
    old, new, done = Key(TEST_SALT_KEY), Key(NEW_SALT), 0
    with psycopg.connect(url) as connection:
        for table, pk, column in TABLES:
            ids = [row[0] for row in connection.execute(f'SELECT "{pk}" FROM "{table}"').fetchall()]
            for row_id in ids:
                (params,) = connection.execute(f'SELECT "{column}" FROM "{table}" WHERE "{pk}" = %s FOR UPDATE',
                                               (row_id,)).fetchone()
                for name, value in params.items():
                    plaintext = old.decrypt(value) if isinstance(value, str) else None
                    if plaintext is not None:
                        params[name] = new.encrypt(plaintext)
                        done += 1
                connection.execute(f'UPDATE "{table}" SET "{column}" = %s::jsonb WHERE "{pk}" = %s',
                                   (json.dumps(params), row_id))
    return done


class OneConnection:
    """LiteLLM's SupportsRawQueries on one psycopg connection (autocommit, as Prisma's raw queries)."""

    def __init__(self, url: str):
        self.connection = psycopg.connect(url, autocommit=True)

    async def query_raw(self, query: str, *args):
        cursor = self.connection.execute(prisma_sql(query), args)
        names = [d.name for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    async def execute_raw(self, query: str, *args) -> int:
        return self.connection.execute(prisma_sql(query), args).rowcount


def litellm_migration(url: str) -> int:
    from litellm.proxy.db.master_key_migration import reencrypt_stored_values

    from tests.support.litellm_db import litellm_keys

    database = OneConnection(url)
    try:
        with litellm_keys(salt=None):  # encrypt_value_helper(plaintext, to_key) writes nacl under to_key
            return asyncio.run(reencrypt_stored_values(database, from_key=TEST_SALT_KEY, to_key=NEW_SALT))
    finally:
        database.connection.close()


def timed(function, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    count = function(url)
    return time.perf_counter() - started, count


def main() -> int:
    base = unique_name("opsctl_bench_secrets")
    copies = {name: unique_name(f"opsctl_bench_secrets_{name}") for name in ("opsctl", "rows", "litellm")}
    try:
        started = time.perf_counter()
        url = create_litellm_database(base)
        seed_deployments(url, many_deployments(DEPLOYMENTS))
        seed_credentials(url, many_credentials(CREDENTIALS))
        print(f"setup: schema + {DEPLOYMENTS} deployments + {CREDENTIALS} credentials ({VALUES} values) "
              f"in {time.perf_counter() - started:.1f} s")
        urls = {name: create_database(copy, template=base) for name, copy in copies.items()}

        ours, ours_count = timed(opsctl_rotation, urls["opsctl"])
        rows, rows_count = timed(row_at_a_time, urls["rows"])
        theirs, theirs_count = timed(litellm_migration, urls["litellm"])

        readable = {name: litellm_count(u, NEW_SALT) for name, u in urls.items()}
        print(f"opsctl rotate (set-based, verified):   {ours:.3f} s  {ours_count} values  (limit {LIMIT_SECONDS:.1f} s)")
        print(f"one row at a time (same crypto):       {rows:.3f} s  {rows_count} values")
        print(f"LiteLLM's master-key migration:        {theirs:.3f} s  {theirs_count} values")
        print(f"ratio one-row-at-a-time / opsctl:      {rows / ours:.1f}x")
        print(f"ratio LiteLLM migration / opsctl:      {theirs / ours:.1f}x")
        print(f"values LiteLLM opens with the new key: {readable}")
        ok = ours < LIMIT_SECONDS and all(count == VALUES for count in readable.values())
        return 0 if ok else 1
    finally:
        for name in (*copies.values(), base):
            drop_database(name)


if __name__ == "__main__":
    sys.exit(main())
