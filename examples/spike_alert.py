"""Loss-spike alerts that compare each loss with a running reference (the code under test).

Two references, as real training stacks use them:

* :class:`RunningMeanSpikeAlert` follows Lightning Fabric's ``SpikeDetection`` with its
  defaults (``mode="min", window=10, warmup=1, rtol=2.0, atol=None``): the reference is
  the mean of the last ``window`` accepted losses; a loss is a spike when it is not an
  improvement on the last accepted loss and ``abs(loss - mean) >= rtol * mean``, i.e.
  ``loss >= 3 * mean``. Until ``warmup`` losses have been accepted, none is a spike.
* :class:`EMASpikeAlert` follows metaseq: the ratio of the loss to an exponentially
  weighted mean (span 9, ``alpha = 2 / (span + 1)``) against a threshold (3.0).

Both keep a spike out of their reference, so a spike lasting several steps is flagged at
each of them. Where Lightning raises ``TrainingSpikeException`` and stops, these record
an :class:`Alert` and keep watching. A NaN or infinite loss raises a ``nonfinite`` alert at
any step (Lightning counts it as a spike after the warm-up) and never enters the
reference, so one NaN cannot poison the mean.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Alert:
    """One alert: ``kind`` is ``"spike"`` or ``"nonfinite"``; ``reference`` is what it was
    compared with (NaN when there was none)."""

    kind: str
    step: int
    loss: float
    reference: float


class RatioSpikeAlert:
    """Base of the ratio alerts: feed ``(step, loss)`` with :meth:`observe`."""

    def __init__(self, warmup: int = 1) -> None:
        if warmup < 1:
            raise ValueError(f"warmup must be >= 1 (the first loss has no reference), got {warmup}")
        self.warmup = warmup
        self.accepted = 0
        self.alerts: list[Alert] = []

    def reference(self) -> float:
        """The current reference loss (subclasses)."""
        raise NotImplementedError

    def is_spike(self, loss: float, reference: float) -> bool:
        """Whether a finite ``loss`` is a spike against ``reference`` (subclasses)."""
        raise NotImplementedError

    def accept(self, loss: float) -> None:
        """Fold a finite, non-spike ``loss`` into the reference (subclasses)."""
        raise NotImplementedError

    def observe(self, step: int, loss: float) -> Alert | None:
        """Record one step; return the alert it raised, if any."""
        alert = None
        if not math.isfinite(loss):
            alert = Alert("nonfinite", step, loss, math.nan)
        elif self.accepted >= self.warmup and self.is_spike(loss, ref := self.reference()):
            alert = Alert("spike", step, loss, ref)
        else:
            self.accept(loss)
            self.accepted += 1
        if alert is not None:
            self.alerts.append(alert)
        return alert

    def watch(self, steps_and_losses: Iterable[tuple[int, float]]) -> list[Alert]:
        """Observe every ``(step, loss)`` pair; return all alerts so far."""
        for step, loss in steps_and_losses:
            self.observe(step, loss)
        return self.alerts

    def steps(self, kind: str = "spike") -> list[int]:
        """The steps that raised an alert of ``kind``."""
        return [alert.step for alert in self.alerts if alert.kind == kind]


class RunningMeanSpikeAlert(RatioSpikeAlert):
    """Lightning ``SpikeDetection``: ``loss >= (1 + rtol) * mean(last window losses)``.

    A loss at or below the last accepted one is an improvement and never a spike.
    """

    def __init__(self, window: int = 10, warmup: int = 1, rtol: float = 2.0) -> None:
        super().__init__(warmup)
        self.rtol = rtol
        self.window: deque[float] = deque(maxlen=window)
        self.last = 0.0

    def reference(self) -> float:
        """The mean of the last ``window`` accepted losses."""
        return sum(self.window) / len(self.window)

    def is_spike(self, loss: float, reference: float) -> bool:
        """Not an improvement, and at least ``rtol * mean`` away from the mean."""
        return loss > self.last and abs(loss - reference) >= self.rtol * reference

    def accept(self, loss: float) -> None:
        """Enter the window and become the last accepted loss."""
        self.window.append(loss)
        self.last = loss


class EMASpikeAlert(RatioSpikeAlert):
    """metaseq: ``loss / EMA(accepted losses) >= threshold``, the EMA seeded with the first loss."""

    def __init__(self, span: int = 9, threshold: float = 3.0, warmup: int = 1) -> None:
        super().__init__(warmup)
        self.alpha = 2.0 / (span + 1)
        self.threshold = threshold
        self.ema: float | None = None

    def reference(self) -> float:
        """The exponentially weighted mean of the accepted losses."""
        assert self.ema is not None  # the warm-up guarantees an accepted loss
        return self.ema

    def is_spike(self, loss: float, reference: float) -> bool:
        """The ratio to the EMA reaches the threshold."""
        return loss >= self.threshold * reference

    def accept(self, loss: float) -> None:
        """Fold ``loss`` into the EMA."""
        self.ema = loss if self.ema is None else self.alpha * loss + (1 - self.alpha) * self.ema
