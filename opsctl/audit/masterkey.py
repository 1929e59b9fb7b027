"""LiteLLM's own rule for an unsafe master key, mirrored without importing litellm, and our strength rule on top.

Source: litellm/proxy/auth/master_key_boot_check.py (`_unsafe_reason` and
PUBLICLY_KNOWN_MASTER_KEY_SHA256_DIGESTS); a test keeps the two in step.
The proxy refuses to boot with such a key unless the override is on. LiteLLM
accepts any other key, even "x"; `weakness` is the audit's stricter rule for
the master and the salt key: at least MIN_LENGTH characters after an `sk-`
prefix, and at least MIN_BITS of entropy estimated as length x the Shannon
entropy of its characters (`sk-$(openssl rand -hex 32)` has about 250).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter

PUBLICLY_KNOWN_MASTER_KEY_SHA256_DIGESTS = frozenset(
    {"88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"}  # sha256("sk-1234"), LiteLLM's docs key
)
OVERRIDE_SETTING = "dangerously_permit_weak_or_unset_master_key"
OVERRIDE_ENV_VAR = "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"
MIN_LENGTH = 32
MIN_BITS = 128


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


def entropy_bits(secret: str) -> float:
    """Length x Shannon entropy per character: a ceiling on the key's randomness (repeats and patterns lower it)."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return per_char * len(secret)


def weakness(secret: str) -> str | None:
    """Why a key is too weak to trust (None when it is strong enough); never shows the key."""
    body = secret.strip()
    body = body[3:] if body.startswith("sk-") else body
    if len(body) < MIN_LENGTH:
        return f"{len(body)} characters{' after sk-' if secret.strip().startswith('sk-') else ''}, fewer than {MIN_LENGTH}"
    bits = entropy_bits(body)
    if bits < MIN_BITS:
        return f"about {bits:.0f} bits of entropy, fewer than {MIN_BITS} (too few distinct characters)"
    return None
