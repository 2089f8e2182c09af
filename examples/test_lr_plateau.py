"""Tests of the ``ReduceLROnPlateau`` loop in ``lr_plateau.py``: exactly when the LR is cut.

``reference_cuts`` applies torch's documented rule to the curve, and the first cut is
also derived from the curve's ground truth; both hold for every profile and run length.
The spiky curve's cuts are pinned for the example's defaults. Skipped, with the reason
shown, when torch is not installed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pytest

pytest.importorskip("torch", reason="the ReduceLROnPlateau example needs torch (pip install torch)")

from lr_plateau import LRCut, train_with_plateau_schedule

from pytest_synthloss import LossCurve

DEFAULTS: dict[str, Any] = {
    "lr": 0.1,
    "factor": 0.5,
    "patience": 1,
    "threshold": 1e-4,
    "cooldown": 2,
    "min_lr": 0.0,
}
SETTINGS = [
    pytest.param({}, id="defaults"),
    pytest.param({"patience": 2, "cooldown": 0}, id="patience2"),
    pytest.param({"min_lr": 0.02}, id="min_lr"),
]


#: Why a test runs on the spec-line profiles only (not the realistic, shaped ones).
SPEC_LINE_ONLY = (
    "expectations derived from the spec's line: single-step spike overrides and no noise "
    "that stalls a patience rule; the realistic profiles are covered in tests/test_realistic.py"
)


def reference_cuts(
    steps_and_losses: Iterable[tuple[int, float]],
    *,
    lr: float,
    factor: float,
    patience: int,
    threshold: float,
    cooldown: int,
    min_lr: float,
    eps: float = 1e-8,
) -> list[LRCut]:
    """torch's documented rule for ``mode="min", threshold_mode="rel"``."""
    best, bad, cooling, cuts = math.inf, 0, 0, []
    for step, loss in steps_and_losses:
        if loss < best * (1 - threshold):  # better; NaN compares False: a bad step
            best, bad = loss, 0
        else:
            bad += 1
        if cooling > 0:  # in cooldown: bad steps are ignored
            cooling -= 1
            bad = 0
        if bad > patience:
            new_lr = max(lr * factor, min_lr)
            if lr - new_lr > eps:
                cuts.append(LRCut(step, lr, new_lr))
                lr = new_lr
            cooling, bad = cooldown, 0
    return cuts


def first_cut_from_ground_truth(curve: LossCurve, patience: int) -> int | None:
    """The first cut of a noise-free curve: the first run of ``patience + 1`` bad steps.

    Bad steps are a spike's steps, a plateau's held steps, every step from the divergence
    onset and every step after the floor step; the others improve on the best.
    """
    ends = [first + patience for first, last in curve.spike_events if last - first >= patience]
    ends += [
        first + 1 + patience for first, last in curve.plateau_windows if last - first > patience
    ]
    if curve.divergence_step is not None:
        ends.append(curve.divergence_step + patience)
    if curve.floor_step is not None:
        ends.append(curve.floor_step + 1 + patience)
    return min((step for step in ends if step <= curve.last_step), default=None)


@pytest.mark.parametrize("settings", SETTINGS)
def test_cuts_follow_torchs_documented_rule(
    synthloss_curve: LossCurve, settings: dict[str, Any]
) -> None:
    options = DEFAULTS | settings
    cuts = train_with_plateau_schedule(synthloss_curve, **options)
    assert cuts == reference_cuts(synthloss_curve, **options)
    assert all(cut.new_lr == max(cut.old_lr * options["factor"], options["min_lr"]) for cut in cuts)


@pytest.mark.parametrize("patience", [1, 2])
def test_the_first_cut_follows_ground_truth(synthloss_curve: LossCurve, patience: int) -> None:
    if synthloss_curve.profile.shape is not None:
        pytest.skip(SPEC_LINE_ONLY)
    cuts = train_with_plateau_schedule(synthloss_curve, patience=patience)
    first = cuts[0].step if cuts else None
    expected = first_cut_from_ground_truth(synthloss_curve, patience)
    floor_step = synthloss_curve.floor_step
    before_floor = expected is not None and (floor_step is None or expected <= floor_step)
    if not synthloss_curve.profile.noisy or before_floor:
        assert first == expected
    else:
        # At the floor, the noise decides which steps are bad: the cut only comes after it.
        assert first is None or (floor_step is not None and first > floor_step)
    for first_spike, last_spike in synthloss_curve.spike_events:
        if last_spike - first_spike < patience:  # too short to look like a plateau
            assert all(not first_spike <= cut.step <= last_spike for cut in cuts)


@pytest.mark.synthloss(profile="spiky", steps=30)
def test_the_spiky_curve_cuts_the_lr_at_steps_5_20_24_28(synthloss_curve: LossCurve) -> None:
    assert train_with_plateau_schedule(synthloss_curve) == [
        LRCut(step=5, old_lr=0.1, new_lr=0.05),  # the 2-step spike outlasts patience=1
        LRCut(step=20, old_lr=0.05, new_lr=0.025),  # floor from 18: 19 and 20 only tie
        LRCut(step=24, old_lr=0.025, new_lr=0.0125),  # 21, 22: cooldown; 23, 24: bad
        LRCut(step=28, old_lr=0.0125, new_lr=0.00625),
    ]
    assert synthloss_curve.spike_events == ((4, 5),)
    assert synthloss_curve.floor_step == 18


@pytest.mark.synthloss(profile="spiky", steps=30)
def test_a_longer_patience_rides_out_the_spike(synthloss_curve: LossCurve) -> None:
    cuts = train_with_plateau_schedule(synthloss_curve, patience=2, cooldown=0)
    assert [cut.step for cut in cuts] == [21, 24, 27, 30]
