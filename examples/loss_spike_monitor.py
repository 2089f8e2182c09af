"""A small training monitor, as a downstream project would write it (the code under test).

It raises a ``spike`` alert when a loss reaches ``ratio`` times the best loss seen so far,
a ``nonfinite`` alert for a NaN or infinite loss (which never becomes the best), and a
``stall`` alert when a loss arrives more than ``stall_after`` seconds after the previous one.
Time comes from an injected clock, so tests need not sleep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Alert:
    """One alert: what fired, at which step, with which loss, at what time."""

    kind: str
    step: int
    loss: float
    time: float


@dataclass
class LossSpikeMonitor:
    """Watch ``(step, loss)`` pairs and collect alerts."""

    ratio: float = 3.0
    stall_after: float | None = None
    clock: Callable[[], float] = time.monotonic
    best: float = math.inf
    alerts: list[Alert] = field(default_factory=list)
    history: list[tuple[int, float]] = field(default_factory=list)
    _last_seen: float | None = None

    def observe(self, step: int, loss: float) -> list[Alert]:
        """Record one step; return the alerts it raised."""
        now = self.clock()
        raised = []
        if (
            self.stall_after is not None
            and self._last_seen is not None
            and now - self._last_seen > self.stall_after
        ):
            raised.append(Alert("stall", step, loss, now))
        if not math.isfinite(loss):
            raised.append(Alert("nonfinite", step, loss, now))
        else:
            if loss >= self.ratio * self.best:
                raised.append(Alert("spike", step, loss, now))
            self.best = min(self.best, loss)
        self._last_seen = now
        self.history.append((step, loss))
        self.alerts.extend(raised)
        return raised

    def steps_with(self, kind: str) -> list[int]:
        """The steps that raised an alert of ``kind``."""
        return [alert.step for alert in self.alerts if alert.kind == kind]
