"""One time budget for a whole smoke run (`--deadline`), on the event loop's clock.

Every wait in the run (a request, a place in the concurrency queue) ends at
its own limit or at the deadline, whichever comes first, so a server that
drips a byte a second or never closes cannot hold the run past it.
"""

from __future__ import annotations

import asyncio


class Deadline:
    def __init__(self, seconds: float, name: str = "--deadline", configured: float | None = None):
        self.seconds = seconds
        self.name = name  # what set it, for the reason: --deadline or OPSCTL_DEADLINE
        self.configured = seconds if configured is None else configured
        self._loop = asyncio.get_running_loop()
        self.at = self._loop.time() + seconds

    @property
    def passed(self) -> bool:
        return self._loop.time() >= self.at

    def limit(self, seconds: float) -> tuple[float, bool]:
        """When a wait of `seconds` from now must end (loop time), and whether the deadline is what ends it."""
        own = self._loop.time() + seconds
        return (own, False) if own < self.at else (self.at, True)

    @property
    def reason(self) -> str:
        return f"the run's {self.name} of {self.configured:g}s passed"


def command_deadline(seconds: float, settings) -> Deadline:
    """--deadline, or what is left of opsctl's per-command OPSCTL_DEADLINE when that ends first
    (the admin client enforces it on its own requests; the probe's requests honour it here)."""
    import time

    configured = settings.deadline_seconds()
    left = configured - (time.monotonic() - settings.started_at)
    if left < seconds:
        return Deadline(max(left, 0.0), "OPSCTL_DEADLINE", configured)
    return Deadline(seconds)
