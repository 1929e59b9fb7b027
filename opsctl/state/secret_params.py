"""Which litellm_params of a model are secrets, and the one form a secret takes in a state file.

LiteLLM's `/model/info` (litellm 1.108.7,
proxy/common_utils/openai_endpoint_utils.py remove_sensitive_info_from_deployment)
leaves out api_key, client_secret, vertex_credentials, vertex_ai_credentials,
aws_access_key_id and aws_secret_access_key, and masks every other param whose
name has a segment (split on `_` and `-`) in SENSITIVE_SEGMENTS, unless a
segment is `cost` (litellm_core_utils/sensitive_data_masker.py). None of them
can be read back, so opsctl treats them all as secrets: in a state file their
value is an `os.environ/NAME` reference (LiteLLM resolves it where the proxy
runs), never a literal.
"""

from __future__ import annotations

import re
from typing import Any

REMOVED = frozenset({"api_key", "client_secret", "vertex_credentials", "vertex_ai_credentials",
                     "aws_access_key_id", "aws_secret_access_key"})
SENSITIVE_SEGMENTS = frozenset({"password", "secret", "key", "token", "auth", "authorization", "cookie",
                                "credential", "credentials", "access", "private", "certificate",
                                "fingerprint", "tenancy"})
NOT_SENSITIVE_SEGMENTS = frozenset({"cost"})
# Params LiteLLM names like a secret but never masks (it passes them as excluded_keys).
NEVER_MASKED = frozenset({"litellm_credential_name", "default_api_key_tpm_limit", "default_api_key_rpm_limit"})
ENV_REF = re.compile(r"^os\.environ/[A-Za-z_][A-Za-z0-9_]*$")


def is_secret_param(name: str) -> bool:
    """True for a param LiteLLM never returns as it is stored."""
    if name in REMOVED:
        return True
    if name in NEVER_MASKED:
        return False
    return is_sensitive_name(name)


def is_sensitive_name(name: str) -> bool:
    """LiteLLM's masking rule for one key name (at any depth)."""
    segments = str(name).lower().replace("-", "_").split("_")
    if NOT_SENSITIVE_SEGMENTS & set(segments):
        return False
    return bool(SENSITIVE_SEGMENTS & set(segments))


def nested_secret(value: Any, path: str = "") -> str | None:
    """The path of the first secret-looking key inside a nested mapping or list, or None.

    LiteLLM masks such values in /model/info and resolves `os.environ/`
    references only at the top level of litellm_params, so a state file
    cannot carry them either way.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if is_sensitive_name(key):
                return where
            found = nested_secret(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nested_secret(item, f"{path}[{index}]")
            if found:
                return found
    return None
