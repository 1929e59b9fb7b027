"""Where LiteLLM keeps encrypted values in its Postgres: opsctl's own list.

It mirrors `_SECRET_COLUMNS` of litellm 1.108.7
(`litellm/proxy/db/master_key_migration.py`, the columns LiteLLM's own
master-key migration re-encrypts); tests/secrets/test_inventory.py fails when
the installed LiteLLM lists anything else, so an upgrade that adds an
encrypted column cannot be skipped silently. opsctl does not import litellm at
run time, hence the copy.

As in LiteLLM, every string anywhere in a listed column that decrypts under a
key is one encrypted value (after the `litellm_enc::` marker some writers put
in front). `strict` names where LiteLLM writes nothing but ciphertexts, so a
string there that is shaped like one and decrypts under neither key is a
damaged or foreign value, not a plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass

MARKER = "litellm_enc::"  # litellm/proxy/common_utils/callback_utils.py CALLBACK_VAR_ENCRYPTED_PREFIX

# Where every string must be a ciphertext.
TOP_LEVEL = "top-level"  # each string value of the top-level JSON object
WHOLE = "whole"  # the column itself, when it is one string (a text column, or a JSON string)
NONE = "none"  # nowhere but marked or v2:gcm: strings


@dataclass(frozen=True)
class SecretColumn:
    table: str
    primary_key: str
    column: str
    is_json: bool = True
    only_rows_with_marked_ciphertexts: bool = False  # as LiteLLM: scan only rows whose text holds the marker
    strict: str = NONE
    strict_rows: tuple[str, ...] = ()  # with strict: only rows with these primary keys ("" = all)

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


COLUMNS: tuple[SecretColumn, ...] = (
    # /model/new and /model/update encrypt every top-level string of litellm_params.
    SecretColumn("LiteLLM_ProxyModelTable", "model_id", "litellm_params", strict=TOP_LEVEL),
    # /credentials encrypts every credential value.
    SecretColumn("LiteLLM_CredentialsTable", "credential_id", "credential_values", strict=TOP_LEVEL),
    # Only the environment_variables row is all ciphertexts; the other settings rows are plaintext.
    SecretColumn("LiteLLM_Config", "param_name", "param_value", strict=TOP_LEVEL, strict_rows=("environment_variables",)),
    SecretColumn("LiteLLM_GuardrailsTable", "guardrail_id", "litellm_params", only_rows_with_marked_ciphertexts=True),
    SecretColumn("LiteLLM_SSOConfig", "id", "sso_settings"),
    SecretColumn("LiteLLM_CacheConfig", "id", "cache_settings"),
    SecretColumn("LiteLLM_ConfigOverrides", "config_type", "config_value"),
    SecretColumn("LiteLLM_MCPServerTable", "server_id", "credentials"),
    # encrypt_secret_map stores the whole map as one ciphertext, a JSON string (an object there is legacy plaintext).
    SecretColumn("LiteLLM_MCPServerTable", "server_id", "static_headers", strict=WHOLE),
    SecretColumn("LiteLLM_MCPServerTable", "server_id", "env_vars"),
    SecretColumn("LiteLLM_MCPServerTable", "server_id", "env", strict=WHOLE),
    SecretColumn("LiteLLM_MCPServerOAuthClient", "server_id", "credentials"),
    SecretColumn("LiteLLM_MCPUserCredentials", "id", "credential_b64", is_json=False, strict=WHOLE),
    SecretColumn("LiteLLM_MCPUserEnvVars", "id", "values_b64", is_json=False, strict=WHOLE),
    SecretColumn("LiteLLM_SSOIdentityAssertion", "user_id", "assertion_b64", is_json=False, strict=WHOLE),
    SecretColumn("LiteLLM_SearchToolsTable", "search_tool_id", "litellm_params"),
    SecretColumn("LiteLLM_TeamTable", "team_id", "metadata", only_rows_with_marked_ciphertexts=True),
    SecretColumn("LiteLLM_VerificationToken", "token", "metadata", only_rows_with_marked_ciphertexts=True),
    SecretColumn("LiteLLM_UserTable", "user_id", "metadata", only_rows_with_marked_ciphertexts=True),
    SecretColumn("LiteLLM_DeletedTeamTable", "id", "metadata", only_rows_with_marked_ciphertexts=True),
    SecretColumn("LiteLLM_DeletedVerificationToken", "id", "metadata", only_rows_with_marked_ciphertexts=True),
)

# Tables written on every request (spend, budgets): rotation locks their marked
# rows, not the whole table, so traffic keeps flowing while it runs.
BUSY_TABLES = frozenset(c.table for c in COLUMNS if c.only_rows_with_marked_ciphertexts) - {"LiteLLM_GuardrailsTable"}


def tables() -> list[str]:
    """Each table once, in inventory order (the order rotation locks them in)."""
    return list(dict.fromkeys(c.table for c in COLUMNS))
