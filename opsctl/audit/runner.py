"""Run every registered check against a stack and collect the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from opsctl.audit import checks  # noqa: F401  (registers every check)
from opsctl.audit.checks.timeouts import DatabaseTarget
from opsctl.audit.checks.live import LiveTarget
from opsctl.audit.registry import CHECKS, SECTIONS, Check, Evidence, Needs, Result, Status
from opsctl.audit.stackfiles import StackFiles


@dataclass(frozen=True)
class Finding:
    check: Check
    result: Result

    @property
    def status(self) -> Status:
        return self.result.status

    @property
    def fix(self) -> str | None:
        return None if self.status in (Status.PASS, Status.SKIP) else (self.result.fix or self.check.fix)

    def to_json(self) -> dict:
        return {
            "check": self.check.id,
            "section": self.check.section,
            "runbook": self.check.runbook,
            "status": self.status.value,
            "evidence": [evidence.as_dict() for evidence in self.result.evidence],
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Report:
    stack_dir: Path
    findings: tuple[Finding, ...]
    unreachable: tuple[str, ...] = ()  # what --live asked for and could not reach: its checks are SKIP

    def count(self, status: Status) -> int:
        return sum(1 for finding in self.findings if finding.status is status)

    def exit_code(self, strict: bool = False) -> int:
        """1 for a FAIL (--strict: a WARN too), else 3 when a live target was unreachable, else 0."""
        bad = {Status.FAIL, Status.WARN} if strict else {Status.FAIL}
        if any(finding.status in bad for finding in self.findings):
            return 1
        return 3 if self.unreachable else 0

    def summary(self) -> dict[str, int]:
        return {status.value: self.count(status) for status in Status}

    def to_json(self) -> dict:
        return {"stack_dir": str(self.stack_dir), "summary": self.summary(), "unreachable": list(self.unreachable),
                "checks": [finding.to_json() for finding in self.findings]}


def _skipped(reason: str) -> Result:
    return Result(Status.SKIP, (Evidence(reason),))


def run_checks(files: StackFiles, live: LiveTarget | None = None, database: DatabaseTarget | None = None,
               unreachable: dict[Needs, str] | None = None) -> Report:
    """Every check, in runbook order; those whose inputs were not given, or not reached, are SKIP."""
    unreachable = unreachable or {}
    findings = []
    for registered in sorted(CHECKS, key=lambda c: SECTIONS.index(c.section)):
        if registered.needs is Needs.FILES:
            result = registered.func(files)
        elif registered.needs in unreachable:
            result = _skipped(f"not run: {unreachable[registered.needs]}")
        elif registered.needs is Needs.LIVE:
            result = registered.func(live) if live else _skipped("needs --live")
        else:
            result = registered.func(database) if database else _skipped("needs --live and DATABASE_URL")
        findings.append(Finding(registered, result))
    return Report(files.dir, tuple(findings), tuple(unreachable.values()))
