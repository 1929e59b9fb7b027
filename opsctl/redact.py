"""Text that came from a server (or a file) made safe to print.

Every message, table cell or JSON string that carries server-provided text goes
through `safe_text`: known secrets are replaced however the server quoted them
(raw, JSON-escaped, URL-encoded, repr-escaped), so are any plaintext `sk-` key
and the password of any URL, and terminal control sequences are dropped so a
hostile server cannot move the cursor, retitle the terminal or hide a line.
Names (model names, aliases, team ids) are data, not text to clean:
`visible` shows their control characters as escapes instead of dropping them,
so what is printed is what is stored. Rich markup is a separate concern: see
opsctl.output. `scrub` redacts the secrets in a whole decoded JSON answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "****"
SK_KEY = re.compile(r"sk-[A-Za-z0-9_\-]+")
# scheme://user:password@host -> scheme://user:****@host
# (a "/" may be part of the password: libpq and urlsplit would read such a URL differently, and both must be masked)
URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)(?P<password>[^\s@]+)(?=@)")
# ESC/CSI/OSC sequences, then any C0/C1 control character but tab and newline.
ANSI = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]?")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# What `visible` escapes: every control character, tab and newline too (one name, one line).
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _spellings(secret: str) -> set[str]:
    """The ways a server may have quoted a secret back."""
    from html import escape as html_escape  # here: html.entities is a large import `opsctl status` never needs

    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        repr(secret)[1:-1],
        html_escape(secret),
    } - {""}


def _all_spellings(secrets: Iterable[str | None]) -> list[str]:
    """Every spelling of every secret worth hiding, longest first (so no part of one survives)."""
    spellings = {spelling for s in secrets if s and len(s) >= 4 for spelling in _spellings(s)}
    return sorted(spellings, key=len, reverse=True)


def _replace(text: str, spellings: list[str]) -> str:
    for spelling in spellings:
        if spelling in text:
            text = text.replace(spelling, MASK)
    return text


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Replace each secret (in every spelling), plaintext sk- keys and URL passwords."""
    text = _replace(text, _all_spellings(secrets))
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


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object, keep_newlines: bool = False) -> str:
    """Text with every control character (ESC, CR, bidi overrides, ...) shown as an escape like \\x1b."""
    shown = str(text)
    if keep_newlines:
        return "\n".join(UNPRINTABLE.sub(_escape, line) for line in shown.split("\n"))
    return UNPRINTABLE.sub(_escape, shown)


def scrub(value, secrets: Iterable[str | None], raw: str | bytes | None = None):
    """A decoded JSON value with every secret (in any spelling) replaced in its strings and keys.

    `raw`, the JSON text it was decoded from, lets a clean answer skip the walk: without a
    backslash its strings are pieces of that text, so no spelling absent from it is in them.
    """
    spellings = _all_spellings(secrets)
    if not spellings:
        return value
    if raw is not None:
        text = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        if b"\\" not in text and not any(spelling.encode("utf-8", "surrogatepass") in text for spelling in spellings):
            return value

    def walk(item):
        if isinstance(item, str):
            return _replace(item, spellings)
        if isinstance(item, list):
            return [walk(element) for element in item]
        if isinstance(item, dict):
            return {walk(key): walk(element) for key, element in item.items()}
        return item

    return walk(value)
