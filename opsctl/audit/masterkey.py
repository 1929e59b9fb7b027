"""LiteLLM's own rule for an unsafe master key, mirrored without importing litellm.

Source: litellm/proxy/auth/master_key_boot_check.py (`_unsafe_reason` and
PUBLICLY_KNOWN_MASTER_KEY_SHA256_DIGESTS); a test keeps the two in step.
The proxy refuses to boot with such a key unless the override is on.
"""

from __future__ import annotations

import hashlib

PUBLICLY_KNOWN_MASTER_KEY_SHA256_DIGESTS = frozenset(
    {"88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"}  # sha256("sk-1234"), LiteLLM's docs key
)
OVERRIDE_SETTING = "dangerously_permit_weak_or_unset_master_key"
OVERRIDE_ENV_VAR = "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"


def unsafe_reason(master_key: str | None) -> str | None:
    """"not_set", "empty", "publicly_known", or None for a key LiteLLM accepts."""
    if master_key is None:
        return "not_set"
    stripped = master_key.strip()
    if not stripped:
        return "empty"
    if hashlib.sha256(stripped.encode()).hexdigest() in PUBLICLY_KNOWN_MASTER_KEY_SHA256_DIGESTS:
        return "publicly_known"
    return None
