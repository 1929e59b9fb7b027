"""Scratch Postgres databases with LiteLLM's real schema (a pytest plugin).

A session fixture builds a template database once by applying the migration
SQL shipped in litellm-proxy-extras (C-sorted folder order, psql, no single
transaction: some use CREATE INDEX CONCURRENTLY). Each test gets a fresh
clone (`CREATE DATABASE ... TEMPLATE`), dropped afterwards.

Rows are seeded and read back through LiteLLM's own encryption helpers, so
the strings in litellm_params are real ciphertext. The functions here are
also used by bench/overrides.py.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import psycopg
import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SERVER_URL = "postgresql://postgres@127.0.0.1:5432"
ADMIN_URL = f"{SERVER_URL}/postgres"
TEST_SALT_KEY = "sk-opsctl-test-salt-key-not-a-secret"


def database_url(name: str) -> str:
    return f"{SERVER_URL}/{name}"


def unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def migration_files() -> list[Path]:
    import litellm_proxy_extras

    root = Path(litellm_proxy_extras.__file__).parent / "migrations"
    # sorted() on str is code-point order, i.e. C collation, as Prisma applies them.
    return [root / name / "migration.sql" for name in sorted(os.listdir(root)) if (root / name / "migration.sql").is_file()]


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)


def create_database(name: str, template: str | None = None) -> str:
    clause = f' TEMPLATE "{template}"' if template else ""
    _admin(f'CREATE DATABASE "{name}"{clause}')
    return database_url(name)


def drop_database(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_litellm_database(name: str) -> str:
    """A new database with LiteLLM's schema, built from the migration SQL."""
    url = create_database(name)
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
    for path in migration_files():
        command += ["-f", str(path)]  # psql runs several -f in order, stopping at the first error
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        drop_database(name)
        raise RuntimeError(f"LiteLLM migrations failed on {name}: {result.stderr.strip()[-2000:]}")
    return url


@contextmanager
def litellm_keys(salt: str | None = TEST_SALT_KEY, master: str | None = None,
                 algorithm: str | None = None) -> Iterator[None]:
    """The keys LiteLLM's own helpers encrypt and decrypt with, for the block.

    LiteLLM reads LITELLM_SALT_KEY from the environment on every call (None
    here: unset), falls back to the proxy's module-level master_key, and picks
    the format of new ciphertexts from general_settings["encryption_algorithm"]
    ("aes-256-gcm": v2:gcm; unset: nacl).
    """
    previous = os.environ.get("LITELLM_SALT_KEY")
    if salt is None:
        os.environ.pop("LITELLM_SALT_KEY", None)
    else:
        os.environ["LITELLM_SALT_KEY"] = salt
    server = None
    if master is not None or algorithm is not None:
        from litellm.proxy import proxy_server as server

        saved = server.master_key, server.general_settings.get("encryption_algorithm")
        if master is not None:
            server.master_key = master
        if algorithm is not None:
            server.general_settings["encryption_algorithm"] = algorithm
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("LITELLM_SALT_KEY", None)
        else:
            os.environ["LITELLM_SALT_KEY"] = previous
        if server is not None:
            server.master_key = saved[0]
            if saved[1] is None:
                server.general_settings.pop("encryption_algorithm", None)
            else:
                server.general_settings["encryption_algorithm"] = saved[1]


def salt_key():
    """LiteLLM's helpers under the test salt key."""
    return litellm_keys(TEST_SALT_KEY)


def seed_deployments(database_url: str, rows: list[dict], **keys) -> list[str]:
    """Insert deployments as LiteLLM's /model/new stores them; returns their model_ids.

    Each row: model_name, litellm_params (plaintext; every string value is
    encrypted with LiteLLM's encrypt_value_helper), optional model_id and
    model_info. One INSERT for all rows, so 10,000 rows seed in seconds.
    `keys`: litellm_keys' arguments (default: the test salt key, nacl).
    """
    import json

    from litellm.proxy.common_utils.encrypt_decrypt_utils import encrypt_value_helper

    with litellm_keys(**keys):
        params = [
            json.dumps({k: encrypt_value_helper(v) if isinstance(v, str) else v for k, v in row["litellm_params"].items()})
            for row in rows
        ]
    ids = [row.get("model_id") or str(uuid.uuid4()) for row in rows]
    with psycopg.connect(database_url) as connection:
        connection.execute(
            """
            INSERT INTO "LiteLLM_ProxyModelTable"
                (model_id, model_name, litellm_params, model_info, created_by, updated_by, updated_at)
            SELECT id, name, params::jsonb, info::jsonb, 'seed', 'seed', now() AT TIME ZONE 'UTC'
            FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS s(id, name, params, info)
            """,
            (ids, [row["model_name"] for row in rows], params, [json.dumps(row.get("model_info", {})) for row in rows]),
        )
    return ids


def raw_rows(database_url: str) -> dict[str, tuple]:
    """model_id -> (litellm_params as stored text, updated_at, updated_by): the bytes on disk."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            'SELECT model_id, litellm_params::text, updated_at, updated_by FROM "LiteLLM_ProxyModelTable"'
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def load_deployments(database_url: str, **keys) -> dict[str, dict]:
    """model_id -> litellm_params as the proxy loads DB models (decrypt_model_list_from_db), under `keys`."""
    from litellm.proxy.proxy_server import ProxyConfig

    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            'SELECT model_id, model_name, litellm_params, model_info FROM "LiteLLM_ProxyModelTable"'
        ).fetchall()
    models = [
        SimpleNamespace(model_id=i, model_name=n, litellm_params=p, model_info=info or {}) for i, n, p, info in rows
    ]
    with litellm_keys(**keys):
        loaded = ProxyConfig().decrypt_model_list_from_db(models)
    return {m["model_info"]["id"]: m["litellm_params"] for m in loaded}


def seed_credentials(database_url: str, rows: list[dict], **keys) -> list[str]:
    """Insert credentials as LiteLLM's /credentials stores them (encrypt_credential_values); their ids.

    Each row: credential_name, credential_values (plaintext), optional credential_info.
    """
    import json

    from litellm.proxy.credential_endpoints.endpoints import CredentialHelperUtils
    from litellm.types.utils import CredentialItem

    with litellm_keys(**keys):
        encrypted = [
            CredentialHelperUtils.encrypt_credential_values(
                CredentialItem(credential_name=row["credential_name"], credential_values=row["credential_values"],
                               credential_info=row.get("credential_info", {})))
            for row in rows
        ]
    ids = [row.get("credential_id") or str(uuid.uuid4()) for row in rows]
    with psycopg.connect(database_url) as connection:
        connection.execute(
            """
            INSERT INTO "LiteLLM_CredentialsTable"
                (credential_id, credential_name, credential_values, credential_info, created_by, updated_by)
            SELECT id, name, vals::jsonb, info::jsonb, 'seed', 'seed'
            FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS s(id, name, vals, info)
            """,
            (ids, [c.credential_name for c in encrypted], [json.dumps(c.credential_values) for c in encrypted],
             [json.dumps(c.credential_info or {}) for c in encrypted]),
        )
    return ids


def load_credentials(database_url: str, **keys) -> dict[str, dict]:
    """credential_name -> credential_values as the proxy decrypts them (ProxyConfig.decrypt_credentials)."""
    from litellm.proxy.proxy_server import ProxyConfig

    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            'SELECT credential_name, credential_values, credential_info FROM "LiteLLM_CredentialsTable"'
        ).fetchall()
    with litellm_keys(**keys):
        config = ProxyConfig()
        return {
            name: config.decrypt_credentials({"credential_name": name, "credential_values": values,
                                              "credential_info": info or {}}).credential_values
            for name, values, info in rows
        }


@pytest.fixture(scope="session")
def litellm_template() -> Iterator[str]:
    """Name of a database holding LiteLLM's migrated schema, built once per session."""
    name = unique_name("opsctl_tmpl")
    create_litellm_database(name)
    yield name
    drop_database(name)


@pytest.fixture
def litellm_db(litellm_template) -> Iterator[str]:
    """URL of a fresh database with LiteLLM's schema and no rows, dropped after the test."""
    name = unique_name("opsctl_test")
    url = create_database(name, template=litellm_template)
    yield url
    drop_database(name)


@pytest.fixture
def empty_database() -> Iterator[str]:
    """URL of a fresh database with no schema at all (a restore or migrate target), dropped after the test."""
    name = unique_name("opsctl_empty")
    url = create_database(name)
    yield url
    drop_database(name)
