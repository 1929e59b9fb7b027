"""Text that came from a server (or a file) made safe to print.

Every message, table cell or JSON string that carries server-provided text goes
through `safe_text`: known secrets are replaced however the server quoted them
(raw, JSON-escaped, URL-encoded, repr-escaped), so are any plaintext `sk-` key
and the password of any URL, and terminal control sequences are dropped so a
hostile server cannot move the cursor, retitle the terminal or hide a line.
Rich markup is a separate concern: see opsctl.output.
"""

from __future__ import annotations

import json
import re
from typing import Iterable
from urllib.parse import quote

MASK = "****"
SK_KEY = re.compile(r"sk-[A-Za-z0-9_\-]+")
# scheme://user:password@host -> scheme://user:****@host
URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)(?P<password>[^\s@/]+)(?=@)")
# ESC/CSI/OSC sequences, then any C0/C1 control character but tab and newline.
ANSI = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]?")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _spellings(secret: str) -> set[str]:
    """The ways a server may have quoted a secret back."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        repr(secret)[1:-1],
    } - {""}


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Replace each secret (in every spelling), plaintext sk- keys and URL passwords."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        for spelling in sorted(_spellings(secret), key=len, reverse=True):
            text = text.replace(spelling, MASK)
    text = URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return SK_KEY.sub("sk-" + MASK, text)


def strip_control(text: str) -> str:
    """Drop terminal escape sequences and control characters (tab and newline stay)."""
    return CONTROL.sub("", ANSI.sub("", text))


def safe_text(text: object, secrets: Iterable[str | None] = (), limit: int | None = None) -> str:
    """Server-provided text, redacted and printable, cut to `limit` characters."""
    cleaned = strip_control(redact(str(text), secrets))
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: max(0, limit - 1)] + "…"
    return cleaned
