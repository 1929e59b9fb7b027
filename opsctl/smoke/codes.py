"""The exit codes of `opsctl smoke` (documented in docs/smoke.md).

They are opsctl's own ExitCode values, narrowed to the outcomes a smoke run
can have, so cron and CI can tell "degraded" from "down".
"""

from enum import IntEnum

from opsctl.errors import ExitCode


class SmokeExit(IntEnum):
    OK = ExitCode.OK  # proxy live and ready, protected routes refused, every probed model answered
    FAILED = ExitCode.FAILED  # reachable and ready, but a model failed or timed out, or a protected route is open
    USAGE = ExitCode.USAGE  # bad options, unknown --model, no master key for the probe
    UNREACHABLE = ExitCode.UNREACHABLE  # the proxy (or the health app) cannot be reached or is not ready
    AUTH = ExitCode.AUTH  # the proxy rejected the master key


def worst(*codes: "SmokeExit") -> "SmokeExit":
    """The code of a run made of several checks: unreachable beats failed beats ok."""
    order = [SmokeExit.OK, SmokeExit.FAILED, SmokeExit.USAGE, SmokeExit.AUTH, SmokeExit.UNREACHABLE]
    return max(codes, key=order.index, default=SmokeExit.OK)
