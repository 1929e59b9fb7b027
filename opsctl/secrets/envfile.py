"""Edit one KEY=value line of a dotenv file, every other byte kept as it was.

Nothing here knows which file holds which key: callers name the file and the
key. Reading goes through opsctl.files.read_private (a regular file we own,
mode 0600, size-capped); writing through write_atomic (a crash leaves the old
file or the new one, never a symlink followed, mode 0600).

A value opsctl writes is left bare when it is made of characters neither
python-dotenv nor Compose treat specially, single-quoted otherwise (no
`$` interpolation inside single quotes, for both); a value holding a single
quote or a line break is refused.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.files import read_private, write_atomic

MAX_ENV_BYTES = 1 << 20
BARE = re.compile(r"[A-Za-z0-9_./:@%+=~,?&\-]*")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _line(name: str) -> re.Pattern:
    return re.compile(rf"^(?P<lead>[ \t]*(?:export[ \t]+)?){re.escape(name)}[ \t]*=[ \t]*(?P<rest>[^\r\n]*)(?P<eol>\r?\n|\Z)",
                      re.MULTILINE)


def _value_span(match: re.Match) -> tuple[int, int]:
    """Where the value sits in its line: a quoted value to its closing quote, a bare one up to ` #` or the end."""
    start, rest = match.start("rest"), match.group("rest")
    if rest[:1] in ("'", '"'):
        return start, start + rest.find(rest[0], 1) + 1
    comment = re.search(r"[ \t]#", rest)
    end = comment.start() if comment else len(rest.rstrip(" \t"))
    return start, start + end


def read_text(path: Path) -> str:
    """The file's text; undecodable bytes survive a round trip (surrogateescape)."""
    return read_private(path, MAX_ENV_BYTES, what="env file").decode("utf-8", "surrogateescape")


def parse(text: str) -> dict[str, str]:
    """Every KEY=value as python-dotenv reads it (a bare `KEY=` is the empty string)."""
    from dotenv import dotenv_values

    return {k: v or "" for k, v in dotenv_values(stream=io.StringIO(text)).items()}


def quoted(name: str, value: str) -> str:
    if BARE.fullmatch(value):
        return value
    if "'" in value or "\n" in value or "\r" in value:
        raise OpsctlError(f"{name}: a value with a quote or a line break cannot be written to an env file", ExitCode.USAGE)
    return f"'{value}'"


def _one_line(text: str, name: str, path: Path) -> re.Match | None:
    matches = list(_line(name).finditer(text))
    if len(matches) > 1:
        raise OpsctlError(f"{path} sets {name} {len(matches)} times: keep one line and re-run", ExitCode.USAGE)
    if matches:
        value = matches[0].group("rest")
        if value[:1] in ("'", '"') and value.find(value[0], 1) == -1:
            raise OpsctlError(f"{path}: {name} spans several lines; write it on one line and re-run", ExitCode.USAGE)
    return matches[0] if matches else None


def with_value(text: str, name: str, value: str | None, path: Path) -> str:
    """`text` with NAME set to `value` (appended when absent), or its line removed (value None)."""
    if not NAME.fullmatch(name):
        raise ValueError(f"not a variable name: {name!r}")
    match = _one_line(text, name, path)
    if value is None:
        return text if match is None else text[: match.start()] + text[match.end():]
    if match is not None:
        start, end = _value_span(match)
        return text[:start] + quoted(name, value) + text[end:]
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    return f"{text}{name}={quoted(name, value)}{newline}"


def write_text(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8", "surrogateescape"), 0o600, what="the env file")
