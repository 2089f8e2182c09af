"""A best-checkpoint picker (the code under test), like Lightning's
``ModelCheckpoint(monitor="loss", mode="min", save_top_k=1)``.

Rules, which the tests hold it to:

* A NaN or infinite loss is never picked. (Lightning scores a NaN as ``inf`` and may
  still save it when nothing is saved yet; a picker that restores a NaN checkpoint is a
  bug.) If every loss so far is non-finite there is no best checkpoint (``best is None``).
* Ties keep the earliest step: a loss replaces the best only when strictly lower, so the
  picked step is the earliest one with the minimal finite loss.
* ``every_seconds`` (Lightning's ``train_time_interval``): a step is considered only when
  at least that many seconds have passed on ``clock`` since the last considered step (or
  since the picker was made); the steps in between are never saved.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Checkpoint:
    """A saved checkpoint: its step, loss and the clock time it was saved."""

    step: int
    loss: float
    time: float


class BestCheckpointPicker:
    """Watch ``(step, loss)`` pairs and keep the best checkpoint."""

    def __init__(
        self,
        every_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every_seconds is not None and not every_seconds > 0:
            raise ValueError(f"every_seconds must be > 0 or None, got {every_seconds!r}")
        self.every_seconds = every_seconds
        self.clock = clock
        self.best: Checkpoint | None = None
        self.saves: list[Checkpoint] = []
        self.considered: list[int] = []
        self._last_check = clock()

    def observe(self, step: int, loss: float) -> bool:
        """Record one step; return True when it was saved as the new best."""
        now = self.clock()
        if self.every_seconds is not None:
            if now - self._last_check < self.every_seconds:
                return False
            self._last_check = now
        self.considered.append(step)
        if not math.isfinite(loss) or (self.best is not None and not loss < self.best.loss):
            return False
        self.best = Checkpoint(step, loss, now)
        self.saves.append(self.best)
        return True

    def watch(self, steps_and_losses: Iterable[tuple[int, float]]) -> Checkpoint | None:
        """Observe every pair; return the best checkpoint."""
        for step, loss in steps_and_losses:
            self.observe(step, loss)
        return self.best
