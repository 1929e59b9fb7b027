"""The policy file: key/team defaults and per-model timeout/retry tiers.

The packaged default (opsctl/data/policy.toml) holds the runbook's values;
`--policy FILE` or OPSCTL_POLICY points at an operator's own. Every value
is checked here, so a bad file fails before anything talks to a server:
numbers must be finite and in range (TOML reads `nan`, `inf` and `1e309` as
floats, and a 4,300-digit integer makes Python's int() give up), and every
error names the file and line in one line that quotes at most a short,
redacted piece of the file.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.redact import safe_text

DEFAULT_POLICY = "opsctl/data/policy.toml"
MAX_POLICY_BYTES = 1024 * 1024
MAX_TIMEOUT = 86400  # seconds; LiteLLM's own default request timeout is 6000
MAX_RETRIES = 10
MAX_LIMIT = 2**63 - 1  # rpm/tpm: LiteLLM stores them as BigInt
MAX_BUDGET = 1e15
MAX_PATTERN = 512
LIMITS = {"rpm_limit": MAX_LIMIT, "tpm_limit": MAX_LIMIT, "max_budget": MAX_BUDGET}

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


def _shown(value: object) -> str:
    """A value from the file for a message: short, one line, no plaintext key."""
    return safe_text(repr(value), limit=60)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: int | float) -> bool:
    return isinstance(value, int) or math.isfinite(value)  # isfinite() overflows on a 400-digit int


def _check_defaults(source: str, text: str, section: str, values: dict) -> dict:
    if not isinstance(values, dict):
        raise _fail(source, _line_of(text, section), f"[{section}] must be a table")
    section_start = next(
        (i for i, line in enumerate(text.splitlines()) if line.strip() == f"[{section}]"), 0
    )
    for key, value in values.items():
        line = _line_of(text, key, section_start)
        if key not in KEY_FIELDS:
            raise _fail(source, line, f"unknown key {_shown(key)} in [{section}] (allowed: {', '.join(KEY_FIELDS)})")
        kind = KEY_FIELDS[key]
        if kind is str:
            if not isinstance(value, str) or not value or len(value) > MAX_PATTERN:
                raise _fail(source, line, f"{section}.{key} must be a non-empty string")
        elif not _is_number(value) or (kind is int and not isinstance(value, int)):
            raise _fail(source, line, f"{section}.{key} must be a {'whole ' if kind is int else ''}number, got {_shown(value)}")
        elif not _finite(value):
            raise _fail(source, line, f"{section}.{key} must be a finite number, got {_shown(value)}")
        elif value < 0:
            raise _fail(source, line, f"{section}.{key} must not be negative, got {_shown(value)}")
        elif value > LIMITS[key]:
            raise _fail(source, line, f"{section}.{key} must be at most {LIMITS[key]:g}, got {_shown(value)}")
    return dict(values)


def _check_tier(source: str, text: str, index: int, tier: dict, start: int) -> list[Rule]:
    if not isinstance(tier, dict):
        raise _fail(source, start + 1, f"tier {index + 1} must be a table ([[tiers]])")
    for key in tier:
        if key not in TIER_FIELDS:
            raise _fail(source, _line_of(text, key, start), f"unknown key {_shown(key)} in [[tiers]] (allowed: {', '.join(sorted(TIER_FIELDS))})")
    for key in ("name", "timeout", "num_retries", "models"):
        if key not in tier:
            raise _fail(source, start + 1, f"tier {index + 1} has no {key!r}")
    name, timeout, retries, models = tier["name"], tier["timeout"], tier["num_retries"], tier["models"]
    if not isinstance(name, str) or not name or len(name) > MAX_PATTERN:
        raise _fail(source, _line_of(text, "name", start), "tier name must be a non-empty string")
    if not _is_number(timeout) or timeout <= 0:
        raise _fail(source, _line_of(text, "timeout", start), f"timeout must be a positive number of seconds, got {_shown(timeout)}")
    if not (_finite(timeout) and timeout <= MAX_TIMEOUT):
        raise _fail(source, _line_of(text, "timeout", start),
                    f"timeout must be a finite number of seconds up to {MAX_TIMEOUT}, got {_shown(timeout)}")
    if not _is_number(retries) or not isinstance(retries, int) or retries < 0:
        raise _fail(source, _line_of(text, "num_retries", start), f"num_retries must be a whole number >= 0, got {_shown(retries)}")
    if retries > MAX_RETRIES:
        raise _fail(source, _line_of(text, "num_retries", start), f"num_retries must be at most {MAX_RETRIES}, got {_shown(retries)}")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and 0 < len(m) <= MAX_PATTERN for m in models):
        raise _fail(source, _line_of(text, "models", start), "models must be a non-empty list of names or patterns")
    return [Rule(pattern, name, index, timeout, retries) for pattern in models]


def parse_policy(text: str, source: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"line (\d+)", str(error))
        raise _fail(source, int(line.group(1)) if line else 1, f"not valid TOML: {safe_text(error, limit=200)}") from None
    except ValueError:  # int() refusing a number of more than 4,300 digits
        raise _fail(source, _huge_number_line(text), "a number with too many digits") from None
    except RecursionError:
        raise _fail(source, 1, "nested too deep") from None
    for key in data:
        if key not in TOP_LEVEL:
            raise _fail(source, _line_of(text, key), f"unknown key {_shown(key)} (allowed: keys, teams, tiers)")
    if not isinstance(data.get("tiers", []), list):
        raise _fail(source, _line_of(text, "tiers"), "tiers must be an array of tables ([[tiers]])")
    key_defaults = _check_defaults(source, text, "keys", data.get("keys", {}))
    team_defaults = _check_defaults(source, text, "teams", data.get("teams", key_defaults))
    tiers = data.get("tiers", [])
    starts = _tier_starts(text)
    rules: list[Rule] = []
    for index, tier in enumerate(tiers):
        start = starts[index] if index < len(starts) else 0
        rules.extend(_check_tier(source, text, index, tier, start))
    return Policy(source=source, key_defaults=key_defaults, team_defaults=team_defaults, rules=tuple(rules))


def _huge_number_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(r"[0-9_]{4000,}", line):
            return number
    return 1


def load_policy(path: str | Path | None = None) -> Policy:
    """The operator's policy file, or the packaged default when path is None."""
    if path is None:
        text = resources.files("opsctl").joinpath("data/policy.toml").read_text()
        return parse_policy(text, DEFAULT_POLICY)
    from opsctl.files import read_regular

    path = Path(path)
    data = read_regular(path, MAX_POLICY_BYTES, "policy file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise OpsctlError(f"{path}: not UTF-8 text (byte {error.start})", ExitCode.USAGE) from None
    return parse_policy(text, str(path))
