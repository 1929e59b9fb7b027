"""A LiteLLM database holding a secret of every shape, written by LiteLLM's own
helpers and read back through LiteLLM's own readers.

Shapes: each top-level string of a deployment's litellm_params and of a
credential's values (nacl and v2:gcm); Config environment_variables; a
guardrail's and a team's marked (litellm_enc::) values nested in JSON; an MCP
server's static_headers as one encrypted JSON string (encrypt_secret_map); an
MCP user credential as a text column; and, left alone, plaintext settings in
the same tables.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import psycopg

from tests.support.litellm_db import litellm_keys, load_credentials, load_deployments, seed_credentials, seed_deployments

DEPLOYMENTS = [
    {"model_id": "dep-nacl", "model_name": "chat-default",
     "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-upstream-nacl", "api_base": "https://a.example/v1",
                        "timeout": 30, "input_cost_per_token": 0.0000025, "tags": ["core", "eu"]}},
    {"model_id": "dep-env", "model_name": "chat-default",
     "litellm_params": {"model": "openai/gpt-4o", "api_key": "os.environ/OPSCTL_ESTATE_UPSTREAM_KEY"}},
]
GCM_DEPLOYMENTS = [
    {"model_id": "dep-gcm", "model_name": "deepseek-chat",
     "litellm_params": {"model": "deepseek/deepseek-chat", "api_key": "sk-upstream-gcm", "rpm": 100}},
]
CREDENTIALS = [
    {"credential_id": "cred-1", "credential_name": "openai-prod",
     "credential_values": {"api_key": "sk-cred-openai", "api_base": "https://api.openai.example/v1"},
     "credential_info": {"custom_llm_provider": "openai"}},
]
ENVIRONMENT = {"LANGFUSE_SECRET_KEY": "sk-lf-secret", "LANGFUSE_HOST": "https://lf.example"}
GENERAL_SETTINGS = {"alerting": ["slack"], "alerting_threshold": 300, "note": "plain text stays plain"}
GUARDRAIL_PARAMS = {"guardrail": "aporia", "mode": "pre_call", "api_key": "sk-guard", "api_base": "https://g.example"}
TEAM_METADATA = {"team_note": "plain", "logging": [{"callback_name": "langfuse", "callback_type": "success",
                 "callback_vars": {"langfuse_public_key": "pk-lf-1", "langfuse_secret_key": "sk-lf-team",
                                   "langfuse_host": "https://lf.example"}}]}
MCP_HEADERS = {"Authorization": "Bearer mcp-static-token"}
MCP_USER_CREDENTIAL = "ghp_user_token_for_mcp"

ENV_KEY = ("OPSCTL_ESTATE_UPSTREAM_KEY", "sk-from-the-environment")  # what dep-env's os.environ/ reference resolves to


@dataclass
class Estate:
    url: str

    def read(self, **keys) -> dict:
        """Every secret as LiteLLM's own readers return it under `keys` (a failed decrypt shows as ciphertext)."""
        from litellm.proxy._experimental.mcp_server.db import decode_secret_map
        from litellm.proxy.common_utils.callback_utils import decrypt_callback_vars
        from litellm.proxy.common_utils.encrypt_decrypt_utils import decrypt_value_helper
        from litellm.proxy.guardrails.guardrail_registry import decrypt_guardrail_litellm_params
        from litellm.proxy.proxy_server import ProxyConfig

        with psycopg.connect(self.url) as connection:
            one = lambda sql: connection.execute(sql).fetchone()[0]  # noqa: E731
            environment = one("""SELECT param_value FROM "LiteLLM_Config" WHERE param_name = 'environment_variables'""")
            general = one("""SELECT param_value FROM "LiteLLM_Config" WHERE param_name = 'general_settings'""")
            guardrail = one("""SELECT litellm_params FROM "LiteLLM_GuardrailsTable" WHERE guardrail_id = 'guard-1'""")
            team = one("""SELECT metadata FROM "LiteLLM_TeamTable" WHERE team_id = 'team-1'""")
            headers = one("""SELECT static_headers FROM "LiteLLM_MCPServerTable" WHERE server_id = 'mcp-1'""")
            user_credential = one("""SELECT credential_b64 FROM "LiteLLM_MCPUserCredentials" WHERE id = 'mcpcred-1'""")
        os.environ[ENV_KEY[0]] = ENV_KEY[1]
        loaded = load_deployments(self.url, **keys)
        with litellm_keys(**keys):
            return {
                # Only the fields seeded: LiteLLM_Params adds its defaults.
                "deployments": {i: {k: params.get(k) for k in _seeded(i)} for i, params in loaded.items()},
                "credentials": load_credentials(self.url, **keys),
                "environment": ProxyConfig().decrypt_db_variables(environment),
                "general_settings": general,
                "guardrail": decrypt_guardrail_litellm_params(guardrail),
                "team": decrypt_callback_vars(team),
                "mcp_headers": _or_error(lambda: decode_secret_map(headers, key="static_headers")),
                "mcp_user_credential": decrypt_value_helper(user_credential, key="credential_b64", exception_type="debug"),
            }


def _seeded(model_id: str) -> list[str]:
    return list(next(r for r in DEPLOYMENTS + GCM_DEPLOYMENTS if r["model_id"] == model_id)["litellm_params"])


def _or_error(read):
    try:
        return dict(read())
    except Exception as error:  # noqa: BLE001  # LiteLLM raises its own decode error type: record it
        return f"error: {type(error).__name__}"


def expected() -> dict:
    """What read() returns when every value decrypts (LiteLLM's readers resolve nothing else)."""
    deployments = {row["model_id"]: dict(row["litellm_params"]) for row in DEPLOYMENTS + GCM_DEPLOYMENTS}
    deployments["dep-env"]["api_key"] = ENV_KEY[1]
    return {
        "deployments": deployments,
        "credentials": {c["credential_name"]: c["credential_values"] for c in CREDENTIALS},
        "environment": ENVIRONMENT,
        "general_settings": GENERAL_SETTINGS,
        "guardrail": GUARDRAIL_PARAMS,
        "team": TEAM_METADATA,
        "mcp_headers": MCP_HEADERS,
        "mcp_user_credential": MCP_USER_CREDENTIAL,
    }


def seed_estate(url: str, **keys) -> Estate:
    """Every shape, encrypted by LiteLLM under `keys` (litellm_keys' arguments)."""
    from litellm.proxy._experimental.mcp_server.db import encrypt_secret_map
    from litellm.proxy.common_utils.callback_utils import encrypt_callback_vars
    from litellm.proxy.common_utils.encrypt_decrypt_utils import encrypt_value_helper
    from litellm.proxy.guardrails.guardrail_registry import encrypt_guardrail_litellm_params
    from litellm.proxy.proxy_server import ProxyConfig

    seed_deployments(url, DEPLOYMENTS, **keys)
    seed_deployments(url, GCM_DEPLOYMENTS, **keys, algorithm="aes-256-gcm")
    seed_credentials(url, CREDENTIALS, **keys)
    with litellm_keys(**keys):
        environment = ProxyConfig().encrypt_env_variables(dict(ENVIRONMENT))
        guardrail = encrypt_guardrail_litellm_params(GUARDRAIL_PARAMS)
        team = encrypt_callback_vars(TEAM_METADATA)
        headers = encrypt_secret_map(MCP_HEADERS)
        user_credential = encrypt_value_helper(MCP_USER_CREDENTIAL)
    with psycopg.connect(url) as connection:
        run = connection.execute
        run("""INSERT INTO "LiteLLM_Config" (param_name, param_value) VALUES
               ('environment_variables', %s::jsonb), ('general_settings', %s::jsonb)""",
            (json.dumps(environment), json.dumps(GENERAL_SETTINGS)))
        run("""INSERT INTO "LiteLLM_GuardrailsTable" (guardrail_id, guardrail_name, litellm_params, updated_at)
               VALUES ('guard-1', 'aporia-pre', %s::jsonb, now())""", (json.dumps(guardrail),))
        run("""INSERT INTO "LiteLLM_TeamTable" (team_id, metadata) VALUES ('team-1', %s::jsonb),
               ('team-plain', '{"note": "no secrets"}'::jsonb)""", (json.dumps(team),))
        run("""INSERT INTO "LiteLLM_MCPServerTable" (server_id, static_headers) VALUES ('mcp-1', %s::jsonb)""", (headers,))
        run("""INSERT INTO "LiteLLM_MCPUserCredentials" (id, user_id, server_id, credential_b64)
               VALUES ('mcpcred-1', 'user-1', 'mcp-1', %s)""", (user_credential,))
    return Estate(url)


def raw_columns(url: str) -> dict[str, list]:
    """table.column -> [(primary key, stored text)] of every inventory column: the bytes on disk."""
    from opsctl.secrets.inventory import COLUMNS

    out = {}
    with psycopg.connect(url) as connection:
        for c in COLUMNS:
            out[c.name] = connection.execute(
                f'SELECT "{c.primary_key}"::text, "{c.column}"::text FROM "{c.table}" ORDER BY 1').fetchall()
    return out
