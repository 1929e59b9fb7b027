"""One time budget for a whole smoke run (`--deadline`), on the event loop's clock.

Every wait in the run (a request, a place in the concurrency queue) ends at
its own limit or at the deadline, whichever comes first, so a server that
drips a byte a second or never closes cannot hold the run past it.
"""

from __future__ import annotations

import asyncio


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
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
        return f"the run's --deadline of {self.seconds:g}s passed"
