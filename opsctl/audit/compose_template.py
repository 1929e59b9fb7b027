"""Compose's variable substitution, ported from compose-go v2.9.1 (template/template.go), the one Compose v2.40 uses.

`$$` is a literal `$`; `$VAR` and `${VAR}`; `${VAR:-default}` / `${VAR-default}`
(empty or unset / unset), `${VAR:+alt}` / `${VAR+alt}`, `${VAR:?err}` /
`${VAR?err}` (Compose refuses the project), defaults themselves interpolated.
An unset variable without a default becomes "" (Compose warns). `lookup`
returns None for an unset variable; `used` collects every variable read, so
evidence can say where a value really came from.
"""

from __future__ import annotations

import re
from typing import Callable

_PATTERN = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](?:.*))?)\}|(?P<invalid>)))",
    re.IGNORECASE,
)
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")

Lookup = Callable[[str], "str | None"]


class TemplateError(ValueError):
    """Compose refuses the value: a required variable is missing, or the template is invalid."""


def _first_brace_close(text: str) -> int:
    depth, index = 0, 0
    while index < len(text):
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        if text[index] == "{":
            depth += 1
            index += 1
        index += 1
    return -1


def _operator(substitution: str) -> str:
    """The operator that appears first in the text (compose-go sorts by position; ties keep the list order)."""
    found = [(substitution.index(op), order, op) for order, op in enumerate(_OPERATORS) if op in substitution]
    return min(found)[2] if found else ""


def _apply(substitution: str, lookup: Lookup, used: set[str]) -> tuple[str, bool]:
    """(value, applied) for a braced substitution with an operator; applied is False when it has none."""
    operator = _operator(substitution)
    if not operator:
        return "", False
    name, _, rest = substitution.partition(operator)
    rest = substitute(rest, lookup, used)
    used.add(name)
    value = lookup(name)
    if operator in (":?", "?"):
        if value is None or (operator == ":?" and value == ""):
            reason = f": {rest}" if rest else ""
            raise TemplateError(f"required variable {name} is missing a value{reason}")
        return value, True
    if operator in (":-", "-"):
        if value is None or (operator == ":-" and value == ""):
            return rest, True
        return value, True
    if value is not None and (operator == "+" or value != ""):  # :+ and +
        return rest, True
    return value or "", True


def _replacement(match_text: str, lookup: Lookup, used: set[str]) -> str:
    close = _first_brace_close(match_text)
    rest = ""
    if close > -1:
        rest = match_text[close + 1:]
        match_text = match_text[: close + 1]
    match = _PATTERN.match(match_text)
    if match is None:
        raise TemplateError(f"invalid interpolation format: {match_text}")
    if match.group("escaped"):
        return "$"
    substitution = match.group("named")
    braced = False
    if not substitution:
        substitution = match.group("braced")
        braced = True
    if not substitution:
        raise TemplateError("invalid interpolation format (you may need to escape any $ with another $)")
    if braced:
        value, applied = _apply(substitution, lookup, used)
        if applied:
            return value + substitute(rest, lookup, used)
    used.add(substitution)
    value = lookup(substitution)
    return value or ""


def substitute(template: str, lookup: Lookup, used: set[str] | None = None) -> str:
    """`template` with every variable replaced, as Compose does it; TemplateError when Compose would refuse it."""
    used = used if used is not None else set()
    return _PATTERN.sub(lambda m: _replacement(m.group(0), lookup, used), template)
