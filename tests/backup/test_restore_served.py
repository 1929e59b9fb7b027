"""A backup of a live DB-backed LiteLLM proxy's database, restored into a fresh
database and served by a second real proxy (tests/support/db_proxy.py): a virtual
key minted before the backup works, and a DB model whose upstream key is a stored,
encrypted credential answers (the fake upstream refuses any other key)."""

from __future__ import annotations

import json
import textwrap
import uuid

import httpx
from click.testing import CliRunner

from opsctl.cli import cli
from tests.support.db_proxy import DB_RELOAD_SECONDS, start_db_proxy
from tests.support.litellm_db import seed_credentials, seed_deployments
from tests.support.upstream import Behavior

CREDENTIAL_KEY = "sk-upstream-restored-credential-789"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def chat(url: str, key: str, model: str) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}, timeout=60)


def test_a_restored_database_is_served_keys_work_credentials_decrypt(db_proxy, empty_database, tmp_path):
    tag = uuid.uuid4().hex[:8]  # the session proxy is shared: everything here is named uniquely
    upstream_model, model, credential = f"restored-{tag}", f"db-restored-{tag}", f"cred-restored-{tag}"
    db_proxy.upstream.behave(upstream_model, Behavior(api_key=CREDENTIAL_KEY))
    seed_credentials(db_proxy.database_url, [{"credential_name": credential, "credential_values": {"api_key": CREDENTIAL_KEY},
                                              "credential_info": {"custom_llm_provider": "openai"}}])
    seed_deployments(db_proxy.database_url, [{"model_name": model, "litellm_params": {
        "model": f"openai/{upstream_model}", "api_base": db_proxy.upstream.url + "/v1", "litellm_credential_name": credential}}])
    minted = httpx.post(db_proxy.url + "/key/generate", headers=db_proxy.headers(),
                        json={"key_alias": f"before-backup-{tag}"}, timeout=60)
    assert minted.status_code == 200, minted.text
    key = minted.json()["key"]

    archive = tmp_path / "gw.tar"
    created = run("--database-url", db_proxy.database_url, "backup", "create", "--no-stack", "-o", str(archive))
    assert created.exit_code == 0, created.stderr
    restored = run("--database-url", empty_database, "backup", "restore", str(archive), "--yes", "--json")
    assert restored.exit_code == 0, restored.stderr
    assert json.loads(restored.stdout)["row_counts"]["LiteLLM_CredentialsTable"] >= 1

    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(f"""\
        model_list: []
        general_settings:
          store_model_in_db: true
          proxy_config_reload_interval_seconds: {DB_RELOAD_SECONDS}
        """))
    before = len(db_proxy.upstream.keys_seen(upstream_model))
    with start_db_proxy(config, empty_database) as proxy:  # the same salt key as the source proxy
        answer = chat(proxy.url, key, model)
        assert answer.status_code == 200, answer.text
        assert httpx.get(proxy.url + "/key/info", params={"key": key}, headers={"Authorization": f"Bearer {proxy.master_key}"},
                         timeout=30).json()["info"]["key_alias"] == f"before-backup-{tag}"
        assert "Error decrypting" not in proxy.log_text()
    assert db_proxy.upstream.keys_seen(upstream_model)[before:] == [CREDENTIAL_KEY]
