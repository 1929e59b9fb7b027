"""The policy file: key/team defaults and per-model timeout/retry tiers.

The packaged default (opsctl/data/policy.toml) holds the runbook's values;
`--policy FILE` or OPSCTL_POLICY points at an operator's own. Every value
is checked here, so a bad file fails before anything talks to a server.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError

DEFAULT_POLICY = "opsctl/data/policy.toml"

KEY_FIELDS = {"rpm_limit": int, "tpm_limit": int, "max_budget": float, "budget_duration": str}
TIER_FIELDS = {"name", "timeout", "num_retries", "models"}
TOP_LEVEL = {"keys", "teams", "tiers"}
WILDCARDS = set("%_*?")


@dataclass(frozen=True)
class Rule:
    """One `models` entry of a tier."""

    pattern: str
    tier: str
    tier_index: int
    timeout: float
    num_retries: int

    @property
    def is_exact(self) -> bool:
        return not WILDCARDS & set(self.pattern)

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Larger wins: exact first, then more literal characters, then earlier tier."""
        literal = sum(1 for ch in self.pattern if ch not in WILDCARDS)
        return (int(self.is_exact), literal, -self.tier_index)

    def matches(self, model_name: str) -> bool:
        return _pattern_regex(self.pattern).fullmatch(model_name) is not None


@dataclass(frozen=True)
class Policy:
    source: str
    key_defaults: dict
    team_defaults: dict
    rules: tuple[Rule, ...]

    def matching_rules(self, model_name: str) -> list[Rule]:
        """Every rule that matches, the winner first."""
        found = [rule for rule in self.rules if rule.matches(model_name)]
        return sorted(found, key=lambda rule: rule.specificity, reverse=True)

    def rule_for(self, model_name: str) -> Rule | None:
        found = self.matching_rules(model_name)
        return found[0] if found else None


@functools.cache  # a plan matches every rule against thousands of names
def _pattern_regex(pattern: str) -> re.Pattern:
    """SQL LIKE (% _) and glob (* ?) wildcards in one translation; the rest is literal."""
    parts = []
    for ch in pattern:
        if ch in "%*":
            parts.append(".*")
        elif ch in "_?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def _line_of(text: str, key: str, start: int = 0) -> int:
    """1-based line of the first `key =`, `[key]` or `[[key]]` at or after line `start` (for error messages)."""
    lines = text.splitlines()
    for number, line in enumerate(lines[start:], start=start + 1):
        if re.match(rf"\s*({re.escape(key)}\s*=|\[\[?\s*{re.escape(key)}\s*\]\]?)", line):
            return number
    return start + 1


def _tier_starts(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if line.strip() == "[[tiers]]"]


def _fail(source: str, line: int, message: str) -> OpsctlError:
    return OpsctlError(f"{source}:{line}: {message}", ExitCode.USAGE)


def _check_defaults(source: str, text: str, section: str, values: dict) -> dict:
    if not isinstance(values, dict):
        raise _fail(source, _line_of(text, section), f"[{section}] must be a table")
    section_start = next(
        (i for i, line in enumerate(text.splitlines()) if line.strip() == f"[{section}]"), 0
    )
    for key, value in values.items():
        line = _line_of(text, key, section_start)
        if key not in KEY_FIELDS:
            raise _fail(source, line, f"unknown key {key!r} in [{section}] (allowed: {', '.join(KEY_FIELDS)})")
        kind = KEY_FIELDS[key]
        if kind is str:
            if not isinstance(value, str) or not value:
                raise _fail(source, line, f"{section}.{key} must be a non-empty string")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise _fail(source, line, f"{section}.{key} must be a {'whole ' if kind is int else ''}number, got {value!r}")
        elif value < 0:
            raise _fail(source, line, f"{section}.{key} must not be negative, got {value}")
    return dict(values)


def _check_tier(source: str, text: str, index: int, tier: dict, start: int) -> list[Rule]:
    for key in tier:
        if key not in TIER_FIELDS:
            raise _fail(source, _line_of(text, key, start), f"unknown key {key!r} in [[tiers]] (allowed: {', '.join(sorted(TIER_FIELDS))})")
    for key in ("name", "timeout", "num_retries", "models"):
        if key not in tier:
            raise _fail(source, start + 1, f"tier {index + 1} has no {key!r}")
    name, timeout, retries, models = tier["name"], tier["timeout"], tier["num_retries"], tier["models"]
    if not isinstance(name, str) or not name:
        raise _fail(source, _line_of(text, "name", start), "tier name must be a non-empty string")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise _fail(source, _line_of(text, "timeout", start), f"timeout must be a positive number of seconds, got {timeout!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise _fail(source, _line_of(text, "num_retries", start), f"num_retries must be a whole number >= 0, got {retries!r}")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise _fail(source, _line_of(text, "models", start), "models must be a non-empty list of names or patterns")
    return [Rule(pattern, name, index, timeout, retries) for pattern in models]


def parse_policy(text: str, source: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"line (\d+)", str(error))
        raise _fail(source, int(line.group(1)) if line else 1, f"not valid TOML: {error}") from None
    for key in data:
        if key not in TOP_LEVEL:
            raise _fail(source, _line_of(text, key), f"unknown key {key!r} (allowed: keys, teams, tiers)")
    key_defaults = _check_defaults(source, text, "keys", data.get("keys", {}))
    team_defaults = _check_defaults(source, text, "teams", data.get("teams", key_defaults))
    tiers = data.get("tiers", [])
    starts = _tier_starts(text)
    rules: list[Rule] = []
    for index, tier in enumerate(tiers):
        start = starts[index] if index < len(starts) else 0
        rules.extend(_check_tier(source, text, index, tier, start))
    return Policy(source=source, key_defaults=key_defaults, team_defaults=team_defaults, rules=tuple(rules))


def load_policy(path: str | Path | None = None) -> Policy:
    """The operator's policy file, or the packaged default when path is None."""
    if path is None:
        text = resources.files("opsctl").joinpath("data/policy.toml").read_text()
        return parse_policy(text, DEFAULT_POLICY)
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise OpsctlError(f"cannot read policy file {path}: {error.strerror}", ExitCode.USAGE) from None
    return parse_policy(text, str(path))
