"""The report as SARIF 2.1.0, for CI code scanning (one rule per check, a result per WARN/FAIL)."""

from __future__ import annotations

from opsctl import __version__
from opsctl.audit.registry import CHECKS, Status
from opsctl.audit.runner import Report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Status.FAIL: "error", Status.WARN: "warning"}
STACK = "STACKDIR"
ANCHOR_FILE = "docker-compose.yml"  # where a result with no file of its own (live, DB) is shown


def _location(report: Report, path: str | None, line: int | None) -> dict:
    """A file inside the stack dir as evidence, anything else (endpoint, ~/.007, the policy) at the anchor."""
    if path is None or path.startswith(("~", "/")) or not (report.stack_dir / path).exists():
        path, line = ANCHOR_FILE, None
    physical = {"artifactLocation": {"uri": path, "uriBaseId": STACK}}
    if line:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def to_sarif(report: Report) -> dict:
    rules = [
        {
            "id": c.id,
            "name": c.func.__name__,
            "shortDescription": {"text": c.runbook},
            "help": {"text": c.fix},
            "properties": {"section": c.section},
        }
        for c in CHECKS
    ]
    index = {c.id: i for i, c in enumerate(CHECKS)}
    results = []
    for finding in report.findings:
        if finding.status not in LEVELS:
            continue
        evidence = finding.result.evidence
        results.append({
            "ruleId": finding.check.id,
            "ruleIndex": index[finding.check.id],
            "level": LEVELS[finding.status],
            "message": {"text": "; ".join(map(str, evidence)) + f". Fix: {finding.fix}"},
            "locations": [_location(report, e.path, e.line) for e in evidence] or [_location(report, None, None)],
        })
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "opsctl audit", "version": __version__, "rules": rules}},
            "originalUriBaseIds": {STACK: {"uri": report.stack_dir.resolve().as_uri() + "/"}},
            "results": results,
        }],
    }
