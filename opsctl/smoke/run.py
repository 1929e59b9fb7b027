"""One smoke run: health first, then the probe (skipped when the proxy is not
ready: there is nothing to probe; a health app that is down does not stop it),
all within one deadline, and the exit code of the whole."""

from __future__ import annotations

from dataclasses import dataclass

from opsctl.errors import OpsctlError
from opsctl.settings import Settings
from opsctl.smoke.codes import SmokeExit, worst
from opsctl.smoke.deadline import command_deadline
from opsctl.smoke.health import HealthReport, check_health
from opsctl.smoke.probe import DEFAULT_DEADLINE, ProbeReport, run_probe
from opsctl.smoke.replicas import check_replicas


@dataclass
class SmokeRun:
    health: HealthReport | None
    probe: ProbeReport | None

    @property
    def exit_code(self) -> SmokeExit:
        return worst(*(report.exit_code for report in (self.health, self.probe) if report is not None))

    def to_dict(self) -> dict:
        return {
            "exit_code": int(self.exit_code),
            "health": self.health.to_dict() if self.health else None,
            "probe": self.probe.to_dict() if self.probe else None,
        }


async def run_smoke(settings: Settings, *, health: bool = True, probe: bool = True, expect_db: bool | None = None,
                    deadline: float = DEFAULT_DEADLINE, replicas: list[str] = (), **probe_options) -> SmokeRun:
    """`expect_db=None`: readiness must show the database connected when DATABASE_URL is set.
    `replicas`: the stack's proxy replicas behind its LB, each checked on its own (smoke.replicas)."""
    if probe:
        try:
            settings.require_master_key()  # before any request: a usage error, not half a report
        except OpsctlError as error:
            if not health:
                raise
            raise OpsctlError(f"{error.message} (`opsctl smoke health` needs none)", error.exit_code) from None
    if expect_db is None:
        expect_db = bool(settings.database_url)
    budget = command_deadline(deadline, settings)
    health_report = await check_health(settings, expect_db, deadline=budget) if health else None
    if health_report is not None and replicas:
        health_report.checks.extend(await check_replicas(settings, list(replicas), expect_db, budget))
    if health_report is not None and not health_report.proxy_ready:
        return SmokeRun(health_report, None)
    probe_report = await run_probe(settings, deadline=budget, **probe_options) if probe else None
    return SmokeRun(health_report, probe_report)
