"""A spike guard in a data-parallel job: decided on rank 0 alone, it misses rank 3's spike.

Each rank runs the guard on its own loss; the step must be skipped on every rank when any
rank flags it (an ``all_reduce(MAX)`` of the flags). The ``ranks-4`` profile's ground truth
(:func:`~pytest_synthloss.core.ranks.rank_truth`) gives each rank's flags and that decision.
"""

from __future__ import annotations

import math

import pytest

from pytest_synthloss import LossAssertionError, LossCurve, assert_alerts_match
from pytest_synthloss.core.ranks import rank_curves, rank_truth


def guard_flags(curve: LossCurve, ratio: float = 3.0) -> list[int]:
    """The guard under test: flag a non-finite loss or one >= ``ratio`` x the best so far."""
    flagged, best = [], math.inf
    for step, loss in curve:
        if not math.isfinite(loss) or loss >= ratio * best:
            flagged.append(step)
        else:
            best = min(best, loss)
    return flagged


@pytest.mark.synthloss(profile="ranks-4")
def test_a_rank_zero_only_guard_misses_rank_three(synthloss_curve: LossCurve) -> None:
    rank_zero = rank_curves(synthloss_curve)[0]
    assert guard_flags(rank_zero) == []  # rank 0's own loss is clean
    with pytest.raises(LossAssertionError, match="missed events: 2 / 2"):
        assert_alerts_match(guard_flags(rank_zero), synthloss_curve)
    assert rank_truth(synthloss_curve).missed_by(0) == (8, 14)


@pytest.mark.synthloss(profile="ranks-4")
def test_all_reduced_flags_match_the_oracle(synthloss_curve: LossCurve) -> None:
    flags = [tuple(guard_flags(rank)) for rank in rank_curves(synthloss_curve)]
    decision = sorted(set().union(*flags))  # all_reduce(MAX) of the per-rank flags
    truth = rank_truth(synthloss_curve)
    assert tuple(flags) == truth.flags == ((), (14,), (), (8,))
    assert tuple(decision) == truth.decision == (8, 14)
    assert_alerts_match(decision, synthloss_curve)
