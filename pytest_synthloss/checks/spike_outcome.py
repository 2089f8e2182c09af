"""What a spike assertion needs of a rule's decision, and nothing more: its flagged
positions a block at a time, and a step's reference and score on request.

:func:`detect_spikes` keeps every step's reference, score and flag (a
:class:`~pytest_synthloss.checks.detection.SpikeReport`). An assertion shows a count, a few
rows and the worst offender, so :func:`spike_outcome` keeps less: for the ratio rules
(running-min, running-mean, ema) only the reference, with the score and the flags made a
block at a time, so a check costs about the input's size in memory however many steps it
flags. The other rules (zscore, the stack presets) keep their reference and score. Either
way the flags, the worst offender and every value shown are those of the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pytest_synthloss.checks.detection import apply_policy, decision
from pytest_synthloss.checks.offenders import BLOCK, Tally
from pytest_synthloss.checks.rules import SpikeRule, _RatioRule

__all__ = ["Outcome", "spike_outcome"]


@dataclass(frozen=True)
class Outcome:
    """A rule's decision over some losses, walked a block at a time (see :meth:`blocks`),
    and what a message shows of a step."""

    rule: SpikeRule
    nonfinite: str
    losses: np.ndarray
    reference: np.ndarray
    #: Every step's score, or ``None`` when it is ``loss / reference`` (a ratio rule).
    score: np.ndarray | None
    #: Every step's flag, or ``None`` when it is made a block at a time (a ratio rule).
    mask: np.ndarray | None

    def reference_at(self, index: int) -> float:
        """The reference at position ``index``."""
        return float(self.reference[index])

    def score_at(self, index: int) -> float:
        """The score at position ``index``: the same number the report holds."""
        if self.score is not None:
            return float(self.score[index])
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(self.losses[index] / self.reference[index])

    def blocks(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """For each block ``[first, end)`` of :data:`BLOCK` steps: its bounds, its flagged
        positions (ascending) and their ranks (the score; ``inf`` for a non-finite loss)."""
        values = self.losses
        for first in range(0, values.size, BLOCK):
            end = min(values.size, first + BLOCK)
            x = values[first:end]
            if self.mask is None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    score = x / self.reference[first:end]
                flags = apply_policy(self.rule.is_spike(score), x, self.nonfinite)
            else:
                score = self.score[first:end] if self.score is not None else x
                flags = self.mask[first:end]
            found = np.flatnonzero(flags)
            ranks = np.where(np.isfinite(x[found]), score[found], np.inf)
            yield first, end, found + first, ranks

    def tally(self, bounds: np.ndarray) -> Tally:
        """Every flagged position, tallied (``bounds``: the sparkline's columns)."""
        found = Tally(bounds)
        for _, _, positions, ranks in self.blocks():
            found.add(positions, ranks)
        return found


def spike_outcome(values: np.ndarray, rule: SpikeRule, policy: str, context: np.ndarray) -> Outcome:
    """:func:`~pytest_synthloss.checks.detection.decision` kept lean (see the module docs)."""
    evaluate = getattr(type(rule), "evaluate", None)
    if isinstance(rule, _RatioRule) and evaluate is _RatioRule.evaluate:
        reference = rule.reference(values, context[np.isfinite(context)])
        return Outcome(rule, policy, values, reference, None, None)
    reference, score, mask = decision(values, rule, policy, context)
    return Outcome(rule, policy, values, reference, score, mask)
