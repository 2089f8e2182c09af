"""A small streaming loss-spike detector, property-tested in test_property_spike_detector.py."""

from __future__ import annotations

from collections.abc import Iterable


class SpikeDetector:
    """Alert when the loss exceeds ``factor`` times the last loss that was not a spike.

    The first loss is the reference, so a spike at the very first step goes unseen:
    exactly the blind spot a property test over spike layouts finds.
    """

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor
        self.reference: float | None = None

    def update(self, loss: float) -> bool:
        """Feed one step's loss; return True to alert."""
        if self.reference is not None and loss > self.factor * self.reference:
            return True
        self.reference = loss
        return False


def alert_steps(steps_and_losses: Iterable[tuple[int, float]], factor: float = 2.0) -> list[int]:
    """Run a fresh detector over ``(step, loss)`` pairs; return the steps it alerted at."""
    detector = SpikeDetector(factor)
    return [step for step, loss in steps_and_losses if detector.update(loss)]
