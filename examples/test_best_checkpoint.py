"""Tests of ``BestCheckpointPicker``: never a NaN, the earliest of equal losses, throttled saves.

Expectations come from the curve: the ground truth of noise-free curves (the trend falls
to the floor step, holds on plateaus, rises from the divergence onset; spikes and
non-finite steps are never best) and, for every curve, the earliest finite minimum of its
losses. They pass under ``--synthloss-profile all`` with any ``--synthloss-steps``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from best_checkpoint import BestCheckpointPicker

from pytest_synthloss import LossCurve, LossStream, Profile
from pytest_synthloss.core.factory import CurveFactory
from pytest_synthloss.core.model import trend_losses


def earliest_finite_minimum(curve: LossCurve, steps: list[int] | None = None) -> int | None:
    """The first step (of ``steps``, default all) holding the lowest finite loss."""
    chosen = curve.steps if steps is None else np.asarray(steps, dtype=np.int64)
    losses = curve.losses[chosen - curve.start_step]
    finite = np.isfinite(losses)
    if not finite.any():
        return None
    return int(chosen[finite & (losses == losses[finite].min())][0])


def ground_truth_best(curve: LossCurve) -> int | None:
    """The best step of a noise-free curve, from its trend and event steps alone."""
    excluded = set(curve.spike_steps) | set(curve.nonfinite_steps)
    clean = [step for step in range(curve.start_step, curve.last_step + 1) if step not in excluded]
    if not clean:
        return None
    return clean[int(np.argmin(trend_losses(clean, curve.profile)))]  # argmin: the first


def test_picks_the_earliest_minimal_finite_loss(synthloss_curve: LossCurve) -> None:
    picker = BestCheckpointPicker()
    best = picker.watch(synthloss_curve)
    assert best is not None
    assert best.step == earliest_finite_minimum(synthloss_curve)
    assert math.isfinite(best.loss)
    assert best.step not in synthloss_curve.spike_steps
    assert [s.loss for s in picker.saves] == sorted({s.loss for s in picker.saves}, reverse=True)
    if not synthloss_curve.profile.noisy:
        assert best.step == ground_truth_best(synthloss_curve)
        floor_step = synthloss_curve.floor_step
        if floor_step is not None and floor_step not in synthloss_curve.nonfinite_steps:
            assert (best.step, best.loss) == (floor_step, synthloss_curve.floor)
        onset = synthloss_curve.divergence_step
        if onset is not None and onset > synthloss_curve.start_step:
            assert best.step == onset - 1  # the last step before the loss turns


def test_a_long_run_keeps_the_first_floor_step(synthloss_factory: CurveFactory) -> None:
    curve = synthloss_factory(steps=300)
    best = BestCheckpointPicker().watch(curve)
    assert best is not None
    assert best.step == earliest_finite_minimum(curve)
    if not curve.profile.noisy and curve.floor_step is not None:
        assert best.step == curve.floor_step  # not one of the 280 later steps that tie


@pytest.mark.synthloss(profile="nan", steps=12)
def test_a_nan_at_the_end_is_never_picked(synthloss_curve: LossCurve) -> None:
    assert synthloss_curve.nonfinite_steps == (synthloss_curve.last_step,)
    best = BestCheckpointPicker().watch(synthloss_curve)
    assert best is not None
    assert best.step == synthloss_curve.last_step - 1


def test_a_nan_first_step_is_skipped_and_all_nan_gives_no_checkpoint(
    synthloss_factory: CurveFactory,
) -> None:
    nan_first = Profile("nan-first", nonfinite={1: math.nan, 2: math.inf})
    picker = BestCheckpointPicker()
    curve = synthloss_factory(nan_first, steps=5)
    best = picker.watch(curve)
    assert best is not None
    assert [s.step for s in picker.saves] == [3, 4, 5]  # the first finite loss is the first best
    assert best.step == earliest_finite_minimum(curve) == curve.last_step
    all_bad = synthloss_factory(nan_first, steps=2)
    picker = BestCheckpointPicker()
    assert picker.watch(all_bad) is None
    assert (picker.saves, picker.considered) == ([], [1, 2])


@pytest.mark.synthloss(profile="plateau", steps=12)
def test_ties_keep_the_earliest_step(synthloss_curve: LossCurve) -> None:
    ((first, last),) = synthloss_curve.plateau_windows
    assert last == synthloss_curve.last_step  # the run ends on the plateau: all of it ties
    picker = BestCheckpointPicker()
    best = picker.watch(synthloss_curve)
    assert best is not None
    assert best.step == first
    assert [s.step for s in picker.saves] == list(range(synthloss_curve.start_step, first + 1))


def test_throttled_picker_only_sees_every_fifth_step(synthloss_stream: LossStream) -> None:
    every = 5 * synthloss_stream.interval
    picker = BestCheckpointPicker(every_seconds=every, clock=synthloss_stream.clock.time)
    curve = synthloss_stream.curve
    for event in synthloss_stream:
        picker.observe(event.step, event.loss)
    every_fifth = list(range(curve.start_step + 4, curve.last_step + 1, 5))
    assert picker.considered == every_fifth
    assert [s.time for s in picker.saves] == [
        (s.step - curve.start_step + 1) * synthloss_stream.interval for s in picker.saves
    ]
    expected = earliest_finite_minimum(curve, every_fifth) if every_fifth else None
    assert (None if picker.best is None else picker.best.step) == expected
