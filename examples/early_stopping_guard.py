"""A divergence and early-stopping guard for a training loop (the code under test).

It follows Lightning's ``EarlyStopping(monitor="loss", mode="min")``, checking each loss
in Lightning's order, the first that applies deciding:

1. ``check_finite``: a NaN or infinite loss stops at once (reason ``"non-finite"``);
2. ``stopping_threshold``: a loss strictly below it stops (the target is reached);
3. ``divergence_threshold``: a loss strictly above it stops (the run has blown up);
4. otherwise the loss *improves* when ``loss < best - min_delta``: it becomes the best and
   the wait count resets; any other loss (a NaN too, with ``check_finite=False``) adds one
   to the wait count, and the run stops when ``wait_count >= patience``.

So a rising loss is caught by ``patience`` after ``patience`` steps, or at once by an
absolute ``divergence_threshold`` (which a spike above it also trips).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stop:
    """Why and where the guard stopped the run."""

    step: int
    reason: str  # "non-finite", "stopping_threshold", "divergence_threshold" or "patience"
    loss: float
    best: float


@dataclass
class EarlyStoppingGuard:
    """Feed it each step's loss with :meth:`update`; it says when to stop."""

    patience: int = 3
    min_delta: float = 0.0
    stopping_threshold: float | None = None
    divergence_threshold: float | None = None
    check_finite: bool = True
    best: float = math.inf
    wait_count: int = 0
    stopped: Stop | None = None

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if self.min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {self.min_delta}")

    def update(self, step: int, loss: float) -> bool:
        """Record one step's loss; return True when training must stop."""
        if self.stopped is not None:
            raise RuntimeError(f"the guard already stopped the run at step {self.stopped.step}")
        reason = None
        if self.check_finite and not math.isfinite(loss):
            reason = "non-finite"
        elif self.stopping_threshold is not None and loss < self.stopping_threshold:
            reason = "stopping_threshold"
        elif self.divergence_threshold is not None and loss > self.divergence_threshold:
            reason = "divergence_threshold"
        elif loss < self.best - self.min_delta:
            self.best = loss
            self.wait_count = 0
        else:
            self.wait_count += 1
            if self.wait_count >= self.patience:
                reason = "patience"
        if reason is not None:
            self.stopped = Stop(step, reason, loss, self.best)
        return reason is not None


def train_until_stopped(
    guard: EarlyStoppingGuard, steps_and_losses: Iterable[tuple[int, float]]
) -> Stop | None:
    """Run the loop: feed ``(step, loss)`` pairs until the guard stops it (or they run out)."""
    for step, loss in steps_and_losses:
        if guard.update(step, loss):
            return guard.stopped
    return None
