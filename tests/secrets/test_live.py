"""The rotations against a real DB-backed LiteLLM proxy (tests/support/db_proxy.py).

The proxy restart is played by the test (stop, start with the new .env values),
as compose does for the stack; opsctl's own checks then run against the new
process: the DB model probe, and for the master key the accept/refuse proof.
The upstream requires each model's api key and records the key it saw.
"""

from __future__ import annotations

import textwrap

import httpx
import pytest

from opsctl.secrets.proxy import check_master_keys, probe_db_model
from opsctl.settings import load_settings
from tests.secrets.conftest import write_env
from tests.support.db_proxy import DB_RELOAD_SECONDS, start_db_proxy
from tests.support.litellm_db import TEST_SALT_KEY, create_database, drop_database, seed_credentials, seed_deployments, unique_name
from tests.support.upstream import Behavior, run_upstream

MASTER_KEY = "sk-opsctl-live-master-0123456789abcdef"
MODEL_KEY, CREDENTIAL_KEY = "sk-upstream-model-key-123", "sk-upstream-credential-key-456"


@pytest.fixture
def live(tmp_path, litellm_template):
    """A scratch database with a DB model (its own key) and a model using a DB credential; the upstream."""
    name = unique_name("opsctl_live")
    url = create_database(name, template=litellm_template)
    with run_upstream() as upstream:
        upstream.behave("model-with-key", Behavior(api_key=MODEL_KEY))
        upstream.behave("model-with-credential", Behavior(api_key=CREDENTIAL_KEY))
        base = upstream.url + "/v1"
        seed_deployments(url, [
            {"model_id": "live-key", "model_name": "db-model",
             "litellm_params": {"model": "openai/model-with-key", "api_base": base, "api_key": MODEL_KEY}},
            {"model_id": "live-cred", "model_name": "db-credential-model",
             "litellm_params": {"model": "openai/model-with-credential", "api_base": base,
                                "litellm_credential_name": "live-credential"}},
        ])
        seed_credentials(url, [{"credential_name": "live-credential", "credential_values": {"api_key": CREDENTIAL_KEY},
                                "credential_info": {"custom_llm_provider": "openai"}}])
        config = tmp_path / "config.yaml"
        config.write_text(textwrap.dedent(f"""\
            model_list: []
            general_settings:
              store_model_in_db: true
              proxy_config_reload_interval_seconds: {DB_RELOAD_SECONDS}
            """))
        stack = tmp_path / "stack"
        stack.mkdir()
        write_env(stack, f"LITELLM_MASTER_KEY={MASTER_KEY}\nLITELLM_SALT_KEY={TEST_SALT_KEY}\n")
        try:
            yield url, upstream, config, stack
        finally:
            drop_database(name)


def chat(proxy_url: str, key: str, model: str) -> httpx.Response:
    return httpx.post(proxy_url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}, timeout=60)


def opsctl(stack, url, *args):
    from click.testing import CliRunner

    from opsctl.cli import cli

    return CliRunner().invoke(cli, ["--stack-dir", str(stack), "--database-url", url, *args])


def env_of(stack) -> dict:
    from opsctl.secrets import envfile

    return envfile.parse((stack / ".env").read_text())


def test_db_models_and_a_db_credential_are_served_before_and_after_rotate_salt(live):
    url, upstream, config, stack = live
    with start_db_proxy(config, url, master_key=MASTER_KEY, env={"LITELLM_SALT_KEY": TEST_SALT_KEY}) as proxy:
        assert chat(proxy.url, MASTER_KEY, "db-model").status_code == 200
        assert chat(proxy.url, MASTER_KEY, "db-credential-model").status_code == 200
    result = opsctl(stack, url, "secrets", "rotate-salt", "--yes", "--no-restart")
    assert result.exit_code == 0, result.output
    new_salt = env_of(stack)["LITELLM_SALT_KEY"]

    upstream.requests.clear()
    with start_db_proxy(config, url, master_key=MASTER_KEY, env={"LITELLM_SALT_KEY": new_salt}) as proxy:
        settings = load_settings({"proxy_url": proxy.url, "master_key": MASTER_KEY}, environ={})
        probe = probe_db_model(settings, "db-model")
        assert probe.passed, probe.detail
        assert chat(proxy.url, MASTER_KEY, "db-credential-model").status_code == 200
        assert "Error decrypting" not in proxy.log_text()
    assert set(upstream.keys_seen("model-with-key")) == {MODEL_KEY}
    assert upstream.keys_seen("model-with-credential") == [CREDENTIAL_KEY]


def test_rotate_master_key_new_accepted_old_refused_virtual_key_still_works(live):
    url, upstream, config, stack = live
    with start_db_proxy(config, url, master_key=MASTER_KEY, env={"LITELLM_SALT_KEY": TEST_SALT_KEY}) as proxy:
        minted = httpx.post(proxy.url + "/key/generate", headers={"Authorization": f"Bearer {MASTER_KEY}"},
                            json={"key_alias": "opsctl-live-rotation"}, timeout=30)
        assert minted.status_code == 200, minted.text
        virtual_key = minted.json()["key"]
        assert chat(proxy.url, virtual_key, "db-model").status_code == 200
    result = opsctl(stack, url, "secrets", "rotate-master-key", "--yes", "--no-restart")
    assert result.exit_code == 0, result.output
    new_master = env_of(stack)["LITELLM_MASTER_KEY"]
    assert new_master != MASTER_KEY and env_of(stack)["LITELLM_SALT_KEY"] == TEST_SALT_KEY

    with start_db_proxy(config, url, master_key=new_master, env={"LITELLM_SALT_KEY": TEST_SALT_KEY}) as proxy:
        settings = load_settings({"proxy_url": proxy.url}, environ={})
        check_master_keys(settings, new_master, MASTER_KEY)  # raises unless new accepted and old refused
        assert chat(proxy.url, virtual_key, "db-model").status_code == 200  # a hash: untouched by the rotation
        assert chat(proxy.url, MASTER_KEY, "db-model").status_code == 401
