"""One audit run: load the stack once, connect what --live asks for, run, render."""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from opsctl.audit.checks.timeouts import DatabaseTarget
from opsctl.audit.checks.live import LiveTarget
from opsctl.audit.registry import SECTIONS, Needs, Status
from opsctl.audit.runner import Report, run_checks
from opsctl.audit.stackfiles import load_stack
from opsctl.errors import ExitCode, OpsctlError
from opsctl.policy import load_policy
from opsctl.settings import Settings


def _proxy_unreachable(client) -> str | None:
    """Why the proxy's checks cannot run (it does not answer at all), or None."""
    from opsctl.admin.client import ProxyError

    try:
        client.get("/health/liveliness", auth=False)
    except ProxyError as error:
        if error.status is None:
            return error.message
    return None


def _database_unreachable(database: DatabaseTarget) -> str | None:
    """Why the database's checks cannot run (no connection), or None; a refused login or a
    database without LiteLLM's tables stays an error (exit 4, 5)."""
    from opsctl.db.connection import connect

    try:
        with connect(database.database_url):
            return None
    except OpsctlError as error:
        if error.exit_code is ExitCode.UNREACHABLE:
            return error.message
        raise


def _not_run(unreachable: dict[Needs, str]) -> None:
    from opsctl.output import warn

    for reason in unreachable.values():
        warn(f"{reason}: its checks did not run (SKIP)")


def audit_stack(settings: Settings, stack_dir: str | Path, live: bool = False) -> Report:
    files = load_stack(Path(stack_dir), load_policy(settings.policy_file), Path.home(), settings.compose_file)
    if not live:
        return run_checks(files)
    from opsctl.admin.client import ProxyClient, RetryPolicy

    def client(url: str) -> ProxyClient:
        return ProxyClient(replace(settings, proxy_url=url), timeout=10, retry=RetryPolicy(retries=1))

    unreachable: dict[Needs, str] = {}
    with ExitStack() as stack:
        proxy = stack.enter_context(client(settings.proxy_url))
        why = _proxy_unreachable(proxy)
        if why:
            unreachable[Needs.LIVE] = why
        health = stack.enter_context(client(settings.health_url)) if settings.health_url else None
        database = DatabaseTarget(settings.database_url, files.policy) if settings.database_url else None
        why = _database_unreachable(database) if database else None
        if why:
            unreachable[Needs.DB] = why
        _not_run(unreachable)
        return run_checks(files, LiveTarget(files, proxy, health), database, unreachable)


STYLES = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}


def _evidence_cell(finding) -> str:
    """All the evidence of a problem; a PASS shows its first line (--json has the rest)."""
    evidence = [str(e) for e in finding.result.evidence]
    if finding.status is Status.PASS and len(evidence) > 1:
        return f"{evidence[0]} (+{len(evidence) - 1} more)"
    return "\n".join(evidence)


def _print_tables(report: Report) -> None:
    from rich.text import Text

    from opsctl.output import print_table

    for section in SECTIONS:
        findings = [f for f in report.findings if f.check.section == section]
        if not findings:
            continue
        rows = [[Text(f.status.value, style=STYLES[f.status]), f.check.id, _evidence_cell(f), f.fix or ""]
                for f in findings]
        print_table(["status", "check", "evidence", "fix"], rows, title=section)


def render(report: Report, output_format: str, sarif_file: str | None = None) -> None:
    from opsctl.audit.sarif import to_sarif
    from opsctl.output import emit_json, status

    if sarif_file:
        try:
            Path(sarif_file).write_text(json.dumps(to_sarif(report), indent=2) + "\n")
        except OSError as error:
            raise OpsctlError(f"cannot write {sarif_file}: {error.strerror}", ExitCode.USAGE) from None
    if output_format == "json":
        emit_json(report.to_json())
    elif output_format == "sarif":
        emit_json(to_sarif(report))
    else:
        _print_tables(report)
    counts = report.summary()
    status("audit: " + ", ".join(f"{counts[s.value]} {s.value}" for s in Status))
