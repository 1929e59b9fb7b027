"""The audit's vocabulary and its one registry of checks.

A check is a plain function registered with `@check(...)`: it takes the
`Target` (the stack's files, and the live proxy or database when given)
and returns a `Result`. Adding a check is the decorator and a few lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable

# The runbook's sections, in the order the report shows them, between two of the audit's own: the files
# themselves (present, accepted by Compose and LiteLLM) and container hardening (no runbook line; each such
# check's `runbook` text gives its hardening reason instead).
SECTIONS = (
    "Stack files",
    "Boundaries",
    "Logging/Privacy",
    "DB / Config",
    "Routing & Availability",
    "Tooling",
    "Defaults for rate/budget",
    "Per-model timeouts/retries",
    "Container hardening",
)


class Status(str, Enum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"  # the check needs --live or a database that was not given, or a file stack-files reports missing


class Needs(str, Enum):
    FILES = "files"
    LIVE = "live"  # a running proxy (--live)
    DB = "db"  # --live and DATABASE_URL


@dataclass(frozen=True)
class Evidence:
    """What was seen, and where: a file and line, or an endpoint."""

    text: str
    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.path is None:
            return self.text
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.text}"

    def as_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "text": self.text}


@dataclass(frozen=True)
class Result:
    status: Status
    evidence: tuple[Evidence, ...]
    fix: str | None = None  # overrides the check's default fix (e.g. with the exact path)


def passed(*evidence: Evidence) -> Result:
    return Result(Status.PASS, evidence)


def warned(*evidence: Evidence, fix: str | None = None) -> Result:
    return Result(Status.WARN, evidence, fix)


def failed(*evidence: Evidence, fix: str | None = None) -> Result:
    return Result(Status.FAIL, evidence, fix)


def worst(findings: list[tuple[Status, Evidence]], fix: str | None = None) -> Result:
    """One result from several findings: the worst status, the evidence of that status."""
    for status in (Status.FAIL, Status.WARN):
        bad = tuple(evidence for seen, evidence in findings if seen is status)
        if bad:
            return Result(status, bad, fix)
    return Result(Status.PASS, tuple(evidence for _, evidence in findings))


@dataclass(frozen=True)
class Check:
    id: str
    section: str
    runbook: str  # the runbook line this check proves
    fix: str  # one line: what to change when it does not pass
    needs: Needs
    func: Callable[..., Result]


CHECKS: list[Check] = []


def check(check_id: str, *, section: str, runbook: str, fix: str, needs: Needs = Needs.FILES):
    """Register a check function (see the module docstring)."""
    if section not in SECTIONS:
        raise ValueError(f"unknown runbook section {section!r}")

    def register(func: Callable[..., Result]) -> Callable[..., Result]:
        if any(existing.id == check_id for existing in CHECKS):
            raise ValueError(f"check {check_id!r} registered twice")
        CHECKS.append(Check(check_id, section, runbook, fix, needs, func))
        return func

    return register
