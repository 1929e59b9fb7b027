"""LiteLLM's at-rest encryption, byte-compatible, without importing litellm.

Checked against litellm 1.108.7, `litellm/proxy/common_utils/encrypt_decrypt_utils.py`:

- the 32-byte key is sha256(LITELLM_SALT_KEY, or the master key when no salt
  key is set), one unsalted pass, for both formats (`_derive_key`);
- "nacl": PyNaCl SecretBox (XSalsa20-Poly1305), stored as urlsafe base64 of
  nonce(24) || box (`encrypt_value_helper`); read with urlsafe base64, falling
  back to standard base64 for old values (`_legacy_ciphertext_bytes`);
- "v2:gcm": AES-256-GCM, stored as "v2:gcm:" + urlsafe base64 of
  nonce(12) || ciphertext || tag(16), no associated data (`_encrypt_aes_gcm`).

`decrypt` answers exactly what LiteLLM's `decrypt_if_encrypted_with` answers:
the plaintext when the value is a ciphertext under the key, else None (a value
whose base64 decodes to no bytes is not a ciphertext, though LiteLLM's plain
decrypt would read it as ""). A `Key` derives its boxes once, so trying a key
on 100,000 values costs no hashing per value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import cached_property

NACL = "nacl"
GCM = "v2:gcm"
GCM_PREFIX = "v2:gcm:"
NACL_OVERHEAD = 24 + 16  # nonce + Poly1305 tag: the shortest nacl ciphertext, of ""
GCM_OVERHEAD = 12 + 16  # nonce + GCM tag
# urlsafe base64 of NACL_OVERHEAD bytes, unpadded: no shorter string can decrypt.
MIN_NACL_TEXT = (NACL_OVERHEAD * 4 + 2) // 3


class Key:
    """One signing key (the salt key or the master key) as LiteLLM derives it."""

    def __init__(self, signing_key: str):
        self._derived = hashlib.sha256(signing_key.encode()).digest()

    def __repr__(self) -> str:  # never the key
        return "Key(****)"

    @cached_property
    def _box(self):
        import nacl.secret

        return nacl.secret.SecretBox(self._derived)

    @cached_property
    def _gcm(self):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self._derived)

    def encrypt(self, plaintext: str, fmt: str = NACL) -> str:
        """A new ciphertext of `plaintext` in `fmt`, as LiteLLM stores it."""
        data = plaintext.encode("utf-8")
        if fmt == GCM:
            nonce = os.urandom(12)
            return GCM_PREFIX + base64.urlsafe_b64encode(nonce + self._gcm.encrypt(nonce, data, None)).decode()
        if fmt == NACL:
            return base64.urlsafe_b64encode(bytes(self._box.encrypt(data))).decode()
        raise ValueError(f"unknown format {fmt!r}")

    def decrypt(self, value: str) -> str | None:
        """The plaintext if `value` is a ciphertext under this key, else None."""
        if value.startswith(GCM_PREFIX):
            return self._open_gcm(value)
        if len(value) < MIN_NACL_TEXT:
            return None
        sealed = _legacy_bytes(value)
        if sealed is None or len(sealed) < NACL_OVERHEAD:
            return None
        return self._open_nacl(sealed)

    def _open_nacl(self, sealed: bytes) -> str | None:
        import nacl.exceptions

        try:
            return self._box.decrypt(sealed).decode("utf-8")
        except (nacl.exceptions.CryptoError, UnicodeDecodeError, ValueError):
            return None

    def _open_gcm(self, value: str) -> str | None:
        from cryptography.exceptions import InvalidTag

        try:
            sealed = base64.urlsafe_b64decode(value[len(GCM_PREFIX):])
        except (binascii.Error, ValueError):
            return None
        if len(sealed) < GCM_OVERHEAD:
            return None
        try:
            return self._gcm.decrypt(sealed[:12], sealed[12:], None).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError, ValueError):
            return None


def _legacy_bytes(value: str) -> bytes | None:
    """LiteLLM's decoding: urlsafe base64, else standard base64 (both skip stray characters)."""
    try:
        return base64.urlsafe_b64decode(value)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError):
        return None


def value_format(value: str) -> str:
    """The format a value is (or would be) in: "v2:gcm" by its prefix, else "nacl"."""
    return GCM if value.startswith(GCM_PREFIX) else NACL


def looks_encrypted(value: str) -> bool:
    """Shaped like a ciphertext: the v2:gcm: prefix, or strict base64 of at least a nacl box's overhead.

    Used only where LiteLLM stores nothing but ciphertexts, to tell a damaged
    or foreign ciphertext (named by `secrets status`) from a plaintext someone
    wrote there by hand (which LiteLLM passes through as it is).
    """
    if value.startswith(GCM_PREFIX):
        return True
    if len(value) < MIN_NACL_TEXT:
        return False
    for altchars in (b"-_", b"+/"):
        try:
            if len(base64.b64decode(value, altchars=altchars, validate=True)) >= NACL_OVERHEAD:
                return True
        except (binascii.Error, ValueError):
            continue
    return False
