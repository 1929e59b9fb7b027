"""Compose's dotenv format, ported from compose-go v2.9.1 (dotenv/parser.go), with the line of every variable.

Compose reads the project's `.env` and every `env_file:` with this parser,
not python-dotenv's: `KEY=value`, `KEY: value`, `export KEY=value`; a bare
`KEY` line takes KEY from the lookup; unquoted values end at ` #` and are
interpolated; double quotes interpolate and unescape; single quotes are literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from opsctl.audit.compose_template import TemplateError, substitute

_EXPORT = re.compile(r"^export\s+")
_ESCAPES = re.compile(r'(\\(?:[abcfnrtv$"\\]|0\d{0,3}))')
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}
_SPACE = "\t\v\f\r \x85\xa0"


class DotenvError(ValueError):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Assignment:
    name: str
    value: str
    line: int
    used: frozenset[str]  # variables the value was interpolated from


def _unescape(text: str) -> str:
    def one(match: re.Match) -> str:
        escape = match.group(0)
        if escape == "\\$":
            return "$$"
        if escape.startswith("\\0"):
            digits = escape[2:]
            return chr(int(digits, 8)) if digits else "\0"
        return _SIMPLE_ESCAPES.get(escape[1], escape)

    return _ESCAPES.sub(one, text)


def parse_dotenv(text: str, lookup: Callable[[str], "str | None"] = lambda name: None,
                 initial: dict[str, str] | None = None, inherit_from_output: bool = False) -> list[Assignment]:
    """Every assignment in order (later ones win), as compose-go's parser makes them.

    `${NAME}` resolves through `lookup` first, then what is already parsed (starting
    from `initial`); a bare `NAME` line through `lookup` only, or also through what is
    already parsed when `inherit_from_output` (the project `.env` does that).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    out: dict[str, str] = dict(initial or {})
    found: list[Assignment] = []
    line = 1
    rest = text

    def resolve(name: str) -> str | None:
        value = lookup(name)
        return value if value is not None else out.get(name)

    while True:
        # skip blanks and comment lines
        while True:
            stripped = rest.lstrip(" \t\n\v\f\r\x85\xa0")
            line += rest[: len(rest) - len(stripped)].count("\n")
            rest = stripped
            if not rest.startswith("#"):
                break
            newline = rest.find("\n")
            if newline == -1:
                rest = ""
                break
            rest = rest[newline:]
        if not rest:
            break
        statement_line = line
        if _EXPORT.match(rest):
            rest = rest[len("export"):].lstrip(_SPACE)
        key, inherited, offset = None, False, 0
        for index, char in enumerate(rest):
            if char in _SPACE:
                continue
            if char in "=:\n":
                key, offset, inherited = rest[:index], index + 1, char == "\n"
                break
            if char in "_.-[]" or char.isalpha() or char.isdigit():
                continue
            raise DotenvError(f"line {line}: unexpected character {char!r} in variable name {rest.splitlines()[0]!r}", line)
        if key is None:  # a last line with no = (compose-go reads it as the value of an empty name)
            key, offset = "", 0
        if inherited and " " not in key:
            line += 1
        key = key.rstrip()
        if " " in key:
            raise DotenvError(f"line {statement_line}: key cannot contain a space", statement_line)
        rest = rest[offset:].lstrip(_SPACE)
        if inherited:
            value = lookup(key)
            if value is None and inherit_from_output:
                value = out.get(key)
            if value is not None:
                out[key] = value
                found.append(Assignment(key, value, statement_line, frozenset()))
            continue
        used: set[str] = set()
        quote = rest[:1] if rest[:1] in ("'", '"') else ""
        try:
            if not quote:
                value, _, rest = rest.partition("\n")
                line += 1
                value = value.split(" #", 1)[0].rstrip(" \t\n\v\f\r\x85\xa0")
                value = substitute(value, resolve, used)
            else:
                value, rest, line = _quoted(rest, quote, line, statement_line)
                if quote == '"':
                    value = substitute(_unescape(value), resolve, used)
        except TemplateError as error:
            raise DotenvError(f"line {statement_line}: {error}", statement_line) from None
        out[key] = value
        found.append(Assignment(key, value, statement_line, frozenset(used)))
    return [a for a in found if not a.name[:1].isdigit()]  # compose ignores keys starting with a digit


def _quoted(text: str, quote: str, line: int, statement_line: int) -> tuple[str, str, int]:
    chars: list[str] = []
    escaped = False
    for index in range(1, len(text)):
        char = text[index]
        if char == "\n":
            line += 1
        if char != quote:
            if not escaped and char == "\\":
                escaped = True
                continue
            if escaped:
                escaped = False
                chars.append("\\")
            chars.append(char)
            continue
        if escaped:
            escaped = False
            chars.append(char)
            continue
        return "".join(chars), text[index + 1:], line
    raise DotenvError(f"line {statement_line}: unterminated quoted value", statement_line)
