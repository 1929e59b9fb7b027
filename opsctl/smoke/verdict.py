"""What the probes found: a result per deployment, a verdict per model group,
and the report of the whole probe.

A group is healthy when every one of its deployments answered (`rule="any"`:
when at least one did). A group none of whose deployments answered may still
have been served by its fallback: that is reported (`fallback`), and the
group is still unhealthy, since its own deployments are down.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from opsctl.smoke.codes import SmokeExit

RULES = ("all", "any")


@dataclass
class DeploymentResult:
    id: str  # model_info.id (display form)
    model: str  # litellm_params.model
    api_host: str | None
    status: str = "pending"  # pending, running, ok, failed, timeout, not probed, skipped
    latency_ms: float | None = None
    ttft_ms: float | None = None  # chat only: time to the first content chunk
    attempts: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class GroupResult:
    model: str  # the model group (public name)
    mode: str
    deployments: list[DeploymentResult] = field(default_factory=list)
    status: str = "pending"  # pending, running, ok, degraded, failed, timeout, fallback, skipped
    healthy: bool = False
    fallback: str | None = None  # the group that served a request for this one when none of its deployments answered
    fallback_deployment: str | None = None  # the id of the deployment that answered for the fallback
    error: str | None = None

    def skip(self, reason: str) -> None:
        self.status, self.healthy, self.error = "skipped", True, reason
        for deployment in self.deployments:
            deployment.status = "skipped"

    def settle(self, rule: str) -> None:
        """The group's status and health from its deployments' results."""
        bad = [d for d in self.deployments if not d.ok]
        if not bad:
            self.status, self.healthy, self.error = "ok", True, None
            return
        first = bad[0].error or bad[0].status
        self.error = first if len(self.deployments) == 1 else f"{len(bad)} of {len(self.deployments)} deployments failed: {first}"
        if len(bad) < len(self.deployments):
            self.status, self.healthy = "degraded", rule == "any"
        elif self.fallback:
            self.status, self.healthy = "fallback", False
        elif all(d.status in ("timeout", "not probed") for d in bad):
            self.status, self.healthy = "timeout", False
        else:
            self.status, self.healthy = "failed", False


@dataclass
class ProbeReport:
    models: list[GroupResult]
    elapsed_ms: float
    concurrency: int
    timeout: float
    deadline: float
    rule: str = "all"
    deadline_passed: bool = False
    deadline_name: str = "--deadline"  # or OPSCTL_DEADLINE, when that ended first

    @property
    def exit_code(self) -> SmokeExit:
        return SmokeExit.OK if all(group.healthy for group in self.models) else SmokeExit.FAILED

    def counts(self) -> Counter:
        return Counter(group.status for group in self.models)

    def to_dict(self) -> dict:
        return {
            "exit_code": int(self.exit_code),
            "elapsed_ms": self.elapsed_ms,
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "deadline": self.deadline,
            "deadline_name": self.deadline_name,
            "deadline_passed": self.deadline_passed,
            "rule": self.rule,
            "models": [asdict(group) for group in self.models],
        }
