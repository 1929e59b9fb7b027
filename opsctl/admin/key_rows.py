"""Key specs from command-line options or a CSV/YAML file (`keys create --from`).

A row has the same names as the options: alias, team, models, max_budget,
budget_duration, duration, rpm, tpm, metadata. In CSV, `models` is
`a;b` and `metadata` is `k=v;k2=v2`; in YAML they are a list and a mapping.
Every row is checked before anything talks to the proxy; `teams create`
checks its options with the same `normalize`.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any, Iterable

from opsctl.errors import ExitCode, OpsctlError

# row/option name -> /key/generate field
REQUEST_FIELDS = {
    "alias": "key_alias",
    "team": "team_id",
    "models": "models",
    "max_budget": "max_budget",
    "budget_duration": "budget_duration",
    "duration": "duration",
    "rpm": "rpm_limit",
    "tpm": "tpm_limit",
    "metadata": "metadata",
}
NUMBERS = {"rpm": int, "tpm": int, "max_budget": float}
DURATIONS = ("duration", "budget_duration")
# What LiteLLM's duration_in_seconds reads (litellm_core_utils/duration_parser.py),
# without its loose prefix match: "30days" would be read as 30d, "30" is refused.
DURATION = re.compile(r"^(hourly|daily|weekly|monthly|[1-9][0-9]*(s|m|h|d|w|mo))$")


def parse_metadata(pairs: Iterable[str]) -> dict[str, str]:
    """`k=v` strings to a dict."""
    metadata = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"metadata must be key=value, got {pair!r}")
        metadata[key.strip()] = value.strip()
    return metadata


def normalize(values: dict[str, Any]) -> dict[str, Any]:
    """Check and convert one row (or the options); empty values mean 'not given'."""
    unknown = sorted(set(values) - set(REQUEST_FIELDS))
    if unknown:
        raise ValueError(f"unknown column {unknown[0]!r} (allowed: {', '.join(REQUEST_FIELDS)})")
    row: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == "" or value in ([], (), {}):
            continue
        if name in NUMBERS:
            kind = NUMBERS[name]
            if isinstance(value, bool):
                raise ValueError(f"{name} must be a number, got {value!r}")
            try:
                number = kind(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a {'whole ' if kind is int else ''}number, got {value!r}") from None
            if number < 0 or not math.isfinite(number) or (kind is int and isinstance(value, float) and not value.is_integer()):
                raise ValueError(f"{name} must be a non-negative {'whole ' if kind is int else ''}number, got {value!r}")
            row[name] = number
        elif name == "models":
            items = value.split(";") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not all(isinstance(m, str) for m in items):
                raise ValueError("models must be a list of model names")
            row[name] = [m.strip() for m in items if m.strip()]
        elif name == "metadata":
            if isinstance(value, str):
                value = parse_metadata(p for p in value.split(";") if p.strip())
            elif isinstance(value, (list, tuple)):
                value = parse_metadata(value)
            if not isinstance(value, dict):
                raise ValueError("metadata must be a mapping or k=v pairs")
            row[name] = {str(k): v for k, v in value.items()}
        elif name in DURATIONS:
            if not isinstance(value, str) or not DURATION.match(value.strip()):
                raise ValueError(f"{name} must be like 30s, 15m, 12h, 30d, 2w, 1mo or daily, got {value!r}")
            row[name] = value.strip()
        elif isinstance(value, str):
            row[name] = value.strip()
        else:
            raise ValueError(f"{name} must be text, got {value!r}")
    return row


def build_request(defaults: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The /key/generate body: policy defaults, then what the row or options give."""
    body = dict(defaults)
    for name, value in row.items():
        body[REQUEST_FIELDS[name]] = value
    return body


def describe_limits(request: dict[str, Any]) -> str:
    """The limits of a /key/generate or /team/new body, for status lines."""
    shown = [f"{name}={request[name]}" for name in ("rpm_limit", "tpm_limit", "max_budget", "budget_duration") if name in request]
    return ", ".join(shown) or "no limits"


def _read_csv(path: Path) -> list[tuple[str, dict]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for values in reader:
            if None in values:
                raise OpsctlError(f"{path}:{reader.line_num}: more cells than columns", ExitCode.USAGE)
            if any((v or "").strip() for v in values.values()):
                rows.append((f"{path}:{reader.line_num}", {k.strip(): v for k, v in values.items() if k}))
        return rows


def _read_yaml(path: Path) -> list[tuple[str, dict]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise OpsctlError(f"{path}:{line}: not valid YAML", ExitCode.USAGE) from None
    if isinstance(data, dict) and set(data) == {"keys"}:
        data = data["keys"]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise OpsctlError(f"{path}: expected a list of rows (mappings), or `keys:` with one", ExitCode.USAGE)
    return [(f"{path}: row {index}", item) for index, item in enumerate(data, start=1)]


def load_rows(path: str | Path) -> list[tuple[str, dict]]:
    """(where, row) for each row of a CSV or YAML file; every row needs a unique alias."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml"):
        raise OpsctlError(f"{path}: use a .csv, .yaml or .yml file", ExitCode.USAGE)
    try:
        raw_rows = _read_csv(path) if suffix == ".csv" else _read_yaml(path)
    except OSError as error:
        raise OpsctlError(f"cannot read {path}: {error.strerror}", ExitCode.USAGE) from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise OpsctlError(f"{path}: {error}", ExitCode.USAGE) from None
    if not raw_rows:
        raise OpsctlError(f"{path}: no rows", ExitCode.USAGE)
    rows, seen = [], {}
    for where, values in raw_rows:
        try:
            row = normalize(values)
        except ValueError as error:
            raise OpsctlError(f"{where}: {error}", ExitCode.USAGE) from None
        alias = row.get("alias")
        if not alias:
            raise OpsctlError(f"{where}: every row needs an alias (a re-run matches rows by alias)", ExitCode.USAGE)
        if alias in seen:
            raise OpsctlError(f"{where}: alias {alias!r} already used at {seen[alias]}", ExitCode.USAGE)
        seen[alias] = where
        rows.append((where, row))
    return rows
