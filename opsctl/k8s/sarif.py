"""The manifest audit as SARIF 2.1.0: opsctl.audit.sarif's shape, with this
audit's own rules and locations in the manifest file (stdin: no file, so the
results carry a logical location only)."""

from __future__ import annotations

from opsctl import __version__
from opsctl.audit.registry import Status
from opsctl.audit.runner import Report
from opsctl.k8s.audit import CHECKS
from opsctl.k8s.manifests import STDIN

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Status.FAIL: "error", Status.WARN: "warning"}


def _location(evidence) -> dict:
    if evidence.path in (None, STDIN):
        return {"logicalLocations": [{"name": "manifests on stdin"}]}
    physical = {"artifactLocation": {"uri": evidence.path}}
    if evidence.line:
        physical["region"] = {"startLine": evidence.line}
    return {"physicalLocation": physical}


def to_sarif(report: Report) -> dict:
    index = {c.id: i for i, c in enumerate(CHECKS)}
    rules = [{"id": c.id, "name": c.func.__name__, "shortDescription": {"text": c.runbook},
              "help": {"text": c.fix}, "properties": {"section": c.section}} for c in CHECKS]
    results = [{
        "ruleId": f.check.id, "ruleIndex": index[f.check.id], "level": LEVELS[f.status],
        "message": {"text": "; ".join(map(str, f.result.evidence)) + f". Fix: {f.fix}"},
        "locations": [_location(e) for e in f.result.evidence],
    } for f in report.findings if f.status in LEVELS]
    return {"$schema": SCHEMA, "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "opsctl audit --manifests", "version": __version__, "rules": rules}},
                      "results": results}]}


def render_report(report: Report, output_format: str, sarif_file: str | None = None) -> None:
    """Table and --json through the compose audit's renderer; SARIF from this module."""
    import json

    from opsctl.audit.session import render
    from opsctl.files import write_atomic
    from opsctl.output import emit_json, status

    if sarif_file:
        write_atomic(sarif_file, json.dumps(to_sarif(report), indent=2) + "\n", 0o644)
    if output_format == "sarif":
        emit_json(to_sarif(report))
        counts = report.summary()
        status("audit: " + ", ".join(f"{counts[s.value]} {s.value}" for s in Status))
    else:
        render(report, output_format)
