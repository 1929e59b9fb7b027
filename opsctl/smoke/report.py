"""How a smoke run looks to people: tables on stdout, a live view and a
summary line on stderr. (`--json` output is the reports' to_dict().)

Every server-provided string was redacted and stripped of control sequences
when it was recorded (opsctl.smoke.request); here it is also escaped for
rich, so `[...]` in a server's text is printed, not read as markup.
"""

from __future__ import annotations

from opsctl.output import print_table, status, stderr_console
from opsctl.smoke.health import HealthReport
from opsctl.smoke.verdict import GroupResult, ProbeReport

PROBE_COLUMNS = ["model", "mode", "status", "deployment", "api host", "result", "latency", "ttft", "fallback", "error"]
SHORT_ID = 12  # LiteLLM's ids are 64 hex digits; the table shows a prefix, like `docker ps` (--json has them whole)


def milliseconds(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def short_id(deployment_id: str) -> str:
    return deployment_id if len(deployment_id) <= SHORT_ID + 4 else deployment_id[:SHORT_ID] + "…"


def _escaped(cells: list) -> list:
    from rich.markup import escape

    return [escape(cell) if isinstance(cell, str) else cell for cell in cells]


def group_rows(group: GroupResult) -> list[list]:
    """One row per deployment, each naming its group: `grep chat-default` finds them all."""
    if group.status == "skipped" or not group.deployments:
        count = f"{len(group.deployments)} deployment" + ("" if len(group.deployments) == 1 else "s")
        return [_escaped([group.model, group.mode, group.status, count, None, None, None, None, None, group.error])]
    return [
        _escaped([group.model, group.mode, group.status, short_id(d.id), d.api_host, d.status, milliseconds(d.latency_ms),
                  milliseconds(d.ttft_ms), group.fallback, d.error])
        for d in group.deployments
    ]


def print_health(report: HealthReport) -> None:
    rows = [_escaped([c.target, c.route, c.kind, c.outcome, c.detail or None]) for c in report.checks]
    print_table(["target", "route", "check", "result", "detail"], rows, title="health")
    for target in report.targets:
        if target.ready:
            status(f"{target.name} {target.url}: live and ready")
        else:
            status(f"{target.name} {target.url}: NOT READY: {target.reason}")


def summary(report: ProbeReport) -> str:
    groups = len(report.models)
    deployments = sum(len(g.deployments) for g in report.models if g.status != "skipped")
    counts = ", ".join(f"{n} {name}" for name, n in sorted(report.counts().items()))
    rule = "; --any: a group with one answering deployment is healthy" if report.rule == "any" else ""
    return (f"probed {groups} model group{'' if groups == 1 else 's'} ({deployments} deployment{'' if deployments == 1 else 's'}) "
            f"in {milliseconds(report.elapsed_ms)} (concurrency {report.concurrency}): {counts}{rule}")


def print_probe(report: ProbeReport) -> None:
    print_table(PROBE_COLUMNS, [row for group in report.models for row in group_rows(group)], title="models")
    status(summary(report))
    if report.deadline_passed:
        status(f"The {report.deadline_name} of {report.deadline:g}s passed before every deployment answered.")


class LiveProbeView:
    """The probes' progress on stderr while they run, only on a terminal."""

    def __init__(self):
        self.console = stderr_console()
        self.live = None
        self.groups: list[GroupResult] = []

    def __enter__(self) -> "LiveProbeView":
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()

    def start(self, groups: list[GroupResult]) -> None:
        self.groups = groups
        if not self.console.is_terminal:
            return
        from rich.live import Live

        self.live = Live(self._render(), console=self.console, transient=True, refresh_per_second=8)
        self.live.start()

    def update(self, group: GroupResult) -> None:
        if self.live is not None:
            self.live.update(self._render())

    def _render(self):
        from rich.table import Table

        table = Table(title="probing", show_lines=False)
        for column in ("model", "status", "deployment", "result", "latency"):
            table.add_column(column)
        for group in self.groups:
            for row in group_rows(group):
                table.add_row(*(str(row[i]) if row[i] is not None else "" for i in (0, 2, 3, 5, 6)))
        return table
