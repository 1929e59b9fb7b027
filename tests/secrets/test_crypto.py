"""opsctl's crypto is LiteLLM's, byte for byte: LiteLLM encrypts, opsctl decrypts, and
the reverse, in both formats; both agree on what is not a ciphertext under a key."""

from __future__ import annotations

import base64

import pytest

from opsctl.secrets.crypto import GCM, NACL, Key, looks_encrypted, value_format
from tests.support.litellm_db import litellm_keys

KEY = "sk-opsctl-crypto-test-key-0123456789abcdef"
OTHER = "sk-some-other-key"
PLAINTEXTS = ["sk-upstream-1234", "", "ünïcødé ✓", "os.environ/OPENAI_API_KEY", "x" * 5000]
ALGORITHMS = {NACL: None, GCM: "aes-256-gcm"}


def litellm_encrypt(plaintext: str, fmt: str) -> str:
    from litellm.proxy.common_utils.encrypt_decrypt_utils import encrypt_value_helper

    with litellm_keys(salt=KEY, algorithm=ALGORITHMS[fmt]):
        return encrypt_value_helper(plaintext)


def litellm_decrypt(value: str, key: str = KEY) -> str | None:
    from litellm.proxy.common_utils.encrypt_decrypt_utils import decrypt_if_encrypted_with

    return decrypt_if_encrypted_with(value, key)


@pytest.mark.parametrize("fmt", [NACL, GCM])
@pytest.mark.parametrize("plaintext", PLAINTEXTS, ids=["key", "empty", "unicode", "env-ref", "long"])
def test_litellm_encrypts_opsctl_decrypts(fmt, plaintext):
    ciphertext = litellm_encrypt(plaintext, fmt)
    assert value_format(ciphertext) == fmt
    assert ciphertext.startswith("v2:gcm:") == (fmt == GCM)
    assert Key(KEY).decrypt(ciphertext) == plaintext
    assert Key(OTHER).decrypt(ciphertext) is None


@pytest.mark.parametrize("fmt", [NACL, GCM])
@pytest.mark.parametrize("plaintext", PLAINTEXTS, ids=["key", "empty", "unicode", "env-ref", "long"])
def test_opsctl_encrypts_litellm_decrypts(fmt, plaintext):
    from litellm.proxy.common_utils.encrypt_decrypt_utils import decrypt_value_helper

    ciphertext = Key(KEY).encrypt(plaintext, fmt)
    assert value_format(ciphertext) == fmt
    assert litellm_decrypt(ciphertext) == plaintext
    assert litellm_decrypt(ciphertext, OTHER) is None
    with litellm_keys(salt=KEY):  # the proxy's own read path, keyed by LITELLM_SALT_KEY
        assert decrypt_value_helper(ciphertext, key="api_key", return_original_value=True) == plaintext


def test_same_layout_as_litellm():
    """Same lengths and alphabet: nacl is urlsafe base64 of nonce(24)+tag(16)+text, gcm of nonce(12)+text+tag(16)."""
    for fmt, overhead in ((NACL, 40), (GCM, 28)):
        ours, theirs = Key(KEY).encrypt("abc", fmt), litellm_encrypt("abc", fmt)
        assert len(ours) == len(theirs)
        body = ours.removeprefix("v2:gcm:")
        assert len(base64.urlsafe_b64decode(body)) == overhead + 3


def test_old_standard_base64_nacl_values_still_open():
    """LiteLLM falls back to standard base64 for values written before it switched to urlsafe."""
    import nacl.secret
    import hashlib

    box = nacl.secret.SecretBox(hashlib.sha256(KEY.encode()).digest())
    for attempt in range(200):  # until the standard alphabet shows a + or /
        legacy = base64.b64encode(bytes(box.encrypt(f"old-{attempt}".encode()))).decode()
        if "+" in legacy or "/" in legacy:
            break
    assert litellm_decrypt(legacy) == f"old-{attempt}"
    assert Key(KEY).decrypt(legacy) == f"old-{attempt}"


def _damaged(value: str) -> str:
    middle = len(value) // 2
    return value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1:]


ODD_VALUES = {
    "empty": "", "star": "*", "plain": "openai/gpt-4o", "number text": "30", "url": "https://api.example/v1",
    "marker only": "v2:gcm:", "gcm garbage": "v2:gcm:!!!!", "gcm short": "v2:gcm:" + base64.urlsafe_b64encode(b"x" * 20).decode(),
    "base64 of 39 bytes": base64.urlsafe_b64encode(b"y" * 39).decode(),
    "base64 of 64 bytes": base64.urlsafe_b64encode(b"z" * 64).decode(),
    "non-ascii": "ciphertext✓" * 10,
}


@pytest.mark.parametrize("name", ODD_VALUES)
def test_odd_values_are_not_ciphertexts_for_either(name):
    value = ODD_VALUES[name]
    assert litellm_decrypt(value) is None
    assert Key(KEY).decrypt(value) is None


@pytest.mark.parametrize("fmt", [NACL, GCM])
def test_damaged_and_truncated_ciphertexts_open_for_neither(fmt):
    good = litellm_encrypt("sk-upstream", fmt)
    for bad in (_damaged(good), good[:-8], good[: len(good) // 2]):
        assert litellm_decrypt(bad) is None
        assert Key(KEY).decrypt(bad) is None


def test_looks_encrypted_tells_a_damaged_ciphertext_from_a_plaintext():
    assert looks_encrypted(_damaged(litellm_encrypt("sk-upstream", NACL)))
    assert looks_encrypted(_damaged(litellm_encrypt("sk-upstream", GCM)))
    for plain in ("sk-live-1234", "https://api.example/v1", "openai/gpt-4o", "30", "sk-proj-" + "x" * 70 + "."):
        assert not looks_encrypted(plain), plain
    # The limit of telling by shape: a plaintext that is itself strict base64 of 40+ bytes.
    assert looks_encrypted("x" * 80)


def test_a_key_never_shows_itself():
    assert KEY not in repr(Key(KEY)) and KEY not in str(Key(KEY))
