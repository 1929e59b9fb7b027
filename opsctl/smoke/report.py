"""How a smoke run looks to people: tables on stdout, a live view and a
summary line on stderr. (`--json` output is the reports' to_dict().)"""

from __future__ import annotations

from collections import Counter

from opsctl.output import print_table, status, stderr_console
from opsctl.smoke.health import HealthReport
from opsctl.smoke.probe import ModelProbe, ProbeReport

PROBE_COLUMNS = ["model", "mode", "status", "latency", "ttft", "deployment", "fallback", "error"]


def milliseconds(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def probe_row(probe: ModelProbe) -> list:
    return [probe.model, probe.mode, probe.status, milliseconds(probe.latency_ms), milliseconds(probe.ttft_ms),
            probe.deployment, probe.fallback, probe.error]


def print_health(report: HealthReport) -> None:
    rows = [[c.target, c.route, c.kind, c.outcome, c.detail or None] for c in report.checks]
    print_table(["target", "route", "check", "result", "detail"], rows, title="health")
    for target in report.targets:
        if target.ready:
            status(f"{target.name} {target.url}: live and ready")
        else:
            status(f"{target.name} {target.url}: NOT READY: {target.reason}")


def print_probe(report: ProbeReport) -> None:
    print_table(PROBE_COLUMNS, [probe_row(p) for p in report.models], title="models")
    counts = Counter(probe.status for probe in report.models)
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    groups = f"{len(report.models)} model group" + ("" if len(report.models) == 1 else "s")
    status(f"probed {groups} in {milliseconds(report.elapsed_ms)} "
           f"(concurrency {report.concurrency}): {summary}")


class LiveProbeView:
    """The probes' progress on stderr while they run, only on a terminal."""

    def __init__(self):
        self.console = stderr_console()
        self.live = None
        self.probes: list[ModelProbe] = []

    def __enter__(self) -> "LiveProbeView":
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()

    def start(self, probes: list[ModelProbe]) -> None:
        self.probes = probes
        if not self.console.is_terminal:
            return
        from rich.live import Live

        self.live = Live(self._render(), console=self.console, transient=True, refresh_per_second=8)
        self.live.start()

    def update(self, probe: ModelProbe) -> None:
        if self.live is not None:
            self.live.update(self._render())

    def _render(self):
        from rich.table import Table

        table = Table(title="probing", show_lines=False)
        for column in ("model", "mode", "status", "latency"):
            table.add_column(column)
        for probe in self.probes:
            table.add_row(probe.model, probe.mode, probe.status, milliseconds(probe.latency_ms) or "")
        return table
