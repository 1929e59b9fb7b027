"""Helpers for the secrets tests: LiteLLM's own migration counter over psycopg, and edits to stored values."""

from __future__ import annotations

import asyncio
import json

import psycopg


def prisma_sql(query: str) -> str:
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
            cursor = connection.execute(prisma_sql(query), args)
            names = [d.name for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    async def execute_raw(self, query: str, *args) -> int:
        with psycopg.connect(self.url) as connection:
            return connection.execute(prisma_sql(query), args).rowcount


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


class ArgvWatch:
    """Samples every process's command line (what `ps` shows) while the block runs; `seen` holds the secrets found."""

    def __init__(self, *secrets: str, interval: float = 0.01):
        import threading

        self.secrets = [s for s in secrets if s]
        self.seen: set[str] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(interval,), daemon=True)

    def _watch(self, interval: float) -> None:
        import os

        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        argv = handle.read().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                self.seen.update(s for s in self.secrets if s in argv)
            self.samples += 1
            self._stop.wait(interval)

    def __enter__(self) -> "ArgvWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


def many_deployments(count: int) -> list[dict]:
    return [{"model_name": f"tenant-{i % 50}-chat",
             "litellm_params": {"model": f"openai/model-{i}", "api_key": f"sk-upstream-{i}",
                                "api_base": f"https://upstream-{i % 7}.example/v1", "timeout": 600}}
            for i in range(count)]


def many_credentials(count: int) -> list[dict]:
    return [{"credential_name": f"cred-{i}", "credential_values": {"api_key": f"sk-cred-{i}", "api_base": "https://c.example"},
             "credential_info": {"custom_llm_provider": "openai"}} for i in range(count)]


def scram_matches(verifier: str, password: str) -> bool:
    """Whether a Postgres SCRAM-SHA-256 verifier (pg_authid.rolpassword) was made from `password` (RFC 5802)."""
    import base64
    import hashlib
    import hmac

    method, _, rest = verifier.partition("$")
    iterations_salt, _, keys = rest.partition("$")
    iterations, _, salt = iterations_salt.partition(":")
    stored_key, _, _server_key = keys.partition(":")
    if method != "SCRAM-SHA-256":
        return False
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), base64.b64decode(stored_key))
