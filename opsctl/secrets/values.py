"""The strings inside one stored column value, and the value with some replaced.

A JSON column is parsed with its numbers kept exact (Decimal) and written back
with the same numbers, so re-encrypting a row changes its ciphertexts and
nothing else. Strings are found at any depth up to LiteLLM's
DEFAULT_MAX_RECURSE_DEPTH (100), the depth its own migration walks to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator

from opsctl.secrets.crypto import GCM_PREFIX
from opsctl.secrets.inventory import MARKER, TOP_LEVEL, WHOLE, SecretColumn

MAX_DEPTH = 100
Path = tuple  # of dict keys and list indexes, from the column's top


@dataclass(frozen=True)
class Leaf:
    path: Path
    marker: str  # "litellm_enc::" or ""
    text: str  # the string without the marker: a ciphertext, or a plaintext
    strict: bool  # LiteLLM stores only ciphertexts here (or it is marked / v2:gcm:)


def parse_json(text: str):
    return json.loads(text, parse_float=Decimal)


def dump_json(value) -> str:
    """JSON text of a parse_json value, numbers exactly as they were read."""
    if isinstance(value, str):
        return json.dumps(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dump_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dump_json(v) for v in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def format_path(path: Path) -> str:
    """$.api_key, $.logging[0].callback_vars.key: where a value sits in its column."""
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def leaves(column: SecretColumn, primary_key: str, value) -> Iterator[Leaf]:
    """Every non-empty string in a stored value (a text column's value is one string)."""
    strict_row = not column.strict_rows or primary_key in column.strict_rows

    def walk(node, path: Path, depth: int) -> Iterator[Leaf]:
        if depth > MAX_DEPTH:
            return
        if isinstance(node, str):
            if not node:
                return
            marker = MARKER if node.startswith(MARKER) else ""
            text = node[len(marker):]
            if not text:
                return
            strict = bool(marker) or text.startswith(GCM_PREFIX) or (
                strict_row and ((column.strict == TOP_LEVEL and len(path) == 1 and isinstance(path[0], str))
                                or (column.strict == WHOLE and not path)))
            yield Leaf(path, marker, text, strict)
        elif isinstance(node, dict):
            for key, item in node.items():
                yield from walk(item, (*path, key), depth + 1)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                yield from walk(item, (*path, index), depth + 1)

    if column.strict == TOP_LEVEL and not isinstance(value, dict):
        strict_row = False  # only an object has top-level values
    yield from walk(value, (), 0)


def replaced(value, replacements: dict[Path, str]):
    """A copy of `value` with the string at each path replaced; untouched parts are shared."""
    if not replacements:
        return value
    if () in replacements:
        return replacements[()]
    touched = {path[:i] for path in replacements for i in range(1, len(path) + 1)}

    def rebuild(node, path: Path):
        if isinstance(node, dict):
            return {k: rebuild(v, (*path, k)) if (*path, k) in touched else v for k, v in node.items()}
        if isinstance(node, list):
            return [rebuild(v, (*path, i)) if (*path, i) in touched else v for i, v in enumerate(node)]
        return replacements.get(path, node)

    return rebuild(value, ())
